//! `GET /metrics`: Steward's series in Prometheus text format (the names
//! are in `store::measure`). Off unless configured: with
//! `STEWARD_METRICS_TOKEN` it answers `Authorization: Bearer <token>` on the
//! main address; with `STEWARD_METRICS_BIND` it also answers, without a
//! token, on that address of its own (meant for a private network).
//! Counters move as work happens; the gauges about work waiting (queues,
//! workers, runs, reviews, outbox) are read when Prometheus asks, the ones
//! summed over every business at most every 15 seconds.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use futures::StreamExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use store::measure::{self, Totals};
use store::state::AppState;
use store::workers::QueueOverview;
use subtle::ConstantTimeEq;

/// Sums over every business are this fresh at least.
const TOTALS_FRESH: Duration = Duration::from_secs(15);

static TOTALS: Mutex<Option<(Instant, Totals)>> = Mutex::new(None);

/// The answer to a request that may not read the metrics; `None` on the metrics address or with the token.
fn refusal(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let config = &state.settings.metrics;
    let on_metrics_address = config
        .bind
        .as_deref()
        .and_then(|b| b.parse::<std::net::SocketAddr>().ok())
        .is_some_and(|b| b.port() == req.app_config().local_addr().port());
    if on_metrics_address {
        return None;
    }
    let Some(token) = &config.token else {
        return Some(HttpResponse::NotFound().json(serde_json::json!({
            "error": "not_found",
            "message": "metrics are off here; set STEWARD_METRICS_TOKEN or STEWARD_METRICS_BIND",
        })));
    };
    let given =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Compared in constant time: the token is a password.
    match given {
        Some(given) if bool::from(given.as_bytes().ct_eq(token.as_bytes())) => None,
        _ => Some(HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"steward-metrics\""))
            .json(serde_json::json!({ "error": "unauthorized", "message": "send Authorization: Bearer <STEWARD_METRICS_TOKEN>" }))),
    }
}

pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refused) = refusal(&req, &state) {
        return refused;
    }
    let handle = measure::recorder();
    measure::pool(&state.db);
    let deadline = Duration::from_millis(500);
    match store::workers::overview(&state.db, &state.runs, &state.mail, &state.replays, &state.settings, deadline).await
    {
        Ok(queues) => queue_gauges(&queues),
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the workers' heartbeats"),
    }
    match totals(&state).await {
        Ok(t) => total_gauges(&t),
        Err(e) => tracing::warn!(error = %e, "metrics: could not sum the businesses' work"),
    }
    match migrations::spare::waiting(&state.db).await {
        Ok(n) => metrics::gauge!(measure::SPARE_SCHEMAS).set(n as f64),
        Err(e) => tracing::warn!(error = %e, "metrics: could not count the spare schemas"),
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(handle.render())
}

fn queue_gauges(queues: &[QueueOverview]) {
    let now = chrono::Utc::now();
    for q in queues {
        let queue = q.health.queue.as_str();
        metrics::gauge!(measure::WORKERS, "queue" => queue).set(q.health.consumers as f64);
        metrics::gauge!(measure::STALLED, "queue" => queue).set(if q.stalled.is_some() { 1.0 } else { 0.0 });
        if let Some(age) = q.health.beat_age_seconds(now) {
            metrics::gauge!(measure::HEARTBEAT_AGE, "queue" => queue).set(age as f64);
        }
        if let Some(idle) = q.health.idle_seconds(now) {
            metrics::gauge!(measure::WORKER_IDLE, "queue" => queue).set(idle as f64);
        }
        if let Some(b) = q.backlog {
            metrics::gauge!(measure::QUEUE_WAITING, "queue" => queue).set(b.waiting as f64);
            metrics::gauge!(measure::QUEUE_OLDEST, "queue" => queue).set(b.oldest_seconds as f64);
        }
    }
}

fn total_gauges(t: &Totals) {
    metrics::gauge!(measure::RUNS, "status" => "queued").set(t.runs_queued as f64);
    metrics::gauge!(measure::RUNS, "status" => "running").set(t.runs_running as f64);
    metrics::gauge!(measure::RUNS, "status" => "waiting_for_review").set(t.reviews_open as f64);
    metrics::gauge!(measure::REVIEWS_OPEN).set(t.reviews_open as f64);
    metrics::gauge!(measure::REVIEWS_OLDEST).set(t.review_oldest_seconds.unwrap_or(0.0));
    metrics::gauge!(measure::OUTBOX_OPEN).set(t.outbox_open as f64);
    metrics::gauge!(measure::OUTBOX_OLDEST).set(t.outbox_oldest_seconds.unwrap_or(0.0));
    metrics::gauge!(measure::OUTBOX_FAILED).set(t.outbox_failed_7d as f64);
}

/// Work in progress summed over every business (four at a time), kept 15 s.
async fn totals(state: &AppState) -> Result<Totals, sea_orm::DbErr> {
    if let Some((at, t)) = TOTALS.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        if at.elapsed() < TOTALS_FRESH {
            return Ok(t.clone());
        }
    }
    let tenants = store::tenants::all(&state.db).await?;
    let mut each =
        futures::stream::iter(tenants).map(|t| async move { measure::totals(&state.db, &t).await }).buffer_unordered(4);
    let mut sum = Totals::default();
    while let Some(t) = each.next().await {
        sum.add(&t?);
    }
    *TOTALS.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), sum.clone()));
    Ok(sum)
}
