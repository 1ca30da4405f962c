//! Slack approvals over real HTTP: a fake that speaks Slack's Web API
//! (`auth.test`, `chat.postMessage`, `chat.update`) stands in for Slack, and
//! the test sends Steward the interaction payloads Slack would, signed with
//! the app's signing secret. A review task of a workflow with
//! `review.slack_channel` is posted with its buttons; a linked reviewer's
//! click decides it and the message shows the outcome; bad signatures,
//! stale timestamps, unlinked users, members without the role, a missing
//! reason and a second click decide nothing; another business's Slack
//! cannot touch the task; a Slack outage delays the message, never loses it.

use crate::support::*;
use engine::Role;
use hmac::Mac;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-2000000000-acme-steward-bot";
const REVIEWER_SLACK: &str = "U0REVIEWER";
const ENGINEER_SLACK: &str = "U0ENGINEER";
const MESSAGE_TS: &str = "1700000000.000100";
const WORKFLOW: &str = "slack-signoff";

/// Slack's answers: the bot's workspace, every message posted at `MESSAGE_TS`
/// in channel C0SALES, every update taken; a wrong token refused.
async fn fake_slack() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/auth.test"))
        .and(header("authorization", format!("Bearer {BOT_TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "team": "Acme Slack", "user_id": "U0BOT" })),
        )
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/auth.test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": false, "error": "invalid_auth" })))
        .with_priority(10)
        .mount(&slack)
        .await;
    answer_posts(&slack).await;
    slack
}

async fn answer_posts(slack: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "channel": "C0SALES", "ts": MESSAGE_TS })),
        )
        .mount(slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/chat.update"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "channel": "C0SALES", "ts": MESSAGE_TS })),
        )
        .mount(slack)
        .await;
}

/// The JSON bodies Slack received at `method`.
async fn calls(slack: &MockServer, api_method: &str) -> Vec<Value> {
    let requests: Vec<Request> = slack.received_requests().await.unwrap_or_default();
    requests
        .into_iter()
        .filter(|r| r.url.path() == format!("/api/{api_method}"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// Waits up to 30 s for a call at `api_method` that `wanted` picks.
async fn wait_for_call(slack: &MockServer, api_method: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = calls(slack, api_method).await.into_iter().find(&wanted) {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "Slack never got the {api_method} call wanted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A thread reply under the task's message that says `says`.
async fn wait_for_reply(slack: &MockServer, says: &str) -> Value {
    wait_for_call(slack, "chat.postMessage", |m| {
        m["thread_ts"] == MESSAGE_TS && m["text"].as_str().is_some_and(|t| t.contains(says))
    })
    .await
}

/// The `block_actions` payload Slack sends for a click on `action` by `user`.
fn click(user: &str, action: &str, task: &str, reason: Option<&str>) -> String {
    let selected = reason.map(|r| json!({ "text": { "type": "plain_text", "text": r }, "value": r }));
    let payload = json!({
        "type": "block_actions",
        "user": { "id": user, "username": "someone", "team_id": "T0ACME" },
        "team": { "id": "T0ACME", "domain": "acme" },
        "container": { "type": "message", "message_ts": MESSAGE_TS, "channel_id": "C0SALES", "is_ephemeral": false },
        "channel": { "id": "C0SALES", "name": "sales-reviews" },
        "message": { "type": "message", "ts": MESSAGE_TS, "text": "Review needed" },
        "trigger_id": "1234567890.123.abcdef",
        "response_url": "https://hooks.slack.com/actions/T0ACME/1/abc",
        "state": { "values": { "steward_decide": { "steward_reason": { "type": "static_select", "selected_option": selected } } } },
        "actions": [{ "action_id": action, "block_id": "steward_decide", "type": "button", "value": task, "action_ts": "1700000001.000200" }]
    });
    url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

/// Posts a click to the business's interaction address, signed with `secret` at `at`.
async fn send_click(app: &TestApp, slug: &str, secret: &str, at: i64, body: &str) -> reqwest::Response {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{at}:{body}").as_bytes());
    reqwest::Client::new()
        .post(format!("{}/slack/interactions/{slug}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", at.to_string())
        .header("x-slack-signature", format!("v0={}", hex::encode(mac.finalize().into_bytes())))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Publishes a workflow whose approval step's tasks go to #sales-reviews; returns its signing secret.
async fn slack_workflow(app: &TestApp) -> String {
    let engineer = app.demo_current_member(Role::Engineer).await;
    let yaml = format!(
        "workflow: {WORKFLOW}
version: 1
trigger: {{ source: webhook, event: lead.created }}
steps:
  - {{ id: normalize, type: function, function: normalize, output: normalized_lead }}
  - {{ id: sign_off, type: approval, reviewers: ['role:reviewer'], output: sign_off }}
review: {{ slack_channel: '#sales-reviews' }}
"
    );
    let (wf, n) =
        store::workflows::save_version(&app.db, &engineer, &yaml, "slack").await.map_err(|e| format!("{e:?}")).unwrap();
    store::workflows::publish(&app.db, &engineer, &wf, n, "go", None).await.map_err(|e| format!("{e:?}")).unwrap();
    store::webhook_secrets::rotate(&app.db, &app.settings, &engineer, &wf, 0).await.unwrap().unwrap()
}

/// Sends a lead to the workflow and waits until its task is open; returns (run, task).
async fn task_waiting(app: &TestApp, secret: &str) -> (uuid::Uuid, uuid::Uuid) {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let res = app
        .signed_post(DEMO, WORKFLOW, secret, &id, chrono::Utc::now().timestamp(), &fresh_lead().to_string(), &[])
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap());
    let run: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();
    app.wait_for_run(run, &["waiting_for_review"]).await;
    let task = app.demo_value("SELECT id FROM review_tasks WHERE run_id = $1", vec![run.into()]).await.unwrap();
    (run, task)
}

async fn task_status(app: &TestApp, task: uuid::Uuid) -> (String, Option<String>) {
    let status = app.demo_value("SELECT status FROM review_tasks WHERE id = $1", vec![task.into()]).await.unwrap();
    let by = app.demo_value("SELECT decided_by FROM review_tasks WHERE id = $1", vec![task.into()]).await.unwrap();
    (status, by)
}

async fn spawn(slack: &MockServer) -> TestApp {
    let api = format!("{}/api", slack.uri());
    TestApp::spawn_with(Options {
        worker: true,
        tune: Some(Box::new(move |s| {
            s.slack_api_url = api;
            s.runs.sweep_seconds = 1;
        })),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn a_task_posted_to_slack_is_decided_by_a_linked_reviewers_signed_click_and_shows_the_outcome() {
    let slack = fake_slack().await;
    let app = spawn(&slack).await;
    let owner = app.demo_member(Role::Owner).await;

    // The owner connects Slack from Settings: a wrong token is refused with Slack's reason.
    let res = owner
        .call(
            "connect_slack",
            &[("slug", DEMO), ("bot_token", "xoxb-1111111111-revoked-token"), ("signing_secret", SIGNING_SECRET)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields = invalid_fields(res).await;
    assert!(fields.iter().any(|(f, m)| f == "bot_token" && m.contains("invalid_auth")), "{fields:?}");
    let res = owner
        .call("connect_slack", &[("slug", DEMO), ("bot_token", BOT_TOKEN), ("signing_secret", SIGNING_SECRET)])
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    assert_eq!(res.json::<String>().await.unwrap(), "Acme Slack");
    let reviewer_email = store::seed::DEMO_USERS.iter().find(|(_, r)| *r == Role::Reviewer).unwrap().0;
    let engineer_email = store::seed::DEMO_USERS.iter().find(|(_, r)| *r == Role::Engineer).unwrap().0;
    for (email, id) in [(reviewer_email, REVIEWER_SLACK), (engineer_email, ENGINEER_SLACK)] {
        let res = owner.call("link_slack_member", &[("slug", DEMO), ("email", email), ("slack_user_id", id)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    }
    let res = owner
        .call(
            "link_slack_member",
            &[("slug", DEMO), ("email", "ops@acme-plumbing.test"), ("slack_user_id", REVIEWER_SLACK)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "one Slack user is one member");
    let view: Value = owner.call("load_slack", &[("slug", DEMO)]).await.json().await.unwrap();
    assert_eq!(view["team"], "Acme Slack");
    assert_eq!(view["request_url"], app.settings.link(&format!("/slack/interactions/{DEMO}")));
    assert!(!view.to_string().contains(SIGNING_SECRET) && !view.to_string().contains(BOT_TOKEN), "secrets never leave");

    // A task of the workflow is posted to its channel with the reason, the draft and buttons that carry it.
    let secret = slack_workflow(&app).await;
    let (run, task) = task_waiting(&app, &secret).await;
    let posted = wait_for_call(&slack, "chat.postMessage", |m| m["channel"] == "#sales-reviews").await;
    let text = posted.to_string();
    assert!(text.contains(&format!("Review needed: {WORKFLOW}")), "{text}");
    assert!(text.contains("The workflow asks a person to approve at step sign_off"), "{text}");
    let buttons = posted["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(buttons["elements"][0]["value"], task.to_string());
    assert!(buttons["elements"][2]["options"].to_string().contains("wrong_facts"), "reasons to reject with");
    let status: String =
        app.demo_value("SELECT status FROM slack_messages WHERE task_id = $1", vec![task.into()]).await.unwrap();
    assert_eq!(status, "posted");

    let now = chrono::Utc::now().timestamp();
    let approve = click(REVIEWER_SLACK, "steward_approve", &task.to_string(), None);
    // Not Slack: a wrong signature, or a right one replayed after five minutes.
    let res = send_click(&app, DEMO, "not-the-signing-secret-at-all", now, &approve).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(error_body(res).await["message"].as_str().unwrap().contains("signature does not match"));
    let res = send_click(&app, DEMO, SIGNING_SECRET, now - 400, &approve).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(error_body(res).await["message"].as_str().unwrap().contains("five minutes"));
    let res = send_click(&app, DEMO, SIGNING_SECRET, now, "payload=%7Bnot%20json").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Signed, but nobody Steward knows, a member without the role, a Reject without a reason: answered in the thread.
    let res =
        send_click(&app, DEMO, SIGNING_SECRET, now, &click("U0STRANGER", "steward_approve", &task.to_string(), None))
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    wait_for_reply(&slack, "<@U0STRANGER>: your Slack user is not linked").await;
    let res =
        send_click(&app, DEMO, SIGNING_SECRET, now, &click(ENGINEER_SLACK, "steward_approve", &task.to_string(), None))
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    wait_for_reply(&slack, "may not decide review tasks").await;
    let res =
        send_click(&app, DEMO, SIGNING_SECRET, now, &click(REVIEWER_SLACK, "steward_reject", &task.to_string(), None))
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    wait_for_reply(&slack, "choose a reason in the list first").await;
    assert_eq!(task_status(&app, task).await, ("open".to_string(), None));

    // Another business's Slack, properly signed with its own secret, cannot reach this business's task.
    let rival = app.client();
    rival.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.example", "copper kettle harbor 42").await;
    let rival_owner = store::auth::member_by_email(&app.db, "rival-plumbing", "boss@rival.example").await.unwrap();
    let http = reqwest::Client::new();
    store::slack::connect(&app.db, &app.settings, &http, &rival_owner, BOT_TOKEN, "rivalsigningsecret0123456789ab")
        .await
        .unwrap();
    store::slack::link_member(&app.db, &rival_owner, "boss@rival.example", REVIEWER_SLACK).await.unwrap();
    let res = send_click(&app, "rival-plumbing", "rivalsigningsecret0123456789ab", now, &approve).await;
    assert_eq!(res.status(), StatusCode::OK);
    wait_for_reply(&slack, "this task is not in this business's review queue").await;
    let res = send_click(&app, "rival-plumbing", SIGNING_SECRET, now, &approve).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the demo's secret does not sign for the rival");
    assert_eq!(task_status(&app, task).await, ("open".to_string(), None));

    // The linked reviewer approves: decided as them, the run goes on, the message shows the outcome.
    let res = send_click(&app, DEMO, SIGNING_SECRET, now, &approve).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(task_status(&app, task).await, ("decided".to_string(), Some(reviewer_email.to_string())));
    app.wait_for_run(run, &["completed"]).await;
    let updated = wait_for_call(&slack, "chat.update", |m| m["ts"] == MESSAGE_TS).await;
    assert_eq!(updated["channel"], "C0SALES");
    assert!(updated.to_string().contains(&format!("Approved by {reviewer_email}")), "{updated}");
    assert!(!updated.to_string().contains("steward_approve"), "no buttons once decided");

    // A second click (a double click, or a colleague) changes nothing and says who decided.
    let res = send_click(&app, DEMO, SIGNING_SECRET, now, &approve).await;
    assert_eq!(res.status(), StatusCode::OK);
    wait_for_reply(&slack, &format!("{reviewer_email} already decided this task (approve)")).await;
    let comment: String =
        app.demo_value("SELECT comment FROM review_tasks WHERE id = $1", vec![task.into()]).await.unwrap();
    assert_eq!(comment, "Decided in Slack");

    // Rejecting with a reason chosen in the message cancels the next run.
    let (run, task) = task_waiting(&app, &secret).await;
    let reject = click(REVIEWER_SLACK, "steward_reject", &task.to_string(), Some("wrong_facts"));
    let res = send_click(&app, DEMO, SIGNING_SECRET, chrono::Utc::now().timestamp(), &reject).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.wait_for_run(run, &["cancelled"]).await;
    let code: String =
        app.demo_value("SELECT reason_code FROM review_tasks WHERE id = $1", vec![task.into()]).await.unwrap();
    assert_eq!(code, "wrong_facts");
}

#[tokio::test]
async fn a_slack_outage_delays_a_tasks_message_and_a_decision_made_in_the_queue_still_reaches_it() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/auth.test"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "team": "Acme Slack", "user_id": "U0BOT" })),
        )
        .mount(&slack)
        .await;
    let app = spawn(&slack).await;
    let owner = app.demo_current_member(Role::Owner).await;
    store::slack::connect(&app.db, &app.settings, &reqwest::Client::new(), &owner, BOT_TOKEN, SIGNING_SECRET)
        .await
        .unwrap();
    let secret = slack_workflow(&app).await;

    // Slack is down: the task waits for its person as always, and its message is owed with the reason.
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&slack)
        .await;
    let (run, task) = task_waiting(&app, &secret).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let error = loop {
        let error: Option<String> =
            app.demo_value("SELECT error FROM slack_messages WHERE task_id = $1", vec![task.into()]).await.unwrap();
        if let Some(error) = error {
            break error;
        }
        assert!(std::time::Instant::now() < deadline, "the failed post is recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(error.contains("HTTP 503"), "{error}");
    let status: String =
        app.demo_value("SELECT status FROM slack_messages WHERE task_id = $1", vec![task.into()]).await.unwrap();
    assert_eq!(status, "pending");

    // A reviewer decides in the review queue meanwhile.
    let reviewer = app.demo_member(Role::Reviewer).await;
    let task_text = task.to_string();
    let res = reviewer.call("decide_review", &[("slug", DEMO), ("task", &task_text), ("decision", "approve")]).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    app.wait_for_run(run, &["completed"]).await;

    // Slack is back; its back-off over, the sweeper posts the message, already showing the decision.
    slack.reset().await;
    answer_posts(&slack).await;
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    use sea_orm::ConnectionTrait;
    txn.execute_raw(store::db::stmt(
        "UPDATE slack_messages SET claimed_until = now() WHERE task_id = $1",
        vec![task.into()],
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let posted = wait_for_call(&slack, "chat.postMessage", |m| m["channel"] == "#sales-reviews").await;
    assert!(posted.to_string().contains("Approved by reviewer@"), "{posted}");
    assert!(!posted.to_string().contains("steward_approve"), "decided: no buttons");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let shown: bool = app
            .demo_value("SELECT outcome_shown FROM slack_messages WHERE task_id = $1", vec![task.into()])
            .await
            .unwrap();
        if shown {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the message is recorded as posted with its outcome");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
