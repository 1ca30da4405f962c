//! Datasets of past events and replays of a workflow version over them:
//! what production did with each event (kept when the event joins the
//! dataset), what the replayed version would have done, and the figures of
//! the comparison. A workflow's publish gate asks for a recent, good replay.

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
CREATE TABLE datasets (
    id            uuid PRIMARY KEY,
    workflow_name text NOT NULL,
    name          text NOT NULL,
    -- How its events were picked (overridden, failed, a sample, a date range, one by one).
    picked        jsonb NOT NULL DEFAULT '{}',
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_name, name)
);

-- One past event and what production did with it, as it was when it joined.
CREATE TABLE dataset_items (
    dataset_id  uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    run_id      uuid NOT NULL,
    -- The run's context before its first step: the record, the trigger, steward.
    context     jsonb NOT NULL,
    -- engine::replay::Production.
    production  jsonb NOT NULL,
    -- What each api_call step answered in production, by step id.
    answers     jsonb NOT NULL DEFAULT '{}',
    added_by    text NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, run_id)
);

CREATE TABLE replays (
    id             uuid PRIMARY KEY,
    dataset_id     uuid NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    workflow_name  text NOT NULL,
    version        integer NOT NULL,
    -- Prompt versions to use instead of the production ones (name → version), and a model tier for every llm step.
    prompt_versions jsonb NOT NULL DEFAULT '{}',
    model_tier     text,
    -- The prompt versions and models the replay uses, fixed when it starts (as a run's are).
    pinned         jsonb NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'completed', 'cancelled', 'failed')),
    total          integer NOT NULL,
    done           integer NOT NULL DEFAULT 0,
    cost_micros    bigint NOT NULL DEFAULT 0,
    -- engine::replay::Summary, when finished.
    summary        jsonb,
    error          text,
    -- How many times a worker took it up: a replay that keeps stopping is given up.
    attempts       integer NOT NULL DEFAULT 0,
    lease_owner    text,
    lease_until    timestamptz,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX replays_workflow ON replays (workflow_name, created_at DESC);
CREATE INDEX replays_active ON replays (status) WHERE status IN ('queued', 'running');

CREATE TABLE replay_results (
    replay_id   uuid NOT NULL REFERENCES replays (id) ON DELETE CASCADE,
    run_id      uuid NOT NULL,
    -- engine::replay::Outcome and engine::replay::Comparison.
    outcome     jsonb NOT NULL,
    comparison  jsonb NOT NULL,
    regression  boolean NOT NULL,
    PRIMARY KEY (replay_id, run_id)
);

-- What a workflow asks of a version before it is published.
CREATE TABLE publish_gates (
    workflow_name text PRIMARY KEY,
    required      boolean NOT NULL DEFAULT false,
    within_days   integer NOT NULL DEFAULT 14 CHECK (within_days BETWEEN 1 AND 365),
    max_agreement_drop_points double precision NOT NULL DEFAULT 5 CHECK (max_agreement_drop_points BETWEEN 0 AND 100),
    max_cost_increase_percent double precision NOT NULL DEFAULT 20 CHECK (max_cost_increase_percent BETWEEN 0 AND 1000),
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A replay waiting or running is work: the sweeper visits the business.
CREATE TRIGGER replays_mark_busy AFTER INSERT ON replays FOR EACH STATEMENT EXECUTE FUNCTION mark_busy();
"#,
            )
            .await?;
        Ok(())
    }
}
