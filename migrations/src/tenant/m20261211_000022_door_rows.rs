//! Fewer rows and index entries per accepted event (with the public
//! migration `accept_without_delivery`, which changes the door's statement
//! to match):
//! - Accepted deliveries are read from the events and runs they made; the
//!   door no longer writes a delivery row for them, and the rows written
//!   before would show twice.
//! - An event names the run it started (`events.run_id`, known before
//!   either is inserted), so a repeated delivery finds its run through the
//!   event's own unique key and `runs_event` goes: it was an entry in every
//!   version of every run (an insert, a lease, an end) to serve repeats only.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM deliveries WHERE outcome = 'accepted';
                 ALTER TABLE events ADD COLUMN run_id uuid;
                 UPDATE events e SET run_id = r.id FROM runs r WHERE r.event_id = e.id;
                 DROP INDEX runs_event;",
            )
            .await?;
        Ok(())
    }
}
