//! Data that crosses between server functions and the browser.

use engine::{Page, Role};
use serde::{Deserialize, Serialize};

/// What the workspace chrome needs: who is signed in, where, and which pages they may open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceView {
    pub business_name: String,
    pub slug: String,
    pub email: String,
    pub role: Role,
    pub pages: Vec<Page>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub joined: String,
    pub is_you: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingInvitationView {
    pub email: String,
    pub role: Role,
    pub expires: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembersView {
    pub members: Vec<MemberView>,
    pub invitations: Vec<PendingInvitationView>,
}

/// Settings → Slack: the connection (never its secrets) and who is who.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackView {
    /// The workspace's name; None: not connected.
    pub team: Option<String>,
    /// Who connected it and when.
    pub connected: String,
    /// What to paste as the Slack app's Interactivity Request URL.
    pub request_url: String,
    pub members: Vec<SlackMemberView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlackMemberView {
    pub email: String,
    pub role: String,
    /// Empty: not linked.
    pub slack_user_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationInfo {
    pub business_name: String,
    pub email: String,
    pub role: Role,
    pub has_account: bool,
}

/// Field errors from a form's server function; empty means it succeeded.
pub type FieldErrors = Vec<engine::FieldError>;

/// A workflow in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSummaryView {
    pub name: String,
    pub owner: Option<String>,
    pub live_version: Option<i32>,
    pub latest_version: i32,
    pub updated: String,
}

/// A problem in a contract, at its line and column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractIssueView {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    pub number: i32,
    pub note: String,
    pub author: String,
    pub created: String,
    pub requires_four_eyes: bool,
    /// Whether the viewer may approve it: it needs a second person, and they are one.
    pub can_approve: bool,
    pub approved_by: Option<String>,
    pub published_before: bool,
    pub live: bool,
    /// The latest replay of this version and what the publish gate says of it (versions not live yet).
    pub replay: Option<String>,
    /// The gate refuses this version: why.
    pub gate_blocked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub id: String,
    pub kind: String,
    pub output: Option<String>,
    pub details: Vec<String>,
}

/// The read-only form view of a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractView {
    pub workflow: String,
    pub version: String,
    pub trigger: String,
    pub steps: Vec<StepView>,
    pub approval: Vec<String>,
    pub fallback: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowDetailView {
    pub name: String,
    pub owner: Option<String>,
    pub backup_owner: Option<String>,
    pub escalation_contact: String,
    pub live_version: Option<i32>,
    pub versions: Vec<VersionView>,
    pub latest_yaml: String,
    pub latest_contract: Option<ContractView>,
    /// What the checker finds in the latest version against the business as
    /// it is now (a prompt or secret it names may have gone since it was saved).
    pub latest_issues: Vec<ContractIssueView>,
    /// Whether the viewer may save, approve and publish (engineers and owners).
    pub can_edit: bool,
    /// The business declared itself one person (Settings): four-eyes versions
    /// publish with the publisher's confirmation and reason.
    pub one_person: bool,
    pub is_owner: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRowView {
    /// "same", "removed" or "added".
    pub change: String,
    pub left: Option<(usize, String)>,
    pub right: Option<(usize, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeView {
    /// The event's place in the audit chain (0 where not shown).
    pub seq: i64,
    pub at: String,
    pub who: String,
    pub area: String,
    pub action: String,
    pub subject: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataContractSummaryView {
    pub name: String,
    pub object: String,
    pub fields: usize,
    pub source_of_truth: String,
    pub updated: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataContractDetailView {
    pub name: String,
    /// The contract as pretty JSON, for the editor.
    pub document: String,
    pub can_edit: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViolationView {
    pub field: String,
    pub rule: String,
    pub message: String,
}

/// What a pasted record did against a data contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RecordVerdict {
    Normalised(String),
    Broken(Vec<ViolationView>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptSummaryView {
    pub name: String,
    pub latest_version: i32,
    pub production: Option<i32>,
    pub staging: Option<i32>,
    pub updated: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptVersionView {
    pub number: i32,
    pub note: String,
    pub author: String,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptDetailView {
    pub name: String,
    /// The latest version as pretty JSON.
    pub document: String,
    pub versions: Vec<PromptVersionView>,
    pub production: Option<i32>,
    pub staging: Option<i32>,
    pub required_context_keys: Vec<String>,
    pub can_edit: bool,
}

/// A try-it run: the rendered prompt, the model's output and its checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TryItView {
    pub rendered: String,
    pub output: String,
    pub schema_errors: Vec<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryItemView {
    pub name: String,
    pub title: String,
    pub description: String,
    pub prompts: Vec<String>,
    pub data_contracts: Vec<String>,
    pub installed: bool,
    /// It emails outside the business or writes financial records: a second
    /// approver must approve each version before it goes live.
    pub needs_second_approver: bool,
}

/// What customers read on the hosted form: the owner's words, or the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormWordsView {
    pub business: String,
    pub heading: String,
    pub intro: String,
    pub thank_you: String,
    /// (field path, label made from its name, the owner's label or empty)
    pub fields: Vec<(String, String, String)>,
    pub default_heading: String,
    pub default_intro: String,
    pub default_thank_you: String,
}

/// The owner's first-run checklist; `None` from the server once it is done or dismissed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistView {
    pub steps: Vec<(engine::first_run::FirstRunStep, bool)>,
    pub first_workflow: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionCheck {
    pub ok: bool,
    /// Success or the provider's error, in words.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelView {
    pub id: String,
    pub provider: String,
    /// The provider as people know it ("OpenAI-compatible").
    pub provider_name: String,
    pub label: String,
    pub base_url: String,
    pub model: String,
    pub input_price: String,
    pub output_price: String,
    /// Whether a key is stored; the key itself is never sent back.
    pub has_key: bool,
    pub tiers: Vec<String>,
}

/// A workflow's ways in: its webhook, form and recent deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggersView {
    pub webhook_url: String,
    /// How senders prove themselves (`standard_webhooks`, `stripe`, …).
    pub scheme: String,
    /// What to set in the sending tool.
    pub instructions: String,
    /// The sending tool makes the secret: the page offers to paste it.
    pub paste_secret: bool,
    /// The secret goes in the address (`secret_path`): flagged as the weakest proof.
    pub weakest: bool,
    pub has_secret: bool,
    pub event: String,
    pub sample_body: String,
    pub form_url: Option<String>,
    pub form_snippet: Option<String>,
    /// The hosted form's words (for a form trigger with a data contract).
    pub form_words: Option<FormWordsView>,
    pub live: bool,
    /// The newest version, which the "publish to start" notice offers to publish.
    pub latest_version: i32,
    pub can_rotate: bool,
    /// Days refused records stay in the exceptions report.
    pub retention_days: i32,
    /// How many days run payloads (event, steps, drafts) are kept before the daily purge.
    pub data_retention_days: i32,
    pub can_set_retention: bool,
    pub deliveries: Vec<DeliveryView>,
    /// Every scheme a trigger can use: (name, in words).
    pub schemes: Vec<(String, String)>,
    /// The header (hmac_sha256, header_secret) or user name (basic_auth) the scheme uses now.
    pub signature_header: String,
    pub signature_username: String,
    /// The mapping presets Steward ships.
    pub presets: Vec<PresetChoiceView>,
    /// The preset the trigger names, if any.
    pub preset: Option<PresetInUseView>,
    /// The effective mapping: record field ← expression over the sender's payload.
    pub mapping: Vec<MappingRowView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetChoiceView {
    pub name: String,
    pub title: String,
    /// The scheme its vendor signs with (chosen with it).
    pub scheme: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresetInUseView {
    pub name: String,
    pub title: String,
    pub setup: String,
    pub documentation: String,
    pub data_contract: String,
    /// The business has no data contract of that name yet: mapped records go unchecked.
    pub contract_missing: bool,
    /// For tools whose webhook body is written by hand: the body to paste there.
    pub body_to_send: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingRowView {
    pub field: String,
    pub expression: String,
    /// Written on the trigger itself rather than taken from the preset.
    pub own: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub at: String,
    pub channel: String,
    pub outcome: String,
    pub status_code: i32,
    pub reason: String,
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummaryView {
    /// The record in words ("Dana Reyes, Harbor Dental"), when it is still kept.
    pub title: Option<String>,
    pub id: String,
    pub workflow: String,
    pub version: i32,
    pub status: String,
    pub created: String,
    pub duration: String,
    pub cost: String,
    pub needs_review: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStepView {
    pub index: i32,
    pub id: String,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub started: String,
    pub duration: String,
    pub input: String,
    pub output: String,
    pub error: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost: String,
    pub model: Option<String>,
    pub prompt_version: Option<i32>,
    pub cache_hit: bool,
    pub detail: String,
    /// Drafted by the built-in offline model, not a real one.
    pub offline: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewTaskView {
    pub id: String,
    pub step_index: i32,
    pub reason: String,
    pub detail: String,
    pub draft: Option<String>,
    /// The draft as labelled fields (label, value), masked like `draft`.
    pub draft_fields: Vec<(String, String)>,
    pub open: bool,
    pub decision: Option<String>,
    pub reason_code: Option<String>,
    pub comment: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub created: String,
    /// Why a person decides, a sentence per rule.
    pub why: Vec<String>,
    pub claimed_by: Option<String>,
    pub escalated_at: Option<String>,
    /// What an edit changed: (field, before, after).
    pub changes: Vec<(String, String, String)>,
    /// Where its Slack message is, when the workflow posts tasks to Slack.
    pub slack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetailView {
    pub id: String,
    pub workflow: String,
    pub version: i32,
    pub status: String,
    pub created: String,
    pub finished: Option<String>,
    pub duration: String,
    pub error: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost: String,
    pub executions: i32,
    pub pinned: String,
    pub source_channel: Option<String>,
    pub source_event: String,
    /// The source event as labelled fields (label, value), masked like `source_event`.
    pub event_fields: Vec<(String, String)>,
    pub steps: Vec<RunStepView>,
    pub tasks: Vec<ReviewTaskView>,
    pub can_retry: bool,
    pub can_decide: bool,
    pub reason_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceptionView {
    pub workflow: String,
    pub channel: String,
    pub received: String,
    pub expires: String,
    pub raw: String,
    pub violations: Vec<ViolationView>,
}

/// Spend on one day, by kind (in the order of `engine::cost::KINDS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostDayView {
    pub day: String,
    pub by_kind: [i64; 6],
    pub runs: i64,
    pub per_run: Option<i64>,
}

/// A workflow's monthly guardrail as the form shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetView {
    pub expected_runs: String,
    pub target_per_run: String,
    pub overage_pct: String,
    pub action: String,
    pub deviation_pct: String,
    pub batchable: bool,
    pub window_start: String,
    pub window_end: String,
    pub planned: i64,
    pub cap: i64,
}

/// A workflow's (or the business's) figures for the period, in micros.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowCostView {
    pub name: String,
    pub runs: i64,
    pub outcomes: i64,
    pub exceptions: i64,
    pub total: i64,
    pub per_run: Option<i64>,
    pub per_outcome: Option<i64>,
    pub per_exception: Option<i64>,
    pub by_kind: [i64; 6],
    pub per_run_by_kind: [Option<i64>; 6],
    pub month_spent: i64,
    pub held: i64,
    pub budget: Option<BudgetView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostAlertView {
    pub workflow: String,
    pub condition: String,
    pub message: String,
    pub opened: String,
    pub cleared: Option<String>,
}

/// The Costs page for a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReportView {
    pub from: String,
    pub to: String,
    pub days: Vec<CostDayView>,
    pub workflows: Vec<WorkflowCostView>,
    pub business: WorkflowCostView,
    /// Planned cost per run across budgeted workflows (weighted by expected runs).
    pub target_per_run: Option<i64>,
    pub cache_calls: i64,
    pub cache_hits: i64,
    pub cache_saved: i64,
    pub alerts: Vec<CostAlertView>,
    pub may_edit: bool,
    /// The business's currency: summaries to the cent, per-run figures with the digits they need.
    pub currency: engine::money::Currency,
}

/// Settings → cost rates, as typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostRatesView {
    pub orchestration_per_hour: String,
    pub queue_op: String,
    pub reviewer_hourly: String,
}

/// A headline figure of the monthly report, in words.
pub use engine::headline::Headline as HeadlineView;

/// A chart drawn on the server (the same SVG the email carries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartView {
    pub id: String,
    pub title: String,
    pub svg: String,
    pub legend: String,
    /// Nothing to draw yet (every figure empty or zero): the card says so instead.
    pub empty: bool,
}

/// A workflow's baseline, as typed, with its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineView {
    pub workflow: String,
    pub version: Option<i32>,
    pub summary: String,
    pub manual_minutes: String,
    pub error_rate: String,
    pub response_minutes: String,
    pub monthly_volume: String,
    pub hourly_cost: String,
    pub outcome: String,
    pub outcome_rate: String,
}

/// The Reports page for one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportView {
    pub month: String,
    pub month_label: String,
    /// The month is still running (figures so far, not a snapshot).
    pub live: bool,
    /// How the figures came to be ("Snapshot 1, computed … by …").
    pub provenance: String,
    /// Months to choose from: (YYYY-MM, label), newest first.
    pub months: Vec<(String, String)>,
    pub headlines: Vec<HeadlineView>,
    pub charts: Vec<ChartView>,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub revisions: Vec<String>,
    pub baselines: Vec<BaselineView>,
    pub may_edit_baselines: bool,
    pub may_recompute: bool,
    pub pdf_href: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    pub kind: String,
    pub workflow: String,
    pub what: String,
    pub at: String,
    pub resolved: bool,
    pub href: Option<String>,
}

/// A backlog candidate with its score and place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateView {
    pub id: String,
    pub rank: usize,
    pub name: String,
    pub monthly_volume: String,
    pub minutes_per_task: String,
    pub error_rate: String,
    pub revenue_impact: String,
    pub compliance_risk: String,
    pub score: String,
    pub success_metric: String,
    pub status: String,
    pub workflow: Option<String>,
}

/// The governance page for one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GovernanceView {
    pub month: String,
    pub month_label: String,
    pub months: Vec<(String, String)>,
    pub alerts: i64,
    pub failed_runs: i64,
    pub escalations: i64,
    pub incidents: Vec<IncidentView>,
    pub changes: Vec<ChangeView>,
    pub backlog: Vec<CandidateView>,
    /// Gallery templates a candidate can start from: (name, title).
    pub templates: Vec<(String, String)>,
    pub may_edit: bool,
}

/// How the work behind a business's runs stands: the workers (shared by
/// every business on this install) and this business's undelivered mail
/// and runs its job could not be handed over for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryHealthView {
    pub queues: Vec<QueueHealthView>,
    /// Emails written and not yet sent.
    pub mail_waiting: i64,
    /// How long the oldest of them has waited, in words ("3 min"), if any.
    pub mail_oldest: Option<String>,
    /// Emails given up in the last 7 days, with the last reason.
    pub mail_failed: i64,
    pub mail_failed_reason: Option<String>,
    /// Runs whose job could not be handed to a worker, with the last reason.
    pub runs_undelivered: i64,
    pub runs_undelivered_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueHealthView {
    /// runs, email or schedule.
    pub queue: String,
    pub consumers: i64,
    pub restarting: i64,
    /// "3 s ago", or None when no live consumer has taken a job.
    pub last_active: Option<String>,
    /// Jobs waiting, when Redis answered.
    pub waiting: Option<u64>,
    /// Why the queue is stalled, when it is.
    pub stalled: Option<String>,
}

/// An authenticator to set up: the QR code to scan, or the secret to type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolmentView {
    pub secret: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

/// The signed-in person's two-factor state, for their account page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoFactorView {
    pub email: String,
    pub enabled: bool,
    pub recovery_codes_left: i64,
    /// The business requires a second factor, so it cannot be turned off.
    pub required: bool,
}

/// What recomputing the audit chain found, in words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainCheckView {
    pub intact: bool,
    pub message: String,
}
