//! Jobs the server hands to the worker through Redis (apalis). Postgres stays
//! the source of truth; the queue only delivers.

use crate::tenant::Tenant;
use apalis::prelude::TaskSink;
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use sea_orm::DbErr;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An email to send. Carries the tenant it belongs to, so the worker's log
/// lines and any tenant work it does are scoped. New fields must have
/// `#[serde(default)]`: queued jobs of the old shape must still decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailJob {
    pub tenant_id: Uuid,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Files sent with the message (the monthly scorecard's PDF).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A file attached to an email, base64-encoded so the job stays JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub base64: String,
}

impl Attachment {
    pub fn new(filename: &str, content_type: &str, bytes: &[u8]) -> Self {
        use base64::Engine;
        Attachment {
            filename: filename.into(),
            content_type: content_type.into(),
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    pub fn bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(&self.base64)
    }
}

/// Wakes a worker to execute (or resume) a run. The run's state is in
/// PostgreSQL; a lost or duplicated job is harmless (the sweeper re-sends
/// lost ones, the lease turns duplicates away).
/// Ids travel as text (the wire format of earlier versions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJob {
    pub tenant_id: Uuid,
    pub schema_name: String,
    pub run_id: Uuid,
}

impl RunJob {
    pub fn new(tenant: &Tenant, run_id: Uuid) -> Self {
        RunJob { tenant_id: tenant.id(), schema_name: tenant.schema().to_owned(), run_id }
    }

    /// The business the job was made for (its schema name checked again).
    pub fn tenant(&self) -> Result<Tenant, DbErr> {
        Tenant::new(self.tenant_id, self.schema_name.clone())
    }
}

/// What every job kind has: its queue's name under the Redis prefix
/// (`steward` → `steward:email`, `steward:runs`).
pub trait Job: Serialize + for<'de> Deserialize<'de> + Send + Sync + Unpin + 'static {
    const QUEUE: &'static str;
}

impl Job for EmailJob {
    const QUEUE: &'static str = "email";
}

impl Job for RunJob {
    const QUEUE: &'static str = "runs";
}

pub fn queue_name<J: Job>(prefix: &str) -> String {
    format!("{prefix}:{}", J::QUEUE)
}

pub fn email_queue_name(prefix: &str) -> String {
    queue_name::<EmailJob>(prefix)
}

pub fn run_queue_name(prefix: &str) -> String {
    queue_name::<RunJob>(prefix)
}

/// apalis queue settings shared by the pushing side and the consuming worker.
pub fn storage<J: Job>(redis: ConnectionManager, prefix: &str) -> RedisStorage<J> {
    let config = Config::default()
        .queue(queue_name::<J>(prefix))
        .batch_size(4)
        .heartbeat_interval(std::time::Duration::from_secs(10))
        .missed_heartbeats(3);
    RedisStorage::new(redis).with_config(config)
}

/// A handle for pushing one kind of job.
#[derive(Clone)]
pub struct Queue<J: Job> {
    storage: RedisStorage<J>,
}

impl<J: Job> Queue<J> {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self { storage: storage(redis, prefix) }
    }

    pub async fn push(&self, job: J) -> Result<(), String> {
        // push takes &mut self; a clone is cheap (shared connection, no I/O).
        let mut storage = self.storage.clone();
        storage.push(job).await.map_err(|e| e.to_string())
    }
}

/// The server's and worker's handle for email.
pub type MailQueue = Queue<EmailJob>;
/// The handle that wakes run execution.
pub type RunQueue = Queue<RunJob>;

impl Queue<EmailJob> {
    pub async fn send(&self, job: EmailJob) -> Result<(), String> {
        self.push(job).await
    }
}

impl Queue<RunJob> {
    pub async fn wake(&self, job: RunJob) -> Result<(), String> {
        self.push(job).await
    }
}
