//! What the run engine reads about a business on nearly every run — its
//! workflow contracts and data contracts (parsed), the keys they mask, its cost rates, the models
//! and prompt versions its runs pinned — kept in this process's memory per
//! configuration generation. Each lease reads the business's generation
//! (a number its configuration tables move, see the tenant migration
//! `config_generation`); when it moved, the business's memory starts
//! afresh, so a change applies from the next run on.

use engine::cost::Rates;
use engine::data_contract::DataContract;
use engine::prompt::PromptTemplate;
use engine::workflow::WorkflowContract;
use sea_orm::{prelude::Uuid, DatabaseConnection, DbErr};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use store::config::Settings;
use store::providers::ModelConfig;
use store::Tenant;

/// Every business this process has run work for, at its last seen generation.
#[derive(Clone, Default)]
pub struct ConfigCache {
    businesses: Arc<Mutex<HashMap<Uuid, Arc<Business>>>>,
}

impl ConfigCache {
    /// The business's memory at `generation` (a fresh one when it moved).
    pub fn business(&self, tenant: &Tenant, generation: i64) -> Arc<Business> {
        let mut all = lock(&self.businesses);
        match all.get(&tenant.id()) {
            Some(b) if b.generation == generation => b.clone(),
            _ => {
                let fresh = Arc::new(Business::new(tenant.clone(), generation));
                all.insert(tenant.id(), fresh.clone());
                fresh
            }
        }
    }
}

/// Remembered values by key, read on first use.
type Memory<K, V> = Mutex<HashMap<K, V>>;

/// A workflow version (name, number) or a prompt version (name, number).
type Versioned = (String, i32);

/// One business's configuration as of one generation, read on first use.
pub struct Business {
    tenant: Tenant,
    generation: i64,
    data_contracts: Memory<String, Option<Arc<DataContract>>>,
    contracts: Memory<Versioned, Arc<WorkflowContract>>,
    sensitive_keys: Memory<Versioned, Arc<Vec<String>>>,
    rates: Memory<(), Rates>,
    models: Memory<Uuid, Option<Arc<ModelConfig>>>,
    prompts: Memory<Versioned, Option<Arc<PromptTemplate>>>,
}

impl Business {
    fn new(tenant: Tenant, generation: i64) -> Self {
        Business {
            tenant,
            generation,
            data_contracts: Default::default(),
            contracts: Default::default(),
            sensitive_keys: Default::default(),
            rates: Default::default(),
            models: Default::default(),
            prompts: Default::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere while it was held; the map is still whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The value at `key`, read with `load` the first time.
async fn remembered<K, V, F>(map: &Memory<K, V>, key: K, load: F) -> Result<V, DbErr>
where
    K: Eq + Hash,
    V: Clone,
    F: std::future::Future<Output = Result<V, DbErr>>,
{
    if let Some(v) = lock(map).get(&key) {
        return Ok(v.clone());
    }
    let v = load.await?;
    lock(map).insert(key, v.clone());
    Ok(v)
}

impl Business {
    pub async fn data_contract(&self, db: &DatabaseConnection, name: &str) -> Result<Option<Arc<DataContract>>, DbErr> {
        let tenant = &self.tenant;
        remembered(&self.data_contracts, name.to_owned(), async {
            Ok(store::data_contracts::find(db, tenant, name).await?.map(Arc::new))
        })
        .await
    }

    /// A workflow version's contract, parsed.
    pub async fn contract(
        &self,
        db: &DatabaseConnection,
        workflow: &str,
        version: i32,
    ) -> Result<Arc<WorkflowContract>, DbErr> {
        let tenant = &self.tenant;
        remembered(&self.contracts, (workflow.to_owned(), version), async {
            Ok(Arc::new(store::runs::contract(db, tenant, workflow, version).await?))
        })
        .await
    }

    /// The keys runs of this workflow version mask.
    pub async fn sensitive_keys(
        &self,
        db: &DatabaseConnection,
        workflow: &str,
        version: i32,
        contract: &WorkflowContract,
    ) -> Result<Arc<Vec<String>>, DbErr> {
        let tenant = &self.tenant;
        remembered(&self.sensitive_keys, (workflow.to_owned(), version), async {
            Ok(Arc::new(store::runs::sensitive_keys(db, tenant, contract).await?))
        })
        .await
    }

    pub async fn rates(&self, db: &DatabaseConnection) -> Result<Rates, DbErr> {
        let tenant = &self.tenant;
        remembered(&self.rates, (), store::costs::rates(db, tenant)).await
    }

    /// A model a run pinned, with its key.
    pub async fn model(
        &self,
        db: &DatabaseConnection,
        settings: &Settings,
        id: Uuid,
    ) -> Result<Option<Arc<ModelConfig>>, DbErr> {
        let tenant = &self.tenant;
        remembered(&self.models, id, async { Ok(store::models::pinned(db, settings, tenant, id).await?.map(Arc::new)) })
            .await
    }

    /// A prompt version a run pinned.
    pub async fn prompt(
        &self,
        db: &DatabaseConnection,
        name: &str,
        number: i32,
    ) -> Result<Option<Arc<PromptTemplate>>, DbErr> {
        let tenant = &self.tenant;
        remembered(&self.prompts, (name.to_owned(), number), async {
            Ok(store::prompts::pinned(db, tenant, name, number).await?.map(Arc::new))
        })
        .await
    }
}
