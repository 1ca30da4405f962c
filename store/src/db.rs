//! Connections and the tenant unit of work.

pub use migrations::set_tenant_search_path;
use sea_orm::{
    sqlx, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr,
    Statement, TransactionTrait, TryGetable,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
        .acquire_timeout(ACQUIRE_WAIT)
        .test_before_acquire_if_idle_for(CHECKED_AFTER_IDLE)
        .sqlx_logging(false);
    options
}

/// How long a caller waits for a connection of a full pool (see `connect`).
const ACQUIRE_WAIT: Duration = Duration::from_secs(3);

/// A connection idle this long is checked (a round trip) before it is
/// lent; one used more recently is lent at once. sqlx checks every
/// connection it lends by default: under load that is a round trip more
/// for every statement (`bench runs`, twenty-fourth session: a raw INSERT
/// at concurrency 1 2 950-3 310/s checked, 3 480-4 080/s not; an accepted
/// webhook 1 290-1 300/s and 1 180-1 620/s). A connection that
/// broke while idle (PostgreSQL restarted) is found by the check, and
/// one that broke while in use is closed when it comes back (sqlx checks
/// every connection given back).
const CHECKED_AFTER_IDLE: Duration = Duration::from_secs(1);

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

/// How many connections the door keeps per thread of the server
/// (`of_this_thread`): a group in flight and the one sqlx is still
/// checking after the previous group. (Four, with the main pool taken at
/// once when all were busy: webhooks at concurrency 8 4 480-4 673/s
/// against 4 934-5 213/s with two, `bench runs`, two rounds: more
/// connections to open and prepare the door's statement on.)
const THREAD_CONNECTIONS: u32 = 2;

/// How long a statement waits for one of its thread's connections before
/// it takes one of the main pool (`connection_for_this_thread`): about
/// what sqlx's check of a connection given back takes, not a group's write.
const THREAD_WAIT: Duration = Duration::from_millis(2);

thread_local! {
    /// This thread's own pools, by the database they reach (`of_this_thread`).
    static THREAD_POOLS: std::cell::RefCell<Vec<ThreadPool>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A pool of one thread's runtime (`of_this_thread`).
struct ThreadPool {
    /// The database it reaches.
    key: String,
    db: DatabaseConnection,
    /// False once the runtime that opened its connections has stopped
    /// (a thread may run another runtime after it, a test's for one):
    /// they are of no use on the next.
    open: Arc<AtomicBool>,
}

/// Says, when the task holding it is dropped with its runtime, that the runtime stopped.
struct RuntimeGone(Arc<AtomicBool>);

impl Drop for RuntimeGone {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// A pool whose connections belong to the runtime of the calling thread,
/// when that runtime is a thread's own (an actix worker's): `db` itself
/// otherwise. A connection's socket is watched by the runtime that opened
/// it; used from another thread, each answer of PostgreSQL wakes that
/// runtime first, which then wakes the caller's thread: one hand-over
/// between threads per round trip (a throwaway bench, twenty-fourth session: an
/// INSERT at concurrency 1 0.35-0.40 ms on a connection of its own runtime,
/// 0.37-0.43 ms on one of another). The door writes on it, so an accepted
/// event's commit is answered on the thread that answers its sender. At
/// most `THREAD_CONNECTIONS` per thread, opened when needed and closed
/// after a minute unused.
pub fn of_this_thread(db: &DatabaseConnection) -> DatabaseConnection {
    thread_pool(db).unwrap_or_else(|| db.clone())
}

/// The calling thread's own pool for `db`'s database, when the thread runs
/// a runtime of its own (`of_this_thread`); None on a runtime of several
/// threads, whose threads share what their connections hear.
fn thread_pool(db: &DatabaseConnection) -> Option<DatabaseConnection> {
    use sea_orm::sqlx::postgres::PgPoolOptions;
    let own = tokio::runtime::Handle::try_current()
        .is_ok_and(|rt| rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
    if !own {
        return None;
    }
    let pool = db.get_postgres_connection_pool();
    let options = pool.connect_options();
    let key = format!(
        "{}:{}/{}@{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default(),
        options.get_username()
    );
    THREAD_POOLS.with(|pools| {
        let mut pools = pools.borrow_mut();
        pools.retain(|pool| pool.open.load(Ordering::Relaxed));
        if let Some(pool) = pools.iter().find(|pool| pool.key == key) {
            return Some(pool.db.clone());
        }
        let own = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(
            PgPoolOptions::new()
                .max_connections(THREAD_CONNECTIONS)
                .min_connections(0)
                .acquire_timeout(ACQUIRE_WAIT)
                .idle_timeout(Duration::from_secs(60))
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= CHECKED_AFTER_IDLE {
                            sea_orm::sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_lazy_with((*options).clone()),
        );
        let open = Arc::new(AtomicBool::new(true));
        let gone = RuntimeGone(open.clone());
        tokio::spawn(async move {
            let _gone = gone;
            std::future::pending::<()>().await
        });
        pools.push(ThreadPool { key, db: own.clone(), open });
        Some(own)
    })
}

/// A connection for a statement whose answers go out on this thread: one
/// of the thread's own (`of_this_thread`) when one is free, may be opened
/// or comes back within `THREAD_WAIT`, one of `db`'s otherwise, so that a
/// burst over many workflows at once waits on no thread's few connections.
pub async fn connection_for_this_thread(
    db: &DatabaseConnection,
) -> Result<sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>, sea_orm::sqlx::Error> {
    let main = db.get_postgres_connection_pool();
    let Some(own) = thread_pool(db) else { return main.acquire().await };
    let pool = own.get_postgres_connection_pool();
    if pool.num_idle() > 0 || pool.size() < THREAD_CONNECTIONS {
        return pool.acquire().await;
    }
    match tokio::time::timeout(THREAD_WAIT, pool.acquire()).await {
        Ok(connection) => connection,
        Err(_) => main.acquire().await,
    }
}

/// Gives a connection back to its pool after the answers its statement
/// made have reached their callers. sqlx checks every connection given
/// back with a round trip, in a task it starts when the connection is
/// dropped; on a thread's own runtime (an actix worker's) tasks run in
/// the order they were woken, so dropped at once, its check would go
/// before the sender's answer. Dropped from a task of its own, started
/// before the callers are told, the check starts after them.
pub fn give_back_after_answers(connection: sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>) {
    tokio::spawn(async move { drop(connection) });
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
