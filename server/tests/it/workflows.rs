//! Workflow contracts in storage: immutable versions with a reason, publish,
//! rollback, diff, four-eyes approval, the change log, and who may do what.

use crate::support::{error_body, invalid_fields, TestApp, DEMO};
use engine::Role;
use reqwest::StatusCode;

/// The seeded (published) version 1.
const GALLERY: &str = include_str!("../../../store/src/gallery/lead-intake-qualification.yaml");

/// The contract exactly as ARCHITECTURE.md writes it (the seeded gallery
/// version spells its steps out in full).
const SEED: &str = "workflow: lead-intake-qualification
version: 1.3.0
trigger: { source: website_form, event: lead.created }
steps:
  - { id: normalize, type: function, output: normalized_lead }
  - { id: enrich,    type: api_call, output: company_context }
  - { id: summarize, type: llm, prompt_template: lead_summary_v4, output: qualification_summary }
  - { id: route,     type: rules, output: owner_assignment }
approval:
  required_when: [ { confidence_below: 0.78 }, { annual_contract_value_above: 50000 } ]
fallback: { on_error: assign_to_human_queue }
";

async fn save(client: &crate::support::Client, yaml: &str, note: &str) -> reqwest::Response {
    client.call("save_workflow", &[("slug", DEMO), ("yaml", yaml), ("note", note)]).await
}

async fn detail(client: &crate::support::Client, name: &str) -> serde_json::Value {
    let res = client.call("workflow_detail", &[("slug", DEMO), ("name", name)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn act(client: &crate::support::Client, endpoint: &str, number: i32) -> reqwest::Response {
    client
        .call(endpoint, &[("slug", DEMO), ("name", "lead-intake-qualification"), ("number", &number.to_string())])
        .await
}

#[tokio::test]
async fn each_save_is_a_new_version_and_publishing_and_rollback_move_the_live_one() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let seeded = detail(&engineer, "lead-intake-qualification").await;
    assert_eq!(seeded["live_version"], 1, "the demo's workflow is live at v1");

    let v2 = GALLERY.replace("0.78", "0.85");
    let res = save(&engineer, &v2, "Reviewers want more drafts to check").await;
    assert_eq!(res.status(), StatusCode::OK);
    let d = detail(&engineer, "lead-intake-qualification").await;
    assert_eq!(d["versions"].as_array().unwrap().len(), 2);
    assert_eq!(d["versions"][0]["number"], 2);
    assert_eq!(d["versions"][0]["note"], "Reviewers want more drafts to check");
    assert_eq!(d["live_version"], 1, "a saved version is a draft until published");

    assert_eq!(act(&engineer, "publish_workflow_version", 2).await.status(), StatusCode::OK);
    assert_eq!(detail(&engineer, "lead-intake-qualification").await["live_version"], 2);

    // Operations can roll back to a version that was live before.
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(act(&ops, "publish_workflow_version", 1).await.status(), StatusCode::OK);
    assert_eq!(detail(&ops, "lead-intake-qualification").await["live_version"], 1);

    let diff: serde_json::Value = engineer
        .call("workflow_diff", &[("slug", DEMO), ("name", "lead-intake-qualification"), ("a", "1"), ("b", "2")])
        .await
        .json()
        .await
        .unwrap();
    let changed: Vec<&serde_json::Value> = diff.as_array().unwrap().iter().filter(|r| r["change"] != "same").collect();
    assert_eq!(changed.len(), 2, "{diff}");
    assert!(changed[0]["left"][1].as_str().unwrap().contains("0.78"));
    assert!(changed[1]["right"][1].as_str().unwrap().contains("0.85"));

    let changes: serde_json::Value = ops
        .call(
            "list_changes",
            &[("slug", DEMO), ("area", "workflow"), ("actor", ""), ("text", ""), ("since", ""), ("until", "")],
        )
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = changes.as_array().unwrap().iter().map(|c| c["action"].as_str().unwrap()).collect();
    assert_eq!(&actions[..3], ["workflow.rolled_back", "workflow.published", "workflow.version_saved"], "{actions:?}");
    assert_eq!(changes[2]["why"], "Reviewers want more drafts to check");
    assert_eq!(changes[0]["who"], "ops@acme-plumbing.test");

    let csv = ops.get("/t/acme-plumbing/changes.csv?area=workflow").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = csv.text().await.unwrap();
    assert!(body.starts_with("at,who,area,action,subject,why,detail"));
    assert!(body.contains("workflow.rolled_back") && body.contains("Reviewers want more drafts to check"));
}

#[tokio::test]
async fn an_invalid_contract_or_a_missing_reason_saves_nothing() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let fields = invalid_fields(save(&engineer, &SEED.replace("type: rules", "type: rulez"), "typo").await).await;
    assert!(fields[0].1.starts_with("line 8, column 28: unknown step type"), "{fields:?}");
    assert_eq!(invalid_fields(save(&engineer, SEED, "  ").await).await[0].0, "note");
    assert_eq!(detail(&engineer, "lead-intake-qualification").await["versions"].as_array().unwrap().len(), 1);

    let issues: serde_json::Value = engineer
        .call("check_workflow", &[("slug", DEMO), ("yaml", &SEED.replace("lead_summary_v4", "missing_prompt"))])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(issues[0]["line"], 7);
    assert!(issues[0]["message"].as_str().unwrap().contains("missing_prompt"));
}

#[tokio::test]
async fn a_workflow_that_emails_customers_needs_a_second_person_to_publish() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let owner = app.demo_member(Role::Owner).await;
    let outside = SEED.replace(
        "  - { id: route,     type: rules, output: owner_assignment }",
        "  - { id: route,     type: rules, output: owner_assignment }\n  - { id: check, type: approval }\n  - { id: reply, type: notify, to: ['{{ lead.email }}'] }",
    );
    assert_eq!(save(&engineer, &outside, "Reply to leads automatically").await.status(), StatusCode::OK);
    let res = act(&engineer, "publish_workflow_version", 2).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(error_body(res).await.to_string().contains("second engineer or owner"));
    let own = act(&engineer, "approve_workflow_version", 2).await;
    assert_eq!(own.status(), StatusCode::CONFLICT, "the author cannot approve their own version");
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(act(&ops, "approve_workflow_version", 2).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        act(&ops, "publish_workflow_version", 2).await.status(),
        StatusCode::CONFLICT,
        "operations only roll back"
    );

    assert_eq!(act(&owner, "approve_workflow_version", 2).await.status(), StatusCode::OK);
    assert_eq!(act(&engineer, "publish_workflow_version", 2).await.status(), StatusCode::OK);
    let d = detail(&engineer, "lead-intake-qualification").await;
    assert_eq!(d["live_version"], 2);
    assert_eq!(d["versions"][0]["approved_by"], "owner@acme-plumbing.test");
}

#[tokio::test]
async fn only_engineers_and_owners_edit_and_other_businesses_see_nothing() {
    let app = TestApp::spawn().await;
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(save(&ops, SEED, "ops edit").await.status(), StatusCode::FORBIDDEN);
    for role in [Role::Reviewer, Role::Executive] {
        let client = app.demo_member(role).await;
        assert_eq!(save(&client, SEED, "edit").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(client.call("list_workflows", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            client.get("/t/acme-plumbing/workflows/lead-intake-qualification").await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(act(&client, "publish_workflow_version", 1).await.status(), StatusCode::FORBIDDEN);
    }
    let outsider = app.client();
    outsider.sign_up("Rival", "rival-co", "boss@rival.example", "copper kettle harbor 42").await;
    for (endpoint, extra) in [
        ("list_workflows", vec![]),
        ("workflow_detail", vec![("name", "lead-intake-qualification")]),
        ("check_workflow", vec![("yaml", SEED)]),
        ("save_workflow", vec![("yaml", SEED), ("note", "steal")]),
        ("approve_workflow_version", vec![("name", "lead-intake-qualification"), ("number", "1")]),
        ("publish_workflow_version", vec![("name", "lead-intake-qualification"), ("number", "1")]),
        ("workflow_diff", vec![("name", "lead-intake-qualification"), ("a", "1"), ("b", "1")]),
        ("list_changes", vec![("area", ""), ("actor", ""), ("text", ""), ("since", ""), ("until", "")]),
    ] {
        let mut form = vec![("slug", DEMO)];
        form.extend(extra);
        let res = outsider.call(endpoint, &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{endpoint}");
        assert!(!res.text().await.unwrap().contains("lead_summary_v4"), "{endpoint} leaked Acme's contract");
    }
    assert_eq!(outsider.get("/t/acme-plumbing/changes.csv").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.client().get("/t/acme-plumbing/changes.csv").await.status(),
        StatusCode::SEE_OTHER,
        "signed out: sent to sign in"
    );
    // The rival's own workflow list is its own (empty).
    let own: serde_json::Value = outsider.call("list_workflows", &[("slug", "rival-co")]).await.json().await.unwrap();
    assert_eq!(own, serde_json::json!([]));
}

#[tokio::test]
async fn owners_backups_and_escalation_contacts_are_members_and_recorded() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let set = |owner: &'static str, backup: &'static str| {
        let engineer = &engineer;
        async move {
            engineer
                .call(
                    "set_workflow_owners",
                    &[
                        ("slug", DEMO),
                        ("name", "lead-intake-qualification"),
                        ("owner", owner),
                        ("backup_owner", backup),
                        ("escalation_contact", "role:operations"),
                    ],
                )
                .await
        }
    };
    assert_eq!(set("engineer@acme-plumbing.test", "ops@acme-plumbing.test").await.status(), StatusCode::OK);
    let d = detail(&engineer, "lead-intake-qualification").await;
    assert_eq!(d["owner"], "engineer@acme-plumbing.test");
    assert_eq!(d["backup_owner"], "ops@acme-plumbing.test");
    assert_eq!(d["escalation_contact"], "role:operations");
    assert_eq!(set("stranger@example.com", "").await.status(), StatusCode::CONFLICT, "owners are members");
    assert_eq!(set("ops@acme-plumbing.test", "ops@acme-plumbing.test").await.status(), StatusCode::CONFLICT);
    let ops = app.demo_member(Role::Operations).await;
    let res = ops
        .call(
            "set_workflow_owners",
            &[
                ("slug", DEMO),
                ("name", "lead-intake-qualification"),
                ("owner", ""),
                ("backup_owner", ""),
                ("escalation_contact", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let outsider = app.client();
    outsider.sign_up("Rival", "rival-co", "boss@rival.example", "copper kettle harbor 42").await;
    let res = outsider
        .call(
            "set_workflow_owners",
            &[
                ("slug", DEMO),
                ("name", "lead-intake-qualification"),
                ("owner", ""),
                ("backup_owner", ""),
                ("escalation_contact", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let changes: serde_json::Value = ops
        .call(
            "list_changes",
            &[("slug", DEMO), ("area", "workflow"), ("actor", ""), ("text", ""), ("since", ""), ("until", "")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changes[0]["action"], "workflow.owners_changed");
}
