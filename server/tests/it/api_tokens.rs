//! API tokens: programs call the JSON API with `Authorization: Bearer`, no
//! Origin needed; a token is shown once and stored as a hash, acts as its
//! maker within its scopes (never beyond the maker's current role), is
//! refused on another business's routes, and stops at once when revoked
//! or expired. Every create and revoke is in the change log.

use crate::support::*;
use engine::token_scope::TokenScope;
use engine::Role;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use store::api_tokens::{self, NewToken, TokenError};

fn new(name: &str, scopes: &[TokenScope]) -> NewToken {
    NewToken { name: name.into(), scopes: scopes.to_vec(), ..Default::default() }
}

async fn make(app: &TestApp, role: Role, token: NewToken) -> String {
    let maker = app.demo_current_member(role).await;
    api_tokens::create(&app.db, &maker, &token).await.unwrap().token
}

/// Sends the fresh demo lead through the events API with a bearer token (and no Origin, no cookie).
async fn send(app: &TestApp, token: &str, workflow: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/t/{DEMO}/workflows/{workflow}/events", app.base))
        .bearer_auth(token)
        .json(&fresh_lead())
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap()
}

async fn message(res: reqwest::Response) -> String {
    res.json::<Value>().await.unwrap()["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_token_sends_events_and_reads_runs_without_an_origin_and_is_kept_only_as_a_hash() {
    let app = TestApp::spawn().await;
    let token = make(&app, Role::Engineer, new("Zapier", &[TokenScope::SendEvents, TokenScope::ReadRuns])).await;
    assert!(token.starts_with("stw_"), "{token}");

    let res = send(&app, &token, LEAD_WORKFLOW).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let run_id = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().to_owned();
    let status = get(&app, &token, &format!("/api/v1/t/{DEMO}/runs/{run_id}")).await;
    assert_eq!(status.status(), StatusCode::OK);
    assert_eq!(status.json::<Value>().await.unwrap()["workflow"], LEAD_WORKFLOW);

    // Only the prefix is kept in clear; nothing stored equals the token.
    let stored: i64 = scalar(
        &app.db,
        &format!(
            "SELECT count(*) AS value FROM public.api_tokens WHERE prefix = '{}' AND secret_hash <> convert_to('{token}', 'UTF8')
               AND position('{token}' in row_to_json(api_tokens)::text) = 0",
            &token[..12]
        ),
    )
    .await
    .unwrap();
    assert_eq!(stored, 1);

    // The list says when and from where it was last used; the change log has it.
    let engineer = app.demo_current_member(Role::Engineer).await;
    let listed = api_tokens::list(&app.db, &engineer).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());
    assert_eq!(listed[0].last_used_from.as_deref(), Some("127.0.0.1"));
    let logged: i64 =
        app.demo_value("SELECT count(*) FROM audit_events WHERE action = 'token.created'", vec![]).await.unwrap();
    assert_eq!(logged, 1);
}

#[tokio::test]
async fn a_token_is_refused_outside_its_scope_its_workflows_and_its_business() {
    let app = TestApp::spawn().await;
    let reader = make(&app, Role::Owner, new("Dashboard", &[TokenScope::ReadRuns])).await;
    let res = send(&app, &reader, LEAD_WORKFLOW).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(message(res).await.contains("may not send events"));

    let narrow = NewToken { workflows: vec![LEAD_WORKFLOW.into()], ..new("Form tool", &[TokenScope::SendEvents]) };
    let narrow = make(&app, Role::Owner, narrow).await;
    assert_eq!(send(&app, &narrow, LEAD_WORKFLOW).await.status(), StatusCode::ACCEPTED);
    assert_eq!(send(&app, &narrow, "support-ticket-triage").await.status(), StatusCode::FORBIDDEN);

    // Decisions and bundles need their own scopes.
    let decision = format!("/api/v1/t/{DEMO}/review-tasks/{}/decision", uuid::Uuid::new_v4());
    let decide = |token: String| {
        let url = format!("{}{decision}", app.base);
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({ "decision": "approve" }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(decide(reader.clone()).await, StatusCode::FORBIDDEN);
    let decider = make(&app, Role::Owner, new("Slack bot", &[TokenScope::DecideReviews])).await;
    assert_eq!(decide(decider.clone()).await, StatusCode::NOT_FOUND, "allowed in; there is no such task");
    let bundle = format!("/api/v1/t/{DEMO}/workflows/{LEAD_WORKFLOW}/bundle.yaml");
    assert_eq!(get(&app, &decider, &bundle).await.status(), StatusCode::FORBIDDEN);
    let exporter = make(&app, Role::Engineer, new("git sync", &[TokenScope::ExportBundles])).await;
    let yaml = get(&app, &exporter, &bundle).await;
    assert_eq!(yaml.status(), StatusCode::OK);
    assert!(yaml.text().await.unwrap().contains(LEAD_WORKFLOW));

    // Another business's routes refuse it like they refuse a session.
    let stranger = app.client();
    stranger.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    let other = reqwest::Client::new()
        .post(format!("{}/api/v1/t/rival-plumbing/workflows/{LEAD_WORKFLOW}/events", app.base))
        .bearer_auth(&narrow)
        .json(&fresh_lead())
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    assert!(message(other).await.contains("another business"));

    // A bearer header that is not a token is not a session either.
    let res = send(&app, "stw_00000000_not-a-real-token-but-long-enough-to-look-like-one", LEAD_WORKFLOW).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/t/{DEMO}/workflows/{LEAD_WORKFLOW}/events", app.base))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .json(&fresh_lead())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(message(res).await.contains("Bearer"));
}

#[tokio::test]
async fn revoked_and_expired_tokens_get_401_with_the_reason_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.demo_current_member(Role::Owner).await;
    let made = api_tokens::create(&app.db, &owner, &new("CRM", &[TokenScope::SendEvents])).await.unwrap();
    assert_eq!(send(&app, &made.token, LEAD_WORKFLOW).await.status(), StatusCode::ACCEPTED);
    assert!(api_tokens::revoke(&app.db, &owner, made.id).await.unwrap());
    let res = send(&app, &made.token, LEAD_WORKFLOW).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(message(res).await.contains("revoked"));
    assert!(!api_tokens::revoke(&app.db, &owner, made.id).await.unwrap(), "revoked once");

    let soon = NewToken { expires_in_days: Some(1), ..new("Trial", &[TokenScope::SendEvents]) };
    let expiring = api_tokens::create(&app.db, &owner, &soon).await.unwrap();
    assert_eq!(send(&app, &expiring.token, LEAD_WORKFLOW).await.status(), StatusCode::ACCEPTED);
    app.db
        .execute_unprepared(&format!(
            "UPDATE public.api_tokens SET expires_at = now() - interval '1 second' WHERE id = '{}'",
            expiring.id
        ))
        .await
        .unwrap();
    let res = send(&app, &expiring.token, LEAD_WORKFLOW).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(message(res).await.contains("expired"));
    let logged: i64 =
        app.demo_value("SELECT count(*) FROM audit_events WHERE action = 'token.revoked'", vec![]).await.unwrap();
    assert_eq!(logged, 1);
}

#[tokio::test]
async fn owners_and_engineers_make_tokens_within_their_role_and_engineers_see_only_their_own() {
    let app = TestApp::spawn().await;
    let owner = app.demo_current_member(Role::Owner).await;
    let engineer = app.demo_current_member(Role::Engineer).await;
    let reviewer = app.demo_current_member(Role::Reviewer).await;
    assert!(matches!(
        api_tokens::create(&app.db, &reviewer, &new("Mine", &[TokenScope::DecideReviews])).await,
        Err(TokenError::Forbidden(_))
    ));
    match api_tokens::create(&app.db, &engineer, &new("Decider", &[TokenScope::DecideReviews])).await {
        Err(TokenError::Invalid(field, reason)) => {
            assert_eq!(field, "scopes");
            assert!(reason.contains("may not decide review tasks"), "{reason}");
        }
        other => panic!("an engineer may not make a deciding token: {other:?}"),
    }
    for (bad, field) in [
        (new(" ", &[TokenScope::ReadRuns]), "name"),
        (new("Nothing", &[]), "scopes"),
        (NewToken { workflows: vec!["no-such-flow".into()], ..new("Typo", &[TokenScope::SendEvents]) }, "workflows"),
        (NewToken { expires_in_days: Some(4000), ..new("Forever", &[TokenScope::SendEvents]) }, "expires_in_days"),
    ] {
        match api_tokens::create(&app.db, &owner, &bad).await {
            Err(TokenError::Invalid(f, _)) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }

    let owners = api_tokens::create(&app.db, &owner, &new("Owner's", &[TokenScope::ReadRuns])).await.unwrap();
    let engineers =
        api_tokens::create(&app.db, &engineer, &new("Engineer's", &[TokenScope::SendEvents])).await.unwrap();
    let names = |list: Vec<api_tokens::TokenSummary>| list.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(names(api_tokens::list(&app.db, &engineer).await.unwrap()), ["Engineer's"]);
    assert_eq!(names(api_tokens::list(&app.db, &owner).await.unwrap()), ["Engineer's", "Owner's"]);
    assert!(!api_tokens::revoke(&app.db, &engineer, owners.id).await.unwrap(), "not the engineer's to revoke");

    // A token never does more than its maker's role allows now.
    store::members::change_role(&app.db, &owner, engineer.user_id, Role::Reviewer).await.unwrap();
    let res = send(&app, &engineers.token, LEAD_WORKFLOW).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(message(res).await.contains("now reviewer"));
}
