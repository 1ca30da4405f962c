//! What keeps Steward running unattended: each worker process's heartbeat
//! per queue (what it last consumed, how often it restarted), and the
//! alerts already sent about a stalled queue, so operations hear once.

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
CREATE TABLE public.worker_heartbeats (
    process           text NOT NULL,
    queue             text NOT NULL CHECK (queue IN ('runs', 'email', 'schedule')),
    host              text NOT NULL,
    pid               integer NOT NULL,
    started_at        timestamptz NOT NULL,
    beat_at           timestamptz NOT NULL DEFAULT now(),
    state             text NOT NULL CHECK (state IN ('consuming', 'restarting', 'stopped')),
    consumed          bigint NOT NULL DEFAULT 0,
    last_consumed_at  timestamptz,
    last_job          text,
    restarts          integer NOT NULL DEFAULT 0,
    last_error        text,
    PRIMARY KEY (process, queue)
);
CREATE INDEX worker_heartbeats_recent ON public.worker_heartbeats (queue, beat_at);

-- A stalled queue operations were told about; the row goes when it moves again.
CREATE TABLE public.worker_alerts (
    queue        text PRIMARY KEY,
    since        timestamptz NOT NULL,
    notified_at  timestamptz NOT NULL DEFAULT now(),
    detail       text NOT NULL
);
"#,
            )
            .await?;
        Ok(())
    }
}
