//! The OpenAPI document against the live routes: every documented route and
//! method is called with good and bad addresses, bodies and credentials, and
//! every answer must be a status the document lists for it, never a 5xx,
//! JSON whenever it is an error, and a body that matches the schema the
//! document gives for that status.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;

/// Values tried for each path parameter: one that exists, one that does not, one malformed.
fn values(param: &str, run: &str) -> Vec<String> {
    match param {
        "business" => vec![DEMO.into(), "no-such-business".into(), "acme%00plumbing".into()],
        "workflow" => vec![LEAD_WORKFLOW.into(), "no-such-workflow".into(), "%00".into()],
        "run_id" => vec![run.into(), uuid::Uuid::new_v4().to_string(), "not-a-uuid".into()],
        "task" => vec![uuid::Uuid::new_v4().to_string(), "not-a-uuid".into()],
        "secret" => vec!["not-the-secret".into()],
        other => panic!("no test values for path parameter {other}"),
    }
}

/// Every combination of the parameters' values in `template`.
fn addresses(template: &str, run: &str) -> Vec<String> {
    let mut out = vec![template.to_owned()];
    let params: Vec<String> =
        template.split('{').skip(1).map(|rest| rest.split('}').next().unwrap().to_owned()).collect();
    for param in params {
        let slot = format!("{{{param}}}");
        out = out
            .into_iter()
            .flat_map(|a| values(&param, run).into_iter().map(|v| a.replace(&slot, &v)).collect::<Vec<_>>())
            .collect();
    }
    out
}

#[tokio::test]
async fn every_documented_route_answers_good_and_bad_input_with_a_documented_status_and_never_5xx() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", app.base)).await.unwrap().json().await.unwrap();
    let run = app.send_lead(&app.webhook_secret(LEAD_WORKFLOW).await, &fresh_lead()).await.to_string();
    let owner = store::api_tokens::create(
        &app.db,
        &app.demo_current_member(engine::Role::Owner).await,
        &store::api_tokens::NewToken {
            name: "openapi test".into(),
            scopes: engine::token_scope::TokenScope::ALL.to_vec(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .token;
    let bodies = ["", "not json", "{}", "[]", "{\"companyName\": \"a\\u0000b\"}", "{\"decision\": \"approve\"}"];
    let credentials = [None, Some(owner.as_str()), Some("stw_00000000_garbage-garbage-garbage-garbage-garbage")];
    let http = reqwest::Client::new();
    let (mut calls, mut checked_bodies) = (0, 0);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10, "every JSON route is documented: {:?}", paths.keys().collect::<Vec<_>>());
    for (template, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let documented: Vec<&String> = operation["responses"].as_object().unwrap().keys().collect();
            for address in addresses(template, &run) {
                for credential in credentials {
                    let tried: &[&str] = if method == "get" { &[""] } else { &bodies };
                    for body in tried {
                        let url = format!("{}{address}", app.base);
                        let mut req = match method.as_str() {
                            "get" => http.get(&url),
                            "post" => http.post(&url).header("content-type", "application/json").body(body.to_string()),
                            other => panic!("undocumented method {other}"),
                        };
                        req = req.header("accept", "application/json");
                        if let Some(token) = credential {
                            req = req.bearer_auth(token);
                        }
                        let res = req.send().await.unwrap();
                        calls += 1;
                        let status = res.status();
                        let json = res
                            .headers()
                            .get("content-type")
                            .is_some_and(|c| c.to_str().unwrap_or_default().starts_with("application/json"));
                        let text = res.text().await.unwrap_or_default();
                        let what = format!(
                            "{} {address} (body {body:?}, token {}): {status} {text}",
                            method.to_uppercase(),
                            credential.is_some()
                        );
                        assert!(
                            !status.is_server_error()
                                || status == StatusCode::SERVICE_UNAVAILABLE && template == "/readyz",
                            "{what}"
                        );
                        assert!(
                            documented.iter().any(|d| *d == status.as_str()),
                            "{what} — documented: {documented:?}"
                        );
                        if status.is_client_error() {
                            assert!(json, "an error is JSON: {what}");
                            let body: Value = serde_json::from_str(&text).unwrap();
                            assert!(body["error"].is_string() && body["message"].is_string(), "{what}");
                        }
                        // The body is what the document says this status carries.
                        let schema = &operation["responses"][status.as_str()]["content"]["application/json"]["schema"];
                        if schema.is_object() {
                            assert!(json, "the document promises JSON: {what}");
                            let body: Value = serde_json::from_str(&text).unwrap();
                            let validator = jsonschema::validator_for(&with_components(schema, &doc)).unwrap();
                            let problems: Vec<String> = validator.iter_errors(&body).map(|e| e.to_string()).collect();
                            assert!(
                                problems.is_empty(),
                                "{what} — the body breaks the documented schema: {problems:?}"
                            );
                            checked_bodies += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(calls > 300, "{calls} calls");
    assert!(checked_bodies > 300, "{checked_bodies} bodies checked against their schemas");
}

/// A response schema that can resolve the document's `#/components/...` references.
fn with_components(schema: &Value, doc: &Value) -> Value {
    let mut schema = schema.clone();
    schema["components"] = doc["components"].clone();
    schema
}

#[tokio::test]
async fn a_workflows_own_document_gives_its_records_schema_and_its_example_is_accepted() {
    let app = TestApp::spawn().await;
    let path = format!("/api/v1/t/{DEMO}/workflows/{LEAD_WORKFLOW}/openapi.json");
    let engineer = app.demo_member(engine::Role::Engineer).await;
    let res = engineer.get(&path).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], app.settings.public_origin());

    // The record's schema is the lead data contract's: a good lead passes, one without a company does not.
    let validator = jsonschema::validator_for(&doc["components"]["schemas"]["Record"]).unwrap();
    assert!(validator.is_valid(&fresh_lead()));
    let mut nameless = fresh_lead();
    nameless.as_object_mut().unwrap().remove("companyName");
    assert!(!validator.is_valid(&nameless));

    // A sender that follows the document alone: its example, signed as it says, starts a run.
    let hook = &doc["paths"][format!("/hooks/{DEMO}/{LEAD_WORKFLOW}")]["post"];
    assert!(hook["description"].as_str().unwrap().contains("Standard Webhooks"), "{hook}");
    let example = hook["requestBody"]["content"]["application/json"]["example"].to_string();
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let res =
        app.signed_post(DEMO, LEAD_WORKFLOW, &secret, "msg_doc", chrono::Utc::now().timestamp(), &example, &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap());

    // A token for another workflow, a member of another business and nobody at all are refused.
    let engineer_member = app.demo_current_member(engine::Role::Engineer).await;
    let other = "workflow: other-flow\nversion: 1\ntrigger: { source: webhook, event: lead.created }\nsteps:\n  - { id: n, type: function, function: normalize, output: o }\n";
    store::workflows::save_version(&app.db, &engineer_member, other, "another")
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let narrow = store::api_tokens::create(
        &app.db,
        &app.demo_current_member(engine::Role::Engineer).await,
        &store::api_tokens::NewToken {
            name: "one workflow".into(),
            scopes: vec![engine::token_scope::TokenScope::SendEvents],
            workflows: vec!["other-flow".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .token;
    let bearer = |token: &str| reqwest::Client::new().get(format!("{}{path}", app.base)).bearer_auth(token.to_owned());
    assert_eq!(bearer(&narrow).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let outsider = app.client();
    outsider.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.example", "copper kettle harbor 42").await;
    assert_eq!(outsider.get(&path).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.client().get(&path).await.status(), StatusCode::UNAUTHORIZED);
}
