//! Workflows: the list, the YAML editor with errors at their line, versions
//! with four-eyes approval, publish and rollback, and the diff of two versions.

mod hosted_form;
mod triggers;
use crate::components::field::FormError;
use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{
    ContractIssueView, ContractView, DiffRowView, GalleryItemView, WorkflowDetailView, WorkflowSummaryView,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

#[cfg(feature = "ssr")]
mod backend {
    use crate::error::AppError;
    use crate::ssr::Ctx;
    use crate::views::*;
    use actix_web::http::StatusCode;
    use engine::FieldError;
    use store::workflows::WorkflowError;

    pub use crate::ssr::EDITORS;

    pub fn issue_views(issues: Vec<engine::workflow::ContractIssue>) -> Vec<ContractIssueView> {
        issues.into_iter().map(|i| ContractIssueView { line: i.line, column: i.column, message: i.message }).collect()
    }

    pub fn map_error(cx: &Ctx, e: WorkflowError) -> AppError {
        match e {
            WorkflowError::Invalid(issues) => cx.invalid(
                issues
                    .into_iter()
                    .map(|i| FieldError::new("yaml", format!("line {}, column {}: {}", i.line, i.column, i.message)))
                    .collect(),
            ),
            WorkflowError::Refused(m) => cx.refused(StatusCode::CONFLICT, m),
            WorkflowError::NotFound => cx.refused(StatusCode::NOT_FOUND, "There is no such workflow or version."),
            WorkflowError::Storage(e) => cx.internal("working on the workflow", e),
        }
    }

    /// The latest replay's summary in a line, and why the gate refuses, if it does.
    pub fn gate_lines(view: &store::replays::GateView) -> (Option<String>, Option<String>) {
        let percent = |a: Option<f64>| a.map(|a| format!("{:.0}%", a * 100.0)).unwrap_or_else(|| "–".into());
        let replay = view.latest.as_ref().map(|(_, s, age)| {
            format!(
                "Replayed {} over {} events: agreement {} → {}, sent to a person {} → {}, {} regressions",
                if *age < 1.0 { "today".to_owned() } else { format!("{age:.0} days ago") },
                s.events,
                percent(s.production.agreement),
                percent(s.replay.agreement),
                percent(Some(s.production.to_person)),
                percent(Some(s.replay.to_person)),
                s.regressions
            )
        });
        let blocked = match &view.verdict {
            engine::replay::GateVerdict::Blocked(reasons) => Some(reasons.join(" ")),
            _ => None,
        };
        (replay, blocked)
    }

    pub fn contract_view(c: &engine::workflow::WorkflowContract) -> ContractView {
        use engine::workflow::ApprovalCondition::*;
        let steps = c
            .steps
            .iter()
            .map(|s| {
                let mut details = Vec::new();
                let mut add = |label: &str, v: &Option<String>| {
                    if let Some(v) = v {
                        details.push(format!("{label}: {v}"));
                    }
                };
                add("when", &s.when);
                add("prompt", &s.prompt_template);
                add("model", &s.model.map(|m| m.to_string()));
                add("data contract", &s.data_contract);
                add("secret", &s.secret);
                add("url", &s.url);
                if !s.to.is_empty() {
                    details.push(format!("to: {}", s.to.join(", ")));
                }
                if s.writes_financial_records {
                    details.push("writes financial records".into());
                }
                if let Some(r) = &s.retry {
                    details.push(format!("retry: up to {} attempts", r.max_attempts));
                }
                if let Some(t) = s.timeout {
                    details.push(format!("timeout: {t} s"));
                }
                StepView { id: s.id.clone(), kind: s.kind.to_string(), output: s.output.clone(), details }
            })
            .collect();
        let approval = c
            .approval_conditions()
            .into_iter()
            .map(|a| match a {
                ConfidenceBelow(v) => format!("model confidence below {v}"),
                FieldAbove { field, value } => format!("{field} above {value}"),
                FieldBelow { field, value } => format!("{field} below {value}"),
                Expression(e) => format!("when {e}"),
            })
            .collect();
        ContractView {
            workflow: c.workflow.clone(),
            version: c.version.clone(),
            trigger: format!("{} · {}", c.trigger.source, c.trigger.event),
            steps,
            approval,
            fallback: c.fallback.as_ref().map(|f| f.on_error).unwrap_or(engine::workflow::OnError::Fail).to_string(),
        }
    }
}

#[server(endpoint = "list_workflows")]
pub async fn list_workflows(slug: String) -> Result<Vec<WorkflowSummaryView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let rows = store::workflows::list(&cx.state.db, &me).await;
    cx.rows("listing workflows", rows, |w| WorkflowSummaryView {
        name: w.name,
        owner: w.owner_email,
        live_version: w.live_version,
        latest_version: w.latest_version,
        updated: crate::ssr::short_time(&w.updated_at),
    })
}

#[server(endpoint = "check_workflow")]
pub async fn check_workflow(slug: String, yaml: String) -> Result<Vec<ContractIssueView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let issues =
        store::workflows::check(&cx.state.db, &me, &yaml).await.map_err(|e| cx.internal("checking the contract", e))?;
    Ok(backend::issue_views(issues))
}

/// Saves a new version; returns the workflow's name.
#[server(endpoint = "save_workflow")]
pub async fn save_workflow(slug: String, yaml: String, note: String) -> Result<String, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, backend::EDITORS).await?;
    cx.require_reason("note", &note)?;
    store::workflows::save_version(&cx.state.db, &me, &yaml, &note)
        .await
        .map(|(name, _)| name)
        .map_err(|e| backend::map_error(&cx, e))
}

#[server(endpoint = "workflow_detail")]
pub async fn workflow_detail(slug: String, name: String) -> Result<WorkflowDetailView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let d = store::workflows::detail(&cx.state.db, &me, &name).await.map_err(|e| backend::map_error(&cx, e))?;
    let latest = d.workflow.latest_version;
    let latest_yaml = store::workflows::version_yaml(&cx.state.db, &me, &name, latest)
        .await
        .map_err(|e| backend::map_error(&cx, e))?;
    // Saved versions were valid when saved; the form view needs only their structure.
    let latest_contract =
        engine::workflow::WorkflowContract::structure(&latest_yaml).as_ref().map(backend::contract_view);
    let latest_issues = store::workflows::check(&cx.state.db, &me, &latest_yaml)
        .await
        .map_err(|e| cx.internal("checking the contract", e))?;
    let one_person = store::one_person::declaration(&cx.state.db, &me)
        .await
        .map_err(|e| cx.internal("reading the one-person declaration", e))?
        .is_some();
    let can_edit = backend::EDITORS.contains(&me.role);
    // What the publish gate says of each version not live yet (the publish dialog shows it).
    let unpublished: Vec<i32> =
        d.versions.iter().filter(|v| v.first_published_at.is_none()).map(|v| v.number).collect();
    let gates: std::collections::HashMap<i32, _> = store::replays::judge(&cx.state.db, &me, &name, &unpublished)
        .await
        .map_err(|e| cx.internal("reading the publish gate", e))?
        .into_iter()
        .map(|(number, view)| (number, backend::gate_lines(&view)))
        .collect();
    Ok(WorkflowDetailView {
        name: d.workflow.name,
        owner: d.workflow.owner_email,
        backup_owner: d.workflow.backup_owner_email,
        escalation_contact: d.workflow.escalation_contact,
        live_version: d.workflow.live_version,
        versions: d
            .versions
            .into_iter()
            .map(|v| crate::views::VersionView {
                live: Some(v.number) == d.workflow.live_version,
                number: v.number,
                note: v.change_note,
                created: crate::ssr::short_time(&v.created_at),
                requires_four_eyes: v.requires_four_eyes,
                // The author never sees an Approve button they cannot use.
                can_approve: can_edit
                    && v.requires_four_eyes
                    && v.approved_by_email.is_none()
                    && !v.author_email.eq_ignore_ascii_case(&me.email),
                author: v.author_email,
                approved_by: v.approved_by_email,
                published_before: v.first_published_at.is_some(),
                replay: gates.get(&v.number).and_then(|g| g.0.clone()),
                gate_blocked: gates.get(&v.number).and_then(|g| g.1.clone()),
            })
            .collect(),
        latest_yaml,
        latest_contract,
        latest_issues: backend::issue_views(latest_issues),
        can_edit,
        one_person,
        is_owner: me.role == engine::Role::Owner,
    })
}

#[server(endpoint = "set_workflow_owners")]
pub async fn set_workflow_owners(
    slug: String,
    name: String,
    owner: String,
    backup_owner: String,
    escalation_contact: String,
) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, backend::EDITORS).await?;
    store::workflows::set_owners(&cx.state.db, &me, &name, &owner, &backup_owner, &escalation_contact)
        .await
        .map_err(|e| backend::map_error(&cx, e))
}

#[server(endpoint = "approve_workflow_version")]
pub async fn approve_workflow_version(slug: String, name: String, number: i32) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, backend::EDITORS).await?;
    store::workflows::approve(&cx.state.db, &me, &name, number, &format!("Approved version {number} for publishing"))
        .await
        .map_err(|e| backend::map_error(&cx, e))
}

/// Publishes a version; for an earlier, once-live version this is the rollback.
/// `without_second_approver`: in a one-person business, the publisher's reason
/// for making a four-eyes version live without a second approver.
#[server(endpoint = "publish_workflow_version")]
pub async fn publish_workflow_version(
    slug: String,
    name: String,
    number: i32,
    #[server(default)] without_second_approver: Option<String>,
) -> Result<(), AppError> {
    use engine::Role;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, &[Role::Engineer, Role::Owner, Role::Operations]).await?;
    store::workflows::publish(
        &cx.state.db,
        &me,
        &name,
        number,
        &format!("Version {number} made live"),
        without_second_approver.as_deref(),
    )
    .await
    .map_err(|e| backend::map_error(&cx, e))
}

#[server(endpoint = "workflow_diff")]
pub async fn workflow_diff(slug: String, name: String, a: i32, b: i32) -> Result<Vec<DiffRowView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let old =
        store::workflows::version_yaml(&cx.state.db, &me, &name, a).await.map_err(|e| backend::map_error(&cx, e))?;
    let new =
        store::workflows::version_yaml(&cx.state.db, &me, &name, b).await.map_err(|e| backend::map_error(&cx, e))?;
    Ok(crate::components::diff::diff_rows(&old, &new))
}

#[cfg(feature = "ssr")]
fn bundle_error(cx: &crate::ssr::Ctx, e: store::bundles::BundleError) -> AppError {
    use store::bundles::BundleError::*;
    match e {
        Invalid(problems) => cx.invalid(problems.into_iter().map(|p| engine::FieldError::new("bundle", p)).collect()),
        NotFound(n) => cx.refused(actix_web::http::StatusCode::NOT_FOUND, format!("There is no workflow named {n}.")),
        Storage(e) => cx.internal("importing the bundle", e),
    }
}

#[server(endpoint = "list_gallery")]
pub async fn list_gallery(slug: String) -> Result<Vec<GalleryItemView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let existing = store::workflows::list(&cx.state.db, &me).await.map_err(|e| cx.internal("listing workflows", e))?;
    Ok(store::bundles::GALLERY
        .iter()
        .map(|item| {
            let bundle = item.bundle();
            GalleryItemView {
                name: item.name.into(),
                title: item.title.into(),
                description: item.description.into(),
                prompts: bundle.prompts.keys().cloned().collect(),
                data_contracts: bundle.data_contracts.keys().cloned().collect(),
                installed: existing.iter().any(|w| w.name == item.name),
                needs_second_approver: item.needs_second_approver(),
            }
        })
        .collect())
}

/// Installs a gallery workflow (with its prompts and data contracts) as a draft.
#[server(endpoint = "install_gallery_workflow")]
pub async fn install_gallery_workflow(slug: String, name: String) -> Result<String, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, backend::EDITORS).await?;
    let item = store::bundles::GALLERY.iter().find(|i| i.name == name).ok_or_else(|| {
        cx.refused(actix_web::http::StatusCode::NOT_FOUND, "There is no such template in the gallery.")
    })?;
    store::bundles::import_bundle(
        &cx.state.db,
        &me,
        &item.bundle(),
        &format!("Installed '{}' from the gallery", item.title),
    )
    .await
    .map_err(|e| bundle_error(&cx, e))
}

/// Imports a bundle (YAML); nothing changes unless all of it is valid.
#[server(endpoint = "import_bundle")]
pub async fn import_bundle(slug: String, yaml: String, why: String) -> Result<String, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, backend::EDITORS).await?;
    store::bundles::import(&cx.state.db, &me, &yaml, &why).await.map_err(|e| bundle_error(&cx, e))
}

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    let (slug, _) = (crate::route::param("slug"), crate::route::param("name"));
    let workflows = crate::resource::new(move || slug.get(), list_workflows);
    view! {
        <Title text="Workflows" />
        <section class="page-head row">
            <div>
                <h1>"Workflows"</h1>
                <p class="muted">"Each workflow is a versioned contract: drafts are saved with a reason, one version is live."</p>
            </div>
            <div class="actions">
                <a class="button" href=move || format!("/t/{}/workflows/gallery", slug.get()) data-testid="gallery">"Template gallery"</a>
                <a class="button primary" href=move || format!("/t/{}/workflows/new", slug.get()) data-testid="new-workflow">"New workflow"</a>
            </div>
        </section>
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match workflows.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="empty-state" data-testid="empty-state">
                            <h2>"No workflows yet"</h2>
                            <p>"A workflow turns an event (a web form, a CRM update, a support ticket) into typed steps: models draft, rules decide, and a person approves where the risk is real. The quickest start is a ready one from the gallery: install it, look it over, publish it."</p>
                            <a class="button primary" href=format!("/t/{}/workflows/gallery", slug.get_untracked()) data-testid="empty-gallery">"Browse the template gallery"</a>
                        </section>
                    }.into_any(),
                    Ok(list) => view! {
                        <section class="card">
                            <table class="table" data-testid="workflow-list">
                                <thead><tr><th>"Workflow"</th><th>"Owner"</th><th>"Status"</th><th>"Versions"</th><th>"Updated"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|w| {
                                        let href = format!("/t/{}/workflows/{}", slug.get_untracked(), w.name);
                                        let status = match w.live_version {
                                            Some(v) if v == w.latest_version => format!("Live · v{v}"),
                                            Some(v) => format!("Live · v{v} (draft v{})", w.latest_version),
                                            None => "Draft".to_string(),
                                        };
                                        view! {
                                            <tr>
                                                <td data-label="Workflow"><a href=href>{w.name.clone()}</a></td>
                                                <td data-label="Owner">{w.owner.unwrap_or_else(|| "—".into())}</td>
                                                <td data-label="Status"><span class="badge" class:live=w.live_version.is_some()>{status}</span></td>
                                                <td data-label="Versions">{w.latest_version}</td>
                                                <td data-label="Updated">{w.updated}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
        <ImportBundle slug />
    }
}

#[component]
fn ImportBundle(slug: Memo<String>) -> impl IntoView {
    let yaml = RwSignal::new(String::new());
    let why = RwSignal::new(String::new());
    let import = ServerAction::<ImportBundle>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(name)) = import.value().get() {
            navigate(&format!("/t/{}/workflows/{name}", slug.get_untracked()), Default::default());
        }
    });
    view! {
        <section class="card">
            <h2>"Import a bundle"</h2>
            <p class="muted small">"Paste a bundle exported from Steward (a workflow with its prompts and data contracts). Nothing changes unless all of it is valid."</p>
            <form on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                import.dispatch(ImportBundle { slug: slug.get_untracked(), yaml: yaml.get_untracked(), why: why.get_untracked() });
            }>
                <textarea class="code-area" rows="6" spellcheck="false" aria-label="Bundle (YAML)" data-testid="bundle-yaml"
                    prop:value=move || yaml.get() on:input=move |ev| yaml.set(event_target_value(&ev))></textarea>
                <div class="save-form">
                    <div class="field">
                        <label for="import-why">"Why?"</label>
                        <input id="import-why" prop:value=move || why.get() on:input=move |ev| why.set(event_target_value(&ev)) />
                    </div>
                    <button class="button" type="submit" data-testid="import-bundle">"Import"</button>
                </div>
                <ul class="issues" data-testid="import-errors">
                    {move || match import.value().get() {
                        Some(Err(AppError::Invalid(list))) => list.into_iter().map(|f| view! { <li class="issue">{f.message}</li> }).collect_view().into_any(),
                        Some(Err(e)) => view! { <li class="issue">{e.to_string()}</li> }.into_any(),
                        _ => ().into_any(),
                    }}
                </ul>
            </form>
        </section>
    }
}

/// `/t/<slug>/workflows/gallery`: ready workflows from the playbook.
#[component]
pub fn GalleryPage() -> impl IntoView {
    let (slug, _) = (crate::route::param("slug"), crate::route::param("name"));
    let install = ServerAction::<InstallGalleryWorkflow>::new();
    let items = crate::resource::new(move || slug.get(), list_gallery);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(name)) = install.value().get() {
            navigate(&format!("/t/{}/workflows/{name}", slug.get_untracked()), Default::default());
        }
    });
    let message = Signal::derive(move || install.value().get().and_then(|r| r.err()).map(|e| e.to_string()));
    view! {
        <Title text="Template gallery" />
        <section class="page-head">
            <p class="crumbs"><a href=move || format!("/t/{}/workflows", slug.get())>"Workflows"</a>" / "</p>
            <h1>"Template gallery"</h1>
            <p class="muted">"Ready workflows from the playbook. Each installs as a draft with its prompt templates and data contracts."</p>
        </section>
        <FormError message />
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match items.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(items) => view! {
                        <section class="tiles">
                            {items.into_iter().map(|item| {
                                let name = item.name.clone();
                                view! {
                                    <div class="tile" data-testid=format!("gallery-{}", item.name)>
                                        <h2>{item.title.clone()}</h2>
                                        <p>{item.description.clone()}</p>
                                        <p class="small muted">{format!("Prompts: {} · Data contracts: {}", item.prompts.join(", "), item.data_contracts.join(", "))}</p>
                                        {item.needs_second_approver.then(|| view! {
                                            <p class="small notice" data-testid=format!("second-approver-{}", item.name)>
                                                "Needs a second approver: it emails outside the business or writes financial records, so another engineer or owner approves each version before it goes live (or, in a one-person business, you confirm it yourself)."
                                            </p>
                                        })}
                                        <button class="button primary small" type="button" data-testid=format!("install-{}", item.name)
                                            on:click=move |_| { install.dispatch(InstallGalleryWorkflow { slug: slug.get_untracked(), name: name.clone() }); }>
                                            {if item.installed { "Install again as a new draft" } else { "Install as draft" }}
                                        </button>
                                    </div>
                                }
                            }).collect_view()}
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

const STARTER: &str = "workflow: my-workflow
version: 1.0.0
trigger: { source: website_form, event: lead.created }
steps:
  - { id: normalize, type: function, output: normalized_lead }
  - { id: summarize, type: llm, prompt_template: lead_summary_v4, output: summary }
approval:
  required_when: [ { confidence_below: 0.8 } ]
fallback: { on_error: assign_to_human_queue }
";

/// `/t/<slug>/workflows/new` and `/t/<slug>/workflows/<name>`.
#[component]
pub fn WorkflowEditorPage() -> impl IntoView {
    let (slug, name) = (crate::route::param("slug"), crate::route::param("name"));
    let detail = crate::resource::new(
        move || (slug.get(), name.get()),
        |(slug, name)| async move {
            if name == "new" {
                Ok(None)
            } else {
                workflow_detail(slug, name).await.map(Some)
            }
        },
    );
    let reload = Callback::new(move |_: ()| detail.refetch());
    view! {
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(None) => view! { <Title text="New workflow" /><Editor slug=slug.get_untracked() initial=STARTER.to_string() detail=None reload /> }.into_any(),
                    Ok(Some(d)) => view! { <Title text=d.name.clone() /><Editor slug=slug.get_untracked() initial=d.latest_yaml.clone() detail=Some(d) reload /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Editor(slug: String, initial: String, detail: Option<WorkflowDetailView>, reload: Callback<()>) -> impl IntoView {
    let yaml = RwSignal::new(initial);
    let typed = RwSignal::new(0u64);
    let note = RwSignal::new(String::new());
    let save = ServerAction::<SaveWorkflow>::new();
    let navigate = use_navigate();
    // The checker runs in the browser only, after typing pauses. It is an
    // action, not a resource: this component is made inside the page's
    // Suspense, and on the server a resource made there is made afresh each
    // time the Suspense re-walks its children, which can go on for seconds
    // (leptos issue 4866). The first list comes with the page's data.
    let check = Action::new({
        let slug = slug.clone();
        move |text: &String| {
            let (slug, text) = (slug.clone(), text.clone());
            async move { (text.clone(), check_workflow(slug, text).await) }
        }
    });
    let issues = RwSignal::new(detail.as_ref().map(|d| d.latest_issues.clone()).unwrap_or_default());
    // An answer counts only for the text now in the editor (a slow answer
    // for older text never replaces a newer one).
    Effect::new(move |_| {
        if let Some((text, Ok(list))) = check.value().get() {
            if yaml.with_untracked(|now| *now == text) {
                issues.set(list);
            }
        }
    });
    if detail.is_none() {
        // A new workflow's starter text is checked once the page is live.
        Effect::new(move |_| {
            check.dispatch(yaml.get_untracked());
        });
    }
    let on_input = move |ev: leptos::ev::Event| {
        yaml.set(event_target_value(&ev));
        let ticket = typed.get_untracked() + 1;
        typed.set(ticket);
        set_timeout(
            move || {
                if typed.get_untracked() == ticket {
                    check.dispatch(yaml.get_untracked());
                }
            },
            std::time::Duration::from_millis(350),
        );
    };
    let issue_list = move || issues.get();
    let note_error = Signal::derive(move || save.value().get().and_then(|r| r.err()).and_then(|e| e.field("note")));
    let save_message = Signal::derive(move || save.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    {
        // A new workflow gets its own address; an existing one reloads its versions.
        let slug = slug.clone();
        let current = detail.as_ref().map(|d| d.name.clone());
        Effect::new(move |_| {
            if let Some(Ok(name)) = save.value().get() {
                if current.as_deref() == Some(name.as_str()) {
                    reload.run(());
                } else {
                    navigate(&format!("/t/{slug}/workflows/{name}"), Default::default());
                }
            }
        });
    }
    let on_save = {
        let slug = slug.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            check.dispatch(yaml.get_untracked());
            save.dispatch(SaveWorkflow { slug: slug.clone(), yaml: yaml.get_untracked(), note: note.get_untracked() });
        }
    };
    let can_edit = detail.as_ref().map(|d| d.can_edit).unwrap_or(true);
    let heading = detail.as_ref().map(|d| d.name.clone()).unwrap_or_else(|| "New workflow".into());
    view! {
        <section class="page-head">
            <p class="crumbs"><a href=format!("/t/{slug}/workflows")>"Workflows"</a>" / "</p>
            <h1>{heading}</h1>
            {detail.as_ref().map(|d| view! {
                <p><a class="button small" rel="external" data-testid="export-bundle"
                    href=format!("/t/{}/workflows/{}/bundle.yaml", slug, d.name)>"Export bundle"</a></p>
            })}
            {detail.as_ref().map(|d| view! {
                <p class="muted">
                    {format!("Owner: {} · Backup owner: {} · Escalation: {}",
                        d.owner.clone().unwrap_or_else(|| "—".into()),
                        d.backup_owner.clone().unwrap_or_else(|| "—".into()),
                        if d.escalation_contact.is_empty() { "—".to_string() } else { d.escalation_contact.clone() })}
                </p>
            })}
        </section>
            {detail.clone().filter(|d| d.can_edit).map(|d| view! { <Owners slug=slug.clone() detail=d reload /> })}
            {detail.as_ref().map(|d| view! { <triggers::Triggers slug=slug.clone() name=d.name.clone() /> })}
        <div class="editor-layout">
            <section class="card">
                <h2>"Contract"</h2>
                <div class="code-editor">
                    <pre class="gutter" aria-hidden="true">
                        {move || {
                            let bad: Vec<usize> = issue_list().iter().map(|i| i.line).collect();
                            (1..=yaml.get().lines().count().max(1))
                                .map(|n| view! { <span class:bad=bad.contains(&n) data-line=n>{n}"\n"</span> })
                                .collect_view()
                        }}
                    </pre>
                    <textarea class="code" name="yaml" spellcheck="false" aria-label="Workflow contract (YAML)" data-testid="yaml"
                        rows=move || yaml.get().lines().count() + 2
                        prop:value=move || yaml.get() on:input=on_input readonly=!can_edit></textarea>
                </div>
                <ul class="issues" data-testid="issues">
                    {move || {
                        let list = issue_list();
                        if list.is_empty() {
                            view! { <li class="ok">"No problems found."</li> }.into_any()
                        } else {
                            list.into_iter().map(|i| view! {
                                <li class="issue" data-line=i.line>
                                    <strong>{format!("Line {}, column {}", i.line, i.column)}</strong>": "{i.message}
                                </li>
                            }).collect_view().into_any()
                        }
                    }}
                </ul>
                <Show when=move || can_edit>
                    <form class="save-form" on:submit=on_save.clone()>
                        <div class="field" class:has-error=move || note_error.get().is_some()>
                            <label for="field-note">"Why this change?"</label>
                            <input id="field-note" name="note" prop:value=move || note.get()
                                on:input=move |ev| note.set(event_target_value(&ev))
                                placeholder="e.g. Raise the approval threshold for large deals" />
                            <p class="field-error" role="alert">{move || note_error.get().unwrap_or_default()}</p>
                        </div>
                        <FormError message=save_message />
                        <button class="button primary" type="submit" data-testid="save-version"
                            disabled=move || save.pending().get()>"Save as new version"</button>
                    </form>
                </Show>
            </section>
            {detail.clone().map(|d| view! { <aside><ContractForm contract=d.latest_contract.clone() /><Versions slug=slug.clone() detail=d reload /></aside> })}
        </div>
    }
}

#[component]
fn Owners(slug: String, detail: WorkflowDetailView, reload: Callback<()>) -> impl IntoView {
    let owner = RwSignal::new(detail.owner.clone().unwrap_or_default());
    let backup = RwSignal::new(detail.backup_owner.clone().unwrap_or_default());
    let escalation = RwSignal::new(detail.escalation_contact.clone());
    let set = ServerAction::<SetWorkflowOwners>::new();
    Effect::new(move |_| {
        if matches!(set.value().get(), Some(Ok(()))) {
            reload.run(());
        }
    });
    let message = Signal::derive(move || set.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let name = detail.name.clone();
    let input = |id: &'static str, label: &'static str, value: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
            </div>
        }
    };
    view! {
        <section class="card owners">
            <h2>"Ownership"</h2>
            <form class="owners-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                set.dispatch(SetWorkflowOwners {
                    slug: slug.clone(), name: name.clone(), owner: owner.get_untracked(),
                    backup_owner: backup.get_untracked(), escalation_contact: escalation.get_untracked(),
                });
            }>
                {input("owner-email", "Owner (member email)", owner)}
                {input("backup-email", "Backup owner", backup)}
                {input("escalation", "Escalation contact", escalation)}
                <button class="button" type="submit" data-testid="save-owners">"Save ownership"</button>
            </form>
            <FormError message />
        </section>
    }
}

#[component]
fn ContractForm(contract: Option<ContractView>) -> impl IntoView {
    let Some(c) = contract else { return ().into_any() };
    view! {
        <section class="card contract-form" data-testid="contract-form">
            <h2>"Form view"</h2>
            <p class="muted small">{format!("{} · version {}", c.workflow, c.version)}</p>
            <div class="flow">
                <div class="flow-node trigger"><span class="kind">"trigger"</span>{c.trigger}</div>
                {c.steps.into_iter().map(|s| view! {
                    <div class="flow-node">
                        <span class="kind">{s.kind}</span>
                        <strong>{s.id}</strong>
                        {s.output.map(|o| view! { <span class="muted small">{format!(" → {o}")}</span> })}
                        <ul>{s.details.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}</ul>
                    </div>
                }).collect_view()}
            </div>
            <h3>"A person approves when"</h3>
            <ul>{c.approval.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}</ul>
            <h3>"On error"</h3>
            <p>{c.fallback}</p>
        </section>
    }
    .into_any()
}

#[component]
fn Versions(slug: String, detail: WorkflowDetailView, reload: Callback<()>) -> impl IntoView {
    let approve = ServerAction::<ApproveWorkflowVersion>::new();
    let publish = ServerAction::<PublishWorkflowVersion>::new();
    // After an action, reload the page's data.
    Effect::new(move |_| {
        if matches!(approve.value().get(), Some(Ok(()))) || matches!(publish.value().get(), Some(Ok(()))) {
            reload.run(());
        }
    });
    // A four-eyes version publishing without its second approver: the refusal
    // says what to do next, and a one-person business confirms with a reason.
    let needs_second = RwSignal::new(false);
    let confirming = RwSignal::new(None::<i32>);
    let solo_reason = RwSignal::new(String::new());
    let refused_for_second =
        Signal::derive(move || needs_second.get() && matches!(publish.value().get(), Some(Err(_))));
    // That refusal is said once, by the notice with its links.
    let message = Signal::derive(move || {
        [approve.value().get(), publish.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err())
            .and_then(|e| e.form_message())
            .filter(|_| !refused_for_second.get())
    });
    let name = detail.name.clone();
    let newest = detail.versions.first().map(|v| v.number).unwrap_or(1);
    let (one_person, is_owner) = (detail.one_person, detail.is_owner);
    let invite_href = format!("/t/{slug}/settings#invite");
    let one_person_href = format!("/t/{slug}/settings#one-person");
    let (slug_c, name_c) = (slug.clone(), name.clone());
    view! {
        <section class="card">
            <h2>"Versions"</h2>
            <p class="small"><a href=format!("/t/{}/workflows/{}/replays", slug, name) data-testid="replays-link">"Replay a change over past events"</a>" before you publish it."</p>
            <FormError message=message />
            <Show when=move || refused_for_second.get()>
                <p class="notice" data-testid="second-approver-help">
                    "A second engineer or owner approves this version before it goes live. "
                    {if is_owner {
                        view! {
                            <a href=invite_href.clone() data-testid="invite-second-approver">"Invite a second approver"</a>
                            " or, if nobody else works here, "
                            <a href=one_person_href.clone() data-testid="declare-one-person-link">"declare a one-person business"</a>"."
                        }.into_any()
                    } else {
                        "Ask an owner to invite a second approver.".into_any()
                    }}
                </p>
            </Show>
            {move || confirming.get().map(|number| {
                let (slug, name) = (slug_c.clone(), name_c.clone());
                view! {
                    <form class="notice confirm-solo" data-testid="confirm-solo" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        publish.dispatch(PublishWorkflowVersion {
                            slug: slug.clone(), name: name.clone(), number,
                            without_second_approver: Some(solo_reason.get_untracked()),
                        });
                        confirming.set(None);
                    }>
                        <p>{format!("Version {number} needs a second approver. This is a one-person business: publish it on your own word, and say why it is safe.")}</p>
                        <div class="field">
                            <label for="f-solo-reason">"Why it is safe to publish"</label>
                            <input id="f-solo-reason" required prop:value=move || solo_reason.get()
                                on:input=move |ev| solo_reason.set(event_target_value(&ev)) placeholder="I checked every email it sends" />
                        </div>
                        <button class="button primary small" type="submit" data-testid="publish-solo">"Publish without a second approver"</button>
                        " "
                        <button class="button small" type="button" on:click=move |_| confirming.set(None)>"Cancel"</button>
                    </form>
                }
            })}
            <table class="table versions" data-testid="versions">
                <thead><tr><th>"v"</th><th>"Why, by whom"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {detail.versions.into_iter().map(|v| {
                        let (slug_a, slug_p, name_a, name_p) = (slug.clone(), slug.clone(), name.clone(), name.clone());
                        let number = v.number;
                        let waiting_for_second = v.requires_four_eyes && v.approved_by.is_none();
                        let diff_href = (number > 1).then(|| format!("/t/{}/workflows/{}/diff?a={}&b={}", slug, name, number - 1, number));
                        view! {
                            <tr data-testid=format!("version-{number}")>
                                <td data-label="Version">{format!("v{number}")}{v.live.then(|| view! { <span class="badge live">"live"</span> })}</td>
                                <td data-label="Why">{v.note.clone()}<div class="muted small">{format!("{} · {}", v.author, v.created)}</div>
                                    {v.replay.clone().map(|r| view! { <div class="small" data-testid=format!("replay-of-{number}")><a href=format!("/t/{}/workflows/{}/replays", slug, name)>{r}</a></div> })}
                                    {v.gate_blocked.clone().map(|g| view! { <div class="small gate-blocked" data-testid=format!("gate-{number}")>{g}</div> })}
                                    {v.requires_four_eyes.then(|| view! { <div class="small">{match &v.approved_by {
                                        Some(a) => format!("Approved by {a}"),
                                        None if v.can_approve => "Needs a second person's approval: yours".into(),
                                        None => "Needs a second person's approval".into(),
                                    }}</div> })}
                                </td>
                                <td class="actions">
                                    {diff_href.map(|h| view! { <a class="button small" href=h>"Diff"</a> })}
                                    {v.can_approve.then(|| view! {
                                        <button class="button small" type="button" data-testid=format!("approve-{number}")
                                            on:click=move |_| { approve.dispatch(ApproveWorkflowVersion { slug: slug_a.clone(), name: name_a.clone(), number }); }>"Approve"</button>
                                    })}
                                    {(!v.live).then(|| {
                                        let label = if v.published_before && number < newest { "Roll back to this" } else { "Publish" };
                                        view! {
                                            <button class="button small primary" type="button" data-testid=format!("publish-{number}")
                                                on:click=move |_| {
                                                    needs_second.set(waiting_for_second);
                                                    if waiting_for_second && one_person {
                                                        confirming.set(Some(number));
                                                    } else {
                                                        publish.dispatch(PublishWorkflowVersion { slug: slug_p.clone(), name: name_p.clone(), number, without_second_approver: None });
                                                    }
                                                }>{label}</button>
                                        }
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// `/t/<slug>/workflows/<name>/diff?a=1&b=2`: two versions side by side.
#[component]
pub fn WorkflowDiffPage() -> impl IntoView {
    view! { <crate::components::diff::VersionDiff section="workflows" title="Workflows" load=workflow_diff /> }
}
