//! Cost under control: the ledger a real run writes (every kind, review
//! minutes at the reviewer rate, cache hits at no cost), budgets at their
//! cap (alert, downgrade, pause and resume with nothing dropped), alerts
//! emailed once and cleared on recovery, routing rules, off-peak batches,
//! the Costs page's figures and CSV, and who may read and edit them.

use crate::support::*;
use engine::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn lines(app: &TestApp, run_id: uuid::Uuid) -> Vec<(String, i64, i64, Option<bool>, i64, String)> {
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    let rows = sea_orm::ConnectionTrait::query_all_raw(
        &txn,
        store::db::stmt(
            "SELECT kind, amount_micros, quantity, cache_hit, saved_micros, label FROM cost_lines WHERE run_id = $1 ORDER BY id",
            vec![run_id.into()],
        ),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.try_get("", "kind").unwrap(),
                r.try_get("", "amount_micros").unwrap(),
                r.try_get("", "quantity").unwrap(),
                r.try_get("", "cache_hit").unwrap(),
                r.try_get("", "saved_micros").unwrap(),
                r.try_get("", "label").unwrap(),
            )
        })
        .collect()
}

async fn run_total(app: &TestApp, run_id: uuid::Uuid) -> i64 {
    app.demo_value("SELECT cost_micros FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap()
}

/// Where a run's automated part ends: the offline model's confidence sends some small deals to a person.
const DONE: &[&str] = &["completed", "waiting_for_review"];

fn small_lead(email: &str) -> Value {
    let mut lead = fresh_lead();
    lead["annual_contract_value"] = json!(12000);
    lead["primaryContact"]["email"] = json!(email);
    lead
}

async fn save_budget(client: &Client, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("slug", DEMO), ("workflow", LEAD_WORKFLOW), ("overage_pct", "0"), ("deviation_pct", "15")];
    for (k, v) in fields {
        form.retain(|(key, _)| key != k);
        form.push((k, v));
    }
    client.call("save_budget", &form).await
}

async fn report(client: &Client) -> Value {
    let res = client.call("cost_report", &[("slug", DEMO), ("from", ""), ("to", "")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_run_pays_for_queue_worker_time_enrichment_model_and_review_minutes_and_a_cache_hit_costs_nothing() {
    let app = TestApp::spawn_with_worker().await;
    let owner = app.demo_member(Role::Owner).await;
    let res = owner
        .call(
            "save_cost_rates",
            &[("slug", DEMO), ("orchestration_per_hour", "3.6"), ("queue_op", "0.000005"), ("reviewer_hourly", "60")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    // 60,000 a year: the draft waits for a person.
    let run_id = app.send_lead(&secret, &fresh_lead()).await;
    assert_eq!(app.wait_for_run(run_id, &["waiting_for_review"]).await, "waiting_for_review");
    let before = lines(&app, run_id).await;
    let kinds: Vec<&str> = before.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "queue").count(), 1, "{before:?}");
    assert!(before.iter().any(|l| l.0 == "queue" && l.1 == 5 && l.2 == 1), "one delivery at 0.000005: {before:?}");
    // The worker's time is one line per write, naming the steps it paid for: the lookup reached
    // the outside world, so normalize and enrich were written before the draft was made.
    let worker: Vec<_> = before.iter().filter(|l| l.0 == "orchestration").collect();
    let labels: Vec<&str> = worker.iter().map(|l| l.5.as_str()).collect();
    assert_eq!(labels, ["normalize, enrich", "summarize"], "{before:?}");
    for line in worker {
        assert_eq!(line.1, engine::cost::orchestration(line.2, 3_600_000), "ms × 3.6/h for {}", line.5);
    }
    let enrichment = before.iter().find(|l| l.0 == "enrichment").expect("the lookup is paid for");
    assert_eq!((enrichment.1, enrichment.3, enrichment.4), (2000, Some(false), 0), "0.002 a call, cache missed");
    let model = before.iter().find(|l| l.0 == "model").expect("the draft is paid for");
    assert_eq!((model.1, &model.5[..]), (0, "Offline (built in)"), "the offline model is free");
    assert!(model.2 > 0, "its tokens are counted");
    assert_eq!(run_total(&app, run_id).await, before.iter().map(|l| l.1).sum::<i64>(), "the run's total is its lines");

    // The reviewer claims, takes a moment, approves: claim to decision at 60.00/h.
    let task: String =
        app.demo_value("SELECT id::text FROM review_tasks WHERE run_id = $1", vec![run_id.into()]).await.unwrap();
    let reviewer = app.demo_member(Role::Reviewer).await;
    assert_eq!(reviewer.call("claim_task", &[("slug", DEMO), ("task", &task)]).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = reviewer.call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.wait_for_run(run_id, &["completed"]).await, "completed");
    let after = lines(&app, run_id).await;
    let review = after.iter().find(|l| l.0 == "review").expect("review minutes are a cost");
    assert!((2..30).contains(&review.2), "seconds from claim to decision: {review:?}");
    assert_eq!(review.1, engine::cost::review(review.2, 60_000_000));
    assert_eq!(review.5, "reviewer@acme-plumbing.test");
    assert_eq!(after.iter().filter(|l| l.0 == "queue").count(), 2, "the resume is a second delivery");
    assert_eq!(run_total(&app, run_id).await, after.iter().map(|l| l.1).sum::<i64>());

    // The same company again: the deterministic lookup is answered from the cache.
    let again = app.send_lead(&secret, &fresh_lead()).await;
    app.wait_for_run(again, &["waiting_for_review"]).await;
    let hit = lines(&app, again).await.into_iter().find(|l| l.0 == "enrichment").unwrap();
    assert_eq!((hit.1, hit.3, hit.4), (0, Some(true), 2000), "a hit costs nothing and saves the price");

    // The Costs page adds it all up.
    let ops = app.demo_member(Role::Operations).await;
    let v = report(&ops).await;
    let all: i64 = app.demo_value("SELECT sum(amount_micros)::bigint FROM cost_lines", vec![]).await.unwrap();
    assert_eq!(v["business"]["total"], all);
    assert_eq!(v["business"]["runs"], 2);
    assert_eq!(v["business"]["outcomes"], 1, "the approved run reached its outcome");
    assert_eq!(
        (v["cache_calls"].as_i64(), v["cache_hits"].as_i64(), v["cache_saved"].as_i64()),
        (Some(2), Some(1), Some(2000))
    );
    let review_index = engine::CostKind::Review.index();
    assert_eq!(v["business"]["by_kind"][review_index], review.1);
    let today = v["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        today["by_kind"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).sum::<i64>(),
        all,
        "today's bar is the spend"
    );
    assert_eq!(v["workflows"][0]["per_run"], engine::cost::per(all, 2).unwrap());

    // And the CSV says the same.
    let csv = ops.get(&format!("/t/{DEMO}/costs.csv")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("steward-costs-acme-plumbing"));
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("workflow,runs,completed_outcomes,exceptions,spend,per_run"), "{text}");
    let row = text.lines().find(|l| l.starts_with(LEAD_WORKFLOW)).unwrap();
    assert!(row.contains(&format!(",2,1,0,{}.{:06},", all / 1_000_000, all % 1_000_000)), "{row}");
}

#[tokio::test]
async fn at_the_cap_a_paused_workflow_keeps_accepting_events_and_resumes_when_the_budget_is_raised() {
    let app = TestApp::spawn_with_worker().await;
    let ops = app.demo_member(Role::Operations).await;
    // A cap of one millionth: the first run fits its forecast, the rest do not.
    let res = save_budget(&ops, &[("expected_runs", "1"), ("target_per_run", "0.000001"), ("action", "pause")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let first = app.send_lead(&secret, &small_lead("a@first.example")).await;
    app.wait_for_run(first, DONE).await;
    let mut held = Vec::new();
    for n in 0..3 {
        held.push(app.send_lead(&secret, &small_lead(&format!("p{n}@paused.example"))).await);
    }
    for run in &held {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let why = app
                .demo_value::<Option<String>>("SELECT held FROM runs WHERE id = $1", vec![(*run).into()])
                .await
                .flatten();
            if why.as_deref() == Some("budget") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "run {run} was not paused");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for run in &held {
        let status: String =
            app.demo_value("SELECT status FROM runs WHERE id = $1", vec![(*run).into()]).await.unwrap();
        assert_eq!(status, "queued", "paused, not dropped or failed");
        let event: bool =
            app.demo_value("SELECT event_id IS NOT NULL FROM runs WHERE id = $1", vec![(*run).into()]).await.unwrap();
        assert!(event, "the event is kept");
        let steps: i64 =
            app.demo_value("SELECT count(*) FROM run_steps WHERE run_id = $1", vec![(*run).into()]).await.unwrap();
        assert_eq!(steps, 0, "nothing ran");
    }
    let v = report(&ops).await;
    assert_eq!(v["workflows"][0]["held"], 3, "the page says how many wait");
    // Raising the budget lets them go.
    let res = save_budget(&ops, &[("expected_runs", "1000"), ("target_per_run", "1.00"), ("action", "pause")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    for run in &held {
        app.wait_for_run(*run, DONE).await;
    }
    let changes: i64 =
        app.demo_value("SELECT count(*) FROM audit_events WHERE action = 'cost.budget_changed'", vec![]).await.unwrap();
    assert_eq!(changes, 2, "each budget change is in the change log");
    let cap_alerts: i64 =
        app.demo_value("SELECT count(*) FROM cost_alerts WHERE condition = 'budget_cap'", vec![]).await.unwrap();
    assert_eq!(cap_alerts, 1, "the pause was announced once");
}

#[tokio::test]
async fn at_the_cap_an_alert_only_workflow_keeps_running_and_says_so_once() {
    let mut app = TestApp::spawn().await;
    app.settings.runs.review_check_seconds = 1;
    app.start_worker();
    let ops = app.demo_member(Role::Operations).await;
    // The cap is one run at 0.002 and the first run spends it; cost per run stays inside a 1000% threshold.
    let res = save_budget(
        &ops,
        &[("expected_runs", "1"), ("target_per_run", "0.002"), ("action", "alert_only"), ("deviation_pct", "1000")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    for n in 0..3 {
        let run = app.send_lead(&secret, &small_lead(&format!("c{n}@cap.example"))).await;
        app.wait_for_run(run, DONE).await;
        let held =
            app.demo_value::<Option<String>>("SELECT held FROM runs WHERE id = $1", vec![run.into()]).await.flatten();
        assert_eq!(held, None, "alert only: nothing is held");
    }
    let mail =
        app.mailbox.wait_for("ops@acme-plumbing.test", Duration::from_secs(20)).await.expect("operations is told");
    assert!(mail.subject().unwrap().contains("the budget cap is reached"), "{:?}", mail.subject());
    assert!(mail.decoded().contains("At the cap: alert only."), "{}", mail.decoded());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let to_ops = app
        .mailbox
        .messages()
        .await
        .iter()
        .filter(|m| {
            // The projection of the month's spend may fire too (from the month's second day); this is about the cap.
            m.subject().unwrap_or_default().contains("the budget cap is reached")
                && m.to.iter().any(|t| t == "ops@acme-plumbing.test")
        })
        .count();
    assert_eq!(to_ops, 1, "one breach, one email");
    let conditions: Vec<String> = {
        let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
        let rows =
            sea_orm::ConnectionTrait::query_all_raw(&txn, store::db::stmt("SELECT condition FROM cost_alerts", vec![]))
                .await
                .unwrap();
        txn.commit().await.unwrap();
        rows.into_iter().map(|r| r.try_get("", "condition").unwrap()).collect()
    };
    assert!(conditions.contains(&"budget_cap".to_string()), "{conditions:?}");
    assert!(conditions.iter().all(|c| c == "budget_cap" || c == "projected_spend"), "{conditions:?}");
}

async fn add_offline_premium(app: &TestApp) {
    let model = store::models::NewModel {
        provider: "offline".into(),
        label: "Offline premium".into(),
        model: "steward-offline".into(),
        input_price: "0".into(),
        output_price: "0".into(),
        ..Default::default()
    };
    app.use_model("premium", model).await;
}

async fn summarize(app: &TestApp, run_id: uuid::Uuid) -> (String, Value) {
    let model: String = app
        .demo_value("SELECT model FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'", vec![run_id.into()])
        .await
        .unwrap();
    let detail: Value = app
        .demo_value("SELECT detail FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'", vec![run_id.into()])
        .await
        .unwrap();
    (model, detail)
}

#[tokio::test]
async fn at_the_cap_a_downgrading_workflow_routes_premium_steps_to_the_small_tier_and_says_why() {
    let app = TestApp::spawn_with_worker().await;
    add_offline_premium(&app).await;
    app.publish_workflow(&store::bundles::GALLERY[0].bundle().workflow.replace("model: small,", "model: premium,"))
        .await;
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(
        save_budget(&ops, &[("expected_runs", "1"), ("target_per_run", "0.000001"), ("action", "downgrade")])
            .await
            .status(),
        StatusCode::OK
    );
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let first = app.send_lead(&secret, &small_lead("a@one.example")).await;
    app.wait_for_run(first, DONE).await;
    assert_eq!(summarize(&app, first).await.0, "Offline premium", "inside the budget: the tier as written");
    let second = app.send_lead(&secret, &small_lead("b@two.example")).await;
    app.wait_for_run(second, DONE).await;
    let (model, detail) = summarize(&app, second).await;
    assert_eq!(model, "Offline (built in)");
    assert_eq!(detail["routing"]["tier"], "small");
    assert_eq!(detail["routing"]["budget"], true);
    assert!(detail["routing"]["reason"].as_str().unwrap().contains("pass the budget cap"), "{detail}");
}

#[tokio::test]
async fn an_auto_step_picks_its_tier_by_the_routing_rule_and_records_the_reason_on_the_step() {
    let app = TestApp::spawn_with_worker().await;
    add_offline_premium(&app).await;
    let yaml = store::bundles::GALLERY[0].bundle().workflow.replace(
        "model: small,",
        "model: auto, route: \"value > 50000.0 || input_size > 20000 ? 'premium' : 'small'\",",
    );
    app.publish_workflow(&yaml).await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let big = app.send_lead(&secret, &fresh_lead()).await;
    app.wait_for_run(big, &["waiting_for_review"]).await;
    let (model, detail) = summarize(&app, big).await;
    assert_eq!(model, "Offline premium");
    assert_eq!(detail["routing"]["tier"], "premium");
    let reason = detail["routing"]["reason"].as_str().unwrap();
    assert!(reason.contains("chose premium") && reason.contains("value 60000"), "{reason}");
    let small = app.send_lead(&secret, &small_lead("x@small.example")).await;
    app.wait_for_run(small, DONE).await;
    let (model, detail) = summarize(&app, small).await;
    assert_eq!(model, "Offline (built in)");
    assert!(detail["routing"]["reason"].as_str().unwrap().contains("value 12000"), "{detail}");
}

#[tokio::test]
async fn a_deviation_alert_is_emailed_once_listed_and_cleared_when_the_figure_recovers() {
    let mut app = TestApp::spawn().await;
    app.settings.runs.review_check_seconds = 1;
    app.start_worker();
    let ops = app.demo_member(Role::Operations).await;
    // A target of one millionth a run, with a plan so large the cap is never near.
    let res =
        save_budget(&ops, &[("expected_runs", "10000000"), ("target_per_run", "0.000001"), ("action", "alert_only")])
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    for n in 0..5 {
        let run = app.send_lead(&secret, &small_lead(&format!("d{n}@deviate.example"))).await;
        app.wait_for_run(run, DONE).await;
    }
    let mail =
        app.mailbox.wait_for("ops@acme-plumbing.test", Duration::from_secs(20)).await.expect("operations is told");
    assert!(
        mail.subject().unwrap().contains("Cost alert: lead-intake-qualification: cost per run is off plan"),
        "{:?}",
        mail.subject()
    );
    let body = mail.decoded();
    assert!(body.contains("against a target of $0.000001"), "{body}");
    assert!(body.contains(&format!("{}/t/acme-plumbing/costs", app.base)), "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let alerts_to_ops = app
        .mailbox
        .messages()
        .await
        .iter()
        .filter(|m| {
            // The projection of the month's spend may fire too (from the month's second day); this is about cost per run.
            m.subject().unwrap_or_default().contains("cost per run is off plan")
                && m.to.iter().any(|t| t == "ops@acme-plumbing.test")
        })
        .count();
    assert_eq!(alerts_to_ops, 1, "five runs and three ticks over plan: one alert");
    let alert_mails =
        app.mailbox.messages().await.iter().filter(|m| m.subject().unwrap_or_default().contains("Cost alert")).count();
    let recipients: i64 =
        app.demo_value("SELECT count(*) FROM outbox WHERE subject LIKE 'Cost alert%'", vec![]).await.unwrap();
    assert_eq!(alert_mails as i64, recipients, "one email per recipient (the workflow owner and operations)");
    let exec = app.demo_member(Role::Executive).await;
    let res = exec.call("open_cost_alerts", &[("slug", DEMO)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let open: Value = res.json().await.unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1, "the dashboard banner: {open}");
    assert_eq!(open[0]["condition"], "cost_per_run");
    let logged: i64 =
        app.demo_value("SELECT count(*) FROM audit_events WHERE action = 'cost.alert_opened'", vec![]).await.unwrap();
    assert_eq!(logged, 1, "and the change log");

    // A realistic target: the next tick clears it, once.
    assert_eq!(
        save_budget(&ops, &[("expected_runs", "1000"), ("target_per_run", "1.00"), ("action", "alert_only")])
            .await
            .status(),
        StatusCode::OK
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let open: i64 =
            app.demo_value("SELECT count(*) FROM cost_alerts WHERE cleared_at IS NULL", vec![]).await.unwrap();
        if open == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the alert did not clear");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cleared: i64 =
        app.demo_value("SELECT count(*) FROM audit_events WHERE action = 'cost.alert_cleared'", vec![]).await.unwrap();
    assert_eq!(cleared, 1);
    let open: Value = exec.call("open_cost_alerts", &[("slug", DEMO)]).await.json().await.unwrap();
    assert_eq!(open, json!([]));
}

#[tokio::test]
async fn a_batchable_workflow_holds_its_runs_until_the_off_peak_window_and_runs_them_together() {
    let mut app = TestApp::spawn().await;
    app.settings.runs.review_check_seconds = 1;
    app.start_worker();
    let hour = chrono::Utc::now().format("%H").to_string().parse::<u32>().unwrap();
    let (later, after) = (((hour + 2) % 24).to_string(), ((hour + 3) % 24).to_string());
    let ops = app.demo_member(Role::Operations).await;
    let res = save_budget(
        &ops,
        &[
            ("expected_runs", "1000"),
            ("target_per_run", "1.00"),
            ("action", "alert_only"),
            ("batchable", "on"),
            ("window_start", &later),
            ("window_end", &after),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let runs = [
        app.send_lead(&secret, &small_lead("b1@batch.example")).await,
        app.send_lead(&secret, &small_lead("b2@batch.example")).await,
    ];
    for run in runs {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while app
            .demo_value::<Option<String>>("SELECT held FROM runs WHERE id = $1", vec![run.into()])
            .await
            .flatten()
            .as_deref()
            != Some("off_peak")
        {
            assert!(std::time::Instant::now() < deadline, "run {run} did not wait for the window");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The clock reaches the window (the window moves to now): the watch lets both go.
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    sea_orm::ConnectionTrait::execute_raw(
        &txn,
        store::db::stmt(
            "UPDATE budgets SET window_start = $1, window_end = $2",
            vec![(hour as i16).into(), (((hour + 1) % 24) as i16).into()],
        ),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    for run in runs {
        app.wait_for_run(run, DONE).await;
    }
}

#[tokio::test]
async fn bad_budgets_and_rates_are_refused_field_by_field() {
    let app = TestApp::spawn().await;
    let ops = app.demo_member(Role::Operations).await;
    let res = save_budget(
        &ops,
        &[
            ("expected_runs", "lots"),
            ("target_per_run", "-1"),
            ("action", "explode"),
            ("batchable", "on"),
            ("window_start", "25"),
            ("window_end", "3"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = invalid_fields(res).await.into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["expected_runs", "target_per_run", "action", "window_start"]);
    let res = ops
        .call(
            "save_budget",
            &[
                ("slug", DEMO),
                ("workflow", "no-such-flow"),
                ("expected_runs", "1"),
                ("target_per_run", "1"),
                ("overage_pct", "0"),
                ("action", "pause"),
                ("deviation_pct", "15"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let owner = app.demo_member(Role::Owner).await;
    let res = owner
        .call(
            "save_cost_rates",
            &[
                ("slug", DEMO),
                ("orchestration_per_hour", "0.36"),
                ("queue_op", "free"),
                ("reviewer_hourly", "45.1234567"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = invalid_fields(res).await.into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["queue_op", "reviewer_hourly"]);
    let res = ops.call("cost_report", &[("slug", DEMO), ("from", "2026-13-01"), ("to", "")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = ops.get(&format!("/t/{DEMO}/costs.csv?from=2026-12-01&to=2026-11-01")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn costs_are_read_by_owners_operations_and_executives_and_edited_by_owners_and_operations_only() {
    let app = TestApp::spawn().await;
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    let budget_fields = [("expected_runs", "100"), ("target_per_run", "0.50"), ("action", "alert_only")];
    let rates =
        [("slug", DEMO), ("orchestration_per_hour", "0.36"), ("queue_op", "0.000002"), ("reviewer_hourly", "50")];
    for role in Role::ALL {
        let client = app.demo_member(role).await;
        let reads = matches!(role, Role::Owner | Role::Operations | Role::Executive);
        let edits = matches!(role, Role::Owner | Role::Operations);
        let expect = |ok: bool| if ok { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(
            client.call("cost_report", &[("slug", DEMO), ("from", ""), ("to", "")]).await.status(),
            expect(reads),
            "{role} reads costs"
        );
        assert_eq!(
            client.call("open_cost_alerts", &[("slug", DEMO)]).await.status(),
            expect(reads),
            "{role} reads alerts"
        );
        assert_eq!(client.get(&format!("/t/{DEMO}/costs.csv")).await.status(), expect(reads), "{role} exports costs");
        assert_eq!(save_budget(&client, &budget_fields).await.status(), expect(edits), "{role} edits a budget");
        assert_eq!(
            client.call("save_cost_rates", &rates).await.status(),
            expect(role == Role::Owner),
            "{role} sets rates"
        );
        assert_eq!(
            client.call("load_cost_rates", &[("slug", DEMO)]).await.status(),
            expect(role == Role::Owner),
            "{role} reads rates"
        );
        if role == Role::Executive {
            let v = report(&client).await;
            assert_eq!(v["may_edit"], false, "executives read the page without the forms");
        }
    }
    // Another business's owner is refused everything here.
    assert_eq!(
        stranger.call("cost_report", &[("slug", DEMO), ("from", ""), ("to", "")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(stranger.call("open_cost_alerts", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(stranger.get(&format!("/t/{DEMO}/costs.csv")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(save_budget(&stranger, &budget_fields).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(stranger.call("save_cost_rates", &rates).await.status(), StatusCode::FORBIDDEN);
    // And nobody signed in gets anything.
    let anonymous = app.client();
    assert_eq!(
        anonymous.call("cost_report", &[("slug", DEMO), ("from", ""), ("to", "")]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(anonymous.get(&format!("/t/{DEMO}/costs.csv")).await.status(), StatusCode::SEE_OTHER, "to sign in");
    let budgets: i64 = app.demo_value("SELECT count(*) FROM budgets", vec![]).await.unwrap();
    assert_eq!(budgets, 1, "only the permitted saves wrote");
    let by: String = app.demo_value("SELECT updated_by FROM budgets", vec![]).await.unwrap();
    assert_eq!(by, "ops@acme-plumbing.test", "the last permitted editor");
}

#[tokio::test]
async fn the_seeded_month_is_on_the_costs_page_and_adds_up() {
    let app = TestApp::spawn().await;
    let written = store::seed::seed_history(&app.db, chrono::Utc::now()).await.unwrap();
    assert!(written >= 180, "a month of runs: {written}");
    let exec = app.demo_member(Role::Executive).await;
    let v = report(&exec).await;
    let days = v["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let with_spend =
        days.iter().filter(|d| d["by_kind"].as_array().unwrap().iter().any(|x| x.as_i64().unwrap() > 0)).count();
    assert!(with_spend >= 28, "spend on nearly every day: {with_spend}");
    // The page's total is the ledger's, and each run's total is its lines.
    let in_period: i64 = app
        .demo_value("SELECT sum(amount_micros)::bigint FROM cost_lines WHERE at >= (now()::date - 29)::timestamp AT TIME ZONE 'UTC'", vec![])
        .await
        .unwrap();
    assert_eq!(v["business"]["total"], in_period);
    let mismatched: i64 = app
        .demo_value("SELECT count(*) FROM runs r WHERE r.cost_micros <> (SELECT coalesce(sum(amount_micros), 0) FROM cost_lines c WHERE c.run_id = r.id)", vec![])
        .await
        .unwrap();
    assert_eq!(mismatched, 0);
    for kind in ["model", "enrichment", "orchestration", "queue", "review"] {
        let i = kind.parse::<engine::CostKind>().unwrap().index();
        assert!(v["business"]["by_kind"][i].as_i64().unwrap() > 0, "{kind} is part of the month");
    }
    assert!(v["business"]["exceptions"].as_i64().unwrap() > 0, "some runs failed");
    assert!(v["cache_hits"].as_i64().unwrap() > 0);
    assert_eq!(v["target_per_run"], 2_000_000, "the demo budget's plan");
    assert_eq!(v["workflows"][0]["budget"]["action"], "alert_only");
}

#[tokio::test]
async fn the_owner_chooses_the_currency_and_amounts_read_in_it_without_being_converted() {
    let app = TestApp::spawn().await;
    let owner = app.demo_member(Role::Owner).await;
    async fn current(client: &Client) -> String {
        client.call("load_currency", &[("slug", DEMO)]).await.json::<String>().await.unwrap()
    }
    assert_eq!(current(&owner).await, "USD", "US dollars until the owner chooses");
    // A code Steward does not offer is refused by field, and nothing changes.
    let res = owner.call("choose_currency", &[("slug", DEMO), ("currency", "XYZ")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("currency"));
    assert_eq!(current(&owner).await, "USD");
    let res = owner.call("choose_currency", &[("slug", DEMO), ("currency", "EUR")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(current(&owner).await, "EUR");
    let changed: i64 = app
        .demo_value("SELECT count(*) FROM audit_events WHERE action = 'business.currency_changed'", vec![])
        .await
        .unwrap();
    assert_eq!(changed, 1, "kept in the audit log");
    // The budget reads in euros, with the same figures (nothing is converted).
    let ops = app.demo_member(Role::Operations).await;
    let res =
        save_budget(&ops, &[("expected_runs", "300"), ("target_per_run", "2.50"), ("action", "alert_only")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = report(&ops).await;
    assert_eq!(v["currency"], "EUR");
    let why: String = app
        .demo_value(
            "SELECT why FROM audit_events WHERE action = 'cost.budget_changed' ORDER BY id DESC LIMIT 1",
            vec![],
        )
        .await
        .unwrap();
    assert!(why.starts_with("300 runs a month at €2.50 a run (plan €750.00, cap €"), "{why}");
    // Another business keeps its own currency; a stranger cannot change this one's.
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(
        stranger.call("load_currency", &[("slug", "rival-plumbing")]).await.json::<String>().await.unwrap(),
        "USD"
    );
    let res = stranger.call("choose_currency", &[("slug", DEMO), ("currency", "GBP")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(current(&owner).await, "EUR");
}

/// A run of `workflow` made `created_hours_ago`, with one step per `(kind, attempts, started_hours_ago)`.
async fn run_with_steps(app: &TestApp, workflow: &str, created_hours_ago: i32, steps: &[(&str, i32, i32)]) {
    let run = uuid::Uuid::new_v4();
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    sea_orm::ConnectionTrait::execute_raw(
        &txn,
        store::db::stmt(
            "INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, status, context, created_at, finished_at)
             SELECT $1, id, $2, 1, 'completed', '{}', now() - make_interval(hours => $3), now() - make_interval(hours => $3)
               FROM workflows LIMIT 1",
            vec![run.into(), workflow.into(), created_hours_ago.into()],
        ),
    )
    .await
    .unwrap();
    for (index, (kind, attempts, started_hours_ago)) in steps.iter().enumerate() {
        sea_orm::ConnectionTrait::execute_raw(
            &txn,
            store::db::stmt(
                "INSERT INTO run_steps (run_id, step_index, step_id, kind, status, attempts, started_at, finished_at)
                 VALUES ($1, $2, $3, $4, 'completed', $5, now() - make_interval(hours => $6), now() - make_interval(hours => $6))",
                vec![
                    run.into(),
                    (index as i32).into(),
                    format!("step{index}").into(),
                    (*kind).into(),
                    (*attempts).into(),
                    (*started_hours_ago).into(),
                ],
            ),
        )
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn the_retry_watch_counts_the_workflow_s_model_and_api_steps_of_the_last_day_and_of_the_week_before() {
    let app = TestApp::spawn().await;
    let tenant = app.demo_current_member(Role::Owner).await.tenant;
    let windows = || store::costs::retry_windows(&app.db, &tenant, "retry-watched");
    let (recent, trailing) = windows().await.unwrap();
    assert_eq!(
        (recent.steps, recent.retries, trailing.steps, trailing.retries),
        (0, 0, 0, 0),
        "a workflow with no runs"
    );

    // The last day: a model step tried three times and an API call once; a function's retries are not watched.
    run_with_steps(&app, "retry-watched", 2, &[("llm", 3, 1), ("api_call", 1, 1), ("function", 4, 1)]).await;
    // The week before: an API call tried twice.
    run_with_steps(&app, "retry-watched", 72, &[("api_call", 2, 72)]).await;
    // Older than both windows, and another workflow's steps: not counted. Nor is a run that
    // arrived before the windows, even with a step within them (the windows read recent runs).
    run_with_steps(&app, "retry-watched", 240, &[("llm", 5, 240)]).await;
    run_with_steps(&app, "retry-watched", 240, &[("llm", 7, 2)]).await;
    run_with_steps(&app, "another-workflow", 2, &[("llm", 6, 1)]).await;

    let (recent, trailing) = windows().await.unwrap();
    assert_eq!((recent.steps, recent.retries), (2, 2), "the last day: two watched steps, two retries");
    assert_eq!((trailing.steps, trailing.retries), (1, 1), "the week before: one step, one retry");
}
