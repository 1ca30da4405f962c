//! The worker binary on SIGTERM: it stops taking jobs, finishes the delivery
//! in flight, and exits cleanly.

use std::{
    io::Read,
    process::{Command, Stdio},
    time::Duration,
};
use store::jobs::{EmailJob, MailQueue};

fn worker_binary() -> std::path::PathBuf {
    // Built beside `steward` by scripts/test (`cargo build -p server -p worker`).
    std::path::Path::new(env!("CARGO_BIN_EXE_steward")).with_file_name("steward-worker")
}

#[tokio::test]
async fn sigterm_lets_the_email_in_flight_finish_before_the_worker_exits() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let slow = Duration::from_millis(1500);
    let (smtp_port, mailbox) = server::smtp_capture::start_with_delay("127.0.0.1:0", None, slow).await.unwrap();
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("steward_test_{}", uuid::Uuid::new_v4().simple());
    // The worker also runs the run engine, which needs its database.
    let database = crate::support::TestDatabase::create().await;
    let mut child = Command::new(worker_binary())
        .env("DATABASE_URL", &database.url)
        .env("REDIS_URL", &redis_url)
        .env("SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
        .env("STEWARD_REDIS_PREFIX", &prefix)
        .env("RUST_LOG", "info")
        .env_remove("STEWARD_ENV")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the steward-worker binary is built (scripts/test builds it)");

    let redis = redis::Client::open(redis_url.as_str()).unwrap().get_connection_manager().await.unwrap();
    let queue = MailQueue::new(redis, &prefix);
    let job = EmailJob {
        tenant_id: uuid::Uuid::nil(),
        to: "in-flight@example.com".into(),
        subject: "In flight".into(),
        text: "hello".into(),
        html: "<p>hello</p>".into(),
        attachments: Vec::new(),
        outbox_id: None,
    };
    queue.send(job).await.unwrap();
    // The capture server has the message but has not answered yet: the job is in flight.
    assert!(mailbox.wait_for("in-flight@example.com", Duration::from_secs(20)).await.is_some());
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());

    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut logs = String::new();
        child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
        (status, logs)
    });
    let (status, logs) = tokio::time::timeout(Duration::from_secs(30), status).await.unwrap().unwrap();
    assert!(status.success(), "the worker exits cleanly on SIGTERM:\n{logs}");
    let position = |needle: &str| logs.find(needle).unwrap_or_else(|| panic!("no '{needle}' in:\n{logs}"));
    assert!(position("shutdown requested") < position("email sent"), "the delivery finished after the signal");
    assert!(position("email sent") < position("worker stopped"));
}
