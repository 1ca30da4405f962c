//! Replaying a workflow version over past events before it is published:
//! what production did with each event, what the new version would have
//! done, and how both compare with what the reviewer finally said. Pure
//! arithmetic; the worker runs the shadow steps and the store keeps them.

use crate::review::ReviewReason;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

words! {
    /// Where a replay stands.
    pub enum ReplayStatus {
        Queued,
        Running,
        Completed,
        Cancelled,
        Failed,
    }
}

impl ReplayStatus {
    /// Whether the replay still has events to go through.
    pub fn is_active(self) -> bool {
        matches!(self, ReplayStatus::Queued | ReplayStatus::Running)
    }
}

words! {
    /// Which past runs a dataset is made of.
    pub enum DatasetPick {
        /// Runs whose draft a reviewer edited or rejected.
        Overridden,
        /// Runs that a reviewer decided, whatever they decided.
        Reviewed,
        /// Runs that failed.
        Failed,
        /// Every run in the date range.
        All,
        /// A random sample of the runs in the date range.
        Sample,
    }
}

impl DatasetPick {
    /// The pick in the business's words.
    pub fn describe(self) -> &'static str {
        match self {
            DatasetPick::Overridden => "runs a reviewer edited or rejected",
            DatasetPick::Reviewed => "runs a reviewer decided",
            DatasetPick::Failed => "runs that failed",
            DatasetPick::All => "every finished run",
            DatasetPick::Sample => "a random sample",
        }
    }
}

/// What the reviewer finally said about production's draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ReviewerAnswer {
    Approved,
    /// Approved with a corrected output: the output the draft should have been.
    Edited {
        output: Value,
    },
    Rejected {
        reason_code: Option<String>,
    },
}

/// Where a version took an event: on by itself, or to a person (and why),
/// and what its rules decided (each rules step's output, by output name).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Path {
    pub person: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReviewReason>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, Value>,
}

impl Path {
    /// The path in a few words: "automatic" or "to a person (low confidence)", with the rules' choices.
    pub fn describe(&self) -> String {
        let mut text = match (self.person, self.reason) {
            (false, _) => "automatic".to_owned(),
            (true, Some(reason)) => format!("to a person ({})", reason.as_str().replace('_', " ")),
            (true, None) => "to a person".to_owned(),
        };
        for (name, value) in &self.routes {
            text.push_str(&format!("; {}: {}", name.replace('_', " "), route_text(value)));
        }
        text
    }
}

/// What a rules step decided, in words: its decision's fields and which rule matched.
fn route_text(value: &Value) -> String {
    let plain = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    let decision = value.get("decision").unwrap_or(value);
    let text = match decision {
        Value::Object(fields) => {
            fields.iter().map(|(k, v)| format!("{} {}", k.replace('_', " "), plain(v))).collect::<Vec<_>>().join(", ")
        }
        other => plain(other),
    };
    match value.get("matched_rule") {
        Some(Value::Number(n)) => format!("{text} (rule {n})"),
        Some(Value::Null) => format!("{text} (default)"),
        _ => text,
    }
}

/// What one version did with one event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// The last model draft, and the context key it was written to.
    pub draft: Option<Value>,
    pub output_name: Option<String>,
    pub path: Path,
    /// The draft's confidence as a share between 0 and 1.
    pub confidence: Option<f64>,
    /// What the model calls cost, in micro-units of the business's currency.
    pub cost_micros: i64,
    pub tokens: i64,
    /// Milliseconds spent in the steps that compute (function, rules, llm).
    pub latency_ms: i64,
    /// Why the version could not go on with this event.
    pub error: Option<String>,
}

/// What production did with an event, and what the reviewer said of it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Production {
    pub outcome: Outcome,
    pub answer: Option<ReviewerAnswer>,
}

impl Production {
    /// What the draft should have been, by the reviewer's answer: the draft
    /// they approved, or their edit. None without an answer, or for a rejection.
    pub fn expected(&self) -> Option<&Value> {
        match &self.answer {
            Some(ReviewerAnswer::Approved) => self.outcome.draft.as_ref(),
            Some(ReviewerAnswer::Edited { output }) => Some(output),
            Some(ReviewerAnswer::Rejected { .. }) | None => None,
        }
    }
}

impl Outcome {
    /// The same with its draft and error passed through `mask` (sensitive values hidden).
    pub fn mask_with(&mut self, mask: &dyn Fn(&Value) -> Value) {
        if let Some(draft) = &mut self.draft {
            *draft = mask(draft);
        }
        if let Some(error) = &mut self.error {
            *error = mask_text(mask, error);
        }
    }
}

impl Production {
    pub fn mask_with(&mut self, mask: &dyn Fn(&Value) -> Value) {
        self.outcome.mask_with(mask);
        if let Some(ReviewerAnswer::Edited { output }) = &mut self.answer {
            *output = mask(output);
        }
    }
}

fn mask_text(mask: &dyn Fn(&Value) -> Value, text: &str) -> String {
    mask(&Value::String(text.to_owned())).as_str().map(str::to_owned).unwrap_or_default()
}

/// One field whose value differs between production's draft and the replay's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub path: String,
    pub before: Value,
    pub after: Value,
    /// For two texts: how alike they are, from 0 (nothing shared) to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
}

/// One event, production beside the replay.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Comparison {
    pub path_changed: bool,
    pub draft_changes: Vec<FieldDiff>,
    /// Whether each draft matches the reviewer's answer (None: no approval or edit to compare with).
    pub production_agrees: Option<bool>,
    pub replay_agrees: Option<bool>,
    /// What got worse, in a sentence each; empty when nothing did.
    pub regressions: Vec<String>,
    /// The replay matches the reviewer where production did not.
    pub improved: bool,
}

impl Comparison {
    pub fn is_regression(&self) -> bool {
        !self.regressions.is_empty()
    }

    pub fn mask_with(&mut self, mask: &dyn Fn(&Value) -> Value) {
        for change in &mut self.draft_changes {
            change.before = mask(&change.before);
            change.after = mask(&change.after);
        }
        for regression in &mut self.regressions {
            *regression = mask_text(mask, regression);
        }
    }
}

/// Texts that differ only in case and spacing are the same answer.
fn same_text(a: &str, b: &str) -> bool {
    let words = |s: &str| s.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>();
    words(a) == words(b)
}

/// Two values are the same answer: equal, texts equal but for case and
/// spacing, numbers equal to a millionth, objects field by field.
pub fn same_answer(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => same_text(x, y),
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0),
            _ => x == y,
        },
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_answer(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_answer(v, w)),
        _ => a == b,
    }
}

/// How alike two texts are, from 0 to 1 (the share of characters they share in order).
pub fn similarity(a: &str, b: &str) -> f64 {
    f64::from(similar::TextDiff::from_chars(a, b).ratio())
}

/// The field-by-field differences between two drafts (texts that are the same answer are not listed).
pub fn draft_diff(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldDiff> {
    let (before, after) = (before.unwrap_or(&Value::Null), after.unwrap_or(&Value::Null));
    crate::review::draft_changes(before, after)
        .into_iter()
        .filter(|c| !same_answer(&c.before, &c.after))
        .map(|c| {
            let similarity = match (&c.before, &c.after) {
                (Value::String(a), Value::String(b)) => Some((similarity(a, b) * 100.0).round() / 100.0),
                _ => None,
            };
            FieldDiff { path: c.path, before: c.before, after: c.after, similarity }
        })
        .collect()
}

/// Whether the replay took the event elsewhere: to a person or not, for
/// another reason, or another choice of a rules step production reached.
fn path_changed(production: &Path, replay: &Path) -> bool {
    production.person != replay.person
        || production.reason != replay.reason
        || production.routes.iter().any(|(name, value)| replay.routes.get(name) != Some(value))
}

/// Compares what the replay did with an event against production and the reviewer's answer.
pub fn compare(production: &Production, replay: &Outcome) -> Comparison {
    let expected = production.expected();
    let agrees = |outcome: &Outcome| expected.map(|e| outcome.draft.as_ref().is_some_and(|d| same_answer(d, e)));
    let production_agrees = agrees(&production.outcome);
    let replay_agrees = if replay.error.is_some() { expected.map(|_| false) } else { agrees(replay) };
    let mut regressions = Vec::new();
    if let Some(error) = &replay.error {
        if production.outcome.error.is_none() {
            regressions.push(format!("the new version fails: {error}"));
        }
    }
    if production_agrees == Some(true) && replay_agrees == Some(false) && replay.error.is_none() {
        regressions.push("the draft no longer matches what the reviewer approved".to_owned());
    }
    let corrected = matches!(production.answer, Some(ReviewerAnswer::Edited { .. } | ReviewerAnswer::Rejected { .. }));
    if corrected && production.outcome.path.person && !replay.path.person && replay.error.is_none() {
        regressions.push("a case the reviewer corrected would no longer reach a person".to_owned());
    }
    Comparison {
        path_changed: path_changed(&production.outcome.path, &replay.path),
        draft_changes: draft_diff(production.outcome.draft.as_ref(), replay.draft.as_ref()),
        production_agrees,
        replay_agrees,
        improved: production_agrees == Some(false) && replay_agrees == Some(true),
        regressions,
    }
}

/// One side's figures over a replay's events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Side {
    /// Drafts matching the reviewer's answer ÷ events with an approval or an edit (0–1).
    pub agreement: Option<f64>,
    /// Events sent to a person ÷ events (0–1).
    pub to_person: f64,
    /// Model cost per event, in micro-units of the business's currency.
    pub cost_per_run_micros: i64,
    pub tokens_per_run: i64,
    /// Median milliseconds in the steps that compute.
    pub median_latency_ms: i64,
    /// Confidence histogram: ten buckets of 0.1 (the last holds 1.0).
    pub confidence: [u32; 10],
    /// Events the version could not finish.
    pub errors: u32,
}

/// A replay in figures: production beside the new version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub events: u32,
    /// Events with an approval or an edit to compare drafts against.
    pub answered: u32,
    pub rejected: u32,
    pub production: Side,
    pub replay: Side,
    pub paths_changed: u32,
    pub drafts_changed: u32,
    pub regressions: u32,
    pub improvements: u32,
}

impl Summary {
    /// The change in agreement, in percentage points (None without answers).
    pub fn agreement_change_points(&self) -> Option<f64> {
        Some((self.replay.agreement? - self.production.agreement?) * 100.0)
    }

    /// The change in model cost per run, in percent (None when production cost nothing and the replay neither).
    pub fn cost_change_percent(&self) -> Option<f64> {
        let (before, after) = (self.production.cost_per_run_micros, self.replay.cost_per_run_micros);
        match (before, after) {
            (0, 0) => Some(0.0),
            (0, _) => None,
            _ => Some((after - before) as f64 / before as f64 * 100.0),
        }
    }
}

fn side(outcomes: &[&Outcome], agreements: &[Option<bool>]) -> Side {
    let n = outcomes.len().max(1) as f64;
    let judged: Vec<bool> = agreements.iter().flatten().copied().collect();
    let mut latencies: Vec<i64> = outcomes.iter().map(|o| o.latency_ms).collect();
    latencies.sort_unstable();
    let mut confidence = [0u32; 10];
    for c in outcomes.iter().filter_map(|o| o.confidence) {
        confidence[((c.clamp(0.0, 1.0) * 10.0) as usize).min(9)] += 1;
    }
    Side {
        agreement: (!judged.is_empty()).then(|| judged.iter().filter(|a| **a).count() as f64 / judged.len() as f64),
        to_person: outcomes.iter().filter(|o| o.path.person).count() as f64 / n,
        cost_per_run_micros: (outcomes.iter().map(|o| o.cost_micros).sum::<i64>() as f64 / n).round() as i64,
        tokens_per_run: (outcomes.iter().map(|o| o.tokens).sum::<i64>() as f64 / n).round() as i64,
        median_latency_ms: latencies.get(latencies.len() / 2).copied().unwrap_or(0),
        confidence,
        errors: outcomes.iter().filter(|o| o.error.is_some()).count() as u32,
    }
}

/// The figures of a replay from each event's production, replay and comparison.
pub fn summarize(items: &[(&Production, &Outcome, &Comparison)]) -> Summary {
    let production: Vec<&Outcome> = items.iter().map(|(p, _, _)| &p.outcome).collect();
    let replay: Vec<&Outcome> = items.iter().map(|(_, r, _)| *r).collect();
    let count = |f: &dyn Fn(&Comparison) -> bool| items.iter().filter(|(_, _, c)| f(c)).count() as u32;
    Summary {
        events: items.len() as u32,
        answered: items.iter().filter(|(p, _, _)| p.expected().is_some()).count() as u32,
        rejected: items.iter().filter(|(p, _, _)| matches!(p.answer, Some(ReviewerAnswer::Rejected { .. }))).count()
            as u32,
        production: side(&production, &items.iter().map(|(_, _, c)| c.production_agrees).collect::<Vec<_>>()),
        replay: side(&replay, &items.iter().map(|(_, _, c)| c.replay_agrees).collect::<Vec<_>>()),
        paths_changed: count(&|c| c.path_changed),
        drafts_changed: count(&|c| !c.draft_changes.is_empty()),
        regressions: count(&|c| c.is_regression()),
        improvements: count(&|c| c.improved),
    }
}

/// What a workflow asks of a version before it is published: a replay of
/// that version within the last `within_days` days whose agreement is at
/// most `max_agreement_drop_points` below production's and whose model
/// cost per run is at most `max_cost_increase_percent` above it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishGate {
    pub required: bool,
    pub within_days: u32,
    pub max_agreement_drop_points: f64,
    pub max_cost_increase_percent: f64,
}

impl Default for PublishGate {
    fn default() -> Self {
        PublishGate {
            required: false,
            within_days: 14,
            max_agreement_drop_points: 5.0,
            max_cost_increase_percent: 20.0,
        }
    }
}

/// The latest finished replay of the version about to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestReplay {
    pub age_days: f64,
    pub summary: Summary,
}

/// Whether a version may be published under its workflow's gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GateVerdict {
    /// The workflow does not ask for a replay.
    NotRequired,
    Passed,
    /// Why not, in a sentence each.
    Blocked(Vec<String>),
}

impl PublishGate {
    /// The settings' own mistakes, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(1..=365).contains(&self.within_days) {
            out.push(("within_days", "must be between 1 and 365 days".to_owned()));
        }
        if !(0.0..=100.0).contains(&self.max_agreement_drop_points) {
            out.push(("max_agreement_drop_points", "must be between 0 and 100 points".to_owned()));
        }
        if !(0.0..=1000.0).contains(&self.max_cost_increase_percent) {
            out.push(("max_cost_increase_percent", "must be between 0 and 1000 percent".to_owned()));
        }
        out
    }

    pub fn judge(&self, version: i32, latest: Option<&LatestReplay>) -> GateVerdict {
        if !self.required {
            return GateVerdict::NotRequired;
        }
        let Some(latest) = latest.filter(|l| l.age_days <= f64::from(self.within_days)) else {
            return GateVerdict::Blocked(vec![format!(
                "Version {version} needs a finished replay over a dataset in the last {} days before it is published.",
                self.within_days
            )]);
        };
        let mut reasons = Vec::new();
        match latest.summary.agreement_change_points() {
            None => reasons.push(
                "The replay's dataset has no event a reviewer approved or edited, so agreement cannot be compared."
                    .to_owned(),
            ),
            Some(change) if -change > self.max_agreement_drop_points + 1e-9 => reasons.push(format!(
                "Agreement with reviewers drops by {:.1} points (at most {:.1} allowed).",
                -change, self.max_agreement_drop_points
            )),
            Some(_) => {}
        }
        match latest.summary.cost_change_percent() {
            None => reasons.push(format!(
                "Model cost per run rises from nothing (at most {:.0}% more allowed).",
                self.max_cost_increase_percent
            )),
            Some(change) if change > self.max_cost_increase_percent + 1e-9 => reasons.push(format!(
                "Model cost per run rises by {change:.0}% (at most {:.0}% allowed).",
                self.max_cost_increase_percent
            )),
            Some(_) => {}
        }
        if reasons.is_empty() {
            GateVerdict::Passed
        } else {
            GateVerdict::Blocked(reasons)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(draft: Value, person: bool) -> Outcome {
        Outcome {
            draft: Some(draft),
            output_name: Some("summary".into()),
            path: Path { person, reason: person.then_some(ReviewReason::LowConfidence), routes: BTreeMap::new() },
            confidence: Some(0.75),
            cost_micros: 100,
            tokens: 10,
            latency_ms: 5,
            error: None,
        }
    }

    #[test]
    fn a_path_reads_as_words() {
        let mut path = Path { person: true, reason: Some(ReviewReason::LowConfidence), routes: BTreeMap::new() };
        path.routes.insert(
            "owner_assignment".into(),
            json!({ "decision": { "owner": "sales", "queue": "standard" }, "matched_rule": 2, "then": {} }),
        );
        assert_eq!(
            path.describe(),
            "to a person (low confidence); owner assignment: owner sales, queue standard (rule 2)"
        );
        path.routes.insert("owner_assignment".into(), json!({ "decision": "nurture", "matched_rule": null }));
        assert_eq!(Path { person: false, ..path }.describe(), "automatic; owner assignment: nurture (default)");
    }

    #[test]
    fn answers_are_the_same_despite_case_spacing_and_number_spelling() {
        assert!(same_answer(
            &json!({ "a": "Call  them Monday", "n": 3 }),
            &json!({ "n": 3.0, "a": "call them monday" })
        ));
        assert!(!same_answer(&json!({ "a": "Call them Monday" }), &json!({ "a": "Call them Tuesday" })));
        assert!(!same_answer(&json!({ "a": 1 }), &json!({ "a": 1, "b": 2 })));
    }

    #[test]
    fn agreement_follows_the_reviewers_final_answer() {
        let approved = Production {
            outcome: outcome(json!({ "fit": 80, "note": "good" }), true),
            answer: Some(ReviewerAnswer::Approved),
        };
        let edited = Production {
            outcome: outcome(json!({ "fit": 80, "note": "good" }), true),
            answer: Some(ReviewerAnswer::Edited { output: json!({ "fit": 40, "note": "good" }) }),
        };
        // The new version drafts what the reviewer edited to, and keeps the approved one.
        let same = outcome(json!({ "fit": 80, "note": "good" }), true);
        let fixed = outcome(json!({ "fit": 40, "note": "Good" }), true);
        let a = compare(&approved, &same);
        assert_eq!((a.production_agrees, a.replay_agrees, a.is_regression()), (Some(true), Some(true), false));
        let b = compare(&edited, &fixed);
        assert_eq!((b.production_agrees, b.replay_agrees, b.improved), (Some(false), Some(true), true));
        assert_eq!(b.draft_changes.len(), 1, "only the score differs: {:?}", b.draft_changes);
        // A version that changes the approved draft regresses.
        let c = compare(&approved, &fixed);
        assert_eq!(c.regressions, vec!["the draft no longer matches what the reviewer approved".to_owned()]);
        let summary = summarize(&[(&approved, &same, &a), (&edited, &fixed, &b)]);
        assert_eq!((summary.answered, summary.improvements, summary.regressions), (2, 1, 0));
        assert_eq!(summary.production.agreement, Some(0.5));
        assert_eq!(summary.replay.agreement, Some(1.0));
        assert_eq!(summary.agreement_change_points(), Some(50.0));
        assert_eq!(summary.replay.confidence[7], 2);
    }

    #[test]
    fn a_corrected_case_that_would_go_out_unchecked_is_a_regression() {
        let rejected = Production {
            outcome: outcome(json!({ "note": "wrong" }), true),
            answer: Some(ReviewerAnswer::Rejected { reason_code: Some("wrong_customer".into()) }),
        };
        let unchecked = outcome(json!({ "note": "other" }), false);
        let c = compare(&rejected, &unchecked);
        assert!(c.path_changed);
        assert_eq!(c.production_agrees, None, "a rejection has no answer to agree with");
        assert_eq!(c.regressions, vec!["a case the reviewer corrected would no longer reach a person".to_owned()]);
        assert_eq!(c.draft_changes[0].path, "note");
        assert!(c.draft_changes[0].similarity.is_some());
    }

    #[test]
    fn the_gate_blocks_a_missing_stale_or_worse_replay_and_passes_a_good_one() {
        let gate = PublishGate { required: true, ..PublishGate::default() };
        assert!(matches!(gate.judge(3, None), GateVerdict::Blocked(_)));
        let mut summary = Summary {
            answered: 4,
            production: Side { agreement: Some(0.75), cost_per_run_micros: 1000, ..Side::default() },
            replay: Side { agreement: Some(0.72), cost_per_run_micros: 1100, ..Side::default() },
            ..Summary::default()
        };
        let recent = LatestReplay { age_days: 1.0, summary: summary.clone() };
        assert_eq!(gate.judge(3, Some(&recent)), GateVerdict::Passed);
        let stale = LatestReplay { age_days: 15.0, summary: summary.clone() };
        assert!(matches!(gate.judge(3, Some(&stale)), GateVerdict::Blocked(_)));
        summary.replay.agreement = Some(0.5);
        summary.replay.cost_per_run_micros = 1500;
        let GateVerdict::Blocked(reasons) = gate.judge(3, Some(&LatestReplay { age_days: 1.0, summary })) else {
            panic!("a worse replay passed");
        };
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("25.0 points"), "{reasons:?}");
        assert!(reasons[1].contains("50%"), "{reasons:?}");
        assert_eq!(PublishGate::default().judge(3, None), GateVerdict::NotRequired);
    }
}
