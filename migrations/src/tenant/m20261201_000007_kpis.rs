//! Proof of value: each workflow's baseline, outcome events reported back,
//! day tallies (so a month is computed incrementally), immutable monthly
//! scorecards, the value-score backlog, and attachments on outbox mail.

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
-- How the work was done by hand; each save is a new version (the change log keeps them).
CREATE TABLE workflow_baselines (
    workflow_name     text PRIMARY KEY,
    manual_minutes    double precision NOT NULL CHECK (manual_minutes > 0),
    error_rate        double precision NOT NULL CHECK (error_rate BETWEEN 0 AND 1),
    response_minutes  double precision NOT NULL CHECK (response_minutes >= 0),
    monthly_volume    bigint NOT NULL CHECK (monthly_volume >= 0),
    hourly_cost_micros bigint NOT NULL CHECK (hourly_cost_micros > 0),
    outcome           text NOT NULL DEFAULT '',
    outcome_rate      double precision CHECK (outcome_rate BETWEEN 0 AND 1),
    version           integer NOT NULL DEFAULT 1,
    updated_by        text NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Business outcomes reported back (a deal won for a lead), once per idempotency key.
CREATE TABLE outcome_events (
    id               uuid PRIMARY KEY,
    workflow_name    text NOT NULL,
    run_id           uuid REFERENCES runs(id) ON DELETE SET NULL,
    outcome          text NOT NULL,
    value            double precision,
    idempotency_key  text,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workflow_name, idempotency_key)
);
CREATE INDEX outcome_events_at ON outcome_events (occurred_at);

-- One tally per workflow and local day (workflow '*' marks a computed day).
-- A settled day is closed and has no unfinished runs: it is never counted again.
CREATE TABLE kpi_days (
    day            date NOT NULL,
    workflow_name  text NOT NULL,
    tally          jsonb NOT NULL,
    settled        boolean NOT NULL DEFAULT false,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, workflow_name)
);

-- Monthly scorecards. Rows are never changed: a recompute adds a revision.
CREATE TABLE scorecards (
    month        date NOT NULL,
    revision     integer NOT NULL,
    data         jsonb NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    computed_by  text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    compute_ms   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (month, revision)
);
CREATE FUNCTION scorecards_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'scorecards are immutable; recompute to add a revision';
END $$;
CREATE TRIGGER scorecards_immutable BEFORE UPDATE OR DELETE ON scorecards
    FOR EACH ROW EXECUTE FUNCTION scorecards_are_immutable();

-- What to automate next, scored with the product's value formula.
CREATE TABLE backlog_candidates (
    id                uuid PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    monthly_volume    double precision NOT NULL,
    minutes_per_task  double precision NOT NULL,
    error_rate        double precision NOT NULL,
    revenue_impact    double precision NOT NULL,
    compliance_risk   double precision NOT NULL,
    success_metric    text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'candidate' CHECK (status IN ('candidate', 'started')),
    workflow_name     text,
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz
);

-- Mail with files (the scorecard's PDF): [{filename, content_type, base64}].
ALTER TABLE outbox ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]';
"#,
            )
            .await?;
        Ok(())
    }
}
