//! The audit log an accountant can verify: the application's own
//! connection cannot change or remove an event (the database refuses), the
//! chain of hashes holds over the demo's history and over new events, and a
//! row altered behind the application's back (a superuser with triggers
//! off) is found by `steward audit verify` at that very event.

use crate::support::*;
use sea_orm::ConnectionTrait;
use std::process::Command;
use store::audit::ChainVerdict;

fn verify_command(app: &TestApp) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["audit", "verify", "--business", DEMO])
        .env("DATABASE_URL", &app.settings.database_url)
        .env("RUST_LOG", "warn")
        .env_remove("STEWARD_ENV")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_its_hash_chain_finds_a_tampered_event() {
    let app = TestApp::spawn().await;
    let owner = app.demo_current_member(engine::Role::Owner).await;
    // New events chain on the seeded history.
    let txn = owner.tenant.begin(&app.db).await.unwrap();
    for n in 0..3 {
        store::audit::record(&txn, Some(&owner), "test.event", &format!("subject {n}"), serde_json::json!({ "n": n }))
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
    let ChainVerdict::Intact { events, head } = store::audit::verify(&app.db, &owner.tenant).await.unwrap() else {
        panic!("the chain holds")
    };
    assert!(events > 3, "{events}");
    let (ok, said) = verify_command(&app);
    assert!(ok && said.contains(&format!("{events} events, head {head}")), "{said}");

    // The application's connection cannot change, remove or empty the log.
    for sql in [
        "UPDATE audit_events SET subject = 'nothing happened' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 2",
        "TRUNCATE audit_events",
    ] {
        let txn = owner.tenant.begin(&app.db).await.unwrap();
        let err = txn.execute_unprepared(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        txn.rollback().await.unwrap();
    }

    // A superuser who turns triggers off and edits an event is found at that event.
    let original: String = app.demo_value("SELECT detail::text FROM audit_events WHERE seq = 3", vec![]).await.unwrap();
    let behind_the_back = |sql: &'static str, values: Vec<sea_orm::Value>| {
        let (db, tenant) = (app.db.clone(), owner.tenant.clone());
        async move {
            let txn = tenant.begin(&db).await.unwrap();
            txn.execute_unprepared("SET LOCAL session_replication_role = replica").await.unwrap();
            txn.execute_raw(store::db::stmt(sql, values)).await.unwrap();
            txn.commit().await.unwrap();
        }
    };
    behind_the_back("UPDATE audit_events SET detail = '{\"n\": 99}' WHERE seq = 3", vec![]).await;
    let id: i64 = app.demo_value("SELECT id FROM audit_events WHERE seq = 3", vec![]).await.unwrap();
    assert_eq!(
        store::audit::verify(&app.db, &owner.tenant).await.unwrap(),
        ChainVerdict::Broken {
            seq: 3,
            id,
            reason: "its content does not match its hash (the event was changed)".into()
        }
    );
    let (ok, said) = verify_command(&app);
    assert!(!ok && said.contains("broken at event 3"), "{said}");

    // Put back as it was, the event holds again: the hash is of the content.
    behind_the_back("UPDATE audit_events SET detail = $1::jsonb WHERE seq = 3", vec![original.into()]).await;
    assert!(matches!(store::audit::verify(&app.db, &owner.tenant).await.unwrap(), ChainVerdict::Intact { .. }));

    // Removing an event breaks the link of the one after it.
    behind_the_back("DELETE FROM audit_events WHERE seq = 2", vec![]).await;
    let ChainVerdict::Broken { seq, reason, .. } = store::audit::verify(&app.db, &owner.tenant).await.unwrap() else {
        panic!("a removed event is found")
    };
    assert_eq!(seq, 3);
    assert!(reason.contains("missing"), "{reason}");
}
