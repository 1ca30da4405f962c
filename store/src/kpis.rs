//! KPI data in PostgreSQL: each workflow's baseline (every save a new
//! version in the change log), outcome events reported back, day tallies
//! and the monthly scorecards. A month is the sum of its local days; a
//! closed day whose runs have all finished is tallied once and kept
//! (`kpi_days.settled`), so computing a month only reads the days that can
//! still change. Scorecards are immutable snapshots; a recompute adds a
//! revision and says who asked and why.

use crate::db::{stmt, tenant_txn};
use crate::runs::OutboxEmail;
use crate::{audit, auth::CurrentMember};
use chrono::{DateTime, NaiveDate, Utc};
use engine::kpi::{self, Baseline, Month, Scorecard, Tally};
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction};
use serde_json::json;
use std::collections::BTreeMap;

/// The business's time zone, read inside its own transaction.
pub(crate) const TZ: &str =
    "(SELECT coalesce(max(time_zone), 'UTC') FROM public.tenants WHERE schema_name = current_schema())";

/// Marks a day as computed (the tally of a day without runs is empty).
const DAY_MARKER: &str = "*";

pub async fn time_zone_in(txn: &DatabaseTransaction) -> Result<String, DbErr> {
    let row = txn.query_one_raw(stmt(&format!("SELECT {TZ}"), vec![])).await?;
    Ok(row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or_else(|| "UTC".into()))
}

/// The business's month at `now`, in its own time zone.
pub async fn current_month(db: &DatabaseConnection, schema: &str, now: DateTime<Utc>) -> Result<Month, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let tz = time_zone_in(&txn).await?;
    txn.commit().await?;
    Ok(Month::at(now, &tz))
}

// ---- baselines ----

pub async fn baselines_in(txn: &DatabaseTransaction) -> Result<BTreeMap<String, (Baseline, i32)>, DbErr> {
    let rows = txn
        .query_all_raw(stmt(
            "SELECT workflow_name, manual_minutes, error_rate, response_minutes, monthly_volume, hourly_cost_micros, outcome, outcome_rate, version
               FROM workflow_baselines",
            vec![],
        ))
        .await?;
    let mut out = BTreeMap::new();
    for r in rows {
        let b = Baseline {
            manual_minutes: r.try_get_by_index(1)?,
            error_rate: r.try_get_by_index(2)?,
            response_minutes: r.try_get_by_index(3)?,
            monthly_volume: r.try_get_by_index(4)?,
            hourly_cost: r.try_get_by_index(5)?,
            outcome: r.try_get_by_index(6)?,
            outcome_rate: r.try_get_by_index(7)?,
        };
        out.insert(r.try_get_by_index(0)?, (b, r.try_get_by_index(8)?));
    }
    Ok(out)
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
    let txn = tenant_txn(db, &member.schema_name).await?;
    let exists =
        txn.query_one_raw(stmt("SELECT 1 FROM workflows WHERE name = $1", vec![workflow.into()])).await?.is_some();
    if !exists {
        return Err(BaselineError::NoWorkflow);
    }
    let version: i32 = txn
        .query_one_raw(stmt(
            "INSERT INTO workflow_baselines (workflow_name, manual_minutes, error_rate, response_minutes, monthly_volume, hourly_cost_micros, outcome, outcome_rate, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (workflow_name) DO UPDATE SET manual_minutes = $2, error_rate = $3, response_minutes = $4, monthly_volume = $5,
                 hourly_cost_micros = $6, outcome = $7, outcome_rate = $8, updated_by = $9, updated_at = now(), version = workflow_baselines.version + 1
             RETURNING version",
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
        ))
        .await?
        .ok_or(DbErr::RecordNotFound("baseline".into()))?
        .try_get_by_index(0)?;
    audit::record_change(
        &txn,
        Some(member),
        "kpi",
        "kpi.baseline_saved",
        workflow,
        why,
        json!({ "version": version, "baseline": b, "summary": format!("Baseline v{version}: {}", b.summary()) }),
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

/// Records an outcome once per idempotency key. True: it is new. The day
/// it happened on is counted again.
pub async fn record_outcome(db: &DatabaseConnection, schema: &str, workflow: &str, o: &Outcome) -> Result<bool, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    // A run named must be this workflow's (another's id is ignored, not trusted).
    let run_id = match o.run_id {
        Some(id) => txn
            .query_one_raw(stmt(
                "SELECT id FROM runs WHERE id = $1 AND workflow_name = $2",
                vec![id.into(), workflow.into()],
            ))
            .await?
            .map(|_| id),
        None => None,
    };
    let inserted = txn
        .execute_raw(stmt(
            "INSERT INTO outcome_events (id, workflow_name, run_id, outcome, value, idempotency_key, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (workflow_name, idempotency_key) DO NOTHING",
            vec![Uuid::new_v4().into(), workflow.into(), run_id.into(), o.outcome.clone().into(), o.value.into(), o.idempotency_key.clone().into(), o.occurred_at.into()],
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
    Ok(inserted)
}

// ---- day tallies ----

type DayKey = (NaiveDate, String);

fn entry<'a>(map: &'a mut BTreeMap<DayKey, Tally>, r: &sea_orm::QueryResult) -> Result<&'a mut Tally, DbErr> {
    let workflow: String = r.try_get_by_index(0)?;
    let day: NaiveDate = r.try_get_by_index(1)?;
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
    let day_of = |col: &str| format!("({col} AT TIME ZONE $3)::date");

    // Runs, by the day their event arrived. Error hand-offs and first
    // outside messages are joined as sets (hash joins), not looked up per run.
    let sql = format!(
        "WITH r AS (SELECT id, workflow_name, status, created_at, finished_at FROM runs WHERE created_at >= $1 AND created_at < $2),
              handed AS (SELECT DISTINCT t.run_id FROM review_tasks t JOIN r ON r.id = t.run_id WHERE t.reason = 'error' AND t.created_at >= $1),
              answered AS (SELECT s.run_id, min(s.finished_at) AS at FROM run_steps s JOIN r ON r.id = s.run_id
                            WHERE s.kind = 'notify' AND s.status = 'completed' AND s.started_at >= $1 GROUP BY 1)
         SELECT r.workflow_name, {day}, count(*),
                count(*) FILTER (WHERE r.status = 'completed'),
                count(*) FILTER (WHERE r.status = 'failed'),
                count(*) FILTER (WHERE r.status IN ('queued', 'running', 'waiting_for_review')),
                count(*) FILTER (WHERE r.status = 'failed' OR h.run_id IS NOT NULL),
                coalesce(sum(extract(epoch FROM r.finished_at - r.created_at)) FILTER (WHERE r.status = 'completed'), 0)::bigint,
                coalesce(sum(extract(epoch FROM coalesce(a.at, r.finished_at) - r.created_at)) FILTER (WHERE r.status = 'completed'), 0)::bigint
           FROM r LEFT JOIN handed h ON h.run_id = r.id LEFT JOIN answered a ON a.run_id = r.id GROUP BY 1, 2",
        day = day_of("r.created_at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let t = entry(&mut map, &r)?;
        t.runs = r.try_get_by_index(2)?;
        t.completed = r.try_get_by_index(3)?;
        t.failed = r.try_get_by_index(4)?;
        t.open = r.try_get_by_index(5)?;
        t.exceptions = r.try_get_by_index(6)?;
        t.cycle_seconds = r.try_get_by_index(7)?;
        t.response_seconds = r.try_get_by_index(8)?;
    }

    // Decisions, by their run's day.
    let sql = format!(
        "SELECT r.workflow_name, {day}, count(DISTINCT t.run_id), count(*), count(*) FILTER (WHERE t.decision = 'approve'),
                coalesce(sum(extract(epoch FROM t.decided_at - t.created_at)) FILTER (WHERE r.status = 'completed'), 0)::bigint
           FROM review_tasks t JOIN runs r ON r.id = t.run_id
          WHERE t.status = 'decided' AND t.created_at >= $1 AND r.created_at >= $1 AND r.created_at < $2 GROUP BY 1, 2",
        day = day_of("r.created_at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let t = entry(&mut map, &r)?;
        t.reviewed = r.try_get_by_index(2)?;
        t.decided = r.try_get_by_index(3)?;
        t.agreed = r.try_get_by_index(4)?;
        t.waiting_seconds = r.try_get_by_index(5)?;
    }

    // Person-time on decisions: the ledger's review lines (seconds), by their run's day.
    let sql = format!(
        "SELECT r.workflow_name, {day}, coalesce(sum(c.quantity), 0)::bigint
           FROM cost_lines c JOIN runs r ON r.id = c.run_id
          WHERE c.kind = 'review' AND c.at >= $1 AND r.created_at >= $1 AND r.created_at < $2 GROUP BY 1, 2",
        day = day_of("r.created_at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        entry(&mut map, &r)?.review_seconds = r.try_get_by_index(2)?;
    }

    // Steps: retries and the confidence of model drafts (in tenths, as
    // `kpi::confidence_bucket` counts them), by their run's day.
    let n = kpi::CONFIDENCE_BUCKETS;
    let buckets: Vec<String> = (0..n).map(|i| format!("count(*) FILTER (WHERE bucket = {i})")).collect();
    let sql = format!(
        "SELECT workflow_name, day, count(*), count(*) FILTER (WHERE attempts > 1), {buckets}
           FROM (SELECT r.workflow_name, {day} AS day, s.attempts,
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
        t.steps = r.try_get_by_index(2)?;
        t.retried_steps = r.try_get_by_index(3)?;
        for i in 0..kpi::CONFIDENCE_BUCKETS {
            t.confidence[i] = r.try_get_by_index(4 + i)?;
        }
    }

    // Cost, by the day it was paid (as on the Costs page).
    let sql = format!(
        "SELECT c.workflow_name, {day}, coalesce(sum(c.amount_micros), 0)::bigint FROM cost_lines c WHERE c.at >= $1 AND c.at < $2 GROUP BY 1, 2",
        day = day_of("c.at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        entry(&mut map, &r)?.cost = r.try_get_by_index(2)?;
    }

    // Outcomes, by the day they happened.
    let sql = format!(
        "SELECT o.workflow_name, {day}, o.outcome, count(*) FROM outcome_events o WHERE o.occurred_at >= $1 AND o.occurred_at < $2 GROUP BY 1, 2, 3",
        day = day_of("o.occurred_at")
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let outcome: String = r.try_get_by_index(2)?;
        let n: i64 = r.try_get_by_index(3)?;
        entry(&mut map, &r)?.outcomes.insert(outcome, n);
    }

    // Hours with traffic, and hours lost to a failure streak.
    let sql = format!(
        "SELECT workflow_name, hour::date, count(*), count(*) FILTER (WHERE n >= {streak} AND failed = n)
           FROM (SELECT r.workflow_name, date_trunc('hour', r.created_at AT TIME ZONE $3) AS hour, count(*) AS n,
                        count(*) FILTER (WHERE r.status = 'failed') AS failed
                   FROM runs r WHERE r.created_at >= $1 AND r.created_at < $2 GROUP BY 1, 2) h
          GROUP BY 1, 2",
        streak = kpi::STREAK_RUNS
    );
    for r in txn.query_all_raw(stmt(&sql, range())).await? {
        let t = entry(&mut map, &r)?;
        t.active_hours = r.try_get_by_index(2)?;
        t.down_hours = r.try_get_by_index(3)?;
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
    let settled: std::collections::BTreeSet<NaiveDate> = txn
        .query_all_raw(stmt(
            "SELECT day FROM kpi_days WHERE workflow_name = $1 AND settled AND day BETWEEN $2 AND $3",
            vec![DAY_MARKER.into(), first.into(), last.into()],
        ))
        .await?
        .iter()
        .filter_map(|r| r.try_get_by_index(0).ok())
        .collect();
    let missing: Vec<NaiveDate> =
        first.iter_days().take_while(|d| *d <= last).filter(|d| !settled.contains(d)).collect();
    if let (Some(a), Some(b)) = (missing.first(), missing.last()) {
        refresh(txn, tz, *a, *b, today).await?;
    }
    for r in txn
        .query_all_raw(stmt(
            "SELECT day, workflow_name, tally FROM kpi_days WHERE workflow_name <> $1 AND day BETWEEN $2 AND $3",
            vec![DAY_MARKER.into(), first.into(), last.into()],
        ))
        .await?
    {
        let tally: Tally = serde_json::from_value(r.try_get_by_index(2)?).unwrap_or_default();
        out.entry(r.try_get_by_index(1)?).or_default().insert(r.try_get_by_index(0)?, tally);
    }
    Ok(out)
}

pub async fn business_name_in(txn: &DatabaseTransaction) -> Result<String, DbErr> {
    let row =
        txn.query_one_raw(stmt("SELECT name FROM public.tenants WHERE schema_name = current_schema()", vec![])).await?;
    Ok(row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or_default())
}

/// The month's scorecard as of `now`, inside `txn`.
pub async fn compute_in(txn: &DatabaseTransaction, month: Month, now: DateTime<Utc>) -> Result<Scorecard, DbErr> {
    let tz = time_zone_in(txn).await?;
    let days = month_days(txn, &tz, month, now).await?;
    let baselines = baselines_in(txn).await?.into_iter().map(|(k, (b, _))| (k, b)).collect();
    // Live workflows without runs that month still get a row.
    let mut days = days;
    for r in txn.query_all_raw(stmt("SELECT name FROM workflows WHERE live_version IS NOT NULL", vec![])).await? {
        days.entry(r.try_get_by_index::<String>(0)?).or_default();
    }
    Ok(kpi::scorecard(month, &business_name_in(txn).await?, &tz, now, &days, &baselines))
}

pub async fn compute(
    db: &DatabaseConnection,
    schema: &str,
    month: Month,
    now: DateTime<Utc>,
) -> Result<Scorecard, DbErr> {
    let txn = tenant_txn(db, schema).await?;
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

fn snapshot_of(r: &sea_orm::QueryResult) -> Result<Option<Snapshot>, DbErr> {
    let data: serde_json::Value = r.try_get_by_index(1)?;
    let Ok(card) = serde_json::from_value::<Scorecard>(data) else { return Ok(None) };
    Ok(Some(Snapshot {
        card,
        revision: r.try_get_by_index(0)?,
        computed_at: r.try_get_by_index(2)?,
        computed_by: r.try_get_by_index(3)?,
        reason: r.try_get_by_index(4)?,
        compute_ms: r.try_get_by_index(5)?,
    }))
}

/// The latest revision of each stored month, newest first.
pub async fn snapshots_in(
    txn: &DatabaseTransaction,
    before: Option<Month>,
    limit: i64,
) -> Result<Vec<Snapshot>, DbErr> {
    let before = before.map(|m| m.first_day()).unwrap_or(NaiveDate::MAX);
    let rows = txn
        .query_all_raw(stmt(
            "SELECT revision, data, computed_at, computed_by, reason, compute_ms FROM (
                 SELECT DISTINCT ON (month) month, revision, data, computed_at, computed_by, reason, compute_ms
                   FROM scorecards WHERE month < $1 ORDER BY month DESC, revision DESC) s
              ORDER BY month DESC LIMIT $2",
            vec![before.into(), limit.into()],
        ))
        .await?;
    Ok(rows.iter().map(snapshot_of).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
}

pub async fn snapshot_in(txn: &DatabaseTransaction, month: Month) -> Result<Option<Snapshot>, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "SELECT revision, data, computed_at, computed_by, reason, compute_ms FROM scorecards WHERE month = $1 ORDER BY revision DESC LIMIT 1",
            vec![month.first_day().into()],
        ))
        .await?;
    Ok(match row {
        Some(r) => snapshot_of(&r)?,
        None => None,
    })
}

/// Every revision of a month (for the record of recomputes).
pub async fn revisions_in(
    txn: &DatabaseTransaction,
    month: Month,
) -> Result<Vec<(i32, DateTime<Utc>, String, String)>, DbErr> {
    let rows = txn
        .query_all_raw(stmt(
            "SELECT revision, computed_at, computed_by, reason FROM scorecards WHERE month = $1 ORDER BY revision",
            vec![month.first_day().into()],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?, r.try_get_by_index(3)?)))
        .collect()
}

/// Stores `card` as the month's next revision; returns it.
pub async fn store_in(
    txn: &DatabaseTransaction,
    card: &Scorecard,
    by: &str,
    reason: &str,
    compute_ms: i32,
) -> Result<i32, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "INSERT INTO scorecards (month, revision, data, computed_by, reason, compute_ms)
             SELECT $1, coalesce(max(revision), 0) + 1, $2, $3, $4, $5 FROM scorecards WHERE month = $1 RETURNING revision",
            vec![card.month.first_day().into(), serde_json::to_value(card).unwrap_or_default().into(), by.into(), reason.into(), compute_ms.into()],
        ))
        .await?
        .ok_or(DbErr::RecordNotFound("scorecard".into()))?;
    row.try_get_by_index(0)
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
pub async fn due_months(db: &DatabaseConnection, schema: &str, now: DateTime<Utc>) -> Result<Vec<Month>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let tz = time_zone_in(&txn).await?;
    let last = Month::at(now, &tz).previous();
    let created: Option<DateTime<Utc>> = txn
        .query_one_raw(stmt("SELECT created_at FROM public.tenants WHERE schema_name = current_schema()", vec![]))
        .await?
        .map(|r| r.try_get_by_index(0))
        .transpose()?;
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
    Ok(due)
}

/// The people a scorecard is emailed to: executives and owners.
pub async fn report_recipients(txn: &DatabaseTransaction) -> Result<Vec<String>, DbErr> {
    Ok(txn
        .query_all_raw(stmt(
            "SELECT DISTINCT u.email FROM public.memberships m JOIN public.users u ON u.id = m.user_id JOIN public.tenants t ON t.id = m.tenant_id
              WHERE t.schema_name = current_schema() AND m.role IN ('executive', 'owner') ORDER BY 1",
            vec![],
        ))
        .await?
        .iter()
        .filter_map(|r| r.try_get_by_index(0).ok())
        .collect())
}

/// Computes `month` and stores it as a new snapshot; with `mail`, the
/// report emails (composed by `compose` from the card and the months
/// before it) are written in the same transaction. Returns the revision,
/// the card and the mail to hand over.
pub async fn snapshot_month(
    db: &DatabaseConnection,
    schema: &str,
    month: Month,
    now: DateTime<Utc>,
    by: &str,
    reason: &str,
    mail: Option<&(dyn Fn(&Scorecard, &[Scorecard]) -> OutboxEmail + Sync)>,
) -> Result<(i32, Scorecard, Vec<OutboxEmail>, Vec<Uuid>), DbErr> {
    let started = std::time::Instant::now();
    let txn = tenant_txn(db, schema).await?;
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
    let ids = crate::runs::insert_outbox(&txn, None, &outbox).await?;
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
        let txn = tenant_txn(db, &member.schema_name).await?;
        txn.execute_raw(stmt(
            "DELETE FROM kpi_days WHERE day BETWEEN $1 AND $2",
            vec![month.first_day().into(), month.last_day().into()],
        ))
        .await?;
        txn.commit().await?;
    }
    let (revision, card, _, _) =
        snapshot_month(db, &member.schema_name, month, now, &member.email, reason, None).await?;
    let txn = tenant_txn(db, &member.schema_name).await?;
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
pub async fn latest_stored(db: &DatabaseConnection, schema: &str) -> Result<Option<Month>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let row = txn.query_one_raw(stmt("SELECT max(month) FROM scorecards", vec![])).await?;
    txn.commit().await?;
    Ok(row.and_then(|r| r.try_get_by_index::<Option<NaiveDate>>(0).ok().flatten()).map(Month::of))
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
    pub revisions: Vec<(i32, DateTime<Utc>, String, String)>,
}

/// Loads `month` (default: the current month so far) for reading.
pub async fn load(
    db: &DatabaseConnection,
    schema: &str,
    month: Option<Month>,
    now: DateTime<Utc>,
) -> Result<Loaded, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let tz = time_zone_in(&txn).await?;
    let current = Month::at(now, &tz);
    let month = month.unwrap_or(current);
    let (card, snapshot) =
        if month >= current { (compute_in(&txn, month, now).await?, None) } else { card_for(&txn, month, now).await? };
    let history = history_in(&txn, month, 5, now).await?;
    let stored_months = txn
        .query_all_raw(stmt("SELECT DISTINCT month FROM scorecards ORDER BY month DESC LIMIT 36", vec![]))
        .await?
        .iter()
        .filter_map(|r| r.try_get_by_index::<NaiveDate>(0).ok().map(Month::of))
        .collect();
    let revisions = revisions_in(&txn, month).await?;
    txn.commit().await?;
    Ok(Loaded { card, snapshot, history, current_month: current, stored_months, revisions })
}
