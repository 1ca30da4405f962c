//! Cost under control: a ledger of cost lines per run, the business's
//! rates, per-workflow budgets, alerts that fire once per condition, and
//! runs held back by a budget or an off-peak window.

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
-- One row per thing a run paid for; amounts in millionths of the currency.
CREATE TABLE cost_lines (
    id             bigserial PRIMARY KEY,
    run_id         uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    workflow_name  text NOT NULL,
    step_index     integer,
    kind           text NOT NULL CHECK (kind IN ('model', 'fallback_model', 'enrichment', 'orchestration', 'queue', 'review')),
    amount_micros  bigint NOT NULL CHECK (amount_micros >= 0),
    -- Tokens, milliseconds, operations, seconds or calls, by kind.
    quantity       bigint NOT NULL DEFAULT 0,
    -- Enrichment: NULL when the call is not cacheable, else whether the cache answered.
    cache_hit      boolean,
    -- What a cache hit did not cost.
    saved_micros   bigint NOT NULL DEFAULT 0,
    -- The model, step or reviewer the line is for.
    label          text NOT NULL DEFAULT '',
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cost_lines_at ON cost_lines (at);
CREATE INDEX cost_lines_workflow ON cost_lines (workflow_name, at);
CREATE INDEX cost_lines_run ON cost_lines (run_id);

-- The business's rates for costs that are not on a vendor's bill (one row).
CREATE TABLE cost_rates (
    id                              boolean PRIMARY KEY DEFAULT true CHECK (id),
    orchestration_micros_per_hour   bigint NOT NULL DEFAULT 360000 CHECK (orchestration_micros_per_hour >= 0),
    queue_op_micros                 bigint NOT NULL DEFAULT 2 CHECK (queue_op_micros >= 0),
    reviewer_hourly_micros          bigint NOT NULL DEFAULT 45000000 CHECK (reviewer_hourly_micros >= 0),
    updated_at                      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cost_rates DEFAULT VALUES;

-- A workflow's monthly guardrail.
CREATE TABLE budgets (
    workflow_name   text PRIMARY KEY,
    expected_runs   bigint NOT NULL CHECK (expected_runs > 0),
    target_micros   bigint NOT NULL CHECK (target_micros > 0),
    overage_pct     bigint NOT NULL DEFAULT 10 CHECK (overage_pct >= 0),
    action          text NOT NULL CHECK (action IN ('alert_only', 'downgrade', 'pause')),
    deviation_pct   bigint NOT NULL DEFAULT 15 CHECK (deviation_pct > 0),
    -- Batchable: runs wait for the off-peak window (local hours) and go together.
    window_start    smallint CHECK (window_start BETWEEN 0 AND 23),
    window_end      smallint CHECK (window_end BETWEEN 0 AND 23),
    updated_by      text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- An alert is open until its condition recovers; one open alert per condition.
CREATE TABLE cost_alerts (
    id             uuid PRIMARY KEY,
    workflow_name  text NOT NULL,
    condition      text NOT NULL CHECK (condition IN ('cost_per_run', 'projected_spend', 'retry_rate', 'budget_cap')),
    message        text NOT NULL,
    opened_at      timestamptz NOT NULL DEFAULT now(),
    cleared_at     timestamptz
);
CREATE UNIQUE INDEX cost_alerts_open ON cost_alerts (workflow_name, condition) WHERE cleared_at IS NULL;
CREATE INDEX cost_alerts_recent ON cost_alerts (opened_at DESC);

-- A queued run held back: by its budget (pause at the cap) or until the off-peak window.
ALTER TABLE runs ADD COLUMN held text CHECK (held IN ('budget', 'off_peak'));
CREATE INDEX runs_held ON runs (workflow_name) WHERE held IS NOT NULL;
-- The retry rate of the last eight days (the cost watch) reads steps by time.
CREATE INDEX run_steps_started ON run_steps (started_at);
"#,
            )
            .await?;
        Ok(())
    }
}
