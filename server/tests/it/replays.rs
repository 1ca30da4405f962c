//! Replays: a workflow version run in shadow over a dataset of past,
//! reviewed runs. The figures are known from the reviewers' answers and the
//! offline model's determinism; nothing reaches the outside world (the CRM
//! fake's request log and the SMTP capture stay as they were); what the
//! models cost stays out of production's costs; the publish gate blocks and
//! then allows; a cancelled replay stops and a replay whose worker was
//! killed is finished by the next one.

use crate::support::processes::WorkerProcess;
use crate::support::{fresh_lead, TestApp, DEMO};
use engine::replay::{DatasetPick, GateVerdict, PublishGate, ReplayStatus};
use engine::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use store::datasets::Pick;
use store::replays::Replaying;
use wiremock::{matchers, Mock, MockServer, ResponseTemplate};

const WORKFLOW: &str = "replay-check";

/// A lead workflow whose company lookup is a CRM call that is not
/// deterministic (production's answer must be reused), that asks a person
/// about every lead over 1 000 a year, and that tells operations where the
/// lead went. `threshold` moves the rules' line.
fn workflow_yaml(crm: &str, threshold: u32, tier: &str) -> String {
    format!(
        "workflow: {WORKFLOW}
version: 1.0.0
trigger: {{ source: webhook, event: lead.created, data_contract: lead }}
steps:
  - {{ id: normalize, type: function, function: normalize, output: normalized_lead }}
  - {{ id: lookup, type: api_call, method: POST, url: '{crm}/lookup', body: {{ email: '{{{{ normalized_lead.primaryContact.email }}}}' }}, output: company_context }}
  - {{ id: summarize, type: llm, prompt_template: lead_summary_v4, model: {tier}, output: summary }}
  - {{ id: route, type: rules, rules: [ {{ when: 'summary.fit_score >= {threshold}.0', then: sales }} ], default: nurture, output: owner }}
  - {{ id: tell, type: notify, to: ['role:operations'], subject: 'Lead routed', template: 'Routed to {{{{ owner }}}}' }}
approval:
  required_when: [ {{ annual_contract_value_above: 1000 }} ]
"
    )
}

async fn publish(app: &TestApp, yaml: &str) -> i32 {
    app.publish_workflow(yaml).await.1
}

async fn send(app: &TestApp, secret: &str, lead: &Value) -> uuid::Uuid {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let res =
        app.signed_post(DEMO, WORKFLOW, secret, &id, chrono::Utc::now().timestamp(), &lead.to_string(), &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap()
}

fn lead(n: usize) -> Value {
    let mut lead = fresh_lead();
    lead["companyName"] = json!(format!("Harbor Dental Group {n}"));
    lead
}

async fn open_task(app: &TestApp, run_id: uuid::Uuid) -> (String, Value) {
    let id: String = app
        .demo_value("SELECT id::text FROM review_tasks WHERE run_id = $1 AND status = 'open'", vec![run_id.into()])
        .await
        .expect("an open task");
    let draft: Value =
        app.demo_value("SELECT draft FROM review_tasks WHERE id = $1::uuid", vec![id.clone().into()]).await.unwrap();
    (id, draft)
}

async fn wait_for_replay(app: &TestApp, id: uuid::Uuid, within: Duration) -> store::replays::ReplayDetail {
    let member = app.demo_current_member(Role::Operations).await;
    let deadline = std::time::Instant::now() + within;
    loop {
        let detail = store::replays::detail(&app.db, &member, id).await.map_err(|e| format!("{e:?}")).unwrap();
        if !detail.replay.status.is_active() {
            return detail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replay is still {:?} after {within:?}",
            detail.replay.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start(app: &TestApp, dataset: uuid::Uuid, replaying: &Replaying) -> uuid::Uuid {
    let engineer = app.demo_current_member(Role::Engineer).await;
    let id = store::replays::start(&app.db, &engineer, dataset, replaying).await.map_err(|e| format!("{e:?}")).unwrap();
    let tenant = engineer.tenant.clone();
    store::jobs::ReplayQueue::new(
        store::jobs::connect_redis(&app.settings.redis_url).unwrap(),
        &app.settings.redis_prefix,
    )
    .push(store::jobs::ReplayJob::new(&tenant, id))
    .await
    .unwrap();
    id
}

/// Points the premium tier at a priced model served by `vendor` (every answer the same draft).
async fn premium_vendor(app: &TestApp, vendor: &MockServer, delay: Duration) {
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({
                    "choices": [{ "message": { "role": "assistant", "content": json!({ "fit_score": 12, "summary": "Small practice.", "risks": [], "next_step": "Nurture", "confidence": 0.95 }).to_string() } }],
                    "usage": { "prompt_tokens": 1000, "completion_tokens": 200 }
                }))
                .set_delay(delay),
        )
        .mount(vendor)
        .await;
    let model = store::models::NewModel {
        provider: "openai_compatible".into(),
        label: "premium fake".into(),
        base_url: format!("{}/v1", vendor.uri()),
        model: "vendor-model-2".into(),
        input_price: "2.50".into(),
        output_price: "10".into(),
        api_key: "sk-vendor-key".into(),
    };
    app.use_model("premium", model).await;
}

#[tokio::test]
async fn a_replay_over_reviewed_runs_gives_known_agreement_reaches_nobody_and_gates_publishing() {
    let crm = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/lookup"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "employees": 120, "industry": "dental care" })))
        .mount(&crm)
        .await;
    let vendor = MockServer::start().await;
    let app = TestApp::spawn_with_worker().await;
    premium_vendor(&app, &vendor, Duration::ZERO).await;
    let v1 = publish(&app, &workflow_yaml(&crm.uri(), 50, "small")).await;
    let secret = app.webhook_secret(WORKFLOW).await;

    // Production: four leads, each asked about; two approved, one edited, one rejected.
    let mut runs = Vec::new();
    for n in 0..4 {
        runs.push(send(&app, &secret, &lead(n)).await);
    }
    let reviewer = app.demo_member(Role::Reviewer).await;
    let mut edited_to = Value::Null;
    for (n, run) in runs.iter().enumerate() {
        assert_eq!(app.wait_for_run(*run, &["waiting_for_review", "failed"]).await, "waiting_for_review");
        let (task, draft) = open_task(&app, *run).await;
        let form: Vec<(&str, String)> = match n {
            0 | 1 => vec![("decision", "approve".into())],
            2 => {
                edited_to = draft.clone();
                edited_to["next_step"] = json!("Call Dana on Monday");
                vec![
                    ("decision", "edit_and_approve".into()),
                    ("edited_output", edited_to.to_string()),
                    ("reason_code", "missing_context".into()),
                ]
            }
            _ => vec![("decision", "reject".into()), ("reason_code", "wrong_facts".into())],
        };
        let mut form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.extend([("slug", DEMO), ("task", task.as_str())]);
        let res = reviewer.call("decide_review", &form).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    }
    for run in &runs[..3] {
        assert_eq!(app.wait_for_run(*run, &["completed", "failed"]).await, "completed");
    }
    // What production reached: the CRM once per lead, and mail (review links, the routing notes).
    let crm_calls = crm.received_requests().await.unwrap().len();
    assert_eq!(crm_calls, 4);
    // Every email production wrote (four review links, three routing notes) is delivered before counting.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let written = loop {
        let written: i64 = app.demo_value("SELECT count(*) FROM outbox", vec![]).await.unwrap();
        let unsent: i64 = app.demo_value("SELECT count(*) FROM outbox WHERE status <> 'sent'", vec![]).await.unwrap();
        if unsent == 0 && app.mailbox.messages().await.len() as i64 == written {
            break written;
        }
        assert!(std::time::Instant::now() < deadline, "{unsent} of {written} emails unsent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(written, 7, "four review emails and three routing notes");
    let mail_before = app.mailbox.messages().await.len();
    let production_costs: i64 =
        app.demo_value("SELECT coalesce(sum(amount_micros), 0)::bigint FROM cost_lines", vec![]).await.unwrap();

    // The dataset: every reviewed run, with what production did and what the reviewer said.
    let engineer = app.demo_current_member(Role::Engineer).await;
    let pick = Pick { how: DatasetPick::Reviewed, from: None, to: None, size: 100 };
    let (dataset, added) = store::datasets::create(&app.db, &engineer, WORKFLOW, "reviewed leads", &pick)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert_eq!(added, 4);
    let items = store::datasets::items(&app.db, &engineer, dataset).await.map_err(|e| format!("{e:?}")).unwrap();
    let edited = items.iter().find(|i| i.run_id == runs[2]).unwrap();
    assert_eq!(
        edited.production.answer,
        Some(engine::replay::ReviewerAnswer::Edited { output: edited_to.clone() }),
        "the reviewer's edit is the expected output"
    );
    assert!(edited.production.outcome.path.person);
    assert!(edited.context.get("summary").is_none(), "the dataset keeps the context as it was before the first step");
    let overridden = Pick { how: DatasetPick::Overridden, ..pick.clone() };
    let (_, overrides) = store::datasets::create(&app.db, &engineer, WORKFLOW, "overrides", &overridden)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert_eq!(overrides, 2, "the edit and the rejection");

    // The same version replayed: the offline model drafts the same, so the figures are production's.
    let same = start(&app, dataset, &Replaying { version: v1, ..Default::default() }).await;
    let detail = wait_for_replay(&app, same, Duration::from_secs(60)).await;
    assert_eq!(detail.replay.status, ReplayStatus::Completed, "{:?}", detail.replay.error);
    assert_eq!((detail.replay.done, detail.replay.total), (4, 4));
    let s = &detail.summary;
    assert_eq!((s.events, s.answered, s.rejected), (4, 3, 1));
    assert_eq!(s.production.agreement, Some(2.0 / 3.0), "two of three answered drafts were approved as drafted");
    assert_eq!(s.replay.agreement, Some(2.0 / 3.0));
    assert_eq!((s.regressions, s.drafts_changed, s.paths_changed), (0, 0, 0), "{:?}", detail.results);
    assert_eq!((s.production.to_person, s.replay.to_person), (1.0, 1.0));

    // A premium model replayed: every draft changes, agreement drops to none, and the cost is the replay's.
    let premium = start(
        &app,
        dataset,
        &Replaying { version: v1, model_tier: Some(engine::workflow::ModelTier::Premium), ..Default::default() },
    )
    .await;
    let detail = wait_for_replay(&app, premium, Duration::from_secs(60)).await;
    assert_eq!(detail.replay.status, ReplayStatus::Completed, "{:?}", detail.replay.error);
    let s = &detail.summary;
    assert_eq!(s.replay.agreement, Some(0.0));
    assert_eq!(s.regressions, 2, "the two approved drafts no longer match: {:?}", detail.results);
    assert!(
        detail.results[0].comparison.is_regression() && detail.results[1].comparison.is_regression(),
        "regressions come first"
    );
    // 1 000 × 2.50/M + 200 × 10/M = 0.0045 per event.
    assert_eq!(s.replay.cost_per_run_micros, 4500);
    assert_eq!(detail.replay.cost_micros, 4 * 4500);
    assert_eq!(s.production.cost_per_run_micros, 0, "production ran on the offline model");
    assert_eq!(vendor.received_requests().await.unwrap().len(), 4);
    assert_eq!(s.replay.confidence[9], 4, "the fake model is 95% sure each time");

    // Nothing reached the outside world: no CRM call, no email, no cost line.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(crm.received_requests().await.unwrap().len(), crm_calls, "production's CRM answers were reused");
    assert_eq!(app.mailbox.messages().await.len(), mail_before, "a replay sends no email");
    let costs_after: i64 =
        app.demo_value("SELECT coalesce(sum(amount_micros), 0)::bigint FROM cost_lines", vec![]).await.unwrap();
    assert_eq!(costs_after, production_costs, "replay cost is not production cost");
    let replay_runs: i64 =
        app.demo_value("SELECT count(*) FROM runs WHERE workflow_name = $1", vec![WORKFLOW.into()]).await.unwrap();
    assert_eq!(replay_runs, 4, "a replay makes no runs");

    // The change log has each replay's summary with its version.
    let logged: Value = app
        .demo_value(
            "SELECT detail FROM audit_events WHERE action = 'replay.finished' AND detail->>'replay' = $1",
            vec![premium.to_string().into()],
        )
        .await
        .expect("the finished replay is in the change log");
    assert_eq!(logged["version"], v1);
    assert_eq!(logged["summary"]["regressions"], 2);

    // The publish gate: owners ask for a replay; version 2 (a new rules line) is refused until it has one.
    let owner = app.demo_current_member(Role::Owner).await;
    let gate = PublishGate { required: true, ..PublishGate::default() };
    let refused = store::replays::set_gate(&app.db, &engineer, WORKFLOW, &gate).await;
    assert!(matches!(refused, Err(store::datasets::DatasetError::Refused(_))), "engineers do not set the gate");
    store::replays::set_gate(&app.db, &owner, WORKFLOW, &gate).await.map_err(|e| format!("{e:?}")).unwrap();
    let (_, v2) =
        store::workflows::save_version(&app.db, &engineer, &workflow_yaml(&crm.uri(), 60, "small"), "raise the line")
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
    let blocked = store::workflows::publish(&app.db, &engineer, WORKFLOW, v2, "raise the line", None).await;
    match blocked {
        Err(store::workflows::WorkflowError::Refused(why)) => assert!(why.contains("needs a finished replay"), "{why}"),
        other => panic!("published without a replay: {other:?}"),
    }
    let views = store::replays::judge(&app.db, &owner, WORKFLOW, &[v2]).await.map_err(|e| format!("{e:?}")).unwrap();
    assert!(matches!(views[0].1.verdict, GateVerdict::Blocked(_)));
    // Version 3 drafts with the premium model: its replay loses agreement, so the gate holds.
    let (_, v3) =
        store::workflows::save_version(&app.db, &engineer, &workflow_yaml(&crm.uri(), 50, "premium"), "premium drafts")
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
    let worse = start(&app, dataset, &Replaying { version: v3, ..Default::default() }).await;
    assert_eq!(wait_for_replay(&app, worse, Duration::from_secs(60)).await.replay.status, ReplayStatus::Completed);
    match store::workflows::publish(&app.db, &engineer, WORKFLOW, v3, "premium drafts", None).await {
        Err(store::workflows::WorkflowError::Refused(why)) => {
            assert!(why.contains("Agreement with reviewers drops by 66.7 points"), "{why}")
        }
        other => panic!("a worse version was published: {other:?}"),
    }
    // Version 2's replay keeps the drafts: it passes and publishes, with the replay in the change log.
    let good = start(&app, dataset, &Replaying { version: v2, ..Default::default() }).await;
    assert_eq!(wait_for_replay(&app, good, Duration::from_secs(60)).await.replay.status, ReplayStatus::Completed);
    store::workflows::publish(&app.db, &engineer, WORKFLOW, v2, "raise the line", None)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let published: Value = app
        .demo_value(
            "SELECT detail FROM audit_events WHERE action = 'workflow.published' AND subject = $1 ORDER BY seq DESC LIMIT 1",
            vec![WORKFLOW.into()],
        )
        .await
        .unwrap();
    assert_eq!(published["version"], v2);
    assert_eq!(published["replay"]["id"], good.to_string());
    assert_eq!(published["gate"], "Passed");

    // Roles and businesses: operations read but do not start; a reviewer does not read; another business sees nothing.
    let ops = app.demo_current_member(Role::Operations).await;
    assert!(matches!(
        store::replays::start(&app.db, &ops, dataset, &Replaying { version: v1, ..Default::default() }).await,
        Err(store::datasets::DatasetError::Refused(_))
    ));
    assert!(store::datasets::list(&app.db, &ops, WORKFLOW).await.map_err(|e| format!("{e:?}")).unwrap().len() == 2);
    // Operations read the comparison with the customer's details masked; owners see them.
    let shown_to = |member: store::auth::CurrentMember| {
        let db = app.db.clone();
        async move {
            let detail = store::replays::detail(&db, &member, good).await.map_err(|e| format!("{e:?}")).unwrap();
            detail.results[0].event["primaryContact"]["email"].clone()
        }
    };
    assert_eq!(shown_to(ops.clone()).await, json!(engine::run::MASK));
    assert_eq!(shown_to(owner.clone()).await, json!(lead(0)["primaryContact"]["email"]));
    let rev = app.demo_current_member(Role::Reviewer).await;
    assert!(matches!(
        store::replays::list(&app.db, &rev, WORKFLOW).await,
        Err(store::datasets::DatasetError::Refused(_))
    ));
}

#[tokio::test]
async fn a_cancelled_replay_stops_and_a_replay_whose_worker_was_killed_is_finished_by_the_next() {
    let vendor = MockServer::start().await;
    let crm = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/lookup"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "employees": 8 })))
        .mount(&crm)
        .await;
    let mut app = TestApp::spawn_with_worker().await;
    // Each premium call takes 300 ms: a replay of 12 events takes a few seconds.
    premium_vendor(&app, &vendor, Duration::from_millis(300)).await;
    let v1 = publish(&app, &workflow_yaml(&crm.uri(), 50, "small")).await;
    let secret = app.webhook_secret(WORKFLOW).await;
    let mut runs = Vec::new();
    for n in 0..12 {
        let mut small = lead(n);
        small["annual_contract_value"] = json!(900);
        runs.push(send(&app, &secret, &small).await);
    }
    for run in &runs {
        assert_eq!(app.wait_for_run(*run, &["completed", "failed"]).await, "completed");
    }
    let engineer = app.demo_current_member(Role::Engineer).await;
    let pick = Pick { how: DatasetPick::All, from: None, to: None, size: 100 };
    let (dataset, added) = store::datasets::create(&app.db, &engineer, WORKFLOW, "all leads", &pick)
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert_eq!(added, 12);
    let premium =
        Replaying { version: v1, model_tier: Some(engine::workflow::ModelTier::Premium), ..Default::default() };

    // Cancelled after a few events: it stops there and keeps what it did.
    let cancelled = start(&app, dataset, &premium).await;
    let member = app.demo_current_member(Role::Engineer).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store::replays::detail(&app.db, &member, cancelled).await.map_err(|e| format!("{e:?}")).unwrap().replay.done
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "the replay did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store::replays::cancel(&app.db, &member, cancelled).await.map_err(|e| format!("{e:?}")).unwrap());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped = store::replays::detail(&app.db, &member, cancelled).await.map_err(|e| format!("{e:?}")).unwrap();
    assert_eq!(stopped.replay.status, ReplayStatus::Cancelled);
    assert!(stopped.replay.done < 12, "it stopped: {} of 12", stopped.replay.done);
    let calls = vendor.received_requests().await.unwrap().len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(vendor.received_requests().await.unwrap().len(), calls, "no model call after the cancel");
    let reviewer = app.demo_current_member(Role::Reviewer).await;
    assert!(matches!(
        store::replays::cancel(&app.db, &reviewer, cancelled).await,
        Err(store::datasets::DatasetError::Refused(_))
    ));

    // A worker process killed mid-replay: the next worker finishes it, each event once.
    app.stop_worker().await.unwrap();
    // Worker processes with two-second leases and a sweeper every second.
    let mut first = WorkerProcess::start(&app.settings, &[]);
    let resumed = start(&app, dataset, &premium).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store::replays::detail(&app.db, &member, resumed).await.map_err(|e| format!("{e:?}")).unwrap().replay.done < 3
    {
        assert!(std::time::Instant::now() < deadline, "the replay did not start: {}", first.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.signal("KILL");
    let _ = first.exited_within(Duration::from_secs(5)).await;
    let _second = WorkerProcess::start(&app.settings, &[]);
    let done = wait_for_replay(&app, resumed, Duration::from_secs(60)).await;
    assert_eq!(done.replay.status, ReplayStatus::Completed, "{:?}", done.replay.error);
    assert_eq!((done.replay.done, done.results.len()), (12, 12), "each event replayed once");
    assert_eq!(done.summary.events, 12);
}
