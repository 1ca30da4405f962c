//! Who is asking: signed session tokens, the server-side session record that
//! makes sign-out real, and the member (user + business + role) behind them.

use crate::{config::Settings, entities::session, tenant::Tenant};
use chrono::{Duration, Utc};
use engine::{Page, Role};
use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::{
    prelude::*, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement,
};
use serde::{Deserialize, Serialize};

pub const SESSION_COOKIE: &str = "steward_session";
/// Holds a sign-in that passed the password and waits for the second factor.
pub const PENDING_COOKIE: &str = "steward_pending";
const ISSUER: &str = "steward";
/// How long a person has to type their second factor after the password.
pub const PENDING_MINUTES: i64 = 10;

/// The claims inside the session cookie. `sid` names the server-side session row.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionClaims {
    pub sub: Uuid,
    pub tid: Uuid,
    pub sid: Uuid,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// A signed-in person acting in one business.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentMember {
    pub user_id: Uuid,
    pub email: String,
    pub session_id: Uuid,
    /// The business, for every unit of work done on the member's behalf.
    pub tenant: Tenant,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub role: Role,
}

impl CurrentMember {
    pub fn may_open(&self, page: Page) -> bool {
        page.allows(self.role)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    #[error("not signed in")]
    NotSignedIn,
    #[error("the session has expired")]
    Expired,
    #[error("the session token is not valid")]
    Invalid,
    #[error("the session has been signed out")]
    Revoked,
    #[error("signed in to a different business")]
    OtherBusiness,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<DbErr> for AuthError {
    fn from(e: DbErr) -> Self {
        AuthError::Storage(e.to_string())
    }
}

impl AuthError {
    /// Whether the person should be sent to sign in (401) rather than told no (403).
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, AuthError::NotSignedIn | AuthError::Expired | AuthError::Invalid | AuthError::Revoked)
    }
}

/// Records a new session and returns the signed token for its cookie.
pub async fn start_session(
    db: &DatabaseConnection,
    settings: &Settings,
    user_id: Uuid,
    tenant_id: Uuid,
) -> Result<String, DbErr> {
    let now = Utc::now();
    let expires = now + Duration::hours(settings.session_hours);
    let sid = Uuid::new_v4();
    session::ActiveModel {
        id: Set(sid),
        user_id: Set(user_id),
        tenant_id: Set(tenant_id),
        created_at: Set(now),
        expires_at: Set(expires),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    let claims = SessionClaims {
        sub: user_id,
        tid: tenant_id,
        sid,
        iss: ISSUER.into(),
        iat: now.timestamp(),
        exp: expires.timestamp(),
    };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&settings.app_secret))
        .map_err(|e| DbErr::Custom(format!("signing the session token failed: {e}")))
}

/// Checks the signature (current or previous signing secret) and expiry of a session token.
pub fn read_token(settings: &Settings, token: &str) -> Result<SessionClaims, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.leeway = 0;
    let mut outcome = Err(AuthError::Invalid);
    for secret in settings.signing_secrets() {
        outcome = decode::<SessionClaims>(token, &DecodingKey::from_secret(secret), &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            });
        if !matches!(outcome, Err(AuthError::Invalid)) {
            break;
        }
    }
    outcome
}

/// A member of a business as the membership tables hold them.
#[derive(Debug, FromQueryResult)]
pub(crate) struct MemberRow {
    pub(crate) user_id: Uuid,
    pub(crate) email: String,
    pub(crate) tenant_id: Uuid,
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) schema_name: String,
    pub(crate) role: String,
}

impl MemberRow {
    pub(crate) fn into_member(self, session_id: Uuid) -> Result<CurrentMember, AuthError> {
        Ok(CurrentMember {
            user_id: self.user_id,
            email: self.email,
            session_id,
            tenant: Tenant::new(self.tenant_id, self.schema_name)?,
            tenant_slug: self.slug,
            tenant_name: self.name,
            role: Role::parse(&self.role).map_err(|_| AuthError::Invalid)?,
        })
    }
}

/// A session's member and whether the session still holds.
#[derive(Debug, FromQueryResult)]
struct SessionRow {
    #[sea_orm(nested)]
    member: MemberRow,
    revoked: bool,
    expired: bool,
}

/// The member behind a session token, checked against the server-side record
/// (revoked or expired sessions and removed members are refused).
pub async fn resolve_session(
    db: &DatabaseConnection,
    settings: &Settings,
    token: &str,
) -> Result<CurrentMember, AuthError> {
    let claims = read_token(settings, token)?;
    let row = SessionRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT s.user_id, u.email, s.tenant_id, t.slug, t.name, t.schema_name, m.role,
                  s.revoked_at IS NOT NULL AS revoked, s.expires_at <= now() AS expired
             FROM public.sessions s
             JOIN public.users u ON u.id = s.user_id
             JOIN public.tenants t ON t.id = s.tenant_id
             JOIN public.memberships m ON m.user_id = s.user_id AND m.tenant_id = s.tenant_id
            WHERE s.id = $1"#,
        [claims.sid.into()],
    ))
    .one(db)
    .await?
    .ok_or(AuthError::Revoked)?;
    if row.revoked {
        return Err(AuthError::Revoked);
    }
    if row.expired {
        return Err(AuthError::Expired);
    }
    if row.member.user_id != claims.sub || row.member.tenant_id != claims.tid {
        return Err(AuthError::Invalid);
    }
    row.member.into_member(claims.sid)
}

/// The member, if they belong to the business at `slug` and their role may open `page`.
pub async fn authorize(
    db: &DatabaseConnection,
    settings: &Settings,
    token: Option<&str>,
    slug: &str,
    page: Page,
) -> Result<CurrentMember, AuthError> {
    let member = resolve_session(db, settings, token.ok_or(AuthError::NotSignedIn)?).await?;
    if member.tenant_slug != slug {
        return Err(AuthError::OtherBusiness);
    }
    if !member.may_open(page) {
        return Err(AuthError::Forbidden);
    }
    Ok(member)
}

pub async fn end_session(db: &DatabaseConnection, session_id: Uuid) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of a person in one business ("sign out everywhere",
/// and what removing a member does).
pub async fn end_all_sessions<C: ConnectionTrait>(db: &C, user_id: Uuid, tenant_id: Uuid) -> Result<u64, DbErr> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// A sign-in between the password and the second factor: who, where, until when.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingClaims {
    pub sub: Uuid,
    pub tid: Uuid,
    /// Always `second_factor`, so a pending token can never pass for a session token (which has `sid`).
    pub purpose: String,
    pub iss: String,
    pub exp: i64,
}

const PENDING_PURPOSE: &str = "second_factor";

/// A signed token for the pending-sign-in cookie.
pub fn pending_token(settings: &Settings, user_id: Uuid, tenant_id: Uuid) -> Result<String, DbErr> {
    let claims = PendingClaims {
        sub: user_id,
        tid: tenant_id,
        purpose: PENDING_PURPOSE.into(),
        iss: ISSUER.into(),
        exp: (Utc::now() + Duration::minutes(PENDING_MINUTES)).timestamp(),
    };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&settings.app_secret))
        .map_err(|e| DbErr::Custom(format!("signing the sign-in token failed: {e}")))
}

/// The pending sign-in, if the token is genuine, current and for a second factor.
pub fn read_pending(settings: &Settings, token: &str) -> Option<PendingClaims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.leeway = 0;
    decode::<PendingClaims>(token, &DecodingKey::from_secret(&settings.app_secret), &validation)
        .ok()
        .map(|d| d.claims)
        .filter(|c| c.purpose == PENDING_PURPOSE)
}

/// The `Set-Cookie` value holding a pending sign-in (or clearing it, with `None`).
pub fn pending_cookie(settings: &Settings, token: Option<&str>) -> String {
    format!(
        "{PENDING_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        token.unwrap_or(""),
        if token.is_some() { PENDING_MINUTES * 60 } else { 0 },
        if settings.is_https() { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value carrying a session token.
pub fn session_cookie(settings: &Settings, token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        settings.session_hours * 3600,
        if settings.is_https() { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_session_cookie(settings: &Settings) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if settings.is_https() { "; Secure" } else { "" }
    )
}

/// The session token from a `Cookie` header value.
pub fn token_from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|pair| {
        pair.strip_prefix(SESSION_COOKIE).and_then(|rest| rest.strip_prefix('=')).filter(|v| !v.is_empty())
    })
}

/// The member with this email in business `slug`, for command-line work that
/// acts as a person (the change log records them).
pub async fn member_by_email(db: &DatabaseConnection, slug: &str, email: &str) -> Result<CurrentMember, AuthError> {
    let row = MemberRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"SELECT u.id AS user_id, u.email, t.id AS tenant_id, t.slug, t.name, t.schema_name, m.role
             FROM public.users u
             JOIN public.memberships m ON m.user_id = u.id
             JOIN public.tenants t ON t.id = m.tenant_id
            WHERE t.slug = $1 AND u.email = $2"#,
        [slug.into(), email.trim().to_lowercase().into()],
    ))
    .one(db)
    .await?
    .ok_or(AuthError::OtherBusiness)?;
    row.into_member(Uuid::nil())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::for_development("postgres://x".into(), "redis://x".into())
    }

    fn token_with(settings: &Settings, exp_offset: i64) -> String {
        let now = Utc::now().timestamp();
        let claims = SessionClaims {
            sub: Uuid::new_v4(),
            tid: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + exp_offset,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&settings.app_secret)).unwrap()
    }

    #[test]
    fn a_fresh_token_reads_back() {
        let s = settings();
        assert!(read_token(&s, &token_with(&s, 60)).is_ok());
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let s = settings();
        assert_eq!(read_token(&s, &token_with(&s, -5)).unwrap_err(), AuthError::Expired);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let s = settings();
        let mut other = settings();
        other.app_secret = b"another secret entirely, 32 bytes+".to_vec();
        assert_eq!(read_token(&s, &token_with(&other, 60)).unwrap_err(), AuthError::Invalid);
    }

    #[test]
    fn after_a_signing_secret_change_old_sessions_hold_only_while_the_previous_secret_is_kept() {
        let old = settings();
        let token = token_with(&old, 60);
        let mut rotated = settings();
        rotated.app_secret = b"the new signing secret, 32 bytes or more".to_vec();
        rotated.previous_app_secret = Some(old.app_secret.clone());
        assert!(read_token(&rotated, &token).is_ok());
        assert!(read_token(&rotated, &token_with(&rotated, 60)).is_ok());
        rotated.previous_app_secret = None;
        assert_eq!(read_token(&rotated, &token).unwrap_err(), AuthError::Invalid);
    }

    #[test]
    fn a_pending_sign_in_is_not_a_session_and_a_session_is_not_a_pending_sign_in() {
        let s = settings();
        let pending = pending_token(&s, Uuid::new_v4(), Uuid::new_v4()).unwrap();
        assert!(read_pending(&s, &pending).is_some());
        assert!(read_token(&s, &pending).is_err(), "a pending token opens no session");
        assert!(read_pending(&s, &token_with(&s, 60)).is_none(), "a session token is no pending sign-in");
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_only_over_https() {
        let mut s = settings();
        let c = session_cookie(&s, "abc");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && !c.contains("Secure"));
        s.public_url = url::Url::parse("https://steward.example").unwrap();
        assert!(session_cookie(&s, "abc").contains("; Secure"));
    }

    #[test]
    fn finds_the_session_token_among_cookies() {
        assert_eq!(token_from_cookie_header("a=1; steward_session=xyz; b=2"), Some("xyz"));
        assert_eq!(token_from_cookie_header("steward_session="), None);
        assert_eq!(token_from_cookie_header("other=1"), None);
    }
}
