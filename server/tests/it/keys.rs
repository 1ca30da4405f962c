//! Key rotation: secrets sealed under one encryption key are re-sealed under
//! a new one by `key_rotation::rotate` while both keys are configured, after
//! which the old key (and APP_SECRET) can go and every secret still reads:
//! named secrets, provider keys, webhook signing secrets, Slack credentials
//! and two-factor secrets. Before the rotation, the new key alone reads nothing.

use crate::support::*;
use engine::Role;
use sea_orm::{ConnectionTrait, FromQueryResult};
use store::{config::Settings, keyring::Keyring};

/// Every sealed column Steward keeps, as (schema-qualified when public) table, nonce, ciphertext.
const SEALED: &[(&str, &str, &str)] = &[
    ("secrets", "nonce", "ciphertext"),
    ("webhook_secrets", "nonce", "ciphertext"),
    ("models", "key_nonce", "key_ciphertext"),
    ("slack_connection", "bot_token_nonce", "bot_token"),
    ("slack_connection", "signing_secret_nonce", "signing_secret"),
    ("public.users", "totp_nonce", "totp_secret"),
];

#[derive(FromQueryResult)]
struct Sealed {
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// How many sealed values exist, and how many `settings` can open.
async fn readable(app: &TestApp, settings: &Settings) -> (usize, usize) {
    let (mut total, mut open) = (0, 0);
    for (table, nonce, ciphertext) in SEALED {
        let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
        let rows = Sealed::find_by_statement(store::db::stmt(
            &format!("SELECT {nonce} AS nonce, {ciphertext} AS ciphertext FROM {table} WHERE {ciphertext} IS NOT NULL"),
            vec![],
        ))
        .all(&txn)
        .await
        .unwrap();
        txn.commit().await.unwrap();
        total += rows.len();
        open += rows.iter().filter(|r| settings.keyring.open(&r.nonce, &r.ciphertext).is_some()).count();
    }
    (total, open)
}

#[tokio::test]
async fn rotating_the_encryption_key_keeps_every_secret_readable_and_lets_the_old_key_go() {
    let app = TestApp::spawn().await;
    let owner = app.demo_current_member(Role::Owner).await;
    // One secret of each kind, sealed under the installation's current key.
    store::secrets::set(&app.db, &app.settings, &owner, "crm_key", "sk-crm-123").await.unwrap().unwrap();
    let model = store::models::add(
        &app.db,
        &app.settings,
        &owner,
        &store::models::NewModel {
            provider: "openai_compatible".into(),
            label: "Hosted".into(),
            base_url: "https://llm.example/v1".into(),
            model: "m".into(),
            input_price: "0.1".into(),
            output_price: "0.2".into(),
            api_key: "sk-model-456".into(),
        },
    )
    .await
    .unwrap();
    let (nonce, token) = store::secrets::encrypt(&app.settings, "xoxb-1");
    let (secret_nonce, secret) = store::secrets::encrypt(&app.settings, "slack-signing");
    let txn = owner.tenant.begin(&app.db).await.unwrap();
    txn.execute_raw(store::db::stmt(
        "INSERT INTO slack_connection (team, bot_token_nonce, bot_token, signing_secret_nonce, signing_secret, connected_by)
         VALUES ('Acme', $1, $2, $3, $4, 'owner')",
        vec![nonce.into(), token.into(), secret_nonce.into(), secret.into()],
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let two_factor = store::two_factor::start(&app.db, &app.settings, owner.user_id).await.unwrap();

    let new_key = Keyring::generate_entry("2026-12");
    let mut both = app.settings.clone();
    both.keyring = Keyring::parse(&new_key, &app.settings.app_secret).unwrap();
    // After the rotation the old key and even APP_SECRET can change.
    let mut only_new = app.settings.clone();
    only_new.app_secret = b"a new signing secret, also at least 32 bytes".to_vec();
    only_new.keyring = Keyring::parse(&new_key, &only_new.app_secret).unwrap();

    let (total, open) = readable(&app, &only_new).await;
    assert!(total >= 6, "a secret of every kind is stored: {total}");
    assert_eq!(open, 0, "the new key alone opens nothing before the rotation");
    assert_eq!(readable(&app, &both).await, (total, total), "with both keys, everything reads");

    let report = store::key_rotation::rotate(&app.db, &both).await.unwrap();
    assert!(report.resealed >= total, "{report:?}");
    assert!(report.unreadable.is_empty(), "{report:?}");
    assert_eq!(readable(&app, &only_new).await, (total, total), "every secret reads with the new key alone");

    // And through the code that uses them.
    assert_eq!(
        store::secrets::value_for_step(&app.db, &only_new, &owner.tenant, "crm_key").await.unwrap().unwrap(),
        "sk-crm-123"
    );
    assert_eq!(
        store::models::provider_key(&app.db, &only_new, &owner, model).await.unwrap().as_deref(),
        Some("sk-model-456")
    );
    let secret = two_factor.secret.replace(' ', "");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let codes = store::two_factor::confirm(
        &app.db,
        &only_new,
        owner.user_id,
        &store::two_factor::code_at(&secret, now).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(codes.len(), 10);

    // A second rotation has nothing left to do; the rotation is in the audit log.
    let again = store::key_rotation::rotate(&app.db, &both).await.unwrap();
    assert_eq!(again.resealed, 0, "{again:?}");
    let rotated: i64 = app
        .demo_value("SELECT count(*) AS value FROM audit_events WHERE action = 'keys.rotated'", vec![])
        .await
        .unwrap();
    assert_eq!(rotated, 1);
}
