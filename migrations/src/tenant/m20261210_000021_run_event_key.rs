//! Accepting an event no longer locks it for its run. `runs.event_id`
//! referenced `events`, so the door's statement ran a referential check
//! for every accepted event (a trigger and a `SELECT … FOR KEY SHARE` on
//! the event it had just inserted in the same statement, whose lock is a
//! write-ahead-log record of its own). Events and runs are never deleted
//! (retention empties them and keeps the rows; deleting a business drops
//! its schema), and the run is inserted from the event's own `RETURNING`,
//! so the key guarded nothing the code does. The index `runs_event` stays
//! (a repeated delivery finds its run by it).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("ALTER TABLE runs DROP CONSTRAINT runs_event_id_fkey;").await?;
        Ok(())
    }
}
