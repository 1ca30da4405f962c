//! An llm step: the pinned prompt version rendered over the run's context,
//! sent to the model of its tier (as written, chosen by the routing rule,
//! or downgraded at the budget's cap), checked against the response schema
//! with one repair, and the fallback tier when the model fails. Tokens and
//! their cost are recorded per model called.

use super::{Done, Execution, Failed, Stop};
use crate::context::Context;
use engine::run as logic;
use engine::workflow::{ModelTier, Step};
use engine::CostKind;
use sea_orm::{prelude::Uuid, DbErr};
use serde_json::{json, Value};
use std::time::Duration;
use store::ledger::CostLine;
use store::providers::{self, Message, ProviderError};

/// Whether an llm step of this run may call a paid model: some model
/// pinned for the run is not the offline one. (Every pinned model is
/// looked at, not only the step's tier: routing and the budget's cap pick
/// the tier as the step runs.)
pub(super) async fn reaches_outside(cx: &Context, x: &Execution) -> Result<bool, DbErr> {
    let Some(pins) = x.run.pinned["models"].as_object() else { return Ok(false) };
    for pin in pins.values() {
        let Some(id) = pin["id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) else { continue };
        if let Some(model) = x.config.model(&cx.db, &cx.settings, id).await? {
            if model.provider != "offline" {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

pub(super) async fn run(cx: &Context, x: &Execution, step: &Step) -> Result<Done, Stop> {
    let prompt_name =
        step.prompt_template.as_deref().ok_or_else(|| Failed::now("this llm step has no prompt_template"))?;
    let number = x.run.pinned["prompts"][prompt_name]
        .as_i64()
        .ok_or_else(|| Failed::now(format!("no version of {prompt_name} was pinned")))? as i32;
    let template = x
        .config
        .prompt(&cx.db, prompt_name, number)
        .await?
        .ok_or_else(|| Failed::now(format!("{prompt_name} version {number} is missing")))?;
    // With `redact_sensitive`, the model is shown the record with its sensitive fields masked.
    let redacted = step.redact_sensitive.then(|| logic::mask_in(&x.run.context, &x.sensitive, &x.run.context));
    let prompt = template.render(redacted.as_ref().unwrap_or(&x.run.context)).map_err(|e| Failed::now(e.join("; ")))?;
    // The tier: as written, or chosen by the routing rule for `auto`; the budget's cap may downgrade premium.
    let (mut tier, mut routing) = match step.model.unwrap_or(ModelTier::Small) {
        ModelTier::Auto => {
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
        written @ (ModelTier::Small | ModelTier::Premium) => (written.as_str().to_owned(), None),
    };
    if let (Some(why), "premium") = (&x.downgrade, tier.as_str()) {
        tier = "small".into();
        routing = Some(json!({ "tier": "small", "reason": format!("downgraded from premium: {why}"), "budget": true }));
    }
    let tier = tier.as_str();
    let mut models = Vec::new();
    for t in std::iter::once(tier).chain(step.fallback_model.map(ModelTier::as_str)) {
        let id = x.run.pinned["models"][t]["id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
        if let Some(config) = match id {
            Some(id) => x.config.model(&cx.db, &cx.settings, id).await?,
            None => None,
        } {
            models.push((t.to_owned(), config));
        }
    }
    if models.is_empty() {
        return Err(Failed::now(format!("the {tier} tier has no model; set one in Settings → Models")).into());
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
            let completion = match call_with_retries(&cx.outbound, model, &system, &messages, &schema, step).await {
                Ok(c) => c,
                Err(e) => {
                    notes.push(json!({ "model": model.label, "tier": tier_used, "error": e }));
                    last_error = e;
                    break;
                }
            };
            let cost = providers::cost_micros(model, completion.tokens_in, completion.tokens_out);
            spent = (spent.0 + completion.tokens_in as i64, spent.1 + completion.tokens_out as i64);
            let kind = if tier_used == tier { CostKind::Model } else { CostKind::FallbackModel };
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
                        notes.push(json!({ "model": model.label, "tier": tier_used, "round": round, "valid": true }));
                        return Ok(Done {
                            output,
                            input,
                            attempts: (notes.len()) as i32,
                            tokens_in: spent.0,
                            tokens_out: spent.1,
                            model: Some(model.label.clone()),
                            prompt_version: Some(number),
                            cache_hit: false,
                            detail: json!({ "calls": notes, "repaired": round > 0, "fallback_model": tier_used != tier, "offline": model.provider == "offline", "routing": routing, "redacted_sensitive": step.redact_sensitive }),
                            outbox: vec![],
                            costs: lines,
                            // A paid model was called: what it cost is written before the run goes on.
                            effectful: model.provider != "offline",
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
    }
    .into())
}

/// One model call with the step's timeout (default 60 s) and retries
/// (default 3 attempts, backoff from 0.5 s) on timeouts, 429 and 5xx,
/// waiting at least as long as the provider's `Retry-After`.
async fn call_with_retries(
    outbound: &store::outbound::Outbound,
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
        match providers::chat(outbound, model, system, messages, schema, timeout).await {
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
