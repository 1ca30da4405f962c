//! Settings → Models: prices, tiers, and provider keys stored encrypted and
//! never returned.

use crate::support::{invalid_fields, TestApp, DEMO};
use engine::Role;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

const KEY: &str = "sk-test-very-secret-123456";

fn add_form<'a>(label: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("slug", DEMO),
        ("provider", "openai_compatible"),
        ("label", label),
        ("base_url", "https://api.openai.com/v1"),
        ("model", "gpt-4o-mini"),
        ("input_price", "0.15"),
        ("output_price", "0.60"),
        ("api_key", key),
    ]
}

#[tokio::test]
async fn a_provider_key_is_stored_encrypted_and_never_shown_again() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let res = engineer.call("add_model", &add_form("GPT-4o mini", KEY)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list = engineer.call("list_models", &[("slug", DEMO)]).await.text().await.unwrap();
    assert!(!list.contains(KEY), "the key never comes back");
    let models: serde_json::Value = serde_json::from_str(&list).unwrap();
    let added = models.as_array().unwrap().iter().find(|m| m["label"] == "GPT-4o mini").unwrap();
    assert_eq!(added["has_key"], true);
    assert_eq!(added["input_price"], "0.15");
    assert_eq!(added["output_price"], "0.6");

    let stored: Vec<u8> = app
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT key_ciphertext FROM t_acme_plumbing.models WHERE label = 'GPT-4o mini'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "key_ciphertext")
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("sk-test"), "the database holds ciphertext");
    let member = store::auth::member_by_email(&app.db, DEMO, "engineer@acme-plumbing.test").await.unwrap();
    let id = uuid::Uuid::parse_str(added["id"].as_str().unwrap()).unwrap();
    assert_eq!(store::models::provider_key(&app.db, &app.settings, &member, id).await.unwrap().as_deref(), Some(KEY));

    // Tiers start on the offline model; moving one is a recorded change.
    let offline = models.as_array().unwrap().iter().find(|m| m["provider"] == "offline").unwrap();
    assert_eq!(offline["tiers"], serde_json::json!(["premium", "small"]));
    let res = engineer
        .call("set_model_tier", &[("slug", DEMO), ("tier", "premium"), ("model_id", added["id"].as_str().unwrap())])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The audit log is the owner's and operations' to read.
    let changes: serde_json::Value = app
        .demo_member(Role::Owner)
        .await
        .call(
            "list_changes",
            &[("slug", DEMO), ("area", "model"), ("actor", ""), ("text", ""), ("since", ""), ("until", "")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changes[0]["why"], "premium tier now uses GPT-4o mini");
    assert!(!changes.to_string().contains(KEY), "the change log does not record the key");
}

#[tokio::test]
async fn bad_model_input_is_refused_field_by_field() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let mut form = add_form("", "");
    form[3] = ("base_url", "not a url");
    form[5] = ("input_price", "cheap");
    let fields: Vec<String> =
        invalid_fields(engineer.call("add_model", &form).await).await.into_iter().map(|f| f.0).collect();
    assert_eq!(fields, ["label", "base_url", "input_price"]);
    let res = engineer
        .call("set_model_tier", &[("slug", DEMO), ("tier", "huge"), ("model_id", &uuid::Uuid::new_v4().to_string())])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn only_engineers_and_owners_manage_models_of_their_own_business() {
    let app = TestApp::spawn().await;
    for role in [Role::Operations, Role::Reviewer, Role::Executive] {
        let client = app.demo_member(role).await;
        assert_eq!(client.call("list_models", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(client.call("add_model", &add_form("X", KEY)).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(client.get("/t/acme-plumbing/models").await.status(), StatusCode::FORBIDDEN);
    }
    let outsider = app.client();
    outsider.sign_up("Rival", "rival-co", "boss@rival.example", "copper kettle harbor 42").await;
    assert_eq!(outsider.call("list_models", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(outsider.call("add_model", &add_form("X", KEY)).await.status(), StatusCode::FORBIDDEN);
    let res = outsider
        .call(
            "set_model_tier",
            &[("slug", DEMO), ("tier", "small"), ("model_id", "00000000-0000-0000-0000-00000000000f")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn test_connection_calls_the_providers_models_list_and_says_the_verdict_in_words() {
    use wiremock::{matchers, Mock, MockServer, ResponseTemplate};
    let vendor = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/v1/models"))
        .and(matchers::header("authorization", "Bearer sk-good"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "data": [{ "id": "gpt-4o-mini" }, { "id": "gpt-4o" }] })),
        )
        .mount(&vendor)
        .await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            serde_json::json!({ "error": { "message": "Incorrect API key provided: sk-bad.", "type": "invalid_request_error" } }),
        ))
        .mount(&vendor)
        .await;
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let base = format!("{}/v1", vendor.uri());
    let check = |key: &'static str, model: &'static str| {
        let (engineer, base) = (&engineer, base.clone());
        async move {
            let form = [
                ("slug", DEMO),
                ("provider", "openai_compatible"),
                ("base_url", base.as_str()),
                ("model", model),
                ("api_key", key),
            ];
            let res = engineer.call("test_model_connection", &form).await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    let good = check("sk-good", "gpt-4o-mini").await;
    assert_eq!(good["ok"], true, "{good}");
    assert!(good["message"].as_str().unwrap().contains("offers gpt-4o-mini"), "{good}");
    let typo = check("sk-good", "gpt-5-mini").await;
    assert!(typo["message"].as_str().unwrap().contains("does not list gpt-5-mini"), "{typo}");
    let bad = check("sk-bad", "gpt-4o-mini").await;
    assert_eq!(bad["ok"], false, "{bad}");
    let message = bad["message"].as_str().unwrap();
    assert!(message.contains("401") && message.contains("Incorrect API key provided"), "{message}");
    // Nothing was saved by testing.
    let list = engineer.call("list_models", &[("slug", DEMO)]).await.text().await.unwrap();
    assert!(!list.contains(&base), "{list}");
}
