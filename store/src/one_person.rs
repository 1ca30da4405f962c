//! A one-person business. Four-eyes workflows (they email outside the
//! business or write financial records) need a second engineer or owner to
//! approve a version before it goes live; a business of one cannot have one.
//! Its owner may declare the business a one-person business — audited, and
//! withdrawn as easily — after which such a version publishes when the
//! person publishing confirms it and gives a reason (see `workflows::publish`).

use crate::{audit, auth::CurrentMember, db::stmt};
use chrono::{DateTime, Utc};
use engine::Role;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, FromQueryResult};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Declaration {
    pub declared_at: DateTime<Utc>,
    pub declared_by_email: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OnePersonError {
    #[error("{0}")]
    Refused(String),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// The business's declaration, if it made one.
pub async fn declaration_in(txn: &DatabaseTransaction) -> Result<Option<Declaration>, DbErr> {
    Declaration::find_by_statement(stmt(
        "SELECT declared_at, declared_by_email, reason FROM one_person_business",
        vec![],
    ))
    .one(txn)
    .await
}

pub async fn declaration(db: &DatabaseConnection, member: &CurrentMember) -> Result<Option<Declaration>, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let found = declaration_in(&txn).await?;
    txn.commit().await?;
    Ok(found)
}

/// How many people could approve a version (engineers and owners).
pub async fn possible_approvers(db: &DatabaseConnection, member: &CurrentMember) -> Result<i64, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let count = crate::db::scalar::<i64, _>(
        &txn,
        stmt(
            "SELECT count(*) AS value FROM public.memberships WHERE tenant_id = $1 AND role IN ('engineer', 'owner')",
            vec![member.tenant.id().into()],
        ),
    )
    .await?
    .unwrap_or(0);
    txn.commit().await?;
    Ok(count)
}

/// The owner declares the business a one-person business (with a reason),
/// or withdraws the declaration. Both land in the audit log.
pub async fn declare(
    db: &DatabaseConnection,
    member: &CurrentMember,
    one_person: bool,
    reason: &str,
) -> Result<(), OnePersonError> {
    if member.role != Role::Owner {
        return Err(OnePersonError::Refused("Only an owner can say the business is one person.".into()));
    }
    let reason = reason.trim();
    if one_person && reason.is_empty() {
        return Err(OnePersonError::Invalid {
            field: "reason",
            reason: "Say why nobody else can approve (e.g. I run the business alone).".into(),
        });
    }
    let txn = member.tenant.begin(db).await?;
    let (action, why) = if one_person {
        txn.execute_raw(stmt(
            "INSERT INTO one_person_business (declared_at, declared_by_email, reason) VALUES (now(), $1, $2)
             ON CONFLICT (one) DO UPDATE SET declared_at = now(), declared_by_email = $1, reason = $2",
            vec![member.email.clone().into(), reason.into()],
        ))
        .await?;
        ("business.one_person_declared", reason.to_string())
    } else {
        txn.execute_raw(stmt("DELETE FROM one_person_business", vec![])).await?;
        ("business.one_person_withdrawn", "Four-eyes workflows need a second approver again".to_string())
    };
    audit::record_change(
        &txn,
        Some(member),
        "business",
        action,
        "one-person business",
        &why,
        json!({ "one_person": one_person }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
