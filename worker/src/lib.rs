//! Steward's background worker. apalis delivers jobs from Redis; the work
//! itself lives in one module per job kind: `executor` (where runs
//! execute), `email`, the scheduled jobs (`stale_reviews`, `cost_watch`,
//! `scorecards`, on the `schedule`) and the `sweeper` that recovers runs
//! whose job was lost. Every job shares one `Context`.

pub mod answers;
pub mod config_cache;
pub mod context;
pub mod cost_watch;
pub mod email;
pub mod executor;
pub mod heartbeat;
pub mod housekeeping;
pub mod lease;
pub mod polling;
pub mod replay;
pub mod review_mail;
pub mod schedule;
pub mod scorecards;
pub mod slack;
pub mod stale_reviews;
pub mod stall_watch;
pub mod supervisor;
pub mod sweeper;

use apalis::prelude::*;
use futures::{future::LocalBoxFuture, stream::FuturesUnordered, FutureExt, StreamExt};
use heartbeat::Process;
use std::{future::Future, sync::Arc, time::Duration};
use store::{
    config::Settings,
    jobs::{EmailJob, ReplayJob, RunJob},
};
use supervisor::{supervise, Restarts};
use tokio::sync::watch;

/// Resolves once `stop` turns true: the signal apalis workers stop on.
/// A consumer looks for jobs every `first_ms` while they come; with nothing
/// to take it asks Redis less and less often, down to every `most_ms` (so an
/// idle worker costs next to no CPU); the first job it finds brings it back
/// to its quick pace.
fn idle_polling(first_ms: u64, most_ms: u64) -> polling::IdlePolling {
    polling::IdlePolling::new(Duration::from_millis(first_ms), Duration::from_millis(most_ms))
}

async fn stopped(mut stop: watch::Receiver<bool>) -> Result<(), std::io::Error> {
    let _ = stop.wait_for(|s| *s).await;
    Ok(())
}

/// Runs every queue's consumer (each supervised), the sweeper and the
/// heartbeat until `shutdown` resolves, then stops fetching, finishes the
/// jobs in flight and returns. Returns an error, after stopping the rest,
/// when a consumer cannot be kept running: the process should exit non-zero
/// and be started again by whatever runs it.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let cx = context::Context::connect(&settings).await?;
    let (db, redis, consumers) = (cx.db.clone(), cx.redis.clone(), cx.consumers.clone());
    let process = cx.owner.trim_start_matches("worker-").to_owned();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let restarts = Restarts::new(settings.runs.worker_restarts);
    let prefix = settings.redis_prefix.clone();
    let tick = settings.runs.review_check_seconds;

    // A unique name per process and start: apalis refuses a name that heart-beat recently.
    let email_consumer = {
        let (redis, prefix, stop, cx, process) =
            (redis.clone(), prefix.clone(), stop_rx.clone(), cx.clone(), process.clone());
        move |attempt: u32| {
            WorkerBuilder::new(format!("steward-email-{process}-{attempt}"))
                .backend(
                    store::jobs::storage::<EmailJob>(redis.clone(), &prefix)
                        .poll_with_strategy(idle_polling(200, 1000)),
                )
                .data(cx.clone())
                .concurrency(4)
                .retry(email::retry_policy())
                .catch_panic()
                .parallelize(tokio::spawn)
                .build(email::send_email)
                .run_until(stopped(stop.clone()))
        }
    };
    let run_consumer = {
        let (redis, prefix, stop, cx, process) =
            (redis.clone(), prefix.clone(), stop_rx.clone(), cx.clone(), process.clone());
        let concurrency = settings.runs.concurrency.max(1);
        move |attempt: u32| {
            WorkerBuilder::new(format!("steward-runs-{process}-{attempt}"))
                .backend(
                    // A run is what a business waits on: even a quiet worker looks four times a second.
                    // (A bigger fetch drained the benchmark 6-8% faster but holds apalis's heartbeat
                    // while fetched jobs wait for a slot: with slow steps, past the 30 s after which
                    // another worker takes this one's jobs back. Kept at the shared 4.)
                    store::jobs::storage::<RunJob>(redis.clone(), &prefix).poll_with_strategy(idle_polling(100, 250)),
                )
                .data(cx.clone())
                .concurrency(concurrency)
                .catch_panic()
                .parallelize(tokio::spawn)
                .build(executor::execute_run)
                .run_until(stopped(stop.clone()))
        }
    };
    // One replay at a time per worker: a replay is many runs' work, and runs come first.
    let replay_consumer = {
        let (redis, prefix, stop, cx, process) =
            (redis.clone(), prefix.clone(), stop_rx.clone(), cx.clone(), process.clone());
        move |attempt: u32| {
            WorkerBuilder::new(format!("steward-replays-{process}-{attempt}"))
                .backend(
                    store::jobs::storage::<ReplayJob>(redis.clone(), &prefix)
                        .poll_with_strategy(idle_polling(200, 1000)),
                )
                .data(cx.clone())
                .concurrency(1)
                .catch_panic()
                .parallelize(tokio::spawn)
                .build(replay::execute_replay)
                .run_until(stopped(stop.clone()))
        }
    };
    // The scheduled jobs share one consumer entry in the heartbeat.
    let schedule_consumer = {
        let (stop, cx, process) = (stop_rx.clone(), cx.clone(), process.clone());
        move |attempt: u32| {
            let every = || apalis_cron::CronScheduler::new(schedule::every(tick));
            let reviews = WorkerBuilder::new(format!("steward-stale-reviews-{process}-{attempt}"))
                .backend(every())
                .data(cx.clone())
                .catch_panic()
                .build(stale_reviews::on_tick)
                .run_until(stopped(stop.clone()));
            let costs = WorkerBuilder::new(format!("steward-cost-watch-{process}-{attempt}"))
                .backend(every())
                .data(cx.clone())
                .catch_panic()
                .build(cost_watch::on_tick)
                .run_until(stopped(stop.clone()));
            let scorecards = WorkerBuilder::new(format!("steward-scorecards-{process}-{attempt}"))
                .backend(every())
                .data(cx.clone())
                .catch_panic()
                .build(scorecards::on_tick)
                .run_until(stopped(stop.clone()));
            let housekeeping = WorkerBuilder::new(format!("steward-housekeeping-{process}-{attempt}"))
                .backend(every())
                .data(cx.clone())
                .catch_panic()
                .build(housekeeping::on_tick)
                .run_until(stopped(stop.clone()));
            async move { futures::future::try_join4(reviews, costs, scorecards, housekeeping).await.map(|_| ()) }
        }
    };

    tracing::info!(
        email_queue = %store::jobs::email_queue_name(&prefix),
        run_queue = %store::jobs::run_queue_name(&prefix),
        "worker started"
    );
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested; finishing jobs in flight");
            let _ = stop_tx.send(true);
        });
    }
    let beating = tokio::spawn(heartbeat::run(
        db,
        Process::this(format!("worker-{process}")),
        consumers.clone(),
        Duration::from_secs(settings.runs.heartbeat_seconds.max(1)),
        stop_rx.clone(),
    ));
    let sweeper = tokio::spawn(sweeper::run(cx, stop_rx.clone()));

    let mut consumers_running: FuturesUnordered<LocalBoxFuture<'static, anyhow::Result<()>>> = FuturesUnordered::new();
    {
        let (c, stop) = (consumers.email.clone(), stop_rx.clone());
        consumers_running.push(async move { supervise(&c, restarts, stop, email_consumer).await }.boxed_local());
        let (c, stop) = (consumers.runs.clone(), stop_rx.clone());
        consumers_running.push(async move { supervise(&c, restarts, stop, run_consumer).await }.boxed_local());
        let (c, stop) = (consumers.replays.clone(), stop_rx.clone());
        consumers_running.push(async move { supervise(&c, restarts, stop, replay_consumer).await }.boxed_local());
        let (c, stop) = (consumers.schedule.clone(), stop_rx.clone());
        consumers_running.push(async move { supervise(&c, restarts, stop, schedule_consumer).await }.boxed_local());
    }
    let mut first_error = None;
    while let Some(result) = consumers_running.next().await {
        if let Err(e) = result {
            // One consumer gave up: stop the others cleanly, then exit with its error.
            let _ = stop_tx.send(true);
            first_error.get_or_insert(e);
        }
    }
    let _ = sweeper.await;
    let _ = beating.await;
    match first_error {
        Some(e) => {
            tracing::error!(error = %e, "worker stopped: a queue consumer could not be kept running");
            Err(e)
        }
        None => {
            tracing::info!("worker stopped");
            Ok(())
        }
    }
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
