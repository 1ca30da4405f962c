//! The business's change log: who did what, when.

use crate::auth::CurrentMember;
use crate::entities::audit_event;
use sea_orm::{prelude::*, ActiveValue::Set, DatabaseTransaction, QueryOrder, QuerySelect};

/// Records an event in the tenant schema the transaction points at.
pub async fn record(
    txn: &DatabaseTransaction,
    actor: Option<&CurrentMember>,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    record_change(txn, actor, "business", action, subject, "", detail).await
}

/// Records a change to the business's automation (a workflow, a prompt, a
/// model choice) with the author's reason.
pub async fn record_change(
    txn: &DatabaseTransaction,
    actor: Option<&CurrentMember>,
    area: &str,
    action: &str,
    subject: &str,
    why: &str,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    audit_event::ActiveModel {
        area: Set(area.to_owned()),
        why: Set(why.to_owned()),
        at: Set(chrono::Utc::now()),
        actor_user_id: Set(actor.map(|a| a.user_id)),
        actor_email: Set(actor.map(|a| a.email.clone())),
        action: Set(action.to_owned()),
        subject: Set(subject.to_owned()),
        detail: Set(detail),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

pub async fn recent(txn: &DatabaseTransaction, limit: u64) -> Result<Vec<audit_event::Model>, DbErr> {
    audit_event::Entity::find().order_by_desc(audit_event::Column::Id).limit(limit).all(txn).await
}

/// A filter over the change log; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub area: Option<String>,
    pub actor: Option<String>,
    pub text: Option<String>,
}

/// The change log, newest first, filtered (at most `limit` entries).
pub async fn changes(
    db: &sea_orm::DatabaseConnection,
    tenant: &crate::Tenant,
    filter: &ChangeFilter,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    let txn = tenant.begin(db).await?;
    let rows = changes_in(&txn, filter, limit).await?;
    txn.commit().await?;
    Ok(rows)
}

async fn changes_in(
    txn: &DatabaseTransaction,
    filter: &ChangeFilter,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    use sea_orm::{Condition, QueryFilter};
    let mut cond = Condition::all();
    if let Some(area) = filter.area.as_deref().filter(|a| !a.is_empty()) {
        cond = cond.add(audit_event::Column::Area.eq(area));
    }
    if let Some(actor) = filter.actor.as_deref().filter(|a| !a.is_empty()) {
        cond = cond.add(audit_event::Column::ActorEmail.contains(actor));
    }
    if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
        cond = cond.add(
            Condition::any()
                .add(audit_event::Column::Subject.contains(text))
                .add(audit_event::Column::Why.contains(text))
                .add(audit_event::Column::Action.contains(text)),
        );
    }
    audit_event::Entity::find().filter(cond).order_by_desc(audit_event::Column::Id).limit(limit).all(txn).await
}

/// The change log as CSV, newest first.
pub fn to_csv(rows: &[audit_event::Model]) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["at", "who", "area", "action", "subject", "why", "detail"])?;
    for r in rows {
        out.write_record([
            r.at.to_rfc3339().as_str(),
            r.actor_email.as_deref().unwrap_or("Steward"),
            &r.area,
            &r.action,
            &r.subject,
            &r.why,
            &r.detail.to_string(),
        ])?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What recomputing a business's audit chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainVerdict {
    /// Every event's hash holds and links to the one before; the head is the last hash.
    Intact { events: i64, head: String },
    /// The first event whose hash or link does not hold.
    Broken { seq: i64, id: i64, reason: String },
}

/// Recomputes the business's audit chain in order and names the first broken link.
pub async fn verify(db: &sea_orm::DatabaseConnection, tenant: &crate::Tenant) -> Result<ChainVerdict, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Link {
        seq: i64,
        id: i64,
        prev_hash: String,
        hash: String,
        expected: String,
    }
    let txn = tenant.begin(db).await?;
    let links = Link::find_by_statement(crate::db::stmt(
        "SELECT e.seq, e.id, e.prev_hash, e.hash, audit_event_hash(e.prev_hash, e) AS expected FROM audit_events e ORDER BY e.seq",
        vec![],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    let mut previous = String::new();
    for (n, link) in links.iter().enumerate() {
        let reason = if link.seq != n as i64 + 1 {
            Some(format!("event {} is missing: the sequence jumps to {}", n + 1, link.seq))
        } else if link.prev_hash != previous {
            Some("it does not link to the event before it (an event was removed or changed)".to_string())
        } else if link.hash != link.expected {
            Some("its content does not match its hash (the event was changed)".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Ok(ChainVerdict::Broken { seq: link.seq, id: link.id, reason });
        }
        previous = link.hash.clone();
    }
    Ok(ChainVerdict::Intact { events: links.len() as i64, head: previous })
}
