//! The business's named secrets (API credentials for api_call steps), and
//! sealing any stored secret with the installation's keyring (`keyring`).

use crate::config::Settings;

/// Returns `(nonce, ciphertext)` sealed with the current encryption key.
pub fn encrypt(settings: &Settings, plaintext: &str) -> (Vec<u8>, Vec<u8>) {
    settings.keyring.seal(plaintext)
}

/// The plaintext, or `None` when the data was tampered with or its key is gone.
pub fn decrypt(settings: &Settings, nonce: &[u8], ciphertext: &[u8]) -> Option<String> {
    settings.keyring.open(nonce, ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_tampering_is_detected() {
        let settings = Settings::for_development("x".into(), "y".into());
        let (nonce, ct) = encrypt(&settings, "sk-live-123");
        assert!(!String::from_utf8_lossy(&ct).contains("sk-live-123"));
        assert_eq!(decrypt(&settings, &nonce, &ct).as_deref(), Some("sk-live-123"));
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(decrypt(&settings, &nonce, &bad), None);
        let mut other = settings.clone();
        other.keyring = crate::keyring::Keyring::derived(b"a different secret for another install");
        assert_eq!(decrypt(&other, &nonce, &ct), None);
        assert_ne!(encrypt(&settings, "sk-live-123").0, nonce, "a fresh nonce each time");
    }
}

/// A secret as the settings page lists it: its name, never its value.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct SecretRow {
    pub name: String,
    pub created_at: sea_orm::prelude::DateTimeUtc,
}

pub async fn list(
    db: &sea_orm::DatabaseConnection,
    member: &crate::auth::CurrentMember,
) -> Result<Vec<SecretRow>, sea_orm::DbErr> {
    use sea_orm::FromQueryResult;
    let txn = member.tenant.begin(db).await?;
    let rows =
        SecretRow::find_by_statement(crate::db::stmt("SELECT name, created_at FROM secrets ORDER BY name", vec![]))
            .all(&txn)
            .await?;
    txn.commit().await?;
    Ok(rows)
}

/// Why a secret was refused, by field.
pub fn check(name: &str, value: &str) -> Vec<engine::FieldError> {
    let mut errors = Vec::new();
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        errors.push(engine::FieldError::new(
            "name",
            "Name it with lowercase letters, digits and '_', e.g. clearbit_key.",
        ));
    }
    if value.trim().is_empty() {
        errors.push(engine::FieldError::new("value", "Paste the secret's value."));
    }
    errors
}

/// Stores (or replaces) a secret, encrypted; api_call steps refer to it by name.
pub async fn set(
    db: &sea_orm::DatabaseConnection,
    settings: &Settings,
    member: &crate::auth::CurrentMember,
    name: &str,
    value: &str,
) -> Result<Result<(), Vec<engine::FieldError>>, sea_orm::DbErr> {
    use sea_orm::ConnectionTrait;
    let errors = check(name, value);
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let (nonce, ciphertext) = encrypt(settings, value.trim());
    let txn = member.tenant.begin(db).await?;
    txn.execute_raw(crate::db::stmt(
        "INSERT INTO secrets (name, ciphertext, nonce) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, nonce = excluded.nonce, created_at = now()",
        vec![name.into(), ciphertext.into(), nonce.into()],
    ))
    .await?;
    crate::audit::record_change(
        &txn,
        Some(member),
        "secret",
        "secret.set",
        name,
        "secret stored (value not recorded)",
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(Ok(()))
}

/// A secret's value, for an api_call step that names it (never for display).
/// The outer error is storage's (the step is tried again later); the inner
/// one says in words why the step cannot have it, for the step's record.
pub async fn value_for_step(
    db: &sea_orm::DatabaseConnection,
    settings: &Settings,
    tenant: &crate::tenant::Tenant,
    name: &str,
) -> Result<Result<String, String>, sea_orm::DbErr> {
    use sea_orm::FromQueryResult;
    #[derive(FromQueryResult)]
    struct Sealed {
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
    }
    let txn = tenant.begin(db).await?;
    let sealed = Sealed::find_by_statement(crate::db::stmt(
        "SELECT nonce, ciphertext FROM secrets WHERE name = $1",
        vec![name.into()],
    ))
    .one(&txn)
    .await?;
    txn.commit().await?;
    let Some(sealed) = sealed else { return Ok(Err(format!("there is no secret named {name}"))) };
    Ok(decrypt(settings, &sealed.nonce, &sealed.ciphertext)
        .ok_or_else(|| format!("the secret {name} cannot be decrypted")))
}
