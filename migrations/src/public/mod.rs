use sea_orm_migration::prelude::*;

mod m20261125_000001_identity;
mod m20261202_000002_operations;
mod m20261202_000003_tenant_work;
mod m20261202_000004_api_tokens;
mod m20261203_000005_trust;
mod m20261203_000006_deleted_businesses;
mod m20261204_000007_pending_sign_ups;
mod m20261206_000008_business_currency;
mod m20261207_000009_replay_queue;
mod m20261208_000010_accept_event;
mod m20261211_000011_accept_without_delivery;
mod m20261212_000012_accept_events;
mod m20261213_000013_spare_schemas;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_identity::Migration),
            Box::new(m20261202_000002_operations::Migration),
            Box::new(m20261202_000003_tenant_work::Migration),
            Box::new(m20261202_000004_api_tokens::Migration),
            Box::new(m20261203_000005_trust::Migration),
            Box::new(m20261203_000006_deleted_businesses::Migration),
            Box::new(m20261204_000007_pending_sign_ups::Migration),
            Box::new(m20261206_000008_business_currency::Migration),
            Box::new(m20261207_000009_replay_queue::Migration),
            Box::new(m20261208_000010_accept_event::Migration),
            Box::new(m20261211_000011_accept_without_delivery::Migration),
            Box::new(m20261212_000012_accept_events::Migration),
            Box::new(m20261213_000013_spare_schemas::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("steward_public_migrations").into_iden()
    }
}
