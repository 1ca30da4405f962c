//! Connections and the tenant unit of work.

pub use migrations::set_tenant_search_path;
use sea_orm::{
    sqlx, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr,
    Statement, TransactionTrait, TryGetable,
};
use std::time::Duration;

/// A pool. While PostgreSQL is down a caller hears so within about three
/// seconds (the door answers 503, a job fails and is resumed), rather than
/// waiting on a connection that is not coming.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    Database::connect(pool_options(url, max_connections)).await
}

fn pool_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    options
}

/// Opens the one transaction a unit of tenant work runs in, with
/// `search_path` set *locally*: it ends with the transaction, so a pooled
/// connection never carries one tenant's path to the next.
pub async fn tenant_txn(db: &DatabaseConnection, schema: &str) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    set_tenant_search_path(&txn, schema).await?;
    Ok(txn)
}

/// A tenant unit of work on the sqlx pool itself: `BEGIN` and the
/// transaction-local `search_path` travel in one round trip (the run
/// engine's lease and progress, the door's answer to a duplicate that
/// raced its original). The schema name is the `Tenant`'s, validated
/// when the `Tenant` was made, so it can be written into the statement.
pub async fn begin_fast(
    db: &DatabaseConnection,
    tenant: &crate::Tenant,
) -> Result<sea_orm::sqlx::Transaction<'static, sea_orm::sqlx::Postgres>, DbErr> {
    begin_with(db, tenant, Commit::Durable).await
}

/// Whether a transaction's commit waits for its write-ahead log to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// The commit returns once the log is on disk (every write Steward promises anything about).
    Durable,
    /// The commit returns at once and the log follows within PostgreSQL's
    /// `wal_writer_delay` (200 ms by default). A crash of PostgreSQL in that
    /// window loses the transaction whole, never part of it: only for a write
    /// whose loss leaves work that is done again (computation only).
    Recomputable,
}

/// `begin_fast`, with the commit's durability said.
pub async fn begin_with(
    db: &DatabaseConnection,
    tenant: &crate::Tenant,
    commit: Commit,
) -> Result<sea_orm::sqlx::Transaction<'static, sea_orm::sqlx::Postgres>, DbErr> {
    use sea_orm::sqlx;
    let schema = tenant.schema();
    if !engine::tenant::is_tenant_schema_name(schema) {
        return Err(DbErr::Custom(format!("refusing invalid tenant schema name {schema:?}")));
    }
    // All transaction-local, in the round trip of BEGIN.
    let mut begin = format!("BEGIN; SELECT set_config('search_path', '{schema}', true)");
    if commit == Commit::Recomputable {
        begin.push_str(", set_config('synchronous_commit', 'off', true)");
    }
    db.get_postgres_connection_pool().begin_with(sqlx::AssertSqlSafe(begin)).await.map_err(from_sqlx)
}

/// A statement that is a tenant transaction by itself, in one round trip
/// (no BEGIN, no COMMIT: PostgreSQL runs a lone statement in a transaction
/// of its own): `template` names the business's tables with `{schema}`,
/// replaced here by the `Tenant`'s validated schema, and sets the
/// `search_path` locally as it runs (a `set_config(.., true)` in a CTE it
/// reads before it writes), so triggers see the business's schema and
/// nothing of it outlives the statement.
pub fn in_schema(template: &str, tenant: &crate::Tenant) -> String {
    template.replace("{schema}", tenant.schema())
}

/// A pool for statements about a set of runs given as an array (`id =
/// ANY($1)`, the worker's run groups): each connection plans such a
/// statement once and reuses the plan. Left to itself PostgreSQL plans
/// them afresh at every execution (a plan for an array of unknown length
/// looks dearer than one for the array at hand), which costs more than
/// the statement itself.
pub async fn connect_for_sets(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = pool_options(url, max_connections);
    options.map_sqlx_postgres_opts(|pg| pg.options([("plan_cache_mode", "force_generic_plan")]));
    Database::connect(options).await
}

/// A sqlx error as sea-orm reports it.
pub fn from_sqlx(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)))
}

/// Whether `e` says PostgreSQL could not be reached, dropped the connection
/// or asked to be tried again (a restart, a full pool, a serialization
/// failure), or the business's schema is behind the code (an upgrade under
/// way): something to wait out, not a mistake in what was asked.
pub fn is_outage(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| passes(&code)),
            _ => false,
        },
        DbErr::Conn(_) => true,
        _ => false,
    }
}

/// SQLSTATEs that pass: connection exceptions (08), operator intervention
/// (57: a shutdown, a statement cancelled or past the role's
/// `statement_timeout`), insufficient resources (53), the server's own I/O
/// (58), serialization failures and deadlocks (40001, 40P01), a lock not
/// granted in time (55P03), a write sent to a read-only standby after a
/// failover (25006), and a table, column, function or schema the code
/// expects that a migration has not made yet (42P01, 42703, 42883, 3F000).
fn passes(code: &str) -> bool {
    ["08", "57", "53", "58"].iter().any(|class| code.starts_with(class))
        || ["40001", "40P01", "55P03", "25006", "42P01", "42703", "42883", "3F000"].contains(&code)
}

/// Whether PostgreSQL refused a statement for a reason that holds however
/// often it is sent (a value it cannot store, a broken constraint, an
/// exception a trigger raised), or a stored document does not decode:
/// sending it again would fail the same way.
pub fn is_refusal(e: &DbErr) -> bool {
    match e {
        DbErr::Type(_) | DbErr::Json(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), sqlx::Error::Database(db) if db.code().is_some_and(|code| !passes(&code)))
        }
        _ => false,
    }
}

/// Whether a database error is a unique-constraint violation on `constraint`.
pub fn is_unique_violation(err: &DbErr, constraint: &str) -> bool {
    let text = err.to_string();
    text.contains("duplicate key") && text.contains(constraint)
}

/// The column `value` of the first row a query answers, if it answers one
/// (`SELECT count(*) AS value …`).
pub async fn scalar<T: TryGetable, C: ConnectionTrait>(conn: &C, statement: Statement) -> Result<Option<T>, DbErr> {
    conn.query_one_raw(statement).await?.map(|row| row.try_get::<T>("", "value")).transpose()
}

/// The column `value` of every row a query answers.
pub async fn scalars<T: TryGetable, C: ConnectionTrait>(conn: &C, statement: Statement) -> Result<Vec<T>, DbErr> {
    conn.query_all_raw(statement).await?.iter().map(|row| row.try_get::<T>("", "value")).collect()
}

/// A stored JSON document read as `T`. A document that does not decode is
/// an error that names `what`, never a missing value.
pub fn decode<T: serde::de::DeserializeOwned>(what: &str, value: serde_json::Value) -> Result<T, DbErr> {
    serde_json::from_value(value).map_err(|e| DbErr::Type(format!("{what} does not decode: {e}")))
}

/// A PostgreSQL statement with bound values.
pub fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)
}
