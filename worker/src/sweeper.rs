//! The sweeper: Redis only delivers, so a job can be lost (Redis restarted
//! empty, a worker killed between taking a job and leasing its run). Every
//! few seconds it sends again the jobs of runs whose job is really gone (a
//! lapsed lease, or a run queued too long with no job in the queue; a run
//! waiting its turn in a deep queue is left alone), queues mail that was
//! written but never queued or whose job was lost, gives up mail handed
//! over too often, posts the Slack messages of review tasks (and their
//! outcomes) that are still owed, checks that no queue has stalled, drops
//! refused records past their retention, and clears ended jobs from Redis.

use crate::context::Context;
use store::{outbox, runs, Tenant};

/// A run's job that has been in the queue this long without being taken is
/// counted lost even though the queue still lists it.
fn lost_after(stale_seconds: i64) -> i64 {
    (stale_seconds * 10).max(10)
}

/// Mail handed to the queue this long ago and still not sent had its job lost.
fn requeue_after(stale_seconds: i64) -> i64 {
    (stale_seconds * 5).max(10)
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Swept {
    pub runs_resent: usize,
    /// Runs ended failed because their executions kept ending without finishing them.
    pub runs_given_up: usize,
    pub replays_resent: usize,
    pub mail_queued: usize,
    /// Slack messages posted or updated with their outcome.
    pub slack_delivered: usize,
}

/// One pass over the businesses with work in progress and the next few in
/// the rotation over every business (`Context::to_visit`).
pub async fn sweep(cx: &Context) -> anyhow::Result<Swept> {
    // First, whatever fails below: what the queues keep of ended jobs (a thousand per round trip
    // keeps Redis responsive).
    for forgot in
        [cx.runs.forget_ended(1000).await, cx.mail.forget_ended(1000).await, cx.replays.forget_ended(1000).await]
    {
        if let Err(e) = forgot {
            tracing::debug!(error = %e, "could not forget ended jobs");
        }
    }
    let mut swept = Swept::default();
    for tenant in cx.to_visit("sweeper").await? {
        let (resent, given_up) = resend_lost_runs(cx, &tenant).await?;
        swept.runs_resent += resent;
        swept.runs_given_up += given_up;
        swept.replays_resent += resend_lost_replays(cx, &tenant).await?;
        let mails = outbox::overdue(
            &cx.db,
            &tenant,
            cx.settings.runs.stale_seconds,
            requeue_after(cx.settings.runs.stale_seconds),
        )
        .await?;
        swept.mail_queued += mails.len();
        outbox::hand_over(&cx.db, &cx.mail, &tenant, &mails).await;
        swept.slack_delivered += crate::slack::deliver_due(cx, &tenant).await?;
        runs::purge_expired_exceptions(&cx.db, &tenant).await?;
        store::tenants::rest_if_idle(&cx.db, &tenant).await?;
    }
    // What is noted as waiting longer than this was sent again above, or is not waiting at all.
    let stale = cx.settings.runs.stale_seconds;
    if let Err(e) = cx.runs.forget_older_than(lost_after(stale)).await {
        tracing::debug!(error = %e, "could not prune the run queue's notes");
    }
    if let Err(e) = cx.replays.forget_older_than(lost_after(stale)).await {
        tracing::debug!(error = %e, "could not prune the replay queue's notes");
    }
    if let Err(e) = cx.mail.forget_older_than(requeue_after(stale)).await {
        tracing::debug!(error = %e, "could not prune the mail queue's notes");
    }
    Ok(swept)
}

/// Sends again the jobs of a business's runs whose job is gone; how many,
/// and how many were given up instead: under a lapsed lease again after
/// `most_takeovers` takeovers (a run that stops its worker, or whose
/// storage fails, at the same point every time), a run ends failed.
async fn resend_lost_runs(cx: &Context, tenant: &Tenant) -> anyhow::Result<(usize, usize)> {
    let stale = cx.settings.runs.stale_seconds;
    let most = cx.settings.runs.most_takeovers;
    let (abandoned, candidates): (Vec<_>, Vec<_>) =
        runs::stalled(&cx.db, tenant, stale).await?.into_iter().partition(|r| r.lapsed && r.takeovers >= most);
    let mut given_up = 0;
    for run in &abandoned {
        if runs::give_up_abandoned(&cx.db, tenant, run).await? {
            tracing::error!(run_id = %run.id, tenant_id = %tenant.id(), executions = run.takeovers + 1,
                "a run's executions kept ending without finishing it; the run ends failed");
            given_up += 1;
        }
    }
    if candidates.is_empty() {
        return Ok((0, given_up));
    }
    let queued: Vec<_> = candidates.iter().filter(|r| !r.lapsed).map(|r| r.id).collect();
    let keys: Vec<String> = queued.iter().map(|id| id.to_string()).collect();
    let sent_at = match cx.runs.sent_at(&keys).await {
        Ok(at) => at,
        Err(e) => {
            // Without Redis nothing can be sent anyway; next round.
            tracing::warn!(error = %e, "cannot read the run queue; sweeping runs next round");
            return Ok((0, given_up));
        }
    };
    let now = chrono::Utc::now().timestamp();
    let waiting_its_turn = |id| {
        queued.iter().position(|q| *q == id).and_then(|i| sent_at[i]).is_some_and(|at| now - at < lost_after(stale))
    };
    let (mut resent, mut refused) = (Vec::new(), Vec::new());
    let mut last_error = None;
    for run in candidates.into_iter().filter(|r| r.lapsed || !waiting_its_turn(r.id)) {
        tracing::info!(run_id = %run.id, tenant_id = %tenant.id(), lapsed = run.lapsed, "sending the job of a run again");
        let job = store::jobs::RunJob::new(tenant, run.id);
        match tokio::time::timeout(std::time::Duration::from_secs(2), cx.runs.wake(job)).await {
            Ok(Ok(())) => resent.push(run.id),
            Ok(Err(e)) => {
                refused.push(run.id);
                last_error = Some(format!("the run queue refused the job: {e}"));
            }
            Err(_) => {
                refused.push(run.id);
                last_error = Some("the run queue did not answer in time".to_string());
            }
        }
    }
    runs::dispatched(&cx.db, tenant, &resent, None).await?;
    runs::dispatched(&cx.db, tenant, &refused, last_error.as_deref()).await?;
    Ok((resent.len(), given_up))
}

/// Sends again the jobs of a business's replays whose job is gone: a lapsed
/// lease, or queued, with no job for it noted as waiting (one waiting its
/// turn behind another replay is left alone; a job sent again is noted, so
/// it is not sent at every sweep).
async fn resend_lost_replays(cx: &Context, tenant: &Tenant) -> anyhow::Result<usize> {
    let stale = cx.settings.runs.stale_seconds;
    let candidates = store::replays::stalled(&cx.db, tenant, stale).await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let keys: Vec<String> = candidates.iter().map(|(id, _)| id.to_string()).collect();
    let Ok(sent_at) = cx.replays.sent_at(&keys).await else {
        tracing::warn!("cannot read the replay queue; sweeping replays next round");
        return Ok(0);
    };
    let now = chrono::Utc::now().timestamp();
    let mut resent = 0;
    for ((id, lapsed), sent) in candidates.into_iter().zip(sent_at) {
        if sent.is_some_and(|at| now - at < lost_after(stale)) {
            continue;
        }
        tracing::info!(replay_id = %id, tenant_id = %tenant.id(), lapsed, "sending the job of a replay again");
        let job = store::jobs::ReplayJob::new(tenant, id);
        match tokio::time::timeout(std::time::Duration::from_secs(2), cx.replays.push(job)).await {
            Ok(Ok(())) => resent += 1,
            Ok(Err(e)) => tracing::warn!(error = %e, "the replay queue refused a job; next round"),
            Err(_) => tracing::warn!("the replay queue did not answer in time; next round"),
        }
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
        if let Err(e) = crate::stall_watch::check(&cx).await {
            tracing::warn!(error = %e, "could not check the queues for a stall; trying again next round");
        }
    }
}
