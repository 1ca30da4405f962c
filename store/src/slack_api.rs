//! The three Slack Web API methods Steward calls (`auth.test`,
//! `chat.postMessage`, `chat.update`), over the shared reqwest client.
//! Slack answers 200 with `{"ok": false, "error": "..."}` for what it
//! refuses, and 429 with `Retry-After` when it is rate limiting. Written
//! here rather than with a Slack SDK crate: three JSON calls do not need
//! one, and the SDKs bring an HTTP stack and TLS provider of their own.

use serde_json::{json, Value};
use std::time::Duration;

/// Slack's Web API; `STEWARD_SLACK_API_URL` points elsewhere (tests: a fake).
pub const SLACK_API: &str = "https://slack.com/api";

/// How long one call may take; a decision's answer to Slack must not wait longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack answered and said no (`invalid_auth`, `channel_not_found`, `not_in_channel`, ...).
    #[error("Slack refused: {0}")]
    Refused(String),
    /// Slack could not be reached, timed out, or is rate limiting: try again later.
    #[error("Slack did not answer: {0}")]
    Unreachable(String),
}

/// The workspace a bot token belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub team: String,
    pub bot_user_id: String,
}

/// A posted message: the channel's id and the message's timestamp (its id).
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

pub struct SlackApi<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
}

impl<'a> SlackApi<'a> {
    pub fn new(http: &'a reqwest::Client, base: &'a str, token: &'a str) -> Self {
        Self { http, base: base.trim_end_matches('/'), token }
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let res = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token)
            .json(body)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| SlackError::Unreachable(format!("{method}: {e}")))?;
        let status = res.status();
        if status.as_u16() == 429 {
            let after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or("?").to_owned();
            return Err(SlackError::Unreachable(format!("{method}: rate limited, retry after {after} s")));
        }
        if !status.is_success() {
            return Err(SlackError::Unreachable(format!("{method}: HTTP {status}")));
        }
        let answer: Value =
            res.json().await.map_err(|e| SlackError::Unreachable(format!("{method}: the answer is not JSON: {e}")))?;
        if answer["ok"].as_bool() != Some(true) {
            return Err(SlackError::Refused(answer["error"].as_str().unwrap_or("unknown_error").to_owned()));
        }
        Ok(answer)
    }

    /// Checks the token and names its workspace.
    pub async fn auth_test(&self) -> Result<Workspace, SlackError> {
        let answer = self.call("auth.test", &json!({})).await?;
        Ok(Workspace {
            team: answer["team"].as_str().unwrap_or("your workspace").to_owned(),
            bot_user_id: answer["user_id"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// Posts `message` (`text` and `blocks`) to a channel, or in a thread under `thread_ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        message: &Value,
        thread_ts: Option<&str>,
    ) -> Result<Posted, SlackError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", &body).await?;
        Ok(Posted {
            channel: answer["channel"].as_str().unwrap_or(channel).to_owned(),
            ts: answer["ts"].as_str().ok_or_else(|| SlackError::Refused("no ts in the answer".into()))?.to_owned(),
        })
    }

    /// Replaces a posted message's text and blocks.
    pub async fn update_message(&self, channel: &str, ts: &str, message: &Value) -> Result<(), SlackError> {
        let mut body = message.clone();
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.call("chat.update", &body).await.map(|_| ())
    }
}
