//! The business's audit log: who did what, when and why. Append-only and
//! hash-chained by the database (migration `audit_chain`), anchored daily
//! outside the business's schema (`anchor`), verifiable here, from the CLI,
//! from the Audit page, and offline from its JSON-lines export.

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
    let by = actor.map(|a| Person { user_id: a.user_id, email: &a.email });
    record_by(txn, by, area, action, subject, why, detail).await
}

/// Who did something, when there is no signed-in member yet (a sign-in).
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    pub user_id: Uuid,
    pub email: &'a str,
}

/// Records an event by a person (or Steward, `None`) in the tenant schema the transaction points at.
pub async fn record_by(
    txn: &DatabaseTransaction,
    actor: Option<Person<'_>>,
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
        actor_email: Set(actor.map(|a| a.email.to_owned())),
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

/// A filter over the audit log; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub area: Option<String>,
    pub actor: Option<String>,
    pub text: Option<String>,
    /// Events on or after this day (UTC).
    pub since: Option<chrono::NaiveDate>,
    /// Events on or before this day (UTC).
    pub until: Option<chrono::NaiveDate>,
}

/// A day typed into a filter (`YYYY-MM-DD`); empty means no bound.
pub fn parse_day(field: &str, value: &str) -> Result<Option<chrono::NaiveDate>, engine::FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| engine::FieldError::new(field, "Give a day as YYYY-MM-DD, e.g. 2026-12-01."))
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
    use sea_orm::QueryFilter;
    audit_event::Entity::find()
        .filter(condition(filter))
        .order_by_desc(audit_event::Column::Seq)
        .limit(limit)
        .all(txn)
        .await
}

fn condition(filter: &ChangeFilter) -> sea_orm::Condition {
    use sea_orm::Condition;
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
    if let Some(since) = filter.since {
        cond = cond.add(audit_event::Column::At.gte(since.and_time(chrono::NaiveTime::MIN).and_utc()));
    }
    if let Some(until) = filter.until.and_then(|d| d.succ_opt()) {
        cond = cond.add(audit_event::Column::At.lt(until.and_time(chrono::NaiveTime::MIN).and_utc()));
    }
    cond
}

/// One line of the JSON-lines export: the event as the page shows it, its
/// chain fields, and the exact text its hash covers.
#[derive(Debug, sea_orm::FromQueryResult, serde::Serialize)]
pub struct ExportLine {
    pub seq: i64,
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor_email: Option<String>,
    pub area: String,
    pub action: String,
    pub subject: String,
    pub why: String,
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
    /// `hash` = SHA-256(`prev_hash` + `canonical`), hex.
    pub canonical: String,
}

/// The filtered log in chain order (oldest first), for the JSON-lines export.
pub async fn export_lines(
    db: &sea_orm::DatabaseConnection,
    tenant: &crate::Tenant,
    filter: &ChangeFilter,
) -> Result<Vec<ExportLine>, DbErr> {
    use sea_orm::{sea_query::Expr, QueryFilter};
    let txn = tenant.begin(db).await?;
    let lines = audit_event::Entity::find()
        .filter(condition(filter))
        .column_as(Expr::cust("audit_canonical(audit_events)"), "canonical")
        .order_by_asc(audit_event::Column::Seq)
        .into_model::<ExportLine>()
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(lines)
}

/// The export as JSON lines, one event per line.
pub fn to_json_lines(lines: &[ExportLine]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(&serde_json::to_string(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The change log as CSV, newest first.
pub fn to_csv(rows: &[audit_event::Model]) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["at", "who", "area", "action", "subject", "why", "detail", "seq", "prev_hash", "hash"])?;
    for r in rows {
        out.write_record([
            r.at.to_rfc3339().as_str(),
            r.actor_email.as_deref().unwrap_or("Steward"),
            &r.area,
            &r.action,
            &r.subject,
            &r.why,
            &r.detail.to_string(),
            &r.seq.to_string(),
            &r.prev_hash,
            &r.hash,
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
    #[derive(FromQueryResult)]
    struct Anchor {
        day: chrono::NaiveDate,
        seq: i64,
        head: String,
    }
    let anchors = Anchor::find_by_statement(crate::db::stmt(
        "SELECT day, seq, head FROM public.audit_anchors WHERE tenant_id = $1 ORDER BY day",
        vec![tenant.id().into()],
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
    // A chain rewritten from scratch holds together; the daily anchors, kept
    // outside the business's schema, say what it was.
    for anchor in anchors.into_iter().filter(|a| a.seq > 0) {
        match links.get((anchor.seq - 1) as usize) {
            Some(link) if link.hash == anchor.head => {}
            Some(link) => {
                return Ok(ChainVerdict::Broken {
                    seq: link.seq,
                    id: link.id,
                    reason: format!(
                        "it does not match the chain head anchored on {} (the log was rewritten)",
                        anchor.day
                    ),
                })
            }
            None => {
                return Ok(ChainVerdict::Broken {
                    seq: anchor.seq,
                    id: 0,
                    reason: format!("the log ends before the head anchored on {} (events were removed)", anchor.day),
                })
            }
        }
    }
    Ok(ChainVerdict::Intact { events: links.len() as i64, head: previous })
}

/// The businesses whose chain head has not been anchored today: what the
/// daily housekeeping still has to visit.
pub async fn not_anchored_today(db: &sea_orm::DatabaseConnection) -> Result<Vec<crate::Tenant>, DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Due {
        id: Uuid,
        schema_name: String,
    }
    Due::find_by_statement(crate::db::stmt(
        "SELECT t.id, t.schema_name FROM public.tenants t
          WHERE NOT EXISTS (SELECT 1 FROM public.audit_anchors a WHERE a.tenant_id = t.id AND a.day = current_date)",
        vec![],
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|row| crate::Tenant::new(row.id, row.schema_name))
    .collect()
}

/// Records the business's chain head for today, once; true when it wrote one.
pub async fn anchor(db: &sea_orm::DatabaseConnection, tenant: &crate::Tenant) -> Result<bool, DbErr> {
    use sea_orm::ConnectionTrait;
    let txn = tenant.begin(db).await?;
    let written = txn
        .execute_raw(crate::db::stmt(
            "INSERT INTO public.audit_anchors (tenant_id, day, seq, head)
             SELECT $1, current_date, coalesce(max(seq), 0),
                    coalesce((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), '')
               FROM audit_events
             ON CONFLICT (tenant_id, day) DO NOTHING",
            vec![tenant.id().into()],
        ))
        .await?
        .rows_affected();
    txn.commit().await?;
    Ok(written == 1)
}
