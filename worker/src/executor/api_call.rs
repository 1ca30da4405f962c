//! An api_call step: an HTTP request templated over the run's context,
//! with the step's secret (never shown in the timeline), timeout and
//! retries (backoff with jitter, honouring `Retry-After`), and a Redis
//! cache for calls declared deterministic (and this process's copy of its
//! answers, `crate::answers`). Each call is an enrichment cost
//! line at the step's price; a cache hit costs nothing and counts as saved.

use super::{Done, Execution, Failed, Stop};
use crate::context::Context;
use chrono::Utc;
use engine::run as logic;
use engine::workflow::Step;
use engine::CostKind;
use redis::AsyncCommands;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use store::ledger::CostLine;

/// The step in one go: answered by the cache or sent (a replay's live
/// calls; a run's executor takes the lease between the two).
pub(super) async fn run(cx: &Context, x: &Execution, step: &Step) -> Result<Done, Stop> {
    let call = Call::prepare(cx, x, step).await?;
    match call.cached(cx, step).await {
        Some(done) => Ok(done),
        None => Ok(call.send(cx, x, step).await?),
    }
}

/// An api_call step rendered over the run's context, before anything is sent.
pub(super) struct Call {
    url: String,
    method: String,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    secret: Option<String>,
    /// What the timeline shows: the request without the secret.
    input: Value,
    /// What one call costs.
    price: i64,
    /// Where a deterministic call's answer is cached.
    cache_key: Option<String>,
}

impl Call {
    /// Renders the request (URL, body and headers, with the step's secret).
    pub(super) async fn prepare(cx: &Context, x: &Execution, step: &Step) -> Result<Call, Stop> {
        let url_template = step.url.as_deref().ok_or_else(|| Failed::now("this api_call step has no `url`"))?;
        let mut scope = x.run.context.clone();
        let secret = match &step.secret {
            Some(name) => Some(
                store::secrets::value_for_step(&cx.db, &cx.settings, &x.tenant, name).await?.map_err(Failed::now)?,
            ),
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
        let input = hidden(&secret, json!({ "method": method, "url": url, "headers": headers, "body": body }));
        // A cache hit costs nothing and is counted as saved.
        let price = step.price_per_call.as_deref().and_then(engine::money::parse).unwrap_or(0);
        let cache_key = step.deterministic.then(|| {
            let mut h = Sha256::new();
            h.update(format!("{method} {url}\n{}", body.clone().unwrap_or(Value::Null)));
            format!("{}:apicache:{}:{}", cx.settings.redis_prefix, x.tenant.schema(), hex::encode(h.finalize()))
        });
        Ok(Call { url, method, body, headers, secret, input, price, cache_key })
    }

    /// The cached answer of a deterministic call, if there is one: the step done without sending anything.
    pub(super) async fn cached(&self, cx: &Context, step: &Step) -> Option<Done> {
        let key = self.cache_key.as_ref()?;
        let output = match cx.answers.get(key) {
            Some(output) => output,
            None => {
                let mut redis = cx.redis.clone();
                let (cached, ttl_ms): (Option<String>, i64) =
                    redis::pipe().get(key).pttl(key).query_async(&mut redis).await.ok()?;
                let cached = cached?;
                let output = serde_json::from_str::<Value>(&cached).ok()?;
                if ttl_ms > 0 {
                    cx.answers.keep(key, &output, cached.len(), Duration::from_millis(ttl_ms as u64));
                }
                output
            }
        };
        let mut done = Done::output(output, self.input.clone());
        done.attempts = 0;
        done.cache_hit = true;
        done.detail = json!({ "cache": "hit" });
        done.costs.push(CostLine {
            cache_hit: Some(true),
            saved: self.price,
            ..CostLine::new(CostKind::Enrichment, None, engine::cost::enrichment(self.price, true), 1, step.id.clone())
        });
        Some(done)
    }

    /// Sends the request, with the step's timeout and retries, and caches a deterministic call's answer.
    pub(super) async fn send(self, cx: &Context, x: &Execution, step: &Step) -> Result<Done, Failed> {
        let Call { url, method, body, headers, secret, input, price, cache_key } = self;
        // What the timeline and errors show: never the secret, wherever it was templated.
        let hide = |v: Value| hidden(&secret, v);
        let shown_url = input["url"].as_str().unwrap_or_default().to_owned();
        let max_attempts = step.retry.as_ref().map(|r| r.max_attempts).unwrap_or(3).max(1);
        let base = step.retry.as_ref().and_then(|r| r.backoff_seconds).unwrap_or(0.5);
        let timeout = Duration::from_secs_f64(step.timeout.unwrap_or(10.0));
        let method_value = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| Failed::now(format!("`{method}` is not an HTTP method")))?;
        // A refused destination fails the step at once, with the reason (no retries).
        let refused = |reason: String| Failed {
            error: hide(json!(reason)).as_str().unwrap_or_default().to_owned(),
            input: input.clone(),
            ..Failed::now("")
        };
        let parsed =
            reqwest::Url::parse(&url).map_err(|e| refused(format!("{method} {shown_url}: not an address ({e})")))?;
        cx.outbound.allowed.check_url(&parsed).map_err(|r| refused(format!("{method} {shown_url} refused: {r}")))?;
        let mut history = Vec::new();
        for attempt in 1..=max_attempts {
            let mut req = cx
                .outbound
                .client
                .request(method_value.clone(), parsed.clone())
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
            let sent = req.send().await;
            let refused = sent.as_ref().err().and_then(|e| store::outbound::Refused::in_error(e)).map(|r| r.0.clone());
            let (retry, retry_after, error) = match sent {
                Ok(res) => {
                    let status = res.status();
                    let retry_after = res
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| logic::retry_after_seconds(v, Utc::now()));
                    let text = match (answer_text(res).await, status.is_success()) {
                        (Ok(text), _) => text,
                        // An answer to a refusal is only quoted: its status decides what happens next.
                        (Err(unread), false) => format!("(the answer was not read: {})", unread.why),
                        (Err(unread), true) => {
                            history.push(json!({ "attempt": attempt, "status": status.as_u16(), "error": "answer not read", "ms": started.elapsed().as_millis() as u64 }));
                            let error =
                                hide(json!(format!("{method} {shown_url} answered {status}, but {}", unread.why)));
                            let error = error.as_str().unwrap_or_default().to_owned();
                            // The service acted on the request: only a method that repeats harmlessly is sent again.
                            if unread.retry && method_value.is_idempotent() && attempt < max_attempts {
                                tokio::time::sleep(logic::backoff_delay(attempt, base, rand::random::<f64>(), None))
                                    .await;
                                continue;
                            }
                            let detail = json!({ "attempts": history });
                            return Err(Failed { error, attempts: attempt as i32, input, detail, ..Failed::now("") });
                        }
                    };
                    history.push(json!({ "attempt": attempt, "status": status.as_u16(), "ms": started.elapsed().as_millis() as u64 }));
                    if status.is_success() {
                        // A service that echoes the secret back gets it masked before anything stores it.
                        let output =
                            hide(serde_json::from_str::<Value>(&text).unwrap_or_else(|_| json!({ "text": text })));
                        // An answer Steward cannot store fails the step (`storable`); it is not kept either.
                        let keep = cache_key.as_ref().filter(|_| engine::no_nul::nul_in(&output, "").is_none());
                        if let Some(key) = keep {
                            let mut redis = cx.redis.clone();
                            let ttl = step.cache_ttl.unwrap_or(3600).max(1);
                            let text = output.to_string();
                            cx.answers.keep(key, &output, text.len(), Duration::from_secs(ttl));
                            let _: Result<(), _> = redis.set_ex(key, text, ttl).await;
                        }
                        let mut done = Done::output(output, input);
                        done.attempts = attempt as i32;
                        // The outside world was called: written before the run goes on, never repeated.
                        done.effectful = true;
                        done.detail =
                            json!({ "attempts": history, "cache": if cache_key.is_some() { "miss" } else { "off" } });
                        let line = CostLine::new(
                            CostKind::Enrichment,
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
                        hide(json!(format!(
                            "{method} {shown_url} answered {status}: {}",
                            text.chars().take(300).collect::<String>()
                        )))
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    )
                }
                Err(_) if refused.is_some() => {
                    let why = refused.unwrap_or_default();
                    history.push(
                        json!({ "attempt": attempt, "error": "refused", "ms": started.elapsed().as_millis() as u64 }),
                    );
                    (
                        false,
                        None,
                        hide(json!(format!("{method} {shown_url} refused: {why}")))
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
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
}

/// The most of an answer a step reads. A larger one fails the step: the
/// answer is kept in the step's record and in the run's context, which
/// every later step of the run carries.
pub const LARGEST_ANSWER: usize = 1024 * 1024;

/// Why an answer's body was not read.
struct Unread {
    why: String,
    /// The connection broke: sending again (a method that repeats harmlessly) may bring the whole answer.
    retry: bool,
}

/// The answer's body as text, read up to `LARGEST_ANSWER` bytes.
async fn answer_text(mut res: reqwest::Response) -> Result<String, Unread> {
    let too_large = || Unread {
        why: format!("the answer is larger than {} kB, the most a step reads", LARGEST_ANSWER / 1024),
        retry: false,
    };
    if res.content_length().is_some_and(|n| n > LARGEST_ANSWER as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match res.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > LARGEST_ANSWER => return Err(too_large()),
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(String::from_utf8_lossy(&body).into_owned()),
            Err(e) => return Err(Unread { why: format!("the answer broke off: {e}"), retry: true }),
        }
    }
}

/// `v` with the secret masked wherever it was templated.
fn hidden(secret: &Option<String>, v: Value) -> Value {
    match secret {
        Some(s) => logic::redact(&v, s),
        None => v,
    }
}
