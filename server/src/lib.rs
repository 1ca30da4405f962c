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
pub mod reports;
pub mod request_log;
pub mod review_api;
pub mod smtp_capture;
pub mod startup;
pub mod telemetry;
