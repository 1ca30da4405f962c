//! A person's decision on a review task: approve, edit and approve (the
//! edit checked against the draft's response schema), or reject. The
//! decision and the run's next state are one transaction; the caller then
//! wakes the run.

use crate::db::{stmt, tenant_txn};
use crate::{audit, auth::CurrentMember, jobs::RunJob};
use engine::workflow::WorkflowContract;
use engine::{FieldError, Role};
use sea_orm::{prelude::*, DatabaseConnection};
use serde_json::{json, Value};

pub const DECISIONS: [&str; 3] = ["approve", "edit_and_approve", "reject"];

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("there is no such review task")]
    NotFound,
    #[error("{by} already decided this task ({decision}) at {at}")]
    AlreadyDecided { by: String, decision: String, at: DateTimeUtc },
    #[error("the decision has problems")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Refused(String),
    #[error("{by} is working on this task; ask them or operations to release it")]
    Claimed { by: String },
    #[error(transparent)]
    Storage(#[from] DbErr),
}

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
    decide_as(
        db,
        &member.schema_name,
        member.tenant_id,
        &Actor::member(member),
        task_id,
        decision,
        edited_output,
        reason_code,
        comment,
    )
    .await
}

/// The decision itself, for any actor (the caller checked who they are).
#[allow(clippy::too_many_arguments)]
pub async fn decide_as(
    db: &DatabaseConnection,
    schema: &str,
    tenant_id: Uuid,
    actor: &Actor,
    task_id: Uuid,
    decision: &str,
    edited_output: &str,
    reason_code: &str,
    comment: &str,
) -> Result<Option<RunJob>, ReviewError> {
    let mut errors = Vec::new();
    if !DECISIONS.contains(&decision) {
        errors.push(FieldError::new("decision", "Choose approve, edit and approve, or reject."));
    }
    let codes = reason_codes(db, schema).await?;
    let needs_reason = decision != "approve";
    if needs_reason && !codes.iter().any(|c| c == reason_code) {
        errors.push(FieldError::new("reason_code", format!("Choose a reason: {}.", codes.join(", "))));
    }
    let edited: Option<Value> = if decision == "edit_and_approve" {
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
    if !errors.is_empty() {
        return Err(ReviewError::Invalid(errors));
    }
    let txn = tenant_txn(db, schema).await?;
    let row = txn
        .query_one_raw(stmt(
            "SELECT t.run_id, t.step_index, t.reason, t.output_name, t.status, t.decided_by, t.decision, t.decided_at,
                    r.context, r.pinned, v.contract, r.status, t.claimed_by, t.draft, t.claimed_at
               FROM review_tasks t JOIN runs r ON r.id = t.run_id
               JOIN workflow_versions v ON v.workflow_id = r.workflow_id AND v.number = r.workflow_version
              WHERE t.id = $1 FOR UPDATE OF t, r",
            vec![task_id.into()],
        ))
        .await?
        .ok_or(ReviewError::NotFound)?;
    let run_id: Uuid = row.try_get_by_index(0)?;
    let step_index: i32 = row.try_get_by_index(1)?;
    let reason: String = row.try_get_by_index(2)?;
    let output_name: Option<String> = row.try_get_by_index(3)?;
    if row.try_get_by_index::<String>(4)? == "decided" {
        return Err(ReviewError::AlreadyDecided {
            by: row.try_get_by_index::<Option<String>>(5)?.unwrap_or_default(),
            decision: row.try_get_by_index::<Option<String>>(6)?.unwrap_or_default(),
            at: row.try_get_by_index::<Option<DateTimeUtc>>(7)?.unwrap_or_default(),
        });
    }
    let mut context: Value = row.try_get_by_index(8)?;
    let pinned: Value = row.try_get_by_index(9)?;
    let contract: WorkflowContract = serde_json::from_value(row.try_get_by_index::<Value>(10)?)
        .map_err(|e| DbErr::Custom(format!("stored contract: {e}")))?;
    if row.try_get_by_index::<String>(11)? != "waiting_for_review" {
        return Err(ReviewError::Refused("This run is no longer waiting for a decision.".into()));
    }
    if let Some(holder) =
        row.try_get_by_index::<Option<String>>(12)?.filter(|h| *h != actor.email && !actor.overrides_claims)
    {
        return Err(ReviewError::Claimed { by: holder });
    }
    // The reviewer edited a masked copy: hidden fields keep their values.
    let draft: Option<Value> = row.try_get_by_index(13)?;
    let edited = edited.map(|e| match &draft {
        Some(d) => engine::run::unmask(&e, d),
        None => e,
    });
    // An edit must still meet the response schema of the prompt that drafted it.
    if let (Some(edited), Some(name)) = (&edited, &output_name) {
        let producer = contract.steps.iter().find(|s| s.output.as_deref() == Some(name.as_str()));
        if let Some(prompt) = producer.and_then(|s| s.prompt_template.as_deref()) {
            let number = pinned["prompts"][prompt].as_i64().unwrap_or(1) as i32;
            if let Some(template) = crate::ingest::pinned_prompt(&txn, prompt, number).await? {
                if let Err(problems) = template.check_output(edited) {
                    let errors = problems.into_iter().map(|p| FieldError::new("edited_output", p)).collect();
                    return Err(ReviewError::Invalid(errors));
                }
            }
        }
    }
    // The override is kept with what it changed in the draft.
    let changes = edited.as_ref().map(|e| {
        serde_json::to_value(engine::review::draft_changes(draft.as_ref().unwrap_or(&Value::Null), e))
            .unwrap_or_default()
    });
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
    // The reviewer's time is a cost of the run: claim to decision at the reviewer hourly rate.
    if !actor.email.starts_with("steward (") {
        let claimed_at: Option<DateTimeUtc> = row.try_get_by_index(14)?;
        let seconds = engine::cost::review_seconds(claimed_at, chrono::Utc::now());
        let rate = crate::costs::rates_in(&txn).await?.reviewer_hourly;
        let line = crate::costs::CostLine::new(
            "review",
            Some(step_index),
            engine::cost::review(seconds, rate),
            seconds,
            actor.email.clone(),
        );
        crate::costs::add_lines(&txn, run_id, &[line]).await?;
    }
    let wake = if decision == "reject" {
        let why = format!("rejected by {} ({reason_code})", actor.email);
        txn.execute_raw(stmt(
            "UPDATE runs SET status = 'cancelled', error = $2, finished_at = now(), updated_at = now() WHERE id = $1",
            vec![run_id.into(), why.into()],
        ))
        .await?;
        None
    } else {
        let mut next_step = step_index;
        if let (Some(edited), Some(name)) = (&edited, &output_name) {
            if let Some(map) = context.as_object_mut() {
                map.insert(name.clone(), edited.clone());
            }
        }
        match reason.as_str() {
            // The approval step itself is done once a person approves.
            "approval_step" => {
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
                next_step = step_index + 1;
            }
            // A person supplied the failed step's output: continue after it.
            "error" if edited.is_some() => next_step = step_index + 1,
            // A gate after a model step: the draft is done, go on.
            _ if contract.steps.get(step_index as usize).is_some_and(|s| s.kind == "llm") => next_step = step_index + 1,
            _ => {}
        }
        txn.execute_raw(stmt(
            "UPDATE runs SET status = 'queued', context = $2, next_step = $3, cleared_step = $4, updated_at = now() WHERE id = $1",
            vec![run_id.into(), context.into(), next_step.into(), step_index.into()],
        ))
        .await?;
        Some(crate::runs::job(tenant_id, schema, run_id))
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
pub async fn reason_codes(db: &DatabaseConnection, schema: &str) -> Result<Vec<String>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = txn.query_all_raw(stmt("SELECT code FROM review_reason_codes ORDER BY code", vec![])).await?;
    txn.commit().await?;
    Ok(rows.into_iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect())
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
    let txn = tenant_txn(db, &member.schema_name).await?;
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
    let txn = tenant_txn(db, &member.schema_name).await?;
    let left: i64 = txn
        .query_one_raw(stmt("SELECT count(*) FROM review_reason_codes", vec![]))
        .await?
        .map(|r| r.try_get_by_index(0))
        .transpose()?
        .unwrap_or(0);
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
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct QueueRow {
    pub id: Uuid,
    pub run_id: Uuid,
    pub workflow_name: String,
    pub reason: String,
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
            &self.reason,
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
            && self.reason.as_deref().is_none_or(|r| row.reason == r)
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
    use sea_orm::FromQueryResult;
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
    schema: &str,
    me: &str,
    filter: &QueueFilter,
    limit: usize,
) -> Result<QueuePage, DbErr> {
    let txn = tenant_txn(db, schema).await?;
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
    let details: std::collections::HashMap<Uuid, Value> = txn
        .query_all_raw(stmt("SELECT id, detail FROM review_tasks WHERE id = ANY($1)", vec![ids.into()]))
        .await?
        .into_iter()
        .filter_map(|r| Some((r.try_get_by_index::<Uuid>(0).ok()?, r.try_get_by_index::<Value>(1).ok()?)))
        .collect();
    txn.commit().await?;
    let tasks = rows
        .into_iter()
        .map(|r| {
            let d = details.get(&r.id).cloned().unwrap_or_default();
            (r, d)
        })
        .collect();
    Ok(QueuePage { tasks, matching, figures })
}

/// The open task after `task_id` in the default order (for "next"), and `task_id`'s own row.
pub async fn neighbours(
    db: &DatabaseConnection,
    schema: &str,
    task_id: Uuid,
) -> Result<(Option<QueueRow>, Option<Uuid>), DbErr> {
    let txn = tenant_txn(db, schema).await?;
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
pub async fn history(db: &DatabaseConnection, schema: &str, days: u32) -> Result<Vec<engine::review::QueueDay>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = txn
        .query_all_raw(stmt(
            "SELECT created_at, decided_at FROM review_tasks
              WHERE status = 'open' OR decided_at >= current_date - $1::int",
            vec![(days as i32).into()],
        ))
        .await?;
    txn.commit().await?;
    let spans: Vec<(DateTimeUtc, Option<DateTimeUtc>)> =
        rows.into_iter().map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?))).collect::<Result<_, DbErr>>()?;
    Ok(engine::review::queue_by_day(&spans, chrono::Utc::now(), days))
}

/// Takes a task so nobody else works it. A task someone else holds is refused with who.
pub async fn claim(db: &DatabaseConnection, member: &CurrentMember, task_id: Uuid) -> Result<(), ReviewError> {
    if !may_decide(member.role) {
        return Err(ReviewError::Refused("Only reviewers, operations and owners work review tasks.".into()));
    }
    let txn = tenant_txn(db, &member.schema_name).await?;
    let row = txn
        .query_one_raw(stmt(
            "SELECT status, claimed_by, decided_by, decision, decided_at FROM review_tasks WHERE id = $1 FOR UPDATE",
            vec![task_id.into()],
        ))
        .await?
        .ok_or(ReviewError::NotFound)?;
    if row.try_get_by_index::<String>(0)? == "decided" {
        return Err(ReviewError::AlreadyDecided {
            by: row.try_get_by_index::<Option<String>>(2)?.unwrap_or_default(),
            decision: row.try_get_by_index::<Option<String>>(3)?.unwrap_or_default(),
            at: row.try_get_by_index::<Option<DateTimeUtc>>(4)?.unwrap_or_default(),
        });
    }
    if let Some(holder) = row.try_get_by_index::<Option<String>>(1)?.filter(|h| *h != member.email) {
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
    let txn = tenant_txn(db, &member.schema_name).await?;
    let holder: Option<String> = txn
        .query_one_raw(stmt(
            "SELECT claimed_by FROM review_tasks WHERE id = $1 AND status = 'open' FOR UPDATE",
            vec![task_id.into()],
        ))
        .await?
        .ok_or(ReviewError::NotFound)?
        .try_get_by_index(0)?;
    let supervisor = matches!(member.role, Role::Operations | Role::Owner);
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
    if !matches!(member.role, Role::Operations | Role::Owner) {
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
    let txn = tenant_txn(db, &member.schema_name).await?;
    let mut moved = 0;
    for id in task_ids {
        moved += txn
            .execute_raw(stmt(
                "UPDATE review_tasks SET claimed_by = $2, claimed_at = now() WHERE id = $1 AND status = 'open'",
                vec![(*id).into(), target.email.clone().into()],
            ))
            .await?
            .rows_affected() as usize;
    }
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
    if !matches!(member.role, Role::Operations | Role::Owner) {
        return Err(ReviewError::Refused("Only operations and owners close tasks in bulk.".into()));
    }
    let actor = Actor { email: member.email.clone(), member: Some(member.clone()), overrides_claims: true };
    let mut wakes = Vec::new();
    for id in task_ids {
        match decide_as(db, &member.schema_name, member.tenant_id, &actor, *id, "reject", "", reason_code, comment)
            .await
        {
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

pub async fn measures(db: &DatabaseConnection, schema: &str, since_days: i32) -> Result<Measures, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = txn
        .query_all_raw(stmt(
            "SELECT workflow_name, coalesce(decided_by, ''), decision, reason_code,
                    (extract(epoch FROM decided_at - created_at) / 60)::float8, escalated_at IS NOT NULL
               FROM review_tasks WHERE status = 'decided' AND decided_at > now() - make_interval(days => $1)",
            vec![since_days.into()],
        ))
        .await?;
    txn.commit().await?;
    let mut all = Vec::new();
    let mut by_workflow: std::collections::BTreeMap<String, Vec<engine::review::Decided>> = Default::default();
    let mut by_reviewer: std::collections::BTreeMap<String, Vec<engine::review::Decided>> = Default::default();
    for r in rows {
        let d = engine::review::Decided {
            decision: r.try_get_by_index::<Option<String>>(2)?.unwrap_or_default(),
            reason_code: r.try_get_by_index(3)?,
            minutes_to_decision: r.try_get_by_index(4)?,
            escalated: r.try_get_by_index(5)?,
        };
        by_workflow.entry(r.try_get_by_index(0)?).or_default().push(d.clone());
        by_reviewer.entry(r.try_get_by_index(1)?).or_default().push(d.clone());
        all.push(d);
    }
    Ok(Measures {
        overall: engine::review::agreement(&all),
        by_workflow: by_workflow.into_iter().map(|(k, v)| (k, engine::review::agreement(&v))).collect(),
        by_reviewer: by_reviewer.into_iter().map(|(k, v)| (k, engine::review::agreement(&v))).collect(),
    })
}

// ---- email approval links ----

/// How long an emailed link works.
pub const LINK_HOURS: i64 = 72;

fn link_signature(settings: &crate::config::Settings, slug: &str, link_id: Uuid, expires: i64) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&settings.app_secret).expect("HMAC takes any key length");
    mac.update(format!("steward/approval-link/v1|{slug}|{link_id}|{expires}").as_bytes());
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Creates a link for one reviewer and task; returns the token for the URL.
pub async fn create_link(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
    slug: &str,
    schema: &str,
    task_id: Uuid,
    reviewer_email: &str,
) -> Result<String, DbErr> {
    let id = Uuid::new_v4();
    let expires = chrono::Utc::now() + chrono::Duration::hours(LINK_HOURS);
    let txn = tenant_txn(db, schema).await?;
    txn.execute_raw(stmt(
        "INSERT INTO approval_links (id, task_id, reviewer_email, expires_at) VALUES ($1, $2, $3, $4)",
        vec![id.into(), task_id.into(), reviewer_email.into(), expires.into()],
    ))
    .await?;
    txn.commit().await?;
    let ts = expires.timestamp();
    Ok(format!("{slug}.{}.{ts}.{}", id.simple(), link_signature(settings, slug, id, ts)))
}

/// What an approval link turned out to be.
#[derive(Debug, Clone)]
pub enum LinkState {
    /// Good: the task is open and this reviewer may decide it.
    Open(LinkTask),
    /// Someone decided the task already.
    Decided {
        by: String,
        decision: String,
        at: DateTimeUtc,
    },
    Used {
        at: DateTimeUtc,
    },
    Expired,
    /// Tampered with, made up, or of a business that does not exist.
    Invalid,
    /// The link belongs to another reviewer than the one signed in.
    Foreign,
}

#[derive(Debug, Clone)]
pub struct LinkTask {
    pub link_id: Uuid,
    pub task_id: Uuid,
    pub run_id: Uuid,
    pub reviewer: CurrentMember,
    pub workflow: String,
    pub reason: String,
    pub detail: Value,
    pub draft: Option<Value>,
}

/// Reads a link without changing anything (GET is safe: scanners fetch links).
/// `signed_in` is the email of a session in the browser, if any.
pub async fn open_link(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
    token: &str,
    signed_in: Option<&str>,
) -> Result<LinkState, DbErr> {
    let parts: Vec<&str> = token.split('.').collect();
    let [slug, id, ts, sig] = parts[..] else { return Ok(LinkState::Invalid) };
    let (Ok(link_id), Ok(expires)) = (Uuid::parse_str(id), ts.parse::<i64>()) else { return Ok(LinkState::Invalid) };
    let expected = link_signature(settings, slug, link_id, expires);
    // Constant-time comparison of the signatures.
    if expected.len() != sig.len() || expected.bytes().zip(sig.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
        return Ok(LinkState::Invalid);
    }
    let Some(tenant) = crate::tenants::find_by_slug(db, slug).await? else { return Ok(LinkState::Invalid) };
    let txn = tenant_txn(db, &tenant.schema_name).await?;
    let row = txn
        .query_one_raw(stmt(
            "SELECT l.reviewer_email, l.expires_at, l.used_at, t.id, t.run_id, t.workflow_name, t.reason, t.detail, t.draft,
                    t.status, t.decided_by, t.decision, t.decided_at
               FROM approval_links l JOIN review_tasks t ON t.id = l.task_id WHERE l.id = $1",
            vec![link_id.into()],
        ))
        .await?;
    txn.commit().await?;
    let Some(row) = row else { return Ok(LinkState::Invalid) };
    let reviewer_email: String = row.try_get_by_index(0)?;
    if signed_in.is_some_and(|s| !s.eq_ignore_ascii_case(&reviewer_email)) {
        return Ok(LinkState::Foreign);
    }
    if let Some(at) = row.try_get_by_index::<Option<DateTimeUtc>>(2)? {
        return Ok(LinkState::Used { at });
    }
    if row.try_get_by_index::<String>(9)? == "decided" {
        return Ok(LinkState::Decided {
            by: row.try_get_by_index::<Option<String>>(10)?.unwrap_or_default(),
            decision: row.try_get_by_index::<Option<String>>(11)?.unwrap_or_default(),
            at: row.try_get_by_index::<Option<DateTimeUtc>>(12)?.unwrap_or_default(),
        });
    }
    if row.try_get_by_index::<DateTimeUtc>(1)? < chrono::Utc::now() {
        return Ok(LinkState::Expired);
    }
    // The reviewer must still be a member who may decide.
    let Ok(reviewer) = crate::auth::member_by_email(db, slug, &reviewer_email).await else {
        return Ok(LinkState::Invalid);
    };
    if !may_decide(reviewer.role) {
        return Ok(LinkState::Invalid);
    }
    Ok(LinkState::Open(LinkTask {
        link_id,
        task_id: row.try_get_by_index(3)?,
        run_id: row.try_get_by_index(4)?,
        reviewer,
        workflow: row.try_get_by_index(5)?,
        reason: row.try_get_by_index(6)?,
        detail: row.try_get_by_index(7)?,
        draft: row.try_get_by_index(8)?,
    }))
}

/// Decides through a link (POST from its confirmation page), once.
pub async fn use_link(
    db: &DatabaseConnection,
    task: &LinkTask,
    decision: &str,
    reason_code: &str,
    comment: &str,
) -> Result<Option<RunJob>, ReviewError> {
    let schema = &task.reviewer.schema_name;
    {
        // Mark the link used first, under a row lock, so a double POST decides once.
        let txn = tenant_txn(db, schema).await?;
        let used = txn
            .execute_raw(stmt(
                "UPDATE approval_links SET used_at = now() WHERE id = $1 AND used_at IS NULL",
                vec![task.link_id.into()],
            ))
            .await?;
        if used.rows_affected() == 0 {
            return Err(ReviewError::Refused("This link was used already.".into()));
        }
        txn.commit().await?;
    }
    let result = decide_as(
        db,
        schema,
        task.reviewer.tenant_id,
        &Actor::member(&task.reviewer),
        task.task_id,
        decision,
        "",
        reason_code,
        comment,
    )
    .await;
    if result.is_err() {
        // Nothing was decided: the link may be used again.
        let txn = tenant_txn(db, schema).await?;
        txn.execute_raw(stmt("UPDATE approval_links SET used_at = NULL WHERE id = $1", vec![task.link_id.into()]))
            .await?;
        txn.commit().await?;
    }
    result
}

// ---- nothing left to rot ----

/// An open task past its SLA and not yet escalated, with whom to tell.
#[derive(Debug, Clone)]
pub struct Overdue {
    pub task_id: Uuid,
    pub run_id: Uuid,
    pub workflow: String,
    pub reason: String,
    pub age_minutes: f64,
    pub notify: Vec<String>,
}

/// Marks tasks past their SLA as escalated and returns them (with the
/// workflow's owner and backup owner to email), in one transaction.
pub async fn escalate_overdue(db: &DatabaseConnection, schema: &str) -> Result<Vec<Overdue>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = txn
        .query_all_raw(stmt(
            "UPDATE review_tasks t SET escalated_at = now()
              WHERE t.status = 'open' AND t.escalated_at IS NULL AND t.created_at < now() - make_interval(secs => t.sla_minutes * 60)
          RETURNING t.id, t.run_id, t.workflow_name, t.reason, (extract(epoch FROM now() - t.created_at) / 60)::float8,
                    (SELECT array_remove(ARRAY[o.email, b.email], NULL) FROM workflows w
                       LEFT JOIN public.users o ON o.id = w.owner_user_id LEFT JOIN public.users b ON b.id = w.backup_owner_user_id
                      WHERE w.name = t.workflow_name)",
            vec![],
        ))
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let o = Overdue {
            task_id: r.try_get_by_index(0)?,
            run_id: r.try_get_by_index(1)?,
            workflow: r.try_get_by_index(2)?,
            reason: r.try_get_by_index(3)?,
            age_minutes: r.try_get_by_index(4)?,
            notify: r.try_get_by_index::<Option<Vec<String>>>(5)?.unwrap_or_default(),
        };
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
        out.push(o);
    }
    txn.commit().await?;
    Ok(out)
}

/// Open tasks past their maximum age: (task id, stale action, age in minutes).
pub async fn past_max_age(db: &DatabaseConnection, schema: &str) -> Result<Vec<(Uuid, String, f64)>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = txn
        .query_all_raw(stmt(
            "SELECT id, stale_action, (extract(epoch FROM now() - created_at) / 60)::float8 FROM review_tasks
              WHERE status = 'open' AND created_at < now() - make_interval(secs => max_age_minutes * 60)",
            vec![],
        ))
        .await?;
    txn.commit().await?;
    rows.into_iter().map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?))).collect()
}

/// The run a task belongs to.
pub async fn run_of(db: &DatabaseConnection, schema: &str, task_id: Uuid) -> Result<Option<Uuid>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let run = txn
        .query_one_raw(stmt("SELECT run_id FROM review_tasks WHERE id = $1", vec![task_id.into()]))
        .await?
        .and_then(|r| r.try_get_by_index::<Uuid>(0).ok());
    txn.commit().await?;
    Ok(run)
}
