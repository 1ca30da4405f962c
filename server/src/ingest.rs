//! The public doors events come in by: `POST /hooks/<business>/<workflow>`
//! (Standard Webhooks signatures; plain JSON or CloudEvents 1.0 in
//! structured or binary mode), the signed-in events API, and the run status
//! API. Every answer is JSON with a reason; an accepted event is committed
//! before the 202.

use crate::api_error::{ApiError, Caller};
use actix_web::{http::header, web, HttpRequest, HttpResponse, ResponseError};
use engine::token_scope::TokenScope;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::ingest::{self, Accepted, Channel, Incoming, IngestError, Target};
use store::state::AppState;
use store::webhook_secrets::SignatureHeaders;
use utoipa::ToSchema;

/// What a sender hears when an event is accepted (202) or repeated (200).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedEvent {
    /// The run the event started.
    pub run_id: uuid::Uuid,
    /// `queued` for a new event; `duplicate` for a repeat of an accepted one.
    pub status: String,
    /// Where the run's status can be read (JSON, for a signed-in member).
    pub status_url: String,
}

/// What a batching sender (HubSpot) hears: one entry per event of the batch,
/// in order; 202 when any is new, 200 when all were repeats.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedBatch {
    pub runs: Vec<AcceptedEvent>,
}

/// How long the door waits for a body once its head has arrived: a sender
/// that declares more bytes than it sends is cut off (408), not left holding
/// a connection open.
pub const BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the body, refusing it (413) past the configured limit and (408)
/// when it has not arrived within `BODY_WAIT`.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let read = async move {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request("body", format!("the body could not be read: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(BODY_WAIT, read).await.map_err(|_| ApiError::SlowBody(BODY_WAIT.as_secs()))?
}

/// A body as text: refused (400) when it is not UTF-8, before any signature
/// is judged, so a sender hears what is really wrong.
pub fn utf8_body(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request("body", format!("the body is not UTF-8 (invalid byte at offset {})", e.valid_up_to()))
    })
}

/// Refuses (400) a path segment with a NUL character: PostgreSQL stores no
/// NUL in text, and an address never has one.
pub fn no_nul_in_path(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::bad_request(field, format!("the {field} in the address contains a NUL character")));
    }
    Ok(())
}

/// The 422 for a NUL character in `field` (a record's field path, a form field).
pub fn nul_refusal(field: String) -> ApiError {
    ApiError::invalid(vec![(
        field,
        "characters".into(),
        "the text contains a NUL character (\\u0000), which Steward does not store".into(),
    )])
}

fn header_text(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).filter(|v| !v.trim().is_empty())
}

/// The Standard Webhooks headers of a delivery.
pub fn signature_headers(req: &HttpRequest) -> SignatureHeaders {
    SignatureHeaders {
        id: header_text(req, "webhook-id"),
        timestamp: header_text(req, "webhook-timestamp"),
        signature: header_text(req, "webhook-signature"),
    }
}

pub fn status_url(state: &AppState, slug: &str, run_id: uuid::Uuid) -> String {
    format!("{}/api/v1/t/{slug}/runs/{run_id}", state.settings.public_url.as_str().trim_end_matches('/'))
}

/// How many times the door reads a workflow afresh for one event before
/// it gives up (the business changing its configuration that often).
const READS: usize = 3;

/// What became of an accepted event, waking its run when it is new.
fn accepted_event(state: &AppState, target: &Target, accepted: &Accepted) -> AcceptedEvent {
    let run_id = accepted.run_id();
    let status = match accepted {
        Accepted::New { .. } => {
            // The event and run are committed; the wake-up is best-effort (the sweeper covers it).
            state.wake(ingest::run_job(target, run_id));
            "queued"
        }
        Accepted::Duplicate { .. } => "duplicate",
    };
    AcceptedEvent { run_id, status: status.into(), status_url: status_url(state, &target.tenant_slug, run_id) }
}

/// Says what became of an accepted event: 202 when new, 200 for a repeat.
fn answer(state: &AppState, target: &Target, accepted: Accepted) -> HttpResponse {
    let body = accepted_event(state, target, &accepted);
    match accepted {
        Accepted::New { .. } => HttpResponse::Accepted().json(body),
        Accepted::Duplicate { .. } => HttpResponse::Ok().json(body),
    }
}

/// Records a refused delivery with its status and reason (best-effort: the refusal stands either way).
async fn refused(state: &AppState, target: &Target, workflow: &str, channel: Channel, outcome: &str, e: &ApiError) {
    let status = e.status_code().as_u16();
    let _ =
        ingest::record_delivery(&state.db, &target.tenant, workflow, channel, outcome, status, &e.to_string(), None)
            .await;
}

/// How a delivery comes to the door: signed by a sender (with the secret
/// path segment, for senders that can do nothing else), or from a member
/// already signed in.
#[derive(Clone, Copy)]
enum Proof<'a> {
    Sender { path_secret: Option<&'a str> },
    Member,
}

/// Accepts a delivery for a workflow: its target from memory (read afresh
/// when the business changed it meanwhile, and when a sender's proof fails
/// against the remembered secrets), the sender's proof per the trigger's
/// scheme, the record, and one commit before the answer.
async fn door(
    state: &AppState,
    req: &HttpRequest,
    slug: &str,
    workflow: &str,
    body: &[u8],
    channel: Channel,
    proof: Proof<'_>,
) -> Result<HttpResponse, ApiError> {
    let (db, settings) = (&state.db, &state.settings);
    let started = std::time::Instant::now();
    no_nul_in_path("business", slug)?;
    no_nul_in_path("workflow", workflow)?;
    utf8_body(body)?;
    let mut target = state.targets.get(db, settings, slug, workflow).await?;
    let mut fresh = false;
    let headers = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    // HubSpot signs the address it called, which is Steward's public address.
    let url = format!("{}{}", settings.public_origin(), req.uri());
    for _ in 0..READS {
        let mut vendor_key = None;
        if let Proof::Sender { path_secret } = proof {
            let delivery = store::sender_proof::Delivery {
                method: req.method().as_str(),
                url: &url,
                headers: &headers,
                body,
                path_secret,
                now: chrono::Utc::now().timestamp(),
            };
            match target.prove(&delivery) {
                Ok(proven) => {
                    let scheme = target.contract.trigger.signature().scheme;
                    vendor_key = proven.vendor_id.map(|id| format!("{}:{id}", scheme.as_str()));
                }
                Err(_) if !fresh => {
                    target = state.targets.reload(db, settings, slug, workflow).await?;
                    fresh = true;
                    continue;
                }
                Err(e) => {
                    let e = ApiError::from(e);
                    refused(state, &target, workflow, channel, "unauthorized", &e).await;
                    return Err(e);
                }
            }
        }
        let mut incoming = match interpret(req, body, &target.contract.trigger.event, channel) {
            Ok(i) => i,
            Err(e) => {
                refused(state, &target, workflow, channel, "rejected", &e).await;
                return Err(e);
            }
        };
        // A vendor's own event id makes its retries count once.
        if incoming.idempotency_key.is_none() {
            incoming.idempotency_key = vendor_key;
        }
        if let Some(events) = hubspot_batch(&target, &incoming) {
            return accept_batch(state, target, slug, workflow, events, started).await;
        }
        match ingest::accept(db, settings, &target, &incoming, chrono::Utc::now()).await {
            Err(IngestError::Stale) => {
                target = state.targets.reload(db, settings, slug, workflow).await?;
                fresh = true;
            }
            Err(e) => return Err(e.into()),
            Ok(accepted) => {
                metrics::histogram!(store::measure::ACCEPT_SECONDS, "channel" => channel.as_str())
                    .record(started.elapsed().as_secs_f64());
                return Ok(answer(state, &target, accepted));
            }
        }
    }
    Err(ApiError::Storage(format!("{workflow} kept changing while the event came in")))
}

/// HubSpot batches its webhook events (up to 100 in a JSON array, each with
/// its own `eventId`): each becomes its own event and run, keyed by its id,
/// so none is folded into another and a retried batch repeats nothing.
fn hubspot_batch(target: &Target, incoming: &Incoming) -> Option<Vec<Incoming>> {
    let hubspot = target.contract.trigger.signature().scheme == engine::sender_proof::Scheme::Hubspot;
    let events =
        incoming.record.as_array().filter(|a| hubspot && !a.is_empty() && incoming.channel != Channel::CloudEvent)?;
    Some(
        events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                Incoming {
                    channel: incoming.channel,
                    event_type: incoming.event_type.clone(),
                    idempotency_key: store::sender_proof::hubspot_event_id(event)
                        .map(|id| format!("hubspot:{id}"))
                        .or_else(|| {
                            // Without ids, a key the sender gave names the batch; each event its place in it.
                            incoming.idempotency_key.as_ref().map(|k| format!("{k}:{i}"))
                        }),
                    record: event.clone(),
                    raw: event.clone(),
                }
            })
            .collect(),
    )
}

/// Accepts a batch's events in order, each committed before the answer. A
/// refused event stops the batch with its reasons (fields as `[i].field`);
/// those before it stay accepted, and the sender's retry repeats them.
async fn accept_batch(
    state: &AppState,
    mut target: std::sync::Arc<Target>,
    slug: &str,
    workflow: &str,
    events: Vec<Incoming>,
    started: std::time::Instant,
) -> Result<HttpResponse, ApiError> {
    let (db, settings) = (&state.db, &state.settings);
    let mut runs = Vec::with_capacity(events.len());
    let mut any_new = false;
    for (i, event) in events.iter().enumerate() {
        let mut reads = 1;
        let accepted = loop {
            match ingest::accept(db, settings, &target, event, chrono::Utc::now()).await {
                Err(IngestError::Stale) if reads < READS => {
                    target = state.targets.reload(db, settings, slug, workflow).await?;
                    reads += 1;
                }
                Err(IngestError::Invalid(violations)) => {
                    return Err(ApiError::invalid(
                        violations
                            .into_iter()
                            .map(|v| (format!("[{i}].{}", v.field), v.rule, format!("event {i}: {}", v.message)))
                            .collect(),
                    ))
                }
                Err(e) => return Err(e.into()),
                Ok(accepted) => break accepted,
            }
        };
        any_new |= matches!(accepted, Accepted::New { .. });
        runs.push(accepted_event(state, &target, &accepted));
    }
    metrics::histogram!(store::measure::ACCEPT_SECONDS, "channel" => events[0].channel.as_str())
        .record(started.elapsed().as_secs_f64());
    let body = AcceptedBatch { runs };
    Ok(if any_new { HttpResponse::Accepted().json(body) } else { HttpResponse::Ok().json(body) })
}

/// A CloudEvents attribute sent as a `ce-<name>` header (binary mode),
/// percent-decoded as the HTTP binding requires, so an event sent in binary
/// mode carries the same id as the same event sent structured. A value that
/// does not decode to UTF-8 text without NUL is refused naming the attribute.
fn ce_header(req: &HttpRequest, name: &str) -> Result<Option<String>, ApiError> {
    let Some(raw) = header_text(req, &format!("ce-{name}")) else { return Ok(None) };
    let decoded = percent_encoding::percent_decode_str(&raw).decode_utf8().map_err(|_| {
        ApiError::bad_request(name, format!("the CloudEvents header ce-{name} does not percent-decode to UTF-8"))
    })?;
    if decoded.contains('\0') {
        return Err(ApiError::bad_request(name, format!("the CloudEvents header ce-{name} contains a NUL character")));
    }
    Ok(Some(decoded.into_owned()).filter(|v| !v.trim().is_empty()))
}

/// Turns a delivery into an event, by its content type: CloudEvents
/// structured (`application/cloudevents+json`), CloudEvents binary (`ce-*`
/// headers), or a plain JSON record.
pub fn interpret(req: &HttpRequest, body: &[u8], expected_event: &str, channel: Channel) -> Result<Incoming, ApiError> {
    let content_type = header_text(req, "content-type").unwrap_or_default().to_lowercase();
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("body", format!("the body is not JSON: {e}")))?;
    if let Some(field) = engine::no_nul::nul_in(&parsed, "") {
        return Err(nul_refusal(if field.is_empty() { "body".into() } else { field }));
    }
    let check_type = |found: &str| {
        if found == expected_event {
            Ok(())
        } else {
            Err(ApiError::invalid(vec![(
                "type".into(),
                "type".into(),
                format!("this workflow takes '{expected_event}' events, not '{found}'"),
            )]))
        }
    };
    if content_type.starts_with("application/cloudevents+json") {
        let mut missing = Vec::new();
        for attr in ["specversion", "id", "source", "type"] {
            if parsed.get(attr).and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
                missing.push((
                    attr.to_string(),
                    "required".to_string(),
                    format!("the CloudEvents attribute `{attr}` is required"),
                ));
            }
        }
        if parsed.get("specversion").and_then(Value::as_str).is_some_and(|v| v != "1.0") {
            missing.push((
                "specversion".into(),
                "allowed".into(),
                "only CloudEvents specversion 1.0 is accepted".into(),
            ));
        }
        if !missing.is_empty() {
            return Err(ApiError::invalid(missing));
        }
        let event_type = parsed["type"].as_str().unwrap_or_default().to_owned();
        check_type(&event_type)?;
        return Ok(Incoming {
            channel: Channel::CloudEvent,
            event_type,
            idempotency_key: parsed["id"]
                .as_str()
                .map(|id| format!("ce:{}:{id}", parsed["source"].as_str().unwrap_or_default())),
            record: parsed.get("data").cloned().unwrap_or(Value::Null),
            raw: parsed,
        });
    }
    if let Some(spec) = ce_header(req, "specversion")? {
        let mut missing = Vec::new();
        for attr in ["id", "source", "type"] {
            if ce_header(req, attr)?.is_none() {
                missing.push((
                    attr.to_string(),
                    "required".to_string(),
                    format!("the CloudEvents header `ce-{attr}` is required"),
                ));
            }
        }
        if spec != "1.0" {
            missing.push((
                "specversion".into(),
                "allowed".into(),
                "only CloudEvents specversion 1.0 is accepted".into(),
            ));
        }
        if !missing.is_empty() {
            return Err(ApiError::invalid(missing));
        }
        let event_type = ce_header(req, "type")?.unwrap_or_default();
        check_type(&event_type)?;
        let mut attributes = serde_json::Map::new();
        for name in req.headers().keys().filter_map(|k| k.as_str().strip_prefix("ce-")) {
            attributes.insert(name.to_owned(), json!(ce_header(req, name)?));
        }
        return Ok(Incoming {
            channel: Channel::CloudEvent,
            event_type,
            idempotency_key: Some(format!(
                "ce:{}:{}",
                ce_header(req, "source")?.unwrap_or_default(),
                ce_header(req, "id")?.unwrap_or_default()
            )),
            raw: json!({ "attributes": attributes, "data": parsed }),
            record: parsed,
        });
    }
    let key = header_text(req, "idempotency-key").or_else(|| header_text(req, "webhook-id"));
    Ok(Incoming {
        channel,
        event_type: expected_event.to_owned(),
        idempotency_key: key,
        raw: parsed.clone(),
        record: parsed,
    })
}

/// `POST /hooks/{business}/{workflow}`
#[utoipa::path(
    post,
    path = "/hooks/{business}/{workflow}",
    tag = "ingestion",
    params(
        ("business" = String, Path, description = "The business's address, e.g. acme-plumbing"),
        ("workflow" = String, Path, description = "The workflow's name"),
        ("webhook-id" = String, Header, description = "Standard Webhooks message id; also the idempotency key"),
        ("webhook-timestamp" = i64, Header, description = "Unix seconds; refused when more than 5 minutes off"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`"),
        ("Idempotency-Key" = Option<String>, Header, description = "Overrides webhook-id as the idempotency key"),
    ),
    request_body(content = serde_json::Value, description = "The record as JSON, or a CloudEvent (structured: application/cloudevents+json; binary: ce-* headers)"),
    responses(
        (status = 202, description = "Accepted and committed; the run is queued. A HubSpot batch (a JSON array under the hubspot scheme) is answered with `AcceptedBatch`, one entry per event.", body = AcceptedEvent),
        (status = 200, description = "A repeat of an accepted delivery: the original run (`AcceptedBatch` for a HubSpot batch of repeats)", body = AcceptedEvent),
        ApiError,
    )
)]
pub async fn webhook(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, workflow) = path.into_inner();
    let body = read_body(payload, state.settings.max_event_bytes).await?;
    door(&state, &req, &slug, &workflow, &body, Channel::Webhook, Proof::Sender { path_secret: None }).await
}

#[utoipa::path(
    post,
    path = "/hooks/{business}/{workflow}/{secret}",
    tag = "ingestion",
    params(
        ("business" = String, Path, description = "The business's address"),
        ("workflow" = String, Path, description = "The workflow's name; its trigger has `signature: secret_path`"),
        ("secret" = String, Path, description = "The workflow's secret in its address form, as the workflow page shows it"),
    ),
    request_body(content = serde_json::Value, description = "The record as JSON"),
    responses(
        (status = 202, description = "Accepted and committed; the run is queued", body = AcceptedEvent),
        (status = 200, description = "A repeat (same Idempotency-Key): the original run", body = AcceptedEvent),
        ApiError,
    )
)]
/// `POST /hooks/{business}/{workflow}/{secret}`: for senders that can only
/// call an address (a trigger with `signature: secret_path`).
pub async fn webhook_at_secret_path(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, workflow, secret) = path.into_inner();
    let body = read_body(payload, state.settings.max_event_bytes).await?;
    door(&state, &req, &slug, &workflow, &body, Channel::Webhook, Proof::Sender { path_secret: Some(&secret) }).await
}

/// `POST /api/v1/t/{business}/workflows/{workflow}/events`: an internal
/// message from a signed-in engineer, operator or owner (or a tool using
/// their session).
#[utoipa::path(
    post,
    path = "/api/v1/t/{business}/workflows/{workflow}/events",
    tag = "ingestion",
    params(("business" = String, Path), ("workflow" = String, Path),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a repeat count once")),
    request_body(content = serde_json::Value, description = "The record as JSON"),
    responses(
        (status = 202, description = "Accepted and committed", body = AcceptedEvent),
        (status = 200, description = "A repeat: the original run", body = AcceptedEvent),
        ApiError,
    ),
    security(("session" = []), ("token" = []))
)]
pub async fn api_event(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, workflow) = path.into_inner();
    let caller = crate::api_error::api_caller(&req, &state, &slug, engine::Page::Runs, TokenScope::SendEvents).await?;
    if !engine::access::may_send_events(caller.member().role) {
        return Err(ApiError::Forbidden("engineers, operations and owners send events; your role does not".into()));
    }
    if let Caller::Token(token) = &caller {
        if !token.may_send_to(&workflow) {
            return Err(ApiError::Forbidden(format!("this API token may not send events to {workflow}")));
        }
    }
    let body = read_body(payload, state.settings.max_event_bytes).await?;
    door(&state, &req, &slug, &workflow, &body, Channel::Api, Proof::Member).await
}

/// A run's state, for whoever sent its event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunState {
    pub run_id: uuid::Uuid,
    pub workflow: String,
    pub workflow_version: i32,
    /// queued, running, waiting_for_review, completed, failed or cancelled.
    pub status: String,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The steps finished so far, in order.
    pub steps: Vec<StepState>,
}

/// One step of a run, as the run status API reports it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StepState {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
}

/// `GET /api/v1/t/{business}/runs/{run_id}`
#[utoipa::path(
    get,
    path = "/api/v1/t/{business}/runs/{run_id}",
    tag = "runs",
    params(("business" = String, Path), ("run_id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The run", body = RunState), ApiError),
    security(("session" = []), ("token" = []))
)]
pub async fn run_status(
    req: HttpRequest,
    path: web::Path<(String, uuid::Uuid)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, run_id) = path.into_inner();
    let caller = crate::api_error::api_caller(&req, &state, &slug, engine::Page::Runs, TokenScope::ReadRuns).await?;
    let member = caller.member();
    let detail = store::runs::detail(&state.db, &member.tenant, run_id)
        .await?
        .ok_or(ApiError::NotFound("there is no such run".into()))?;
    Ok(HttpResponse::Ok().json(RunState {
        run_id,
        workflow: detail.run.workflow_name,
        workflow_version: detail.run.workflow_version,
        status: detail.run.status.to_string(),
        error: detail.run.error,
        created_at: detail.run.created_at,
        finished_at: detail.run.finished_at,
        steps: detail
            .steps
            .into_iter()
            .map(|s| StepState {
                id: s.step_id,
                kind: s.kind.to_string(),
                status: s.status.to_string(),
                attempts: s.attempts,
            })
            .collect(),
    }))
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::UnknownWorkflow(_) => ApiError::NotFound(e.to_string()),
            IngestError::NotPublished(_) => ApiError::NotPublished(e.to_string()),
            IngestError::Unauthorized(reason) => ApiError::Unauthorized(reason),
            IngestError::Invalid(violations) => {
                ApiError::invalid(violations.into_iter().map(|v| (v.field, v.rule, v.message)).collect())
            }
            IngestError::Storage(e) => ApiError::from(e),
            IngestError::Stale => {
                ApiError::Storage("the workflow's configuration changed while the event came in".into())
            }
        }
    }
}

/// `GET /demo/company-lookup?email=…`: the demo business's stand-in for a
/// company-data provider, so the seeded workflow's enrichment step makes a
/// real HTTP call with no outside service. Deterministic by domain.
pub async fn demo_company_lookup(
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let email = query.get("email").cloned().unwrap_or_default();
    let domain = email.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default();
    if domain.is_empty() {
        return Err(ApiError::bad_request("email", "give an email address whose domain to look up"));
    }
    // `.invalid` never resolves (RFC 2606): the demo directory has no answer for it.
    if domain.ends_with(".invalid") {
        return Ok(HttpResponse::ServiceUnavailable()
            .json(json!({ "error": "the demo directory has no entry for this domain right now" })));
    }
    let hash = domain.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    let industries = ["dental care", "property management", "hospitality", "retail", "construction", "healthcare"];
    let name = domain.split('.').next().unwrap_or(&domain).replace('-', " ");
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "public, max-age=3600")).json(json!({
        "domain": domain,
        "name": name,
        "industry": industries[(hash % industries.len() as u64) as usize],
        "employees": 5 + (hash % 400),
        "source": "steward demo directory",
    })))
}
