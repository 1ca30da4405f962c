//! The door's statement, cheaper under load.
//!
//! - Accepting an event no longer locks its workflow's row. The foreign
//!   keys from `events` and `runs` to `workflows` made every accepted event
//!   take a FOR KEY SHARE lock on the same workflow row; under concurrency
//!   PostgreSQL turns those shared locks into MultiXacts, and the door's
//!   statement measured about a third slower at 8 concurrent senders.
//!   Workflows are never deleted (versions are added, the live one moves),
//!   so the keys guarded nothing the code does; the door writes the
//!   workflow id it read from the live workflow, and `runs.event_id` still
//!   references `events`.
//! - A repeated delivery finds its original run by index: the door's
//!   `prior` lookup joins `events` to `runs` on `event_id`, which had no
//!   index, so every duplicate scanned all of the business's runs (245 ms
//!   at 140,000 runs).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE events DROP CONSTRAINT events_workflow_id_fkey;
                 ALTER TABLE runs DROP CONSTRAINT runs_workflow_id_fkey;
                 CREATE INDEX runs_event ON runs (event_id);",
            )
            .await?;
        Ok(())
    }
}
