//! Roles are enforced on the server for every page and server function, and
//! a member of one business is refused everywhere in another.

use crate::support::{TestApp, DEMO};
use engine::{Page, Role};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Every server function behind sign-in, with the arguments to call it on
/// business `slug`, and the page whose roles it follows.
fn server_functions(slug: &str, member_id: &str) -> Vec<(&'static str, Vec<(&'static str, String)>, Page)> {
    let s = || ("slug", slug.to_string());
    let mut fns = vec![
        ("load_workspace", vec![s()], Page::Dashboard),
        ("list_members", vec![s()], Page::Settings),
        (
            "invite_member",
            vec![s(), ("email", "new.person@acme-plumbing.test".into()), ("role", "reviewer".into())],
            Page::Settings,
        ),
        ("change_member_role", vec![s(), ("user_id", member_id.into()), ("role", "executive".into())], Page::Settings),
        ("remove_member", vec![s(), ("user_id", member_id.into())], Page::Settings),
    ];
    for page in Page::ALL {
        let name = serde_json::to_value(page).unwrap().as_str().unwrap().to_owned();
        fns.push(("open_section", vec![s(), ("page", name)], page));
    }
    fns
}

async fn member_id(app: &TestApp, email: &str) -> String {
    app.db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id::text FROM public.users WHERE email = $1",
            [email.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<String>(0)
        .unwrap()
}

async fn call(client: &crate::support::Client, endpoint: &str, args: &[(&'static str, String)]) -> reqwest::Response {
    let form: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    client.call(endpoint, &form).await
}

#[tokio::test]
async fn every_page_refuses_the_roles_that_may_not_open_it() {
    let app = TestApp::spawn().await;
    for role in Role::ALL {
        let client = app.demo_member(role).await;
        for page in Page::ALL {
            let res = client.get(&page.href(DEMO)).await;
            let expected = if page.allows(role) { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(res.status(), expected, "{role} opening {page:?}");
        }
    }
}

#[tokio::test]
async fn every_server_function_refuses_the_roles_that_may_not_use_it() {
    let app = TestApp::spawn().await;
    // The target of member changes is the engineer; the refused calls must not touch them.
    let engineer = member_id(&app, "engineer@acme-plumbing.test").await;
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Owner) {
        let client = app.demo_member(role).await;
        for (endpoint, args, page) in server_functions(DEMO, &engineer) {
            let res = call(&client, endpoint, &args).await;
            if page.allows(role) {
                assert_eq!(res.status(), StatusCode::OK, "{role} calling {endpoint} {args:?}");
            } else {
                assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role} calling {endpoint} {args:?}");
            }
        }
    }
    let members = store::members::list(&app.db, demo_tenant_id(&app).await).await.unwrap();
    assert_eq!(members.len(), 5, "no refused call removed anyone");
    assert!(members.iter().any(|m| m.email == "engineer@acme-plumbing.test" && m.role == "engineer"));
}

async fn demo_tenant_id(app: &TestApp) -> uuid::Uuid {
    store::tenants::find_by_slug(&app.db, DEMO).await.unwrap().unwrap().id
}

#[tokio::test]
async fn a_member_of_another_business_is_refused_everywhere_and_learns_nothing() {
    let app = TestApp::spawn().await;
    let outsider = app.client();
    let res =
        outsider.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::OK);
    let engineer = member_id(&app, "engineer@acme-plumbing.test").await;

    for page in Page::ALL {
        let res = outsider.get(&page.href(DEMO)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "opening {page:?} of Acme");
        let body = res.text().await.unwrap();
        assert!(!body.contains("@acme-plumbing.test"), "{page:?} leaked a member of Acme");
    }
    for (endpoint, args, _) in server_functions(DEMO, &engineer) {
        let res = call(&outsider, endpoint, &args).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "calling {endpoint} on Acme");
        assert!(!res.text().await.unwrap().contains("@acme-plumbing.test"));
    }
    // Nothing was written to Acme.
    let members = store::members::list(&app.db, demo_tenant_id(&app).await).await.unwrap();
    assert_eq!(members.len(), 5);
    assert!(members.iter().any(|m| m.email == "engineer@acme-plumbing.test" && m.role == "engineer"));
    assert!(store::members::pending_invitations(&app.db, demo_tenant_id(&app).await).await.unwrap().is_empty());

    // And the other way round: Acme's owner cannot reach Rival.
    let acme_owner = app.demo_member(Role::Owner).await;
    assert_eq!(acme_owner.get("/t/rival-plumbing/settings").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        call(&acme_owner, "list_members", &[("slug", "rival-plumbing".into())]).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    for page in Page::ALL {
        let res = visitor.get(&page.href(DEMO)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/t/acme-plumbing/login");
    }
    assert_eq!(visitor.call("list_members", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(visitor.get("/t/acme-plumbing/login").await.status(), StatusCode::OK);
}

async fn search_path<C: ConnectionTrait>(db: &C) -> String {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT current_setting('search_path')"))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

#[tokio::test]
async fn tenant_work_runs_with_a_transaction_local_search_path() {
    let app = TestApp::spawn().await;
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    assert_eq!(search_path(&txn).await, "t_acme_plumbing");
    txn.commit().await.unwrap();
    // After the transaction the pooled connection is back to the default path.
    let after = search_path(&app.db).await;
    assert!(!after.contains("t_acme_plumbing"), "{after}");
    assert!(store::db::tenant_txn(&app.db, "public; drop table x").await.is_err());
}
