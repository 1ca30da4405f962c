//! One error type for the JSON API (hooks, forms, events, run status),
//! mapped to a status in one place, always with a body that says why.

use actix_web::{http::StatusCode, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use store::auth::{authorize, AuthError, CurrentMember, SESSION_COOKIE};
use store::state::AppState;
use utoipa::ToSchema;

/// One broken field: its path, the rule it broke and a sentence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FieldProblem {
    pub field: String,
    pub rule: String,
    pub message: String,
}

/// Every error answer of the JSON API.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: invalid_record, invalid_decision, unauthorized, not_found, not_published, conflict, payload_too_large, bad_request, forbidden, rate_limited.
    pub error: String,
    pub message: String,
    /// For invalid_record and bad_request: every field and reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is not valid")]
    BadRequest(Vec<FieldProblem>),
    #[error("the record breaks the data contract")]
    Invalid(Vec<FieldProblem>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    RateLimited(String),
    /// A review task decided already, or held by someone else.
    #[error("{0}")]
    Taken(String),
    /// A decision with problems (422, every field).
    #[error("the decision has problems")]
    BadDecision(Vec<FieldProblem>),
    #[error("storage is unavailable")]
    Storage(String),
}

impl ApiError {
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest(vec![FieldProblem { field: field.into(), rule: "format".into(), message: message.into() }])
    }

    pub fn invalid(problems: Vec<(String, String, String)>) -> Self {
        ApiError::Invalid(
            problems.into_iter().map(|(field, rule, message)| FieldProblem { field, rule, message }).collect(),
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Taken(_) => StatusCode::CONFLICT,
            ApiError::BadDecision(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (error, fields) = match self {
            ApiError::BadRequest(f) => ("bad_request", f.clone()),
            ApiError::Invalid(f) => ("invalid_record", f.clone()),
            ApiError::Unauthorized(_) => ("unauthorized", vec![]),
            ApiError::Forbidden(_) => ("forbidden", vec![]),
            ApiError::NotFound(_) => ("not_found", vec![]),
            ApiError::Conflict(_) => ("not_published", vec![]),
            ApiError::TooLarge(_) => ("payload_too_large", vec![]),
            ApiError::RateLimited(_) => ("rate_limited", vec![]),
            ApiError::Taken(_) => ("conflict", vec![]),
            ApiError::BadDecision(f) => ("invalid_decision", f.clone()),
            ApiError::Storage(_) => ("unavailable", vec![]),
        };
        let message = match self {
            ApiError::BadRequest(f) | ApiError::Invalid(f) | ApiError::BadDecision(f) => {
                format!("{}: {}", self, f.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; "))
            }
            ApiError::Storage(_) => "Steward cannot store the event right now; send it again shortly.".into(),
            other => other.to_string(),
        };
        ErrorBody { error: error.into(), message, fields }
    }

    pub fn response(&self) -> HttpResponse {
        if let ApiError::Storage(cause) = self {
            tracing::error!(error = %cause, "API request failed on storage");
        }
        HttpResponse::build(self.status()).json(self.body())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::Storage(e.to_string())
    }
}

/// The signed-in member for an API call on `slug`, allowed on `page`.
pub async fn member(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    page: engine::Page,
) -> Result<CurrentMember, ApiError> {
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    authorize(&state.db, &state.settings, token.as_deref(), slug, page).await.map_err(|e| match e {
        e if e.needs_sign_in() => ApiError::Unauthorized("sign in to continue".into()),
        AuthError::OtherBusiness => ApiError::Forbidden("you are not a member of this business".into()),
        AuthError::Forbidden => ApiError::Forbidden("your role does not allow this".into()),
        other => ApiError::Storage(other.to_string()),
    })
}
