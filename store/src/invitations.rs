//! Invitations: a signed, expiring, single-use link that lets a person join
//! a business with a role.

use crate::{
    audit,
    auth::CurrentMember,
    config::Settings,
    db::set_tenant_search_path,
    entities::{invitation, membership, tenant, user},
    password,
};
use chrono::{Duration, Utc};
use engine::{password::weakness, Email, FieldError, Role};
use hmac::{Hmac, Mac};
use sea_orm::{prelude::*, ActiveValue::Set, DatabaseConnection, QuerySelect, TransactionTrait};
use serde_json::json;
use sha2::Sha256;

#[derive(Debug, Clone)]
pub struct CreatedInvitation {
    pub invitation: invitation::Model,
    /// The absolute link in the email.
    pub link: String,
    /// The invitation email, written to the outbox with the invitation (its id, the email).
    pub mail: (Uuid, crate::outbox::OutboxEmail),
}

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("the invitation form has problems")]
    Fields(Vec<FieldError>),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

fn mac_for(secret: &[u8], id: Uuid) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"steward-invitation:");
    mac.update(id.as_bytes());
    mac
}

/// The token in an invitation link: the invitation id and its signature.
pub fn token_for(settings: &Settings, id: Uuid) -> String {
    format!("{}.{}", id.simple(), hex::encode(mac_for(&settings.app_secret, id).finalize().into_bytes()))
}

fn verify_token(settings: &Settings, token: &str) -> Option<Uuid> {
    let (id, sig) = token.split_once('.')?;
    let id = Uuid::try_parse(id).ok()?;
    // Constant-time comparison through the MAC's own verifier.
    let given = hex::decode(sig).ok()?;
    settings.signing_secrets().any(|secret| mac_for(secret, id).verify_slice(&given).is_ok()).then_some(id)
}

pub async fn invite(
    db: &DatabaseConnection,
    settings: &Settings,
    actor: &CurrentMember,
    email: &str,
    role: &str,
    letter: impl FnOnce(&invitation::Model, &str) -> crate::outbox::OutboxEmail,
) -> Result<CreatedInvitation, InviteError> {
    let mut errors = Vec::new();
    let email = Email::parse(email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
    let role = Role::parse(role).map_err(|m| errors.push(FieldError::new("role", m))).ok();
    let (Some(email), Some(role)) = (email, role) else { return Err(InviteError::Fields(errors)) };
    if let Some(existing) = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(db).await? {
        if membership::Entity::find_by_id((existing.id, actor.tenant.id())).one(db).await?.is_some() {
            return Err(InviteError::Fields(vec![FieldError::new("email", "This person is already a member.")]));
        }
    }
    let txn = actor.tenant.begin(db).await?;
    // A new invitation replaces any earlier one for the same address.
    invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(invitation::Column::TenantId.eq(actor.tenant.id()))
        .filter(invitation::Column::Email.eq(email.as_str()))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let now = Utc::now();
    let invitation = invitation::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(actor.tenant.id()),
        email: Set(email.as_str().to_owned()),
        role: Set(role.as_str().to_owned()),
        invited_by: Set(Some(actor.user_id)),
        created_at: Set(now),
        expires_at: Set(now + Duration::hours(settings.invitation_hours)),
        accepted_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, Some(actor), "member.invited", email.as_str(), json!({ "role": role.as_str() })).await?;
    let link = settings.link(&format!("/invite/{}", token_for(settings, invitation.id)));
    let mail = letter(&invitation, &link);
    let ids = crate::outbox::insert(&txn, None, std::slice::from_ref(&mail)).await?;
    txn.commit().await?;
    Ok(CreatedInvitation { invitation, link, mail: (ids[0], mail) })
}

/// Why an invitation link cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InvitationProblem {
    #[error("This invitation link is not valid. Check that you copied the whole link.")]
    Tampered,
    #[error("This invitation has expired. Ask the business owner to invite you again.")]
    Expired,
    #[error("This invitation has already been used. Sign in instead.")]
    Used,
    #[error("This invitation was withdrawn. Ask the business owner to invite you again.")]
    Withdrawn,
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<DbErr> for InvitationProblem {
    fn from(e: DbErr) -> Self {
        InvitationProblem::Storage(e.to_string())
    }
}

/// What the invitation page shows before it is accepted.
#[derive(Debug, Clone)]
pub struct InvitationView {
    pub invitation: invitation::Model,
    pub business_name: String,
    pub business_slug: String,
    /// Whether the invited email already has an account (then the page asks
    /// for its password instead of a new one).
    pub has_account: bool,
}

fn usable(inv: &invitation::Model) -> Result<(), InvitationProblem> {
    if inv.accepted_at.is_some() {
        return Err(InvitationProblem::Used);
    }
    if inv.revoked_at.is_some() {
        return Err(InvitationProblem::Withdrawn);
    }
    if inv.expires_at <= Utc::now() {
        return Err(InvitationProblem::Expired);
    }
    Ok(())
}

pub async fn inspect(
    db: &DatabaseConnection,
    settings: &Settings,
    token: &str,
) -> Result<InvitationView, InvitationProblem> {
    let id = verify_token(settings, token).ok_or(InvitationProblem::Tampered)?;
    let inv = invitation::Entity::find_by_id(id).one(db).await?.ok_or(InvitationProblem::Tampered)?;
    usable(&inv)?;
    let business = tenant::Entity::find_by_id(inv.tenant_id).one(db).await?.ok_or(InvitationProblem::Withdrawn)?;
    let has_account = user::Entity::find().filter(user::Column::Email.eq(&inv.email)).one(db).await?.is_some();
    Ok(InvitationView { invitation: inv, business_name: business.name, business_slug: business.slug, has_account })
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AcceptError {
    #[error(transparent)]
    Problem(#[from] InvitationProblem),
    #[error("{}", .0.message)]
    Field(FieldError),
}

impl From<DbErr> for AcceptError {
    fn from(e: DbErr) -> Self {
        AcceptError::Problem(e.into())
    }
}

/// Accepts an invitation: sets the new member's password (or checks the
/// existing account's), adds the membership and marks the link used, in one
/// transaction that locks the invitation so the link works exactly once.
/// Returns `(user_id, tenant_id)` for starting a session.
pub async fn accept(
    db: &DatabaseConnection,
    settings: &Settings,
    token: &str,
    password_attempt: &str,
) -> Result<(Uuid, Uuid), AcceptError> {
    let id = verify_token(settings, token).ok_or(InvitationProblem::Tampered)?;
    let txn = db.begin().await?;
    let inv =
        invitation::Entity::find_by_id(id).lock_exclusive().one(&txn).await?.ok_or(InvitationProblem::Tampered)?;
    usable(&inv)?;
    let business = tenant::Entity::find_by_id(inv.tenant_id).one(&txn).await?.ok_or(InvitationProblem::Withdrawn)?;
    let existing = user::Entity::find().filter(user::Column::Email.eq(&inv.email)).one(&txn).await?;
    let user_id = match existing {
        Some(account) => {
            let (attempt, stored) = (password_attempt.to_owned(), account.password_hash.clone());
            let ok = tokio::task::spawn_blocking(move || password::verify(&attempt, &stored)).await.unwrap_or(false);
            if !ok {
                return Err(AcceptError::Field(FieldError::new(
                    "password",
                    "This is not the password of your existing Steward account.",
                )));
            }
            account.id
        }
        None => {
            if let Some(reason) = weakness(password_attempt, &inv.email) {
                return Err(AcceptError::Field(FieldError::new("password", reason)));
            }
            let pw = password_attempt.to_owned();
            let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
                .await
                .map_err(|e| DbErr::Custom(e.to_string()))?;
            user::ActiveModel {
                id: Set(Uuid::new_v4()),
                email: Set(inv.email.clone()),
                password_hash: Set(hash),
                created_at: Set(Utc::now()),
            }
            .insert(&txn)
            .await?
            .id
        }
    };
    membership::ActiveModel {
        user_id: Set(user_id),
        tenant_id: Set(inv.tenant_id),
        role: Set(inv.role.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(Utc::now()))
        .filter(invitation::Column::Id.eq(inv.id))
        .exec(&txn)
        .await?;
    set_tenant_search_path(&txn, &business.schema_name).await?;
    audit::record(&txn, None, "member.joined", &inv.email, json!({ "role": inv.role })).await?;
    txn.commit().await?;
    Ok((user_id, inv.tenant_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_with_its_own_signature() {
        let settings = Settings::for_development("x".into(), "y".into());
        let id = Uuid::new_v4();
        let token = token_for(&settings, id);
        assert_eq!(verify_token(&settings, &token), Some(id));
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('0') { '1' } else { '0' });
        assert_eq!(verify_token(&settings, &tampered), None);
        let other = Uuid::new_v4();
        let forged = format!("{}.{}", other.simple(), token.split_once('.').unwrap().1);
        assert_eq!(verify_token(&settings, &forged), None);
    }
}
