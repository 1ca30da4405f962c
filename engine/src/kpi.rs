//! Proof of value: what a workflow did in a month against how the work was
//! done by hand. Tallies are additive counts and sums (one per workflow and
//! local day, so a month is the sum of its days and closed days are never
//! counted twice); KPIs are derived from a tally and the workflow's
//! baseline; headlines compare a month with the one before and with the
//! baseline, in words the Reports page, the email and the PDF all share.

use crate::money::{self, Currency, Micros};
use crate::FieldError;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Confidence is counted in ten buckets of 0.1 (the last one holds 1.0).
pub const CONFIDENCE_BUCKETS: usize = 10;

/// A failure streak: this many runs in one hour, all failed, takes the hour down.
pub const STREAK_RUNS: i64 = 3;

// ---- months in the business's time zone ----

/// A calendar month, as the business reads it ("2026-11").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    /// "2026-11" (what URLs and forms carry).
    pub fn parse(text: &str) -> Option<Month> {
        let (y, m) = text.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        Month::new(y.parse().ok()?, m.parse().ok()?)
    }

    pub fn of(day: NaiveDate) -> Month {
        Month { year: day.year(), month: day.month() }
    }

    /// The month an instant falls in, in time zone `tz`.
    pub fn at(instant: DateTime<Utc>, tz: &str) -> Month {
        Month::of(instant.with_timezone(&zone(tz)).date_naive())
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn number(self) -> u32 {
        self.month
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a month has a first day")
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month { year: self.year - 1, month: 12 }
        } else {
            Month { year: self.year, month: self.month - 1 }
        }
    }

    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().expect("a month has a last day")
    }

    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        let last = self.last_day();
        self.first_day().iter_days().take_while(move |d| *d <= last)
    }

    /// "November 2026".
    pub fn label(self) -> String {
        const NAMES: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        format!("{} {}", NAMES[self.month as usize - 1], self.year)
    }

    /// The month's first and last instant (exclusive) in time zone `tz`.
    pub fn bounds(self, tz: &str) -> (DateTime<Utc>, DateTime<Utc>) {
        (local_midnight(self.first_day(), tz), local_midnight(self.next().first_day(), tz))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl TryFrom<String> for Month {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Month::parse(&s).ok_or_else(|| format!("{s} is not a month (YYYY-MM)"))
    }
}

impl From<Month> for String {
    fn from(m: Month) -> String {
        m.to_string()
    }
}

/// The business's time zone; an unknown name reads as UTC.
pub fn zone(tz: &str) -> chrono_tz::Tz {
    tz.parse().unwrap_or(chrono_tz::UTC)
}

/// The instant a local day starts. Where midnight does not exist (a
/// daylight-saving jump), the day starts at the first instant that does.
pub fn local_midnight(day: NaiveDate, tz: &str) -> DateTime<Utc> {
    let z = zone(tz);
    let mut t = day.and_hms_opt(0, 0, 0).expect("midnight");
    for _ in 0..4 {
        if let Some(at) = z.from_local_datetime(&t).earliest() {
            return at.with_timezone(&Utc);
        }
        t += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
}

// ---- governance ----

words! {
    /// What the monthly governance review lists as an incident.
    pub enum IncidentKind {
        /// A cost alert opened.
        Alert,
        FailedRun,
        /// A review task went past its SLA.
        Escalation,
    }
}

// ---- baselines ----

/// How the work was done by hand, captured before or at launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Minutes a person spent on one task.
    pub manual_minutes: f64,
    /// Share of tasks done by hand that went wrong (0..1).
    pub error_rate: f64,
    /// Minutes a customer waited for an answer when it was done by hand.
    pub response_minutes: f64,
    pub monthly_volume: i64,
    /// Loaded cost of an hour of the people who did it.
    pub hourly_cost: Micros,
    /// The business outcome the workflow serves (an outcome event type, e.g. `deal.won`).
    pub outcome: String,
    /// Share of tasks that reached the outcome by hand (0..1), when known.
    pub outcome_rate: Option<f64>,
}

/// The baseline as typed: percentages as percent, money as an amount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineForm {
    pub manual_minutes: String,
    pub error_rate: String,
    pub response_minutes: String,
    pub monthly_volume: String,
    pub hourly_cost: String,
    pub outcome: String,
    pub outcome_rate: String,
}

fn number(errors: &mut Vec<FieldError>, field: &str, text: &str, min: f64, max: f64, what: &str) -> f64 {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && (min..=max).contains(&n) => n,
        _ => {
            errors.push(FieldError::new(field, what));
            0.0
        }
    }
}

impl Baseline {
    pub fn parse(form: &BaselineForm) -> Result<Baseline, Vec<FieldError>> {
        let mut errors = Vec::new();
        let manual_minutes = number(
            &mut errors,
            "manual_minutes",
            &form.manual_minutes,
            0.1,
            10_000.0,
            "Enter the minutes one task takes by hand, e.g. 25.",
        );
        let error_rate = number(
            &mut errors,
            "error_rate",
            &form.error_rate,
            0.0,
            100.0,
            "Enter a percentage from 0 to 100, e.g. 8.",
        ) / 100.0;
        let response_minutes = number(
            &mut errors,
            "response_minutes",
            &form.response_minutes,
            0.0,
            525_600.0,
            "Enter how many minutes a customer waited, e.g. 240.",
        );
        let monthly_volume = number(
            &mut errors,
            "monthly_volume",
            &form.monthly_volume,
            0.0,
            100_000_000.0,
            "Enter the tasks a month as a whole number, e.g. 220.",
        );
        if form.monthly_volume.trim().parse::<i64>().is_err() && !errors.iter().any(|e| e.field == "monthly_volume") {
            errors.push(FieldError::new("monthly_volume", "Enter the tasks a month as a whole number, e.g. 220."));
        }
        let hourly_cost = match money::parse(&form.hourly_cost) {
            Some(m) if m > 0 => m,
            _ => {
                errors.push(FieldError::new("hourly_cost", "Enter the loaded cost of an hour, e.g. 38.00."));
                0
            }
        };
        let outcome = form.outcome.trim().to_owned();
        if outcome.len() > 60 || !outcome.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            errors.push(FieldError::new(
                "outcome",
                "Name the outcome event, e.g. deal.won (letters, digits, dots, dashes).",
            ));
        }
        let outcome_rate = if form.outcome_rate.trim().is_empty() {
            None
        } else {
            Some(
                number(
                    &mut errors,
                    "outcome_rate",
                    &form.outcome_rate,
                    0.0,
                    100.0,
                    "Enter a percentage from 0 to 100, or leave it empty.",
                ) / 100.0,
            )
        };
        if outcome_rate.is_some() && outcome.is_empty() && !errors.iter().any(|e| e.field == "outcome") {
            errors.push(FieldError::new("outcome", "Name the outcome the rate is about, e.g. deal.won."));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Baseline {
            manual_minutes,
            error_rate,
            response_minutes,
            monthly_volume: monthly_volume as i64,
            hourly_cost,
            outcome,
            outcome_rate,
        })
    }

    /// The form that would produce this baseline (for editing it).
    pub fn form(&self) -> BaselineForm {
        BaselineForm {
            manual_minutes: trim_number(self.manual_minutes),
            error_rate: trim_number(self.error_rate * 100.0),
            response_minutes: trim_number(self.response_minutes),
            monthly_volume: self.monthly_volume.to_string(),
            hourly_cost: money::plain(self.hourly_cost),
            outcome: self.outcome.clone(),
            outcome_rate: self.outcome_rate.map(|r| trim_number(r * 100.0)).unwrap_or_default(),
        }
    }

    /// One line for the change log.
    pub fn summary(&self, currency: Currency) -> String {
        let outcome = match (&self.outcome_rate, self.outcome.as_str()) {
            (_, "") => String::new(),
            (Some(r), o) => format!(", outcome {o} at {}", percent(*r)),
            (None, o) => format!(", outcome {o}"),
        };
        format!(
            "{} min a task by hand, {} errors, customers waited {}, {} tasks a month at {}/h{outcome}",
            trim_number(self.manual_minutes),
            percent(self.error_rate),
            duration(self.response_minutes),
            self.monthly_volume,
            currency.cents(self.hourly_cost)
        )
    }
}

/// A number as a person types it: no trailing zeros ("25", "7.5").
pub fn trim_number(n: f64) -> String {
    let s = format!("{:.4}", n);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

// ---- tallies ----

/// What happened to one workflow's runs on one local day (or any sum of
/// such days). Run figures belong to the day the event arrived; cost to the
/// day it was paid; outcomes to the day they happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tally {
    pub runs: i64,
    pub completed: i64,
    pub failed: i64,
    /// Queued, running or waiting for a person when counted.
    pub open: i64,
    /// Runs that failed or were handed to a person after an error.
    pub exceptions: i64,
    /// Completed runs: seconds from the event to the outcome, including waits for a person.
    pub cycle_seconds: i64,
    /// Of those, seconds a run waited for a person's decision.
    pub waiting_seconds: i64,
    /// Completed runs: seconds until the customer had an answer (the first
    /// outside message, else the outcome).
    pub response_seconds: i64,
    /// Runs a person decided on, and the person-seconds their decisions took.
    pub reviewed: i64,
    pub review_seconds: i64,
    pub decided: i64,
    /// Decisions that approved the draft as it was.
    pub agreed: i64,
    pub steps: i64,
    pub retried_steps: i64,
    pub confidence: [i64; CONFIDENCE_BUCKETS],
    pub cost: Micros,
    /// Outcome events by type.
    pub outcomes: BTreeMap<String, i64>,
    /// Hours with traffic, and of those the hours lost to a failure streak.
    pub active_hours: i64,
    pub down_hours: i64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.runs += o.runs;
        self.completed += o.completed;
        self.failed += o.failed;
        self.open += o.open;
        self.exceptions += o.exceptions;
        self.cycle_seconds += o.cycle_seconds;
        self.waiting_seconds += o.waiting_seconds;
        self.response_seconds += o.response_seconds;
        self.reviewed += o.reviewed;
        self.review_seconds += o.review_seconds;
        self.decided += o.decided;
        self.agreed += o.agreed;
        self.steps += o.steps;
        self.retried_steps += o.retried_steps;
        for (a, b) in self.confidence.iter_mut().zip(o.confidence) {
            *a += b;
        }
        self.cost += o.cost;
        for (k, n) in &o.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += n;
        }
        self.active_hours += o.active_hours;
        self.down_hours += o.down_hours;
    }

    pub fn sum<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Tally {
        let mut t = Tally::default();
        for x in tallies {
            t.add(x);
        }
        t
    }

    pub fn is_empty(&self) -> bool {
        self.runs == 0 && self.cost == 0 && self.outcomes.is_empty()
    }
}

/// The bucket of a confidence in 0..=1 (out of range: none).
pub fn confidence_bucket(c: f64) -> Option<usize> {
    (0.0..=1.0).contains(&c).then(|| ((c * CONFIDENCE_BUCKETS as f64) as usize).min(CONFIDENCE_BUCKETS - 1))
}

// ---- KPIs ----

/// A workflow's (or the business's) month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Kpis {
    pub runs: i64,
    pub completed: i64,
    pub failed: i64,
    pub open: i64,
    pub exceptions: i64,
    /// Mean minutes from event to outcome (completed runs).
    pub cycle_minutes: Option<f64>,
    pub waiting_minutes: Option<f64>,
    pub response_minutes: Option<f64>,
    /// Exceptions among finished runs.
    pub exception_rate: Option<f64>,
    /// Completed runs × baseline minutes − review minutes, in hours (needs a baseline).
    pub hours_saved: Option<f64>,
    pub review_hours: f64,
    pub labour_saved: Option<Micros>,
    pub cost: Micros,
    /// Labour saved − total automation cost (needs a baseline).
    pub net_savings: Option<Micros>,
    pub conversions: i64,
    pub conversion_rate: Option<f64>,
    /// Conversion rate − the baseline's, in percentage points ×0.01 (a share).
    pub conversion_lift: Option<f64>,
    pub retry_rate: Option<f64>,
    pub agreement_rate: Option<f64>,
    /// Share of the period's hours without a failure streak.
    pub uptime: Option<f64>,
    pub confidence: [i64; CONFIDENCE_BUCKETS],
    /// What the figures are compared with (the baseline's, or for the
    /// business the volume-weighted mean of its workflows').
    pub baseline_error_rate: Option<f64>,
    pub baseline_response_minutes: Option<f64>,
    pub baseline_outcome_rate: Option<f64>,
    /// Hours the completed runs would have taken by hand.
    pub manual_hours: Option<f64>,
}

fn share(n: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

fn mean_minutes(seconds: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| seconds as f64 / 60.0 / count as f64)
}

/// Micros of `hours` at `hourly` (rounded half up, like every amount).
fn hours_at(hours: f64, hourly: Micros) -> Micros {
    (hours * hourly as f64).round() as Micros
}

/// A workflow's KPIs for a period of `hours` (the elapsed hours, for uptime).
pub fn kpis(t: &Tally, baseline: Option<&Baseline>, hours: i64) -> Kpis {
    let finished = t.completed + t.failed;
    let review_hours = t.review_seconds as f64 / 3600.0;
    let manual_hours = baseline.map(|b| t.completed as f64 * b.manual_minutes / 60.0);
    let hours_saved = manual_hours.map(|m| m - review_hours);
    let labour_saved = baseline.zip(hours_saved).map(|(b, h)| hours_at(h, b.hourly_cost));
    let outcome = baseline.map(|b| b.outcome.as_str()).filter(|o| !o.is_empty());
    let conversions = outcome.and_then(|o| t.outcomes.get(o)).copied().unwrap_or(0);
    let conversion_rate = outcome.and_then(|_| share(conversions, t.completed));
    let baseline_outcome_rate = baseline.and_then(|b| b.outcome_rate);
    Kpis {
        runs: t.runs,
        completed: t.completed,
        failed: t.failed,
        open: t.open,
        exceptions: t.exceptions,
        cycle_minutes: mean_minutes(t.cycle_seconds, t.completed),
        waiting_minutes: mean_minutes(t.waiting_seconds, t.completed),
        response_minutes: mean_minutes(t.response_seconds, t.completed),
        exception_rate: share(t.exceptions, finished),
        hours_saved,
        review_hours,
        labour_saved,
        cost: t.cost,
        net_savings: labour_saved.map(|l| l - t.cost),
        conversions,
        conversion_rate,
        conversion_lift: conversion_rate.zip(baseline_outcome_rate).map(|(r, b)| r - b),
        retry_rate: share(t.retried_steps, t.steps),
        agreement_rate: share(t.agreed, t.decided),
        uptime: (t.runs > 0 && hours > 0).then(|| 1.0 - (t.down_hours.min(hours) as f64 / hours as f64)),
        confidence: t.confidence,
        baseline_error_rate: baseline.map(|b| b.error_rate),
        baseline_response_minutes: baseline.map(|b| b.response_minutes),
        baseline_outcome_rate,
        manual_hours,
    }
}

/// The business's month: its workflows' figures added up. Rates are over
/// the summed counts; savings only where a workflow has a baseline; the
/// baselines are weighted by each workflow's finished runs.
pub fn business(workflows: &[(&Tally, &Kpis)], hours: i64) -> Kpis {
    let total = Tally::sum(workflows.iter().map(|(t, _)| *t));
    let mut k = kpis(&total, None, hours);
    let sum_opt = |f: &dyn Fn(&Kpis) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = workflows.iter().filter_map(|(_, k)| f(k)).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    k.hours_saved = sum_opt(&|k| k.hours_saved);
    k.manual_hours = sum_opt(&|k| k.manual_hours);
    let labour: Vec<Micros> = workflows.iter().filter_map(|(_, k)| k.labour_saved).collect();
    k.labour_saved = (!labour.is_empty()).then(|| labour.iter().sum());
    k.net_savings = k.labour_saved.map(|l| l - total.cost);
    // Workflow uptimes weighted by their traffic hours.
    let active: i64 = workflows.iter().filter(|(t, _)| t.runs > 0).map(|(t, _)| t.active_hours.max(1)).sum();
    k.uptime = (active > 0).then(|| {
        workflows
            .iter()
            .filter(|(t, _)| t.runs > 0)
            .map(|(t, k)| k.uptime.unwrap_or(1.0) * t.active_hours.max(1) as f64)
            .sum::<f64>()
            / active as f64
    });
    let weighted = |f: &dyn Fn(&Kpis) -> Option<f64>, weight: &dyn Fn(&Tally) -> i64| -> Option<f64> {
        let (mut sum, mut w) = (0.0, 0i64);
        for (t, k) in workflows {
            if let Some(v) = f(k) {
                sum += v * weight(t).max(1) as f64;
                w += weight(t).max(1);
            }
        }
        (w > 0).then(|| sum / w as f64)
    };
    k.baseline_error_rate = weighted(&|k| k.baseline_error_rate, &|t| t.completed + t.failed);
    k.baseline_response_minutes = weighted(&|k| k.baseline_response_minutes, &|t| t.completed);
    k.baseline_outcome_rate = weighted(&|k| k.baseline_outcome_rate, &|t| t.completed);
    // Conversions: the outcomes each workflow's baseline names.
    let with_outcome: Vec<&(&Tally, &Kpis)> = workflows.iter().filter(|(_, k)| k.conversion_rate.is_some()).collect();
    k.conversions = with_outcome.iter().map(|(_, k)| k.conversions).sum();
    k.conversion_rate =
        share(k.conversions, with_outcome.iter().map(|(t, _)| t.completed).sum()).filter(|_| !with_outcome.is_empty());
    k.conversion_lift = k.conversion_rate.zip(k.baseline_outcome_rate).map(|(r, b)| r - b);
    k
}

// ---- headlines ----

pub use crate::headline::Headline;

pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if (p - p.round()).abs() < 0.05 {
        format!("{:.0}%", p)
    } else {
        format!("{:.1}%", p)
    }
}

fn points(delta: f64) -> String {
    format!("{}{:.1} pts", if delta >= 0.0 { "+" } else { "−" }, (delta * 100.0).abs())
}

/// Minutes in the unit a person reads: "45 min", "4.0 h", "2.5 days".
pub fn duration(minutes: f64) -> String {
    if minutes < 90.0 {
        format!("{:.0} min", minutes)
    } else if minutes < 48.0 * 60.0 {
        format!("{:.1} h", minutes / 60.0)
    } else {
        format!("{:.1} days", minutes / 1440.0)
    }
}

fn hours_text(h: f64) -> String {
    format!("{:.1} h", h)
}

fn signed(delta: f64, unit: impl Fn(f64) -> String) -> String {
    format!("{}{}", if delta >= 0.0 { "+" } else { "−" }, unit(delta.abs()))
}

fn signed_money(delta: Micros, currency: Currency) -> String {
    format!("{}{}", if delta >= 0 { "+" } else { "−" }, currency.cents(delta.abs()))
}

const NONE: &str = "–";

/// The headline figures of a month, against the month before and the
/// baseline. In a month still running (`partial`), totals are not judged
/// against a whole month: they show last month's total instead.
pub fn headlines(this: &Kpis, last: Option<&Kpis>, partial: bool, currency: Currency) -> Vec<Headline> {
    let cents = |m: Micros| currency.cents(m);
    let mut out = Vec::new();
    let mut push =
        |key: &str, label: &str, value: String, vs_last: Option<(String, Option<bool>)>, vs_baseline: String| {
            out.push(Headline {
                key: key.into(),
                label: label.into(),
                value,
                better: vs_last.as_ref().and_then(|(_, b)| *b),
                vs_last_month: match vs_last {
                    Some((t, Some(_))) => format!("{t} vs last month"),
                    Some((t, None)) => format!("{t} last month"),
                    None => "no figure last month".into(),
                },
                vs_baseline,
            });
        };
    // Differences with last month, and whether up is good.
    let diff = |a: Option<f64>, b: Option<f64>, up_is_good: bool, unit: &dyn Fn(f64) -> String| {
        a.zip(b).map(|(a, b)| (signed(a - b, unit), if up_is_good { a >= b } else { a <= b }))
    };
    let last_of = |f: fn(&Kpis) -> Option<f64>| last.and_then(f);

    // A running month's total against a whole month: shown, not judged.
    let whole_month = |v: Option<String>| v.map(|v| (format!("{v} in all of"), None));
    let judged = |v: Option<(String, bool)>| v.map(|(t, b)| (t, Some(b)));
    push(
        "hours_saved",
        "Hours saved",
        this.hours_saved.map(hours_text).unwrap_or_else(|| NONE.into()),
        if partial {
            whole_month(last_of(|k| k.hours_saved).map(hours_text))
        } else {
            judged(diff(this.hours_saved, last_of(|k| k.hours_saved), true, &hours_text))
        },
        match (this.hours_saved, this.manual_hours) {
            (Some(s), Some(m)) if m > 0.0 => format!("{} of the {} it took by hand", percent(s / m), hours_text(m)),
            (None, _) => "set a baseline to measure".into(),
            _ => NONE.into(),
        },
    );
    push(
        "net_savings",
        "Net savings",
        this.net_savings.map(cents).unwrap_or_else(|| NONE.into()),
        if partial {
            whole_month(last.and_then(|k| k.net_savings).map(cents))
        } else {
            judged(
                this.net_savings
                    .zip(last.and_then(|k| k.net_savings))
                    .map(|(a, b)| (signed_money(a - b, currency), a >= b)),
            )
        },
        match this.labour_saved {
            Some(l) => format!("labour {} − automation {}", cents(l), cents(this.cost)),
            None => format!("automation cost {}; set a baseline to measure", cents(this.cost)),
        },
    );
    push(
        "cycle_time",
        "Cycle time",
        this.cycle_minutes.map(duration).unwrap_or_else(|| NONE.into()),
        judged(diff(this.cycle_minutes, last_of(|k| k.cycle_minutes), false, &duration)),
        this.baseline_response_minutes
            .map(|b| format!("{} by hand", duration(b)))
            .unwrap_or_else(|| "no baseline".into()),
    );
    push(
        "exception_rate",
        "Exception rate",
        this.exception_rate.map(percent).unwrap_or_else(|| NONE.into()),
        judged(this.exception_rate.zip(last_of(|k| k.exception_rate)).map(|(a, b)| (points(a - b), a <= b))),
        this.baseline_error_rate
            .map(|b| format!("{} errors by hand", percent(b)))
            .unwrap_or_else(|| "no baseline".into()),
    );
    push(
        "conversion",
        "Conversion",
        this.conversion_rate.map(percent).unwrap_or_else(|| NONE.into()),
        judged(this.conversion_rate.zip(last_of(|k| k.conversion_rate)).map(|(a, b)| (points(a - b), a >= b))),
        match (this.conversion_lift, this.baseline_outcome_rate) {
            (Some(l), Some(b)) => format!("{} over {} by hand", points(l), percent(b)),
            _ => "name an outcome in the baseline".into(),
        },
    );
    push(
        "agreement",
        "Reviewer agreement",
        this.agreement_rate.map(percent).unwrap_or_else(|| NONE.into()),
        judged(this.agreement_rate.zip(last_of(|k| k.agreement_rate)).map(|(a, b)| (points(a - b), a >= b))),
        format!("{} decided by people", hours_text(this.review_hours)),
    );
    push(
        "uptime",
        "Uptime",
        this.uptime.map(percent).unwrap_or_else(|| NONE.into()),
        judged(this.uptime.zip(last_of(|k| k.uptime)).map(|(a, b)| (points(a - b), a >= b))),
        this.retry_rate.map(|r| format!("{} of steps retried", percent(r))).unwrap_or_else(|| NONE.into()),
    );
    out
}

// ---- the scorecard ----

/// One workflow's line in a scorecard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowScore {
    pub name: String,
    pub kpis: Kpis,
}

/// One day of the month, for the charts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DayPoint {
    pub day: NaiveDate,
    pub runs: i64,
    pub exceptions: i64,
    pub cycle_minutes: Option<f64>,
    pub hours_saved: Option<f64>,
    pub cost: Micros,
    pub labour_saved: Option<Micros>,
}

/// A business's month, as computed (and, for a closed month, kept as an
/// immutable snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    pub month: Month,
    pub business_name: String,
    pub time_zone: String,
    /// The currency its amounts read in (snapshots from before there was a choice: US dollars).
    #[serde(default)]
    pub currency: Currency,
    pub business: Kpis,
    pub workflows: Vec<WorkflowScore>,
    pub days: Vec<DayPoint>,
    /// Until when the figures run (the month's end, or now for the current month).
    pub through: DateTime<Utc>,
}

/// Hours from `start` to `end`, at least one.
pub fn hours_between(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    ((end - start).num_minutes() as f64 / 60.0).ceil().max(1.0) as i64
}

/// Builds the scorecard from day tallies per workflow (`days[workflow][day]`).
pub fn scorecard(
    month: Month,
    business_name: &str,
    tz: &str,
    through: DateTime<Utc>,
    days: &BTreeMap<String, BTreeMap<NaiveDate, Tally>>,
    baselines: &BTreeMap<String, Baseline>,
) -> Scorecard {
    let (start, end) = month.bounds(tz);
    let through = through.min(end);
    let hours = hours_between(start, through.max(start));
    let totals: Vec<(String, Tally)> = days.iter().map(|(name, d)| (name.clone(), Tally::sum(d.values()))).collect();
    let workflows: Vec<WorkflowScore> = totals
        .iter()
        .map(|(name, t)| WorkflowScore { name: name.clone(), kpis: kpis(t, baselines.get(name), hours) })
        .collect();
    let pairs: Vec<(&Tally, &Kpis)> = totals.iter().map(|(_, t)| t).zip(workflows.iter().map(|w| &w.kpis)).collect();
    let business_kpis = business(&pairs, hours);
    let last_day = Month::at(through - chrono::Duration::seconds(1), tz)
        .eq(&month)
        .then(|| (through - chrono::Duration::seconds(1)).with_timezone(&zone(tz)).date_naive());
    let points = month
        .days()
        .take_while(|d| last_day.is_none_or(|l| *d <= l))
        .map(|day| {
            let per: Vec<(Tally, Kpis)> = days
                .iter()
                .filter_map(|(name, d)| d.get(&day).map(|t| (t.clone(), kpis(t, baselines.get(name), 24))))
                .collect();
            let pairs: Vec<(&Tally, &Kpis)> = per.iter().map(|(t, k)| (t, k)).collect();
            let k = business(&pairs, 24);
            DayPoint {
                day,
                runs: k.runs,
                exceptions: k.exceptions,
                cycle_minutes: k.cycle_minutes,
                hours_saved: k.hours_saved,
                cost: k.cost,
                labour_saved: k.labour_saved,
            }
        })
        .collect();
    Scorecard {
        month,
        business_name: business_name.into(),
        time_zone: tz.into(),
        currency: Currency::default(),
        business: business_kpis,
        workflows,
        days: points,
        through,
    }
}

// ---- the value-score backlog ----

/// The inputs of the product's automation value score.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ValueScoreInputs {
    pub monthly_volume: f64,
    pub minutes_per_task: f64,
    /// A share between 0 and 1.
    pub error_rate: f64,
    pub revenue_impact: f64,
    pub compliance_risk: f64,
}

/// labour savings × 0.35 + quality gain × 0.2 + revenue impact × 0.3 −
/// compliance risk × 0.25, where labour savings = volume × minutes and
/// quality gain = error rate × 100. Rounded to two decimals.
pub fn value_score(i: &ValueScoreInputs) -> f64 {
    let labour = i.monthly_volume * i.minutes_per_task;
    let quality = i.error_rate * 100.0;
    let score = labour * 0.35 + quality * 0.2 + i.revenue_impact * 0.3 - i.compliance_risk * 0.25;
    (score * 100.0).round() / 100.0
}

/// A workflow the business might automate next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub name: String,
    pub inputs: ValueScoreInputs,
    /// How success will be measured; a candidate without one cannot start.
    pub success_metric: String,
}

/// The candidate as typed (error rate in percent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CandidateForm {
    pub name: String,
    pub monthly_volume: String,
    pub minutes_per_task: String,
    pub error_rate: String,
    pub revenue_impact: String,
    pub compliance_risk: String,
    pub success_metric: String,
}

impl Candidate {
    pub fn parse(form: &CandidateForm) -> Result<Candidate, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = form.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 80 {
            errors.push(FieldError::new("name", "Name the work in a few words (at most 80 characters)."));
        }
        let inputs = ValueScoreInputs {
            monthly_volume: number(
                &mut errors,
                "monthly_volume",
                &form.monthly_volume,
                0.0,
                10_000_000.0,
                "Enter the tasks a month, e.g. 120.",
            ),
            minutes_per_task: number(
                &mut errors,
                "minutes_per_task",
                &form.minutes_per_task,
                0.0,
                10_000.0,
                "Enter the minutes one task takes, e.g. 15.",
            ),
            error_rate: number(
                &mut errors,
                "error_rate",
                &form.error_rate,
                0.0,
                100.0,
                "Enter a percentage from 0 to 100, e.g. 8.",
            ) / 100.0,
            revenue_impact: number(
                &mut errors,
                "revenue_impact",
                &form.revenue_impact,
                0.0,
                100.0,
                "Rate the revenue impact from 0 to 100.",
            ),
            compliance_risk: number(
                &mut errors,
                "compliance_risk",
                &form.compliance_risk,
                0.0,
                100.0,
                "Rate the compliance risk from 0 to 100.",
            ),
        };
        let success_metric = form.success_metric.trim().to_owned();
        if success_metric.chars().count() > 200 {
            errors.push(FieldError::new("success_metric", "Keep the success metric under 200 characters."));
        }
        if errors.is_empty() {
            Ok(Candidate { name, inputs, success_metric })
        } else {
            Err(errors)
        }
    }

    pub fn score(&self) -> f64 {
        value_score(&self.inputs)
    }

    /// The product rule: if success is not measurable, postpone it.
    pub fn may_start(&self) -> Result<(), FieldError> {
        if self.success_metric.trim().is_empty() {
            Err(FieldError::new(
                "success_metric",
                "Name how success will be measured before this can start; if it cannot be measured, postpone it.",
            ))
        } else {
            Ok(())
        }
    }
}

/// Highest score first; equal scores by name, so the order never shuffles.
pub fn rank(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| b.score().total_cmp(&a.score()).then_with(|| a.name.cmp(&b.name)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline() -> Baseline {
        Baseline {
            manual_minutes: 20.0,
            error_rate: 0.10,
            response_minutes: 240.0,
            monthly_volume: 100,
            hourly_cost: 30_000_000,
            outcome: "deal.won".into(),
            outcome_rate: Some(0.10),
        }
    }

    #[test]
    fn a_hand_computed_month() {
        // 10 runs: 8 completed, 2 failed; 3 reviewed for 40 person-minutes in all.
        let t = Tally {
            runs: 10,
            completed: 8,
            failed: 2,
            exceptions: 2,
            cycle_seconds: 8 * 1800,
            waiting_seconds: 3 * 1200,
            response_seconds: 8 * 1800,
            reviewed: 3,
            review_seconds: 2400,
            decided: 4,
            agreed: 3,
            steps: 40,
            retried_steps: 2,
            cost: 4_000_000,
            outcomes: [("deal.won".to_string(), 2), ("deal.lost".to_string(), 5)].into(),
            active_hours: 10,
            down_hours: 1,
            ..Default::default()
        };
        let k = kpis(&t, Some(&baseline()), 720);
        // 8 × 20 min = 160 min by hand, less 40 review minutes = 120 min.
        assert_eq!(k.manual_hours, Some(160.0 / 60.0));
        assert_eq!(k.hours_saved, Some(2.0));
        // 2 h at 30.00/h = 60.00; minus 4.00 of automation = 56.00.
        assert_eq!(k.labour_saved, Some(60_000_000));
        assert_eq!(k.net_savings, Some(56_000_000));
        assert_eq!(k.cycle_minutes, Some(30.0));
        assert_eq!(k.waiting_minutes, Some(7.5));
        assert_eq!(k.exception_rate, Some(0.2));
        assert_eq!(k.conversions, 2, "only the baseline's outcome counts");
        assert_eq!(k.conversion_rate, Some(0.25));
        assert!((k.conversion_lift.unwrap() - 0.15).abs() < 1e-12);
        assert_eq!(k.retry_rate, Some(0.05));
        assert_eq!(k.agreement_rate, Some(0.75));
        assert_eq!(k.uptime, Some(1.0 - 1.0 / 720.0));
        let h = headlines(&k, None, false, Currency::default());
        assert_eq!(h.len(), 7);
        assert_eq!(h[0].value, "2.0 h");
        assert_eq!(h[0].vs_baseline, "75% of the 2.7 h it took by hand");
        assert_eq!(h[1].value, "$56.00");
        assert_eq!(h[1].vs_baseline, "labour $60.00 − automation $4.00");
        assert_eq!(h[2].value, "30 min");
        assert_eq!(h[2].vs_baseline, "4.0 h by hand");
        assert_eq!(h[3].value, "20%");
        assert_eq!(h[4].vs_baseline, "+15.0 pts over 10% by hand");
        assert_eq!(h[0].vs_last_month, "no figure last month");
    }

    #[test]
    fn a_month_with_no_runs_has_no_rates_and_no_savings() {
        let k = kpis(&Tally::default(), Some(&baseline()), 720);
        assert_eq!(k.runs, 0);
        assert_eq!(k.cycle_minutes, None);
        assert_eq!(k.exception_rate, None);
        assert_eq!(k.agreement_rate, None);
        assert_eq!(k.uptime, None, "no traffic: nothing to be up for");
        assert_eq!(k.hours_saved, Some(0.0));
        assert_eq!(k.net_savings, Some(0));
        assert_eq!(k.conversion_rate, None);
        for h in headlines(&k, None, false, Currency::default()) {
            assert!(!h.value.contains("NaN") && !h.value.contains("inf"), "{h:?}");
        }
    }

    #[test]
    fn a_month_of_only_failures_saves_nothing_and_costs_what_it_cost() {
        let t = Tally {
            runs: 6,
            failed: 6,
            exceptions: 6,
            steps: 12,
            retried_steps: 6,
            cost: 1_500_000,
            active_hours: 2,
            down_hours: 2,
            ..Default::default()
        };
        let k = kpis(&t, Some(&baseline()), 48);
        assert_eq!(k.exception_rate, Some(1.0));
        assert_eq!(k.hours_saved, Some(0.0));
        assert_eq!(k.labour_saved, Some(0));
        assert_eq!(k.net_savings, Some(-1_500_000));
        assert_eq!(k.cycle_minutes, None);
        assert_eq!(k.retry_rate, Some(0.5));
        assert_eq!(k.uptime, Some(1.0 - 2.0 / 48.0));
        let last = kpis(
            &Tally { runs: 10, completed: 9, failed: 1, exceptions: 1, ..Default::default() },
            Some(&baseline()),
            48,
        );
        let h = headlines(&k, Some(&last), false, Currency::default());
        assert_eq!(h[3].vs_last_month, "+90.0 pts vs last month");
        assert_eq!(h[3].better, Some(false));
        assert_eq!(h[1].value, "−$1.50", "a loss reads with a minus sign");
        // While a month runs, its totals are shown beside last month's, not judged against them.
        let running = headlines(&k, Some(&last), true, Currency::default());
        assert_eq!(running[0].vs_last_month, "3.0 h in all of last month", "9 completed × 20 min");
        assert_eq!(running[0].better, None);
        assert_eq!(running[3].better, Some(false), "rates are still compared");
    }

    #[test]
    fn without_a_baseline_savings_are_not_invented() {
        let t = Tally { runs: 4, completed: 4, cost: 100, ..Default::default() };
        let k = kpis(&t, None, 24);
        assert_eq!(k.hours_saved, None);
        assert_eq!(k.net_savings, None);
        assert_eq!(headlines(&k, None, false, Currency::default())[0].vs_baseline, "set a baseline to measure");
    }

    #[test]
    fn the_business_adds_its_workflows_and_weights_their_baselines() {
        let a = Tally {
            runs: 10,
            completed: 10,
            review_seconds: 0,
            cost: 1_000_000,
            active_hours: 5,
            ..Default::default()
        };
        let b = Tally {
            runs: 30,
            completed: 20,
            failed: 10,
            exceptions: 10,
            cost: 2_000_000,
            active_hours: 15,
            down_hours: 3,
            ..Default::default()
        };
        let other = Baseline {
            manual_minutes: 6.0,
            error_rate: 0.30,
            hourly_cost: 60_000_000,
            outcome: String::new(),
            outcome_rate: None,
            ..baseline()
        };
        let ka = kpis(&a, Some(&baseline()), 100);
        let kb = kpis(&b, Some(&other), 100);
        let k = business(&[(&a, &ka), (&b, &kb)], 100);
        // a: 10 × 20 min = 200 min; b: 20 × 6 min = 120 min.
        assert_eq!(k.hours_saved, Some(200.0 / 60.0 + 2.0));
        // a: 200 min at 30/h = 100.00; b: 2 h at 60/h = 120.00; cost 3.00.
        assert_eq!(k.net_savings, Some(217_000_000));
        assert_eq!(k.exception_rate, Some(0.25));
        // Baseline error rate weighted by finished runs: (0.1 × 10 + 0.3 × 30) / 40.
        assert!((k.baseline_error_rate.unwrap() - 0.25).abs() < 1e-12);
        // Uptime weighted by traffic hours: (1.0 × 5 + 0.97 × 15) / 20.
        assert!((k.uptime.unwrap() - (5.0 + 0.97 * 15.0) / 20.0).abs() < 1e-12);
        assert_eq!(k.conversion_rate, Some(0.0), "only a's baseline names an outcome, and it had none");
    }

    #[test]
    fn months_follow_the_business_time_zone_at_their_boundaries() {
        let m = Month::parse("2026-11").unwrap();
        // Auckland is 13 hours ahead in November (daylight saving).
        let (start, end) = m.bounds("Pacific/Auckland");
        assert_eq!(start.to_rfc3339(), "2026-10-31T11:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-11-30T11:00:00+00:00");
        // New York: EDT until 1 November 2026, EST after.
        let (start, end) = m.bounds("America/New_York");
        assert_eq!(start.to_rfc3339(), "2026-11-01T04:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-01T05:00:00+00:00");
        // The same instant is in different months for different businesses.
        let instant: DateTime<Utc> = "2026-11-30T23:30:00Z".parse().unwrap();
        assert_eq!(Month::at(instant, "UTC"), m);
        assert_eq!(Month::at(instant, "Europe/Berlin").to_string(), "2026-12");
        assert_eq!(Month::at(instant, "America/Los_Angeles"), m);
        assert_eq!(Month::at(instant, "no/such-zone"), m, "an unknown zone reads as UTC");
        // São Paulo had midnight daylight-saving jumps: the day starts at 01:00 local.
        let day = NaiveDate::from_ymd_opt(2018, 11, 4).unwrap();
        assert_eq!(local_midnight(day, "America/Sao_Paulo").to_rfc3339(), "2018-11-04T03:00:00+00:00");
        assert_eq!(m.days().count(), 30);
        assert_eq!(Month::parse("2026-02").unwrap().days().count(), 28);
        assert_eq!(Month::parse("2026-12").unwrap().next().to_string(), "2027-01");
        assert_eq!(Month::parse("2026-01").unwrap().previous().to_string(), "2025-12");
        assert_eq!(Month::parse("2026-13"), None);
        assert_eq!(Month::parse("26-11"), None);
        assert_eq!(m.label(), "November 2026");
    }

    #[test]
    fn a_scorecard_sums_its_days_and_stops_at_now_in_the_current_month() {
        let m = Month::parse("2026-12").unwrap();
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let mut days = BTreeMap::new();
        days.insert(
            "leads".to_string(),
            [
                (day(1), Tally { runs: 2, completed: 2, cycle_seconds: 1200, cost: 10, ..Default::default() }),
                (day(3), Tally { runs: 1, failed: 1, exceptions: 1, ..Default::default() }),
            ]
            .into(),
        );
        let baselines = [("leads".to_string(), baseline())].into();
        let now: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap();
        let s = scorecard(m, "Acme", "UTC", now, &days, &baselines);
        assert_eq!(s.business.runs, 3);
        assert_eq!(s.business.exception_rate, Some(1.0 / 3.0));
        assert_eq!(s.days.len(), 3, "1, 2 and 3 December so far");
        assert_eq!(s.days[0].cycle_minutes, Some(10.0));
        assert_eq!(s.days[1].runs, 0);
        assert_eq!(s.days[0].hours_saved, Some(40.0 / 60.0));
        assert_eq!(s.workflows[0].kpis.cycle_minutes, Some(10.0));
        let closed = scorecard(m, "Acme", "UTC", "2027-01-05T00:00:00Z".parse().unwrap(), &days, &baselines);
        assert_eq!(closed.days.len(), 31);
        assert_eq!(closed.through.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }

    #[test]
    fn confidence_falls_in_tenths() {
        assert_eq!(confidence_bucket(0.0), Some(0));
        assert_eq!(confidence_bucket(0.78), Some(7));
        assert_eq!(confidence_bucket(1.0), Some(9));
        assert_eq!(confidence_bucket(1.2), None);
    }

    #[test]
    fn baselines_are_refused_field_by_field_and_round_trip() {
        let bad = Baseline::parse(&BaselineForm {
            manual_minutes: "0".into(),
            error_rate: "140".into(),
            monthly_volume: "2.5".into(),
            hourly_cost: "x".into(),
            outcome: "deal won!".into(),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["manual_minutes", "error_rate", "response_minutes", "monthly_volume", "hourly_cost", "outcome"]
        );
        let b = baseline();
        assert_eq!(Baseline::parse(&b.form()).unwrap(), b);
        assert_eq!(b.summary(Currency::default()), "20 min a task by hand, 10% errors, customers waited 4.0 h, 100 tasks a month at $30.00/h, outcome deal.won at 10%");
    }

    #[test]
    fn the_value_score_is_the_products_formula() {
        let i = ValueScoreInputs {
            monthly_volume: 120.0,
            minutes_per_task: 15.0,
            error_rate: 0.08,
            revenue_impact: 40.0,
            compliance_risk: 10.0,
        };
        // 1800 × 0.35 + 8 × 0.2 + 40 × 0.3 − 10 × 0.25 = 630 + 1.6 + 12 − 2.5
        assert_eq!(value_score(&i), 641.1);
        let zero = ValueScoreInputs::default();
        assert_eq!(value_score(&zero), 0.0);
        let risky = ValueScoreInputs { compliance_risk: 100.0, ..zero };
        assert_eq!(value_score(&risky), -25.0);
    }

    #[test]
    fn ranking_is_by_score_then_name_and_does_not_shuffle() {
        let c = |name: &str, volume: f64| Candidate {
            name: name.into(),
            inputs: ValueScoreInputs { monthly_volume: volume, minutes_per_task: 10.0, ..Default::default() },
            success_metric: String::new(),
        };
        let mut a = vec![c("b", 10.0), c("a", 10.0), c("z", 50.0), c("m", 1.0)];
        rank(&mut a);
        let names: Vec<&str> = a.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["z", "a", "b", "m"]);
        let mut again = vec![c("m", 1.0), c("a", 10.0), c("z", 50.0), c("b", 10.0)];
        rank(&mut again);
        assert_eq!(again, a);
    }

    #[test]
    fn a_candidate_without_a_success_metric_cannot_start() {
        let form = CandidateForm {
            name: "Invoice matching".into(),
            monthly_volume: "300".into(),
            minutes_per_task: "6".into(),
            error_rate: "4".into(),
            revenue_impact: "20".into(),
            compliance_risk: "40".into(),
            success_metric: "  ".into(),
        };
        let c = Candidate::parse(&form).unwrap();
        assert_eq!(c.may_start().unwrap_err().field, "success_metric");
        let c = Candidate::parse(&CandidateForm { success_metric: "Matched invoices a month".into(), ..form.clone() })
            .unwrap();
        assert!(c.may_start().is_ok());
        // 1800 × 0.35 + 4 × 0.2 + 20 × 0.3 − 40 × 0.25 = 630 + 0.8 + 6 − 10
        assert_eq!(c.score(), 626.8);
        let bad = Candidate::parse(&CandidateForm { name: "".into(), error_rate: "-1".into(), ..form }).unwrap_err();
        assert_eq!(bad.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["name", "error_rate"]);
    }
}
