//! Opening and ending the runs a worker executes concurrently, in groups
//! (`grouped`): the runs of one business opened, or ended, while its
//! previous group was being written go to PostgreSQL together, in one
//! transaction, so that eight runs executing at once cost a worker a few
//! commits instead of sixteen. Each business has groups of its own, so one
//! business's slow write holds up only its own runs. A group that fails is
//! tried again run by run, so one run's trouble stays its own.

use crate::grouped::Grouped;
use crate::runs::{self, Finish, Lease};
use crate::tenant::Tenant;
use sea_orm::{DatabaseConnection, DbErr};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// How many groups of each kind one business has written at once. One:
/// the runs that end while a group is written wait and go together in the
/// next. `bench runs`, twenty-third session, two rounds each: one flight
/// 1 360 and 1 248 runs/s end to end, two 1 255 and 1 207, three 1 144
/// and 1 053 (a backlog drained by one worker: 1 747 and 1 683 runs/s
/// against 1 622 and 1 686 with two); fewer, larger groups cost
/// PostgreSQL and the worker less than groups going side by side.
const FLIGHTS: usize = 1;

/// A business's runs to open, and the answers `runs::open` gives.
type Opening = Grouped<Uuid, Result<Option<Lease>, DbErr>>;
/// A business's runs to end, and whether each write held (`runs::end_many`).
type Ending = Grouped<Finish, Result<bool, DbErr>>;

#[derive(Clone)]
pub struct RunGroups {
    db: DatabaseConnection,
    owner: String,
    lease_seconds: i64,
    most: usize,
    /// Each business's two groups, by schema, started at its first run.
    businesses: Arc<Mutex<HashMap<String, (Opening, Ending)>>>,
}

impl RunGroups {
    /// Groups for the worker `owner`, whose leases last `lease_seconds`; a
    /// group holds at most `most` runs.
    pub fn new(db: DatabaseConnection, owner: String, lease_seconds: i64, most: usize) -> Self {
        RunGroups { db, owner, lease_seconds, most, businesses: Default::default() }
    }

    /// `runs::open`, with the business's runs other executions open meanwhile.
    pub async fn open(&self, tenant: &Tenant, run_id: Uuid) -> Result<Option<Lease>, DbErr> {
        let (opens, _) = self.business(tenant);
        opens.call(run_id).await.unwrap_or_else(|| Err(lost("opening")))
    }

    /// `runs::end_many` for this run, with the business's runs other
    /// executions end meanwhile. False: another execution had the run;
    /// nothing was written.
    pub async fn end(&self, tenant: &Tenant, finish: Finish) -> Result<bool, DbErr> {
        let (_, ends) = self.business(tenant);
        ends.call(finish).await.unwrap_or_else(|| Err(lost("ending")))
    }

    /// The business's groups (each group is written on the runtime of the call that started it).
    fn business(&self, tenant: &Tenant) -> (Opening, Ending) {
        let mut businesses = self.businesses.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        businesses
            .entry(tenant.schema().to_owned())
            .or_insert_with(|| {
                let (db, owner, seconds) = (self.db.clone(), self.owner.clone(), self.lease_seconds);
                let opens = Grouped::new(self.most, FLIGHTS, {
                    let tenant = tenant.clone();
                    move |ids: Vec<Uuid>| {
                        let (db, owner, tenant) = (db.clone(), owner.clone(), tenant.clone());
                        async move { open_business(&db, &tenant, ids, &owner, seconds).await }
                    }
                });
                let db = self.db.clone();
                let tenant = tenant.clone();
                let ends = Grouped::new(self.most, FLIGHTS, move |finishes: Vec<Finish>| {
                    let (db, tenant) = (db.clone(), tenant.clone());
                    async move { end_business(&db, &tenant, finishes).await }
                });
                (opens, ends)
            })
            .clone()
    }
}

fn lost(what: &str) -> DbErr {
    DbErr::Custom(format!("the group {what} this run was lost; the sweeper sends the run again"))
}

/// Each id once, in the order of ids: two workers writing the same runs
/// lock them in the same order, so they wait for each other, never deadlock.
fn once_in_order(ids: impl Iterator<Item = Uuid>) -> Vec<Uuid> {
    let mut unique: Vec<Uuid> = ids.collect::<HashSet<_>>().into_iter().collect();
    unique.sort();
    unique
}

/// Opens a business's runs of one group. A run asked for twice (two
/// deliveries of one job) opens for the first only.
async fn open_business(
    db: &DatabaseConnection,
    tenant: &Tenant,
    ids: Vec<Uuid>,
    owner: &str,
    seconds: i64,
) -> Vec<Result<Option<Lease>, DbErr>> {
    let unique = once_in_order(ids.iter().copied());
    let mut opened: HashMap<Uuid, Result<Option<Lease>, DbErr>> = match runs::open_many(
        db, tenant, &unique, owner, seconds,
    )
    .await
    {
        Ok(mut leases) => unique.iter().map(|id| (*id, Ok(leases.remove(id)))).collect(),
        Err(e) if unique.len() == 1 => HashMap::from([(unique[0], Err(e))]),
        Err(e) => {
            tracing::warn!(error = %e, runs = unique.len(), "a group of runs could not be opened together; opening each");
            let mut each = HashMap::new();
            for id in &unique {
                each.insert(*id, runs::open(db, tenant, *id, owner, seconds).await);
            }
            each
        }
    };
    // The first of a run's calls takes its answer; a repeat has nothing to do.
    ids.iter().map(|id| opened.remove(id).unwrap_or(Ok(None))).collect()
}

/// Ends a business's runs of one group. A run ended twice in one group
/// (two executions of one delivery) is ended by the first only.
async fn end_business(db: &DatabaseConnection, tenant: &Tenant, finishes: Vec<Finish>) -> Vec<Result<bool, DbErr>> {
    let ids: Vec<Uuid> = finishes.iter().map(|f| f.run_id).collect();
    let mut firsts: HashMap<Uuid, Finish> = HashMap::new();
    for finish in finishes {
        firsts.entry(finish.run_id).or_insert(finish);
    }
    let unique: Vec<Finish> =
        once_in_order(ids.iter().copied()).into_iter().filter_map(|id| firsts.remove(&id)).collect();
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
