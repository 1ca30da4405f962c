//! Data contracts in the browser's server functions: templates, edits with a
//! reason, testing a record, and who may do what.

use crate::support::{invalid_fields, TestApp, DEMO};
use engine::Role;
use reqwest::StatusCode;

const INCOMPLETE_LEAD: &str = include_str!("../../../engine/tests/fixtures/lead.incomplete.json");
const GOOD_LEAD: &str = include_str!("../../../engine/tests/fixtures/lead.website_form.json");

#[tokio::test]
async fn a_pasted_record_shows_every_broken_rule_or_comes_back_normalised() {
    let app = TestApp::spawn().await;
    let ops = app.demo_member(Role::Operations).await;
    let verdict: serde_json::Value = ops
        .call("test_data_contract", &[("slug", DEMO), ("name", "lead"), ("record", INCOMPLETE_LEAD)])
        .await
        .json()
        .await
        .unwrap();
    let broken = verdict["Broken"].as_array().expect("the incomplete lead breaks the contract");
    let fields: Vec<&str> = broken.iter().map(|v| v["field"].as_str().unwrap()).collect();
    for f in ["companyName", "primaryContact.email", "sourceChannel", "lifecycleStage", "last_updated"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let verdict: serde_json::Value = ops
        .call("test_data_contract", &[("slug", DEMO), ("name", "lead"), ("record", GOOD_LEAD)])
        .await
        .json()
        .await
        .unwrap();
    assert!(verdict["Normalised"].as_str().unwrap().contains("\"sourceChannel\": \"website\""));
    let bad_json = ops.call("test_data_contract", &[("slug", DEMO), ("name", "lead"), ("record", "{nope")]).await;
    assert_eq!(invalid_fields(bad_json).await[0].0, "record");
}

#[tokio::test]
async fn engineers_add_templates_and_save_with_a_reason_others_cannot() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let res = engineer.call("add_data_contract_template", &[("slug", DEMO), ("object", "ticket")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: serde_json::Value = engineer.call("list_data_contracts", &[("slug", DEMO)]).await.json().await.unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lead", "ticket"]);

    let detail: serde_json::Value =
        engineer.call("data_contract_detail", &[("slug", DEMO), ("name", "ticket")]).await.json().await.unwrap();
    let edited = detail["document"].as_str().unwrap().replace("\"max_age_days\": 14", "\"max_age_days\": 3");
    let no_reason = engineer
        .call("save_data_contract", &[("slug", DEMO), ("name", "ticket"), ("document", &edited), ("why", "")])
        .await;
    assert_eq!(invalid_fields(no_reason).await[0].0, "why");
    let broken = engineer
        .call(
            "save_data_contract",
            &[("slug", DEMO), ("name", "ticket"), ("document", "{\"object\": 1}"), ("why", "x")],
        )
        .await;
    assert_eq!(invalid_fields(broken).await[0].0, "document");
    let ok = engineer
        .call(
            "save_data_contract",
            &[("slug", DEMO), ("name", "ticket"), ("document", &edited), ("why", "Tickets go stale fast")],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // The audit log is the owner's and operations' to read.
    let changes: serde_json::Value = app
        .demo_member(Role::Operations)
        .await
        .call(
            "list_changes",
            &[("slug", DEMO), ("area", "data_contract"), ("actor", ""), ("text", ""), ("since", ""), ("until", "")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changes[0]["why"], "Tickets go stale fast");

    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(
        ops.call("add_data_contract_template", &[("slug", DEMO), ("object", "task")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ops.call("save_data_contract", &[("slug", DEMO), ("name", "ticket"), ("document", &edited), ("why", "x")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    for role in [Role::Reviewer, Role::Executive] {
        let client = app.demo_member(role).await;
        assert_eq!(client.call("list_data_contracts", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(client.get("/t/acme-plumbing/data-contracts/lead").await.status(), StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn another_business_cannot_read_or_change_these_contracts() {
    let app = TestApp::spawn().await;
    let outsider = app.client();
    outsider.sign_up("Rival", "rival-co", "boss@rival.example", "copper kettle harbor 42").await;
    for (endpoint, extra) in [
        ("list_data_contracts", vec![]),
        ("data_contract_detail", vec![("name", "lead")]),
        ("add_data_contract_template", vec![("object", "task")]),
        ("save_data_contract", vec![("name", "lead"), ("document", "{}"), ("why", "x")]),
        ("test_data_contract", vec![("name", "lead"), ("record", GOOD_LEAD)]),
    ] {
        let mut form = vec![("slug", DEMO)];
        form.extend(extra);
        let res = outsider.call(endpoint, &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{endpoint}");
        assert!(!res.text().await.unwrap().contains("sourceChannel"), "{endpoint} leaked the contract");
    }
}
