//! Runs out: the lead intake template through every step type against
//! HTTP fakes of the model vendors, the approval policy, decisions,
//! fallbacks, retries, caching, notify, and recovery after a crash.

use crate::support::*;
use engine::Role;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use wiremock::{matchers, Mock, MockServer, ResponseTemplate};

/// Points the small tier at a model served by `vendor`.
async fn use_vendor(app: &TestApp, provider: &str, base_url: &str) {
    let model = store::models::NewModel {
        provider: provider.into(),
        label: format!("{provider} fake"),
        base_url: base_url.into(),
        model: "vendor-model-1".into(),
        input_price: "2.50".into(),
        output_price: "10".into(),
        api_key: "sk-vendor-key".into(),
    };
    app.use_model("small", model).await;
}

fn openai_answer(content: &Value, tokens_in: u64, tokens_out: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "choices": [{ "message": { "role": "assistant", "content": content.to_string() } }],
        "usage": { "prompt_tokens": tokens_in, "completion_tokens": tokens_out }
    }))
}

fn draft(confidence: f64) -> Value {
    json!({ "fit_score": 86, "summary": "Four-clinic dental group, budget approved.", "risks": [], "next_step": "Call Dana", "confidence": confidence })
}

fn small_lead() -> Value {
    let mut lead = fresh_lead();
    lead["annual_contract_value"] = json!(12000);
    lead
}

async fn steps(app: &TestApp, run_id: uuid::Uuid) -> Vec<(String, String, Value, Value)> {
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    let rows = txn
        .query_all_raw(store::db::stmt(
            "SELECT step_id, status, coalesce(input, 'null') AS input, coalesce(output, 'null') AS output FROM run_steps
              WHERE run_id = $1 ORDER BY step_index",
            vec![run_id.into()],
        ))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.try_get("", "step_id").unwrap(),
                r.try_get("", "status").unwrap(),
                r.try_get("", "input").unwrap(),
                r.try_get("", "output").unwrap(),
            )
        })
        .collect()
}

async fn open_task(app: &TestApp, run_id: uuid::Uuid) -> (String, String) {
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    let row = txn
        .query_one_raw(store::db::stmt(
            "SELECT id::text AS id, reason FROM review_tasks WHERE run_id = $1 AND status = 'open'",
            vec![run_id.into()],
        ))
        .await
        .unwrap()
        .expect("an open review task");
    txn.commit().await.unwrap();
    (row.try_get("", "id").unwrap(), row.try_get("", "reason").unwrap())
}

#[tokio::test]
async fn a_lead_runs_through_every_step_with_an_openai_compatible_model_and_stops_for_its_high_value() {
    let vendor = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .and(matchers::header("authorization", "Bearer sk-vendor-key"))
        .respond_with(openai_answer(&draft(0.93), 1200, 300))
        .expect(1)
        .mount(&vendor)
        .await;
    let app = TestApp::spawn_with_worker().await;
    use_vendor(&app, "openai_compatible", &format!("{}/v1", vendor.uri())).await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run_id = app.send_lead(&secret, &fresh_lead()).await;

    // 60 000 a year is above the 50 000 threshold: a person approves.
    assert_eq!(app.wait_for_run(run_id, &["waiting_for_review", "completed", "failed"]).await, "waiting_for_review");
    let (task, reason) = open_task(&app, run_id).await;
    assert_eq!(reason, "high_value");
    let done = steps(&app, run_id).await;
    let ids: Vec<&str> = done.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(ids, vec!["normalize", "enrich", "summarize"]);
    assert!(done.iter().all(|s| s.1 == "completed"), "{done:?}");
    // Sensitive fields are masked in what the run records.
    assert_eq!(done[0].3["primaryContact"]["email"], engine::run::MASK);
    assert!(done[1].3["industry"].is_string(), "the enrichment call's answer is stored");
    assert_eq!(done[2].3, draft(0.93));

    // What the model was sent.
    let sent = &vendor.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["model"], "vendor-model-1");
    assert_eq!(body["response_format"]["type"], "json_schema", "structured-output mode");
    let prompt = body["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("Lead: Harbor Dental Group (Dana Whitfield)"), "{prompt}");
    assert!(
        prompt.contains("dental care") || prompt.contains("\"employees\""),
        "the enrichment is in the prompt: {prompt}"
    );

    // Tokens and cost: 1200 × 2.50/M + 300 × 10/M = 0.006.
    let (tokens_in, tokens_out, cost): (i64, i64, i64) = {
        let t = app
            .demo_value::<i64>(
                "SELECT tokens_in FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'",
                vec![run_id.into()],
            )
            .await
            .unwrap();
        let o = app
            .demo_value::<i64>(
                "SELECT tokens_out FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'",
                vec![run_id.into()],
            )
            .await
            .unwrap();
        let c = app
            .demo_value::<i64>(
                "SELECT cost_micros FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'",
                vec![run_id.into()],
            )
            .await
            .unwrap();
        (t, o, c)
    };
    assert_eq!((tokens_in, tokens_out, cost), (1200, 300, 6000));
    let model: String = app
        .demo_value("SELECT model FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'", vec![run_id.into()])
        .await
        .unwrap();
    assert_eq!(model, "openai_compatible fake");

    // A reviewer approves; the run goes on to the rules step and completes.
    let reviewer = app.demo_member(Role::Reviewer).await;
    let res = reviewer.call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")]).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed");
    let route = steps(&app, run_id).await.into_iter().find(|s| s.0 == "route").unwrap();
    assert!(route.3["decision"]["owner"].is_string(), "{route:?}");
    let decided_by: String =
        app.demo_value("SELECT decided_by FROM review_tasks WHERE run_id = $1", vec![run_id.into()]).await.unwrap();
    assert_eq!(decided_by, "reviewer@acme-plumbing.test");
    // A second decision on the same task is refused with who decided.
    let again = app
        .demo_member(Role::Operations)
        .await
        .call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("reviewer@acme-plumbing.test"));
}

#[tokio::test]
async fn the_same_run_works_against_the_anthropic_messages_api() {
    let vendor = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/messages"))
        .and(matchers::header("x-api-key", "sk-vendor-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "content": [{ "type": "tool_use", "id": "tu_1", "name": "respond", "input": draft(0.95) }],
            "usage": { "input_tokens": 800, "output_tokens": 100 }
        })))
        .expect(1)
        .mount(&vendor)
        .await;
    let app = TestApp::spawn_with_worker().await;
    use_vendor(&app, "anthropic", &vendor.uri()).await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run_id = app.send_lead(&secret, &small_lead()).await;
    // Confident and small: no person needed.
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed", "waiting_for_review"]).await, "completed");
    let sent: Value = serde_json::from_slice(&vendor.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["tool_choice"]["name"], "respond", "structured output through a forced tool");
    assert!(sent["tools"][0]["input_schema"]["properties"]["confidence"].is_object());
    assert_eq!(sent["model"], "vendor-model-1");
    let prompt = sent["messages"][0]["content"].as_str().unwrap();
    assert!(prompt.contains("Lead: Harbor Dental Group (Dana Whitfield)"), "the rendered prompt: {prompt}");
    assert!(
        sent["system"].as_str().unwrap().contains("Use only facts present in the context"),
        "the template's rules go in the system prompt"
    );
    let done = steps(&app, run_id).await;
    assert_eq!(done[2].3, draft(0.95), "the tool input is the stored output");
    let (tokens_in, tokens_out): (i64, i64) = (
        app.demo_value(
            "SELECT tokens_in FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'",
            vec![run_id.into()],
        )
        .await
        .unwrap(),
        app.demo_value(
            "SELECT tokens_out FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'",
            vec![run_id.into()],
        )
        .await
        .unwrap(),
    );
    assert_eq!((tokens_in, tokens_out), (800, 100), "usage from the response");
    let cost: i64 = app
        .demo_value(
            "SELECT cost_micros FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'",
            vec![run_id.into()],
        )
        .await
        .unwrap();
    assert_eq!(cost, 3000, "800 × 2.50/M + 100 × 10/M");
    let line: i64 = app
        .demo_value("SELECT amount_micros FROM cost_lines WHERE run_id = $1 AND kind = 'model'", vec![run_id.into()])
        .await
        .unwrap();
    assert_eq!(line, 3000, "the ledger line of the model call");
}

#[tokio::test]
async fn the_lead_template_with_an_approval_and_a_thank_you_runs_through_every_step_type() {
    let vendor = MockServer::start().await;
    Mock::given(matchers::method("POST")).respond_with(openai_answer(&draft(0.95), 900, 200)).mount(&vendor).await;
    let app = TestApp::spawn_with_worker().await;
    use_vendor(&app, "openai_compatible", &format!("{}/v1", vendor.uri())).await;
    let yaml = store::bundles::GALLERY[0].bundle().workflow.replace(
        "approval:\n",
        "  - { id: check, type: approval, reviewers: ['reviewer@acme-plumbing.test'], output: approval }\n  - { id: thank, type: notify, to: ['{{ event.primaryContact.email }}'], subject: 'Thanks, {{ event.primaryContact.name }}', template: 'Our {{ owner_assignment.decision.owner }} team will call you.' }\napproval:\n",
    );
    assert!(yaml.contains("type: notify"), "the template still ends its steps before `approval:`");
    app.publish_workflow(&yaml).await;
    let run_id = send_to(&app, LEAD_WORKFLOW, &small_lead()).await;
    assert_eq!(app.wait_for_run(run_id, &["waiting_for_review", "completed", "failed"]).await, "waiting_for_review");
    let (task, reason) = open_task(&app, run_id).await;
    assert_eq!(reason, "approval_step", "a confident small deal passes the policy and stops at the explicit gate");
    let to_lead = |mails: Vec<server::smtp_capture::CapturedMail>| {
        mails.into_iter().filter(|m| m.to.iter().any(|t| t.contains("harbordental"))).collect::<Vec<_>>()
    };
    assert!(to_lead(app.mailbox.messages().await).is_empty());
    app.demo_member(Role::Reviewer)
        .await
        .call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")])
        .await;
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed");
    let kinds: Vec<String> = {
        let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
        let rows = txn
            .query_all_raw(store::db::stmt(
                "SELECT kind FROM run_steps WHERE run_id = $1 ORDER BY step_index",
                vec![run_id.into()],
            ))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        rows.into_iter().map(|r| r.try_get::<String>("", "kind").unwrap()).collect()
    };
    assert_eq!(kinds, ["function", "api_call", "llm", "rules", "approval", "notify"]);
    let mail = app
        .mailbox
        .wait_for("dana.whitfield@harbordental.example", std::time::Duration::from_secs(20))
        .await
        .expect("the thank-you is sent");
    assert!(mail.decoded().contains("team will call you"));
}

#[tokio::test]
async fn low_confidence_goes_to_a_person_and_confident_small_deals_complete_alone() {
    let vendor = MockServer::start().await;
    Mock::given(matchers::body_string_contains("Unsure Co"))
        .respond_with(openai_answer(&draft(0.41), 10, 10))
        .mount(&vendor)
        .await;
    Mock::given(matchers::any()).respond_with(openai_answer(&draft(0.9), 10, 10)).mount(&vendor).await;
    let app = TestApp::spawn_with_worker().await;
    use_vendor(&app, "openai_compatible", &vendor.uri()).await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let mut unsure = small_lead();
    unsure["companyName"] = json!("Unsure Co");
    let low = app.send_lead(&secret, &unsure).await;
    let clear = app.send_lead(&secret, &small_lead()).await;
    assert_eq!(app.wait_for_run(low, &["waiting_for_review", "completed"]).await, "waiting_for_review");
    assert_eq!(open_task(&app, low).await.1, "low_confidence");
    assert_eq!(app.wait_for_run(clear, &["waiting_for_review", "completed"]).await, "completed");
}

#[tokio::test]
async fn invalid_model_output_gets_one_repair_then_goes_to_the_human_queue_with_the_error() {
    let vendor = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(openai_answer(&json!({ "fit_score": 250, "summary": "too keen" }), 100, 20))
        .expect(2)
        .mount(&vendor)
        .await;
    let app = TestApp::spawn_with_worker().await;
    use_vendor(&app, "openai_compatible", &vendor.uri()).await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run_id = app.send_lead(&secret, &small_lead()).await;
    assert_eq!(app.wait_for_run(run_id, &["waiting_for_review", "completed", "failed"]).await, "waiting_for_review");
    let requests = vendor.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "the first answer and one repair");
    let repair: Value = serde_json::from_slice(&requests[1].body).unwrap();
    let last = repair["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(last.contains("does not match the required JSON Schema"), "{last}");
    let (task, reason) = open_task(&app, run_id).await;
    assert_eq!(reason, "error");
    let error: String = app
        .demo_value("SELECT error FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'", vec![run_id.into()])
        .await
        .unwrap();
    assert!(error.contains("response schema"), "{error}");
    let tokens: i64 = app.demo_value("SELECT tokens_in FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert_eq!(tokens, 200, "both calls are paid for");

    // The person's edit must meet the schema…
    let ops = app.demo_member(Role::Operations).await;
    let bad_edit = json!({ "fit_score": 250 }).to_string();
    let res = ops
        .call(
            "decide_review",
            &[
                ("slug", DEMO),
                ("task", &task),
                ("decision", "edit_and_approve"),
                ("edited_output", &bad_edit),
                ("reason_code", "wrong_facts"),
            ],
        )
        .await;
    let fields = invalid_fields(res).await;
    assert!(fields.iter().all(|(f, _)| f == "edited_output") && fields.len() >= 2, "{fields:?}");
    // …an edit without a reason code is refused…
    let good_edit = draft(0.8).to_string();
    let res = ops
        .call(
            "decide_review",
            &[("slug", DEMO), ("task", &task), ("decision", "edit_and_approve"), ("edited_output", &good_edit)],
        )
        .await;
    assert_eq!(invalid_fields(res).await[0].0, "reason_code");
    // …and a valid one continues the run with the person's output.
    let res = ops
        .call(
            "decide_review",
            &[
                ("slug", DEMO),
                ("task", &task),
                ("decision", "edit_and_approve"),
                ("edited_output", &good_edit),
                ("reason_code", "wrong_facts"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed");
    let context: Value = app.demo_value("SELECT context FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert_eq!(context["qualification_summary"], draft(0.8));
}

#[tokio::test]
async fn only_reviewers_operations_and_owners_of_the_business_decide() {
    let app = TestApp::spawn_with_worker().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run_id = app.send_lead(&secret, &fresh_lead()).await;
    app.wait_for_run(run_id, &["waiting_for_review"]).await;
    let (task, _) = open_task(&app, run_id).await;
    let form = [("slug", DEMO), ("task", task.as_str()), ("decision", "reject"), ("reason_code", "policy")];
    assert_eq!(
        app.demo_member(Role::Engineer).await.call("decide_review", &form).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.demo_member(Role::Executive).await.call("decide_review", &form).await.status(),
        StatusCode::FORBIDDEN
    );
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(stranger.call("decide_review", &form).await.status(), StatusCode::FORBIDDEN);
    let own = [("slug", "rival-plumbing"), ("task", task.as_str()), ("decision", "reject"), ("reason_code", "policy")];
    assert_eq!(
        stranger.call("decide_review", &own).await.status(),
        StatusCode::NOT_FOUND,
        "another business's task is not there"
    );
    assert_eq!(
        stranger.call("run_detail", &[("slug", DEMO), ("id", &run_id.to_string())]).await.status(),
        StatusCode::FORBIDDEN
    );
    // A reject ends the run.
    let res = app.demo_member(Role::Reviewer).await.call("decide_review", &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.wait_for_run(run_id, &["cancelled"]).await, "cancelled");
}

#[tokio::test]
async fn api_calls_retry_on_5xx_honour_retry_after_and_deterministic_answers_are_cached() {
    let enrichment = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&enrichment)
        .await;
    Mock::given(matchers::method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "employees": 120 })))
        .mount(&enrichment)
        .await;
    let app = TestApp::spawn_with_worker().await;
    app.publish_workflow(&format!(
            "workflow: enrich-only\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  - {{ id: enrich, type: api_call, url: '{}/company?d={{{{ event.companyName }}}}', deterministic: true, cache_ttl: 600, retry: {{ max_attempts: 3, backoff_seconds: 0.1 }}, output: company }}\n  - {{ id: route, type: rules, rules: [ {{ when: 'company.employees > 100', then: 'big' }} ], default: small, output: size }}\n",
            enrichment.uri()
        ),
    )
    .await;
    let secret = app.webhook_secret("enrich-only").await;
    let mut runs = Vec::new();
    for n in 0..2 {
        let res = app
            .signed_post(
                DEMO,
                "enrich-only",
                &secret,
                &format!("m{n}"),
                chrono::Utc::now().timestamp(),
                &fresh_lead().to_string(),
                &[],
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let run_id: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(app.wait_for_run(run_id, &["completed", "failed", "waiting_for_review"]).await, "completed");
        runs.push(run_id);
    }
    let first_attempts: i32 = app
        .demo_value("SELECT attempts FROM run_steps WHERE run_id = $1 AND step_id = 'enrich'", vec![runs[0].into()])
        .await
        .unwrap();
    assert_eq!(first_attempts, 2, "a 503, then success");
    let waited: f64 = app
        .demo_value("SELECT extract(epoch FROM finished_at - started_at)::float8 FROM run_steps WHERE run_id = $1 AND step_id = 'enrich'", vec![runs[0].into()])
        .await
        .unwrap();
    assert!(waited >= 1.0, "the retry waited the second Retry-After asked for, not the 0.1 s backoff ({waited} s)");
    let hit: bool = app
        .demo_value("SELECT cache_hit FROM run_steps WHERE run_id = $1 AND step_id = 'enrich'", vec![runs[1].into()])
        .await
        .unwrap();
    assert!(hit, "the second run used the cached answer");
    assert_eq!(
        enrichment.received_requests().await.unwrap().len(),
        2,
        "one failure + one success; the cache answered the second run"
    );
    let size: Value = app
        .demo_value("SELECT output FROM run_steps WHERE run_id = $1 AND step_id = 'route'", vec![runs[1].into()])
        .await
        .unwrap();
    assert_eq!(size["decision"], "big");
    let key = enrichment.received_requests().await.unwrap()[1]
        .headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(key, Some(format!("{}:enrich", runs[0])), "receivers can drop repeats");
}

#[tokio::test]
async fn a_message_to_an_outside_address_waits_for_approval_then_is_emailed_once() {
    let app = TestApp::spawn_with_worker().await;
    app.publish_workflow("workflow: thank-lead\nversion: 1\ntrigger: { source: webhook, event: lead.created }\nsteps:\n  - { id: check, type: approval }\n  - { id: tell, type: notify, to: ['{{ event.primaryContact.email }}'], subject: 'Thanks, {{ event.primaryContact.name }}', template: 'We got your note about {{ event.companyName }}.' }\n",
    )
    .await;
    let secret = app.webhook_secret("thank-lead").await;
    let res = app
        .signed_post(DEMO, "thank-lead", &secret, "n1", chrono::Utc::now().timestamp(), &fresh_lead().to_string(), &[])
        .await;
    let run_id: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.wait_for_run(run_id, &["waiting_for_review", "completed"]).await, "waiting_for_review");
    assert_eq!(open_task(&app, run_id).await.1, "approval_step");
    let to_lead = |mails: Vec<server::smtp_capture::CapturedMail>| {
        mails.into_iter().filter(|m| m.to.iter().any(|t| t.contains("harbordental"))).count()
    };
    assert_eq!(to_lead(app.mailbox.messages().await), 0, "nothing goes out before a person approves");
    let (task, _) = open_task(&app, run_id).await;
    app.demo_member(Role::Owner)
        .await
        .call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")])
        .await;
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed");
    let mail = app.mailbox.wait_for("dana.whitfield@harbordental.example", std::time::Duration::from_secs(20)).await;
    let mail = mail.expect("the approved message was emailed");
    assert!(mail.subject().unwrap_or_default().contains("Thanks, Dana Whitfield"));
    assert!(mail.decoded().contains("Harbor Dental Group"));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(to_lead(app.mailbox.messages().await), 1, "once");
}

#[tokio::test]
async fn a_failed_run_is_retried_from_its_failed_step_by_engineers_operations_and_owners_only() {
    let flaky = MockServer::start().await;
    Mock::given(matchers::path("/ok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true })))
        .mount(&flaky)
        .await;
    Mock::given(matchers::path("/down")).respond_with(ResponseTemplate::new(500)).up_to_n_times(1).mount(&flaky).await;
    Mock::given(matchers::path("/down"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "back": true })))
        .mount(&flaky)
        .await;
    let app = TestApp::spawn_with_worker().await;
    app.publish_workflow(&format!(
            "workflow: flaky\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  - {{ id: first, type: api_call, method: POST, url: '{0}/ok', output: first }}\n  - {{ id: second, type: api_call, url: '{0}/down', retry: {{ max_attempts: 1 }}, output: second }}\nfallback: {{ on_error: fail }}\n",
            flaky.uri()
        ),
    )
    .await;
    let secret = app.webhook_secret("flaky").await;
    let res = app
        .signed_post(DEMO, "flaky", &secret, "f1", chrono::Utc::now().timestamp(), &fresh_lead().to_string(), &[])
        .await;
    let run_id: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.wait_for_run(run_id, &["failed", "completed"]).await, "failed");
    let error: String = app.demo_value("SELECT error FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert!(error.contains("500"), "{error}");

    let id = run_id.to_string();
    let form = [("slug", DEMO), ("id", id.as_str())];
    assert_eq!(app.demo_member(Role::Reviewer).await.call("retry_run", &form).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.demo_member(Role::Executive).await.call("retry_run", &form).await.status(), StatusCode::FORBIDDEN);
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(stranger.call("retry_run", &form).await.status(), StatusCode::FORBIDDEN);
    let ops = app.demo_member(Role::Operations).await;
    let detail: Value = ops.call("run_detail", &form).await.json().await.unwrap();
    assert_eq!(detail["can_retry"], true);
    assert_eq!(ops.call("retry_run", &form).await.status(), StatusCode::OK);
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed");
    let posts = flaky.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/ok").count();
    assert_eq!(posts, 1, "the retry starts at the failed step, not the beginning");
    assert_eq!(ops.call("retry_run", &form).await.status(), StatusCode::CONFLICT, "only a failed run can be retried");
}

#[tokio::test]
async fn when_the_primary_model_keeps_failing_the_fallback_model_answers_and_is_recorded() {
    let primary = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({ "error": { "message": "overloaded" } })))
        .expect(3)
        .mount(&primary)
        .await;
    let backup = MockServer::start().await;
    Mock::given(matchers::any()).respond_with(openai_answer(&draft(0.95), 50, 10)).expect(1).mount(&backup).await;
    let app = TestApp::spawn_with_worker().await;
    use_vendor(&app, "openai_compatible", &primary.uri()).await;
    // The premium tier is the fallback.
    let owner = app.demo_current_member(Role::Owner).await;
    let id = store::models::add(
        &app.db,
        &app.settings,
        &owner,
        &store::models::NewModel {
            provider: "openai_compatible".into(),
            label: "backup".into(),
            base_url: backup.uri(),
            model: "backup-model".into(),
            input_price: "1".into(),
            output_price: "1".into(),
            api_key: String::new(),
        },
    )
    .await
    .map_err(|e| format!("{e:?}"))
    .unwrap();
    store::models::set_tier(&app.db, &owner, "premium", id).await.map_err(|e| format!("{e:?}")).unwrap();
    let yaml =
        store::bundles::GALLERY[0].bundle().workflow.replace("model: small,", "model: small, fallback_model: premium,");
    app.publish_workflow(&yaml).await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run_id = app.send_lead(&secret, &small_lead()).await;
    assert_eq!(app.wait_for_run(run_id, &["completed", "waiting_for_review", "failed"]).await, "completed");
    let model: String = app
        .demo_value("SELECT model FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'", vec![run_id.into()])
        .await
        .unwrap();
    assert_eq!(model, "backup");
    let detail: Value = app
        .demo_value("SELECT detail FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'", vec![run_id.into()])
        .await
        .unwrap();
    assert_eq!(detail["fallback_model"], true, "{detail}");
    assert!(detail["calls"][0]["error"].as_str().unwrap().contains("overloaded"), "{detail}");
    // The fallback's cost is its own line: 50 + 10 tokens at 1 per million each.
    let fallback: (i64, String) = (
        app.demo_value(
            "SELECT amount_micros FROM cost_lines WHERE run_id = $1 AND kind = 'fallback_model'",
            vec![run_id.into()],
        )
        .await
        .unwrap(),
        app.demo_value(
            "SELECT label FROM cost_lines WHERE run_id = $1 AND kind = 'fallback_model'",
            vec![run_id.into()],
        )
        .await
        .unwrap(),
    );
    assert_eq!(fallback, (60, "backup".to_string()));
    let primary: i64 = app
        .demo_value("SELECT count(*) FROM cost_lines WHERE run_id = $1 AND kind = 'model'", vec![run_id.into()])
        .await
        .unwrap();
    assert_eq!(primary, 0, "the failed primary answered nothing to pay for");
}

#[tokio::test]
async fn sensitive_fields_show_in_clear_only_to_the_people_who_decide() {
    let app = TestApp::spawn_with_worker().await;
    let run_id = app.send_lead(&app.demo_webhook_secret, &fresh_lead()).await;
    app.wait_for_run(run_id, &["waiting_for_review", "completed", "failed"]).await;
    for role in [Role::Owner, Role::Reviewer, Role::Engineer, Role::Operations] {
        let detail = app
            .demo_member(role)
            .await
            .call("run_detail", &[("slug", DEMO), ("id", &run_id.to_string())])
            .await
            .json::<Value>()
            .await
            .unwrap();
        let event = detail["source_event"].as_str().unwrap();
        assert!(event.contains("Dana Whitfield"), "{role}: the record itself shows");
        let clear = event.contains("dana.whitfield@harbordental.example") && event.contains("+1 415 555 0134");
        assert_eq!(clear, engine::access::sees_sensitive_values(role), "{role}: {event}");
        if !clear {
            assert!(event.contains("••••"), "{role}: masked, not missing");
        }
        // The same event as labelled fields, in the hosted form's order, masked the same way.
        let fields: Vec<(String, String)> = serde_json::from_value(detail["event_fields"].clone()).unwrap();
        assert_eq!(fields[0], ("Company name".to_string(), "Harbor Dental Group".to_string()), "{role}: {fields:?}");
        let email = fields.iter().find(|(label, _)| label == "Primary contact email").expect("the contact's email");
        let expected = if clear { "dana.whitfield@harbordental.example" } else { "••••" };
        assert_eq!(email.1, expected, "{role}");
        let steps = detail["steps"].to_string();
        assert!(!steps.contains("dana.whitfield@harbordental.example"), "{role}: step records stay masked: {steps}");
    }
    // The runs list names the record (names are not sensitive in the lead contract).
    let form = [("slug", DEMO), ("workflow", ""), ("status", ""), ("needs_review", "false"), ("from", ""), ("to", "")];
    let rows: Value = app.demo_member(Role::Operations).await.call("list_runs", &form).await.json().await.unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["id"] == run_id.to_string()).expect("the run is listed");
    assert_eq!(row["title"], "Dana Whitfield, Harbor Dental Group");
}

#[tokio::test]
async fn an_api_call_sends_a_stored_secret_by_name_and_the_timeline_never_shows_it() {
    let service = MockServer::start().await;
    // The service echoes the key back, as careless APIs do.
    Mock::given(matchers::header("authorization", "Bearer sk-enrich-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "employees": 12, "echo": { "api_key": "sk-enrich-123", "note": "key sk-enrich-123 ok" } }),
        ))
        .expect(1)
        .mount(&service)
        .await;
    let app = TestApp::spawn_with_worker().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let bad = engineer.call("set_secret", &[("slug", DEMO), ("name", "Enrich Key"), ("value", "")]).await;
    let fields: Vec<String> = invalid_fields(bad).await.into_iter().map(|f| f.0).collect();
    assert_eq!(fields, vec!["name", "value"]);
    let res = engineer.call("set_secret", &[("slug", DEMO), ("name", "enrich_key"), ("value", "sk-enrich-123")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let listed = engineer.call("list_secrets", &[("slug", DEMO)]).await.text().await.unwrap();
    assert!(listed.contains("enrich_key") && !listed.contains("sk-enrich-123"), "{listed}");
    assert_eq!(
        app.demo_member(Role::Operations).await.call("list_secrets", &[("slug", DEMO)]).await.status(),
        StatusCode::FORBIDDEN
    );
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(
        stranger.call("set_secret", &[("slug", DEMO), ("name", "x"), ("value", "y")]).await.status(),
        StatusCode::FORBIDDEN
    );

    app.publish_workflow(&format!("workflow: keyed\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  - {{ id: enrich, type: api_call, url: '{}/company?key={{{{ secret }}}}', secret: enrich_key, output: company }}\n", service.uri()),
    )
    .await;
    let secret = app.webhook_secret("keyed").await;
    let res = app
        .signed_post(DEMO, "keyed", &secret, "k1", chrono::Utc::now().timestamp(), &fresh_lead().to_string(), &[])
        .await;
    let run_id: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed", "waiting_for_review"]).await, "completed");
    let detail = app
        .demo_member(Role::Operations)
        .await
        .call("run_detail", &[("slug", DEMO), ("id", &run_id.to_string())])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !detail.contains("sk-enrich-123"),
        "the secret never reaches the timeline, not from the URL nor echoed back"
    );
    let stored: i64 = app
        .demo_value(
            "SELECT count(*) FROM run_steps WHERE run_id = $1 AND (output::text LIKE '%sk-enrich%' OR input::text LIKE '%sk-enrich%')",
            vec![run_id.into()],
        )
        .await
        .unwrap();
    assert_eq!(stored, 0, "the echoed secret is not stored in clear");
    let context: String =
        app.demo_value("SELECT context::text FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert!(!context.contains("sk-enrich") && context.contains("12"), "{context}");
    assert!(detail.contains("authorization") && detail.contains("company?key=••••"), "{detail}");
    let sent = &service.received_requests().await.unwrap()[0];
    assert_eq!(sent.url.query(), Some("key=sk-enrich-123"), "the service got the real key");
}

/// Sends one lead to `workflow` (signed with a fresh secret) and returns its run.
async fn send_to(app: &TestApp, workflow: &str, lead: &Value) -> uuid::Uuid {
    let secret = app.webhook_secret(workflow).await;
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let res =
        app.signed_post(DEMO, workflow, &secret, &id, chrono::Utc::now().timestamp(), &lead.to_string(), &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap_or_default());
    res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn api_calls_retry_after_a_timeout_and_a_429_whose_retry_after_is_a_date() {
    let service = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "late": true }))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .mount(&service)
        .await;
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    Mock::given(matchers::method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", at.as_str()))
        .up_to_n_times(1)
        .mount(&service)
        .await;
    Mock::given(matchers::method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "employees": 7 })))
        .mount(&service)
        .await;
    let app = TestApp::spawn_with_worker().await;
    app.publish_workflow(&format!(
            "workflow: patient\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  - {{ id: enrich, type: api_call, url: '{}/company', timeout: 0.5, retry: {{ max_attempts: 3, backoff_seconds: 0.05 }}, output: company }}\n",
            service.uri()
        ),
    )
    .await;
    let run_id = send_to(&app, "patient", &fresh_lead()).await;
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed", "waiting_for_review"]).await, "completed");
    let detail: Value = app
        .demo_value("SELECT detail FROM run_steps WHERE run_id = $1 AND step_id = 'enrich'", vec![run_id.into()])
        .await
        .unwrap();
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["error"], "timed out");
    assert_eq!(attempts[1]["status"], 429);
    assert_eq!(attempts[2]["status"], 200);
    let output: Value = app
        .demo_value("SELECT output FROM run_steps WHERE run_id = $1 AND step_id = 'enrich'", vec![run_id.into()])
        .await
        .unwrap();
    assert_eq!(output["employees"], 7);
}

#[tokio::test]
async fn a_financial_write_waits_for_a_person_when_the_policy_holds_and_runs_once_approved() {
    let ledger = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "invoice": "INV-1" })))
        .mount(&ledger)
        .await;
    let app = TestApp::spawn_with_worker().await;
    app.publish_workflow(&format!(
            "workflow: book-deal\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  - {{ id: book, type: api_call, method: POST, url: '{}/invoices', writes_financial_records: true, body: {{ amount: '{{{{ event.annual_contract_value }}}}' }}, output: invoice }}\napproval:\n  required_when: [ {{ annual_contract_value_above: 50000 }} ]\n",
            ledger.uri()
        ),
    )
    .await;
    // A small deal is booked straight away; a large one waits before anything is written.
    let small = send_to(&app, "book-deal", &small_lead()).await;
    assert_eq!(app.wait_for_run(small, &["completed", "failed", "waiting_for_review"]).await, "completed");
    assert_eq!(ledger.received_requests().await.unwrap().len(), 1);
    let large = send_to(&app, "book-deal", &fresh_lead()).await;
    assert_eq!(app.wait_for_run(large, &["completed", "failed", "waiting_for_review"]).await, "waiting_for_review");
    let (task, reason) = open_task(&app, large).await;
    assert_eq!(reason, "high_value");
    assert_eq!(ledger.received_requests().await.unwrap().len(), 1, "nothing is written before a person approves");
    app.demo_member(Role::Reviewer)
        .await
        .call("decide_review", &[("slug", DEMO), ("task", &task), ("decision", "approve")])
        .await;
    assert_eq!(app.wait_for_run(large, &["completed", "failed"]).await, "completed");
    let writes = ledger.received_requests().await.unwrap();
    assert_eq!(writes.len(), 2, "written once, after the approval");
    assert_eq!(serde_json::from_slice::<Value>(&writes[1].body).unwrap()["amount"], "60000");
}

#[tokio::test]
async fn the_runs_list_filters_by_workflow_status_review_and_date_for_members_who_may_see_runs() {
    let app = TestApp::spawn_with_worker().await;
    let waiting = app.send_lead(&app.demo_webhook_secret, &fresh_lead()).await;
    assert_eq!(app.wait_for_run(waiting, &["waiting_for_review", "completed"]).await, "waiting_for_review");
    app.publish_workflow("workflow: tiny\nversion: 1\ntrigger: { source: webhook, event: lead.created }\nsteps:\n  - { id: route, type: rules, rules: [ { when: 'true', then: 'ok' } ], output: r }\n").await;
    let done = send_to(&app, "tiny", &fresh_lead()).await;
    assert_eq!(app.wait_for_run(done, &["completed", "failed"]).await, "completed");
    let ops = app.demo_member(Role::Operations).await;
    let today = chrono::Utc::now().date_naive().to_string();
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let list = |form: Vec<(&'static str, String)>| {
        let ops = &ops;
        async move {
            let mut all: Vec<(&str, String)> = vec![
                ("slug", DEMO.into()),
                ("workflow", String::new()),
                ("status", String::new()),
                ("needs_review", "false".into()),
                ("from", String::new()),
                ("to", String::new()),
            ];
            for (k, v) in form {
                all.retain(|(key, _)| *key != k);
                all.push((k, v));
            }
            let form: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let rows: Value = ops.call("list_runs", &form).await.json().await.unwrap();
            rows.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(list(vec![]).await.len(), 2);
    assert_eq!(list(vec![("workflow", "tiny".into())]).await, vec![done.to_string()]);
    assert_eq!(list(vec![("status", "completed".into())]).await, vec![done.to_string()]);
    assert_eq!(list(vec![("needs_review", "true".into())]).await, vec![waiting.to_string()]);
    assert_eq!(list(vec![("from", today.clone()), ("to", today.clone())]).await.len(), 2);
    assert!(list(vec![("from", tomorrow)]).await.is_empty());
    let bad = ops
        .call(
            "list_runs",
            &[
                ("slug", DEMO),
                ("workflow", ""),
                ("status", "lost"),
                ("needs_review", "false"),
                ("from", "yesterday"),
                ("to", ""),
            ],
        )
        .await;
    let fields: Vec<String> = invalid_fields(bad).await.into_iter().map(|f| f.0).collect();
    assert_eq!(fields[0], "status");

    let form = [("slug", DEMO), ("workflow", ""), ("status", ""), ("needs_review", "false"), ("from", ""), ("to", "")];
    assert_eq!(app.demo_member(Role::Executive).await.call("list_runs", &form).await.status(), StatusCode::FORBIDDEN);
    let id = done.to_string();
    assert_eq!(
        app.demo_member(Role::Executive).await.call("run_detail", &[("slug", DEMO), ("id", &id)]).await.status(),
        StatusCode::FORBIDDEN
    );
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(stranger.call("list_runs", &form).await.status(), StatusCode::FORBIDDEN);
    let rival_list = stranger
        .call(
            "list_runs",
            &[
                ("slug", "rival-plumbing"),
                ("workflow", ""),
                ("status", ""),
                ("needs_review", "false"),
                ("from", ""),
                ("to", ""),
            ],
        )
        .await;
    let rival_rows: Value = rival_list.json().await.unwrap();
    assert!(rival_rows.as_array().unwrap().is_empty(), "another business sees none of these runs in its own list");
    let res = stranger.call("run_detail", &[("slug", "rival-plumbing"), ("id", &id)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "nor by asking for the run under its own name");
}

#[tokio::test]
async fn a_lead_without_the_optional_inquiry_text_passes_the_door_and_its_run_does_not_fail() {
    // The lead contract calls `inquiry_text` optional, so the gallery prompt must not require it.
    let app = TestApp::spawn_with_worker().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let mut lead = fresh_lead();
    lead.as_object_mut().unwrap().remove("inquiry_text");
    let run = app.send_lead(&secret, &lead).await;
    let status = app.wait_for_run(run, &["waiting_for_review", "completed", "failed"]).await;
    let error: Option<String> = app.demo_value("SELECT error FROM runs WHERE id = $1", vec![run.into()]).await.unwrap();
    assert_ne!(status, "failed", "{error:?}");
    let prompt: Value = app
        .demo_value("SELECT input FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'", vec![run.into()])
        .await
        .unwrap();
    assert!(prompt.to_string().contains("(none given)"), "{prompt}");
}

#[tokio::test]
async fn an_llm_step_that_redacts_sensitive_fields_never_sends_the_contact_to_the_model() {
    let vendor = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(openai_answer(&draft(0.93), 100, 20))
        .mount(&vendor)
        .await;
    let app = TestApp::spawn_with_worker().await;
    use_vendor(&app, "openai_compatible", &format!("{}/v1", vendor.uri())).await;
    // A prompt version that names the contact's email and phone.
    let engineer = app.demo_current_member(Role::Engineer).await;
    let mut prompt: Value =
        serde_json::from_str(include_str!("../../../store/src/gallery/lead_summary_v4.json")).unwrap();
    prompt["template"] = json!(
        "Lead: {{ normalized_lead.companyName }} <{{ normalized_lead.primaryContact.email }}>, {{ normalized_lead.primaryContact.phone }}\nCompany context: {{ company_context }}"
    );
    let number = store::prompts::save_version(&app.db, &engineer, "lead_summary_v4", &prompt, "name the contact")
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    store::prompts::move_label(&app.db, &engineer, "lead_summary_v4", "production", number)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let sent_prompt = |n: usize| {
        let vendor = &vendor;
        async move {
            let requests = vendor.received_requests().await.unwrap();
            let body: Value = serde_json::from_slice(&requests[n].body).unwrap();
            body["messages"][1]["content"].as_str().unwrap().to_owned()
        }
    };

    // As published, the model is sent the contact.
    let first = app.send_lead(&secret, &small_lead()).await;
    app.wait_for_run(first, &["completed", "waiting_for_review", "failed"]).await;
    let plain = sent_prompt(0).await;
    assert!(plain.contains("dana.whitfield@harbordental.example") && plain.contains("+1 415 555 0134"), "{plain}");

    // With `redact_sensitive` on the step, it is not, and the step says so.
    let yaml = include_str!("../../../store/src/gallery/lead-intake-qualification.yaml").replace(
        "model: small, output: qualification_summary",
        "model: small, redact_sensitive: true, output: qualification_summary",
    );
    app.publish_workflow(&yaml).await;
    let second = app.send_lead(&secret, &small_lead()).await;
    app.wait_for_run(second, &["completed", "waiting_for_review", "failed"]).await;
    let redacted = sent_prompt(1).await;
    assert!(redacted.contains("Harbor Dental") && redacted.contains("<••••>, ••••"), "{redacted}");
    assert!(!redacted.contains("harbordental.example>") && !redacted.contains("555 0134"), "{redacted}");
    let recorded: bool = app
        .demo_value(
            "SELECT (detail ->> 'redacted_sensitive')::bool FROM run_steps WHERE run_id = $1 AND step_id = 'summarize'",
            vec![second.into()],
        )
        .await
        .unwrap();
    assert!(recorded, "the step records that the model saw masked fields");
}

#[tokio::test]
async fn a_review_email_masks_the_contact_a_draft_repeats_and_the_reviewer_sees_it_on_the_page() {
    let vendor = MockServer::start().await;
    let mut answer = draft(0.93);
    answer["next_step"] = json!("Email dana.whitfield@harbordental.example or call +1 415 555 0134 today");
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(openai_answer(&answer, 100, 20))
        .mount(&vendor)
        .await;
    let app = TestApp::spawn_with_worker().await;
    use_vendor(&app, "openai_compatible", &format!("{}/v1", vendor.uri())).await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    // 60 000 a year: a person approves.
    let run_id = app.send_lead(&secret, &fresh_lead()).await;
    assert_eq!(app.wait_for_run(run_id, &["waiting_for_review", "completed", "failed"]).await, "waiting_for_review");
    let mail = app
        .mailbox
        .wait_for("reviewer@acme-plumbing.test", std::time::Duration::from_secs(20))
        .await
        .expect("the review email arrives");
    let parsed = mailparse::parse_mail(mail.data.as_bytes()).unwrap();
    let body = parsed.subparts[0].get_body().unwrap();
    assert!(body.contains("Next step: Email •••• or call •••• today"), "{body}");
    assert!(!body.contains("harbordental.example") && !body.contains("555 0134"), "{body}");
    // The reviewer who decides reads the draft in full on the task's page.
    let detail = app
        .demo_member(Role::Reviewer)
        .await
        .call("run_detail", &[("slug", DEMO), ("id", &run_id.to_string())])
        .await
        .json::<Value>()
        .await
        .unwrap();
    let draft = detail["tasks"][0]["draft"].as_str().unwrap();
    assert!(draft.contains("Email dana.whitfield@harbordental.example"), "{draft}");
    // Read as labelled fields: figures first (the prompt's response schema), then text, then lists.
    let fields: Vec<(String, String)> = serde_json::from_value(detail["tasks"][0]["draft_fields"].clone()).unwrap();
    let labels: Vec<&str> = fields.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(labels, ["Confidence", "Fit score", "Next step", "Summary", "Risks"], "{fields:?}");
    assert!(fields[2].1.starts_with("Email dana.whitfield@harbordental.example"), "{fields:?}");
}

#[tokio::test]
async fn a_failed_step_keeps_customer_data_out_of_the_run_error() {
    let app = TestApp::spawn_with_worker().await;
    // Nothing listens on port 9 here: the call fails, and its error quotes the URL with the email in it.
    app.publish_workflow("workflow: lookup\nversion: 1\ntrigger: { source: webhook, event: lead.created }\nsteps:\n  - { id: lookup, type: api_call, url: 'http://127.0.0.1:9/people?email={{ event.primaryContact.email }}', retry: { max_attempts: 1 }, output: person }\nfallback: { on_error: fail }\n",
    )
    .await;
    let secret = app.webhook_secret("lookup").await;
    let res = app
        .signed_post(DEMO, "lookup", &secret, "l1", chrono::Utc::now().timestamp(), &fresh_lead().to_string(), &[])
        .await;
    let run_id: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.wait_for_run(run_id, &["failed", "completed"]).await, "failed");
    let error: Option<String> = app.demo_value("SELECT error FROM runs WHERE id = $1", vec![run_id.into()]).await;
    let error = error.unwrap_or_default();
    assert!(error.contains("127.0.0.1:9/people?email="), "the error still says what failed: {error}");
    assert!(!error.contains("harbordental"), "the run's error is masked: {error}");
    assert!(error.contains("••••"), "{error}");
}
