//! Steward's schema: `public` (businesses, people, sessions) and the tenant
//! schema every business gets as `t_<slug>`.

pub mod public;
pub mod spare;
pub mod tenant;

use engine::tenant::is_tenant_schema_name;
use futures::{stream, StreamExt};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};
pub use sea_orm_migration::MigratorTrait;

/// Points the current transaction at a tenant schema, and only that schema:
/// global tables are always written `public.x`, so a table missing from the
/// tenant can never silently resolve to a public one. `set_config(..., true)` is local to the transaction, so a
/// pooled connection never carries one tenant's path to the next. Refuses any
/// schema name Steward could not have made.
pub async fn set_tenant_search_path(txn: &DatabaseTransaction, schema: &str) -> Result<(), DbErr> {
    if !is_tenant_schema_name(schema) {
        return Err(DbErr::Custom(format!("refusing invalid tenant schema name {schema:?}")));
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('search_path', $1, true)",
        [schema.into()],
    ))
    .await?;
    Ok(())
}

/// Brings the public schema up to date, in one transaction that holds an
/// advisory lock so concurrent migrators (parallel test processes, two
/// replicas starting) take turns.
pub async fn migrate_public(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared("SELECT pg_advisory_xact_lock(hashtext('steward:migrate:public'))").await?;
    txn.execute_unprepared("SELECT set_config('search_path', 'public', true)").await?;
    public::Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Makes the schema of a new business inside the caller's transaction,
/// from a spare one when one is waiting (`spare::take`), else by
/// `create_tenant_schema`; either way every tenant migration is applied and
/// the transaction points at the schema.
pub async fn open_tenant_schema(txn: &DatabaseTransaction, schema: &str) -> Result<(), DbErr> {
    if spare::take(txn, schema).await? {
        return Ok(());
    }
    create_tenant_schema(txn, schema).await
}

/// Creates a tenant schema and applies every tenant migration inside the
/// caller's transaction, so a failed sign-up leaves no schema behind.
pub async fn create_tenant_schema(txn: &DatabaseTransaction, schema: &str) -> Result<(), DbErr> {
    if !is_tenant_schema_name(schema) {
        return Err(DbErr::Custom(format!("refusing invalid tenant schema name {schema:?}")));
    }
    // Identifiers cannot be bound; the name was validated just above.
    txn.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await?;
    set_tenant_search_path(txn, schema).await?;
    tenant::Migrator::up(txn, None).await
}

/// Applies pending tenant migrations to one schema, in its own transaction.
/// Returns how many migrations were applied.
pub async fn migrate_tenant(db: &DatabaseConnection, schema: &str) -> Result<usize, DbErr> {
    let txn = db.begin().await?;
    set_tenant_search_path(&txn, schema).await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext('steward:migrate:' || $1))",
        [schema.into()],
    ))
    .await?;
    tenant::Migrator::install(&txn).await?;
    let pending = tenant::Migrator::get_pending_migrations(&txn).await?.len();
    if pending > 0 {
        tenant::Migrator::up(&txn, None).await?;
    }
    txn.commit().await?;
    Ok(pending)
}

/// What `migrate` did to the tenant schemas.
#[derive(Debug, Default)]
pub struct TenantMigrationReport {
    pub upgraded: Vec<String>,
    pub already_current: Vec<String>,
    /// Schemas left behind, with the error that stopped them.
    pub failed: Vec<(String, String)>,
}

/// Migrates the public schema, then every tenant schema, at most
/// `parallelism` at a time. One failing tenant does not stop the others.
pub async fn migrate_all(db: &DatabaseConnection, parallelism: usize) -> Result<TenantMigrationReport, DbErr> {
    migrate_public(db).await?;
    let schemas: Vec<String> = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT schema_name FROM public.tenants ORDER BY schema_name",
        ))
        .await?
        .into_iter()
        .map(|row| row.try_get::<String>("", "schema_name"))
        .collect::<Result<_, _>>()?;
    let results: Vec<(String, Result<usize, DbErr>)> = stream::iter(schemas)
        .map(|schema| async move {
            let result = migrate_tenant(db, &schema).await;
            (schema, result)
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    let mut report = TenantMigrationReport::default();
    for (schema, result) in results {
        match result {
            Ok(0) => report.already_current.push(schema),
            Ok(_) => report.upgraded.push(schema),
            Err(e) => report.failed.push((schema, e.to_string())),
        }
    }
    report.upgraded.sort();
    report.failed.sort();
    Ok(report)
}

/// Every migration's name, public then tenant: changes whenever the schema does.
pub fn migration_names() -> Vec<String> {
    public::Migrator::migrations()
        .iter()
        .chain(tenant::Migrator::migrations().iter())
        .map(|m| m.name().to_owned())
        .collect()
}
