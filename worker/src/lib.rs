//! Steward's background worker. apalis delivers jobs from Redis; the work
//! itself lives in one module per job kind: `executor` (where runs
//! execute), `email`, the scheduled jobs (`stale_reviews`, `cost_watch`,
//! `scorecards`, on the `schedule`) and the `sweeper` that recovers runs
//! whose job was lost. Every job shares one `Context`.

pub mod context;
pub mod cost_watch;
pub mod email;
pub mod executor;
pub mod review_mail;
pub mod schedule;
pub mod scorecards;
pub mod stale_reviews;
pub mod sweeper;

use apalis::prelude::*;
use std::{future::Future, sync::Arc, time::Duration};
use store::{config::Settings, jobs::EmailJob};

/// Runs every queue's worker and the sweeper until `shutdown` resolves,
/// then stops fetching, finishes the jobs in flight and returns.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let redis = redis::Client::open(settings.redis_url.as_str())?.get_connection_manager().await?;
    let db = store::db::connect(&settings.database_url, (settings.runs.concurrency as u32 + 4).max(6)).await?;
    let mailer = email::Mailer::from_settings(&settings)?;
    let process = uuid::Uuid::new_v4().simple().to_string();
    let cx = context::Context {
        db,
        settings: Arc::new(settings.clone()),
        redis: redis.clone(),
        mail: store::jobs::MailQueue::new(redis.clone(), &settings.redis_prefix),
        runs: store::jobs::RunQueue::new(redis.clone(), &settings.redis_prefix),
        http: reqwest::Client::builder().user_agent("Steward/1").build()?,
        owner: format!("worker-{process}"),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
        Ok::<(), std::io::Error>(())
    };
    // A unique name per process: apalis refuses a name that heart-beat recently.
    let email_worker = WorkerBuilder::new(format!("steward-email-{process}"))
        .backend(
            store::jobs::storage::<EmailJob>(redis.clone(), &settings.redis_prefix)
                .poll_with_interval(Duration::from_millis(200)),
        )
        .data(mailer)
        .concurrency(4)
        .retry(email::retry_policy())
        .catch_panic()
        .parallelize(tokio::spawn)
        .build(email::send_email);
    let run_worker = WorkerBuilder::new(format!("steward-runs-{process}"))
        .backend(
            store::jobs::storage::<store::jobs::RunJob>(redis, &settings.redis_prefix)
                .poll_with_interval(Duration::from_millis(100)),
        )
        .data(cx.clone())
        .concurrency(settings.runs.concurrency.max(1))
        .catch_panic()
        .parallelize(tokio::spawn)
        .build(executor::execute_run);
    let review_worker = WorkerBuilder::new(format!("steward-stale-reviews-{process}"))
        .backend(apalis_cron::CronScheduler::new(schedule::every(settings.runs.review_check_seconds)))
        .data(cx.clone())
        .catch_panic()
        .build(stale_reviews::on_tick);
    let cost_worker = WorkerBuilder::new(format!("steward-cost-watch-{process}"))
        .backend(apalis_cron::CronScheduler::new(schedule::every(settings.runs.review_check_seconds)))
        .data(cx.clone())
        .catch_panic()
        .build(cost_watch::on_tick);
    let scorecard_worker = WorkerBuilder::new(format!("steward-scorecards-{process}"))
        .backend(apalis_cron::CronScheduler::new(schedule::every(settings.runs.review_check_seconds)))
        .data(cx.clone())
        .catch_panic()
        .build(scorecards::on_tick);
    tracing::info!(
        email_queue = %store::jobs::email_queue_name(&settings.redis_prefix),
        run_queue = %store::jobs::run_queue_name(&settings.redis_prefix),
        "worker started"
    );
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown requested; finishing jobs in flight");
        let _ = stop_tx.send(true);
    });
    let sweeper = tokio::spawn(sweeper::run(cx, stop_rx.clone()));
    let (mail, runs, reviews, costs, scorecards) = tokio::join!(
        email_worker.run_until(stopped(stop_rx.clone())),
        run_worker.run_until(stopped(stop_rx.clone())),
        review_worker.run_until(stopped(stop_rx.clone())),
        cost_worker.run_until(stopped(stop_rx.clone())),
        scorecard_worker.run_until(stopped(stop_rx))
    );
    let _ = sweeper.await;
    mail?;
    runs?;
    reviews?;
    costs?;
    scorecards?;
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
