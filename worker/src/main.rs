#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Kept to the end of main: dropping it sends the traces still batched.
    let _telemetry = store::telemetry::init("steward-worker", "info");
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
