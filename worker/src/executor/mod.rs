//! Where a run executes. A job wakes the executor; it reads the run (or
//! takes over a lapsed lease), checks the budget before the first step,
//! then runs the steps from the last written one (`drive`). A queued run
//! is executed without a lease while its steps only compute: the write
//! that ends it claims it, if nobody executed it since it was read, so such
//! a run costs the worker one commit. The lease is taken (`hold`) before a
//! step reaches the outside world and before any write that does not end
//! the run, and renewed in the background from then on. Steps that only
//! compute (a function, rules, a cached call, the offline model) are kept
//! in memory and written together with the next state change; a step that
//! reached the outside world (an HTTP call, a paid model, an email) is
//! written before the run goes on, so a run resumed after a crash repeats
//! only computation, never a side effect. It stops for a person where the approval policy says so
//! (`policy`) and applies the workflow's fallback when a step fails for good.
//!
//! One file per step kind does the step's own work: `function`,
//! `api_call`, `llm`, `rules`, `notify`; an approval step is a gate and
//! lives with the policy. `shadow` runs a version's steps for a replay,
//! where nothing reaches the outside world.

// A step's failure carries what it spent on the way (its cost lines), so
// `Failed` is large; it is made at most once per step, never in a loop.
#![allow(clippy::result_large_err)]

mod api_call;
mod function;
mod llm;
mod notify;
mod policy;
mod rules;
pub(crate) mod shadow;

use crate::context::Context;
use crate::lease::LeaseKeeper;
use apalis::prelude::*;
use chrono::Utc;
use engine::cost::{CapAction, Verdict};
use engine::review::ReviewReason;
use engine::run as logic;
use engine::workflow::{OnError, Step, StepKind};
use engine::{CostKind, StepStatus};
use sea_orm::DbErr;
use serde_json::{json, Value};
use std::time::Duration;
use store::costs::{self, BudgetState};
use store::jobs::RunJob;
use store::ledger::{self, CostLine};
use store::outbox::OutboxEmail;
use store::runs::{self, Claim, Ending, LeasedRun, NewReviewTask, Progress, StepRecord};
use store::Tenant;
use tracing::Instrument;

/// The apalis handler for the runs queue.
pub async fn execute_run(job: RunJob, cx: Data<Context>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("run", run_id = %job.run_id, tenant_id = %job.tenant_id);
    let result = async {
        execute(&cx, &job).await.map_err(|e| {
            tracing::error!(error = %e, "run execution stopped on an infrastructure error; the sweeper will resume it");
            BoxDynError::from(e.to_string())
        })
    }
    .instrument(span)
    .await;
    cx.consumers.runs.consumed(format_args!("run {}", job.run_id));
    result
}

/// What a step produced.
struct Done {
    output: Value,
    input: Value,
    attempts: i32,
    tokens_in: i64,
    tokens_out: i64,
    model: Option<String>,
    prompt_version: Option<i32>,
    cache_hit: bool,
    detail: Value,
    outbox: Vec<OutboxEmail>,
    costs: Vec<CostLine>,
    /// It reached the outside world (a call, a paid model, an email): written before the run goes on.
    effectful: bool,
}

impl Done {
    fn output(output: Value, input: Value) -> Self {
        Done {
            output,
            input,
            attempts: 1,
            tokens_in: 0,
            tokens_out: 0,
            model: None,
            prompt_version: None,
            cache_hit: false,
            detail: json!({}),
            outbox: vec![],
            costs: vec![],
            effectful: false,
        }
    }
}

/// Why a step failed for good, with what it cost on the way.
struct Failed {
    error: String,
    attempts: i32,
    input: Value,
    detail: Value,
    tokens_in: i64,
    tokens_out: i64,
    costs: Vec<CostLine>,
}

impl Failed {
    fn now(error: impl Into<String>) -> Self {
        Failed {
            error: error.into(),
            attempts: 1,
            input: Value::Null,
            detail: json!({}),
            tokens_in: 0,
            tokens_out: 0,
            costs: vec![],
        }
    }
}

/// Why a step produced no output.
enum Stop {
    /// It failed for good, after its own retries: the workflow's fallback applies.
    Failed(Failed),
    /// The business's storage could not be read, so nothing is known about
    /// the step: the execution stops without writing and the sweeper
    /// resumes the run from its last write (a database that blinks never
    /// fails a run). Only an outage (`store::db::is_outage`) is this; what
    /// storage answered with an error is `Failed`.
    Storage(DbErr),
}

impl From<Failed> for Stop {
    fn from(failed: Failed) -> Self {
        Stop::Failed(failed)
    }
}

impl From<DbErr> for Stop {
    fn from(e: DbErr) -> Self {
        // Anything else (a stored document that does not decode, a statement PostgreSQL
        // refuses) would fail again on every retry: the step fails with the reason, as it
        // would for any other mistake in its configuration, and the run does not go round for ever.
        match store::db::is_outage(&e) {
            true => Stop::Storage(e),
            false => Stop::Failed(Failed::now(e.to_string())),
        }
    }
}

/// The run as this execution sees it.
struct Execution {
    tenant: Tenant,
    run: LeasedRun,
    /// The business's configuration as of this run's lease, read once per generation.
    config: std::sync::Arc<crate::config_cache::Business>,
    sensitive: std::sync::Arc<Vec<String>>,
    rates: engine::cost::Rates,
    /// Set when the budget's cap says to use the cheaper tier: why.
    downgrade: Option<String>,
    /// What ran since the last write.
    progress: Progress,
    /// Renews the lease while this worker holds it.
    keeper: Option<LeaseKeeper>,
}

impl Execution {
    /// Renews the run's lease in the background from now until the execution ends.
    fn keep_lease(&mut self, cx: &Context) {
        let lease = cx.settings.runs.lease_seconds;
        let (db, tenant, owner, run_id) = (cx.db.clone(), self.tenant.clone(), cx.owner.clone(), self.run.id);
        self.keeper = Some(LeaseKeeper::start(lease, move || {
            let (db, tenant, owner) = (db.clone(), tenant.clone(), owner.clone());
            async move { matches!(runs::renew(&db, &tenant, run_id, &owner, lease).await, Ok(true)) }
        }));
    }
}

/// Shows a step that takes more than a second as running on the timeline
/// (with the steps before it), and nothing for a quick one. Stops with the
/// step however it ends.
struct RunningMarker(tokio::task::JoinHandle<()>);

impl RunningMarker {
    fn start(cx: &Context, x: &Execution, record: &StepRecord) -> Self {
        let (db, tenant, owner, run_id) = (cx.db.clone(), x.tenant.clone(), cx.owner.clone(), x.run.id);
        let (mut before, record) = (x.progress.records.clone(), record.clone());
        RunningMarker(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            before.iter_mut().for_each(|r| r.costs.clear());
            if let Err(e) = runs::mark_running(&db, &tenant, run_id, &owner, &before, &record).await {
                tracing::debug!(error = %e, "could not show the step as running");
            }
        }))
    }
}

impl Drop for RunningMarker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Executes (or resumes) the job's run, if it is this worker's to run.
/// An error stops the execution: it is returned, and the sweeper resumes
/// the run from its last write. But a statement PostgreSQL refuses for good
/// (`store::db::is_refusal`: a value it cannot store, a broken constraint)
/// would come back on every resumption, so the run ends failed with the
/// reason instead of being resumed for ever.
pub async fn execute(cx: &Context, job: &RunJob) -> anyhow::Result<()> {
    let Err(e) = execute_once(cx, job).await else { return Ok(()) };
    let refused = match e.downcast_ref::<DbErr>() {
        Some(refused) if store::db::is_refusal(refused) => refused.to_string(),
        _ => return Err(e),
    };
    let reason = format!("Steward's storage refused this run's progress, so the run stopped: {refused}");
    match runs::fail_unstorable(&cx.db, &job.tenant()?, job.run_id, &cx.owner, &reason).await? {
        true => {
            rested("failed");
            tracing::error!(error = %refused, "storage refused the run's progress; the run ends failed");
        }
        false => tracing::warn!(
            error = %refused,
            "storage refused the run's progress; the run was not failed (another worker holds it, or it waits or rests)"
        ),
    }
    Ok(())
}

/// One execution of the job's run; any storage error is returned.
async fn execute_once(cx: &Context, job: &RunJob) -> anyhow::Result<()> {
    let tenant = job.tenant()?;
    // Off the queue: the sweeper no longer counts this job as waiting (best-effort, in the background).
    cx.runs_taken.hand(job.run_id.to_string());
    let Some(opened) = cx.run_groups.open(&tenant, job.run_id).await? else {
        tracing::debug!("run is held, waiting or finished; nothing to do");
        return Ok(());
    };
    let config = cx.config.business(&tenant, opened.generation);
    let contract = config.contract(&cx.db, &opened.workflow_name, opened.workflow_version).await?;
    // The budget is judged on what was spent before this delivery, and only when the run starts.
    let budget = match opened.is_starting() && opened.budgeted {
        true => costs::gate_state(&cx.db, &tenant, &opened.workflow_name).await?,
        false => None,
    };
    let run = opened.into_run(job.run_id, contract, budget);
    let sensitive = config.sensitive_keys(&cx.db, &run.workflow_name, run.workflow_version, &run.contract).await?;
    let rates = config.rates(&cx.db).await?;
    let budget = run.budget.clone();
    let workflow = run.workflow_name.clone();
    // The delivery itself is a queue operation; its line is written with the run's first write.
    let delivery = CostLine::new(CostKind::Queue, None, engine::cost::queue(1, rates.queue_op), 1, "delivery");
    let progress = Progress { costs: vec![delivery], ..Default::default() };
    let keeper = None;
    let mut x = Execution { tenant, run, config, sensitive, rates, downgrade: None, progress, keeper };
    if x.run.claim == Claim::Held {
        x.keep_lease(cx);
    }
    // A run the budget may hold is held under its lease.
    let result = match budget.is_none() || hold(cx, &mut x).await? {
        true => match budget_gate(cx, &mut x, budget).await {
            Ok(true) => drive(cx, &mut x).await,
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        },
        false => Ok(()),
    };
    drop(x.keeper.take());
    // A workflow with a budget is judged after its runs (retry spikes wait for the minute's check).
    if x.run.budget.is_some() || x.run.cleared_step.is_some() {
        if let Err(e) = crate::cost_watch::evaluate(cx, &x.tenant, &workflow).await {
            tracing::warn!(error = %e, "the cost watch could not evaluate the workflow");
        }
    }
    result
}

/// Makes sure this worker holds the run's lease, taking it if the run was
/// read while queued. False: another worker has the run (or it moved on)
/// and this execution stops without writing.
async fn hold(cx: &Context, x: &mut Execution) -> anyhow::Result<bool> {
    if x.run.claim == Claim::Held {
        return Ok(true);
    }
    let lease = cx.settings.runs.lease_seconds;
    if !runs::claim(&cx.db, &x.tenant, x.run.id, &cx.owner, lease, x.run.claim).await? {
        tracing::debug!("another worker took the run; nothing to do");
        return Ok(false);
    }
    x.run.claim = Claim::Held;
    x.keep_lease(cx);
    Ok(true)
}

/// Before a run's first step: the off-peak window of a batchable workflow
/// and the budget's cap. False: the run is held (queued, its event kept)
/// and this execution stops.
async fn budget_gate(cx: &Context, x: &mut Execution, state: Option<BudgetState>) -> anyhow::Result<bool> {
    let Some(state) = state else { return Ok(true) };
    let Some(budget) = &state.budget else { return Ok(true) };
    if let Some((start, end)) = budget.batch_window {
        if !engine::cost::in_window(start, end, state.local_hour) {
            costs::hold(&cx.db, &x.tenant, x.run.id, &cx.owner, engine::cost::HoldReason::OffPeak).await?;
            rested("held");
            tracing::info!(start, end, "run waits for the workflow's off-peak window");
            return Ok(false);
        }
    }
    match engine::cost::before_run(budget, state.month.spent, state.forecast()) {
        Verdict::Proceed | Verdict::AtCap(CapAction::AlertOnly) => Ok(true),
        Verdict::AtCap(CapAction::Downgrade) => {
            x.downgrade = Some(format!(
                "the month's spend ({}) and this run's forecast ({}) pass the budget cap ({}), so premium steps use the small tier",
                state.currency.cents(state.month.spent),
                state.currency.precise(state.forecast()),
                state.currency.cents(budget.cap())
            ));
            Ok(true)
        }
        Verdict::AtCap(CapAction::Pause) => {
            costs::hold(&cx.db, &x.tenant, x.run.id, &cx.owner, engine::cost::HoldReason::Budget).await?;
            rested("held");
            tracing::info!(
                "run paused at the budget cap; it resumes when the budget is raised or the month rolls over"
            );
            Ok(false)
        }
    }
}

/// Writes what ran since the last write, with the context and the next
/// step, and queues the mail it sends. False: this worker lost the lease.
async fn flush(
    cx: &Context,
    x: &mut Execution,
    next_step: i32,
    ending: Option<(Ending, Option<&str>)>,
) -> anyhow::Result<bool> {
    // Only a write that ends the run may claim it; any other goes on under the lease.
    if ending.is_none() && !hold(cx, x).await? {
        return Ok(false);
    }
    let progress = std::mem::take(&mut x.progress);
    let (run_id, claim) = (x.run.id, x.run.claim);
    // The end of a run that only computed goes with the other runs ending meanwhile.
    let finish = ending.and_then(|(ending, error)| {
        runs::Finish::new(run_id, claim, &progress, &x.run.context, next_step, ending, error)
    });
    let written = match finish {
        Some(finish) => cx.run_groups.end(&x.tenant, finish).await?.then(Vec::new),
        None => {
            runs::advance(&cx.db, &x.tenant, run_id, &cx.owner, claim, &progress, &x.run.context, next_step, ending)
                .await?
        }
    };
    let Some(mail_ids) = written else { return Ok(false) };
    if let Some((ending, _)) = ending {
        rested(match ending {
            Ending::Completed => "completed",
            Ending::Failed => "failed",
        });
    }
    cx.hand_over(&x.tenant, &progress.outbox, &mail_ids).await;
    Ok(true)
}

/// Counts a run that came to rest.
fn rested(status: &'static str) {
    metrics::counter!(store::measure::RUNS_RESTED, "status" => status).increment(1);
}

/// The run loop: each step from the run's next one, until the run ends or stops for a person.
async fn drive(cx: &Context, x: &mut Execution) -> anyhow::Result<()> {
    let contract = x.run.contract.clone();
    let mut index = x.run.next_step.max(0) as usize;
    while let Some(step) = contract.steps.get(index) {
        let i = index as i32;
        let mut base = StepRecord::new(i, &step.id, step.kind, StepStatus::Running);
        base.started_at = Some(Utc::now());
        if let Some(when) = &step.when {
            match logic::eval_bool(when, &x.run.context) {
                Ok(true) => {}
                Ok(false) => {
                    x.progress.records.push(StepRecord {
                        status: StepStatus::Skipped,
                        finished_at: Some(Utc::now()),
                        detail: json!({ "when": when, "result": false }),
                        ..base
                    });
                    index += 1;
                    continue;
                }
                Err(e) => {
                    let failed = Failed::now(format!("the `when` condition failed: {e}"));
                    return step_failed(cx, x, step, base, failed).await;
                }
            }
        }
        // Gates before a step: an explicit approval step, and the policy before outside messages and financial writes.
        if let Some(gate) = policy::before(cx, x, step, index).await? {
            let record =
                (step.kind == StepKind::Approval).then_some(StepRecord { status: StepStatus::Waiting, ..base });
            let reason = gate.reason;
            wait_for_person(cx, x, record, gate, i).await?;
            tracing::info!(step = %step.id, %reason, "run waits for a person before this step");
            return Ok(());
        }
        let marker = RunningMarker::start(cx, x, &base);
        let clock = std::time::Instant::now();
        // A span per step (a child of the run's in traces); it repeats the run id for the log lines.
        let span = tracing::info_span!("step", run_id = %x.run.id, step = %step.id, kind = %step.kind);
        let outcome = execute_step(cx, x, step).instrument(span).await;
        drop(marker);
        // None: another worker took the run when this one went to take its lease.
        let Some(outcome) = outcome? else { return Ok(()) };
        let mut outcome = storable(outcome);
        // The worker's time on the step is paid for whether it succeeded or not.
        metrics::histogram!(store::measure::STEP_SECONDS, "kind" => step.kind.as_str())
            .record(clock.elapsed().as_secs_f64());
        let worker_ms = clock.elapsed().as_millis() as i64;
        let costs = match &mut outcome {
            Ok(done) => &mut done.costs,
            Err(failed) => &mut failed.costs,
        };
        let worker_time = engine::cost::orchestration(worker_ms, x.rates.orchestration_per_hour);
        costs.push(CostLine::new(CostKind::Orchestration, None, worker_time, worker_ms, step.id.clone()));
        costs.iter_mut().for_each(|l| _ = l.step_index.get_or_insert(i));
        let done = match outcome {
            Ok(done) => done,
            Err(failed) => return step_failed(cx, x, step, base, failed).await,
        };
        if done.tokens_in + done.tokens_out > 0 {
            metrics::counter!(store::measure::MODEL_TOKENS, "direction" => "in").increment(done.tokens_in as u64);
            metrics::counter!(store::measure::MODEL_TOKENS, "direction" => "out").increment(done.tokens_out as u64);
            metrics::counter!(store::measure::MODEL_COST).increment(ledger::model_cost(&done.costs).max(0) as u64);
        }
        if let (Some(name), Some(map)) = (&step.output, x.run.context.as_object_mut()) {
            map.insert(name.clone(), done.output.clone());
        }
        let draft_gate = policy::after_draft(x, step, index, &done.output);
        x.progress.outbox.extend(done.outbox);
        x.progress.records.push(StepRecord {
            status: StepStatus::Completed,
            finished_at: Some(Utc::now()),
            attempts: done.attempts,
            input: Some(logic::mask_in(&done.input, &x.sensitive, &x.run.context)),
            output: Some(logic::mask_in(&done.output, &x.sensitive, &x.run.context)),
            tokens_in: done.tokens_in,
            tokens_out: done.tokens_out,
            cost_micros: ledger::model_cost(&done.costs),
            model: done.model.clone(),
            prompt_version: done.prompt_version,
            cache_hit: done.cache_hit,
            detail: done.detail.clone(),
            costs: done.costs,
            ..base
        });
        // The policy after a model's draft.
        if let Some(gate) = draft_gate {
            let reason = gate.reason;
            wait_for_person(cx, x, None, gate, i + 1).await?;
            tracing::info!(step = %step.id, %reason, "the draft goes to a person");
            return Ok(());
        }
        // A step that reached the outside world is written before the run goes on.
        if done.effectful && !flush(cx, x, i + 1, None).await? {
            return Ok(());
        }
        index += 1;
    }
    if flush(cx, x, index as i32, Some((Ending::Completed, None))).await? {
        tracing::info!("run completed");
    }
    Ok(())
}

/// A step's outcome as PostgreSQL can keep it, which is no NUL character in
/// text or JSON: an answer (or an input or email a template made) with one
/// fails the step, saying where (sending it again would bring the same answer), and
/// messages quoting one show it as `\u0000`.
fn storable(outcome: Result<Done, Failed>) -> Result<Done, Failed> {
    use engine::no_nul;
    match outcome {
        Ok(done) => match no_nul::nul_in(&done.output, "")
            .map(|at| ("answer", at))
            .or_else(|| no_nul::nul_in(&done.input, "").map(|at| ("input", at)))
            .or_else(|| email_with_nul(&done.outbox).map(|part| (part, String::new())))
        {
            None => Ok(Done { detail: no_nul::shown(done.detail), ..done }),
            Some((what, at)) => {
                let at = if at.is_empty() { String::new() } else { format!(" at `{at}`") };
                Err(Failed {
                    error: format!(
                        "the step's {what} contains a NUL character (\\u0000){at}, which Steward does not store"
                    ),
                    attempts: done.attempts,
                    input: no_nul::shown(done.input),
                    detail: no_nul::shown(done.detail),
                    tokens_in: done.tokens_in,
                    tokens_out: done.tokens_out,
                    costs: done.costs,
                })
            }
        },
        Err(failed) => Err(Failed {
            error: no_nul::visible(&failed.error).into_owned(),
            input: no_nul::shown(failed.input),
            detail: no_nul::shown(failed.detail),
            ..failed
        }),
    }
}

/// Which part of an email a step wrote holds a NUL character, if one does.
fn email_with_nul(outbox: &[OutboxEmail]) -> Option<&'static str> {
    outbox.iter().find_map(|m| {
        [("email address", &m.to), ("email subject", &m.subject), ("email text", &m.text), ("email HTML", &m.html)]
            .into_iter()
            .find_map(|(part, text)| text.contains('\0').then_some(part))
    })
}

/// The step's own work, by its kind. An approval step never gets here: it
/// is a gate (`policy::before`). A step that reaches the outside world (a
/// call not answered by the cache, a paid model) does so under the run's
/// lease, taken first if the run was read while queued. None: another
/// worker took the run.
async fn execute_step(cx: &Context, x: &mut Execution, step: &Step) -> anyhow::Result<Option<Result<Done, Failed>>> {
    let outcome = match step.kind {
        StepKind::Function => function::run(cx, x, step).await,
        StepKind::ApiCall => match api_call::Call::prepare(cx, x, step).await {
            Err(stop) => Err(stop),
            Ok(call) => match call.cached(cx, step).await {
                Some(done) => Ok(done),
                None if !hold(cx, x).await? => return Ok(None),
                None => call.send(cx, x, step).await.map_err(Stop::Failed),
            },
        },
        StepKind::Llm => {
            if llm::reaches_outside(cx, x).await? && !hold(cx, x).await? {
                return Ok(None);
            }
            llm::run(cx, x, step).await
        }
        StepKind::Rules => rules::run(x, step).map_err(Stop::Failed),
        StepKind::Notify => notify::run(cx, x, step).await,
        StepKind::Approval => Err(Stop::Failed(Failed::now("an approval step is decided by a person, not executed"))),
    };
    match outcome {
        Ok(done) => Ok(Some(Ok(done))),
        Err(Stop::Failed(failed)) => Ok(Some(Err(failed))),
        Err(Stop::Storage(e)) => Err(e.into()),
    }
}

/// After retries: the human queue with the error attached, or a failed run, per the contract.
async fn step_failed(
    cx: &Context,
    x: &mut Execution,
    step: &Step,
    base: StepRecord,
    failed: Failed,
) -> anyhow::Result<()> {
    // An error often quotes the URL or the answer, with whatever customer data was in them:
    // it is masked before it is stored, logged or shown to a reviewer.
    let error = logic::mask_in(&serde_json::json!(failed.error), &x.sensitive, &x.run.context)
        .as_str()
        .map(str::to_owned)
        .unwrap_or_default();
    let record = StepRecord {
        status: StepStatus::Failed,
        finished_at: Some(Utc::now()),
        attempts: failed.attempts,
        input: Some(logic::mask_in(&failed.input, &x.sensitive, &x.run.context)),
        error: Some(error.clone()),
        tokens_in: failed.tokens_in,
        tokens_out: failed.tokens_out,
        cost_micros: ledger::model_cost(&failed.costs),
        detail: failed.detail,
        costs: failed.costs,
        ..base
    };
    let on_error = x.run.contract.fallback.as_ref().map(|f| f.on_error).unwrap_or(OnError::Fail);
    tracing::warn!(step = %step.id, %error, fallback = %on_error, "step failed");
    match on_error {
        OnError::Fail => {
            let index = record.index;
            x.progress.records.push(record);
            flush(cx, x, index, Some((Ending::Failed, Some(&error)))).await?;
        }
        // The step's own retries have run; the case goes to a person.
        OnError::AssignToHumanQueue | OnError::RetryThenHuman => {
            let detail = json!({ "step": step.id, "error": error });
            let task = NewReviewTask::new(record.index, ReviewReason::Error, detail, step.output.clone(), None);
            let index = record.index;
            wait_for_person(cx, x, Some(record), task, index).await?;
        }
    }
    Ok(())
}

/// Opens a review task (with the workflow's review policy and the value at
/// stake), stops the run, and emails the eligible reviewers their links.
/// False: this worker lost the lease; nothing changed.
async fn wait_for_person(
    cx: &Context,
    x: &mut Execution,
    record: Option<StepRecord>,
    mut task: NewReviewTask,
    next_step: i32,
) -> anyhow::Result<bool> {
    if !hold(cx, x).await? {
        return Ok(false);
    }
    task.workflow_name = x.run.workflow_name.clone();
    task.policy = x.run.contract.review.clone().unwrap_or_default();
    task.value = logic::find_number(&x.run.context, "annual_contract_value", task.draft.as_ref())
        .or_else(|| task.detail["policy"][0]["detail"]["value"].as_f64());
    let reviewers = policy::reviewers(&x.run.contract, task.step_index);
    // What emails and Slack show: the draft with its sensitive fields masked.
    task.shown_draft = task.draft.as_ref().map(|d| logic::mask_in(d, &x.sensitive, &x.run.context));
    let title = engine::record_title::record_title(&x.run.context["event"])
        .map(|t| logic::mask_in(&json!(t), &x.sensitive, &x.run.context).as_str().unwrap_or_default().to_owned());
    // The draft and the enquiry as labelled fields, masked like the draft.
    let (event_labels, draft_labels) = store::readable::task_labels(
        &cx.db,
        &x.tenant,
        &x.run.workflow_name,
        &x.run.contract,
        &x.run.pinned,
        task.output_name.as_deref(),
    )
    .await?;
    let shown = crate::review_mail::Shown {
        title,
        draft: task.shown_draft.as_ref().map(|d| engine::readable::fields(d, &draft_labels)).unwrap_or_default(),
        event: engine::readable::fields(
            &logic::mask_in(&x.run.context["event"], &x.sensitive, &x.run.context),
            &event_labels,
        ),
    };
    let letters = crate::review_mail::letters(cx, &x.tenant, &task, &reviewers, &shown).await?;
    x.progress.records.extend(record);
    let progress = std::mem::take(&mut x.progress);
    let written = runs::wait_for_review(
        &cx.db,
        &x.tenant,
        x.run.id,
        &cx.owner,
        &progress,
        &x.run.context,
        &task,
        next_step,
        &letters,
    )
    .await?;
    let Some(mail_ids) = written else { return Ok(false) };
    rested("waiting_for_review");
    let mut mails = progress.outbox;
    mails.extend(letters.mails);
    cx.hand_over(&x.tenant, &mails, &mail_ids).await;
    if task.policy.slack_channel.is_some() {
        crate::slack::post_now(cx, &x.tenant, letters.task_id).await;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_stops_the_execution_and_any_other_storage_error_fails_the_step() {
        let refused = DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert!(matches!(Stop::from(refused), Stop::Storage(_)), "tried again later");
        let timed_out = store::db::from_sqlx(sea_orm::sqlx::Error::PoolTimedOut);
        assert!(matches!(Stop::from(timed_out), Stop::Storage(_)), "a full pool is waited out");
        match Stop::from(DbErr::Type("the data contract lead does not parse: line 3".into())) {
            Stop::Failed(failed) => assert!(failed.error.contains("does not parse"), "{}", failed.error),
            Stop::Storage(e) => panic!("a broken document is the step's failure, not an outage: {e}"),
        }
        assert!(matches!(Stop::from(DbErr::RecordNotFound("prompt".into())), Stop::Failed(_)));
    }

    #[test]
    fn an_answer_with_a_nul_character_fails_its_step_and_a_message_shows_one_escaped() {
        let done = Done::output(json!({ "company": { "name": "Acme\u{0}" } }), json!({ "url": "x" }));
        match storable(Ok(done)) {
            Err(failed) => {
                assert!(failed.error.contains("NUL character (\\u0000) at `company.name`"), "{}", failed.error);
                assert_eq!(failed.input, json!({ "url": "x" }), "the step's input is kept for the timeline");
            }
            Ok(_) => panic!("an answer PostgreSQL cannot store fails the step"),
        }
        assert!(storable(Ok(Done::output(json!({ "name": "Acme" }), json!({})))).is_ok());
        let mut notify = Done::output(json!({ "sent": 1 }), json!({}));
        notify.outbox.push(OutboxEmail {
            to: "ops@acme.test".into(),
            subject: "Lead from Acme\u{0}".into(),
            text: "hello".into(),
            html: "<p>hello</p>".into(),
            attachments: vec![],
        });
        let Err(failed) = storable(Ok(notify)) else { panic!("an email PostgreSQL cannot store fails its step") };
        assert!(failed.error.contains("email subject contains a NUL character"), "{}", failed.error);
        let failed = Failed { detail: json!({ "answer": "bad\u{0}" }), ..Failed::now("answered 500: oops\u{0}") };
        let Err(failed) = storable(Err(failed)) else { panic!("a failure stays a failure") };
        assert_eq!(failed.error, "answered 500: oops\\u0000");
        assert_eq!(failed.detail, json!({ "answer": "bad\\u0000" }));
    }
}
