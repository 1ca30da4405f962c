//! The Prometheus series Steward exports, by name, and the counters the
//! store itself moves (events at the door). Recorded through the `metrics`
//! facade; the server and the worker install the exporter. No business is
//! named in a label unless `STEWARD_METRICS_TENANT_LABELS` is set.

use crate::db::stmt;
use crate::tenant::Tenant;
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult};
use std::sync::atomic::{AtomicBool, Ordering};

/// Deliveries at the door, by channel and outcome (accepted, duplicate, rejected, unauthorized, spam, rate_limited).
pub const EVENTS: &str = "steward_events_total";
/// Seconds from a delivery's arrival to its answer, accepted ones.
pub const ACCEPT_SECONDS: &str = "steward_event_accept_seconds";
/// Runs that reached a resting state, by status (completed, failed, waiting_for_review, held).
pub const RUNS_RESTED: &str = "steward_runs_rested_total";
/// Runs now in a status (queued, running, waiting_for_review), over every business.
pub const RUNS: &str = "steward_runs";
/// Seconds a step took, by kind.
pub const STEP_SECONDS: &str = "steward_step_duration_seconds";
/// Model tokens, by direction (in, out).
pub const MODEL_TOKENS: &str = "steward_model_tokens_total";
/// What model calls cost, in millionths of the currency unit.
pub const MODEL_COST: &str = "steward_model_cost_micros_total";
/// Jobs taken off each queue by this worker process.
pub const JOBS: &str = "steward_jobs_consumed_total";
/// Times a queue consumer was started again after its backend failed.
pub const RESTARTS: &str = "steward_consumer_restarts_total";
/// Jobs sent and not yet taken, and the age of the oldest, by queue.
pub const QUEUE_WAITING: &str = "steward_queue_waiting";
pub const QUEUE_OLDEST: &str = "steward_queue_oldest_seconds";
/// Worker processes consuming each queue, and seconds since the freshest heartbeat and since the last job.
pub const WORKERS: &str = "steward_worker_consumers";
pub const HEARTBEAT_AGE: &str = "steward_worker_heartbeat_age_seconds";
pub const WORKER_IDLE: &str = "steward_worker_idle_seconds";
/// Whether a queue is stalled (1) or not (0).
pub const STALLED: &str = "steward_queue_stalled";
/// Emails written and not yet sent, the oldest's age, and those given up in the last 7 days.
pub const OUTBOX_OPEN: &str = "steward_outbox_open";
pub const OUTBOX_OLDEST: &str = "steward_outbox_oldest_seconds";
pub const OUTBOX_FAILED: &str = "steward_outbox_failed_7d";
/// Review tasks open, and the oldest's age.
pub const REVIEWS_OPEN: &str = "steward_review_tasks_open";
pub const REVIEWS_OLDEST: &str = "steward_review_task_oldest_seconds";
/// Business schemas prepared for sign-ups and waiting (`migrations::spare`):
/// none for long means sign-ups build their schema while people wait.
pub const SPARE_SCHEMAS: &str = "steward_spare_schemas";
/// Database connections of this process's pool, by state (in_use, idle), and its size limit.
pub const DB_POOL: &str = "steward_db_pool_connections";
pub const DB_POOL_MAX: &str = "steward_db_pool_max_connections";

static NAME_BUSINESSES: AtomicBool = AtomicBool::new(false);

/// Whether series carry a `business` label (`STEWARD_METRICS_TENANT_LABELS`).
pub fn name_businesses(on: bool) {
    NAME_BUSINESSES.store(on, Ordering::Relaxed);
}

pub fn businesses_named() -> bool {
    NAME_BUSINESSES.load(Ordering::Relaxed)
}

/// Counts a delivery at the door.
pub fn event(channel: &str, outcome: &str, business: &str) {
    let (channel, outcome) = (channel.to_owned(), outcome.to_owned());
    if businesses_named() {
        metrics::counter!(EVENTS, "channel" => channel, "outcome" => outcome, "business" => business.to_owned())
            .increment(1);
    } else {
        metrics::counter!(EVENTS, "channel" => channel, "outcome" => outcome).increment(1);
    }
}

/// The pool's connections now.
pub fn pool(db: &DatabaseConnection) {
    let pool = db.get_postgres_connection_pool();
    let (size, idle) = (pool.size() as f64, pool.num_idle() as f64);
    metrics::gauge!(DB_POOL, "state" => "idle").set(idle);
    metrics::gauge!(DB_POOL, "state" => "in_use").set((size - idle).max(0.0));
    metrics::gauge!(DB_POOL_MAX).set(pool.options().get_max_connections() as f64);
}

/// One business's work in progress, for the gauges summed over every business.
#[derive(Debug, Clone, Default, PartialEq, FromQueryResult)]
pub struct Totals {
    pub runs_queued: i64,
    pub runs_running: i64,
    pub reviews_open: i64,
    pub review_oldest_seconds: Option<f64>,
    pub outbox_open: i64,
    pub outbox_oldest_seconds: Option<f64>,
    pub outbox_failed_7d: i64,
}

impl Totals {
    /// `self` and `other` together (counts added, the oldest kept).
    pub fn add(&mut self, other: &Totals) {
        self.runs_queued += other.runs_queued;
        self.runs_running += other.runs_running;
        self.reviews_open += other.reviews_open;
        self.outbox_open += other.outbox_open;
        self.outbox_failed_7d += other.outbox_failed_7d;
        let older = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.review_oldest_seconds = older(self.review_oldest_seconds, other.review_oldest_seconds);
        self.outbox_oldest_seconds = older(self.outbox_oldest_seconds, other.outbox_oldest_seconds);
    }
}

/// A business's work in progress (every count an index scan).
pub async fn totals(db: &DatabaseConnection, tenant: &Tenant) -> Result<Totals, DbErr> {
    let txn = tenant.begin(db).await?;
    let row = Totals::find_by_statement(stmt(
        "SELECT (SELECT count(*) FROM runs WHERE status = 'queued') AS runs_queued,
                (SELECT count(*) FROM runs WHERE status = 'running') AS runs_running,
                (SELECT count(*) FROM review_tasks WHERE status = 'open') AS reviews_open,
                (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM review_tasks WHERE status = 'open') AS review_oldest_seconds,
                (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')) AS outbox_open,
                (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM outbox WHERE status IN ('pending', 'sending')) AS outbox_oldest_seconds,
                (SELECT count(*) FROM outbox WHERE status = 'failed' AND failed_at > now() - interval '7 days') AS outbox_failed_7d",
        vec![],
    ))
    .one(&txn)
    .await?
    .unwrap_or_default();
    txn.commit().await?;
    Ok(row)
}

static RECORDER: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();

/// The exporter's buckets for the histograms (seconds).
fn builder() -> metrics_exporter_prometheus::PrometheusBuilder {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let door = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
    let steps = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0];
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(ACCEPT_SECONDS.into()), &door)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(STEP_SECONDS.into()), &steps))
        .expect("the bucket lists are not empty")
}

/// This process's recorder, installed the first time (a process that runs
/// a server and workers in one, like the tests, shares it).
pub fn recorder() -> metrics_exporter_prometheus::PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already; this one only renders");
            }
            handle
        })
        .clone()
}

/// Serves this process's metrics at `http://<bind>/metrics` (the worker's
/// own address), with the exporter's listener. The recorder is installed
/// here; call before anything is recorded.
pub fn serve(bind: &str) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr =
        bind.parse().map_err(|e| anyhow::anyhow!("STEWARD_WORKER_METRICS_BIND is not an address: {e}"))?;
    builder().with_http_listener(addr).install().map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))
}
