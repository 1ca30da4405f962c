//! The audit log an accountant can verify: append-only, enforced by the
//! database (UPDATE, DELETE and TRUNCATE are refused by triggers, for the
//! application's own connection too), and hash-chained. Each event gets a
//! sequence number and the SHA-256 of the previous event's hash followed by
//! its own canonical text (`audit_canonical`: the row as jsonb, its time in
//! UTC, without the chain fields), under a per-business lock so the chain
//! never forks. Existing events are chained in their order.

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
ALTER TABLE audit_events ADD COLUMN seq bigint, ADD COLUMN prev_hash text, ADD COLUMN hash text;

CREATE FUNCTION audit_canonical(e audit_events) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT ((to_jsonb(e) - 'seq' - 'prev_hash' - 'hash')
            || jsonb_build_object('at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                  'seq', e.seq))::text
$$;

CREATE FUNCTION audit_event_hash(prev text, e audit_events) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(coalesce(prev, '') || audit_canonical(e), 'UTF8')), 'hex')
$$;

DO $$
DECLARE r audit_events; last text := ''; n bigint := 0;
BEGIN
    FOR r IN SELECT * FROM audit_events ORDER BY id LOOP
        n := n + 1;
        r.seq := n;
        r.prev_hash := last;
        r.hash := audit_event_hash(last, r);
        UPDATE audit_events SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
        last := r.hash;
    END LOOP;
END $$;

ALTER TABLE audit_events ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);

CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE last audit_events;
BEGIN
    -- One writer at a time per business: the chain is in commit order and never forks.
    PERFORM pg_advisory_xact_lock(hashtext(TG_TABLE_SCHEMA || '.audit_events'));
    EXECUTE format('SELECT * FROM %I.audit_events ORDER BY seq DESC LIMIT 1', TG_TABLE_SCHEMA) INTO last;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.prev_hash := coalesce(last.hash, '');
    NEW.hash := audit_event_hash(NEW.prev_hash, NEW);
    RETURN NEW;
END $$;
CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_chain();

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is refused', TG_OP;
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
"#,
            )
            .await?;
        Ok(())
    }
}
