//! Retention: the daily housekeeping empties the payloads of runs finished
//! longer ago than their workflow keeps them — the event, the run's
//! context, step inputs and outputs, the review draft, the emails — and
//! leaves what reports need (statuses, costs, tallies), audited per
//! workflow; runs still within the period keep everything. The same pass
//! anchors the audit chain, once a day.

use crate::support::*;
use engine::Role;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn old_run_payloads_are_purged_and_reports_still_show_the_month() {
    let app = TestApp::spawn_with_worker().await;
    let reviewer = app.demo_member(Role::Reviewer).await;
    // Two runs that went through review, both completed.
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run_id = app.send_lead(&app.demo_webhook_secret, &fresh_lead()).await;
        assert_eq!(app.wait_for_run(run_id, &["waiting_for_review"]).await, "waiting_for_review");
        let task: String = app
            .demo_value("SELECT id::text FROM review_tasks WHERE run_id = $1 AND status = 'open'", vec![run_id.into()])
            .await
            .unwrap();
        let res = reviewer.call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")]).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(app.wait_for_run(run_id, &["completed"]).await, "completed");
        runs.push(run_id);
    }

    // The first run finished 40 days ago; the workflow keeps data 30 days.
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(set_days(&ops, "0").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(set_days(&ops, "30").await.status(), StatusCode::OK);
    let reviewer_refused = reviewer
        .call("set_data_retention", &[("slug", DEMO), ("name", "lead-intake-qualification"), ("days", "5")])
        .await;
    assert_eq!(reviewer_refused.status(), StatusCode::FORBIDDEN);
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    sea_orm::ConnectionTrait::execute_raw(
        &txn,
        store::db::stmt("UPDATE runs SET finished_at = now() - interval '40 days' WHERE id = $1", vec![runs[0].into()]),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    // Its review emails were delivered (only delivered or given-up mail is purged; a queued one still has to go).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while app
        .demo_value::<i64>(
            "SELECT count(*) FROM outbox WHERE run_id = $1 AND status NOT IN ('sent', 'failed')",
            vec![runs[0].into()],
        )
        .await
        .unwrap()
        > 0
    {
        assert!(std::time::Instant::now() < deadline, "the review emails were not delivered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let owner = app.demo_member(Role::Owner).await;
    let before = report(&owner).await;
    let costs_before = cost_lines(&app, &runs).await;

    // What the daily housekeeping does first for each business (the test's
    // worker may already have visited today, so it is called directly).
    let tenant = app.demo_current_member(Role::Owner).await.tenant;
    let purged = store::retention::purge(&app.db, &tenant).await.unwrap();
    assert_eq!(purged.len(), 1, "{purged:?}");
    assert_eq!((purged[0].workflow.as_str(), purged[0].runs, purged[0].events), ("lead-intake-qualification", 1, 1));
    assert!(store::retention::purge(&app.db, &tenant).await.unwrap().is_empty(), "nothing is purged twice");
    worker::housekeeping::run_once(&app.db).await.unwrap();
    assert_eq!(worker::housekeeping::run_once(&app.db).await.unwrap(), 0, "each business once a day");

    // The old run's payloads are gone, everywhere they were kept.
    assert_eq!(payloads(&app, runs[0]).await, (0, 0, 0, 0, 0), "the old run keeps no payload");
    let (context, steps, drafts, events, _) = payloads(&app, runs[1]).await;
    assert!(context == 1 && steps > 0 && drafts == 1 && events == 1, "the recent run keeps everything");
    let status: String = app
        .demo_value("SELECT status FROM runs WHERE id = $1 AND purged_at IS NOT NULL", vec![runs[0].into()])
        .await
        .unwrap();
    assert_eq!(status, "completed", "the run's metadata stays");

    // Costs and the month's report are unchanged.
    assert_eq!(cost_lines(&app, &runs).await, costs_before);
    assert_eq!(report(&owner).await, before, "the report reads the same after the purge");

    // The purge and the retention change are in the audit log; the chain was anchored.
    let purge: Value =
        app.demo_value("SELECT detail FROM audit_events WHERE action = 'retention.purged'", vec![]).await.unwrap();
    assert_eq!(purge["runs"], 1, "{purge}");
    let changed: i64 = app
        .demo_value("SELECT count(*) FROM audit_events WHERE action = 'workflow.data_retention_changed'", vec![])
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let anchored: i64 =
        app.demo_value("SELECT count(*) FROM public.audit_anchors WHERE day = current_date", vec![]).await.unwrap();
    assert!(anchored >= 1);
}

async fn report(client: &Client) -> Value {
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    client.call("monthly_report", &[("slug", DEMO), ("month", &month)]).await.json::<Value>().await.unwrap()
}

async fn set_days(client: &Client, days: &str) -> reqwest::Response {
    client.call("set_data_retention", &[("slug", DEMO), ("name", "lead-intake-qualification"), ("days", days)]).await
}

async fn cost_lines(app: &TestApp, runs: &[uuid::Uuid]) -> i64 {
    app.demo_value("SELECT count(*) FROM cost_lines WHERE run_id IN ($1, $2)", vec![runs[0].into(), runs[1].into()])
        .await
        .unwrap()
}

/// Where a run's payloads are kept: (context, steps with input or output, drafts, event payloads, emails in full).
async fn payloads(app: &TestApp, run: uuid::Uuid) -> (i64, i64, i64, i64, i64) {
    let mut counts = Vec::new();
    for sql in [
        "SELECT count(*) FROM runs WHERE id = $1 AND context <> '{}'::jsonb",
        // Only a draft's confidence may stay (the report's histogram reads it).
        "SELECT count(*) FROM run_steps WHERE run_id = $1 AND (input IS NOT NULL
            OR CASE WHEN jsonb_typeof(output) = 'object' THEN output - 'confidence' <> '{}'::jsonb ELSE output IS NOT NULL END)",
        "SELECT count(*) FROM review_tasks WHERE run_id = $1 AND draft IS NOT NULL",
        "SELECT count(*) FROM events e JOIN runs r ON r.event_id = e.id WHERE r.id = $1 AND e.payload <> '{}'::jsonb",
        "SELECT count(*) FROM outbox WHERE run_id = $1 AND text_body NOT LIKE '[removed%'",
    ] {
        counts.push(app.demo_value::<i64>(sql, vec![run.into()]).await.unwrap());
    }
    (counts[0], counts[1], counts[2], counts[3], counts[4])
}
