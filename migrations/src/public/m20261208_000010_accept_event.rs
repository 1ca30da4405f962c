//! The door's accept as one function shared by every business, so that an
//! accepted event costs one round trip. The call is a single statement, so
//! it runs in its own implicit transaction; the function first sets that
//! transaction's `search_path` to the business's schema (`set_config(…,
//! true)`, local to the transaction, as every tenant query does) and then
//! runs the door's statement there. PostgreSQL re-plans the statement when
//! the path differs from the one it was planned under, so one compiled
//! copy per connection serves every business (a function per business
//! kept one copy of each per connection: p95 doubled at 1,000 businesses).
//!
//! Unless the business's configuration generation moved (`accepted_fresh`
//! false, nothing written), a new idempotency key makes an event, its
//! queued run and an `accepted` delivery; a known key makes a `duplicate`
//! delivery of the original run (`prior_run`). Both runs null with
//! `accepted_fresh`: a concurrent delivery of the same key won the race
//! between the statement's snapshot and its insert.

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
CREATE FUNCTION public.accept_event(
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
        SELECT r.id FROM events e JOIN runs r ON r.event_id = e.id
         WHERE idempotency IS NOT NULL AND e.workflow_id = workflow AND e.idempotency_key = idempotency),
    event AS (
        INSERT INTO events (id, workflow_id, channel, event_type, idempotency_key, payload, raw)
        SELECT new_event, workflow, via, kind, idempotency, record, received
         WHERE (SELECT ok FROM fresh) AND NOT EXISTS (SELECT 1 FROM prior)
        ON CONFLICT (workflow_id, idempotency_key) DO NOTHING
        RETURNING id),
    run AS (
        INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, event_id, context, pinned)
        SELECT new_run, workflow, workflow_label, version, id, run_context, run_pins FROM event
        RETURNING id),
    answer AS (SELECT (SELECT id FROM run) AS made, (SELECT id FROM prior) AS earlier),
    delivery AS (
        INSERT INTO deliveries (workflow_name, channel, outcome, status_code, reason, run_id)
        SELECT workflow_label, via,
               CASE WHEN made IS NOT NULL THEN 'accepted' ELSE 'duplicate' END,
               CASE WHEN made IS NOT NULL THEN 202 ELSE 200 END,
               CASE WHEN made IS NOT NULL THEN '' ELSE 'repeat of an accepted delivery' END,
               coalesce(made, earlier)
          FROM answer WHERE made IS NOT NULL OR earlier IS NOT NULL)
    SELECT (SELECT ok FROM fresh), made, earlier INTO accepted_fresh, accepted_run, prior_run FROM answer;
END $$;
"#,
            )
            .await?;
        Ok(())
    }
}
