//! Outbound safety over real HTTP: a workflow's api_call never reaches a
//! private, loopback, link-local or metadata address — written in the URL,
//! behind a name that resolves to one, or at the end of a redirect — and the
//! step fails at once with the reason, while a host the operator allowed is
//! called as usual. An "internal service" on loopback counts what reaches it:
//! nothing does.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WORKFLOW: &str = "probe";

/// Sends `target` to the probe workflow and waits for its run to end; returns (status, error).
async fn call(app: &TestApp, secret: &str, target: &str) -> (String, String) {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let body = json!({ "target": target }).to_string();
    let res = app.signed_post(DEMO, WORKFLOW, secret, &id, chrono::Utc::now().timestamp(), &body, &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap());
    let run: uuid::Uuid = res.json::<serde_json::Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();
    let status = app.wait_for_run(run, &["completed", "failed"]).await;
    let error: Option<String> = app.demo_value("SELECT error FROM runs WHERE id = $1", vec![run.into()]).await.unwrap();
    (status, error.unwrap_or_default())
}

#[tokio::test]
async fn api_calls_to_private_loopback_and_metadata_addresses_are_refused_with_the_reason_even_behind_names_and_redirects(
) {
    let internal = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "admin": "secrets" })))
        .mount(&internal)
        .await;
    let port = internal.address().port();
    // An allowed host whose answers send the caller inward.
    let gateway = MockServer::start().await;
    Mock::given(path("/ok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true })))
        .mount(&gateway)
        .await;
    for (route, to) in [
        ("/to-name", format!("http://localhost:{port}/admin")),
        ("/to-address", format!("http://127.0.0.1:{port}/admin")),
    ] {
        Mock::given(path(route))
            .respond_with(ResponseTemplate::new(302).insert_header("location", to.as_str()))
            .mount(&gateway)
            .await;
    }
    let allowed = format!("127.0.0.1:{}", gateway.address().port());
    let app = TestApp::spawn_with(Options {
        worker: true,
        tune: Some(Box::new(move |s| s.outbound_allow = vec![allowed])),
        ..Default::default()
    })
    .await;
    let engineer = app.demo_current_member(engine::Role::Engineer).await;
    let yaml = format!(
        "workflow: {WORKFLOW}\nversion: 1\ntrigger: {{ source: webhook, event: probe.sent }}\nsteps:\n  - {{ id: fetch, type: api_call, url: '{{{{ event.target }}}}', retry: {{ max_attempts: 3, backoff_seconds: 0.1 }}, output: fetched }}\nfallback: {{ on_error: fail }}\n"
    );
    let (wf, n) =
        store::workflows::save_version(&app.db, &engineer, &yaml, "probe").await.map_err(|e| format!("{e:?}")).unwrap();
    store::workflows::publish(&app.db, &engineer, &wf, n, "go", None).await.map_err(|e| format!("{e:?}")).unwrap();
    let secret = store::webhook_secrets::rotate(&app.db, &app.settings, &engineer, &wf, 0).await.unwrap().unwrap();

    // The allowed host is called as usual.
    let (status, error) = call(&app, &secret, &format!("{}/ok", gateway.uri())).await;
    assert_eq!((status.as_str(), error.as_str()), ("completed", ""));

    for (target, why) in [
        (format!("http://127.0.0.1:{port}/admin"), "127.0.0.1, a loopback address".to_string()),
        ("http://10.0.0.1/admin".into(), "10.0.0.1, a private address".into()),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "169.254.169.254, a link-local (cloud metadata) address".into(),
        ),
        (format!("http://[::ffff:127.0.0.1]:{port}/admin"), "a loopback address".into()),
        (format!("http://localhost:{port}/admin"), "localhost is".into()),
        (format!("{}/to-name", gateway.uri()), "localhost is".into()),
        (format!("{}/to-address", gateway.uri()), "127.0.0.1, a loopback address".into()),
    ] {
        let (status, error) = call(&app, &secret, &target).await;
        assert_eq!(status, "failed", "{target}");
        assert!(error.contains("refused") && error.contains(&why), "{target}: {error}");
        assert!(error.contains("STEWARD_OUTBOUND_ALLOW"), "the error says how an operator allows a host: {error}");
        let attempts: i32 = app
            .demo_value(
                "SELECT s.attempts FROM run_steps s JOIN runs r ON r.id = s.run_id WHERE r.error = $1 ORDER BY r.created_at DESC LIMIT 1",
                vec![error.clone().into()],
            )
            .await
            .unwrap();
        assert_eq!(attempts, 1, "a refusal is not retried: {target}");
    }
    assert_eq!(internal.received_requests().await.unwrap().len(), 0, "nothing reached the internal service");
}
