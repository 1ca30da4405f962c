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

/// Reason codes every business starts with (configurable later in Settings).
pub const DEFAULT_REASON_CODES: [&str; 5] = ["wrong_facts", "tone", "missing_context", "policy", "duplicate"];
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
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Who may decide review tasks.
pub fn may_decide(role: Role) -> bool {
    matches!(role, Role::Reviewer | Role::Owner | Role::Operations)
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
    let mut errors = Vec::new();
    if !DECISIONS.contains(&decision) {
        errors.push(FieldError::new("decision", "Choose approve, edit and approve, or reject."));
    }
    let needs_reason = decision != "approve";
    if needs_reason && !DEFAULT_REASON_CODES.contains(&reason_code) {
        errors.push(FieldError::new("reason_code", format!("Choose a reason: {}.", DEFAULT_REASON_CODES.join(", "))));
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
    let txn = tenant_txn(db, &member.schema_name).await?;
    let row = txn
        .query_one_raw(stmt(
            "SELECT t.run_id, t.step_index, t.reason, t.output_name, t.status, t.decided_by, t.decision, t.decided_at,
                    r.context, r.pinned, v.contract, r.status
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
    let contract: WorkflowContract =
        serde_json::from_value(row.try_get_by_index::<Value>(10)?).map_err(|e| DbErr::Custom(format!("stored contract: {e}")))?;
    if row.try_get_by_index::<String>(11)? != "waiting_for_review" {
        return Err(ReviewError::Refused("This run is no longer waiting for a decision.".into()));
    }
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
    txn.execute_raw(stmt(
        "UPDATE review_tasks SET status = 'decided', decision = $2, edited_output = $3, reason_code = $4, comment = $5,
                decided_by = $6, decided_at = now() WHERE id = $1",
        vec![
            task_id.into(),
            decision.into(),
            edited.clone().into(),
            (!reason_code.is_empty()).then(|| reason_code.to_owned()).into(),
            (!comment.trim().is_empty()).then(|| comment.trim().to_owned()).into(),
            member.email.clone().into(),
        ],
    ))
    .await?;
    let wake = if decision == "reject" {
        let why = format!("rejected by {} ({reason_code})", member.email);
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
                let output = json!({ "approved_by": member.email, "decision": decision });
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
        Some(crate::runs::job(member.tenant_id, &member.schema_name, run_id))
    };
    audit::record_change(
        &txn,
        Some(member),
        "review",
        &format!("review.{decision}"),
        &run_id.to_string(),
        &format!("{decision} ({reason}){}", if reason_code.is_empty() { String::new() } else { format!(", reason {reason_code}") }),
        json!({ "task": task_id, "run": run_id, "reason_code": reason_code, "comment": comment }),
    )
    .await?;
    txn.commit().await?;
    Ok(wake)
}
