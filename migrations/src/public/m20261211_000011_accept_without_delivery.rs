//! The door writes no delivery row for an accepted event: the event and its
//! run already say that it came, when, by which channel and which run it
//! started, and the trigger's "Recent deliveries" reads accepted deliveries
//! from them (`store::runs::deliveries`). A delivery row is written for a
//! repeat (`duplicate`) as before, and the door's refusals write theirs.
//! One row and two index entries fewer per accepted event. A repeat finds
//! its original run through the event's unique key: the event names its
//! run (`events.run_id`, tenant migration `door_rows`, which also drops the
//! index on `runs.event_id`).

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
CREATE OR REPLACE FUNCTION public.accept_event(
    business_schema text, generation bigint, workflow uuid, idempotency text, new_event uuid, via text, kind text,
    record jsonb, received jsonb, new_run uuid, workflow_label text, version int, run_context jsonb, run_pins jsonb,
    OUT accepted_fresh boolean, OUT accepted_run uuid, OUT prior_run uuid)
LANGUAGE plpgsql AS $$
BEGIN
    IF business_schema !~ '^t_[a-z0-9_]{1,48}$' THEN
        RAISE EXCEPTION 'not a business schema: %', business_schema;
    END IF;
    PERFORM set_config('search_path', business_schema, true);
    WITH fresh AS (SELECT value = generation AS ok FROM config_generation),
    prior AS (
        SELECT e.run_id AS id FROM events e
         WHERE idempotency IS NOT NULL AND e.workflow_id = workflow AND e.idempotency_key = idempotency),
    event AS (
        INSERT INTO events (id, workflow_id, channel, event_type, idempotency_key, payload, raw, run_id)
        SELECT new_event, workflow, via, kind, idempotency, record, received, new_run
         WHERE (SELECT ok FROM fresh) AND NOT EXISTS (SELECT 1 FROM prior)
        ON CONFLICT (workflow_id, idempotency_key) DO NOTHING
        RETURNING id),
    run AS (
        INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, event_id, context, pinned)
        SELECT new_run, workflow, workflow_label, version, id, run_context, run_pins FROM event
        RETURNING id),
    answer AS (SELECT (SELECT id FROM run) AS made, (SELECT id FROM prior) AS earlier),
    repeat AS (
        INSERT INTO deliveries (workflow_name, channel, outcome, status_code, reason, run_id)
        SELECT workflow_label, via, 'duplicate', 200, 'repeat of an accepted delivery', earlier
          FROM answer WHERE made IS NULL AND earlier IS NOT NULL)
    SELECT (SELECT ok FROM fresh), made, earlier INTO accepted_fresh, accepted_run, prior_run FROM answer;
END $$;
"#,
            )
            .await?;
        Ok(())
    }
}
