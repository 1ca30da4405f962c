//! A business exports everything it owns and then deletes itself: the export
//! holds every table's rows (secrets still sealed) and its own record; the
//! deletion needs the owner and the typed address, drops the schema, the
//! memberships and the accounts that belonged nowhere else, and stays on
//! record in the public schema. Nobody else can do either.

use crate::support::*;
use engine::Role;
use reqwest::StatusCode;
use serde_json::Value;

const SLUG: &str = "closing-cafe";

#[tokio::test]
async fn an_owner_exports_everything_then_deletes_the_business_for_good() {
    let app = TestApp::spawn().await;
    let owner = app.client();
    let res = owner.sign_up("Closing Cafe", SLUG, "last@closing.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner.call("set_secret", &[("slug", SLUG), ("name", "crm_key"), ("value", "sk-closing-999")]).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Nobody but the owner reads the export; another business's owner is refused.
    let acme = app.demo_member(Role::Owner).await;
    assert_eq!(acme.get(&format!("/t/{SLUG}/export.jsonl")).await.status(), StatusCode::FORBIDDEN);
    let engineer = app.demo_member(Role::Engineer).await;
    assert_eq!(engineer.get("/t/acme-plumbing/export.jsonl").await.status(), StatusCode::FORBIDDEN);

    let res = owner.get(&format!("/t/{SLUG}/export.jsonl")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let export = res.text().await.unwrap();
    let lines: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let table = |name: &str| lines.iter().filter(|l| l["table"] == name).map(|l| l["row"].clone()).collect::<Vec<_>>();
    assert!(table("audit_events").iter().any(|r| r["action"] == "business.created"));
    assert!(
        table("audit_events").iter().any(|r| r["action"] == "business.exported"),
        "the export holds its own record"
    );
    assert!(table("workflows").is_empty() || table("workflows").iter().all(|r| r["name"].is_string()));
    assert_eq!(table("secrets").len(), 1);
    assert!(!export.contains("sk-closing-999"), "a secret stays sealed in the export");
    assert_eq!(table("members")[0]["email"], "last@closing.example");

    // Deleting: not by another business, not without the typed address.
    let res = acme.call("delete_business", &[("slug", SLUG), ("confirmation", SLUG)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = owner.call("delete_business", &[("slug", SLUG), ("confirmation", "closing")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_body(res).await.to_string().contains("Type the business's address (closing-cafe)"));
    assert_eq!(schemas(&app, "t_closing_cafe").await, 1, "nothing was deleted");

    let res = owner.call("delete_business", &[("slug", SLUG), ("confirmation", SLUG)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(schemas(&app, "t_closing_cafe").await, 0, "the schema is dropped");
    let left: i64 = scalar(&app, "SELECT count(*) AS value FROM public.tenants WHERE slug = 'closing-cafe'").await;
    assert_eq!(left, 0);
    let accounts: i64 =
        scalar(&app, "SELECT count(*) AS value FROM public.users WHERE email = 'last@closing.example'").await;
    assert_eq!(accounts, 0, "an account that belonged nowhere else is gone");
    let record: (String, String) = (
        scalar(&app, "SELECT deleted_by AS value FROM public.deleted_businesses WHERE slug = 'closing-cafe'").await,
        scalar(&app, "SELECT audit_head AS value FROM public.deleted_businesses WHERE slug = 'closing-cafe'").await,
    );
    assert_eq!(record.0, "last@closing.example");
    assert_eq!(record.1.len(), 64, "the audit chain's head at deletion is kept: {}", record.1);
    // The owner's session ended with it; signing in finds no such business.
    assert_ne!(owner.call("load_workspace", &[("slug", SLUG)]).await.status(), StatusCode::OK);
    let res = app.client().sign_in(SLUG, "last@closing.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Acme is untouched.
    assert_eq!(acme.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::OK);
}

async fn scalar<T: sea_orm::TryGetable>(app: &TestApp, sql: &str) -> T {
    store::db::scalar(&app.db, store::db::stmt(sql, vec![])).await.unwrap().unwrap()
}

async fn schemas(app: &TestApp, name: &str) -> i64 {
    store::db::scalar(
        &app.db,
        store::db::stmt(
            "SELECT count(*) AS value FROM information_schema.schemata WHERE schema_name = $1",
            vec![name.into()],
        ),
    )
    .await
    .unwrap()
    .unwrap()
}
