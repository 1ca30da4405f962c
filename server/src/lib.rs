#![recursion_limit = "256"]
//! Steward's HTTP server: the Leptos app (SSR + hydration), health checks and
//! the middleware every request passes (request ids, CSRF, page access).

pub mod api_error;
pub mod approve;
pub mod bad_input;
pub mod bundle_export;
pub mod cli;
pub mod csrf;
pub mod csv_exports;
pub mod forms;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod page_guard;
pub mod page_head;
pub mod reports;
pub mod request_log;
pub mod review_api;
pub mod security_headers;
pub mod site_files;
pub mod slack_interactions;
pub mod smtp_capture;
pub mod startup;
pub mod telemetry;
pub mod workflow_api;

/// The address a request counts against for rate limits: the TCP peer, or
/// what a proxy the operator trusts reports (see `store::client_address`).
pub fn client_address(state: &store::state::AppState, req: &actix_web::HttpRequest) -> String {
    store::client_address::client_address(
        state.settings.trusted_proxy.as_ref(),
        req.peer_addr().map(|a| a.ip()),
        |name| req.headers().get(name).and_then(|v| v.to_str().ok()),
    )
}
