use sea_orm_migration::prelude::*;

mod m20261125_000001_audit;
mod m20261125_000002_contracts;
mod m20261125_000003_models;
mod m20261125_000004_runs;
mod m20261125_000005_reviews;
mod m20261201_000006_costs;
mod m20261201_000007_kpis;
mod m20261202_000008_delivery;
mod m20261202_000009_config_generation;
mod m20261202_000010_busy;
mod m20261202_000011_slack;
mod m20261202_000012_audit_chain;
mod m20261203_000013_retention;
mod m20261203_000014_shown_draft;
mod m20261204_000015_first_run;
mod m20261205_000016_one_person;
mod m20261205_000017_hosted_form_words;
mod m20261207_000018_replays;
mod m20261208_000019_door;
mod m20261209_000020_step_keys;
mod m20261210_000021_run_event_key;
mod m20261211_000022_door_rows;
mod m20261211_000023_cost_line_key;
mod m20261212_000024_run_takeovers;
mod m20261214_000025_run_documents_lz4;

/// Runs with `search_path` set to one tenant schema; its bookkeeping table
/// lives in that schema too, so every tenant records its own version.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_audit::Migration),
            Box::new(m20261125_000002_contracts::Migration),
            Box::new(m20261125_000003_models::Migration),
            Box::new(m20261125_000004_runs::Migration),
            Box::new(m20261125_000005_reviews::Migration),
            Box::new(m20261201_000006_costs::Migration),
            Box::new(m20261201_000007_kpis::Migration),
            Box::new(m20261202_000008_delivery::Migration),
            Box::new(m20261202_000009_config_generation::Migration),
            Box::new(m20261202_000010_busy::Migration),
            Box::new(m20261202_000011_slack::Migration),
            Box::new(m20261202_000012_audit_chain::Migration),
            Box::new(m20261203_000013_retention::Migration),
            Box::new(m20261203_000014_shown_draft::Migration),
            Box::new(m20261204_000015_first_run::Migration),
            Box::new(m20261205_000016_one_person::Migration),
            Box::new(m20261205_000017_hosted_form_words::Migration),
            Box::new(m20261207_000018_replays::Migration),
            Box::new(m20261208_000019_door::Migration),
            Box::new(m20261209_000020_step_keys::Migration),
            Box::new(m20261210_000021_run_event_key::Migration),
            Box::new(m20261211_000022_door_rows::Migration),
            Box::new(m20261211_000023_cost_line_key::Migration),
            Box::new(m20261212_000024_run_takeovers::Migration),
            Box::new(m20261214_000025_run_documents_lz4::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("tenant_migrations").into_iden()
    }
}
