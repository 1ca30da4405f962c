//! Two-factor sign-in with TOTP (RFC 6238, `totp-rs`): six digits from an
//! authenticator app, 30-second steps, one step of clock drift either way.
//! A code works once (`totp_last_step`), recovery codes work once each, and
//! the secret is sealed with the installation's keyring.

use crate::{auth::CurrentMember, config::Settings, db::stmt};
use rand::Rng;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, TransactionTrait};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

/// The name authenticator apps show above the codes.
pub const ISSUER: &str = "Steward";
const STEP_SECONDS: u64 = 30;
/// How many recovery codes a person gets when they turn two-factor on.
pub const RECOVERY_CODES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("Two-factor sign-in is already on. Turn it off first to set up a new authenticator.")]
    AlreadyOn,
    #[error("Start the set-up again: no authenticator is waiting to be confirmed.")]
    NothingToConfirm,
    #[error("That code is not right. Type the six digits your authenticator app shows now.")]
    WrongCode,
    #[error("Your business requires two-factor sign-in, so it cannot be turned off.")]
    Required,
    #[error("The stored two-factor secret cannot be read; ask the operator to check the encryption keys.")]
    Unreadable,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// What the set-up page shows: the secret to scan (or type), once.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// Base32, in groups of four for typing.
    pub secret: String,
    pub otpauth_url: String,
    /// An SVG QR code of `otpauth_url`.
    pub qr_svg: String,
}

/// A person's two-factor state as their account page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub enabled: bool,
    pub recovery_codes_left: i64,
}

/// Which second factor a sign-in used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    AuthenticatorCode,
    RecoveryCode,
}

impl SecondFactor {
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactor::AuthenticatorCode => "authenticator code",
            SecondFactor::RecoveryCode => "recovery code",
        }
    }
}

fn totp(secret: Vec<u8>, email: &str) -> TOTP {
    // The account name may not contain ':'; emails never do, but be safe.
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, STEP_SECONDS, secret, Some(ISSUER.into()), email.replace(':', " "))
}

/// The 30-second step a code matches, within one step of `now`, if any.
fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let current = now / STEP_SECONDS;
    (current.saturating_sub(1)..=current + 1).find(|step| totp.generate(step * STEP_SECONDS) == code)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn hash_recovery_code(code: &str) -> String {
    let normalised: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

/// Ten characters from an alphabet without look-alikes, as `xxxxx-xxxxx`.
fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let chars: String = (0..10).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

#[derive(FromQueryResult)]
struct Stored {
    email: String,
    totp_nonce: Option<Vec<u8>>,
    totp_secret: Option<Vec<u8>>,
    enabled: bool,
}

async fn stored<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<Stored, DbErr> {
    Stored::find_by_statement(stmt(
        "SELECT email, totp_nonce, totp_secret, totp_enabled_at IS NOT NULL AS enabled FROM public.users WHERE id = $1",
        vec![user_id.into()],
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound(format!("user {user_id}")))
}

fn open_secret(settings: &Settings, s: &Stored) -> Result<Vec<u8>, TwoFactorError> {
    let (Some(nonce), Some(sealed)) = (&s.totp_nonce, &s.totp_secret) else {
        return Err(TwoFactorError::NothingToConfirm);
    };
    let base32 = settings.keyring.open(nonce, sealed).ok_or(TwoFactorError::Unreadable)?;
    totp_rs::Secret::Encoded(base32).to_bytes().map_err(|_| TwoFactorError::Unreadable)
}

pub async fn status(db: &DatabaseConnection, user_id: Uuid) -> Result<Status, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        enabled: bool,
        codes_left: i64,
    }
    let row = Row::find_by_statement(stmt(
        "SELECT u.totp_enabled_at IS NOT NULL AS enabled,
                (SELECT count(*) FROM public.recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL) AS codes_left
           FROM public.users u WHERE u.id = $1",
        vec![user_id.into()],
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound(format!("user {user_id}")))?;
    Ok(Status { enabled: row.enabled, recovery_codes_left: row.codes_left })
}

/// Whether the person has a confirmed authenticator.
pub async fn is_enabled<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<bool, DbErr> {
    Ok(stored(db, user_id).await?.enabled)
}

/// Starts setting up an authenticator: a new secret, kept sealed and unconfirmed
/// until a code from it is typed back (`confirm`).
pub async fn start(db: &DatabaseConnection, settings: &Settings, user_id: Uuid) -> Result<Enrolment, TwoFactorError> {
    let current = stored(db, user_id).await?;
    if current.enabled {
        return Err(TwoFactorError::AlreadyOn);
    }
    let secret: [u8; 20] = rand::random();
    let totp = totp(secret.to_vec(), &current.email);
    let base32 = totp.get_secret_base32();
    let (nonce, sealed) = settings.keyring.seal(&base32);
    db.execute_raw(stmt(
        "UPDATE public.users SET totp_nonce = $2, totp_secret = $3, totp_enabled_at = NULL, totp_last_step = NULL
          WHERE id = $1 AND totp_enabled_at IS NULL",
        vec![user_id.into(), nonce.into(), sealed.into()],
    ))
    .await?;
    let otpauth_url = totp.get_url();
    let qr_svg = qrcode::QrCode::new(otpauth_url.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
                .split_once("?>")
                .map(|(_, svg)| svg.to_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let grouped = base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
    Ok(Enrolment { secret: grouped.join(" "), otpauth_url, qr_svg })
}

/// Confirms the authenticator with a code from it, turns two-factor on and
/// returns the recovery codes (shown once; only their hashes are kept).
pub async fn confirm(
    db: &DatabaseConnection,
    settings: &Settings,
    user_id: Uuid,
    code: &str,
) -> Result<Vec<String>, TwoFactorError> {
    let current = stored(db, user_id).await?;
    if current.enabled {
        return Err(TwoFactorError::AlreadyOn);
    }
    let secret = open_secret(settings, &current)?;
    let step = matching_step(&totp(secret, &current.email), code, now()).ok_or(TwoFactorError::WrongCode)?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    let txn = db.begin().await?;
    txn.execute_raw(stmt(
        "UPDATE public.users SET totp_enabled_at = now(), totp_last_step = $2 WHERE id = $1",
        vec![user_id.into(), (step as i64).into()],
    ))
    .await?;
    replace_recovery_codes(&txn, user_id, &codes).await?;
    txn.commit().await?;
    Ok(codes)
}

async fn replace_recovery_codes<C: ConnectionTrait>(db: &C, user_id: Uuid, codes: &[String]) -> Result<(), DbErr> {
    db.execute_raw(stmt("DELETE FROM public.recovery_codes WHERE user_id = $1", vec![user_id.into()])).await?;
    for code in codes {
        db.execute_raw(stmt(
            "INSERT INTO public.recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            vec![user_id.into(), hash_recovery_code(code).into()],
        ))
        .await?;
    }
    Ok(())
}

/// Checks a second factor: a current authenticator code not used before, or
/// an unused recovery code (which is then spent). `None`: neither.
pub async fn check(
    db: &DatabaseConnection,
    settings: &Settings,
    user_id: Uuid,
    code: &str,
) -> Result<Option<SecondFactor>, TwoFactorError> {
    let current = stored(db, user_id).await?;
    if !current.enabled {
        return Ok(None);
    }
    let secret = open_secret(settings, &current)?;
    if let Some(step) = matching_step(&totp(secret, &current.email), code, now()) {
        // Taking the step in one statement refuses a code replayed concurrently.
        let taken = db
            .execute_raw(stmt(
                "UPDATE public.users SET totp_last_step = $2
                  WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                vec![user_id.into(), (step as i64).into()],
            ))
            .await?
            .rows_affected();
        return Ok((taken == 1).then_some(SecondFactor::AuthenticatorCode));
    }
    let spent = db
        .execute_raw(stmt(
            "UPDATE public.recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            vec![user_id.into(), hash_recovery_code(code).into()],
        ))
        .await?
        .rows_affected();
    Ok((spent == 1).then_some(SecondFactor::RecoveryCode))
}

/// Turns two-factor off after checking a current code (or a recovery code),
/// unless one of the person's businesses requires it.
pub async fn turn_off(
    db: &DatabaseConnection,
    settings: &Settings,
    user_id: Uuid,
    code: &str,
) -> Result<(), TwoFactorError> {
    if required_for_user(db, user_id).await? {
        return Err(TwoFactorError::Required);
    }
    if check(db, settings, user_id, code).await?.is_none() {
        return Err(TwoFactorError::WrongCode);
    }
    let txn = db.begin().await?;
    txn.execute_raw(stmt(
        "UPDATE public.users SET totp_nonce = NULL, totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL
          WHERE id = $1",
        vec![user_id.into()],
    ))
    .await?;
    replace_recovery_codes(&txn, user_id, &[]).await?;
    txn.commit().await?;
    Ok(())
}

/// Whether any business the person belongs to requires a second factor.
pub async fn required_for_user<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<bool, DbErr> {
    Ok(crate::db::scalar(
        db,
        stmt(
            "SELECT EXISTS (SELECT 1 FROM public.memberships m JOIN public.tenants t ON t.id = m.tenant_id
                             WHERE m.user_id = $1 AND t.require_two_factor) AS value",
            vec![user_id.into()],
        ),
    )
    .await?
    .unwrap_or(false))
}

/// Whether the business requires every member to sign in with a second factor.
pub async fn required_by_business<C: ConnectionTrait>(db: &C, tenant_id: Uuid) -> Result<bool, DbErr> {
    Ok(crate::db::scalar(
        db,
        stmt("SELECT require_two_factor AS value FROM public.tenants WHERE id = $1", vec![tenant_id.into()]),
    )
    .await?
    .unwrap_or(false))
}

/// Records a member's change to their own second factor in the business's audit log.
async fn audit_member(db: &DatabaseConnection, member: &CurrentMember, action: &str, why: &str) -> Result<(), DbErr> {
    let txn = member.tenant.begin(db).await?;
    crate::audit::record_change(&txn, Some(member), "sign-in", action, &member.email, why, serde_json::json!({}))
        .await?;
    txn.commit().await
}

/// `confirm` for a signed-in member, audited.
pub async fn confirm_for(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    code: &str,
) -> Result<Vec<String>, TwoFactorError> {
    let codes = confirm(db, settings, member.user_id, code).await?;
    audit_member(db, member, "two_factor.enabled", "authenticator app confirmed").await?;
    Ok(codes)
}

/// `turn_off` for a signed-in member, audited.
pub async fn turn_off_for(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    code: &str,
) -> Result<(), TwoFactorError> {
    turn_off(db, settings, member.user_id, code).await?;
    audit_member(db, member, "two_factor.disabled", "turned off with a current code").await?;
    Ok(())
}

/// New recovery codes for a signed-in member (the old ones stop working), after a current code.
pub async fn new_recovery_codes_for(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    code: &str,
) -> Result<Vec<String>, TwoFactorError> {
    if check(db, settings, member.user_id, code).await?.is_none() {
        return Err(TwoFactorError::WrongCode);
    }
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    replace_recovery_codes(db, member.user_id, &codes).await?;
    audit_member(db, member, "two_factor.recovery_codes_replaced", "new recovery codes; the old ones stopped working")
        .await?;
    Ok(codes)
}

#[derive(Debug, thiserror::Error)]
pub enum RequireError {
    #[error("Turn on two-factor sign-in for yourself first, so requiring it cannot lock you out.")]
    OwnerWithout,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// The owner's switch: every member of the business signs in with a second
/// factor (members without one are signed out and set it up at their next
/// sign-in). Audited.
pub async fn set_required(db: &DatabaseConnection, owner: &CurrentMember, required: bool) -> Result<(), RequireError> {
    if required && !is_enabled(db, owner.user_id).await? {
        return Err(RequireError::OwnerWithout);
    }
    let txn = owner.tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "UPDATE public.tenants SET require_two_factor = $2 WHERE id = $1",
        vec![owner.tenant.id().into(), required.into()],
    ))
    .await?;
    // Enforced at once: sessions of members without a second factor end, and
    // their next sign-in sets one up.
    let ended = if required {
        txn.execute_raw(stmt(
            "UPDATE public.sessions SET revoked_at = now()
              WHERE tenant_id = $1 AND revoked_at IS NULL
                AND user_id IN (SELECT id FROM public.users WHERE totp_enabled_at IS NULL)",
            vec![owner.tenant.id().into()],
        ))
        .await?
        .rows_affected()
    } else {
        0
    };
    crate::audit::record_change(
        &txn,
        Some(owner),
        "business",
        if required { "two_factor.required" } else { "two_factor.optional" },
        &owner.tenant_slug,
        if required { "every member signs in with a second factor" } else { "a second factor is each member's choice" },
        serde_json::json!({ "required": required, "sessions_ended": ended }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The code an authenticator shows for a base32 secret at `unix_seconds`
/// (for tests and the CLI that check a set-up).
pub fn code_at(base32_secret: &str, unix_seconds: u64) -> Option<String> {
    let compact: String = base32_secret.chars().filter(|c| !c.is_whitespace()).collect();
    let secret = totp_rs::Secret::Encoded(compact).to_bytes().ok()?;
    Some(totp(secret, "x").generate(unix_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vector_for_sha1() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8 digits; 6 → 287082).
        let t = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, b"12345678901234567890".to_vec(), None, "x".into());
        assert_eq!(t.generate(59), "287082");
        assert_eq!(matching_step(&t, "287082", 59), Some(1));
        assert_eq!(matching_step(&t, "287 082", 89), Some(1), "one step of drift, spaces ignored");
        assert_eq!(matching_step(&t, "287082", 120), None, "two steps late");
        assert_eq!(matching_step(&t, "28708", 59), None);
    }

    #[test]
    fn recovery_codes_are_readable_and_typed_loosely() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(hash_recovery_code(&code), hash_recovery_code(&code.to_uppercase().replace('-', " ")));
        assert_ne!(new_recovery_code(), code);
    }
}
