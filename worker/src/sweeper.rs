//! The sweeper: Redis only delivers, so a job can be lost (Redis restarted,
//! a worker killed between taking a job and leasing its run). Every few
//! seconds it re-sends the jobs of runs that sat queued too long or whose
//! lease lapsed, hands over mail a step wrote but did not queue, and drops
//! refused records past their retention.

use crate::runs::Engine;
use store::jobs::EmailJob;
use store::runs;

/// One pass over every business. Returns how many runs were re-sent.
pub async fn sweep(engine: &Engine) -> anyhow::Result<usize> {
    let stale = engine.settings.runs.stale_seconds;
    let mut resent = 0;
    for (tenant_id, schema) in runs::all_schemas(&engine.db).await? {
        let stray = runs::strays(&engine.db, &schema, stale).await?;
        for run_id in stray.runs {
            tracing::info!(%run_id, tenant_id = %tenant_id, "re-sending the job of a stalled run");
            if engine.runs.wake(runs::job(tenant_id, &schema, run_id)).await.is_ok() {
                resent += 1;
            }
        }
        let mut queued = Vec::new();
        for mail in stray.mail {
            let job = EmailJob {
                tenant_id: tenant_id.to_string(),
                to: mail.recipient,
                subject: mail.subject,
                text: mail.text_body,
                html: mail.html_body,
                attachments: serde_json::from_value(mail.attachments).unwrap_or_default(),
            };
            if engine.mail.send(job).await.is_ok() {
                queued.push(mail.id);
            }
        }
        runs::outbox_queued(&engine.db, &schema, &queued).await?;
        runs::purge_expired_exceptions(&engine.db, &schema).await?;
    }
    Ok(resent)
}

/// Sweeps until `stop` turns true.
pub async fn run(engine: Engine, mut stop: tokio::sync::watch::Receiver<bool>) {
    let every = std::time::Duration::from_secs(engine.settings.runs.sweep_seconds.max(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = sweep(&engine).await {
            tracing::warn!(error = %e, "sweep failed; trying again next round");
        }
    }
}
