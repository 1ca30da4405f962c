//! `GET /api/v1/t/<business>/workflows/<workflow>/openapi.json`: the
//! OpenAPI document of one live workflow's ways in, with the record its
//! data contract accepts as the request body's schema (the global document
//! can only say "a JSON record"), the sender's proof for its trigger, and a
//! sample body — enough to integrate a sender from the document alone.

use crate::api_error::{api_caller, ApiError, Caller};
use actix_web::{web, HttpRequest, HttpResponse};
use engine::token_scope::TokenScope;
use serde_json::{json, Value};
use store::state::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/t/{business}/workflows/{workflow}/openapi.json",
    tag = "workflows",
    params(("business" = String, Path), ("workflow" = String, Path)),
    responses((status = 200, description = "The OpenAPI 3.1 document of this workflow's event endpoints, with its record's JSON Schema", body = Object), ApiError),
    security(("session" = []), ("token" = []))
)]
pub async fn workflow_openapi(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, workflow) = path.into_inner();
    let caller = api_caller(&req, &state, &slug, engine::Page::Workflows, TokenScope::SendEvents).await?;
    if let Caller::Token(token) = &caller {
        if !token.may_send_to(&workflow) {
            return Err(ApiError::Forbidden(format!("this API token may not send events to {workflow}")));
        }
    }
    let target = state.targets.get(&state.db, &state.settings, &slug, &workflow).await?;
    Ok(HttpResponse::Ok().json(document(&state, &target)))
}

/// The document for a live workflow.
fn document(state: &AppState, target: &store::ingest::Target) -> Value {
    let (slug, name) = (&target.tenant_slug, &target.workflow_name);
    let trigger = &target.contract.trigger;
    let signature = trigger.signature();
    let record = match &target.data_contract {
        Some(contract) => contract.json_schema(),
        None => {
            json!({ "type": "object", "description": "This workflow has no data contract: any JSON object is its record." })
        }
    };
    let sample = match (trigger.preset(), &target.data_contract) {
        (Some(preset), _) => preset.sample.clone(),
        (None, Some(contract)) => contract.sample(chrono::Utc::now()),
        (None, None) => json!({}),
    };
    // What a delivery carries: the record itself, or the vendor's payload that the preset maps (on every way in).
    let (hook_body, hook_about) = match trigger.preset() {
        Some(preset) => (
            json!({ "type": ["object", "array"], "description": format!("{}'s payload ({}), mapped to a {} record by the preset {}: {}", preset.vendor, preset.event, preset.data_contract, preset.name, preset.documentation) }),
            format!("Sent by {}. {}", preset.vendor, signature.instructions()),
        ),
        None => (json!({ "$ref": "#/components/schemas/Record" }), signature.instructions()),
    };
    let answers = json!({
        "202": { "description": "Accepted and committed; the run is queued", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/AcceptedEvent" } } } },
        "200": { "description": "A repeat of an accepted delivery: the original run", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/AcceptedEvent" } } } },
        "4XX": { "description": "Refused, with the field and the reason", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } } },
        "503": { "description": "Steward cannot store the event right now; send it again after Retry-After", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } } },
    });
    let global = crate::openapi::document();
    let mut schemas = serde_json::Map::new();
    for shared in ["AcceptedEvent", "ErrorBody", "FieldProblem"] {
        schemas.insert(shared.into(), global["components"]["schemas"][shared].clone());
    }
    schemas.insert("Record".into(), record);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("{name} — events for {slug}"),
            "version": target.version.to_string(),
            "description": format!("How to send events to version {} of the workflow {name}. Every accepted event is committed before the answer; a repeat of the same idempotency key is answered with the original run.", target.version),
            "license": { "name": "MIT", "identifier": "MIT" },
        },
        "servers": [{ "url": state.settings.public_origin() }],
        "paths": {
            format!("/api/v1/t/{slug}/workflows/{name}/events"): { "post": {
                "summary": "Send a record as a program (API token or session)",
                "operationId": "sendEvent",
                "security": [{ "token": [] }, { "session": [] }],
                "parameters": [{ "name": "Idempotency-Key", "in": "header", "required": false, "schema": { "type": "string" }, "description": "Makes a repeat count once" }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": hook_body.clone(), "example": sample.clone() } } },
                "responses": answers,
            }},
            format!("/hooks/{slug}/{name}"): { "post": {
                "summary": format!("A webhook delivery, proven by {}", signature.scheme.label()),
                "operationId": "deliverWebhook",
                "description": hook_about,
                "requestBody": { "required": true, "content": { "application/json": { "schema": hook_body, "example": sample } } },
                "responses": answers,
            }},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": global["components"]["securitySchemes"].clone(),
        },
    })
}
