//! The first tenant table: an append-only record of who changed what in the
//! business (members, roles; later workflows, prompts, budgets).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Unqualified names: the caller has set search_path to the tenant schema.
        manager
            .get_connection()
            .execute_unprepared(
                r#"
CREATE TABLE audit_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_user_id  uuid,
    actor_email    text,
    action         text NOT NULL,
    subject        text NOT NULL DEFAULT '',
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_at ON audit_events (at DESC);
"#,
            )
            .await?;
        Ok(())
    }
}
