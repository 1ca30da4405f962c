//! A cost line's key leads with its run: `(run_id, id)` replaces the key on
//! `id` alone and the index on `run_id`, which only served the reads of a
//! run's lines. One index entry fewer for every line a run writes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE cost_lines DROP CONSTRAINT cost_lines_pkey;
                 ALTER TABLE cost_lines ADD PRIMARY KEY (run_id, id);
                 DROP INDEX cost_lines_run;",
            )
            .await?;
        Ok(())
    }
}
