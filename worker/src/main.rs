use tracing_subscriber::{fmt, prelude::*, EnvFilter};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().json().with_current_span(true).flatten_event(true))
        .init();
    let settings = match store::config::Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("steward-worker: {e}");
            std::process::exit(2);
        }
    };
    store::measure::name_businesses(settings.metrics.tenant_labels);
    if let Some(bind) = &settings.metrics.worker_bind {
        if let Err(e) = store::measure::serve(bind) {
            eprintln!("steward-worker: {e}");
            std::process::exit(2);
        }
    }
    worker::run(settings, worker::shutdown_signal()).await
}
