//! What every request handler and server function shares.

use crate::{
    config::Settings,
    jobs::{MailQueue, RunQueue},
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
}

impl AppState {
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let db = crate::db::connect(&settings.database_url, 20).await?;
        let redis = redis::Client::open(settings.redis_url.as_str())?.get_connection_manager().await?;
        Ok(Self {
            throttle: LoginThrottle::new(redis.clone(), &settings.redis_prefix),
            mail: MailQueue::new(redis.clone(), &settings.redis_prefix),
            runs: RunQueue::new(redis.clone(), &settings.redis_prefix),
            db,
            redis,
            settings: Arc::new(settings),
        })
    }
}
