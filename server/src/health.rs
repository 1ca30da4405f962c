//! `/healthz`: the process is alive. `/readyz`: PostgreSQL and Redis
//! answer, and how the workers stand. Every check has a deadline, so the
//! answer comes within a second in any outage and names what failed.

use actix_web::{web, HttpResponse};
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use store::state::AppState;
use store::workers::{self, Queue};

/// Each check's deadline; they run side by side, so `/readyz` answers within it.
const DEADLINE: Duration = Duration::from_millis(800);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn within<T, E: std::fmt::Display>(check: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(DEADLINE, check).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("unavailable: {e}")),
        Err(_) => Err(format!("unavailable: no answer within {} ms", DEADLINE.as_millis())),
    }
}

fn word<T>(result: &Result<T, String>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.clone(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ReadyQuery {
    /// `required`: a stalled worker queue makes the answer 503 too (for a
    /// monitor; a load balancer should keep the door open).
    #[serde(default)]
    workers: Option<String>,
}

pub async fn readyz(state: web::Data<AppState>, query: web::Query<ReadyQuery>) -> HttpResponse {
    let alive = (state.settings.runs.heartbeat_seconds * 3 + 5) as i64;
    let (postgres, redis, health, runs_waiting, email_waiting) = tokio::join!(
        within(state.db.execute_unprepared("SELECT 1")),
        within(async {
            let mut redis = state.redis.clone();
            redis::cmd("PING").query_async::<String>(&mut redis).await
        }),
        within(workers::health(&state.db, alive)),
        within(state.runs.backlog()),
        within(state.mail.backlog()),
    );
    let mut failed: Vec<&str> = Vec::new();
    if postgres.is_err() {
        failed.push("postgres");
    }
    if redis.is_err() {
        failed.push("redis");
    }
    let now = chrono::Utc::now();
    let mut stalled = Vec::new();
    let workers: Value = match &health {
        Ok(queues) => queues
            .iter()
            .map(|h| {
                let backlog = match h.queue {
                    Queue::Runs => runs_waiting.as_ref().ok().copied(),
                    Queue::Email => email_waiting.as_ref().ok().copied(),
                    Queue::Schedule => None,
                };
                let stall = backlog.and_then(|b| workers::stall(h, b, now, state.settings.runs.stall_seconds));
                if stall.is_some() {
                    stalled.push(h.queue.as_str());
                }
                let entry = json!({
                    "status": stall.unwrap_or_else(|| "ok".into()),
                    "consumers": h.consumers,
                    "restarting": h.restarting,
                    "idle_seconds": h.idle_seconds(now),
                    "waiting": backlog.map(|b| b.waiting),
                    "oldest_waiting_seconds": backlog.map(|b| b.oldest_seconds),
                });
                (h.queue.as_str().to_owned(), entry)
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Err(e) => json!(e),
    };
    if query.workers.as_deref() == Some("required") && !stalled.is_empty() {
        failed.push("workers");
    }
    let status = match (failed.is_empty(), stalled.is_empty()) {
        (false, _) => "not_ready",
        (true, false) => "degraded",
        (true, true) => "ready",
    };
    let body = json!({
        "status": status,
        "postgres": word(&postgres),
        "redis": word(&redis),
        "workers": workers,
        "stalled": stalled,
        "failed": failed,
    });
    if failed.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "5")).json(body)
    }
}
