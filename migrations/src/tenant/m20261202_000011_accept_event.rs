//! The door's accept as one function in each business's schema, so that an
//! accepted event costs one round trip: the call runs in the statement's
//! own transaction, and the function's `search_path` is fixed to the
//! schema it lives in (`SET search_path FROM CURRENT`, captured while the
//! migration runs with the business's path), so it can only ever write
//! that business's tables. Unless the configuration generation moved
//! (`accepted_fresh` false, nothing written), a new idempotency key makes
//! an event, its queued run and an `accepted` delivery; a known key makes a
//! `duplicate` delivery of the original run (`prior_run`). Both runs null
//! with `accepted_fresh`: a concurrent delivery of the same key won the
//! race between the snapshot and the insert.

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
CREATE FUNCTION accept_event(
    generation bigint, workflow uuid, idempotency text, new_event uuid, via text, kind text,
    record jsonb, received jsonb, new_run uuid, workflow_label text, version int, run_context jsonb, run_pins jsonb,
    OUT accepted_fresh boolean, OUT accepted_run uuid, OUT prior_run uuid)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    WITH fresh AS (SELECT value = $1 AS ok FROM config_generation),
    prior AS (
        SELECT r.id FROM events e JOIN runs r ON r.event_id = e.id
         WHERE $3 IS NOT NULL AND e.workflow_id = $2 AND e.idempotency_key = $3),
    event AS (
        INSERT INTO events (id, workflow_id, channel, event_type, idempotency_key, payload, raw)
        SELECT $4, $2, $5, $6, $3, $7, $8
         WHERE (SELECT ok FROM fresh) AND NOT EXISTS (SELECT 1 FROM prior)
        ON CONFLICT (workflow_id, idempotency_key) DO NOTHING
        RETURNING id),
    run AS (
        INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, event_id, context, pinned)
        SELECT $9, $2, $10, $11, id, $12, $13 FROM event
        RETURNING id),
    answer AS (SELECT (SELECT id FROM run) AS made, (SELECT id FROM prior) AS earlier),
    delivery AS (
        INSERT INTO deliveries (workflow_name, channel, outcome, status_code, reason, run_id)
        SELECT $10, $5,
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
