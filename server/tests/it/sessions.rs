//! Signing in and out: argon2id passwords, signed session cookies that sign
//! out really revokes, throttling, and CSRF protection.

use crate::support::{error_body, session_token, TestApp, DEMO, DEMO_PASSWORD};
use engine::Role;
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use store::auth::SessionClaims;

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_expires() {
    let app = TestApp::spawn().await;
    let res = app.client().sign_in(DEMO, "owner@acme-plumbing.test", DEMO_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Max-Age="), "{cookie}");
    let stored: String = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT password_hash FROM public.users WHERE email = 'owner@acme-plumbing.test'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "password_hash")
        .unwrap();
    assert!(stored.starts_with("$argon2id$"));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let wrong = client.sign_in(DEMO, "owner@acme-plumbing.test", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let unknown = client.sign_in(DEMO, "nobody@acme-plumbing.test", "not the password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_body(wrong).await, error_body(unknown).await);
    let no_business = client.sign_in("no-such-business", "owner@acme-plumbing.test", DEMO_PASSWORD).await;
    assert_eq!(crate::support::invalid_fields(no_business).await[0].0, "slug");
}

#[tokio::test]
async fn repeated_failures_throttle_the_account_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    let client = app.client();
    for _ in 0..store::throttle::ACCOUNT_LIMIT {
        assert_eq!(client.sign_in(DEMO, "owner@acme-plumbing.test", "guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = client.sign_in(DEMO, "owner@acme-plumbing.test", DEMO_PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = error_body(throttled).await;
    assert!(body.to_string().contains("Too many sign-in attempts"), "{body}");
    // Another member is not locked out by someone guessing at the owner.
    assert_eq!(client.sign_in(DEMO, "ops@acme-plumbing.test", DEMO_PASSWORD).await.status(), StatusCode::OK);
    // An unknown email is throttled the same way, so the refusal reveals nothing.
    for _ in 0..store::throttle::ACCOUNT_LIMIT {
        client.sign_in(DEMO, "ghost@acme-plumbing.test", "guess").await;
    }
    assert_eq!(client.sign_in(DEMO, "ghost@acme-plumbing.test", "guess").await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn many_failures_from_one_address_throttle_that_address() {
    let app = TestApp::spawn().await;
    let client = app.client();
    for i in 0..store::throttle::ADDRESS_LIMIT {
        let email = format!("spray-{i}@acme-plumbing.test");
        assert_eq!(client.sign_in(DEMO, &email, "guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        client.sign_in(DEMO, "owner@acme-plumbing.test", DEMO_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn signing_out_revokes_the_old_cookie() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = session_token(&client.sign_in(DEMO, "owner@acme-plumbing.test", DEMO_PASSWORD).await).unwrap();
    let replay = app.client_with_token(&token);
    assert_eq!(replay.get("/t/acme-plumbing").await.status(), StatusCode::OK);

    let out = client.call("sign_out", &[("slug", DEMO)]).await;
    assert_eq!(out.status(), StatusCode::OK);
    assert!(out.headers().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));

    let page = replay.get("/t/acme-plumbing").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/t/acme-plumbing/login");
    assert_eq!(replay.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_that_person() {
    let app = TestApp::spawn().await;
    let laptop = app.demo_member(Role::Engineer).await;
    let phone = app.demo_member(Role::Engineer).await;
    let colleague = app.demo_member(Role::Reviewer).await;
    assert_eq!(laptop.call("sign_out_everywhere", &[("slug", DEMO)]).await.status(), StatusCode::OK);
    assert_eq!(phone.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(colleague.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::OK);
}

fn forged(app: &TestApp, claims: &SessionClaims, secret: &[u8]) -> String {
    let _ = app;
    encode(&Header::default(), claims, &EncodingKey::from_secret(secret)).unwrap()
}

#[tokio::test]
async fn expired_tampered_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = session_token(&app.client().sign_in(DEMO, "owner@acme-plumbing.test", DEMO_PASSWORD).await).unwrap();
    let claims = store::auth::read_token(&app.settings, &token).unwrap();

    let expired = SessionClaims { exp: chrono::Utc::now().timestamp() - 10, ..claims_copy(&claims) };
    let expired = forged(&app, &expired, &app.settings.app_secret);
    let other_secret = forged(&app, &claims_copy(&claims), b"some other secret that is long enough");
    let mut tampered = token.clone();
    tampered.insert(tampered.len() - 3, 'x');
    for bad in [expired, other_secret, tampered, "garbage".to_string()] {
        let client = app.client_with_token(&bad);
        assert_eq!(client.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(client.get("/t/acme-plumbing/runs").await.status(), StatusCode::SEE_OTHER);
    }

    // A session past its server-side expiry is refused even with a valid signature.
    app.db.execute_unprepared("UPDATE public.sessions SET expires_at = now() - interval '1 second'").await.unwrap();
    assert_eq!(
        app.client_with_token(&token).call("load_workspace", &[("slug", DEMO)]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

fn claims_copy(c: &SessionClaims) -> SessionClaims {
    SessionClaims { sub: c.sub, tid: c.tid, sid: c.sid, iss: c.iss.clone(), iat: c.iat, exp: c.exp }
}

#[tokio::test]
async fn state_changing_requests_from_other_sites_are_refused() {
    let app = TestApp::spawn().await;
    let no_origin = app.client().without_origin();
    let res = no_origin.sign_in(DEMO, "owner@acme-plumbing.test", DEMO_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(session_token(&res).is_none());

    let mut evil = app.client();
    evil.origin = Some("https://evil.example".into());
    assert_eq!(
        evil.sign_up("Evil", "evil-co", "e@evil.example", "copper kettle harbor 42").await.status(),
        StatusCode::FORBIDDEN
    );

    // A same-site Referer is accepted when a browser leaves out Origin.
    let referer = reqwest::Client::new()
        .post(format!("{}/api/sign_in", app.base))
        .header("referer", format!("{}/t/acme-plumbing/login", app.base))
        .header("accept", "application/json")
        .form(&[("slug", DEMO), ("email", "owner@acme-plumbing.test"), ("password", DEMO_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(referer.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_malformed_request_is_a_4xx_that_names_the_problem() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let res = client.call("sign_in", &[("slug", DEMO)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_body(res).await.to_string().contains("email"));
    let owner = app.demo_member(Role::Owner).await;
    let res = owner.call("open_section", &[("slug", DEMO), ("page", "bogus")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
