//! The run engine: takes a run's lease, executes its steps from the last
//! finished one, stores each step's record and output before going on,
//! stops for a person where the approval policy says so, and applies the
//! workflow's fallback when a step fails for good. A run resumed after a
//! crash continues from its last finished step, so a finished step's side
//! effects are not repeated.

use apalis::prelude::*;
use chrono::Utc;
use engine::run::{self as logic, PolicyHit, ReviewReason};
use engine::tenant::is_tenant_schema_name as tenant_schema_ok;
use engine::workflow::{Step, WorkflowContract};
use redis::AsyncCommands;
use sea_orm::{prelude::*, DatabaseConnection};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::{sync::Arc, time::Duration};
use store::config::Settings;
use store::costs::{self, CostLine};
use store::db::{stmt, tenant_txn};
use store::jobs::{EmailJob, MailQueue, RunJob, RunQueue};
use store::providers::{self, Message, ProviderError};
use store::runs::{self, LeasedRun, NewReviewTask, OutboxEmail, StepRecord};

/// Everything a run needs from outside; shared by the worker's tasks.
#[derive(Clone)]
pub struct Engine {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub redis: redis::aio::ConnectionManager,
    pub mail: MailQueue,
    pub runs: RunQueue,
    pub http: reqwest::Client,
    /// This worker process, as lease owner.
    pub owner: String,
}

/// The apalis handler for the runs queue.
pub async fn execute_run(job: RunJob, engine: Data<Engine>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("run", run_id = %job.run_id, tenant_id = %job.tenant_id);
    let _guard = span.enter();
    engine.execute(&job).await.map_err(|e| {
        tracing::error!(error = %e, "run execution stopped on an infrastructure error; the sweeper will resume it");
        BoxDynError::from(e.to_string())
    })
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

/// The run as this execution sees it.
struct Execution<'a> {
    job: &'a RunJob,
    schema: &'a str,
    run: LeasedRun,
    sensitive: Vec<String>,
    rates: engine::cost::Rates,
    /// Set when the budget's cap says to use the cheaper tier: why.
    downgrade: Option<String>,
}

impl Engine {
    pub async fn execute(&self, job: &RunJob) -> anyhow::Result<()> {
        if !tenant_schema_ok(&job.schema_name) {
            anyhow::bail!("job names an invalid schema");
        }
        let run_id: Uuid = job.run_id.parse()?;
        let lease = self.settings.runs.lease_seconds;
        let Some(run) = runs::lease(&self.db, &job.schema_name, run_id, &self.owner, lease).await? else {
            tracing::debug!("run is held, waiting or finished; nothing to do");
            return Ok(());
        };
        // Keep the lease while this worker is alive; a killed worker stops renewing.
        let heartbeat = {
            let (db, schema, owner) = (self.db.clone(), job.schema_name.clone(), self.owner.clone());
            tokio::spawn(async move {
                let every = Duration::from_secs_f64((lease as f64 / 3.0).max(0.5));
                loop {
                    tokio::time::sleep(every).await;
                    if !matches!(runs::renew(&db, &schema, run_id, &owner, lease).await, Ok(true)) {
                        break;
                    }
                }
            })
        };
        let (sensitive, rates, budget) = {
            let txn = tenant_txn(&self.db, &job.schema_name).await?;
            let keys = runs::sensitive_keys_for(&txn, &run.workflow_name, run.workflow_version).await?;
            let rates = costs::rates_in(&txn).await?;
            // The budget is judged on what was spent before this delivery.
            let starting = run.next_step == 0 && run.cleared_step.is_none();
            let budget = if starting { Some(costs::budget_state_in(&txn, &run.workflow_name).await?) } else { None };
            // Each delivery of the run's job is a queue operation.
            costs::add_lines(
                &txn,
                run_id,
                &[CostLine::new("queue", None, engine::cost::queue(1, rates.queue_op), 1, "delivery")],
            )
            .await?;
            txn.commit().await?;
            (keys, rates, budget)
        };
        let workflow = run.workflow_name.clone();
        let mut execution = Execution { job, schema: &job.schema_name, run, sensitive, rates, downgrade: None };
        let result = match self.budget_gate(&mut execution, budget).await {
            Ok(true) => self.drive(&mut execution).await,
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        heartbeat.abort();
        // The run spent money or stopped: see whether the workflow is now off plan.
        if let Err(e) = crate::cost_watch::evaluate(self, &job.tenant_id, &job.schema_name, &workflow).await {
            tracing::warn!(error = %e, "the cost watch could not evaluate the workflow");
        }
        result
    }

    /// Before a run's first step: the off-peak window of a batchable
    /// workflow and the budget's cap. False: the run is held (queued, its
    /// event kept) and this execution stops.
    async fn budget_gate(&self, x: &mut Execution<'_>, state: Option<costs::BudgetState>) -> anyhow::Result<bool> {
        let Some(state) = state else { return Ok(true) };
        let Some(budget) = &state.budget else { return Ok(true) };
        if let Some((start, end)) = budget.batch_window {
            if !engine::cost::in_window(start, end, state.local_hour) {
                costs::hold(&self.db, x.schema, x.run.id, &self.owner, "off_peak").await?;
                tracing::info!(start, end, "run waits for the workflow's off-peak window");
                return Ok(false);
            }
        }
        match engine::cost::before_run(budget, state.month.spent, state.forecast()) {
            engine::cost::Verdict::Proceed => Ok(true),
            engine::cost::Verdict::AtCap(engine::cost::CapAction::AlertOnly) => Ok(true),
            engine::cost::Verdict::AtCap(engine::cost::CapAction::Downgrade) => {
                x.downgrade = Some(format!(
                    "the month's spend ({}) and this run's forecast ({}) pass the budget cap ({}), so premium steps use the small tier",
                    engine::money::format(state.month.spent),
                    engine::money::format(state.forecast()),
                    engine::money::format(budget.cap())
                ));
                Ok(true)
            }
            engine::cost::Verdict::AtCap(engine::cost::CapAction::Pause) => {
                costs::hold(&self.db, x.schema, x.run.id, &self.owner, "budget").await?;
                tracing::info!(
                    "run paused at the budget cap; it resumes when the budget is raised or the month rolls over"
                );
                Ok(false)
            }
        }
    }

    async fn drive(&self, x: &mut Execution<'_>) -> anyhow::Result<()> {
        let contract = x.run.contract.clone();
        let run_id = x.run.id;
        let mut index = x.run.next_step.max(0) as usize;
        while let Some(step) = contract.steps.get(index) {
            let i = index as i32;
            let started_at = Utc::now();
            let base = StepRecord {
                index: i,
                step_id: step.id.clone(),
                kind: step.kind.clone(),
                started_at: Some(started_at),
                detail: json!({}),
                ..Default::default()
            };
            if let Some(when) = &step.when {
                match logic::eval_bool(when, &x.run.context) {
                    Ok(true) => {}
                    Ok(false) => {
                        let record = StepRecord {
                            status: "skipped".into(),
                            detail: json!({ "when": when, "result": false }),
                            ..base
                        };
                        if runs::finish_step(
                            &self.db,
                            x.schema,
                            run_id,
                            &self.owner,
                            &record,
                            &x.run.context,
                            i + 1,
                            &[],
                        )
                        .await?
                        .is_none()
                        {
                            return Ok(());
                        }
                        index += 1;
                        continue;
                    }
                    Err(e) => {
                        return self
                            .step_failed(x, step, base, Failed::now(format!("the `when` condition failed: {e}")))
                            .await
                    }
                }
            }
            // Gates before a step: an explicit approval step, and the policy before outside messages and financial writes.
            if step.kind == "approval" {
                let (output_name, draft) = latest_draft(&contract, &x.run.context, index);
                let task = NewReviewTask::new(
                    i,
                    ReviewReason::ApprovalStep.as_str(),
                    json!({ "step": step.id, "reviewers": step.reviewers }),
                    output_name,
                    draft,
                );
                let record = StepRecord { status: "waiting".into(), ..base };
                self.wait_for_person(x, Some(&record), task, i).await?;
                tracing::info!(step = %step.id, "run waits for an approval");
                return Ok(());
            }
            let gated = step.kind == "notify" || (step.kind == "api_call" && step.writes_financial_records);
            if gated && !cleared(&contract, x.run.cleared_step, index) {
                let mut hits = self.policy(&contract, &x.run.context, None);
                if step.kind == "notify" && x.run.cleared_step.is_none() {
                    let external = self.external_recipients(x, step).await?;
                    if !external.is_empty() {
                        hits.push(PolicyHit {
                            reason: ReviewReason::ExternalMessage,
                            rule: "outside recipients need an approval".into(),
                            detail: json!({ "recipients": external }),
                        });
                    }
                }
                if !hits.is_empty() {
                    let (output_name, draft) = latest_draft(&contract, &x.run.context, index);
                    let task = review_task(i, &hits, output_name, draft);
                    let reason = task.reason.clone();
                    self.wait_for_person(x, None, task, i).await?;
                    tracing::info!(step = %step.id, %reason, "run waits for a person before this step");
                    return Ok(());
                }
            }
            let running = StepRecord { status: "running".into(), ..base.clone() };
            if !runs::step_started(&self.db, x.schema, run_id, &self.owner, &running).await? {
                return Ok(());
            }
            let clock = std::time::Instant::now();
            let mut outcome = self.execute_step(x, step).await;
            // The worker's time on the step is paid for whether it succeeded or not.
            let worker_ms = clock.elapsed().as_millis() as i64;
            let costs = match &mut outcome {
                Ok(done) => &mut done.costs,
                Err(failed) => &mut failed.costs,
            };
            costs.push(CostLine::new(
                "orchestration",
                None,
                engine::cost::orchestration(worker_ms, x.rates.orchestration_per_hour),
                worker_ms,
                step.id.clone(),
            ));
            costs.iter_mut().for_each(|l| _ = l.step_index.get_or_insert(i));
            match outcome {
                Ok(done) => {
                    if let (Some(name), Some(map)) = (&step.output, x.run.context.as_object_mut()) {
                        map.insert(name.clone(), done.output.clone());
                    }
                    let record = StepRecord {
                        status: "completed".into(),
                        attempts: done.attempts,
                        input: Some(logic::mask(&done.input, &x.sensitive)),
                        output: Some(logic::mask(&done.output, &x.sensitive)),
                        tokens_in: done.tokens_in,
                        tokens_out: done.tokens_out,
                        cost_micros: model_cost(&done.costs),
                        model: done.model.clone(),
                        prompt_version: done.prompt_version,
                        cache_hit: done.cache_hit,
                        detail: done.detail.clone(),
                        costs: done.costs,
                        ..base
                    };
                    let Some(mail_ids) = runs::finish_step(
                        &self.db,
                        x.schema,
                        run_id,
                        &self.owner,
                        &record,
                        &x.run.context,
                        i + 1,
                        &done.outbox,
                    )
                    .await?
                    else {
                        return Ok(());
                    };
                    self.hand_over_mail(x.job, x.schema, &done.outbox, &mail_ids).await;
                    // The policy after a model's draft.
                    if step.kind == "llm" && !cleared(&contract, x.run.cleared_step, index + 1) {
                        let hits = self.policy_for(step, &contract, &x.run.context, Some(&done.output));
                        if !hits.is_empty() {
                            let task = review_task(i, &hits, step.output.clone(), Some(done.output.clone()));
                            let reason = task.reason.clone();
                            self.wait_for_person(x, None, task, i + 1).await?;
                            tracing::info!(step = %step.id, %reason, "the draft goes to a person");
                            return Ok(());
                        }
                    }
                    index += 1;
                }
                Err(failed) => return self.step_failed(x, step, base, failed).await,
            }
        }
        runs::finish_run(&self.db, x.schema, run_id, &self.owner, "completed", None, None).await?;
        tracing::info!("run completed");
        Ok(())
    }

    /// After retries: the human queue with the error attached, or a failed run, per the contract.
    async fn step_failed(
        &self,
        x: &mut Execution<'_>,
        step: &Step,
        base: StepRecord,
        failed: Failed,
    ) -> anyhow::Result<()> {
        let record = StepRecord {
            status: "failed".into(),
            attempts: failed.attempts,
            input: Some(logic::mask(&failed.input, &x.sensitive)),
            error: Some(failed.error.clone()),
            tokens_in: failed.tokens_in,
            tokens_out: failed.tokens_out,
            cost_micros: model_cost(&failed.costs),
            detail: failed.detail,
            costs: failed.costs,
            ..base
        };
        let on_error = x.run.contract.fallback.as_ref().map(|f| f.on_error.as_str()).unwrap_or("fail");
        tracing::warn!(step = %step.id, error = %failed.error, fallback = on_error, "step failed");
        if on_error == "fail" {
            runs::finish_run(&self.db, x.schema, x.run.id, &self.owner, "failed", Some(&failed.error), Some(&record))
                .await?;
            return Ok(());
        }
        let task = NewReviewTask::new(
            record.index,
            ReviewReason::Error.as_str(),
            json!({ "step": step.id, "error": failed.error }),
            step.output.clone(),
            None,
        );
        let index = record.index;
        self.wait_for_person(x, Some(&record), task, index).await?;
        Ok(())
    }

    /// Opens a review task (with the workflow's review policy and the value
    /// at stake), stops the run, and emails the eligible reviewers their
    /// links. False: this worker lost the lease; nothing changed.
    async fn wait_for_person(
        &self,
        x: &Execution<'_>,
        record: Option<&StepRecord>,
        mut task: NewReviewTask,
        next_step: i32,
    ) -> anyhow::Result<bool> {
        task.workflow_name = x.run.workflow_name.clone();
        task.policy = x.run.contract.review.clone().unwrap_or_default();
        task.value = logic::find_number(&x.run.context, "annual_contract_value", task.draft.as_ref())
            .or_else(|| task.detail["policy"][0]["detail"]["value"].as_f64());
        let reviewers = match x
            .run
            .contract
            .steps
            .get(task.step_index as usize)
            .filter(|s| s.kind == "approval" && !s.reviewers.is_empty())
        {
            Some(step) => step.reviewers.clone(),
            None => vec!["role:reviewer".to_string()],
        };
        let Some(task_id) =
            runs::wait_for_review(&self.db, x.schema, x.run.id, &self.owner, record, &task, next_step).await?
        else {
            return Ok(false);
        };
        if let Err(e) = crate::review_mail::send(self, x.job, x.schema, x.run.id, task_id, &task, &reviewers).await {
            tracing::warn!(error = %e, "review emails could not be written; the task is in the queue");
        }
        Ok(true)
    }

    /// Members of the business with `role`.
    pub async fn members_with_role(&self, tenant_id: &str, role: &str) -> anyhow::Result<Vec<String>> {
        let rows = self
            .db
            .query_all_raw(stmt(
                "SELECT u.email FROM public.memberships m JOIN public.users u ON u.id = m.user_id WHERE m.tenant_id = $1::uuid AND m.role = $2 ORDER BY u.email",
                vec![tenant_id.into(), role.trim().into()],
            ))
            .await?;
        Ok(rows.into_iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect())
    }

    fn policy(&self, contract: &WorkflowContract, context: &Value, draft: Option<&Value>) -> Vec<PolicyHit> {
        logic::policy_hits(&contract.approval_conditions(), context, draft, "confidence")
    }

    fn policy_for(
        &self,
        step: &Step,
        contract: &WorkflowContract,
        context: &Value,
        draft: Option<&Value>,
    ) -> Vec<PolicyHit> {
        logic::policy_hits(
            &contract.approval_conditions(),
            context,
            draft,
            step.confidence_field.as_deref().unwrap_or("confidence"),
        )
    }

    async fn execute_step(&self, x: &Execution<'_>, step: &Step) -> Result<Done, Failed> {
        match step.kind.as_str() {
            "function" => self.function(x, step).await,
            "api_call" => self.api_call(x, step).await,
            "llm" => self.llm(x, step).await,
            "rules" => logic::decide(step, &x.run.context)
                .map(|out| Done::output(out, json!({ "rules": step.rules.len() })))
                .map_err(Failed::now),
            "notify" => self.notify(x, step).await,
            other => Err(Failed::now(format!("step type {other} cannot be executed"))),
        }
    }

    async fn function(&self, x: &Execution<'_>, step: &Step) -> Result<Done, Failed> {
        let name = step.data_contract.clone().or_else(|| x.run.contract.trigger.contract_name());
        let contract = match (&name, step.function.as_deref().unwrap_or("normalize")) {
            (Some(name), "normalize") => {
                let txn = tenant_txn(&self.db, x.schema).await.map_err(|e| Failed::now(e.to_string()))?;
                let dc = store::ingest::data_contract_in(&txn, name).await.map_err(|e| Failed::now(e.to_string()))?;
                txn.commit().await.map_err(|e| Failed::now(e.to_string()))?;
                dc
            }
            _ => None,
        };
        let input_path = step.input.as_deref().unwrap_or(logic::EVENT_KEY);
        let input = logic::lookup(&x.run.context, input_path).cloned().unwrap_or(Value::Null);
        logic::function(step, &x.run.context, contract.as_ref(), Utc::now())
            .map(|out| {
                let mut done = Done::output(out, input.clone());
                done.detail =
                    json!({ "function": step.function.as_deref().unwrap_or("normalize"), "data_contract": name });
                done
            })
            .map_err(|e| Failed { input, ..Failed::now(e) })
    }

    async fn secret(&self, schema: &str, name: &str) -> Result<String, String> {
        let txn = tenant_txn(&self.db, schema).await.map_err(|e| e.to_string())?;
        let row = txn
            .query_one_raw(stmt("SELECT nonce, ciphertext FROM secrets WHERE name = $1", vec![name.into()]))
            .await
            .map_err(|e| e.to_string())?;
        txn.commit().await.map_err(|e| e.to_string())?;
        let row = row.ok_or_else(|| format!("there is no secret named {name}"))?;
        let nonce: Vec<u8> = row.try_get_by_index(0).map_err(|e| e.to_string())?;
        let ct: Vec<u8> = row.try_get_by_index(1).map_err(|e| e.to_string())?;
        store::secrets::decrypt(&self.settings, &nonce, &ct)
            .ok_or_else(|| format!("the secret {name} cannot be decrypted"))
    }

    async fn api_call(&self, x: &Execution<'_>, step: &Step) -> Result<Done, Failed> {
        let url_template = step.url.as_deref().ok_or_else(|| Failed::now("this api_call step has no `url`"))?;
        let mut scope = x.run.context.clone();
        let secret = match &step.secret {
            Some(name) => Some(self.secret(x.schema, name).await.map_err(Failed::now)?),
            None => None,
        };
        if let (Some(secret), Some(map)) = (&secret, scope.as_object_mut()) {
            map.insert("secret".into(), json!(secret));
        }
        let url = logic::render_text(url_template, &scope).map_err(Failed::now)?;
        let method = step.method.clone().unwrap_or_else(|| "GET".into()).to_uppercase();
        let body = step.body.as_ref().map(|b| logic::render_value(b, &scope)).transpose().map_err(Failed::now)?;
        let mut headers = Vec::new();
        for (name, value) in &step.headers {
            headers.push((name.clone(), logic::render_text(value, &scope).map_err(Failed::now)?));
        }
        if let Some(secret) = &secret {
            if !step.headers.values().any(|v| v.contains("secret")) {
                headers.push(("authorization".into(), format!("Bearer {secret}")));
            }
        }
        // What the timeline and errors show: never the secret, wherever it was templated.
        let hide = |v: Value| match &secret {
            Some(s) => logic::redact(&v, s),
            None => v,
        };
        let input = hide(json!({ "method": method, "url": url, "headers": headers, "body": body }));
        let shown_url = input["url"].as_str().unwrap_or_default().to_owned();
        // What one call costs; a cache hit costs nothing and is counted as saved.
        let price = step.price_per_call.as_deref().and_then(engine::money::parse).unwrap_or(0);
        let cache_key = step.deterministic.then(|| {
            let mut h = Sha256::new();
            h.update(format!("{method} {url}\n{}", body.clone().unwrap_or(Value::Null)));
            format!("{}:apicache:{}:{}", self.settings.redis_prefix, x.schema, hex::encode(h.finalize()))
        });
        if let Some(key) = &cache_key {
            let mut redis = self.redis.clone();
            if let Ok(Some(cached)) = redis.get::<_, Option<String>>(key).await {
                if let Ok(output) = serde_json::from_str::<Value>(&cached) {
                    let mut done = Done::output(output, input);
                    done.attempts = 0;
                    done.cache_hit = true;
                    done.detail = json!({ "cache": "hit" });
                    done.costs.push(CostLine {
                        cache_hit: Some(true),
                        saved: price,
                        ..CostLine::new("enrichment", None, engine::cost::enrichment(price, true), 1, step.id.clone())
                    });
                    return Ok(done);
                }
            }
        }
        let max_attempts = step.retry.as_ref().map(|r| r.max_attempts).unwrap_or(3).max(1);
        let base = step.retry.as_ref().and_then(|r| r.backoff_seconds).unwrap_or(0.5);
        let timeout = Duration::from_secs_f64(step.timeout.unwrap_or(10.0));
        let method_value = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| Failed::now(format!("`{method}` is not an HTTP method")))?;
        let mut history = Vec::new();
        for attempt in 1..=max_attempts {
            let mut req = self
                .http
                .request(method_value.clone(), &url)
                .timeout(timeout)
                // Lets the receiving service drop a repeat if this worker dies after the call.
                .header("idempotency-key", format!("{}:{}", x.run.id, step.id));
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if let Some(body) = &body {
                req = req.json(body);
            }
            let started = std::time::Instant::now();
            let (retry, retry_after, error) = match req.send().await {
                Ok(res) => {
                    let status = res.status();
                    let retry_after = res
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| logic::retry_after_seconds(v, Utc::now()));
                    let text = res.text().await.unwrap_or_default();
                    history.push(json!({ "attempt": attempt, "status": status.as_u16(), "ms": started.elapsed().as_millis() as u64 }));
                    if status.is_success() {
                        let output = serde_json::from_str::<Value>(&text).unwrap_or_else(|_| json!({ "text": text }));
                        if let Some(key) = &cache_key {
                            let mut redis = self.redis.clone();
                            let ttl = step.cache_ttl.unwrap_or(3600).max(1);
                            let _: Result<(), _> = redis.set_ex(key, output.to_string(), ttl).await;
                        }
                        let mut done = Done::output(output, input);
                        done.attempts = attempt as i32;
                        done.detail =
                            json!({ "attempts": history, "cache": if cache_key.is_some() { "miss" } else { "off" } });
                        let line = CostLine::new(
                            "enrichment",
                            None,
                            engine::cost::enrichment(price, false),
                            1,
                            step.id.clone(),
                        );
                        done.costs.push(CostLine { cache_hit: step.deterministic.then_some(false), ..line });
                        return Ok(done);
                    }
                    let retry = status.as_u16() == 429 || status.is_server_error();
                    (
                        retry,
                        retry_after,
                        format!(
                            "{method} {shown_url} answered {status}: {}",
                            text.chars().take(300).collect::<String>()
                        ),
                    )
                }
                Err(e) => {
                    let kind = if e.is_timeout() { "timed out" } else { "could not connect" };
                    history
                        .push(json!({ "attempt": attempt, "error": kind, "ms": started.elapsed().as_millis() as u64 }));
                    (
                        e.is_timeout() || e.is_connect() || e.is_request(),
                        None,
                        hide(json!(format!("{method} {url} {kind}: {e}"))).as_str().unwrap_or_default().to_owned(),
                    )
                }
            };
            if !retry || attempt == max_attempts {
                return Err(Failed {
                    error,
                    attempts: attempt as i32,
                    input,
                    detail: json!({ "attempts": history }),
                    ..Failed::now("")
                });
            }
            tokio::time::sleep(logic::backoff_delay(attempt, base, rand::random::<f64>(), retry_after)).await;
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn llm(&self, x: &Execution<'_>, step: &Step) -> Result<Done, Failed> {
        let prompt_name =
            step.prompt_template.as_deref().ok_or_else(|| Failed::now("this llm step has no prompt_template"))?;
        let number = x.run.pinned["prompts"][prompt_name]
            .as_i64()
            .ok_or_else(|| Failed::now(format!("no version of {prompt_name} was pinned")))? as i32;
        let storage = |e: DbErr| Failed::now(e.to_string());
        let txn = tenant_txn(&self.db, x.schema).await.map_err(storage)?;
        let template = store::ingest::pinned_prompt(&txn, prompt_name, number)
            .await
            .map_err(storage)?
            .ok_or_else(|| Failed::now(format!("{prompt_name} version {number} is missing")))?;
        let prompt = template.render(&x.run.context).map_err(|e| Failed::now(e.join("; ")))?;
        // The tier: as written, or chosen by the routing rule for `auto`; the budget's cap may downgrade premium.
        let (mut tier, mut routing) = match step.model.as_deref().unwrap_or("small") {
            "auto" => {
                let facts = engine::cost::RouteFacts {
                    input_size: prompt.chars().count(),
                    value: logic::find_number(&x.run.context, "annual_contract_value", None).unwrap_or(0.0),
                    priority: x.run.contract.priority.clone().unwrap_or_else(|| "normal".into()),
                };
                let (tier, reason) = engine::cost::route(step.route.as_deref(), &facts, &x.run.context)
                    .map_err(|e| Failed::now(format!("the routing rule failed: {e}")))?;
                let routing = json!({ "tier": tier, "reason": reason, "rule": step.route });
                (tier, Some(routing))
            }
            other => (other.to_owned(), None),
        };
        if let (Some(why), "premium") = (&x.downgrade, tier.as_str()) {
            tier = "small".into();
            routing =
                Some(json!({ "tier": "small", "reason": format!("downgraded from premium: {why}"), "budget": true }));
        }
        let tier = tier.as_str();
        let mut models = Vec::new();
        for t in std::iter::once(tier).chain(step.fallback_model.as_deref()) {
            let id = x.run.pinned["models"][t]["id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
            if let Some(config) = match id {
                Some(id) => store::models::config_by_id(&txn, &self.settings, id).await.map_err(storage)?,
                None => None,
            } {
                models.push((t.to_owned(), config));
            }
        }
        txn.commit().await.map_err(storage)?;
        if models.is_empty() {
            return Err(Failed::now(format!("the {tier} tier has no model; set one in Settings → Models")));
        }
        let schema = template.response_json_schema().map_err(Failed::now)?;
        let system = template.system_instructions(&schema);
        let input = json!({ "prompt": prompt, "prompt_template": prompt_name, "prompt_version": number, "tier": tier });
        // Tokens in and out over every call; their cost is in the lines.
        let mut spent = (0i64, 0i64);
        // One cost line per model called; the fallback's is its own kind.
        let mut lines: Vec<CostLine> = Vec::new();
        let mut notes = Vec::new();
        let mut last_error = String::new();
        for (tier_used, model) in &models {
            let mut messages = vec![Message::user(prompt.clone())];
            // One call and at most one repair per model.
            for round in 0..2 {
                let completion = match call_with_retries(model, &system, &messages, &schema, step).await {
                    Ok(c) => c,
                    Err(e) => {
                        notes.push(json!({ "model": model.label, "tier": tier_used, "error": e }));
                        last_error = e;
                        break;
                    }
                };
                let cost = providers::cost_micros(model, completion.tokens_in, completion.tokens_out);
                spent = (spent.0 + completion.tokens_in as i64, spent.1 + completion.tokens_out as i64);
                let kind = if tier_used == tier { "model" } else { "fallback_model" };
                match lines.iter_mut().find(|l| l.kind == kind && l.label == model.label) {
                    Some(l) => {
                        l.amount += cost;
                        l.quantity += (completion.tokens_in + completion.tokens_out) as i64;
                    }
                    None => lines.push(CostLine::new(
                        kind,
                        None,
                        cost,
                        (completion.tokens_in + completion.tokens_out) as i64,
                        model.label.clone(),
                    )),
                }
                let problems = match serde_json::from_str::<Value>(completion.text.trim()) {
                    Ok(output) => match template.check_output(&output) {
                        Ok(()) => {
                            notes.push(
                                json!({ "model": model.label, "tier": tier_used, "round": round, "valid": true }),
                            );
                            return Ok(Done {
                                output,
                                input,
                                attempts: (notes.len()) as i32,
                                tokens_in: spent.0,
                                tokens_out: spent.1,
                                model: Some(model.label.clone()),
                                prompt_version: Some(number),
                                cache_hit: false,
                                detail: json!({ "calls": notes, "repaired": round > 0, "fallback_model": tier_used != tier, "offline": model.provider == "offline", "routing": routing }),
                                outbox: vec![],
                                costs: lines,
                            });
                        }
                        Err(problems) => problems,
                    },
                    Err(e) => vec![format!("the answer is not JSON: {e}")],
                };
                notes.push(json!({ "model": model.label, "tier": tier_used, "round": round, "valid": false, "problems": problems }));
                last_error = format!("the model's output does not match the response schema: {}", problems.join("; "));
                messages.push(Message::assistant(completion.text.clone()));
                messages.push(Message::user(format!(
                    "Your answer does not match the required JSON Schema: {}. Reply again with only the corrected JSON object.",
                    problems.join("; ")
                )));
            }
        }
        Err(Failed {
            error: last_error,
            attempts: notes.len() as i32,
            input,
            detail: json!({ "calls": notes, "routing": routing }),
            tokens_in: spent.0,
            tokens_out: spent.1,
            costs: lines,
        })
    }

    /// Recipients of a notify step, rendered; `role:<role>` becomes that role's members.
    async fn recipients(&self, x: &Execution<'_>, step: &Step) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for to in &step.to {
            let to = logic::render_text(to, &x.run.context)?;
            if let Some(role) = to.strip_prefix("role:") {
                out.extend(self.members_with_role(&x.job.tenant_id, role).await.map_err(|e| e.to_string())?);
            } else {
                out.push(to.trim().to_owned());
            }
        }
        Ok(out)
    }

    async fn external_recipients(&self, x: &Execution<'_>, step: &Step) -> anyhow::Result<Vec<String>> {
        let txn = tenant_txn(&self.db, x.schema).await?;
        let catalog = store::workflows::catalog(&txn, x.job.tenant_id.parse()?).await?;
        txn.commit().await?;
        let rendered = self.recipients(x, step).await.unwrap_or_else(|_| step.to.clone());
        Ok(rendered.into_iter().filter(|r| engine::workflow::is_external(r, &catalog)).collect())
    }

    async fn notify(&self, x: &Execution<'_>, step: &Step) -> Result<Done, Failed> {
        let to = self.recipients(x, step).await.map_err(Failed::now)?;
        let subject_template = step.subject.clone().unwrap_or_else(|| format!("{}: {}", x.run.workflow_name, step.id));
        let subject = logic::render_text(&subject_template, &x.run.context).map_err(Failed::now)?;
        let text = match &step.template {
            Some(t) => logic::render_text(t, &x.run.context).map_err(Failed::now)?,
            None => {
                let (_, draft) = latest_draft(&x.run.contract, &x.run.context, x.run.contract.steps.len());
                serde_json::to_string_pretty(&draft.unwrap_or(Value::Null)).unwrap_or_default()
            }
        };
        let html = format!(
            "<pre style=\"font-family:system-ui,sans-serif;white-space:pre-wrap\">{}</pre>",
            engine::form::escape(&text)
        );
        let outbox = to
            .iter()
            .map(|r| OutboxEmail {
                to: r.clone(),
                subject: subject.clone(),
                text: text.clone(),
                html: html.clone(),
                ..Default::default()
            })
            .collect();
        let mut done = Done::output(
            json!({ "sent_to": to, "subject": subject }),
            json!({ "to": step.to, "subject": subject_template }),
        );
        done.outbox = outbox;
        Ok(done)
    }

    /// Hands mail written with a step to the mail queue; the sweeper retries what fails here.
    pub async fn hand_over_mail(&self, job: &RunJob, schema: &str, outbox: &[OutboxEmail], ids: &[Uuid]) {
        self.hand_over(&job.tenant_id, schema, outbox, ids).await
    }

    /// Hands outbox mail of business `tenant_id` to the mail queue.
    pub async fn hand_over(&self, tenant_id: &str, schema: &str, outbox: &[OutboxEmail], ids: &[Uuid]) {
        if outbox.is_empty() {
            return;
        }
        let mut queued = Vec::new();
        for (mail, id) in outbox.iter().zip(ids) {
            let email = EmailJob {
                tenant_id: tenant_id.to_owned(),
                to: mail.to.clone(),
                subject: mail.subject.clone(),
                text: mail.text.clone(),
                html: mail.html.clone(),
                attachments: mail.attachments.clone(),
            };
            if self.mail.send(email).await.is_ok() {
                queued.push(*id);
            }
        }
        if let Err(e) = runs::outbox_queued(&self.db, schema, &queued).await {
            tracing::warn!(error = %e, "could not mark mail as queued; the sweeper may send it again");
        }
    }
}

/// Calls a model, retrying 429/5xx/network errors with backoff (3 attempts).
/// One model call with the step's timeout (default 60 s) and retries
/// (default 3 attempts, backoff from 0.5 s) on timeouts, 429 and 5xx,
/// waiting at least as long as the provider's `Retry-After`.
async fn call_with_retries(
    model: &providers::ModelConfig,
    system: &str,
    messages: &[Message],
    schema: &Value,
    step: &Step,
) -> Result<providers::Completion, String> {
    let max_attempts = step.retry.as_ref().map(|r| r.max_attempts).unwrap_or(3).max(1);
    let base = step.retry.as_ref().and_then(|r| r.backoff_seconds).unwrap_or(0.5);
    let timeout = Duration::from_secs_f64(step.timeout.unwrap_or(60.0).max(0.1));
    let mut attempt = 1;
    loop {
        match providers::chat(model, system, messages, schema, timeout).await {
            Ok(c) => return Ok(c),
            Err(ProviderError::Retryable { message, retry_after }) if attempt < max_attempts => {
                tracing::warn!(model = %model.label, error = %message, attempt, "model call failed; retrying");
                tokio::time::sleep(logic::backoff_delay(attempt, base, rand::random::<f64>(), retry_after)).await;
                attempt += 1;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What a step's model calls cost (the primary and the fallback), from its cost lines.
fn model_cost(lines: &[CostLine]) -> i64 {
    lines.iter().filter(|l| l.kind == "model" || l.kind == "fallback_model").map(|l| l.amount).sum()
}

/// Whether a person already cleared the gate for step `index`: an approval
/// given at or after the last model step before it covers it.
fn cleared(contract: &WorkflowContract, cleared_step: Option<i32>, index: usize) -> bool {
    let Some(c) = cleared_step else { return false };
    let last_llm = contract.steps[..index.min(contract.steps.len())].iter().rposition(|s| s.kind == "llm").unwrap_or(0);
    c as usize >= last_llm
}

/// The latest model draft before step `index`: its context key and value.
fn latest_draft(contract: &WorkflowContract, context: &Value, index: usize) -> (Option<String>, Option<Value>) {
    contract.steps[..index.min(contract.steps.len())]
        .iter()
        .rev()
        .filter(|s| s.kind == "llm")
        .find_map(|s| s.output.as_ref().and_then(|o| context.get(o).map(|v| (Some(o.clone()), Some(v.clone())))))
        .unwrap_or((None, None))
}

fn review_task(
    step_index: i32,
    hits: &[PolicyHit],
    output_name: Option<String>,
    draft: Option<Value>,
) -> NewReviewTask {
    NewReviewTask::new(step_index, hits[0].reason.as_str(), json!({ "policy": hits }), output_name, draft)
}
