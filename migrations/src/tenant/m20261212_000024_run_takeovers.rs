//! How often a worker took a run over from an execution that ended without
//! finishing it (a lapsed lease): the sweeper ends a run failed once it has
//! been taken over `STEWARD_RUN_MOST_TAKEOVERS` times, instead of starting
//! a run that stops its worker again for ever. A constant default, so
//! adding the column rewrites nothing.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE runs ADD COLUMN takeovers integer NOT NULL DEFAULT 0;")
            .await?;
        Ok(())
    }
}
