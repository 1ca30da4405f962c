//! Retention: each workflow keeps its runs' payloads (the event's record,
//! step inputs and outputs, drafts, the emails that carried them) for
//! `data_retention_days` (default 90) after the run finished; the daily job
//! then empties them and marks the run and its event `purged_at`, keeping
//! the run's metadata, costs and KPI tallies so reports keep working.

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
ALTER TABLE workflows ADD COLUMN data_retention_days integer NOT NULL DEFAULT 90
    CHECK (data_retention_days BETWEEN 1 AND 3650);
ALTER TABLE runs ADD COLUMN purged_at timestamptz;
ALTER TABLE events ADD COLUMN purged_at timestamptz;
CREATE INDEX runs_to_purge ON runs (finished_at) WHERE purged_at IS NULL AND finished_at IS NOT NULL;
"#,
            )
            .await?;
        Ok(())
    }
}
