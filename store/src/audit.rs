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
    audit_event::ActiveModel {
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
