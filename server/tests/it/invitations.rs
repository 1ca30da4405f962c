//! Owners invite people by email; the worker sends the invitation over SMTP;
//! its signed link works once, and not after it expires.

use crate::support::{error_body, invalid_fields, session_token, TestApp, DEMO, DEMO_PASSWORD};
use engine::Role;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use std::time::Duration;

async fn invite(owner: &crate::support::Client, email: &str, role: &str) -> reqwest::Response {
    owner.call("invite_member", &[("slug", DEMO), ("email", email), ("role", role)]).await
}

fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_invitation_is_emailed_and_its_link_works_exactly_once() {
    let mut app = TestApp::spawn_with_worker().await;
    let owner = app.demo_member(Role::Owner).await;
    let res = invite(&owner, "Sam.Rivera@Example.com", "engineer").await;
    assert_eq!(res.status(), StatusCode::OK);

    let mail = app
        .mailbox
        .wait_for("sam.rivera@example.com", Duration::from_secs(20))
        .await
        .expect("the invitation email arrives");
    assert!(mail.subject().unwrap().contains("Acme Plumbing"));
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"), "plain text and HTML versions");
    let link = mail.link_starting_with(&app.settings.link("/invite/")).expect("a link built from the public URL");

    // Opening the link changes nothing; it shows who is invited.
    let visitor = app.client();
    let page = visitor.get(&link.replace(&app.base, "")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let info = visitor.call("load_invitation", &[("token", &token_of(&link))]).await;
    assert_eq!(info.status(), StatusCode::OK);
    assert!(info.text().await.unwrap().contains("sam.rivera@example.com"));

    let weak = visitor.call("accept_invitation", &[("token", &token_of(&link)), ("password", "short")]).await;
    assert_eq!(invalid_fields(weak).await[0].0, "password");

    let accepted =
        visitor.call("accept_invitation", &[("token", &token_of(&link)), ("password", "sam's long passphrase")]).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(accepted.headers()["location"], "/t/acme-plumbing");
    let token = session_token(&accepted).expect("accepting signs in");
    let engineer = app.client_with_token(&token);
    assert_eq!(engineer.get("/t/acme-plumbing/workflows").await.status(), StatusCode::OK);
    assert_eq!(engineer.get("/t/acme-plumbing/settings").await.status(), StatusCode::FORBIDDEN);

    let again = app
        .client()
        .call("accept_invitation", &[("token", &token_of(&link)), ("password", "another long passphrase")])
        .await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(error_body(again).await.to_string().contains("already been used"));

    app.stop_worker().await.expect("the worker shuts down cleanly");
}

#[tokio::test]
async fn an_expired_or_tampered_invitation_link_is_refused() {
    let mut app = TestApp::spawn_with_worker().await;
    let owner = app.demo_member(Role::Owner).await;
    assert_eq!(invite(&owner, "late@example.com", "reviewer").await.status(), StatusCode::OK);
    let mail = app.mailbox.wait_for("late@example.com", Duration::from_secs(20)).await.unwrap();
    let token = token_of(&mail.link_starting_with(&app.settings.link("/invite/")).unwrap());

    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let res =
        app.client().call("accept_invitation", &[("token", &tampered), ("password", "a long enough passphrase")]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    app.db.execute_unprepared("UPDATE public.invitations SET expires_at = now() - interval '1 minute'").await.unwrap();
    let res =
        app.client().call("accept_invitation", &[("token", &token), ("password", "a long enough passphrase")]).await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(error_body(res).await.to_string().contains("expired"));
    app.stop_worker().await.unwrap();
}

#[tokio::test]
async fn inviting_checks_the_address_role_and_existing_members() {
    let app = TestApp::spawn().await;
    let owner = app.demo_member(Role::Owner).await;
    assert_eq!(invalid_fields(invite(&owner, "nope", "engineer").await).await[0].0, "email");
    let markup = invalid_fields(invite(&owner, "<script>alert(1)</script>@x.test", "engineer").await).await;
    assert_eq!(markup[0].0, "email", "markup is not an address");
    assert_eq!(invalid_fields(invite(&owner, "a@example.com", "admin").await).await[0].0, "role");
    let fields = invalid_fields(invite(&owner, "reviewer@acme-plumbing.test", "engineer").await).await;
    assert!(fields[0].1.contains("already a member"));
}

#[tokio::test]
async fn changing_a_role_takes_effect_at_once_and_removing_a_member_ends_their_sessions() {
    let app = TestApp::spawn().await;
    let owner = app.demo_member(Role::Owner).await;
    let reviewer = app.demo_member(Role::Reviewer).await;
    let members = store::members::list(&app.db, store::tenants::find_by_slug(&app.db, DEMO).await.unwrap().unwrap().id)
        .await
        .unwrap();
    let reviewer_id = members.iter().find(|m| m.email == "reviewer@acme-plumbing.test").unwrap().user_id.to_string();
    let owner_id = members.iter().find(|m| m.email == "owner@acme-plumbing.test").unwrap().user_id.to_string();

    assert_eq!(reviewer.get("/t/acme-plumbing/workflows").await.status(), StatusCode::FORBIDDEN);
    let res =
        owner.call("change_member_role", &[("slug", DEMO), ("user_id", &reviewer_id), ("role", "operations")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        reviewer.get("/t/acme-plumbing/workflows").await.status(),
        StatusCode::OK,
        "the new role applies to the live session"
    );

    // The last owner cannot demote or remove themselves.
    let res = owner.call("change_member_role", &[("slug", DEMO), ("user_id", &owner_id), ("role", "engineer")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(
        owner.call("remove_member", &[("slug", DEMO), ("user_id", &owner_id)]).await.status(),
        StatusCode::CONFLICT
    );

    assert_eq!(
        owner.call("remove_member", &[("slug", DEMO), ("user_id", &reviewer_id)]).await.status(),
        StatusCode::OK
    );
    assert_eq!(reviewer.call("load_workspace", &[("slug", DEMO)]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.client().sign_in(DEMO, "reviewer@acme-plumbing.test", DEMO_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "a removed member cannot sign in to the business"
    );

    // Each change is in the business's change log.
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    let actions: Vec<String> = store::audit::recent(&txn, 10).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(
        actions.contains(&"member.role_changed".to_string()) && actions.contains(&"member.removed".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_invitation_queued_while_the_worker_is_down_is_sent_once_it_starts() {
    let mut app = TestApp::spawn().await;
    let owner = app.demo_member(Role::Owner).await;
    assert_eq!(invite(&owner, "patient@example.com", "executive").await.status(), StatusCode::OK);
    assert!(
        app.mailbox.wait_for("patient@example.com", Duration::from_millis(500)).await.is_none(),
        "nobody sends it yet"
    );
    app.start_worker();
    let mail = app.mailbox.wait_for("patient@example.com", Duration::from_secs(20)).await;
    assert!(mail.is_some(), "the queued invitation is delivered when a worker starts");
    app.stop_worker().await.unwrap();
}
