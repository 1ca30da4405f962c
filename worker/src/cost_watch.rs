//! The cost watch: after every run and on a schedule (apalis-cron), each
//! workflow's month is judged against its budget. Deviations, the cap and
//! retry spikes open an alert once (an email to the workflow's owner and
//! the operations role, a change-log entry, a dashboard banner) and clear
//! it when they recover; runs paused at the cap resume once the budget
//! allows (raised, or a new month) and batched runs go together when
//! their off-peak window opens.

use crate::context::Context;
use engine::cost::{self, Alarm, HoldReason};
use store::costs;
use store::Tenant;

/// Judges one workflow now; returns how many alert emails it wrote.
pub async fn evaluate(cx: &Context, tenant: &Tenant, workflow: &str) -> anyhow::Result<usize> {
    let state = costs::budget_state(&cx.db, tenant, workflow).await?;
    let (recent, trailing) = costs::retry_windows(&cx.db, tenant, workflow).await?;
    let (evaluated, firing) =
        cost::watch(state.budget.as_ref(), &state.month, state.forecast(), recent, trailing, state.currency);
    let url = format!("{}/t/{}/costs", cx.public_url(), store::tenants::slug_of(&cx.db, tenant).await?);
    let compose = |alarm: &Alarm, workflow: &str| alert_mail(alarm, workflow, &url);
    let (mail, ids) = costs::sync_alerts(&cx.db, tenant, workflow, &evaluated, &firing, &compose).await?;
    if !mail.is_empty() {
        tracing::info!(workflow, alerts = firing.len(), emails = mail.len(), "cost alert opened");
    }
    cx.hand_over(tenant, &mail, &ids).await;
    Ok(mail.len())
}

/// The alert email: what is off plan, by how much, and where to look.
pub fn alert_mail(alarm: &Alarm, workflow: &str, costs_url: &str) -> (String, String, String) {
    let what = match alarm.condition {
        cost::Condition::CostPerRun => "cost per run is off plan",
        cost::Condition::ProjectedSpend => "the month's spend is off plan",
        cost::Condition::RetryRate => "retries have doubled",
        cost::Condition::BudgetCap => "the budget cap is reached",
    };
    let subject = format!("Cost alert: {workflow}: {what}");
    let text = format!(
        "{message}\n\nWorkflow: {workflow}\nCosts: {costs_url}\n\nThis alert is sent once. It clears by itself when the figure is back within plan; it is also listed in the change log.\n",
        message = alarm.message
    );
    let esc = engine::form::escape;
    let html = format!(
        "<div style=\"font-family:system-ui,sans-serif;max-width:560px\">\
         <h2 style=\"margin:0 0 8px\">{subject}</h2>\
         <p style=\"font-size:15px\">{message}</p>\
         <p><a href=\"{url}\" style=\"display:inline-block;padding:8px 14px;background:#1f4fd1;color:#fff;border-radius:6px;text-decoration:none\">Open the Costs page</a></p>\
         <p style=\"color:#666;font-size:13px\">This alert is sent once. It clears by itself when the figure is back within plan; it is also listed in the change log.</p></div>",
        subject = esc(&subject),
        message = esc(&alarm.message),
        url = esc(costs_url),
    );
    (subject, text, html)
}

/// One pass over the businesses with work (held runs are queued runs, so
/// their business is marked), and every business now and then: release
/// what may go, judge every watched workflow.
pub async fn check(cx: &Context) -> anyhow::Result<(usize, usize)> {
    let (mut released, mut mailed) = (0, 0);
    for tenant in cx.to_visit("cost_watch").await? {
        for watched in costs::watched_workflows(&cx.db, &tenant).await? {
            let workflow = watched.workflow_name;
            let state = costs::budget_state(&cx.db, &tenant, &workflow).await?;
            let mut wake = Vec::new();
            if watched.held_off_peak > 0 {
                let open = match state.budget.as_ref().and_then(|b| b.batch_window) {
                    Some((start, end)) => cost::in_window(start, end, state.local_hour),
                    None => true,
                };
                if open {
                    wake.extend(costs::release(&cx.db, &tenant, &workflow, Some(HoldReason::OffPeak)).await?);
                }
            }
            if watched.held_for_budget > 0 {
                let fits = match &state.budget {
                    Some(b) => {
                        cost::before_run(b, state.month.spent, state.forecast()) == cost::Verdict::Proceed
                            || b.action != cost::CapAction::Pause
                    }
                    None => true,
                };
                if fits {
                    wake.extend(costs::release(&cx.db, &tenant, &workflow, Some(HoldReason::Budget)).await?);
                }
            }
            // Released runs go together; each is checked against the budget again before it starts.
            for run_id in &wake {
                cx.wake(&tenant, *run_id).await;
            }
            released += wake.len();
            mailed += evaluate(cx, &tenant, &workflow).await?;
        }
    }
    Ok((released, mailed))
}

/// The apalis handler run on the schedule.
pub async fn on_tick(
    _: apalis_cron::Tick,
    cx: apalis::prelude::Data<Context>,
) -> Result<(), apalis::prelude::BoxDynError> {
    cx.consumers.schedule.consumed("cost watch");
    match check(&cx).await {
        Ok((0, 0)) => {}
        Ok((released, mailed)) => tracing::info!(released, mailed, "cost watch"),
        Err(e) => tracing::warn!(error = %e, "the cost watch failed; trying again next tick"),
    }
    Ok(())
}
