//! The door's writes in groups: the events of one workflow that arrive
//! while the previous group is being written are accepted together, in one
//! call of `public.accept_events` (public migration
//! `m20261212_000012_accept_events`): one round trip and one commit for
//! them all instead of one each. Each sender still hears 2xx only after the
//! commit that holds its event. A group the database refuses is written
//! again event by event, so one event's fault is its own; an event's ids are
//! fixed before its first try, so writing it again can never make it twice.

use crate::grouped::Grouped;
use sea_orm::sqlx;
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// One event as `accept_events` reads it (one element of its array).
#[derive(Serialize)]
pub struct Delivery<'a> {
    /// The business's configuration generation the door's target was read at.
    pub generation: i64,
    pub workflow: Uuid,
    pub idempotency: Option<&'a str>,
    pub event: Uuid,
    pub via: &'a str,
    pub kind: &'a str,
    pub record: &'a Value,
    pub received: &'a Value,
    pub run: Uuid,
    pub label: &'a str,
    pub version: i32,
    pub context: &'a Value,
    pub pins: &'a Value,
}

/// What the statement said of one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    /// The configuration had not moved since the target was read.
    pub fresh: bool,
    /// The run made for it (a new key, written now).
    pub run: Option<Uuid>,
    /// The run of the earlier event with its key (a repeat).
    pub prior: Option<Uuid>,
}

/// A write's error, shared by the events of a group that failed together.
type Shared = Arc<sqlx::Error>;

/// An event's ids and its element of the array, as JSON text.
type Written = (Uuid, String);

/// The groups of one workflow's door: started on the current runtime when
/// the door reads the workflow, ended when the door forgets it, and started
/// again on the caller's runtime if the one they ran on stopped (an HTTP
/// worker thread that ended).
#[derive(Clone)]
pub struct AcceptGroups {
    grouped: Arc<Mutex<Grouped<Written, Result<Answer, Shared>>>>,
    db: DatabaseConnection,
    schema: String,
}

impl std::fmt::Debug for AcceptGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptGroups")
    }
}

/// Events written in one group at most (a burst beyond this forms the next group).
const MOST: usize = 64;

impl AcceptGroups {
    pub fn start(db: &DatabaseConnection, schema: &str) -> Self {
        AcceptGroups { grouped: Arc::new(Mutex::new(serve(db, schema))), db: db.clone(), schema: schema.to_owned() }
    }

    /// The event written with the others that came meanwhile.
    pub async fn accept(&self, event: Uuid, element: String) -> Result<Answer, DbErr> {
        let grouped = {
            // A poisoned lock only means a panic elsewhere while it was held; the handle is whole.
            let mut grouped = self.grouped.lock().unwrap_or_else(|p| p.into_inner());
            if grouped.is_closed() {
                *grouped = serve(&self.db, &self.schema);
            }
            grouped.clone()
        };
        match grouped.call((event, element.clone())).await {
            Some(answer) => answer.map_err(shared_error),
            // Its group was lost (a panic while writing it): written alone; its ids make that harmless.
            None => write_alone(&self.db, &self.schema, event, &element).await,
        }
    }
}

/// The task that writes one workflow's groups, on the current runtime.
fn serve(db: &DatabaseConnection, schema: &str) -> Grouped<Written, Result<Answer, Shared>> {
    let (db, schema) = (db.clone(), schema.to_owned());
    Grouped::start(MOST, 2, move |calls: Vec<Written>| {
        let (db, schema) = (db.clone(), schema.clone());
        async move { write_group(&db, &schema, calls).await }
    })
}

/// A group's answers in the order of its calls; a refused group is written
/// again one event at a time.
async fn write_group(db: &DatabaseConnection, schema: &str, calls: Vec<Written>) -> Vec<Result<Answer, Shared>> {
    let elements: Vec<&str> = calls.iter().map(|(_, element)| element.as_str()).collect();
    match write(db, schema, &elements).await {
        Ok(answers) => calls.iter().map(|(event, _)| answer_for(&answers, *event)).collect(),
        // The database refused the statement (not the connection): find whose fault it was.
        Err(sqlx::Error::Database(_)) if calls.len() > 1 => {
            let mut out = Vec::with_capacity(calls.len());
            for (event, element) in &calls {
                out.push(write_one(db, schema, *event, element).await);
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
    answers
        .get(&event)
        .copied()
        .ok_or_else(|| Arc::new(sqlx::Error::Protocol(format!("accept_events answered nothing for event {event}"))))
}

/// One event written on its own (the door's targets read outside its
/// memory, and a lost group's events).
pub async fn write_alone(db: &DatabaseConnection, schema: &str, event: Uuid, element: &str) -> Result<Answer, DbErr> {
    write_one(db, schema, event, element).await.map_err(shared_error)
}

async fn write_one(db: &DatabaseConnection, schema: &str, event: Uuid, element: &str) -> Result<Answer, Shared> {
    let answers = write(db, schema, &[element]).await.map_err(Arc::new)?;
    answer_for(&answers, event)
}

/// Writes events (elements of `accept_events`'s array) in one statement, so
/// one implicit transaction: the answers count once the statement is done.
async fn write(db: &DatabaseConnection, schema: &str, elements: &[&str]) -> Result<HashMap<Uuid, Answer>, sqlx::Error> {
    use sqlx::Row as _;
    let batch = format!("[{}]", elements.join(","));
    let rows = sqlx::query(
        "SELECT new_event, accepted_fresh, accepted_run, prior_run FROM public.accept_events($1, $2::jsonb)",
    )
    .bind(schema)
    .bind(batch)
    // All rows, not the first: the answer counts only once the commit that follows it succeeded.
    .fetch_all(db.get_postgres_connection_pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<Uuid, _>("new_event")?,
                Answer {
                    fresh: row.try_get("accepted_fresh")?,
                    run: row.try_get("accepted_run")?,
                    prior: row.try_get("prior_run")?,
                },
            ))
        })
        .collect()
}

fn shared_error(e: Shared) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
}
