//! Retention: a finished run's payloads — the event's record and raw body,
//! the run's context, step inputs and outputs, review drafts and edits, and
//! the emails that carried them — are emptied once the workflow's
//! `data_retention_days` have passed since the run finished (with the run's
//! copies in replay datasets and replay results). What reports
//! need stays: the run's status, times, tokens and cost, its steps' kinds,
//! statuses, models, costs and a draft's confidence, cost lines and KPI tallies. Each purge is in
//! the audit log, per workflow.

use crate::{auth::CurrentMember, db::stmt, tenant::Tenant};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};
use serde_json::json;

/// The days a workflow keeps payloads unless its owner says otherwise.
pub const DEFAULT_DAYS: i32 = 90;
/// The longest a workflow may keep payloads.
pub const MAX_DAYS: i32 = 3650;
/// Runs purged per workflow in one pass (the next day's pass takes the rest).
const BATCH: i64 = 5000;

/// What a purge emptied in one workflow.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Purged {
    pub workflow: String,
    pub days: i32,
    pub runs: i64,
    pub events: i64,
    pub emails: i64,
}

/// Empties the payloads of the business's runs that outlived their
/// workflow's retention, in one transaction, audited per workflow.
pub async fn purge(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<Purged>, DbErr> {
    let txn = tenant.begin(db).await?;
    // One statement: the runs due, then everything that carried their data
    // (PostgreSQL runs every data-modifying part of a WITH exactly once).
    let purged = Purged::find_by_statement(stmt(
        "WITH due AS (
             SELECT r.id, r.event_id, w.name AS workflow, w.data_retention_days AS days
               FROM runs r JOIN workflows w ON w.id = r.workflow_id
              WHERE r.purged_at IS NULL AND r.finished_at IS NOT NULL
                AND r.status IN ('completed', 'failed', 'cancelled')
                AND r.finished_at < now() - make_interval(days => w.data_retention_days)
              ORDER BY r.finished_at
              LIMIT $1),
         runs_done AS (
             UPDATE runs SET context = '{}'::jsonb, purged_at = now() WHERE id IN (SELECT id FROM due) RETURNING id),
         steps_done AS (
             UPDATE run_steps SET input = NULL,
                    -- A draft's confidence is no personal data, and the report's histogram reads it.
                    output = CASE WHEN jsonb_typeof(output -> 'confidence') = 'number'
                                  THEN jsonb_build_object('confidence', output -> 'confidence') END
              WHERE run_id IN (SELECT id FROM due) RETURNING run_id),
         tasks_done AS (
             UPDATE review_tasks SET draft = NULL, edited_output = NULL, shown_draft = NULL
              WHERE run_id IN (SELECT id FROM due) RETURNING run_id),
         events_done AS (
             UPDATE events SET payload = '{}'::jsonb, raw = '{}'::jsonb, purged_at = now()
              WHERE id IN (SELECT event_id FROM due WHERE event_id IS NOT NULL) AND purged_at IS NULL
              RETURNING id),
         -- A dataset keeps a run's record and drafts: they go with the run's (a finished replay keeps its figures).
         kept_done AS (DELETE FROM dataset_items WHERE run_id IN (SELECT id FROM due) RETURNING run_id),
         replayed_done AS (DELETE FROM replay_results WHERE run_id IN (SELECT id FROM due) RETURNING run_id),
         emails_done AS (
             UPDATE outbox SET text_body = '[removed after the retention period]', html_body = '<p>[removed after the retention period]</p>'
              WHERE run_id IN (SELECT id FROM due) AND status IN ('sent', 'failed')
              RETURNING run_id)
         SELECT d.workflow, d.days, count(*) AS runs,
                count(*) FILTER (WHERE d.event_id IN (SELECT id FROM events_done)) AS events,
                (SELECT count(*) FROM emails_done e JOIN due x ON x.id = e.run_id WHERE x.workflow = d.workflow) AS emails
           FROM due d
          GROUP BY d.workflow, d.days
          ORDER BY d.workflow",
        vec![BATCH.into()],
    ))
    .all(&txn)
    .await?;
    for p in &purged {
        crate::audit::record_change(
            &txn,
            None,
            "workflow",
            "retention.purged",
            &p.workflow,
            &format!("payloads of runs finished more than {} days ago removed", p.days),
            json!({ "runs": p.runs, "events": p.events, "emails": p.emails, "days": p.days }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(purged)
}

/// What a workflow keeps for a number of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Records refused at the door, in the exceptions report (1–365 days, default 30).
    RefusedRecords,
    /// Finished runs' payloads (1–3650 days, default 90).
    RunData,
}

impl Kept {
    fn column(self) -> &'static str {
        match self {
            Kept::RefusedRecords => "exception_retention_days",
            Kept::RunData => "data_retention_days",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Kept::RefusedRecords => "workflow.exception_retention_changed",
            Kept::RunData => "workflow.data_retention_changed",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kept::RefusedRecords => "refused records",
            Kept::RunData => "run payloads",
        }
    }
}

/// Sets how many days a workflow keeps `kept`, audited. False: no such workflow.
pub async fn set_days(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
    kept: Kept,
    days: i32,
) -> Result<bool, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let updated = txn
        .execute_raw(stmt(
            &format!("UPDATE workflows SET {} = $2 WHERE name = $1", kept.column()),
            vec![workflow.into(), days.into()],
        ))
        .await?
        .rows_affected()
        == 1;
    if updated {
        crate::audit::record_change(
            &txn,
            Some(member),
            "workflow",
            kept.action(),
            workflow,
            &format!("{} are kept {days} days", kept.what()),
            json!({ "days": days }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// How many days a workflow keeps `kept`.
pub async fn days(db: &DatabaseConnection, tenant: &Tenant, workflow: &str, kept: Kept) -> Result<Option<i32>, DbErr> {
    let txn = tenant.begin(db).await?;
    let days = crate::db::scalar(
        &txn,
        stmt(&format!("SELECT {} AS value FROM workflows WHERE name = $1", kept.column()), vec![workflow.into()]),
    )
    .await?;
    txn.commit().await?;
    Ok(days)
}
