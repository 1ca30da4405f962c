//! Emailed approval links: one per reviewer and task, signed, expiring and
//! single-use. Opening a link changes nothing (mail scanners fetch links);
//! the decision is a POST from its page, taken once.

use crate::auth::CurrentMember;
use crate::config::Settings;
use crate::db::stmt;
use crate::jobs::RunJob;
use crate::reviews::{decide_as, may_decide, Actor, ReviewError};
use engine::review::{Decision, ReviewReason, TaskStatus};
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};
use serde_json::Value;

/// How long an emailed link works.
pub const LINK_HOURS: i64 = 72;

fn signature(secret: &[u8], slug: &str, link_id: Uuid, expires: i64) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("steward/approval-link/v1|{slug}|{link_id}|{expires}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A link for one reviewer and task, made before the task is written and
/// stored with it (`runs::wait_for_review`), so the task, its links and
/// their emails commit together.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLink {
    pub id: Uuid,
    pub task_id: Uuid,
    pub reviewer_email: String,
    pub expires_at: DateTimeUtc,
    /// What goes in the URL: `/approve/<token>`.
    pub token: String,
}

impl NewLink {
    pub fn new(settings: &Settings, slug: &str, task_id: Uuid, reviewer_email: &str) -> Self {
        let id = Uuid::new_v4();
        let expires_at = chrono::Utc::now() + chrono::Duration::hours(LINK_HOURS);
        let ts = expires_at.timestamp();
        let token = format!("{slug}.{}.{ts}.{}", id.simple(), signature(&settings.app_secret, slug, id, ts));
        NewLink { id, task_id, reviewer_email: reviewer_email.to_owned(), expires_at, token }
    }
}

/// Stores links inside the transaction that writes their task.
pub(crate) async fn insert(txn: &sea_orm::DatabaseTransaction, links: &[NewLink]) -> Result<(), DbErr> {
    for link in links {
        txn.execute_raw(stmt(
            "INSERT INTO approval_links (id, task_id, reviewer_email, expires_at) VALUES ($1, $2, $3, $4)",
            vec![link.id.into(), link.task_id.into(), link.reviewer_email.clone().into(), link.expires_at.into()],
        ))
        .await?;
    }
    Ok(())
}

/// What an approval link turned out to be.
#[derive(Debug, Clone)]
pub enum LinkState {
    /// Good: the task is open and this reviewer may decide it.
    Open(Box<LinkTask>),
    /// Someone decided the task already.
    Decided {
        by: String,
        decision: Decision,
        at: DateTimeUtc,
    },
    Used {
        at: DateTimeUtc,
    },
    Expired,
    /// Tampered with, made up, or of a business that does not exist.
    Invalid,
    /// The link belongs to another reviewer than the one signed in.
    Foreign,
}

#[derive(Debug, Clone)]
pub struct LinkTask {
    pub link_id: Uuid,
    pub task_id: Uuid,
    pub run_id: Uuid,
    pub reviewer: CurrentMember,
    pub workflow: String,
    pub reason: ReviewReason,
    pub detail: Value,
    pub draft: Option<Value>,
    /// The draft as labelled fields, masked for a reviewer who does not see sensitive values.
    pub draft_fields: Vec<engine::readable::Field>,
    /// The enquiry the run started from, as labelled fields, masked the same way.
    pub event_fields: Vec<engine::readable::Field>,
    /// The business's address, for the link to the task in the review queue.
    pub slug: String,
}

/// Reads a link without changing anything (GET is safe: scanners fetch links).
/// `signed_in` is the email of a session in the browser, if any.
pub async fn open(
    db: &DatabaseConnection,
    settings: &Settings,
    token: &str,
    signed_in: Option<&str>,
) -> Result<LinkState, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        reviewer_email: String,
        expires_at: DateTimeUtc,
        used_at: Option<DateTimeUtc>,
        task_id: Uuid,
        run_id: Uuid,
        workflow_name: String,
        reason: ReviewReason,
        detail: Value,
        draft: Option<Value>,
        output_name: Option<String>,
        pinned: Value,
        contract: Value,
        event_raw: Option<Value>,
        status: TaskStatus,
        decided_by: Option<String>,
        decision: Option<Decision>,
        decided_at: Option<DateTimeUtc>,
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [slug, id, ts, sig] = parts[..] else { return Ok(LinkState::Invalid) };
    let (Ok(link_id), Ok(expires)) = (Uuid::parse_str(id), ts.parse::<i64>()) else { return Ok(LinkState::Invalid) };
    // Constant-time comparison of the signatures, under the current or the previous signing secret.
    let signed = settings.signing_secrets().any(|secret| {
        let expected = signature(secret, slug, link_id, expires);
        expected.len() == sig.len() && expected.bytes().zip(sig.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if !signed {
        return Ok(LinkState::Invalid);
    }
    let Some((tenant, _)) = crate::tenants::tenant_at(db, slug).await? else { return Ok(LinkState::Invalid) };
    let txn = tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(
        "SELECT l.reviewer_email, l.expires_at, l.used_at, t.id AS task_id, t.run_id, t.workflow_name, t.reason, t.detail, t.draft,
                t.output_name, r.pinned, v.contract, e.raw AS event_raw, t.status, t.decided_by, t.decision, t.decided_at
           FROM approval_links l JOIN review_tasks t ON t.id = l.task_id
           JOIN runs r ON r.id = t.run_id
           JOIN workflow_versions v ON v.workflow_id = r.workflow_id AND v.number = r.workflow_version
           LEFT JOIN events e ON e.id = r.event_id
          WHERE l.id = $1",
        vec![link_id.into()],
    ))
    .one(&txn)
    .await?;
    let Some(row) = row else {
        txn.commit().await?;
        return Ok(LinkState::Invalid);
    };
    let contract: engine::workflow::WorkflowContract =
        crate::db::decode("the contract of the task's run", row.contract)?;
    let draft_labels =
        crate::readable::draft_labels_in(&txn, &contract, &row.pinned, row.output_name.as_deref()).await?;
    let event_labels = crate::readable::event_labels_in(&txn, &row.workflow_name, &contract).await?;
    let sensitive = crate::runs::sensitive_keys_for(&txn, &contract).await?;
    txn.commit().await?;
    if signed_in.is_some_and(|s| !s.eq_ignore_ascii_case(&row.reviewer_email)) {
        return Ok(LinkState::Foreign);
    }
    if let Some(at) = row.used_at {
        return Ok(LinkState::Used { at });
    }
    match (row.status, row.decision) {
        (TaskStatus::Decided, Some(decision)) => {
            return Ok(LinkState::Decided {
                by: row.decided_by.unwrap_or_default(),
                decision,
                at: row.decided_at.unwrap_or_default(),
            })
        }
        (TaskStatus::Decided, None) | (TaskStatus::Open, _) => {}
    }
    if row.expires_at < chrono::Utc::now() {
        return Ok(LinkState::Expired);
    }
    // The reviewer must still be a member who may decide.
    let Ok(reviewer) = crate::auth::member_by_email(db, slug, &row.reviewer_email).await else {
        return Ok(LinkState::Invalid);
    };
    if !may_decide(reviewer.role) {
        return Ok(LinkState::Invalid);
    }
    // Sensitive values in clear only for the roles that see them (owners, reviewers).
    let hidden: &[String] = if engine::access::sees_sensitive_values(reviewer.role) { &[] } else { &sensitive };
    let source = row.event_raw.clone().unwrap_or_default();
    let readable = |v: &Value, labels| engine::readable::fields(&engine::run::mask_in(v, hidden, &source), labels);
    let draft_fields = row.draft.as_ref().map(|d| readable(d, &draft_labels)).unwrap_or_default();
    let event_fields = row.event_raw.as_ref().map(|e| readable(e, &event_labels)).unwrap_or_default();
    let draft = row.draft.as_ref().map(|d| engine::run::mask_in(d, hidden, &source));
    Ok(LinkState::Open(Box::new(LinkTask {
        link_id,
        task_id: row.task_id,
        run_id: row.run_id,
        reviewer,
        workflow: row.workflow_name,
        reason: row.reason,
        detail: row.detail,
        draft,
        draft_fields,
        event_fields,
        slug: slug.to_owned(),
    })))
}

/// Decides through a link (POST from its confirmation page), once.
pub async fn decide(
    db: &DatabaseConnection,
    task: &LinkTask,
    decision: &str,
    reason_code: &str,
    comment: &str,
) -> Result<Option<RunJob>, ReviewError> {
    let tenant = &task.reviewer.tenant;
    {
        // Mark the link used first, under a row lock, so a double POST decides once.
        let txn = tenant.begin(db).await?;
        let used = txn
            .execute_raw(stmt(
                "UPDATE approval_links SET used_at = now() WHERE id = $1 AND used_at IS NULL",
                vec![task.link_id.into()],
            ))
            .await?;
        if used.rows_affected() == 0 {
            return Err(ReviewError::Refused("This link was used already.".into()));
        }
        txn.commit().await?;
    }
    let actor = Actor::member(&task.reviewer);
    let result = decide_as(db, tenant, &actor, task.task_id, decision, "", reason_code, comment).await;
    if result.is_err() {
        // Nothing was decided: the link may be used again.
        let txn = tenant.begin(db).await?;
        txn.execute_raw(stmt("UPDATE approval_links SET used_at = NULL WHERE id = $1", vec![task.link_id.into()]))
            .await?;
        txn.commit().await?;
    }
    result
}
