//! A number that moves whenever a business changes what the door and the
//! run engine read on every event (workflows and their versions, data
//! contracts, signing secrets, vault secrets, prompts and their labels,
//! models and tiers, cost rates). The door and the worker keep what they
//! read in memory and check this number in the same statement that writes
//! the event, so a change applies to the very next event.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const WATCHED: [&str; 11] = [
    "workflows",
    "workflow_versions",
    "data_contracts",
    "webhook_secrets",
    "secrets",
    "prompt_templates",
    "prompt_versions",
    "prompt_labels",
    "models",
    "model_tiers",
    "cost_rates",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            r#"
CREATE TABLE config_generation (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    value  bigint NOT NULL DEFAULT 1
);
INSERT INTO config_generation DEFAULT VALUES;
-- The operations figures count given-up mail by its date.
CREATE INDEX outbox_failed ON outbox (failed_at) WHERE status = 'failed';
-- Bound to this schema when created (the migration runs with the tenant's search_path).
CREATE FUNCTION bump_config_generation() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE config_generation SET value = value + 1;
    RETURN NULL;
END $$;
"#,
        )
        .await?;
        for table in WATCHED {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_config_generation AFTER INSERT OR UPDATE OR DELETE ON {table}
                 FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation()"
            ))
            .await?;
        }
        Ok(())
    }
}
