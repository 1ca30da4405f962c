//! The owner's first-run checklist follows the business's real state, step
//! by step from an empty business, and goes away when dismissed.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn checklist(owner: &Client, slug: &str) -> Value {
    let res = owner.call("load_checklist", &[("slug", slug)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// The steps ticked so far, by name.
fn ticked(list: &Value) -> Vec<String> {
    list["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[1] == true)
        .map(|s| s[0].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_checklist_ticks_what_a_new_business_really_did_and_can_be_dismissed() {
    let app = TestApp::spawn().await;
    let slug = "pier-bakery";
    let owner = app.client();
    assert_eq!(
        owner.sign_up("Pier Bakery", slug, "baker@pier.example", "copper kettle harbor 42").await.status(),
        StatusCode::OK
    );
    let list = checklist(&owner, slug).await;
    assert_eq!(list["steps"].as_array().unwrap().len(), 6);
    assert!(ticked(&list).is_empty(), "{list}");

    // A template installed (as a draft), then published.
    let res = owner.call("install_gallery_workflow", &[("slug", slug), ("name", LEAD_WORKFLOW)]).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let list = checklist(&owner, slug).await;
    assert_eq!(ticked(&list), ["InstallTemplate"]);
    assert_eq!(list["first_workflow"], LEAD_WORKFLOW);
    let res = owner.call("publish_workflow_version", &[("slug", slug), ("name", LEAD_WORKFLOW), ("number", "1")]).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    assert_eq!(ticked(&checklist(&owner, slug).await), ["InstallTemplate", "Publish"]);

    // The offline model kept on purpose, and a reviewer invited.
    let res = owner.call("first_run_choice", &[("slug", slug), ("keep_offline_model", "true")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner.call("invite_member", &[("slug", slug), ("email", "rev@pier.example"), ("role", "reviewer")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(ticked(&checklist(&owner, slug).await), ["InstallTemplate", "Publish", "ChooseModel", "InviteReviewer"]);

    // Dismissed: gone for good.
    let res = owner.call("first_run_choice", &[("slug", slug), ("keep_offline_model", "false")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(checklist(&owner, slug).await, Value::Null);

    // Not another business's to read or change.
    let res = owner.call("load_checklist", &[("slug", DEMO)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
