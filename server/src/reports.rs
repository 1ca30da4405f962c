//! Proof-of-value doors: `POST /hooks/<business>/<workflow>/outcomes`, where
//! a CRM or any system reports a business outcome back (a deal won for a
//! lead), signed like the workflow's webhook; and
//! `GET /t/<business>/reports/<YYYY-MM>.pdf`, the month's report as a PDF
//! behind the Reports page's role check.

use crate::api_error::{member, ApiError};
use crate::ingest::read_body;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use engine::kpi::Month;
use serde::{Deserialize, Serialize};
use store::state::AppState;
use utoipa::ToSchema;

/// An outcome reported back.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OutcomeReport {
    /// The outcome's event type, e.g. `deal.won` (the baseline names the one the workflow serves).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The run the outcome is about, when the sender knows it (the id the webhook answered with).
    pub run_id: Option<String>,
    /// What it was worth, if anything.
    pub value: Option<serde_json::Value>,
    /// When it happened (RFC 3339); default now.
    pub occurred_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutcomeAccepted {
    /// `recorded`, or `duplicate` for a repeat of the same `webhook-id`.
    pub status: String,
}

/// How far back an outcome may have happened: the scorecards look back a year.
const OUTCOME_PAST_DAYS: i64 = 366;

/// Checks the report field by field.
fn parse(body: &[u8]) -> Result<store::kpis::Outcome, ApiError> {
    let report: OutcomeReport = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("body", format!("the body is not a JSON outcome: {e}")))?;
    let mut problems = Vec::new();
    let kind = report.kind.unwrap_or_default().trim().to_owned();
    if kind.is_empty() || kind.len() > 60 || !kind.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        problems.push((
            "type".into(),
            "required".into(),
            "name the outcome, e.g. deal.won (letters, digits, dots, dashes)".into(),
        ));
    }
    let run_id = match report.run_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match uuid::Uuid::parse_str(s) {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push(("run_id".into(), "format".into(), "a run id is a UUID, as the webhook answered".into()));
                None
            }
        },
    };
    let value = match report.value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && v >= 0.0 => Some(v),
            _ => {
                problems.push(("value".into(), "range".into(), "the value is a finite amount of zero or more".into()));
                None
            }
        },
        Some(_) => {
            problems.push(("value".into(), "type".into(), "the value is a number".into()));
            None
        }
    };
    let occurred_at = match report.occurred_at.as_deref() {
        None => chrono::Utc::now(),
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&chrono::Utc),
            Err(_) => {
                problems.push((
                    "occurred_at".into(),
                    "format".into(),
                    "a time in RFC 3339, e.g. 2026-11-20T10:00:00Z".into(),
                ));
                chrono::Utc::now()
            }
        },
    };
    if occurred_at > chrono::Utc::now() + chrono::Duration::minutes(5) {
        problems.push(("occurred_at".into(), "range".into(), "an outcome cannot happen in the future".into()));
    } else if occurred_at < chrono::Utc::now() - chrono::Duration::days(OUTCOME_PAST_DAYS) {
        problems.push((
            "occurred_at".into(),
            "range".into(),
            format!("an outcome is reported within {OUTCOME_PAST_DAYS} days of when it happened"),
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems));
    }
    Ok(store::kpis::Outcome { outcome: kind, run_id, value, occurred_at, idempotency_key: None })
}

/// `POST /hooks/{business}/{workflow}/outcomes`
#[utoipa::path(
    post,
    path = "/hooks/{business}/{workflow}/outcomes",
    tag = "reports",
    params(("business" = String, Path), ("workflow" = String, Path),
           ("webhook-id" = String, Header, description = "Makes a repeat count once"),
           ("webhook-timestamp" = String, Header), ("webhook-signature" = String, Header, description = "Signed with the workflow's webhook secret")),
    request_body(content = OutcomeReport, description = "The outcome"),
    responses(
        (status = 202, description = "Recorded (committed)", body = OutcomeAccepted),
        (status = 200, description = "A repeat of a recorded outcome", body = OutcomeAccepted),
        ApiError,
    )
)]
pub async fn outcome_hook(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, workflow) = path.into_inner();
    crate::ingest::no_nul_in_path("business", &slug)?;
    crate::ingest::no_nul_in_path("workflow", &workflow)?;
    let body = read_body(payload, state.settings.max_event_bytes).await?;
    crate::ingest::utf8_body(&body)?;
    let headers = crate::ingest::signature_headers(&req);
    let mut target = state.targets.get(&state.db, &state.settings, &slug, &workflow).await?;
    if target.verify(&headers, &body).is_err() {
        // The remembered secrets may be out of date: judge by the stored ones.
        target = state.targets.reload(&state.db, &state.settings, &slug, &workflow).await?;
        target.verify(&headers, &body)?;
    }
    let mut outcome = parse(&body)?;
    outcome.idempotency_key = headers.id.clone();
    use store::kpis::OutcomeRecorded;
    match store::kpis::record_outcome(&state.db, &target.tenant, &target.workflow_name, &outcome).await? {
        OutcomeRecorded::New => Ok(HttpResponse::Accepted().json(OutcomeAccepted { status: "recorded".into() })),
        OutcomeRecorded::Duplicate => Ok(HttpResponse::Ok().json(OutcomeAccepted { status: "duplicate".into() })),
        OutcomeRecorded::UnknownRun => Err(ApiError::invalid(vec![(
            "run_id".into(),
            "exists".into(),
            format!("there is no run {} of {workflow}", outcome.run_id.unwrap_or_default()),
        )])),
    }
}

/// `GET /t/{slug}/reports/{month}.pdf`
pub async fn report_pdf(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, file) = path.into_inner();
    let member = member(&req, &state, &slug, engine::Page::Reports).await?;
    let Some(month) = file.strip_suffix(".pdf").and_then(Month::parse) else {
        return Err(ApiError::NotFound("a report is named YYYY-MM.pdf".into()));
    };
    let now = chrono::Utc::now();
    let loaded = store::kpis::load(&state.db, &member.tenant, Some(month), now).await?;
    if month > loaded.current_month {
        return Err(ApiError::NotFound("that month has not started".into()));
    }
    let url = format!("{}/t/{slug}/reports?month={month}", state.settings.public_url.as_str().trim_end_matches('/'));
    let report = engine::report::Report { card: &loaded.card, history: &loaded.history };
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"steward-scorecard-{month}.pdf\"")))
        .body(engine::report_pdf::render(&report, &url)))
}
