//! A business's Slack app: its bot token (to post review tasks) and signing
//! secret (to prove a button click came from Slack), stored encrypted; and
//! which Slack user is which member, so a click decides as that member with
//! that member's role. One Slack app per business, connected by an owner.

use crate::auth::CurrentMember;
use crate::config::Settings;
use crate::db::stmt;
use crate::slack_api::{SlackApi, SlackError};
use crate::tenant::Tenant;
use crate::{audit, secrets};
use engine::FieldError;
use hmac::Mac;
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};
use serde_json::json;

/// How far a click's timestamp may be from now (Slack's own advice: five minutes).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

#[derive(Debug, thiserror::Error)]
pub enum SlackSetupError {
    #[error("the Slack settings have problems")]
    Fields(Vec<FieldError>),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// The connection as Settings shows it: never the secrets.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Connection {
    pub team: String,
    pub connected_by: String,
    pub connected_at: DateTimeUtc,
}

/// The business at `slug`, for Slack's clicks (which prove themselves with its signing secret).
pub async fn business(db: &DatabaseConnection, slug: &str) -> Result<Option<Tenant>, DbErr> {
    Ok(crate::tenants::tenant_at(db, slug).await?.map(|(tenant, _)| tenant))
}

/// The connection, if an owner made one.
pub async fn connection(db: &DatabaseConnection, tenant: &Tenant) -> Result<Option<Connection>, DbErr> {
    let txn = tenant.begin(db).await?;
    let row =
        Connection::find_by_statement(stmt("SELECT team, connected_by, connected_at FROM slack_connection", vec![]))
            .one(&txn)
            .await?;
    txn.commit().await?;
    Ok(row)
}

#[derive(FromQueryResult)]
struct Sealed {
    bot_token_nonce: Vec<u8>,
    bot_token: Vec<u8>,
    signing_secret_nonce: Vec<u8>,
    signing_secret: Vec<u8>,
}

/// The bot token and signing secret, decrypted (None: not connected, or
/// `APP_SECRET` changed since and the owner must connect again).
pub(crate) async fn credentials(
    db: &DatabaseConnection,
    settings: &Settings,
    tenant: &Tenant,
) -> Result<Option<(String, String)>, DbErr> {
    let txn = tenant.begin(db).await?;
    let row = Sealed::find_by_statement(stmt(
        "SELECT bot_token_nonce, bot_token, signing_secret_nonce, signing_secret FROM slack_connection",
        vec![],
    ))
    .one(&txn)
    .await?;
    txn.commit().await?;
    Ok(row.and_then(|r| {
        Some((
            secrets::decrypt(settings, &r.bot_token_nonce, &r.bot_token)?,
            secrets::decrypt(settings, &r.signing_secret_nonce, &r.signing_secret)?,
        ))
    }))
}

/// The signing secret clicks are checked with.
pub async fn signing_secret(
    db: &DatabaseConnection,
    settings: &Settings,
    tenant: &Tenant,
) -> Result<Option<String>, DbErr> {
    Ok(credentials(db, settings, tenant).await?.map(|(_, secret)| secret))
}

/// What is wrong with a bot token and signing secret as typed.
pub fn check(bot_token: &str, signing_secret: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !bot_token.starts_with("xoxb-") || bot_token.len() < 20 || bot_token.chars().any(char::is_whitespace) {
        errors.push(FieldError::new(
            "bot_token",
            "Paste the Bot User OAuth Token from your Slack app's OAuth & Permissions page; it starts with xoxb-.",
        ));
    }
    if signing_secret.len() < 20 || !signing_secret.chars().all(|c| c.is_ascii_alphanumeric()) {
        errors.push(FieldError::new(
            "signing_secret",
            "Paste the Signing Secret from your Slack app's Basic Information page (letters and digits, no spaces).",
        ));
    }
    errors
}

/// Connects (or reconnects) the business's Slack app: the token is tried
/// with `auth.test` first, so a wrong one is refused here, not at the first task.
pub async fn connect(
    db: &DatabaseConnection,
    settings: &Settings,
    http: &reqwest::Client,
    member: &CurrentMember,
    bot_token: &str,
    signing_secret: &str,
) -> Result<String, SlackSetupError> {
    let (bot_token, signing_secret) = (bot_token.trim(), signing_secret.trim());
    let errors = check(bot_token, signing_secret);
    if !errors.is_empty() {
        return Err(SlackSetupError::Fields(errors));
    }
    let workspace = match SlackApi::new(http, &settings.slack_api_url, bot_token).auth_test().await {
        Ok(w) => w,
        Err(SlackError::Refused(why)) => {
            return Err(SlackSetupError::Fields(vec![FieldError::new(
                "bot_token",
                format!("Slack refused this token ({why}). Copy it again from OAuth & Permissions, and install the app to your workspace."),
            )]))
        }
        Err(e @ SlackError::Unreachable(_)) => {
            return Err(SlackSetupError::Fields(vec![FieldError::new(
                "bot_token",
                format!("Could not check the token with Slack: {e}. Try again in a minute."),
            )]))
        }
    };
    let (token_nonce, token) = secrets::encrypt(settings, bot_token);
    let (secret_nonce, secret) = secrets::encrypt(settings, signing_secret);
    let txn = member.tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "INSERT INTO slack_connection (id, team, bot_token_nonce, bot_token, signing_secret_nonce, signing_secret, connected_by)
         VALUES (true, $1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET team = EXCLUDED.team, bot_token_nonce = EXCLUDED.bot_token_nonce,
                bot_token = EXCLUDED.bot_token, signing_secret_nonce = EXCLUDED.signing_secret_nonce,
                signing_secret = EXCLUDED.signing_secret, connected_by = EXCLUDED.connected_by, connected_at = now()",
        vec![
            workspace.team.clone().into(),
            token_nonce.into(),
            token.into(),
            secret_nonce.into(),
            secret.into(),
            member.email.clone().into(),
        ],
    ))
    .await?;
    audit::record_change(
        &txn,
        Some(member),
        "settings",
        "slack.connect",
        &workspace.team,
        &format!("connected the Slack workspace {}", workspace.team),
        json!({ "team": workspace.team, "bot_user_id": workspace.bot_user_id }),
    )
    .await?;
    txn.commit().await?;
    Ok(workspace.team)
}

/// A member and the Slack user linked to them.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct MemberLink {
    pub email: String,
    pub slack_user_id: String,
}

pub async fn links(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<MemberLink>, DbErr> {
    let txn = tenant.begin(db).await?;
    let rows =
        MemberLink::find_by_statement(stmt("SELECT email, slack_user_id FROM slack_members ORDER BY email", vec![]))
            .all(&txn)
            .await?;
    txn.commit().await?;
    Ok(rows)
}

/// A Slack member id as Slack shows it (profile → ⋮ → Copy member ID).
fn is_slack_user_id(id: &str) -> bool {
    (id.starts_with('U') || id.starts_with('W'))
        && (3..=21).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Links a member to their Slack user (an empty id unlinks them).
pub async fn link_member(
    db: &DatabaseConnection,
    owner: &CurrentMember,
    email: &str,
    slack_user_id: &str,
) -> Result<(), SlackSetupError> {
    let email = email.trim().to_lowercase();
    let slack_user_id = slack_user_id.trim().to_uppercase();
    let mut errors = Vec::new();
    if crate::auth::member_by_email(db, &owner.tenant_slug, &email).await.is_err() {
        errors.push(FieldError::new("email", "Not a member of this business."));
    }
    if !slack_user_id.is_empty() && !is_slack_user_id(&slack_user_id) {
        errors.push(FieldError::new(
            "slack_user_id",
            "A Slack member ID looks like U04ABCDE12: in Slack, open the person's profile, ⋮ → Copy member ID.",
        ));
    }
    if !errors.is_empty() {
        return Err(SlackSetupError::Fields(errors));
    }
    let txn = owner.tenant.begin(db).await?;
    if slack_user_id.is_empty() {
        txn.execute_raw(stmt("DELETE FROM slack_members WHERE email = $1", vec![email.clone().into()])).await?;
    } else {
        let taken: Option<String> = crate::db::scalar(
            &txn,
            stmt(
                "SELECT email AS value FROM slack_members WHERE slack_user_id = $1 AND email <> $2",
                vec![slack_user_id.clone().into(), email.clone().into()],
            ),
        )
        .await?;
        if let Some(other) = taken {
            return Err(SlackSetupError::Fields(vec![FieldError::new(
                "slack_user_id",
                format!("This Slack user is linked to {other} already."),
            )]));
        }
        txn.execute_raw(stmt(
            "INSERT INTO slack_members (email, slack_user_id, linked_by) VALUES ($1, $2, $3)
             ON CONFLICT (email) DO UPDATE SET slack_user_id = EXCLUDED.slack_user_id, linked_by = EXCLUDED.linked_by, linked_at = now()",
            vec![email.clone().into(), slack_user_id.clone().into(), owner.email.clone().into()],
        ))
        .await?;
    }
    let (action, why) = if slack_user_id.is_empty() {
        ("slack.unlink", format!("unlinked {email} from Slack"))
    } else {
        ("slack.link", format!("linked {email} to Slack user {slack_user_id}"))
    };
    audit::record_change(
        &txn,
        Some(owner),
        "settings",
        action,
        &email,
        &why,
        json!({ "slack_user_id": slack_user_id }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The member a Slack user is linked to, with their role now (None: not linked, or no longer a member).
pub async fn member_for(
    db: &DatabaseConnection,
    tenant: &Tenant,
    slug: &str,
    slack_user_id: &str,
) -> Result<Option<CurrentMember>, DbErr> {
    let txn = tenant.begin(db).await?;
    let email: Option<String> = crate::db::scalar(
        &txn,
        stmt("SELECT email AS value FROM slack_members WHERE slack_user_id = $1", vec![slack_user_id.into()]),
    )
    .await?;
    txn.commit().await?;
    match email {
        Some(email) => Ok(crate::auth::member_by_email(db, slug, &email).await.ok()),
        None => Ok(None),
    }
}

/// Why a click was not taken as Slack's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the request timestamp is more than five minutes from now (a replay, or a wrong clock)")]
    Stale,
    #[error("the signature does not match this business's Slack signing secret")]
    Mismatch,
}

/// Checks `X-Slack-Signature` (`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`
/// keyed with the signing secret) and that `X-Slack-Request-Timestamp` is
/// within five minutes of `now`.
pub fn verify(
    signing_secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), ProofError> {
    let timestamp = timestamp.ok_or(ProofError::Missing("X-Slack-Request-Timestamp"))?;
    let signature = signature.ok_or(ProofError::Missing("X-Slack-Signature"))?;
    let at: i64 = timestamp.trim().parse().map_err(|_| ProofError::Stale)?;
    if (now - at).abs() > TOLERANCE_SECONDS {
        return Err(ProofError::Stale);
    }
    let given = signature.trim().strip_prefix("v0=").and_then(|h| hex::decode(h).ok()).ok_or(ProofError::Mismatch)?;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(signing_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| ProofError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's worked example from "Verifying requests from Slack".
    #[test]
    fn slacks_own_example_verifies_and_changes_do_not() {
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let ts = "1531420618";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(verify(secret, Some(ts), Some(sig), body, 1531420618 + 60), Ok(()));
        assert_eq!(verify(secret, Some(ts), Some(sig), body, 1531420618 + 301), Err(ProofError::Stale));
        assert_eq!(verify("another-secret", Some(ts), Some(sig), body, 1531420618), Err(ProofError::Mismatch));
        assert_eq!(verify(secret, Some(ts), Some(sig), b"token=changed", 1531420618), Err(ProofError::Mismatch));
        assert_eq!(verify(secret, None, Some(sig), body, 0), Err(ProofError::Missing("X-Slack-Request-Timestamp")));
        assert_eq!(verify(secret, Some(ts), None, body, 0), Err(ProofError::Missing("X-Slack-Signature")));
    }

    #[test]
    fn tokens_and_member_ids_are_checked_as_typed() {
        assert!(check("xoxb-1234567890-abcdefghij", "8f742231b10e8888abcd99yyyzzz85a5").is_empty());
        let errors = check("xoxp-user-token-not-a-bot", "short");
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["bot_token", "signing_secret"]);
        assert!(is_slack_user_id("U04ABCDE12") && is_slack_user_id("W012A3CDE"));
        assert!(!is_slack_user_id("u04abcde12") && !is_slack_user_id("C0123ABCD") && !is_slack_user_id("U"));
    }
}
