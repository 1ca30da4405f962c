//! Health checks, request ids and the migrate command's report.

use crate::support::{fresh_lead, TestApp, LEAD_WORKFLOW};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;

#[tokio::test]
async fn health_and_readiness_report_postgres_and_redis() {
    let app = TestApp::spawn().await;
    let client = app.client();
    assert_eq!(client.get("/healthz").await.status(), StatusCode::OK);
    let ready = client.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(ready.headers().contains_key("x-request-id"), "every response carries its request id");
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
}

#[tokio::test]
async fn migrate_upgrades_every_tenant_and_lists_the_one_left_behind() {
    let app = TestApp::spawn().await;
    let client = app.client();
    for slug in ["first-biz", "second-biz"] {
        let res = client.sign_up(slug, slug, &format!("owner@{slug}.example"), "copper kettle harbor 42").await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // One tenant is behind (an empty schema: every migration pending), one has
    // lost its migration records (its tables are in the way), one is broken.
    app.db.execute_unprepared("DROP SCHEMA t_first_biz CASCADE; CREATE SCHEMA t_first_biz").await.unwrap();
    app.db.execute_unprepared("DELETE FROM t_second_biz.tenant_migrations").await.unwrap();
    app.db.execute_unprepared("DROP SCHEMA t_acme_plumbing CASCADE; CREATE SCHEMA t_acme_plumbing; CREATE TABLE t_acme_plumbing.audit_events (x int)").await.unwrap();

    let report = migrations::migrate_all(&app.db, 2).await.unwrap();
    assert_eq!(report.upgraded, vec!["t_first_biz".to_string()]);
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert!(report.failed.iter().any(|(s, e)| s == "t_acme_plumbing" && e.contains("audit_events")), "{report:?}");

    // Once repaired, a second run has nothing left to do for the upgraded tenant.
    let again = migrations::migrate_all(&app.db, 2).await.unwrap();
    assert!(again.already_current.contains(&"t_first_biz".to_string()));
}

#[tokio::test]
async fn a_run_s_large_context_is_stored_compressed_with_lz4() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    // A long message makes the run's row outgrow a quarter of a page, so PostgreSQL compresses it.
    let mut lead = fresh_lead();
    lead["inquiry_text"] = serde_json::json!("We run 4 clinics and chase confirmations every week. ".repeat(80));
    let run = app.send_lead(&secret, &lead).await;
    let compression: Option<String> = app
        .demo_value("SELECT pg_column_compression(context) FROM runs WHERE id = $1", vec![run.into()])
        .await
        .unwrap();
    assert_eq!(compression.as_deref(), Some("lz4"), "the run's context as the door wrote it");
}
