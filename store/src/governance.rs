//! What the monthly governance meeting reviews, for one month in the
//! business's time zone: incidents (cost alerts, failed runs, review
//! escalations) and the changes made (the change log).

use crate::db::{stmt, tenant_txn};
use chrono::{DateTime, Utc};
use engine::kpi::Month;
use sea_orm::{prelude::*, DatabaseConnection};

/// One thing that went wrong, or needed a person beyond the usual.
#[derive(Debug, Clone)]
pub struct Incident {
    /// alert, failed_run or escalation
    pub kind: String,
    pub workflow: String,
    pub what: String,
    pub at: DateTime<Utc>,
    /// Whether it is resolved (an alert cleared, a run retried to completion, a task decided).
    pub resolved: bool,
    /// The run or task to open, when there is one.
    pub link: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Review {
    pub incidents: Vec<Incident>,
    pub failed_runs: i64,
    pub alerts: i64,
    pub escalations: i64,
    pub changes: Vec<crate::entities::audit_event::Model>,
}

/// The month's incidents and changes (at most `limit` of each list).
pub async fn month(db: &DatabaseConnection, schema: &str, month: Month, limit: i64) -> Result<Review, DbErr> {
    let txn = tenant_txn(db, schema).await?;
    let tz = crate::kpis::time_zone_in(&txn).await?;
    let (start, end) = month.bounds(&tz);
    let range = || vec![start.into(), end.into(), limit.into()];
    let mut out = Review::default();
    let counts = txn
        .query_one_raw(stmt(
            "SELECT (SELECT count(*) FROM cost_alerts WHERE opened_at >= $1 AND opened_at < $2),
                    (SELECT count(*) FROM runs WHERE status = 'failed' AND created_at >= $1 AND created_at < $2),
                    (SELECT count(*) FROM review_tasks WHERE escalated_at >= $1 AND escalated_at < $2)",
            vec![start.into(), end.into()],
        ))
        .await?;
    if let Some(c) = counts {
        out.alerts = c.try_get_by_index(0)?;
        out.failed_runs = c.try_get_by_index(1)?;
        out.escalations = c.try_get_by_index(2)?;
    }
    for r in txn
        .query_all_raw(stmt(
            "SELECT 'alert', workflow_name, message, opened_at, cleared_at IS NOT NULL, NULL::text FROM cost_alerts WHERE opened_at >= $1 AND opened_at < $2
             UNION ALL
             (SELECT 'failed_run', workflow_name, coalesce(error, 'failed'), created_at, false, id::text FROM runs
               WHERE status = 'failed' AND created_at >= $1 AND created_at < $2 ORDER BY created_at DESC LIMIT $3)
             UNION ALL
             SELECT 'escalation', workflow_name, 'Past its review SLA (' || reason || ')', escalated_at, status = 'decided', id::text FROM review_tasks
              WHERE escalated_at >= $1 AND escalated_at < $2
             ORDER BY 4 DESC LIMIT $3",
            range(),
        ))
        .await?
    {
        let kind: String = r.try_get_by_index(0)?;
        let id: Option<String> = r.try_get_by_index(5)?;
        out.incidents.push(Incident {
            link: id.map(|id| if kind == "escalation" { format!("review/{id}") } else { format!("runs/{id}") }),
            kind,
            workflow: r.try_get_by_index(1)?,
            what: r.try_get_by_index(2)?,
            at: r.try_get_by_index(3)?,
            resolved: r.try_get_by_index(4)?,
        });
    }
    use crate::entities::audit_event;
    use sea_orm::{QueryFilter, QueryOrder, QuerySelect};
    out.changes = audit_event::Entity::find()
        .filter(audit_event::Column::At.gte(start))
        .filter(audit_event::Column::At.lt(end))
        .order_by_desc(audit_event::Column::At)
        .limit(limit as u64)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(out)
}
