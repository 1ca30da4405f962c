//! What every job of the worker needs from outside: PostgreSQL, Redis, the
//! queues, an HTTP client, the settings, and this process's name as the
//! owner of the run leases it takes. Built once in `run`, shared by the
//! run executor, the email sender and the scheduled jobs.

use sea_orm::{prelude::Uuid, DatabaseConnection};
use std::sync::Arc;
use store::config::Settings;
use store::jobs::{MailQueue, RunQueue};
use store::outbox::{self, OutboxEmail};
use store::Tenant;

#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub redis: redis::aio::ConnectionManager,
    pub mail: MailQueue,
    pub runs: RunQueue,
    pub http: reqwest::Client,
    /// This worker process, as lease owner.
    pub owner: String,
    /// SMTP, for the one email that must not wait in the mail queue: the
    /// alert that a queue is stalled (perhaps the mail queue itself).
    pub mailer: crate::mailer::Mailer,
    /// What this process consumed, for its heartbeat.
    pub consumers: crate::heartbeat::Consumers,
    /// What runs read about each business, per configuration generation.
    pub config: crate::config_cache::ConfigCache,
}

impl Context {
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
