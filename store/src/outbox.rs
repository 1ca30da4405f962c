//! The outbox: email a unit of tenant work sends is written in the same
//! transaction as the work (a step, a review task, an alert, a scorecard),
//! then handed to the mail queue. Mail written but never queued (Redis was
//! down, the worker died) is found and queued again by the sweeper.

use crate::db::stmt;
use crate::jobs::{Attachment, EmailJob};
use crate::tenant::Tenant;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};

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
    /// The mail-queue job that sends this email for `tenant`.
    pub fn job(&self, tenant: &Tenant) -> EmailJob {
        EmailJob {
            tenant_id: tenant.id(),
            to: self.to.clone(),
            subject: self.subject.clone(),
            text: self.text.clone(),
            html: self.html.clone(),
            attachments: self.attachments.clone(),
        }
    }
}

/// Writes mail inside `txn`; returns the ids, in order.
pub(crate) async fn insert(
    txn: &DatabaseTransaction,
    run_id: Option<Uuid>,
    mails: &[OutboxEmail],
) -> Result<Vec<Uuid>, DbErr> {
    let mut ids = Vec::with_capacity(mails.len());
    for mail in mails {
        let id = Uuid::new_v4();
        let attachments = serde_json::to_value(&mail.attachments)
            .map_err(|e| DbErr::Custom(format!("attachments do not encode: {e}")))?;
        txn.execute_raw(stmt(
            "INSERT INTO outbox (id, run_id, recipient, subject, text_body, html_body, attachments) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                id.into(),
                run_id.into(),
                mail.to.clone().into(),
                mail.subject.clone().into(),
                mail.text.clone().into(),
                mail.html.clone().into(),
                attachments.into(),
            ],
        ))
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Writes mail in a transaction of its own (review links, escalations); returns the ids.
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

/// Marks mail as handed to the mail queue.
pub async fn mark_queued(db: &DatabaseConnection, tenant: &Tenant, ids: &[Uuid]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt("UPDATE outbox SET queued_at = now() WHERE id = ANY($1)", vec![ids.to_vec().into()])).await?;
    txn.commit().await
}

/// Mail written at least `stale_seconds` ago and never queued, with its id.
pub async fn unqueued(
    db: &DatabaseConnection,
    tenant: &Tenant,
    stale_seconds: i64,
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
    let rows = Row::find_by_statement(stmt(
        "SELECT id, recipient, subject, text_body, html_body, attachments FROM outbox
          WHERE queued_at IS NULL AND created_at < now() - make_interval(secs => $1::double precision) LIMIT 500",
        vec![(stale_seconds as f64).into()],
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
