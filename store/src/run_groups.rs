//! Opening and ending the runs a worker executes concurrently, in groups
//! (`grouped`): the runs opened, or ended, while the previous group was
//! being written go to PostgreSQL together, in one transaction per
//! business, so that eight runs executing at once cost a worker a few
//! commits instead of sixteen. A group that fails is tried again run by
//! run, so one run's trouble stays its own.

use crate::grouped::Grouped;
use crate::runs::{self, Finish, Lease};
use crate::tenant::Tenant;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A run to open, and the answer `runs::open` gives.
type Opening = Grouped<(Tenant, Uuid), Result<Option<Lease>, DbErr>>;
/// A run to end, and whether the write held (`runs::end_many`).
type Ending = Grouped<(Tenant, Finish), Result<bool, DbErr>>;

/// How many groups of each kind are written at once: while one waits on
/// PostgreSQL the next can form and go, so that one business's slow write
/// does not hold up every other run's.
const FLIGHTS: usize = 2;

#[derive(Clone)]
pub struct RunGroups {
    opens: Opening,
    ends: Ending,
}

impl RunGroups {
    /// Starts the two groups' tasks on the current runtime for the worker
    /// `owner`, whose leases last `lease_seconds`; a group holds at most
    /// `most` runs.
    pub fn start(db: DatabaseConnection, owner: String, lease_seconds: i64, most: usize) -> Self {
        let opens = Grouped::start(most, FLIGHTS, {
            let db = db.clone();
            move |calls: Vec<(Tenant, Uuid)>| {
                let (db, owner) = (db.clone(), owner.clone());
                per_business(calls, move |tenant, ids| {
                    let (db, owner) = (db.clone(), owner.clone());
                    async move { open_business(&db, &tenant, ids, &owner, lease_seconds).await }
                })
            }
        });
        let ends = Grouped::start(most, FLIGHTS, move |calls: Vec<(Tenant, Finish)>| {
            let db = db.clone();
            per_business(calls, move |tenant, finishes| {
                let db = db.clone();
                async move { end_business(&db, &tenant, finishes).await }
            })
        });
        RunGroups { opens, ends }
    }

    /// `runs::open`, with the runs other executions open meanwhile.
    pub async fn open(&self, tenant: &Tenant, run_id: Uuid) -> Result<Option<Lease>, DbErr> {
        self.opens.call((tenant.clone(), run_id)).await.unwrap_or_else(|| Err(lost("opening")))
    }

    /// `runs::end_many` for this run, with the runs other executions end
    /// meanwhile. False: another execution had the run; nothing was written.
    pub async fn end(&self, tenant: &Tenant, finish: Finish) -> Result<bool, DbErr> {
        self.ends.call((tenant.clone(), finish)).await.unwrap_or_else(|| Err(lost("ending")))
    }
}

fn lost(what: &str) -> DbErr {
    DbErr::Custom(format!("the group {what} this run was lost; the sweeper sends the run again"))
}

/// Serves a group's calls one business at a time, the businesses at once,
/// and answers them in the order they came.
async fn per_business<T, A, F, Fut>(calls: Vec<(Tenant, T)>, serve: F) -> Vec<A>
where
    T: Send + 'static,
    A: Send + 'static,
    F: Fn(Tenant, Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Vec<A>> + Send + 'static,
{
    let count = calls.len();
    let mut businesses: Vec<(Tenant, Vec<usize>, Vec<T>)> = Vec::new();
    for (at, (tenant, item)) in calls.into_iter().enumerate() {
        match businesses.iter_mut().find(|(t, ..)| t.schema() == tenant.schema()) {
            Some((_, places, items)) => {
                places.push(at);
                items.push(item);
            }
            None => businesses.push((tenant, vec![at], vec![item])),
        }
    }
    let mut running = tokio::task::JoinSet::new();
    for (tenant, places, items) in businesses {
        let work = serve(tenant, items);
        running.spawn(async move { (places, work.await) });
    }
    let mut answers: Vec<Option<A>> = (0..count).map(|_| None).collect();
    while let Some(done) = running.join_next().await {
        // A panic in one business's part loses the whole group (`Grouped` tells its callers).
        let (places, served) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        for (at, answer) in places.into_iter().zip(served) {
            answers[at] = Some(answer);
        }
    }
    answers.into_iter().map(|a| a.expect("every call of the group is answered")).collect()
}

/// Opens one business's runs of the group. A run asked for twice (two
/// deliveries of one job) opens for the first only.
async fn open_business(
    db: &DatabaseConnection,
    tenant: &Tenant,
    ids: Vec<Uuid>,
    owner: &str,
    seconds: i64,
) -> Vec<Result<Option<Lease>, DbErr>> {
    let unique: Vec<Uuid> = {
        let mut seen = HashSet::new();
        ids.iter().copied().filter(|id| seen.insert(*id)).collect()
    };
    match runs::open_many(db, tenant, &unique, owner, seconds).await {
        Ok(mut leases) => ids.iter().map(|id| Ok(leases.remove(id))).collect(),
        Err(e) if ids.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::warn!(error = %e, runs = ids.len(), "a group of runs could not be opened together; opening each");
            let mut answers = Vec::with_capacity(ids.len());
            for id in ids {
                answers.push(runs::open(db, tenant, id, owner, seconds).await);
            }
            answers
        }
    }
}

/// Ends one business's runs of the group. A run ended twice in one group
/// (two executions of one delivery) is ended by the first only.
async fn end_business(db: &DatabaseConnection, tenant: &Tenant, finishes: Vec<Finish>) -> Vec<Result<bool, DbErr>> {
    let ids: Vec<Uuid> = finishes.iter().map(|f| f.run_id).collect();
    let unique: Vec<Finish> = {
        let mut seen = HashSet::new();
        finishes.into_iter().filter(|f| seen.insert(f.run_id)).collect()
    };
    let mut results: HashMap<Uuid, Result<bool, DbErr>> = match runs::end_many(db, tenant, &unique).await {
        Ok(ended) => unique.iter().map(|f| (f.run_id, Ok(ended.contains(&f.run_id)))).collect(),
        Err(e) if unique.len() == 1 => HashMap::from([(unique[0].run_id, Err(e))]),
        Err(e) => {
            tracing::warn!(error = %e, runs = unique.len(), "a group of runs could not be ended together; ending each");
            let mut each = HashMap::new();
            for finish in &unique {
                let ended = runs::end_many(db, tenant, std::slice::from_ref(finish)).await;
                each.insert(finish.run_id, ended.map(|ended| ended.contains(&finish.run_id)));
            }
            each
        }
    };
    // The first of a run's calls takes its answer; a repeat had nothing to write.
    ids.iter().map(|id| results.remove(id).unwrap_or(Ok(false))).collect()
}
