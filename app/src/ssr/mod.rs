//! Server-side plumbing shared by every server function: the application
//! state, the request, the response options, the one place where "who is
//! asking and may they" is answered, and how store errors read on a page.
//! `run_detail` builds one run's view for the pages that show a run;
//! `assets` names the browser bundle's files.
//!
//! A server function takes its `Ctx` first, before any `.await`: when a
//! server function runs inside server-side rendering, the reactive context
//! it reads from is not guaranteed to survive an await point.

use crate::error::AppError;
use actix_web::{
    http::{header, StatusCode},
    web, HttpRequest,
};
use engine::{FieldError, Page};
use leptos::prelude::*;
use leptos_actix::ResponseOptions;
use store::auth::{authorize, AuthError, CurrentMember, SESSION_COOKIE};

pub use store::state::AppState;

pub mod assets;
pub mod run_detail;

/// Who may change workflows, prompts, data contracts and models.
pub const EDITORS: &[engine::Role] = &[engine::Role::Engineer, engine::Role::Owner];

pub struct Ctx {
    pub state: web::Data<AppState>,
    pub req: HttpRequest,
    res: Option<ResponseOptions>,
}

impl Ctx {
    pub async fn get() -> Result<Ctx, AppError> {
        let res = use_context::<ResponseOptions>();
        let state = leptos_actix::extract::<web::Data<AppState>>()
            .await
            .map_err(|e| failed(res.as_ref(), "reading the application state", e))?;
        let req =
            leptos_actix::extract::<HttpRequest>().await.map_err(|e| failed(res.as_ref(), "reading the request", e))?;
        Ok(Ctx { state, req, res })
    }

    pub fn session_token(&self) -> Option<String> {
        self.req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()).filter(|v| !v.is_empty())
    }

    /// A cookie's value, if the request carries a non-empty one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.req.cookie(name).map(|c| c.value().to_owned()).filter(|v| !v.is_empty())
    }

    /// The client's address for throttling: the TCP peer, or what a proxy
    /// the operator trusts reports (never a header from anyone else).
    pub fn client_address(&self) -> String {
        store::client_address::client_address(
            self.state.settings.trusted_proxy.as_ref(),
            self.req.peer_addr().map(|a| a.ip()),
            |name| self.req.headers().get(name).and_then(|v| v.to_str().ok()),
        )
    }

    pub fn set_status(&self, status: StatusCode) {
        if let Some(res) = &self.res {
            res.set_status(status);
        }
    }

    pub fn set_cookie(&self, value: &str) {
        if let (Some(res), Ok(v)) = (&self.res, header::HeaderValue::from_str(value)) {
            res.append_header(header::SET_COOKIE, v);
        }
    }

    /// The signed-in member of business `slug`, if their role may use `page`;
    /// otherwise a refusal with 401 or 403.
    pub async fn member(&self, slug: &str, page: Page) -> Result<CurrentMember, AppError> {
        authorize(&self.state.db, &self.state.settings, self.session_token().as_deref(), slug, page)
            .await
            .map_err(|e| self.refuse(e))
    }

    /// Like `member`, and the member's role must also be one of `roles`
    /// (for actions finer than opening a page, such as editing).
    pub async fn member_in(&self, slug: &str, page: Page, roles: &[engine::Role]) -> Result<CurrentMember, AppError> {
        let member = self.member(slug, page).await?;
        if roles.contains(&member.role) {
            Ok(member)
        } else {
            Err(self.refuse(AuthError::Forbidden))
        }
    }

    /// A refusal as the HTTP status and message the caller sees.
    pub fn refuse(&self, err: AuthError) -> AppError {
        let (status, message) = match &err {
            e if e.needs_sign_in() => (StatusCode::UNAUTHORIZED, "Sign in to continue."),
            AuthError::OtherBusiness => (StatusCode::FORBIDDEN, "You are not a member of this business."),
            AuthError::Forbidden => (StatusCode::FORBIDDEN, "Your role does not allow this."),
            _ => return self.internal("checking your session", err),
        };
        self.refused(status, message)
    }

    /// Input problems: 422 with every field's reason.
    pub fn invalid(&self, errors: Vec<FieldError>) -> AppError {
        self.set_status(StatusCode::UNPROCESSABLE_ENTITY);
        AppError::Invalid(errors)
    }

    /// A refusal with a specific status, such as 404 or 429.
    pub fn refused(&self, status: StatusCode, message: impl Into<String>) -> AppError {
        self.set_status(status);
        AppError::Refused(message.into())
    }

    /// A JSON document typed into `field`, or a 422 saying why it is not JSON.
    pub fn json_field(&self, field: &str, text: &str) -> Result<serde_json::Value, AppError> {
        serde_json::from_str(text)
            .map_err(|e| self.invalid(vec![FieldError::new(field, format!("This is not valid JSON: {e}"))]))
    }

    /// A list read from the store, each row as the page shows it; a storage
    /// failure is logged and said as `what` ("listing workflows").
    pub fn rows<R, V>(
        &self,
        what: &str,
        read: Result<Vec<R>, impl std::fmt::Display>,
        view: impl FnMut(R) -> V,
    ) -> Result<Vec<V>, AppError> {
        Ok(read.map_err(|e| self.internal(what, e))?.into_iter().map(view).collect())
    }

    /// A month typed as YYYY-MM (empty: none), or a 422 on `month`.
    pub fn month(&self, month: &str) -> Result<Option<engine::kpi::Month>, AppError> {
        if month.trim().is_empty() {
            return Ok(None);
        }
        engine::kpi::Month::parse(month)
            .map(Some)
            .ok_or_else(|| self.invalid(vec![FieldError::new("month", "Pick a month as YYYY-MM, e.g. 2026-11.")]))
    }

    /// A review queue refusal as the status and message the caller sees.
    pub fn review_error(&self, e: store::reviews::ReviewError) -> AppError {
        use store::reviews::ReviewError;
        match e {
            ReviewError::NotFound => self.refused(StatusCode::NOT_FOUND, "There is no such review task."),
            e @ (ReviewError::AlreadyDecided { .. } | ReviewError::Claimed { .. }) => {
                self.refused(StatusCode::CONFLICT, e.to_string())
            }
            ReviewError::Invalid(errors) => self.invalid(errors),
            ReviewError::Refused(m) => self.refused(StatusCode::FORBIDDEN, m),
            ReviewError::Storage(e) => self.internal("working on the review queue", e),
        }
    }

    /// A dataset or replay refusal as the status and message the caller sees.
    pub fn dataset_error(&self, e: store::datasets::DatasetError) -> AppError {
        use store::datasets::DatasetError;
        match e {
            DatasetError::Refused(m) => self.refused(StatusCode::FORBIDDEN, m),
            DatasetError::NotFound(what) => self.refused(StatusCode::NOT_FOUND, format!("There is no {what} here.")),
            DatasetError::Invalid { field, reason } => self.invalid(vec![FieldError::new(field, reason)]),
            DatasetError::Storage(e) => self.internal("working on replays", e),
        }
    }

    /// An id typed or sent in `field`, or a 422 saying it is not one.
    pub fn uuid(&self, field: &str, text: &str) -> Result<uuid::Uuid, AppError> {
        uuid::Uuid::parse_str(text.trim()).map_err(|_| self.invalid(vec![FieldError::new(field, "Not a valid id.")]))
    }

    /// Changes to the business's automation carry a reason for the change log.
    pub fn require_reason(&self, field: &str, why: &str) -> Result<(), AppError> {
        if why.trim().is_empty() {
            return Err(
                self.invalid(vec![FieldError::new(field, "Say why you made this change; the change log keeps it.")])
            );
        }
        Ok(())
    }

    /// An unexpected failure: logged in full, shown briefly.
    pub fn internal(&self, context: &str, err: impl std::fmt::Display) -> AppError {
        failed(self.res.as_ref(), context, err)
    }
}

fn failed(res: Option<&ResponseOptions>, context: &str, err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "failed while {context}");
    if let Some(res) = res {
        res.set_status(StatusCode::INTERNAL_SERVER_ERROR);
    }
    AppError::Failed(format!("Something went wrong while {context}; please try again."))
}

/// A timestamp as lists show it: `2026-11-25 09:42` (UTC).
/// A new authenticator as the set-up pages show it.
pub fn enrolment_view(e: store::two_factor::Enrolment) -> crate::views::EnrolmentView {
    crate::views::EnrolmentView { secret: e.secret, otpauth_url: e.otpauth_url, qr_svg: e.qr_svg }
}

/// An audit event as the Audit log and Governance pages list it.
pub fn change_view(r: store::entities::audit_event::Model) -> crate::views::ChangeView {
    crate::views::ChangeView {
        seq: r.seq,
        at: short_time(&r.at),
        who: r.actor_email.unwrap_or_else(|| "Steward".into()),
        area: r.area,
        action: r.action,
        subject: r.subject,
        why: r.why,
    }
}

pub fn short_time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// The page's Content-Security-Policy: scripts only from Steward itself and
/// the inline scripts Leptos writes with this response's nonce (hydration,
/// streamed resources), WebAssembly compiled from Steward's own bundle;
/// styles from Steward (inline `style` attributes included); nothing framed,
/// no `<base>`, no plugins, forms posted only to Steward. Set while the shell
/// renders, before the response's head is sent.
pub fn content_security_policy() {
    let (Some(nonce), Some(res)) = (leptos::nonce::use_nonce(), use_context::<ResponseOptions>()) else { return };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; object-src 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&policy) {
        res.insert_header(actix_web::http::header::CONTENT_SECURITY_POLICY, value);
    }
}
