//! `POST /api/v1/t/{business}/review-tasks/{task}/decision`: a person's
//! decision on a review task over the JSON API, for tools that work the
//! queue with a member's session. The same decision the review queue and
//! the emailed links make; it resumes (or ends) the run.

use crate::api_error::{ApiError, FieldProblem};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use store::reviews::{self, ReviewError};
use store::state::AppState;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct DecisionRequest {
    /// approve, edit_and_approve or reject.
    pub decision: String,
    /// For edit_and_approve: the corrected output; it must meet the draft's response schema.
    #[serde(default)]
    pub edited_output: Option<serde_json::Value>,
    /// Needed to edit or reject: one of the business's reason codes.
    #[serde(default)]
    pub reason_code: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionTaken {
    pub task_id: uuid::Uuid,
    pub run_id: uuid::Uuid,
    pub decision: String,
    /// queued (the run resumes) or cancelled (rejected).
    pub run_status: String,
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound => ApiError::NotFound("there is no such review task".into()),
            e @ (ReviewError::AlreadyDecided { .. } | ReviewError::Claimed { .. }) => ApiError::Conflict(e.to_string()),
            ReviewError::Invalid(errors) => ApiError::BadDecision(
                errors
                    .into_iter()
                    .map(|f| FieldProblem { field: f.field, rule: "decision".into(), message: f.message })
                    .collect(),
            ),
            ReviewError::Refused(m) => ApiError::Forbidden(m),
            ReviewError::Storage(e) => ApiError::Storage(e.to_string()),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/t/{business}/review-tasks/{task}/decision",
    tag = "review",
    params(("business" = String, Path), ("task" = uuid::Uuid, Path)),
    request_body = DecisionRequest,
    responses((status = 200, description = "Decided; the run resumes or ends", body = DecisionTaken), ApiError),
    security(("session" = []), ("token" = []))
)]
pub async fn decide(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, task) = path.into_inner();
    let caller = crate::api_error::api_caller(
        &req,
        &state,
        &slug,
        engine::Page::ReviewQueue,
        engine::token_scope::TokenScope::DecideReviews,
    )
    .await?;
    let member = caller.member();
    let no_task = || ApiError::NotFound("there is no such review task".into());
    let task_id: uuid::Uuid = task.parse().map_err(|_| no_task())?;
    let asked: DecisionRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("body", format!("the body is not a decision: {e}")))?;
    let run_id = reviews::run_of(&state.db, &member.tenant, task_id).await?.ok_or_else(no_task)?;
    let edited = asked.edited_output.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let reason_code = asked.reason_code.trim();
    let wake =
        reviews::decide(&state.db, member, task_id, &asked.decision, &edited, reason_code, &asked.comment).await?;
    let run_status = if wake.is_some() { "queued" } else { "cancelled" };
    if let Some(job) = wake {
        state.wake(job);
    }
    Ok(HttpResponse::Ok().json(DecisionTaken {
        task_id,
        run_id,
        decision: asked.decision,
        run_status: run_status.into(),
    }))
}
