//! Standard Webhooks signing secrets, one set per workflow: created and
//! rotated by an engineer (shown once), stored encrypted, and used to verify
//! every delivery with the `standardwebhooks` crate.

use crate::db::{scalar, stmt};
use crate::tenant::Tenant;
use crate::{audit, auth::CurrentMember, config::Settings, secrets};
use base64::Engine;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::json;

/// How long a rotated-out secret keeps working, so senders can switch over.
pub const DEFAULT_GRACE_HOURS: i64 = 24;

/// A fresh secret in the `whsec_<base64>` form senders expect.
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Creates a new secret for the workflow; earlier secrets stay valid for
/// `grace_hours`. Returns the new secret (the only time it is shown).
pub async fn rotate(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    workflow: &str,
    grace_hours: i64,
) -> Result<Option<String>, DbErr> {
    install(db, settings, member, workflow, generate(), grace_hours, "new signing secret").await
}

/// Why a pasted secret cannot be used, if it cannot.
pub fn check_pasted(secret: &str) -> Result<(), String> {
    let length = secret.chars().count();
    if !(16..=512).contains(&length) {
        return Err("a signing secret is 16 to 512 characters; paste the whole secret the sending tool shows".into());
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "a signing secret has no spaces or line breaks; paste it exactly as the sending tool shows it".into()
        );
    }
    Ok(())
}

/// Uses a secret the sending tool made (Stripe, Shopify, HubSpot, Zendesk
/// and Svix senders show their own) as the workflow's newest; earlier ones
/// stay valid for `grace_hours`. None: no such workflow.
pub async fn paste(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    workflow: &str,
    secret: &str,
    grace_hours: i64,
) -> Result<Option<String>, DbErr> {
    let secret = secret.trim().to_owned();
    check_pasted(&secret).map_err(DbErr::Custom)?;
    install(db, settings, member, workflow, secret, grace_hours, "signing secret pasted from the sending tool").await
}

async fn install(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    workflow: &str,
    secret: String,
    grace_hours: i64,
    what: &str,
) -> Result<Option<String>, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let found: Option<Uuid> =
        scalar(&txn, stmt("SELECT id AS value FROM workflows WHERE name = $1 FOR UPDATE", vec![workflow.into()]))
            .await?;
    let Some(workflow_id) = found else {
        return Ok(None);
    };
    txn.execute_raw(stmt(
        "UPDATE webhook_secrets SET valid_until = now() + make_interval(hours => $2::int)
          WHERE workflow_id = $1 AND (valid_until IS NULL OR valid_until > now() + make_interval(hours => $2::int))",
        vec![workflow_id.into(), (grace_hours.clamp(0, 24 * 30) as i32).into()],
    ))
    .await?;
    let (nonce, ciphertext) = secrets::encrypt(settings, &secret);
    txn.execute_raw(stmt(
        "INSERT INTO webhook_secrets (id, workflow_id, nonce, ciphertext) VALUES ($1, $2, $3, $4)",
        vec![Uuid::new_v4().into(), workflow_id.into(), nonce.into(), ciphertext.into()],
    ))
    .await?;
    audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "workflow.webhook_secret_rotated",
        workflow,
        &format!("{what}; the previous one works for {grace_hours} more hours"),
        json!({ "grace_hours": grace_hours }),
    )
    .await?;
    txn.commit().await?;
    Ok(Some(secret))
}

/// A signing secret and until when it is accepted (None: until rotated).
#[derive(Debug, Clone, PartialEq)]
pub struct SigningSecret {
    pub value: String,
    pub valid_until: Option<DateTimeUtc>,
}

/// The secrets a delivery may be signed with now or later, newest first.
pub async fn valid_secrets(
    txn: &DatabaseTransaction,
    settings: &Settings,
    workflow_id: Uuid,
) -> Result<Vec<SigningSecret>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        nonce: Vec<u8>,
        ciphertext: Vec<u8>,
        valid_until: Option<DateTimeUtc>,
    }
    let rows = Row::find_by_statement(stmt(
        "SELECT nonce, ciphertext, valid_until FROM webhook_secrets
          WHERE workflow_id = $1 AND (valid_until IS NULL OR valid_until > now())
          ORDER BY created_at DESC",
        vec![workflow_id.into()],
    ))
    .all(txn)
    .await?;
    // A secret sealed under another APP_SECRET cannot sign anything now (README: changing it means new secrets).
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            secrets::decrypt(settings, &r.nonce, &r.ciphertext)
                .map(|value| SigningSecret { value, valid_until: r.valid_until })
        })
        .collect())
}

/// Whether the workflow has a signing secret that works now.
pub async fn has_secret(db: &DatabaseConnection, tenant: &Tenant, workflow: &str) -> Result<bool, DbErr> {
    let txn = tenant.begin(db).await?;
    let found = txn
        .query_one_raw(stmt(
            "SELECT 1 FROM webhook_secrets s JOIN workflows w ON w.id = s.workflow_id
              WHERE w.name = $1 AND (s.valid_until IS NULL OR s.valid_until > now())",
            vec![workflow.into()],
        ))
        .await?
        .is_some();
    txn.commit().await?;
    Ok(found)
}

/// The three Standard Webhooks headers of a delivery, as received.
#[derive(Debug, Clone, Default)]
pub struct SignatureHeaders {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
}

/// Why a delivery's signature was refused, in words a sender can act on.
pub fn verify(secrets: &[String], headers: &SignatureHeaders, body: &[u8]) -> Result<(), String> {
    let missing: Vec<&str> = [
        ("webhook-id", &headers.id),
        ("webhook-timestamp", &headers.timestamp),
        ("webhook-signature", &headers.signature),
    ]
    .into_iter()
    .filter(|(_, v)| v.as_deref().is_none_or(|s| s.trim().is_empty()))
    .map(|(name, _)| name)
    .collect();
    if !missing.is_empty() {
        return Err(format!("unsigned request: missing {} (Standard Webhooks)", missing.join(", ")));
    }
    if secrets.is_empty() {
        return Err("this workflow has no signing secret yet; an engineer creates one on the workflow page".into());
    }
    let mut map = http::HeaderMap::new();
    for (name, value) in [
        (standardwebhooks::HEADER_WEBHOOK_ID, &headers.id),
        (standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, &headers.timestamp),
        (standardwebhooks::HEADER_WEBHOOK_SIGNATURE, &headers.signature),
    ] {
        let value = http::HeaderValue::from_str(value.as_deref().unwrap_or_default())
            .map_err(|_| format!("{name} is not a valid header value"))?;
        map.insert(name, value);
    }
    let mut last = String::new();
    for secret in secrets {
        let Ok(hook) = standardwebhooks::Webhook::new(secret) else { continue };
        match hook.verify(body, &map) {
            Ok(()) => return Ok(()),
            Err(
                standardwebhooks::WebhookError::TimestampTooOldError
                | standardwebhooks::WebhookError::FutureTimestampError,
            ) => return Err("stale webhook-timestamp: more than 5 minutes from the server's clock".into()),
            Err(standardwebhooks::WebhookError::InvalidTimestamp) => {
                return Err("webhook-timestamp is not a Unix time in seconds".into())
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("the signature does not match the body with any current signing secret ({last})"))
}

/// Signs a body the way a sender does (for the curl example, tests and benchmarks).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    standardwebhooks::Webhook::new(secret)
        .map_err(|e| e.to_string())?
        .sign(id, timestamp, body)
        .map_err(|e| e.to_string())
}
