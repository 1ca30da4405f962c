//! Review tasks in the business's words: how urgent a task is (P1–P3) and
//! how well people and drafts agree. Pure arithmetic, tested by itself.

use crate::readable::{Field, Labels};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

words! {
    /// Why a run stops for a person.
    pub enum ReviewReason {
        /// The workflow has an approval step here.
        ApprovalStep,
        LowConfidence,
        HighValue,
        Policy,
        ExternalMessage,
        /// A step failed and the fallback hands the case to a person.
        Error,
    }
}

words! {
    /// What a person decided on a review task.
    pub enum Decision {
        Approve,
        /// Approve with a corrected output.
        EditAndApprove,
        Reject,
    }
}

impl Decision {
    /// Edits and rejections override the draft and need one of the business's reason codes.
    pub fn is_override(self) -> bool {
        match self {
            Decision::Approve => false,
            Decision::EditAndApprove | Decision::Reject => true,
        }
    }
}

words! {
    /// Whether a review task still waits for a person.
    pub enum TaskStatus {
        Open,
        Decided,
    }
}

/// P1 (act now) to P3 (when you get to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
        }
    }
}

/// Deals at or above this value add urgency.
pub const HIGH_VALUE: f64 = 50_000.0;

/// Why the task exists weighs most: a failed run outranks a policy hit,
/// which outranks a low-confidence draft. Age against the SLA and a large
/// deal value add to it.
pub fn priority(
    reason: ReviewReason,
    age_minutes: f64,
    sla_minutes: f64,
    value: Option<f64>,
    escalated: bool,
) -> Priority {
    let reason_weight = match reason {
        ReviewReason::Error => 3,
        ReviewReason::HighValue | ReviewReason::ExternalMessage | ReviewReason::Policy => 2,
        ReviewReason::ApprovalStep | ReviewReason::LowConfidence => 1,
    };
    let share = if sla_minutes > 0.0 { age_minutes / sla_minutes } else { 1.0 };
    let age_points = if share >= 1.0 {
        2
    } else if share >= 0.5 {
        1
    } else {
        0
    };
    let value_point = i32::from(value.is_some_and(|v| v >= HIGH_VALUE));
    match reason_weight + age_points + value_point + i32::from(escalated) {
        s if s >= 4 => Priority::P1,
        s if s >= 2 => Priority::P2,
        _ => Priority::P3,
    }
}

/// One decided task, as the measures need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub decision: Decision,
    pub reason_code: Option<String>,
    pub minutes_to_decision: f64,
    pub escalated: bool,
}

/// How people and drafts agree, over a set of decided tasks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Agreement {
    pub decided: usize,
    /// Approved unchanged ÷ decided, between 0 and 1 (None with no decisions).
    pub agreement_rate: Option<f64>,
    /// Edits and rejections per reason code, each ÷ decided.
    pub override_rate_by_reason: BTreeMap<String, f64>,
    pub median_minutes_to_decision: Option<f64>,
    pub escalated: usize,
}

pub fn agreement(tasks: &[Decided]) -> Agreement {
    let decided = tasks.len();
    if decided == 0 {
        return Agreement::default();
    }
    let approved = tasks.iter().filter(|t| !t.decision.is_override()).count();
    let mut overrides: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.decision.is_override()) {
        *overrides.entry(t.reason_code.clone().unwrap_or_else(|| "unspecified".into())).or_default() += 1;
    }
    let mut minutes: Vec<f64> = tasks.iter().map(|t| t.minutes_to_decision).collect();
    minutes.sort_by(|a, b| a.total_cmp(b));
    let median = if minutes.len() % 2 == 1 {
        minutes[minutes.len() / 2]
    } else {
        (minutes[minutes.len() / 2 - 1] + minutes[minutes.len() / 2]) / 2.0
    };
    Agreement {
        decided,
        agreement_rate: Some(approved as f64 / decided as f64),
        override_rate_by_reason: overrides.into_iter().map(|(k, n)| (k, n as f64 / decided as f64)).collect(),
        median_minutes_to_decision: Some(median),
        escalated: tasks.iter().filter(|t| t.escalated).count(),
    }
}

/// The review queue at the end of one day.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueDay {
    pub day: chrono::NaiveDate,
    /// Tasks open at the day's end (at `now` for today).
    pub open: usize,
    /// Age of the oldest of them, in minutes (0 with none open).
    pub oldest_minutes: f64,
}

/// Queue size and oldest age at the end of each of the `days` days up to
/// `now`'s day (UTC), from each task's (created, decided) times.
pub fn queue_by_day(
    tasks: &[(chrono::DateTime<chrono::Utc>, Option<chrono::DateTime<chrono::Utc>>)],
    now: chrono::DateTime<chrono::Utc>,
    days: u32,
) -> Vec<QueueDay> {
    let today = now.date_naive();
    (0..days.max(1))
        .rev()
        .map(|back| {
            let day = today - chrono::Days::new(back as u64);
            let end =
                day.succ_opt().map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()).unwrap_or(now).min(now);
            let mut open = 0;
            let mut oldest: Option<chrono::DateTime<chrono::Utc>> = None;
            for (created, decided) in tasks {
                if *created < end && decided.is_none_or(|d| d >= end) {
                    open += 1;
                    oldest = Some(oldest.map_or(*created, |o| o.min(*created)));
                }
            }
            let oldest_minutes = oldest.map(|o| (end - o).num_seconds() as f64 / 60.0).unwrap_or(0.0);
            QueueDay { day, open, oldest_minutes }
        })
        .collect()
}

/// One field a reviewer changed in a draft (a dotted path; `before` or
/// `after` is null where the field was added or removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Value,
    pub after: Value,
}

/// What an edit changed, field by field: objects are compared key by key,
/// anything else (text, numbers, lists) as a whole value.
pub fn draft_changes(draft: &Value, edited: &Value) -> Vec<FieldChange> {
    fn walk(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
        match (before, after) {
            (Value::Object(a), Value::Object(b)) => {
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let sub = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    walk(&sub, a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null), out);
                }
            }
            (a, b) if a != b => out.push(FieldChange { path: path.to_owned(), before: a.clone(), after: b.clone() }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", draft, edited, &mut out);
    out
}

/// Why a task waits for a person, in a sentence per rule, from the task's
/// reason and the detail the engine stored with it.
pub fn explain(reason: ReviewReason, detail: &Value) -> Vec<String> {
    let number = |v: &Value| match v.as_f64() {
        Some(n) if n.fract() == 0.0 => format!("{n:.0}"),
        Some(n) => format!("{n}"),
        None => "unknown".into(),
    };
    let mut out = Vec::new();
    if let Some(hits) = detail["policy"].as_array() {
        for hit in hits {
            let d = &hit["detail"];
            let hit_reason = hit["reason"].as_str().and_then(|r| r.parse::<ReviewReason>().ok());
            let line = match hit_reason {
                Some(ReviewReason::LowConfidence) if d["confidence"].is_null() => {
                    format!("The draft gave no confidence (needs {} or more).", number(&d["threshold"]))
                }
                Some(ReviewReason::LowConfidence) => {
                    format!("Confidence {} is below {}.", number(&d["confidence"]), number(&d["threshold"]))
                }
                Some(ReviewReason::HighValue) => format!(
                    "{} {} is above {}.",
                    d["field"].as_str().unwrap_or("value").replace('_', " "),
                    number(&d["value"]),
                    number(&d["threshold"])
                ),
                Some(ReviewReason::ExternalMessage) => format!(
                    "A message goes outside the business{}.",
                    d["recipients"]
                        .as_array()
                        .map(|r| format!(" (to {})", r.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")))
                        .unwrap_or_default()
                ),
                Some(ReviewReason::Policy | ReviewReason::ApprovalStep | ReviewReason::Error) | None => {
                    format!("Rule {}.", hit["rule"].as_str().unwrap_or("of the workflow"))
                }
            };
            out.push(line);
        }
    }
    match reason {
        ReviewReason::Error => out.push(failure_in_words(
            detail["step"].as_str().unwrap_or("?"),
            detail["error"].as_str().unwrap_or("unknown error"),
        )),
        ReviewReason::ApprovalStep => out
            .push(format!("The workflow asks a person to approve at step {}.", detail["step"].as_str().unwrap_or("?"))),
        ReviewReason::LowConfidence
        | ReviewReason::HighValue
        | ReviewReason::Policy
        | ReviewReason::ExternalMessage => {
            if out.is_empty() {
                out.push(reason.as_str().replace('_', " "))
            }
        }
    }
    out
}

/// A failed step as a reviewer reads it: which service answered what, by its
/// host, never the address itself (an address can carry a customer's email).
/// The run's own error, for engineers, keeps the method and the masked address.
pub fn failure_in_words(step: &str, error: &str) -> String {
    const METHODS: [&str; 5] = ["GET ", "POST ", "PUT ", "PATCH ", "DELETE "];
    let call = METHODS.iter().find_map(|m| error.strip_prefix(m)).and_then(|rest| rest.split_once(' '));
    let Some((url, outcome)) = call else {
        return format!("Step {step} failed: {}.", without_addresses(error).trim_end_matches('.'));
    };
    let host = host_of(url);
    if let Some(answer) = outcome.strip_prefix("answered ") {
        let (status, body) = answer.split_once(": ").unwrap_or((answer, ""));
        // A JSON error body usually says why in a word or two.
        let said = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|b| ["error", "message", "detail"].iter().find_map(|k| b[*k].as_str().map(str::to_owned)))
            .filter(|m| !m.trim().is_empty());
        return match said {
            Some(m) => {
                format!("Step {step}: {host} answered {status} ({}).", without_addresses(&m).trim_end_matches('.'))
            }
            None => format!("Step {step}: {host} answered {status}."),
        };
    }
    if let Some(why) = outcome.strip_prefix("refused: ") {
        return format!(
            "Step {step}: Steward would not call {host} ({}).",
            without_addresses(why).trim_end_matches('.')
        );
    }
    if outcome.starts_with("timed out") {
        return format!("Step {step}: {host} did not answer in time.");
    }
    if outcome.starts_with("could not connect") {
        return format!("Step {step}: {host} could not be reached.");
    }
    format!("Step {step}: the call to {host} failed.")
}

/// `https://api.example.com:8443/people?email=…` → `api.example.com:8443`.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?', '#']).next().unwrap_or(rest).rsplit('@').next().unwrap_or(rest).to_string()
}

/// Every web address in a text cut to its host.
fn without_addresses(text: &str) -> String {
    text.split(' ')
        .map(|w| if w.starts_with("http://") || w.starts_with("https://") { host_of(w) } else { w.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A record's first labelled fields, long text cut: what an email or a
/// Slack message shows of a draft or an enquiry.
pub fn short_fields(fields: Vec<Field>) -> Vec<Field> {
    fields
        .into_iter()
        .take(8)
        .map(|(label, text)| {
            let text = if text.chars().count() > 160 {
                format!("{}…", text.chars().take(160).collect::<String>())
            } else {
                text
            };
            (label, text)
        })
        .collect()
}

/// The draft's first fields, named in words (Slack has no schema at hand).
pub fn draft_fields(draft: Option<&Value>) -> Vec<Field> {
    draft.map(|d| short_fields(crate::readable::fields(d, &Labels::default()))).unwrap_or_default()
}

/// Fields as a short, readable text, one `label: text` line each.
pub fn fields_text(fields: &[Field]) -> String {
    fields.iter().map(|(label, text)| format!("{label}: {text}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_outranks_a_low_confidence_draft_and_age_raises_urgency() {
        assert_eq!(priority(ReviewReason::Error, 0.0, 240.0, None, false), Priority::P2);
        assert_eq!(priority(ReviewReason::LowConfidence, 0.0, 240.0, None, false), Priority::P3);
        assert!(
            priority(ReviewReason::Error, 10.0, 240.0, None, false)
                < priority(ReviewReason::LowConfidence, 10.0, 240.0, None, false)
        );
        assert_eq!(priority(ReviewReason::LowConfidence, 130.0, 240.0, None, false), Priority::P2, "past half the SLA");
        assert_eq!(priority(ReviewReason::Error, 300.0, 240.0, None, false), Priority::P1, "overdue");
        assert_eq!(priority(ReviewReason::HighValue, 0.0, 240.0, Some(60_000.0), false), Priority::P2);
        assert_eq!(priority(ReviewReason::HighValue, 130.0, 240.0, Some(60_000.0), false), Priority::P1);
        assert_eq!(priority(ReviewReason::ApprovalStep, 0.0, 240.0, None, true), Priority::P2, "escalated");
    }

    #[test]
    fn agreement_counts_unchanged_approvals_and_overrides_by_reason() {
        let d = |decision: Decision, code: Option<&str>, minutes: f64| Decided {
            decision,
            reason_code: code.map(str::to_owned),
            minutes_to_decision: minutes,
            escalated: minutes > 60.0,
        };
        let a = agreement(&[
            d(Decision::Approve, None, 5.0),
            d(Decision::Approve, None, 15.0),
            d(Decision::EditAndApprove, Some("tone"), 30.0),
            d(Decision::Reject, Some("wrong_facts"), 90.0),
        ]);
        assert_eq!(a.decided, 4);
        assert_eq!(a.agreement_rate, Some(0.5));
        assert_eq!(a.override_rate_by_reason.get("tone"), Some(&0.25));
        assert_eq!(a.override_rate_by_reason.get("wrong_facts"), Some(&0.25));
        assert_eq!(a.median_minutes_to_decision, Some(22.5));
        assert_eq!(a.escalated, 1);
        assert_eq!(agreement(&[]), Agreement::default(), "no decisions, no rates");
    }

    #[test]
    fn an_edit_is_kept_as_the_fields_it_changed() {
        let draft = serde_json::json!({ "fit_score": 72, "summary": "Four clinics", "risks": ["budget unknown"], "contact": { "name": "Dana" } });
        let edited = serde_json::json!({ "fit_score": 80, "summary": "Four clinics", "risks": [], "contact": { "name": "Dana W." }, "note": "called" });
        let changes = draft_changes(&draft, &edited);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["contact.name", "fit_score", "note", "risks"]);
        assert_eq!(changes[1].before, serde_json::json!(72));
        assert_eq!(changes[2].before, Value::Null, "an added field");
        assert!(draft_changes(&draft, &draft).is_empty(), "an unchanged draft has no changes");
    }

    #[test]
    fn the_reason_is_said_in_words_with_the_figures() {
        let detail = serde_json::json!({ "policy": [
            { "reason": "low_confidence", "rule": "confidence_below: 0.78", "detail": { "confidence": 0.62, "threshold": 0.78 } },
            { "reason": "high_value", "rule": "annual_contract_value_above: 50000", "detail": { "field": "annual_contract_value", "value": 60000, "threshold": 50000 } }
        ] });
        assert_eq!(
            explain(ReviewReason::LowConfidence, &detail),
            ["Confidence 0.62 is below 0.78.", "annual contract value 60000 is above 50000."]
        );
        let failed = serde_json::json!({ "step": "enrich", "error": "GET http://127.0.0.1:59115/demo/company-lookup?email=dana@harbor.example answered 503 Service Unavailable: {\"error\":\"the demo directory has no entry for this domain right now\"}" });
        assert_eq!(
            explain(ReviewReason::Error, &failed),
            ["Step enrich: 127.0.0.1:59115 answered 503 Service Unavailable (the demo directory has no entry for this domain right now)."]
        );
    }

    #[test]
    fn a_failed_call_is_said_by_its_host_never_its_address() {
        let cases = [
            ("POST https://crm.example/people?email=x@y.example answered 500 Internal Server Error: <html>oops</html>", "Step s: crm.example answered 500 Internal Server Error."),
            ("GET https://user:pw@crm.example/p refused: it resolves to a private address", "Step s: Steward would not call crm.example (it resolves to a private address)."),
            ("GET https://crm.example/p?email=x@y.example timed out: operation timed out", "Step s: crm.example did not answer in time."),
            ("GET https://crm.example/p could not connect: error sending request for url (https://crm.example/p?email=x@y.example)", "Step s: crm.example could not be reached."),
            ("the model's answer did not meet the response schema", "Step s failed: the model's answer did not meet the response schema."),
            ("template error near https://crm.example/p?email=x@y.example", "Step s failed: template error near crm.example."),
        ];
        for (error, said) in cases {
            assert_eq!(failure_in_words("s", error), said);
            assert!(!failure_in_words("s", error).contains("x@y.example"));
        }
    }

    #[test]
    fn the_queue_per_day_counts_what_was_open_at_each_days_end() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
        let now = at("2026-12-03T12:00:00Z");
        let tasks = [
            (at("2026-12-01T09:00:00Z"), Some(at("2026-12-02T10:00:00Z"))), // open at the end of Dec 1 only
            (at("2026-12-02T23:00:00Z"), None),                             // open since late Dec 2
            (at("2026-12-03T11:00:00Z"), None),                             // opened today
        ];
        let days = queue_by_day(&tasks, now, 4);
        let open: Vec<usize> = days.iter().map(|d| d.open).collect();
        assert_eq!(open, [0, 1, 1, 2]);
        assert_eq!(days[0].day.to_string(), "2026-11-30");
        assert_eq!(days[1].oldest_minutes, 15.0 * 60.0, "Dec 1 09:00 to midnight");
        assert_eq!(days[2].oldest_minutes, 60.0, "Dec 2 23:00 to midnight");
        assert_eq!(days[3].oldest_minutes, 13.0 * 60.0, "today counts to now");
        assert_eq!(queue_by_day(&[], now, 2).iter().map(|d| d.open).sum::<usize>(), 0);
    }
}
