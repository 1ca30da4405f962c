//! Connections and the tenant unit of work.

pub use migrations::set_tenant_search_path;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::time::Duration;

pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// Opens the one transaction a unit of tenant work runs in, with
/// `search_path` set *locally*: it ends with the transaction, so a pooled
/// connection never carries one tenant's path to the next.
pub async fn tenant_txn(db: &DatabaseConnection, schema: &str) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    set_tenant_search_path(&txn, schema).await?;
    Ok(txn)
}

/// Whether a database error is a unique-constraint violation on `constraint`.
pub fn is_unique_violation(err: &DbErr, constraint: &str) -> bool {
    let text = err.to_string();
    text.contains("duplicate key") && text.contains(constraint)
}

/// A PostgreSQL statement with bound values.
pub fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)
}
