//! One Slack message per review task of a workflow with `review.slack_channel`.
//! The row is written with the task (`runs::wait_for_review`), in its
//! transaction, so a task never exists without its message being owed.
//!
//! pending → posting (claimed for a minute) → posted (Slack's `ts`), or
//! failed after `MAX_ATTEMPTS` with the reason. Once the task is decided,
//! anywhere (Slack, the queue, an email link, Steward closing it), the
//! posted message is updated with the outcome (`outcome_shown`). The worker
//! posts right after the task is written; the sweeper posts and updates
//! what is left, after a back-off.

use crate::config::Settings;
use crate::db::stmt;
use crate::slack_api::{SlackApi, SlackError};
use crate::tenant::Tenant;
use engine::review::{Decision, ReviewReason, TaskStatus};
use engine::slack_message::{self, Outcome, SlackPost, TaskCard};
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::Value;

/// Tries to post (or update) one message before it is given up.
pub const MAX_ATTEMPTS: i32 = 5;

/// Owes a task's message to `channel`, inside the transaction that opens the task.
pub(crate) async fn owe(txn: &DatabaseTransaction, task_id: Uuid, channel: &str) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "INSERT INTO slack_messages (task_id, channel) VALUES ($1, $2) ON CONFLICT (task_id) DO NOTHING",
        vec![task_id.into(), channel.into()],
    ))
    .await?;
    Ok(())
}

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Posted,
    /// The decision is shown on the posted message.
    Updated,
    /// Nothing was owed now (already done, claimed by another worker, or waiting its back-off).
    Nothing,
    /// Slack refused or did not answer; tried again later (or given up, with the reason kept).
    Failed(String),
}

/// What is owed, with the task, read under the claim.
#[derive(Debug, FromQueryResult)]
struct Owed {
    channel: String,
    status: SlackPost,
    attempts: i32,
    slack_channel: Option<String>,
    ts: Option<String>,
    workflow_name: String,
    reason: ReviewReason,
    detail: Value,
    draft: Option<Value>,
    task_status: TaskStatus,
    decision: Option<Decision>,
    decided_by: Option<String>,
    reason_code: Option<String>,
    decided_at: Option<DateTimeUtc>,
}

impl Owed {
    fn outcome(&self) -> Option<Outcome> {
        match (self.task_status, self.decision) {
            (TaskStatus::Decided, Some(decision)) => Some(Outcome {
                decision,
                by: self.decided_by.clone().unwrap_or_default(),
                reason_code: self.reason_code.clone(),
                at: self.decided_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default(),
            }),
            _ => None,
        }
    }
}

/// Back-off before the next try: 30 s, 1, 2, 4 min.
fn back_off_seconds(attempts: i32) -> i64 {
    30 * 2i64.pow(attempts.clamp(1, 4) as u32 - 1)
}

/// Claims what the task's message is owed (a post, or the outcome on a
/// posted message), composes it and sends it to Slack, then records how
/// it went. Never holds a transaction while Slack answers.
pub async fn deliver(
    db: &DatabaseConnection,
    settings: &Settings,
    http: &reqwest::Client,
    tenant: &Tenant,
    task_id: Uuid,
) -> Result<Delivered, DbErr> {
    let txn = tenant.begin(db).await?;
    let owed = Owed::find_by_statement(stmt(
        "UPDATE slack_messages m SET status = CASE WHEN m.status = 'posted' THEN 'posted' ELSE 'posting' END,
                attempts = m.attempts + 1, claimed_until = now() + interval '60 seconds', updated_at = now()
           FROM review_tasks t
          WHERE m.task_id = $1 AND t.id = m.task_id
            AND (m.claimed_until IS NULL OR m.claimed_until < now())
            AND (m.status IN ('pending', 'posting') OR (m.status = 'posted' AND NOT m.outcome_shown AND t.status = 'decided'))
      RETURNING m.channel, m.status, m.attempts, m.slack_channel, m.ts, t.workflow_name, t.reason, t.detail,
                coalesce(t.shown_draft, t.draft) AS draft,
                t.status AS task_status, t.decision, t.decided_by, t.reason_code, t.decided_at",
        vec![task_id.into()],
    ))
    .one(&txn)
    .await?;
    txn.commit().await?;
    let Some(owed) = owed else { return Ok(Delivered::Nothing) };
    let Some((token, _)) = crate::slack::credentials(db, settings, tenant).await? else {
        let why = "Slack is not connected: an owner connects it in Settings → Slack";
        give_up(db, tenant, task_id, why).await?;
        return Ok(Delivered::Failed(why.into()));
    };
    let codes = crate::reviews::reason_codes(db, tenant).await?;
    let slug = crate::tenants::slug_of(db, tenant).await?;
    let card = TaskCard {
        task_id: task_id.to_string(),
        workflow: &owed.workflow_name,
        reason: owed.reason,
        detail: &owed.detail,
        draft: owed.draft.as_ref(),
        queue_url: settings.link(&format!("/t/{slug}/review/{task_id}")),
        reason_codes: &codes,
    };
    let outcome = owed.outcome();
    let message = match &outcome {
        Some(outcome) => slack_message::decided_message(&card, outcome),
        None => slack_message::open_message(&card),
    };
    let api = SlackApi::new(http, &settings.slack_api_url, &token);
    let posted = owed.status == SlackPost::Posted;
    let sent = match (&owed.slack_channel, &owed.ts) {
        (Some(channel), Some(ts)) if posted => api.update_message(channel, ts, &message).await.map(|()| None),
        _ => api.post_message(&owed.channel, &message, None).await.map(Some),
    };
    let txn = tenant.begin(db).await?;
    let result = match sent {
        Ok(Some(at)) => {
            txn.execute_raw(stmt(
                "UPDATE slack_messages SET status = 'posted', slack_channel = $2, ts = $3, outcome_shown = $4, attempts = 0,
                        claimed_until = NULL, error = NULL, updated_at = now() WHERE task_id = $1",
                vec![task_id.into(), at.channel.into(), at.ts.into(), outcome.is_some().into()],
            ))
            .await?;
            Delivered::Posted
        }
        Ok(None) => {
            txn.execute_raw(stmt(
                "UPDATE slack_messages SET outcome_shown = true, attempts = 0, claimed_until = NULL, error = NULL, updated_at = now()
                  WHERE task_id = $1",
                vec![task_id.into()],
            ))
            .await?;
            Delivered::Updated
        }
        Err(e) => {
            let why = match &e {
                SlackError::Refused(code) => format!("{e}{}", advice(code)),
                SlackError::Unreachable(_) => e.to_string(),
            };
            tracing::warn!(task_id = %task_id, error = %why, attempts = owed.attempts, "a Slack message was not delivered");
            if owed.attempts >= MAX_ATTEMPTS {
                // A posted message keeps its place; only the outcome is given up.
                txn.execute_raw(stmt(
                    "UPDATE slack_messages SET status = CASE WHEN status = 'posted' THEN 'posted' ELSE 'failed' END,
                            outcome_shown = true, claimed_until = NULL, error = $2, updated_at = now() WHERE task_id = $1",
                    vec![task_id.into(), format!("gave up after {} tries: {why}", owed.attempts).into()],
                ))
                .await?;
            } else {
                txn.execute_raw(stmt(
                    "UPDATE slack_messages SET status = CASE WHEN status = 'posted' THEN 'posted' ELSE 'pending' END,
                            claimed_until = now() + make_interval(secs => $3), error = $2, updated_at = now() WHERE task_id = $1",
                    vec![task_id.into(), why.clone().into(), (back_off_seconds(owed.attempts) as f64).into()],
                ))
                .await?;
            }
            Delivered::Failed(why)
        }
    };
    txn.commit().await?;
    Ok(result)
}

/// What an owner should do about Slack's most common refusals.
fn advice(code: &str) -> &'static str {
    match code {
        "not_in_channel" => " (invite the app to the channel: /invite @your-app)",
        "channel_not_found" => " (check review.slack_channel, and invite the app to the channel)",
        "invalid_auth" | "token_revoked" | "account_inactive" => " (connect Slack again in Settings → Slack)",
        _ => "",
    }
}

async fn give_up(db: &DatabaseConnection, tenant: &Tenant, task_id: Uuid, why: &str) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "UPDATE slack_messages SET status = CASE WHEN status = 'posted' THEN 'posted' ELSE 'failed' END, outcome_shown = true,
                claimed_until = NULL, error = $2, updated_at = now() WHERE task_id = $1",
        vec![task_id.into(), why.into()],
    ))
    .await?;
    txn.commit().await
}

/// The tasks whose message is owed something now (for the sweeper).
pub async fn due(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<Uuid>, DbErr> {
    let txn = tenant.begin(db).await?;
    let ids = crate::db::scalars(
        &txn,
        stmt(
            "SELECT m.task_id AS value FROM slack_messages m JOIN review_tasks t ON t.id = m.task_id
              WHERE (m.claimed_until IS NULL OR m.claimed_until < now())
                AND (m.status IN ('pending', 'posting') OR (m.status = 'posted' AND NOT m.outcome_shown AND t.status = 'decided'))
              ORDER BY m.created_at LIMIT 100",
            vec![],
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(ids)
}

/// Where a task's message is, for the task's page.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct MessageState {
    pub channel: String,
    pub status: SlackPost,
    pub error: Option<String>,
}

pub async fn state_of(db: &DatabaseConnection, tenant: &Tenant, task_id: Uuid) -> Result<Option<MessageState>, DbErr> {
    let txn = tenant.begin(db).await?;
    let row = MessageState::find_by_statement(stmt(
        "SELECT channel, status, error FROM slack_messages WHERE task_id = $1",
        vec![task_id.into()],
    ))
    .one(&txn)
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// Answers a click in the message's thread (already decided, not linked,
/// not allowed). Best-effort: the click itself was answered already.
pub async fn reply_in_thread(
    db: &DatabaseConnection,
    settings: &Settings,
    http: &reqwest::Client,
    tenant: &Tenant,
    channel: &str,
    thread_ts: &str,
    text: &str,
) {
    let token = match crate::slack::credentials(db, settings, tenant).await {
        Ok(Some((token, _))) => token,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the Slack connection to answer a click");
            return;
        }
    };
    let message = serde_json::json!({ "text": text });
    if let Err(e) =
        SlackApi::new(http, &settings.slack_api_url, &token).post_message(channel, &message, Some(thread_ts)).await
    {
        tracing::warn!(error = %e, "could not answer a click in its Slack thread");
    }
}
