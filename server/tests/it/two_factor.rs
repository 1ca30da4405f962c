//! Two-factor sign-in: a member sets up an authenticator (a wrong code does
//! not turn it on), then signs in with password and code; a code works
//! once, a recovery code works once, wrong codes are throttled like
//! passwords, and every step is in the audit log. An owner can require a
//! second factor (not before having one): a member without one sets it up
//! while signing in and cannot turn it off.

use crate::support::*;
use engine::Role;
use reqwest::StatusCode;
use store::two_factor::code_at;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The code of the next 30-second step: accepted (one step of drift), and
/// never the step a code was just used in.
fn next_code(secret: &str) -> String {
    code_at(secret, now() + 30).unwrap()
}

async fn json(res: reqwest::Response) -> serde_json::Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Sets up an authenticator for the signed-in member; returns its secret and recovery codes.
async fn enrol(client: &Client) -> (String, Vec<String>) {
    let enrolment = json(client.call("start_two_factor", &[("slug", DEMO)]).await).await;
    let secret = enrolment["secret"].as_str().unwrap().replace(' ', "");
    assert!(enrolment["otpauth_url"].as_str().unwrap().starts_with("otpauth://totp/Steward:"));
    assert!(enrolment["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let wrong = client.call("confirm_two_factor", &[("slug", DEMO), ("code", "000000")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_body(wrong).await.to_string().contains("not right"));
    let code = code_at(&secret, now()).unwrap();
    let codes = json(client.call("confirm_two_factor", &[("slug", DEMO), ("code", &code)]).await).await;
    let codes: Vec<String> = codes.as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Password first: the answer asks for the code and starts no session.
async fn password_step(app: &TestApp, email: &str, expected: &str) -> Client {
    let client = app.client();
    let res = client.sign_in(DEMO, email, DEMO_PASSWORD).await;
    assert!(session_token(&res).is_none(), "no session before the second factor");
    assert_eq!(json(res).await, expected);
    assert_eq!(client.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
    client
}

#[tokio::test]
async fn a_member_signs_in_with_an_authenticator_code_once_and_a_recovery_code_once() {
    let app = TestApp::spawn().await;
    let email = "reviewer@acme-plumbing.test";
    let reviewer = app.demo_member(Role::Reviewer).await;
    let (secret, recovery) = enrol(&reviewer).await;
    let status = json(reviewer.call("two_factor_status", &[("slug", DEMO)]).await).await;
    assert_eq!((status["enabled"].as_bool(), status["recovery_codes_left"].as_i64()), (Some(true), Some(10)));

    // Password, then a code: signed in.
    let client = password_step(&app, email, "Code").await;
    let code = next_code(&secret);
    let res = client.call("sign_in_code", &[("code", &code)]).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    assert_eq!(client.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::OK);

    // The same code again (another sign-in) is refused: a code works once.
    let again = password_step(&app, email, "Code").await;
    let res = again.call("sign_in_code", &[("code", &code)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A recovery code, typed loosely, works once.
    let loose = recovery[0].to_uppercase().replace('-', " ");
    assert_eq!(again.call("sign_in_code", &[("code", &loose)]).await.status(), StatusCode::OK);
    let third = password_step(&app, email, "Code").await;
    assert_eq!(third.call("sign_in_code", &[("code", &recovery[0])]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let status = json(reviewer.call("two_factor_status", &[("slug", DEMO)]).await).await;
    assert_eq!(status["recovery_codes_left"], 9);

    // Without the password step there is nothing to complete.
    let stranger = app.client();
    let res = stranger.call("sign_in_code", &[("code", &next_code(&secret))]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(error_body(res).await.to_string().contains("Start again"));

    // Turning it off takes a current code; afterwards the password alone signs in.
    let res = reviewer.call("turn_off_two_factor", &[("slug", DEMO), ("code", "123456")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reviewer.call("turn_off_two_factor", &[("slug", DEMO), ("code", &recovery[1])]).await.status(),
        StatusCode::OK
    );
    let res = app.client().sign_in(DEMO, email, DEMO_PASSWORD).await;
    assert!(session_token(&res).is_some());

    // Every step is in the audit log.
    let actions: Vec<String> = app
        .demo_values(
            "SELECT action || ' ' || why AS value FROM audit_events WHERE area = 'sign-in' ORDER BY seq",
            vec![],
        )
        .await;
    for expected in [
        "two_factor.enabled authenticator app confirmed",
        "sign_in.password_accepted second factor next",
        "sign_in.succeeded authenticator code",
        "sign_in.failed wrong second factor",
        "sign_in.succeeded recovery code",
        "two_factor.disabled turned off with a current code",
        "sign_in.succeeded password",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected} missing from {actions:?}");
    }
}

#[tokio::test]
async fn wrong_second_factors_are_throttled_like_passwords_and_audited() {
    let app = TestApp::spawn().await;
    let email = "engineer@acme-plumbing.test";
    let (secret, _) = enrol(&app.demo_member(Role::Engineer).await).await;
    let client = password_step(&app, email, "Code").await;
    for _ in 0..store::throttle::ACCOUNT_LIMIT {
        let res = client.call("sign_in_code", &[("code", "999999")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Now even the right code waits.
    let res = client.call("sign_in_code", &[("code", &next_code(&secret))]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(error_body(res).await.to_string().contains("Too many sign-in attempts"));
    let throttled: i64 = app
        .demo_value("SELECT count(*) AS value FROM audit_events WHERE action = 'sign_in.throttled'", vec![])
        .await
        .unwrap();
    assert_eq!(throttled, 1);
    let failed: i64 = app
        .demo_value(
            "SELECT count(*) AS value FROM audit_events WHERE action = 'sign_in.failed' AND subject = $1",
            vec![email.into()],
        )
        .await
        .unwrap();
    assert_eq!(failed, store::throttle::ACCOUNT_LIMIT as i64);
}

async fn require(client: &Client, on: bool) -> reqwest::Response {
    client.call("set_two_factor_required", &[("slug", DEMO), ("required", &on.to_string())]).await
}

#[tokio::test]
async fn an_owner_requires_a_second_factor_and_members_set_it_up_while_signing_in() {
    let app = TestApp::spawn().await;
    let owner = app.demo_member(Role::Owner).await;
    // Only the owner decides it.
    let ops = app.demo_member(Role::Operations).await;
    assert_eq!(require(&ops, true).await.status(), StatusCode::FORBIDDEN);
    // Not before the owner has one: requiring it must not lock them out.
    let res = require(&owner, true).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(error_body(res).await.to_string().contains("for yourself first"));
    enrol(&owner).await;
    assert_eq!(require(&owner, true).await.status(), StatusCode::OK);
    assert_eq!(json(owner.call("load_sign_in_policy", &[("slug", DEMO)]).await).await, true);
    // Enforced at once: a member without a second factor is signed out; the owner is not.
    assert_eq!(ops.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(owner.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::OK);

    // A member without a second factor sets one up before any session starts.
    let client = password_step(&app, "exec@acme-plumbing.test", "SetUp").await;
    let enrolment = json(client.call("sign_in_set_up", &[]).await).await;
    let secret = enrolment["secret"].as_str().unwrap().replace(' ', "");
    let res = client.call("sign_in_set_up_confirm", &[("code", "111111")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(client.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
    let codes = json(client.call("sign_in_set_up_confirm", &[("code", &code_at(&secret, now()).unwrap())]).await).await;
    assert_eq!(codes.as_array().unwrap().len(), 10);
    assert_eq!(client.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::OK);
    // And cannot turn it off while the business requires it.
    let res = client.call("turn_off_two_factor", &[("slug", DEMO), ("code", &next_code(&secret))]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let changed: i64 = app
        .demo_value("SELECT count(*) AS value FROM audit_events WHERE action = 'two_factor.required'", vec![])
        .await
        .unwrap();
    assert_eq!(changed, 1);
}
