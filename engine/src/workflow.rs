//! Workflow contracts: the YAML a business writes, parsed and checked with
//! errors a person can act on, each at its line and column.
//!
//! Parse, don't validate: a contract is first read as written
//! (`WorkflowContract<Written>`, where a step's type or a fallback is any
//! text) so that every mistake can be reported at once at its place; the
//! checks then produce the typed contract (`WorkflowContract`, with
//! `StepKind`, `OnError`, … that the engine matches on exhaustively).

use crate::source_map::{Block, Position, SourceMap};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

pub const PRIORITIES: [&str; 3] = ["low", "normal", "high"];
/// Names that are pages of the workflow section, not workflows.
pub const RESERVED_NAMES: [&str; 3] = ["new", "gallery", "import"];

words! {
    /// What a step does (`type:` in the contract).
    pub enum StepKind {
        Function,
        ApiCall,
        Llm,
        Rules,
        Approval,
        Notify,
    }
}

words! {
    /// A built-in transform of a function step (`function:`; normalize when absent).
    pub enum StepFunction {
        Normalize,
        Map,
        Rename,
        Pick,
        Compute,
        ValueScore,
    }
}

words! {
    /// How a rules step's decision table decides: the first matching row, or every matching row in order.
    pub enum HitPolicy {
        First,
        Collect,
    }
}

words! {
    /// The model tier of an llm step: as written, or chosen per run by the routing rule (`auto`).
    pub enum ModelTier {
        Small,
        Premium,
        Auto,
    }
}

words! {
    /// What happens when a step fails for good (`fallback.on_error`).
    pub enum OnError {
        /// The run stops for a person with the error attached.
        AssignToHumanQueue,
        /// The run ends failed.
        Fail,
        /// The step's retries first, then a person.
        RetryThenHuman,
    }
}

words! {
    /// What closing a review task nobody decided in time does (`review.stale_action`).
    pub enum StaleAction {
        /// The run is cancelled and handed back to a person.
        Reject,
        /// The run ends failed.
        Fail,
    }
}

/// Where a contract holds a word from a closed set: the text as a person
/// wrote it (`Written`), or the word it names (`Checked`, the default).
pub trait Words: Debug + Clone + PartialEq + Default {
    type Word<T: WordType>: Debug + Clone + PartialEq + Serialize + for<'de> Deserialize<'de>;

    /// A word of the set as this form holds it.
    fn word<T: WordType>(word: T) -> Self::Word<T>;
}

/// The bounds every closed word set meets (see `words!`).
pub trait WordType: Debug + Clone + PartialEq + std::fmt::Display + Serialize + for<'de> Deserialize<'de> {}
impl<T: Debug + Clone + PartialEq + std::fmt::Display + Serialize + for<'de> Deserialize<'de>> WordType for T {}

/// A contract as typed: every word is text, so a wrong one can be reported where it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Written;
impl Words for Written {
    type Word<T: WordType> = String;

    fn word<T: WordType>(word: T) -> String {
        word.to_string()
    }
}

/// A checked contract: every word is one of its set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checked;
impl Words for Checked {
    type Word<T: WordType> = T;

    fn word<T: WordType>(word: T) -> T {
        word
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct WorkflowContract<W: Words = Checked> {
    pub workflow: String,
    #[serde(deserialize_with = "text_or_number")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub trigger: Trigger,
    pub steps: Vec<Step<W>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback<W>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewPolicy<W>>,
    /// low, normal (default) or high; model routing rules can read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
}

/// How long a person has to decide, and what happens when nobody does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct ReviewPolicy<W: Words = Checked> {
    /// Minutes before a task is escalated to the workflow's owners (default 240).
    #[serde(default = "default_sla")]
    pub sla_minutes: f64,
    /// Minutes before an undecided task is closed with `stale_action` (default 2880).
    #[serde(default = "default_max_age")]
    pub max_age_minutes: f64,
    /// `reject` (default): the run is cancelled and handed back to a person.
    #[serde(default = "default_stale_action::<W>")]
    pub stale_action: W::Word<StaleAction>,
    /// A Slack channel (`#name` or its id) where each task is also posted
    /// with Approve / Reject buttons, besides the reviewers' emails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
}

/// `#name` as Slack allows channel names, or a channel id (`C…`, `G…`).
fn is_slack_channel(channel: &str) -> bool {
    match channel.strip_prefix('#') {
        Some(name) => {
            (1..=80).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        }
        None => {
            (channel.starts_with('C') || channel.starts_with('G'))
                && (9..=21).contains(&channel.len())
                && channel.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        }
    }
}

fn default_sla() -> f64 {
    240.0
}
fn default_max_age() -> f64 {
    2880.0
}
fn default_stale_action<W: Words>() -> W::Word<StaleAction> {
    W::word(StaleAction::Reject)
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        Self {
            sla_minutes: default_sla(),
            max_age_minutes: default_max_age(),
            stale_action: StaleAction::Reject,
            slack_channel: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub source: String,
    pub event: String,
    /// The data contract events are checked against at the door. Without
    /// it, the contract named after the event's object (`lead.created` →
    /// `lead`) is used when the business has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_contract: Option<String>,
    /// How webhook senders prove who they are (default: Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<crate::sender_proof::Signature>,
    /// A mapping preset that turns a vendor's payload into the record (`crate::mapping`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Record field → expression over the payload, on top of the preset's rows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mapping: BTreeMap<String, String>,
}

impl Trigger {
    /// The proof rule its webhook senders follow.
    pub fn signature(&self) -> crate::sender_proof::Signature {
        self.signature.clone().unwrap_or_default()
    }

    /// The data contract that guards this trigger, if any is named or
    /// implied (by its preset, or by the event's object).
    pub fn contract_name(&self) -> Option<String> {
        self.data_contract
            .clone()
            .or_else(|| self.preset().map(|p| p.data_contract.clone()))
            .or_else(|| self.event.split('.').next().filter(|s| !s.is_empty()).map(str::to_owned))
    }

    /// The preset it names, when Steward has it.
    pub fn preset(&self) -> Option<&'static crate::mapping::Preset> {
        self.preset.as_deref().and_then(crate::mapping::preset)
    }

    /// What turns a payload into the record before the data contract checks it (empty: the payload is the record).
    pub fn mapping(&self) -> crate::mapping::Mapping {
        crate::mapping::Mapping::of(self.preset(), &self.mapping)
    }

    /// Whether events arrive from a web form (the workflow gets a hosted
    /// form): a source named as one (`website_form`, `contact-form`), not a
    /// vendor whose name holds the word (`typeform`) nor a mapped vendor payload.
    pub fn is_form(&self) -> bool {
        self.preset.is_none() && self.source.split(['_', '-', ' ']).any(|word| word == "form")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_seconds: Option<f64>,
}

/// One step. Fields beyond `id`, `type` and `output` belong to particular
/// step types; the validator says when one is missing or misplaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct Step<W: Words = Checked> {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: W::Word<StepKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    // function
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<W::Word<StepFunction>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_contract: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The context path a function reads (default: the trigger's record, `event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// map/rename: new name → path in the input.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mapping: BTreeMap<String, String>,
    /// pick: the paths to keep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    // api_call
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON body; text values are minijinja templates over the run context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deterministic: bool,
    /// Seconds a deterministic call's answer is reused (default one hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub writes_financial_records: bool,
    /// What one call costs (e.g. `0.002`), counted as enrichment unless the cache answered.
    #[serde(default, deserialize_with = "optional_text_or_number", skip_serializing_if = "Option::is_none")]
    pub price_per_call: Option<String>,
    // llm
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<W::Word<ModelTier>>,
    /// With `model: auto`: a CEL rule over the context, `input_size`, `value`
    /// and `priority` giving `'small'` or `'premium'` (or true for premium).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The tier to try when the primary model fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_model: Option<W::Word<ModelTier>>,
    /// The output field the approval policy reads as confidence (default `confidence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_field: Option<String>,
    /// The data contract's sensitive fields are masked before the prompt is
    /// rendered: the model provider never receives them (recorded on the step).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redact_sensitive: bool,
    // rules
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// `first` (default): the first matching row decides; `collect`: every matching row's output, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_policy: Option<W::Word<HitPolicy>>,
    /// The output when no row matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    // approval
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviewers: Vec<String>,
    // notify
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// A row of a rules step's decision table: the first whose CEL condition holds decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub when: String,
    pub then: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSection {
    #[serde(default)]
    pub required_when: Vec<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct Fallback<W: Words = Checked> {
    pub on_error: W::Word<OnError>,
}

/// When a person must approve, as the validator understood `required_when`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApprovalCondition {
    ConfidenceBelow(f64),
    FieldAbove { field: String, value: f64 },
    FieldBelow { field: String, value: f64 },
    Expression(String),
}

fn optional_text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text_or_number(d).map(Some)
}

fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match TextOrNumber::deserialize(d)? {
        TextOrNumber::Text(s) => s,
        TextOrNumber::Number(n) => n.to_string(),
    })
}

/// What a contract may refer to: the business's prompt templates, data
/// contracts and secrets, and the email domains that count as its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub prompts: BTreeSet<String>,
    pub data_contracts: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
    pub internal_domains: Vec<String>,
    /// The members' emails, lower case: the people an approval step may name.
    pub members: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IssueKind {
    Syntax,
    MissingField,
    InvalidValue,
    UnknownStepType,
    DuplicateStepId,
    DuplicateOutput,
    MissingPromptTemplate,
    MissingDataContract,
    MissingSecret,
    InvalidCel,
    ThresholdOutOfRange,
    UngatedExternalNotify,
    /// An approval step names a reviewer who is not a member of the business.
    OutsideReviewer,
}

/// One problem with a contract, at its place in the YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractIssue {
    pub kind: IssueKind,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

struct Issues<'a> {
    map: SourceMap<'a>,
    list: Vec<ContractIssue>,
}

impl Issues<'_> {
    fn push(&mut self, kind: IssueKind, at: Position, message: impl Into<String>) {
        self.list.push(ContractIssue { kind, line: at.line, column: at.column, message: message.into() });
    }
}

/// A word of a closed set read from what a person wrote.
fn word<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.parse().ok()
}

/// The words of a set, for "use one of: …".
fn names<T: Copy + Into<&'static str>>(all: &[T]) -> String {
    all.iter().map(|w| (*w).into()).collect::<Vec<&str>>().join(", ")
}

impl WorkflowContract {
    /// Parses and checks a contract. Every problem is reported at once.
    pub fn parse(source: &str, catalog: &Catalog) -> Result<WorkflowContract, Vec<ContractIssue>> {
        let written: WorkflowContract<Written> = serde_norway::from_str(source).map_err(|e| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
            vec![ContractIssue { kind: IssueKind::Syntax, line, column, message: syntax_message(&e.to_string()) }]
        })?;
        let mut issues = Issues { map: SourceMap::new(source), list: Vec::new() };
        written.check(catalog, &mut issues);
        if !issues.list.is_empty() {
            issues.list.sort_by_key(|i| (i.line, i.column));
            return Err(issues.list);
        }
        // Every word was checked above, so the written form reads as the typed one.
        serde_json::to_value(&written).and_then(serde_json::from_value).map_err(|e| {
            vec![ContractIssue { kind: IssueKind::InvalidValue, line: 1, column: 1, message: e.to_string() }]
        })
    }

    /// The contract's structure without the semantic checks, for showing a
    /// version that was validated when it was saved.
    pub fn structure(source: &str) -> Option<WorkflowContract> {
        serde_norway::from_str(source).ok()
    }

    /// The approval policy as conditions (the contract has been validated).
    pub fn approval_conditions(&self) -> Vec<ApprovalCondition> {
        self.approval.iter().flat_map(|a| a.required_when.iter()).filter_map(|e| condition_of(e).ok()).collect()
    }

    /// Whether publishing needs a second person's approval: the workflow
    /// emails outside the business or writes financial records.
    pub fn requires_four_eyes(&self, catalog: &Catalog) -> bool {
        self.steps.iter().any(|s| match s.kind {
            StepKind::Notify => s.to.iter().any(|r| is_external(r, catalog)),
            StepKind::ApiCall => s.writes_financial_records,
            StepKind::Function | StepKind::Llm | StepKind::Rules | StepKind::Approval => false,
        })
    }
}

impl WorkflowContract<Written> {
    /// The trigger's preset exists and fits its data contract; every mapping row reads.
    fn check_mapping(&self, trigger: Block, issues: &mut Issues<'_>) {
        let at =
            |issues: &Issues<'_>, key: &str| issues.map.value_of(trigger, key).unwrap_or(issues.map.start_of(trigger));
        if let Some(name) = &self.trigger.preset {
            match crate::mapping::preset(name) {
                None => {
                    let message =
                        format!("there is no mapping preset '{name}'; use one of: {}", crate::mapping::preset_names());
                    issues.push(IssueKind::InvalidValue, at(issues, "preset"), message);
                }
                Some(p) if self.trigger.data_contract.as_ref().is_some_and(|d| *d != p.data_contract) => {
                    let message = format!(
                        "the preset {name} makes {} records, and the trigger's data contract is {}",
                        p.data_contract,
                        self.trigger.data_contract.clone().unwrap_or_default()
                    );
                    issues.push(IssueKind::InvalidValue, at(issues, "preset"), message);
                }
                Some(_) => {}
            }
        }
        for (field, expression) in &self.trigger.mapping {
            let place = issues.map.text(trigger, &format!("{field}:")).unwrap_or(at(issues, "mapping"));
            if !crate::mapping::is_field_path(field) {
                issues.push(
                    IssueKind::InvalidValue,
                    place,
                    format!("mapping: '{field}' is not a record field (names joined by dots)"),
                );
            } else if let Err(e) = crate::mapping::check_expression(expression) {
                issues.push(IssueKind::InvalidValue, place, format!("mapping {field}: {e}"));
            }
        }
    }

    fn check(&self, catalog: &Catalog, issues: &mut Issues<'_>) {
        let whole = issues.map.whole();
        let top = |issues: &Issues<'_>, key: &str| issues.map.top_level(key).unwrap_or(whole);
        let name_ok = !self.workflow.is_empty()
            && self.workflow.len() <= 64
            && self.workflow.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok || RESERVED_NAMES.contains(&self.workflow.as_str()) {
            let at =
                issues.map.value_of(top(issues, "workflow"), "workflow").unwrap_or(Position { line: 1, column: 1 });
            let message = if name_ok {
                format!("'{}' is reserved; choose another workflow name", self.workflow)
            } else {
                "the workflow name uses up to 64 lowercase letters, digits, '-' and '_'".to_string()
            };
            issues.push(IssueKind::InvalidValue, at, message);
        }
        let trigger = top(issues, "trigger");
        for (value, key) in [(&self.trigger.source, "source"), (&self.trigger.event, "event")] {
            if value.trim().is_empty() {
                let at = issues.map.value_of(trigger, key).unwrap_or(issues.map.start_of(trigger));
                issues.push(IssueKind::MissingField, at, format!("the trigger needs a {key}"));
            }
        }
        if let Some(signature) = &self.trigger.signature {
            for (field, message) in signature.problems() {
                let at = issues.map.value_of(trigger, "signature").unwrap_or(issues.map.start_of(trigger));
                issues.push(IssueKind::InvalidValue, at, format!("signature {field}: {message}"));
            }
        }
        self.check_mapping(trigger, issues);
        let steps_block = top(issues, "steps");
        if self.steps.is_empty() {
            issues.push(
                IssueKind::MissingField,
                issues.map.start_of(steps_block),
                "a workflow needs at least one step",
            );
        }
        let items = issues.map.items(steps_block);
        let mut ids = BTreeSet::new();
        let mut outputs = BTreeSet::new();
        let mut gated = false;
        for (n, step) in self.steps.iter().enumerate() {
            let block = items.get(n).copied().unwrap_or(steps_block);
            let at =
                |issues: &Issues<'_>, key: &str| issues.map.value_of(block, key).unwrap_or(issues.map.start_of(block));
            if !ids.insert(step.id.as_str()) {
                let pos = at(issues, "id");
                issues.push(
                    IssueKind::DuplicateStepId,
                    pos,
                    format!("step id '{}' is used twice; ids must be unique", step.id),
                );
            }
            if let Some(output) = &step.output {
                if !outputs.insert(output.as_str()) {
                    let pos = at(issues, "output");
                    issues.push(IssueKind::DuplicateOutput, pos, format!("output '{output}' is written by two steps"));
                }
            }
            let kind = word::<StepKind>(&step.kind);
            if kind.is_none() {
                let pos = at(issues, "type");
                issues.push(
                    IssueKind::UnknownStepType,
                    pos,
                    format!("unknown step type '{}'; use one of: {}", step.kind, names(StepKind::ALL)),
                );
            }
            if let Some(when) = &step.when {
                if let Some(err) = crate::cel::parse_error(when) {
                    let pos = at(issues, "when");
                    issues.push(IssueKind::InvalidCel, pos, format!("the `when` condition does not parse: {err}"));
                }
            }
            if let Some(expr) = &step.expression {
                if let Some(err) = crate::cel::parse_error(expr) {
                    let pos = at(issues, "expression");
                    issues.push(IssueKind::InvalidCel, pos, format!("the expression does not parse: {err}"));
                }
            }
            for rule in &step.rules {
                if let Some(err) = crate::cel::parse_error(&rule.when) {
                    let pos = issues.map.text(block, &rule.when).unwrap_or(issues.map.start_of(block));
                    issues.push(IssueKind::InvalidCel, pos, format!("the rule condition does not parse: {err}"));
                }
            }
            if let Some(retry) = &step.retry {
                if !(1..=10).contains(&retry.max_attempts) {
                    let pos = at(issues, "max_attempts");
                    issues.push(IssueKind::ThresholdOutOfRange, pos, "retry.max_attempts must be between 1 and 10");
                }
                if retry.backoff_seconds.is_some_and(|b| !(0.0..=3600.0).contains(&b)) {
                    let pos = at(issues, "backoff_seconds");
                    issues.push(
                        IssueKind::ThresholdOutOfRange,
                        pos,
                        "retry.backoff_seconds must be between 0 and 3600",
                    );
                }
            }
            if step.timeout.is_some_and(|t| !(t > 0.0 && t <= 3600.0)) {
                let pos = at(issues, "timeout");
                issues.push(IssueKind::ThresholdOutOfRange, pos, "timeout is in seconds, more than 0 and at most 3600");
            }
            if let Some(contract) = &step.data_contract {
                if !catalog.data_contracts.contains(contract) {
                    let pos = at(issues, "data_contract");
                    issues.push(
                        IssueKind::MissingDataContract,
                        pos,
                        format!("there is no data contract named '{contract}'"),
                    );
                }
            }
            if let Some(secret) = &step.secret {
                if !catalog.secrets.contains(secret) {
                    let pos = at(issues, "secret");
                    issues.push(IssueKind::MissingSecret, pos, format!("there is no secret named '{secret}'"));
                }
            }
            match kind {
                Some(StepKind::Llm) => match &step.prompt_template {
                    None => {
                        let pos = issues.map.start_of(block);
                        issues.push(IssueKind::MissingField, pos, "an llm step needs a prompt_template");
                    }
                    Some(p) if !catalog.prompts.contains(p) => {
                        let pos = at(issues, "prompt_template");
                        issues.push(
                            IssueKind::MissingPromptTemplate,
                            pos,
                            format!("there is no prompt template named '{p}'"),
                        );
                    }
                    _ => {}
                },
                Some(StepKind::Approval) => {
                    gated = true;
                    // Review emails carry drafts and customer data: only the business's own people get them.
                    let outside: Vec<&str> =
                        step.reviewers.iter().map(String::as_str).filter(|r| !is_member_reviewer(r, catalog)).collect();
                    if !outside.is_empty() {
                        let pos = at(issues, "reviewers");
                        issues.push(
                            IssueKind::OutsideReviewer,
                            pos,
                            format!(
                                "reviewers must be members of the business (a role such as role:reviewer, or a member's email): {} is not; review emails carry drafts and customer data",
                                outside.join(", ")
                            ),
                        );
                    }
                }
                Some(StepKind::Notify) => {
                    if step.to.is_empty() {
                        let pos = issues.map.start_of(block);
                        issues.push(IssueKind::MissingField, pos, "a notify step needs recipients in `to`");
                    }
                    let external: Vec<&String> = step.to.iter().filter(|r| is_external(r, catalog)).collect();
                    if !external.is_empty() && !gated {
                        let pos = at(issues, "to");
                        issues.push(
                            IssueKind::UngatedExternalNotify,
                            pos,
                            format!(
                                "this step emails outside the business ({}) with no approval step before it; add an approval step earlier",
                                external.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                }
                Some(StepKind::Function | StepKind::ApiCall | StepKind::Rules) | None => {}
            }
            if let Some(function) = &step.function {
                let known = word::<StepFunction>(function);
                if known.is_none() {
                    let pos = at(issues, "function");
                    issues.push(
                        IssueKind::InvalidValue,
                        pos,
                        format!("function '{function}' is not one of: {}", names(StepFunction::ALL)),
                    );
                } else if known == Some(StepFunction::Compute) && step.expression.is_none() {
                    let pos = issues.map.start_of(block);
                    issues.push(IssueKind::MissingField, pos, "a compute function needs an `expression` (CEL)");
                }
            }
            if let Some(policy) = &step.hit_policy {
                if word::<HitPolicy>(policy).is_none() {
                    let pos = at(issues, "hit_policy");
                    issues.push(
                        IssueKind::InvalidValue,
                        pos,
                        format!("hit_policy '{policy}' is not one of: first, collect"),
                    );
                }
            }
            if let Some(model) = &step.fallback_model {
                if !matches!(word::<ModelTier>(model), Some(ModelTier::Small | ModelTier::Premium)) {
                    let pos = at(issues, "fallback_model");
                    issues.push(
                        IssueKind::InvalidValue,
                        pos,
                        format!("fallback_model tier '{model}' is not one of: small, premium"),
                    );
                }
            }
            if let Some(model) = &step.model {
                if word::<ModelTier>(model).is_none() {
                    let pos = at(issues, "model");
                    issues.push(
                        IssueKind::InvalidValue,
                        pos,
                        format!("model tier '{model}' is not one of: {}", names(ModelTier::ALL)),
                    );
                }
            }
            if let Some(rule) = &step.route {
                if step.model.as_deref().and_then(word) != Some(ModelTier::Auto) {
                    let pos = at(issues, "route");
                    issues.push(IssueKind::InvalidValue, pos, "a routing rule needs `model: auto` on the same step");
                } else if let Some(err) = crate::cel::parse_error(rule) {
                    let pos = at(issues, "route");
                    issues.push(IssueKind::InvalidCel, pos, format!("the routing rule does not parse: {err}"));
                }
            }
            if step.redact_sensitive && kind != Some(StepKind::Llm) {
                let pos = at(issues, "redact_sensitive");
                issues.push(IssueKind::InvalidValue, pos, "redact_sensitive belongs on an llm step");
            }
            if let Some(price) = &step.price_per_call {
                if crate::money::parse(price).is_none() {
                    let pos = at(issues, "price_per_call");
                    issues.push(
                        IssueKind::InvalidValue,
                        pos,
                        format!("price_per_call '{price}' must be an amount with at most six decimals, e.g. 0.002"),
                    );
                } else if kind != Some(StepKind::ApiCall) {
                    let pos = at(issues, "price_per_call");
                    issues.push(IssueKind::InvalidValue, pos, "price_per_call belongs on an api_call step");
                }
            }
        }
        if let Some(priority) = &self.priority {
            if !PRIORITIES.contains(&priority.as_str()) {
                let pos =
                    issues.map.value_of(top(issues, "priority"), "priority").unwrap_or(issues.map.start_of(whole));
                issues.push(
                    IssueKind::InvalidValue,
                    pos,
                    format!("priority '{priority}' is not one of: low, normal, high"),
                );
            }
        }
        if let Some(approval) = &self.approval {
            let block = top(issues, "approval");
            for entry in &approval.required_when {
                if let Err((key, message, kind)) = condition_of(entry) {
                    let pos = issues.map.value_of(block, &key).unwrap_or(issues.map.start_of(block));
                    issues.push(kind, pos, message);
                }
            }
        }
        if let Some(review) = &self.review {
            let block = top(issues, "review");
            if !(review.sla_minutes > 0.0 && review.max_age_minutes >= review.sla_minutes) {
                let pos = issues.map.value_of(block, "max_age_minutes").unwrap_or(issues.map.start_of(block));
                issues.push(
                    IssueKind::ThresholdOutOfRange,
                    pos,
                    "review.sla_minutes must be above 0 and max_age_minutes at least the SLA",
                );
            }
            if word::<StaleAction>(&review.stale_action).is_none() {
                let pos = issues.map.value_of(block, "stale_action").unwrap_or(issues.map.start_of(block));
                issues.push(
                    IssueKind::InvalidValue,
                    pos,
                    format!("review.stale_action '{}' is not one of: reject, fail", review.stale_action),
                );
            }
            if let Some(channel) = review.slack_channel.as_deref().filter(|c| !is_slack_channel(c)) {
                let pos = issues.map.value_of(block, "slack_channel").unwrap_or(issues.map.start_of(block));
                issues.push(
                    IssueKind::InvalidValue,
                    pos,
                    format!("review.slack_channel '{channel}' is not a Slack channel: write #name (lower case, no spaces) or the channel's id (C0123ABCD)"),
                );
            }
        }
        if let Some(fallback) = &self.fallback {
            if word::<OnError>(&fallback.on_error).is_none() {
                let pos =
                    issues.map.value_of(top(issues, "fallback"), "on_error").unwrap_or(issues.map.start_of(whole));
                issues.push(
                    IssueKind::InvalidValue,
                    pos,
                    format!("fallback.on_error '{}' is not one of: {}", fallback.on_error, names(OnError::ALL)),
                );
            }
        }
    }
}

/// A recipient is internal when it names a role (`role:reviewer`) or an
/// address in one of the business's own domains; anything else, including a
/// templated address such as `{{ customer.email }}`, is outside.
pub fn is_external(recipient: &str, catalog: &Catalog) -> bool {
    let r = recipient.trim().to_lowercase();
    if r.starts_with("role:") {
        return false;
    }
    match r.rsplit_once('@') {
        Some((_, domain)) if !r.contains("{{") => {
            !catalog.internal_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
        }
        _ => true,
    }
}

/// A reviewer an approval step may name: a role (`role:reviewer`) or a member's email.
pub fn is_member_reviewer(reviewer: &str, catalog: &Catalog) -> bool {
    let r = reviewer.trim().to_lowercase();
    match r.strip_prefix("role:") {
        Some(role) => crate::Role::parse(role.trim()).is_ok(),
        None => catalog.members.contains(&r),
    }
}

fn condition_of(entry: &BTreeMap<String, serde_json::Value>) -> Result<ApprovalCondition, (String, String, IssueKind)> {
    let mut keys = entry.iter();
    let (Some((key, value)), None) = (keys.next(), keys.next()) else {
        let key = entry.keys().next().cloned().unwrap_or_else(|| "required_when".into());
        return Err((key, "each required_when entry has exactly one condition".into(), IssueKind::InvalidValue));
    };
    let number =
        || value.as_f64().ok_or_else(|| (key.clone(), format!("{key} needs a number"), IssueKind::InvalidValue));
    if key == "confidence_below" {
        let v = number()?;
        if !(0.0..=1.0).contains(&v) {
            return Err((
                key.clone(),
                format!("confidence_below is a share between 0 and 1, not {v}"),
                IssueKind::ThresholdOutOfRange,
            ));
        }
        return Ok(ApprovalCondition::ConfidenceBelow(v));
    }
    if key == "expression" {
        let expr = value
            .as_str()
            .ok_or_else(|| (key.clone(), "expression needs a CEL condition as text".into(), IssueKind::InvalidValue))?;
        if let Some(err) = crate::cel::parse_error(expr) {
            return Err((key.clone(), format!("the approval expression does not parse: {err}"), IssueKind::InvalidCel));
        }
        return Ok(ApprovalCondition::Expression(expr.to_owned()));
    }
    if let Some(field) = key.strip_suffix("_above").filter(|f| !f.is_empty()) {
        return Ok(ApprovalCondition::FieldAbove { field: field.to_owned(), value: number()? });
    }
    if let Some(field) = key.strip_suffix("_below").filter(|f| !f.is_empty()) {
        return Ok(ApprovalCondition::FieldBelow { field: field.to_owned(), value: number()? });
    }
    Err((
        key.clone(),
        format!("unknown approval condition '{key}'; use confidence_below, <field>_above, <field>_below or expression"),
        IssueKind::InvalidValue,
    ))
}

/// serde's messages name Rust types; say it in the contract's words.
fn syntax_message(raw: &str) -> String {
    let msg = raw.split(" at line ").next().unwrap_or(raw);
    msg.replace("unknown field", "unknown key").replace("missing field", "missing key")
}

/// The block of step `n` (for editors that want to highlight a step).
pub fn step_block(source: &str, n: usize) -> Option<(usize, usize)> {
    let map = SourceMap::new(source);
    let Block { start, end } = *map.items(map.top_level("steps")?).get(n)?;
    Some((start + 1, end))
}

/// The contract's text with its trigger replaced and the rest as written
/// (comments included), for setting a trigger up from its page.
pub fn with_trigger(source: &str, trigger: &Trigger) -> Option<String> {
    let map = SourceMap::new(source);
    let Block { start, mut end } = map.top_level("trigger")?;
    let lines: Vec<&str> = source.lines().collect();
    // Comments and blank lines before the next key belong to it.
    while end > start + 1 && (lines[end - 1].trim().is_empty() || lines[end - 1].trim_start().starts_with('#')) {
        end -= 1;
    }
    let yaml = serde_norway::to_string(trigger).ok()?;
    let block = std::iter::once("trigger:".to_owned()).chain(yaml.lines().map(|l| format!("  {l}")));
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    out.extend(block);
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    Some(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosted_form_is_for_form_sources_not_vendors_named_like_one() {
        let trigger = |source: &str, preset: Option<&str>| Trigger {
            source: source.into(),
            event: "lead.created".into(),
            data_contract: None,
            signature: None,
            preset: preset.map(str::to_owned),
            mapping: BTreeMap::new(),
        };
        assert!(trigger("website_form", None).is_form());
        assert!(trigger("contact-form", None).is_form());
        assert!(!trigger("typeform", None).is_form());
        assert!(!trigger("website_form", Some("typeform-form-response")).is_form());
    }

    #[test]
    fn a_trigger_set_up_from_its_page_keeps_the_rest_as_written() {
        let source = "# lead intake\nworkflow: x\nversion: 1\ntrigger: { source: website_form, event: lead.created }\n\n# the steps\nsteps:\n  - { id: n, type: function, output: o }\n";
        let mut trigger = WorkflowContract::structure(source).unwrap().trigger;
        trigger.signature = Some(crate::sender_proof::Signature::of(crate::sender_proof::Scheme::Typeform));
        trigger.preset = Some("typeform-form-response".into());
        let changed = with_trigger(source, &trigger).unwrap();
        assert!(changed.starts_with("# lead intake\nworkflow: x\n"), "{changed}");
        assert!(changed.contains("\n# the steps\nsteps:\n  - { id: n, type: function, output: o }\n"), "{changed}");
        let read = WorkflowContract::structure(&changed).unwrap();
        assert_eq!(read.trigger, trigger);
        assert_eq!(read.trigger.contract_name().as_deref(), Some("lead"));
    }

    #[test]
    fn a_trigger_preset_and_mapping_are_checked_where_they_are_written() {
        let base = "workflow: x\nversion: 1\ntrigger:\n  source: stripe\n  event: invoice.payment_failed\n";
        let steps = "steps:\n  - { id: n, type: function, output: o }\n";
        let mut catalog = catalog();
        catalog.data_contracts.insert("invoice".into());
        let ok = format!("{base}  preset: stripe-invoice-payment-failed\n  mapping:\n    reminders_sent: '0'\n{steps}");
        let contract = WorkflowContract::parse(&ok, &catalog).unwrap();
        assert_eq!(contract.trigger.mapping().fields["reminders_sent"], "0");
        assert_eq!(contract.trigger.contract_name().as_deref(), Some("invoice"));
        let unknown = format!("{base}  preset: stripe-everything\n{steps}");
        let issues = WorkflowContract::parse(&unknown, &catalog).unwrap_err();
        assert!(issues[0].message.contains("no mapping preset 'stripe-everything'"), "{issues:?}");
        assert_eq!(issues[0].line, 6);
        let wrong = format!("{base}  data_contract: lead\n  preset: stripe-invoice-payment-failed\n{steps}");
        let issues = WorkflowContract::parse(&wrong, &catalog).unwrap_err();
        assert!(issues[0].message.contains("makes invoice records"), "{issues:?}");
        let broken = format!("{base}  mapping:\n    due_date: 'created |'\n    'a..b': x\n{steps}");
        let issues = WorkflowContract::parse(&broken, &catalog).unwrap_err();
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert!(issues.iter().any(|i| i.message.starts_with("mapping due_date:") && i.line == 7), "{issues:?}");
    }

    #[test]
    fn a_review_slack_channel_is_a_name_or_an_id_and_is_checked_where_written() {
        let base = "workflow: x\nversion: 1\ntrigger: { source: webhook, event: lead.created }\nsteps:\n  - { id: n, type: function, output: o }\n";
        let catalog = catalog();
        for ok in ["'#sales-reviews'", "C0123ABCDE", "'#ops.v2_queue'"] {
            let contract = WorkflowContract::parse(&format!("{base}review:\n  slack_channel: {ok}\n"), &catalog)
                .unwrap_or_else(|e| panic!("{ok}: {e:?}"));
            assert_eq!(contract.review.unwrap().slack_channel.as_deref(), Some(ok.trim_matches('\'')));
        }
        for bad in ["'#Sales Reviews'", "sales", "'#'", "c0123abcde"] {
            let issues =
                WorkflowContract::parse(&format!("{base}review:\n  slack_channel: {bad}\n"), &catalog).unwrap_err();
            assert!(issues[0].message.contains("is not a Slack channel"), "{bad}: {issues:?}");
            assert_eq!(issues[0].line, 7, "{bad}");
        }
    }

    /// The contract from ARCHITECTURE.md, exactly as written.
    pub const SEED: &str = "workflow: lead-intake-qualification
version: 1.3.0
trigger: { source: website_form, event: lead.created }
steps:
  - { id: normalize, type: function, output: normalized_lead }
  - { id: enrich,    type: api_call, output: company_context }
  - { id: summarize, type: llm, prompt_template: lead_summary_v4, output: qualification_summary }
  - { id: route,     type: rules, output: owner_assignment }
approval:
  required_when: [ { confidence_below: 0.78 }, { annual_contract_value_above: 50000 } ]
fallback: { on_error: assign_to_human_queue }
";

    fn catalog() -> Catalog {
        Catalog {
            prompts: ["lead_summary_v4".to_string()].into(),
            data_contracts: ["lead".to_string()].into(),
            secrets: ["clearbit_key".to_string()].into(),
            internal_domains: vec!["acme-plumbing.test".into()],
            members: ["reviewer@acme-plumbing.test".to_string()].into(),
        }
    }

    #[test]
    fn an_approval_step_names_only_roles_and_members_as_reviewers() {
        let base = "workflow: x\nversion: 1\ntrigger: { source: webhook, event: lead.created }\nsteps:\n";
        let ok = format!("{base}  - {{ id: check, type: approval, reviewers: ['role:operations', 'Reviewer@acme-plumbing.test'] }}\n");
        assert!(WorkflowContract::parse(&ok, &catalog()).is_ok());
        for outside in
            ["pat@gmail.example", "owner@acme-plumbing.test", "role:boss", "'{{ event.primaryContact.email }}'"]
        {
            let source = format!("{base}  - {{ id: check, type: approval, reviewers: [{outside}] }}\n");
            let i = only(&source, IssueKind::OutsideReviewer);
            assert!(i.message.contains("reviewers must be members of the business"), "{outside}: {}", i.message);
            assert_eq!(i.line, 5, "{outside}");
        }
    }

    fn issues(source: &str) -> Vec<ContractIssue> {
        WorkflowContract::parse(source, &catalog()).expect_err("the contract should be refused")
    }

    fn only(source: &str, kind: IssueKind) -> ContractIssue {
        let all = issues(source);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].kind, kind, "{all:?}");
        all[0].clone()
    }

    #[test]
    fn the_seed_contract_is_accepted_exactly_as_written() {
        let c = WorkflowContract::parse(SEED, &catalog()).unwrap();
        assert_eq!(c.workflow, "lead-intake-qualification");
        assert_eq!(c.version, "1.3.0");
        assert_eq!(c.steps.len(), 4);
        assert_eq!(c.steps[2].prompt_template.as_deref(), Some("lead_summary_v4"));
        assert_eq!(
            c.approval_conditions(),
            vec![
                ApprovalCondition::ConfidenceBelow(0.78),
                ApprovalCondition::FieldAbove { field: "annual_contract_value".into(), value: 50000.0 }
            ]
        );
        assert_eq!(c.fallback.unwrap().on_error, OnError::AssignToHumanQueue);
        assert!(!WorkflowContract::parse(SEED, &catalog()).unwrap().requires_four_eyes(&catalog()));
    }

    #[test]
    fn cost_fields_routing_rules_prices_and_priority_are_checked() {
        let src = SEED
            .replace(
                "type: llm, prompt_template",
                "type: llm, model: auto, route: \"value > 50000.0 ? 'premium' : 'small'\", prompt_template",
            )
            .replace("type: api_call, output", "type: api_call, price_per_call: 0.002, output")
            .replace("fallback:", "priority: high\nfallback:");
        let c = WorkflowContract::parse(&src, &catalog()).unwrap();
        assert_eq!(c.steps[1].price_per_call.as_deref(), Some("0.002"), "a YAML number keeps its decimal text");
        assert_eq!(c.steps[2].route.as_deref(), Some("value > 50000.0 ? 'premium' : 'small'"));
        assert_eq!(c.priority.as_deref(), Some("high"));
        let i = only(
            &SEED.replace("type: llm, prompt_template", "type: llm, route: 'true', prompt_template"),
            IssueKind::InvalidValue,
        );
        assert!(i.message.contains("model: auto"), "{}", i.message);
        let i = only(
            &SEED.replace("type: llm, prompt_template", "type: llm, model: auto, route: 'value >', prompt_template"),
            IssueKind::InvalidCel,
        );
        assert_eq!(i.line, 7);
        let i = only(
            &SEED.replace("type: api_call, output", "type: api_call, price_per_call: -3, output"),
            IssueKind::InvalidValue,
        );
        assert!(i.message.contains("price_per_call"), "{}", i.message);
        let i = only(&SEED.replace("fallback:", "priority: urgent\nfallback:"), IssueKind::InvalidValue);
        assert!(i.message.contains("low, normal, high"), "{}", i.message);
    }

    #[test]
    fn an_unknown_step_type_is_reported_at_its_value() {
        let i = only(&SEED.replace("type: rules", "type: rulez"), IssueKind::UnknownStepType);
        assert_eq!((i.line, i.column), (8, 28));
        assert!(i.message.contains("rulez") && i.message.contains("notify"));
    }

    #[test]
    fn a_duplicate_step_id_is_reported_at_the_second_one() {
        let i = only(&SEED.replace("id: route", "id: enrich"), IssueKind::DuplicateStepId);
        assert_eq!((i.line, i.column), (8, 11));
    }

    #[test]
    fn an_output_written_twice_is_reported() {
        let i = only(&SEED.replace("output: owner_assignment", "output: company_context"), IssueKind::DuplicateOutput);
        assert_eq!(i.line, 8);
    }

    #[test]
    fn missing_prompt_data_contract_and_secret_are_named() {
        let i = only(&SEED.replace("lead_summary_v4", "lead_summary_v9"), IssueKind::MissingPromptTemplate);
        assert_eq!((i.line, i.column), (7, 50));
        let src = SEED.replace(
            "type: function, output: normalized_lead",
            "type: function, data_contract: leed, output: normalized_lead",
        );
        assert_eq!(only(&src, IssueKind::MissingDataContract).line, 5);
        let src = SEED.replace("type: api_call, output", "type: api_call, secret: nope, output");
        assert_eq!(only(&src, IssueKind::MissingSecret).line, 6);
    }

    #[test]
    fn cel_that_does_not_parse_is_reported_where_it_is() {
        let src = SEED.replace("type: api_call, output", "type: api_call, when: 'lead.value >', output");
        let i = only(&src, IssueKind::InvalidCel);
        assert_eq!((i.line, i.column), (6, 44));
        let src = SEED.replace("{ annual_contract_value_above: 50000 }", "{ expression: 'a &&' }");
        assert_eq!(only(&src, IssueKind::InvalidCel).line, 10);
    }

    #[test]
    fn thresholds_out_of_range_are_refused() {
        let i = only(&SEED.replace("0.78", "1.7"), IssueKind::ThresholdOutOfRange);
        assert_eq!((i.line, i.column), (10, 40));
        let src = SEED.replace("type: api_call, output", "type: api_call, retry: { max_attempts: 50 }, output");
        assert_eq!(only(&src, IssueKind::ThresholdOutOfRange).line, 6);
        let src = SEED.replace("type: api_call, output", "type: api_call, timeout: 0, output");
        assert_eq!(only(&src, IssueKind::ThresholdOutOfRange).line, 6);
    }

    #[test]
    fn an_outside_notify_needs_an_approval_step_before_it() {
        let ungated = SEED.replace(
            "  - { id: route,     type: rules, output: owner_assignment }",
            "  - { id: route,     type: rules, output: owner_assignment }\n  - { id: tell, type: notify, to: ['{{ lead.email }}'] }",
        );
        let i = only(&ungated, IssueKind::UngatedExternalNotify);
        assert_eq!(i.line, 9);
        let internal = ungated.replace("'{{ lead.email }}'", "'role:reviewer', sales@acme-plumbing.test");
        assert!(WorkflowContract::parse(&internal, &catalog()).is_ok());
        let gated = ungated.replace("  - { id: tell", "  - { id: check, type: approval }\n  - { id: tell");
        let c = WorkflowContract::parse(&gated, &catalog()).unwrap();
        assert!(c.requires_four_eyes(&catalog()), "outside email needs a second person to publish");
    }

    #[test]
    fn financial_writes_need_four_eyes() {
        let src = SEED.replace("type: api_call, output", "type: api_call, writes_financial_records: true, output");
        assert!(WorkflowContract::parse(&src, &catalog()).unwrap().requires_four_eyes(&catalog()));
    }

    #[test]
    fn syntax_errors_and_unknown_keys_carry_their_position() {
        let i = only("workflow: x\nversion: 1\ntrigger: { source: a, event: b\nsteps: []\n", IssueKind::Syntax);
        assert!(i.line >= 3, "{i:?}");
        let i = only(&SEED.replace("output: normalized_lead", "outptu: normalized_lead"), IssueKind::Syntax);
        assert_eq!(i.line, 5);
        assert!(i.message.contains("unknown key `outptu`"), "{}", i.message);
    }

    #[test]
    fn an_unknown_fallback_and_approval_condition_are_refused() {
        assert_eq!(only(&SEED.replace("assign_to_human_queue", "shrug"), IssueKind::InvalidValue).line, 11);
        assert_eq!(only(&SEED.replace("confidence_below", "confidence_under"), IssueKind::InvalidValue).line, 10);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let src = SEED.replace("type: rules", "type: rulez").replace("0.78", "7.8").replace("lead_summary_v4", "nope");
        assert_eq!(issues(&src).len(), 3);
    }
}
