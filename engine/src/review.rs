//! Review tasks in the business's words: how urgent a task is (P1–P3) and
//! how well people and drafts agree. Pure arithmetic, tested by itself.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
pub fn priority(reason: &str, age_minutes: f64, sla_minutes: f64, value: Option<f64>, escalated: bool) -> Priority {
    let reason_weight = match reason {
        "error" => 3,
        "high_value" | "external_message" | "policy" => 2,
        _ => 1,
    };
    let share = if sla_minutes > 0.0 { age_minutes / sla_minutes } else { 1.0 };
    let age_points = if share >= 1.0 { 2 } else if share >= 0.5 { 1 } else { 0 };
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
    pub decision: String,
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
    let approved = tasks.iter().filter(|t| t.decision == "approve").count();
    let mut overrides: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.decision != "approve") {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_outranks_a_low_confidence_draft_and_age_raises_urgency() {
        assert_eq!(priority("error", 0.0, 240.0, None, false), Priority::P2);
        assert_eq!(priority("low_confidence", 0.0, 240.0, None, false), Priority::P3);
        assert!(priority("error", 10.0, 240.0, None, false) < priority("low_confidence", 10.0, 240.0, None, false));
        assert_eq!(priority("low_confidence", 130.0, 240.0, None, false), Priority::P2, "past half the SLA");
        assert_eq!(priority("error", 300.0, 240.0, None, false), Priority::P1, "overdue");
        assert_eq!(priority("high_value", 0.0, 240.0, Some(60_000.0), false), Priority::P2);
        assert_eq!(priority("high_value", 130.0, 240.0, Some(60_000.0), false), Priority::P1);
        assert_eq!(priority("approval_step", 0.0, 240.0, None, true), Priority::P2, "escalated");
    }

    #[test]
    fn agreement_counts_unchanged_approvals_and_overrides_by_reason() {
        let d = |decision: &str, code: Option<&str>, minutes: f64| Decided {
            decision: decision.into(),
            reason_code: code.map(str::to_owned),
            minutes_to_decision: minutes,
            escalated: minutes > 60.0,
        };
        let a = agreement(&[d("approve", None, 5.0), d("approve", None, 15.0), d("edit_and_approve", Some("tone"), 30.0), d("reject", Some("wrong_facts"), 90.0)]);
        assert_eq!(a.decided, 4);
        assert_eq!(a.agreement_rate, Some(0.5));
        assert_eq!(a.override_rate_by_reason.get("tone"), Some(&0.25));
        assert_eq!(a.override_rate_by_reason.get("wrong_facts"), Some(&0.25));
        assert_eq!(a.median_minutes_to_decision, Some(22.5));
        assert_eq!(a.escalated, 1);
        assert_eq!(agreement(&[]), Agreement::default(), "no decisions, no rates");
    }
}
