//! Nothing left to rot: a scheduled job (apalis-cron) escalates review
//! tasks past their SLA to the workflow's owners and closes those past
//! their maximum age with the workflow's stale action, with a recorded
//! reason in the run's timeline and the change log.

use crate::runs::Engine;
use store::reviews::{self, Actor};

/// One pass over every business. Returns (escalated, closed).
pub async fn check(engine: &Engine) -> anyhow::Result<(usize, usize)> {
    let (mut escalated, mut closed) = (0, 0);
    for (tenant_id, schema) in store::runs::all_schemas(&engine.db).await? {
        for overdue in reviews::escalate_overdue(&engine.db, &schema).await? {
            if let Err(e) = crate::review_mail::escalation(engine, tenant_id, &schema, &overdue).await {
                tracing::warn!(error = %e, "escalation email could not be written");
            }
            escalated += 1;
        }
        let steward = Actor { email: "steward (stale task)".into(), member: None, overrides_claims: true };
        for (task_id, action, age) in reviews::past_max_age(&engine.db, &schema).await? {
            let comment = format!("Nobody decided in {age:.0} minutes; closed with the workflow's stale action ({action}) and handed back to a person.");
            match reviews::decide_as(&engine.db, &schema, tenant_id, &steward, task_id, "reject", "", "stale", &comment)
                .await
            {
                Ok(_) => {
                    if action == "fail" {
                        store::runs::mark_failed_after_stale(&engine.db, &schema, task_id, &comment).await?;
                    }
                    closed += 1;
                }
                Err(reviews::ReviewError::AlreadyDecided { .. }) => {}
                Err(e) => tracing::warn!(error = %e, %task_id, "could not close a stale task"),
            }
        }
    }
    Ok((escalated, closed))
}

/// The schedule: every `seconds` (at most a minute apart).
pub fn schedule(seconds: u64) -> cron::Schedule {
    use std::str::FromStr;
    let expr = if seconds >= 60 || seconds == 0 { "0 * * * * *".to_string() } else { format!("*/{seconds} * * * * *") };
    cron::Schedule::from_str(&expr).expect("a valid cron expression")
}

/// The apalis handler run on the schedule.
pub async fn on_tick(
    _: apalis_cron::Tick,
    engine: apalis::prelude::Data<Engine>,
) -> Result<(), apalis::prelude::BoxDynError> {
    match check(&engine).await {
        Ok((0, 0)) => Ok(()),
        Ok((escalated, closed)) => {
            tracing::info!(escalated, closed, "stale review tasks handled");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "stale review check failed; trying again next tick");
            Ok(())
        }
    }
}
