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

    // Only someone who may use it sees an Approve button: the owner, not the author.
    assert_eq!(detail(&engineer, "lead-intake-qualification").await["versions"][0]["can_approve"], false);
    assert_eq!(detail(&owner, "lead-intake-qualification").await["versions"][0]["can_approve"], true);
    assert_eq!(act(&owner, "approve_workflow_version", 2).await.status(), StatusCode::OK);
    assert_eq!(detail(&owner, "lead-intake-qualification").await["versions"][0]["can_approve"], false);
    assert_eq!(act(&engineer, "publish_workflow_version", 2).await.status(), StatusCode::OK);
    let d = detail(&engineer, "lead-intake-qualification").await;
    assert_eq!(d["live_version"], 2);
    assert_eq!(d["versions"][0]["approved_by"], "owner@acme-plumbing.test");
}

#[tokio::test]
async fn a_one_person_business_publishes_a_four_eyes_workflow_on_its_owners_declared_word() {
    let app = TestApp::spawn().await;
    let solo = app.client();
    solo.sign_up("Solo Books", "solo-books", "sam@solo-books.example", "copper kettle harbor 42").await;
    let slug = "solo-books";
    let invoices = "invoice-reminder-sequence";
    let call = |endpoint: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let solo = &solo;
        async move {
            let mut form = vec![("slug", slug)];
            form.extend(extra);
            solo.call(endpoint, &form).await
        }
    };
    // The gallery says it before anyone installs it.
    let gallery: serde_json::Value = call("list_gallery", vec![]).await.json().await.unwrap();
    let card = |name: &str| gallery.as_array().unwrap().iter().find(|i| i["name"] == name).unwrap().clone();
    assert_eq!(card(invoices)["needs_second_approver"], true);
    assert_eq!(card("support-ticket-triage")["needs_second_approver"], false);
    assert_eq!(call("install_gallery_workflow", vec![("name", invoices)]).await.status(), StatusCode::OK);
    let d: serde_json::Value = call("workflow_detail", vec![("name", invoices)]).await.json().await.unwrap();
    assert_eq!(d["versions"][0]["requires_four_eyes"], true);
    assert_eq!(d["versions"][0]["can_approve"], false, "the author gets no Approve button");
    assert_eq!(d["one_person"], false);

    let publish = |reason: Option<&'static str>| {
        let mut extra = vec![("name", invoices), ("number", "1")];
        extra.extend(reason.map(|r| ("without_second_approver", r)));
        call("publish_workflow_version", extra)
    };
    let refused = publish(Some("nobody else here")).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT, "no waiver before the business declares itself one person");
    assert!(error_body(refused).await.to_string().contains("Invite a second approver"));

    let state: serde_json::Value = call("load_one_person", vec![]).await.json().await.unwrap();
    assert_eq!((state["declared"].clone(), state["approvers"].clone()), (serde_json::Value::Null, 1.into()));
    let no_reason = call("declare_one_person", vec![("one_person", "true"), ("reason", "  ")]).await;
    assert_eq!(invalid_fields(no_reason).await[0].0, "reason");
    let declared = call("declare_one_person", vec![("one_person", "true"), ("reason", "I run the books alone")]).await;
    assert_eq!(declared.status(), StatusCode::OK);
    let state: serde_json::Value = call("load_one_person", vec![]).await.json().await.unwrap();
    let said = state["declared"].as_str().unwrap();
    assert!(said.contains("sam@solo-books.example") && said.contains("I run the books alone"), "{said}");

    // Declared: still an explicit confirmation with a reason, then live.
    assert_eq!(publish(None).await.status(), StatusCode::CONFLICT);
    assert_eq!(publish(Some(" ")).await.status(), StatusCode::CONFLICT);
    assert_eq!(publish(Some("I read every reminder it sends")).await.status(), StatusCode::OK);
    let d: serde_json::Value = call("workflow_detail", vec![("name", invoices)]).await.json().await.unwrap();
    assert_eq!((d["live_version"].clone(), d["one_person"].clone()), (1.into(), true.into()));

    // Both the declaration and the waiver are in the change log.
    let changes: serde_json::Value =
        call("list_changes", vec![("area", ""), ("actor", ""), ("text", ""), ("since", ""), ("until", "")])
            .await
            .json()
            .await
            .unwrap();
    let actions: Vec<(String, String)> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["action"].as_str().unwrap().to_owned(), c["why"].as_str().unwrap().to_owned()))
        .collect();
    assert!(actions.contains(&("business.one_person_declared".into(), "I run the books alone".into())), "{actions:?}");
    assert!(
        actions.iter().any(|(a, why)| a == "workflow.published"
            && why.contains("without a second approver")
            && why.contains("I read every reminder it sends")),
        "{actions:?}"
    );

    // Withdrawn, the business needs a second approver again.
    assert_eq!(
        call("declare_one_person", vec![("one_person", "false"), ("reason", "")]).await.status(),
        StatusCode::OK
    );
    let state: serde_json::Value = call("load_one_person", vec![]).await.json().await.unwrap();
    assert!(state["declared"].is_null());
    // Only an owner declares; in the demo business the engineer cannot even open Settings' functions.
    let engineer = app.demo_member(Role::Engineer).await;
    let res = engineer.call("declare_one_person", &[("slug", DEMO), ("one_person", "true"), ("reason", "x")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // And the owner of another business cannot declare it for this one.
    let res = solo.call("declare_one_person", &[("slug", DEMO), ("one_person", "true"), ("reason", "x")]).await;
    assert!(res.status() == StatusCode::FORBIDDEN || res.status() == StatusCode::NOT_FOUND, "{}", res.status());
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
