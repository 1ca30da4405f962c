//! OpenTelemetry traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a server
//! process and a worker process send their spans to that collector over
//! OTLP/HTTP — the server the request that accepted an event, the worker
//! the run and each of its steps — each under its own service name. The
//! collector is an HTTP fake that keeps what it is sent (OTLP protobuf
//! carries names and attribute values as plain UTF-8, so they are looked
//! for in the bytes).

use crate::support::processes::{ServerProcess, WorkerProcess};
use crate::support::*;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Which process sent a batch: each names its service in every batch.
#[derive(Clone, Copy, PartialEq)]
enum Service {
    Server,
    Worker,
}

fn sent_by(body: &[u8]) -> Service {
    if contains(body, "steward-worker") {
        Service::Worker
    } else {
        Service::Server
    }
}

/// Waits (up to 30 s) until the batches one service sent hold every one of
/// `wanted` between them (a run's spans may be exported in more than one batch).
async fn wait_for_spans(collector: &MockServer, service: Service, wanted: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let batches = collector.received_requests().await.unwrap_or_default();
        let mine: Vec<&[u8]> = batches.iter().map(|b| b.body.as_slice()).filter(|b| sent_by(b) == service).collect();
        if wanted.iter().all(|w| mine.iter().any(|b| contains(b, w))) {
            return;
        }
        if std::time::Instant::now() > deadline {
            let seen: Vec<String> = batches
                .iter()
                .map(|b| {
                    String::from_utf8_lossy(&b.body).chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect()
                })
                .collect();
            panic!("the batches the collector received do not hold all of {wanted:?}: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn with_an_otlp_endpoint_the_server_and_the_worker_send_the_spans_of_a_request_and_a_run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let app = TestApp::spawn().await;
    let otlp = [("OTEL_EXPORTER_OTLP_ENDPOINT", collector.uri()), ("OTEL_BSP_SCHEDULE_DELAY", "200".to_string())];
    let otlp: Vec<(&str, &str)> = otlp.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = ServerProcess::start(&app.settings, &otlp).await;
    let _worker = WorkerProcess::start(&app.settings, &otlp);

    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run = send_lead_to(&server.base, &secret, &fresh_lead()).await;
    app.wait_for_run(run, &["completed", "waiting_for_review"]).await;

    // The server's request span, as the `steward` service, with the address it served.
    wait_for_spans(
        &collector,
        Service::Server,
        &["service.name", "steward", "request", &format!("/hooks/{DEMO}/{LEAD_WORKFLOW}")],
    )
    .await;
    // The worker's run and step spans, as `steward-worker`, carrying the run's id and the steps' names.
    wait_for_spans(&collector, Service::Worker, &["run", "step", &run.to_string(), "normalize", "summarize"]).await;
}
