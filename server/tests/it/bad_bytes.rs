//! The door never answers 5xx to bad bytes: NUL characters, bodies that are
//! not UTF-8, percent-encoded CloudEvents headers, outcomes out of range, a
//! body shorter than its Content-Length, and the client address behind a
//! trusted proxy. Each refusal is a 4xx naming the field, and stores nothing.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn events(app: &TestApp) -> i64 {
    app.demo_value::<i64>("SELECT count(*) FROM events", vec![]).await.unwrap()
}

/// Posts raw bytes to a workflow's webhook with a `webhook-signature` header.
async fn post_bytes(app: &TestApp, signature: &str, id: &str, body: &[u8]) -> reqwest::Response {
    let ts = now();
    reqwest::Client::new()
        .post(format!("{}/hooks/{DEMO}/{LEAD_WORKFLOW}", app.base))
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn nul_characters_in_the_address_a_record_or_a_form_are_refused_naming_the_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;

    // In a value, escaped as JSON allows.
    let mut lead = fresh_lead();
    lead["primaryContact"]["name"] = json!("Dana\u{0}Reyes");
    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "nul_1", now(), &lead.to_string(), &[]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["fields"][0]["field"], "primaryContact.name", "{body}");
    assert!(body["message"].as_str().unwrap().contains("NUL"), "{body}");

    // In a key, inside a list.
    let mut lead = fresh_lead();
    lead["tags"] = json!([{ "ok": 1 }, { "bad\u{0}key": 2 }]);
    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "nul_2", now(), &lead.to_string(), &[]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["fields"][0]["field"], "tags[1].bad\\u0000key");

    // In the address.
    for (slug, workflow, field) in
        [("acme%00plumbing", LEAD_WORKFLOW, "business"), (DEMO, "lead-intake%00qualification", "workflow")]
    {
        let res = app.signed_post(slug, workflow, &secret, "nul_3", now(), &fresh_lead().to_string(), &[]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{slug}/{workflow}");
        assert_eq!(res.json::<Value>().await.unwrap()["fields"][0]["field"], field);
    }

    // In a hosted form's field.
    let res = reqwest::Client::new()
        .post(format!("{}/forms/{DEMO}/{LEAD_WORKFLOW}", app.base))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("companyName=Acme%00Dental&primaryContact.name=Dana")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res.json::<Value>().await.unwrap()["fields"][0]["field"], "companyName");

    // Through the events API of a signed-in engineer.
    let engineer = app.demo_member(engine::Role::Engineer).await;
    let mut lead = fresh_lead();
    lead["companyName"] = json!("Acme\u{0}");
    let res = engineer
        .http
        .post(format!("{}/api/v1/t/{DEMO}/workflows/{LEAD_WORKFLOW}/events", app.base))
        .header("origin", &app.base)
        .json(&lead)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(events(&app).await, 0, "nothing was stored");
    // The same lead without the NUL is accepted: the door still works.
    let res = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "nul_ok", now(), &fresh_lead().to_string(), &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_told_so_before_its_signature_is_judged() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let mut bytes = fresh_lead().to_string().into_bytes();
    bytes.splice(2..2, [0xff, 0xfe]);
    // Whatever the signature says (a valid one over the text before the bad bytes, or none that
    // fits), the sender hears that the body is not UTF-8, not that the signature failed.
    let ts_sig = store::webhook_secrets::sign(&secret, "utf8_1", now(), fresh_lead().to_string().as_bytes()).unwrap();
    for signature in [ts_sig.as_str(), "v1,bm90IGEgc2lnbmF0dXJl"] {
        let res = post_bytes(&app, signature, "utf8_1", &bytes).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["fields"][0]["field"], "body");
        assert!(body["message"].as_str().unwrap().contains("not UTF-8"), "{body}");
    }
    assert_eq!(events(&app).await, 0);
}

#[tokio::test]
async fn an_event_sent_structured_then_binary_with_percent_encoded_attributes_starts_one_run() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let structured = json!({
        "specversion": "1.0", "id": "evt 7/é", "source": "crm://acme west", "type": "lead.created",
        "data": fresh_lead()
    })
    .to_string();
    let first = app
        .signed_post(
            DEMO,
            LEAD_WORKFLOW,
            &secret,
            "ce_s",
            now(),
            &structured,
            &[("content-type", "application/cloudevents+json")],
        )
        .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let run: Value = first.json().await.unwrap();

    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "evt%207%2F%C3%A9"),
        ("ce-source", "crm://acme%20west"),
        ("ce-type", "lead.created"),
    ];
    let again = app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "ce_b", now(), &fresh_lead().to_string(), &headers).await;
    assert_eq!(again.status(), StatusCode::OK, "the same event, sent binary, is a repeat");
    let repeat: Value = again.json().await.unwrap();
    assert_eq!(repeat["status"], "duplicate");
    assert_eq!(repeat["run_id"], run["run_id"]);
    assert_eq!(events(&app).await, 1);

    // An attribute that decodes to a NUL, or to bytes that are not UTF-8, is refused by name.
    for (id, label) in [("evt%00", "NUL"), ("evt%FF", "UTF-8")] {
        let headers =
            [("ce-specversion", "1.0"), ("ce-id", id), ("ce-source", "crm://acme"), ("ce-type", "lead.created")];
        let res =
            app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "ce_bad", now(), &fresh_lead().to_string(), &headers).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{label}");
        assert_eq!(res.json::<Value>().await.unwrap()["fields"][0]["field"], "id", "{label}");
    }
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_cut_off_with_408_instead_of_hanging() {
    let app = TestApp::spawn().await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /hooks/{DEMO}/{LEAD_WORKFLOW} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"companyName\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read =
        tokio::time::timeout(server::ingest::BODY_WAIT + Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "the connection was left hanging; got so far: {text}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
}

#[tokio::test]
async fn outcomes_must_name_a_run_of_the_workflow_a_recent_time_and_a_finite_non_negative_value() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let path = format!("{LEAD_WORKFLOW}/outcomes");
    let fields = |body: Value| -> Vec<String> {
        body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_owned()).collect()
    };
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(800)).to_rfc3339();
    let bad = json!({ "type": "deal.won", "value": -5, "occurred_at": long_ago }).to_string();
    let res = app.signed_post(DEMO, &path, &secret, "o_1", now(), &bad, &[]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(res.json().await.unwrap()), ["value", "occurred_at"]);

    // A number too large for a double is not JSON this door can read: 400, not 5xx.
    let res = app.signed_post(DEMO, &path, &secret, "o_2", now(), r#"{"type":"deal.won","value":1e999}"#, &[]).await;
    assert!(res.status().is_client_error(), "{}", res.status());

    // A run that is not this workflow's: unknown, so refused by name.
    let unknown = json!({ "type": "deal.won", "run_id": uuid::Uuid::new_v4().to_string(), "value": 10 }).to_string();
    let res = app.signed_post(DEMO, &path, &secret, "o_3", now(), &unknown, &[]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(res.json().await.unwrap()), ["run_id"]);

    // A run of this workflow is taken.
    let run_id = app.send_lead(&secret, &fresh_lead()).await;
    let good = json!({ "type": "deal.won", "run_id": run_id.to_string(), "value": 0 }).to_string();
    let res = app.signed_post(DEMO, &path, &secret, "o_4", now(), &good, &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let stored: i64 = app.demo_value("SELECT count(*) FROM outcome_events", vec![]).await.unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_form_limit_counts_the_forwarded_client_not_the_proxy() {
    let app = TestApp::spawn_with(Options {
        tune: Some(Box::new(|s| {
            s.trusted_proxy =
                store::client_address::TrustedProxy::from_settings(Some("X-Forwarded-For".into()), None).unwrap()
        })),
        ..Default::default()
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/forms/{DEMO}/{LEAD_WORKFLOW}", app.base);
    let post = |client: &'static str, n: usize| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(&url)
                .header("accept", "application/json")
                // A client may write anything first; the proxy appends what it saw.
                .header("x-forwarded-for", format!("6.6.6.6, {client}"))
                .form(&[("submission_id", format!("p-{client}-{n}").as_str()), ("companyName", "")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mut first = Vec::new();
    for n in 0..11 {
        first.push(post("198.51.100.1", n).await);
    }
    assert_eq!(&first[..10], &[422; 10]);
    assert_eq!(first[10], 429, "the eleventh from one client is told to wait");
    assert_eq!(post("198.51.100.2", 0).await, 422, "another client behind the same proxy is not");
}

#[tokio::test]
async fn an_address_whose_id_does_not_parse_gets_a_json_404_not_plain_text() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(engine::Role::Engineer).await;
    let res = engineer.get(&format!("/api/v1/t/{DEMO}/runs/not-a-uuid")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "not_found");
}
