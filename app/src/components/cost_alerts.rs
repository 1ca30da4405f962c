//! Open cost alerts: the banner on the Costs page and the dashboard, and
//! the server function that reads them.

use crate::error::AppError;
use crate::views::CostAlertView;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
pub fn alert_view(a: store::costs::AlertRow) -> CostAlertView {
    CostAlertView {
        workflow: a.workflow_name,
        condition: a.condition.to_string(),
        message: a.message,
        opened: crate::ssr::short_time(&a.opened_at),
        cleared: a.cleared_at.as_ref().map(crate::ssr::short_time),
    }
}

/// The open cost alerts, for the dashboard's banner.
#[server(endpoint = "open_cost_alerts")]
pub async fn open_cost_alerts(slug: String) -> Result<Vec<CostAlertView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member(&slug, engine::Page::Costs).await?;
    let alerts = store::costs::alerts(&cx.state.db, &member.tenant, 20)
        .await
        .map_err(|e| cx.internal("reading the alerts", e))?;
    Ok(alerts.into_iter().filter(|a| a.cleared_at.is_none()).map(alert_view).collect())
}

/// Open cost alerts; shown on the Costs page and the dashboard.
#[component]
pub fn AlertBanner(alerts: Vec<CostAlertView>) -> impl IntoView {
    view! {
        <section class="banner-alert" role="alert" data-testid="cost-alert-banner">
            <h2>{if alerts.len() == 1 { "A workflow is off plan".to_string() } else { format!("{} cost alerts are open", alerts.len()) }}</h2>
            <ul>{alerts.into_iter().map(|a| view! { <li><strong>{a.workflow}</strong>": "{a.message}<span class="muted small">{format!(" since {}", a.opened)}</span></li> }).collect_view()}</ul>
        </section>
    }
}
