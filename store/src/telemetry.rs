//! Logs and traces, for the server and the worker alike.
//!
//! Logs: JSON lines through `tracing`, one per event, each carrying the
//! fields of its spans (so every line of a request has its `request_id`,
//! every line of a run its `run_id`).
//!
//! Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the same spans — a request,
//! a run and each of its steps, an email — also go to that OpenTelemetry
//! collector over OTLP/HTTP (protobuf), in batches, through
//! `tracing-opentelemetry` and `opentelemetry-otlp`. The standard `OTEL_*`
//! variables tune it (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_BSP_SCHEDULE_DELAY`, ...); `STEWARD_TRACE_FILTER` chooses what is
//! traced, apart from `RUST_LOG` for the logs. Unset: nothing is exported
//! and nothing is spent on it.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// What is traced unless `STEWARD_TRACE_FILTER` says otherwise: Steward's
/// spans (requests, runs, steps, emails) and their events, not the driver's chatter.
pub const TRACE_FILTER: &str = "info,sqlx=warn,sea_orm=warn,h2=warn,hyper=warn,reqwest=warn";

/// Keeps the trace exporter alive; dropping it sends what is still batched.
#[must_use = "traces are flushed when this is dropped: keep it until the process ends"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("could not send the last traces: {e}");
            }
        }
    }
}

fn endpoint_configured() -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// The provider that batches spans to the configured collector, as `service`
/// unless `OTEL_SERVICE_NAME` names it otherwise.
fn provider(service: &'static str) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(service);
    }
    Ok(SdkTracerProvider::builder().with_resource(resource.build()).with_batch_exporter(exporter).build())
}

/// Installs logging (and tracing, when configured) for this process.
/// `service` names it in traces (`steward`, `steward-worker`). A second call
/// (tests start several servers in one process) keeps the first set-up.
pub fn init(service: &'static str, default_filter: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json =
        fmt::layer().json().with_current_span(true).with_span_list(false).flatten_event(true).with_filter(filter);
    let provider = if endpoint_configured() {
        match provider(service) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("{service}: traces are off, the OTLP exporter could not be built: {e}");
                None
            }
        }
    } else {
        None
    };
    // Traces have a filter of their own: quiet logs (`RUST_LOG=warn`) still trace every request and run.
    let traces = provider.as_ref().map(|p| {
        let filter = std::env::var("STEWARD_TRACE_FILTER").unwrap_or_else(|_| TRACE_FILTER.to_owned());
        tracing_opentelemetry::layer().with_tracer(p.tracer(service)).with_filter(EnvFilter::new(filter))
    });
    let _ = tracing_subscriber::registry().with(json).with(traces).try_init();
    Telemetry { provider }
}
