//! API tokens: programs call the JSON API with `Authorization: Bearer
//! <token>`. A token belongs to one business and acts as the member who
//! made it, within its scopes and never beyond that member's current role.
//! Shown once; stored as a SHA-256 hash with a short prefix in clear;
//! revoked at once; every create and revoke is in the change log.

use crate::auth::{AuthError, CurrentMember, MemberRow};
use crate::db::stmt;
use base64::Engine;
use chrono::{DateTime, Utc};
use engine::token_scope::{may_make_tokens, TokenScope};
use engine::Role;
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The longest a token may live, in days.
pub const MAX_DAYS: i64 = 365;

/// A token as its list shows it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSummary {
    pub id: Uuid,
    pub name: String,
    /// `stw_1a2b3c4d`: the start of the token, to recognise it by.
    pub prefix: String,
    pub scopes: Vec<TokenScope>,
    /// For sending events: the workflows it may send to (None: all).
    pub workflows: Option<Vec<String>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
}

/// What to make.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<TokenScope>,
    /// For sending events: only these workflows (empty: all).
    pub workflows: Vec<String>,
    /// Days until it expires (None: until revoked).
    pub expires_in_days: Option<i64>,
}

/// A token just made: the only time its secret is seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MadeToken {
    pub id: Uuid,
    pub token: String,
    pub prefix: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A field with a problem, and the reason.
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Why a bearer token was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// 401: not a token, unknown, revoked, expired, or its maker left.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a token of another business, or without the scope the route needs.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// A caller proven by a token: the member it acts as, and the workflows it may send to.
#[derive(Debug, Clone)]
pub struct TokenCaller {
    /// Its `session_id` is the token's id.
    pub member: CurrentMember,
    pub workflows: Option<Vec<String>>,
}

impl TokenCaller {
    /// Whether it may send events to `workflow`.
    pub fn may_send_to(&self, workflow: &str) -> bool {
        self.workflows.as_ref().is_none_or(|names| names.iter().any(|n| n == workflow))
    }
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A fresh token: `stw_<8 hex>_<43 base64url>` (256 random bits after the prefix).
fn generate() -> (String, String) {
    let id: [u8; 4] = rand::random();
    let secret: [u8; 32] = rand::random();
    let prefix = format!("stw_{}", hex::encode(id));
    let token = format!("{prefix}_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
    (prefix, token)
}

/// The prefix of a token as presented, if it has the token's shape.
fn prefix_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("stw_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() >= 40).then(|| &token[..12])
}

/// Makes a token for `member` (owners and engineers; scopes within their role).
pub async fn create(db: &DatabaseConnection, member: &CurrentMember, new: &NewToken) -> Result<MadeToken, TokenError> {
    if !may_make_tokens(member.role) {
        return Err(TokenError::Forbidden("owners and engineers make API tokens; your role does not".into()));
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(TokenError::Invalid(
            "name",
            "name the token (up to 80 characters), e.g. after the tool that uses it".into(),
        ));
    }
    if new.scopes.is_empty() {
        return Err(TokenError::Invalid("scopes", "choose at least one thing the token may do".into()));
    }
    if let Some(scope) = new.scopes.iter().find(|s| !s.allowed_for(member.role)) {
        return Err(TokenError::Invalid(
            "scopes",
            format!(
                "your role ({}) may not {}, so a token of yours may not either",
                member.role,
                scope.label().to_lowercase()
            ),
        ));
    }
    if let Some(days) = new.expires_in_days {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(TokenError::Invalid(
                "expires_in_days",
                format!("a token lives 1 to {MAX_DAYS} days, or until revoked"),
            ));
        }
    }
    let mut scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
    scopes.sort();
    scopes.dedup();
    let workflows: Vec<String> = new.workflows.iter().map(|w| w.trim().to_owned()).filter(|w| !w.is_empty()).collect();
    let txn = member.tenant.begin(db).await?;
    if !workflows.is_empty() {
        #[derive(FromQueryResult)]
        struct Known {
            name: String,
        }
        let known: Vec<String> = Known::find_by_statement(stmt(
            "SELECT name FROM workflows WHERE name = ANY($1)",
            vec![workflows.clone().into()],
        ))
        .all(&txn)
        .await?
        .into_iter()
        .map(|k| k.name)
        .collect();
        if let Some(unknown) = workflows.iter().find(|w| !known.contains(w)) {
            return Err(TokenError::Invalid("workflows", format!("there is no workflow named {unknown}")));
        }
    }
    let (prefix, token) = generate();
    let id = Uuid::new_v4();
    let expires_at = new.expires_in_days.map(|d| Utc::now() + chrono::Duration::days(d));
    txn.execute_raw(stmt(
        "INSERT INTO public.api_tokens (id, tenant_id, name, prefix, secret_hash, scopes, workflows, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            id.into(),
            member.tenant.id().into(),
            name.into(),
            prefix.clone().into(),
            hash(&token).into(),
            scopes.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>().into(),
            (!workflows.is_empty()).then(|| workflows.clone()).into(),
            member.user_id.into(),
            expires_at.into(),
        ],
    ))
    .await?;
    let reach = if workflows.is_empty() { String::new() } else { format!(" for {}", workflows.join(", ")) };
    crate::audit::record_change(
        &txn,
        Some(member),
        "token",
        "token.created",
        name,
        &format!("API token {prefix} may {}{reach}", scopes.join(", ")),
        json!({ "id": id, "prefix": prefix, "scopes": scopes, "workflows": workflows, "expires_at": expires_at }),
    )
    .await?;
    txn.commit().await?;
    Ok(MadeToken { id, token, prefix })
}

#[derive(FromQueryResult)]
struct SummaryRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    workflows: Option<Vec<String>>,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    last_used_from: Option<String>,
}

/// The business's tokens an owner sees, or an engineer's own; newest first.
pub async fn list(db: &DatabaseConnection, member: &CurrentMember) -> Result<Vec<TokenSummary>, TokenError> {
    if !may_make_tokens(member.role) {
        return Err(TokenError::Forbidden("owners and engineers see API tokens; your role does not".into()));
    }
    let only_own = member.role != Role::Owner;
    let txn = member.tenant.begin(db).await?;
    let rows = SummaryRow::find_by_statement(stmt(
        "SELECT k.id, k.name, k.prefix, k.scopes, k.workflows, u.email AS created_by, k.created_at, k.expires_at,
                k.revoked_at, k.last_used_at, k.last_used_from
           FROM public.api_tokens k JOIN public.users u ON u.id = k.created_by
          WHERE k.tenant_id = $1 AND (NOT $2 OR k.created_by = $3)
          ORDER BY k.created_at DESC",
        vec![member.tenant.id().into(), only_own.into(), member.user_id.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            let scopes = r
                .scopes
                .iter()
                .map(|s| TokenScope::parse(s).ok_or_else(|| DbErr::Type(format!("unknown token scope {s}"))))
                .collect::<Result<_, _>>()?;
            Ok(TokenSummary {
                id: r.id,
                name: r.name,
                prefix: r.prefix,
                scopes,
                workflows: r.workflows,
                created_by: r.created_by,
                created_at: r.created_at,
                expires_at: r.expires_at,
                revoked_at: r.revoked_at,
                last_used_at: r.last_used_at,
                last_used_from: r.last_used_from,
            })
        })
        .collect()
}

/// Revokes a token at once: an owner any of the business's, an engineer their own.
/// False: no such token here (or not theirs), or revoked already.
pub async fn revoke(db: &DatabaseConnection, member: &CurrentMember, id: Uuid) -> Result<bool, TokenError> {
    if !may_make_tokens(member.role) {
        return Err(TokenError::Forbidden("owners and engineers revoke API tokens; your role does not".into()));
    }
    #[derive(FromQueryResult)]
    struct Revoked {
        name: String,
        prefix: String,
    }
    let txn = member.tenant.begin(db).await?;
    let revoked = Revoked::find_by_statement(stmt(
        "UPDATE public.api_tokens SET revoked_at = now(), revoked_by = $3
          WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL AND ($4 OR created_by = $3)
         RETURNING name, prefix",
        vec![id.into(), member.tenant.id().into(), member.user_id.into(), (member.role == Role::Owner).into()],
    ))
    .one(&txn)
    .await?;
    let Some(revoked) = revoked else {
        txn.commit().await?;
        return Ok(false);
    };
    crate::audit::record_change(
        &txn,
        Some(member),
        "token",
        "token.revoked",
        &revoked.name,
        &format!("API token {} revoked", revoked.prefix),
        json!({ "id": id, "prefix": revoked.prefix }),
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// The caller behind a bearer token, for a route of business `slug` that
/// needs `scope`. Notes when and from where it was last used (at most once
/// a minute per address, so a busy integration does not write on every call).
pub async fn authorize(
    db: &DatabaseConnection,
    token: &str,
    slug: &str,
    scope: TokenScope,
    client_address: &str,
) -> Result<TokenCaller, Refusal> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        secret_hash: Vec<u8>,
        scopes: Vec<String>,
        workflows: Option<Vec<String>>,
        revoked: bool,
        expired: bool,
        user_id: Option<Uuid>,
        email: Option<String>,
        tenant_id: Uuid,
        slug: String,
        name: String,
        schema_name: String,
        role: Option<String>,
        used_lately: bool,
    }
    let unknown = || Refusal::Unauthorized("the API token is not known; check that it was copied whole".into());
    let prefix = prefix_of(token).ok_or_else(unknown)?;
    let row = Row::find_by_statement(stmt(
        "SELECT k.id, k.secret_hash, k.scopes, k.workflows, k.revoked_at IS NOT NULL AS revoked,
                coalesce(k.expires_at <= now(), false) AS expired,
                coalesce(k.last_used_at > now() - interval '1 minute' AND k.last_used_from = $2, false) AS used_lately,
                u.id AS user_id, u.email, t.id AS tenant_id, t.slug, t.name, t.schema_name, m.role
           FROM public.api_tokens k
           JOIN public.tenants t ON t.id = k.tenant_id
           LEFT JOIN public.memberships m ON m.user_id = k.created_by AND m.tenant_id = k.tenant_id
           LEFT JOIN public.users u ON u.id = m.user_id
          WHERE k.prefix = $1",
        vec![prefix.into(), client_address.into()],
    ))
    .one(db)
    .await?
    .ok_or_else(unknown)?;
    // Constant-time, so the comparison does not tell how much of a guess was right.
    if !bool::from(subtle::ConstantTimeEq::ct_eq(hash(token).as_slice(), row.secret_hash.as_slice())) {
        return Err(unknown());
    }
    if row.revoked {
        return Err(Refusal::Unauthorized("the API token was revoked".into()));
    }
    if row.expired {
        return Err(Refusal::Unauthorized("the API token has expired; make a new one in Settings → API tokens".into()));
    }
    if row.slug != slug {
        return Err(Refusal::Forbidden("this API token belongs to another business".into()));
    }
    let (Some(user_id), Some(email), Some(role)) = (row.user_id, row.email, row.role) else {
        return Err(Refusal::Unauthorized("the member who made this API token is no longer in the business".into()));
    };
    let found = MemberRow {
        user_id,
        email,
        tenant_id: row.tenant_id,
        slug: row.slug,
        name: row.name,
        schema_name: row.schema_name,
        role,
    };
    let member = found.into_member(row.id).map_err(|e| match e {
        AuthError::Storage(e) => Refusal::Storage(DbErr::Custom(e)),
        other => Refusal::Unauthorized(other.to_string()),
    })?;
    if !row.scopes.iter().any(|s| s == scope.as_str()) {
        return Err(Refusal::Forbidden(format!("this API token may not {}", scope.label().to_lowercase())));
    }
    if !scope.allowed_for(member.role) {
        return Err(Refusal::Forbidden(format!(
            "the member who made this API token is now {}, who may not {}",
            member.role,
            scope.label().to_lowercase()
        )));
    }
    if !row.used_lately {
        db.execute_raw(stmt(
            "UPDATE public.api_tokens SET last_used_at = now(), last_used_from = $2 WHERE id = $1",
            vec![row.id.into(), client_address.into()],
        ))
        .await?;
    }
    Ok(TokenCaller { member, workflows: row.workflows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_a_recognisable_prefix_and_256_random_bits() {
        let (prefix, token) = generate();
        assert_eq!(prefix_of(&token), Some(prefix.as_str()));
        assert_eq!(token.len(), 12 + 1 + 43);
        assert_ne!(generate().1, token);
        for bad in ["", "stw_", "stw_12345678", "stw_1234567g_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Bearer x"]
        {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }
}
