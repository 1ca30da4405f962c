//! Signing in to one business with email and password.

use crate::{
    auth,
    config::Settings,
    entities::{membership, user},
    password,
    tenants::find_by_slug,
    throttle::{LoginThrottle, ThrottleCheck},
};
use sea_orm::{prelude::*, DatabaseConnection};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SignInError {
    #[error("No business uses this address.")]
    UnknownBusiness,
    /// Deliberately the same whether the email exists, is not a member, or the password is wrong.
    #[error("That email and password do not match an account of this business.")]
    BadCredentials,
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

/// Returns the session token to put in the cookie.
pub async fn sign_in(
    db: &DatabaseConnection,
    settings: &Settings,
    throttle: &LoginThrottle,
    slug: &str,
    email: &str,
    password_attempt: &str,
    client_address: &str,
) -> Result<String, SignInError> {
    let tenant = find_by_slug(db, slug.trim()).await?.ok_or(SignInError::UnknownBusiness)?;
    let email = email.trim().to_lowercase();
    match throttle.check(&tenant.slug, &email, client_address).await {
        Ok(()) => {}
        Err(ThrottleCheck::Throttled(t)) => return Err(SignInError::Throttled(t.message())),
        Err(ThrottleCheck::Redis(e)) => return Err(e.into()),
    }
    let account = user::Entity::find().filter(user::Column::Email.eq(&email)).one(db).await?;
    let member = match &account {
        Some(u) => membership::Entity::find_by_id((u.id, tenant.id)).one(db).await?,
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
    match (account, member, matches) {
        (Some(u), Some(_), true) => {
            throttle.clear_account(&tenant.slug, &email).await?;
            Ok(auth::start_session(db, settings, u.id, tenant.id).await?)
        }
        _ => {
            throttle.record_failure(&tenant.slug, &email, client_address).await?;
            Err(SignInError::BadCredentials)
        }
    }
}
