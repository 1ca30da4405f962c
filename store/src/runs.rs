//! Runs in PostgreSQL: the state machine the worker drives (lease, step
//! records, waiting for review, finishing) and the queries the runs pages
//! read. Every change to a run is one tenant transaction that first checks
//! the worker still holds the run's lease.

use crate::costs::BudgetState;
use crate::db::{decode, stmt};
use crate::ledger::{self, CostLine};
use crate::outbox::{self, OutboxEmail};
use crate::tenant::Tenant;
use engine::review::{Decision, FieldChange, ReviewReason, TaskStatus};
use engine::slack_message::SlackPost;
use engine::workflow::{ReviewPolicy, StepKind, WorkflowContract};
use engine::{RunStatus, StepStatus};
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::Value;
use std::sync::Arc;

/// A run a worker executes: read while queued (`Claim::Unclaimed`, claimed
/// by its first write) or taken over under a lease that had lapsed.
#[derive(Debug, Clone)]
pub struct LeasedRun {
    pub id: Uuid,
    pub workflow_name: String,
    pub workflow_version: i32,
    pub contract: Arc<WorkflowContract>,
    pub context: Value,
    pub next_step: i32,
    pub cleared_step: Option<i32>,
    pub pinned: Value,
    /// The business's configuration generation when the run was read
    /// (what the worker's memory of its prompts, models and contracts is checked against).
    pub generation: i64,
    /// The workflow's budget as it stood before this delivery, when the run
    /// starts and the workflow has a budget.
    pub budget: Option<BudgetState>,
    /// How the worker stands with the run (see `Claim`).
    pub claim: Claim,
}

/// Whether the worker holds the run's lease. A queued run is executed
/// without one for as long as its steps only compute: its first write
/// claims it, on the condition that nobody executed it since it was read
/// (the count of its executions is unchanged). A run that finishes in one
/// write therefore costs one commit in the worker, not two. Before a step
/// reaches the outside world, or a write that does not end the run, the
/// worker takes the lease (`claim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This worker holds the lease.
    Held,
    /// Read while queued, after this many executions, at `read_at` (the
    /// database's clock): the run's start, unless a previous delivery started it.
    Unclaimed { executions: i32, read_at: DateTimeUtc },
}

/// What opening a run for execution answers: the run's state, without its
/// contract (the worker keeps contracts per configuration generation).
#[derive(Debug, Clone)]
pub struct Lease {
    pub workflow_name: String,
    pub workflow_version: i32,
    pub context: Value,
    pub next_step: i32,
    pub cleared_step: Option<i32>,
    pub pinned: Value,
    pub generation: i64,
    /// Whether the workflow has a budget (whose state the run's start is judged on).
    pub budgeted: bool,
    pub claim: Claim,
}

impl Lease {
    /// Whether this delivery starts the run (no step ran, no person cleared a gate).
    pub fn is_starting(&self) -> bool {
        self.next_step == 0 && self.cleared_step.is_none()
    }

    /// The run, with its contract and (when it starts under a budget) the budget's state.
    pub fn into_run(self, id: Uuid, contract: Arc<WorkflowContract>, budget: Option<BudgetState>) -> LeasedRun {
        LeasedRun {
            id,
            workflow_name: self.workflow_name,
            workflow_version: self.workflow_version,
            contract,
            context: self.context,
            next_step: self.next_step,
            cleared_step: self.cleared_step,
            pinned: self.pinned,
            generation: self.generation,
            budget,
            claim: self.claim,
        }
    }
}

/// Opens a run for execution: reads it if it is queued (nothing written:
/// the worker's first write claims it), or takes its lease if it is
/// running under a lease that has lapsed (its worker died). None: someone
/// else holds it, or it is waiting or finished, and the job has nothing to
/// do. `open_many` for one run.
pub async fn open(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Uuid,
    owner: &str,
    seconds: i64,
) -> Result<Option<Lease>, DbErr> {
    Ok(open_many(db, tenant, &[run_id], owner, seconds).await?.remove(&run_id))
}

/// `open_many`'s statement, for the business's schema (`db::in_schema`).
const OPEN_MANY: &str = "WITH local AS MATERIALIZED (SELECT set_config('search_path', '{schema}', true) AS path),
     taken AS (
         UPDATE \"{schema}\".runs SET lease_owner = $2, lease_until = now() + make_interval(secs => $3),
                executions = executions + 1, takeovers = takeovers + 1, updated_at = now()
          -- The status is judged inside CASE here and below so that the planner finds the
          -- runs by key, not through the index of unfinished runs (which reads every queued run).
          WHERE id = ANY($1)
            AND CASE WHEN status = 'running' THEN lease_until IS NULL OR lease_until < now() ELSE false END
      RETURNING id, workflow_name, workflow_version, context, next_step, cleared_step, pinned, executions, true AS held),
     queued AS (
         SELECT id, workflow_name, workflow_version, context, next_step, cleared_step, pinned, executions, false AS held
           FROM \"{schema}\".runs WHERE id = ANY($1) AND CASE WHEN status = 'queued' THEN true ELSE false END),
     run AS (SELECT * FROM taken UNION ALL SELECT * FROM queued)
     SELECT r.id, r.workflow_name, r.workflow_version, r.context, r.next_step, r.cleared_step, r.pinned, r.executions,
            r.held, now() AS read_at,
            (SELECT value FROM \"{schema}\".config_generation) AS generation,
            EXISTS (SELECT 1 FROM \"{schema}\".budgets b WHERE b.workflow_name = r.workflow_name) AS budgeted
       FROM local, run r";

/// Opens runs of one business for execution (see `open`), in one round
/// trip however many: the statement is its own transaction
/// (`db::in_schema`). The runs that open, by id; give each id once.
pub async fn open_many(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_ids: &[Uuid],
    owner: &str,
    seconds: i64,
) -> Result<std::collections::HashMap<Uuid, Lease>, DbErr> {
    use sea_orm::sqlx::{self, types::Json, Row as _};
    let rows = sqlx::query(sqlx::AssertSqlSafe(crate::db::in_schema(OPEN_MANY, tenant)))
        .bind(run_ids)
        .bind(owner)
        .bind(seconds as f64)
        .fetch_all(db.get_postgres_connection_pool())
        .await
        .map_err(crate::db::from_sqlx)?;
    let read = |row: &sqlx::postgres::PgRow| -> Result<(Uuid, Lease), sqlx::Error> {
        let lease = Lease {
            workflow_name: row.try_get("workflow_name")?,
            workflow_version: row.try_get("workflow_version")?,
            context: row.try_get::<Json<Value>, _>("context")?.0,
            next_step: row.try_get("next_step")?,
            cleared_step: row.try_get("cleared_step")?,
            pinned: row.try_get::<Json<Value>, _>("pinned")?.0,
            generation: row.try_get("generation")?,
            budgeted: row.try_get("budgeted")?,
            claim: match row.try_get("held")? {
                true => Claim::Held,
                false => Claim::Unclaimed { executions: row.try_get("executions")?, read_at: row.try_get("read_at")? },
            },
        };
        Ok((row.try_get("id")?, lease))
    };
    rows.iter().map(read).collect::<Result<_, _>>().map_err(crate::db::from_sqlx)
}

/// Takes the lease of a run read while queued, if nobody executed it since
/// (its executions unchanged); true at once if this worker holds it.
/// False: another worker has it, or it moved on; this execution stops
/// without writing.
pub async fn claim(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Uuid,
    owner: &str,
    seconds: i64,
    claim: Claim,
) -> Result<bool, DbErr> {
    let Claim::Unclaimed { executions, read_at } = claim else { return Ok(true) };
    let txn = tenant.begin(db).await?;
    let res = txn
        .execute_raw(stmt(
            "UPDATE runs SET status = 'running', lease_owner = $2, lease_until = now() + make_interval(secs => $3::double precision),
                    started_at = coalesce(started_at, $5), executions = executions + 1, updated_at = now()
              WHERE id = $1 AND status = 'queued' AND executions = $4",
            vec![run_id.into(), owner.into(), (seconds as f64).into(), executions.into(), read_at.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// The contract of a workflow version (a run's version always exists: versions are never deleted).
pub async fn contract(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
    version: i32,
) -> Result<WorkflowContract, DbErr> {
    let txn = tenant.begin(db).await?;
    let found = crate::workflows::version_contract_in(&txn, workflow, version).await?;
    txn.commit().await?;
    found.ok_or_else(|| DbErr::RecordNotFound(format!("the contract of {workflow} v{version}")))
}

/// Extends the lease while a long step runs. False: the lease was lost.
pub async fn renew(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Uuid,
    owner: &str,
    seconds: i64,
) -> Result<bool, DbErr> {
    let txn = tenant.begin(db).await?;
    let res = txn
        .execute_raw(stmt(
            "UPDATE runs SET lease_until = now() + make_interval(secs => $3::double precision) WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            vec![run_id.into(), owner.into(), (seconds as f64).into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// The keys a run of `contract` masks in what it records, from the data
/// contracts it names (the worker keeps them per configuration generation).
pub async fn sensitive_keys(
    db: &DatabaseConnection,
    tenant: &Tenant,
    contract: &WorkflowContract,
) -> Result<Vec<String>, DbErr> {
    let txn = tenant.begin(db).await?;
    let keys = sensitive_keys_for(&txn, contract).await?;
    txn.commit().await?;
    Ok(keys)
}

/// Locks the run if this worker still holds it.
async fn held(txn: &DatabaseTransaction, run_id: Uuid, owner: &str) -> Result<bool, DbErr> {
    Ok(txn
        .query_one_raw(stmt(
            "SELECT 1 FROM runs WHERE id = $1 AND lease_owner = $2 AND status = 'running' FOR UPDATE",
            vec![run_id.into(), owner.into()],
        ))
        .await?
        .is_some())
}

/// A step of a run as it is recorded: what the worker writes when the step
/// starts and ends (with its cost lines), and what the timeline reads.
#[derive(Debug, Clone, FromQueryResult)]
pub struct StepRecord {
    #[sea_orm(from_alias = "step_index")]
    pub index: i32,
    pub step_id: String,
    pub kind: StepKind,
    pub status: StepStatus,
    pub attempts: i32,
    /// None until written: the database then sets the start.
    pub started_at: Option<DateTimeUtc>,
    /// Set by the database when the status is a finished one.
    pub finished_at: Option<DateTimeUtc>,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_micros: i64,
    pub model: Option<String>,
    pub prompt_version: Option<i32>,
    pub cache_hit: bool,
    pub detail: Value,
    /// What the step paid for, written with it (the timeline reads the run's cost instead).
    #[sea_orm(skip)]
    pub costs: Vec<CostLine>,
}

impl StepRecord {
    /// A step of `kind` at `index`, in `status`, with nothing recorded yet.
    pub fn new(index: i32, step_id: &str, kind: StepKind, status: StepStatus) -> Self {
        StepRecord {
            index,
            step_id: step_id.to_owned(),
            kind,
            status,
            attempts: 0,
            started_at: None,
            finished_at: None,
            input: None,
            output: None,
            error: None,
            tokens_in: 0,
            tokens_out: 0,
            cost_micros: 0,
            model: None,
            prompt_version: None,
            cache_hit: false,
            detail: Value::Object(Default::default()),
            costs: Vec::new(),
        }
    }
}

/// The columns of a step's record after its key, as written and as read.
const STEP_COLUMNS: &str = "step_id, kind, status, attempts, started_at, finished_at, input, output, error, \
                            tokens_in, tokens_out, cost_micros, model, prompt_version, cache_hit, detail";

/// A step record as a row of `upsert_steps`' `jsonb_to_recordset`,
/// borrowing its documents: written out as JSON text without copying them
/// first (`Finish::new`).
#[derive(serde::Serialize)]
pub(crate) struct StepRow<'a> {
    step_index: i32,
    step_id: &'a str,
    kind: &'a StepKind,
    status: &'a StepStatus,
    attempts: i32,
    started_at: Option<DateTimeUtc>,
    finished_at: Option<DateTimeUtc>,
    finished: bool,
    input: &'a Option<Value>,
    output: &'a Option<Value>,
    error: &'a Option<String>,
    tokens_in: i64,
    tokens_out: i64,
    cost_micros: i64,
    model: &'a Option<String>,
    prompt_version: Option<i32>,
    cache_hit: bool,
    detail: &'a Value,
}

impl<'a> From<&'a StepRecord> for StepRow<'a> {
    fn from(s: &'a StepRecord) -> Self {
        StepRow {
            step_index: s.index,
            step_id: &s.step_id,
            kind: &s.kind,
            status: &s.status,
            attempts: s.attempts,
            started_at: s.started_at,
            finished_at: s.finished_at,
            finished: s.status.is_finished(),
            input: &s.input,
            output: &s.output,
            error: &s.error,
            tokens_in: s.tokens_in,
            tokens_out: s.tokens_out,
            cost_micros: s.cost_micros,
            model: &s.model,
            prompt_version: s.prompt_version,
            cache_hit: s.cache_hit,
            detail: &s.detail,
        }
    }
}

/// Step records as rows for `jsonb_to_recordset` (`upsert_steps`).
pub(crate) fn step_rows(records: &[StepRecord]) -> Value {
    Value::Array(
        records
            .iter()
            .map(|s| {
                serde_json::to_value(StepRow::from(s)).expect("a step's row serializes: its maps all have text keys")
            })
            .collect(),
    )
}

/// Upserts into `{table}` (`run_steps`, or with its schema) the step records
/// of `step_rows` found at `{rows}` (a parameter or a column) for the run
/// `{run}` (a column or parameter), reading also `FROM {from}`: a record
/// already there is replaced.
pub(crate) fn upsert_steps(table: &str, run: &str, rows: &str, from: &str) -> String {
    let excluded = STEP_COLUMNS.split(", ").map(|c| format!("excluded.{}", c.trim())).collect::<Vec<_>>().join(", ");
    format!(
        "INSERT INTO {table} (run_id, step_index, {STEP_COLUMNS})
         SELECT {run}, s.step_index, s.step_id, s.kind, s.status, s.attempts, coalesce(s.started_at, now()),
                CASE WHEN s.finished THEN coalesce(s.finished_at, now()) END,
                s.input, s.output, s.error, s.tokens_in, s.tokens_out, s.cost_micros, s.model, s.prompt_version,
                s.cache_hit, s.detail
           FROM {from} jsonb_to_recordset({rows}) AS s(step_index int, step_id text, kind text, status text, attempts int,
                started_at timestamptz, finished_at timestamptz, finished boolean, input jsonb, output jsonb,
                error text, tokens_in bigint, tokens_out bigint, cost_micros bigint, model text,
                prompt_version int, cache_hit boolean, detail jsonb)
         ON CONFLICT (run_id, step_index) DO UPDATE SET ({STEP_COLUMNS}) = ROW({excluded})"
    )
}

/// Writes step records (one statement however many; a record already
/// there is replaced) and their cost lines.
async fn write_steps(txn: &DatabaseTransaction, run_id: Uuid, records: &[StepRecord]) -> Result<(), DbErr> {
    if records.is_empty() {
        return Ok(());
    }
    txn.execute_raw(stmt(&upsert_steps("run_steps", "$1", "$2", ""), vec![run_id.into(), step_rows(records).into()]))
        .await?;
    let lines = ledger::folded(records.iter().flat_map(|r| r.costs.iter().cloned()));
    ledger::add_lines(txn, run_id, &lines).await
}

/// The tokens a batch of step records spent.
fn tokens(records: &[StepRecord]) -> (i64, i64) {
    records.iter().fold((0, 0), |(i, o), r| (i + r.tokens_in, o + r.tokens_out))
}

/// The cost lines a write of `progress` records (the step records' and the
/// delivery's own, folded), and what they add to the run's cost.
fn cost_lines(progress: &Progress) -> (Vec<CostLine>, i64) {
    let lines = ledger::folded(
        progress.records.iter().flat_map(|r| r.costs.iter().cloned()).chain(progress.costs.iter().cloned()),
    );
    let cost = ledger::charged(&lines);
    (lines, cost)
}

/// Shows a step that is taking a while as running on the timeline, after
/// the steps that ran before it in this delivery (`before`, written
/// without their cost lines, which their real write adds). The running
/// record is only written when the step has none yet and the run is still
/// this worker's, so it never overwrites the step's finished record.
pub async fn mark_running(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Uuid,
    owner: &str,
    before: &[StepRecord],
    record: &StepRecord,
) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    if held(&txn, run_id, owner).await? {
        write_steps(&txn, run_id, before).await?;
        txn.execute_raw(stmt(
            "INSERT INTO run_steps (run_id, step_index, step_id, kind, status, attempts, started_at, detail)
             VALUES ($1, $2, $3, $4, 'running', 0, coalesce($5, now()), '{}') ON CONFLICT (run_id, step_index) DO NOTHING",
            vec![
                run_id.into(),
                record.index.into(),
                record.step_id.clone().into(),
                record.kind.into(),
                record.started_at.into(),
            ],
        ))
        .await?;
    }
    txn.commit().await
}

/// What a run did since it last wrote: the step records (with their cost
/// lines), the delivery's own cost lines, and the mail the steps send.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub records: Vec<StepRecord>,
    /// Cost lines of the delivery itself (the queue operation).
    pub costs: Vec<CostLine>,
    pub outbox: Vec<OutboxEmail>,
}

/// `advance`'s statement: the run's state, its step records and cost lines,
/// and (`with_mail`) the mail they send. Without mail there is no insert
/// into `outbox`, whose statement trigger would run for nothing.
fn advance_statement(with_mail: bool) -> String {
    let mail = match with_mail {
        true => format!(", mail AS ({})", outbox::insert_rows("held.id", 14, "held,")),
        false => String::new(),
    };
    format!(
        "WITH held AS (
             UPDATE runs SET context = $3, next_step = $4, tokens_in = tokens_in + $5, tokens_out = tokens_out + $6,
                    cost_micros = cost_micros + $11, updated_at = now(), status = coalesce($7, status),
                    error = coalesce($8, error),
                    finished_at = CASE WHEN $7 IS NULL THEN finished_at ELSE now() END,
                    lease_owner = CASE WHEN $7 IS NULL THEN lease_owner END,
                    lease_until = CASE WHEN $7 IS NULL THEN lease_until END,
                    started_at = coalesce(started_at, $13, now()), executions = executions + ($12::int IS NOT NULL)::int
              WHERE id = $1 AND CASE WHEN $12::int IS NULL THEN lease_owner = $2 AND status = 'running'
                                     ELSE status = 'queued' AND executions = $12 AND $7 IS NOT NULL END
             RETURNING id, workflow_name),
         steps AS ({}),
         lines AS ({}){mail}
         SELECT EXISTS (SELECT 1 FROM held)",
        upsert_steps("run_steps", "held.id", "$9", "held,"),
        ledger::insert_lines("cost_lines", "held.id", "held.workflow_name", "$10", "held,"),
    )
}

static ADVANCE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| advance_statement(false));
static ADVANCE_WITH_MAIL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| advance_statement(true));

/// Writes a run's progress in one transaction: its state, step records,
/// cost lines and the mail they send (if any), and (with an `ending`) its
/// end, in one statement. Three round trips: BEGIN with the business's path
/// (`db::begin_with`), the statement, COMMIT. A run read while queued
/// (`Claim::Unclaimed`) can only be ended this way, and only if nobody
/// executed it since it was read. Returns the mail's outbox ids; None: this
/// worker lost the lease (or another worker has the run) and nothing changed.
#[allow(clippy::too_many_arguments)] // one transaction of a run's state machine: every part is needed
pub async fn advance(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Uuid,
    owner: &str,
    claim: Claim,
    progress: &Progress,
    context: &Value,
    next_step: i32,
    ending: Option<(Ending, Option<&str>)>,
) -> Result<Option<Vec<Uuid>>, DbErr> {
    use sea_orm::sqlx::{self, types::Json};
    let (read_executions, read_at) = match claim {
        Claim::Held => (None, None),
        Claim::Unclaimed { executions, read_at } => (Some(executions), Some(read_at)),
    };
    let (tokens_in, tokens_out) = tokens(&progress.records);
    let (status, error) = match ending {
        None => (None, None),
        Some((ending, error)) => (Some(ending.status()), error),
    };
    // The step records' cost lines and the delivery's own, written with the state change.
    let (lines, cost) = cost_lines(progress);
    let ids: Vec<Uuid> = progress.outbox.iter().map(|_| Uuid::new_v4()).collect();
    let statement = if ids.is_empty() { &ADVANCE } else { &ADVANCE_WITH_MAIL };
    // The write that ends a run read while queued, sending no mail, claims it and records only
    // computation: if PostgreSQL crashed before its log reached the disk, the run would still be
    // queued, unclaimed, and the sweeper would send it again to be computed again. Its commit
    // does not wait for the disk.
    let commit = match (claim, ids.is_empty()) {
        (Claim::Unclaimed { .. }, true) => crate::db::Commit::Recomputable,
        _ => crate::db::Commit::Durable,
    };
    let mut txn = crate::db::begin_with(db, tenant, commit).await?;
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(statement.as_str()))
        .bind(run_id)
        .bind(owner)
        .bind(Json(context))
        .bind(next_step)
        .bind(tokens_in)
        .bind(tokens_out)
        .bind(status.map(|s| s.as_str()))
        .bind(error)
        .bind(Json(step_rows(&progress.records)))
        .bind(Json(ledger::as_rows(&lines)))
        .bind(cost)
        .bind(read_executions)
        .bind(read_at);
    if !ids.is_empty() {
        query = query.bind(Json(outbox::as_rows(&ids, &progress.outbox)));
    }
    let held: bool = query.fetch_one(&mut *txn).await.map_err(crate::db::from_sqlx)?;
    txn.commit().await.map_err(crate::db::from_sqlx)?;
    Ok(held.then_some(ids))
}

/// The write that ends a run read while queued (`Claim::Unclaimed`) whose
/// steps sent no mail, ready for `end_many`: `advance` with an ending, for
/// many runs in one statement. Its row is made by the execution that ends
/// the run, so the JSON work is spread over the executions.
#[derive(Debug, Clone)]
pub struct Finish {
    pub run_id: Uuid,
    /// The run's row of `END_MANY`'s input, as JSON text.
    row: String,
}

impl Finish {
    /// None when the write cannot be grouped: the run is held under a lease,
    /// or the steps send mail (both go through `advance`).
    pub fn new(
        run_id: Uuid,
        claim: Claim,
        progress: &Progress,
        context: &Value,
        next_step: i32,
        ending: Ending,
        error: Option<&str>,
    ) -> Option<Self> {
        let Claim::Unclaimed { executions, read_at } = claim else { return None };
        if !progress.outbox.is_empty() {
            return None;
        }
        /// The run's row, written out as JSON text straight from what it borrows.
        #[derive(serde::Serialize)]
        struct Row<'a> {
            id: Uuid,
            executions: i32,
            read_at: DateTimeUtc,
            context: &'a Value,
            next_step: i32,
            tokens_in: i64,
            tokens_out: i64,
            status: &'static str,
            error: Option<&'a str>,
            steps: Vec<StepRow<'a>>,
            lines: Value,
            cost: i64,
        }
        let (tokens_in, tokens_out) = tokens(&progress.records);
        let (lines, cost) = cost_lines(progress);
        let row = Row {
            id: run_id,
            executions,
            read_at,
            context,
            next_step,
            tokens_in,
            tokens_out,
            status: ending.status().as_str(),
            error,
            steps: progress.records.iter().map(StepRow::from).collect(),
            lines: ledger::as_rows(&lines),
            cost,
        };
        let row = serde_json::to_string(&row).expect("a run's row serializes: its maps all have text keys");
        Some(Finish { run_id, row })
    }
}

/// `end_many`'s statement, for the business's schema (`db::in_schema`):
/// `advance`'s, for a set of runs read while queued. Its commit does not
/// wait for the disk (`advance` says why), set as it runs like its path.
static END_MANY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH local AS MATERIALIZED (
             SELECT set_config('search_path', '{{schema}}', true), set_config('synchronous_commit', 'off', true)),
         input AS (
             SELECT i.* FROM local, jsonb_to_recordset($1::text::jsonb) AS i(id uuid, executions int, read_at timestamptz,
                    context jsonb, next_step int, tokens_in bigint, tokens_out bigint, status text, error text,
                    steps jsonb, lines jsonb, cost bigint)),
         held AS (
             UPDATE \"{{schema}}\".runs r SET context = i.context, next_step = i.next_step, tokens_in = r.tokens_in + i.tokens_in,
                    tokens_out = r.tokens_out + i.tokens_out, cost_micros = r.cost_micros + i.cost,
                    updated_at = now(), status = i.status, error = coalesce(i.error, r.error), finished_at = now(),
                    lease_owner = NULL, lease_until = NULL, started_at = coalesce(r.started_at, i.read_at, now()),
                    executions = r.executions + 1
               FROM input i
              -- Found by key; the status is judged inside CASE so that the planner does not
              -- reach for the index of unfinished runs and read every queued run.
              WHERE r.id = ANY($2) AND r.id = i.id
                AND CASE WHEN r.status = 'queued' THEN r.executions = i.executions ELSE false END
             RETURNING r.id, r.workflow_name, i.steps, i.lines),
         steps AS ({}),
         lines AS ({})
         SELECT id FROM held",
        upsert_steps("\"{schema}\".run_steps", "held.id", "held.steps", "held,"),
        ledger::insert_lines("\"{schema}\".cost_lines", "held.id", "held.workflow_name", "held.lines", "held,"),
    )
});

/// Ends runs of one business read while queued (`Finish`), in one round
/// trip however many: the statement is its own transaction
/// (`db::in_schema`). Each run's part holds on its own condition, as in
/// `advance`: nobody executed it since it was read. The runs that were
/// ended; give each run once.
pub async fn end_many(
    db: &DatabaseConnection,
    tenant: &Tenant,
    finishes: &[Finish],
) -> Result<std::collections::HashSet<Uuid>, DbErr> {
    use sea_orm::sqlx;
    let mut rows = String::with_capacity(finishes.iter().map(|f| f.row.len() + 1).sum::<usize>() + 2);
    rows.push('[');
    for (i, finish) in finishes.iter().enumerate() {
        if i > 0 {
            rows.push(',');
        }
        rows.push_str(&finish.row);
    }
    rows.push(']');
    let ids: Vec<Uuid> = finishes.iter().map(|f| f.run_id).collect();
    let ended: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(crate::db::in_schema(&END_MANY, tenant)))
        .bind(rows)
        .bind(ids)
        .fetch_all(db.get_postgres_connection_pool())
        .await
        .map_err(crate::db::from_sqlx)?;
    Ok(ended.into_iter().collect())
}

/// A review task a run waits for.
#[derive(Debug, Clone)]
pub struct NewReviewTask {
    pub step_index: i32,
    pub reason: ReviewReason,
    pub detail: Value,
    pub output_name: Option<String>,
    pub draft: Option<Value>,
    /// The draft as emails and Slack show it: sensitive fields masked.
    pub shown_draft: Option<Value>,
    pub workflow_name: String,
    pub policy: ReviewPolicy,
    /// The business value at stake, for priority.
    pub value: Option<f64>,
}

impl NewReviewTask {
    /// A task with the workflow's defaults; the engine fills in the workflow, its review policy and the value.
    pub fn new(
        step_index: i32,
        reason: ReviewReason,
        detail: Value,
        output_name: Option<String>,
        draft: Option<Value>,
    ) -> Self {
        NewReviewTask {
            step_index,
            reason,
            detail,
            output_name,
            draft,
            shown_draft: None,
            workflow_name: String::new(),
            policy: Default::default(),
            value: None,
        }
    }
}

/// Stops the run for a person: records the step (if any) and what it
/// spent, opens the task and releases the lease. Returns the task id.
#[allow(clippy::too_many_arguments)] // the stop writes all of these in one transaction
pub async fn wait_for_review(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Uuid,
    owner: &str,
    progress: &Progress,
    context: &Value,
    task: &NewReviewTask,
    next_step: i32,
    letters: &ReviewLetters,
) -> Result<Option<Vec<Uuid>>, DbErr> {
    let txn = tenant.begin(db).await?;
    if !held(&txn, run_id, owner).await? {
        return Ok(None);
    }
    // What the run did before it stopped (a failed step's spend too) is counted with the stop.
    write_steps(&txn, run_id, &progress.records).await?;
    ledger::add_lines(&txn, run_id, &progress.costs).await?;
    let (tokens_in, tokens_out) = tokens(&progress.records);
    let id = letters.task_id;
    txn.execute_raw(stmt(
        "INSERT INTO review_tasks (id, run_id, step_index, reason, detail, output_name, draft, workflow_name, sla_minutes, max_age_minutes, stale_action, value, shown_draft)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        vec![
            id.into(),
            run_id.into(),
            task.step_index.into(),
            task.reason.into(),
            task.detail.clone().into(),
            task.output_name.clone().into(),
            task.draft.clone().into(),
            task.workflow_name.clone().into(),
            task.policy.sla_minutes.into(),
            task.policy.max_age_minutes.into(),
            task.policy.stale_action.into(),
            task.value.into(),
            task.shown_draft.clone().into(),
        ],
    ))
    .await?;
    txn.execute_raw(stmt(
        "UPDATE runs SET status = 'waiting_for_review', next_step = $2, context = $3, tokens_in = tokens_in + $4,
                tokens_out = tokens_out + $5, lease_owner = NULL, lease_until = NULL, updated_at = now() WHERE id = $1",
        vec![run_id.into(), next_step.into(), context.clone().into(), tokens_in.into(), tokens_out.into()],
    ))
    .await?;
    crate::approval_links::insert(&txn, &letters.links).await?;
    if let Some(channel) = &task.policy.slack_channel {
        crate::slack_messages::owe(&txn, id, channel).await?;
    }
    let mut mails = progress.outbox.clone();
    mails.extend(letters.mails.iter().cloned());
    let mail_ids = crate::outbox::insert(&txn, Some(run_id), &mails).await?;
    txn.commit().await?;
    Ok(Some(mail_ids))
}

/// A review task's id, chosen before it is written, with its reviewers'
/// links and emails: written in the task's transaction, so a task never
/// exists without the emails that announce it.
#[derive(Debug, Clone, Default)]
pub struct ReviewLetters {
    pub task_id: Uuid,
    pub links: Vec<crate::approval_links::NewLink>,
    pub mails: Vec<OutboxEmail>,
}

/// How a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Failed,
}

impl Ending {
    /// The status a run ends in.
    fn status(self) -> RunStatus {
        match self {
            Ending::Completed => RunStatus::Completed,
            Ending::Failed => RunStatus::Failed,
        }
    }
}

/// A run the sweeper looks at: queued for longer than the stale time (and
/// not held back), or running under a lapsed lease.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Stalled {
    pub id: Uuid,
    /// Its worker's lease lapsed (the worker died or hung): its job is surely gone.
    pub lapsed: bool,
    /// How often a worker took it over from an execution that ended without finishing it.
    pub takeovers: i32,
    /// The steps recorded as done (the next to execute, from 0).
    pub next_step: i32,
}

pub async fn stalled(db: &DatabaseConnection, tenant: &Tenant, stale_seconds: i64) -> Result<Vec<Stalled>, DbErr> {
    let txn = tenant.begin(db).await?;
    let runs = Stalled::find_by_statement(stmt(
        "SELECT id, status = 'running' AS lapsed, takeovers, next_step FROM runs
          WHERE (status = 'queued' AND held IS NULL AND updated_at < now() - make_interval(secs => $1::double precision))
             OR (status = 'running' AND lease_until < now())
          ORDER BY updated_at LIMIT 500",
        vec![(stale_seconds as f64).into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(runs)
}

/// The sweeper sent these runs' jobs again (`error`: or tried, and the
/// queue refused). They are touched so the next sweep leaves them be for
/// a while; the count and the last refusal show on the run's page.
pub async fn dispatched(
    db: &DatabaseConnection,
    tenant: &Tenant,
    ids: &[Uuid],
    error: Option<&str>,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "UPDATE runs SET updated_at = now(), dispatches = dispatches + 1, dispatch_error = $2
          WHERE id = ANY($1) AND status IN ('queued', 'running')",
        vec![ids.to_vec().into(), error.map(str::to_owned).into()],
    ))
    .await?;
    txn.commit().await
}

/// Runs waiting for a worker whose job the sweeper could not hand over
/// (Redis refused), and the last reason.
pub async fn undelivered(db: &DatabaseConnection, tenant: &Tenant) -> Result<(i64, Option<String>), DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        runs: i64,
        reason: Option<String>,
    }
    let txn = tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(
        "SELECT count(*) AS runs, (array_agg(dispatch_error ORDER BY updated_at DESC))[1] AS reason
           FROM runs WHERE status IN ('queued', 'running') AND dispatch_error IS NOT NULL",
        vec![],
    ))
    .one(&txn)
    .await?;
    txn.commit().await?;
    Ok(row.map(|r| (r.runs, r.reason)).unwrap_or((0, None)))
}

/// Drops refused records past their workflow's retention.
pub async fn purge_expired_exceptions(db: &DatabaseConnection, tenant: &Tenant) -> Result<u64, DbErr> {
    let txn = tenant.begin(db).await?;
    let res = txn.execute_raw(stmt("DELETE FROM ingest_exceptions WHERE expires_at < now()", vec![])).await?;
    txn.commit().await?;
    Ok(res.rows_affected())
}

// ---- what the runs pages read ----

/// A row of the runs list.
#[derive(Debug, Clone, FromQueryResult)]
pub struct RunRow {
    pub id: Uuid,
    pub workflow_name: String,
    pub workflow_version: i32,
    pub status: RunStatus,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub cost_micros: i64,
    pub error: Option<String>,
    pub open_tasks: i64,
    /// The record named in words ("Dana Reyes, Harbor Dental"), when its event is still kept.
    #[sea_orm(skip)]
    pub title: Option<String>,
    event: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub workflow: Option<String>,
    pub status: Option<RunStatus>,
    pub needs_review: bool,
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
}

/// The newest runs that pass `filter`, each with its record named; with
/// `masked`, a name the data contracts mark sensitive is masked.
pub async fn list(
    db: &DatabaseConnection,
    tenant: &Tenant,
    filter: &RunFilter,
    limit: i64,
    masked: bool,
) -> Result<Vec<RunRow>, DbErr> {
    let txn = tenant.begin(db).await?;
    let mut rows = RunRow::find_by_statement(stmt(
        "SELECT r.id, r.workflow_name, r.workflow_version, r.status, r.created_at, r.finished_at, r.cost_micros, r.error,
                (SELECT count(*) FROM review_tasks t WHERE t.run_id = r.id AND t.status = 'open') AS open_tasks,
                r.context -> 'event' AS event
           FROM runs r
          WHERE ($1::text IS NULL OR r.workflow_name = $1)
            AND ($2::text IS NULL OR r.status = $2)
            AND (NOT $3 OR r.status = 'waiting_for_review')
            AND ($4::date IS NULL OR r.created_at >= $4::date)
            AND ($5::date IS NULL OR r.created_at < $5::date + 1)
          ORDER BY r.created_at DESC LIMIT $6",
        vec![
            filter.workflow.clone().into(),
            filter.status.map(|s| s.as_str().to_owned()).into(),
            filter.needs_review.into(),
            filter.from.into(),
            filter.to.into(),
            limit.into(),
        ],
    ))
    .all(&txn)
    .await?;
    let keys = if masked { crate::data_contracts::all_sensitive_keys(&txn).await? } else { Vec::new() };
    txn.commit().await?;
    for row in &mut rows {
        let Some(event) = row.event.take() else { continue };
        row.title = engine::record_title::record_title(&event)
            .map(|t| engine::run::mask_in(&Value::String(t), &keys, &event).as_str().unwrap_or_default().to_owned());
    }
    Ok(rows)
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct RunHead {
    pub id: Uuid,
    pub workflow_name: String,
    pub workflow_version: i32,
    pub status: RunStatus,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub error: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_micros: i64,
    pub executions: i32,
    pub next_step: i32,
    pub pinned: Value,
    pub event_raw: Option<Value>,
    pub event_channel: Option<String>,
}

/// A review task of a run, with its decision.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: Uuid,
    pub step_index: i32,
    pub reason: ReviewReason,
    pub detail: Value,
    pub draft: Option<Value>,
    pub status: TaskStatus,
    pub decision: Option<Decision>,
    pub reason_code: Option<String>,
    pub comment: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub claimed_by: Option<String>,
    pub escalated_at: Option<DateTimeUtc>,
    /// What an edit changed in the draft.
    pub edit_changes: Vec<FieldChange>,
    /// Its message in Slack, when the workflow sends tasks to a channel.
    pub slack: Option<SlackNote>,
    /// How its draft reads: the drafting prompt's response schema.
    pub draft_labels: engine::readable::Labels,
}

/// Where a task's Slack message is.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackNote {
    pub channel: String,
    pub status: SlackPost,
    /// Slack's last refusal, or why it was given up.
    pub error: Option<String>,
}

impl SlackNote {
    /// The note in a sentence, for the task's page.
    pub fn sentence(&self) -> String {
        let last = self.error.as_deref().map(|e| format!(" Last try: {e}.")).unwrap_or_default();
        match self.status {
            SlackPost::Posted => format!("Posted to Slack ({}).", self.channel),
            SlackPost::Pending | SlackPost::Posting => format!("Waiting to post to Slack ({}).{last}", self.channel),
            SlackPost::Failed => format!("Not posted to Slack ({}).{last}", self.channel),
        }
    }
}

pub struct RunDetail {
    pub run: RunHead,
    pub steps: Vec<StepRecord>,
    pub tasks: Vec<TaskRow>,
    /// Sensitive keys of the workflow's data contract, for masking the source event.
    pub sensitive_keys: Vec<String>,
    /// How the event reads: its data contract, in the hosted form's order and words.
    pub event_labels: engine::readable::Labels,
}

pub async fn detail(db: &DatabaseConnection, tenant: &Tenant, run_id: Uuid) -> Result<Option<RunDetail>, DbErr> {
    #[derive(FromQueryResult)]
    struct Task {
        id: Uuid,
        step_index: i32,
        reason: ReviewReason,
        detail: Value,
        draft: Option<Value>,
        status: TaskStatus,
        decision: Option<Decision>,
        reason_code: Option<String>,
        comment: Option<String>,
        decided_by: Option<String>,
        decided_at: Option<DateTimeUtc>,
        created_at: DateTimeUtc,
        claimed_by: Option<String>,
        escalated_at: Option<DateTimeUtc>,
        edit_changes: Option<Value>,
        output_name: Option<String>,
        slack_channel: Option<String>,
        slack_status: Option<SlackPost>,
        slack_error: Option<String>,
    }
    let txn = tenant.begin(db).await?;
    let Some(run) = RunHead::find_by_statement(stmt(
        "SELECT r.id, r.workflow_name, r.workflow_version, r.status, r.created_at, r.started_at, r.finished_at, r.error,
                r.tokens_in, r.tokens_out, r.cost_micros, r.executions, r.next_step, r.pinned, e.raw AS event_raw, e.channel AS event_channel
           FROM runs r LEFT JOIN events e ON e.id = r.event_id WHERE r.id = $1",
        vec![run_id.into()],
    ))
    .one(&txn)
    .await?
    else {
        txn.commit().await?;
        return Ok(None);
    };
    let steps = StepRecord::find_by_statement(stmt(
        &format!("SELECT step_index, {STEP_COLUMNS} FROM run_steps WHERE run_id = $1 ORDER BY step_index"),
        vec![run_id.into()],
    ))
    .all(&txn)
    .await?;
    let tasks = Task::find_by_statement(stmt(
        "SELECT t.id, t.step_index, t.reason, t.detail, t.draft, t.status, t.decision, t.reason_code, t.comment, t.decided_by,
                t.decided_at, t.created_at, t.claimed_by, t.escalated_at, t.edit_changes, t.output_name,
                m.channel AS slack_channel, m.status AS slack_status, m.error AS slack_error
           FROM review_tasks t LEFT JOIN slack_messages m ON m.task_id = t.id
          WHERE t.run_id = $1 ORDER BY t.created_at",
        vec![run_id.into()],
    ))
    .all(&txn)
    .await?;
    let contract = workflow_contract(&txn, &run.workflow_name, run.workflow_version).await?;
    let sensitive_keys = sensitive_keys_for(&txn, &contract).await?;
    let event_labels = crate::readable::event_labels_in(&txn, &run.workflow_name, &contract).await?;
    let mut draft_labels = Vec::with_capacity(tasks.len());
    for t in &tasks {
        draft_labels
            .push(crate::readable::draft_labels_in(&txn, &contract, &run.pinned, t.output_name.as_deref()).await?);
    }
    txn.commit().await?;
    let tasks = tasks
        .into_iter()
        .zip(draft_labels)
        .map(|(t, draft_labels)| {
            let edit_changes = match t.edit_changes {
                Some(v) => decode(&format!("the edit of review task {}", t.id), v)?,
                None => Vec::new(),
            };
            Ok(TaskRow {
                id: t.id,
                step_index: t.step_index,
                reason: t.reason,
                detail: t.detail,
                draft: t.draft,
                status: t.status,
                decision: t.decision,
                reason_code: t.reason_code,
                comment: t.comment,
                decided_by: t.decided_by,
                decided_at: t.decided_at,
                created_at: t.created_at,
                claimed_by: t.claimed_by,
                escalated_at: t.escalated_at,
                edit_changes,
                slack: t.slack_channel.zip(t.slack_status).map(|(channel, status)| SlackNote {
                    channel,
                    status,
                    error: t.slack_error,
                }),
                draft_labels,
            })
        })
        .collect::<Result<_, DbErr>>()?;
    Ok(Some(RunDetail { run, steps, tasks, sensitive_keys, event_labels }))
}

/// A stored version of a workflow, as its contract.
pub(crate) async fn workflow_contract(
    txn: &DatabaseTransaction,
    workflow: &str,
    version: i32,
) -> Result<WorkflowContract, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        contract: Value,
    }
    let row = Row::find_by_statement(stmt(
        "SELECT v.contract FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id WHERE w.name = $1 AND v.number = $2",
        vec![workflow.into(), version.into()],
    ))
    .one(txn)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound(format!("version {version} of workflow {workflow}")))?;
    decode(&format!("the contract of {workflow} v{version}"), row.contract)
}

/// The sensitive keys of every data contract a workflow version uses.
pub async fn sensitive_keys_for(txn: &DatabaseTransaction, contract: &WorkflowContract) -> Result<Vec<String>, DbErr> {
    let mut names: Vec<String> = contract.steps.iter().filter_map(|s| s.data_contract.clone()).collect();
    names.extend(contract.trigger.contract_name());
    let mut keys = Vec::new();
    for name in names {
        if let Some(dc) = crate::data_contracts::find_in(txn, &name).await? {
            keys.extend(dc.sensitive_keys());
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Puts a failed run back in the queue at its failed step.
pub async fn retry_from_failed_step(db: &DatabaseConnection, tenant: &Tenant, run_id: Uuid) -> Result<bool, DbErr> {
    let txn = tenant.begin(db).await?;
    let res = txn
        .execute_raw(stmt(
            "UPDATE runs SET status = 'queued', held = NULL, error = NULL, finished_at = NULL, updated_at = now() WHERE id = $1 AND status = 'failed'",
            vec![run_id.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// Recent deliveries to a workflow, for its page.
#[derive(Debug, Clone, FromQueryResult)]
pub struct DeliveryRow {
    pub channel: String,
    pub outcome: String,
    pub status_code: i32,
    pub reason: String,
    pub run_id: Option<Uuid>,
    pub received_at: DateTimeUtc,
}

pub async fn deliveries(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
    limit: i64,
) -> Result<Vec<DeliveryRow>, DbErr> {
    let txn = tenant.begin(db).await?;
    let rows = DeliveryRow::find_by_statement(stmt(
        // Accepted deliveries are the events and runs they made (the door writes no row for them);
        // repeats and refusals have rows of their own.
        "SELECT channel, outcome, status_code, reason, run_id, received_at FROM (
             (SELECT e.channel, 'accepted' AS outcome, 202 AS status_code, '' AS reason, r.id AS run_id,
                     r.created_at AS received_at
                FROM runs r JOIN events e ON e.id = r.event_id
               WHERE r.workflow_name = $1 ORDER BY r.created_at DESC LIMIT $2)
             UNION ALL
             (SELECT channel, outcome, status_code, reason, run_id, received_at FROM deliveries
               WHERE workflow_name = $1 ORDER BY received_at DESC, id DESC LIMIT $2)) d
          ORDER BY received_at DESC LIMIT $2",
        vec![workflow.into(), limit.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

/// The exceptions report: records refused at the door, with the raw payload.
#[derive(Debug, Clone)]
pub struct ExceptionRow {
    pub id: Uuid,
    pub workflow_name: String,
    pub channel: String,
    pub raw: String,
    pub violations: Vec<engine::data_contract::Violation>,
    pub received_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

/// A refused record as shown to a role that does not see sensitive values
/// when it cannot be read as JSON (so its fields cannot be told apart).
pub const UNREADABLE_HIDDEN: &str =
    "(not shown: this record is not JSON, so its sensitive fields cannot be masked; an owner or reviewer sees it)";

/// The exceptions report, newest first; with `masked`, the sensitive fields
/// of every data contract of the business are masked in each record.
pub async fn exceptions(
    db: &DatabaseConnection,
    tenant: &Tenant,
    limit: i64,
    masked: bool,
) -> Result<Vec<ExceptionRow>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        workflow_name: String,
        channel: String,
        raw: String,
        violations: Value,
        received_at: DateTimeUtc,
        expires_at: DateTimeUtc,
    }
    let txn = tenant.begin(db).await?;
    let rows = Row::find_by_statement(stmt(
        "SELECT id, workflow_name, channel, raw, violations, received_at, expires_at FROM ingest_exceptions
          WHERE expires_at > now() ORDER BY received_at DESC LIMIT $1",
        vec![limit.into()],
    ))
    .all(&txn)
    .await?;
    let keys = if masked { crate::data_contracts::all_sensitive_keys(&txn).await? } else { Vec::new() };
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            let mut violations: Vec<engine::data_contract::Violation> =
                decode(&format!("the violations of refused record {}", r.id), r.violations)?;
            let raw = match (masked, serde_json::from_str::<Value>(&r.raw)) {
                (false, _) => r.raw,
                (true, Ok(record)) => {
                    // A message may quote the value it refused ("… not dana@harbor").
                    for v in &mut violations {
                        let masked = engine::run::mask_in(&Value::String(v.message.clone()), &keys, &record);
                        v.message = masked.as_str().unwrap_or_default().to_owned();
                    }
                    engine::run::mask_in(&record, &keys, &record).to_string()
                }
                (true, Err(_)) => UNREADABLE_HIDDEN.to_owned(),
            };
            Ok(ExceptionRow {
                violations,
                id: r.id,
                workflow_name: r.workflow_name,
                channel: r.channel,
                raw,
                received_at: r.received_at,
                expires_at: r.expires_at,
            })
        })
        .collect()
}

/// Ends a run failed because storage refused its progress for a reason
/// that would hold on every resumption (`executor::execute`): unless another
/// worker holds it under a live lease, a person or the budget holds it, or
/// it already rests. True when this ended it.
pub async fn fail_unstorable(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Uuid,
    owner: &str,
    reason: &str,
) -> Result<bool, DbErr> {
    let txn = tenant.begin(db).await?;
    let res = txn
        .execute_raw(stmt(
            "UPDATE runs SET status = 'failed', error = $3, finished_at = now(), updated_at = now(),
                    started_at = coalesce(started_at, now()), lease_owner = NULL, lease_until = NULL
              WHERE id = $1
                AND CASE status WHEN 'queued' THEN held IS NULL
                                WHEN 'running' THEN lease_owner = $2 OR lease_until IS NULL OR lease_until < now()
                                ELSE false END",
            vec![run_id.into(), owner.into(), reason.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// Ends failed a run whose lease lapsed again after `takeovers` takeovers
/// (`RunTiming::most_takeovers`): its executions keep ending without
/// finishing it. True when this ended it (not if a worker took it meanwhile).
pub async fn give_up_abandoned(db: &DatabaseConnection, tenant: &Tenant, run: &Stalled) -> Result<bool, DbErr> {
    let executions = run.takeovers + 1;
    let recorded = match run.next_step {
        0 => "before any step was recorded as done".to_owned(),
        n => format!("after step {n} was recorded as done"),
    };
    let reason = format!(
        "Stopped after {executions} executions that each ended before the run did, {recorded}: its worker was \
         stopped, crashed or lost its storage every time. Steward does not start it again, so that nothing it \
         does is repeated without end; send the event again once the cause is fixed."
    );
    let txn = tenant.begin(db).await?;
    let res = txn
        .execute_raw(stmt(
            "UPDATE runs SET status = 'failed', error = $3, finished_at = now(), updated_at = now(),
                    started_at = coalesce(started_at, now()), lease_owner = NULL, lease_until = NULL
              WHERE id = $1 AND status = 'running' AND lease_until < now() AND takeovers = $2",
            vec![run.id.into(), run.takeovers.into(), reason.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// A stale task whose workflow says `stale_action: fail`: its run ends failed.
pub async fn mark_failed_after_stale(
    db: &DatabaseConnection,
    tenant: &Tenant,
    task_id: Uuid,
    why: &str,
) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "UPDATE runs SET status = 'failed', error = $2 WHERE id = (SELECT run_id FROM review_tasks WHERE id = $1)",
        vec![task_id.into(), why.into()],
    ))
    .await?;
    txn.commit().await
}
