//! The cost ledger: one line per thing a run paid for (model tokens, an
//! enrichment call, worker time, a queue delivery, a reviewer's minutes),
//! written in the same transaction as the step, decision or delivery it
//! pays for, and added to the run's total.

use crate::db::stmt;
use crate::tenant::Tenant;
use engine::money::Micros;
use engine::CostKind;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction};

/// One thing a run paid for.
#[derive(Debug, Clone, PartialEq)]
pub struct CostLine {
    pub kind: CostKind,
    pub step_index: Option<i32>,
    pub amount: Micros,
    pub quantity: i64,
    /// For enrichment calls of deterministic steps: whether the cache answered.
    pub cache_hit: Option<bool>,
    /// What the cache saved.
    pub saved: Micros,
    pub label: String,
}

impl CostLine {
    pub fn new(
        kind: CostKind,
        step_index: Option<i32>,
        amount: Micros,
        quantity: i64,
        label: impl Into<String>,
    ) -> Self {
        CostLine { kind, step_index, amount, quantity, cache_hit: None, saved: 0, label: label.into() }
    }
}

/// The lines one write records, in order: worker time folded into one line
/// per write (its amount the sum of the steps' own, its quantity their
/// milliseconds, its label the steps it paid for, its step none when it
/// pays for more than one), every other line as it
/// is. Nothing reads worker time per step (a step's duration is on its
/// record), and each line is a row with four indexes: a run whose steps
/// are written together pays for their worker time with one row.
pub fn folded(lines: impl IntoIterator<Item = CostLine>) -> Vec<CostLine> {
    let mut out: Vec<CostLine> = Vec::new();
    let mut worker: Option<usize> = None;
    for line in lines {
        match (line.kind, worker) {
            (CostKind::Orchestration, Some(at)) => {
                let folded = &mut out[at];
                folded.amount += line.amount;
                folded.quantity += line.quantity;
                folded.label = format!("{}, {}", folded.label, line.label);
                // A line for several steps belongs to none of them.
                folded.step_index = None;
            }
            (CostKind::Orchestration, None) => {
                worker = Some(out.len());
                out.push(line);
            }
            _ => out.push(line),
        }
    }
    out
}

/// What a step's model calls cost (the primary and the fallback), from its lines.
pub fn model_cost(lines: &[CostLine]) -> Micros {
    lines.iter().filter(|l| l.kind.is_model()).map(|l| l.amount).sum()
}

/// Writes a run's cost lines (one statement however many) and adds them
/// to the run's total, inside `txn`.
pub(crate) async fn add_lines(txn: &DatabaseTransaction, run_id: Uuid, lines: &[CostLine]) -> Result<(), DbErr> {
    if lines.is_empty() {
        return Ok(());
    }
    txn.execute_raw(stmt(
        &format!(
            "WITH added AS ({})
             UPDATE runs SET cost_micros = cost_micros + $3 WHERE id = $1",
            insert_lines("cost_lines", "r.id", "r.workflow_name", "$2", "runs r,") + " WHERE r.id = $1"
        ),
        vec![run_id.into(), as_rows(lines).into(), charged(lines).into()],
    ))
    .await?;
    Ok(())
}

/// What lines add to a run's cost, each as recorded (`as_rows`: never below zero).
pub(crate) fn charged(lines: &[CostLine]) -> i64 {
    lines.iter().map(|l| l.amount.max(0)).sum()
}

/// Inserts into `{table}` (`cost_lines`, or with its schema) the cost lines
/// of `as_rows` found at `{rows}` (a parameter or a column) for the run
/// `{run}` of workflow `{workflow}` (columns or parameters), reading also
/// `FROM {from}`.
pub(crate) fn insert_lines(table: &str, run: &str, workflow: &str, rows: &str, from: &str) -> String {
    format!(
        "INSERT INTO {table} (run_id, workflow_name, step_index, kind, amount_micros, quantity, cache_hit, saved_micros, label)
         SELECT {run}, {workflow}, l.step_index, l.kind, l.amount_micros, l.quantity, l.cache_hit, l.saved_micros, l.label
           FROM {from} jsonb_to_recordset({rows}) AS l(step_index int, kind text, amount_micros bigint, quantity bigint,
                                                   cache_hit boolean, saved_micros bigint, label text)"
    )
}

/// The lines as JSON rows for `jsonb_to_recordset`.
pub(crate) fn as_rows(lines: &[CostLine]) -> serde_json::Value {
    lines
        .iter()
        .map(|l| {
            serde_json::json!({
                "step_index": l.step_index,
                "kind": l.kind,
                "amount_micros": l.amount.max(0),
                "quantity": l.quantity,
                "cache_hit": l.cache_hit,
                "saved_micros": l.saved.max(0),
                "label": l.label,
            })
        })
        .collect()
}

/// Writes cost lines in a transaction of their own.
pub async fn record(db: &DatabaseConnection, tenant: &Tenant, run_id: Uuid, lines: &[CostLine]) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    add_lines(&txn, run_id, lines).await?;
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: CostKind, amount: Micros, quantity: i64, label: &str) -> CostLine {
        CostLine::new(kind, Some(0), amount, quantity, label)
    }

    #[test]
    fn worker_time_is_one_line_per_write_and_nothing_is_lost() {
        let lines = vec![
            line(CostKind::Orchestration, 3, 3, "normalize"),
            line(CostKind::Enrichment, 2000, 1, "lookup"),
            line(CostKind::Orchestration, 4, 4, "enrich"),
            line(CostKind::Model, 120, 900, "small"),
            line(CostKind::Orchestration, 5, 5, "summarize"),
            line(CostKind::Queue, 1, 1, "delivery"),
        ];
        let total: Micros = lines.iter().map(|l| l.amount).sum();
        let folded = folded(lines);
        let kinds: Vec<CostKind> = folded.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, [CostKind::Orchestration, CostKind::Enrichment, CostKind::Model, CostKind::Queue]);
        assert_eq!((folded[0].amount, folded[0].quantity), (12, 12));
        assert_eq!(folded[0].label, "normalize, enrich, summarize");
        assert_eq!(folded[0].step_index, None, "a line for three steps names none of them");
        let one = super::folded(vec![line(CostKind::Orchestration, 3, 3, "normalize")]);
        assert_eq!(one[0].step_index, Some(0), "a line for one step keeps it");
        assert_eq!(folded.iter().map(|l| l.amount).sum::<Micros>(), total, "the run pays the same");
        assert_eq!(super::folded(Vec::new()), Vec::<CostLine>::new());
    }
}
