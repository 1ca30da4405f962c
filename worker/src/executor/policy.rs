//! The approval policy: where a run stops for a person. Before a step: an
//! explicit approval step, and the workflow's `approval.required_when`
//! rules before an outside message or a financial write (plus any outside
//! recipient at all). After a model's draft: the same rules with the
//! draft's confidence. A person's approval at or after the last draft
//! clears the gates after it.

use super::{notify, Execution};
use crate::context::Context;
use engine::review::ReviewReason;
use engine::run as logic;
use engine::run::PolicyHit;
use engine::workflow::{Step, StepKind, WorkflowContract};
use serde_json::{json, Value};
use store::runs::NewReviewTask;

/// The task to open before `step` (at `index`), if a person must look first.
pub(super) async fn before(
    cx: &Context,
    x: &Execution,
    step: &Step,
    index: usize,
) -> anyhow::Result<Option<NewReviewTask>> {
    let contract = &x.run.contract;
    let gated = match step.kind {
        StepKind::Approval => {
            let (output_name, draft) = latest_draft(contract, &x.run.context, index);
            let detail = json!({ "step": step.id, "reviewers": step.reviewers });
            return Ok(Some(NewReviewTask::new(index as i32, ReviewReason::ApprovalStep, detail, output_name, draft)));
        }
        StepKind::Notify => true,
        StepKind::ApiCall => step.writes_financial_records,
        StepKind::Function | StepKind::Llm | StepKind::Rules => false,
    };
    if !gated || cleared(contract, x.run.cleared_step, index) {
        return Ok(None);
    }
    let mut hits = logic::policy_hits(&contract.approval_conditions(), &x.run.context, None, "confidence");
    if step.kind == StepKind::Notify && x.run.cleared_step.is_none() {
        let external = notify::external_recipients(cx, x, step).await?;
        if !external.is_empty() {
            hits.push(PolicyHit {
                reason: ReviewReason::ExternalMessage,
                rule: "outside recipients need an approval".into(),
                detail: json!({ "recipients": external }),
            });
        }
    }
    if hits.is_empty() {
        return Ok(None);
    }
    let (output_name, draft) = latest_draft(contract, &x.run.context, index);
    Ok(Some(task(index as i32, &hits, output_name, draft)))
}

/// The task to open after a model's draft (`step` at `index` produced `output`), if a person must look at it.
pub(super) fn after_draft(x: &Execution, step: &Step, index: usize, output: &Value) -> Option<NewReviewTask> {
    if step.kind != StepKind::Llm || cleared(&x.run.contract, x.run.cleared_step, index + 1) {
        return None;
    }
    let confidence_field = step.confidence_field.as_deref().unwrap_or("confidence");
    let hits =
        logic::policy_hits(&x.run.contract.approval_conditions(), &x.run.context, Some(output), confidence_field);
    (!hits.is_empty()).then(|| task(index as i32, &hits, step.output.clone(), Some(output.clone())))
}

/// Who is emailed a task at `step_index`: the approval step's reviewers, else the reviewer role.
pub(super) fn reviewers(contract: &WorkflowContract, step_index: i32) -> Vec<String> {
    match contract.steps.get(step_index as usize).filter(|s| s.kind == StepKind::Approval && !s.reviewers.is_empty()) {
        Some(step) => step.reviewers.clone(),
        None => vec!["role:reviewer".to_string()],
    }
}

/// Whether a person already cleared the gate for step `index`: an approval
/// given at or after the last model step before it covers it.
fn cleared(contract: &WorkflowContract, cleared_step: Option<i32>, index: usize) -> bool {
    let Some(c) = cleared_step else { return false };
    let last_llm =
        contract.steps[..index.min(contract.steps.len())].iter().rposition(|s| s.kind == StepKind::Llm).unwrap_or(0);
    c as usize >= last_llm
}

/// The latest model draft before step `index`: its context key and value.
pub(super) fn latest_draft(
    contract: &WorkflowContract,
    context: &Value,
    index: usize,
) -> (Option<String>, Option<Value>) {
    contract.steps[..index.min(contract.steps.len())]
        .iter()
        .rev()
        .filter(|s| s.kind == StepKind::Llm)
        .find_map(|s| s.output.as_ref().and_then(|o| context.get(o).map(|v| (Some(o.clone()), Some(v.clone())))))
        .unwrap_or((None, None))
}

/// A task for the policy hits, named after the first.
fn task(step_index: i32, hits: &[PolicyHit], output_name: Option<String>, draft: Option<Value>) -> NewReviewTask {
    NewReviewTask::new(step_index, hits[0].reason, json!({ "policy": hits }), output_name, draft)
}
