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

/// How many spare schemas are waiting, by their table and by the catalog.
async fn spares(app: &TestApp) -> (i64, i64) {
    let listed: Option<i64> =
        crate::support::scalar(&app.db, "SELECT count(*) AS value FROM public.spare_schemas").await;
    let present: Option<i64> = crate::support::scalar(
        &app.db,
        r"SELECT count(*) AS value FROM pg_namespace WHERE nspname LIKE 't\_\_spare\_%'",
    )
    .await;
    (listed.unwrap_or(0), present.unwrap_or(0))
}

#[tokio::test]
async fn a_sign_up_opens_its_business_in_a_schema_prepared_while_the_code_was_on_its_way() {
    use migrations::MigratorTrait;
    let app = TestApp::spawn().await;
    assert_eq!(spares(&app).await, (0, 0));
    let client = app.client();
    let email = "ines@quay.example";
    assert_eq!(
        client.start_sign_up("Quay Bakery", "quay-bakery", email, "copper kettle harbor 42").await.status(),
        StatusCode::OK
    );
    // Starting a sign-up prepares two spare schemas in the background.
    let waited = std::time::Instant::now();
    while spares(&app).await != (2, 2) {
        assert!(waited.elapsed() < std::time::Duration::from_secs(60), "no spares prepared: {:?}", spares(&app).await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The oldest, which the sign-up takes, lacks the newest tenant migration, as after an upgrade.
    let oldest: String = crate::support::scalar(
        &app.db,
        "SELECT schema_name AS value FROM public.spare_schemas ORDER BY created_at LIMIT 1",
    )
    .await
    .unwrap();
    app.db
        .execute_unprepared(&format!(
            "ALTER TABLE \"{oldest}\".runs DROP COLUMN takeovers;
             DELETE FROM \"{oldest}\".tenant_migrations WHERE version = 'm20261212_000024_run_takeovers'"
        ))
        .await
        .unwrap();

    let code = client.sign_up_code(email).await;
    assert_eq!(client.confirm_sign_up(email, &code).await.status(), StatusCode::OK);
    let taken: Option<i64> = crate::support::scalar(
        &app.db,
        &format!("SELECT count(*) AS value FROM pg_namespace WHERE nspname = '{oldest}'"),
    )
    .await;
    assert_eq!(taken, Some(0), "the spare became the business's schema");
    let applied: Option<i64> =
        crate::support::scalar(&app.db, "SELECT count(*) AS value FROM t_quay_bakery.tenant_migrations").await;
    assert_eq!(applied, Some(migrations::tenant::Migrator::migrations().len() as i64), "brought up to date");
    let column: Option<i64> = crate::support::scalar(
        &app.db,
        "SELECT count(*) AS value FROM information_schema.columns
          WHERE table_schema = 't_quay_bakery' AND table_name = 'runs' AND column_name = 'takeovers'",
    )
    .await;
    assert_eq!(column, Some(1));

    // The business works in it: its dashboard, and a change to its
    // configuration, which a trigger bound to the schema counts.
    let dashboard = client.get("/t/quay-bakery").await;
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(dashboard.text().await.unwrap().contains("Quay Bakery"));
    let generation = || async {
        crate::support::scalar::<i64>(&app.db, "SELECT value FROM t_quay_bakery.config_generation").await.unwrap()
    };
    let before = generation().await;
    let res = client.call("set_secret", &[("slug", "quay-bakery"), ("name", "crm_key"), ("value", "sk-quay-1")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(generation().await > before, "the configuration's trigger writes to the business's own schema");
    // Nobody else's: Acme's owner cannot read the new business.
    let acme = app.demo_member(engine::Role::Owner).await;
    assert_eq!(acme.get("/t/quay-bakery").await.status(), StatusCode::FORBIDDEN);

    // The server prepares the next one.
    let waited = std::time::Instant::now();
    while spares(&app).await != (2, 2) {
        assert!(waited.elapsed() < std::time::Duration::from_secs(60), "not replaced: {:?}", spares(&app).await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sign_ups_at_once_take_different_spare_schemas_and_one_without_a_spare_builds_its_own() {
    let app = TestApp::spawn_with(crate::support::Options {
        tune: Some(Box::new(|s| s.spare_schemas = 0)),
        ..Default::default()
    })
    .await;
    assert_eq!(migrations::spare::top_up(&app.db, 2).await.unwrap(), 2);
    assert_eq!(migrations::spare::top_up(&app.db, 2).await.unwrap(), 0, "never more than asked for");
    let (a, b) = (app.client(), app.client());
    let (ra, rb) = tokio::join!(
        a.sign_up("North Pier", "north-pier", "n@pier.example", "copper kettle harbor 42"),
        b.sign_up("South Pier", "south-pier", "s@pier.example", "copper kettle harbor 42"),
    );
    assert_eq!((ra.status(), rb.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(spares(&app).await, (0, 0), "each took one");
    let res = app.client().sign_up("East Pier", "east-pier", "e@pier.example", "copper kettle harbor 42").await;
    assert_eq!(res.status(), StatusCode::OK);
    for schema in ["t_north_pier", "t_south_pier", "t_east_pier"] {
        assert_eq!(
            count(
                &app,
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'runs'",
                schema
            )
            .await,
            1,
            "{schema}"
        );
    }
    assert_eq!(spares(&app).await, (0, 0), "none prepared when the server is told to keep none");
}
