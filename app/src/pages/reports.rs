//! Reports: the monthly scorecard for executives (owners and operations
//! too). Headline figures against last month and the baseline, charts of
//! cycle time, hours saved, cost against savings and exceptions, a row per
//! workflow, the PDF, and every past month's snapshot. Owners and
//! operations keep each workflow's baseline here; owners can recompute a
//! past month (a new revision, recorded).

use crate::components::field::{Field, FormError, Loading};
use crate::components::refusal::Refusal;
use crate::components::scorecard::{monthly_report, ChartCard, Headlines};
use crate::error::AppError;
use crate::views::{BaselineView, ReportView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Saves a workflow's baseline as a new version (owners and operations).
#[server(endpoint = "save_baseline")]
#[allow(clippy::too_many_arguments)]
pub async fn save_baseline(
    slug: String,
    workflow: String,
    manual_minutes: String,
    error_rate: String,
    response_minutes: String,
    monthly_volume: String,
    hourly_cost: String,
    outcome: String,
    outcome_rate: String,
    why: String,
) -> Result<i32, AppError> {
    use engine::Role;
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member_in(&slug, engine::Page::Reports, &[Role::Owner, Role::Operations]).await?;
    let form = engine::kpi::BaselineForm {
        manual_minutes,
        error_rate,
        response_minutes,
        monthly_volume,
        hourly_cost,
        outcome,
        outcome_rate,
    };
    let baseline = engine::kpi::Baseline::parse(&form).map_err(|errors| cx.invalid(errors))?;
    cx.require_reason("why", &why)?;
    match store::kpis::save_baseline(&cx.state.db, &member, workflow.trim(), &baseline, why.trim()).await {
        Ok(version) => Ok(version),
        Err(store::kpis::BaselineError::NoWorkflow) => {
            Err(cx.refused(actix_web::http::StatusCode::NOT_FOUND, "There is no such workflow."))
        }
        Err(store::kpis::BaselineError::Storage(e)) => Err(cx.internal("saving the baseline", e)),
    }
}

/// Recomputes a past month as a new revision (owners), with the reason.
#[server(endpoint = "recompute_scorecard")]
pub async fn recompute_scorecard(slug: String, month: String, reason: String) -> Result<i32, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member_in(&slug, engine::Page::Reports, &[engine::Role::Owner]).await?;
    let month = cx
        .month(&month)?
        .ok_or_else(|| cx.invalid(vec![engine::FieldError::new("month", "Pick the month to recompute.")]))?;
    if reason.trim().is_empty() {
        return Err(cx.invalid(vec![engine::FieldError::new(
            "reason",
            "Say why the month is recomputed; the change log keeps it.",
        )]));
    }
    let now = chrono::Utc::now();
    let current = store::local_time::current_month(&cx.state.db, &member.tenant, now)
        .await
        .map_err(|e| cx.internal("reading the time zone", e))?;
    if month >= current {
        return Err(
            cx.invalid(vec![engine::FieldError::new("month", "Only a month that has ended can be recomputed.")])
        );
    }
    store::kpis::recompute(&cx.state.db, &member, month, reason.trim(), now)
        .await
        .map_err(|e| cx.internal("recomputing the month", e))
}

#[component]
pub fn ReportsPage() -> impl IntoView {
    let query = use_query_map();
    let slug = crate::route::param("slug");
    // Without a month the page opens on the newest stored month (the last
    // report people were sent), else on this month so far.
    let month =
        Memo::new(move |_| query.read().get("month").filter(|m| !m.is_empty()).unwrap_or_else(|| "latest".into()));
    let saved = ServerAction::<SaveBaseline>::new();
    let recomputed = ServerAction::<RecomputeScorecard>::new();
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(saved.value().get(), Some(Ok(_))) || matches!(recomputed.value().get(), Some(Ok(_))) {
            reload.update(|n| *n += 1);
        }
    });
    let report = crate::resource::new(
        move || (slug.get(), month.get(), reload.get()),
        |(slug, month, _)| monthly_report(slug, month),
    );
    let last = RwSignal::new(None::<String>);
    view! {
        <Title text="Reports" />
        <section class="page-head">
            <h1>"Reports"</h1>
            <p class="muted">"What the workflows did each month, against how the work was done by hand."</p>
        </section>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match report.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(v) => view! { <Report v slug=slug.get_untracked() saved recomputed last /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Report(
    v: ReportView,
    slug: String,
    saved: ServerAction<SaveBaseline>,
    recomputed: ServerAction<RecomputeScorecard>,
    last: RwSignal<Option<String>>,
) -> impl IntoView {
    let current = v.month.clone();
    let reason = RwSignal::new(String::new());
    let recompute_error = move |field: &'static str| {
        Signal::derive(move || recomputed.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let recompute_message =
        Signal::derive(move || recomputed.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let recompute_slug = slug.clone();
    let recompute_month = v.month.clone();
    view! {
        <nav class="month-picker" aria-label="Months" data-testid="report-months">
            {v.months.iter().map(|(m, label)| {
                let here = *m == current;
                view! { <a href=format!("?month={m}") class:current=here aria-current=here.then_some("page") data-testid=format!("month-{m}")>{label.clone()}</a> }
            }).collect_view()}
        </nav>
        <section class="report-head">
            <div>
                <h2 data-testid="report-month">{v.month_label.clone()}</h2>
                <p class="muted small" data-testid="report-provenance">{v.provenance.clone()}</p>
            </div>
            <a class="button" href=v.pdf_href.clone() download rel="external" data-testid="report-pdf">"Download PDF"</a>
        </section>
        <Headlines headlines=v.headlines.clone() />
        <div class="chart-grid">
            {v.charts.iter().cloned().map(|chart| view! { <ChartCard chart /> }).collect_view()}
        </div>
        <section class="card">
            <h2>"By workflow"</h2>
            <div class="table-scroll" tabindex="0">
                <table class="table" data-testid="report-table">
                    <thead><tr>{v.columns.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view()}</tr></thead>
                    <tbody>
                        {v.rows.iter().enumerate().map(|(i, r)| {
                            let total = i + 1 == v.rows.len();
                            view! {
                                <tr class:total=total data-testid="report-row">
                                    {r.iter().enumerate().map(|(j, c)| view! { <td data-label=v.columns[j].clone()>{c.clone()}</td> }).collect_view()}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="card">
            <h2>"Baselines"</h2>
            <p class="muted small">"How each workflow's work was done by hand. Savings, cycle time and exception rates are measured against it; every save is a new version in the change log."</p>
            {v.baselines.iter().cloned().map(|b| view! { <BaselineCard slug=slug.clone() b may_edit=v.may_edit_baselines saved last /> }).collect_view()}
        </section>
        {(!v.revisions.is_empty() || v.may_recompute).then(|| view! {
            <section class="card" data-testid="recompute">
                <h2>"Snapshots"</h2>
                <ul class="plain small">{v.revisions.iter().map(|r| view! { <li>{r.clone()}</li> }).collect_view()}</ul>
                {v.may_recompute.then(|| {
                    let slug = recompute_slug.clone();
                    let month = recompute_month.clone();
                    view! {
                        <form novalidate on:submit=move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            recomputed.dispatch(RecomputeScorecard { slug: slug.clone(), month: month.clone(), reason: reason.get() });
                        }>
                            <Field name="recompute-reason" label="Why recompute this month" value=reason error=recompute_error("reason") hint="e.g. late deal outcomes from the CRM" />
                            <p class="field-error" role="alert">{move || recompute_error("month").get().unwrap_or_default()}</p>
                            <button class="button" type="submit" disabled=move || recomputed.pending().get()>"Recompute as a new revision"</button>
                            <FormError message=recompute_message />
                        </form>
                    }
                })}
            </section>
        })}
    }
}

#[component]
fn BaselineCard(
    slug: String,
    b: BaselineView,
    may_edit: bool,
    saved: ServerAction<SaveBaseline>,
    last: RwSignal<Option<String>>,
) -> impl IntoView {
    let testid = format!("baseline-{}", b.workflow);
    let heading = match b.version {
        Some(v) => format!("{} (version {v})", b.workflow),
        None => b.workflow.clone(),
    };
    if !may_edit {
        return view! {
            <div class="budget" data-testid=testid>
                <h3>{heading}</h3>
                <p data-testid="baseline-summary">{b.summary.clone()}</p>
            </div>
        }
        .into_any();
    }
    let manual = RwSignal::new(b.manual_minutes.clone());
    let error_rate = RwSignal::new(b.error_rate.clone());
    let response = RwSignal::new(b.response_minutes.clone());
    let volume = RwSignal::new(b.monthly_volume.clone());
    let hourly = RwSignal::new(b.hourly_cost.clone());
    let outcome = RwSignal::new(b.outcome.clone());
    let outcome_rate = RwSignal::new(b.outcome_rate.clone());
    let why = RwSignal::new(String::new());
    let name = b.workflow.clone();
    let this = StoredValue::new(b.workflow.clone());
    let result = move || if last.get() == Some(this.get_value()) { saved.value().get() } else { None };
    let error =
        move |field: &'static str| Signal::derive(move || result().and_then(|r| r.err()).and_then(|e| e.field(field)));
    let message = Signal::derive(move || result().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let ok = move || matches!(result(), Some(Ok(_)));
    let w = b.workflow.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        last.set(Some(name.clone()));
        saved.dispatch(SaveBaseline {
            slug: slug.clone(),
            workflow: name.clone(),
            manual_minutes: manual.get(),
            error_rate: error_rate.get(),
            response_minutes: response.get(),
            monthly_volume: volume.get(),
            hourly_cost: hourly.get(),
            outcome: outcome.get(),
            outcome_rate: outcome_rate.get(),
            why: why.get(),
        });
    };
    view! {
        <form class="budget budget-form" data-testid=testid on:submit=on_submit novalidate>
            <h3>{heading}</h3>
            <p data-testid="baseline-summary">{b.summary.clone()}</p>
            <Field name=format!("manual_minutes-{w}") label="Minutes a task by hand" value=manual error=error("manual_minutes") />
            <Field name=format!("error_rate-{w}") label="Errors by hand (%)" value=error_rate error=error("error_rate") />
            <Field name=format!("response_minutes-{w}") label="Customer waited (minutes)" value=response error=error("response_minutes") />
            <Field name=format!("monthly_volume-{w}") label="Tasks a month" value=volume error=error("monthly_volume") />
            <Field name=format!("hourly_cost-{w}") label="Loaded cost of an hour" value=hourly error=error("hourly_cost") hint="e.g. 38.00" />
            <Field name=format!("outcome-{w}") label="Business outcome (event type)" value=outcome error=error("outcome") hint="e.g. deal.won" />
            <Field name=format!("outcome_rate-{w}") label="Outcome rate by hand (%)" value=outcome_rate error=error("outcome_rate") />
            <Field name=format!("why-{w}") label="Why this baseline" value=why error=error("why") hint="e.g. measured over March" />
            <button class="button primary" type="submit" disabled=move || saved.pending().get()>"Save baseline"</button>
            <FormError message=message />
            <Show when=ok><p class="notice" role="status" data-testid="baseline-saved">"Baseline saved as a new version."</p></Show>
        </form>
    }
    .into_any()
}
