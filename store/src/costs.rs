//! The cost ledger in PostgreSQL: cost lines written in the same
//! transaction as the step, decision or delivery they pay for; the
//! business's rates; budgets; alerts that open once per condition and
//! clear on recovery; runs held back by a budget or an off-peak window;
//! and the figures the Costs page reads. Months are the business's own
//! (its time zone).

use crate::db::{stmt, tenant_txn};
use crate::kpis::TZ;
use crate::runs::OutboxEmail;
use crate::{audit, auth::CurrentMember};
use engine::cost::{self, Alarm, Budget, CapAction, Condition, MonthToDate, Rates, RetryWindow, Totals};
use engine::money::Micros;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction};
use serde_json::json;

/// One thing a run paid for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CostLine {
    pub kind: &'static str,
    pub step_index: Option<i32>,
    pub amount: Micros,
    pub quantity: i64,
    pub cache_hit: Option<bool>,
    pub saved: Micros,
    pub label: String,
}

impl CostLine {
    pub fn new(
        kind: &'static str,
        step_index: Option<i32>,
        amount: Micros,
        quantity: i64,
        label: impl Into<String>,
    ) -> Self {
        CostLine { kind, step_index, amount, quantity, label: label.into(), ..Default::default() }
    }
}

/// Writes a run's cost lines and adds them to the run's total, inside `txn`.
pub async fn add_lines(txn: &DatabaseTransaction, run_id: Uuid, lines: &[CostLine]) -> Result<(), DbErr> {
    if lines.is_empty() {
        return Ok(());
    }
    for l in lines {
        txn.execute_raw(stmt(
            "INSERT INTO cost_lines (run_id, workflow_name, step_index, kind, amount_micros, quantity, cache_hit, saved_micros, label)
             SELECT $1, workflow_name, $2, $3, $4, $5, $6, $7, $8 FROM runs WHERE id = $1",
            vec![
                run_id.into(),
                l.step_index.into(),
                l.kind.into(),
                l.amount.max(0).into(),
                l.quantity.into(),
                l.cache_hit.into(),
                l.saved.max(0).into(),
                l.label.clone().into(),
            ],
        ))
        .await?;
    }
    let sum: Micros = lines.iter().map(|l| l.amount.max(0)).sum();
    txn.execute_raw(stmt(
        "UPDATE runs SET cost_micros = cost_micros + $2 WHERE id = $1",
        vec![run_id.into(), sum.into()],
    ))
    .await?;
    Ok(())
}

/// Writes cost lines in a transaction of their own (a job delivery).
pub async fn record(db: &DatabaseConnection, schema: &str, run_id: Uuid, lines: &[CostLine]) -> Result<(), DbErr> {
    let txn = tenant_txn(db, schema).await?;
    add_lines(&txn, run_id, lines).await?;
    txn.commit().await
}

// ---- rates ----

pub async fn rates_in(txn: &DatabaseTransaction) -> Result<Rates, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "SELECT orchestration_micros_per_hour, queue_op_micros, reviewer_hourly_micros FROM cost_rates",
            vec![],
        ))
        .await?;
    Ok(match row {
        Some(r) => Rates {
            orchestration_per_hour: r.try_get_by_index(0)?,
            queue_op: r.try_get_by_index(1)?,
            reviewer_hourly: r.try_get_by_index(2)?,
        },
        None => Rates::default(),
    })
}

pub async fn rates(db: &DatabaseConnection, schema: &str) -> Result<Rates, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rates = rates_in(&txn).await?;
    txn.commit().await?;
    Ok(rates)
}

/// Sets the rates; a recorded change (it changes what every run costs from now on).
pub async fn save_rates(db: &DatabaseConnection, member: &CurrentMember, rates: &Rates) -> Result<(), DbErr> {
    let txn = tenant_txn(db, &member.schema_name).await?;
    txn.execute_raw(stmt(
        "INSERT INTO cost_rates (id, orchestration_micros_per_hour, queue_op_micros, reviewer_hourly_micros) VALUES (true, $1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET orchestration_micros_per_hour = $1, queue_op_micros = $2, reviewer_hourly_micros = $3, updated_at = now()",
        vec![rates.orchestration_per_hour.into(), rates.queue_op.into(), rates.reviewer_hourly.into()],
    ))
    .await?;
    audit::record_change(
        &txn,
        Some(member),
        "cost",
        "cost.rates_changed",
        "rates",
        &format!(
            "Reviewer time {}/h, worker time {}/h, queue operation {}",
            engine::money::plain(rates.reviewer_hourly),
            engine::money::plain(rates.orchestration_per_hour),
            engine::money::plain(rates.queue_op)
        ),
        json!(rates),
    )
    .await?;
    txn.commit().await
}

// ---- budgets ----

pub async fn budget_in(txn: &DatabaseTransaction, workflow: &str) -> Result<Option<Budget>, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "SELECT expected_runs, target_micros, overage_pct, action, deviation_pct, window_start::int, window_end::int FROM budgets WHERE workflow_name = $1",
            vec![workflow.into()],
        ))
        .await?;
    let Some(r) = row else { return Ok(None) };
    let action: String = r.try_get_by_index(3)?;
    let start: Option<i32> = r.try_get_by_index(5)?;
    let end: Option<i32> = r.try_get_by_index(6)?;
    Ok(Some(Budget {
        expected_runs: r.try_get_by_index(0)?,
        target_per_run: r.try_get_by_index(1)?,
        overage_pct: r.try_get_by_index(2)?,
        action: CapAction::parse(&action).unwrap_or(CapAction::AlertOnly),
        deviation_pct: r.try_get_by_index(4)?,
        batch_window: start.zip(end).map(|(s, e)| (s as u32, e as u32)),
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("there is no such workflow")]
    NoWorkflow,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Sets a workflow's budget; a recorded change. Returns the runs it
/// releases (held at the cap or for the off-peak window) for the caller
/// to wake: each is checked again against the new budget before it runs.
pub async fn save_budget(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
    budget: &Budget,
) -> Result<Vec<Uuid>, BudgetError> {
    let txn = tenant_txn(db, &member.schema_name).await?;
    let exists =
        txn.query_one_raw(stmt("SELECT 1 FROM workflows WHERE name = $1", vec![workflow.into()])).await?.is_some();
    if !exists {
        return Err(BudgetError::NoWorkflow);
    }
    let (start, end) = budget.batch_window.map(|(s, e)| (Some(s as i16), Some(e as i16))).unwrap_or((None, None));
    txn.execute_raw(stmt(
        "INSERT INTO budgets (workflow_name, expected_runs, target_micros, overage_pct, action, deviation_pct, window_start, window_end, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (workflow_name) DO UPDATE SET expected_runs = $2, target_micros = $3, overage_pct = $4, action = $5, deviation_pct = $6,
                window_start = $7, window_end = $8, updated_by = $9, updated_at = now()",
        vec![
            workflow.into(),
            budget.expected_runs.into(),
            budget.target_per_run.into(),
            budget.overage_pct.into(),
            budget.action.as_str().into(),
            budget.deviation_pct.into(),
            start.into(),
            end.into(),
            member.email.clone().into(),
        ],
    ))
    .await?;
    let window = match budget.batch_window {
        Some((s, e)) => format!(", batched {s:02}:00–{e:02}:00"),
        None => String::new(),
    };
    audit::record_change(
        &txn,
        Some(member),
        "cost",
        "cost.budget_changed",
        workflow,
        &format!(
            "{} runs a month at {} a run (plan {}, cap {}), at the cap: {}; alerts beyond {}%{window}",
            budget.expected_runs,
            engine::money::format(budget.target_per_run),
            engine::money::format(budget.planned()),
            engine::money::format(budget.cap()),
            budget.action.label().to_lowercase(),
            budget.deviation_pct
        ),
        json!(budget),
    )
    .await?;
    let released = release_in(&txn, workflow, None).await?;
    txn.commit().await?;
    Ok(released)
}

// ---- what the engine checks ----

/// A workflow's month so far and its recent cost per run.
#[derive(Debug, Clone)]
pub struct BudgetState {
    pub budget: Option<Budget>,
    pub month: MonthToDate,
    /// The average cost of its last 20 finished runs.
    pub recent_average: Option<Micros>,
    /// The business's local hour, for off-peak windows.
    pub local_hour: u32,
}

impl BudgetState {
    pub fn forecast(&self) -> Micros {
        self.budget.as_ref().map(|b| cost::forecast(self.recent_average, b)).unwrap_or(0)
    }
}

pub async fn budget_state_in(txn: &DatabaseTransaction, workflow: &str) -> Result<BudgetState, DbErr> {
    let budget = budget_in(txn, workflow).await?;
    let row = txn
        .query_one_raw(stmt(
            &format!(
                "WITH z AS (SELECT {TZ} AS tz),
                      m AS (SELECT (date_trunc('month', now() AT TIME ZONE tz) AT TIME ZONE tz) AS start,
                                   ((date_trunc('month', now() AT TIME ZONE tz) + interval '1 month') AT TIME ZONE tz) AS next,
                                   extract(hour FROM now() AT TIME ZONE tz)::int AS hour FROM z)
                 SELECT (SELECT count(*) FROM runs r WHERE r.workflow_name = $1 AND r.created_at >= m.start AND r.held IS NULL AND r.status <> 'queued'),
                        (SELECT coalesce(sum(amount_micros), 0)::bigint FROM cost_lines c WHERE c.workflow_name = $1 AND c.at >= m.start),
                        extract(epoch FROM now() - m.start)::bigint, extract(epoch FROM m.next - m.start)::bigint, m.hour,
                        (SELECT avg(cost_micros)::bigint FROM (SELECT cost_micros FROM runs WHERE workflow_name = $1 AND finished_at IS NOT NULL
                            ORDER BY finished_at DESC LIMIT 20) recent)
                   FROM m"
            ),
            vec![workflow.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the month query returned nothing".into()))?;
    Ok(BudgetState {
        budget,
        month: MonthToDate {
            runs: row.try_get_by_index(0)?,
            spent: row.try_get_by_index(1)?,
            elapsed_seconds: row.try_get_by_index(2)?,
            month_seconds: row.try_get_by_index(3)?,
        },
        local_hour: row.try_get_by_index::<i32>(4)? as u32,
        recent_average: row.try_get_by_index(5)?,
    })
}

pub async fn budget_state(db: &DatabaseConnection, schema: &str, workflow: &str) -> Result<BudgetState, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let state = budget_state_in(&txn, workflow).await?;
    txn.commit().await?;
    Ok(state)
}

/// Step executions and retries over the last day, and over the week before it.
pub async fn retry_windows(
    db: &DatabaseConnection,
    schema: &str,
    workflow: &str,
) -> Result<(RetryWindow, RetryWindow), DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let row = txn
        .query_one_raw(stmt(
            "SELECT count(*) FILTER (WHERE s.started_at >= now() - interval '1 day'),
                    coalesce(sum(greatest(s.attempts - 1, 0)) FILTER (WHERE s.started_at >= now() - interval '1 day'), 0)::bigint,
                    count(*) FILTER (WHERE s.started_at < now() - interval '1 day'),
                    coalesce(sum(greatest(s.attempts - 1, 0)) FILTER (WHERE s.started_at < now() - interval '1 day'), 0)::bigint
               FROM run_steps s JOIN runs r ON r.id = s.run_id
              WHERE r.workflow_name = $1 AND s.started_at >= now() - interval '8 days' AND s.kind IN ('api_call', 'llm')",
            vec![workflow.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the retry query returned nothing".into()))?;
    txn.commit().await?;
    Ok((
        RetryWindow { steps: row.try_get_by_index(0)?, retries: row.try_get_by_index(1)? },
        RetryWindow { steps: row.try_get_by_index(2)?, retries: row.try_get_by_index(3)? },
    ))
}

/// Holds a queued run back (it keeps its event and place; nothing is dropped) and releases its lease.
pub async fn hold(
    db: &DatabaseConnection,
    schema: &str,
    run_id: Uuid,
    owner: &str,
    reason: &str,
) -> Result<bool, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let res = txn
        .execute_raw(stmt(
            "UPDATE runs SET status = 'queued', held = $3, lease_owner = NULL, lease_until = NULL, updated_at = now()
              WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            vec![run_id.into(), owner.into(), reason.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected() == 1)
}

async fn release_in(txn: &DatabaseTransaction, workflow: &str, reason: Option<&str>) -> Result<Vec<Uuid>, DbErr> {
    Ok(txn
        .query_all_raw(stmt(
            "UPDATE runs SET held = NULL, updated_at = now() WHERE workflow_name = $1 AND held IS NOT NULL AND status = 'queued'
                AND ($2::text IS NULL OR held = $2) RETURNING id",
            vec![workflow.into(), reason.map(str::to_owned).into()],
        ))
        .await?
        .into_iter()
        .filter_map(|r| r.try_get_by_index::<Uuid>(0).ok())
        .collect())
}

/// Lets a workflow's held runs go (all of them, or those held for `reason`); returns them to wake.
pub async fn release(
    db: &DatabaseConnection,
    schema: &str,
    workflow: &str,
    reason: Option<&str>,
) -> Result<Vec<Uuid>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let ids = release_in(&txn, workflow, reason).await?;
    txn.commit().await?;
    Ok(ids)
}

/// Workflows with a budget or with held runs: what the cost watch looks at.
pub async fn watched_workflows(db: &DatabaseConnection, schema: &str) -> Result<Vec<(String, i64, i64)>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = txn
        .query_all_raw(stmt(
            "SELECT w.name,
                    (SELECT count(*) FROM runs r WHERE r.workflow_name = w.name AND r.held = 'budget' AND r.status = 'queued'),
                    (SELECT count(*) FROM runs r WHERE r.workflow_name = w.name AND r.held = 'off_peak' AND r.status = 'queued')
               FROM workflows w ORDER BY w.name",
            vec![],
        ))
        .await?;
    txn.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.try_get_by_index(0).ok()?, r.try_get_by_index(1).ok()?, r.try_get_by_index(2).ok()?)))
        .collect())
}

// ---- alerts ----

/// Opens an alert for each firing condition that has none open, with its
/// emails and a change-log entry in the same transaction (so an alert is
/// mailed exactly once), and clears the open alerts of evaluated
/// conditions that no longer fire. Returns the mail written, to hand over.
pub async fn sync_alerts(
    db: &DatabaseConnection,
    schema: &str,
    workflow: &str,
    evaluated: &[Condition],
    firing: &[Alarm],
    compose: &(dyn Fn(&Alarm, &str) -> (String, String, String) + Sync),
) -> Result<(Vec<OutboxEmail>, Vec<Uuid>), DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let mut mail = Vec::new();
    for alarm in firing {
        let opened = txn
            .query_one_raw(stmt(
                "INSERT INTO cost_alerts (id, workflow_name, condition, message) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (workflow_name, condition) WHERE cleared_at IS NULL DO NOTHING RETURNING id",
                vec![
                    Uuid::new_v4().into(),
                    workflow.into(),
                    alarm.condition.as_str().into(),
                    alarm.message.clone().into(),
                ],
            ))
            .await?;
        if opened.is_none() {
            continue;
        }
        audit::record_change(
            &txn,
            None,
            "cost",
            "cost.alert_opened",
            workflow,
            &alarm.message,
            json!({ "condition": alarm.condition }),
        )
        .await?;
        let (subject, text, html) = compose(alarm, workflow);
        for to in alert_recipients(&txn, workflow).await? {
            mail.push(OutboxEmail {
                to,
                subject: subject.clone(),
                text: text.clone(),
                html: html.clone(),
                ..Default::default()
            });
        }
    }
    for condition in evaluated.iter().filter(|c| !firing.iter().any(|a| a.condition == **c)) {
        let cleared = txn
            .query_one_raw(stmt(
                "UPDATE cost_alerts SET cleared_at = now() WHERE workflow_name = $1 AND condition = $2 AND cleared_at IS NULL RETURNING message",
                vec![workflow.into(), condition.as_str().into()],
            ))
            .await?;
        if let Some(row) = cleared {
            let message: String = row.try_get_by_index(0)?;
            audit::record_change(
                &txn,
                None,
                "cost",
                "cost.alert_cleared",
                workflow,
                &format!("Recovered: {message}"),
                json!({ "condition": condition }),
            )
            .await?;
        }
    }
    let ids = crate::runs::insert_outbox(&txn, None, &mail).await?;
    txn.commit().await?;
    Ok((mail, ids))
}

/// The workflow's owner and the business's operations people.
async fn alert_recipients(txn: &DatabaseTransaction, workflow: &str) -> Result<Vec<String>, DbErr> {
    let rows = txn
        .query_all_raw(stmt(
            "SELECT u.email FROM workflows w JOIN public.users u ON u.id = w.owner_user_id WHERE w.name = $1
             UNION
             SELECT u.email FROM public.memberships m JOIN public.users u ON u.id = m.user_id JOIN public.tenants t ON t.id = m.tenant_id
              WHERE t.schema_name = current_schema() AND m.role = 'operations'
             ORDER BY 1",
            vec![workflow.into()],
        ))
        .await?;
    Ok(rows.into_iter().filter_map(|r| r.try_get_by_index::<String>(0).ok()).collect())
}

/// An alert as the dashboard and the Costs page list it.
#[derive(Debug, Clone)]
pub struct AlertRow {
    pub workflow_name: String,
    pub condition: String,
    pub message: String,
    pub opened_at: DateTimeUtc,
    pub cleared_at: Option<DateTimeUtc>,
}

/// Open alerts first, then the most recent cleared ones.
pub async fn alerts(db: &DatabaseConnection, schema: &str, limit: i64) -> Result<Vec<AlertRow>, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let rows = txn
        .query_all_raw(stmt(
            "SELECT workflow_name, condition, message, opened_at, cleared_at FROM cost_alerts
              ORDER BY cleared_at IS NOT NULL, opened_at DESC LIMIT $1",
            vec![limit.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(AlertRow {
                workflow_name: r.try_get_by_index(0)?,
                condition: r.try_get_by_index(1)?,
                message: r.try_get_by_index(2)?,
                opened_at: r.try_get_by_index(3)?,
                cleared_at: r.try_get_by_index(4)?,
            })
        })
        .collect()
}

// ---- the Costs page ----

/// Spend on one day of the business's calendar, by kind, with the runs started that day.
#[derive(Debug, Clone, Default)]
pub struct DaySpend {
    pub day: chrono::NaiveDate,
    pub by_kind: [Micros; 6],
    pub runs: i64,
}

/// A workflow's figures for the period, with its budget and month so far.
#[derive(Debug, Clone)]
pub struct WorkflowCosts {
    pub workflow_name: String,
    pub totals: Totals,
    pub budget: Option<Budget>,
    pub month_spent: Micros,
    pub held: i64,
}

/// Everything the Costs page shows for a period.
#[derive(Debug, Clone, Default)]
pub struct CostReport {
    pub days: Vec<DaySpend>,
    pub workflows: Vec<WorkflowCosts>,
    pub cache_calls: i64,
    pub cache_hits: i64,
    pub cache_saved: Micros,
    pub rates: Option<Rates>,
}

/// The period's figures, `from` to `to` inclusive in the business's time zone.
pub async fn report(
    db: &DatabaseConnection,
    schema: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<CostReport, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let range = format!(
        "c.at >= ($1::date::timestamp AT TIME ZONE {TZ}) AND c.at < (($2::date + 1)::timestamp AT TIME ZONE {TZ})"
    );
    let run_range = range.replace("c.at", "r.created_at");
    let mut days: Vec<DaySpend> = Vec::new();
    let mut day = from;
    while day <= to {
        days.push(DaySpend { day, ..Default::default() });
        day = day.succ_opt().unwrap_or(day);
        if days.len() > 400 {
            break;
        }
    }
    for r in txn
        .query_all_raw(stmt(
            &format!("SELECT (c.at AT TIME ZONE {TZ})::date, c.kind, sum(c.amount_micros)::bigint FROM cost_lines c WHERE {range} GROUP BY 1, 2"),
            vec![from.into(), to.into()],
        ))
        .await?
    {
        let (d, kind, amount): (chrono::NaiveDate, String, Micros) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?);
        if let (Some(slot), Some(k)) = (days.iter_mut().find(|x| x.day == d), cost::KINDS.iter().position(|x| *x == kind)) {
            slot.by_kind[k] += amount;
        }
    }
    for r in txn
        .query_all_raw(stmt(
            &format!(
                "SELECT (r.created_at AT TIME ZONE {TZ})::date, count(*) FROM runs r WHERE {run_range} GROUP BY 1"
            ),
            vec![from.into(), to.into()],
        ))
        .await?
    {
        let (d, n): (chrono::NaiveDate, i64) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?);
        if let Some(slot) = days.iter_mut().find(|x| x.day == d) {
            slot.runs = n;
        }
    }
    let mut workflows: Vec<WorkflowCosts> = Vec::new();
    let names: Vec<String> = txn
        .query_all_raw(stmt("SELECT name FROM workflows ORDER BY name", vec![]))
        .await?
        .into_iter()
        .filter_map(|r| r.try_get_by_index(0).ok())
        .collect();
    for name in names {
        let budget = budget_in(&txn, &name).await?;
        let month = budget_state_in(&txn, &name).await?.month;
        workflows.push(WorkflowCosts {
            workflow_name: name,
            totals: Totals::default(),
            budget,
            month_spent: month.spent,
            held: 0,
        });
    }
    for r in txn
        .query_all_raw(stmt(
            &format!("SELECT c.workflow_name, c.kind, sum(c.amount_micros)::bigint FROM cost_lines c WHERE {range} GROUP BY 1, 2"),
            vec![from.into(), to.into()],
        ))
        .await?
    {
        let (name, kind, amount): (String, String, Micros) = (r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?);
        if let Some(w) = workflows.iter_mut().find(|w| w.workflow_name == name) {
            w.totals.add(&kind, amount);
        }
    }
    // Outcomes: runs that completed (a reached outcome step or an approval).
    // Exceptions: runs that failed or fell back to a person after an error.
    for r in txn
        .query_all_raw(stmt(
            &format!(
                "SELECT r.workflow_name, count(*),
                        count(*) FILTER (WHERE r.status = 'completed'),
                        count(*) FILTER (WHERE r.status = 'failed' OR EXISTS (SELECT 1 FROM review_tasks t WHERE t.run_id = r.id AND t.reason = 'error')),
                        count(*) FILTER (WHERE r.held IS NOT NULL AND r.status = 'queued')
                   FROM runs r WHERE {run_range} GROUP BY 1"
            ),
            vec![from.into(), to.into()],
        ))
        .await?
    {
        let name: String = r.try_get_by_index(0)?;
        if let Some(w) = workflows.iter_mut().find(|w| w.workflow_name == name) {
            w.totals.runs = r.try_get_by_index(1)?;
            w.totals.outcomes = r.try_get_by_index(2)?;
            w.totals.exceptions = r.try_get_by_index(3)?;
            w.held = r.try_get_by_index(4)?;
        }
    }
    let cache = txn
        .query_one_raw(stmt(
            &format!(
                "SELECT count(*) FILTER (WHERE c.cache_hit IS NOT NULL), count(*) FILTER (WHERE c.cache_hit), coalesce(sum(c.saved_micros), 0)::bigint
                   FROM cost_lines c WHERE c.kind = 'enrichment' AND {range}"
            ),
            vec![from.into(), to.into()],
        ))
        .await?;
    let rates = rates_in(&txn).await?;
    txn.commit().await?;
    let (cache_calls, cache_hits, cache_saved) = match cache {
        Some(r) => (r.try_get_by_index(0)?, r.try_get_by_index(1)?, r.try_get_by_index(2)?),
        None => (0, 0, 0),
    };
    Ok(CostReport { days, workflows, cache_calls, cache_hits, cache_saved, rates: Some(rates) })
}

/// Today in the business's time zone (the default period ends today).
pub async fn today(db: &DatabaseConnection, schema: &str) -> Result<chrono::NaiveDate, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let d: chrono::NaiveDate = txn
        .query_one_raw(stmt(&format!("SELECT (now() AT TIME ZONE {TZ})::date"), vec![]))
        .await?
        .ok_or_else(|| DbErr::Custom("no date".into()))?
        .try_get_by_index(0)?;
    txn.commit().await?;
    Ok(d)
}

/// An amount as a CSV cell: every decimal, in currency units.
fn cell(m: Option<Micros>) -> String {
    m.map(|m| format!("{}.{:06}", m / 1_000_000, m % 1_000_000)).unwrap_or_default()
}

/// The by-workflow table of a report, as CSV.
pub fn to_csv(report: &CostReport) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "workflow",
        "runs",
        "completed_outcomes",
        "exceptions",
        "spend",
        "per_run",
        "per_outcome",
        "per_exception",
    ];
    header.extend(cost::KINDS);
    out.write_record(&header)?;
    for w in &report.workflows {
        let t = &w.totals;
        let mut row = vec![
            w.workflow_name.clone(),
            t.runs.to_string(),
            t.outcomes.to_string(),
            t.exceptions.to_string(),
            cell(Some(t.total())),
            cell(t.per_run()),
            cell(t.per_outcome()),
            cell(t.per_exception()),
        ];
        row.extend(t.by_kind.iter().map(|m| cell(Some(*m))));
        out.write_record(&row)?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
