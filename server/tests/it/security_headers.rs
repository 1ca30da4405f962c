//! Security headers on every kind of answer: a page, a redirect to sign in,
//! a server function, a JSON API refusal, a webhook refusal, a download,
//! a static file, health; the hosted form may be framed and nothing else
//! may; HSTS only when Steward is served over https.

use crate::support::*;
use reqwest::StatusCode;

fn assert_guarded(res: &reqwest::Response, what: &str, framable: bool) {
    let h = res.headers();
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert!(!get("referrer-policy").is_empty(), "{what}: a referrer policy");
    let csp = get("content-security-policy");
    assert!(csp.contains("object-src 'none'") && csp.contains("base-uri 'none'"), "{what}: {csp}");
    if framable {
        assert!(!csp.contains("frame-ancestors") && get("x-frame-options").is_empty(), "{what} may be framed");
    } else {
        assert!(csp.contains("frame-ancestors 'none'") && get("x-frame-options") == "DENY", "{what} may not be framed");
    }
    if get("content-type").starts_with("text/html") {
        assert!(get("content-type").contains("charset=utf-8"), "{what}: {}", get("content-type"));
    }
    assert!(get("strict-transport-security").is_empty(), "{what}: no HSTS over plain http");
}

#[tokio::test]
async fn every_kind_of_answer_carries_security_headers_and_only_the_hosted_form_may_be_framed() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    let owner = app.demo_member(engine::Role::Owner).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |path: &str| http.get(format!("{}{path}", app.base)).send();

    let page = owner.get(&format!("/t/{DEMO}/settings")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_guarded(&page, "a page", false);
    // A page's scripts: Steward's own, and inline ones only with this response's nonce.
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let nonce =
        csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a script nonce").to_owned();
    assert!(
        csp.contains("script-src 'self' 'nonce-")
            && !csp.contains("'unsafe-inline' 'wasm")
            && !csp.contains("script-src *"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let inline_scripts = html.matches("<script").count();
    assert!(inline_scripts > 0, "the page hydrates with an inline script");
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), inline_scripts, "every script carries the nonce");
    let again = owner.get(&format!("/t/{DEMO}/settings")).await;
    assert!(!again.headers()["content-security-policy"].to_str().unwrap().contains(&nonce), "a nonce per response");
    let redirect = visitor.get(&format!("/t/{DEMO}/runs")).await;
    assert!(redirect.status().is_redirection(), "{}", redirect.status());
    assert_guarded(&redirect, "a redirect to sign in", false);
    let server_fn = owner.call("list_members", &[("slug", DEMO)]).await;
    assert_eq!(server_fn.status(), StatusCode::OK);
    assert_guarded(&server_fn, "a server function", false);
    let api = get(&format!("/api/v1/t/{DEMO}/runs/{}", uuid::Uuid::new_v4())).await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert_guarded(&api, "a JSON API refusal", false);
    let hook = http.post(format!("{}/hooks/{DEMO}/{LEAD_WORKFLOW}", app.base)).body("{}").send().await.unwrap();
    assert!(hook.status().is_client_error());
    assert_guarded(&hook, "a webhook refusal", false);
    let csv = owner.get(&format!("/t/{DEMO}/costs.csv")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert_guarded(&csv, "a download", false);
    for path in ["/healthz", "/api/openapi.json", "/pkg/steward.css", "/approve/not-a-token"] {
        let res = get(path).await.unwrap();
        assert_guarded(&res, path, false);
    }
    let form = get(&format!("/forms/{DEMO}/{LEAD_WORKFLOW}")).await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert_guarded(&form, "the hosted form", true);
}

#[tokio::test]
async fn over_https_every_answer_asks_browsers_to_stay_on_https() {
    let app = TestApp::spawn_with(Options {
        tune: Some(Box::new(|s| s.public_url = url::Url::parse("https://steward.example").unwrap())),
        ..Default::default()
    })
    .await;
    for path in ["/healthz".to_string(), format!("/forms/{DEMO}/{LEAD_WORKFLOW}"), "/login".into()] {
        let res = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
        let hsts = res.headers().get("strict-transport-security").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(hsts.starts_with("max-age=31536000"), "{path}: {hsts:?}");
    }
}
