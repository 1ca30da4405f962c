//! The door's writes in groups: the events of one workflow that arrive
//! while the previous group is being written are accepted together, in one
//! statement (`ACCEPT`, a transaction of its own): one round trip and one
//! commit for them all instead of one each. Each sender still hears 2xx only after the
//! commit that holds its event. A group the database refuses is written
//! again event by event, so one event's fault is its own; an event's ids are
//! fixed before its first try, so writing it again can never make it twice.

use crate::grouped::Grouped;
use crate::tenant::Tenant;
use sea_orm::sqlx;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// What the door does for each event of a group, given as arrays of equal
/// length (one element per event), in one statement that is a transaction
/// of its own (`db::in_schema`): an event and its queued run for a new
/// key; nothing for a key already accepted (the caller reads the earlier
/// run and counts the repeat, `ingest::accept`); nothing when the
/// business's configuration moved since the target was read (not fresh).
/// Two events of one group with the same key: the first makes the run.
/// (Until the nineteenth session the events came as one JSON array read
/// with `jsonb_to_recordset`, and a known key was looked up first: a third
/// more work for PostgreSQL per event. Until the seventeenth, the PL/pgSQL
/// function `public.accept_events`.)
const ACCEPT: &str = "WITH local AS MATERIALIZED (SELECT set_config('search_path', '{schema}', true) AS path),
    given AS (
        SELECT i.* FROM local, unnest($1::bigint[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[],
                                      $7::text[]::jsonb[], $8::text[]::jsonb[], $9::uuid[], $10::text[], $11::int[],
                                      $12::text[]::jsonb[], $13::text[]::jsonb[])
          AS i(generation, workflow, idempotency, event, via, kind, record, received, run, label, version, context, pins)),
    judged AS (
        SELECT g.*, g.generation = (SELECT value FROM \"{schema}\".config_generation) AS ok FROM given g),
    made AS (
        INSERT INTO \"{schema}\".events (id, workflow_id, channel, event_type, idempotency_key, payload, raw, run_id)
        SELECT j.event, j.workflow, j.via, j.kind, j.idempotency, j.record, j.received, j.run
          FROM judged j WHERE j.ok
        ON CONFLICT (workflow_id, idempotency_key) DO NOTHING
        RETURNING id),
    run AS (
        INSERT INTO \"{schema}\".runs (id, workflow_id, workflow_name, workflow_version, event_id, context, pinned)
        SELECT j.run, j.workflow, j.label, j.version, j.event, j.context, j.pins
          FROM judged j JOIN made m ON m.id = j.event
        RETURNING id)
    SELECT j.event AS new_event, j.ok AS accepted_fresh, r.id AS accepted_run
      FROM judged j LEFT JOIN run r ON r.id = j.run";

/// One event as `ACCEPT` reads it: its documents already JSON text, made by
/// the request that brought the event (so the JSON work is spread over the
/// requests, not done by the task that writes the group).
#[derive(Debug)]
pub struct Delivery {
    /// The business's configuration generation the door's target was read at.
    pub generation: i64,
    pub workflow: Uuid,
    pub idempotency: Option<String>,
    pub event: Uuid,
    pub via: &'static str,
    pub kind: String,
    pub record: String,
    pub received: String,
    pub run: Uuid,
    pub label: String,
    pub version: i32,
    pub context: String,
    pub pins: String,
}

/// What the statement said of one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    /// The configuration had not moved since the target was read.
    pub fresh: bool,
    /// The run made for it (a new key, written now); none for a key already accepted.
    pub run: Option<Uuid>,
}

/// A write's error, shared by the events of a group that failed together.
type Shared = Arc<sqlx::Error>;

/// An event's row (shared: kept by the caller too, to write alone if its group is lost).
type Written = Arc<Delivery>;

/// The groups of one workflow's door: made when the door reads the
/// workflow, gone when the door forgets it. Each group is written on the
/// runtime of the request that started it (`grouped`).
#[derive(Clone)]
pub struct AcceptGroups {
    grouped: Grouped<Written, Result<Answer, Shared>>,
    db: DatabaseConnection,
    tenant: Tenant,
}

impl std::fmt::Debug for AcceptGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptGroups")
    }
}

/// Events written in one group at most (a burst beyond this forms the next group).
const MOST: usize = 64;

/// Groups of one workflow written at once. One: the events that arrive
/// while a group is written go together in the next. `bench runs`,
/// twenty-third session, two rounds each, webhooks at concurrency 8 and
/// 32: one flight 3 482 and 6 791–6 893/s, two 2 862–3 332 and
/// 5 650–5 956/s, four 2 472–2 684 and 4 856–5 051/s, eight 2 282–2 288
/// and 4 080–4 281/s; at concurrency 1 no difference.
const FLIGHTS: usize = 1;

impl AcceptGroups {
    pub fn new(db: &DatabaseConnection, tenant: &Tenant) -> Self {
        AcceptGroups { grouped: groups(db, tenant), db: db.clone(), tenant: tenant.clone() }
    }

    /// The event written with the others that came meanwhile.
    pub async fn accept(&self, delivery: Delivery) -> Result<Answer, DbErr> {
        let delivery = Arc::new(delivery);
        match self.grouped.call(delivery.clone()).await {
            Some(answer) => answer.map_err(shared_error),
            // Its group was lost (a panic while writing it, or its runtime stopping): written
            // alone; its ids make that harmless.
            None => write_alone(&self.db, &self.tenant, &delivery).await,
        }
    }
}

/// One workflow's groups: each written in one statement, and one refused
/// written again event by event.
fn groups(db: &DatabaseConnection, tenant: &Tenant) -> Grouped<Written, Result<Answer, Shared>> {
    let (db, tenant) = (db.clone(), tenant.clone());
    Grouped::new(MOST, FLIGHTS, move |calls: Vec<Written>| {
        let (db, tenant) = (db.clone(), tenant.clone());
        async move { write_group(&db, &tenant, calls).await }
    })
}

/// A group's answers in the order of its calls; a refused group is written
/// again one event at a time.
async fn write_group(db: &DatabaseConnection, tenant: &Tenant, calls: Vec<Written>) -> Vec<Result<Answer, Shared>> {
    let rows: Vec<&Delivery> = calls.iter().map(|d| &**d).collect();
    match write(db, tenant, &rows).await {
        Ok(answers) => calls.iter().map(|d| answer_for(&answers, d.event)).collect(),
        // The database refused the statement (not the connection): find whose fault it was.
        Err(sqlx::Error::Database(_)) if calls.len() > 1 => {
            let mut out = Vec::with_capacity(calls.len());
            for delivery in &calls {
                out.push(write_one(db, tenant, delivery).await);
            }
            out
        }
        Err(e) => {
            let e = Arc::new(e);
            calls.iter().map(|_| Err(e.clone())).collect()
        }
    }
}

fn answer_for(answers: &HashMap<Uuid, Answer>, event: Uuid) -> Result<Answer, Shared> {
    answers.get(&event).copied().ok_or_else(|| {
        Arc::new(sqlx::Error::Protocol(format!("the door's statement answered nothing for event {event}")))
    })
}

/// One event written on its own (the door's targets read outside its
/// memory, and a lost group's events).
pub async fn write_alone(db: &DatabaseConnection, tenant: &Tenant, delivery: &Delivery) -> Result<Answer, DbErr> {
    write_one(db, tenant, delivery).await.map_err(shared_error)
}

async fn write_one(db: &DatabaseConnection, tenant: &Tenant, delivery: &Delivery) -> Result<Answer, Shared> {
    let answers = write(db, tenant, &[delivery]).await.map_err(Arc::new)?;
    answer_for(&answers, delivery.event)
}

/// Writes events (a row of `ACCEPT`'s arrays each) in one statement, so one
/// implicit transaction: the answers count once the statement is done.
async fn write(
    db: &DatabaseConnection,
    tenant: &Tenant,
    rows: &[&Delivery],
) -> Result<HashMap<Uuid, Answer>, sqlx::Error> {
    use sqlx::Row as _;
    fn column<'a, T>(rows: &[&'a Delivery], field: impl Fn(&'a Delivery) -> T) -> Vec<T> {
        rows.iter().map(|d| field(d)).collect()
    }
    // Answered on the thread that answers the senders (`db::of_this_thread`).
    let mut connection = crate::db::connection_for_this_thread(db).await?;
    let answered = sqlx::query(sqlx::AssertSqlSafe(crate::db::in_schema(ACCEPT, tenant)))
        .bind(column(rows, |d| d.generation))
        .bind(column(rows, |d| d.workflow))
        .bind(column(rows, |d| d.idempotency.as_deref()))
        .bind(column(rows, |d| d.event))
        .bind(column(rows, |d| d.via))
        .bind(column(rows, |d| d.kind.as_str()))
        .bind(column(rows, |d| d.record.as_str()))
        .bind(column(rows, |d| d.received.as_str()))
        .bind(column(rows, |d| d.run))
        .bind(column(rows, |d| d.label.as_str()))
        .bind(column(rows, |d| d.version))
        .bind(column(rows, |d| d.context.as_str()))
        .bind(column(rows, |d| d.pins.as_str()))
        // All rows, not the first: the answer counts only once the commit that follows it succeeded.
        .fetch_all(&mut *connection)
        .await?;
    crate::db::give_back_after_answers(connection);
    answered
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<Uuid, _>("new_event")?,
                Answer { fresh: row.try_get("accepted_fresh")?, run: row.try_get("accepted_run")? },
            ))
        })
        .collect()
}

fn shared_error(e: Shared) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
}
