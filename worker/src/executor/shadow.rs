//! A version's steps run in shadow over one past event, for a replay.
//! Function, rules and llm steps run for real (the model's cost is the
//! replay's, never written to the ledger); an api_call step is answered with
//! what it answered in production, and only a deterministic read-only call
//! (GET or HEAD, no financial write) that production never made is made
//! live; notify and approval steps send nothing. Where the version would
//! stop for a person, the shadow notes it and goes on as if the draft were
//! approved, so the rules after it still show what they would decide.

use super::{api_call, function, llm, policy, rules, Done, Execution, Failed, Stop};
use crate::context::Context;
use engine::replay::Outcome;
use engine::review::ReviewReason;
use engine::run as logic;
use engine::workflow::{OnError, Step, StepKind};
use serde_json::json;
use std::sync::Arc;
use store::ledger;
use store::replays::{LeasedReplay, Pending};
use store::runs::{Claim, LeasedRun, Progress};
use store::Tenant;

/// What every event of a replay shares.
pub(crate) struct Setup {
    pub replay: LeasedReplay,
    pub config: Arc<crate::config_cache::Business>,
    pub sensitive: Arc<Vec<String>>,
    pub rates: engine::cost::Rates,
    /// Set when the budget's cap says to use the cheaper tier: why.
    pub downgrade: Option<String>,
}

/// A call production did not make may be made live only when it reads and always answers the same.
fn may_call_live(step: &Step) -> bool {
    let method = step.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    step.deterministic && !step.writes_financial_records && matches!(method.as_str(), "GET" | "HEAD")
}

/// The first reason a person would be asked stands.
fn to_person(outcome: &mut Outcome, reason: ReviewReason) {
    if !outcome.path.person {
        outcome.path.person = true;
        outcome.path.reason = Some(reason);
    }
}

/// What the replayed version does with one past event. An error: storage
/// did not answer (`store::db::is_outage`), and the event is replayed later.
pub(crate) async fn run(cx: &Context, tenant: &Tenant, setup: &Setup, item: &Pending) -> anyhow::Result<Outcome> {
    let replay = &setup.replay;
    let mut x = Execution {
        tenant: tenant.clone(),
        run: LeasedRun {
            id: sea_orm::prelude::Uuid::new_v4(),
            workflow_name: replay.workflow_name.clone(),
            workflow_version: replay.version,
            contract: std::sync::Arc::new(replay.contract.clone()),
            context: item.context.clone(),
            next_step: 0,
            cleared_step: None,
            pinned: replay.pinned.clone(),
            generation: replay.generation,
            budget: None,
            // The replay holds its own lease; there is no run to claim.
            claim: Claim::Held,
        },
        config: setup.config.clone(),
        sensitive: setup.sensitive.clone(),
        rates: setup.rates,
        downgrade: setup.downgrade.clone(),
        progress: Progress::default(),
        keeper: None,
    };
    let mut outcome = Outcome::default();
    run_steps(cx, setup, item, &mut x, &mut outcome).await?;
    // An error often quotes the record: masked as production masks a step's error before it is kept.
    outcome.error = outcome
        .error
        .map(|e| logic::mask_in(&json!(e), &setup.sensitive, &x.run.context).as_str().unwrap_or_default().to_owned());
    Ok(outcome)
}

async fn run_steps(
    cx: &Context,
    setup: &Setup,
    item: &Pending,
    x: &mut Execution,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let replay = &setup.replay;
    for (index, step) in replay.contract.steps.iter().enumerate() {
        if let Some(when) = &step.when {
            match logic::eval_bool(when, &x.run.context) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    outcome.error = Some(format!("{}: the `when` condition failed: {e}", step.id));
                    break;
                }
            }
        }
        match policy::before(cx, x, step, index).await {
            Ok(Some(gate)) => to_person(outcome, gate.reason),
            Ok(None) => {}
            // An outage: the event is replayed later, as for a step (`Stop::Storage`).
            Err(e) if e.downcast_ref::<sea_orm::DbErr>().is_some_and(store::db::is_outage) => return Err(e),
            Err(e) => {
                outcome.error = Some(format!("{}: {e}", step.id));
                break;
            }
        }
        let clock = std::time::Instant::now();
        let done: Result<Done, Stop> = match step.kind {
            // Never sent: the shadow only notes that a person would be asked or told.
            StepKind::Approval | StepKind::Notify => continue,
            StepKind::ApiCall => match item.answers.get(&step.id) {
                Some(answer) => Ok(Done::output(answer.clone(), json!({ "answered_from": "production" }))),
                None if may_call_live(step) => api_call::run(cx, x, step).await,
                None => Err(Stop::Failed(Failed::now(
                    "production has no answer recorded for this call, and only deterministic GET calls are made live in a replay",
                ))),
            },
            StepKind::Function => function::run(cx, x, step).await,
            StepKind::Llm => llm::run(cx, x, step).await,
            StepKind::Rules => rules::run(x, step).map_err(Stop::Failed),
        };
        let elapsed = clock.elapsed().as_millis() as i64;
        // What the replay's outcome keeps is stored, like a run's step.
        let done = match done {
            Err(Stop::Storage(e)) => return Err(e.into()),
            Ok(done) => super::storable(Ok(done)),
            Err(Stop::Failed(failed)) => super::storable(Err(failed)),
        };
        let done = match done {
            Ok(done) => done,
            Err(failed) => {
                outcome.cost_micros += ledger::model_cost(&failed.costs);
                outcome.tokens += failed.tokens_in + failed.tokens_out;
                outcome.error = Some(format!("{}: {}", step.id, failed.error));
                let on_error = replay.contract.fallback.as_ref().map(|f| f.on_error).unwrap_or(OnError::Fail);
                if on_error != OnError::Fail {
                    to_person(outcome, ReviewReason::Error);
                }
                break;
            }
        };
        if step.kind != StepKind::ApiCall {
            outcome.latency_ms += elapsed;
        }
        outcome.cost_micros += ledger::model_cost(&done.costs);
        outcome.tokens += done.tokens_in + done.tokens_out;
        match step.kind {
            StepKind::Llm => {
                outcome.draft = Some(done.output.clone());
                outcome.output_name = step.output.clone();
                outcome.confidence =
                    logic::confidence(&done.output, step.confidence_field.as_deref().unwrap_or("confidence"));
                if let Some(gate) = policy::after_draft(x, step, index, &done.output) {
                    to_person(outcome, gate.reason);
                }
            }
            StepKind::Rules => {
                if let Some(name) = &step.output {
                    outcome.path.routes.insert(name.clone(), done.output.clone());
                }
            }
            _ => {}
        }
        if let (Some(name), Some(map)) = (&step.output, x.run.context.as_object_mut()) {
            map.insert(name.clone(), done.output);
        }
    }
    Ok(())
}
