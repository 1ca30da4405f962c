//! Review tasks in Slack: the message is posted right after its task is
//! written (bounded in time, like the mail hand-over); what Slack did not
//! take then, and outcomes not yet shown, the sweeper delivers later.

use crate::context::Context;
use sea_orm::prelude::Uuid;
use std::time::Duration;
use store::slack_messages::{self, Delivered};
use store::Tenant;

/// How long the run's worker waits on Slack before leaving the message to the sweeper.
const POST_WITHIN: Duration = Duration::from_secs(5);

/// Posts a task's message now, best-effort.
pub async fn post_now(cx: &Context, tenant: &Tenant, task_id: Uuid) {
    let delivery = slack_messages::deliver(&cx.db, &cx.settings, &cx.http, tenant, task_id);
    match tokio::time::timeout(POST_WITHIN, delivery).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, %task_id, "could not post the task to Slack; the sweeper will"),
        Err(_) => tracing::warn!(%task_id, "Slack did not answer in time; the sweeper will post the task"),
    }
}

/// How long one sweep spends on a business's Slack messages (Slack slow or
/// down must not hold up re-sending lost runs); the rest waits for the next sweep.
const SWEEP_BUDGET: Duration = Duration::from_secs(20);

/// Delivers what a business's messages are owed; returns how many went out.
pub async fn deliver_due(cx: &Context, tenant: &Tenant) -> anyhow::Result<usize> {
    let started = std::time::Instant::now();
    let mut delivered = 0;
    for task_id in slack_messages::due(&cx.db, tenant).await? {
        if started.elapsed() > SWEEP_BUDGET {
            break;
        }
        if matches!(
            slack_messages::deliver(&cx.db, &cx.settings, &cx.http, tenant, task_id).await?,
            Delivered::Posted | Delivered::Updated
        ) {
            delivered += 1;
        }
    }
    Ok(delivered)
}
