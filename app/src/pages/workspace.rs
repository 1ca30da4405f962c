//! The signed-in workspace of one business: navigation that fits the role,
//! the dashboard, and the sections that later releases fill.

use crate::components::cost_alerts::{open_cost_alerts, AlertBanner};
use crate::components::refusal::Refusal;
use crate::components::scorecard::{monthly_report, ChartCard, Headlines};
use crate::error::AppError;
use crate::resource::{WaitingCount, Workspace};
use crate::views::WorkspaceView;
use engine::Page;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{Outlet, A},
    hooks::{use_location, use_params_map},
};

#[server(endpoint = "load_workspace")]
pub async fn load_workspace(slug: String) -> Result<WorkspaceView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member(&slug, Page::Dashboard).await?;
    Ok(WorkspaceView {
        business_name: member.tenant_name.clone(),
        slug: member.tenant_slug.clone(),
        email: member.email.clone(),
        role: member.role,
        pages: Page::ALL.into_iter().filter(|p| p.in_menu() && member.may_open(*p)).collect(),
    })
}

/// How many open review tasks the signed-in member could decide now (0 for
/// roles that do not decide): the menu's badge and the dashboard's card.
#[server(endpoint = "waiting_decisions")]
pub async fn waiting_decisions(slug: String) -> Result<i64, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member(&slug, Page::Dashboard).await?;
    store::reviews::waiting_for(&cx.state.db, &member).await.map_err(|e| cx.internal("counting your review tasks", e))
}

/// Checks on the server that the signed-in member may open a section.
#[server(endpoint = "open_section")]
pub async fn open_section(slug: String, page: Page) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    cx.member(&slug, page).await.map(|_| ())
}

#[server(endpoint = "sign_out")]
pub async fn sign_out(slug: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    if let Some(token) = cx.session_token() {
        if let Ok(claims) = store::auth::read_token(&cx.state.settings, &token) {
            store::auth::end_session(&cx.state.db, claims.sid).await.map_err(|e| cx.internal("signing you out", e))?;
        }
    }
    cx.set_cookie(&store::auth::cleared_session_cookie(&cx.state.settings));
    leptos_actix::redirect(&format!("/t/{slug}/login"));
    Ok(())
}

/// Ends every session of the signed-in person in this business, on every device.
#[server(endpoint = "sign_out_everywhere")]
pub async fn sign_out_everywhere(slug: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member(&slug, Page::Dashboard).await?;
    store::auth::end_all_sessions(&cx.state.db, member.user_id, member.tenant.id())
        .await
        .map_err(|e| cx.internal("signing you out everywhere", e))?;
    cx.set_cookie(&store::auth::cleared_session_cookie(&cx.state.settings));
    leptos_actix::redirect(&format!("/t/{slug}/login"));
    Ok(())
}

/// The workspace's frame: the menu (once the member is known) and the page.
///
/// Every resource here is made outside the `Suspense` that waits for the
/// member, and the page (`Outlet`) sits beside it, not in it: on the server
/// a `Suspense` builds its children once more after its data came, so a
/// resource made inside it is fetched twice, and the browser hydrates with
/// the first fetch's value while the HTML shows the second (a review queue
/// that gained a row between the two could not hydrate). The menu inside
/// it makes nothing that takes a hydration id (no resource, no nested
/// `Suspense`): the server builds it twice and the browser once, and the
/// page's resources, made after it in the browser, must get the ids the
/// server gave them.
#[component]
pub fn WorkspaceLayout() -> impl IntoView {
    let slug = crate::route::param("slug");
    let workspace: Workspace = crate::resource::new(move || slug.get(), load_workspace);
    // Counted again on every navigation, so a decision made takes the badge down.
    let location = use_location();
    let waiting = crate::resource::new(
        move || (slug.get(), location.pathname.get()),
        move |(slug, _)| async move {
            match workspace.await {
                Ok(ws) if ws.pages.contains(&Page::ReviewQueue) => waiting_decisions(slug).await.unwrap_or(0),
                _ => 0,
            }
        },
    );
    provide_context(workspace);
    provide_context(WaitingCount(waiting));
    let menu_open = RwSignal::new(false);
    // Close the phone menu after navigating.
    Effect::new(move |_| {
        location.pathname.track();
        menu_open.set(false);
    });

    view! {
        <div class="app" class:menu-open=move || menu_open.get()>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match workspace.await {
                        Ok(ws) => {
                            let waiting = waiting.await;
                            view! { <Shell ws waiting menu_open /> }.into_any()
                        }
                        Err(e) => view! { <SignInNeeded slug=slug.get_untracked() error=e /> }.into_any(),
                    }
                })}
            </Suspense>
            <main class="content">
                <Outlet />
            </main>
        </div>
    }
}

/// The top bar and the menu of a member.
#[component]
fn Shell(ws: WorkspaceView, waiting: i64, menu_open: RwSignal<bool>) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let sign_out_everywhere = ServerAction::<SignOutEverywhere>::new();
    let slug = ws.slug.clone();
    let links = ws
        .pages
        .iter()
        .map(|page| {
            let href = page.href(&slug);
            let title = page.title();
            let badge = (*page == Page::ReviewQueue && waiting > 0).then(|| {
                view! {
                    <span class="badge count" data-testid="review-badge"
                        aria-label=format!("{waiting} waiting for you")>{waiting}</span>
                }
            });
            view! { <li><A href=href exact=true>{title}{badge}</A></li> }
        })
        .collect::<Vec<_>>();
    let initial = ws.email.chars().next().unwrap_or('?').to_ascii_uppercase();
    let (home, business, email, role) =
        (format!("/t/{}", ws.slug), ws.business_name.clone(), ws.email.clone(), ws.role.label());
    let (slug_a, slug_b) = (ws.slug.clone(), ws.slug.clone());
    let account = Page::Account.href(&ws.slug);
    view! {
        <header class="topbar">
            <button class="menu-toggle" type="button" aria-label="Menu" data-testid="menu-toggle"
                aria-expanded=move || if menu_open.get() { "true" } else { "false" }
                on:click=move |_| menu_open.update(|o| *o = !*o)>
                <span></span><span></span><span></span>
            </button>
            <a class="brand" href=home>"Steward"</a>
            <span class="business" data-testid="business-name">{business}</span>
        </header>
        <nav class="sidebar" aria-label="Main">
            <ul>{links}</ul>
            <div class="me">
                <div class="avatar" aria-hidden="true">{initial.to_string()}</div>
                <div>
                    <a class="me-email" data-testid="me-email" href=account title="Your account and two-factor sign-in">{email}</a>
                    <div class="me-role" data-testid="me-role">{role}</div>
                </div>
            </div>
            <ActionForm action=sign_out attr:class="inline">
                <input type="hidden" name="slug" value=slug_a />
                <button class="button subtle wide" type="submit" data-testid="sign-out">"Sign out"</button>
            </ActionForm>
            <ActionForm action=sign_out_everywhere attr:class="inline">
                <input type="hidden" name="slug" value=slug_b />
                <button class="button subtle wide small" type="submit">"Sign out everywhere"</button>
            </ActionForm>
        </nav>
    }
}

#[component]
fn SignInNeeded(slug: String, error: AppError) -> impl IntoView {
    let message = error.form_message().unwrap_or_else(|| error.to_string());
    view! {
        <Title text="Sign in" />
        // Takes the whole frame and hides the page beside it (style: `.signed-out`).
        <div class="centered signed-out">
            <div class="card narrow">
                <a class="brand" href="/">"Steward"</a>
                <h1>"You are not signed in here"</h1>
                <p class="muted">{message}</p>
                <a class="button primary" href=format!("/t/{slug}/login")>"Sign in"</a>
            </div>
        </div>
    }
}

/// The dashboard. Its resources are made here, outside the `Suspense`s
/// that wait for the member (see `WorkspaceLayout`); each asks the server
/// only when the member's role reads what it loads.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let workspace = expect_context::<Workspace>();
    let slug = crate::route::param("slug");
    let may = move |page: Page| async move { matches!(workspace.await, Ok(ws) if ws.pages.contains(&page)) };
    // Open cost alerts, for the roles that watch costs.
    let alerts = crate::resource::new(
        move || slug.get(),
        move |slug| async move {
            match may(Page::Costs).await {
                true => open_cost_alerts(slug).await,
                false => Ok(vec![]),
            }
        },
    );
    // This month so far, for the roles that read the report.
    let kpis = crate::resource::new(
        move || slug.get(),
        move |slug| async move {
            match may(Page::Reports).await {
                true => monthly_report(slug, "latest".into()).await.map(Some),
                false => Ok(None),
            }
        },
    );
    // Decisions waiting for this person (0 for the roles that do not decide), counted by the layout.
    let WaitingCount(waiting) = expect_context::<WaitingCount>();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let Ok(ws) = workspace.await else { return ().into_any() };
                let (queue_href, costs_href, reports_href) =
                    (Page::ReviewQueue.href(&ws.slug), Page::Costs.href(&ws.slug), Page::Reports.href(&ws.slug));
                view! {
                    <Title text="Dashboard" />
                    <section class="page-head">
                        <h1>{format!("Welcome to {}", ws.business_name)}</h1>
                        <p class="muted" data-testid="welcome">
                            {format!("Signed in as {} · {}", ws.email, ws.role.label())}
                        </p>
                    </section>
                    <Suspense fallback=|| ()>
                        {move || {
                            let href = queue_href.clone();
                            Suspend::new(async move {
                                let n = waiting.await;
                                (n > 0).then(|| view! {
                                    <a class="waiting-card" href=href data-testid="waiting-decisions">
                                        <strong>{if n == 1 { "1 decision waits for you".to_string() } else { format!("{n} decisions wait for you") }}</strong>
                                        <span>"Open the review queue →"</span>
                                    </a>
                                })
                            })
                        }}
                    </Suspense>
                    <Suspense fallback=|| ()>
                        {move || {
                            let href = costs_href.clone();
                            Suspend::new(async move {
                                match alerts.await {
                                    Ok(list) if !list.is_empty() => view! {
                                        <AlertBanner alerts=list />
                                        <p><a href=href>"See the Costs page"</a></p>
                                    }.into_any(),
                                    _ => ().into_any(),
                                }
                            })
                        }}
                    </Suspense>
                    <Suspense fallback=|| ()>
                        {move || {
                            let href = reports_href.clone();
                            Suspend::new(async move {
                                match kpis.await {
                                    Ok(Some(v)) => {
                                        let trend = v.charts.iter().find(|c| c.id == "cost-vs-savings").cloned();
                                        view! {
                                            <section class="kpi-dashboard" data-testid="dashboard-kpis">
                                                <div class="row-inline"><h2>{if v.live { format!("{} so far", v.month_label) } else { v.month_label.clone() }}</h2><a href=format!("{href}?month={}", v.month)>"Open the report"</a></div>
                                                <Headlines headlines=v.headlines.into_iter().take(4).collect() />
                                                {trend.map(|chart| view! { <ChartCard chart /> })}
                                            </section>
                                        }.into_any()
                                    }
                                    _ => ().into_any(),
                                }
                            })
                        }}
                    </Suspense>
                }.into_any()
            })}
        </Suspense>
        <crate::components::first_run::FirstRunChecklist slug workspace />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let Ok(ws) = workspace.await else { return ().into_any() };
                let first_steps = match ws.role {
                    engine::Role::Owner => "Invite your team from Settings: an engineer to build workflows, reviewers for the judgment calls, and an executive for the monthly report.",
                    engine::Role::Engineer => "Workflows are where you will describe your business's automations as versioned contracts.",
                    engine::Role::Reviewer => "The review queue is where drafts that need a person wait for your decision.",
                    engine::Role::Operations => "Runs and costs are where you will watch workflows, budgets and incidents.",
                    engine::Role::Executive => "Reports has the monthly scorecard: time and money saved against the baseline, with every month's PDF.",
                };
                let cards = ws
                    .pages
                    .iter()
                    .filter(|p| **p != Page::Dashboard)
                    .map(|page| {
                        let (_, blurb, _) = section_copy(*page);
                        view! {
                            <a class="tile" href=page.href(&ws.slug)>
                                <h2>{page.title()}</h2>
                                <p>{blurb}</p>
                            </a>
                        }
                    })
                    .collect_view();
                view! {
                    <section class="callout">
                        <h2>"Getting started"</h2>
                        <p>{first_steps}</p>
                    </section>
                    <section class="tiles">{cards}</section>
                }.into_any()
            })}
        </Suspense>
    }
}

/// Title, one-line purpose and the empty-state text of each section.
fn section_copy(page: Page) -> (&'static str, &'static str, &'static str) {
    match page {
        Page::Workflows => (
            "No workflows yet",
            "Versioned contracts that turn events into AI-drafted, human-approved work.",
            "A workflow turns an event (a web form, a CRM update, a support ticket) into typed steps: models draft, rules decide, and a person approves where the risk is real. Your engineers will create and publish workflows here, each with a change log and one-click rollback.",
        ),
        Page::ReviewQueue => (
            "Nothing waiting for review",
            "Drafts that need a person: low confidence, high value, outside messages.",
            "When a workflow stops for a person, the task appears here with the draft, the reason it stopped and the source event. Reviewers claim a task, then approve, edit or reject it.",
        ),
        Page::Runs => (
            "No runs yet",
            "Every event that started a workflow, step by step.",
            "Each accepted event becomes a run you can follow here step by step, with timing, retries, cost and outcome. Runs appear as soon as a published workflow receives its first event.",
        ),
        Page::Costs => (
            "No spend yet",
            "What each run costs, against each workflow's budget.",
            "Model tokens, enrichment calls, worker time and review minutes will be totalled here per workflow and per day, against the budget you set, with alerts before a month surprises you.",
        ),
        Page::Reports => (
            "No report yet",
            "The monthly scorecard: time saved, exceptions, cost against savings.",
            "Once workflows run, the monthly scorecard shows cycle time, hours saved, exception rate and net savings against your baseline, and is emailed to owners and executives.",
        ),
        Page::Governance => (
            "Governance",
            "The monthly review on one page: incidents, changes and what to automate next.",
            "",
        ),
        Page::Prompts => ("Prompts", "Versioned prompt templates with production and staging labels.", ""),
        Page::DataContracts => ("Data contracts", "What a lead, ticket or invoice must look like before automation touches it.", ""),
        Page::Models => ("Models", "Model providers, prices per million tokens, and the small and premium tiers.", ""),
        Page::ChangeLog => ("Audit log", "Who did what, when and why: sign-ins, changes, decisions.", ""),
        Page::Account => ("Your account", "How you sign in.", ""),
        Page::ApiTokens => ("API tokens", "Tokens programs call the JSON API with.", ""),
        Page::Settings => ("Settings", "Members, roles and invitations.", ""),
        Page::Dashboard => ("Dashboard", "", ""),
    }
}

/// Sections whose features arrive in later releases: checks the role on the
/// server, then says what will appear and how to get started.
#[component]
pub fn EmptyStatePage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let params = use_params_map();
    let page = Memo::new(move |_| params.read().get("section").and_then(|s| Page::from_path_segment(&s)));
    let access = crate::resource::new(
        move || (slug.get(), page.get()),
        |(slug, page)| async move {
            match page {
                Some(page) => open_section(slug, page).await.map(|_| Some(page)),
                None => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match access.await {
                    Ok(Some(page)) => {
                        let (heading, _, body) = section_copy(page);
                        view! {
                            <Title text=page.title() />
                            <section class="page-head"><h1>{page.title()}</h1></section>
                            <section class="empty-state" data-testid="empty-state">
                                <div class="empty-illustration" aria-hidden="true"></div>
                                <h2>{heading}</h2>
                                <p>{body}</p>
                            </section>
                        }.into_any()
                    }
                    Ok(None) => view! {
                        <Title text="Not found" />
                        <section class="empty-state"><h2>"There is no such section"</h2></section>
                    }.into_any(),
                    Err(e) => view! { <Title text="Not available" /><Refusal error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
