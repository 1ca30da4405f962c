//! Logs and traces of the server: see `store::telemetry`.

pub use store::telemetry::Telemetry;

/// Installs logging (and OTLP traces when configured) as the `steward` service.
pub fn init(default_filter: &str) -> Telemetry {
    store::telemetry::init("steward", default_filter)
}
