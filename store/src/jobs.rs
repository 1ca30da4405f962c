//! Jobs the server hands to the worker through Redis (apalis). Postgres stays
//! the source of truth; the queue only delivers.

use apalis::prelude::TaskSink;
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use serde::{Deserialize, Serialize};

/// An email to send. Carries the tenant it belongs to, so the worker's log
/// lines and any tenant work it does are scoped. New fields must have
/// `#[serde(default)]`: queued jobs of the old shape must still decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailJob {
    pub tenant_id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The queue name for email under a Redis prefix (`steward` → `steward:email`).
pub fn email_queue_name(prefix: &str) -> String {
    format!("{prefix}:email")
}

/// apalis queue settings shared by the pushing server and the consuming worker.
pub fn email_queue_config(prefix: &str) -> Config {
    Config::default()
        .queue(email_queue_name(prefix))
        .batch_size(4)
        .heartbeat_interval(std::time::Duration::from_secs(10))
        .missed_heartbeats(3)
}

pub fn email_storage(redis: ConnectionManager, prefix: &str) -> RedisStorage<EmailJob> {
    RedisStorage::new(redis).with_config(email_queue_config(prefix))
}

/// The server's handle for enqueueing email.
#[derive(Clone)]
pub struct MailQueue {
    storage: RedisStorage<EmailJob>,
}

impl MailQueue {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self { storage: email_storage(redis, prefix) }
    }

    pub async fn send(&self, job: EmailJob) -> Result<(), String> {
        // push takes &mut self; a clone is cheap (shared connection, no I/O).
        let mut storage = self.storage.clone();
        storage.push(job).await.map_err(|e| e.to_string())
    }
}

/// Wakes a worker to execute (or resume) a run. The run's state is in
/// PostgreSQL; a lost or duplicated job is harmless (the sweeper re-sends
/// lost ones, the lease turns duplicates away).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJob {
    pub tenant_id: String,
    pub schema_name: String,
    pub run_id: String,
}

pub fn run_queue_name(prefix: &str) -> String {
    format!("{prefix}:runs")
}

pub fn run_queue_config(prefix: &str) -> Config {
    Config::default()
        .queue(run_queue_name(prefix))
        .batch_size(4)
        .heartbeat_interval(std::time::Duration::from_secs(10))
        .missed_heartbeats(3)
}

pub fn run_storage(redis: ConnectionManager, prefix: &str) -> RedisStorage<RunJob> {
    RedisStorage::new(redis).with_config(run_queue_config(prefix))
}

/// The handle the server and the worker use to wake run execution.
#[derive(Clone)]
pub struct RunQueue {
    storage: RedisStorage<RunJob>,
}

impl RunQueue {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self { storage: run_storage(redis, prefix) }
    }

    pub async fn wake(&self, job: RunJob) -> Result<(), String> {
        let mut storage = self.storage.clone();
        storage.push(job).await.map_err(|e| e.to_string())
    }
}
