//! Workers beat for the replays queue too.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE public.worker_heartbeats DROP CONSTRAINT worker_heartbeats_queue_check;
                 ALTER TABLE public.worker_heartbeats ADD CONSTRAINT worker_heartbeats_queue_check
                     CHECK (queue IN ('runs', 'email', 'schedule', 'replays'));",
            )
            .await?;
        Ok(())
    }
}
