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
    // The form alone creates nothing: the code from the email does.
    let res =
        client.start_sign_up("Harbor Dental", "harbor-dental", "dana@harbor.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(session_token(&res).is_none());
    assert_eq!(count(&app, "SELECT count(*) FROM public.tenants WHERE slug = $1", "harbor-dental").await, 0);
    let mail = app.mailbox.latest_to("dana@harbor.example").await.expect("the code is emailed");
    assert!(mail.decoded().contains("open Harbor Dental"), "{}", mail.decoded());
    let code = client.sign_up_code("dana@harbor.example").await;
    let res = client.confirm_sign_up("dana@harbor.example", &code).await;
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
    // The same email, again and again.
    for n in 0..store::throttle::ACCOUNT_LIMIT {
        let res = client
            .start_sign_up("Pier Cafe", &format!("pier-cafe-{n}"), "same@pier.example", "copper kettle harbor 42")
            .await;
        assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS, "attempt {n}");
    }
    let res = client.start_sign_up("Pier Cafe", "pier-cafe-x", "same@pier.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("Too many sign-up attempts"));
    assert_eq!(count(&app, "SELECT count(*) FROM public.tenants WHERE slug = $1", "pier-cafe-x").await, 0);
    // Many emails from one address: the address's own limit.
    let mut refused = 0;
    for n in 0..store::throttle::ADDRESS_LIMIT {
        let res = client
            .start_sign_up(
                "Dock Bar",
                &format!("dock-bar-{n}"),
                &format!("owner{n}@dock.example"),
                "copper kettle harbor 42",
            )
            .await;
        refused += (res.status() == StatusCode::TOO_MANY_REQUESTS) as u64;
    }
    // The first loop spent ACCOUNT_LIMIT of the address's ADDRESS_LIMIT attempts.
    assert_eq!(refused, store::throttle::ACCOUNT_LIMIT, "the address's attempts ran out at its limit");
}

#[tokio::test]
async fn sign_up_with_an_existing_email_answers_like_a_new_one_and_emails_that_account() {
    let app = TestApp::spawn().await;
    let (taken, fresh) = ("owner@acme-plumbing.test", "new-owner@harbor.example");
    let mut answers = Vec::new();
    for (email, slug) in [(taken, "second-shop"), (fresh, "third-shop")] {
        let res = app.client().start_sign_up("Second Shop", slug, email, "another long sentence 77").await;
        let status = res.status();
        let cookies = res.headers().get_all(reqwest::header::SET_COOKIE).iter().count();
        // The body names the address the code went to; anything else would differ.
        let body = res.text().await.unwrap().replace(email, "EMAIL");
        answers.push((status, cookies, body));
    }
    assert_eq!(answers[0], answers[1], "the form answers the same whether the email has an account or not");
    assert_eq!(answers[0].0, StatusCode::OK);

    // Only the mailbox tells: the existing account hears it already has one.
    let mail = app.mailbox.latest_to(taken).await.expect("the account is emailed");
    let text = mail.decoded();
    assert!(text.contains("You already have a Steward account"), "{text}");
    assert!(text.contains("/login"), "{text}");
    assert!(!app.mailbox.latest_to(fresh).await.unwrap().decoded().contains("already have"));
    assert_eq!(count(&app, "SELECT count(*) FROM public.users WHERE email = $1", taken).await, 1);

    // Its code opens the business under that account, which signs in with its own password.
    let client = app.client();
    let code = client.sign_up_code(taken).await;
    let res = client.confirm_sign_up(taken, &code).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["location"], "/t/second-shop/login?opened=1");
    assert!(session_token(&res).is_none(), "the emailed code is not a password: no session");
    assert_eq!(
        count(&app, "SELECT count(*) FROM public.memberships m JOIN public.users u ON u.id = m.user_id JOIN public.tenants t ON t.id = m.tenant_id WHERE u.email = $1 AND m.role = 'owner'", taken).await,
        2
    );
    let typed = app.client().sign_in("second-shop", taken, "another long sentence 77").await;
    assert_eq!(typed.status(), StatusCode::UNAUTHORIZED, "the password typed at sign-up changed nothing");
    let own = app.client().sign_in("second-shop", taken, crate::support::DEMO_PASSWORD).await;
    assert_eq!(own.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sign_up_code_works_once_and_wrong_codes_are_throttled() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let email = "kim@pier.example";
    assert_eq!(client.start_sign_up("Pier", "pier", email, "copper kettle harbor 42").await.status(), StatusCode::OK);
    let code = client.sign_up_code(email).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let fields = invalid_fields(client.confirm_sign_up(email, wrong).await).await;
    assert!(fields.iter().any(|(f, m)| f == "code" && m.contains("not right")), "{fields:?}");

    // A new code replaces the old one.
    assert_eq!(client.start_sign_up("Pier", "pier", email, "copper kettle harbor 42").await.status(), StatusCode::OK);
    let newer = client.sign_up_code(email).await;
    if newer != code {
        let fields = invalid_fields(client.confirm_sign_up(email, &code).await).await;
        assert!(fields.iter().any(|(f, _)| f == "code"), "{fields:?}");
    }
    assert_eq!(client.confirm_sign_up(email, &newer).await.status(), StatusCode::OK);
    // Used: the same code again opens nothing more.
    let fields = invalid_fields(app.client().confirm_sign_up(email, &newer).await).await;
    assert!(fields.iter().any(|(f, m)| f == "code" && m.contains("expired")), "{fields:?}");

    // Guessing: wrong codes count against the sign-up throttle, and then even the right code waits.
    let guessed = "guess@pier.example";
    let guesser = app.client();
    assert_eq!(
        guesser.start_sign_up("Dock", "dock", guessed, "copper kettle harbor 42").await.status(),
        StatusCode::OK
    );
    let right = guesser.sign_up_code(guessed).await;
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let mut statuses = Vec::new();
    for _ in 0..store::throttle::ACCOUNT_LIMIT {
        statuses.push(guesser.confirm_sign_up(guessed, wrong).await.status());
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert_eq!(guesser.confirm_sign_up(guessed, &right).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(count(&app, "SELECT count(*) FROM public.tenants WHERE slug = $1", "dock").await, 0);
}
