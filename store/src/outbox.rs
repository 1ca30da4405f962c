//! The outbox: email a unit of tenant work sends (a step, a review task,
//! an alert, a scorecard, an invitation) is written in the same transaction
//! as the work, then handed to the mail queue. Redis only delivers: the
//! row says where the email is.
//!
//! pending → (a worker claims it) sending → sent | failed (with the reason).
//! The worker records the send before it acknowledges the job, and a job
//! for a row already sent, failed, or claimed by another worker does
//! nothing, so a repeated job never sends an email twice. Mail never
//! queued, or whose job was lost, is queued again by the sweeper; after
//! `MAX_DISPATCHES` hand-overs it is marked failed with the reason.

use crate::db::stmt;
use crate::jobs::{Attachment, EmailJob, MailQueue};
use crate::tenant::Tenant;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use std::time::Duration;

/// How often one email is handed to the mail queue before it is given up.
pub const MAX_DISPATCHES: i32 = 5;

/// Where an outbox email is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Sending,
    Sent,
    Failed,
}

/// An email written with the work that sends it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
}

impl OutboxEmail {
    /// The mail-queue job that sends this email, the outbox row `id` of `tenant`.
    pub fn job(&self, tenant: &Tenant, id: Uuid) -> EmailJob {
        EmailJob {
            tenant_id: tenant.id(),
            to: self.to.clone(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            html: self.html.clone(),
            attachments: self.attachments.clone(),
            outbox_id: Some(id),
        }
    }
}

/// Writes mail inside `txn` (one statement however many); returns the ids, in order.
pub(crate) async fn insert(
    txn: &DatabaseTransaction,
    run_id: Option<Uuid>,
    mails: &[OutboxEmail],
) -> Result<Vec<Uuid>, DbErr> {
    let ids: Vec<Uuid> = mails.iter().map(|_| Uuid::new_v4()).collect();
    if !ids.is_empty() {
        txn.execute_raw(stmt(&insert_rows("$1::uuid", 2, ""), vec![run_id.into(), as_rows(&ids, mails).into()]))
            .await?;
    }
    Ok(ids)
}

/// Inserts the mail of `as_rows` bound as `${param}` for the run `{run}`
/// (a column or parameter), reading also `FROM {from}`.
pub(crate) fn insert_rows(run: &str, param: usize, from: &str) -> String {
    format!(
        "INSERT INTO outbox (id, run_id, recipient, subject, text_body, html_body, attachments)
         SELECT m.id, {run}, m.recipient, m.subject, m.text_body, m.html_body, m.attachments
           FROM {from} jsonb_to_recordset(${param}) AS m(id uuid, recipient text, subject text, text_body text,
                html_body text, attachments jsonb)"
    )
}

/// Mail as rows for `insert_rows`, with the outbox ids `ids`, in order.
pub(crate) fn as_rows(ids: &[Uuid], mails: &[OutboxEmail]) -> serde_json::Value {
    ids.iter()
        .zip(mails)
        .map(|(id, mail)| {
            serde_json::json!({
                "id": id, "recipient": mail.to, "subject": mail.subject, "text_body": mail.text,
                "html_body": mail.html, "attachments": mail.attachments,
            })
        })
        .collect()
}

/// Writes mail in a transaction of its own (escalations); returns the ids.
pub async fn add(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Option<Uuid>,
    mails: &[OutboxEmail],
) -> Result<Vec<Uuid>, DbErr> {
    let txn = tenant.begin(db).await?;
    let ids = insert(&txn, run_id, mails).await?;
    txn.commit().await?;
    Ok(ids)
}

/// Hands mail just written to the mail queue and marks what was queued.
/// Best-effort and bounded in time: what Redis does not take within a
/// couple of seconds stays unqueued and the sweeper sends it later.
pub async fn hand_over(db: &DatabaseConnection, queue: &MailQueue, tenant: &Tenant, mails: &[(Uuid, OutboxEmail)]) {
    if mails.is_empty() {
        return;
    }
    let mut queued = Vec::new();
    for (id, mail) in mails {
        match tokio::time::timeout(Duration::from_secs(2), queue.send(mail.job(tenant, *id))).await {
            Ok(Ok(())) => queued.push(*id),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "mail could not be queued; the sweeper will queue it");
                break;
            }
            Err(_) => {
                tracing::warn!("Redis did not take the mail in time; the sweeper will queue it");
                break;
            }
        }
    }
    if let Err(e) = mark_queued(db, tenant, &queued).await {
        tracing::warn!(error = %e, "could not mark mail as queued; the sweeper will queue it again (sent once)");
    }
}

/// Marks mail as handed to the mail queue.
pub async fn mark_queued(db: &DatabaseConnection, tenant: &Tenant, ids: &[Uuid]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "UPDATE outbox SET queued_at = now(), dispatches = dispatches + 1 WHERE id = ANY($1)",
        vec![ids.to_vec().into()],
    ))
    .await?;
    txn.commit().await
}

/// What a worker found when it went to send an outbox email.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This worker sends it now, as attempt number `attempt`.
    Mine { attempt: i32 },
    /// Sent already: the job is a repeat.
    Sent,
    /// Given up already.
    Failed,
    /// Another worker is sending it right now.
    Taken,
    /// No such email (its run was deleted).
    Gone,
}

/// Claims an outbox email for `owner` for `seconds`; a lapsed claim (its
/// worker died mid-send) can be taken over.
pub async fn claim(
    db: &DatabaseConnection,
    tenant: &Tenant,
    id: Uuid,
    owner: &str,
    seconds: i64,
) -> Result<Claim, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        status: String,
        attempts: i32,
        mine: bool,
    }
    let txn = tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(
        "WITH claimed AS (
             UPDATE outbox SET status = 'sending', claimed_by = $2, attempts = attempts + 1,
                    claimed_until = now() + make_interval(secs => $3::double precision)
              WHERE id = $1 AND (status = 'pending' OR (status = 'sending' AND (claimed_until IS NULL OR claimed_until < now())))
          RETURNING status, attempts, true AS mine)
         SELECT status, attempts, mine FROM claimed
         UNION ALL
         SELECT status, attempts, false FROM outbox WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM claimed)",
        vec![id.into(), owner.into(), (seconds as f64).into()],
    ))
    .one(&txn)
    .await?;
    txn.commit().await?;
    let Some(row) = row else { return Ok(Claim::Gone) };
    if row.mine {
        return Ok(Claim::Mine { attempt: row.attempts });
    }
    let status: OutboxStatus =
        row.status.parse().map_err(|_| DbErr::Type(format!("outbox {id} has an unknown status {}", row.status)))?;
    Ok(match status {
        OutboxStatus::Sent => Claim::Sent,
        OutboxStatus::Failed => Claim::Failed,
        OutboxStatus::Pending | OutboxStatus::Sending => Claim::Taken,
    })
}

/// Once an email is delivered (or given up), the signed links in it (approval
/// links decide a task, invitation links open an account) are no longer kept:
/// the stored body keeps everything but the token.
const FORGET_LINK_TOKENS: &str = "text_body = regexp_replace(text_body, '/(approve|invite)/[A-Za-z0-9._~-]+', '/\\1/[link removed after delivery]', 'g'),
     html_body = regexp_replace(html_body, '/(approve|invite)/[A-Za-z0-9._~-]+', '/\\1/[link removed after delivery]', 'g')";

/// Records the send (before the job is acknowledged).
pub async fn mark_sent(db: &DatabaseConnection, tenant: &Tenant, id: Uuid) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        &format!("UPDATE outbox SET status = 'sent', sent_at = now(), claimed_until = NULL, error = NULL, {FORGET_LINK_TOKENS} WHERE id = $1"),
        vec![id.into()],
    ))
    .await?;
    txn.commit().await
}

/// Gives the email up, with the reason.
pub async fn mark_failed(db: &DatabaseConnection, tenant: &Tenant, id: Uuid, reason: &str) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        &format!("UPDATE outbox SET status = 'failed', failed_at = now(), claimed_until = NULL, error = $2, {FORGET_LINK_TOKENS} WHERE id = $1 AND status <> 'sent'"),
        vec![id.into(), reason.into()],
    ))
    .await?;
    txn.commit().await
}

/// A send failed for now: the claim is released, the reason kept, and the
/// job's retry (or the sweeper) tries again.
pub async fn release(db: &DatabaseConnection, tenant: &Tenant, id: Uuid, reason: &str) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, error = $2 WHERE id = $1 AND status = 'sending'",
        vec![id.into(), reason.into()],
    ))
    .await?;
    txn.commit().await
}

/// What the sweeper does with the open mail of a business: mail written
/// `stale_seconds` ago and never queued, or queued `requeue_seconds` ago
/// and still not sent by anyone (its job was lost), is queued again; mail
/// handed over `MAX_DISPATCHES` times already is marked failed.
pub async fn overdue(
    db: &DatabaseConnection,
    tenant: &Tenant,
    stale_seconds: i64,
    requeue_seconds: i64,
) -> Result<Vec<(Uuid, OutboxEmail)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        recipient: String,
        subject: String,
        text_body: String,
        html_body: String,
        attachments: serde_json::Value,
    }
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "UPDATE outbox SET status = 'failed', failed_at = now(), claimed_until = NULL,
                error = 'handed to the mail queue ' || dispatches || ' times and never sent' || coalesce(': ' || error, '')
          WHERE status IN ('pending', 'sending') AND dispatches >= $1
            AND queued_at < now() - make_interval(secs => $2::double precision)
            AND (claimed_until IS NULL OR claimed_until < now())",
        vec![MAX_DISPATCHES.into(), (requeue_seconds as f64).into()],
    ))
    .await?;
    let rows = Row::find_by_statement(stmt(
        "SELECT id, recipient, subject, text_body, html_body, attachments FROM outbox
          WHERE status IN ('pending', 'sending') AND (claimed_until IS NULL OR claimed_until < now())
            AND ((queued_at IS NULL AND created_at < now() - make_interval(secs => $1::double precision))
              OR queued_at < now() - make_interval(secs => $2::double precision))
          ORDER BY created_at LIMIT 500",
        vec![(stale_seconds as f64).into(), (requeue_seconds as f64).into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            let attachments = serde_json::from_value(r.attachments)
                .map_err(|e| DbErr::Type(format!("the attachments of outbox mail {} do not decode: {e}", r.id)))?;
            let mail =
                OutboxEmail { to: r.recipient, subject: r.subject, text: r.text_body, html: r.html_body, attachments };
            Ok((r.id, mail))
        })
        .collect()
}

/// How a business's outbox stands, for the operations page and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, FromQueryResult)]
pub struct Backlog {
    /// Written and not yet sent.
    pub open: i64,
    /// Seconds the oldest open email has waited.
    pub oldest_seconds: Option<f64>,
    /// Given up in the last 7 days.
    pub failed_recently: i64,
    /// Why the last of those was given up.
    pub last_failure: Option<String>,
}

pub async fn backlog(db: &DatabaseConnection, tenant: &Tenant) -> Result<Backlog, DbErr> {
    let txn = tenant.begin(db).await?;
    let row = Backlog::find_by_statement(stmt(
        "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')) AS open,
                extract(epoch FROM now() - min(created_at) FILTER (WHERE status IN ('pending', 'sending')))::float8 AS oldest_seconds,
                count(*) FILTER (WHERE status = 'failed' AND failed_at > now() - interval '7 days') AS failed_recently,
                (array_agg(error ORDER BY failed_at DESC) FILTER (WHERE status = 'failed'))[1] AS last_failure
           FROM outbox WHERE status IN ('pending', 'sending') OR failed_at > now() - interval '7 days'",
        vec![],
    ))
    .one(&txn)
    .await?
    .unwrap_or_default();
    txn.commit().await?;
    Ok(row)
}
