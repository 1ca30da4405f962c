//! Governance: the monthly review meeting's one page. The month's
//! incidents (cost alerts, failed runs, review escalations), the changes
//! made (from the change log) and the value-score backlog of what to
//! automate next, where a candidate starts as a draft workflow from the
//! template gallery once it names its success metric.

use crate::components::field::{Field, FormError, Loading};
use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{CandidateView, ChangeView, GovernanceView, IncidentView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "governance_review")]
pub async fn governance_review(slug: String, month: String) -> Result<GovernanceView, AppError> {
    use engine::kpi::Month;
    use engine::Role;
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member(&slug, engine::Page::Governance).await?;
    let db = &cx.state.db;
    let schema = &member.tenant;
    let current = store::local_time::current_month(db, schema, chrono::Utc::now())
        .await
        .map_err(|e| cx.internal("reading the time zone", e))?;
    let month = if month.trim().is_empty() {
        current
    } else {
        Month::parse(&month).filter(|m| *m <= current).ok_or_else(|| {
            cx.invalid(vec![engine::FieldError::new("month", "Pick a month up to this one, as YYYY-MM.")])
        })?
    };
    let review = store::governance::month(db, schema, month, 40)
        .await
        .map_err(|e| cx.internal("reading the month's incidents", e))?;
    let backlog = store::backlog::list(db, schema).await.map_err(|e| cx.internal("reading the backlog", e))?;
    let installed = store::workflows::list(db, &member).await.map_err(|e| cx.internal("listing workflows", e))?;
    let mut months = Vec::new();
    let mut m = current;
    for _ in 0..6 {
        months.push((m.to_string(), m.label()));
        m = m.previous();
    }
    Ok(GovernanceView {
        month: month.to_string(),
        month_label: month.label(),
        months,
        alerts: review.alerts,
        failed_runs: review.failed_runs,
        escalations: review.escalations,
        incidents: review
            .incidents
            .into_iter()
            .map(|i| IncidentView {
                kind: i.kind.to_string(),
                workflow: i.workflow,
                what: i.what,
                at: crate::ssr::short_time(&i.at),
                resolved: i.resolved,
                href: i.link.map(|l| format!("/t/{slug}/{l}")),
            })
            .collect(),
        changes: review.changes.into_iter().map(crate::ssr::change_view).collect(),
        backlog: backlog
            .into_iter()
            .enumerate()
            .map(|(i, r)| CandidateView {
                id: r.id.to_string(),
                rank: i + 1,
                score: format!("{:.2}", r.candidate.score()),
                name: r.candidate.name,
                monthly_volume: engine::kpi::trim_number(r.candidate.inputs.monthly_volume),
                minutes_per_task: engine::kpi::trim_number(r.candidate.inputs.minutes_per_task),
                error_rate: engine::kpi::trim_number(r.candidate.inputs.error_rate * 100.0),
                revenue_impact: engine::kpi::trim_number(r.candidate.inputs.revenue_impact),
                compliance_risk: engine::kpi::trim_number(r.candidate.inputs.compliance_risk),
                success_metric: r.candidate.success_metric,
                status: r.status,
                workflow: r.workflow_name,
            })
            .collect(),
        // Templates not installed yet: a start makes a new draft workflow.
        templates: store::bundles::GALLERY
            .iter()
            .filter(|g| !installed.iter().any(|w| w.name == g.name))
            .map(|g| (g.name.to_string(), g.title.to_string()))
            .collect(),
        may_edit: matches!(member.role, Role::Owner | Role::Operations),
    })
}

/// Adds a candidate to the backlog, or updates one that has not started.
#[server(endpoint = "save_candidate")]
#[allow(clippy::too_many_arguments)]
pub async fn save_candidate(
    slug: String,
    name: String,
    monthly_volume: String,
    minutes_per_task: String,
    error_rate: String,
    revenue_impact: String,
    compliance_risk: String,
    success_metric: String,
) -> Result<String, AppError> {
    use engine::Role;
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member_in(&slug, engine::Page::Governance, &[Role::Owner, Role::Operations]).await?;
    let form = engine::kpi::CandidateForm {
        name,
        monthly_volume,
        minutes_per_task,
        error_rate,
        revenue_impact,
        compliance_risk,
        success_metric,
    };
    let candidate = engine::kpi::Candidate::parse(&form).map_err(|errors| cx.invalid(errors))?;
    match store::backlog::save(&cx.state.db, &member, &candidate).await {
        Ok(id) => Ok(id.to_string()),
        Err(store::backlog::BacklogError::Fields(errors)) => Err(cx.invalid(errors)),
        Err(store::backlog::BacklogError::NotFound) => {
            Err(cx.refused(actix_web::http::StatusCode::NOT_FOUND, "There is no such candidate."))
        }
        Err(store::backlog::BacklogError::Storage(e)) => Err(cx.internal("saving the candidate", e)),
    }
}

/// Starts a candidate as a draft workflow from a gallery template.
#[server(endpoint = "start_candidate")]
pub async fn start_candidate(slug: String, id: String, template: String) -> Result<String, AppError> {
    use engine::Role;
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member_in(&slug, engine::Page::Governance, &[Role::Owner, Role::Operations]).await?;
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| cx.refused(actix_web::http::StatusCode::NOT_FOUND, "There is no such candidate."))?;
    match store::backlog::start(&cx.state.db, &member, id, template.trim()).await {
        Ok(name) => Ok(name),
        Err(store::backlog::BacklogError::Fields(errors)) => Err(cx.invalid(errors)),
        Err(store::backlog::BacklogError::NotFound) => {
            Err(cx.refused(actix_web::http::StatusCode::NOT_FOUND, "There is no such candidate."))
        }
        Err(store::backlog::BacklogError::Storage(e)) => Err(cx.internal("starting the candidate", e)),
    }
}

#[component]
pub fn GovernancePage() -> impl IntoView {
    let query = use_query_map();
    let slug = crate::route::param("slug");
    let month = Memo::new(move |_| query.read().get("month").unwrap_or_default());
    let saved = ServerAction::<SaveCandidate>::new();
    let started = ServerAction::<StartCandidate>::new();
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(saved.value().get(), Some(Ok(_))) || matches!(started.value().get(), Some(Ok(_))) {
            reload.update(|n| *n += 1);
        }
    });
    let review = crate::resource::new(
        move || (slug.get(), month.get(), reload.get()),
        |(slug, month, _)| governance_review(slug, month),
    );
    view! {
        <Title text="Governance" />
        <section class="page-head">
            <h1>"Governance"</h1>
            <p class="muted">"The monthly review on one page: what went wrong, what changed, and what to automate next."</p>
        </section>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match review.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(v) => view! { <Review v slug=slug.get_untracked() saved started /> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn incident_label(kind: &str) -> &'static str {
    match kind {
        "alert" => "Cost alert",
        "failed_run" => "Failed run",
        _ => "Escalation",
    }
}

#[component]
fn Review(
    v: GovernanceView,
    slug: String,
    saved: ServerAction<SaveCandidate>,
    started: ServerAction<StartCandidate>,
) -> impl IntoView {
    let current = v.month.clone();
    let changes: Vec<ChangeView> = v.changes.clone();
    let incidents: Vec<IncidentView> = v.incidents.clone();
    view! {
        <nav class="month-picker" aria-label="Months">
            {v.months.iter().map(|(m, label)| {
                let here = *m == current;
                view! { <a href=format!("?month={m}") class:current=here aria-current=here.then_some("page")>{label.clone()}</a> }
            }).collect_view()}
        </nav>
        <div class="tiles review-figures" data-testid="governance-figures">
            <div class="tile"><strong data-testid="gov-alerts">{v.alerts}</strong><span>" cost alerts"</span></div>
            <div class="tile"><strong data-testid="gov-failed">{v.failed_runs}</strong><span>" failed runs"</span></div>
            <div class="tile"><strong data-testid="gov-escalations">{v.escalations}</strong><span>" escalations"</span></div>
            <div class="tile"><strong>{v.changes.len()}</strong><span>" changes"</span></div>
        </div>
        <section class="card" data-testid="incidents">
            <h2>{format!("Incidents in {}", v.month_label)}</h2>
            {(v.incidents.len() as i64 >= 40).then(|| view! { <p class="muted small">"The latest 40; the counts above are the whole month's."</p> })}
            {if incidents.is_empty() {
                view! { <p class="muted">"No incidents this month."</p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll" tabindex="0"><table class="table">
                        <thead><tr><th>"When"</th><th>"What"</th><th>"Workflow"</th><th>"Detail"</th><th>"State"</th></tr></thead>
                        <tbody>{incidents.into_iter().map(|i| view! {
                            <tr data-testid="incident">
                                <td data-label="When">{i.at.clone()}</td>
                                <td data-label="What">{incident_label(&i.kind)}</td>
                                <td data-label="Workflow">{i.workflow.clone()}</td>
                                <td data-label="Detail">{match i.href.clone() { Some(h) => view! { <a href=h>{i.what.clone()}</a> }.into_any(), None => view! { <span>{i.what.clone()}</span> }.into_any() }}</td>
                                <td data-label="State">{if i.resolved { "resolved" } else { "open" }}</td>
                            </tr>
                        }).collect_view()}</tbody>
                    </table></div>
                }.into_any()
            }}
        </section>
        <section class="card" data-testid="month-changes">
            <h2>{format!("Changes in {}", v.month_label)}</h2>
            {if changes.is_empty() {
                view! { <p class="muted">"No changes this month."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain changes-list">{changes.into_iter().map(|c| view! {
                        <li data-testid="month-change"><span class="muted small">{c.at}" · "{c.who}</span><br/>
                            <strong>{c.subject}</strong>" "{c.action}{(!c.why.is_empty()).then(|| format!(": {}", c.why))}</li>
                    }).collect_view()}</ul>
                }.into_any()
            }}
        </section>
        <Backlog v=v.clone() slug saved started />
    }
}

#[component]
fn Backlog(
    v: GovernanceView,
    slug: String,
    saved: ServerAction<SaveCandidate>,
    started: ServerAction<StartCandidate>,
) -> impl IntoView {
    let last_start = RwSignal::new(None::<String>);
    let templates = StoredValue::new(v.templates.clone());
    view! {
        <section class="card" data-testid="backlog">
            <h2>"What to automate next"</h2>
            <p class="muted small">"Value score = labour savings (volume × minutes) × 0.35 + quality gain (error rate × 100) × 0.2 + revenue impact × 0.3 − compliance risk × 0.25. A candidate starts only when it names how success will be measured; if it cannot be measured, postpone it."</p>
            {if v.backlog.is_empty() {
                view! { <p class="muted">"No candidates yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll" tabindex="0"><table class="table" data-testid="backlog-table">
                        <thead><tr><th>"#"</th><th>"Candidate"</th><th>"Score"</th><th>"Volume"</th><th>"Minutes"</th><th>"Errors"</th><th>"Revenue"</th><th>"Risk"</th><th>"Success metric"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                        <tbody>{v.backlog.iter().cloned().map(|c| view! {
                            <CandidateRow c slug=slug.clone() may_edit=v.may_edit started last_start templates=templates.get_value() />
                        }).collect_view()}</tbody>
                    </table></div>
                }.into_any()
            }}
            {v.may_edit.then(|| view! { <CandidateForm slug=slug.clone() saved /> })}
        </section>
    }
}

#[component]
fn CandidateRow(
    c: CandidateView,
    slug: String,
    may_edit: bool,
    started: ServerAction<StartCandidate>,
    last_start: RwSignal<Option<String>>,
    templates: Vec<(String, String)>,
) -> impl IntoView {
    let id = StoredValue::new(c.id.clone());
    let result = move || if last_start.get() == Some(id.get_value()) { started.value().get() } else { None };
    let error =
        move |field: &'static str| Signal::derive(move || result().and_then(|r| r.err()).and_then(|e| e.field(field)));
    let message = Signal::derive(move || result().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let template = RwSignal::new(templates.first().map(|t| t.0.clone()).unwrap_or_default());
    let status = match (&c.status[..], &c.workflow) {
        ("started", Some(w)) => view! { <a href=format!("/t/{slug}/workflows/{w}") data-testid="candidate-workflow">{format!("Started: {w}")}</a> }.into_any(),
        _ if !may_edit => view! { <span class="muted">"Candidate"</span> }.into_any(),
        _ => {
            let slug = slug.clone();
            view! {
                <form class="inline-form" novalidate on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    last_start.set(Some(id.get_value()));
                    started.dispatch(StartCandidate { slug: slug.clone(), id: id.get_value(), template: template.get() });
                }>
                    <label class="visually-hidden" for=format!("template-{}", c.id)>"Template"</label>
                    <select id=format!("template-{}", c.id) prop:value=move || template.get() on:change=move |ev| template.set(event_target_value(&ev))>
                        {templates.iter().map(|(name, title)| view! { <option value=name.clone()>{title.clone()}</option> }).collect_view()}
                    </select>
                    <button class="button small" type="submit" data-testid="start-candidate">"Start as a draft"</button>
                    <p class="field-error" role="alert" data-testid="start-error">{move || error("success_metric").get().or_else(|| error("template").get()).or_else(|| error("candidate").get()).unwrap_or_default()}</p>
                    <FormError message=message />
                </form>
            }
            .into_any()
        }
    };
    view! {
        <tr data-testid="candidate">
            <td data-label="#">{c.rank}</td>
            <td data-label="Candidate" data-testid="candidate-name">{c.name.clone()}</td>
            <td data-label="Score" data-testid="candidate-score"><strong>{c.score.clone()}</strong></td>
            <td data-label="Volume">{c.monthly_volume.clone()}</td>
            <td data-label="Minutes">{c.minutes_per_task.clone()}</td>
            <td data-label="Errors">{format!("{}%", c.error_rate)}</td>
            <td data-label="Revenue">{c.revenue_impact.clone()}</td>
            <td data-label="Risk">{c.compliance_risk.clone()}</td>
            <td data-label="Success metric">{if c.success_metric.is_empty() { view! { <span class="badge review">"missing"</span> }.into_any() } else { view! { <span>{c.success_metric.clone()}</span> }.into_any() }}</td>
            <td>{status}</td>
        </tr>
    }
}

#[component]
fn CandidateForm(slug: String, saved: ServerAction<SaveCandidate>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let volume = RwSignal::new(String::new());
    let minutes = RwSignal::new(String::new());
    let error_rate = RwSignal::new(String::new());
    let revenue = RwSignal::new(String::new());
    let risk = RwSignal::new(String::new());
    let metric = RwSignal::new(String::new());
    let error = move |field: &'static str| {
        Signal::derive(move || saved.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let message = Signal::derive(move || saved.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let ok = move || matches!(saved.value().get(), Some(Ok(_)));
    view! {
        <form class="budget-form" data-testid="candidate-form" novalidate on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            saved.dispatch(SaveCandidate {
                slug: slug.clone(),
                name: name.get(),
                monthly_volume: volume.get(),
                minutes_per_task: minutes.get(),
                error_rate: error_rate.get(),
                revenue_impact: revenue.get(),
                compliance_risk: risk.get(),
                success_metric: metric.get(),
            });
        }>
            <h3>"Add a candidate"</h3>
            <Field name="candidate-name" label="Work to automate" value=name error=error("name") />
            <Field name="candidate-volume" label="Tasks a month" value=volume error=error("monthly_volume") />
            <Field name="candidate-minutes" label="Minutes a task" value=minutes error=error("minutes_per_task") />
            <Field name="candidate-errors" label="Errors by hand (%)" value=error_rate error=error("error_rate") />
            <Field name="candidate-revenue" label="Revenue impact (0–100)" value=revenue error=error("revenue_impact") />
            <Field name="candidate-risk" label="Compliance risk (0–100)" value=risk error=error("compliance_risk") />
            <Field name="candidate-metric" label="Success metric" value=metric error=error("success_metric") hint="How you will know it worked, e.g. tickets answered within 1 hour" />
            <button class="button primary" type="submit" disabled=move || saved.pending().get()>"Add to the backlog"</button>
            <FormError message=message />
            <Show when=ok><p class="notice" role="status" data-testid="candidate-saved">"Candidate saved and ranked."</p></Show>
        </form>
    }
}
