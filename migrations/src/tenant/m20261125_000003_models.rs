//! Model providers, their models and prices, and the two tiers llm steps use.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
-- One row per model at a provider. Prices are in millionths of the currency
-- unit per million tokens (integers: no floating point for money).
CREATE TABLE models (
    id                         uuid PRIMARY KEY,
    provider                   text NOT NULL CHECK (provider IN ('openai_compatible', 'anthropic', 'offline')),
    label                      text NOT NULL UNIQUE,
    base_url                   text NOT NULL DEFAULT '',
    model                      text NOT NULL,
    input_micros_per_million   bigint NOT NULL CHECK (input_micros_per_million >= 0),
    output_micros_per_million  bigint NOT NULL CHECK (output_micros_per_million >= 0),
    key_nonce                  bytea,
    key_ciphertext             bytea,
    created_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_tiers (
    tier      text PRIMARY KEY CHECK (tier IN ('small', 'premium')),
    model_id  uuid NOT NULL REFERENCES models(id)
);

-- Every business starts with the offline model on both tiers, so a fresh
-- install runs end to end with no key.
INSERT INTO models (id, provider, label, model, input_micros_per_million, output_micros_per_million)
VALUES ('00000000-0000-0000-0000-00000000000f', 'offline', 'Offline (built in)', 'steward-offline', 0, 0);
INSERT INTO model_tiers (tier, model_id) VALUES
    ('small', '00000000-0000-0000-0000-00000000000f'),
    ('premium', '00000000-0000-0000-0000-00000000000f');
"#,
            )
            .await?;
        Ok(())
    }
}
