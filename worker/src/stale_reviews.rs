//! Nothing left to rot: a scheduled job (apalis-cron) escalates review
//! tasks past their SLA to the workflow's owners and closes those past
//! their maximum age with the workflow's stale action, with a recorded
//! reason in the run's timeline and the change log.

use crate::context::Context;
use engine::review::Decision;
use engine::workflow::StaleAction;
use store::reviews::{self, Actor};

/// One pass over the businesses with work (an open task marks its business
/// so). Returns (escalated, closed).
pub async fn check(cx: &Context) -> anyhow::Result<(usize, usize)> {
    let (mut escalated, mut closed) = (0, 0);
    for tenant in cx.to_visit("stale_reviews").await? {
        for overdue in reviews::escalate_overdue(&cx.db, &tenant).await? {
            if let Err(e) = crate::review_mail::escalation(cx, &tenant, &overdue).await {
                tracing::warn!(error = %e, "escalation email could not be written");
            }
            escalated += 1;
        }
        let steward = Actor::steward();
        for stale in reviews::past_max_age(&cx.db, &tenant).await? {
            let comment = format!(
                "Nobody decided in {:.0} minutes; closed with the workflow's stale action ({}) and handed back to a person.",
                stale.age_minutes, stale.stale_action
            );
            let reject = Decision::Reject.as_str();
            match reviews::decide_as(&cx.db, &tenant, &steward, stale.id, reject, "", "stale", &comment).await {
                Ok(_) => {
                    match stale.stale_action {
                        StaleAction::Fail => {
                            store::runs::mark_failed_after_stale(&cx.db, &tenant, stale.id, &comment).await?
                        }
                        StaleAction::Reject => {}
                    }
                    closed += 1;
                }
                Err(reviews::ReviewError::AlreadyDecided { .. }) => {}
                Err(e) => tracing::warn!(error = %e, task_id = %stale.id, "could not close a stale task"),
            }
        }
    }
    Ok((escalated, closed))
}

/// The apalis handler run on the schedule.
pub async fn on_tick(
    _: apalis_cron::Tick,
    cx: apalis::prelude::Data<Context>,
) -> Result<(), apalis::prelude::BoxDynError> {
    cx.consumers.schedule.consumed("review escalations");
    match check(&cx).await {
        Ok((0, 0)) => {}
        Ok((escalated, closed)) => tracing::info!(escalated, closed, "stale review tasks handled"),
        Err(e) => tracing::warn!(error = %e, "stale review check failed; trying again next tick"),
    }
    Ok(())
}
