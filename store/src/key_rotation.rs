//! `steward keys rotate`: re-seals every stored secret under the current
//! encryption key, business by business, so the previous key can be retired.
//! Readers keep working throughout: until a row is re-sealed the old key (still
//! in the keyring) opens it, and each row is replaced in one statement.

use crate::{config::Settings, db::stmt, tenant::Tenant};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};

/// A pair of columns holding one sealed secret, and the row's key.
struct SealedColumn {
    table: &'static str,
    key: &'static str,
    nonce: &'static str,
    ciphertext: &'static str,
}

/// Every sealed secret in a business's schema.
const TENANT_COLUMNS: &[SealedColumn] = &[
    SealedColumn { table: "secrets", key: "name", nonce: "nonce", ciphertext: "ciphertext" },
    SealedColumn { table: "webhook_secrets", key: "id", nonce: "nonce", ciphertext: "ciphertext" },
    SealedColumn { table: "models", key: "id", nonce: "key_nonce", ciphertext: "key_ciphertext" },
    SealedColumn { table: "slack_connection", key: "id", nonce: "bot_token_nonce", ciphertext: "bot_token" },
    SealedColumn { table: "slack_connection", key: "id", nonce: "signing_secret_nonce", ciphertext: "signing_secret" },
];

/// Sealed secrets outside any business (people's two-factor secrets).
const PUBLIC_COLUMNS: &[SealedColumn] =
    &[SealedColumn { table: "public.users", key: "id", nonce: "totp_nonce", ciphertext: "totp_secret" }];

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub resealed: usize,
    pub already_current: usize,
    /// Secrets no key in the keyring opens (`table key`): left as they are, to re-enter.
    pub unreadable: Vec<String>,
}

#[derive(FromQueryResult)]
struct SealedRow {
    key: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

async fn reseal<C: ConnectionTrait>(
    conn: &C,
    settings: &Settings,
    column: &SealedColumn,
    report: &mut RotationReport,
) -> Result<(), DbErr> {
    let SealedColumn { table, key, nonce, ciphertext } = column;
    // Identifiers come from the constant tables above, never from input.
    let rows = SealedRow::find_by_statement(stmt(
        &format!(
            "SELECT {key}::text AS key, {nonce} AS nonce, {ciphertext} AS ciphertext FROM {table}
              WHERE {ciphertext} IS NOT NULL FOR UPDATE"
        ),
        vec![],
    ))
    .all(conn)
    .await?;
    for row in rows {
        if settings.keyring.is_current(&row.ciphertext) {
            report.already_current += 1;
            continue;
        }
        let Some(plain) = settings.keyring.open(&row.nonce, &row.ciphertext) else {
            report.unreadable.push(format!("{table} {}", row.key));
            continue;
        };
        let (new_nonce, new_ciphertext) = settings.keyring.seal(&plain);
        conn.execute_raw(stmt(
            &format!("UPDATE {table} SET {nonce} = $1, {ciphertext} = $2 WHERE {key}::text = $3"),
            vec![new_nonce.into(), new_ciphertext.into(), row.key.into()],
        ))
        .await?;
        report.resealed += 1;
    }
    Ok(())
}

/// Re-seals every secret of every business, and people's two-factor secrets,
/// under the keyring's current key; one transaction per business.
pub async fn rotate(db: &DatabaseConnection, settings: &Settings) -> Result<RotationReport, DbErr> {
    let mut report = RotationReport::default();
    for tenant in crate::tenants::all(db).await? {
        rotate_business(db, settings, &tenant, &mut report).await?;
    }
    let txn = sea_orm::TransactionTrait::begin(db).await?;
    for column in PUBLIC_COLUMNS {
        reseal(&txn, settings, column, &mut report).await?;
    }
    txn.commit().await?;
    Ok(report)
}

async fn rotate_business(
    db: &DatabaseConnection,
    settings: &Settings,
    tenant: &Tenant,
    report: &mut RotationReport,
) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    let before = report.resealed;
    for column in TENANT_COLUMNS {
        reseal(&txn, settings, column, report).await?;
    }
    if report.resealed > before {
        crate::audit::record_change(
            &txn,
            None,
            "secret",
            "keys.rotated",
            settings.keyring.current_id(),
            "stored secrets re-sealed under the current encryption key",
            serde_json::json!({ "resealed": report.resealed - before, "key": settings.keyring.current_id() }),
        )
        .await?;
    }
    txn.commit().await
}
