//! Nothing left behind: each outbox email says where it is (pending,
//! sending under a worker's claim, sent, failed with the reason) so a send
//! is recorded before the job is acknowledged and never repeated; a run
//! counts how often its job had to be sent again and why the last send failed.

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
ALTER TABLE outbox
    ADD COLUMN status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    ADD COLUMN dispatches    integer NOT NULL DEFAULT 0,
    ADD COLUMN attempts      integer NOT NULL DEFAULT 0,
    ADD COLUMN claimed_by    text,
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN sent_at       timestamptz,
    ADD COLUMN failed_at     timestamptz,
    ADD COLUMN error         text;
-- Mail queued before this version was handed to the queue; its fate is not known, count it sent.
UPDATE outbox SET status = 'sent', sent_at = queued_at WHERE queued_at IS NOT NULL;
DROP INDEX IF EXISTS outbox_pending;
CREATE INDEX outbox_open ON outbox (created_at) WHERE status IN ('pending', 'sending');

ALTER TABLE runs
    ADD COLUMN dispatches     integer NOT NULL DEFAULT 0,
    ADD COLUMN dispatch_error text;
"#,
            )
            .await?;
        Ok(())
    }
}
