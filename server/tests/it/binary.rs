//! The shipped `steward` binary itself: it refuses unsafe production
//! settings, and its JSON logs carry request ids but never secrets.

use crate::support::{session_token, TestDatabase, DEMO, DEMO_PASSWORD};
use reqwest::StatusCode;
use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};

fn steward() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
    for var in ["APP_SECRET", "APP_SECRET_FILE", "STEWARD_ENV", "PUBLIC_URL", "DATABASE_URL", "STEWARD_BIND"] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn production_mode_refuses_to_start_with_the_development_secret_and_says_why() {
    let out = steward()
        .arg("serve")
        .env("STEWARD_ENV", "production")
        .env("PUBLIC_URL", "https://steward.example")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to start in production") && stderr.contains("APP_SECRET"), "{stderr}");

    let out = steward()
        .arg("serve")
        .env("STEWARD_ENV", "production")
        .env("APP_SECRET", "0123456789abcdef0123456789abcdef-long-enough")
        .env("PUBLIC_URL", "http://steward.example")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"));

    // Stored secrets need keys of their own, not ones derived from the signing secret.
    let out = steward()
        .arg("serve")
        .env("STEWARD_ENV", "production")
        .env("APP_SECRET", "0123456789abcdef0123456789abcdef-long-enough")
        .env("PUBLIC_URL", "https://steward.example")
        .env_remove("STEWARD_ENCRYPTION_KEYS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("STEWARD_ENCRYPTION_KEYS"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn logs_are_json_lines_with_request_ids_and_no_passwords_or_tokens() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database = TestDatabase::create().await;
    let db = store::db::connect(&database.url, 2).await.unwrap();
    store::seed::seed_demo(&db, &store::config::Settings::for_development(String::new(), String::new())).await.unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = steward()
        .arg("serve")
        .env("DATABASE_URL", &database.url)
        .env("STEWARD_BIND", format!("127.0.0.1:{port}"))
        .env("PUBLIC_URL", &base)
        .env("STEWARD_REDIS_PREFIX", format!("steward_test_{}", uuid::Uuid::new_v4().simple()))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut ready = false;
    for _ in 0..100 {
        if http.get(format!("{base}/readyz")).send().await.map(|r| r.status() == StatusCode::OK).unwrap_or(false) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the server became ready");
    let signed_in = http
        .post(format!("{base}/api/sign_in"))
        .header("origin", &base)
        .header("accept", "application/json")
        .form(&[("slug", DEMO), ("email", "owner@acme-plumbing.test"), ("password", DEMO_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);
    let token = session_token(&signed_in).unwrap();
    let invite_path = "/invite/0123456789abcdef0123456789abcdef.deadbeefcafe";
    http.get(format!("{base}{invite_path}")).send().await.unwrap();
    http.get(format!("{base}/t/acme-plumbing"))
        .header("cookie", format!("steward_session={token}"))
        .send()
        .await
        .unwrap();

    child.kill().unwrap();
    let mut logs = String::new();
    child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    child.wait().unwrap();

    let request_lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request finished")
        .collect();
    assert!(request_lines.len() >= 4, "one line per request:\n{logs}");
    for line in &request_lines {
        assert!(line["span"]["request_id"].as_str().is_some_and(|id| id.len() == 32), "request id on {line}");
    }
    assert!(!logs.contains(DEMO_PASSWORD), "a password reached the logs");
    assert!(!logs.contains(&token), "a session token reached the logs");
    assert!(!logs.contains("deadbeefcafe"), "an invitation token reached the logs");
    assert!(logs.contains("/invite/[redacted]"));
}
