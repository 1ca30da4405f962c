//! What every job of the worker needs from outside: PostgreSQL, Redis, the
//! queues, an HTTP client, the settings, and this process's name as the
//! owner of the run leases it takes. Built once in `run`, shared by the
//! run executor, the email sender and the scheduled jobs.

use sea_orm::{prelude::Uuid, DatabaseConnection};
use std::sync::Arc;
use store::config::Settings;
use store::jobs::{MailQueue, ReplayQueue, RunQueue};
use store::outbox::{self, OutboxEmail};
use store::Tenant;

#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub redis: redis::aio::ConnectionManager,
    pub mail: MailQueue,
    pub runs: RunQueue,
    /// Notes run jobs as taken off the queue, many per round trip.
    pub runs_taken: store::jobs::Batches<String>,
    /// Opens and ends the runs this process executes at once in groups, a transaction per business's group.
    pub run_groups: store::run_groups::RunGroups,
    pub replays: ReplayQueue,
    pub http: reqwest::Client,
    /// For calls a workflow makes (api_call steps): never to private,
    /// loopback or metadata addresses unless allowed (`store::outbound`).
    pub outbound: store::outbound::Outbound,
    /// This worker process, as lease owner.
    pub owner: String,
    /// SMTP, for the one email that must not wait in the mail queue: the
    /// alert that a queue is stalled (perhaps the mail queue itself).
    pub mailer: store::mailer::Mailer,
    /// What this process consumed, for its heartbeat.
    pub consumers: crate::heartbeat::Consumers,
    /// What runs read about each business, per configuration generation.
    pub config: crate::config_cache::ConfigCache,
    /// Answers of deterministic calls this process has seen, for their time to live.
    pub answers: Arc<crate::answers::Answers>,
    /// Where each periodic job's rotation over every business stands (see `to_visit`).
    pub rotations: Arc<std::sync::Mutex<std::collections::HashMap<&'static str, Rotation>>>,
    /// When each business's month ends: its scorecard check waits until then.
    pub scorecards_next: Arc<std::sync::Mutex<std::collections::HashMap<Uuid, chrono::DateTime<chrono::Utc>>>>,
}

/// A periodic job's rotation over every business: when it last passed and
/// the last business it visited.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    last_pass: std::time::Instant,
    mark: Option<store::tenants::RotationMark>,
}

/// The most connections in a worker's run-group pool; its main pool holds four more.
const MOST_CONNECTIONS: usize = 8;

impl Context {
    /// Connects to PostgreSQL, Redis (lazily) and SMTP for one worker process.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let redis = store::jobs::connect_redis(&settings.redis_url)?;
        // PostgreSQL's connections are shared by the server and every worker: a worker's pools
        // stay this size however many runs it executes at once (20 at most, as at 8 runs).
        let connections = settings.runs.concurrency.clamp(2, MOST_CONNECTIONS) as u32;
        let db = store::db::connect(&settings.database_url, connections + 4).await?;
        let process = uuid::Uuid::new_v4().simple().to_string();
        let runs = RunQueue::new(redis.clone(), &settings.redis_prefix);
        // Best-effort, like every note of the sent set: a note lost leaves the key to `forget_older_than`.
        let runs_taken = store::jobs::Batches::start(1024, "noting run jobs as taken", {
            let runs = runs.clone();
            move |keys: Vec<String>| {
                let runs = runs.clone();
                async move { runs.taken(&keys).await }
            }
        });
        let owner = format!("worker-{process}");
        // The run groups' statements are planned once per connection (`connect_for_sets`). A group
        // holds one connection for all its runs, and a business has at most four groups in flight.
        let sets = store::db::connect_for_sets(&settings.database_url, connections).await?;
        let run_groups = store::run_groups::RunGroups::new(
            sets,
            owner.clone(),
            settings.runs.lease_seconds,
            settings.runs.concurrency.max(1),
        );
        Ok(Context {
            db,
            run_groups,
            settings: Arc::new(settings.clone()),
            mail: MailQueue::new(redis.clone(), &settings.redis_prefix),
            runs,
            runs_taken,
            replays: ReplayQueue::new(redis.clone(), &settings.redis_prefix),
            redis,
            http: reqwest::Client::builder().user_agent("Steward/1").build()?,
            outbound: store::outbound::Outbound::new(settings)?,
            owner,
            mailer: store::mailer::Mailer::from_settings(settings)?,
            consumers: Default::default(),
            config: Default::default(),
            answers: Default::default(),
            rotations: Default::default(),
            scorecards_next: Default::default(),
        })
    }

    /// Where people reach Steward, for links in emails.
    pub fn public_url(&self) -> &str {
        self.settings.public_url.as_str().trim_end_matches('/')
    }

    /// Hands mail written to `tenant`'s outbox to the mail queue and marks
    /// what was queued; what fails here stays unqueued and the sweeper
    /// sends it later.
    pub async fn hand_over(&self, tenant: &Tenant, outbox: &[OutboxEmail], ids: &[Uuid]) {
        let mails: Vec<(Uuid, OutboxEmail)> = ids.iter().copied().zip(outbox.iter().cloned()).collect();
        outbox::hand_over(&self.db, &self.mail, tenant, &mails).await;
    }

    /// The businesses a periodic job (`job`) visits now: those with work in
    /// progress, every business on this process's first pass, and, as a
    /// safety net, the next businesses of a rotation over all of them, as
    /// many as the time since the job's last pass is a share of
    /// `STEWARD_FULL_SWEEP_SECONDS` (at least one): every business is
    /// visited that often, a few at each pass rather than all at once
    /// (at 1 000 businesses the whole round took 12-18 s of work).
    pub async fn to_visit(&self, job: &'static str) -> Result<Vec<Tenant>, sea_orm::DbErr> {
        let every = self.settings.runs.full_sweep_seconds.max(1) as f64;
        let now = std::time::Instant::now();
        let (share, after) = {
            let rotations = self.rotations.lock().unwrap_or_else(|p| p.into_inner());
            match rotations.get(job) {
                None => (1.0, None),
                Some(r) => ((now - r.last_pass).as_secs_f64() / every, r.mark),
            }
        };
        let mut visit = store::tenants::with_work(&self.db).await?;
        let (turn, mark) = store::tenants::next_in_rotation(&self.db, after, share.min(1.0)).await?;
        self.rotations.lock().unwrap_or_else(|p| p.into_inner()).insert(job, Rotation { last_pass: now, mark });
        for tenant in turn {
            if !visit.iter().any(|v| v.id() == tenant.id()) {
                visit.push(tenant);
            }
        }
        Ok(visit)
    }

    /// As if every periodic job's last pass began `ago`: its next pass takes
    /// that share of the rotation (the benchmarks measure a pass this way).
    pub fn set_last_passes_ago(&self, ago: std::time::Duration) {
        let at = std::time::Instant::now().checked_sub(ago).unwrap_or_else(std::time::Instant::now);
        for rotation in self.rotations.lock().unwrap_or_else(|p| p.into_inner()).values_mut() {
            rotation.last_pass = at;
        }
    }

    /// The business's members with a role named in a contract (`role:reviewer`);
    /// none for a name that is not a role.
    pub async fn members_with_role(&self, tenant: &Tenant, role: &str) -> Result<Vec<String>, sea_orm::DbErr> {
        match engine::Role::parse(role) {
            Ok(role) => store::members::emails_with_role(&self.db, tenant, role).await,
            Err(_) => Ok(vec![]),
        }
    }

    /// Wakes a worker for a run; if Redis refuses, the sweeper sends the job later.
    pub async fn wake(&self, tenant: &Tenant, run_id: Uuid) {
        if let Err(e) = self.runs.wake(store::jobs::RunJob::new(tenant, run_id)).await {
            tracing::warn!(error = %e, %run_id, "a run could not be queued; the sweeper will");
        }
    }
}
