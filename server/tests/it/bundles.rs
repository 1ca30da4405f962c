//! The template gallery and bundles: install as a draft, export and import
//! (browser and command line), all-or-nothing on invalid bundles.

use crate::support::{invalid_fields, TestApp, DEMO};
use engine::Role;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

async fn count(app: &TestApp, schema: &str, table: &str) -> i64 {
    app.db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, format!("SELECT count(*) FROM {schema}.{table}")))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "count")
        .unwrap()
}

#[tokio::test]
async fn a_gallery_template_installs_as_a_draft_with_its_prompt_and_data_contract() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let gallery: serde_json::Value = engineer.call("list_gallery", &[("slug", DEMO)]).await.json().await.unwrap();
    let names: Vec<&str> = gallery.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lead-intake-qualification", "support-ticket-triage", "invoice-reminder-sequence"]);
    assert_eq!(gallery[0]["installed"], true, "the demo already runs the lead workflow");

    let res = engineer.call("install_gallery_workflow", &[("slug", DEMO), ("name", "invoice-reminder-sequence")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail: serde_json::Value = engineer
        .call("workflow_detail", &[("slug", DEMO), ("name", "invoice-reminder-sequence")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["live_version"], serde_json::Value::Null, "installed as a draft");
    assert_eq!(detail["versions"][0]["requires_four_eyes"], true, "it emails customers");
    let prompt: serde_json::Value =
        engineer.call("prompt_detail", &[("slug", DEMO), ("name", "invoice_reminder_v1")]).await.json().await.unwrap();
    assert_eq!(prompt["production"], 1);
    let contracts: serde_json::Value =
        engineer.call("list_data_contracts", &[("slug", DEMO)]).await.json().await.unwrap();
    assert!(contracts.as_array().unwrap().iter().any(|c| c["name"] == "invoice"));
}

#[tokio::test]
async fn a_bundle_exported_from_one_business_imports_into_another() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let export = engineer.get("/t/acme-plumbing/workflows/lead-intake-qualification/bundle.yaml").await;
    assert_eq!(export.status(), StatusCode::OK);
    let yaml = export.text().await.unwrap();
    assert!(
        yaml.contains("bundle: steward/bundle/v1")
            && yaml.contains("lead_summary_v4")
            && yaml.contains("requiredContextKeys")
    );

    let rival = app.client();
    rival.sign_up("Rival", "rival-co", "boss@rival.example", "copper kettle harbor 42").await;
    let res = rival
        .call("import_bundle", &[("slug", "rival-co"), ("yaml", &yaml), ("why", "Same lead process as Acme")])
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    assert_eq!(count(&app, "t_rival_co", "workflow_versions").await, 1);
    assert_eq!(count(&app, "t_rival_co", "prompt_versions").await, 1);
    assert_eq!(count(&app, "t_acme_plumbing", "workflow_versions").await, 1, "Acme is untouched");
}

#[tokio::test]
async fn an_invalid_bundle_changes_nothing_and_lists_every_problem() {
    let app = TestApp::spawn().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let yaml =
        engineer.get("/t/acme-plumbing/workflows/lead-intake-qualification/bundle.yaml").await.text().await.unwrap();
    let broken = yaml
        .replace("number_0_to_100", "percentage")
        .replace("type: rules", "type: rulez")
        .replace("workflow: lead-intake-qualification", "workflow: lead-intake-v2");
    let before = (
        count(&app, "t_acme_plumbing", "workflow_versions").await,
        count(&app, "t_acme_plumbing", "prompt_versions").await,
    );
    let fields =
        invalid_fields(engineer.call("import_bundle", &[("slug", DEMO), ("yaml", &broken), ("why", "try")]).await)
            .await;
    let messages: Vec<&str> = fields.iter().map(|(_, m)| m.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.starts_with("prompts.lead_summary_v4") && m.contains("percentage")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m.starts_with("workflow line") && m.contains("rulez")), "{messages:?}");
    let after = (
        count(&app, "t_acme_plumbing", "workflow_versions").await,
        count(&app, "t_acme_plumbing", "prompt_versions").await,
    );
    assert_eq!(before, after, "nothing was written");
    let not_yaml = engineer.call("import_bundle", &[("slug", DEMO), ("yaml", "just: [text"), ("why", "x")]).await;
    assert_eq!(not_yaml.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_gallery_and_bundles_follow_roles_and_business_boundaries() {
    let app = TestApp::spawn().await;
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(ops.call("list_gallery", &[("slug", DEMO)]).await.status(), StatusCode::OK);
    assert_eq!(
        ops.call("install_gallery_workflow", &[("slug", DEMO), ("name", "support-ticket-triage")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ops.call("import_bundle", &[("slug", DEMO), ("yaml", "x"), ("why", "x")]).await.status(),
        StatusCode::FORBIDDEN
    );
    let reviewer = app.demo_member(Role::Reviewer).await;
    assert_eq!(
        reviewer.get("/t/acme-plumbing/workflows/lead-intake-qualification/bundle.yaml").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(reviewer.call("list_gallery", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);

    let outsider = app.client();
    outsider.sign_up("Rival", "rival-co", "boss@rival.example", "copper kettle harbor 42").await;
    let export = outsider.get("/t/acme-plumbing/workflows/lead-intake-qualification/bundle.yaml").await;
    assert_eq!(export.status(), StatusCode::FORBIDDEN);
    assert!(!export.text().await.unwrap().contains("lead_summary_v4"));
    assert_eq!(outsider.call("list_gallery", &[("slug", DEMO)]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        outsider.call("install_gallery_workflow", &[("slug", DEMO), ("name", "support-ticket-triage")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        outsider.call("import_bundle", &[("slug", DEMO), ("yaml", "x"), ("why", "x")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(count(&app, "t_acme_plumbing", "workflows").await, 1);
}

#[tokio::test]
async fn the_command_line_exports_and_imports_bundles() {
    let app = TestApp::spawn().await;
    let steward = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_steward"))
            .args(args)
            .env("DATABASE_URL", &app.settings.database_url)
            .env("RUST_LOG", "error")
            .env_remove("STEWARD_ENV")
            .output()
            .unwrap()
    };
    let out = steward(&["bundle", "export", "--business", DEMO, "--workflow", "lead-intake-qualification"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    let file = std::env::temp_dir().join(format!("bundle-{}.yaml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, yaml.replace("0.78", "0.8")).unwrap();
    let path = file.to_str().unwrap();
    let out = steward(&[
        "bundle",
        "import",
        "--business",
        DEMO,
        "--as",
        "engineer@acme-plumbing.test",
        "--why",
        "From git",
        path,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count(&app, "t_acme_plumbing", "workflow_versions").await, 2);
    let out =
        steward(&["bundle", "import", "--business", DEMO, "--as", "reviewer@acme-plumbing.test", "--why", "x", path]);
    assert!(!out.status.success(), "a reviewer cannot import");
    std::fs::write(&file, yaml.replace("type: rules", "type: rulez")).unwrap();
    let out =
        steward(&["bundle", "import", "--business", DEMO, "--as", "engineer@acme-plumbing.test", "--why", "x", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rulez"));
    assert_eq!(count(&app, "t_acme_plumbing", "workflow_versions").await, 2, "the invalid import changed nothing");
    std::fs::remove_file(file).ok();
}
