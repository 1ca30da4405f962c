//! A run's progress write, cheaper: step records and cost lines no longer
//! check their run by foreign key. Each row the run engine writes into
//! `run_steps` or `cost_lines` ran a referential check (a trigger and a
//! `SELECT … FOR KEY SHARE` on the run), about eleven per run, inside the
//! statement that also updates that very run while holding its lease. Runs
//! are never deleted (retention empties a run's content and keeps the row;
//! deleting a business drops its schema), so the keys' cascades never ran
//! either; every writer of these rows writes for a run it holds (the
//! worker's lease) or has just read (a reviewer's decision on its task).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE run_steps DROP CONSTRAINT run_steps_run_id_fkey;
                 ALTER TABLE cost_lines DROP CONSTRAINT cost_lines_run_id_fkey;",
            )
            .await?;
        Ok(())
    }
}
