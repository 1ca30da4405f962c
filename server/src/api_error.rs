//! One error type for the JSON API and the downloads (hooks, forms, events,
//! run status, review decisions, CSV, PDF and bundle exports): an actix
//! `ResponseError`, mapped to a status and a stable code in one place,
//! always with a body that says why. Handlers return `Result<_, ApiError>`;
//! the OpenAPI document lists these answers once (`IntoResponses`).

use actix_web::{http::StatusCode, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::auth::{authorize, AuthError, CurrentMember, SESSION_COOKIE};
use store::state::AppState;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

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
    /// A stable code: bad_request, invalid_record, invalid_decision, unauthorized, forbidden, not_found,
    /// request_timeout, not_published, conflict, payload_too_large, rate_limited, unavailable,
    /// cross_site_request (a cookie session's request without Steward's Origin).
    pub error: String,
    pub message: String,
    /// For bad_request, invalid_record and invalid_decision: every field and reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldProblem>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (not JSON, a malformed header).
    #[error("the request is not valid")]
    BadRequest(Vec<FieldProblem>),
    /// 422: the record breaks the workflow's data contract.
    #[error("the record breaks the data contract")]
    Invalid(Vec<FieldProblem>),
    /// 422: a review decision with problems.
    #[error("the decision has problems")]
    BadDecision(Vec<FieldProblem>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// 409: the workflow has no published version yet.
    #[error("{0}")]
    NotPublished(String),
    /// 409: decided already, or held by someone else.
    #[error("{0}")]
    Conflict(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    RateLimited(String),
    /// 408: the body did not finish arriving in time (a Content-Length longer than what was sent).
    #[error("the body did not arrive within {0} seconds")]
    SlowBody(u64),
    /// 503: storage failed; the cause is logged, the sender is told to retry.
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

    /// The stable code the body carries.
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Invalid(_) => "invalid_record",
            ApiError::BadDecision(_) => "invalid_decision",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::NotPublished(_) => "not_published",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::SlowBody(_) => "request_timeout",
            ApiError::Storage(_) => "unavailable",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (message, fields) = match self {
            ApiError::BadRequest(f) | ApiError::Invalid(f) | ApiError::BadDecision(f) => (
                format!("{}: {}", self, f.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")),
                f.clone(),
            ),
            ApiError::Storage(_) => ("Steward cannot store the event right now; send it again shortly.".into(), vec![]),
            other => (other.to_string(), vec![]),
        };
        ErrorBody { error: self.code().into(), message, fields }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) | ApiError::BadDecision(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotPublished(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut answer = HttpResponse::build(self.status_code());
        if let ApiError::Storage(cause) = self {
            tracing::error!(error = %cause, "API request failed on storage");
            // Nothing was stored: the sender should send it again, shortly.
            answer.insert_header((actix_web::http::header::RETRY_AFTER, "5"));
        }
        answer.json(self.body())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        let text = e.to_string();
        // PostgreSQL refuses a NUL in text and in JSON: that is the input's fault, not
        // storage's, and sending it again would fail the same way. The doors check
        // for NUL first and name the field; this is the net under every other route.
        if text.contains("invalid byte sequence for encoding") || text.contains("unsupported Unicode escape sequence") {
            return ApiError::bad_request(
                "body",
                "the request contains a NUL character (\\u0000), which Steward does not store",
            );
        }
        ApiError::Storage(text)
    }
}

/// Every error answer, for the OpenAPI document of each JSON route.
impl IntoResponses for ApiError {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "The request cannot be read: not JSON, or a malformed header"),
            ("401", "Not signed in, or the signature does not hold (the message says which)"),
            ("403", "Another business, or a role that may not do this"),
            ("404", "No such business, workflow, run or task (or an id in the address that does not parse)"),
            ("408", "The body did not finish arriving within 10 seconds"),
            ("409", "not_published: the workflow has no live version; conflict: decided already, or claimed by someone else"),
            ("413", "The body is larger than the limit"),
            ("422", "invalid_record or invalid_decision: every field and the reason"),
            ("429", "Too many requests from this address; wait a minute"),
            ("503", "Storage is unavailable; send it again shortly"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            let response = ResponseBuilder::new().description(description).content("application/json", content).build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
    }
}

/// Who calls a JSON API route: a member's session, or an API token acting
/// as the member who made it.
pub enum Caller {
    Session(CurrentMember),
    Token(store::api_tokens::TokenCaller),
}

impl Caller {
    /// The member the call acts as.
    pub fn member(&self) -> &CurrentMember {
        match self {
            Caller::Session(m) => m,
            Caller::Token(t) => &t.member,
        }
    }
}

/// The caller of a JSON API route on business `slug`. With an
/// `Authorization: Bearer` header only the token counts (it must carry
/// `scope`, and its maker's role must still allow it); otherwise the
/// session cookie, whose role must open `page`.
pub async fn api_caller(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    page: engine::Page,
    scope: engine::token_scope::TokenScope,
) -> Result<Caller, ApiError> {
    use store::api_tokens::Refusal;
    let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return member(req, state, slug, page).await.map(Caller::Session);
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| ApiError::Unauthorized("send the API token as `Authorization: Bearer <token>`".into()))?;
    let address = crate::client_address(state, req);
    match store::api_tokens::authorize(&state.db, token, slug, scope, &address).await {
        Ok(caller) => Ok(Caller::Token(caller)),
        Err(Refusal::Unauthorized(m)) => Err(ApiError::Unauthorized(m)),
        Err(Refusal::Forbidden(m)) => Err(ApiError::Forbidden(m)),
        Err(Refusal::Storage(e)) => Err(e.into()),
    }
}

/// The signed-in member for a request on business `slug`, allowed on `page`.
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
