//! The value-score backlog: candidate workflows, ranked by the product's
//! value formula. A candidate starts (becomes a draft workflow from the
//! template gallery) only once it names how success will be measured.

use crate::db::{scalar, stmt};
use crate::tenant::Tenant;
use crate::{audit, auth::CurrentMember};
use engine::kpi::{Candidate, ValueScoreInputs};
use engine::FieldError;
use sea_orm::{prelude::*, DatabaseConnection, FromQueryResult};
use serde_json::json;

/// A candidate as stored, with its place in the backlog.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: Uuid,
    pub candidate: Candidate,
    pub status: String,
    pub workflow_name: Option<String>,
    pub created_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BacklogError {
    #[error("{0:?}")]
    Fields(Vec<FieldError>),
    #[error("there is no such candidate")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Every candidate, highest score first (ties by name).
pub async fn list(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<Row>, DbErr> {
    #[derive(FromQueryResult)]
    struct Stored {
        id: Uuid,
        name: String,
        monthly_volume: f64,
        minutes_per_task: f64,
        error_rate: f64,
        revenue_impact: f64,
        compliance_risk: f64,
        success_metric: String,
        status: String,
        workflow_name: Option<String>,
        created_by: String,
    }
    let txn = tenant.begin(db).await?;
    let rows = Stored::find_by_statement(stmt(
        "SELECT id, name, monthly_volume, minutes_per_task, error_rate, revenue_impact, compliance_risk, success_metric, status,
                workflow_name, created_by
           FROM backlog_candidates",
        vec![],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    let mut out: Vec<Row> = rows
        .into_iter()
        .map(|r| Row {
            id: r.id,
            candidate: Candidate {
                name: r.name,
                inputs: ValueScoreInputs {
                    monthly_volume: r.monthly_volume,
                    minutes_per_task: r.minutes_per_task,
                    error_rate: r.error_rate,
                    revenue_impact: r.revenue_impact,
                    compliance_risk: r.compliance_risk,
                },
                success_metric: r.success_metric,
            },
            status: r.status,
            workflow_name: r.workflow_name,
            created_by: r.created_by,
        })
        .collect();
    let mut candidates: Vec<Candidate> = out.iter().map(|r| r.candidate.clone()).collect();
    engine::kpi::rank(&mut candidates);
    out.sort_by_key(|r| candidates.iter().position(|c| c.name == r.candidate.name));
    Ok(out)
}

/// Adds a candidate, or updates the one with the same name if it has not started.
pub async fn save(db: &DatabaseConnection, member: &CurrentMember, c: &Candidate) -> Result<Uuid, BacklogError> {
    let txn = member.tenant.begin(db).await?;
    let i = &c.inputs;
    let saved: Option<Uuid> = scalar(
        &txn,
        stmt(
            "INSERT INTO backlog_candidates (id, name, monthly_volume, minutes_per_task, error_rate, revenue_impact, compliance_risk, success_metric, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET monthly_volume = $3, minutes_per_task = $4, error_rate = $5, revenue_impact = $6,
                 compliance_risk = $7, success_metric = $8 WHERE backlog_candidates.status = 'candidate'
             RETURNING id AS value",
            vec![
                Uuid::new_v4().into(),
                c.name.clone().into(),
                i.monthly_volume.into(),
                i.minutes_per_task.into(),
                i.error_rate.into(),
                i.revenue_impact.into(),
                i.compliance_risk.into(),
                c.success_metric.clone().into(),
                member.email.clone().into(),
            ],
        ),
    )
    .await?;
    let Some(id) = saved else {
        txn.rollback().await?;
        return Err(BacklogError::Fields(vec![FieldError::new(
            "name",
            "A candidate with this name has already started; name this one differently.",
        )]));
    };
    audit::record_change(
        &txn,
        Some(member),
        "kpi",
        "backlog.candidate_saved",
        &c.name,
        "",
        json!({ "score": c.score(), "success_metric": c.success_metric }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// Starts a candidate: checks its success metric, installs the chosen
/// gallery template as a draft workflow, and marks the candidate started.
/// Returns the draft workflow's name.
pub async fn start(
    db: &DatabaseConnection,
    member: &CurrentMember,
    id: Uuid,
    template: &str,
) -> Result<String, BacklogError> {
    let row = list(db, &member.tenant).await?.into_iter().find(|r| r.id == id).ok_or(BacklogError::NotFound)?;
    let mut errors = Vec::new();
    if let Err(e) = row.candidate.may_start() {
        errors.push(e);
    }
    if row.status != "candidate" {
        errors.push(FieldError::new(
            "candidate",
            format!("This candidate has started already (workflow {}).", row.workflow_name.clone().unwrap_or_default()),
        ));
    }
    let item = crate::bundles::GALLERY.iter().find(|i| i.name == template);
    if item.is_none() {
        errors.push(FieldError::new("template", "Pick a template from the gallery."));
    }
    if let Some(item) = item {
        let txn = member.tenant.begin(db).await?;
        let exists =
            txn.query_one_raw(stmt("SELECT 1 FROM workflows WHERE name = $1", vec![item.name.into()])).await?.is_some();
        txn.commit().await?;
        if exists {
            errors.push(FieldError::new(
                "template",
                format!("The workflow {} is installed already; pick another template.", item.name),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(BacklogError::Fields(errors));
    }
    let item = item.expect("checked above");
    let why = format!("Started from the backlog: {} (success: {})", row.candidate.name, row.candidate.success_metric);
    let name = crate::bundles::import_bundle(db, member, &item.bundle(), &why).await.map_err(|e| match e {
        crate::bundles::BundleError::Storage(e) => BacklogError::Storage(e),
        other => BacklogError::Fields(vec![FieldError::new("template", other.to_string())]),
    })?;
    let txn = member.tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "UPDATE backlog_candidates SET status = 'started', workflow_name = $2, started_at = now() WHERE id = $1",
        vec![id.into(), name.clone().into()],
    ))
    .await?;
    audit::record_change(
        &txn,
        Some(member),
        "kpi",
        "backlog.candidate_started",
        &row.candidate.name,
        &why,
        json!({ "workflow": name, "template": template }),
    )
    .await?;
    txn.commit().await?;
    Ok(name)
}
