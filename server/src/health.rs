//! `/healthz`: the process is alive. `/readyz`: PostgreSQL and Redis
//! answer, and how the workers stand. Every check has a deadline, so the
//! answer comes within a second in any outage and names what failed.

use actix_web::{web, HttpResponse};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use store::state::AppState;
use store::workers;
use utoipa::ToSchema;

/// Each check's deadline; they run side by side, so `/readyz` answers within it.
const DEADLINE: Duration = Duration::from_millis(800);

/// The process is alive.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// Whether this server can take work, and why not.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (a worker queue is stalled) or `not_ready`.
    pub status: String,
    /// `ok`, or why PostgreSQL did not answer.
    pub postgres: String,
    /// `ok`, or why Redis did not answer.
    pub redis: String,
    /// Per queue: status, consumers, restarting, idle_seconds, waiting, oldest_waiting_seconds.
    pub workers: Value,
    /// Queues whose work waits while nobody takes it.
    pub stalled: Vec<String>,
    /// What failed: postgres, redis, workers (with `?workers=required`).
    pub failed: Vec<String>,
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
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

#[utoipa::path(get, path = "/readyz", tag = "operations",
    params(("workers" = Option<String>, Query, description = "`required`: a stalled worker queue makes the answer 503 too")),
    responses(
        (status = 200, description = "Ready (or degraded: see `stalled`)", body = Readiness),
        (status = 503, description = "Not ready: `failed` names what (Retry-After: 5)", body = Readiness),
    ))]
pub async fn readyz(state: web::Data<AppState>, query: web::Query<ReadyQuery>) -> HttpResponse {
    let (postgres, redis, queues) = tokio::join!(
        within(state.db.execute_unprepared("SELECT 1")),
        within(async {
            let mut redis = state.redis.clone();
            redis::cmd("PING").query_async::<String>(&mut redis).await
        }),
        within(workers::overview(&state.db, &state.runs, &state.mail, &state.replays, &state.settings, DEADLINE)),
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
    let workers: Value = match &queues {
        Ok(queues) => queues
            .iter()
            .map(|q| {
                if q.stalled.is_some() {
                    stalled.push(q.health.queue.as_str());
                }
                let entry = serde_json::json!({
                    "status": q.stalled.clone().unwrap_or_else(|| "ok".into()),
                    "consumers": q.health.consumers,
                    "restarting": q.health.restarting,
                    "idle_seconds": q.health.idle_seconds(now),
                    "waiting": q.backlog.map(|b| b.waiting),
                    "oldest_waiting_seconds": q.backlog.map(|b| b.oldest_seconds),
                });
                (q.health.queue.as_str().to_owned(), entry)
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Err(e) => Value::String(e.clone()),
    };
    if query.workers.as_deref() == Some("required") && !stalled.is_empty() {
        failed.push("workers");
    }
    let status = match (failed.is_empty(), stalled.is_empty()) {
        (false, _) => "not_ready",
        (true, false) => "degraded",
        (true, true) => "ready",
    };
    let body = Readiness {
        status: status.into(),
        postgres: word(&postgres),
        redis: word(&redis),
        workers,
        stalled: stalled.iter().map(|s| s.to_string()).collect(),
        failed: failed.iter().map(|s| s.to_string()).collect(),
    };
    if failed.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "5")).json(body)
    }
}
