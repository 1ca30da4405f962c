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

/// Runs the documented offline check on an export file.
fn offline_check(path: &std::path::Path) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/verify-audit-export.py");
    let out = Command::new("python3").arg(script).arg(path).output().expect("python3 runs the offline check");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn the_audit_page_exports_a_log_that_verifies_offline_and_anchors_catch_a_rewrite() {
    let app = TestApp::spawn().await;
    let ops = app.demo_member(engine::Role::Operations).await;

    // The JSON-lines export carries the chain; the documented script checks it.
    let res = ops.get("/t/acme-plumbing/audit.jsonl").await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/jsonl"));
    let export = res.text().await.unwrap();
    let lines: Vec<serde_json::Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["action"] == "sign_in.succeeded" && l["subject"] == "ops@acme-plumbing.test"));
    assert_eq!(lines.last().unwrap()["action"], "audit.exported", "the export holds its own record");
    let file = std::env::temp_dir().join(format!("steward-audit-{}.jsonl", uuid::Uuid::new_v4()));
    std::fs::write(&file, &export).unwrap();
    let (ok, said) = offline_check(&file);
    assert!(ok && said.contains(&format!("{} events", lines.len())), "{said}");
    // The head the script prints is the one `steward audit verify` prints.
    let (_, cli) = verify_command(&app);
    let head = said.trim().rsplit(' ').next().unwrap();
    assert!(cli.contains(head), "{cli} / {said}");

    // An export edited after download fails the check at that event.
    let edited = export.replacen("sign_in.succeeded", "sign_in.failed", 1);
    std::fs::write(&file, &edited).unwrap();
    let (ok, said) = offline_check(&file);
    assert!(!ok && said.contains("the action shown is not the action that was hashed"), "{said}");
    // So does one with an event left out.
    let without: Vec<&str> = export.lines().enumerate().filter(|(n, _)| *n != 1).map(|(_, l)| l).collect();
    std::fs::write(&file, without.join("\n")).unwrap();
    let (ok, said) = offline_check(&file);
    assert!(!ok && said.contains("missing"), "{said}");
    let _ = std::fs::remove_file(&file);

    // Filters by area and day; bad days are refused at the field.
    let today = chrono::Utc::now().date_naive().to_string();
    let res = ops.get(&format!("/t/acme-plumbing/changes.csv?area=sign-in&since={today}&until={today}")).await;
    let csv = res.text().await.unwrap();
    assert!(csv.lines().skip(1).all(|l| l.contains(",sign-in,")), "{csv}");
    assert!(csv.contains("ops@acme-plumbing.test"));
    let res = ops.get("/t/acme-plumbing/changes.csv?since=yesterday").await;
    assert_eq!(res.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("since"));
    // Every export is itself audited (the refused one exported nothing).
    let exported: i64 = app
        .demo_value("SELECT count(*) AS value FROM audit_events WHERE action = 'audit.exported'", vec![])
        .await
        .unwrap();
    assert_eq!(exported, 2);
    // Engineers, and other businesses, do not read it.
    let engineer = app.demo_member(engine::Role::Engineer).await;
    assert_eq!(engineer.get("/t/acme-plumbing/audit.jsonl").await.status(), reqwest::StatusCode::FORBIDDEN);
    let rival = app.client();
    rival.sign_up("Rival Audit", "rival-audit", "boss@rival-audit.example", "copper kettle harbor 42").await;
    assert_eq!(rival.get("/t/acme-plumbing/audit.jsonl").await.status(), reqwest::StatusCode::FORBIDDEN);

    // The daily anchor records the head once a day, outside the business's schema.
    let owner = app.demo_current_member(engine::Role::Owner).await;
    assert!(store::audit::anchor(&app.db, &owner.tenant).await.unwrap());
    assert!(!store::audit::anchor(&app.db, &owner.tenant).await.unwrap(), "once a day");
    let verdict = ops.call("verify_audit_chain", &[("slug", DEMO)]).await.json::<serde_json::Value>().await.unwrap();
    assert_eq!(verdict["intact"], true, "{verdict}");
    // Removing the newest events leaves a chain that holds together; the anchor does not match it.
    let last: i64 = app.demo_value("SELECT max(seq) AS value FROM audit_events", vec![]).await.unwrap();
    let txn = owner.tenant.begin(&app.db).await.unwrap();
    txn.execute_unprepared("SET LOCAL session_replication_role = replica").await.unwrap();
    txn.execute_raw(store::db::stmt("DELETE FROM audit_events WHERE seq >= $1", vec![(last - 1).into()]))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let ChainVerdict::Broken { reason, .. } = store::audit::verify(&app.db, &owner.tenant).await.unwrap() else {
        panic!("the anchor catches removed newest events")
    };
    assert!(reason.contains("anchored"), "{reason}");
    let verdict = ops.call("verify_audit_chain", &[("slug", DEMO)]).await.json::<serde_json::Value>().await.unwrap();
    assert_eq!(verdict["intact"], false, "{verdict}");
    assert!(verdict["message"].as_str().unwrap().contains("broken"), "{verdict}");
}
