//! Calling a configured model: OpenAI-compatible chat completions (OpenAI,
//! Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter), Anthropic
//! Messages, or the built-in offline model. Token usage comes from the
//! provider's response; cost is usage × the business's price, in integers.

use crate::outbound::{Outbound, Refused};
use serde_json::{json, Value};
use std::time::Duration;

/// A model as configured in Settings → Models, with its key decrypted.
#[derive(Clone)]
pub struct ModelConfig {
    pub provider: String,
    pub label: String,
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub input_micros_per_million: i64,
    pub output_micros_per_million: i64,
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ModelConfig")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

/// tokens × price per million, rounded half up to whole millionths.
pub fn cost_micros(config: &ModelConfig, tokens_in: u64, tokens_out: u64) -> i64 {
    engine::cost::model(
        tokens_in as i64,
        tokens_out as i64,
        config.input_micros_per_million,
        config.output_micros_per_million,
    )
}

/// One client for every provider call, so connections are reused; each
/// request sets its own timeout.
/// A provider's address, checked like every call a workflow makes: a model
/// server on a private or metadata address is refused unless the operator
/// allowed its host (`STEWARD_OUTBOUND_ALLOW`, e.g. a local Ollama).
fn checked(outbound: &Outbound, url: String) -> Result<String, ProviderError> {
    let parsed = url::Url::parse(&url)
        .map_err(|e| ProviderError::Fatal(format!("the provider's address {url} is not a URL: {e}")))?;
    outbound.allowed.check_url(&parsed).map_err(|r| ProviderError::Fatal(format!("{url} refused: {r}")))?;
    Ok(url)
}

/// How long the try-it box waits for a model.
pub const TRY_IT_TIMEOUT: Duration = Duration::from_secs(60);

/// One turn of the conversation after the system instructions.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: "user", content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: "assistant", content: content.into() }
    }
}

/// Why a provider call failed: worth retrying (429, 5xx, timeouts,
/// network; with the provider's `Retry-After` in seconds when it sent one)
/// or not.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderError {
    Retryable { message: String, retry_after: Option<f64> },
    Fatal(String),
}

impl ProviderError {
    fn retryable(message: String) -> Self {
        ProviderError::Retryable { message, retry_after: None }
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::Retryable { message, .. } | ProviderError::Fatal(message) => f.write_str(message),
        }
    }
}

/// Asks the model for a JSON answer to `prompt` under `system` instructions
/// (the try-it box): one call, no retries.
pub async fn complete(
    outbound: &Outbound,
    config: &ModelConfig,
    system: &str,
    prompt: &str,
    schema: &Value,
) -> Result<Completion, String> {
    chat(outbound, config, system, &[Message::user(prompt)], schema, TRY_IT_TIMEOUT).await.map_err(|e| e.to_string())
}

/// One call to the provider, in its structured-output mode where it has
/// one: `response_format: json_schema` for OpenAI-compatible servers, a
/// forced tool whose input schema is the response schema for Anthropic.
pub async fn chat(
    outbound: &Outbound,
    config: &ModelConfig,
    system: &str,
    messages: &[Message],
    schema: &Value,
    timeout: Duration,
) -> Result<Completion, ProviderError> {
    match config.provider.as_str() {
        "offline" => {
            let prompt = messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n");
            let first = messages.first().map(|m| m.content.as_str()).unwrap_or_default();
            let output = engine::offline_model::respond(first, schema);
            Ok(Completion {
                tokens_in: engine::offline_model::estimate_tokens(system)
                    + engine::offline_model::estimate_tokens(&prompt),
                tokens_out: engine::offline_model::estimate_tokens(&output.to_string()),
                text: output.to_string(),
            })
        }
        "openai_compatible" => {
            let url = checked(outbound, format!("{}/chat/completions", config.base_url.trim_end_matches('/')))?;
            let mut all = vec![json!({ "role": "system", "content": system })];
            all.extend(messages.iter().map(|m| json!({ "role": m.role, "content": m.content })));
            let mut req = outbound.client.post(url).timeout(timeout).json(&json!({
                "model": config.model,
                "messages": all,
                "response_format": { "type": "json_schema", "json_schema": { "name": "response", "schema": schema } },
            }));
            if let Some(key) = &config.api_key {
                req = req.bearer_auth(key);
            }
            let body = send(req).await?;
            Ok(Completion {
                text: body["choices"][0]["message"]["content"]
                    .as_str()
                    .ok_or_else(|| ProviderError::Fatal("the response has no message content".into()))?
                    .to_owned(),
                tokens_in: body["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                tokens_out: body["usage"]["completion_tokens"].as_u64().unwrap_or(0),
            })
        }
        "anthropic" => {
            let base = if config.base_url.trim().is_empty() {
                "https://api.anthropic.com"
            } else {
                config.base_url.trim_end_matches('/')
            };
            let req = outbound
                .client
                .post(checked(outbound, format!("{base}/v1/messages"))?)
                .timeout(timeout)
                .header("x-api-key", config.api_key.clone().unwrap_or_default())
                .header("anthropic-version", "2023-06-01")
                .json(&json!({
                    "model": config.model,
                    "max_tokens": 1024,
                    "system": system,
                    "messages": messages.iter().map(|m| json!({ "role": m.role, "content": m.content })).collect::<Vec<_>>(),
                    "tools": [{ "name": "respond", "description": "Give the answer in the required shape.", "input_schema": schema }],
                    "tool_choice": { "type": "tool", "name": "respond" },
                }));
            let body = send(req).await?;
            let blocks = body["content"].as_array().cloned().unwrap_or_default();
            let text = blocks
                .iter()
                .find(|b| b["type"] == "tool_use")
                .map(|b| b["input"].to_string())
                .or_else(|| {
                    blocks.iter().find(|b| b["type"] == "text").and_then(|b| b["text"].as_str()).map(str::to_owned)
                })
                .ok_or_else(|| ProviderError::Fatal("the response has neither a tool_use nor a text block".into()))?;
            Ok(Completion {
                text,
                tokens_in: body["usage"]["input_tokens"].as_u64().unwrap_or(0),
                tokens_out: body["usage"]["output_tokens"].as_u64().unwrap_or(0),
            })
        }
        other => Err(ProviderError::Fatal(format!("unknown provider {other}"))),
    }
}

/// How long "Test connection" waits for a provider.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// The provider as people know it.
pub fn display_name(provider: &str) -> &str {
    match provider {
        "openai_compatible" => "OpenAI-compatible",
        "anthropic" => "Anthropic",
        "offline" => "Offline (built in)",
        other => other,
    }
}

/// "Test connection": one small request to the provider's models list with
/// the key (it costs no tokens), answered in words: which models it offers
/// and whether `model` is among them, or the provider's own error.
pub async fn check_connection(
    outbound: &Outbound,
    provider: &str,
    base_url: &str,
    api_key: &str,
    model: &str,
) -> Result<String, String> {
    let base = base_url.trim().trim_end_matches('/');
    let req = match provider {
        "offline" => return Ok("The offline model is built in: it needs no connection and costs nothing.".into()),
        "openai_compatible" => {
            let url = checked(outbound, format!("{base}/models")).map_err(|e| e.to_string())?;
            let req = outbound.client.get(url);
            if api_key.is_empty() {
                req
            } else {
                req.bearer_auth(api_key)
            }
        }
        "anthropic" => {
            let base = if base.is_empty() { "https://api.anthropic.com" } else { base };
            let url = checked(outbound, format!("{base}/v1/models")).map_err(|e| e.to_string())?;
            outbound.client.get(url).header("x-api-key", api_key).header("anthropic-version", "2023-06-01")
        }
        other => return Err(format!("Steward does not know the provider {other}.")),
    };
    let body = send(req.timeout(CHECK_TIMEOUT)).await.map_err(|e| sentence(&e.to_string()))?;
    let ids: Vec<&str> = body["data"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str()).collect();
    let name = display_name(provider);
    Ok(match (ids.len(), model.trim()) {
        (0, _) => format!("Connected: {name} answered with your key."),
        (n, m) if !m.is_empty() && ids.contains(&m) => {
            format!("Connected: {name} answered and offers {m} ({n} models in all).")
        }
        (n, "") => format!("Connected: {name} answered and offers {n} models."),
        (n, m) => format!("Connected, but {name} does not list {m} among its {n} models: check the model id."),
    })
}

/// A message as a sentence: its first letter capitalised.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

async fn send(req: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
    let res = req.send().await.map_err(|e| {
        if let Some(refused) = Refused::in_error(&e) {
            return ProviderError::Fatal(format!("the provider's address was refused: {}", refused.0));
        }
        let what = if e.is_timeout() { "did not answer in time" } else { "could not be reached" };
        ProviderError::retryable(format!("the provider {what}: {e}"))
    })?;
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| engine::run::retry_after_seconds(v, chrono::Utc::now()));
    let text =
        res.text().await.map_err(|e| ProviderError::retryable(format!("the provider's answer was cut off: {e}")))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        let error = format!("the provider refused the request ({status}): {message}");
        return Err(if status.as_u16() == 429 || status.is_server_error() {
            ProviderError::Retryable { message: error, retry_after }
        } else {
            ProviderError::Fatal(error)
        });
    }
    if body.is_null() {
        return Err(ProviderError::Fatal("the provider's answer is not JSON".into()));
    }
    Ok(body)
}
