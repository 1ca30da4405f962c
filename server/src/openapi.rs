//! The OpenAPI document of Steward's public HTTP API, served at
//! `/api/openapi.json` and generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Steward", description = "Events in, runs out: webhooks (Standard Webhooks, CloudEvents 1.0, and the schemes a trigger names), the events API, run status and review decisions. Programs authenticate with an API token (`Authorization: Bearer`).",
        license(name = "MIT", identifier = "MIT")),
    servers((url = "/", description = "This Steward installation (paths are relative to its public address)")),
    paths(crate::ingest::webhook, crate::ingest::webhook_at_secret_path, crate::ingest::api_event, crate::ingest::run_status, crate::forms::submit_doc,
        crate::review_api::decide, crate::slack_interactions::interaction, crate::reports::outcome_hook, crate::bundle_export::bundle_yaml, crate::workflow_api::workflow_openapi, crate::health::healthz, crate::health::readyz),
    components(schemas(crate::ingest::AcceptedEvent, crate::ingest::AcceptedBatch, crate::ingest::RunState, crate::ingest::StepState, crate::api_error::ErrorBody, crate::api_error::FieldProblem,
        crate::review_api::DecisionRequest, crate::review_api::DecisionTaken, crate::reports::OutcomeReport, crate::reports::OutcomeAccepted,
        crate::health::Health, crate::health::Readiness)),
    modifiers(&SessionCookie),
    tags((name = "ingestion", description = "Sending events to a workflow"), (name = "runs", description = "What became of them"), (name = "review", description = "A person's decision on a review task"),
        (name = "reports", description = "Business outcomes reported back, for the monthly scorecard"),
        (name = "workflows", description = "Workflows as files"), (name = "operations", description = "Health and readiness"))
)]
pub struct ApiDoc;

struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(store::auth::SESSION_COOKIE))),
            );
            components.add_security_scheme(
                "token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("stw_<8 hex>_<43 base64url>")
                        .description(Some(
                            "An API token made in Settings → API tokens; it acts as its maker within its scopes \
                             (send_events, read_runs, decide_reviews, export_bundles). No Origin header is needed.",
                        ))
                        .build(),
                ),
            );
        }
    }
}

/// The document as JSON, generated once per process (it depends only on the code).
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes"))
}

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
