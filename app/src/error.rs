//! The one error type of Steward's server functions. It travels to the
//! browser as JSON with a 4xx/5xx status, so a form can put each field's
//! problem next to that field.

use engine::FieldError;
use leptos::prelude::{FromServerFnError, ServerFnError, ServerFnErrorErr};
use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AppError {
    /// 422: the input has problems, each tied to its field.
    Invalid(Vec<FieldError>),
    /// 401/403/404/429: the request is not allowed; the message says why.
    Refused(String),
    /// 5xx: something failed on Steward's side.
    Failed(String),
}

impl AppError {
    pub fn field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid(errors) => engine::field_error::message_for(errors, name).map(str::to_owned),
            _ => None,
        }
    }

    /// The message for the whole form, when the problem is not one field's.
    pub fn form_message(&self) -> Option<String> {
        match self {
            AppError::Invalid(_) => None,
            AppError::Refused(m) | AppError::Failed(m) => Some(m.clone()),
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Invalid(errors) => {
                let parts: Vec<_> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
                write!(f, "{}", parts.join("; "))
            }
            AppError::Refused(m) | AppError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for AppError {}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The request itself is malformed (a missing or unknown argument):
            // the caller's mistake, reported as input problems (the server turns them into 422).
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::Deserialization(m) | ServerFnErrorErr::MissingArg(m) => {
                AppError::Invalid(vec![FieldError::new("request", m)])
            }
            other => AppError::Failed(other.to_string()),
        }
    }
}

impl From<ServerFnError> for AppError {
    fn from(value: ServerFnError) -> Self {
        AppError::Failed(value.to_string())
    }
}

/// The error (if any) of the latest submission of a form's action.
pub fn latest_error<T: Clone + Send + Sync + 'static>(
    value: leptos::prelude::RwSignal<Option<Result<T, AppError>>>,
) -> Option<AppError> {
    use leptos::prelude::Get;
    match value.get() {
        Some(Err(e)) => Some(e),
        _ => None,
    }
}
