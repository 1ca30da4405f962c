//! What this process consumed, per queue, and the heartbeat that writes it
//! to PostgreSQL every few seconds (`store::workers`), so `/readyz` and the
//! operations page can tell a quiet queue from a stopped consumer.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::workers::{self, Beat, ConsumerState, Queue};
use tokio::sync::watch;

/// One queue's consumption in this process.
#[derive(Clone)]
pub struct Consumption {
    queue: Queue,
    stats: Arc<Mutex<Stats>>,
}

/// A copy of what a `Consumption` counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub state: ConsumerState,
    pub consumed: i64,
    pub last_consumed_at: Option<DateTime<Utc>>,
    pub last_job: Option<String>,
    pub restarts: i32,
    pub last_error: Option<String>,
}

impl Consumption {
    pub fn new(queue: Queue) -> Self {
        let stats = Stats {
            state: ConsumerState::Consuming,
            consumed: 0,
            last_consumed_at: None,
            last_job: None,
            restarts: 0,
            last_error: None,
        };
        Consumption { queue, stats: Arc::new(Mutex::new(stats)) }
    }

    pub fn queue(&self) -> &'static str {
        self.queue.as_str()
    }

    fn update(&self, f: impl FnOnce(&mut Stats)) {
        // A poisoned lock only means a panic elsewhere while counting; the counts are still usable.
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut stats);
    }

    /// A job of the queue was taken and handled (whatever its outcome).
    pub fn consumed(&self, job: impl std::fmt::Display) {
        metrics::counter!(store::measure::JOBS, "queue" => self.queue.as_str()).increment(1);
        self.update(|s| {
            s.consumed += 1;
            s.last_consumed_at = Some(Utc::now());
            s.last_job = Some(job.to_string());
        });
    }

    /// A long job (a replay) is still being worked on: the queue is not stalled.
    pub fn working(&self, job: impl std::fmt::Display) {
        self.update(|s| {
            s.last_consumed_at = Some(Utc::now());
            s.last_job = Some(job.to_string());
        });
    }

    /// The consumer (re)started.
    pub fn running(&self) {
        self.update(|s| s.state = ConsumerState::Consuming);
    }

    /// The consumer stopped on an error and waits to be started again.
    pub fn failed(&self, error: &str) {
        metrics::counter!(store::measure::RESTARTS, "queue" => self.queue.as_str()).increment(1);
        self.update(|s| {
            s.state = ConsumerState::Restarting;
            s.restarts += 1;
            s.last_error = Some(error.chars().take(500).collect());
        });
    }

    pub fn stopped(&self) {
        self.update(|s| s.state = ConsumerState::Stopped);
    }

    pub fn snapshot(&self) -> Stats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The queues one worker process consumes.
#[derive(Clone)]
pub struct Consumers {
    pub runs: Consumption,
    pub email: Consumption,
    pub schedule: Consumption,
    pub replays: Consumption,
}

impl Default for Consumers {
    fn default() -> Self {
        Consumers {
            runs: Consumption::new(Queue::Runs),
            email: Consumption::new(Queue::Email),
            schedule: Consumption::new(Queue::Schedule),
            replays: Consumption::new(Queue::Replays),
        }
    }
}

impl Consumers {
    fn all(&self) -> [&Consumption; 4] {
        [&self.runs, &self.email, &self.schedule, &self.replays]
    }
}

/// Who this process is, in its beats.
#[derive(Debug, Clone)]
pub struct Process {
    pub name: String,
    pub host: String,
    pub pid: i32,
    pub started_at: DateTime<Utc>,
}

impl Process {
    pub fn this(name: String) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".into());
        Process { name, host, pid: std::process::id() as i32, started_at: Utc::now() }
    }

    fn beats(&self, consumers: &Consumers) -> Vec<Beat> {
        consumers
            .all()
            .into_iter()
            .map(|c| {
                let s = c.snapshot();
                Beat {
                    process: self.name.clone(),
                    queue: c.queue,
                    host: self.host.clone(),
                    pid: self.pid,
                    started_at: self.started_at,
                    state: s.state,
                    consumed: s.consumed,
                    last_consumed_at: s.last_consumed_at,
                    last_job: s.last_job,
                    restarts: s.restarts,
                    last_error: s.last_error,
                }
            })
            .collect()
    }
}

/// Beats every `every` until `stop` turns true, then writes a last beat
/// saying the consumers stopped. A failed write (PostgreSQL down) is tried
/// again at the next beat.
pub async fn run(
    db: DatabaseConnection,
    process: Process,
    consumers: Consumers,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        store::measure::pool(&db);
        if let Err(e) = workers::beat(&db, &process.beats(&consumers)).await {
            tracing::warn!(error = %e, "could not write the worker heartbeat; trying again at the next beat");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    consumers.all().into_iter().for_each(Consumption::stopped);
    if let Err(e) = workers::beat(&db, &process.beats(&consumers)).await {
        tracing::warn!(error = %e, "could not write the worker's last heartbeat");
    }
}
