//! Costs beyond the ledger (`ledger`): the business's rates; budgets;
//! alerts that open once per condition and clear on recovery; runs held
//! back by a budget or an off-peak window; and the figures the Costs page
//! reads. Months and days are the business's own (`local_time`).

use crate::db::{scalar, scalars, stmt};
use crate::local_time::TZ;
use crate::outbox::{self, OutboxEmail};
use crate::tenant::Tenant;
use crate::{audit, auth::CurrentMember};
use engine::cost::{self, Alarm, Budget, CapAction, Condition, HoldReason, MonthToDate, Rates, RetryWindow, Totals};
use engine::money::Micros;
use engine::CostKind;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::json;

// ---- rates ----

pub async fn rates_in(txn: &DatabaseTransaction) -> Result<Rates, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        orchestration_micros_per_hour: Micros,
        queue_op_micros: Micros,
        reviewer_hourly_micros: Micros,
    }
    let row = Row::find_by_statement(stmt(
        "SELECT orchestration_micros_per_hour, queue_op_micros, reviewer_hourly_micros FROM cost_rates",
        vec![],
    ))
    .one(txn)
    .await?;
    Ok(match row {
        Some(r) => Rates {
            orchestration_per_hour: r.orchestration_micros_per_hour,
            queue_op: r.queue_op_micros,
            reviewer_hourly: r.reviewer_hourly_micros,
        },
        None => Rates::default(),
    })
}

pub async fn rates(db: &DatabaseConnection, tenant: &Tenant) -> Result<Rates, DbErr> {
    let txn = tenant.begin(db).await?;
    let rates = rates_in(&txn).await?;
    txn.commit().await?;
    Ok(rates)
}

/// Sets the rates; a recorded change (it changes what every run costs from now on).
pub async fn save_rates(db: &DatabaseConnection, member: &CurrentMember, rates: &Rates) -> Result<(), DbErr> {
    let txn = member.tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "INSERT INTO cost_rates (id, orchestration_micros_per_hour, queue_op_micros, reviewer_hourly_micros) VALUES (true, $1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET orchestration_micros_per_hour = $1, queue_op_micros = $2, reviewer_hourly_micros = $3, updated_at = now()",
        vec![rates.orchestration_per_hour.into(), rates.queue_op.into(), rates.reviewer_hourly.into()],
    ))
    .await?;
    let currency = crate::currency::currency_in(&txn).await?;
    audit::record_change(
        &txn,
        Some(member),
        "cost",
        "cost.rates_changed",
        "rates",
        &format!(
            "Reviewer time {}/h, worker time {}/h, queue operation {}",
            currency.precise(rates.reviewer_hourly),
            currency.precise(rates.orchestration_per_hour),
            currency.precise(rates.queue_op)
        ),
        json!(rates),
    )
    .await?;
    txn.commit().await
}

// ---- budgets ----

pub async fn budget_in(txn: &DatabaseTransaction, workflow: &str) -> Result<Option<Budget>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        expected_runs: i64,
        target_micros: Micros,
        overage_pct: i64,
        action: CapAction,
        deviation_pct: i64,
        window_start: Option<i32>,
        window_end: Option<i32>,
    }
    let row = Row::find_by_statement(stmt(
        "SELECT expected_runs, target_micros, overage_pct, action, deviation_pct, window_start::int AS window_start,
                window_end::int AS window_end
           FROM budgets WHERE workflow_name = $1",
        vec![workflow.into()],
    ))
    .one(txn)
    .await?;
    Ok(row.map(|r| Budget {
        expected_runs: r.expected_runs,
        target_per_run: r.target_micros,
        overage_pct: r.overage_pct,
        action: r.action,
        deviation_pct: r.deviation_pct,
        batch_window: r.window_start.zip(r.window_end).map(|(s, e)| (s as u32, e as u32)),
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
    let txn = member.tenant.begin(db).await?;
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
            budget.action.into(),
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
    let currency = crate::currency::currency_in(&txn).await?;
    audit::record_change(
        &txn,
        Some(member),
        "cost",
        "cost.budget_changed",
        workflow,
        &format!(
            "{} runs a month at {} a run (plan {}, cap {}), at the cap: {}; alerts beyond {}%{window}",
            budget.expected_runs,
            currency.precise(budget.target_per_run),
            currency.cents(budget.planned()),
            currency.cents(budget.cap()),
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
    /// The business's currency, for the sentences alerts and the gate write.
    pub currency: engine::money::Currency,
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
    #[derive(FromQueryResult)]
    struct Row {
        runs: i64,
        spent: Micros,
        elapsed_seconds: i64,
        month_seconds: i64,
        local_hour: i32,
        recent_average: Option<Micros>,
        currency: Option<String>,
    }
    let budget = budget_in(txn, workflow).await?;
    let row = Row::find_by_statement(stmt(
        &format!(
            "WITH z AS (SELECT {TZ} AS tz),
                  m AS (SELECT (date_trunc('month', now() AT TIME ZONE tz) AT TIME ZONE tz) AS start,
                               ((date_trunc('month', now() AT TIME ZONE tz) + interval '1 month') AT TIME ZONE tz) AS next,
                               extract(hour FROM now() AT TIME ZONE tz)::int AS hour FROM z)
             SELECT (SELECT count(*) FROM runs r WHERE r.workflow_name = $1 AND r.created_at >= m.start AND r.held IS NULL AND r.status <> 'queued') AS runs,
                    (SELECT coalesce(sum(amount_micros), 0)::bigint FROM cost_lines c WHERE c.workflow_name = $1 AND c.at >= m.start) AS spent,
                    extract(epoch FROM now() - m.start)::bigint AS elapsed_seconds,
                    extract(epoch FROM m.next - m.start)::bigint AS month_seconds,
                    m.hour AS local_hour,
                    (SELECT avg(cost_micros)::bigint FROM (SELECT cost_micros FROM runs WHERE workflow_name = $1 AND finished_at IS NOT NULL
                        ORDER BY finished_at DESC LIMIT 20) recent) AS recent_average,
                    (SELECT max(currency) FROM public.tenants WHERE schema_name = current_schema()) AS currency
               FROM m"
        ),
        vec![workflow.into()],
    ))
    .one(txn)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("the month so far".into()))?;
    Ok(BudgetState {
        budget,
        month: MonthToDate {
            runs: row.runs,
            spent: row.spent,
            elapsed_seconds: row.elapsed_seconds,
            month_seconds: row.month_seconds,
        },
        local_hour: row.local_hour as u32,
        recent_average: row.recent_average,
        currency: row.currency.and_then(|c| engine::money::Currency::from_code(&c)).unwrap_or_default(),
    })
}

/// What the budget gate before a run's first step reads: nothing when the
/// workflow has no budget (the month's figures are not summed for nothing).
pub async fn gate_state_in(txn: &DatabaseTransaction, workflow: &str) -> Result<Option<BudgetState>, DbErr> {
    if budget_in(txn, workflow).await?.is_none() {
        return Ok(None);
    }
    budget_state_in(txn, workflow).await.map(Some)
}

/// The budget's state a starting run is judged on, in a unit of work of its own (None: no budget).
pub async fn gate_state(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
) -> Result<Option<BudgetState>, DbErr> {
    let txn = tenant.begin(db).await?;
    let state = gate_state_in(&txn, workflow).await?;
    txn.commit().await?;
    Ok(state)
}

pub async fn budget_state(db: &DatabaseConnection, tenant: &Tenant, workflow: &str) -> Result<BudgetState, DbErr> {
    let txn = tenant.begin(db).await?;
    let state = budget_state_in(&txn, workflow).await?;
    txn.commit().await?;
    Ok(state)
}

/// Step executions and retries over the last day, and over the week before
/// it. The steps are found through the workflow's runs of the last eight
/// days (`runs_workflow`) rather than among every step of the business by
/// time: at 1.2 million runs 30-50 ms instead of 105-140 (each watched
/// workflow, every minute the business is busy). A run older than that
/// whose steps ran within the windows (after a long review) is left out.
pub async fn retry_windows(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
) -> Result<(RetryWindow, RetryWindow), DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        recent_steps: i64,
        recent_retries: i64,
        trailing_steps: i64,
        trailing_retries: i64,
    }
    let txn = tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(
        "SELECT count(*) FILTER (WHERE s.started_at >= now() - interval '1 day') AS recent_steps,
                coalesce(sum(greatest(s.attempts - 1, 0)) FILTER (WHERE s.started_at >= now() - interval '1 day'), 0)::bigint AS recent_retries,
                count(*) FILTER (WHERE s.started_at < now() - interval '1 day') AS trailing_steps,
                coalesce(sum(greatest(s.attempts - 1, 0)) FILTER (WHERE s.started_at < now() - interval '1 day'), 0)::bigint AS trailing_retries
           FROM runs r JOIN run_steps s ON s.run_id = r.id
          WHERE r.workflow_name = $1 AND r.created_at >= now() - interval '8 days'
            AND s.started_at >= now() - interval '8 days' AND s.kind IN ('api_call', 'llm')",
        vec![workflow.into()],
    ))
    .one(&txn)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("the retry windows".into()))?;
    txn.commit().await?;
    Ok((
        RetryWindow { steps: row.recent_steps, retries: row.recent_retries },
        RetryWindow { steps: row.trailing_steps, retries: row.trailing_retries },
    ))
}

/// Holds a queued run back (it keeps its event and place; nothing is dropped) and releases its lease.
pub async fn hold(
    db: &DatabaseConnection,
    tenant: &Tenant,
    run_id: Uuid,
    owner: &str,
    reason: HoldReason,
) -> Result<bool, DbErr> {
    let txn = tenant.begin(db).await?;
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

async fn release_in(txn: &DatabaseTransaction, workflow: &str, reason: Option<HoldReason>) -> Result<Vec<Uuid>, DbErr> {
    scalars(
        txn,
        stmt(
            "UPDATE runs SET held = NULL, updated_at = now() WHERE workflow_name = $1 AND held IS NOT NULL AND status = 'queued'
                AND ($2::text IS NULL OR held = $2) RETURNING id AS value",
            vec![workflow.into(), reason.map(|r| r.as_str().to_owned()).into()],
        ),
    )
    .await
}

/// Lets a workflow's held runs go (all of them, or those held for `reason`); returns them to wake.
pub async fn release(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
    reason: Option<HoldReason>,
) -> Result<Vec<Uuid>, DbErr> {
    let txn = tenant.begin(db).await?;
    let ids = release_in(&txn, workflow, reason).await?;
    txn.commit().await?;
    Ok(ids)
}

/// A workflow the cost watch looks at, with the runs it holds back.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Watched {
    pub workflow_name: String,
    pub held_for_budget: i64,
    pub held_off_peak: i64,
}

/// Every workflow, with its held runs: what the cost watch looks at.
pub async fn watched_workflows(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<Watched>, DbErr> {
    let txn = tenant.begin(db).await?;
    let rows = Watched::find_by_statement(stmt(
        "SELECT w.name AS workflow_name,
                (SELECT count(*) FROM runs r WHERE r.workflow_name = w.name AND r.held = 'budget' AND r.status = 'queued') AS held_for_budget,
                (SELECT count(*) FROM runs r WHERE r.workflow_name = w.name AND r.held = 'off_peak' AND r.status = 'queued') AS held_off_peak
           FROM workflows w ORDER BY w.name",
        vec![],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

// ---- alerts ----

/// Opens an alert for each firing condition that has none open, with its
/// emails and a change-log entry in the same transaction (so an alert is
/// mailed exactly once), and clears the open alerts of evaluated
/// conditions that no longer fire. Returns the mail written, to hand over.
pub async fn sync_alerts(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
    evaluated: &[Condition],
    firing: &[Alarm],
    compose: &(dyn Fn(&Alarm, &str) -> (String, String, String) + Sync),
) -> Result<(Vec<OutboxEmail>, Vec<Uuid>), DbErr> {
    let txn = tenant.begin(db).await?;
    let mut mail = Vec::new();
    for alarm in firing {
        let opened: Option<Uuid> = scalar(
            &txn,
            stmt(
                "INSERT INTO cost_alerts (id, workflow_name, condition, message) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (workflow_name, condition) WHERE cleared_at IS NULL DO NOTHING RETURNING id AS value",
                vec![Uuid::new_v4().into(), workflow.into(), alarm.condition.into(), alarm.message.clone().into()],
            ),
        )
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
        let cleared: Option<String> = scalar(
            &txn,
            stmt(
                "UPDATE cost_alerts SET cleared_at = now() WHERE workflow_name = $1 AND condition = $2 AND cleared_at IS NULL
                 RETURNING message AS value",
                vec![workflow.into(), (*condition).into()],
            ),
        )
        .await?;
        if let Some(message) = cleared {
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
    let ids = outbox::insert(&txn, None, &mail).await?;
    txn.commit().await?;
    Ok((mail, ids))
}

/// The workflow's owner and the business's operations people.
async fn alert_recipients(txn: &DatabaseTransaction, workflow: &str) -> Result<Vec<String>, DbErr> {
    scalars(
        txn,
        stmt(
            "SELECT u.email AS value FROM workflows w JOIN public.users u ON u.id = w.owner_user_id WHERE w.name = $1
             UNION
             SELECT u.email FROM public.memberships m JOIN public.users u ON u.id = m.user_id JOIN public.tenants t ON t.id = m.tenant_id
              WHERE t.schema_name = current_schema() AND m.role = 'operations'
             ORDER BY 1",
            vec![workflow.into()],
        ),
    )
    .await
}

/// An alert as the dashboard and the Costs page list it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct AlertRow {
    pub workflow_name: String,
    pub condition: Condition,
    pub message: String,
    pub opened_at: DateTimeUtc,
    pub cleared_at: Option<DateTimeUtc>,
}

/// Open alerts first, then the most recent cleared ones.
pub async fn alerts(db: &DatabaseConnection, tenant: &Tenant, limit: i64) -> Result<Vec<AlertRow>, DbErr> {
    let txn = tenant.begin(db).await?;
    let rows = AlertRow::find_by_statement(stmt(
        "SELECT workflow_name, condition, message, opened_at, cleared_at FROM cost_alerts
          ORDER BY cleared_at IS NOT NULL, opened_at DESC LIMIT $1",
        vec![limit.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

// ---- the Costs page ----

/// Spend on one day of the business's calendar, by kind, with the runs started that day.
#[derive(Debug, Clone, Default)]
pub struct DaySpend {
    pub day: chrono::NaiveDate,
    pub by_kind: [Micros; cost::KIND_COUNT],
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
    tenant: &Tenant,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<CostReport, DbErr> {
    #[derive(FromQueryResult)]
    struct DayKind {
        day: chrono::NaiveDate,
        kind: CostKind,
        amount: Micros,
    }
    #[derive(FromQueryResult)]
    struct DayRuns {
        day: chrono::NaiveDate,
        runs: i64,
    }
    #[derive(FromQueryResult)]
    struct WorkflowKind {
        workflow_name: String,
        kind: CostKind,
        amount: Micros,
    }
    #[derive(FromQueryResult)]
    struct WorkflowRuns {
        workflow_name: String,
        runs: i64,
        outcomes: i64,
        exceptions: i64,
        held: i64,
    }
    #[derive(FromQueryResult)]
    struct Cache {
        calls: i64,
        hits: i64,
        saved: Micros,
    }
    let txn = tenant.begin(db).await?;
    let range = format!(
        "c.at >= ($1::date::timestamp AT TIME ZONE {TZ}) AND c.at < (($2::date + 1)::timestamp AT TIME ZONE {TZ})"
    );
    let run_range = range.replace("c.at", "r.created_at");
    let period = || vec![from.into(), to.into()];
    let mut days: Vec<DaySpend> = Vec::new();
    let mut day = from;
    while day <= to {
        days.push(DaySpend { day, ..Default::default() });
        day = day.succ_opt().unwrap_or(day);
        if days.len() > 400 {
            break;
        }
    }
    for r in DayKind::find_by_statement(stmt(
        &format!(
            "SELECT (c.at AT TIME ZONE {TZ})::date AS day, c.kind, sum(c.amount_micros)::bigint AS amount
               FROM cost_lines c WHERE {range} GROUP BY 1, 2"
        ),
        period(),
    ))
    .all(&txn)
    .await?
    {
        if let Some(slot) = days.iter_mut().find(|x| x.day == r.day) {
            slot.by_kind[r.kind.index()] += r.amount;
        }
    }
    for r in DayRuns::find_by_statement(stmt(
        &format!("SELECT (r.created_at AT TIME ZONE {TZ})::date AS day, count(*) AS runs FROM runs r WHERE {run_range} GROUP BY 1"),
        period(),
    ))
    .all(&txn)
    .await?
    {
        if let Some(slot) = days.iter_mut().find(|x| x.day == r.day) {
            slot.runs = r.runs;
        }
    }
    let mut workflows: Vec<WorkflowCosts> = Vec::new();
    let names: Vec<String> = scalars(&txn, stmt("SELECT name AS value FROM workflows ORDER BY name", vec![])).await?;
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
    for r in WorkflowKind::find_by_statement(stmt(
        &format!(
            "SELECT c.workflow_name, c.kind, sum(c.amount_micros)::bigint AS amount FROM cost_lines c WHERE {range} GROUP BY 1, 2"
        ),
        period(),
    ))
    .all(&txn)
    .await?
    {
        if let Some(w) = workflows.iter_mut().find(|w| w.workflow_name == r.workflow_name) {
            w.totals.add(r.kind, r.amount);
        }
    }
    // Outcomes: runs that completed (a reached outcome step or an approval).
    // Exceptions: runs that failed or fell back to a person after an error.
    for r in WorkflowRuns::find_by_statement(stmt(
        &format!(
            "SELECT r.workflow_name, count(*) AS runs,
                    count(*) FILTER (WHERE r.status = 'completed') AS outcomes,
                    count(*) FILTER (WHERE r.status = 'failed' OR EXISTS (SELECT 1 FROM review_tasks t WHERE t.run_id = r.id AND t.reason = 'error')) AS exceptions,
                    count(*) FILTER (WHERE r.held IS NOT NULL AND r.status = 'queued') AS held
               FROM runs r WHERE {run_range} GROUP BY 1"
        ),
        period(),
    ))
    .all(&txn)
    .await?
    {
        if let Some(w) = workflows.iter_mut().find(|w| w.workflow_name == r.workflow_name) {
            w.totals.runs = r.runs;
            w.totals.outcomes = r.outcomes;
            w.totals.exceptions = r.exceptions;
            w.held = r.held;
        }
    }
    let cache = Cache::find_by_statement(stmt(
        &format!(
            "SELECT count(*) FILTER (WHERE c.cache_hit IS NOT NULL) AS calls, count(*) FILTER (WHERE c.cache_hit) AS hits,
                    coalesce(sum(c.saved_micros), 0)::bigint AS saved
               FROM cost_lines c WHERE c.kind = 'enrichment' AND {range}"
        ),
        period(),
    ))
    .one(&txn)
    .await?;
    let rates = rates_in(&txn).await?;
    txn.commit().await?;
    let (cache_calls, cache_hits, cache_saved) = cache.map(|c| (c.calls, c.hits, c.saved)).unwrap_or((0, 0, 0));
    Ok(CostReport { days, workflows, cache_calls, cache_hits, cache_saved, rates: Some(rates) })
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
    header.extend(CostKind::ALL.iter().map(|k| k.as_str()));
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
