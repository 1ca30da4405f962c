//! The people of a business and their roles (owner only, enforced by callers
//! through `auth::authorize` with `Page::Settings`).

use crate::{
    audit,
    auth::{end_all_sessions, CurrentMember},
    db::{scalars, stmt},
    entities::{invitation, membership},
    tenant::Tenant,
};
use engine::Role;
use sea_orm::{prelude::*, DatabaseConnection, DbBackend, FromQueryResult, QueryOrder, Statement};
use serde_json::json;

#[derive(Debug, Clone, FromQueryResult)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub email: String,
    pub role: String,
    pub created_at: DateTimeUtc,
}

pub async fn list(db: &DatabaseConnection, tenant_id: Uuid) -> Result<Vec<MemberRow>, DbErr> {
    MemberRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT m.user_id, u.email, m.role, m.created_at
             FROM public.memberships m JOIN public.users u ON u.id = m.user_id
            WHERE m.tenant_id = $1
            ORDER BY u.email"#,
        [tenant_id.into()],
    ))
    .all(db)
    .await
}

/// The emails of the business's members with `role`.
pub async fn emails_with_role(db: &DatabaseConnection, tenant: &Tenant, role: Role) -> Result<Vec<String>, DbErr> {
    scalars(
        db,
        stmt(
            "SELECT u.email AS value FROM public.memberships m JOIN public.users u ON u.id = m.user_id
              WHERE m.tenant_id = $1 AND m.role = $2 ORDER BY u.email",
            vec![tenant.id().into(), role.as_str().into()],
        ),
    )
    .await
}

/// Who decides a task when the workflow's reviewers are nobody (no member
/// has the role, or those named left): the business's owners, and the
/// workflow's owner when their role may decide.
pub async fn fallback_deciders(db: &DatabaseConnection, tenant: &Tenant, workflow: &str) -> Result<Vec<String>, DbErr> {
    let mut emails = emails_with_role(db, tenant, Role::Owner).await?;
    let txn = tenant.begin(db).await?;
    #[derive(FromQueryResult)]
    struct Owner {
        email: String,
        role: String,
    }
    let owner = Owner::find_by_statement(stmt(
        "SELECT u.email, m.role FROM workflows w
           JOIN public.users u ON u.id = w.owner_user_id
           JOIN public.memberships m ON m.user_id = u.id AND m.tenant_id = $2
          WHERE w.name = $1",
        vec![workflow.into(), tenant.id().into()],
    ))
    .one(&txn)
    .await?
    .filter(|o| Role::parse(&o.role).is_ok_and(crate::reviews::may_decide))
    .map(|o| o.email);
    txn.commit().await?;
    emails.extend(owner);
    emails.sort();
    emails.dedup();
    Ok(emails)
}

pub async fn pending_invitations(db: &DatabaseConnection, tenant_id: Uuid) -> Result<Vec<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::TenantId.eq(tenant_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(chrono::Utc::now()))
        .order_by_desc(invitation::Column::CreatedAt)
        .all(db)
        .await
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MemberChangeError {
    #[error("This person is not a member of the business.")]
    NotAMember,
    #[error("A business needs at least one owner; make someone else an owner first.")]
    LastOwner,
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<DbErr> for MemberChangeError {
    fn from(e: DbErr) -> Self {
        MemberChangeError::Storage(e.to_string())
    }
}

async fn owner_count<C: ConnectionTrait>(db: &C, tenant_id: Uuid) -> Result<u64, DbErr> {
    membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant_id))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .count(db)
        .await
}

/// Opens the tenant transaction for a change to one member, holding the
/// business's owner lock so two owners demoting each other at once cannot
/// leave it ownerless. Refuses the change when it would remove the last
/// owner (`keeps_owner` says whether the member stays an owner).
async fn begin_member_change(
    db: &DatabaseConnection,
    actor: &CurrentMember,
    user_id: Uuid,
    keeps_owner: bool,
) -> Result<(sea_orm::DatabaseTransaction, membership::Model), MemberChangeError> {
    let txn = actor.tenant.begin(db).await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext('owners:' || $1::text))",
        [actor.tenant.id().into()],
    ))
    .await?;
    let current = membership::Entity::find_by_id((user_id, actor.tenant.id()))
        .one(&txn)
        .await?
        .ok_or(MemberChangeError::NotAMember)?;
    if current.role == Role::Owner.as_str() && !keeps_owner && owner_count(&txn, actor.tenant.id()).await? <= 1 {
        return Err(MemberChangeError::LastOwner);
    }
    Ok((txn, current))
}

pub async fn change_role(
    db: &DatabaseConnection,
    actor: &CurrentMember,
    user_id: Uuid,
    new_role: Role,
) -> Result<(), MemberChangeError> {
    let (txn, current) = begin_member_change(db, actor, user_id, new_role == Role::Owner).await?;
    membership::Entity::update_many()
        .col_expr(membership::Column::Role, Expr::value(new_role.as_str()))
        .filter(membership::Column::UserId.eq(user_id))
        .filter(membership::Column::TenantId.eq(actor.tenant.id()))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        Some(actor),
        "member.role_changed",
        &user_id.to_string(),
        json!({ "from": current.role, "to": new_role.as_str() }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Removes a member and ends all their sessions in this business at once.
pub async fn remove(db: &DatabaseConnection, actor: &CurrentMember, user_id: Uuid) -> Result<(), MemberChangeError> {
    let (txn, current) = begin_member_change(db, actor, user_id, false).await?;
    membership::Entity::delete_by_id((user_id, actor.tenant.id())).exec(&txn).await?;
    let ended = end_all_sessions(&txn, user_id, actor.tenant.id()).await?;
    audit::record(
        &txn,
        Some(actor),
        "member.removed",
        &user_id.to_string(),
        json!({ "role": current.role, "sessions_ended": ended }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
