//! The pure half of executing a run: reading the run's context, CEL
//! conditions and expressions, the approval policy, decision tables,
//! built-in functions, templates, masking and retry timing. The worker
//! does the I/O around these.

use crate::data_contract::DataContract;
pub use crate::review::ReviewReason;
use crate::workflow::{ApprovalCondition, HitPolicy, Step, StepFunction};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The context key holding the trigger's (normalised) record.
pub const EVENT_KEY: &str = "event";

/// A value at a dotted path (`event.primaryContact.email`).
pub fn lookup<'a>(context: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(context, |v, key| match v {
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => v.get(key),
    })
}

/// A numeric field wherever it is: at its full path, in the trigger's
/// record, or in any step's output (the latest output first).
pub fn find_number(context: &Value, field: &str, latest: Option<&Value>) -> Option<f64> {
    let as_number = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    if let Some(v) = latest.and_then(|l| lookup(l, field)).and_then(as_number) {
        return Some(v);
    }
    if let Some(v) = lookup(context, field).and_then(as_number) {
        return Some(v);
    }
    context.as_object()?.values().filter_map(|out| lookup(out, field)).find_map(as_number)
}

/// A CEL expression compiled, with the context's top-level names it reads.
struct Condition {
    program: cel_interpreter::Program,
    variables: Vec<String>,
}

/// The context as CEL sees it: only the names the expression reads, so a
/// rule over one step's output does not convert the whole run's context.
fn cel_context(
    condition: &Condition,
    context: &Value,
    extra: Option<(&str, &Value)>,
) -> Result<cel_interpreter::Context<'static>, String> {
    let mut ctx = cel_interpreter::Context::default();
    for name in &condition.variables {
        let value = match extra {
            Some((extra_name, value)) if extra_name == name => Some(value),
            _ => context.get(name),
        };
        if let Some(value) = value {
            ctx.add_variable(name.as_str(), value).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    Ok(ctx)
}

/// Evaluates a CEL expression over the run's context.
pub fn eval(expression: &str, context: &Value) -> Result<Value, String> {
    eval_with(expression, context, None)
}

/// Evaluates a CEL expression over the run's context and one more name
/// (which hides a context key of the same name).
fn eval_with(expression: &str, context: &Value, extra: Option<(&str, &Value)>) -> Result<Value, String> {
    static CONDITIONS: std::sync::LazyLock<crate::compiled::Compiled<Condition>> =
        std::sync::LazyLock::new(Default::default);
    let condition = CONDITIONS.get(expression, || {
        let program = std::panic::catch_unwind(|| cel_interpreter::Program::compile(expression))
            .map_err(|_| "the expression does not parse".to_string())?
            .map_err(|e| e.to_string().lines().next().unwrap_or("the expression does not parse").to_string())?;
        let variables = program.references().variables().into_iter().map(str::to_owned).collect();
        Ok(Condition { program, variables })
    })?;
    let value = condition
        .program
        .execute(&cel_context(&condition, context, extra)?)
        .map_err(|e| format!("`{expression}`: {e}"))?;
    value.json().map_err(|e| format!("`{expression}` gave a value that is not JSON: {e:?}"))
}

/// Evaluates a CEL condition; anything but `true` or `false` is an error.
pub fn eval_bool(expression: &str, context: &Value) -> Result<bool, String> {
    match eval(expression, context)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!("`{expression}` must be true or false, not {other}")),
    }
}

/// One approval rule that holds, said the way the review queue shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyHit {
    pub reason: ReviewReason,
    pub rule: String,
    pub detail: Value,
}

/// The model's confidence in a draft, as a share between 0 and 1 (a
/// percentage is scaled down).
pub fn confidence(draft: &Value, field: &str) -> Option<f64> {
    let v = lookup(draft, field)?.as_f64()?;
    Some(if v > 1.0 { v / 100.0 } else { v })
}

/// Which of the workflow's `approval.required_when` rules hold. `draft` is
/// the latest model output; a missing confidence counts as low (a person
/// looks when the model does not say how sure it is).
pub fn policy_hits(
    conditions: &[ApprovalCondition],
    context: &Value,
    draft: Option<&Value>,
    confidence_field: &str,
) -> Vec<PolicyHit> {
    let mut hits = Vec::new();
    for condition in conditions {
        match condition {
            ApprovalCondition::ConfidenceBelow(threshold) => {
                let Some(draft) = draft else { continue };
                match confidence(draft, confidence_field) {
                    Some(c) if c >= *threshold => {}
                    found => hits.push(PolicyHit {
                        reason: ReviewReason::LowConfidence,
                        rule: format!("confidence_below: {threshold}"),
                        detail: json!({ "confidence": found, "threshold": threshold }),
                    }),
                }
            }
            ApprovalCondition::FieldAbove { field, value } => {
                if let Some(found) = find_number(context, field, draft).filter(|v| v > value) {
                    hits.push(PolicyHit {
                        reason: ReviewReason::HighValue,
                        rule: format!("{field}_above: {value}"),
                        detail: json!({ "field": field, "value": found, "threshold": value }),
                    });
                }
            }
            ApprovalCondition::FieldBelow { field, value } => {
                if let Some(found) = find_number(context, field, draft).filter(|v| v < value) {
                    hits.push(PolicyHit {
                        reason: ReviewReason::Policy,
                        rule: format!("{field}_below: {value}"),
                        detail: json!({ "field": field, "value": found, "threshold": value }),
                    });
                }
            }
            ApprovalCondition::Expression(expr) => {
                // A condition that cannot be evaluated sends the run to a person rather than past them.
                let holds = match eval_with(expr, context, draft.map(|d| ("draft", d))) {
                    Ok(Value::Bool(holds)) => holds,
                    _ => true,
                };
                if holds {
                    hits.push(PolicyHit {
                        reason: ReviewReason::Policy,
                        rule: format!("expression: {expr}"),
                        detail: json!({}),
                    });
                }
            }
        }
    }
    hits
}

/// A rules step's decision table: CEL conditions → outputs, first match
/// (default) or every match in order (`collect`).
pub fn decide(step: &Step, context: &Value) -> Result<Value, String> {
    let collect = match step.hit_policy.unwrap_or(HitPolicy::First) {
        HitPolicy::First => false,
        HitPolicy::Collect => true,
    };
    let mut matched = Vec::new();
    for (n, rule) in step.rules.iter().enumerate() {
        if eval_bool(&rule.when, context).map_err(|e| format!("rule {}: {e}", n + 1))? {
            let then = render_value(&rule.then, context)?;
            if !collect {
                return Ok(json!({ "matched_rule": n + 1, "then": then, "decision": then }));
            }
            matched.push(then);
        }
    }
    if collect && !matched.is_empty() {
        return Ok(json!({ "decision": matched }));
    }
    Ok(json!({ "matched_rule": null, "decision": step.default.clone().unwrap_or(Value::Null) }))
}

/// Runs a built-in function step over its input (the trigger's record
/// unless the step names another context path).
pub fn function(
    step: &Step,
    context: &Value,
    contract: Option<&DataContract>,
    now: DateTime<Utc>,
) -> Result<Value, String> {
    let input_path = step.input.as_deref().unwrap_or(EVENT_KEY);
    let input = lookup(context, input_path)
        .cloned()
        .ok_or_else(|| format!("the input `{input_path}` is not in the run's context"))?;
    let function = step.function.unwrap_or(StepFunction::Normalize);
    match function {
        StepFunction::Normalize => {
            let contract = contract.ok_or("normalize needs a data contract; name one with `data_contract`")?;
            contract.apply(&input, now).map_err(|violations| {
                violations.iter().map(|v| format!("{}: {}", v.field, v.message)).collect::<Vec<_>>().join("; ")
            })
        }
        StepFunction::Map | StepFunction::Rename => {
            let rename = function == StepFunction::Rename;
            let mut out = if rename { input.clone() } else { Value::Object(Map::new()) };
            for (to, from) in &step.mapping {
                let value = lookup(&input, from).cloned().unwrap_or(Value::Null);
                if let Some(map) = out.as_object_mut() {
                    if rename {
                        map.remove(from);
                    }
                    map.insert(to.clone(), value);
                }
            }
            Ok(out)
        }
        StepFunction::Pick => {
            let mut out = Map::new();
            for path in &step.fields {
                if let Some(v) = lookup(&input, path) {
                    out.insert(path.clone(), v.clone());
                }
            }
            Ok(Value::Object(out))
        }
        StepFunction::Compute => {
            let expr = step.expression.as_deref().ok_or("compute needs an `expression`")?;
            eval(expr, context)
        }
        StepFunction::ValueScore => {
            let number = |key: &str| {
                lookup(&input, key).and_then(Value::as_f64).ok_or(format!("value_score needs a number `{key}`"))
            };
            let inputs = crate::kpi::ValueScoreInputs {
                monthly_volume: number("monthly_volume")?,
                minutes_per_task: number("minutes_per_task")?,
                error_rate: number("error_rate")?,
                revenue_impact: number("revenue_impact")?,
                compliance_risk: number("compliance_risk")?,
            };
            Ok(json!({ "value_score": crate::kpi::value_score(&inputs) }))
        }
    }
}

/// A template compiled in an environment of its own, and the names of the
/// context it reads.
struct Template {
    env: minijinja::Environment<'static>,
    reads: Vec<String>,
}

/// Renders the minijinja template `source` over `context`, an undefined
/// value being an error. Each template is compiled once per process, by its
/// text (`compiled`), and is handed only the parts of the context it names:
/// minijinja converts what it is given, and a run's context holds every
/// step's output (until the twentieth session each rendering parsed its
/// template and converted the whole context: 4-5% of the worker's time over
/// the benchmark's drain). Errors read as `Environment::render_str`'s: the
/// template is named `<string>`.
pub fn render_template(source: &str, context: &Value) -> Result<String, String> {
    const NAME: &str = "<string>";
    static TEMPLATES: std::sync::LazyLock<crate::compiled::Compiled<Template>> =
        std::sync::LazyLock::new(Default::default);
    let compiled = TEMPLATES.get(source, || {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template_owned(NAME, source.to_owned()).map_err(|e| e.to_string())?;
        let reads = env.get_template(NAME).map_err(|e| e.to_string())?.undeclared_variables(false);
        Ok(Template { env, reads: reads.into_iter().collect() })
    })?;
    let template = compiled.env.get_template(NAME).map_err(|e| e.to_string())?;
    let rendered = match context {
        Value::Object(map) => {
            let read: std::collections::BTreeMap<&str, &Value> =
                compiled.reads.iter().filter_map(|name| map.get(name).map(|v| (name.as_str(), v))).collect();
            template.render(read)
        }
        other => template.render(other),
    };
    rendered.map_err(|e| e.to_string())
}

/// Renders a minijinja template over the run's context.
pub fn render_text(template: &str, context: &Value) -> Result<String, String> {
    if !template.contains("{{") && !template.contains("{%") {
        return Ok(template.to_owned());
    }
    render_template(template, context).map_err(|e| format!("template `{template}`: {e}"))
}

/// Renders every text inside a JSON value.
pub fn render_value(value: &Value, context: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(render_text(s, context)?),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_value(v, context)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), render_value(v, context)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

pub const MASK: &str = "••••";

/// Whether `key` is one of `sensitive_keys`, or a flat form field's whole
/// path that ends in one (`primaryContact.email`). Allocates nothing: it is
/// asked of every key of every step's input and output.
fn is_sensitive(key: &str, sensitive_keys: &[String]) -> bool {
    sensitive_keys.iter().any(|s| {
        key == s
            || (key.len() > s.len() && key.ends_with(s.as_str()) && key.as_bytes()[key.len() - s.len() - 1] == b'.')
    })
}

/// A copy with every value under a sensitive key replaced, at any depth.
pub fn mask(value: &Value, sensitive_keys: &[String]) -> Value {
    masked(value, sensitive_keys, &[])
}

/// `mask`, with every text of `needles` in any other text replaced too, in their order.
fn masked(value: &Value, sensitive_keys: &[String], needles: &[String]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let masked = match is_sensitive(k, sensitive_keys) && !v.is_null() {
                        true => Value::String(MASK.to_owned()),
                        false => masked(v, sensitive_keys, needles),
                    };
                    (k.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| masked(v, sensitive_keys, needles)).collect()),
        Value::String(s) => Value::String(needles.iter().fold(s.clone(), |s, needle| replaced(s, needle))),
        other => other.clone(),
    }
}

/// `text` with every `secret` in it replaced by the mask (copied only when there is one).
fn replaced(text: String, secret: &str) -> String {
    match !secret.is_empty() && text.contains(secret) {
        true => text.replace(secret, MASK),
        false => text,
    }
}

/// The text values under sensitive keys in `source`, at any depth.
pub fn sensitive_values(source: &Value, sensitive_keys: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    fn walk(value: &Value, keys: &[String], under_sensitive: bool, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    walk(v, keys, under_sensitive || is_sensitive(k, keys), found);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, keys, under_sensitive, found)),
            Value::String(s) if under_sensitive && s != MASK => found.push(s.clone()),
            _ => {}
        }
    }
    walk(source, sensitive_keys, false, &mut found);
    found.sort();
    found.dedup();
    found
}

/// `mask`, and every sensitive value of `source` copied into other text (a
/// URL's query, a message) replaced as well, as typed or percent-encoded.
/// Very short values (under four characters) are left: masking them would
/// blank unrelated text.
pub fn mask_in(value: &Value, sensitive_keys: &[String], source: &Value) -> Value {
    if sensitive_keys.is_empty() {
        return value.clone();
    }
    // One copy of `value`, each text replaced as it is copied (every step's input and output is
    // masked so; until the twentieth session each sensitive value made a copy of its own).
    let mut needles = Vec::new();
    for found in sensitive_values(source, sensitive_keys) {
        if found.chars().count() < 4 {
            continue;
        }
        let encoded = found.replace('%', "%25").replace('@', "%40").replace('+', "%2B").replace(' ', "%20");
        let differs = encoded != found;
        needles.push(found);
        if differs {
            needles.push(encoded);
        }
    }
    masked(value, sensitive_keys, &needles)
}

/// A copy with every occurrence of `secret` in any text replaced by the
/// mask, for showing what a step sent without showing the secret it used.
pub fn redact(value: &Value, secret: &str) -> Value {
    if secret.is_empty() {
        return value.clone();
    }
    masked(value, &[], &[secret.to_owned()])
}

/// An edit of a masked copy, with every field still showing the mask
/// given back its original value, so that a reviewer who edits one field
/// of a masked draft does not overwrite the hidden ones.
pub fn unmask(edited: &Value, original: &Value) -> Value {
    match (edited, original) {
        (Value::String(s), original) if s == MASK && !original.is_null() => original.clone(),
        (Value::Object(map), Value::Object(orig)) => Value::Object(
            map.iter().map(|(k, v)| (k.clone(), unmask(v, orig.get(k).unwrap_or(&Value::Null)))).collect(),
        ),
        (Value::Array(items), Value::Array(orig)) => Value::Array(
            items.iter().enumerate().map(|(i, v)| unmask(v, orig.get(i).unwrap_or(&Value::Null))).collect(),
        ),
        (other, _) => other.clone(),
    }
}

/// A `Retry-After` header in seconds: either a number of seconds or an
/// HTTP date (RFC 9110), counted from `now`; None when it is neither.
pub fn retry_after_seconds(header: &str, now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
    let header = header.trim();
    if let Ok(seconds) = header.parse::<f64>() {
        return (seconds >= 0.0).then_some(seconds);
    }
    let at = chrono::DateTime::parse_from_rfc2822(header).ok()?;
    Some(((at.with_timezone(&chrono::Utc) - now).num_milliseconds() as f64 / 1000.0).max(0.0))
}

/// How long to wait before retry number `attempt` (1 = the first retry):
/// exponential from `base` with full jitter (`jitter` in 0..1), at most a
/// minute; a server's `Retry-After` wins when it asks for longer.
pub fn backoff_delay(attempt: u32, base_seconds: f64, jitter: f64, retry_after_seconds: Option<f64>) -> Duration {
    let ceiling = (base_seconds * 2f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(60.0);
    let jittered = ceiling * (0.5 + jitter.clamp(0.0, 1.0) / 2.0);
    let wait = retry_after_seconds.map(|r| r.min(60.0)).filter(|r| *r > jittered).unwrap_or(jittered);
    Duration::from_secs_f64(wait.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Rule;

    /// A step as a contract writes it.
    fn step(yaml: &str) -> Step {
        serde_norway::from_str(yaml).expect("a valid step")
    }

    fn context() -> Value {
        json!({
            "event": { "companyName": "Harbor Dental", "region": "west", "annual_contract_value": 60000,
                       "primaryContact": { "email": "dana@harbor.example", "name": "Dana" } },
            "qualification_summary": { "fit_score": 82, "confidence": 0.9 }
        })
    }

    #[test]
    fn approval_policy_routes_low_confidence_and_high_value_to_people() {
        let conditions = vec![
            ApprovalCondition::ConfidenceBelow(0.78),
            ApprovalCondition::FieldAbove { field: "annual_contract_value".into(), value: 50000.0 },
        ];
        let ctx = context();
        let sure = json!({ "confidence": 0.9 });
        let hits = policy_hits(&conditions, &ctx, Some(&sure), "confidence");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].reason, ReviewReason::HighValue);
        assert_eq!(hits[0].detail["value"], 60000.0);

        let unsure = json!({ "confidence": 0.5 });
        let hits = policy_hits(&conditions[..1], &ctx, Some(&unsure), "confidence");
        assert_eq!(hits[0].reason, ReviewReason::LowConfidence);
        assert_eq!(hits[0].detail["confidence"], 0.5);

        let silent = json!({ "summary": "no confidence given" });
        assert_eq!(
            policy_hits(&conditions[..1], &ctx, Some(&silent), "confidence")[0].reason,
            ReviewReason::LowConfidence
        );

        let mut small = ctx.clone();
        small["event"]["annual_contract_value"] = json!(1200);
        assert!(policy_hits(&conditions, &small, Some(&sure), "confidence").is_empty(), "both clear: no review");
        assert!(
            policy_hits(&conditions, &small, Some(&json!({ "confidence": 85 })), "confidence").is_empty(),
            "85% is 0.85"
        );
    }

    #[test]
    fn expressions_see_the_context_and_the_draft() {
        let conditions = vec![ApprovalCondition::Expression("draft.fit_score < 50 || event.region == 'east'".into())];
        assert!(policy_hits(&conditions, &context(), Some(&json!({ "fit_score": 82 })), "confidence").is_empty());
        assert_eq!(policy_hits(&conditions, &context(), Some(&json!({ "fit_score": 20 })), "confidence").len(), 1);
    }

    #[test]
    fn an_expression_reads_the_names_it_names_and_a_given_draft_hides_the_contexts() {
        let mut ctx = context();
        ctx["draft"] = json!({ "fit_score": 10 });
        ctx["notes"] = json!([1, 2, 3]);
        assert_eq!(eval("notes.exists(n, n > 2) && size(notes) == 3", &ctx).unwrap(), json!(true));
        assert_eq!(eval("event.companyName", &ctx).unwrap(), json!("Harbor Dental"));
        assert!(eval("missing.field == 1", &ctx).is_err(), "a name the context lacks is an error");
        let conditions = vec![ApprovalCondition::Expression("draft.fit_score < 50".into())];
        assert_eq!(policy_hits(&conditions, &ctx, None, "confidence").len(), 1, "without a draft, the context's");
        assert!(
            policy_hits(&conditions, &ctx, Some(&json!({ "fit_score": 82 })), "confidence").is_empty(),
            "the draft given is the one read"
        );
    }

    #[test]
    fn a_decision_table_takes_the_first_match_or_collects() {
        let mut step = step("{ id: route, type: rules }");
        step.rules = vec![
            Rule { when: "event.region == 'east'".into(), then: json!({ "owner": "sam" }) },
            Rule {
                when: "qualification_summary.fit_score >= 80".into(),
                then: json!({ "owner": "ana", "company": "{{ event.companyName }}" }),
            },
            Rule { when: "true".into(), then: json!({ "owner": "queue" }) },
        ];
        let out = decide(&step, &context()).unwrap();
        assert_eq!(out["decision"], json!({ "owner": "ana", "company": "Harbor Dental" }));
        assert_eq!(out["matched_rule"], 2);
        step.hit_policy = Some(HitPolicy::Collect);
        assert_eq!(decide(&step, &context()).unwrap()["decision"].as_array().unwrap().len(), 2);
        step.rules.truncate(1);
        step.hit_policy = None;
        step.default = Some(json!({ "owner": "nobody" }));
        assert_eq!(decide(&step, &context()).unwrap()["decision"], json!({ "owner": "nobody" }));
        step.rules[0].when = "event.region + 1".into();
        assert!(decide(&step, &context()).is_err(), "a condition that is not true/false is an error");
    }

    #[test]
    fn built_in_functions_transform_the_record() {
        let now = Utc::now();
        let step = |function: &str| step(&format!("{{ id: f, type: function, function: {function} }}"));
        let mut map = step("map");
        map.mapping =
            [("company".to_string(), "companyName".to_string()), ("email".into(), "primaryContact.email".into())]
                .into();
        assert_eq!(
            function(&map, &context(), None, now).unwrap(),
            json!({ "company": "Harbor Dental", "email": "dana@harbor.example" })
        );
        let mut pick = step("pick");
        pick.fields = vec!["region".into()];
        assert_eq!(function(&pick, &context(), None, now).unwrap(), json!({ "region": "west" }));
        let mut compute = step("compute");
        compute.expression = Some("event.companyName + ' (' + event.region + ')'".into());
        assert_eq!(function(&compute, &context(), None, now).unwrap(), json!("Harbor Dental (west)"));
        let mut score = step("value_score");
        score.input = Some("candidate".into());
        let ctx = json!({ "candidate": { "monthly_volume": 120, "minutes_per_task": 15, "error_rate": 0.08, "revenue_impact": 40, "compliance_risk": 10 } });
        // 1800 × 0.35 + 8 × 0.2 + 40 × 0.3 − 10 × 0.25 = 630 + 1.6 + 12 − 2.5
        assert_eq!(function(&score, &ctx, None, now).unwrap(), json!({ "value_score": 641.1 }));
        let normalize = step("normalize");
        let lead = DataContract::template("lead").unwrap();
        let err = function(&normalize, &json!({ "event": { "companyName": "" } }), Some(&lead), now).unwrap_err();
        assert!(err.contains("companyName"), "{err}");
    }

    #[test]
    fn sensitive_values_copied_into_other_text_are_masked_too() {
        let keys = vec!["email".to_string(), "phone".to_string()];
        let context = json!({ "lead": { "contact": { "email": "dana@harbor.example", "phone": "+1 415" } } });
        let input = json!({
            "url": "https://lookup.example/c?email=dana@harbor.example",
            "encoded": "https://lookup.example/c?email=dana%40harbor.example",
            "body": { "email": "dana@harbor.example", "note": "call +1 415" }
        });
        let masked = mask_in(&input, &keys, &context);
        assert_eq!(masked["url"], "https://lookup.example/c?email=••••");
        assert_eq!(masked["encoded"], "https://lookup.example/c?email=••••");
        assert_eq!(masked["body"]["email"], MASK);
        assert_eq!(masked["body"]["note"], "call ••••");
        let short = json!({ "contact": { "email": "a@b" } });
        assert_eq!(mask_in(&json!("a@b and more"), &keys, &short), json!("a@b and more"), "too short to mask safely");
    }

    #[test]
    fn sensitive_values_are_masked_at_any_depth() {
        let masked = mask(&context(), &["email".into()]);
        assert_eq!(masked["event"]["primaryContact"]["email"], MASK);
        assert_eq!(masked["event"]["primaryContact"]["name"], "Dana");
        let form =
            mask(&json!({ "primaryContact.email": "dana@x.example", "companyName": "Harbor" }), &["email".into()]);
        assert_eq!(form, json!({ "primaryContact.email": MASK, "companyName": "Harbor" }));
        let near = mask(&json!({ "xemail": "a", "email_ok": "b", ".email": "c", "email": null }), &["email".into()]);
        assert_eq!(
            near,
            json!({ "xemail": "a", "email_ok": "b", ".email": MASK, "email": null }),
            "only the key or a path ending in it"
        );
    }

    #[test]
    fn templates_render_over_the_context() {
        assert_eq!(render_text("Hi {{ event.primaryContact.name }}", &context()).unwrap(), "Hi Dana");
        // Compiled once and kept: another context renders its own values.
        let sam = json!({ "event": { "primaryContact": { "name": "Sam" } }, "other": { "n": 1 } });
        assert_eq!(render_text("Hi {{ event.primaryContact.name }}", &sam).unwrap(), "Hi Sam");
        let looped = "{% set greeting = 'Hi' %}{% for k in other %}{{ greeting }} {{ k }} {{ other[k] }}{% endfor %}";
        assert_eq!(render_text(looped, &sam).unwrap(), "Hi n 1", "names a template sets are its own");
        // A broken template, or an undefined value, fails every time, saying what render_str says.
        let mut strict = minijinja::Environment::new();
        strict.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for source in ["{{ unclosed", "{{ event.nope.deeper }}"] {
            let said = strict.render_str(source, &sam).unwrap_err().to_string();
            assert_eq!(render_template(source, &sam).unwrap_err(), said);
            assert_eq!(render_template(source, &sam).unwrap_err(), said);
        }
        assert!(
            render_text("{{ event.nope }}", &context()).is_err(),
            "a missing value is an error, not an empty string"
        );
        assert_eq!(
            render_value(&json!({ "q": "{{ event.region }}", "n": 3 }), &context()).unwrap(),
            json!({ "q": "west", "n": 3 })
        );
    }

    #[test]
    fn backoff_grows_jitters_and_honours_retry_after() {
        assert_eq!(backoff_delay(1, 1.0, 1.0, None), Duration::from_secs(1));
        assert_eq!(backoff_delay(3, 1.0, 1.0, None), Duration::from_secs(4));
        assert_eq!(backoff_delay(3, 1.0, 0.0, None), Duration::from_secs(2));
        assert_eq!(backoff_delay(30, 1.0, 1.0, None), Duration::from_secs(60));
        assert_eq!(backoff_delay(1, 1.0, 1.0, Some(7.0)), Duration::from_secs(7));
        assert_eq!(backoff_delay(1, 1.0, 1.0, Some(3600.0)), Duration::from_secs(60));
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(retry_after_seconds("5", now), Some(5.0));
        assert_eq!(retry_after_seconds("Tue, 01 Dec 2026 10:00:30 GMT", now), Some(30.0), "an HTTP date");
        assert_eq!(
            retry_after_seconds("Tue, 01 Dec 2026 09:00:00 GMT", now),
            Some(0.0),
            "a date in the past means now"
        );
        assert_eq!(retry_after_seconds("soon", now), None);
    }

    #[test]
    fn a_secret_is_hidden_wherever_it_was_templated() {
        let sent = json!({ "url": "https://api.example/v1?key=sk_live_123", "body": { "auth": "Bearer sk_live_123", "n": 2 } });
        let shown = redact(&sent, "sk_live_123");
        assert_eq!(shown["url"], format!("https://api.example/v1?key={MASK}"));
        assert_eq!(shown["body"]["auth"], format!("Bearer {MASK}"));
        assert_eq!(shown["body"]["n"], 2);
    }

    #[test]
    fn an_edited_masked_draft_keeps_the_hidden_values() {
        let draft =
            json!({ "summary": "Four clinics", "contact": { "email": "dana@harbor.example" }, "phones": ["555-0100"] });
        let shown = mask(&draft, &["email".to_string()]);
        let mut edited = shown.clone();
        edited["summary"] = json!("Four clinics, two more next year");
        let kept = unmask(&edited, &draft);
        assert_eq!(kept["contact"]["email"], "dana@harbor.example");
        assert_eq!(kept["summary"], "Four clinics, two more next year");
        assert_eq!(kept["phones"], json!(["555-0100"]));
    }
}
