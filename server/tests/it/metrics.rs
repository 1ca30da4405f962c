//! `/metrics`: off unless configured, behind a token on the main address
//! or open on an address of its own; the series operations rely on; no
//! business named unless asked; the worker's own series on its address.

use crate::support::processes::{free_port, ServerProcess, WorkerProcess};
use crate::support::*;
use reqwest::StatusCode;
use std::time::Duration;

const TOKEN: &str = "metrics-token-for-the-test-0123456789";

async fn get(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// The value of a series line (`name{labels} value`), by its name and labels as written.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[tokio::test]
async fn metrics_are_off_until_a_token_is_set() {
    let app = TestApp::spawn().await;
    let res = get(&format!("{}/metrics", app.base), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("STEWARD_METRICS_TOKEN"));
}

#[tokio::test]
async fn with_a_token_metrics_show_the_door_the_queues_the_workers_and_the_work_in_progress() {
    let mut app = TestApp::spawn_with(Options {
        tune: Some(Box::new(|s| s.metrics.token = Some(TOKEN.into()))),
        ..Default::default()
    })
    .await;
    let url = format!("{}/metrics", app.base);
    // Nobody without the token: not a visitor, not a wrong token, not a signed-in owner.
    assert_eq!(get(&url, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(&url, Some("wrong")).await.status(), StatusCode::UNAUTHORIZED);
    let owner = app.signed_in(DEMO, "owner@acme-plumbing.test", DEMO_PASSWORD).await;
    assert_eq!(owner.get("/metrics").await.status(), StatusCode::UNAUTHORIZED);

    app.start_worker();
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run = app.send_lead(&secret, &fresh_lead()).await;
    app.wait_for_run(run, &["completed", "waiting_for_review"]).await;
    let unsigned =
        app.signed_post(DEMO, LEAD_WORKFLOW, "whsec_d3Jvbmc=", "m1", chrono::Utc::now().timestamp(), "{}", &[]).await;
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    // The worker beats every few seconds; wait for its first beat.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(migrations::spare::top_up(&app.db, 1).await.unwrap(), 1);

    let res = get(&url, Some(TOKEN)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(value(&text, r#"steward_events_total{channel="webhook",outcome="accepted"}"#) >= Some(1.0), "{text}");
    assert!(value(&text, r#"steward_events_total{channel="webhook",outcome="unauthorized"}"#) >= Some(1.0), "{text}");
    assert!(text.contains(r#"steward_event_accept_seconds_bucket{channel="webhook",le="#), "{text}");
    for series in [
        r#"steward_runs{status="queued"}"#,
        r#"steward_runs{status="running"}"#,
        r#"steward_runs{status="waiting_for_review"}"#,
        r#"steward_queue_waiting{queue="runs"}"#,
        r#"steward_queue_oldest_seconds{queue="email"}"#,
        r#"steward_worker_consumers{queue="runs"}"#,
        r#"steward_worker_heartbeat_age_seconds{queue="runs"}"#,
        r#"steward_queue_stalled{queue="runs"}"#,
        "steward_review_tasks_open",
        "steward_review_task_oldest_seconds",
        "steward_outbox_open",
        "steward_outbox_failed_7d",
        r#"steward_db_pool_connections{state="in_use"}"#,
        "steward_db_pool_max_connections",
        r#"steward_runs_rested_total{status="#,
        r#"steward_step_duration_seconds_bucket{kind="llm",le="#,
        r#"steward_model_tokens_total{direction="in"}"#,
        r#"steward_jobs_consumed_total{queue="runs"}"#,
    ] {
        assert!(text.contains(series), "{series} is served:\n{text}");
    }
    assert_eq!(value(&text, r#"steward_worker_consumers{queue="runs"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, "steward_spare_schemas"), Some(1.0), "the one spare schema prepared: {text}");
    assert!(!text.contains("acme"), "no business is named unless asked:\n{text}");
}

#[tokio::test]
async fn on_an_address_of_its_own_metrics_need_no_token_and_the_main_address_stays_closed() {
    let port = free_port();
    let app = TestApp::spawn_with(Options {
        tune: Some(Box::new(move |s| s.metrics.bind = Some(format!("127.0.0.1:{port}")))),
        ..Default::default()
    })
    .await;
    assert_eq!(get(&format!("http://127.0.0.1:{port}/metrics"), None).await.status(), StatusCode::OK);
    assert_eq!(get(&format!("{}/metrics", app.base), None).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_server_asked_to_name_businesses_does_and_a_worker_serves_its_own_series() {
    // A server process of its own: the business label is a process-wide setting.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = TestApp::spawn().await;
    let server = ServerProcess::start(
        &app.settings,
        &[("STEWARD_METRICS_TOKEN", TOKEN), ("STEWARD_METRICS_TENANT_LABELS", "true")],
    )
    .await;
    let base = server.base.clone();
    let worker_port = free_port();
    let worker_bind = format!("127.0.0.1:{worker_port}");
    let _worker = WorkerProcess::start(&app.settings, &[("STEWARD_WORKER_METRICS_BIND", worker_bind.as_str())]);
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run = send_lead_to(&base, &secret, &fresh_lead()).await;
    app.wait_for_run(run, &["completed", "waiting_for_review"]).await;

    let text = get(&format!("{base}/metrics"), Some(TOKEN)).await.text().await.unwrap();
    assert!(
        text.contains(r#"steward_events_total{channel="webhook",outcome="accepted",business="acme-plumbing"}"#),
        "{text}"
    );
    let worker = get(&format!("http://{worker_bind}/metrics"), None).await;
    assert_eq!(worker.status(), StatusCode::OK);
    let text = worker.text().await.unwrap();
    assert!(text.contains(r#"steward_jobs_consumed_total{queue="runs"}"#), "{text}");
    assert!(text.contains(r#"steward_runs_rested_total{status="#), "{text}");
    assert!(text.contains("steward_step_duration_seconds_bucket"), "{text}");
}
