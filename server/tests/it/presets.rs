//! Mapping presets end to end over real HTTP: each vendor's sample payload
//! (from its public documentation, shipped beside the preset) is sent
//! signed the vendor's way to a workflow whose trigger names the preset; it
//! is accepted, mapped to the data contract's record, checked, and its run
//! completes. A payload the preset cannot map is refused with the reason
//! and kept in the exceptions report.

use crate::sender_proof::{mac, B64};
use crate::support::*;
use base64::Engine;
use engine::mapping::Preset;
use engine::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Publishes `preset-<vendor>` whose trigger names the preset (its data
/// contract installed from Steward's template) and returns the secret the
/// vendor signs with.
async fn workflow_for(app: &TestApp, preset: &Preset) -> (String, String) {
    let engineer = app.demo_current_member(Role::Engineer).await;
    let contract = engine::data_contract::DataContract::template(&preset.data_contract).unwrap();
    store::data_contracts::save(&app.db, &engineer, &preset.data_contract, &json!(contract), "for the preset")
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let workflow = format!("preset-{}", preset.vendor.to_lowercase());
    let yaml = format!(
        "workflow: {workflow}
version: 1
trigger: {{ source: {vendor}, event: {event:?}, signature: {scheme}, preset: {name} }}
steps:
  - {{ id: normalize, type: function, function: normalize, output: record }}
",
        vendor = preset.vendor.to_lowercase(),
        event = preset.event,
        scheme = preset.signature.as_str(),
        name = preset.name,
    );
    let (wf, n) = store::workflows::save_version(&app.db, &engineer, &yaml, "preset")
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    store::workflows::publish(&app.db, &engineer, &wf, n, "go", None).await.map_err(|e| format!("{e:?}")).unwrap();
    let secret = if preset.signature.vendor_makes_the_secret() {
        let given = format!("{}-signing-secret-from-the-vendor", preset.vendor.to_lowercase());
        store::webhook_secrets::paste(&app.db, &app.settings, &engineer, &wf, &given, 0).await.unwrap().unwrap()
    } else {
        store::webhook_secrets::rotate(&app.db, &app.settings, &engineer, &wf, 0).await.unwrap().unwrap()
    };
    (workflow, secret)
}

/// The vendor's sample, its own times moved to now (the contracts refuse stale records).
fn fresh_sample(preset: &Preset) -> Value {
    let mut sample = preset.sample.clone();
    let now = chrono::Utc::now();
    let iso = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match preset.vendor.as_str() {
        "Stripe" => sample["created"] = json!(now.timestamp()),
        "HubSpot" => sample["properties"]["lastmodifieddate"]["value"] = json!(now.timestamp_millis().to_string()),
        "Typeform" => sample["form_response"]["submitted_at"] = json!(iso),
        "Zendesk" => sample["ticket"]["created_at"] = json!(iso),
        "Shopify" => sample["updated_at"] = json!(iso),
        other => panic!("no fresh time for {other}'s sample"),
    }
    sample
}

/// The headers the vendor sends with `body`, signed its way.
fn signed_by_vendor(app: &TestApp, preset: &Preset, workflow: &str, secret: &str, body: &str) -> Vec<(String, String)> {
    let now = chrono::Utc::now();
    let h = |k: &str, v: String| (k.to_owned(), v);
    match preset.vendor.as_str() {
        "Stripe" => {
            let t = now.timestamp();
            let v1 = hex::encode(mac(secret, &[format!("{t}.").as_bytes(), body.as_bytes()]));
            vec![h("stripe-signature", format!("t={t},v1={v1}"))]
        }
        "HubSpot" => {
            let ms = now.timestamp_millis().to_string();
            let url = format!("{}/hooks/{DEMO}/{workflow}", app.settings.public_origin());
            let sig = B64.encode(mac(secret, &[b"POST", url.as_bytes(), body.as_bytes(), ms.as_bytes()]));
            vec![h("x-hubspot-signature-v3", sig), h("x-hubspot-request-timestamp", ms)]
        }
        "Typeform" => vec![h("typeform-signature", format!("sha256={}", B64.encode(mac(secret, &[body.as_bytes()]))))],
        "Zendesk" => {
            let ts = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            vec![
                h("x-zendesk-webhook-signature", B64.encode(mac(secret, &[ts.as_bytes(), body.as_bytes()]))),
                h("x-zendesk-webhook-signature-timestamp", ts),
                h("x-zendesk-webhook-invocation-id", uuid::Uuid::new_v4().to_string()),
            ]
        }
        "Shopify" => vec![
            h("x-shopify-hmac-sha256", B64.encode(mac(secret, &[body.as_bytes()]))),
            h("x-shopify-webhook-id", uuid::Uuid::new_v4().to_string()),
            h("x-shopify-topic", "orders/create".into()),
        ],
        other => panic!("no signer for {other}"),
    }
}

async fn deliver(app: &TestApp, workflow: &str, body: &str, headers: &[(String, String)]) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{}/hooks/{DEMO}/{workflow}", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

/// Where each preset puts the vendor's key facts: (record field, the sample's value there).
fn expected(preset: &Preset, sample: &Value) -> Vec<(&'static str, Value)> {
    match preset.vendor.as_str() {
        "Stripe" => vec![
            ("invoice_id", sample["data"]["object"]["number"].clone()),
            ("customer.email", sample["data"]["object"]["customer_email"].clone()),
            ("amount_due.currency", json!("USD")),
            ("amount_due.minor_units", sample["data"]["object"]["amount_due"].clone()),
        ],
        "HubSpot" => vec![
            ("companyName", json!("HubSpot")),
            ("primaryContact.name", json!("Codey Huang")),
            ("primaryContact.email", sample["properties"]["email"]["value"].clone()),
            ("lifecycleStage", json!("mql")),
        ],
        "Typeform" => vec![
            ("companyName", json!("Lorem Ipsum Ltd")),
            ("primaryContact.email", json!("an_account@example.com")),
            ("primaryContact.phone", json!("+109876543210")),
        ],
        "Zendesk" => vec![
            ("ticket_id", json!("35436")),
            ("requester.email", json!("johnny@example.com")),
            ("channel", json!("web")),
            ("priority", json!("urgent")),
        ],
        "Shopify" => vec![
            ("companyName", json!("Shipping Company")),
            ("primaryContact.name", json!("John Smith")),
            ("primaryContact.email", json!("jon@example.com")),
            ("lifecycleStage", json!("customer")),
            ("annual_contract_value", json!(403.0)),
        ],
        other => panic!("nothing expected of {other}"),
    }
}

fn at<'a>(record: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(record, |v, k| &v[k])
}

#[tokio::test]
async fn every_presets_vendor_sample_signed_the_vendors_way_starts_a_run_with_the_mapped_record() {
    let app = TestApp::spawn_with_worker().await;
    for preset in engine::mapping::presets() {
        let (workflow, secret) = workflow_for(&app, preset).await;
        let sample = fresh_sample(preset);
        let body = sample.to_string();
        let res = deliver(&app, &workflow, &body, &signed_by_vendor(&app, preset, &workflow, &secret, &body)).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{}: {}", preset.name, res.text().await.unwrap());
        let run_id: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed", "{}", preset.name);
        let record: Value = app
            .demo_value(
                "SELECT e.payload FROM events e JOIN runs r ON r.event_id = e.id WHERE r.id = $1",
                vec![run_id.into()],
            )
            .await
            .unwrap();
        for (field, value) in expected(preset, &sample) {
            assert_eq!(at(&record, field), &value, "{}: {field} in {record}", preset.name);
        }
        // The vendor's payload is kept as it came, for the run's source event.
        let raw: Value = app
            .demo_value(
                "SELECT e.raw FROM events e JOIN runs r ON r.event_id = e.id WHERE r.id = $1",
                vec![run_id.into()],
            )
            .await
            .unwrap();
        assert_eq!(raw, sample, "{}", preset.name);
    }
}

#[tokio::test]
async fn a_payload_the_preset_cannot_map_is_refused_with_the_reason_and_kept_in_the_exceptions_report() {
    let app = TestApp::spawn().await;
    let stripe = engine::mapping::preset("stripe-invoice-payment-failed").unwrap();
    let (workflow, secret) = workflow_for(&app, stripe).await;

    // Another Stripe event than the one the trigger maps.
    let mut other = fresh_sample(stripe);
    other["type"] = json!("customer.created");
    other["id"] = json!("evt_other");
    let body = other.to_string();
    let res = deliver(&app, &workflow, &body, &signed_by_vendor(&app, stripe, &workflow, &secret, &body)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["fields"][0]["field"], "type", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("'customer.created'"), "{refused}");

    // An invoice without the customer's email: the reason says where the preset looked.
    let mut no_email = fresh_sample(stripe);
    no_email["data"]["object"].as_object_mut().unwrap().remove("customer_email");
    no_email["data"]["object"]["customer_name"] = json!("Jenny Rosen");
    no_email["id"] = json!("evt_no_email");
    let body = no_email.to_string();
    let res = deliver(&app, &workflow, &body, &signed_by_vendor(&app, stripe, &workflow, &secret, &body)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = res.json().await.unwrap();
    let email = refused["fields"].as_array().unwrap().iter().find(|f| f["field"] == "customer.email").unwrap().clone();
    assert!(email["message"].as_str().unwrap().contains("`data.object.customer_email`"), "{refused}");

    let kept: i64 = app
        .demo_value("SELECT count(*) FROM ingest_exceptions WHERE workflow_name = $1", vec![workflow.clone().into()])
        .await
        .unwrap();
    assert_eq!(kept, 2, "both refusals are in the exceptions report");
    let reasons: String = app
        .demo_value(
            "SELECT string_agg(violations::text, ' ') FROM ingest_exceptions WHERE workflow_name = $1",
            vec![workflow.clone().into()],
        )
        .await
        .unwrap();
    assert!(reasons.contains("customer.created") && reasons.contains("data.object.customer_email"), "{reasons}");
    let runs: i64 =
        app.demo_value("SELECT count(*) FROM runs WHERE workflow_name = $1", vec![workflow.into()]).await.unwrap();
    assert_eq!(runs, 0);
}

#[tokio::test]
async fn an_editor_sets_a_trigger_up_from_its_page_as_a_new_draft_and_others_are_refused() {
    let app = TestApp::spawn().await;
    let set_up = |scheme: &'static str, preset: &'static str, header: &'static str| {
        [
            ("slug", DEMO),
            ("name", LEAD_WORKFLOW),
            ("scheme", scheme),
            ("preset", preset),
            ("header", header),
            ("username", ""),
        ]
    };
    let versions = || async {
        app.demo_value::<i64>(
            "SELECT count(*) FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id WHERE w.name = $1",
            vec![LEAD_WORKFLOW.into()],
        )
        .await
        .unwrap()
    };
    let before = versions().await;
    let engineer = app.demo_member(Role::Engineer).await;
    let res = engineer.call("set_up_trigger", &set_up("typeform", "typeform-form-response", "")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let number: i32 = res.json().await.unwrap();
    let member = app.demo_current_member(Role::Engineer).await;
    let yaml = store::workflows::version_yaml(&app.db, &member, LEAD_WORKFLOW, number).await.unwrap();
    let contract = engine::workflow::WorkflowContract::structure(&yaml).unwrap();
    assert_eq!(contract.trigger.preset.as_deref(), Some("typeform-form-response"));
    assert_eq!(contract.trigger.signature().scheme, engine::sender_proof::Scheme::Typeform);
    assert_eq!(contract.steps.len(), 4, "the rest of the contract is as written: {yaml}");
    let live: Option<i32> =
        app.demo_value("SELECT live_version FROM workflows WHERE name = $1", vec![LEAD_WORKFLOW.into()]).await.unwrap();
    assert_ne!(live, Some(number), "a draft until someone publishes it");

    // A preset that makes another kind of record than the trigger's, and a scheme missing its header.
    let wrong =
        invalid_fields(engineer.call("set_up_trigger", &set_up("stripe", "stripe-invoice-payment-failed", "")).await)
            .await;
    assert_eq!(wrong[0].0, "preset");
    assert!(wrong[0].1.contains("makes invoice records"), "{wrong:?}");
    let headerless = invalid_fields(engineer.call("set_up_trigger", &set_up("hmac_sha256", "", "")).await).await;
    assert_eq!(headerless[0].0, "header");
    let custom = engineer.call("set_up_trigger", &set_up("hmac_sha256", "", "X-Form-Signature")).await;
    assert_eq!(custom.status(), StatusCode::OK);

    // A reviewer, and the owner of another business, may not.
    let reviewer = app.demo_member(Role::Reviewer).await;
    assert_eq!(reviewer.call("set_up_trigger", &set_up("basic_auth", "", "")).await.status(), StatusCode::FORBIDDEN);
    let outsider = app.client();
    outsider.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.example", "copper kettle harbor 42").await;
    assert_eq!(outsider.call("set_up_trigger", &set_up("svix", "", "")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(versions().await, before + 2, "only the two accepted set-ups made versions");
}

#[tokio::test]
async fn an_editor_adds_replaces_and_removes_a_mapping_row_of_the_trigger_each_as_a_new_draft() {
    let app = TestApp::spawn().await;
    let stripe = engine::mapping::preset("stripe-invoice-payment-failed").unwrap();
    let (workflow, _) = workflow_for(&app, stripe).await;
    let engineer = app.demo_member(Role::Engineer).await;
    let row = |field: &'static str, expression: &'static str| {
        [
            ("slug", DEMO.to_string()),
            ("name", workflow.clone()),
            ("field", field.into()),
            ("expression", expression.into()),
        ]
    };
    let call = |form: [(&'static str, String); 4]| {
        let engineer = &engineer;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            engineer.call("set_mapping_row", &form).await
        }
    };
    let trigger_of = |number: i32| {
        let (app, workflow) = (&app, workflow.clone());
        async move {
            let member = app.demo_current_member(Role::Engineer).await;
            let yaml = store::workflows::version_yaml(&app.db, &member, &workflow, number).await.unwrap();
            engine::workflow::WorkflowContract::structure(&yaml).unwrap().trigger
        }
    };
    let res = call(row("reminders_sent", "0")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let n: i32 = res.json().await.unwrap();
    let trigger = trigger_of(n).await;
    assert_eq!(trigger.mapping.get("reminders_sent").map(String::as_str), Some("0"));
    assert_eq!(trigger.preset.as_deref(), Some(stripe.name.as_str()), "the preset stays");
    assert_eq!(trigger.mapping().fields["reminders_sent"], "0", "the own row replaces the preset's");

    let bad = invalid_fields(call(row("due_date", "created |")).await).await;
    assert_eq!(bad[0].0, "expression");
    let bad = invalid_fields(call(row("due..date", "created")).await).await;
    assert_eq!(bad[0].0, "field");

    let res = call(row("reminders_sent", "")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let removed = trigger_of(res.json().await.unwrap()).await;
    assert!(removed.mapping.is_empty());
    assert_eq!(removed.mapping().fields["reminders_sent"], "data.object.attempt_count", "the preset's row again");

    let reviewer = app.demo_member(Role::Reviewer).await;
    let form: Vec<(&str, &str)> = vec![("slug", DEMO), ("name", &workflow), ("field", "a"), ("expression", "b")];
    assert_eq!(reviewer.call("set_mapping_row", &form).await.status(), StatusCode::FORBIDDEN);
}
