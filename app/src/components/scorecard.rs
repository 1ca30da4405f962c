//! A month's scorecard as pages show it: the headline tiles, the chart
//! cards, and the server function that reads a month's report (the Reports
//! page and the dashboard).

use crate::error::AppError;
use crate::views::{ChartView, HeadlineView, ReportView};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub fn chart_views(report: &engine::report::Report) -> Vec<ChartView> {
    report
        .charts()
        .iter()
        .map(|c| ChartView {
            id: c.id.into(),
            title: c.title.clone(),
            svg: c.svg(),
            legend: c.legend_html(),
            empty: c.is_empty(),
        })
        .collect()
}

/// The month's report (default: this month so far; `latest`: the newest
/// stored month, else this month).
#[server(endpoint = "monthly_report")]
pub async fn monthly_report(slug: String, month: String) -> Result<ReportView, AppError> {
    use engine::Role;
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member(&slug, engine::Page::Reports).await?;
    let db = &cx.state.db;
    let schema = &member.tenant;
    let month = if month.trim() == "latest" {
        store::kpis::latest_stored(db, schema).await.map_err(|e| cx.internal("reading the report", e))?
    } else {
        cx.month(&month)?
    };
    let loaded = store::kpis::load(db, schema, month, chrono::Utc::now())
        .await
        .map_err(|e| cx.internal("reading the report", e))?;
    let month = loaded.card.month;
    if month > loaded.current_month {
        return Err(cx.invalid(vec![engine::FieldError::new("month", "That month has not started yet.")]));
    }
    let report = engine::report::Report { card: &loaded.card, history: &loaded.history };
    let baselines = store::kpis::baselines(db, schema).await.map_err(|e| cx.internal("reading the baselines", e))?;
    let currency = store::currency::currency(db, schema).await.map_err(|e| cx.internal("reading the currency", e))?;
    let mut months = vec![(loaded.current_month.to_string(), format!("{} (so far)", loaded.current_month.label()))];
    months.extend(
        loaded.stored_months.iter().filter(|m| **m != loaded.current_month).map(|m| (m.to_string(), m.label())),
    );
    if !months.iter().any(|(m, _)| *m == month.to_string()) {
        months.push((month.to_string(), month.label()));
    }
    let provenance = match &loaded.snapshot {
        Some(s) => format!(
            "Snapshot {} of {}, computed {} by {} in {} ms{}.",
            s.revision,
            month.label(),
            crate::ssr::short_time(&s.computed_at),
            s.computed_by,
            s.compute_ms,
            if s.reason.is_empty() { String::new() } else { format!(" ({})", s.reason) }
        ),
        None if month == loaded.current_month => {
            format!("{} so far; the snapshot is taken when the month ends ({}).", month.label(), loaded.card.time_zone)
        }
        None => format!("{} has no snapshot yet; these figures are computed now.", month.label()),
    };
    let mut workflows: Vec<String> = loaded.card.workflows.iter().map(|w| w.name.clone()).collect();
    workflows.extend(baselines.keys().filter(|k| !workflows.contains(k)).cloned().collect::<Vec<_>>());
    Ok(ReportView {
        month: month.to_string(),
        month_label: month.label(),
        live: month == loaded.current_month,
        provenance,
        months,
        headlines: report.headlines(),
        charts: chart_views(&report),
        columns: engine::report::WORKFLOW_COLUMNS.iter().map(|c| c.to_string()).collect(),
        rows: report.rows().into_iter().map(|r| r.to_vec()).collect(),
        revisions: loaded
            .revisions
            .iter()
            .map(|r| {
                format!(
                    "Revision {}: {} by {}{}",
                    r.revision,
                    crate::ssr::short_time(&r.computed_at),
                    r.computed_by,
                    if r.reason.is_empty() { String::new() } else { format!(": {}", r.reason) }
                )
            })
            .collect(),
        baselines: workflows
            .into_iter()
            .map(|w| {
                let found = baselines.get(&w);
                let form = found.map(|(b, _)| b.form()).unwrap_or_default();
                crate::views::BaselineView {
                    summary: found
                        .map(|(b, _)| b.summary(currency))
                        .unwrap_or_else(|| "No baseline yet: savings cannot be measured.".into()),
                    version: found.map(|(_, v)| *v),
                    workflow: w,
                    manual_minutes: form.manual_minutes,
                    error_rate: form.error_rate,
                    response_minutes: form.response_minutes,
                    monthly_volume: form.monthly_volume,
                    hourly_cost: form.hourly_cost,
                    outcome: form.outcome,
                    outcome_rate: form.outcome_rate,
                }
            })
            .collect(),
        may_edit_baselines: matches!(member.role, Role::Owner | Role::Operations),
        may_recompute: member.role == Role::Owner && month < loaded.current_month,
        pdf_href: format!("/t/{slug}/reports/{month}.pdf"),
    })
}

/// The headline tiles (also on the dashboard).
#[component]
pub fn Headlines(headlines: Vec<HeadlineView>) -> impl IntoView {
    view! {
        <div class="kpi-tiles" data-testid="kpi-headlines">
            {headlines.into_iter().map(|h| {
                let trend = match h.better { Some(true) => "trend good", Some(false) => "trend bad", None => "trend" };
                view! {
                    <div class="kpi-tile" data-testid=format!("kpi-{}", h.key)>
                        <span class="kpi-label">{h.label}</span>
                        <strong class="kpi-value" data-testid="kpi-value">{h.value}</strong>
                        <span class=trend>{h.vs_last_month}</span>
                        <span class="kpi-baseline">{h.vs_baseline}</span>
                    </div>
                }
            }).collect_view()}
        </div>
    }
}

/// A server-drawn chart in a card.
#[component]
pub fn ChartCard(chart: ChartView) -> impl IntoView {
    view! {
        <section class="card chart-card" data-testid=format!("chart-{}", chart.id)>
            <h2>{chart.title}</h2>
            {if chart.empty {
                view! { <p class="muted empty-chart" data-testid="chart-empty">"Not enough data yet: this chart fills in as runs complete."</p> }.into_any()
            } else {
                view! {
                    <div class="report-chart" inner_html=chart.svg></div>
                    <p class="legend small" inner_html=chart.legend></p>
                }.into_any()
            }}
        </section>
    }
}
