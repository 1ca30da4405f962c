//! Signature schemes per trigger, end to end over real HTTP: a sender
//! signing the way Stripe, GitHub, Shopify, Typeform, HubSpot (v3),
//! Zendesk, Svix, a generic HMAC header, a shared-secret header, HTTP Basic
//! and a secret path do starts a run; the wrong secret, a stale timestamp
//! and a missing header get 401 with the reason; the vendor's own event id
//! makes its retry count once.

use crate::support::*;
use base64::Engine;
use engine::Role;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The headers a sender puts on a body (second argument) signed with a secret (first).
type Signer = Box<dyn Fn(&str, &str) -> Vec<(&'static str, String)>>;

/// HMAC-SHA256 of the parts in order, keyed with the secret's bytes.
pub(crate) fn mac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// Publishes `vendor-<name>` whose webhook trigger uses `signature` and installs `secret` (pasted,
/// or made by Steward when None); returns the secret senders use.
async fn workflow_with(app: &TestApp, name: &str, signature: &str, secret: Option<&str>) -> String {
    let yaml = format!(
        "workflow: vendor-{name}
version: 1
trigger: {{ source: webhook, event: vendor.event, signature: {signature} }}
steps:
  - {{ id: normalize, type: function, function: normalize, output: normalized_lead }}
"
    );
    let engineer = app.demo_current_member(Role::Engineer).await;
    let (wf, n) = store::workflows::save_version(&app.db, &engineer, &yaml, "vendor test")
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    store::workflows::publish(&app.db, &engineer, &wf, n, "go", None).await.map_err(|e| format!("{e:?}")).unwrap();
    match secret {
        Some(s) => store::webhook_secrets::paste(&app.db, &app.settings, &engineer, &wf, s, 0).await.unwrap().unwrap(),
        None => store::webhook_secrets::rotate(&app.db, &app.settings, &engineer, &wf, 0).await.unwrap().unwrap(),
    }
}

async fn post(app: &TestApp, path: &str, body: &str, headers: &[(&str, String)]) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{}/hooks/{DEMO}/{path}", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.unwrap()
}

async fn reason(res: reqwest::Response) -> String {
    res.json::<Value>().await.unwrap()["message"].as_str().unwrap_or_default().to_owned()
}

async fn runs_of(app: &TestApp, workflow: &str) -> i64 {
    app.demo_value("SELECT count(*) FROM runs WHERE workflow_name = $1", vec![workflow.into()]).await.unwrap()
}

#[tokio::test]
async fn stripe_signed_events_start_one_run_per_event_id_and_stale_or_wrong_ones_get_401() {
    let app = TestApp::spawn().await;
    let secret = "whsec_stripe_given_secret_0123456789";
    workflow_with(&app, "stripe", "stripe", Some(secret)).await;
    let body =
        json!({ "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "type": "invoice.payment_failed", "data": { "object": {} } })
            .to_string();
    let sign = |t: i64, key: &str| {
        let v1 = hex::encode(mac(key, &[format!("{t}.").as_bytes(), body.as_bytes()]));
        vec![("stripe-signature", format!("t={t},v1={v1}"))]
    };
    let now = chrono::Utc::now().timestamp();
    let res = post(&app, "vendor-stripe", &body, &sign(now, secret)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap());
    let again = post(&app, "vendor-stripe", &body, &sign(now + 1, secret)).await;
    assert_eq!(again.status(), StatusCode::OK, "Stripe's retry of the same event id is a repeat");
    assert_eq!(runs_of(&app, "vendor-stripe").await, 1);

    let stale = post(&app, "vendor-stripe", &body, &sign(now - 600, secret)).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(stale).await.contains("stale"));
    let wrong = post(&app, "vendor-stripe", &body, &sign(now, "whsec_someone_else_entirely_000")).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(wrong).await.contains("does not match"));
    let missing = post(&app, "vendor-stripe", &body, &[]).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(missing).await.contains("stripe-signature"));
}

#[tokio::test]
async fn body_hmac_senders_github_shopify_typeform_and_a_custom_header_each_start_a_run() {
    let app = TestApp::spawn().await;
    let body = json!({ "event_id": "tf-01", "action": "opened", "n": 1 }).to_string();
    let cases: [(&str, &str, Option<&str>, Signer); 4] = [
        (
            "github",
            "github",
            None,
            Box::new(|s, body| {
                vec![
                    ("x-hub-signature-256", format!("sha256={}", hex::encode(mac(s, &[body.as_bytes()])))),
                    ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".into()),
                ]
            }),
        ),
        (
            "shopify",
            "shopify",
            Some("shpss_shop_given_secret_0123"),
            Box::new(|s, body| {
                vec![
                    ("x-shopify-hmac-sha256", B64.encode(mac(s, &[body.as_bytes()]))),
                    ("x-shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".into()),
                ]
            }),
        ),
        (
            "typeform",
            "typeform",
            None,
            Box::new(|s, body| {
                vec![("typeform-signature", format!("sha256={}", B64.encode(mac(s, &[body.as_bytes()]))))]
            }),
        ),
        (
            "custom",
            "{ scheme: hmac_sha256, header: X-Signature, encoding: hex, prefix: 'v1=' }",
            None,
            Box::new(|s, body| {
                // A generic sender has no event id of its own: it names one with Idempotency-Key.
                vec![
                    ("x-signature", format!("v1={}", hex::encode(mac(s, &[body.as_bytes()])))),
                    ("idempotency-key", "custom-1".into()),
                ]
            }),
        ),
    ];
    for (name, signature, pasted, sign) in cases {
        let secret = workflow_with(&app, name, signature, pasted).await;
        let path = format!("vendor-{name}");
        let res = post(&app, &path, &body, &sign(&secret, &body)).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{name}: {}", res.text().await.unwrap());
        let again = post(&app, &path, &body, &sign(&secret, &body)).await;
        assert_eq!(again.status(), StatusCode::OK, "{name}: the vendor's id makes the retry a repeat");
        let wrong = post(&app, &path, &body, &sign("not-the-secret-at-all", &body)).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{name}");
        let tampered = post(&app, &path, &body.replace("opened", "closed"), &sign(&secret, &body)).await;
        assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED, "{name}: the body is what is signed");
        assert_eq!(runs_of(&app, &path).await, 1, "{name}");
    }
}

#[tokio::test]
async fn hubspot_v3_and_zendesk_sign_with_a_timestamp_and_refuse_replays_outside_it() {
    let app = TestApp::spawn().await;
    let body = json!([{ "eventId": 1863221, "subscriptionType": "contact.creation", "objectId": 123 }]).to_string();
    let secret = workflow_with(&app, "hubspot", "hubspot", Some("hubspot-app-client-secret-0001")).await;
    let url = format!("{}/hooks/{DEMO}/vendor-hubspot", app.settings.public_origin());
    let sign = |ms: i64| {
        let sig = B64.encode(mac(&secret, &[b"POST", url.as_bytes(), body.as_bytes(), ms.to_string().as_bytes()]));
        vec![("x-hubspot-signature-v3", sig), ("x-hubspot-request-timestamp", ms.to_string())]
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let res = post(&app, "vendor-hubspot", &body, &sign(now_ms)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap());
    assert_eq!(post(&app, "vendor-hubspot", &body, &sign(now_ms + 5)).await.status(), StatusCode::OK, "same eventId");
    let stale = post(&app, "vendor-hubspot", &body, &sign(now_ms - 10 * 60 * 1000)).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(stale).await.contains("stale"));

    let zbody = json!({ "ticket": { "id": 35436, "subject": "Printer on fire" } }).to_string();
    let zsecret = workflow_with(&app, "zendesk", "zendesk", Some("dGhpc19zZWNyZXRfaXNfZnJvbV96ZW5kZXNr")).await;
    let zsign = |at: chrono::DateTime<chrono::Utc>, id: &str| {
        let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        vec![
            ("x-zendesk-webhook-signature", B64.encode(mac(&zsecret, &[ts.as_bytes(), zbody.as_bytes()]))),
            ("x-zendesk-webhook-signature-timestamp", ts),
            ("x-zendesk-webhook-invocation-id", id.to_owned()),
        ]
    };
    let now = chrono::Utc::now();
    assert_eq!(post(&app, "vendor-zendesk", &zbody, &zsign(now, "inv-1")).await.status(), StatusCode::ACCEPTED);
    assert_eq!(post(&app, "vendor-zendesk", &zbody, &zsign(now, "inv-1")).await.status(), StatusCode::OK);
    let old = post(&app, "vendor-zendesk", &zbody, &zsign(now - chrono::Duration::minutes(30), "inv-2")).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(runs_of(&app, "vendor-zendesk").await, 1);
}

#[tokio::test]
async fn svix_headers_a_shared_secret_header_basic_auth_and_a_secret_path_each_prove_a_sender() {
    let app = TestApp::spawn().await;
    let body = json!({ "kind": "ping" }).to_string();

    // Svix: Standard Webhooks under svix- headers, with the secret Svix shows.
    let svix_secret = workflow_with(&app, "svix", "svix", Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).await;
    let ts = chrono::Utc::now().timestamp();
    let signed =
        store::webhook_secrets::sign(&svix_secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body.as_bytes()).unwrap();
    let svix = vec![
        ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".to_string()),
        ("svix-timestamp", ts.to_string()),
        ("svix-signature", signed),
    ];
    assert_eq!(post(&app, "vendor-svix", &body, &svix).await.status(), StatusCode::ACCEPTED);
    assert_eq!(post(&app, "vendor-svix", &body, &svix).await.status(), StatusCode::OK);

    let key = workflow_with(&app, "header", "{ scheme: header_secret, header: X-Api-Key }", None).await;
    assert_eq!(post(&app, "vendor-header", &body, &[("x-api-key", key.clone())]).await.status(), StatusCode::ACCEPTED);
    let res = post(&app, "vendor-header", &body, &[("x-api-key", "guess".into())]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let password = workflow_with(&app, "basic", "{ scheme: basic_auth, username: formtool }", None).await;
    let basic =
        |user: &str, pass: &str| vec![("authorization", format!("Basic {}", B64.encode(format!("{user}:{pass}"))))];
    assert_eq!(post(&app, "vendor-basic", &body, &basic("formtool", &password)).await.status(), StatusCode::ACCEPTED);
    assert_eq!(
        post(&app, "vendor-basic", &body, &basic("intruder", &password)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let secret = workflow_with(&app, "path", "secret_path", None).await;
    let at = store::sender_proof::path_form(&secret);
    assert_eq!(post(&app, &format!("vendor-path/{at}"), &body, &[]).await.status(), StatusCode::ACCEPTED);
    assert_eq!(post(&app, "vendor-path/not-the-secret", &body, &[]).await.status(), StatusCode::UNAUTHORIZED);
    let bare = post(&app, "vendor-path", &body, &[]).await;
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(bare).await.contains("secret address"));

    // A contract that names a scheme without what it needs is refused with the field.
    let engineer = app.demo_current_member(Role::Engineer).await;
    let yaml = "workflow: vendor-broken\nversion: 1\ntrigger: { source: webhook, event: vendor.event, signature: { scheme: hmac_sha256 } }\nsteps:\n  - { id: normalize, type: function, function: normalize, output: normalized_lead }\n";
    let err = format!("{:?}", store::workflows::save_version(&app.db, &engineer, yaml, "broken").await.unwrap_err());
    assert!(err.contains("signature header"), "{err}");
}

#[tokio::test]
async fn a_hubspot_batch_makes_one_run_per_event_and_its_retry_repeats_none() {
    let app = TestApp::spawn().await;
    let secret = workflow_with(&app, "hubspot", "hubspot", Some("hubspot-app-client-secret-0002")).await;
    let url = format!("{}/hooks/{DEMO}/vendor-hubspot", app.settings.public_origin());
    let send = |body: String| {
        let ms = chrono::Utc::now().timestamp_millis().to_string();
        let sig = B64.encode(mac(&secret, &[b"POST", url.as_bytes(), body.as_bytes(), ms.as_bytes()]));
        let headers = vec![("x-hubspot-signature-v3", sig), ("x-hubspot-request-timestamp", ms)];
        let app = &app;
        async move { post(app, "vendor-hubspot", &body, &headers).await }
    };
    // HubSpot's documented batch shape: several subscription events in one delivery.
    let event = |id: i64, object: i64| {
        json!({ "eventId": id, "subscriptionId": 2881778, "portalId": 62515, "occurredAt": 1564113600000_i64,
                "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": object, "changeSource": "CRM" })
    };
    let first = send(json!([event(101, 1), event(102, 2)]).to_string()).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let answer: Value = first.json().await.unwrap();
    assert_eq!(answer["runs"].as_array().unwrap().len(), 2, "{answer}");
    assert!(answer["runs"].as_array().unwrap().iter().all(|r| r["status"] == "queued"), "{answer}");
    assert_eq!(runs_of(&app, "vendor-hubspot").await, 2, "each event is its own run");

    // The same batch again, and one that repeats an event beside a new one.
    let retry = send(json!([event(101, 1), event(102, 2)]).to_string()).await;
    assert_eq!(retry.status(), StatusCode::OK);
    let mixed = send(json!([event(102, 2), event(103, 3)]).to_string()).await;
    assert_eq!(mixed.status(), StatusCode::ACCEPTED);
    let answer: Value = mixed.json().await.unwrap();
    let statuses: Vec<&str> =
        answer["runs"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["duplicate", "queued"]);
    assert_eq!(runs_of(&app, "vendor-hubspot").await, 3);
    let objects: i64 = app
        .demo_value(
            "SELECT count(DISTINCT e.payload->>'objectId') FROM events e JOIN runs r ON r.event_id = e.id WHERE r.workflow_name = 'vendor-hubspot'",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(objects, 3, "each run holds its own event, not the batch");
}

#[tokio::test]
async fn a_calendly_style_scheduler_signs_t_and_v1_and_its_invitee_event_counts_once() {
    let app = TestApp::spawn().await;
    // Calendly signs with the signing_key given when the subscription is made: Steward's secret.
    let secret = workflow_with(&app, "calendly", "calendly", None).await;
    let body = json!({
        "created_at": "2020-11-23T17:51:19.000000Z",
        "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
        "event": "invitee.created",
        "payload": { "email": "test@example.com", "name": "John Doe",
                     "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA" }
    })
    .to_string();
    let sign = |t: i64, key: &str| {
        let v1 = hex::encode(mac(key, &[format!("{t}.").as_bytes(), body.as_bytes()]));
        vec![("calendly-webhook-signature", format!("t={t},v1={v1}"))]
    };
    let now = chrono::Utc::now().timestamp();
    let res = post(&app, "vendor-calendly", &body, &sign(now, &secret)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap());
    assert_eq!(post(&app, "vendor-calendly", &body, &sign(now + 2, &secret)).await.status(), StatusCode::OK);
    let stale = post(&app, "vendor-calendly", &body, &sign(now - 900, &secret)).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    assert!(reason(stale).await.contains("stale"));
    assert_eq!(
        post(&app, "vendor-calendly", &body, &sign(now, "someone-else")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let missing = post(&app, "vendor-calendly", &body, &[]).await;
    assert!(reason(missing).await.contains("calendly-webhook-signature"));
    assert_eq!(runs_of(&app, "vendor-calendly").await, 1);
}
