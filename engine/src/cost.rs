//! What a run costs and the rules that keep it inside its plan: ledger
//! arithmetic for every kind of cost (in micros, rounded half up, never
//! floating point), the figures derived from it, the budget check before a
//! run, deviation and retry-spike alarms, tiered model routing and the
//! off-peak window of batchable workflows.

use crate::money::{self, Currency, Micros};
use crate::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::cost_kind::{CostKind, COUNT as KIND_COUNT};

/// n / d rounded half up; amounts are never negative.
fn div_half_up(n: i128, d: i128) -> Micros {
    if d <= 0 || n <= 0 {
        return 0;
    }
    ((n + d / 2) / d).min(i64::MAX as i128) as Micros
}

/// Tokens × the model's price per million tokens.
pub fn model(tokens_in: i64, tokens_out: i64, input_per_million: Micros, output_per_million: Micros) -> Micros {
    let n = tokens_in.max(0) as i128 * input_per_million.max(0) as i128
        + tokens_out.max(0) as i128 * output_per_million.max(0) as i128;
    div_half_up(n, 1_000_000)
}

/// An enrichment call at the step's price; a cache hit costs nothing.
pub fn enrichment(price_per_call: Micros, cache_hit: bool) -> Micros {
    if cache_hit {
        0
    } else {
        price_per_call.max(0)
    }
}

/// Worker time at a rate per hour.
pub fn orchestration(worker_ms: i64, rate_per_hour: Micros) -> Micros {
    div_half_up(worker_ms.max(0) as i128 * rate_per_hour.max(0) as i128, 3_600_000)
}

/// Queue operations (job deliveries) at a price each.
pub fn queue(ops: i64, price_per_op: Micros) -> Micros {
    ops.max(0).saturating_mul(price_per_op.max(0))
}

/// Review time at the reviewer hourly rate.
pub fn review(seconds: i64, hourly_rate: Micros) -> Micros {
    div_half_up(seconds.max(0) as i128 * hourly_rate.max(0) as i128, 3600)
}

/// A decision taken without a claim (from an email link) counts one minute.
pub const UNCLAIMED_REVIEW_SECONDS: i64 = 60;
/// A claim left open overnight is not a night of work: at most two hours count.
pub const MAX_REVIEW_SECONDS: i64 = 2 * 3600;

/// The review time a decision cost: from the claim to the decision.
pub fn review_seconds(claimed_at: Option<DateTime<Utc>>, decided_at: DateTime<Utc>) -> i64 {
    match claimed_at {
        Some(c) => (decided_at - c).num_seconds().clamp(0, MAX_REVIEW_SECONDS),
        None => UNCLAIMED_REVIEW_SECONDS,
    }
}

/// The business's rates for the costs that are not on a vendor's bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    pub orchestration_per_hour: Micros,
    pub queue_op: Micros,
    pub reviewer_hourly: Micros,
}

impl Default for Rates {
    fn default() -> Self {
        // 0.36 per worker hour, 0.000002 per queue operation, 45.00 per review hour.
        Rates { orchestration_per_hour: 360_000, queue_op: 2, reviewer_hourly: 45_000_000 }
    }
}

impl Rates {
    /// The rates as typed in Settings, with a reason for each that does not read.
    pub fn parse(
        orchestration_per_hour: &str,
        queue_op: &str,
        reviewer_hourly: &str,
    ) -> Result<Rates, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut field = |name: &str, text: &str, example: &str| {
            money::parse(text).unwrap_or_else(|| {
                errors
                    .push(FieldError::new(name, format!("Enter an amount with at most six decimals, e.g. {example}.")));
                0
            })
        };
        let rates = Rates {
            orchestration_per_hour: field("orchestration_per_hour", orchestration_per_hour, "0.36"),
            queue_op: field("queue_op", queue_op, "0.000002"),
            reviewer_hourly: field("reviewer_hourly", reviewer_hourly, "45.00"),
        };
        if errors.is_empty() {
            Ok(rates)
        } else {
            Err(errors)
        }
    }
}

/// Spend by kind for a workflow or a business over a period, with the runs it covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub by_kind: [Micros; KIND_COUNT],
    pub runs: i64,
    /// Runs that reached their outcome step or were approved.
    pub outcomes: i64,
    /// Runs that failed or fell back to a person.
    pub exceptions: i64,
}

impl Totals {
    pub fn add(&mut self, kind: CostKind, amount: Micros) {
        self.by_kind[kind.index()] += amount;
    }

    pub fn total(&self) -> Micros {
        self.by_kind.iter().sum()
    }

    pub fn per_run(&self) -> Option<Micros> {
        per(self.total(), self.runs)
    }

    pub fn per_outcome(&self) -> Option<Micros> {
        per(self.total(), self.outcomes)
    }

    pub fn per_exception(&self) -> Option<Micros> {
        per(self.total(), self.exceptions)
    }

    /// Each kind over `count` (runs, outcomes or exceptions).
    pub fn split(&self, count: i64) -> [Option<Micros>; KIND_COUNT] {
        self.by_kind.map(|amount| per(amount, count))
    }

    pub fn merge(&mut self, other: &Totals) {
        for (a, b) in self.by_kind.iter_mut().zip(other.by_kind) {
            *a += b;
        }
        self.runs += other.runs;
        self.outcomes += other.outcomes;
        self.exceptions += other.exceptions;
    }
}

/// An amount shared out over `count`; None when there is nothing to share it over.
pub fn per(amount: Micros, count: i64) -> Option<Micros> {
    (count > 0).then(|| div_half_up(amount as i128, count as i128))
}

words! {
    /// What the engine does when a run would take a workflow past its cap.
    pub enum CapAction {
        AlertOnly,
        Downgrade,
        Pause,
    }
}

words! {
    /// Why a queued run is held back (its event is kept; it runs once released).
    pub enum HoldReason {
        /// Its workflow's budget cap says pause.
        Budget,
        /// Its batchable workflow waits for the off-peak window.
        OffPeak,
    }
}

impl CapAction {
    pub fn label(self) -> &'static str {
        match self {
            CapAction::AlertOnly => "Alert only",
            CapAction::Downgrade => "Route to the cheaper model tier",
            CapAction::Pause => "Pause new runs (events are kept and queued)",
        }
    }
}

/// A workflow's monthly guardrail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub expected_runs: i64,
    pub target_per_run: Micros,
    /// How far past the plan the month may go before the cap action, in percent.
    pub overage_pct: i64,
    pub action: CapAction,
    /// How far from plan cost per run or projected spend may drift before an alert, in percent.
    pub deviation_pct: i64,
    /// Runs wait for the off-peak window and are executed together.
    pub batch_window: Option<(u32, u32)>,
}

/// A budget as typed on the Costs page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetForm {
    pub expected_runs: String,
    pub target_per_run: String,
    pub overage_pct: String,
    pub action: String,
    pub deviation_pct: String,
    pub batchable: bool,
    pub window_start: String,
    pub window_end: String,
}

impl Budget {
    /// Expected runs × target cost per run.
    pub fn planned(&self) -> Micros {
        self.expected_runs.max(0).saturating_mul(self.target_per_run.max(0))
    }

    /// The plan plus the acceptable overage.
    pub fn cap(&self) -> Micros {
        div_half_up(self.planned() as i128 * (100 + self.overage_pct.max(0)) as i128, 100)
    }

    pub fn parse(form: &BudgetForm) -> Result<Budget, Vec<FieldError>> {
        let mut errors = Vec::new();
        let whole =
            |errors: &mut Vec<FieldError>, name: &str, text: &str, range: std::ops::RangeInclusive<i64>, why: &str| {
                match text.trim().parse::<i64>() {
                    Ok(n) if range.contains(&n) => n,
                    _ => {
                        errors.push(FieldError::new(name, why));
                        0
                    }
                }
            };
        let expected_runs = whole(
            &mut errors,
            "expected_runs",
            &form.expected_runs,
            1..=10_000_000,
            "Enter how many runs you expect a month, a whole number from 1.",
        );
        let target_per_run = money::parse(&form.target_per_run).filter(|m| *m > 0).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "target_per_run",
                "Enter the target cost per run, more than 0 with at most six decimals, e.g. 0.25.",
            ));
            0
        });
        let overage_pct = whole(
            &mut errors,
            "overage_pct",
            &form.overage_pct,
            0..=1000,
            "Enter the acceptable overage in percent, from 0 to 1000.",
        );
        let deviation_pct = whole(
            &mut errors,
            "deviation_pct",
            &form.deviation_pct,
            1..=1000,
            "Enter the alert threshold in percent, from 1 to 1000 (15 is usual).",
        );
        let action = form.action.trim().parse::<CapAction>().unwrap_or_else(|_| {
            errors.push(FieldError::new("action", "Choose alert only, route to the cheaper tier, or pause new runs."));
            CapAction::AlertOnly
        });
        let batch_window = if form.batchable {
            let start = whole(
                &mut errors,
                "window_start",
                &form.window_start,
                0..=23,
                "Enter the hour the off-peak window opens, 0 to 23.",
            );
            let end = whole(
                &mut errors,
                "window_end",
                &form.window_end,
                0..=23,
                "Enter the hour the off-peak window closes, 0 to 23.",
            );
            Some((start as u32, end as u32))
        } else {
            None
        };
        if errors.is_empty() {
            Ok(Budget { expected_runs, target_per_run, overage_pct, action, deviation_pct, batch_window })
        } else {
            Err(errors)
        }
    }
}

/// What the budget says before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// The run's forecast would take the month past the cap.
    AtCap(CapAction),
}

/// The forecast cost of the next run: the recent average, else the target.
pub fn forecast(recent_average: Option<Micros>, budget: &Budget) -> Micros {
    recent_average.unwrap_or(budget.target_per_run)
}

/// The check before each run: what is spent this month plus this run's forecast against the cap.
pub fn before_run(budget: &Budget, spent_this_month: Micros, forecast: Micros) -> Verdict {
    if spent_this_month.saturating_add(forecast) > budget.cap() {
        Verdict::AtCap(budget.action)
    } else {
        Verdict::Proceed
    }
}

words! {
    /// A condition worth an alert.
    pub enum Condition {
        CostPerRun,
        ProjectedSpend,
        RetryRate,
        BudgetCap,
    }
}

/// A condition that holds, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub condition: Condition,
    pub message: String,
}

/// A workflow's month so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonthToDate {
    pub runs: i64,
    pub spent: Micros,
    pub elapsed_seconds: i64,
    pub month_seconds: i64,
}

/// Fewer runs than this say nothing about cost per run.
pub const MIN_RUNS_FOR_DEVIATION: i64 = 3;
/// A projection from less than a day of the month is noise.
pub const MIN_SECONDS_FOR_PROJECTION: i64 = 24 * 3600;

/// How far `actual` is above `reference`, in whole percent.
pub fn percent_over(actual: Micros, reference: Micros) -> i64 {
    if reference <= 0 {
        return 0;
    }
    ((actual as i128 - reference as i128) * 100 / reference as i128) as i64
}

/// Alarms when the month runs over plan by more than the budget's
/// deviation: cost per run against the target, and the month's spend
/// projected from the time elapsed against expected runs × target.
pub fn deviations(budget: &Budget, month: &MonthToDate, currency: Currency) -> Vec<Alarm> {
    let mut alarms = Vec::new();
    if month.runs < MIN_RUNS_FOR_DEVIATION {
        return alarms;
    }
    let over =
        |actual: Micros, plan: Micros| actual as i128 * 100 > plan as i128 * (100 + budget.deviation_pct) as i128;
    let per_run = per(month.spent, month.runs).unwrap_or(0);
    if over(per_run, budget.target_per_run) {
        alarms.push(Alarm {
            condition: Condition::CostPerRun,
            message: format!(
                "Cost per run is {} against a target of {} ({}% over; alerts above {}%).",
                currency.precise(per_run),
                currency.precise(budget.target_per_run),
                percent_over(per_run, budget.target_per_run),
                budget.deviation_pct
            ),
        });
    }
    if month.elapsed_seconds >= MIN_SECONDS_FOR_PROJECTION && month.month_seconds > 0 {
        let projected = div_half_up(month.spent as i128 * month.month_seconds as i128, month.elapsed_seconds as i128);
        if over(projected, budget.planned()) {
            alarms.push(Alarm {
                condition: Condition::ProjectedSpend,
                message: format!(
                    "This month's spend is on course for {} against a plan of {} ({}% over).",
                    currency.cents(projected),
                    currency.cents(budget.planned()),
                    percent_over(projected, budget.planned())
                ),
            });
        }
    }
    alarms
}

/// Step executions and the retries among them over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryWindow {
    pub steps: i64,
    pub retries: i64,
}

/// Fewer steps than this in either window say nothing about a retry rate.
pub const MIN_STEPS_FOR_RETRY_RATE: i64 = 10;

/// Whether the recent retry rate is at least double the trailing one
/// (with enough steps in both windows and at least three retries).
pub fn retry_spike(recent: RetryWindow, trailing: RetryWindow) -> Option<Alarm> {
    if recent.steps < MIN_STEPS_FOR_RETRY_RATE || trailing.steps < MIN_STEPS_FOR_RETRY_RATE || recent.retries < 3 {
        return None;
    }
    // recent.retries / recent.steps >= 2 × trailing.retries / trailing.steps, in integers.
    let doubled =
        recent.retries as i128 * trailing.steps as i128 >= 2 * trailing.retries as i128 * recent.steps as i128;
    doubled.then(|| Alarm {
        condition: Condition::RetryRate,
        message: format!(
            "Retries are {} per 100 steps today against {} over the trailing week; every retry is paid for.",
            recent.retries * 100 / recent.steps,
            trailing.retries * 100 / trailing.steps
        ),
    })
}

/// Every condition the cost watch judges for a workflow, and those that hold:
/// deviations and the cap need a budget; retry spikes do not.
pub fn watch(
    budget: Option<&Budget>,
    month: &MonthToDate,
    forecast: Micros,
    recent: RetryWindow,
    trailing: RetryWindow,
    currency: Currency,
) -> (Vec<Condition>, Vec<Alarm>) {
    let mut evaluated = vec![Condition::RetryRate];
    let mut firing = Vec::new();
    if let Some(b) = budget {
        evaluated.extend([Condition::CostPerRun, Condition::ProjectedSpend, Condition::BudgetCap]);
        firing.extend(deviations(b, month, currency));
        if let Verdict::AtCap(action) = before_run(b, month.spent, forecast) {
            firing.push(Alarm {
                condition: Condition::BudgetCap,
                message: format!(
                    "This month's spend ({}) and the next run's forecast ({}) pass the cap of {} ({} runs × {} plus {}%). At the cap: {}.",
                    currency.cents(month.spent),
                    currency.precise(forecast),
                    currency.cents(b.cap()),
                    b.expected_runs,
                    currency.precise(b.target_per_run),
                    b.overage_pct,
                    action.label().to_lowercase()
                ),
            });
        }
    }
    firing.extend(retry_spike(recent, trailing));
    (evaluated, firing)
}

/// A reporting period from the dates typed (YYYY-MM-DD, inclusive); by
/// default the 30 days ending `today`. At most a year.
pub fn period(
    from: &str,
    to: &str,
    today: chrono::NaiveDate,
) -> Result<(chrono::NaiveDate, chrono::NaiveDate), Vec<FieldError>> {
    let date = |field: &str, text: &str, default: chrono::NaiveDate| {
        if text.trim().is_empty() {
            return Ok(default);
        }
        chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map_err(|_| FieldError::new(field, "Enter a date as YYYY-MM-DD."))
    };
    match (date("from", from, today - chrono::Duration::days(29)), date("to", to, today)) {
        (Ok(f), Ok(t)) if f <= t && (t - f).num_days() <= 366 => Ok((f, t)),
        (Ok(_), Ok(_)) => {
            Err(vec![FieldError::new("to", "The period ends on or after its start and spans at most a year.")])
        }
        (f, t) => Err([f.err(), t.err()].into_iter().flatten().collect()),
    }
}

/// What a routing rule may read besides the run's context.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteFacts {
    /// Characters of the rendered prompt.
    pub input_size: usize,
    /// The business value at stake (e.g. annual contract value), 0 when none.
    pub value: f64,
    /// The workflow's priority: low, normal or high.
    pub priority: String,
}

/// The tier an `auto` llm step uses, and why. The rule is CEL over the
/// context plus `input_size`, `value` and `priority`, and gives `'small'`
/// or `'premium'` (or true for premium).
pub fn route(rule: Option<&str>, facts: &RouteFacts, context: &Value) -> Result<(String, String), String> {
    let Some(rule) = rule else {
        return Ok(("small".into(), "no routing rule, so `auto` uses the small tier".into()));
    };
    let mut vars = context.as_object().cloned().unwrap_or_default();
    vars.insert("input_size".into(), Value::from(facts.input_size as i64));
    vars.insert("value".into(), Value::from(facts.value));
    vars.insert("priority".into(), Value::from(facts.priority.clone()));
    let tier = match crate::run::eval(rule, &Value::Object(vars))? {
        Value::String(s) if s == "small" || s == "premium" => s,
        Value::Bool(true) => "premium".into(),
        Value::Bool(false) => "small".into(),
        other => return Err(format!("the routing rule must give 'small', 'premium', true or false, not {other}")),
    };
    let reason = format!(
        "`{rule}` chose {tier} (input_size {}, value {}, priority {})",
        facts.input_size, facts.value, facts.priority
    );
    Ok((tier, reason))
}

/// Whether `hour` (0–23, the business's local time) is inside the window
/// from `start` to `end`; a window may wrap past midnight, and start ==
/// end is the whole day.
pub fn in_window(start: u32, end: u32, hour: u32) -> bool {
    match start.cmp(&end) {
        std::cmp::Ordering::Equal => true,
        std::cmp::Ordering::Less => (start..end).contains(&hour),
        std::cmp::Ordering::Greater => hour >= start || hour < end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn model_cost_is_tokens_times_price_rounded_half_up_to_a_millionth() {
        // 1200 × 2.50/M + 300 × 10/M = 0.003 + 0.003.
        assert_eq!(model(1200, 300, 2_500_000, 10_000_000), 6000);
        // 1000 × 0.15/M = 150 micros; 3 tokens × 0.15/M = 0.45 micros → 0; 4 → 0.6 → 1.
        assert_eq!(model(1000, 0, 150_000, 600_000), 150);
        assert_eq!(model(3, 0, 150_000, 0), 0);
        assert_eq!(model(4, 0, 150_000, 0), 1);
        assert_eq!(model(0, 0, 150_000, 600_000), 0);
        // Half exactly rounds up: 5 tokens × 0.1/M = 0.5 micros.
        assert_eq!(model(5, 0, 100_000, 0), 1);
    }

    #[test]
    fn enrichment_costs_its_price_unless_the_cache_answered() {
        assert_eq!(enrichment(2000, false), 2000);
        assert_eq!(enrichment(2000, true), 0);
    }

    #[test]
    fn worker_time_queue_and_review_minutes() {
        // 2.5 s at 0.36/h = 250 micros; 1 ms at 0.36/h = 0.1 → 0; 5 ms = 0.5 → 1.
        assert_eq!(orchestration(2500, 360_000), 250);
        assert_eq!(orchestration(1, 360_000), 0);
        assert_eq!(orchestration(5, 360_000), 1);
        assert_eq!(queue(3, 2), 6);
        // 3 minutes at 45.00/h = 2.25.
        assert_eq!(review(180, 45_000_000), 2_250_000);
        // 7 s at 10.00/h = 0.019444… → 19444.
        assert_eq!(review(7, 10_000_000), 19_444);
        let decided = Utc.with_ymd_and_hms(2026, 11, 3, 10, 0, 0).unwrap();
        assert_eq!(review_seconds(Some(decided - chrono::Duration::seconds(150)), decided), 150);
        assert_eq!(review_seconds(None, decided), UNCLAIMED_REVIEW_SECONDS);
        assert_eq!(
            review_seconds(Some(decided - chrono::Duration::hours(9)), decided),
            MAX_REVIEW_SECONDS,
            "a forgotten claim is capped"
        );
        assert_eq!(review_seconds(Some(decided + chrono::Duration::seconds(5)), decided), 0);
    }

    #[test]
    fn derived_figures_share_spend_over_runs_outcomes_and_exceptions() {
        let mut t = Totals { runs: 3, outcomes: 2, exceptions: 1, ..Default::default() };
        t.add(CostKind::Model, 1000);
        t.add(CostKind::Review, 2_250_000);
        t.add(CostKind::Enrichment, 2000);
        assert_eq!(t.total(), 2_253_000);
        assert_eq!(t.per_run(), Some(751_000));
        assert_eq!(t.per_outcome(), Some(1_126_500));
        assert_eq!(t.per_exception(), Some(2_253_000));
        // 1000 / 3 = 333.33 → 333; 2000 / 3 = 666.67 → 667.
        assert_eq!(t.split(3)[0], Some(333));
        assert_eq!(t.split(3)[2], Some(667));
        assert_eq!(Totals::default().per_run(), None, "no runs, no cost per run");
        let mut all = Totals::default();
        all.merge(&t);
        all.merge(&t);
        assert_eq!((all.total(), all.runs), (4_506_000, 6));
    }

    fn budget(action: CapAction) -> Budget {
        // 100 runs × 0.50 = 50.00 planned; 10% overage → cap 55.00.
        Budget {
            expected_runs: 100,
            target_per_run: 500_000,
            overage_pct: 10,
            action,
            deviation_pct: 15,
            batch_window: None,
        }
    }

    #[test]
    fn the_budget_check_applies_the_action_once_the_forecast_passes_the_cap() {
        let b = budget(CapAction::Pause);
        assert_eq!((b.planned(), b.cap()), (50_000_000, 55_000_000));
        assert_eq!(before_run(&b, 54_000_000, 500_000), Verdict::Proceed);
        assert_eq!(before_run(&b, 54_500_000, 500_000), Verdict::Proceed, "exactly at the cap is inside it");
        assert_eq!(before_run(&b, 54_500_001, 500_000), Verdict::AtCap(CapAction::Pause));
        assert_eq!(before_run(&budget(CapAction::Downgrade), 60_000_000, 1), Verdict::AtCap(CapAction::Downgrade));
        assert_eq!(forecast(Some(700_000), &b), 700_000);
        assert_eq!(forecast(None, &b), 500_000, "no history yet: the target");
    }

    #[test]
    fn budgets_parse_from_the_form_with_a_reason_per_field() {
        let form = BudgetForm {
            expected_runs: "240".into(),
            target_per_run: "1.50".into(),
            overage_pct: "10".into(),
            action: "downgrade".into(),
            deviation_pct: "15".into(),
            batchable: true,
            window_start: "22".into(),
            window_end: "6".into(),
        };
        let b = Budget::parse(&form).unwrap();
        assert_eq!(
            (b.expected_runs, b.target_per_run, b.action, b.batch_window),
            (240, 1_500_000, CapAction::Downgrade, Some((22, 6)))
        );
        let bad = BudgetForm {
            expected_runs: "0".into(),
            target_per_run: "-1".into(),
            action: "explode".into(),
            batchable: true,
            window_start: "25".into(),
            ..form
        };
        let fields: Vec<String> = Budget::parse(&bad).unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["expected_runs", "target_per_run", "action", "window_start"]);
    }

    #[test]
    fn deviation_alarms_start_above_the_threshold() {
        let b = budget(CapAction::AlertOnly);
        let month = |runs, spent| MonthToDate { runs, spent, elapsed_seconds: 10 * 86400, month_seconds: 30 * 86400 };
        // 0.575 per run is exactly 15% over 0.50: not yet.
        assert!(deviations(&b, &month(4, 2_300_000), Currency::default()).is_empty());
        let alarms = deviations(&b, &month(4, 2_300_004), Currency::default());
        assert_eq!(alarms.len(), 1);
        assert_eq!(alarms[0].condition, Condition::CostPerRun);
        assert!(alarms[0].message.contains("$0.5750 against a target of $0.5000 (15% over"), "{}", alarms[0].message);
        // On target per run, but 60 runs in a third of the month projects 90.00 against 50.00.
        let alarms = deviations(&b, &month(60, 30_000_000), Currency::default());
        assert_eq!(alarms.iter().map(|a| a.condition).collect::<Vec<_>>(), [Condition::ProjectedSpend]);
        assert!(alarms[0].message.contains("$90.00 against a plan of $50.00 (80% over)"), "{}", alarms[0].message);
        assert!(deviations(&b, &month(2, 9_000_000), Currency::default()).is_empty(), "two runs are too few to judge");
        let early = MonthToDate { runs: 10, spent: 5_000_000, elapsed_seconds: 3600, month_seconds: 30 * 86400 };
        assert!(deviations(&b, &early, Currency::default()).is_empty(), "no projection from the first hour");
        let loose = Budget { deviation_pct: 50, ..b };
        assert!(
            deviations(&loose, &month(4, 2_800_000), Currency::default()).is_empty(),
            "the threshold is the workflow's own"
        );
    }

    #[test]
    fn the_watch_judges_budget_conditions_only_with_a_budget() {
        let quiet = RetryWindow::default();
        let month = MonthToDate { runs: 4, spent: 54_800_000, elapsed_seconds: 3600, month_seconds: 30 * 86400 };
        let (evaluated, firing) = watch(None, &month, 500_000, quiet, quiet, Currency::default());
        assert_eq!((evaluated, firing), (vec![Condition::RetryRate], vec![]));
        let b = budget(CapAction::Pause);
        let (evaluated, firing) = watch(Some(&b), &month, 500_000, quiet, quiet, Currency::default());
        assert_eq!(evaluated.len(), 4);
        let conditions: Vec<Condition> = firing.iter().map(|a| a.condition).collect();
        assert_eq!(conditions, [Condition::CostPerRun, Condition::BudgetCap]);
        assert!(
            firing[1]
                .message
                .contains("pass the cap of $55.00 (100 runs × $0.5000 plus 10%). At the cap: pause new runs"),
            "{}",
            firing[1].message
        );
    }

    #[test]
    fn a_retry_spike_is_the_rate_doubling_against_the_trailing_week() {
        let week = RetryWindow { steps: 700, retries: 35 }; // 5%
        assert!(retry_spike(RetryWindow { steps: 100, retries: 9 }, week).is_none());
        let alarm = retry_spike(RetryWindow { steps: 100, retries: 10 }, week).unwrap();
        assert!(alarm.message.contains("10 per 100 steps today against 5"), "{}", alarm.message);
        assert!(retry_spike(RetryWindow { steps: 5, retries: 5 }, week).is_none(), "too few steps today");
        assert!(
            retry_spike(RetryWindow { steps: 20, retries: 3 }, RetryWindow { steps: 100, retries: 0 }).is_some(),
            "from none to some"
        );
        assert!(
            retry_spike(RetryWindow { steps: 20, retries: 3 }, RetryWindow::default()).is_none(),
            "no history, no baseline"
        );
    }

    #[test]
    fn routing_rules_pick_a_tier_and_say_why() {
        let facts =
            |size, value: f64, priority: &str| RouteFacts { input_size: size, value, priority: priority.into() };
        let rule = "value > 50000.0 || priority == 'high' ? 'premium' : 'small'";
        let ctx = json!({ "lead": { "name": "x" } });
        let (tier, why) = route(Some(rule), &facts(100, 60000.0, "normal"), &ctx).unwrap();
        assert_eq!(tier, "premium");
        assert!(why.contains("value 60000"), "{why}");
        assert_eq!(route(Some(rule), &facts(100, 1000.0, "normal"), &ctx).unwrap().0, "small");
        assert_eq!(route(Some(rule), &facts(100, 1000.0, "high"), &ctx).unwrap().0, "premium");
        assert_eq!(route(Some("input_size > 2000"), &facts(2400, 0.0, "low"), &ctx).unwrap().0, "premium");
        assert_eq!(
            route(Some("lead.name == 'y'"), &facts(1, 0.0, "low"), &ctx).unwrap().0,
            "small",
            "the context is readable"
        );
        assert_eq!(route(None, &facts(1, 0.0, "low"), &ctx).unwrap().0, "small");
        assert!(route(Some("'gold'"), &facts(1, 0.0, "low"), &ctx).unwrap_err().contains("must give"));
    }

    #[test]
    fn a_period_defaults_to_thirty_days_and_says_what_is_wrong() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(period("", "", today).unwrap(), (chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), today));
        assert_eq!(
            period("2026-11-01", "2026-11-30", today).unwrap().1,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
        );
        let fields = |r: Result<_, Vec<FieldError>>| r.unwrap_err().into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(period("2026-13-01", "yesterday", today)), ["from", "to"]);
        assert_eq!(fields(period("2026-12-01", "2026-11-01", today)), ["to"]);
        assert_eq!(fields(period("2024-01-01", "2026-11-01", today)), ["to"], "more than a year");
    }

    #[test]
    fn off_peak_windows_may_wrap_past_midnight() {
        assert!(in_window(22, 6, 23) && in_window(22, 6, 0) && in_window(22, 6, 5));
        assert!(!in_window(22, 6, 6) && !in_window(22, 6, 12));
        assert!(in_window(1, 5, 1) && !in_window(1, 5, 5));
        assert!(in_window(3, 3, 17), "start = end is the whole day");
    }
}
