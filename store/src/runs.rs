//! Runs in PostgreSQL: the state machine the worker drives (lease, step
//! records, waiting for review, finishing) and the queries the runs pages
//! read. Every change to a run is one tenant transaction that first checks
//! the worker still holds the run's lease.

use crate::db::{stmt, tenant_txn};
use crate::jobs::RunJob;
use engine::workflow::WorkflowContract;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::Value;

pub const STATUSES: [&str; 6] = ["queued", "running", "waiting_for_review", "completed", "failed", "cancelled"];

/// A run a worker holds the lease on.
#[derive(Debug, Clone)]
pub struct LeasedRun {
    pub id: Uuid,
    pub workflow_name: String,
    pub workflow_version: i32,
    pub contract: WorkflowContract,
    pub context: Value,
    pub next_step: i32,
    pub cleared_step: Option<i32>,
    pub pinned: Value,
}

/// Takes the run's lease if it is queued, or running under a lease that
/// has lapsed (its worker died). None: someone else holds it, or it is
/// waiting or finished, and the job has nothing to do.
pub async fn lease(
    db: &DatabaseConnection,
    schema: &str,
    run_id: Uuid,
    owner: &str,
    seconds: i64,
) -> Result<Option<LeasedRun>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let row = txn
        .query_one_raw(stmt(
            "UPDATE runs SET status = 'running', lease_owner = $2, lease_until = now() + make_interval(secs => $3::double precision),
                    started_at = coalesce(started_at, now()), executions = executions + 1, updated_at = now()
              WHERE id = $1 AND (status = 'queued' OR (status = 'running' AND (lease_until IS NULL OR lease_until < now())))
          RETURNING workflow_name, workflow_version, context, next_step, cleared_step, pinned, workflow_id",
            vec![run_id.into(), owner.into(), (seconds as f64).into()],
        ))
        .await?;
    let Some(row) = row else {
        txn.commit().await?;
        return Ok(None);
    };
    let workflow_id: Uuid = row.try_get_by_index(6)?;
    let version: i32 = row.try_get_by_index(1)?;
    let contract: Value = txn
        .query_one_raw(stmt(
            "SELECT contract FROM workflow_versions WHERE workflow_id = $1 AND number = $2",
            vec![workflow_id.into(), version.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("workflow version {version} of run {run_id}")))?
        .try_get_by_index(0)?;
    let contract: WorkflowContract =
        serde_json::from_value(contract).map_err(|e| DbErr::Custom(format!("stored contract does not decode: {e}")))?;
    let leased = LeasedRun {
        id: run_id,
        workflow_name: row.try_get_by_index(0)?,
        workflow_version: version,
        contract,
        context: row.try_get_by_index(2)?,
        next_step: row.try_get_by_index(3)?,
        cleared_step: row.try_get_by_index(4)?,
        pinned: row.try_get_by_index(5)?,
    };
    txn.commit().await?;
    Ok(Some(leased))
}

/// Extends the lease while a long step runs. False: the lease was lost.
pub async fn renew(
    db: &DatabaseConnection,
    schema: &str,
    run_id: Uuid,
    owner: &str,
    seconds: i64,
) -> Result<bool, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let res = txn
        .execute_raw(stmt(
            "UPDATE runs SET lease_until = now() + make_interval(secs => $3::double precision) WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            vec![run_id.into(), owner.into(), (seconds as f64).into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected() == 1)
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

/// What a finished (or failed, or skipped) step leaves behind.
#[derive(Debug, Clone, Default)]
pub struct StepRecord {
    pub index: i32,
    pub step_id: String,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub started_at: Option<DateTimeUtc>,
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
    /// What the step paid for, written with it.
    pub costs: Vec<crate::costs::CostLine>,
}

async fn write_step(txn: &DatabaseTransaction, run_id: Uuid, s: &StepRecord) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "INSERT INTO run_steps (run_id, step_index, step_id, kind, status, attempts, started_at, finished_at, input, output, error,
                                tokens_in, tokens_out, cost_micros, model, prompt_version, cache_hit, detail)
         VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, now()), CASE WHEN $5 IN ('running', 'waiting') THEN NULL ELSE now() END,
                 $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (run_id, step_index) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
                 started_at = excluded.started_at, finished_at = excluded.finished_at, input = excluded.input, output = excluded.output,
                 error = excluded.error, tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out, cost_micros = excluded.cost_micros,
                 model = excluded.model, prompt_version = excluded.prompt_version, cache_hit = excluded.cache_hit, detail = excluded.detail",
        vec![
            run_id.into(),
            s.index.into(),
            s.step_id.clone().into(),
            s.kind.clone().into(),
            s.status.clone().into(),
            s.attempts.into(),
            s.started_at.into(),
            s.input.clone().into(),
            s.output.clone().into(),
            s.error.clone().into(),
            s.tokens_in.into(),
            s.tokens_out.into(),
            s.cost_micros.into(),
            s.model.clone().into(),
            s.prompt_version.into(),
            s.cache_hit.into(),
            s.detail.clone().into(),
        ],
    ))
    .await?;
    crate::costs::add_lines(txn, run_id, &s.costs).await
}

/// Marks a step as started (so the timeline shows it while it runs).
pub async fn step_started(
    db: &DatabaseConnection,
    schema: &str,
    run_id: Uuid,
    owner: &str,
    record: &StepRecord,
) -> Result<bool, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    if !held(&txn, run_id, owner).await? {
        return Ok(false);
    }
    write_step(&txn, run_id, record).await?;
    txn.commit().await?;
    Ok(true)
}

/// An email a step sends, written with the step's completion.
#[derive(Debug, Clone, Default)]
pub struct OutboxEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<crate::jobs::Attachment>,
}

/// Records a finished step, its output in the context, and the next step,
/// in one transaction. False: this worker lost the lease; nothing changed.
pub async fn finish_step(
    db: &DatabaseConnection,
    schema: &str,
    run_id: Uuid,
    owner: &str,
    record: &StepRecord,
    context: &Value,
    next_step: i32,
    outbox: &[OutboxEmail],
) -> Result<Option<Vec<Uuid>>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    if !held(&txn, run_id, owner).await? {
        return Ok(None);
    }
    write_step(&txn, run_id, record).await?;
    let ids = insert_outbox(&txn, Some(run_id), outbox).await?;
    txn.execute_raw(stmt(
        "UPDATE runs SET context = $2, next_step = $3, tokens_in = tokens_in + $4, tokens_out = tokens_out + $5, updated_at = now() WHERE id = $1",
        vec![run_id.into(), context.clone().into(), next_step.into(), record.tokens_in.into(), record.tokens_out.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(Some(ids))
}

/// A review task a run waits for.
#[derive(Debug, Clone)]
pub struct NewReviewTask {
    pub step_index: i32,
    pub reason: String,
    pub detail: Value,
    pub output_name: Option<String>,
    pub draft: Option<Value>,
    pub workflow_name: String,
    pub policy: engine::workflow::ReviewPolicy,
    /// The business value at stake, for priority.
    pub value: Option<f64>,
}

impl NewReviewTask {
    /// A task with the workflow's defaults; the engine fills in the workflow, its review policy and the value.
    pub fn new(
        step_index: i32,
        reason: &str,
        detail: Value,
        output_name: Option<String>,
        draft: Option<Value>,
    ) -> Self {
        NewReviewTask {
            step_index,
            reason: reason.to_owned(),
            detail,
            output_name,
            draft,
            workflow_name: String::new(),
            policy: Default::default(),
            value: None,
        }
    }
}

/// Stops the run for a person: records the step (if any) and what it
/// spent, opens the task and releases the lease. Returns the task id.
pub async fn wait_for_review(
    db: &DatabaseConnection,
    schema: &str,
    run_id: Uuid,
    owner: &str,
    record: Option<&StepRecord>,
    task: &NewReviewTask,
    next_step: i32,
) -> Result<Option<Uuid>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    if !held(&txn, run_id, owner).await? {
        return Ok(None);
    }
    if let Some(record) = record {
        write_step(&txn, run_id, record).await?;
        // What a failed step spent is counted with the stop, not after it.
        txn.execute_raw(stmt(
            "UPDATE runs SET tokens_in = tokens_in + $2, tokens_out = tokens_out + $3 WHERE id = $1",
            vec![run_id.into(), record.tokens_in.into(), record.tokens_out.into()],
        ))
        .await?;
    }
    let id = Uuid::new_v4();
    txn.execute_raw(stmt(
        "INSERT INTO review_tasks (id, run_id, step_index, reason, detail, output_name, draft, workflow_name, sla_minutes, max_age_minutes, stale_action, value)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        vec![
            id.into(),
            run_id.into(),
            task.step_index.into(),
            task.reason.clone().into(),
            task.detail.clone().into(),
            task.output_name.clone().into(),
            task.draft.clone().into(),
            task.workflow_name.clone().into(),
            task.policy.sla_minutes.into(),
            task.policy.max_age_minutes.into(),
            task.policy.stale_action.clone().into(),
            task.value.into(),
        ],
    ))
    .await?;
    txn.execute_raw(stmt(
        "UPDATE runs SET status = 'waiting_for_review', next_step = $2, lease_owner = NULL, lease_until = NULL, updated_at = now() WHERE id = $1",
        vec![run_id.into(), next_step.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(Some(id))
}

/// Ends the run: completed, failed (with the error) or cancelled.
pub async fn finish_run(
    db: &DatabaseConnection,
    schema: &str,
    run_id: Uuid,
    owner: &str,
    status: &str,
    error: Option<&str>,
    record: Option<&StepRecord>,
) -> Result<bool, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    if !held(&txn, run_id, owner).await? {
        return Ok(false);
    }
    if let Some(record) = record {
        write_step(&txn, run_id, record).await?;
        txn.execute_raw(stmt(
            "UPDATE runs SET tokens_in = tokens_in + $2, tokens_out = tokens_out + $3 WHERE id = $1",
            vec![run_id.into(), record.tokens_in.into(), record.tokens_out.into()],
        ))
        .await?;
    }
    txn.execute_raw(stmt(
        "UPDATE runs SET status = $2, error = $3, finished_at = now(), lease_owner = NULL, lease_until = NULL, updated_at = now() WHERE id = $1",
        vec![run_id.into(), status.into(), error.map(str::to_owned).into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Writes mail to the outbox outside a step (review emails, escalations); returns the ids.
pub async fn add_to_outbox(
    db: &DatabaseConnection,
    schema: &str,
    run_id: Option<Uuid>,
    mails: &[OutboxEmail],
) -> Result<Vec<Uuid>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let ids = insert_outbox(&txn, run_id, mails).await?;
    txn.commit().await?;
    Ok(ids)
}

/// Writes mail to the outbox inside `txn`; returns the ids.
pub(crate) async fn insert_outbox(
    txn: &DatabaseTransaction,
    run_id: Option<Uuid>,
    mails: &[OutboxEmail],
) -> Result<Vec<Uuid>, DbErr> {
    let mut ids = Vec::new();
    for mail in mails {
        let id = Uuid::new_v4();
        txn.execute_raw(stmt(
            "INSERT INTO outbox (id, run_id, recipient, subject, text_body, html_body, attachments) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                id.into(),
                run_id.into(),
                mail.to.clone().into(),
                mail.subject.clone().into(),
                mail.text.clone().into(),
                mail.html.clone().into(),
                serde_json::to_value(&mail.attachments).unwrap_or_default().into(),
            ],
        ))
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Marks outbox mail as handed to the mail queue.
pub async fn outbox_queued(db: &DatabaseConnection, schema: &str, ids: &[Uuid]) -> Result<(), DbErr> {
    let txn = tenant_txn(db, schema).await?;
    for id in ids {
        txn.execute_raw(stmt("UPDATE outbox SET queued_at = now() WHERE id = $1", vec![(*id).into()])).await?;
    }
    txn.commit().await
}

/// A pending outbox email (for the sweeper to hand over again).
#[derive(Debug, Clone, FromQueryResult)]
pub struct PendingMail {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub attachments: serde_json::Value,
}

/// What the sweeper found in one business.
#[derive(Debug, Default)]
pub struct Stray {
    pub runs: Vec<Uuid>,
    pub mail: Vec<PendingMail>,
}

/// Runs whose job was lost: queued for longer than `stale_seconds`, or
/// running under a lapsed lease; and mail written but not queued.
pub async fn strays(db: &DatabaseConnection, schema: &str, stale_seconds: i64) -> Result<Stray, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let runs = txn
        .query_all_raw(stmt(
            "SELECT id FROM runs WHERE (status = 'queued' AND held IS NULL AND updated_at < now() - make_interval(secs => $1::double precision))
                                    OR (status = 'running' AND lease_until < now())
              ORDER BY updated_at LIMIT 500",
            vec![(stale_seconds as f64).into()],
        ))
        .await?
        .into_iter()
        .filter_map(|r| r.try_get_by_index::<Uuid>(0).ok())
        .collect::<Vec<_>>();
    // Touch them so the next sweep does not send them again at once.
    for id in &runs {
        txn.execute_raw(stmt(
            "UPDATE runs SET updated_at = now() WHERE id = $1 AND status = 'queued'",
            vec![(*id).into()],
        ))
        .await?;
    }
    let mail = PendingMail::find_by_statement(stmt(
        "SELECT id, recipient, subject, text_body, html_body, attachments FROM outbox
          WHERE queued_at IS NULL AND created_at < now() - make_interval(secs => $1::double precision) LIMIT 500",
        vec![(stale_seconds as f64).into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(Stray { runs, mail })
}

/// Every business, for the sweeper.
pub async fn all_schemas(db: &DatabaseConnection) -> Result<Vec<(Uuid, String)>, DbErr> {
    Ok(db
        .query_all_raw(stmt("SELECT id, schema_name FROM public.tenants ORDER BY created_at", vec![]))
        .await?
        .into_iter()
        .filter_map(|r| Some((r.try_get_by_index(0).ok()?, r.try_get_by_index(1).ok()?)))
        .collect())
}

/// Drops refused records past their workflow's retention.
pub async fn purge_expired_exceptions(db: &DatabaseConnection, schema: &str) -> Result<u64, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let res = txn.execute_raw(stmt("DELETE FROM ingest_exceptions WHERE expires_at < now()", vec![])).await?;
    txn.commit().await?;
    Ok(res.rows_affected())
}

pub fn job(tenant_id: Uuid, schema: &str, run_id: Uuid) -> RunJob {
    RunJob { tenant_id: tenant_id.to_string(), schema_name: schema.to_owned(), run_id: run_id.to_string() }
}

// ---- what the runs pages read ----

/// A row of the runs list.
#[derive(Debug, Clone, FromQueryResult)]
pub struct RunRow {
    pub id: Uuid,
    pub workflow_name: String,
    pub workflow_version: i32,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub cost_micros: i64,
    pub error: Option<String>,
    pub open_tasks: i64,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub workflow: Option<String>,
    pub status: Option<String>,
    pub needs_review: bool,
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
}

pub async fn list(db: &DatabaseConnection, schema: &str, filter: &RunFilter, limit: i64) -> Result<Vec<RunRow>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = RunRow::find_by_statement(stmt(
        "SELECT r.id, r.workflow_name, r.workflow_version, r.status, r.created_at, r.finished_at, r.cost_micros, r.error,
                (SELECT count(*) FROM review_tasks t WHERE t.run_id = r.id AND t.status = 'open') AS open_tasks
           FROM runs r
          WHERE ($1::text IS NULL OR r.workflow_name = $1)
            AND ($2::text IS NULL OR r.status = $2)
            AND (NOT $3 OR r.status = 'waiting_for_review')
            AND ($4::date IS NULL OR r.created_at >= $4::date)
            AND ($5::date IS NULL OR r.created_at < $5::date + 1)
          ORDER BY r.created_at DESC LIMIT $6",
        vec![
            filter.workflow.clone().into(),
            filter.status.clone().into(),
            filter.needs_review.into(),
            filter.from.into(),
            filter.to.into(),
            limit.into(),
        ],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct RunHead {
    pub id: Uuid,
    pub workflow_name: String,
    pub workflow_version: i32,
    pub status: String,
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

#[derive(Debug, Clone, FromQueryResult)]
pub struct StepRow {
    pub step_index: i32,
    pub step_id: String,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub started_at: DateTimeUtc,
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
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct TaskRow {
    pub id: Uuid,
    pub step_index: i32,
    pub reason: String,
    pub detail: Value,
    pub draft: Option<Value>,
    pub status: String,
    pub decision: Option<String>,
    pub reason_code: Option<String>,
    pub comment: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub claimed_by: Option<String>,
    pub escalated_at: Option<DateTimeUtc>,
    pub edit_changes: Option<Value>,
}

pub struct RunDetail {
    pub run: RunHead,
    pub steps: Vec<StepRow>,
    pub tasks: Vec<TaskRow>,
    /// Sensitive keys of the workflow's data contract, for masking the source event.
    pub sensitive_keys: Vec<String>,
}

pub async fn detail(db: &DatabaseConnection, schema: &str, run_id: Uuid) -> Result<Option<RunDetail>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
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
    let steps = StepRow::find_by_statement(stmt(
        "SELECT step_index, step_id, kind, status, attempts, started_at, finished_at, input, output, error, tokens_in, tokens_out,
                cost_micros, model, prompt_version, cache_hit, detail FROM run_steps WHERE run_id = $1 ORDER BY step_index",
        vec![run_id.into()],
    ))
    .all(&txn)
    .await?;
    let tasks = TaskRow::find_by_statement(stmt(
        "SELECT id, step_index, reason, detail, draft, status, decision, reason_code, comment, decided_by, decided_at, created_at,
                claimed_by, escalated_at, edit_changes
           FROM review_tasks WHERE run_id = $1 ORDER BY created_at",
        vec![run_id.into()],
    ))
    .all(&txn)
    .await?;
    let sensitive_keys = sensitive_keys_for(&txn, &run.workflow_name, run.workflow_version).await?;
    txn.commit().await?;
    Ok(Some(RunDetail { run, steps, tasks, sensitive_keys }))
}

/// The sensitive keys of every data contract a workflow version uses.
pub async fn sensitive_keys_for(txn: &DatabaseTransaction, workflow: &str, version: i32) -> Result<Vec<String>, DbErr> {
    let contract: Option<Value> = txn
        .query_one_raw(stmt(
            "SELECT v.contract FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id WHERE w.name = $1 AND v.number = $2",
            vec![workflow.into(), version.into()],
        ))
        .await?
        .and_then(|r| r.try_get_by_index(0).ok());
    let Some(contract) = contract.and_then(|c| serde_json::from_value::<WorkflowContract>(c).ok()) else {
        return Ok(vec![]);
    };
    let mut names: Vec<String> = contract.steps.iter().filter_map(|s| s.data_contract.clone()).collect();
    names.extend(contract.trigger.contract_name());
    let mut keys = Vec::new();
    for name in names {
        if let Some(dc) = crate::ingest::data_contract_in(txn, &name).await? {
            keys.extend(dc.sensitive_keys());
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// Puts a failed run back in the queue at its failed step.
pub async fn retry_from_failed_step(db: &DatabaseConnection, schema: &str, run_id: Uuid) -> Result<bool, DbErr> {
    let txn = tenant_txn(db, schema).await?;
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
    schema: &str,
    workflow: &str,
    limit: i64,
) -> Result<Vec<DeliveryRow>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = DeliveryRow::find_by_statement(stmt(
        "SELECT channel, outcome, status_code, reason, run_id, received_at FROM deliveries WHERE workflow_name = $1 ORDER BY id DESC LIMIT $2",
        vec![workflow.into(), limit.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

/// The exceptions report: records refused at the door, with the raw payload.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ExceptionRow {
    pub id: Uuid,
    pub workflow_name: String,
    pub channel: String,
    pub raw: String,
    pub violations: Value,
    pub received_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

pub async fn exceptions(db: &DatabaseConnection, schema: &str, limit: i64) -> Result<Vec<ExceptionRow>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = ExceptionRow::find_by_statement(stmt(
        "SELECT id, workflow_name, channel, raw, violations, received_at, expires_at FROM ingest_exceptions
          WHERE expires_at > now() ORDER BY received_at DESC LIMIT $1",
        vec![limit.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

/// A stale task whose workflow says `stale_action: fail`: its run ends failed.
pub async fn mark_failed_after_stale(
    db: &DatabaseConnection,
    schema: &str,
    task_id: Uuid,
    why: &str,
) -> Result<(), DbErr> {
    let txn = tenant_txn(db, schema).await?;
    txn.execute_raw(stmt(
        "UPDATE runs SET status = 'failed', error = $2 WHERE id = (SELECT run_id FROM review_tasks WHERE id = $1)",
        vec![task_id.into(), why.into()],
    ))
    .await?;
    txn.commit().await
}
