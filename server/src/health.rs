//! `/healthz`: the process is alive. `/readyz`: PostgreSQL and Redis answer.

use actix_web::{web, HttpResponse};
use sea_orm::ConnectionTrait;
use store::state::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let postgres = match state.db.execute_unprepared("SELECT 1").await {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("unavailable: {e}"),
    };
    let mut redis = state.redis.clone();
    let redis_status = match redis::cmd("PING").query_async::<String>(&mut redis).await {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("unavailable: {e}"),
    };
    let ready = postgres == "ok" && redis_status == "ok";
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not_ready" }, "postgres": postgres, "redis": redis_status });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
