//! KPI data in PostgreSQL: each workflow's baseline (every save a new
//! version in the change log), outcome events reported back, day tallies
//! and the monthly scorecards. A month is the sum of its local days; a
//! closed day whose runs have all finished is tallied once and kept
//! (`kpi_days.settled`), so computing a month only reads the days that can
//! still change. Scorecards are immutable snapshots; a recompute adds a
//! revision and says who asked and why.

use crate::db::{decode, scalar, scalars, stmt};
use crate::local_time::{time_zone_in, TZ};
use crate::outbox::{self, OutboxEmail};
use crate::tenant::Tenant;
use crate::{audit, auth::CurrentMember};
use chrono::{DateTime, NaiveDate, Utc};
use engine::kpi::{self, Baseline, Month, Scorecard, Tally};
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::json;
use std::collections::BTreeMap;

/// Marks a day as computed (the tally of a day without runs is empty).
const DAY_MARKER: &str = "*";

// ---- baselines ----

pub async fn baselines_in(txn: &DatabaseTransaction) -> Result<BTreeMap<String, (Baseline, i32)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        workflow_name: String,
        manual_minutes: f64,
        error_rate: f64,
        response_minutes: f64,
        monthly_volume: i64,
        hourly_cost_micros: i64,
        outcome: String,
        outcome_rate: Option<f64>,
        version: i32,
    }
    let rows = Row::find_by_statement(stmt(
        "SELECT workflow_name, manual_minutes, error_rate, response_minutes, monthly_volume, hourly_cost_micros, outcome, outcome_rate, version
           FROM workflow_baselines",
        vec![],
    ))
    .all(txn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let b = Baseline {
                manual_minutes: r.manual_minutes,
                error_rate: r.error_rate,
                response_minutes: r.response_minutes,
                monthly_volume: r.monthly_volume,
                hourly_cost: r.hourly_cost_micros,
                outcome: r.outcome,
                outcome_rate: r.outcome_rate,
            };
            (r.workflow_name, (b, r.version))
        })
        .collect())
}

/// Every workflow's baseline and its version, in a transaction of its own.
pub async fn baselines(db: &DatabaseConnection, tenant: &Tenant) -> Result<BTreeMap<String, (Baseline, i32)>, DbErr> {
    let txn = tenant.begin(db).await?;
    let found = baselines_in(&txn).await?;
    txn.commit().await?;
    Ok(found)
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("there is no such workflow")]
    NoWorkflow,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Saves a workflow's baseline as its next version, recorded in the change log.
pub async fn save_baseline(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
    b: &Baseline,
    why: &str,
) -> Result<i32, BaselineError> {
    let txn = member.tenant.begin(db).await?;
    let exists =
        txn.query_one_raw(stmt("SELECT 1 FROM workflows WHERE name = $1", vec![workflow.into()])).await?.is_some();
    if !exists {
        return Err(BaselineError::NoWorkflow);
    }
    let version: i32 = scalar(
        &txn,
        stmt(
            "INSERT INTO workflow_baselines (workflow_name, manual_minutes, error_rate, response_minutes, monthly_volume, hourly_cost_micros, outcome, outcome_rate, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (workflow_name) DO UPDATE SET manual_minutes = $2, error_rate = $3, response_minutes = $4, monthly_volume = $5,
                 hourly_cost_micros = $6, outcome = $7, outcome_rate = $8, updated_by = $9, updated_at = now(), version = workflow_baselines.version + 1
             RETURNING version AS value",
            vec![
                workflow.into(),
                b.manual_minutes.into(),
                b.error_rate.into(),
                b.response_minutes.into(),
                b.monthly_volume.into(),
                b.hourly_cost.into(),
                b.outcome.clone().into(),
                b.outcome_rate.into(),
                member.email.clone().into(),
            ],
        ),
    )
    .await?
    .ok_or(DbErr::RecordNotFound("baseline".into()))?;
    audit::record_change(
        &txn,
        Some(member),
        "kpi",
        "kpi.baseline_saved",
        workflow,
        why,
        json!({
            "version": version,
            "baseline": b,
            "summary": format!("Baseline v{version}: {}", b.summary(crate::currency::currency_in(&txn).await?)),
        }),
    )
    .await?;
    // Savings depend on the baseline: the days tallied with the old one are counted again.
    txn.execute_raw(stmt("UPDATE kpi_days SET settled = false WHERE settled", vec![])).await?;
    txn.commit().await?;
    Ok(version)
}

// ---- outcome events ----

/// An outcome reported back for a workflow's work.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub outcome: String,
    pub run_id: Option<Uuid>,
    pub value: Option<f64>,
    pub occurred_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
}

/// What became of a reported outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeRecorded {
    New,
    /// The same idempotency key was recorded before.
    Duplicate,
    /// The run it names is not a run of this workflow (nothing was written).
    UnknownRun,
}

/// Records an outcome once per idempotency key; the day it happened on is
/// counted again. A run it names must be one of this workflow's.
pub async fn record_outcome(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
    o: &Outcome,
) -> Result<OutcomeRecorded, DbErr> {
    let txn = tenant.begin(db).await?;
    if let Some(id) = o.run_id {
        let known = txn
            .query_one_raw(stmt(
                "SELECT id FROM runs WHERE id = $1 AND workflow_name = $2",
                vec![id.into(), workflow.into()],
            ))
            .await?
            .is_some();
        if !known {
            txn.commit().await?;
            return Ok(OutcomeRecorded::UnknownRun);
        }
    }
    let inserted = txn
        .execute_raw(stmt(
            "INSERT INTO outcome_events (id, workflow_name, run_id, outcome, value, idempotency_key, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (workflow_name, idempotency_key) DO NOTHING",
            vec![Uuid::new_v4().into(), workflow.into(), o.run_id.into(), o.outcome.clone().into(), o.value.into(), o.idempotency_key.clone().into(), o.occurred_at.into()],
        ))
        .await?
        .rows_affected()
        == 1;
    if inserted {
        txn.execute_raw(stmt(
            &format!("UPDATE kpi_days SET settled = false WHERE day = ($1 AT TIME ZONE {TZ})::date"),
            vec![o.occurred_at.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(if inserted { OutcomeRecorded::New } else { OutcomeRecorded::Duplicate })
}

// ---- day tallies ----

type DayKey = (NaiveDate, String);

/// Every tally query answers per workflow and local day; `entry` finds that day's tally.
fn entry<'a>(map: &'a mut BTreeMap<DayKey, Tally>, r: &sea_orm::QueryResult) -> Result<&'a mut Tally, DbErr> {
    let workflow: String = r.try_get("", "workflow_name")?;
    let day: NaiveDate = r.try_get("", "day")?;
    Ok(map.entry((day, workflow)).or_default())
}

/// Tallies every workflow's local days in `[from, to]` from the ledger,
/// the runs, their steps and decisions, and the outcome events. A run's
/// steps, decisions and review lines all happen after its event arrived,
/// so they are also bounded by the range's start: their time indexes then
/// skip everything older (a day of the running month reads only that day's rows).
pub async fn tally_days(
    txn: &DatabaseTransaction,
    tz: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<DayKey, Tally>, DbErr> {
    let start = kpi::local_midnight(from, tz);
    let end = kpi::local_midnight(to.succ_opt().unwrap_or(to), tz);
    let range = || vec![start.into(), end.into(), tz.into()];
    let mut map: BTreeMap<DayKey, Tally> = BTreeMap::new();
    let day_of = |col: &str| format!("({col} AT TIME ZONE $3)::date AS day");

    // Runs, by the day their event arrived. Error hand-offs and first
    // outside messages are joined as sets (hash joins), not looked up per run.
    let sql = format!(
        "WITH r AS (SELECT id, workflow_name, status, created_at, finished_at FROM runs WHERE created_at >= $1 AND created_at < $2),
              handed AS (SELECT DISTINCT t.run_id FROM review_tasks t JOIN r ON r.id = t.run_id WHERE t.reason = 'error' AND t.created_at >= $1),
              answered AS (SELECT s.run_id, min(s.finished_at) AS at FROM run_steps s JOIN r ON r.id = s.run_id
                            WHERE s.kind = 'notify' AND s.status = 'completed' AND s.started_at >= $1 GROUP BY 1)
         SELECT r.workflow_name, {day}, count(*) AS runs,
                count(*) FILTER (WHERE r.status = 'completed') AS completed,
                count(*) FILTER (WHERE r.status = 'failed') AS failed,
                count(*) FILTER (WHERE r.status IN ('queued', 'running', 'waiting_for_review')) AS open,
                count(*) FILTER (WHERE r.status = 'failed' OR h.run_id IS NOT NULL) AS exceptions,
                coalesce(sum(extract(epoch FROM r.finished_at - r.created_at)) FILTER (WHERE r.status = 'completed'), 0)::bigint AS cycle_seconds,
                coalesce(sum(extract(epoch FROM coalesce(a.at, r.finished_at) - r.created_at)) FILTER (WHERE r.status = 'completed'), 0)::bigint AS response_seconds
           FROM r LEFT JOIN handed h ON h.run_id = r.id LEFT JOIN answered a ON a.run_id = r.id GROUP BY 1, 2",
        day = day_of("r.created_at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let t = entry(&mut map, &r)?;
        t.runs = r.try_get("", "runs")?;
        t.completed = r.try_get("", "completed")?;
        t.failed = r.try_get("", "failed")?;
        t.open = r.try_get("", "open")?;
        t.exceptions = r.try_get("", "exceptions")?;
        t.cycle_seconds = r.try_get("", "cycle_seconds")?;
        t.response_seconds = r.try_get("", "response_seconds")?;
    }

    // Decisions, by their run's day.
    let sql = format!(
        "SELECT r.workflow_name, {day}, count(DISTINCT t.run_id) AS reviewed, count(*) AS decided,
                count(*) FILTER (WHERE t.decision = 'approve') AS agreed,
                coalesce(sum(extract(epoch FROM t.decided_at - t.created_at)) FILTER (WHERE r.status = 'completed'), 0)::bigint AS waiting_seconds
           FROM review_tasks t JOIN runs r ON r.id = t.run_id
          WHERE t.status = 'decided' AND t.created_at >= $1 AND r.created_at >= $1 AND r.created_at < $2 GROUP BY 1, 2",
        day = day_of("r.created_at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let t = entry(&mut map, &r)?;
        t.reviewed = r.try_get("", "reviewed")?;
        t.decided = r.try_get("", "decided")?;
        t.agreed = r.try_get("", "agreed")?;
        t.waiting_seconds = r.try_get("", "waiting_seconds")?;
    }

    // Person-time on decisions: the ledger's review lines (seconds), by their run's day.
    let sql = format!(
        "SELECT r.workflow_name, {day}, coalesce(sum(c.quantity), 0)::bigint AS review_seconds
           FROM cost_lines c JOIN runs r ON r.id = c.run_id
          WHERE c.kind = 'review' AND c.at >= $1 AND r.created_at >= $1 AND r.created_at < $2 GROUP BY 1, 2",
        day = day_of("r.created_at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        entry(&mut map, &r)?.review_seconds = r.try_get("", "review_seconds")?;
    }

    // Steps: retries and the confidence of model drafts (in tenths, as
    // `kpi::confidence_bucket` counts them), by their run's day.
    let n = kpi::CONFIDENCE_BUCKETS;
    let buckets: Vec<String> = (0..n).map(|i| format!("count(*) FILTER (WHERE bucket = {i}) AS bucket_{i}")).collect();
    let sql = format!(
        "SELECT workflow_name, day, count(*) AS steps, count(*) FILTER (WHERE attempts > 1) AS retried_steps, {buckets}
           FROM (SELECT r.workflow_name, {day}, s.attempts,
                        CASE WHEN s.kind = 'llm' AND jsonb_typeof(s.output -> 'confidence') = 'number'
                              AND (s.output ->> 'confidence')::float8 BETWEEN 0 AND 1
                             THEN least(floor((s.output ->> 'confidence')::float8 * {n}), {last}) END AS bucket
                   FROM run_steps s JOIN runs r ON r.id = s.run_id
                  WHERE r.created_at >= $1 AND r.created_at < $2 AND s.started_at >= $1 AND s.status <> 'skipped') x
          GROUP BY 1, 2",
        day = day_of("r.created_at"),
        last = n - 1,
        buckets = buckets.join(", ")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let t = entry(&mut map, &r)?;
        t.steps = r.try_get("", "steps")?;
        t.retried_steps = r.try_get("", "retried_steps")?;
        for (i, bucket) in t.confidence.iter_mut().enumerate() {
            *bucket = r.try_get("", &format!("bucket_{i}"))?;
        }
    }

    // Cost, by the day it was paid (as on the Costs page).
    let sql = format!(
        "SELECT c.workflow_name, {day}, coalesce(sum(c.amount_micros), 0)::bigint AS cost FROM cost_lines c WHERE c.at >= $1 AND c.at < $2 GROUP BY 1, 2",
        day = day_of("c.at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        entry(&mut map, &r)?.cost = r.try_get("", "cost")?;
    }

    // Outcomes, by the day they happened.
    let sql = format!(
        "SELECT o.workflow_name, {day}, o.outcome, count(*) AS n FROM outcome_events o WHERE o.occurred_at >= $1 AND o.occurred_at < $2 GROUP BY 1, 2, 3",
        day = day_of("o.occurred_at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let outcome: String = r.try_get("", "outcome")?;
        let n: i64 = r.try_get("", "n")?;
        entry(&mut map, &r)?.outcomes.insert(outcome, n);
    }

    // Hours with traffic, and hours lost to a failure streak.
    let sql = format!(
        "SELECT workflow_name, hour::date AS day, count(*) AS active_hours,
                count(*) FILTER (WHERE n >= {streak} AND failed = n) AS down_hours
           FROM (SELECT r.workflow_name, date_trunc('hour', r.created_at AT TIME ZONE $3) AS hour, count(*) AS n,
                        count(*) FILTER (WHERE r.status = 'failed') AS failed
                   FROM runs r WHERE r.created_at >= $1 AND r.created_at < $2 GROUP BY 1, 2) h
          GROUP BY 1, 2",
        streak = kpi::STREAK_RUNS
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let t = entry(&mut map, &r)?;
        t.active_hours = r.try_get("", "active_hours")?;
        t.down_hours = r.try_get("", "down_hours")?;
    }
    Ok(map)
}

/// Tallies `[from, to]` again and keeps the result; a day is settled
/// once it is over (before `today`) and none of its runs is unfinished.
async fn refresh(
    txn: &DatabaseTransaction,
    tz: &str,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> Result<(), DbErr> {
    let tallies = tally_days(txn, tz, from, to).await?;
    txn.execute_raw(stmt("DELETE FROM kpi_days WHERE day BETWEEN $1 AND $2", vec![from.into(), to.into()])).await?;
    let mut open_days = std::collections::BTreeSet::new();
    for ((day, workflow), tally) in &tallies {
        if tally.open > 0 {
            open_days.insert(*day);
        }
        txn.execute_raw(stmt(
            // Upserts: two readers may tally the same open day at once.
            "INSERT INTO kpi_days (day, workflow_name, tally, settled) VALUES ($1, $2, $3, false)
             ON CONFLICT (day, workflow_name) DO UPDATE SET tally = excluded.tally, settled = false, computed_at = now()",
            vec![(*day).into(), workflow.clone().into(), serde_json::to_value(tally).unwrap_or_default().into()],
        ))
        .await?;
    }
    for day in from.iter_days().take_while(|d| *d <= to) {
        let settled = day < today && !open_days.contains(&day);
        txn.execute_raw(stmt(
            "INSERT INTO kpi_days (day, workflow_name, tally, settled) VALUES ($1, $2, '{}', $3)
             ON CONFLICT (day, workflow_name) DO UPDATE SET settled = excluded.settled, computed_at = now()",
            vec![day.into(), DAY_MARKER.into(), settled.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Every workflow's tallies of the month's days so far, tallying only the
/// days that are not settled yet.
pub async fn month_days(
    txn: &DatabaseTransaction,
    tz: &str,
    month: Month,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, BTreeMap<NaiveDate, Tally>>, DbErr> {
    let today = now.with_timezone(&kpi::zone(tz)).date_naive();
    let first = month.first_day();
    let last = month.last_day().min(today);
    let mut out: BTreeMap<String, BTreeMap<NaiveDate, Tally>> = BTreeMap::new();
    if first > last {
        return Ok(out);
    }
    let settled: std::collections::BTreeSet<NaiveDate> = scalars(
        txn,
        stmt(
            "SELECT day AS value FROM kpi_days WHERE workflow_name = $1 AND settled AND day BETWEEN $2 AND $3",
            vec![DAY_MARKER.into(), first.into(), last.into()],
        ),
    )
    .await?
    .into_iter()
    .collect();
    let missing: Vec<NaiveDate> =
        first.iter_days().take_while(|d| *d <= last).filter(|d| !settled.contains(d)).collect();
    if let (Some(a), Some(b)) = (missing.first(), missing.last()) {
        refresh(txn, tz, *a, *b, today).await?;
    }
    #[derive(FromQueryResult)]
    struct Row {
        day: NaiveDate,
        workflow_name: String,
        tally: serde_json::Value,
    }
    for r in Row::find_by_statement(stmt(
        "SELECT day, workflow_name, tally FROM kpi_days WHERE workflow_name <> $1 AND day BETWEEN $2 AND $3",
        vec![DAY_MARKER.into(), first.into(), last.into()],
    ))
    .all(txn)
    .await?
    {
        let tally: Tally = decode(&format!("the tally of {} on {}", r.workflow_name, r.day), r.tally)?;
        out.entry(r.workflow_name).or_default().insert(r.day, tally);
    }
    Ok(out)
}

pub async fn business_name_in(txn: &DatabaseTransaction) -> Result<String, DbErr> {
    Ok(scalar(txn, stmt("SELECT name AS value FROM public.tenants WHERE schema_name = current_schema()", vec![]))
        .await?
        .unwrap_or_default())
}

/// The month's scorecard as of `now`, inside `txn`.
pub async fn compute_in(txn: &DatabaseTransaction, month: Month, now: DateTime<Utc>) -> Result<Scorecard, DbErr> {
    let tz = time_zone_in(txn).await?;
    let days = month_days(txn, &tz, month, now).await?;
    let baselines = baselines_in(txn).await?.into_iter().map(|(k, (b, _))| (k, b)).collect();
    // Live workflows without runs that month still get a row.
    let mut days = days;
    for name in
        scalars::<String, _>(txn, stmt("SELECT name AS value FROM workflows WHERE live_version IS NOT NULL", vec![]))
            .await?
    {
        days.entry(name).or_default();
    }
    let mut card = kpi::scorecard(month, &business_name_in(txn).await?, &tz, now, &days, &baselines);
    card.currency = crate::currency::currency_in(txn).await?;
    Ok(card)
}

pub async fn compute(
    db: &DatabaseConnection,
    tenant: &Tenant,
    month: Month,
    now: DateTime<Utc>,
) -> Result<Scorecard, DbErr> {
    let txn = tenant.begin(db).await?;
    let card = compute_in(&txn, month, now).await?;
    txn.commit().await?;
    Ok(card)
}

// ---- snapshots ----

/// A stored scorecard and how it came to be.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub card: Scorecard,
    pub revision: i32,
    pub computed_at: DateTime<Utc>,
    pub computed_by: String,
    pub reason: String,
    pub compute_ms: i32,
}

/// A stored scorecard row; its data must still read as a scorecard.
#[derive(FromQueryResult)]
struct SnapshotRow {
    month: NaiveDate,
    revision: i32,
    data: serde_json::Value,
    computed_at: DateTime<Utc>,
    computed_by: String,
    reason: String,
    compute_ms: i32,
}

impl SnapshotRow {
    fn into_snapshot(self) -> Result<Snapshot, DbErr> {
        Ok(Snapshot {
            card: decode(&format!("the scorecard of {} (revision {})", self.month, self.revision), self.data)?,
            revision: self.revision,
            computed_at: self.computed_at,
            computed_by: self.computed_by,
            reason: self.reason,
            compute_ms: self.compute_ms,
        })
    }
}

/// The latest revision of each stored month, newest first.
pub async fn snapshots_in(
    txn: &DatabaseTransaction,
    before: Option<Month>,
    limit: i64,
) -> Result<Vec<Snapshot>, DbErr> {
    let before = before.map(|m| m.first_day()).unwrap_or(NaiveDate::MAX);
    SnapshotRow::find_by_statement(stmt(
        "SELECT month, revision, data, computed_at, computed_by, reason, compute_ms FROM (
             SELECT DISTINCT ON (month) month, revision, data, computed_at, computed_by, reason, compute_ms
               FROM scorecards WHERE month < $1 ORDER BY month DESC, revision DESC) s
          ORDER BY month DESC LIMIT $2",
        vec![before.into(), limit.into()],
    ))
    .all(txn)
    .await?
    .into_iter()
    .map(SnapshotRow::into_snapshot)
    .collect()
}

pub async fn snapshot_in(txn: &DatabaseTransaction, month: Month) -> Result<Option<Snapshot>, DbErr> {
    SnapshotRow::find_by_statement(stmt(
        "SELECT month, revision, data, computed_at, computed_by, reason, compute_ms FROM scorecards WHERE month = $1
          ORDER BY revision DESC LIMIT 1",
        vec![month.first_day().into()],
    ))
    .one(txn)
    .await?
    .map(SnapshotRow::into_snapshot)
    .transpose()
}

/// Every revision of a month (for the record of recomputes).
pub async fn revisions_in(txn: &DatabaseTransaction, month: Month) -> Result<Vec<Revision>, DbErr> {
    Revision::find_by_statement(stmt(
        "SELECT revision, computed_at, computed_by, reason FROM scorecards WHERE month = $1 ORDER BY revision",
        vec![month.first_day().into()],
    ))
    .all(txn)
    .await
}

/// One stored revision of a month's scorecard: when, by whom and why.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Revision {
    pub revision: i32,
    pub computed_at: DateTime<Utc>,
    pub computed_by: String,
    pub reason: String,
}

/// Stores `card` as the month's next revision; returns it.
pub async fn store_in(
    txn: &DatabaseTransaction,
    card: &Scorecard,
    by: &str,
    reason: &str,
    compute_ms: i32,
) -> Result<i32, DbErr> {
    let data = serde_json::to_value(card).map_err(|e| DbErr::Custom(format!("the scorecard does not encode: {e}")))?;
    scalar(
        txn,
        stmt(
            "INSERT INTO scorecards (month, revision, data, computed_by, reason, compute_ms)
             SELECT $1, coalesce(max(revision), 0) + 1, $2, $3, $4, $5 FROM scorecards WHERE month = $1 RETURNING revision AS value",
            vec![card.month.first_day().into(), data.into(), by.into(), reason.into(), compute_ms.into()],
        ),
    )
    .await?
    .ok_or(DbErr::RecordNotFound("scorecard".into()))
}

/// The scorecard a past month is read from: its snapshot, else computed now.
pub async fn card_for(
    txn: &DatabaseTransaction,
    month: Month,
    now: DateTime<Utc>,
) -> Result<(Scorecard, Option<Snapshot>), DbErr> {
    match snapshot_in(txn, month).await? {
        Some(s) => Ok((s.card.clone(), Some(s))),
        None => Ok((compute_in(txn, month, now).await?, None)),
    }
}

/// The months before `month` (oldest first, at most `n`), from their
/// snapshots; the month just before is computed if it has none yet.
pub async fn history_in(
    txn: &DatabaseTransaction,
    month: Month,
    n: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Scorecard>, DbErr> {
    let mut cards: Vec<Scorecard> = snapshots_in(txn, Some(month), n).await?.into_iter().map(|s| s.card).collect();
    if !cards.iter().any(|c| c.month == month.previous()) {
        let previous = compute_in(txn, month.previous(), now).await?;
        if previous.business.runs > 0 {
            cards.insert(0, previous);
            cards.truncate(n as usize);
        }
    }
    cards.reverse();
    Ok(cards)
}

/// The closed months (of the last three) that have no scorecard yet and
/// have something to report: runs, or the business existed all month.
/// The months whose scorecard is due at `now`, and when the business's
/// current month ends (nothing new is due before then).
pub async fn due_months(
    db: &DatabaseConnection,
    tenant: &Tenant,
    now: DateTime<Utc>,
) -> Result<(Vec<Month>, DateTime<Utc>), DbErr> {
    let txn = tenant.begin(db).await?;
    let tz = time_zone_in(&txn).await?;
    let current = Month::at(now, &tz);
    let last = current.previous();
    let created: Option<DateTime<Utc>> = scalar(
        &txn,
        stmt("SELECT created_at AS value FROM public.tenants WHERE schema_name = current_schema()", vec![]),
    )
    .await?;
    let mut due = Vec::new();
    for m in [last.previous().previous(), last.previous(), last] {
        if snapshot_in(&txn, m).await?.is_some() {
            continue;
        }
        let (start, end) = m.bounds(&tz);
        let any_runs = txn
            .query_one_raw(stmt(
                "SELECT 1 FROM runs WHERE created_at >= $1 AND created_at < $2 LIMIT 1",
                vec![start.into(), end.into()],
            ))
            .await?
            .is_some();
        if any_runs || (m == last && created.is_some_and(|c| c < start)) {
            due.push(m);
        }
    }
    txn.commit().await?;
    Ok((due, current.bounds(&tz).1))
}

/// The people a scorecard is emailed to: executives and owners.
pub async fn report_recipients(txn: &DatabaseTransaction) -> Result<Vec<String>, DbErr> {
    scalars(
        txn,
        stmt(
            "SELECT DISTINCT u.email AS value FROM public.memberships m JOIN public.users u ON u.id = m.user_id
               JOIN public.tenants t ON t.id = m.tenant_id
              WHERE t.schema_name = current_schema() AND m.role IN ('executive', 'owner') ORDER BY 1",
            vec![],
        ),
    )
    .await
}

/// Writes the report email of a card, given the months before it.
pub type ComposeReport = dyn Fn(&Scorecard, &[Scorecard]) -> OutboxEmail + Sync;

/// Computes `month` and stores it as a new snapshot; with `mail`, the
/// report emails (composed by `compose` from the card and the months
/// before it) are written in the same transaction. Returns the revision,
/// the card and the mail to hand over.
#[allow(clippy::too_many_arguments)] // who asked, why, and the mail are all part of the stored record
pub async fn snapshot_month(
    db: &DatabaseConnection,
    tenant: &Tenant,
    month: Month,
    now: DateTime<Utc>,
    by: &str,
    reason: &str,
    mail: Option<&ComposeReport>,
) -> Result<(i32, Scorecard, Vec<OutboxEmail>, Vec<Uuid>), DbErr> {
    let started = std::time::Instant::now();
    let txn = tenant.begin(db).await?;
    let card = compute_in(&txn, month, now).await?;
    let ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let revision = store_in(&txn, &card, by, reason, ms).await?;
    let mut outbox = Vec::new();
    if let Some(compose) = mail {
        let history = history_in(&txn, month, 5, now).await?;
        let template = compose(&card, &history);
        for to in report_recipients(&txn).await? {
            outbox.push(OutboxEmail { to, ..template.clone() });
        }
    }
    let ids = outbox::insert(&txn, None, &outbox).await?;
    txn.commit().await?;
    Ok((revision, card, outbox, ids))
}

/// An owner's recompute of a past month: its days are tallied afresh, a
/// new revision is stored, and the change log says who and why.
pub async fn recompute(
    db: &DatabaseConnection,
    member: &CurrentMember,
    month: Month,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<i32, DbErr> {
    {
        let txn = member.tenant.begin(db).await?;
        txn.execute_raw(stmt(
            "DELETE FROM kpi_days WHERE day BETWEEN $1 AND $2",
            vec![month.first_day().into(), month.last_day().into()],
        ))
        .await?;
        txn.commit().await?;
    }
    let (revision, card, _, _) = snapshot_month(db, &member.tenant, month, now, &member.email, reason, None).await?;
    let txn = member.tenant.begin(db).await?;
    audit::record_change(
        &txn,
        Some(member),
        "kpi",
        "kpi.scorecard_recomputed",
        &month.to_string(),
        reason,
        json!({ "revision": revision, "runs": card.business.runs, "net_savings": card.business.net_savings }),
    )
    .await?;
    txn.commit().await?;
    Ok(revision)
}

/// The newest month with a stored scorecard.
pub async fn latest_stored(db: &DatabaseConnection, tenant: &Tenant) -> Result<Option<Month>, DbErr> {
    let txn = tenant.begin(db).await?;
    let latest: Option<Option<NaiveDate>> =
        scalar(&txn, stmt("SELECT max(month) AS value FROM scorecards", vec![])).await?;
    txn.commit().await?;
    Ok(latest.flatten().map(Month::of))
}

/// A month's report as the page, the PDF and the email read it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub card: Scorecard,
    /// The stored snapshot it comes from (None: computed now, the month is still running or not stored yet).
    pub snapshot: Option<Snapshot>,
    /// The months before it, oldest first.
    pub history: Vec<Scorecard>,
    pub current_month: Month,
    /// Months with a snapshot, newest first.
    pub stored_months: Vec<Month>,
    pub revisions: Vec<Revision>,
}

/// Loads `month` (default: the current month so far) for reading.
pub async fn load(
    db: &DatabaseConnection,
    tenant: &Tenant,
    month: Option<Month>,
    now: DateTime<Utc>,
) -> Result<Loaded, DbErr> {
    let txn = tenant.begin(db).await?;
    let tz = time_zone_in(&txn).await?;
    let current = Month::at(now, &tz);
    let month = month.unwrap_or(current);
    let (card, snapshot) =
        if month >= current { (compute_in(&txn, month, now).await?, None) } else { card_for(&txn, month, now).await? };
    let history = history_in(&txn, month, 5, now).await?;
    let stored_months = scalars::<NaiveDate, _>(
        &txn,
        stmt("SELECT DISTINCT month AS value FROM scorecards ORDER BY month DESC LIMIT 36", vec![]),
    )
    .await?
    .into_iter()
    .map(Month::of)
    .collect();
    let revisions = revisions_in(&txn, month).await?;
    txn.commit().await?;
    Ok(Loaded { card, snapshot, history, current_month: current, stored_months, revisions })
}
