//! Settings → Models: providers and models with their prices, the `small`
//! and `premium` tiers llm steps refer to, and provider keys stored
//! encrypted and never shown again.

use crate::db::{scalar, stmt};
use crate::{audit, auth::CurrentMember, config::Settings, secrets};
use engine::FieldError;
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};
use serde_json::json;

pub const PROVIDERS: [&str; 3] = ["openai_compatible", "anthropic", "offline"];
pub const TIERS: [&str; 2] = ["small", "premium"];

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the model has problems")]
    Invalid(Vec<FieldError>),
    #[error("there is no such model")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// A model as the settings page shows it: never the key, only whether one is set.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ModelRow {
    pub id: Uuid,
    pub provider: String,
    pub label: String,
    pub base_url: String,
    pub model: String,
    pub input_micros_per_million: i64,
    pub output_micros_per_million: i64,
    pub has_key: bool,
    pub tiers: String,
}

pub async fn list(db: &DatabaseConnection, member: &CurrentMember) -> Result<Vec<ModelRow>, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let rows = ModelRow::find_by_statement(stmt(
        "SELECT m.id, m.provider, m.label, m.base_url, m.model, m.input_micros_per_million, m.output_micros_per_million,
                m.key_ciphertext IS NOT NULL AS has_key,
                coalesce((SELECT string_agg(t.tier, ',' ORDER BY t.tier) FROM model_tiers t WHERE t.model_id = m.id), '') AS tiers
           FROM models m ORDER BY m.created_at, m.label",
        vec![],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

/// What a person types to add a model.
#[derive(Debug, Clone, Default)]
pub struct NewModel {
    pub provider: String,
    pub label: String,
    pub base_url: String,
    pub model: String,
    /// Prices per million tokens, in the currency's units as typed (e.g. "0.15").
    pub input_price: String,
    pub output_price: String,
    pub api_key: String,
}

pub async fn add(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    new: &NewModel,
) -> Result<Uuid, ModelError> {
    let mut errors = Vec::new();
    if !PROVIDERS.contains(&new.provider.as_str()) {
        errors.push(FieldError::new("provider", "Choose OpenAI-compatible, Anthropic or offline."));
    }
    if new.label.trim().is_empty() {
        errors.push(FieldError::new("label", "Give the model a name people recognise."));
    }
    if new.model.trim().is_empty() {
        errors.push(FieldError::new("model", "Enter the provider's model id, e.g. gpt-4o-mini."));
    }
    if new.provider == "openai_compatible"
        && url::Url::parse(new.base_url.trim()).map(|u| !u.scheme().starts_with("http")).unwrap_or(true)
    {
        errors.push(FieldError::new("base_url", "Enter the API's base URL, e.g. https://api.openai.com/v1."));
    }
    if new.provider != "offline" && new.api_key.trim().is_empty() && new.provider != "openai_compatible" {
        errors.push(FieldError::new("api_key", "Anthropic needs an API key."));
    }
    let input = engine::money::parse(&new.input_price);
    let output = engine::money::parse(&new.output_price);
    if input.is_none() {
        errors.push(FieldError::new("input_price", "Enter the price per million input tokens, e.g. 0.15."));
    }
    if output.is_none() {
        errors.push(FieldError::new("output_price", "Enter the price per million output tokens, e.g. 0.60."));
    }
    let (Some(input), Some(output), true) = (input, output, errors.is_empty()) else {
        return Err(ModelError::Invalid(errors));
    };
    let (nonce, ciphertext) = if new.api_key.trim().is_empty() {
        (None, None)
    } else {
        let (n, c) = secrets::encrypt(settings, new.api_key.trim());
        (Some(n), Some(c))
    };
    let id = Uuid::new_v4();
    let txn = member.tenant.begin(db).await?;
    let inserted = txn
        .execute_raw(stmt(
            "INSERT INTO models (id, provider, label, base_url, model, input_micros_per_million, output_micros_per_million, key_nonce, key_ciphertext)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (label) DO NOTHING",
            vec![
                id.into(),
                new.provider.clone().into(),
                new.label.trim().into(),
                new.base_url.trim().into(),
                new.model.trim().into(),
                input.into(),
                output.into(),
                nonce.into(),
                ciphertext.into(),
            ],
        ))
        .await?;
    if inserted.rows_affected() == 0 {
        return Err(ModelError::Invalid(vec![FieldError::new("label", "A model with this name exists already.")]));
    }
    audit::record_change(
        &txn,
        Some(member),
        "model",
        "model.added",
        new.label.trim(),
        &format!(
            "{} {} at {}/{} per million tokens",
            new.provider,
            new.model.trim(),
            new.input_price.trim(),
            new.output_price.trim()
        ),
        json!({ "provider": new.provider, "model": new.model.trim(), "has_key": !new.api_key.trim().is_empty() }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// Points a tier at a model; a recorded change (it changes what runs cost).
pub async fn set_tier(
    db: &DatabaseConnection,
    member: &CurrentMember,
    tier: &str,
    model_id: Uuid,
) -> Result<(), ModelError> {
    if !TIERS.contains(&tier) {
        return Err(ModelError::Invalid(vec![FieldError::new("tier", "The tiers are small and premium.")]));
    }
    let txn = member.tenant.begin(db).await?;
    let label: String = scalar(&txn, stmt("SELECT label AS value FROM models WHERE id = $1", vec![model_id.into()]))
        .await?
        .ok_or(ModelError::NotFound)?;
    txn.execute_raw(stmt(
        "INSERT INTO model_tiers (tier, model_id) VALUES ($1, $2) ON CONFLICT (tier) DO UPDATE SET model_id = excluded.model_id",
        vec![tier.into(), model_id.into()],
    ))
    .await?;
    audit::record_change(
        &txn,
        Some(member),
        "model",
        "model.tier_changed",
        tier,
        &format!("{tier} tier now uses {label}"),
        json!({ "model": label }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// A provider key, decrypted for the engine's provider call (never for display).
pub async fn provider_key(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    model_id: Uuid,
) -> Result<Option<String>, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let key = SealedKey::find_by_statement(stmt(
        "SELECT key_nonce, key_ciphertext FROM models WHERE id = $1",
        vec![model_id.into()],
    ))
    .one(&txn)
    .await?;
    txn.commit().await?;
    Ok(key.and_then(|k| k.open(settings)))
}

/// A provider key as stored: sealed with the installation's key, or absent.
#[derive(FromQueryResult)]
struct SealedKey {
    key_nonce: Option<Vec<u8>>,
    key_ciphertext: Option<Vec<u8>>,
}

impl SealedKey {
    /// The key; None without one, or when it was sealed under another APP_SECRET.
    fn open(self, settings: &Settings) -> Option<String> {
        secrets::decrypt(settings, &self.key_nonce?, &self.key_ciphertext?)
    }
}

/// The model a tier uses, with its key decrypted, for a provider call.
pub async fn for_tier(
    db: &DatabaseConnection,
    settings: &Settings,
    member: &CurrentMember,
    tier: &str,
) -> Result<crate::providers::ModelConfig, ModelError> {
    if !TIERS.contains(&tier) {
        return Err(ModelError::Invalid(vec![FieldError::new("tier", "The tiers are small and premium.")]));
    }
    let txn = member.tenant.begin(db).await?;
    let model_id: Uuid =
        scalar(&txn, stmt("SELECT model_id AS value FROM model_tiers WHERE tier = $1", vec![tier.into()]))
            .await?
            .ok_or(ModelError::NotFound)?;
    let config = config_by_id(&txn, settings, model_id).await?.ok_or(ModelError::NotFound)?;
    txn.commit().await?;
    Ok(config)
}

/// The model a run pinned, with its key decrypted, in a transaction of its own.
pub async fn pinned(
    db: &DatabaseConnection,
    settings: &Settings,
    tenant: &crate::Tenant,
    model_id: Uuid,
) -> Result<Option<crate::providers::ModelConfig>, DbErr> {
    let txn = tenant.begin(db).await?;
    let config = config_by_id(&txn, settings, model_id).await?;
    txn.commit().await?;
    Ok(config)
}

/// A model by id with its key decrypted (a run uses the model it pinned).
pub async fn config_by_id(
    txn: &sea_orm::DatabaseTransaction,
    settings: &Settings,
    model_id: Uuid,
) -> Result<Option<crate::providers::ModelConfig>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        provider: String,
        label: String,
        base_url: String,
        model: String,
        input_micros_per_million: i64,
        output_micros_per_million: i64,
        #[sea_orm(nested)]
        key: SealedKey,
    }
    let row = Row::find_by_statement(stmt(
        "SELECT provider, label, base_url, model, input_micros_per_million, output_micros_per_million, key_nonce, key_ciphertext
           FROM models WHERE id = $1",
        vec![model_id.into()],
    ))
    .one(txn)
    .await?;
    Ok(row.map(|r| crate::providers::ModelConfig {
        provider: r.provider,
        label: r.label,
        base_url: r.base_url,
        model: r.model,
        input_micros_per_million: r.input_micros_per_million,
        output_micros_per_million: r.output_micros_per_million,
        api_key: r.key.open(settings),
    }))
}
