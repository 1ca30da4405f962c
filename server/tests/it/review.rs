//! Humans on the judgment calls: the queue, claims, reason codes, bulk
//! actions, email approval links, and escalation of stale tasks.

use crate::support::*;
use engine::Role;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::time::Duration;

/// Sends a high-value lead (so it waits for review) and returns (run, task).
async fn waiting_task(app: &TestApp) -> (uuid::Uuid, String) {
    let run_id = app.send_lead(&app.demo_webhook_secret, &fresh_lead()).await;
    assert_eq!(app.wait_for_run(run_id, &["waiting_for_review", "completed", "failed"]).await, "waiting_for_review");
    let task: String = app
        .demo_value("SELECT id::text FROM review_tasks WHERE run_id = $1 AND status = 'open'", vec![run_id.into()])
        .await
        .unwrap();
    (run_id, task)
}

#[tokio::test]
async fn two_reviewers_cannot_work_the_same_task_and_the_second_is_told_who_has_it() {
    let app = TestApp::spawn_with_worker().await;
    let (run_id, task) = waiting_task(&app).await;
    let first = app.demo_member(Role::Reviewer).await;
    let second = app.add_demo_member("second.reviewer@acme-plumbing.test", Role::Reviewer).await;
    let form = [("slug", DEMO), ("task", task.as_str())];
    assert_eq!(first.call("claim_task", &form).await.status(), StatusCode::OK);
    let res = second.call("claim_task", &form).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("reviewer@acme-plumbing.test is working on this task"));
    let res = second.call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "nor decide it");
    assert_eq!(second.call("release_task", &form).await.status(), StatusCode::CONFLICT, "nor release it");

    // The queue shows who has it; the holder releases; the second takes it and decides.
    let queue: Value = second.call("review_queue", &[("slug", DEMO)]).await.json().await.unwrap();
    assert_eq!(queue["tasks"][0]["assignee"], "reviewer@acme-plumbing.test");
    assert_eq!(queue["tasks"][0]["priority"], "P2", "a high-value draft, fresh");
    assert_eq!(first.call("release_task", &form).await.status(), StatusCode::OK);
    assert_eq!(second.call("claim_task", &form).await.status(), StatusCode::OK);
    let res = second.call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.wait_for_run(run_id, &["completed"]).await, "completed");
    let figures: Value = second.call("review_queue", &[("slug", DEMO)]).await.json().await.unwrap();
    assert_eq!(figures["my_decisions_week"], 1);
    assert_eq!(figures["by_reviewer"][0]["agreement"], "100%");
}

#[tokio::test]
async fn operations_reassign_and_close_tasks_in_bulk_and_others_cannot() {
    let app = TestApp::spawn_with_worker().await;
    let (run_a, task_a) = waiting_task(&app).await;
    let (_run_b, task_b) = waiting_task(&app).await;
    let ops = app.demo_member(Role::Operations).await;
    let reviewer = app.demo_member(Role::Reviewer).await;
    let both = format!("{task_a},{task_b}");
    let res = reviewer
        .call("reassign_tasks", &[("slug", DEMO), ("tasks", &both), ("assignee", "reviewer@acme-plumbing.test")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res =
        ops.call("reassign_tasks", &[("slug", DEMO), ("tasks", &both), ("assignee", "exec@acme-plumbing.test")]).await;
    assert_eq!(invalid_fields(res).await[0].0, "assignee", "an executive cannot decide tasks");
    let res = ops
        .call("reassign_tasks", &[("slug", DEMO), ("tasks", &both), ("assignee", "reviewer@acme-plumbing.test")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mine: Value = reviewer.call("review_queue", &[("slug", DEMO), ("assignee", "me")]).await.json().await.unwrap();
    assert_eq!(mine["tasks"].as_array().unwrap().len(), 2);

    let res = ops.call("close_tasks", &[("slug", DEMO), ("tasks", &task_a), ("reason_code", "")]).await;
    assert_eq!(invalid_fields(res).await[0].0, "reason_code");
    let res = ops
        .call(
            "close_tasks",
            &[("slug", DEMO), ("tasks", &task_a), ("reason_code", "duplicate"), ("comment", "same lead twice")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.wait_for_run(run_a, &["cancelled"]).await, "cancelled");
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    for endpoint in ["claim_task", "release_task", "review_task"] {
        let res = stranger.call(endpoint, &[("slug", DEMO), ("task", &task_b), ("id", &task_b)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{endpoint}");
    }
    assert_eq!(stranger.call("review_queue", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.demo_member(Role::Engineer).await.call("review_queue", &[("slug", DEMO)]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        stranger
            .call("close_tasks", &[("slug", DEMO), ("tasks", &task_b), ("reason_code", "duplicate")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn owners_keep_the_business_reason_codes_and_decisions_use_them() {
    let app = TestApp::spawn_with_worker().await;
    let owner = app.demo_member(Role::Owner).await;
    assert_eq!(
        invalid_fields(owner.call("add_reason_code", &[("slug", DEMO), ("code", "Wrong Price!")]).await).await[0].0,
        "code"
    );
    assert_eq!(
        owner.call("add_reason_code", &[("slug", DEMO), ("code", "wrong_price")]).await.status(),
        StatusCode::OK
    );
    assert_eq!(owner.call("remove_reason_code", &[("slug", DEMO), ("code", "tone")]).await.status(), StatusCode::OK);
    let codes: Vec<String> = owner.call("list_reason_codes", &[("slug", DEMO)]).await.json().await.unwrap();
    assert!(codes.contains(&"wrong_price".to_string()) && !codes.contains(&"tone".to_string()));
    assert_eq!(
        app.demo_member(Role::Reviewer)
            .await
            .call("add_reason_code", &[("slug", DEMO), ("code", "mine")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    let (run_id, task) = waiting_task(&app).await;
    let reviewer = app.demo_member(Role::Reviewer).await;
    let res = reviewer
        .call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "reject"), ("reason_code", "tone")])
        .await;
    assert_eq!(invalid_fields(res).await[0].0, "reason_code", "a removed code is refused");
    let res = reviewer
        .call(
            "decide_review",
            &[("slug", DEMO), ("task", &task), ("decision", "reject"), ("reason_code", "wrong_price")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.wait_for_run(run_id, &["cancelled"]).await, "cancelled");
    let figures: Value =
        app.demo_member(Role::Operations).await.call("review_queue", &[("slug", DEMO)]).await.json().await.unwrap();
    assert_eq!(figures["by_workflow"][0]["agreement"], "0%");
    assert!(figures["by_workflow"][0]["overrides"].as_str().unwrap().contains("wrong_price 100%"));
}

/// The link in the newest review email to `to`.
async fn emailed_link(app: &TestApp, to: &str) -> String {
    let mail = app.mailbox.wait_for(to, Duration::from_secs(20)).await.expect("the review email arrives");
    // The subject names the customer and the question in words, not ids.
    let subject = mail.subject().unwrap_or_default();
    assert!(subject.starts_with("Decision needed: Dana Whitfield, Harbor Dental Group ("), "{subject}");
    assert!(!subject.contains("low_confidence") && !subject.contains("high_value"), "{subject}");
    // The draft and the enquiry as labelled fields; the contact's email masked in a mailbox.
    let parsed = mailparse::parse_mail(mail.data.as_bytes()).unwrap();
    let text = parsed.subparts[0].get_body().unwrap();
    assert!(text.contains("Fit score: "), "the draft in labelled fields: {text}");
    assert!(text.contains("Company name: Harbor Dental Group"), "the enquiry in labelled fields: {text}");
    assert!(text.contains("Primary contact email: ••••"), "{text}");
    assert!(!mail.decoded().contains("dana.whitfield@"), "nowhere in the message");
    mail.link_starting_with(&format!("{}/approve/", app.base)).expect("an approval link")
}

#[tokio::test]
async fn an_emailed_link_shows_without_changing_anything_then_decides_once() {
    let app = TestApp::spawn_with_worker().await;
    let (run_id, task) = waiting_task(&app).await;
    let link = emailed_link(&app, "reviewer@acme-plumbing.test").await;
    // Once delivered, the stored email no longer holds the link's token.
    let token = link.rsplit('/').next().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let kept: i64 = loop {
        let (sent, kept): (bool, i64) = (
            app.demo_value(
                "SELECT coalesce(bool_and(status IN ('sent', 'failed')), false) AS value FROM outbox",
                vec![],
            )
            .await
            .unwrap_or(false),
            app.demo_value(
                "SELECT count(*) AS value FROM outbox WHERE strpos(text_body || html_body, $1) > 0",
                vec![token.clone().into()],
            )
            .await
            .unwrap(),
        );
        if sent || std::time::Instant::now() > deadline {
            break kept;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(kept, 0, "no delivered email keeps an approval token");
    let removed: i64 = app
        .demo_value(
            "SELECT count(*) AS value FROM outbox WHERE text_body LIKE '%/approve/[link removed after delivery]%'",
            vec![],
        )
        .await
        .unwrap();
    assert!(removed >= 1);
    let http = reqwest::Client::new();
    // Scanners fetch links: GET changes nothing.
    for _ in 0..2 {
        let page = http.get(&link).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let text = page.text().await.unwrap();
        assert!(
            text.contains("Review: lead-intake-qualification") && text.contains("<th scope=\"row\">Fit score</th>"),
            "the draft as labelled fields, and the buttons: {text}"
        );
        // The enquiry, in clear for the reviewer who decides, and the task in the queue one click away.
        assert!(text.contains("<th scope=\"row\">Company name</th><td>Harbor Dental Group</td>"), "{text}");
        assert!(text.contains("dana.whitfield@harbordental.example"), "{text}");
        assert!(text.contains(&format!("href=\"/t/{DEMO}/review/{task}\"")), "{text}");
    }
    let status: String =
        app.demo_value("SELECT status FROM review_tasks WHERE id = $1::uuid", vec![task.clone().into()]).await.unwrap();
    assert_eq!(status, "open");
    // A POST from elsewhere (no Origin) is refused.
    let forged = http.post(&link).form(&[("decision", "approve")]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let res = http.post(&link).header("origin", &app.base).form(&[("decision", "approve")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Approved"));
    assert_eq!(app.wait_for_run(run_id, &["completed"]).await, "completed");
    let decided_by: String =
        app.demo_value("SELECT decided_by FROM review_tasks WHERE id = $1::uuid", vec![task.into()]).await.unwrap();
    assert_eq!(decided_by, "reviewer@acme-plumbing.test");
    let again = http.get(&link).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(again.text().await.unwrap().contains("already used"));
    let replay = http
        .post(&link)
        .header("origin", &app.base)
        .form(&[("decision", "reject"), ("reason_code", "tone")])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::GONE);
}

#[tokio::test]
async fn tampered_expired_decided_and_foreign_links_say_which_and_change_nothing() {
    let app = TestApp::spawn_with_worker().await;
    let (_run_id, task) = waiting_task(&app).await;
    let link = emailed_link(&app, "reviewer@acme-plumbing.test").await;
    let http = reqwest::Client::new();
    let tampered = format!("{}x", link);
    let res = http.get(&tampered).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("not valid"));
    let res = http.post(&tampered).header("origin", &app.base).form(&[("decision", "approve")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A reviewer of another business, signed in, cannot use it.
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    let res = stranger.http.get(&link).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("another reviewer"));
    let res =
        stranger.http.post(&link).header("origin", &app.base).form(&[("decision", "approve")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Someone else decided in the queue: the link says who and when.
    let ops = app.demo_member(Role::Operations).await;
    ops.call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")]).await;
    let res = http.get(&link).send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(text.contains("ops@acme-plumbing.test already decided"), "{text}");

    // An expired link.
    let (_run2, task2) = waiting_task(&app).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let link2 = loop {
        let mails = app.mailbox.messages().await;
        if let Some(mail) = mails.iter().rev().find(|m| m.decoded().contains(&task2)) {
            break mail.link_starting_with(&format!("{}/approve/", app.base)).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "the second task's email arrives");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The link's row is written before its email: expire it now.
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    txn.execute_unprepared(&format!(
        "UPDATE approval_links SET expires_at = now() - interval '1 minute' WHERE task_id = '{task2}'"
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let res = http.get(&link2).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("expired"));
    let status: String =
        app.demo_value("SELECT status FROM review_tasks WHERE id = $1::uuid", vec![task2.into()]).await.unwrap();
    assert_eq!(status, "open");
}

#[tokio::test]
async fn a_task_past_its_sla_is_escalated_to_the_owners_and_closed_after_its_maximum_age() {
    let mut app = TestApp::spawn().await;
    app.settings.runs.review_check_seconds = 1;
    let yaml = store::bundles::GALLERY[0].bundle().workflow.replace(
        "fallback: { on_error: assign_to_human_queue }",
        "fallback: { on_error: assign_to_human_queue }\nreview: { sla_minutes: 0.02, max_age_minutes: 0.08, stale_action: reject }",
    );
    let engineer = app.demo_current_member(Role::Engineer).await;
    let (name, number) = store::workflows::save_version(&app.db, &engineer, &yaml, "short SLA")
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    store::workflows::publish(&app.db, &engineer, &name, number, "go", None)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let owner = app.demo_current_member(Role::Owner).await;
    store::workflows::set_owners(
        &app.db,
        &owner,
        &name,
        "engineer@acme-plumbing.test",
        "ops@acme-plumbing.test",
        "role:operations",
    )
    .await
    .map_err(|e| format!("{e:?}"))
    .unwrap();
    app.start_worker();
    let (run_id, task) = waiting_task(&app).await;
    let escalation = app
        .mailbox
        .wait_for("ops@acme-plumbing.test", Duration::from_secs(20))
        .await
        .expect("the backup owner is told");
    assert!(escalation.subject().unwrap_or_default().starts_with("Escalated"));
    assert!(
        app.mailbox.wait_for("engineer@acme-plumbing.test", Duration::from_secs(5)).await.is_some(),
        "and the owner"
    );
    let escalated: bool = app
        .demo_value("SELECT escalated_at IS NOT NULL FROM review_tasks WHERE id = $1::uuid", vec![task.clone().into()])
        .await
        .unwrap();
    assert!(escalated);
    assert_eq!(app.wait_for_run(run_id, &["cancelled"]).await, "cancelled", "closed with the stale action");
    let (by, code): (String, String) = (
        app.demo_value("SELECT decided_by FROM review_tasks WHERE id = $1::uuid", vec![task.clone().into()])
            .await
            .unwrap(),
        app.demo_value("SELECT reason_code FROM review_tasks WHERE id = $1::uuid", vec![task.clone().into()])
            .await
            .unwrap(),
    );
    assert_eq!((by.as_str(), code.as_str()), ("steward (stale task)", "stale"));
    let logged: i64 = app
        .demo_value("SELECT count(*) FROM audit_events WHERE action IN ('review.escalated', 'review.reject')", vec![])
        .await
        .unwrap();
    assert_eq!(logged, 2, "both are in the change log");
    let detail = app
        .demo_member(Role::Operations)
        .await
        .call("run_detail", &[("slug", DEMO), ("id", &run_id.to_string())])
        .await;
    let detail: Value = detail.json().await.unwrap();
    assert_eq!(detail["tasks"][0]["decided_by"], "steward (stale task)", "and in the run's timeline");
    assert!(detail["tasks"][0]["escalated_at"].is_string(), "with its escalation");
}

#[tokio::test]
async fn the_demo_inbox_fills_the_queue_with_high_value_low_confidence_and_failed_runs() {
    let app = TestApp::spawn_with_worker().await;
    let state = store::state::AppState::connect(app.settings.clone()).await.unwrap();
    let runs = store::seed::seed_leads(&app.db, &app.settings).await.unwrap();
    assert_eq!(runs.len(), store::seed::demo_leads(chrono::Utc::now()).len());
    for job in &runs {
        state.runs.wake(job.clone()).await.unwrap();
    }
    for job in &runs {
        app.wait_for_run(job.run_id, &["waiting_for_review", "completed"]).await;
    }
    let reviewer = app.demo_member(Role::Reviewer).await;
    let queue: Value = reviewer.call("review_queue", &[("slug", DEMO)]).await.json().await.unwrap();
    assert!(queue["open"].as_u64().unwrap() >= 20, "{}", queue["open"]);
    let reasons: Vec<&str> = queue["tasks"].as_array().unwrap().iter().map(|t| t["reason"].as_str().unwrap()).collect();
    for reason in ["error", "high_value", "low_confidence"] {
        assert!(reasons.contains(&reason), "{reason} in {reasons:?}");
    }
    let failed = queue["tasks"].as_array().unwrap().iter().find(|t| t["reason"] == "error").unwrap();
    // In words, by the service's host: never the address, which carries the customer's email.
    let why = failed["why"].as_str().unwrap();
    assert!(why.starts_with("Step enrich: ") && why.contains(" answered 503 "), "{why}");
    assert!(!why.contains("company-lookup") && !why.contains("email="), "{why}");
    // Every task was emailed to the reviewer with its own link.
    let open = queue["open"].as_u64().unwrap() as usize;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut to_reviewer = 0;
    while std::time::Instant::now() < deadline {
        to_reviewer = app
            .mailbox
            .messages()
            .await
            .iter()
            .filter(|m| m.to.iter().any(|t| t == "reviewer@acme-plumbing.test"))
            .count();
        if to_reviewer >= open {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(to_reviewer, open, "one email per task");
}

#[tokio::test]
async fn an_edit_and_approve_is_kept_with_the_fields_it_changed_and_shown_on_the_run() {
    let app = TestApp::spawn_with_worker().await;
    let (run_id, task) = waiting_task(&app).await;
    let draft: Value =
        app.demo_value("SELECT draft FROM review_tasks WHERE id = $1::uuid", vec![task.clone().into()]).await.unwrap();
    let mut edited = draft.clone();
    edited["next_step"] = json!("Call Dana on Monday");
    edited["fit_score"] = json!(91);
    let reviewer = app.demo_member(Role::Reviewer).await;
    let form = [
        ("slug", DEMO),
        ("task", task.as_str()),
        ("decision", "edit_and_approve"),
        ("edited_output", &edited.to_string()),
        ("reason_code", "missing_context"),
        ("comment", "spoke to her"),
    ];
    assert_eq!(reviewer.call("decide_review", &form).await.status(), StatusCode::OK);
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed");
    let changes: Value = app
        .demo_value("SELECT edit_changes FROM review_tasks WHERE id = $1::uuid", vec![task.clone().into()])
        .await
        .unwrap();
    let paths: Vec<&str> = changes.as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["fit_score", "next_step"]);
    assert_eq!(changes[1]["before"], draft["next_step"]);
    let detail: Value =
        reviewer.call("run_detail", &[("slug", DEMO), ("id", &run_id.to_string())]).await.json().await.unwrap();
    let decided = &detail["tasks"][0];
    assert_eq!(decided["decision"], "edit_and_approve");
    assert_eq!(decided["decided_by"], "reviewer@acme-plumbing.test");
    assert_eq!(decided["changes"][1][0], "next_step");
    assert_eq!(decided["changes"][1][2], "\"Call Dana on Monday\"");
    let figures: Value = reviewer.call("review_queue", &[("slug", DEMO)]).await.json().await.unwrap();
    assert_eq!(figures["by_reviewer"][0]["agreement"], "0%", "an edit is not agreement");
    assert!(figures["by_reviewer"][0]["overrides"].as_str().unwrap().contains("missing_context 100%"));
}

#[tokio::test]
async fn the_queue_filters_by_priority_reason_assignee_and_age_and_shows_each_day() {
    let app = TestApp::spawn_with_worker().await;
    let (_, old) = waiting_task(&app).await;
    let (_, claimed) = waiting_task(&app).await;
    let (_, _fresh) = waiting_task(&app).await;
    // One task has waited 30 hours: past its 4-hour SLA, so most urgent.
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    txn.execute_unprepared(&format!(
        "UPDATE review_tasks SET created_at = now() - interval '30 hours' WHERE id = '{old}'"
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let reviewer = app.demo_member(Role::Reviewer).await;
    reviewer.call("claim_task", &[("slug", DEMO), ("task", &claimed)]).await;
    let ask = |extra: Vec<(&'static str, &'static str)>| {
        let reviewer = &reviewer;
        async move {
            let mut form = vec![("slug", DEMO)];
            form.extend(extra);
            let v: Value = reviewer.call("review_queue", &form).await.json().await.unwrap();
            v["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ask(vec![]).await[0], old, "the overdue task comes first");
    assert_eq!(ask(vec![("priority", "P1")]).await, vec![old.clone()]);
    assert_eq!(ask(vec![("older_than", "60")]).await, vec![old.clone()]);
    assert_eq!(ask(vec![("assignee", "me")]).await, vec![claimed.clone()]);
    assert_eq!(ask(vec![("assignee", "none")]).await.len(), 2);
    assert_eq!(ask(vec![("reason", "error")]).await.len(), 0);
    assert_eq!(ask(vec![("workflow", "lead-intake-qualification"), ("sort", "age")]).await[0], old);
    let res = reviewer.call("review_queue", &[("slug", DEMO), ("older_than", "an hour")]).await;
    assert_eq!(invalid_fields(res).await[0].0, "older_than");

    // Operations see the queue per day: three open today, the old one open since yesterday.
    let ops: Value =
        app.demo_member(Role::Operations).await.call("review_queue", &[("slug", DEMO)]).await.json().await.unwrap();
    let days = ops["history"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    assert_eq!(days[13]["open"], 3);
    assert_eq!(days[12]["open"], 1);
    assert!(days[13]["oldest_hours"].as_f64().unwrap() >= 29.9);
    assert_eq!(ops["per_reviewer"], json!([["reviewer@acme-plumbing.test", 1], ["unclaimed", 2]]));
    let mine: Value = reviewer.call("review_queue", &[("slug", DEMO)]).await.json().await.unwrap();
    assert!(mine["history"].as_array().unwrap().is_empty(), "the operations chart is for operations and owners");
}

#[tokio::test]
async fn every_review_server_function_refuses_other_businesses_and_members_without_the_role() {
    let app = TestApp::spawn_with_worker().await;
    let (_, task) = waiting_task(&app).await;
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    let engineer = app.demo_member(Role::Engineer).await;
    let executive = app.demo_member(Role::Executive).await;
    let reviewer = app.demo_member(Role::Reviewer).await;
    let t = task.as_str();
    let queue_calls: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("review_queue", vec![]),
        ("review_task", vec![("id", t)]),
        ("claim_task", vec![("task", t)]),
        ("release_task", vec![("task", t)]),
        ("decide_review", vec![("task", t), ("decision", "approve")]),
        ("reassign_tasks", vec![("tasks", t), ("assignee", "reviewer@acme-plumbing.test")]),
        ("close_tasks", vec![("tasks", t), ("reason_code", "duplicate")]),
    ];
    let settings_calls: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("list_reason_codes", vec![]),
        ("add_reason_code", vec![("code", "wrong_price")]),
        ("remove_reason_code", vec![("code", "tone")]),
    ];
    for (endpoint, args) in queue_calls.iter().chain(settings_calls.iter()) {
        let mut form = vec![("slug", DEMO)];
        form.extend(args.iter().cloned());
        assert_eq!(
            stranger.call(endpoint, &form).await.status(),
            StatusCode::FORBIDDEN,
            "{endpoint}: another business"
        );
        assert_eq!(executive.call(endpoint, &form).await.status(), StatusCode::FORBIDDEN, "{endpoint}: an executive");
    }
    for (endpoint, args) in &queue_calls {
        let mut form = vec![("slug", DEMO)];
        form.extend(args.iter().cloned());
        assert_eq!(engineer.call(endpoint, &form).await.status(), StatusCode::FORBIDDEN, "{endpoint}: an engineer");
    }
    for (endpoint, args) in &settings_calls {
        let mut form = vec![("slug", DEMO)];
        form.extend(args.iter().cloned());
        assert_eq!(reviewer.call(endpoint, &form).await.status(), StatusCode::FORBIDDEN, "{endpoint}: a reviewer");
    }
    for endpoint in ["reassign_tasks", "close_tasks"] {
        let (_, args) = queue_calls.iter().find(|(e, _)| *e == endpoint).unwrap();
        let mut form = vec![("slug", DEMO)];
        form.extend(args.iter().cloned());
        assert_eq!(
            reviewer.call(endpoint, &form).await.status(),
            StatusCode::FORBIDDEN,
            "{endpoint}: only operations and owners"
        );
    }
    let status: String =
        app.demo_value("SELECT status FROM review_tasks WHERE id = $1::uuid", vec![task.into()]).await.unwrap();
    assert_eq!(status, "open", "nothing was changed by anyone refused");
}

#[tokio::test]
async fn the_decision_api_takes_json_answers_with_every_problem_and_resumes_the_run() {
    let app = TestApp::spawn_with_worker().await;
    let (run_id, task) = waiting_task(&app).await;
    let url = format!("{}/api/v1/t/{DEMO}/review-tasks/{task}/decision", app.base);
    let post = |client: &Client, body: Value| {
        let req = client.http.post(&url).header("origin", &app.base).json(&body);
        async move { req.send().await.unwrap() }
    };
    let reviewer = app.demo_member(Role::Reviewer).await;
    let res = post(&reviewer, json!({ "decision": "edit_and_approve", "edited_output": { "fit_score": 250 } })).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_decision");
    let fields: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["reason_code"], "first the missing reason code");
    let res = post(
        &reviewer,
        json!({ "decision": "edit_and_approve", "edited_output": { "fit_score": 250 }, "reason_code": "wrong_facts" }),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert!(
        body["fields"].as_array().unwrap().iter().all(|f| f["field"] == "edited_output")
            && body["fields"].as_array().unwrap().len() >= 2,
        "then every schema problem: {body}"
    );
    let res = reviewer
        .http
        .post(&url)
        .header("origin", &app.base)
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Refused: not signed in, another business, a role that does not decide.
    assert_eq!(post(&app.client(), json!({ "decision": "approve" })).await.status(), StatusCode::UNAUTHORIZED);
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(post(&stranger, json!({ "decision": "approve" })).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        post(&app.demo_member(Role::Engineer).await, json!({ "decision": "approve" })).await.status(),
        StatusCode::FORBIDDEN
    );
    let status: String =
        app.demo_value("SELECT status FROM review_tasks WHERE id = $1::uuid", vec![task.clone().into()]).await.unwrap();
    assert_eq!(status, "open");

    let res = post(&reviewer, json!({ "decision": "approve", "comment": "looks right" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["run_id"].as_str().unwrap(), body["run_status"].as_str().unwrap()),
        (run_id.to_string().as_str(), "queued")
    );
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed");
    let again = post(&reviewer, json!({ "decision": "reject", "reason_code": "tone" })).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("reviewer@acme-plumbing.test already decided"));
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", app.base)).await.unwrap().json().await.unwrap();
    assert!(
        doc["paths"]["/api/v1/t/{business}/review-tasks/{task}/decision"]["post"].is_object(),
        "described in the OpenAPI document"
    );
}

#[tokio::test]
async fn a_business_without_reviewers_asks_its_owner_and_counts_what_waits_for_each_person() {
    async fn count(c: &crate::support::Client) -> i64 {
        c.call("waiting_decisions", &[("slug", DEMO)]).await.json::<i64>().await.unwrap()
    }
    let app = TestApp::spawn_with_worker().await;
    // The reviewer left: nobody has the role the workflow asks.
    app.db
        .execute_unprepared(
            "DELETE FROM public.memberships WHERE user_id = (SELECT id FROM public.users WHERE email = 'reviewer@acme-plumbing.test')",
        )
        .await
        .unwrap();
    let owner = app.demo_member(Role::Owner).await;
    assert_eq!(count(&owner).await, 0);
    let (_, task) = waiting_task(&app).await;
    let mail = app.mailbox.wait_for("owner@acme-plumbing.test", Duration::from_secs(20)).await;
    let mail = mail.expect("the owner is asked when there is no reviewer");
    assert!(mail.subject().unwrap_or_default().starts_with("Decision needed: Dana Whitfield"), "{:?}", mail.subject());
    assert!(mail.link_starting_with(&format!("{}/approve/", app.base)).is_some(), "with a link to decide");

    // What waits is counted for whoever may decide it, and not for who may not.
    assert_eq!(count(&owner).await, 1);
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(count(&ops).await, 1);
    assert_eq!(count(&app.demo_member(Role::Engineer).await).await, 0);
    // A task someone else claimed is theirs; deciding it takes it off everyone's count.
    assert_eq!(ops.call("claim_task", &[("slug", DEMO), ("task", &task)]).await.status(), StatusCode::OK);
    assert_eq!(count(&owner).await, 0);
    assert_eq!(count(&ops).await, 1);
    let res = ops.call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(count(&ops).await, 0);
}
