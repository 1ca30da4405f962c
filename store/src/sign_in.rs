//! Signing in to one business with email and password.

use crate::{
    audit, auth,
    config::Settings,
    entities::{membership, user},
    password,
    tenants::find_by_slug,
    throttle::{LoginThrottle, ThrottleCheck},
    two_factor,
};
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};
use serde_json::json;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SignInError {
    #[error("No business uses this address.")]
    UnknownBusiness,
    /// Deliberately the same whether the email exists, is not a member, or the password is wrong.
    #[error("That email and password do not match an account of this business.")]
    BadCredentials,
    #[error("That code is not right. Type the six digits your authenticator app shows now, or a recovery code.")]
    WrongCode,
    #[error("Your sign-in took too long or was already used. Start again with your password.")]
    StartAgain,
    #[error("{0}")]
    Throttled(String),
    #[error("sign-in is unavailable right now: {0}")]
    Unavailable(String),
}

impl From<DbErr> for SignInError {
    fn from(e: DbErr) -> Self {
        SignInError::Unavailable(e.to_string())
    }
}

impl From<redis::RedisError> for SignInError {
    fn from(e: redis::RedisError) -> Self {
        SignInError::Unavailable(e.to_string())
    }
}

/// Where a sign-in stands after a step.
#[derive(Debug, PartialEq)]
pub enum SignInStep {
    /// Signed in: the session token for the cookie.
    SignedIn(String),
    /// The password was right; the person's authenticator code (or a recovery
    /// code) is next. The token is for the pending-sign-in cookie.
    CodeNeeded(String),
    /// The password was right and the business requires a second factor the
    /// person has not set up yet: set-up comes next, with this pending token.
    SetUpNeeded(String),
}

/// Records a sign-in event in the business's audit log.
async fn audit_sign_in(
    db: &DatabaseConnection,
    tenant: &crate::tenant::Tenant,
    person: Option<audit::Person<'_>>,
    action: &str,
    email: &str,
    why: &str,
    client_address: &str,
) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    audit::record_by(&txn, person, "sign-in", action, email, why, serde_json::json!({ "address": client_address }))
        .await?;
    txn.commit().await
}

/// The first step: business, email and password. Every outcome is audited.
pub async fn sign_in(
    db: &DatabaseConnection,
    settings: &Settings,
    throttle: &LoginThrottle,
    slug: &str,
    email: &str,
    password_attempt: &str,
    client_address: &str,
) -> Result<SignInStep, SignInError> {
    let row = find_by_slug(db, slug.trim()).await?.ok_or(SignInError::UnknownBusiness)?;
    let tenant = crate::tenant::Tenant::new(row.id, row.schema_name.clone())?;
    let email = email.trim().to_lowercase();
    match throttle.check(&row.slug, &email, client_address).await {
        Ok(()) => {}
        Err(ThrottleCheck::Throttled(t)) => {
            audit_sign_in(db, &tenant, None, "sign_in.throttled", &email, "too many attempts", client_address).await?;
            return Err(SignInError::Throttled(t.message()));
        }
        Err(ThrottleCheck::Redis(e)) => return Err(e.into()),
    }
    let account = user::Entity::find().filter(user::Column::Email.eq(&email)).one(db).await?;
    let member = match &account {
        Some(u) => membership::Entity::find_by_id((u.id, row.id)).one(db).await?,
        None => None,
    };
    // Verify against a decoy hash when there is no such member, so timing
    // does not reveal which emails have accounts.
    let stored = match (&account, &member) {
        (Some(u), Some(_)) => u.password_hash.clone(),
        _ => password::decoy_hash().to_owned(),
    };
    let attempt = password_attempt.to_owned();
    let matches = tokio::task::spawn_blocking(move || password::verify(&attempt, &stored))
        .await
        .map_err(|e| SignInError::Unavailable(e.to_string()))?;
    let user = match (account, member, matches) {
        (Some(u), Some(_), true) => u,
        _ => {
            throttle.record_failure(&row.slug, &email, client_address).await?;
            audit_sign_in(db, &tenant, None, "sign_in.failed", &email, "wrong email or password", client_address)
                .await?;
            return Err(SignInError::BadCredentials);
        }
    };
    let person = Some(audit::Person { user_id: user.id, email: &email });
    if two_factor::is_enabled(db, user.id).await? {
        audit_sign_in(db, &tenant, person, "sign_in.password_accepted", &email, "second factor next", client_address)
            .await?;
        return Ok(SignInStep::CodeNeeded(auth::pending_token(settings, user.id, row.id)?));
    }
    if row.require_two_factor {
        audit_sign_in(
            db,
            &tenant,
            person,
            "sign_in.password_accepted",
            &email,
            "second factor set-up next",
            client_address,
        )
        .await?;
        return Ok(SignInStep::SetUpNeeded(auth::pending_token(settings, user.id, row.id)?));
    }
    throttle.clear_account(&row.slug, &email).await?;
    audit_sign_in(db, &tenant, person, "sign_in.succeeded", &email, "password", client_address).await?;
    Ok(SignInStep::SignedIn(auth::start_session(db, settings, user.id, row.id).await?))
}

/// A pending sign-in's person and business, still a member.
struct Pending {
    user_id: Uuid,
    email: String,
    slug: String,
    tenant: crate::tenant::Tenant,
}

async fn pending(db: &DatabaseConnection, settings: &Settings, token: Option<&str>) -> Result<Pending, SignInError> {
    let claims = token.and_then(|t| auth::read_pending(settings, t)).ok_or(SignInError::StartAgain)?;
    let member = auth::MemberRow::find_by_statement(crate::db::stmt(
        r#"SELECT u.id AS user_id, u.email, t.id AS tenant_id, t.slug, t.name, t.schema_name, m.role
             FROM public.users u
             JOIN public.memberships m ON m.user_id = u.id
             JOIN public.tenants t ON t.id = m.tenant_id
            WHERE u.id = $1 AND t.id = $2"#,
        vec![claims.sub.into(), claims.tid.into()],
    ))
    .one(db)
    .await?
    .ok_or(SignInError::StartAgain)?;
    let tenant = crate::tenant::Tenant::new(member.tenant_id, member.schema_name)?;
    Ok(Pending { user_id: member.user_id, email: member.email, slug: member.slug, tenant })
}

/// A session started by the second step: its token and the business's address.
#[derive(Debug)]
pub struct Session {
    pub token: String,
    pub slug: String,
}

/// The second step: an authenticator code or a recovery code, under the same
/// throttle as passwords.
pub async fn second_factor(
    db: &DatabaseConnection,
    settings: &Settings,
    throttle: &LoginThrottle,
    pending_token: Option<&str>,
    code: &str,
    client_address: &str,
) -> Result<Session, SignInError> {
    let p = pending(db, settings, pending_token).await?;
    match throttle.check(&p.slug, &p.email, client_address).await {
        Ok(()) => {}
        Err(ThrottleCheck::Throttled(t)) => {
            audit_sign_in(
                db,
                &p.tenant,
                None,
                "sign_in.throttled",
                &p.email,
                "too many second-factor attempts",
                client_address,
            )
            .await?;
            return Err(SignInError::Throttled(t.message()));
        }
        Err(ThrottleCheck::Redis(e)) => return Err(e.into()),
    }
    let person = Some(audit::Person { user_id: p.user_id, email: &p.email });
    match two_factor::check(db, settings, p.user_id, code).await.map_err(two_factor_error)? {
        Some(used) => {
            throttle.clear_account(&p.slug, &p.email).await?;
            audit_sign_in(db, &p.tenant, person, "sign_in.succeeded", &p.email, used.as_str(), client_address).await?;
            Ok(Session { token: auth::start_session(db, settings, p.user_id, p.tenant.id()).await?, slug: p.slug })
        }
        None => {
            throttle.record_failure(&p.slug, &p.email, client_address).await?;
            audit_sign_in(db, &p.tenant, person, "sign_in.failed", &p.email, "wrong second factor", client_address)
                .await?;
            Err(SignInError::WrongCode)
        }
    }
}

fn two_factor_error(e: two_factor::TwoFactorError) -> SignInError {
    match e {
        two_factor::TwoFactorError::Storage(e) => e.into(),
        other => SignInError::Unavailable(other.to_string()),
    }
}

/// Set-up during a sign-in the business requires a second factor for: the secret to scan.
pub async fn set_up_start(
    db: &DatabaseConnection,
    settings: &Settings,
    pending_token: Option<&str>,
) -> Result<two_factor::Enrolment, SignInError> {
    let p = pending(db, settings, pending_token).await?;
    two_factor::start(db, settings, p.user_id).await.map_err(two_factor_error)
}

/// Confirms that set-up with a code, and signs in: the session and the recovery codes.
pub async fn set_up_confirm(
    db: &DatabaseConnection,
    settings: &Settings,
    throttle: &LoginThrottle,
    pending_token: Option<&str>,
    code: &str,
    client_address: &str,
) -> Result<(Session, Vec<String>), SignInError> {
    let p = pending(db, settings, pending_token).await?;
    if let Err(ThrottleCheck::Throttled(t)) = throttle.check(&p.slug, &p.email, client_address).await {
        return Err(SignInError::Throttled(t.message()));
    }
    let person = Some(audit::Person { user_id: p.user_id, email: &p.email });
    let codes = match two_factor::confirm(db, settings, p.user_id, code).await {
        Ok(codes) => codes,
        Err(two_factor::TwoFactorError::WrongCode) => {
            throttle.record_failure(&p.slug, &p.email, client_address).await?;
            return Err(SignInError::WrongCode);
        }
        Err(e) => return Err(two_factor_error(e)),
    };
    let txn = p.tenant.begin(db).await?;
    audit::record_by(&txn, person, "sign-in", "two_factor.enabled", &p.email, "set up while signing in", json!({}))
        .await?;
    audit::record_by(
        &txn,
        person,
        "sign-in",
        "sign_in.succeeded",
        &p.email,
        "authenticator code",
        json!({ "address": client_address }),
    )
    .await?;
    txn.commit().await?;
    throttle.clear_account(&p.slug, &p.email).await?;
    let token = auth::start_session(db, settings, p.user_id, p.tenant.id()).await?;
    Ok((Session { token, slug: p.slug }, codes))
}
