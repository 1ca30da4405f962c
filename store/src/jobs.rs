//! Jobs the server hands to the worker through Redis (apalis). Postgres stays
//! the source of truth; the queue only delivers.

use crate::tenant::Tenant;
use apalis::prelude::TaskSink;
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use redis::aio::ConnectionManagerConfig;
use sea_orm::DbErr;
use serde::{Deserialize, Serialize};
use std::time::Duration;
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
    /// The tenant's outbox row this email is, when it is one: the worker
    /// records the send there and never sends one row twice.
    #[serde(default)]
    pub outbox_id: Option<Uuid>,
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

/// Wakes a worker to replay a workflow version over a dataset (or to go on
/// with one whose worker stopped). The replay's progress is in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayJob {
    pub tenant_id: Uuid,
    pub schema_name: String,
    pub replay_id: Uuid,
}

impl ReplayJob {
    pub fn new(tenant: &Tenant, replay_id: Uuid) -> Self {
        ReplayJob { tenant_id: tenant.id(), schema_name: tenant.schema().to_owned(), replay_id }
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

    /// What the job is about (a run, an outbox email), when it is about
    /// something in PostgreSQL: the queue notes when it was sent until a
    /// worker takes it.
    fn key(&self) -> Option<String>;
}

impl Job for EmailJob {
    const QUEUE: &'static str = "email";

    fn key(&self) -> Option<String> {
        self.outbox_id.map(|id| id.to_string())
    }
}

impl Job for RunJob {
    const QUEUE: &'static str = "runs";

    fn key(&self) -> Option<String> {
        Some(self.run_id.to_string())
    }
}

impl Job for ReplayJob {
    const QUEUE: &'static str = "replays";

    fn key(&self) -> Option<String> {
        Some(self.replay_id.to_string())
    }
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

/// A Redis connection that reconnects by itself. It connects lazily (a
/// process starts while Redis is down and catches up when it is back), an
/// answer taking longer than two seconds is an error, and a reconnection
/// gives up after about a second: callers retry (the supervisor, the
/// sweeper), nobody waits long on Redis.
pub fn connect_redis(url: &str) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(400));
    ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)
}

/// Forgets every key under `prefix` (`<prefix>:…`): what an installation
/// that shares a Redis leaves behind when it goes away (a test's, a
/// benchmark's). Returns how many keys were forgotten.
pub async fn forget_prefix(redis_url: &str, prefix: &str) -> redis::RedisResult<usize> {
    let mut redis = redis::Client::open(redis_url)?.get_multiplexed_async_connection().await?;
    let pattern = format!("{prefix}:*");
    let (mut cursor, mut forgotten) = (0u64, 0);
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await?;
        if !keys.is_empty() {
            forgotten += redis::cmd("UNLINK").arg(&keys).query_async::<usize>(&mut redis).await?;
        }
        if next == 0 {
            return Ok(forgotten);
        }
        cursor = next;
    }
}

/// apalis queue settings shared by the pushing side and the consuming worker.
/// A job fetched is in its worker's in-flight set until acknowledged, and a
/// dead worker's set goes back on the queue: that is all Steward needs from
/// Redis (the work's state is in PostgreSQL). So jobs are not also locked
/// one by one (a round trip per batch, and a scan of the whole queue per
/// job) and no event is published for them (nobody listens).
pub fn storage<J: Job>(redis: ConnectionManager, prefix: &str) -> RedisStorage<J> {
    let config = Config::default()
        .queue(queue_name::<J>(prefix))
        .lock_tasks(false)
        .emit_events(false)
        .batch_size(4)
        .heartbeat_interval(std::time::Duration::from_secs(10))
        .missed_heartbeats(3);
    RedisStorage::new(redis).with_config(config)
}

/// A handle for pushing one kind of job. Beside apalis's own lists, each
/// queue keeps a sorted set of the keys of the jobs sent and not yet taken
/// (score: when sent), so that the sweeper can tell a job waiting its turn
/// in a deep queue from a lost one, and the stall watch can see how long
/// work has waited (jobs a worker fetched into its buffer still count).
#[derive(Clone)]
pub struct Queue<J: Job> {
    storage: RedisStorage<J>,
    redis: ConnectionManager,
    name: String,
}

/// Jobs sent and not yet taken.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    pub waiting: u64,
    /// Seconds the oldest of them has waited.
    pub oldest_seconds: i64,
}

impl<J: Job> Queue<J> {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self { storage: storage(redis.clone(), prefix), redis, name: queue_name::<J>(prefix) }
    }

    fn sent_key(&self) -> String {
        format!("{}:sent", self.name)
    }

    pub async fn push(&self, job: J) -> Result<(), String> {
        self.push_all(vec![job]).await
    }

    /// Sends jobs in two round trips however many: apalis's batch push,
    /// then one ZADD noting them as sent.
    pub async fn push_all(&self, jobs: Vec<J>) -> Result<(), String> {
        let keys: Vec<String> = jobs.iter().filter_map(Job::key).collect();
        // push_bulk takes &mut self; a clone is cheap (shared connection, no I/O).
        let mut storage = self.storage.clone();
        storage.push_bulk(jobs).await.map_err(|e| e.to_string())?;
        if keys.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp();
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(self.sent_key());
        keys.iter().for_each(|key| _ = zadd.arg(now).arg(key));
        let mut redis = self.redis.clone();
        zadd.query_async::<()>(&mut redis).await.map_err(|e| e.to_string())
    }

    /// Workers took the jobs about `keys` off the queue.
    pub async fn taken(&self, keys: &[String]) -> Result<(), String> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut redis = self.redis.clone();
        redis::cmd("ZREM").arg(self.sent_key()).arg(keys).query_async::<()>(&mut redis).await.map_err(|e| e.to_string())
    }

    /// When the job about each key was sent, if it is still waiting (unix seconds).
    pub async fn sent_at(&self, keys: &[String]) -> Result<Vec<Option<i64>>, String> {
        if keys.is_empty() {
            return Ok(vec![]);
        }
        let mut redis = self.redis.clone();
        let mut cmd = redis::cmd("ZMSCORE");
        cmd.arg(self.sent_key()).arg(keys);
        let scores: Vec<Option<f64>> = cmd.query_async(&mut redis).await.map_err(|e| e.to_string())?;
        Ok(scores.into_iter().map(|s| s.map(|s| s as i64)).collect())
    }

    /// How many jobs wait, and for how long the oldest has.
    pub async fn backlog(&self) -> Result<Backlog, String> {
        let mut redis = self.redis.clone();
        let (waiting, oldest): (u64, Vec<(String, f64)>) = redis::pipe()
            .cmd("ZCARD")
            .arg(self.sent_key())
            .cmd("ZRANGE")
            .arg(self.sent_key())
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut redis)
            .await
            .map_err(|e| e.to_string())?;
        let now = chrono::Utc::now().timestamp();
        let oldest_seconds = oldest.first().map(|(_, at)| (now - *at as i64).max(0)).unwrap_or(0);
        Ok(Backlog { waiting, oldest_seconds })
    }

    /// Forgets jobs that ended: apalis keeps each ended job's arguments, its
    /// metadata and its id in Redis for good, so without this Redis grows
    /// with every run and email. Only jobs that ended `Done`, or were given
    /// up (dead: the run's state is in PostgreSQL and the sweeper sends it
    /// again), are in the sets read here; one waiting for a retry is not. Up
    /// to `most` per round trip, until none is left; returns how many were
    /// forgotten.
    pub async fn forget_ended(&self, most: usize) -> Result<usize, String> {
        static FORGET: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                r"local ids = redis.call('SPOP', KEYS[1], ARGV[2])
                  for _, id in ipairs(ids) do
                    redis.call('HDEL', KEYS[2], id)
                    redis.call('DEL', ARGV[1] .. ':' .. id)
                  end
                  return #ids",
            )
        });
        let config = self.storage.get_config();
        let mut redis = self.redis.clone();
        let most = most.max(1);
        let mut forgotten = 0;
        for ended in [config.done_jobs_set(), config.dead_jobs_set()] {
            loop {
                let n: usize = FORGET
                    .key(&ended)
                    .key(config.job_data_hash())
                    .arg(config.job_meta_hash())
                    .arg(most)
                    .invoke_async(&mut redis)
                    .await
                    .map_err(|e| e.to_string())?;
                forgotten += n;
                if n < most {
                    break;
                }
            }
        }
        Ok(forgotten)
    }

    /// Forgets jobs noted as sent longer than `seconds` ago: the sweeper has
    /// sent again those that were lost (which notes them afresh); the rest
    /// were taken while Redis could not record it.
    pub async fn forget_older_than(&self, seconds: i64) -> Result<(), String> {
        let mut redis = self.redis.clone();
        redis::cmd("ZREMRANGEBYSCORE")
            .arg(self.sent_key())
            .arg("-inf")
            .arg(chrono::Utc::now().timestamp() - seconds)
            .query_async::<()>(&mut redis)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The server's and worker's handle for email.
pub type MailQueue = Queue<EmailJob>;
/// The handle that wakes run execution.
pub type RunQueue = Queue<RunJob>;
/// The handle that wakes replays.
pub type ReplayQueue = Queue<ReplayJob>;

impl Queue<EmailJob> {
    pub async fn send(&self, job: EmailJob) -> Result<(), String> {
        self.push(job).await
    }
}

impl Queue<RunJob> {
    /// Sends the job that wakes a worker for a run.
    pub async fn wake(&self, job: RunJob) -> Result<(), String> {
        self.push(job).await
    }
}

/// Hands work to one background task that does it in batches: what is
/// handed over while a batch is in flight goes into the next (one round
/// trip for many). Handing over never waits: past `capacity` waiting, or
/// while the task is gone, the item is refused and its caller leaves it to
/// the sweeper. A batch gets two seconds; one that fails is dropped (with
/// a warning), for the same reason.
pub struct Batches<T> {
    tx: tokio::sync::mpsc::Sender<T>,
}

impl<T> Clone for Batches<T> {
    fn clone(&self) -> Self {
        Batches { tx: self.tx.clone() }
    }
}

impl<T: Send + 'static> Batches<T> {
    /// Starts the task on the current runtime; it ends when the last handle is dropped.
    pub fn start<F, Fut>(capacity: usize, what: &'static str, mut send: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send,
    {
        let (tx, mut rx) = tokio::sync::mpsc::channel(capacity);
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, capacity).await > 0 {
                let count = batch.len();
                match tokio::time::timeout(Duration::from_secs(2), send(std::mem::take(&mut batch))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, count, "{what}: Redis refused a batch; the sweeper covers it")
                    }
                    Err(_) => {
                        tracing::warn!(count, "{what}: Redis did not take a batch in time; the sweeper covers it")
                    }
                }
            }
        });
        Batches { tx }
    }

    /// Hands an item over; false when it was refused (too many waiting).
    pub fn hand(&self, item: T) -> bool {
        self.tx.try_send(item).is_ok()
    }
}
