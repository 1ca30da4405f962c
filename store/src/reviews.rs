//! A person's decision on a review task: approve, edit and approve (the
//! edit checked against the draft's response schema), or reject. The
//! decision and the run's next state are one transaction; the caller then
//! wakes the run.

use crate::db::{decode, scalar, scalars, stmt};
use crate::ledger::{self, CostLine};
use crate::tenant::Tenant;
use crate::{audit, auth::CurrentMember, jobs::RunJob};
use engine::review::{Decision, ReviewReason, TaskStatus};
use engine::workflow::{StaleAction, StepKind, WorkflowContract};
use engine::{CostKind, FieldError, Role, RunStatus};
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("there is no such review task")]
    NotFound,
    #[error("{by} already decided this task ({decision}) at {at}")]
    AlreadyDecided { by: String, decision: Decision, at: DateTimeUtc },
    #[error("the decision has problems")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Refused(String),
    #[error("{by} is working on this task; ask them or operations to release it")]
    Claimed { by: String },
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Who reassigns and closes anyone's review tasks (and releases anyone's claim).
pub const SUPERVISORS: &[Role] = &[Role::Operations, Role::Owner];

/// Who may decide review tasks.
pub fn may_decide(role: Role) -> bool {
    matches!(role, Role::Reviewer | Role::Owner | Role::Operations)
}

/// Who decides: a signed-in member, a reviewer through an email link, or
/// Steward itself closing a task nobody decided in time.
#[derive(Debug, Clone)]
pub struct Actor {
    pub email: String,
    /// The member (for the change log); None for Steward itself.
    pub member: Option<CurrentMember>,
    /// May decide a task someone else claimed (closing stale tasks).
    pub overrides_claims: bool,
}

impl Actor {
    pub fn member(member: &CurrentMember) -> Self {
        Actor { email: member.email.clone(), member: Some(member.clone()), overrides_claims: false }
    }

    /// Steward itself, closing a task nobody decided in time.
    pub fn steward() -> Self {
        Actor { email: "steward (stale task)".into(), member: None, overrides_claims: true }
    }

    /// A person's decision costs their time; Steward's own does not.
    fn is_person(&self) -> bool {
        self.member.is_some()
    }
}

/// Records the decision and moves the run on. Returns the job that wakes
/// the run (None when the decision ended it).
pub async fn decide(
    db: &DatabaseConnection,
    member: &CurrentMember,
    task_id: Uuid,
    decision: &str,
    edited_output: &str,
    reason_code: &str,
    comment: &str,
) -> Result<Option<RunJob>, ReviewError> {
    if !may_decide(member.role) {
        return Err(ReviewError::Refused("Only reviewers, operations and owners decide review tasks.".into()));
    }
    decide_as(db, &member.tenant, &Actor::member(member), task_id, decision, edited_output, reason_code, comment).await
}

/// Who decided a task already, and how (for `AlreadyDecided`).
#[derive(Debug, FromQueryResult)]
struct DecidedBy {
    decided_by: Option<String>,
    decision: Option<Decision>,
    decided_at: Option<DateTimeUtc>,
}

impl DecidedBy {
    fn refusal(self) -> ReviewError {
        ReviewError::AlreadyDecided {
            by: self.decided_by.unwrap_or_default(),
            // A decided task has its decision (the table's CHECK); approve only fills the type.
            decision: self.decision.unwrap_or(Decision::Approve),
            at: self.decided_at.unwrap_or_default(),
        }
    }
}

/// The decision itself, for any actor (the caller checked who they are).
/// `decision` is the person's choice as its name; every problem with the
/// decision is reported at once.
#[allow(clippy::too_many_arguments)] // the decision's fields, as the person gave them
pub async fn decide_as(
    db: &DatabaseConnection,
    tenant: &Tenant,
    actor: &Actor,
    task_id: Uuid,
    decision: &str,
    edited_output: &str,
    reason_code: &str,
    comment: &str,
) -> Result<Option<RunJob>, ReviewError> {
    #[derive(FromQueryResult)]
    struct Row {
        run_id: Uuid,
        step_index: i32,
        reason: ReviewReason,
        output_name: Option<String>,
        status: TaskStatus,
        #[sea_orm(nested)]
        decided: DecidedBy,
        context: Value,
        pinned: Value,
        contract: Value,
        run_status: RunStatus,
        claimed_by: Option<String>,
        draft: Option<Value>,
        claimed_at: Option<DateTimeUtc>,
    }
    let mut errors = Vec::new();
    let chosen = decision.parse::<Decision>().ok();
    if chosen.is_none() {
        errors.push(FieldError::new("decision", "Choose approve, edit and approve, or reject."));
    }
    let codes = reason_codes(db, tenant).await?;
    let needs_reason = chosen != Some(Decision::Approve);
    if needs_reason && !codes.iter().any(|c| c == reason_code) {
        errors.push(FieldError::new("reason_code", format!("Choose a reason: {}.", codes.join(", "))));
    }
    let edited: Option<Value> = if chosen == Some(Decision::EditAndApprove) {
        match serde_json::from_str::<Value>(edited_output) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(FieldError::new("edited_output", format!("The edited output is not JSON: {e}")));
                None
            }
        }
    } else {
        None
    };
    let (Some(decision), true) = (chosen, errors.is_empty()) else {
        return Err(ReviewError::Invalid(errors));
    };
    let txn = tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(
        "SELECT t.run_id, t.step_index, t.reason, t.output_name, t.status, t.decided_by, t.decision, t.decided_at,
                r.context, r.pinned, v.contract, r.status AS run_status, t.claimed_by, t.draft, t.claimed_at
           FROM review_tasks t JOIN runs r ON r.id = t.run_id
           JOIN workflow_versions v ON v.workflow_id = r.workflow_id AND v.number = r.workflow_version
          WHERE t.id = $1 FOR UPDATE OF t, r",
        vec![task_id.into()],
    ))
    .one(&txn)
    .await?
    .ok_or(ReviewError::NotFound)?;
    let (run_id, step_index, reason, output_name) = (row.run_id, row.step_index, row.reason, row.output_name);
    match row.status {
        TaskStatus::Decided => return Err(row.decided.refusal()),
        TaskStatus::Open => {}
    }
    let mut context = row.context;
    let pinned = row.pinned;
    let contract: WorkflowContract = decode("the contract of the task's run", row.contract)?;
    if row.run_status != RunStatus::WaitingForReview {
        return Err(ReviewError::Refused("This run is no longer waiting for a decision.".into()));
    }
    if let Some(holder) = row.claimed_by.filter(|h| *h != actor.email && !actor.overrides_claims) {
        return Err(ReviewError::Claimed { by: holder });
    }
    // The reviewer edited a masked copy: hidden fields keep their values.
    let draft = row.draft;
    let edited = edited.map(|e| match &draft {
        Some(d) => engine::run::unmask(&e, d),
        None => e,
    });
    // An edit must still meet the response schema of the prompt that drafted it.
    if let Some(edited) = &edited {
        if let Some(template) =
            crate::readable::drafting_prompt_in(&txn, &contract, &pinned, output_name.as_deref()).await?
        {
            if let Err(problems) = template.check_output(edited) {
                let errors = problems.into_iter().map(|p| FieldError::new("edited_output", p)).collect();
                return Err(ReviewError::Invalid(errors));
            }
        }
    }
    // The override is kept with what it changed in the draft.
    let changes =
        edited.as_ref().map(|e| json!(engine::review::draft_changes(draft.as_ref().unwrap_or(&Value::Null), e)));
    txn.execute_raw(stmt(
        "UPDATE review_tasks SET status = 'decided', decision = $2, edited_output = $3, reason_code = $4, comment = $5,
                decided_by = $6, decided_at = now(), claimed_by = coalesce(claimed_by, $6), claimed_at = coalesce(claimed_at, now()),
                edit_changes = $7
          WHERE id = $1",
        vec![
            task_id.into(),
            decision.into(),
            edited.clone().into(),
            (!reason_code.is_empty()).then(|| reason_code.to_owned()).into(),
            (!comment.trim().is_empty()).then(|| comment.trim().to_owned()).into(),
            actor.email.clone().into(),
            changes.into(),
        ],
    ))
    .await?;
    // A person's time is a cost of the run: claim to decision at the reviewer hourly rate.
    if actor.is_person() {
        let seconds = engine::cost::review_seconds(row.claimed_at, chrono::Utc::now());
        let rate = crate::costs::rates_in(&txn).await?.reviewer_hourly;
        let amount = engine::cost::review(seconds, rate);
        let line = CostLine::new(CostKind::Review, Some(step_index), amount, seconds, actor.email.clone());
        ledger::add_lines(&txn, run_id, &[line]).await?;
    }
    let wake = match decision {
        Decision::Reject => {
            let why = format!("rejected by {} ({reason_code})", actor.email);
            txn.execute_raw(stmt(
                "UPDATE runs SET status = 'cancelled', error = $2, finished_at = now(), updated_at = now() WHERE id = $1",
                vec![run_id.into(), why.into()],
            ))
            .await?;
            None
        }
        Decision::Approve | Decision::EditAndApprove => {
            if let (Some(edited), Some(name)) = (&edited, &output_name) {
                if let Some(map) = context.as_object_mut() {
                    map.insert(name.clone(), edited.clone());
                }
            }
            let gate_after_draft = contract.steps.get(step_index as usize).is_some_and(|s| s.kind == StepKind::Llm);
            let next_step = match reason {
                // The approval step itself is done once a person approves.
                ReviewReason::ApprovalStep => {
                    let step = contract.steps.get(step_index as usize);
                    let output = json!({ "approved_by": actor.email, "decision": decision });
                    if let (Some(name), Some(map)) = (step.and_then(|s| s.output.clone()), context.as_object_mut()) {
                        map.insert(name, output.clone());
                    }
                    txn.execute_raw(stmt(
                        "UPDATE run_steps SET status = 'completed', finished_at = now(), output = $3 WHERE run_id = $1 AND step_index = $2",
                        vec![run_id.into(), step_index.into(), output.into()],
                    ))
                    .await?;
                    step_index + 1
                }
                // A person supplied the failed step's output: continue after it.
                ReviewReason::Error if edited.is_some() => step_index + 1,
                // A gate after a model step: the draft is done, go on.
                _ if gate_after_draft => step_index + 1,
                // A gate before a step (an outside message, a financial write): the step runs now.
                ReviewReason::Error
                | ReviewReason::LowConfidence
                | ReviewReason::HighValue
                | ReviewReason::Policy
                | ReviewReason::ExternalMessage => step_index,
            };
            txn.execute_raw(stmt(
                "UPDATE runs SET status = 'queued', context = $2, next_step = $3, cleared_step = $4, updated_at = now() WHERE id = $1",
                vec![run_id.into(), context.into(), next_step.into(), step_index.into()],
            ))
            .await?;
            Some(RunJob::new(tenant, run_id))
        }
    };
    audit::record_change(
        &txn,
        actor.member.as_ref(),
        "review",
        &format!("review.{decision}"),
        &run_id.to_string(),
        &format!(
            "{decision} ({reason}){}",
            if reason_code.is_empty() { String::new() } else { format!(", reason {reason_code}") }
        ),
        json!({ "task": task_id, "run": run_id, "reason_code": reason_code, "comment": comment }),
    )
    .await?;
    txn.commit().await?;
    Ok(wake)
}

// ---- reason codes ----

/// The business's reason codes for edits and rejections.
pub async fn reason_codes(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<String>, DbErr> {
    let txn = tenant.begin(db).await?;
    let codes = scalars(&txn, stmt("SELECT code AS value FROM review_reason_codes ORDER BY code", vec![])).await?;
    txn.commit().await?;
    Ok(codes)
}

/// Adds a reason code (owners, from Settings).
pub async fn add_reason_code(db: &DatabaseConnection, member: &CurrentMember, code: &str) -> Result<(), ReviewError> {
    let code = code.trim().to_lowercase();
    let ok = code.len() >= 2
        && code.len() <= 40
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(ReviewError::Invalid(vec![FieldError::new(
            "code",
            "Use 2–40 lowercase letters, digits and '_', starting with a letter (e.g. wrong_price).",
        )]));
    }
    let txn = member.tenant.begin(db).await?;
    let added = txn
        .execute_raw(stmt(
            "INSERT INTO review_reason_codes (code) VALUES ($1) ON CONFLICT DO NOTHING",
            vec![code.clone().into()],
        ))
        .await?;
    if added.rows_affected() == 0 {
        return Err(ReviewError::Invalid(vec![FieldError::new("code", "This reason code exists already.")]));
    }
    audit::record_change(&txn, Some(member), "review", "review.reason_code_added", &code, "new reason code", json!({}))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Removes a reason code; decisions already made keep theirs.
pub async fn remove_reason_code(
    db: &DatabaseConnection,
    member: &CurrentMember,
    code: &str,
) -> Result<(), ReviewError> {
    let txn = member.tenant.begin(db).await?;
    let left: i64 = scalar(&txn, stmt("SELECT count(*) AS value FROM review_reason_codes", vec![])).await?.unwrap_or(0);
    if left <= 1 {
        return Err(ReviewError::Refused("Keep at least one reason code.".into()));
    }
    let removed = txn.execute_raw(stmt("DELETE FROM review_reason_codes WHERE code = $1", vec![code.into()])).await?;
    if removed.rows_affected() == 0 {
        return Err(ReviewError::NotFound);
    }
    audit::record_change(
        &txn,
        Some(member),
        "review",
        "review.reason_code_removed",
        code,
        "reason code removed",
        json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

// ---- the queue ----

/// An open task as the queue sorts it: only the columns priority needs,
/// so that the whole open queue is cheap to read.
#[derive(Debug, Clone, FromQueryResult)]
pub struct QueueRow {
    pub id: Uuid,
    pub run_id: Uuid,
    pub workflow_name: String,
    pub reason: ReviewReason,
    pub claimed_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub escalated_at: Option<DateTimeUtc>,
    pub sla_minutes: f64,
    pub value: Option<f64>,
    pub age_minutes: f64,
}

impl QueueRow {
    pub fn priority(&self) -> engine::review::Priority {
        engine::review::priority(
            self.reason,
            self.age_minutes,
            self.sla_minutes,
            self.value,
            self.escalated_at.is_some(),
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub priority: Option<String>,
    pub workflow: Option<String>,
    pub reason: Option<String>,
    /// An email, or "none" for unclaimed tasks.
    pub assignee: Option<String>,
    pub min_age_minutes: Option<f64>,
    /// "priority" (default), "age", "workflow".
    pub sort: String,
}

impl QueueFilter {
    fn keeps(&self, row: &QueueRow) -> bool {
        self.priority.as_deref().is_none_or(|p| row.priority().as_str() == p)
            && self.workflow.as_deref().is_none_or(|w| row.workflow_name == w)
            && self.reason.as_deref().is_none_or(|r| row.reason.as_str() == r)
            && match self.assignee.as_deref() {
                None => true,
                Some("none") => row.claimed_by.is_none(),
                Some(who) => row.claimed_by.as_deref() == Some(who),
            }
            && self.min_age_minutes.is_none_or(|m| row.age_minutes >= m)
    }

    fn sort(&self, rows: &mut [QueueRow]) {
        let oldest_first = |a: &QueueRow, b: &QueueRow| b.age_minutes.total_cmp(&a.age_minutes);
        match self.sort.as_str() {
            "age" => rows.sort_by(oldest_first),
            "workflow" => rows.sort_by(|a, b| a.workflow_name.cmp(&b.workflow_name).then(oldest_first(a, b))),
            _ => rows.sort_by(|a, b| a.priority().cmp(&b.priority()).then(oldest_first(a, b))),
        }
    }
}

/// The figures above the queue, over every open task.
#[derive(Debug, Clone, Default)]
pub struct QueueFigures {
    pub open: usize,
    pub claimed_by_me: usize,
    /// Open three quarters of their SLA or longer.
    pub near_sla: usize,
    pub escalated: usize,
    pub oldest_minutes: Option<f64>,
    /// Open tasks per assignee ("unclaimed" for nobody's).
    pub per_assignee: Vec<(String, usize)>,
}

/// A page of the queue: the most urgent tasks that pass the filter (with
/// why they wait), how many passed, and the figures.
#[derive(Debug, Clone)]
pub struct QueuePage {
    pub tasks: Vec<(QueueRow, Value)>,
    pub matching: usize,
    pub figures: QueueFigures,
}

async fn open_rows(txn: &sea_orm::DatabaseTransaction) -> Result<Vec<QueueRow>, DbErr> {
    QueueRow::find_by_statement(stmt(
        "SELECT id, run_id, workflow_name, reason, claimed_by, created_at, escalated_at, sla_minutes, value,
                (extract(epoch FROM now() - created_at) / 60)::float8 AS age_minutes
           FROM review_tasks WHERE status = 'open'",
        vec![],
    ))
    .all(txn)
    .await
}

/// The queue as `me` sees it, filtered and sorted (most urgent first), at most `limit` tasks.
pub async fn queue(
    db: &DatabaseConnection,
    tenant: &Tenant,
    me: &str,
    filter: &QueueFilter,
    limit: usize,
) -> Result<QueuePage, DbErr> {
    #[derive(FromQueryResult)]
    struct Detail {
        id: Uuid,
        detail: Value,
    }
    let txn = tenant.begin(db).await?;
    let all = open_rows(&txn).await?;
    let mut per_assignee: std::collections::BTreeMap<String, usize> = Default::default();
    for t in &all {
        *per_assignee.entry(t.claimed_by.clone().unwrap_or_else(|| "unclaimed".into())).or_default() += 1;
    }
    let figures = QueueFigures {
        open: all.len(),
        claimed_by_me: all.iter().filter(|t| t.claimed_by.as_deref() == Some(me)).count(),
        near_sla: all.iter().filter(|t| t.age_minutes >= t.sla_minutes * 0.75).count(),
        escalated: all.iter().filter(|t| t.escalated_at.is_some()).count(),
        oldest_minutes: all.iter().map(|t| t.age_minutes).reduce(f64::max),
        per_assignee: per_assignee.into_iter().collect(),
    };
    let mut rows: Vec<QueueRow> = all.into_iter().filter(|r| filter.keeps(r)).collect();
    filter.sort(&mut rows);
    let matching = rows.len();
    rows.truncate(limit);
    // Why each shown task waits: read only for the page.
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut details: std::collections::HashMap<Uuid, Value> =
        Detail::find_by_statement(stmt("SELECT id, detail FROM review_tasks WHERE id = ANY($1)", vec![ids.into()]))
            .all(&txn)
            .await?
            .into_iter()
            .map(|d| (d.id, d.detail))
            .collect();
    txn.commit().await?;
    let tasks = rows
        .into_iter()
        .map(|r| {
            let d = details.remove(&r.id).unwrap_or_default();
            (r, d)
        })
        .collect();
    Ok(QueuePage { tasks, matching, figures })
}

/// The open task after `task_id` in the default order (for "next"), and `task_id`'s own row.
pub async fn neighbours(
    db: &DatabaseConnection,
    tenant: &Tenant,
    task_id: Uuid,
) -> Result<(Option<QueueRow>, Option<Uuid>), DbErr> {
    let txn = tenant.begin(db).await?;
    let mut rows = open_rows(&txn).await?;
    txn.commit().await?;
    QueueFilter::default().sort(&mut rows);
    let here = rows.iter().position(|t| t.id == task_id);
    let next = match here {
        Some(h) => rows.get(h + 1).or_else(|| rows.first().filter(|t| t.id != task_id)),
        None => rows.first(),
    }
    .map(|t| t.id);
    Ok((here.map(|h| rows.swap_remove(h)), next))
}

/// Queue size and oldest age at the end of each of the last `days` days
/// (today so far last): the tasks open in that window are read, the days
/// counted by `engine::review::queue_by_day`.
pub async fn history(
    db: &DatabaseConnection,
    tenant: &Tenant,
    days: u32,
) -> Result<Vec<engine::review::QueueDay>, DbErr> {
    #[derive(FromQueryResult)]
    struct Span {
        created_at: DateTimeUtc,
        decided_at: Option<DateTimeUtc>,
    }
    let txn = tenant.begin(db).await?;
    let spans = Span::find_by_statement(stmt(
        "SELECT created_at, decided_at FROM review_tasks
          WHERE status = 'open' OR decided_at >= current_date - $1::int",
        vec![(days as i32).into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    let spans: Vec<(DateTimeUtc, Option<DateTimeUtc>)> =
        spans.into_iter().map(|s| (s.created_at, s.decided_at)).collect();
    Ok(engine::review::queue_by_day(&spans, chrono::Utc::now(), days))
}

/// The open tasks `member` could decide now: none for a role that does not
/// decide; else every open task nobody else has claimed.
pub async fn waiting_for(db: &DatabaseConnection, member: &CurrentMember) -> Result<i64, DbErr> {
    if !may_decide(member.role) {
        return Ok(0);
    }
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    let txn = member.tenant.begin(db).await?;
    let count = Count::find_by_statement(stmt(
        "SELECT count(*) AS n FROM review_tasks WHERE status = 'open' AND (claimed_by IS NULL OR claimed_by = $1)",
        vec![member.email.clone().into()],
    ))
    .one(&txn)
    .await?
    .map(|c| c.n)
    .unwrap_or(0);
    txn.commit().await?;
    Ok(count)
}

/// Takes a task so nobody else works it. A task someone else holds is refused with who.
pub async fn claim(db: &DatabaseConnection, member: &CurrentMember, task_id: Uuid) -> Result<(), ReviewError> {
    #[derive(FromQueryResult)]
    struct Row {
        status: TaskStatus,
        claimed_by: Option<String>,
        #[sea_orm(nested)]
        decided: DecidedBy,
    }
    if !may_decide(member.role) {
        return Err(ReviewError::Refused("Only reviewers, operations and owners work review tasks.".into()));
    }
    let txn = member.tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(
        "SELECT status, claimed_by, decided_by, decision, decided_at FROM review_tasks WHERE id = $1 FOR UPDATE",
        vec![task_id.into()],
    ))
    .one(&txn)
    .await?
    .ok_or(ReviewError::NotFound)?;
    match row.status {
        TaskStatus::Decided => return Err(row.decided.refusal()),
        TaskStatus::Open => {}
    }
    if let Some(holder) = row.claimed_by.filter(|h| *h != member.email) {
        return Err(ReviewError::Claimed { by: holder });
    }
    txn.execute_raw(stmt(
        "UPDATE review_tasks SET claimed_by = $2, claimed_at = now() WHERE id = $1",
        vec![task_id.into(), member.email.clone().into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Gives a task back to the queue: its holder, or operations and owners for anyone's.
pub async fn release(db: &DatabaseConnection, member: &CurrentMember, task_id: Uuid) -> Result<(), ReviewError> {
    #[derive(FromQueryResult)]
    struct Row {
        claimed_by: Option<String>,
    }
    let txn = member.tenant.begin(db).await?;
    let holder = Row::find_by_statement(stmt(
        "SELECT claimed_by FROM review_tasks WHERE id = $1 AND status = 'open' FOR UPDATE",
        vec![task_id.into()],
    ))
    .one(&txn)
    .await?
    .ok_or(ReviewError::NotFound)?
    .claimed_by;
    let supervisor = SUPERVISORS.contains(&member.role);
    if holder.as_deref().is_some_and(|h| h != member.email) && !supervisor {
        return Err(ReviewError::Claimed { by: holder.unwrap_or_default() });
    }
    txn.execute_raw(stmt(
        "UPDATE review_tasks SET claimed_by = NULL, claimed_at = NULL WHERE id = $1",
        vec![task_id.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Operations hands tasks to a reviewer (who must be able to decide them).
pub async fn reassign(
    db: &DatabaseConnection,
    member: &CurrentMember,
    task_ids: &[Uuid],
    to: &str,
) -> Result<usize, ReviewError> {
    if !SUPERVISORS.contains(&member.role) {
        return Err(ReviewError::Refused("Only operations and owners reassign tasks.".into()));
    }
    let target =
        crate::auth::member_by_email(db, &member.tenant_slug, to.trim()).await.ok().filter(|m| may_decide(m.role));
    let Some(target) = target else {
        return Err(ReviewError::Invalid(vec![FieldError::new(
            "assignee",
            "Choose a reviewer, operator or owner of this business.",
        )]));
    };
    let txn = member.tenant.begin(db).await?;
    let moved = txn
        .execute_raw(stmt(
            "UPDATE review_tasks SET claimed_by = $2, claimed_at = now() WHERE id = ANY($1) AND status = 'open'",
            vec![task_ids.to_vec().into(), target.email.clone().into()],
        ))
        .await?
        .rows_affected() as usize;
    audit::record_change(
        &txn,
        Some(member),
        "review",
        "review.reassigned",
        &target.email,
        &format!("{moved} task(s) reassigned"),
        json!({ "tasks": task_ids }),
    )
    .await?;
    txn.commit().await?;
    Ok(moved)
}

/// Operations closes tasks nobody will decide: each is rejected with the
/// reason (the workflow's fallback hands the case back to a person).
pub async fn close(
    db: &DatabaseConnection,
    member: &CurrentMember,
    task_ids: &[Uuid],
    reason_code: &str,
    comment: &str,
) -> Result<Vec<RunJob>, ReviewError> {
    if !SUPERVISORS.contains(&member.role) {
        return Err(ReviewError::Refused("Only operations and owners close tasks in bulk.".into()));
    }
    let actor = Actor { email: member.email.clone(), member: Some(member.clone()), overrides_claims: true };
    let mut wakes = Vec::new();
    for id in task_ids {
        let reject = Decision::Reject.as_str();
        match decide_as(db, &member.tenant, &actor, *id, reject, "", reason_code, comment).await {
            Ok(wake) => wakes.extend(wake),
            Err(ReviewError::AlreadyDecided { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(wakes)
}

// ---- measures ----

/// Agreement per workflow and per reviewer (and overall, under "all").
#[derive(Debug, Clone, Default)]
pub struct Measures {
    pub overall: engine::review::Agreement,
    pub by_workflow: Vec<(String, engine::review::Agreement)>,
    pub by_reviewer: Vec<(String, engine::review::Agreement)>,
}

pub async fn measures(db: &DatabaseConnection, tenant: &Tenant, since_days: i32) -> Result<Measures, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        workflow_name: String,
        decided_by: String,
        decision: Decision,
        reason_code: Option<String>,
        minutes_to_decision: f64,
        escalated: bool,
    }
    let txn = tenant.begin(db).await?;
    let rows = Row::find_by_statement(stmt(
        "SELECT workflow_name, coalesce(decided_by, '') AS decided_by, decision, reason_code,
                (extract(epoch FROM decided_at - created_at) / 60)::float8 AS minutes_to_decision,
                escalated_at IS NOT NULL AS escalated
           FROM review_tasks
          WHERE status = 'decided' AND decision IS NOT NULL AND decided_at > now() - make_interval(days => $1)",
        vec![since_days.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    let mut all = Vec::new();
    let mut by_workflow: std::collections::BTreeMap<String, Vec<engine::review::Decided>> = Default::default();
    let mut by_reviewer: std::collections::BTreeMap<String, Vec<engine::review::Decided>> = Default::default();
    for r in rows {
        let d = engine::review::Decided {
            decision: r.decision,
            reason_code: r.reason_code,
            minutes_to_decision: r.minutes_to_decision,
            escalated: r.escalated,
        };
        by_workflow.entry(r.workflow_name).or_default().push(d.clone());
        by_reviewer.entry(r.decided_by).or_default().push(d.clone());
        all.push(d);
    }
    Ok(Measures {
        overall: engine::review::agreement(&all),
        by_workflow: by_workflow.into_iter().map(|(k, v)| (k, engine::review::agreement(&v))).collect(),
        by_reviewer: by_reviewer.into_iter().map(|(k, v)| (k, engine::review::agreement(&v))).collect(),
    })
}

// ---- nothing left to rot ----

/// An open task past its SLA and not yet escalated, with whom to tell.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Overdue {
    pub task_id: Uuid,
    pub run_id: Uuid,
    pub workflow: String,
    pub reason: ReviewReason,
    pub age_minutes: f64,
    pub notify: Vec<String>,
}

/// Marks tasks past their SLA as escalated and returns them (with the
/// workflow's owner and backup owner to email), in one transaction.
pub async fn escalate_overdue(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<Overdue>, DbErr> {
    let txn = tenant.begin(db).await?;
    let overdue = Overdue::find_by_statement(stmt(
        "UPDATE review_tasks t SET escalated_at = now()
          WHERE t.status = 'open' AND t.escalated_at IS NULL AND t.created_at < now() - make_interval(secs => t.sla_minutes * 60)
      RETURNING t.id AS task_id, t.run_id, t.workflow_name AS workflow, t.reason,
                (extract(epoch FROM now() - t.created_at) / 60)::float8 AS age_minutes,
                coalesce((SELECT array_remove(ARRAY[o.email, b.email], NULL) FROM workflows w
                            LEFT JOIN public.users o ON o.id = w.owner_user_id LEFT JOIN public.users b ON b.id = w.backup_owner_user_id
                           WHERE w.name = t.workflow_name), ARRAY[]::text[]) AS notify",
        vec![],
    ))
    .all(&txn)
    .await?;
    for o in &overdue {
        audit::record_change(
            &txn,
            None,
            "review",
            "review.escalated",
            &o.run_id.to_string(),
            &format!(
                "{} task open {:.0} minutes, past its SLA; told {}",
                o.workflow,
                o.age_minutes,
                o.notify.join(", ")
            ),
            json!({ "task": o.task_id, "run": o.run_id }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(overdue)
}

/// An open task past its maximum age, with its workflow's stale action.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Stale {
    pub id: Uuid,
    pub stale_action: StaleAction,
    pub age_minutes: f64,
}

/// Open tasks past their maximum age.
pub async fn past_max_age(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<Stale>, DbErr> {
    let txn = tenant.begin(db).await?;
    let rows = Stale::find_by_statement(stmt(
        "SELECT id, stale_action, (extract(epoch FROM now() - created_at) / 60)::float8 AS age_minutes FROM review_tasks
          WHERE status = 'open' AND created_at < now() - make_interval(secs => max_age_minutes * 60)",
        vec![],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

/// The run a task belongs to.
pub async fn run_of(db: &DatabaseConnection, tenant: &Tenant, task_id: Uuid) -> Result<Option<Uuid>, DbErr> {
    let txn = tenant.begin(db).await?;
    let run =
        scalar(&txn, stmt("SELECT run_id AS value FROM review_tasks WHERE id = $1", vec![task_id.into()])).await?;
    txn.commit().await?;
    Ok(run)
}
