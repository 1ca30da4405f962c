//! Steward's background worker. apalis delivers jobs from Redis; the work
//! itself (sending email for now) lives in one module per job kind.

pub mod email;

use apalis::prelude::*;
use std::{future::Future, time::Duration};
use store::{config::Settings, jobs::EmailJob};

/// Runs every queue's worker until `shutdown` resolves, then stops fetching,
/// finishes the jobs in flight and returns the ones fetched but not started
/// to their queue.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let redis = redis::Client::open(settings.redis_url.as_str())?.get_connection_manager().await?;
    let mailer = email::Mailer::from_settings(&settings)?;
    let backend = store::jobs::email_storage(redis, &settings.redis_prefix).poll_with_interval(Duration::from_millis(200));
    // A unique name per process: apalis refuses a name that heart-beat recently.
    let name = format!("steward-email-{}", uuid::Uuid::new_v4().simple());
    let worker = WorkerBuilder::new(name)
        .backend(backend)
        .data(mailer)
        .concurrency(4)
        .retry(email::retry_policy())
        .catch_panic()
        .parallelize(tokio::spawn)
        .build(email::send_email);
    tracing::info!(queue = %store::jobs::email_queue_name(&settings.redis_prefix), "worker started");
    worker
        .run_until(async move {
            shutdown.await;
            tracing::info!("shutdown requested; finishing jobs in flight");
            Ok::<(), std::io::Error>(())
        })
        .await?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Keeps the type in the public API so callers can name the job.
pub type Job = EmailJob;
