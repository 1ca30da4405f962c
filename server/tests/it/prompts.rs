//! Prompt templates: versions with a reason, labels whose moves are
//! recorded, the diff, try-it on the offline model, and who may do what.

use crate::support::{invalid_fields, TestApp, DEMO};
use engine::Role;
use reqwest::StatusCode;

const SEED: &str = include_str!("../../../store/src/gallery/lead_summary_v4.json");
const CONTEXT: &str = r#"{ "normalized_lead": { "companyName": "Harbor Dental", "primaryContact": { "name": "Dana" }, "inquiry_text": "4 clinics" }, "company_context": "dental" }"#;

async fn call(client: &crate::support::Client, endpoint: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("slug", DEMO), ("name", "lead_summary_v4")];
    form.extend_from_slice(extra);
    client.call(endpoint, &form).await
}

#[tokio::test]
async fn saving_labelling_diffing_and_trying_a_prompt() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let v2 = SEED.replace("Keep the summary under 80 words.", "Keep the summary under 60 words.");
    let res = call(&engineer, "save_prompt", &[("document", &v2), ("why", "Shorter summaries for phones")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "2");

    assert_eq!(
        call(&engineer, "move_prompt_label", &[("label", "staging"), ("number", "2")]).await.status(),
        StatusCode::OK
    );
    let detail: serde_json::Value = call(&engineer, "prompt_detail", &[]).await.json().await.unwrap();
    assert_eq!(detail["production"], 1);
    assert_eq!(detail["staging"], 2);
    // The audit log is the owner's and operations' to read.
    let changes: serde_json::Value = app
        .demo_member(Role::Owner)
        .await
        .call(
            "list_changes",
            &[("slug", DEMO), ("area", "prompt"), ("actor", ""), ("text", ""), ("since", ""), ("until", "")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changes[0]["action"], "prompt.label_moved");
    assert_eq!(changes[0]["why"], "staging now points at version 2");
    assert_eq!(changes[1]["why"], "Shorter summaries for phones");

    let diff: serde_json::Value = call(&engineer, "prompt_diff", &[("a", "1"), ("b", "2")]).await.json().await.unwrap();
    let changed: Vec<&serde_json::Value> = diff.as_array().unwrap().iter().filter(|r| r["change"] != "same").collect();
    assert!(changed.iter().any(|r| r["right"][1].as_str().is_some_and(|t| t.contains("60 words"))), "{diff}");

    let run: serde_json::Value =
        call(&engineer, "try_prompt", &[("number", "2"), ("tier", "small"), ("context", CONTEXT)])
            .await
            .json()
            .await
            .unwrap();
    assert!(run["rendered"].as_str().unwrap().contains("Lead: Harbor Dental (Dana)"));
    assert_eq!(run["schema_errors"], serde_json::json!([]), "the offline model's output meets the response schema");
    let output: serde_json::Value = serde_json::from_str(run["output"].as_str().unwrap()).unwrap();
    let score = output["fit_score"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&score));
    assert!(run["tokens_in"].as_u64().unwrap() > 10);
    assert_eq!(run["model"], "Offline (built in)");

    let missing = call(
        &engineer,
        "try_prompt",
        &[("number", "2"), ("tier", "small"), ("context", r#"{ "normalized_lead": {} }"#)],
    )
    .await;
    let fields = invalid_fields(missing).await;
    assert!(fields[0].1.contains("company_context"), "{fields:?}");
}

#[tokio::test]
async fn a_broken_template_or_schema_is_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let bad = SEED.replace("\"number_0_to_100\"", "\"percentage\"");
    let fields = invalid_fields(call(&engineer, "save_prompt", &[("document", &bad), ("why", "x")]).await).await;
    assert!(fields[0].1.contains("unknown shorthand 'percentage'"), "{fields:?}");
    let no_reason = call(&engineer, "save_prompt", &[("document", SEED), ("why", " ")]).await;
    assert_eq!(invalid_fields(no_reason).await[0].0, "why");
    let detail: serde_json::Value = call(&engineer, "prompt_detail", &[]).await.json().await.unwrap();
    assert_eq!(detail["versions"].as_array().unwrap().len(), 1, "nothing was saved");
}

#[tokio::test]
async fn only_engineers_and_owners_change_prompts_and_other_businesses_see_nothing() {
    let app = TestApp::spawn().await;
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(call(&ops, "save_prompt", &[("document", SEED), ("why", "x")]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        call(&ops, "move_prompt_label", &[("label", "staging"), ("number", "1")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&ops, "try_prompt", &[("number", "1"), ("tier", "small"), ("context", CONTEXT)]).await.status(),
        StatusCode::OK
    );
    for role in [Role::Reviewer, Role::Executive] {
        let client = app.demo_member(role).await;
        assert_eq!(client.call("list_prompts", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(client.get("/t/acme-plumbing/prompts/lead_summary_v4").await.status(), StatusCode::FORBIDDEN);
    }
    let outsider = app.client();
    outsider.sign_up("Rival", "rival-co", "boss@rival.example", "copper kettle harbor 42").await;
    for (endpoint, extra) in [
        ("list_prompts", vec![]),
        ("prompt_detail", vec![("name", "lead_summary_v4")]),
        ("save_prompt", vec![("name", "lead_summary_v4"), ("document", SEED), ("why", "x")]),
        ("move_prompt_label", vec![("name", "lead_summary_v4"), ("label", "production"), ("number", "1")]),
        ("prompt_diff", vec![("name", "lead_summary_v4"), ("a", "1"), ("b", "1")]),
        ("try_prompt", vec![("name", "lead_summary_v4"), ("number", "1"), ("tier", "small"), ("context", CONTEXT)]),
    ] {
        let mut form = vec![("slug", DEMO)];
        form.extend(extra);
        let res = outsider.call(endpoint, &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{endpoint}");
        assert!(!res.text().await.unwrap().contains("objective"), "{endpoint} leaked the template");
    }
}

async fn add_model_on(client: &crate::support::Client, provider: &str, base_url: &str, key: &str) {
    let res = client
        .call(
            "add_model",
            &[
                ("slug", DEMO),
                ("provider", provider),
                ("label", provider),
                ("base_url", base_url),
                ("model", "vendor-model-1"),
                ("input_price", "2.50"),
                ("output_price", "10"),
                ("api_key", key),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    let models: serde_json::Value = client.call("list_models", &[("slug", DEMO)]).await.json().await.unwrap();
    let id =
        models.as_array().unwrap().iter().find(|m| m["label"] == provider).unwrap()["id"].as_str().unwrap().to_owned();
    let res = client.call("set_model_tier", &[("slug", DEMO), ("tier", "premium"), ("model_id", &id)]).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn try_it_calls_an_openai_compatible_model_with_its_key_and_prices_the_usage() {
    use wiremock::{matchers, Mock, MockServer, ResponseTemplate};
    let vendor = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/chat/completions"))
        .and(matchers::header("authorization", "Bearer sk-vendor-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "choices": [{ "message": { "role": "assistant",
                "content": "{\"fit_score\": 91, \"summary\": \"Strong fit\", \"risks\": [], \"next_step\": \"Call Dana\", \"confidence\": 0.9}" } }],
            "usage": { "prompt_tokens": 1200, "completion_tokens": 300 }
        })))
        .expect(1)
        .mount(&vendor)
        .await;
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    add_model_on(&engineer, "openai_compatible", &format!("{}/v1", vendor.uri()), "sk-vendor-key").await;
    let run: serde_json::Value =
        call(&engineer, "try_prompt", &[("number", "1"), ("tier", "premium"), ("context", CONTEXT)])
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(run["schema_errors"], serde_json::json!([]), "{run}");
    assert!(run["output"].as_str().unwrap().contains("Call Dana"));
    assert_eq!(run["tokens_in"], 1200);
    assert_eq!(run["tokens_out"], 300);
    // 1200 × 2.50/M + 300 × 10/M = 0.003 + 0.003 = 0.006
    assert_eq!(run["cost"], "$0.006000", "in the business's currency, with the digits a price needs");
    let sent = &vendor.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["model"], "vendor-model-1");
    assert!(body["messages"][1]["content"].as_str().unwrap().contains("Lead: Harbor Dental (Dana)"));
}

#[tokio::test]
async fn try_it_calls_anthropic_and_reports_output_that_breaks_the_schema() {
    use wiremock::{matchers, Mock, MockServer, ResponseTemplate};
    let vendor = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/v1/messages"))
        .and(matchers::header("x-api-key", "sk-ant-key"))
        .and(matchers::header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "content": [{ "type": "text", "text": "{\"fit_score\": 250, \"summary\": \"x\"}" }],
            "usage": { "input_tokens": 100, "output_tokens": 20 }
        })))
        .mount(&vendor)
        .await;
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    add_model_on(&engineer, "anthropic", &vendor.uri(), "sk-ant-key").await;
    let run: serde_json::Value =
        call(&engineer, "try_prompt", &[("number", "1"), ("tier", "premium"), ("context", CONTEXT)])
            .await
            .json()
            .await
            .unwrap();
    let errors = run["schema_errors"].as_array().unwrap();
    assert!(errors.len() >= 2, "a score out of range and missing fields: {run}");
    assert_eq!(run["tokens_in"], 100);

    // A provider that refuses gives a clear error, not a 500.
    let broken = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({ "error": { "message": "invalid x-api-key" } })),
        )
        .mount(&broken)
        .await;
    let owner = app.demo_member(Role::Owner).await;
    let res = owner
        .call(
            "add_model",
            &[
                ("slug", DEMO),
                ("provider", "anthropic"),
                ("label", "broken"),
                ("base_url", &broken.uri()),
                ("model", "m"),
                ("input_price", "1"),
                ("output_price", "1"),
                ("api_key", "bad"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let models: serde_json::Value = owner.call("list_models", &[("slug", DEMO)]).await.json().await.unwrap();
    let id =
        models.as_array().unwrap().iter().find(|m| m["label"] == "broken").unwrap()["id"].as_str().unwrap().to_owned();
    owner.call("set_model_tier", &[("slug", DEMO), ("tier", "small"), ("model_id", &id)]).await;
    let res = call(&owner, "try_prompt", &[("number", "1"), ("tier", "small"), ("context", CONTEXT)]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("invalid x-api-key"));
}

#[tokio::test]
async fn a_model_server_on_a_private_address_is_refused_unless_the_operator_allowed_it() {
    use wiremock::{matchers, Mock, MockServer, ResponseTemplate};
    let internal = MockServer::start().await;
    Mock::given(matchers::any()).respond_with(ResponseTemplate::new(200)).mount(&internal).await;
    let port = internal.address().port();
    // No allow-list: loopback is as private as an internal service.
    let app = TestApp::spawn_with(crate::support::Options {
        tune: Some(Box::new(|s| s.outbound_allow = Vec::new())),
        ..Default::default()
    })
    .await;
    let engineer = app.demo_member(Role::Engineer).await;
    for (provider, base) in [
        ("openai_compatible", format!("http://127.0.0.1:{port}/v1")),
        ("anthropic", format!("http://localhost:{port}")),
    ] {
        add_model_on(&engineer, provider, &base, "sk-internal").await;
        let res = call(&engineer, "try_prompt", &[("number", "1"), ("tier", "premium"), ("context", CONTEXT)]).await;
        assert!(res.status().is_client_error(), "{provider}: {}", res.status());
        let text = res.text().await.unwrap();
        assert!(text.contains("loopback") && text.contains("STEWARD_OUTBOUND_ALLOW"), "{provider}: {text}");
    }
    assert_eq!(internal.received_requests().await.unwrap().len(), 0, "nothing reached the internal address");
}
