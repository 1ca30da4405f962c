//! The sweeper: Redis only delivers, so a job can be lost (Redis restarted,
//! a worker killed between taking a job and leasing its run). Every few
//! seconds it re-sends the jobs of runs that sat queued too long or whose
//! lease lapsed, hands over mail a step wrote but did not queue, and drops
//! refused records past their retention.

use crate::context::Context;
use store::{outbox, runs};

/// One pass over every business. Returns how many runs were re-sent.
pub async fn sweep(cx: &Context) -> anyhow::Result<usize> {
    let stale = cx.settings.runs.stale_seconds;
    let mut resent = 0;
    for tenant in store::tenants::all(&cx.db).await? {
        for run_id in runs::stalled(&cx.db, &tenant, stale).await? {
            tracing::info!(%run_id, tenant_id = %tenant.id(), "re-sending the job of a stalled run");
            if cx.runs.wake(store::jobs::RunJob::new(&tenant, run_id)).await.is_ok() {
                resent += 1;
            }
        }
        let mut queued = Vec::new();
        for (id, mail) in outbox::unqueued(&cx.db, &tenant, stale).await? {
            if cx.mail.send(mail.job(&tenant)).await.is_ok() {
                queued.push(id);
            }
        }
        outbox::mark_queued(&cx.db, &tenant, &queued).await?;
        runs::purge_expired_exceptions(&cx.db, &tenant).await?;
    }
    Ok(resent)
}

/// Sweeps until `stop` turns true.
pub async fn run(cx: Context, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = std::time::Duration::from_secs(cx.settings.runs.sweep_seconds.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = sweep(&cx).await {
            tracing::warn!(error = %e, "sweep failed; trying again next round");
        }
    }
}
