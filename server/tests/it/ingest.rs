//! Events in: Standard Webhooks signatures, CloudEvents, idempotency, the
//! data contract at the door, limits, forms, the events API, OpenAPI.

use crate::support::*;
use engine::Role;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.demo_value::<i64>(sql, vec![]).await.unwrap()
}

/// A demo lead as the door has it from a webhook with this idempotency key.
fn lead_with_key(key: &str) -> store::ingest::Incoming {
    store::ingest::Incoming {
        channel: store::ingest::Channel::Webhook,
        event_type: "lead.created".into(),
        idempotency_key: Some(key.to_owned()),
        record: fresh_lead(),
        raw: fresh_lead(),
    }
}

async fn reason(res: reqwest::Response) -> String {
    let body: Value = res.json().await.unwrap();
    body["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_signed_webhook_is_committed_with_its_queued_run_before_the_202() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_1", now(), &fresh_lead().to_string(), &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    let run_id: uuid::Uuid = body["run_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["status"], "queued");
    assert!(body["status_url"].as_str().unwrap().ends_with(&format!("/api/v1/t/{DEMO}/runs/{run_id}")));
    // No worker runs here: what the 202 promised is already in PostgreSQL.
    let status: String = app.demo_value("SELECT status FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert_eq!(status, "queued");
    let normalised: Value = app
        .demo_value(
            "SELECT e.payload FROM events e JOIN runs r ON r.event_id = e.id WHERE r.id = $1",
            vec![run_id.into()],
        )
        .await
        .unwrap();
    assert_eq!(normalised["sourceChannel"], "website", "the data contract normalised the record");
    let pinned: Value = app.demo_value("SELECT pinned FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert_eq!(pinned["prompts"]["lead_summary_v4"], 1, "the run pins the production prompt version");
    // The trigger's recent deliveries show it, read from the event and run it made.
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    let shown = store::runs::deliveries(&app.db, &tenant, LEAD_WORKFLOW, 20).await.unwrap();
    let accepted: Vec<_> = shown.iter().filter(|d| d.outcome == "accepted").collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        (accepted[0].run_id, accepted[0].status_code, accepted[0].channel.as_str()),
        (Some(run_id), 202, "webhook")
    );
}

#[tokio::test]
async fn unsigned_tampered_wrongly_signed_and_stale_deliveries_get_401_with_a_reason_and_store_no_event() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let body = fresh_lead().to_string();
    let url = format!("{}/hooks/{DEMO}/{LEAD_WORKFLOW}", app.base);

    let unsigned = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let why = reason(unsigned).await;
    assert!(why.contains("webhook-id") && why.contains("webhook-signature"), "{why}");

    // Signed, then the body changed on the way.
    let signature = store::webhook_secrets::sign(&secret, "msg_t", now(), body.as_bytes()).unwrap();
    let tampered = reqwest::Client::new()
        .post(&url)
        .header("webhook-id", "msg_t")
        .header("webhook-timestamp", now().to_string())
        .header("webhook-signature", signature)
        .body(body.replace("Harbor", "Harbour"))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(tampered).await.contains("signature does not match"));

    let other = store::webhook_secrets::generate();
    let wrong = app.signed_post(DEMO, LEAD_WORKFLOW, &other, "msg_w", now(), &body, &[]).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let stale = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_s", now() - 6 * 60, &body, &[]).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(stale).await.contains("stale"));

    assert_eq!(count(&app, "SELECT count(*) FROM events").await, 0, "refused deliveries are not events");
    assert_eq!(count(&app, "SELECT count(*) FROM runs").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM deliveries WHERE outcome = 'unauthorized' AND status_code = 401").await,
        4,
        "but they are counted"
    );
}

#[tokio::test]
async fn a_rotated_secret_keeps_working_during_the_grace_period_and_not_after() {
    let app = TestApp::spawn().await;
    let old = app.webhook_secret(LEAD_WORKFLOW).await;
    let new = app.webhook_secret(LEAD_WORKFLOW).await;
    assert_ne!(old, new);
    let body = fresh_lead().to_string();
    assert_eq!(
        app.signed_post(DEMO, LEAD_WORKFLOW, &new, "msg_new", now(), &body, &[]).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.signed_post(DEMO, LEAD_WORKFLOW, &old, "msg_old", now(), &body, &[]).await.status(),
        StatusCode::ACCEPTED,
        "within the grace period"
    );
    // The grace period ends.
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    txn.execute_unprepared(
        "UPDATE webhook_secrets SET valid_until = now() - interval '1 second' WHERE valid_until IS NOT NULL",
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        app.signed_post(DEMO, LEAD_WORKFLOW, &old, "msg_old2", now(), &body, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.signed_post(DEMO, LEAD_WORKFLOW, &new, "msg_new2", now(), &body, &[]).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn cloudevents_arrive_in_structured_and_binary_mode_and_the_type_must_match_the_trigger() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let structured = json!({
        "specversion": "1.0", "id": "evt-1", "source": "crm://acme", "type": "lead.created",
        "datacontenttype": "application/json", "data": fresh_lead()
    })
    .to_string();
    let res = app
        .signed_post(
            DEMO,
            LEAD_WORKFLOW,
            &secret,
            "msg_ce1",
            now(),
            &structured,
            &[("content-type", "application/cloudevents+json")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap());

    let binary = fresh_lead().to_string();
    let headers =
        [("ce-specversion", "1.0"), ("ce-id", "evt-2"), ("ce-source", "crm://acme"), ("ce-type", "lead.created")];
    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_ce2", now(), &binary, &headers).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap());
    let channels: i64 =
        app.demo_value("SELECT count(*) FROM events WHERE channel = 'cloudevents'", vec![]).await.unwrap();
    assert_eq!(channels, 2);

    let wrong_type = structured.replace("lead.created", "ticket.created");
    let res = app
        .signed_post(
            DEMO,
            LEAD_WORKFLOW,
            &secret,
            "msg_ce3",
            now(),
            &wrong_type,
            &[("content-type", "application/cloudevents+json")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "type", "{body}");

    let missing = json!({ "specversion": "1.0", "data": fresh_lead() }).to_string();
    let res = app
        .signed_post(
            DEMO,
            LEAD_WORKFLOW,
            &secret,
            "msg_ce4",
            now(),
            &missing,
            &[("content-type", "application/cloudevents+json")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    let fields: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["id", "source", "type"]);
}

#[tokio::test]
async fn repeating_a_delivery_makes_exactly_one_run_and_returns_the_original_run_id() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let body = fresh_lead().to_string();
    let first = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_same", now(), &body, &[]).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    // A sender's retry: same webhook-id, signed again a moment later.
    let again = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_same", now() + 1, &body, &[]).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["run_id"], first["run_id"]);
    assert_eq!(again["status"], "duplicate");
    // An Idempotency-Key wins over differing webhook ids; so does a CloudEvents id.
    let a =
        app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_a", now(), &body, &[("idempotency-key", "order-77")]).await;
    let b =
        app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_b", now(), &body, &[("idempotency-key", "order-77")]).await;
    assert_eq!((a.status(), b.status()), (StatusCode::ACCEPTED, StatusCode::OK));
    let event = |id: &str| {
        json!({ "specversion": "1.0", "id": id, "source": "crm://acme", "type": "lead.created", "data": fresh_lead() })
            .to_string()
    };
    let ce = [("content-type", "application/cloudevents+json")];
    let c1 = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_c1", now(), &event("evt-9"), &ce).await;
    let c2 = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_c2", now(), &event("evt-9"), &ce).await;
    assert_eq!(
        (c1.status(), c2.status()),
        (StatusCode::ACCEPTED, StatusCode::OK),
        "the same CloudEvents id under another webhook id"
    );
    let (c1, c2): (Value, Value) = (c1.json().await.unwrap(), c2.json().await.unwrap());
    assert_eq!(c1["run_id"], c2["run_id"]);
    let binary =
        [("ce-specversion", "1.0"), ("ce-id", "evt-9"), ("ce-source", "crm://acme"), ("ce-type", "lead.created")];
    let c3 = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_c3", now(), &fresh_lead().to_string(), &binary).await;
    assert_eq!(c3.status(), StatusCode::OK, "binary mode, same source and id");
    assert_eq!(count(&app, "SELECT count(*) FROM runs").await, 3);
    assert_eq!(count(&app, "SELECT count(*) FROM deliveries WHERE outcome = 'duplicate'").await, 4);
}

#[tokio::test]
async fn events_that_arrive_together_are_written_together_each_with_its_own_run_and_a_faulty_one_fails_alone() {
    let app = TestApp::spawn().await;
    // As the door holds the workflow: with its accept groups.
    let target = store::ingest::Targets::default().get(&app.db, &app.settings, DEMO, LEAD_WORKFLOW).await.unwrap();
    // A delivery with key "held" is being written elsewhere and not yet committed: the door's
    // first groups (two in flight at most) wait for it, so what arrives next forms one group.
    let holder = store::db::tenant_txn(&app.db, target.tenant.schema()).await.unwrap();
    holder
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO events (id, workflow_id, channel, event_type, idempotency_key, payload, raw)
             VALUES (gen_random_uuid(), $1, 'webhook', 'lead.created', 'held', '{}', '{}')",
            vec![target.workflow_id.into()],
        ))
        .await
        .unwrap();
    let accept = |key: String| {
        let (db, settings, target) = (app.db.clone(), app.settings.clone(), target.clone());
        tokio::spawn(async move {
            let incoming = lead_with_key(&key);
            (key, store::ingest::accept(&db, &settings, &target, &incoming, chrono::Utc::now()).await)
        })
    };
    let held: Vec<_> = (0..2).map(|_| accept("held".into())).collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // 24 at once: 20 new keys, three copies of one key, and one key PostgreSQL cannot store (a NUL character).
    let key = |i: usize| match i {
        0..20 => format!("burst-{i}"),
        20..23 => "burst-same".to_owned(),
        _ => "burst\0bad".to_owned(),
    };
    let calls: Vec<_> = (0..24).map(|i| accept(key(i))).collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holder.rollback().await.unwrap();
    let held: Vec<_> = futures::future::join_all(held).await.into_iter().map(|h| h.unwrap().1.unwrap()).collect();
    assert_eq!(held.iter().filter(|a| matches!(a, store::ingest::Accepted::New { .. })).count(), 1, "{held:?}");
    let mut same = Vec::new();
    for call in calls {
        let (key, answer) = call.await.unwrap();
        if key.contains('\0') {
            assert!(
                matches!(answer, Err(store::ingest::IngestError::Storage(_))),
                "the faulty event is refused: {answer:?}"
            );
            continue;
        }
        let answer = answer.unwrap_or_else(|e| panic!("{key} was refused: {e:?}"));
        let run_key: String = app
            .demo_value(
                "SELECT e.idempotency_key FROM runs r JOIN events e ON e.id = r.event_id WHERE r.id = $1",
                vec![answer.run_id().into()],
            )
            .await
            .unwrap();
        assert_eq!(run_key, key, "each sender hears the run of its own event");
        if key == "burst-same" {
            same.push(answer);
        } else {
            assert!(matches!(answer, store::ingest::Accepted::New { .. }), "{key}: {answer:?}");
        }
    }
    let made = same.iter().filter(|a| matches!(a, store::ingest::Accepted::New { .. })).count();
    assert_eq!(made, 1, "three copies of one key make one run: {same:?}");
    assert!(same.iter().all(|a| a.run_id() == same[0].run_id()), "and every copy hears that run");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM runs r JOIN events e ON e.id = r.event_id WHERE e.idempotency_key LIKE 'burst%'"
        )
        .await,
        21
    );
    assert_eq!(count(&app, "SELECT count(*) FROM events WHERE idempotency_key LIKE 'burst%'").await, 21);
}

#[tokio::test]
async fn a_workflow_read_on_a_runtime_that_stopped_still_has_its_events_written() {
    let app = TestApp::spawn().await;
    let targets = store::ingest::Targets::default();
    // Read, and its group started, on a runtime of its own that then stops, as an HTTP worker thread that ended.
    let target = {
        let (db, settings, targets) = (app.db.clone(), app.settings.clone(), targets.clone());
        // On a thread of its own; this test's runtime keeps driving the pool's connections meanwhile.
        tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(targets.get(&db, &settings, DEMO, LEAD_WORKFLOW)).unwrap()
        })
        .await
        .unwrap()
    };
    let accepted = futures::future::join_all((0..6).map(|i| {
        let incoming = lead_with_key(&format!("after-stop-{i}"));
        let (db, settings, target) = (app.db.clone(), app.settings.clone(), target.clone());
        async move { store::ingest::accept(&db, &settings, &target, &incoming, chrono::Utc::now()).await }
    }))
    .await;
    for answer in accepted {
        assert!(matches!(answer, Ok(store::ingest::Accepted::New { .. })), "{answer:?}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM events WHERE idempotency_key LIKE 'after-stop-%'").await, 6);
}

#[tokio::test]
async fn a_record_that_breaks_the_data_contract_gets_422_with_every_field_and_is_kept_in_the_exceptions_report() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let broken = fixture("lead.incomplete.json").to_string();
    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_bad", now(), &broken, &[]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_record");
    let fields: Vec<(String, String)> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap().into(), f["rule"].as_str().unwrap().into()))
        .collect();
    for expected in [
        ("companyName", "required"),
        ("primaryContact.email", "format"),
        ("sourceChannel", "allowed"),
        ("lifecycleStage", "allowed"),
        ("last_updated", "stale"),
    ] {
        assert!(
            fields.contains(&(expected.0.to_string(), expected.1.to_string())),
            "missing {expected:?} in {fields:?}"
        );
    }
    assert_eq!(count(&app, "SELECT count(*) FROM runs").await, 0);
    let raw: String =
        app.demo_value("SELECT raw FROM ingest_exceptions", vec![]).await.expect("the refused record is kept");
    assert!(raw.contains("smoke signals"), "with the raw payload: {raw}");

    // The exceptions report shows it to operations, not to another business.
    let ops = app.demo_member(Role::Operations).await;
    let report: Value = ops.call("list_exceptions", &[("slug", DEMO)]).await.json().await.unwrap();
    assert_eq!(report[0]["workflow"], LEAD_WORKFLOW);
    assert!(report[0]["violations"].as_array().unwrap().len() >= 5);
    // Operations sees the record with its sensitive fields masked, in the record and in the reasons.
    let shown = report[0].to_string();
    assert!(!shown.contains("not-an-email"), "masked for operations: {shown}");
    assert!(report[0]["raw"].as_str().unwrap().contains(engine::run::MASK), "{shown}");
    assert!(shown.contains("smoke signals"), "the other fields stay: {shown}");
    let owner = app.demo_member(Role::Owner).await;
    let report: Value = owner.call("list_exceptions", &[("slug", DEMO)]).await.json().await.unwrap();
    assert!(report[0]["raw"].as_str().unwrap().contains("not-an-email"), "in clear for the owner");
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(stranger.call("list_exceptions", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
    let exec = app.demo_member(Role::Executive).await;
    assert_eq!(exec.call("list_exceptions", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn oversized_unknown_unpublished_and_non_json_deliveries_get_json_errors() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let huge = json!({ "companyName": "x".repeat(300 * 1024) }).to_string();
    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_big", now(), &huge, &[]).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "payload_too_large");

    let res = app.signed_post(DEMO, "no-such-workflow", &secret, "msg_404", now(), "{}", &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "not_found");
    let res = app.signed_post("no-such-business", LEAD_WORKFLOW, &secret, "msg_404b", now(), "{}", &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A draft that was never published.
    let engineer = app.demo_current_member(Role::Engineer).await;
    let draft = store::bundles::GALLERY[0]
        .bundle()
        .workflow
        .replace("workflow: lead-intake-qualification", "workflow: ticket-draft");
    store::workflows::save_version(&app.db, &engineer, &draft, "a draft").await.map_err(|e| format!("{e:?}")).unwrap();
    let res = app.signed_post(DEMO, "ticket-draft", &secret, "msg_409", now(), "{}", &[]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "not_published");

    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_txt", now(), "not json at all", &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["fields"][0]["field"], "body");
}

#[tokio::test]
async fn the_events_api_takes_internal_messages_from_members_who_may_and_refuses_others() {
    let app = TestApp::spawn().await;
    let path = format!("/api/v1/t/{DEMO}/workflows/{LEAD_WORKFLOW}/events");
    let post = |client: &Client, key: &str| {
        let req = client
            .http
            .post(format!("{}{path}", client.base))
            .header("origin", client.base.clone())
            .header("idempotency-key", key.to_owned())
            .json(&fresh_lead());
        async move { req.send().await.unwrap() }
    };
    let engineer = app.demo_member(Role::Engineer).await;
    let res = post(&engineer, "k1").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let run_id = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().to_owned();
    assert_eq!(post(&engineer, "k1").await.status(), StatusCode::OK, "a repeat counts once");

    // The run's status, for the sender.
    let status: Value = engineer.get(&format!("/api/v1/t/{DEMO}/runs/{run_id}")).await.json().await.unwrap();
    assert_eq!(status["status"], "queued");
    assert_eq!(status["workflow"], LEAD_WORKFLOW);

    assert_eq!(post(&app.demo_member(Role::Executive).await, "k2").await.status(), StatusCode::FORBIDDEN);
    // Reviewers read runs but do not start them (the documented rule).
    let reviewer = app.demo_member(Role::Reviewer).await;
    assert_eq!(post(&reviewer, "k2r").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(reviewer.get(&format!("/api/v1/t/{DEMO}/runs/{run_id}")).await.status(), StatusCode::OK);
    assert_eq!(post(&app.demo_member(Role::Operations).await, "k2o").await.status(), StatusCode::ACCEPTED);
    assert_eq!(post(&app.client(), "k3").await.status(), StatusCode::UNAUTHORIZED);
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(post(&stranger, "k4").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(stranger.get(&format!("/api/v1/t/{DEMO}/runs/{run_id}")).await.status(), StatusCode::FORBIDDEN);
    // Another business cannot read this run through its own address either.
    assert_eq!(stranger.get(&format!("/api/v1/t/rival-plumbing/runs/{run_id}")).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_hosted_form_accepts_a_lead_and_shows_contract_errors_next_to_the_fields() {
    let app = TestApp::spawn().await;
    let page = reqwest::get(format!("{}/forms/{DEMO}/{LEAD_WORKFLOW}", app.base)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"primaryContact.email\"") && html.contains("type=\"email\""), "{html}");
    assert!(html.contains(engine::form::HONEYPOT));

    let http = reqwest::Client::new();
    let url = format!("{}/forms/{DEMO}/{LEAD_WORKFLOW}", app.base);
    let good = [
        ("submission_id", "s-1"),
        ("companyName", "Harbor Dental Group"),
        ("primaryContact.name", "Dana Whitfield"),
        ("primaryContact.email", "dana@harbordental.example"),
        ("inquiry_text", "4 clinics"),
        ("annual_contract_value", "12000"),
        ("sourceChannel", "website"),
        ("lifecycleStage", "lead"),
    ];
    let res = http.post(&url).form(&good).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Thank you"));
    let payload: Value = app.demo_value("SELECT payload FROM events WHERE channel = 'form'", vec![]).await.unwrap();
    assert_eq!(payload["primaryContact"]["email"], "dana@harbordental.example");
    assert_eq!(payload["annual_contract_value"], 12000.0);
    // A double click on Send counts once.
    http.post(&url).form(&good).send().await.unwrap();
    assert_eq!(count(&app, "SELECT count(*) FROM runs").await, 1);

    let mut bad = good.to_vec();
    bad[0] = ("submission_id", "s-2");
    bad[3] = ("primaryContact.email", "not-an-email");
    let res = http.post(&url).form(&bad).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"f-primaryContact-email-error\""), "the reason sits next to the field: {html}");
    assert!(html.contains("value=\"Harbor Dental Group\""), "what was typed is kept");

    // A bot fills the honeypot: it sees success; nothing is stored.
    let mut spam = good.to_vec();
    spam[0] = ("submission_id", "s-3");
    spam.push((engine::form::HONEYPOT, "http://spam.example"));
    assert_eq!(http.post(&url).form(&spam).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(count(&app, "SELECT count(*) FROM runs").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM deliveries WHERE outcome = 'spam'").await, 1);
}

async fn save_form_words(
    client: &crate::support::Client,
    form: Vec<(&'static str, &'static str)>,
) -> reqwest::Response {
    let mut all = vec![("slug", DEMO), ("name", LEAD_WORKFLOW)];
    all.extend(form);
    client.call("save_form_words", &all).await
}

#[tokio::test]
async fn the_hosted_form_speaks_in_the_owners_words_under_the_business_name() {
    let app = TestApp::spawn().await;
    let url = format!("{}/forms/{DEMO}/{LEAD_WORKFLOW}", app.base);
    // Out of the box: the business's name, a plain heading and intro, labels from the contract,
    // and nothing of the workflow's internal description.
    let html = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(html.contains("data-testid=\"form-business\">Acme Plumbing<"), "{html}");
    assert!(html.contains(engine::form::FormWords::DEFAULT_INTRO));
    assert!(html.contains(">Primary contact email *</label>"));
    assert!(!html.contains("Qualify website leads"), "the workflow's internal description stays inside");

    let owner = app.demo_member(Role::Owner).await;
    let words = vec![
        ("heading", "Book a plumber"),
        ("intro", "Tell us what leaks & where; we answer within a day."),
        ("thank_you", "Thanks! A plumber will call you back today."),
        ("labels[primaryContact.email]", "Your email"),
        ("labels[companyName]", ""),
    ];
    assert_eq!(save_form_words(&owner, words.clone()).await.status(), StatusCode::OK);
    let html = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(html.contains("<h1>Book a plumber</h1>"), "{html}");
    assert!(html.contains("Tell us what leaks &amp; where; we answer within a day."));
    assert!(html.contains(">Your email *</label>") && html.contains(">Company name *</label>"));
    assert!(html.contains("<title>Book a plumber · Acme Plumbing</title>"));
    let thanks = reqwest::Client::new()
        .post(&url)
        .form(&[
            ("submission_id", "w-1"),
            ("companyName", "Harbor Dental Group"),
            ("primaryContact.name", "Dana Whitfield"),
            ("primaryContact.email", "dana@harbordental.example"),
            ("sourceChannel", "website"),
            ("lifecycleStage", "lead"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(thanks.status(), StatusCode::OK);
    assert!(thanks.text().await.unwrap().contains("Thanks! A plumber will call you back today."));
    // The embeddable snippet uses the same labels.
    let triggers: Value =
        owner.call("workflow_triggers", &[("slug", DEMO), ("name", LEAD_WORKFLOW)]).await.json().await.unwrap();
    assert!(triggers["form_snippet"].as_str().unwrap().contains(">Your email *</label>"));
    assert_eq!(triggers["form_words"]["heading"], "Book a plumber");

    // Bad words are refused field by field, and nothing changes.
    let long = Box::leak("x".repeat(200).into_boxed_str());
    let res =
        save_form_words(&owner, vec![("heading", long), ("intro", ""), ("thank_you", ""), ("labels[nope]", "Nope")])
            .await;
    let fields: Vec<String> = invalid_fields(res).await.into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["heading", "labels.nope"]);
    assert!(reqwest::get(&url).await.unwrap().text().await.unwrap().contains("<h1>Book a plumber</h1>"));
    // Who may change them: engineers and owners of this business only.
    for role in [Role::Operations, Role::Reviewer, Role::Executive] {
        let member = app.demo_member(role).await;
        assert_eq!(save_form_words(&member, words.clone()).await.status(), StatusCode::FORBIDDEN, "{role:?}");
    }
    let outsider = app.client();
    outsider.sign_up("Rival", "rival-words", "boss@rival-words.example", "copper kettle harbor 42").await;
    let res = save_form_words(&outsider, words.clone()).await;
    assert!(matches!(res.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{}", res.status());
    let changes: i64 = app
        .demo_value("SELECT count(*) AS value FROM audit_events WHERE action = 'workflow.form_words_changed'", vec![])
        .await
        .unwrap();
    assert_eq!(changes, 1, "the change log keeps the one change");
}

#[tokio::test]
async fn one_address_posting_a_form_too_often_is_told_to_wait() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let url = format!("{}/forms/{DEMO}/{LEAD_WORKFLOW}", app.base);
    let mut statuses = Vec::new();
    for n in 0..12 {
        let id = format!("s-{n}");
        let res = http
            .post(&url)
            .header("accept", "application/json")
            .form(&[("submission_id", id.as_str()), ("companyName", "")])
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(&statuses[..10], &[422; 10], "each one refused for its fields");
    assert_eq!(&statuses[10..], &[429, 429]);
}

#[tokio::test]
async fn the_openapi_document_describes_the_public_api() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", app.base)).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/hooks/{business}/{workflow}",
        "/api/v1/t/{business}/workflows/{workflow}/events",
        "/api/v1/t/{business}/runs/{run_id}",
        "/forms/{business}/{workflow}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["paths"]["/hooks/{business}/{workflow}"]["post"]["responses"]["422"].is_object());
    assert!(doc["components"]["schemas"]["AcceptedEvent"].is_object());
    // Programs find how to authenticate, where the server is and under which license.
    assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    assert!(doc["paths"]["/api/v1/t/{business}/runs/{run_id}"]["get"]["security"].to_string().contains("token"));
    assert_eq!(doc["servers"][0]["url"], "/");
    assert_eq!(doc["info"]["license"]["identifier"], "MIT");
}

#[tokio::test]
async fn only_editors_create_signing_secrets_and_see_them_once() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let res = engineer.call("rotate_webhook_secret", &[("slug", DEMO), ("name", LEAD_WORKFLOW)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let secret: String = res.json().await.unwrap();
    assert!(secret.starts_with("whsec_"));
    let triggers: Value =
        engineer.call("workflow_triggers", &[("slug", DEMO), ("name", LEAD_WORKFLOW)]).await.json().await.unwrap();
    assert_eq!(triggers["has_secret"], true);
    assert!(!triggers.to_string().contains(&secret), "the secret is never shown again");
    assert!(triggers["form_snippet"].as_str().unwrap().contains("/forms/acme-plumbing/lead-intake-qualification"));
    // The secret works.
    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_ui", now(), &fresh_lead().to_string(), &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(
        ops.call("rotate_webhook_secret", &[("slug", DEMO), ("name", LEAD_WORKFLOW)]).await.status(),
        StatusCode::FORBIDDEN
    );
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(
        stranger.call("rotate_webhook_secret", &[("slug", DEMO), ("name", LEAD_WORKFLOW)]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        stranger.call("workflow_triggers", &[("slug", DEMO), ("name", LEAD_WORKFLOW)]).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_command_line_enqueues_an_event_and_refuses_a_broken_one_with_every_field() {
    let app = TestApp::spawn().await;
    let steward = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
            .args(args)
            .env("DATABASE_URL", &app.settings.database_url)
            .env("REDIS_URL", &app.settings.redis_url)
            .env("STEWARD_REDIS_PREFIX", &app.settings.redis_prefix)
            .env("RUST_LOG", "error")
            .env_remove("STEWARD_ENV")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let args = ["enqueue", "--business", DEMO, "--workflow", LEAD_WORKFLOW, "--idempotency-key", "batch-1", "-"];
    let out = steward(&args, &fresh_lead().to_string());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("accepted: run "));
    let again = steward(&args, &fresh_lead().to_string());
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("duplicate"));
    assert_eq!(count(&app, "SELECT count(*) FROM runs").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM events WHERE channel = 'cli'").await, 1);

    let broken = steward(
        &["enqueue", "--business", DEMO, "--workflow", LEAD_WORKFLOW, "-"],
        &fixture("lead.incomplete.json").to_string(),
    );
    assert_eq!(broken.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("companyName") && stderr.contains("sourceChannel"), "{stderr}");
}

#[tokio::test]
async fn how_long_refused_records_are_kept_is_set_per_workflow_by_engineers_operations_and_owners() {
    let app = TestApp::spawn().await;
    let ops = app.demo_member(Role::Operations).await;
    let set = |days: &'static str| [("slug", DEMO), ("name", LEAD_WORKFLOW), ("days", days)];
    assert_eq!(invalid_fields(ops.call("set_exception_retention", &set("0")).await).await[0].0, "days");
    assert_eq!(invalid_fields(ops.call("set_exception_retention", &set("a week")).await).await[0].0, "days");
    assert_eq!(ops.call("set_exception_retention", &set("7")).await.status(), StatusCode::OK);
    let triggers: Value =
        ops.call("workflow_triggers", &[("slug", DEMO), ("name", LEAD_WORKFLOW)]).await.json().await.unwrap();
    assert_eq!(triggers["retention_days"], 7);
    // A record refused now expires in 7 days.
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "r1", now(), &fixture("lead.incomplete.json").to_string(), &[]).await;
    let days: f64 = app
        .demo_value(
            "SELECT (extract(epoch FROM expires_at - received_at) / 86400)::float8 FROM ingest_exceptions",
            vec![],
        )
        .await
        .unwrap();
    assert!((days - 7.0).abs() < 0.01, "{days}");

    assert_eq!(
        app.demo_member(Role::Reviewer).await.call("set_exception_retention", &set("9")).await.status(),
        StatusCode::FORBIDDEN
    );
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    assert_eq!(stranger.call("set_exception_retention", &set("9")).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refused_records_leave_the_exceptions_report_when_their_retention_ends() {
    let mut app = TestApp::spawn().await;
    app.settings.runs.sweep_seconds = 1;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    for id in ["old", "new"] {
        let res = app
            .signed_post(DEMO, LEAD_WORKFLOW, &secret, id, now(), &fixture("lead.incomplete.json").to_string(), &[])
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    txn.execute_unprepared("UPDATE ingest_exceptions SET expires_at = now() - interval '1 minute' WHERE id = (SELECT id FROM ingest_exceptions ORDER BY received_at LIMIT 1)").await.unwrap();
    txn.commit().await.unwrap();
    app.start_worker();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while count(&app, "SELECT count(*) FROM ingest_exceptions").await > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let listed: Value =
        app.demo_member(Role::Operations).await.call("list_exceptions", &[("slug", DEMO)]).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "the expired record is gone, the other is kept");
}

#[tokio::test]
async fn the_seeded_demo_has_its_lead_webhook_and_form_live() {
    let app = TestApp::spawn_with_worker().await;
    let run_id = app.send_lead(&app.demo_webhook_secret, &fresh_lead()).await;
    let status = app.wait_for_run(run_id, &["completed", "waiting_for_review", "failed"]).await;
    assert_ne!(status, "failed");
    let form = reqwest::get(format!("{}/forms/{DEMO}/{LEAD_WORKFLOW}", app.base)).await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
}

/// The door writes on connections of the thread's own runtime
/// (`db::of_this_thread`); a thread that runs a second runtime after the
/// first stopped gets connections of the second, not the first's, whose
/// sockets died with it.
#[test]
fn a_thread_running_a_new_runtime_writes_on_connections_of_the_new_one() {
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (database, db) = runtime().block_on(async {
        let database = TestDatabase::create().await;
        let db = store::db::connect(&database.url, 2).await.unwrap();
        (database, db)
    });
    for round in 0..3 {
        runtime().block_on(async {
            let own = store::db::of_this_thread(&db);
            let backend: i32 = own
                .query_one_raw(store::db::stmt("SELECT pg_backend_pid() AS pid", vec![]))
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"))
                .unwrap()
                .try_get("", "pid")
                .unwrap();
            assert!(backend > 0);
            // Time for the connection to be checked and back among the idle ones.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        });
    }
    drop(database);
}

/// A thread's own connections are few: a statement that finds them all
/// busy (a burst over many workflows at once) takes one of the main pool
/// rather than waiting for them, and fails nothing.
#[test]
fn a_thread_whose_own_connections_are_all_busy_writes_on_the_main_pool() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let database = TestDatabase::create().await;
        let db = store::db::connect(&database.url, 2).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(store::db::connection_for_this_thread(&db).await.unwrap());
        }
        let mut third = store::db::connection_for_this_thread(&db).await.expect("a connection while two are held");
        let one: i32 = sea_orm::sqlx::query_scalar("SELECT 1").fetch_one(&mut *third).await.unwrap();
        assert_eq!(one, 1);
        drop((held, third));
        db.close().await.ok();
        drop(database);
    });
}
