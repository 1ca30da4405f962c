//! Daily housekeeping, a scheduled job (apalis-cron) that visits each
//! business once a day whatever the tick: it purges the payloads of runs
//! past their workflow's retention (`store::retention`), then anchors the
//! business's audit chain head outside its schema (`store::audit::anchor`),
//! which also marks the business as done for the day.

use crate::context::Context;

/// One pass over the businesses not yet visited today. Returns how many it finished.
pub async fn run_once(db: &sea_orm::DatabaseConnection) -> Result<usize, sea_orm::DbErr> {
    let mut done = 0;
    for tenant in store::audit::not_anchored_today(db).await? {
        for purged in store::retention::purge(db, &tenant).await? {
            tracing::info!(business = %tenant, workflow = %purged.workflow, runs = purged.runs, "run payloads purged after the retention period");
        }
        done += store::audit::anchor(db, &tenant).await? as usize;
    }
    Ok(done)
}

/// The apalis handler run on the schedule.
pub async fn on_tick(
    _: apalis_cron::Tick,
    cx: apalis::prelude::Data<Context>,
) -> Result<(), apalis::prelude::BoxDynError> {
    cx.consumers.schedule.consumed("daily housekeeping");
    match run_once(&cx.db).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(businesses = n, "daily housekeeping: retention purged and audit chains anchored"),
        Err(e) => tracing::warn!(error = %e, "daily housekeeping failed; trying again next tick"),
    }
    Ok(())
}
