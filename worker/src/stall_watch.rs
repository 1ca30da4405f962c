//! The stall watch: a queue with work waiting that no live worker has
//! taken from for `STEWARD_STALL_SECONDS` has stalled. Operations hear once
//! per stall (every worker process watches; the first to record the alert
//! sends it), by SMTP directly: the mail queue may be the one that stalled.
//! When the queue moves again the alert is closed and the next stall is news.

use crate::context::Context;
use engine::Role;
use store::jobs::EmailJob;
use store::workers::{self, Queue};

/// A heartbeat older than this many beats is a dead process.
const BEATS_ALIVE: u64 = 3;

pub async fn check(cx: &Context) -> anyhow::Result<()> {
    let alive = (cx.settings.runs.heartbeat_seconds * BEATS_ALIVE + 5) as i64;
    let health = workers::health(&cx.db, alive).await?;
    let now = chrono::Utc::now();
    for h in health {
        let backlog = match h.queue {
            Queue::Runs => cx.runs.backlog().await,
            Queue::Email => cx.mail.backlog().await,
            Queue::Replays => cx.replays.backlog().await,
            // The schedule has no backlog to wait in.
            Queue::Schedule => continue,
        };
        // Without Redis the supervisor and readiness speak; nothing to judge here.
        let Ok(backlog) = backlog else { continue };
        match workers::stall(&h, backlog, now, cx.settings.runs.stall_seconds) {
            Some(why) => {
                if workers::open_alert(&cx.db, h.queue, &why).await? {
                    tracing::error!(queue = %h.queue, %why, "a queue has stalled; telling operations");
                    if let Err(e) = alert(cx, &why).await {
                        // Not told: the next round tries again.
                        workers::close_alert(&cx.db, h.queue).await?;
                        tracing::warn!(error = %e, "the stall alert could not be sent");
                    }
                }
            }
            None => {
                if workers::close_alert(&cx.db, h.queue).await? {
                    tracing::info!(queue = %h.queue, "the stalled queue moves again");
                }
            }
        }
    }
    Ok(())
}

/// Who hears about a stall: `STEWARD_OPERATIONS_EMAIL`, or else the
/// operations members (owners where a business has none) of every business.
async fn recipients(cx: &Context) -> anyhow::Result<Vec<String>> {
    if let Some(to) = &cx.settings.operations_email {
        return Ok(vec![to.clone()]);
    }
    let mut to = Vec::new();
    for tenant in store::tenants::all(&cx.db).await? {
        let mut ops = store::members::emails_with_role(&cx.db, &tenant, Role::Operations).await?;
        if ops.is_empty() {
            ops = store::members::emails_with_role(&cx.db, &tenant, Role::Owner).await?;
        }
        to.extend(ops);
    }
    to.sort();
    to.dedup();
    Ok(to)
}

async fn alert(cx: &Context, why: &str) -> anyhow::Result<()> {
    let link = format!("{}/readyz", cx.public_url());
    let text = format!(
        "Steward's workers have stopped taking work: {why}.\n\n\
         Accepted events are safe in PostgreSQL and run as soon as a worker consumes again. \
         Check that the worker processes are running and can reach Redis and PostgreSQL; \
         the readiness check says what is wrong: {link}\n\n\
         You get this once per stall.\n"
    );
    let html = format!(
        "<p>Steward's workers have stopped taking work: <strong>{}</strong>.</p>\
         <p>Accepted events are safe in PostgreSQL and run as soon as a worker consumes again. \
         Check that the worker processes are running and can reach Redis and PostgreSQL; \
         the <a href=\"{link}\">readiness check</a> says what is wrong.</p><p>You get this once per stall.</p>",
        engine::form::escape(why)
    );
    for to in recipients(cx).await? {
        let job = EmailJob {
            tenant_id: uuid::Uuid::nil(),
            to,
            subject: "Steward: work is waiting and no worker is taking it".into(),
            text: text.clone(),
            html: html.clone(),
            attachments: vec![],
            outbox_id: None,
        };
        cx.mailer.send(&job).await?;
    }
    Ok(())
}
