//! Events in, runs out: signing secrets, deliveries, events, the run state
//! machine with its steps, review tasks, the email outbox and the
//! exceptions report of records refused at the door.

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
-- How long refused records stay in the exceptions report.
ALTER TABLE workflows ADD COLUMN exception_retention_days integer NOT NULL DEFAULT 30
    CHECK (exception_retention_days BETWEEN 1 AND 365);

-- Standard Webhooks signing secrets, encrypted. A rotated secret stays
-- valid until valid_until (the grace period), then it is refused.
CREATE TABLE webhook_secrets (
    id           uuid PRIMARY KEY,
    workflow_id  uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    nonce        bytea NOT NULL,
    ciphertext   bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    valid_until  timestamptz
);
CREATE INDEX webhook_secrets_workflow ON webhook_secrets (workflow_id, created_at DESC);

-- Every delivery attempt, whatever became of it: the workflow page lists
-- them and refusals are counted, not lost.
CREATE TABLE deliveries (
    id            bigserial PRIMARY KEY,
    workflow_name text NOT NULL,
    channel       text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('accepted', 'duplicate', 'rejected', 'unauthorized', 'spam')),
    status_code   integer NOT NULL,
    reason        text NOT NULL DEFAULT '',
    run_id        uuid,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_workflow ON deliveries (workflow_name, received_at DESC);

-- Accepted events, normalised by the data contract. The idempotency key
-- (webhook-id, CloudEvents id or Idempotency-Key) makes a delivery count once.
CREATE TABLE events (
    id               uuid PRIMARY KEY,
    workflow_id      uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    channel          text NOT NULL,
    event_type       text NOT NULL,
    idempotency_key  text,
    payload          jsonb NOT NULL,
    raw              jsonb NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_id, idempotency_key)
);

-- Records that broke the data contract, with every reason, kept for the
-- workflow's retention period.
CREATE TABLE ingest_exceptions (
    id             uuid PRIMARY KEY,
    workflow_name  text NOT NULL,
    channel        text NOT NULL,
    raw            text NOT NULL,
    violations     jsonb NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX ingest_exceptions_recent ON ingest_exceptions (received_at DESC);

-- The run state machine. Postgres is the truth; Redis only wakes workers.
CREATE TABLE runs (
    id                uuid PRIMARY KEY,
    workflow_id       uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    workflow_name     text NOT NULL,
    workflow_version  integer NOT NULL,
    event_id          uuid REFERENCES events(id),
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'waiting_for_review', 'completed', 'failed', 'cancelled')),
    -- The trigger's record and every finished step's output, by output name.
    context           jsonb NOT NULL,
    -- Index of the next step to execute.
    next_step         integer NOT NULL DEFAULT 0,
    -- The step whose approval gate a person has cleared (so a resume does not ask again).
    cleared_step      integer,
    -- Prompt versions and models this run uses, fixed when it was created.
    pinned            jsonb NOT NULL DEFAULT '{}',
    lease_owner       text,
    lease_until       timestamptz,
    executions        integer NOT NULL DEFAULT 0,
    error             text,
    tokens_in         bigint NOT NULL DEFAULT 0,
    tokens_out        bigint NOT NULL DEFAULT 0,
    cost_micros       bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runs_recent ON runs (created_at DESC);
CREATE INDEX runs_workflow ON runs (workflow_name, created_at DESC);
CREATE INDEX runs_unfinished ON runs (status, updated_at) WHERE status IN ('queued', 'running');

-- One row per step execution; input and output are stored masked.
CREATE TABLE run_steps (
    run_id        uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step_index    integer NOT NULL,
    step_id       text NOT NULL,
    kind          text NOT NULL,
    status        text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'skipped', 'waiting')),
    attempts      integer NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    input         jsonb,
    output        jsonb,
    error         text,
    tokens_in     bigint NOT NULL DEFAULT 0,
    tokens_out    bigint NOT NULL DEFAULT 0,
    cost_micros   bigint NOT NULL DEFAULT 0,
    model         text,
    prompt_version integer,
    cache_hit     boolean NOT NULL DEFAULT false,
    -- Attempt history, policy decisions, routing notes.
    detail        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, step_index)
);

-- A person's decision a run waits for.
CREATE TABLE review_tasks (
    id            uuid PRIMARY KEY,
    run_id        uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step_index    integer NOT NULL,
    -- approval_step, low_confidence, high_value, policy, external_message, error
    reason        text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}',
    -- The context key the draft was written to (an edit replaces it).
    output_name   text,
    draft         jsonb,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'decided')),
    decision      text CHECK (decision IN ('approve', 'edit_and_approve', 'reject')),
    edited_output jsonb,
    reason_code   text,
    comment       text,
    decided_by    text,
    decided_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_tasks_open ON review_tasks (status, created_at);
CREATE INDEX review_tasks_run ON review_tasks (run_id);

-- Email a step decided to send, written in the same transaction as the
-- step's completion and handed to the mail queue after commit.
CREATE TABLE outbox (
    id          uuid PRIMARY KEY,
    run_id      uuid REFERENCES runs(id) ON DELETE CASCADE,
    recipient   text NOT NULL,
    subject     text NOT NULL,
    text_body   text NOT NULL,
    html_body   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    queued_at   timestamptz
);
CREATE INDEX outbox_pending ON outbox (created_at) WHERE queued_at IS NULL;
"#,
            )
            .await?;
        Ok(())
    }
}
