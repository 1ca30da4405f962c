//! The door accepts the events that arrive together in one statement:
//! `public.accept_events` takes a business's events as one JSON array and
//! does for each what `accept_event` does for one (an event and its queued
//! run for a new key, a `duplicate` delivery of the original run for a known
//! one, nothing when the configuration moved), so concurrent deliveries
//! share one round trip and one commit. Two events of one array with the
//! same key: the first makes the run, the second answers with no run and no
//! earlier one, and the caller reads the winner after the commit.

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
CREATE OR REPLACE FUNCTION public.accept_events(business_schema text, batch jsonb)
RETURNS TABLE (new_event uuid, accepted_fresh boolean, accepted_run uuid, prior_run uuid)
LANGUAGE plpgsql AS $$
BEGIN
    IF business_schema !~ '^t_[a-z0-9_]{1,48}$' THEN
        RAISE EXCEPTION 'not a business schema: %', business_schema;
    END IF;
    PERFORM set_config('search_path', business_schema, true);
    RETURN QUERY
    WITH given AS (
        SELECT * FROM jsonb_to_recordset(batch) AS i(
            generation bigint, workflow uuid, idempotency text, event uuid, via text, kind text, record jsonb,
            received jsonb, run uuid, label text, version int, context jsonb, pins jsonb)),
    judged AS (
        SELECT g.*, g.generation = (SELECT value FROM config_generation) AS ok,
               (SELECT e.run_id FROM events e
                 WHERE g.idempotency IS NOT NULL AND e.workflow_id = g.workflow AND e.idempotency_key = g.idempotency) AS earlier
          FROM given g),
    made AS (
        INSERT INTO events (id, workflow_id, channel, event_type, idempotency_key, payload, raw, run_id)
        SELECT j.event, j.workflow, j.via, j.kind, j.idempotency, j.record, j.received, j.run
          FROM judged j WHERE j.ok AND j.earlier IS NULL
        ON CONFLICT (workflow_id, idempotency_key) DO NOTHING
        RETURNING id),
    run AS (
        INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, event_id, context, pinned)
        SELECT j.run, j.workflow, j.label, j.version, j.event, j.context, j.pins
          FROM judged j JOIN made m ON m.id = j.event
        RETURNING id),
    repeat AS (
        INSERT INTO deliveries (workflow_name, channel, outcome, status_code, reason, run_id)
        SELECT j.label, j.via, 'duplicate', 200, 'repeat of an accepted delivery', j.earlier
          FROM judged j WHERE j.ok AND j.earlier IS NOT NULL)
    SELECT j.event, j.ok, r.id, j.earlier FROM judged j LEFT JOIN run r ON r.id = j.run;
END $$;
"#,
            )
            .await?;
        Ok(())
    }
}
