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

/// What a step's model calls cost (the primary and the fallback), from its lines.
pub fn model_cost(lines: &[CostLine]) -> Micros {
    lines.iter().filter(|l| l.kind.is_model()).map(|l| l.amount).sum()
}

/// Writes a run's cost lines and adds them to the run's total, inside `txn`.
pub(crate) async fn add_lines(txn: &DatabaseTransaction, run_id: Uuid, lines: &[CostLine]) -> Result<(), DbErr> {
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

/// Writes cost lines in a transaction of their own.
pub async fn record(db: &DatabaseConnection, tenant: &Tenant, run_id: Uuid, lines: &[CostLine]) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    add_lines(&txn, run_id, lines).await?;
    txn.commit().await
}
