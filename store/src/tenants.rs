//! The businesses: the system listing scheduled jobs walk, finding one by
//! its address, and opening one (the tenant row, its schema and its first
//! owner, in one transaction that either fully happens or leaves nothing
//! behind).

use crate::{
    auth::CurrentMember,
    db::{is_unique_violation, stmt},
    entities::{membership, tenant, user},
    password,
    tenant::Tenant,
};
use engine::{signup::ValidSignup, FieldError, Role, TenantSlug};
use sea_orm::{prelude::*, ActiveValue::Set, ConnectionTrait, DatabaseConnection, FromQueryResult, TransactionTrait};

/// Every business, oldest first: what the worker's scheduled jobs and the sweeper walk.
pub async fn all(db: &DatabaseConnection) -> Result<Vec<Tenant>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        schema_name: String,
    }
    Row::find_by_statement(stmt("SELECT id, schema_name FROM public.tenants ORDER BY created_at", vec![]))
        .all(db)
        .await?
        .into_iter()
        .map(|r| Tenant::new(r.id, r.schema_name))
        .collect()
}

/// The businesses with work in progress (a run queued or running, a review
/// task open, mail not yet sent, a Slack message owed), by the mark their schema's triggers set.
pub async fn with_work(db: &DatabaseConnection) -> Result<Vec<Tenant>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        schema_name: String,
    }
    Row::find_by_statement(stmt(
        "SELECT id, schema_name FROM public.tenants WHERE busy_since IS NOT NULL ORDER BY busy_since",
        vec![],
    ))
    .all(db)
    .await?
    .into_iter()
    .map(|r| Tenant::new(r.id, r.schema_name))
    .collect()
}

/// Where a rotation over every business stopped: the last business it
/// visited, in the order of `next_in_rotation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotationMark {
    created_at: DateTimeUtc,
    id: Uuid,
}

/// The next `share` (0 to 1; at least one business when above 0) of every
/// business, oldest first, going on after `after` and round again from the
/// oldest, without repeating one; and where it stopped. None: from the
/// oldest. What the periodic jobs visit besides the businesses with work,
/// so that every business is visited now and then without visiting them
/// all at once.
pub async fn next_in_rotation(
    db: &DatabaseConnection,
    after: Option<RotationMark>,
    share: f64,
) -> Result<(Vec<Tenant>, Option<RotationMark>), DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        schema_name: String,
        created_at: DateTimeUtc,
    }
    let rows = Row::find_by_statement(stmt(
        "WITH turn AS (
             SELECT id, schema_name, created_at, 0 AS lap FROM public.tenants
              WHERE $1::timestamptz IS NULL OR (created_at, id) > ($1, $2)
             UNION ALL
             SELECT id, schema_name, created_at, 1 FROM public.tenants WHERE $1::timestamptz IS NOT NULL)
         SELECT id, schema_name, created_at FROM turn ORDER BY lap, created_at, id
          LIMIT (SELECT least(count(*), ceil(count(*) * greatest($3::float8, 0)))::bigint FROM public.tenants)",
        vec![after.map(|m| m.created_at).into(), after.map(|m| m.id).into(), share.into()],
    ))
    .all(db)
    .await?;
    let mark = rows.last().map(|r| RotationMark { created_at: r.created_at, id: r.id }).or(after);
    let tenants = rows.into_iter().map(|r| Tenant::new(r.id, r.schema_name)).collect::<Result<_, _>>()?;
    Ok((tenants, mark))
}

/// Clears the business's busy mark when it has no work left; true when it did.
/// (A run committed while this looked is found when the rotation of
/// `next_in_rotation` comes back to the business.)
pub async fn rest_if_idle(db: &DatabaseConnection, tenant: &Tenant) -> Result<bool, DbErr> {
    let txn = tenant.begin(db).await?;
    let idle: bool = crate::db::scalar(
        &txn,
        stmt(
            "SELECT NOT EXISTS (SELECT 1 FROM runs WHERE status IN ('queued', 'running'))
                AND NOT EXISTS (SELECT 1 FROM review_tasks WHERE status = 'open')
                AND NOT EXISTS (SELECT 1 FROM outbox WHERE status IN ('pending', 'sending'))
                AND NOT EXISTS (SELECT 1 FROM replays WHERE status IN ('queued', 'running'))
                AND NOT EXISTS (SELECT 1 FROM slack_messages m JOIN review_tasks t ON t.id = m.task_id
                                 WHERE m.status IN ('pending', 'posting')
                                    OR (m.status = 'posted' AND NOT m.outcome_shown AND t.status = 'decided')) AS value",
            vec![],
        ),
    )
    .await?
    .unwrap_or(false);
    if idle {
        txn.execute_raw(stmt("UPDATE public.tenants SET busy_since = NULL WHERE id = $1", vec![tenant.id().into()]))
            .await?;
    }
    txn.commit().await?;
    Ok(idle)
}

/// The business with this id, for a job that carries only the id.
pub async fn by_id(db: &DatabaseConnection, id: Uuid) -> Result<Tenant, DbErr> {
    let schema: String =
        crate::db::scalar(db, stmt("SELECT schema_name AS value FROM public.tenants WHERE id = $1", vec![id.into()]))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("business {id}")))?;
    Tenant::new(id, schema)
}

/// The business's address in URLs (`/t/<slug>/…`), for links in its emails.
pub async fn slug_of(db: &DatabaseConnection, tenant: &Tenant) -> Result<String, DbErr> {
    crate::db::scalar(db, stmt("SELECT slug AS value FROM public.tenants WHERE id = $1", vec![tenant.id().into()]))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("business {}", tenant.id())))
}

/// The business at `slug` as a `Tenant`, for a door whose caller proved who they are another way.
pub(crate) async fn tenant_at(db: &DatabaseConnection, slug: &str) -> Result<Option<(Tenant, tenant::Model)>, DbErr> {
    match find_by_slug(db, slug).await? {
        Some(row) => Ok(Some((Tenant::new(row.id, row.schema_name.clone())?, row))),
        None => Ok(None),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("the sign-up form has problems")]
    Fields(Vec<FieldError>),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

#[derive(Debug, Clone)]
pub struct NewBusiness {
    pub tenant: tenant::Model,
    pub owner: user::Model,
}

pub async fn find_by_slug(db: &DatabaseConnection, slug: &str) -> Result<Option<tenant::Model>, DbErr> {
    tenant::Entity::find().filter(tenant::Column::Slug.eq(slug)).one(db).await
}

/// Who owns a business being opened.
#[derive(Debug, Clone)]
pub enum Owner {
    /// A new account with this email and password hash.
    New { email: String, password_hash: String },
    /// An account that already exists (its password and second factor stay).
    Existing { user_id: Uuid },
}

/// Creates the business, its schema (with every tenant migration) and the
/// owner's account and membership, hashing the password given.
pub async fn create_business(db: &DatabaseConnection, signup: &ValidSignup) -> Result<NewBusiness, SignupError> {
    if user::Entity::find().filter(user::Column::Email.eq(signup.email.as_str())).one(db).await?.is_some() {
        let mut errors = vec![email_taken()];
        if find_by_slug(db, signup.slug.as_str()).await?.is_some() {
            errors.insert(0, slug_taken());
        }
        return Err(SignupError::Fields(errors));
    }
    let password_hash = hash_password(&signup.password).await?;
    let owner = Owner::New { email: signup.email.as_str().to_owned(), password_hash };
    open_business(db, &signup.business_name, &signup.slug, owner).await
}

/// Argon2 off the async threads.
pub async fn hash_password(password: &str) -> Result<String, DbErr> {
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| DbErr::Custom(format!("password hashing task failed: {e}")))
}

/// Creates the business, its schema and the owner's membership (and the
/// owner's account when new), all in one transaction.
pub async fn open_business(
    db: &DatabaseConnection,
    business_name: &str,
    slug: &TenantSlug,
    owner: Owner,
) -> Result<NewBusiness, SignupError> {
    if find_by_slug(db, slug.as_str()).await?.is_some() {
        return Err(SignupError::Fields(vec![slug_taken()]));
    }
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    let result = async {
        let tenant = tenant::ActiveModel {
            id: Set(Uuid::new_v4()),
            slug: Set(slug.as_str().to_owned()),
            name: Set(business_name.to_owned()),
            schema_name: Set(slug.schema_name()),
            time_zone: Set("UTC".into()),
            currency: Set("USD".into()),
            created_at: Set(now),
            require_two_factor: Set(false),
        }
        .insert(&txn)
        .await?;
        let owner = match owner {
            Owner::New { email, password_hash } => {
                user::ActiveModel {
                    id: Set(Uuid::new_v4()),
                    email: Set(email),
                    password_hash: Set(password_hash),
                    created_at: Set(now),
                }
                .insert(&txn)
                .await?
            }
            Owner::Existing { user_id } => user::Entity::find_by_id(user_id)
                .one(&txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound(format!("user {user_id}")))?,
        };
        membership::ActiveModel {
            user_id: Set(owner.id),
            tenant_id: Set(tenant.id),
            role: Set(Role::Owner.as_str().into()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        migrations::open_tenant_schema(&txn, &tenant.schema_name).await?;
        crate::audit::record(
            &txn,
            None,
            "business.created",
            &tenant.name,
            serde_json::json!({ "owner": owner.email, "slug": tenant.slug }),
        )
        .await?;
        Ok::<_, DbErr>(NewBusiness { tenant, owner })
    }
    .await;
    match result {
        Ok(created) => {
            txn.commit().await.map_err(map_race)?;
            Ok(created)
        }
        Err(e) => {
            txn.rollback().await.ok();
            Err(map_race(e))
        }
    }
}

pub(crate) fn slug_taken() -> FieldError {
    FieldError::new("slug", "This address is already taken; choose another.")
}

fn email_taken() -> FieldError {
    FieldError::new("email", "An account with this email already exists; sign in instead.")
}

/// Two sign-ups racing for the same slug or email: the loser gets the same
/// field error the early check would have given.
fn map_race(e: DbErr) -> SignupError {
    if is_unique_violation(&e, "tenants_slug_key") || is_unique_violation(&e, "tenants_schema_name_key") {
        SignupError::Fields(vec![slug_taken()])
    } else if is_unique_violation(&e, "users_email_key") {
        SignupError::Fields(vec![email_taken()])
    } else if e.to_string().contains("already exists") && e.to_string().contains("schema") {
        SignupError::Fields(vec![slug_taken()])
    } else {
        SignupError::Storage(e)
    }
}

/// Parses a slug from the URL, treating a malformed one as "no such business".
pub fn parse_slug(raw: &str) -> Option<TenantSlug> {
    TenantSlug::parse(raw).ok()
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error("Type the business's address ({0}) to confirm.")]
    NotConfirmed(String),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Deletes the business and everything it owns, for its owner, once they
/// typed its address: the deletion (who, when, the audit chain's head) is
/// recorded in the public schema, the business's schema is dropped, its
/// memberships, sessions, invitations and tokens go with it, and so do the
/// accounts of people who belonged to no other business. One transaction.
pub async fn delete_business(
    db: &DatabaseConnection,
    owner: &CurrentMember,
    confirmation: &str,
) -> Result<(), DeleteError> {
    if confirmation.trim() != owner.tenant_slug {
        return Err(DeleteError::NotConfirmed(owner.tenant_slug.clone()));
    }
    let head = crate::audit::verify(db, &owner.tenant).await?;
    let (events, head) = match head {
        crate::audit::ChainVerdict::Intact { events, head } => (events, head),
        crate::audit::ChainVerdict::Broken { seq, reason, .. } => (seq, format!("broken at event {seq}: {reason}")),
    };
    let schema = owner.tenant.schema().to_owned();
    let txn = db.begin().await?;
    txn.execute_raw(stmt(
        "INSERT INTO public.deleted_businesses (tenant_id, slug, name, deleted_by, audit_events, audit_head)
         VALUES ($1, $2, $3, $4, $5, $6)",
        vec![
            owner.tenant.id().into(),
            owner.tenant_slug.clone().into(),
            owner.tenant_name.clone().into(),
            owner.email.clone().into(),
            events.into(),
            head.into(),
        ],
    ))
    .await?;
    // Who belonged to it, before the memberships go with the business.
    txn.execute_unprepared("CREATE TEMPORARY TABLE leaving (user_id uuid) ON COMMIT DROP").await?;
    txn.execute_raw(stmt(
        "INSERT INTO leaving SELECT user_id FROM public.memberships WHERE tenant_id = $1",
        vec![owner.tenant.id().into()],
    ))
    .await?;
    // The name was checked when the Tenant was made; identifiers cannot be bound.
    if !engine::tenant::is_tenant_schema_name(&schema) {
        return Err(DbErr::Custom(format!("refusing invalid tenant schema name {schema:?}")).into());
    }
    txn.execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await?;
    txn.execute_raw(stmt("DELETE FROM public.tenants WHERE id = $1", vec![owner.tenant.id().into()])).await?;
    // Accounts that now belong to no business (and made no token elsewhere) go too.
    txn.execute_unprepared(
        "DELETE FROM public.users u WHERE u.id IN (SELECT user_id FROM leaving)
            AND NOT EXISTS (SELECT 1 FROM public.memberships m WHERE m.user_id = u.id)
            AND NOT EXISTS (SELECT 1 FROM public.api_tokens t WHERE t.created_by = u.id OR t.revoked_by = u.id)",
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
