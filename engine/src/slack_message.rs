//! A review task as a Slack message (Block Kit): why it waits in words, the
//! draft's key fields, and Approve / Reject buttons with the business's
//! reason codes to reject with; once decided, the same message with the
//! outcome instead of the buttons. And the button clicks Slack sends back
//! (`block_actions` interaction payloads), read into what was clicked.

use crate::review::{draft_fields, explain, Decision, ReviewReason};
use serde_json::{json, Value};

/// The block holding the buttons and the reason list.
pub const DECIDE_BLOCK: &str = "steward_decide";
pub const APPROVE_ACTION: &str = "steward_approve";
pub const REJECT_ACTION: &str = "steward_reject";
/// Choosing a reason only fills the list; Reject reads it from the message's state.
pub const REASON_ACTION: &str = "steward_reason";

words! {
    /// Where a task's Slack message is: owed, being posted under a worker's
    /// claim, posted (then updated with the outcome), or given up.
    pub enum SlackPost {
        Pending,
        Posting,
        Posted,
        Failed,
    }
}

/// What a message about one review task shows.
#[derive(Debug, Clone)]
pub struct TaskCard<'a> {
    pub task_id: String,
    pub workflow: &'a str,
    pub reason: ReviewReason,
    pub detail: &'a Value,
    pub draft: Option<&'a Value>,
    /// The task in Steward's review queue.
    pub queue_url: String,
    /// The business's reason codes, to reject with.
    pub reason_codes: &'a [String],
}

/// How a task was decided, for the message's last line.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    pub by: String,
    pub reason_code: Option<String>,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub at: String,
}

impl Outcome {
    pub fn sentence(&self) -> String {
        let verb = match self.decision {
            Decision::Approve => "Approved",
            Decision::EditAndApprove => "Edited and approved",
            Decision::Reject => "Rejected",
        };
        let reason = self.reason_code.as_deref().map(|c| format!(" ({})", c.replace('_', " "))).unwrap_or_default();
        format!("{verb} by {}{reason} at {}", self.by, self.at)
    }
}

/// Slack's mrkdwn needs only these three escaped.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": text, "emoji": true })
}

fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": text })
}

/// The blocks every state of the message shares: headline, reasons, draft.
fn body(card: &TaskCard<'_>) -> Vec<Value> {
    let why = explain(card.reason, card.detail).iter().map(|r| format!("• {}", escape(r))).collect::<Vec<_>>();
    let mut blocks = vec![
        json!({ "type": "header", "text": plain(&format!("Review needed: {}", card.workflow)) }),
        json!({ "type": "section", "text": mrkdwn(&format!("*Why a person decides*\n{}", why.join("\n"))) }),
    ];
    let fields: Vec<Value> = draft_fields(card.draft)
        .into_iter()
        .map(|(name, text)| mrkdwn(&format!("*{}*\n{}", escape(&name.replace('_', " ")), escape(&text))))
        .collect();
    if fields.is_empty() {
        let none = match card.reason {
            ReviewReason::ApprovalStep => "_Nothing was drafted: the workflow asks for a sign-off before it goes on._",
            ReviewReason::Error => "_No draft: a step failed (above); approving skips it, rejecting ends the run._",
            _ => "_No draft: the run stopped before a message._",
        };
        blocks.push(json!({ "type": "section", "text": mrkdwn(none) }));
    } else {
        // Slack shows at most ten fields in a section.
        blocks.push(json!({ "type": "section", "text": mrkdwn("*Draft*"), "fields": fields.into_iter().take(10).collect::<Vec<_>>() }));
    }
    blocks
}

/// The text notifications and screen readers show instead of the blocks.
fn fallback_text(card: &TaskCard<'_>) -> String {
    format!("Review needed: {} ({})", card.workflow, card.reason.as_str().replace('_', " "))
}

/// The message for an open task: the body, the buttons and a link to the queue.
pub fn open_message(card: &TaskCard<'_>) -> Value {
    let mut blocks = body(card);
    let mut elements = vec![
        json!({ "type": "button", "action_id": APPROVE_ACTION, "style": "primary", "text": plain("Approve"), "value": card.task_id }),
        json!({ "type": "button", "action_id": REJECT_ACTION, "style": "danger", "text": plain("Reject"), "value": card.task_id }),
    ];
    if !card.reason_codes.is_empty() {
        let options: Vec<Value> = card
            .reason_codes
            .iter()
            .take(100)
            .map(|c| json!({ "text": plain(&c.replace('_', " ")), "value": c }))
            .collect();
        elements.push(json!({
            "type": "static_select", "action_id": REASON_ACTION,
            "placeholder": plain("Reason to reject"), "options": options
        }));
    }
    blocks.push(json!({ "type": "actions", "block_id": DECIDE_BLOCK, "elements": elements }));
    blocks.push(json!({ "type": "context", "elements": [mrkdwn(&format!(
        "Approve here, or choose a reason and Reject. To edit the draft, <{}|open it in Steward>.",
        card.queue_url
    ))] }));
    json!({ "text": fallback_text(card), "blocks": blocks })
}

/// The message once the task is decided: the body and the outcome, no buttons.
pub fn decided_message(card: &TaskCard<'_>, outcome: &Outcome) -> Value {
    let mut blocks = body(card);
    let mark = if outcome.decision == Decision::Reject { ":x:" } else { ":white_check_mark:" };
    blocks.push(json!({ "type": "section", "text": mrkdwn(&format!("{mark} *{}*", escape(&outcome.sentence()))) }));
    blocks.push(
        json!({ "type": "context", "elements": [mrkdwn(&format!("<{}|Open the task in Steward>", card.queue_url))] }),
    );
    json!({ "text": format!("{} — {}", fallback_text(card), outcome.sentence()), "blocks": blocks })
}

/// What a person clicked in a task's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Click {
    Approve {
        task_id: String,
    },
    /// The reason the person chose in the list, if any.
    Reject {
        task_id: String,
        reason_code: Option<String>,
    },
    /// Choosing in the reason list (nothing to do until Reject).
    ChoseReason,
}

/// A `block_actions` interaction, as much of it as a decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// The Slack user who clicked.
    pub user_id: String,
    pub click: Click,
    /// The message clicked in (to update it and to answer in its thread).
    pub channel: Option<String>,
    pub message_ts: Option<String>,
}

/// Reads an interaction payload (the JSON in the `payload` form field).
/// Err: what is wrong with it, for the 400 answer.
pub fn read_interaction(payload: &Value) -> Result<Interaction, String> {
    if payload["type"].as_str() != Some("block_actions") {
        return Err(format!("interaction type {} is not block_actions", payload["type"]));
    }
    let user_id = payload["user"]["id"].as_str().ok_or("the interaction names no user (user.id)")?.to_owned();
    let action = payload["actions"].get(0).ok_or("the interaction has no action (actions[0])")?;
    let task_id = || action["value"].as_str().map(str::to_owned).ok_or("the button carries no task (actions[0].value)");
    let click = match action["action_id"].as_str() {
        Some(APPROVE_ACTION) => Click::Approve { task_id: task_id()? },
        Some(REJECT_ACTION) => {
            let chosen = &payload["state"]["values"][DECIDE_BLOCK][REASON_ACTION]["selected_option"]["value"];
            Click::Reject { task_id: task_id()?, reason_code: chosen.as_str().map(str::to_owned) }
        }
        Some(REASON_ACTION) => Click::ChoseReason,
        other => return Err(format!("unknown action {}", other.unwrap_or("(none)"))),
    };
    let channel = payload["channel"]["id"].as_str().or(payload["container"]["channel_id"].as_str()).map(str::to_owned);
    let message_ts =
        payload["message"]["ts"].as_str().or(payload["container"]["message_ts"].as_str()).map(str::to_owned);
    Ok(Interaction { user_id, click, channel, message_ts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card<'a>(detail: &'a Value, draft: &'a Value, codes: &'a [String]) -> TaskCard<'a> {
        TaskCard {
            task_id: "6f1c".into(),
            workflow: "lead-intake",
            reason: ReviewReason::HighValue,
            detail,
            draft: Some(draft),
            queue_url: "https://steward.example/t/acme/review/6f1c".into(),
            reason_codes: codes,
        }
    }

    #[test]
    fn an_open_task_shows_why_the_draft_and_buttons_that_carry_the_task() {
        let detail = json!({ "policy": [{ "reason": "high_value", "detail": { "field": "annual_contract_value", "value": 90000, "threshold": 50000 } }] });
        let draft = json!({ "summary": "Dental group <3 sites> & growing", "fit_score": 82 });
        let codes = vec!["wrong_facts".to_string(), "tone".to_string()];
        let message = open_message(&card(&detail, &draft, &codes));
        let text = message.to_string();
        assert!(text.contains("annual contract value 90000 is above 50000"), "{text}");
        assert!(text.contains("Dental group &lt;3 sites&gt; &amp; growing"), "mrkdwn is escaped: {text}");
        let actions = message["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").unwrap();
        assert_eq!(actions["elements"][0]["value"], "6f1c");
        assert_eq!(actions["elements"][1]["action_id"], REJECT_ACTION);
        assert_eq!(actions["elements"][2]["options"][1]["value"], "tone");
        let decided = decided_message(
            &card(&detail, &draft, &codes),
            &Outcome {
                decision: Decision::Reject,
                by: "ana@acme.test".into(),
                reason_code: Some("wrong_facts".into()),
                at: "2026-12-02 10:00 UTC".into(),
            },
        );
        let text = decided.to_string();
        assert!(text.contains("Rejected by ana@acme.test (wrong facts) at 2026-12-02 10:00 UTC"), "{text}");
        assert!(!text.contains(APPROVE_ACTION), "no buttons once decided");
    }

    #[test]
    fn clicks_are_read_with_the_reason_chosen_in_the_message() {
        let payload = json!({
            "type": "block_actions", "user": { "id": "U0REVIEW" },
            "channel": { "id": "C0SALES" }, "message": { "ts": "1700000000.000100" },
            "state": { "values": { DECIDE_BLOCK: { REASON_ACTION: { "type": "static_select", "selected_option": { "value": "tone" } } } } },
            "actions": [{ "action_id": REJECT_ACTION, "block_id": DECIDE_BLOCK, "value": "6f1c" }]
        });
        let read = read_interaction(&payload).unwrap();
        assert_eq!(read.user_id, "U0REVIEW");
        assert_eq!(read.click, Click::Reject { task_id: "6f1c".into(), reason_code: Some("tone".into()) });
        assert_eq!(read.message_ts.as_deref(), Some("1700000000.000100"));
        let mut approve = payload.clone();
        approve["actions"][0]["action_id"] = json!(APPROVE_ACTION);
        assert_eq!(read_interaction(&approve).unwrap().click, Click::Approve { task_id: "6f1c".into() });
        assert!(read_interaction(&json!({ "type": "view_submission" })).is_err());
        assert!(read_interaction(&json!({ "type": "block_actions", "user": { "id": "U1" }, "actions": [] })).is_err());
    }
}
