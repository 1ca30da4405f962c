//! What the monthly governance meeting reviews, for one month in the
//! business's time zone: incidents (cost alerts, failed runs, review
//! escalations) and the changes made (the change log).

use crate::db::stmt;
use crate::tenant::Tenant;
use chrono::{DateTime, Utc};
use engine::kpi::{IncidentKind, Month};
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};

/// One thing that went wrong, or needed a person beyond the usual.
#[derive(Debug, Clone)]
pub struct Incident {
    pub kind: IncidentKind,
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
pub async fn month(db: &DatabaseConnection, tenant: &Tenant, month: Month, limit: i64) -> Result<Review, DbErr> {
    #[derive(FromQueryResult)]
    struct Counts {
        alerts: i64,
        failed_runs: i64,
        escalations: i64,
    }
    #[derive(FromQueryResult)]
    struct Row {
        kind: IncidentKind,
        workflow_name: String,
        what: String,
        at: DateTime<Utc>,
        resolved: bool,
        id: Option<String>,
    }
    let txn = tenant.begin(db).await?;
    let tz = crate::local_time::time_zone_in(&txn).await?;
    let (start, end) = month.bounds(&tz);
    let range = || vec![start.into(), end.into(), limit.into()];
    let mut out = Review::default();
    let counts = Counts::find_by_statement(stmt(
        "SELECT (SELECT count(*) FROM cost_alerts WHERE opened_at >= $1 AND opened_at < $2) AS alerts,
                (SELECT count(*) FROM runs WHERE status = 'failed' AND created_at >= $1 AND created_at < $2) AS failed_runs,
                (SELECT count(*) FROM review_tasks WHERE escalated_at >= $1 AND escalated_at < $2) AS escalations",
        vec![start.into(), end.into()],
    ))
    .one(&txn)
    .await?;
    if let Some(c) = counts {
        out.alerts = c.alerts;
        out.failed_runs = c.failed_runs;
        out.escalations = c.escalations;
    }
    for r in Row::find_by_statement(stmt(
        "SELECT 'alert' AS kind, workflow_name, message AS what, opened_at AS at, cleared_at IS NOT NULL AS resolved, NULL::text AS id
           FROM cost_alerts WHERE opened_at >= $1 AND opened_at < $2
         UNION ALL
         (SELECT 'failed_run', workflow_name, coalesce(error, 'failed'), created_at, false, id::text FROM runs
           WHERE status = 'failed' AND created_at >= $1 AND created_at < $2 ORDER BY created_at DESC LIMIT $3)
         UNION ALL
         SELECT 'escalation', workflow_name, 'Past its review SLA (' || reason || ')', escalated_at, status = 'decided', id::text
           FROM review_tasks WHERE escalated_at >= $1 AND escalated_at < $2
         ORDER BY 4 DESC LIMIT $3",
        range(),
    ))
    .all(&txn)
    .await?
    {
        let link = r.id.map(|id| match r.kind {
            IncidentKind::Escalation => format!("review/{id}"),
            IncidentKind::Alert | IncidentKind::FailedRun => format!("runs/{id}"),
        });
        out.incidents.push(Incident {
            link,
            kind: r.kind,
            workflow: r.workflow_name,
            what: r.what,
            at: r.at,
            resolved: r.resolved,
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
