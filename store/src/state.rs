//! What every request handler and server function shares.

use crate::{
    config::Settings,
    jobs::{MailQueue, ReplayJob, ReplayQueue, RunJob, RunQueue},
    throttle::LoginThrottle,
};
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub redis: ConnectionManager,
    pub settings: Arc<Settings>,
    pub throttle: LoginThrottle,
    pub mail: MailQueue,
    pub runs: RunQueue,
    pub replays: ReplayQueue,
    /// The live workflows the door has read, kept until their business changes them.
    pub targets: crate::ingest::Targets,
    /// Outgoing HTTP (Slack's Web API), one pool of connections for the server.
    pub http: reqwest::Client,
    /// Calls a business's configuration makes (a model's try-it box), guarded like a workflow's.
    pub outbound: crate::outbound::Outbound,
    /// SMTP for the few emails sent while the person waits (a sign-up's code).
    pub mailer: crate::mailer::Mailer,
    /// Wake-ups on their way to Redis, sent in batches.
    wakes: crate::jobs::Batches<RunJob>,
}

/// Wake-ups the door keeps waiting at most (Redis slow or down); past
/// this many, a wake-up is left to the sweeper.
const WAKES_WAITING: usize = 256;

impl AppState {
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let db = crate::db::connect(&settings.database_url, 20).await?;
        // Lazily: the server starts, and the door accepts events, while Redis is down.
        let redis = crate::jobs::connect_redis(&settings.redis_url)?;
        let mailer = crate::mailer::Mailer::from_settings(&settings)?;
        let outbound = crate::outbound::Outbound::new(&settings)?;
        let runs = RunQueue::new(redis.clone(), &settings.redis_prefix);
        let wakes = crate::jobs::Batches::start(WAKES_WAITING, "waking workers", {
            let runs = runs.clone();
            move |jobs| {
                let runs = runs.clone();
                async move { runs.push_all(jobs).await }
            }
        });
        Ok(Self {
            throttle: LoginThrottle::new(redis.clone(), &settings.redis_prefix),
            mail: MailQueue::new(redis.clone(), &settings.redis_prefix),
            runs,
            replays: ReplayQueue::new(redis.clone(), &settings.redis_prefix),
            db,
            redis,
            settings: Arc::new(settings),
            wakes,
            targets: Default::default(),
            http: reqwest::Client::builder().user_agent("Steward/1").build()?,
            mailer,
            outbound,
        })
    }

    /// Prepares spare tenant schemas in the background, up to
    /// `STEWARD_SPARE_SCHEMAS` (`migrations::spare`), so that the next
    /// sign-ups do not wait for a new schema's DDL.
    pub fn prepare_spare_schemas(&self) {
        let (db, wanted) = (self.db.clone(), self.settings.spare_schemas);
        if wanted == 0 {
            return;
        }
        tokio::spawn(async move {
            match migrations::spare::top_up(&db, wanted).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(prepared = n, "spare schemas prepared for sign-ups"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not prepare a spare schema; sign-ups build their own meanwhile")
                }
            }
        });
    }

    /// Wakes a worker for a committed run without making the sender wait:
    /// the job joins the next batch sent to Redis (two round trips for
    /// all the wake-ups handed over while the previous batch was in
    /// flight), which gets two seconds. While Redis is down or slow the
    /// wake-up is dropped and the sweeper sends the job when Redis is back
    /// (the run is safe in PostgreSQL).
    pub fn wake(&self, job: RunJob) {
        let run_id = job.run_id;
        if !self.wakes.hand(job) {
            tracing::warn!(%run_id, "too many wake-ups waiting (Redis slow?); the sweeper will send this one");
        }
    }

    /// Wakes a worker for a replay just started, bounded like a run's
    /// wake-up (the sweeper sends what Redis does not take).
    pub fn wake_replay(&self, job: ReplayJob) {
        let replays = self.replays.clone();
        tokio::spawn(async move {
            let replay_id = job.replay_id;
            match tokio::time::timeout(std::time::Duration::from_secs(2), replays.push(job)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, %replay_id, "could not wake a worker for a replay; the sweeper will")
                }
                Err(_) => {
                    tracing::warn!(%replay_id, "Redis did not take the replay's wake-up in time; the sweeper will")
                }
            }
        });
    }

    /// Queues outbox mail just committed, in the background (best-effort:
    /// the sweeper queues what Redis does not take).
    pub fn hand_over(&self, tenant: &crate::Tenant, mails: Vec<(uuid::Uuid, crate::outbox::OutboxEmail)>) {
        let (db, queue, tenant) = (self.db.clone(), self.mail.clone(), tenant.clone());
        tokio::spawn(async move { crate::outbox::hand_over(&db, &queue, &tenant, &mails).await });
    }
}
