//! Runs: the list with filters and live status, one run's timeline (steps
//! with durations, masked inputs and outputs, model and prompt versions,
//! tokens, cost, errors and attempts, review tasks and decisions), retry
//! from the failed step, and the exceptions report of records refused at
//! the door.

mod health;

use crate::components::add_to_dataset::AddToDataset;
use crate::components::edit_changes::EditChanges;
use crate::components::field::FormError;
use crate::components::offline_badge::OfflineBadge;
use crate::components::record::Record;
use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{ExceptionView, RunDetailView, RunSummaryView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "list_runs")]
pub async fn list_runs(
    slug: String,
    workflow: String,
    status: String,
    needs_review: bool,
    from: String,
    to: String,
) -> Result<Vec<RunSummaryView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Runs).await?;
    let date = |field: &str, text: &str| -> Result<Option<chrono::NaiveDate>, AppError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(Some)
            .map_err(|_| cx.invalid(vec![engine::FieldError::new(field, "Use a date such as 2026-11-25.")]))
    };
    let status =
        match status.as_str() {
            "" => None,
            s => Some(s.parse::<engine::RunStatus>().map_err(|_| {
                cx.invalid(vec![engine::FieldError::new("status", "Choose one of the listed statuses.")])
            })?),
        };
    let filter = store::runs::RunFilter {
        workflow: (!workflow.is_empty()).then_some(workflow),
        status,
        needs_review,
        from: date("from", &from)?,
        to: date("to", &to)?,
    };
    let masked = !engine::access::sees_sensitive_values(me.role);
    let currency = store::currency::currency(&cx.state.db, &me.tenant)
        .await
        .map_err(|e| cx.internal("reading the currency", e))?;
    let rows = store::runs::list(&cx.state.db, &me.tenant, &filter, 200, masked).await;
    cx.rows("listing runs", rows, |r| RunSummaryView {
        id: r.id.to_string(),
        title: r.title,
        workflow: r.workflow_name,
        version: r.workflow_version,
        needs_review: r.open_tasks > 0,
        duration: crate::ssr::run_detail::duration(Some(r.created_at), r.finished_at, r.status),
        created: crate::ssr::short_time(&r.created_at),
        cost: currency.precise(r.cost_micros),
        status: r.status.to_string(),
        error: r.error,
    })
}

#[server(endpoint = "run_detail")]
pub async fn run_detail(slug: String, id: String) -> Result<RunDetailView, AppError> {
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Runs).await?;
    let run_id: uuid::Uuid = id.parse().map_err(|_| cx.refused(StatusCode::NOT_FOUND, "There is no such run."))?;
    crate::ssr::run_detail::run_detail(&cx, &me, run_id).await
}

#[server(endpoint = "retry_run")]
pub async fn retry_run(slug: String, id: String) -> Result<(), AppError> {
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Runs, crate::ssr::run_detail::RETRIERS).await?;
    let run_id: uuid::Uuid = id.parse().map_err(|_| cx.refused(StatusCode::NOT_FOUND, "There is no such run."))?;
    if !store::runs::retry_from_failed_step(&cx.state.db, &me.tenant, run_id)
        .await
        .map_err(|e| cx.internal("retrying the run", e))?
    {
        return Err(cx.refused(StatusCode::CONFLICT, "Only a failed run can be retried."));
    }
    let job = store::jobs::RunJob::new(&me.tenant, run_id);
    cx.state.wake(job);
    Ok(())
}

#[server(endpoint = "list_exceptions")]
pub async fn list_exceptions(slug: String) -> Result<Vec<ExceptionView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Runs).await?;
    // Operations and executives see the report with sensitive fields masked.
    let masked = !engine::access::sees_sensitive_values(me.role);
    let rows = store::runs::exceptions(&cx.state.db, &me.tenant, 200, masked).await;
    cx.rows("reading the exceptions report", rows, |r| ExceptionView {
        workflow: r.workflow_name,
        channel: r.channel,
        received: crate::ssr::short_time(&r.received_at),
        expires: crate::ssr::short_time(&r.expires_at),
        raw: r.raw,
        violations: r
            .violations
            .into_iter()
            .map(|v| crate::views::ViolationView { field: v.field, rule: v.rule, message: v.message })
            .collect(),
    })
}

/// Refetches `refetch` every two seconds while the page is open (browser only).
fn poll_every_two_seconds(refetch: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(refetch, std::time::Duration::from_secs(2)).ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = refetch;
}

fn status_badge(status: &str) -> impl IntoView {
    let label = status.replace('_', " ");
    view! { <span class=format!("badge status-{status}") data-testid="run-status">{label}</span> }
}

#[component]
pub fn RunsPage() -> impl IntoView {
    let query = use_query_map();
    let slug = crate::route::param("slug");
    let q = move |k: &str| query.read().get(k).unwrap_or_default();
    let runs = crate::resource::new(
        move || (slug.get(), q("workflow"), q("status"), q("review") == "1", q("from"), q("to")),
        |(slug, workflow, status, review, from, to)| list_runs(slug, workflow, status, review, from, to),
    );
    poll_every_two_seconds(move || runs.refetch());
    view! {
        <Title text="Runs" />
        <section class="page-head">
            <h1>"Runs"</h1>
            <p class="muted">"Every event that came in and what became of it. Updates while you watch."</p>
            <p><a class="button small" href=move || format!("/t/{}/runs/exceptions", slug.get())>"Exceptions report"</a></p>
        </section>
        <health::DeliveryHealth />
        <form class="filters card" method="get" data-testid="run-filters">
            <div class="field"><label for="f-workflow">"Workflow"</label><input id="f-workflow" name="workflow" value=move || q("workflow") /></div>
            <div class="field"><label for="f-status">"Status"</label>
                <select id="f-status" name="status">
                    <option value="">"Any"</option>
                    {engine::RunStatus::ALL.iter().map(|s| {
                        let s = s.as_str();
                        view! { <option value=s selected=move || q("status") == s>{s.replace('_', " ")}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field"><label for="f-from">"From"</label><input id="f-from" name="from" type="date" value=move || q("from") /></div>
            <div class="field"><label for="f-to">"To"</label><input id="f-to" name="to" type="date" value=move || q("to") /></div>
            <label class="check"><input type="checkbox" name="review" value="1" checked=move || q("review") == "1" />" Needs review"</label>
            <button class="button" type="submit">"Filter"</button>
        </form>
        <Transition fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match runs.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(rows) if rows.is_empty() => {
                        let slug = slug.get();
                        if ["workflow", "status", "from", "to", "review"].iter().any(|k| !q(k).is_empty()) {
                            view! { <div class="card empty" data-testid="runs-empty"><p>"No runs match these filters."</p>
                                <a class="button" href=format!("/t/{slug}/runs")>"Show every run"</a></div> }.into_any()
                        } else {
                            view! { <div class="card empty" data-testid="runs-empty">
                                <p>"No runs yet. A run starts when an event reaches a published workflow: through its hosted form, its webhook or a connected tool. Each workflow's page shows its ways in."</p>
                                <a class="button primary" href=format!("/t/{slug}/workflows")>"Go to your workflows"</a></div> }.into_any()
                        }
                    }
                    Ok(rows) => {
                        let slug = slug.get();
                        view! {
                            <table class="table runs" data-testid="runs">
                                <thead><tr><th>"Run"</th><th>"Workflow"</th><th>"Status"</th><th>"Started"</th><th>"Took"</th><th>"Cost"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|r| view! {
                                        <tr data-testid="run-row" data-run=r.id.clone()>
                                            <td data-label="Run">
                                                // The record in words when it is kept; the run's short id beside it.
                                                <a href=format!("/t/{slug}/runs/{}", r.id) data-testid="run-title">
                                                    {r.title.clone().unwrap_or_else(|| r.id[..8].to_string())}
                                                </a>
                                                {r.title.is_some().then(|| view! { <div class="muted small">{r.id[..8].to_string()}</div> })}
                                            </td>
                                            <td data-label="Workflow">{format!("{} v{}", r.workflow, r.version)}</td>
                                            <td data-label="Status">{status_badge(&r.status)}
                                                {r.needs_review.then(|| view! { <span class="badge review">"needs review"</span> })}
                                                {r.error.clone().map(|e| view! { <div class="muted small">{e}</div> })}
                                            </td>
                                            <td data-label="Started">{r.created}</td>
                                            <td data-label="Took">{r.duration}</td>
                                            <td data-label="Cost">{r.cost}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
pub fn RunPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let id = crate::route::param("id");
    let run = crate::resource::new(move || (slug.get(), id.get()), |(slug, id)| run_detail(slug, id));
    poll_every_two_seconds(move || run.refetch());
    let retry = ServerAction::<RetryRun>::new();
    Effect::new(move |_| {
        if matches!(retry.value().get(), Some(Ok(()))) {
            run.refetch();
        }
    });
    let message = Signal::derive(move || retry.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    view! {
        <Title text="Run" />
        <Transition fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match run.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(r) => {
                        let slug = slug.get();
                        let id_for_retry = r.id.clone();
                        let slug_for_retry = slug.clone();
                        view! {
                            <section class="page-head">
                                <p class="crumbs"><a href=format!("/t/{slug}/runs")>"Runs"</a>" / "</p>
                                <h1>{format!("{} v{}", r.workflow, r.version)}" "{status_badge(&r.status)}</h1>
                                <p class="muted">{format!("Run {} · received {} · took {} · {} in / {} out tokens · {} · executed {} time(s)",
                                    r.id, r.created, r.duration, r.tokens_in, r.tokens_out, r.cost, r.executions)}</p>
                                {r.error.clone().map(|e| view! { <p class="form-error" data-testid="run-error">{e}</p> })}
                                {r.can_retry.then(|| view! {
                                    <button class="button" type="button" data-testid="retry-run"
                                        on:click=move |_| { retry.dispatch(RetryRun { slug: slug_for_retry.clone(), id: id_for_retry.clone() }); }>
                                        "Retry from the failed step"</button>
                                })}
                                <FormError message />
                            </section>
                            {r.tasks.iter().filter(|t| t.open).map(|t| {
                                let slug = slug.clone();
                                let can_decide = r.can_decide;
                                view! {
                                    <section class="card review-task" data-testid="open-task">
                                        <h2>{format!("Waiting for a person: {}", t.reason.replace('_', " "))}</h2>
                                        <ul class="why">{t.why.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view()}</ul>
                                        <p class="muted small">{format!("opened {}", t.created)}{t.claimed_by.clone().map(|c| format!(" · claimed by {c}"))}{t.escalated_at.clone().map(|e| format!(" · escalated {e}"))}</p>
                                        {t.draft.clone().map(|raw| view! { <h3>"Draft"</h3><Record fields=t.draft_fields.clone() raw testid="draft" /> })}
                                        {can_decide.then(|| view! {
                                            <a class="button primary" data-testid="decide-in-queue" href=format!("/t/{slug}/review/{}", t.id)>"Decide in the review queue"</a>
                                        })}
                                    </section>
                                }
                            }).collect_view()}
                            <section class="card">
                                <h2>"Timeline"</h2>
                                <ol class="timeline" data-testid="timeline">
                                    {r.steps.iter().map(|s| view! {
                                        <li class=format!("step step-{}", s.status) data-testid="timeline-step" data-step=s.id.clone()>
                                            <div class="step-head">
                                                <strong>{s.id.clone()}</strong>" "<span class="kind">{s.kind.clone()}</span>" "{status_badge(&s.status)}
                                                <span class="muted small">{format!(" {} · {} · {} attempt(s)", s.started, s.duration, s.attempts)}</span>
                                            </div>
                                            <p class="muted small">
                                                {s.model.clone().map(|m| format!("model {m} · "))}
                                                {s.prompt_version.map(|v| format!("prompt v{v} · "))}
                                                {(s.tokens_in + s.tokens_out > 0).then(|| format!("{} in / {} out tokens · {} · ", s.tokens_in, s.tokens_out, s.cost))}
                                                {s.cache_hit.then_some("cache hit")}
                                                {s.offline.then(|| view! { <OfflineBadge /> })}
                                            </p>
                                            {s.error.clone().map(|e| view! { <p class="form-error">{e}</p> })}
                                            <details>
                                                <summary>"Input, output and attempts"</summary>
                                                <h4>"Input"</h4><pre class="json small" tabindex="0">{s.input.clone()}</pre>
                                                <h4>"Output"</h4><pre class="json small" tabindex="0" data-testid="step-output">{s.output.clone()}</pre>
                                                <h4>"Detail"</h4><pre class="json small" tabindex="0">{s.detail.clone()}</pre>
                                            </details>
                                        </li>
                                    }).collect_view()}
                                    {r.tasks.iter().filter(|t| !t.open).map(|t| view! {
                                        <li class="step decision" data-testid="decision">
                                            <strong>{format!("{} by {}", t.decision.clone().unwrap_or_default().replace('_', " "), t.decided_by.clone().unwrap_or_default())}</strong>
                                            <span class="muted small">{format!(" at {} · {}{}", t.decided_at.clone().unwrap_or_default(), t.reason.replace('_', " "),
                                                t.reason_code.clone().map(|c| format!(" · {c}")).unwrap_or_default())}</span>
                                            {t.escalated_at.clone().map(|e| view! { <p class="small" data-testid="escalated">{format!("Escalated to the workflow's owners {e}, past its review SLA.")}</p> })}
                                            {t.comment.clone().map(|c| view! { <p class="small">{c}</p> })}
                                            <EditChanges changes=t.changes.clone() />
                                        </li>
                                    }).collect_view()}
                                </ol>
                            </section>
                            <section class="card">
                                <h2>"Source event"</h2>
                                <p class="muted small">{r.source_channel.clone().map(|c| format!("via {c}"))}</p>
                                <Record fields=r.event_fields.clone() raw=r.source_event.clone() testid="source-event" />
                                <h3>"Pinned versions"</h3>
                                <pre class="json small" tabindex="0">{r.pinned.clone()}</pre>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
        <AddToDataset slug run=id />
    }
}

#[component]
pub fn ExceptionsPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let rows = crate::resource::new(move || slug.get(), list_exceptions);
    view! {
        <Title text="Exceptions report" />
        <section class="page-head">
            <p class="crumbs"><a href=move || format!("/t/{}/runs", slug.get())>"Runs"</a>" / "</p>
            <h1>"Exceptions report"</h1>
            <p class="muted">"Records refused at the door because they broke the data contract, with every reason and what was sent. Kept for each workflow's retention period."</p>
        </section>
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match rows.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! { <div class="card empty"><p>"Nothing was refused. Records that break a data contract show up here."</p></div> }.into_any(),
                    Ok(rows) => rows.into_iter().map(|x| view! {
                        <section class="card exception" data-testid="exception">
                            <h2>{format!("{} · {}", x.workflow, x.channel)}</h2>
                            <p class="muted small">{format!("received {} · kept until {}", x.received, x.expires)}</p>
                            <ul>{x.violations.into_iter().map(|v| view! { <li><strong>{v.field}</strong>{format!(" ({}): {}", v.rule, v.message)}</li> }).collect_view()}</ul>
                            <details><summary>"Raw payload"</summary><pre class="json small" tabindex="0">{x.raw}</pre></details>
                        </section>
                    }).collect_view().into_any(),
                }
            })}
        </Suspense>
    }
}
