//! Opening a business in one step that either fully happens or leaves nothing.

use crate::support::{invalid_fields, session_token, TestApp};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

async fn count(app: &TestApp, sql: &str, value: &str) -> i64 {
    app.db
        .query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [value.into()]))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "count")
        .unwrap()
}

#[tokio::test]
async fn signing_up_creates_the_business_its_schema_and_its_owner_and_signs_in() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let res = client.sign_up("Harbor Dental", "harbor-dental", "dana@harbor.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["location"], "/t/harbor-dental");
    assert!(session_token(&res).is_some(), "sign-up signs the owner in");

    assert_eq!(count(&app, "SELECT count(*) FROM public.tenants WHERE slug = $1", "harbor-dental").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'audit_events'",
            "t_harbor_dental"
        )
        .await,
        1,
        "the tenant schema is migrated"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM public.memberships m JOIN public.users u ON u.id = m.user_id WHERE u.email = $1 AND m.role = 'owner'", "dana@harbor.example").await,
        1
    );
    // The cookie from sign-up opens the new dashboard.
    let dashboard = client.get("/t/harbor-dental").await;
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(dashboard.text().await.unwrap().contains("Harbor Dental"));
}

#[tokio::test]
async fn each_bad_sign_up_field_gets_its_own_reason() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let cases = [
        (("", "fine-slug", "a@b.example", "copper kettle harbor 42"), "business_name", "name"),
        (("Biz", "Bad Slug", "a@b.example", "copper kettle harbor 42"), "slug", "lowercase"),
        (("Biz", "acme-plumbing", "a@b.example", "copper kettle harbor 42"), "slug", "already taken"),
        (("Biz", "fine-slug", "not-an-email", "copper kettle harbor 42"), "email", "@"),
        (("Biz", "fine-slug", "owner@acme-plumbing.test", "copper kettle harbor 42"), "email", "already exists"),
        (("Biz", "fine-slug", "a@b.example", "short"), "password", "12 characters"),
        (("Biz", "fine-slug", "a@b.example", "password1234"), "password", "too common"),
    ];
    for ((name, slug, email, password), field, reason) in cases {
        let fields = invalid_fields(client.sign_up(name, slug, email, password).await).await;
        assert!(
            fields.iter().any(|(f, m)| f == field && m.contains(reason)),
            "expected {field}: ...{reason}... for {slug}/{email}, got {fields:?}"
        );
    }
    assert_eq!(count(&app, "SELECT count(*) FROM public.tenants WHERE slug = $1", "fine-slug").await, 0);
}

#[tokio::test]
async fn a_sign_up_that_fails_midway_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    // A leftover schema of the same name makes the schema step fail after the
    // tenant, user and membership rows were inserted in the same transaction.
    app.db.execute_unprepared("CREATE SCHEMA t_blocked_biz").await.unwrap();
    let res = app.client().sign_up("Blocked", "blocked-biz", "blocked@biz.example", "copper kettle harbor 42").await;
    assert!(res.status().is_client_error(), "got {}", res.status());
    assert_eq!(count(&app, "SELECT count(*) FROM public.tenants WHERE slug = $1", "blocked-biz").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM public.users WHERE email = $1", "blocked@biz.example").await, 0);
}

#[tokio::test]
async fn sign_up_is_throttled_per_email_and_per_client_address() {
    let app = TestApp::spawn().await;
    let client = app.client();
    // The same email, again and again (each refused: the address is taken after the first).
    for n in 0..store::throttle::ACCOUNT_LIMIT {
        let res = client
            .sign_up("Pier Cafe", &format!("pier-cafe-{n}"), "same@pier.example", "copper kettle harbor 42")
            .await;
        assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS, "attempt {n}");
    }
    let res = client.sign_up("Pier Cafe", "pier-cafe-x", "same@pier.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("Too many sign-up attempts"));
    assert_eq!(count(&app, "SELECT count(*) FROM public.tenants WHERE slug = $1", "pier-cafe-x").await, 0);
    // Many emails from one address: the address's own limit.
    let mut refused = 0;
    for n in 0..store::throttle::ADDRESS_LIMIT {
        let res = client
            .sign_up("Dock Bar", &format!("dock-bar-{n}"), &format!("owner{n}@dock.example"), "copper kettle harbor 42")
            .await;
        refused += (res.status() == StatusCode::TOO_MANY_REQUESTS) as u64;
    }
    // The first loop spent ACCOUNT_LIMIT of the address's ADDRESS_LIMIT attempts.
    assert_eq!(refused, store::throttle::ACCOUNT_LIMIT, "the address's attempts ran out at its limit");
}
