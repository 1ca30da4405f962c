//! Ingestion: an event for a workflow, from any channel, is checked against
//! the workflow's data contract and committed, with its run, before the
//! sender hears 202. Refusals are counted as deliveries; records that
//! break the contract are kept in the exceptions report.

use crate::db::{decode, is_unique_violation, stmt};
use crate::jobs::RunJob;
use crate::tenant::Tenant;
use chrono::{DateTime, Utc};
use engine::data_contract::{DataContract, Violation};
use engine::workflow::WorkflowContract;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::{json, Value};

/// Where an event came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Webhook,
    CloudEvent,
    Form,
    Api,
    Cli,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::CloudEvent => "cloudevents",
            Channel::Form => "form",
            Channel::Api => "api",
            Channel::Cli => "cli",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("there is no workflow named {0} here")]
    UnknownWorkflow(String),
    #[error("workflow {0} has no published version, so it does not accept events yet")]
    NotPublished(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("the record breaks the data contract")]
    Invalid(Vec<Violation>),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// The live workflow an event is for, with what checks it at the door.
#[derive(Debug, Clone)]
pub struct Target {
    pub tenant: Tenant,
    pub tenant_slug: String,
    pub workflow_id: Uuid,
    pub workflow_name: String,
    pub version: i32,
    pub contract: WorkflowContract,
    pub data_contract: Option<DataContract>,
    pub retention_days: i32,
}

/// Finds the workflow by business and name. Unknown → 404; not published → 409.
pub async fn target(db: &DatabaseConnection, slug: &str, workflow: &str) -> Result<Target, IngestError> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        live_version: Option<i32>,
        contract: Option<Value>,
        exception_retention_days: i32,
    }
    let (tenant, row) =
        crate::tenants::tenant_at(db, slug).await?.ok_or_else(|| IngestError::UnknownWorkflow(workflow.to_owned()))?;
    let txn = tenant.begin(db).await?;
    let found = Row::find_by_statement(stmt(
        "SELECT w.id, w.live_version, v.contract, w.exception_retention_days
           FROM workflows w LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.number = w.live_version
          WHERE w.name = $1",
        vec![workflow.into()],
    ))
    .one(&txn)
    .await?
    .ok_or_else(|| IngestError::UnknownWorkflow(workflow.to_owned()))?;
    let (Some(version), Some(contract)) = (found.live_version, found.contract) else {
        return Err(IngestError::NotPublished(workflow.to_owned()));
    };
    let contract: WorkflowContract = decode(&format!("the contract of {workflow} v{version}"), contract)?;
    let data_contract = match contract.trigger.contract_name() {
        Some(name) => crate::data_contracts::find_in(&txn, &name).await?,
        None => None,
    };
    txn.commit().await?;
    Ok(Target {
        tenant,
        tenant_slug: row.slug,
        workflow_id: found.id,
        workflow_name: workflow.to_owned(),
        version,
        contract,
        data_contract,
        retention_days: found.exception_retention_days,
    })
}

/// Checks a delivery's Standard Webhooks signature against the workflow's current secrets.
pub async fn verify_signature(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
    target: &Target,
    headers: &crate::webhook_secrets::SignatureHeaders,
    body: &[u8],
) -> Result<(), IngestError> {
    let txn = target.tenant.begin(db).await?;
    let secrets = crate::webhook_secrets::valid_secrets(&txn, settings, target.workflow_id).await?;
    txn.commit().await?;
    crate::webhook_secrets::verify(&secrets, headers, body).map_err(IngestError::Unauthorized)
}

/// An event as it arrived.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub channel: Channel,
    pub event_type: String,
    pub idempotency_key: Option<String>,
    /// The business record (the CloudEvents `data`, the webhook body, the form fields).
    pub record: Value,
    /// Everything received, for the exceptions report and the run's source event.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A new event and its queued run.
    New { run_id: Uuid, event_id: Uuid },
    /// The same idempotency key was accepted before: its run.
    Duplicate { run_id: Uuid },
}

impl Accepted {
    pub fn run_id(&self) -> Uuid {
        match self {
            Accepted::New { run_id, .. } | Accepted::Duplicate { run_id } => *run_id,
        }
    }
}

/// Counts a delivery, whatever became of it.
#[allow(clippy::too_many_arguments)] // a delivery row: every column is the caller's to say
pub async fn record_delivery(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
    channel: Channel,
    outcome: &str,
    status_code: u16,
    reason: &str,
    run_id: Option<Uuid>,
) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    delivery_in(&txn, workflow, channel, outcome, status_code, reason, run_id).await?;
    txn.commit().await
}

async fn delivery_in(
    txn: &DatabaseTransaction,
    workflow: &str,
    channel: Channel,
    outcome: &str,
    status_code: u16,
    reason: &str,
    run_id: Option<Uuid>,
) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "INSERT INTO deliveries (workflow_name, channel, outcome, status_code, reason, run_id) VALUES ($1, $2, $3, $4, $5, $6)",
        vec![workflow.into(), channel.as_str().into(), outcome.into(), (status_code as i32).into(), reason.into(), run_id.into()],
    ))
    .await?;
    Ok(())
}

async fn existing_run(txn: &DatabaseTransaction, workflow_id: Uuid, key: &str) -> Result<Option<Uuid>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
    }
    Ok(Row::find_by_statement(stmt(
        "SELECT r.id FROM events e JOIN runs r ON r.event_id = e.id WHERE e.workflow_id = $1 AND e.idempotency_key = $2",
        vec![workflow_id.into(), key.into()],
    ))
    .one(txn)
    .await?
    .map(|r| r.id))
}

/// A repeat of an accepted delivery: counted, and answered with the original run.
async fn duplicate(
    txn: DatabaseTransaction,
    target: &Target,
    channel: Channel,
    run_id: Uuid,
) -> Result<Accepted, IngestError> {
    delivery_in(&txn, &target.workflow_name, channel, "duplicate", 200, "repeat of an accepted delivery", Some(run_id))
        .await?;
    txn.commit().await?;
    Ok(Accepted::Duplicate { run_id })
}

/// What a run uses, fixed when it is created: the production version of
/// every prompt its llm steps name, and the model behind every tier.
async fn pins(txn: &DatabaseTransaction, contract: &WorkflowContract) -> Result<Value, DbErr> {
    #[derive(FromQueryResult)]
    struct Pinned {
        number: Option<i32>,
    }
    #[derive(FromQueryResult)]
    struct Tier {
        tier: String,
        id: Uuid,
        label: String,
    }
    let mut prompts = serde_json::Map::new();
    for name in contract.steps.iter().filter_map(|s| s.prompt_template.as_deref()) {
        let number = Pinned::find_by_statement(stmt(
            "SELECT coalesce(
                (SELECT l.number FROM prompt_labels l WHERE l.prompt_id = p.id AND l.label = 'production'),
                (SELECT max(v.number) FROM prompt_versions v WHERE v.prompt_id = p.id)) AS number
               FROM prompt_templates p WHERE p.name = $1",
            vec![name.into()],
        ))
        .one(txn)
        .await?
        .and_then(|p| p.number);
        prompts.insert(name.to_owned(), json!(number));
    }
    let mut models = serde_json::Map::new();
    for t in Tier::find_by_statement(stmt(
        "SELECT t.tier, m.id, m.label FROM model_tiers t JOIN models m ON m.id = t.model_id",
        vec![],
    ))
    .all(txn)
    .await?
    {
        models.insert(t.tier, json!({ "id": t.id, "label": t.label }));
    }
    Ok(json!({ "prompts": prompts, "models": models }))
}

/// Checks the record against the data contract and, if it holds, commits
/// the event and its queued run in one transaction. A record that breaks
/// the contract is kept in the exceptions report and refused with every
/// reason.
pub async fn accept(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
    target: &Target,
    incoming: &Incoming,
    now: DateTime<Utc>,
) -> Result<Accepted, IngestError> {
    let txn = target.tenant.begin(db).await?;
    if let Some(key) = &incoming.idempotency_key {
        if let Some(run_id) = existing_run(&txn, target.workflow_id, key).await? {
            return duplicate(txn, target, incoming.channel, run_id).await;
        }
    }
    let record = match &target.data_contract {
        Some(contract) => match contract.apply(&incoming.record, now) {
            Ok(normalised) => normalised,
            Err(violations) => {
                txn.execute_raw(stmt(
                    "INSERT INTO ingest_exceptions (id, workflow_name, channel, raw, violations, expires_at)
                     VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6::int))",
                    vec![
                        Uuid::new_v4().into(),
                        target.workflow_name.clone().into(),
                        incoming.channel.as_str().into(),
                        serde_json::to_string_pretty(&incoming.raw).unwrap_or_default().into(),
                        json!(violations).into(),
                        target.retention_days.into(),
                    ],
                ))
                .await?;
                let reason = violations.iter().map(|v| v.message.as_str()).collect::<Vec<_>>().join("; ");
                delivery_in(&txn, &target.workflow_name, incoming.channel, "rejected", 422, &reason, None).await?;
                txn.commit().await?;
                return Err(IngestError::Invalid(violations));
            }
        },
        None => incoming.record.clone(),
    };
    let event_id = Uuid::new_v4();
    let run_id = Uuid::new_v4();
    let inserted = txn
        .execute_raw(stmt(
            "INSERT INTO events (id, workflow_id, channel, event_type, idempotency_key, payload, raw) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                event_id.into(),
                target.workflow_id.into(),
                incoming.channel.as_str().into(),
                incoming.event_type.clone().into(),
                incoming.idempotency_key.clone().into(),
                record.clone().into(),
                incoming.raw.clone().into(),
            ],
        ))
        .await;
    if let Err(e) = inserted {
        // Two deliveries with one key raced; the other one won.
        if is_unique_violation(&e, "events_workflow_id_idempotency_key_key") {
            drop(txn);
            let txn = target.tenant.begin(db).await?;
            let key = incoming.idempotency_key.clone().unwrap_or_default();
            let run_id = existing_run(&txn, target.workflow_id, &key).await?.ok_or(IngestError::Storage(e))?;
            return duplicate(txn, target, incoming.channel, run_id).await;
        }
        return Err(e.into());
    }
    let context = json!({
        "event": record,
        "trigger": { "type": incoming.event_type, "channel": incoming.channel.as_str(), "received_at": now.to_rfc3339() },
        "steward": { "public_url": settings.public_url.as_str().trim_end_matches('/'), "run_id": run_id, "business": target.tenant_slug },
    });
    let pinned = pins(&txn, &target.contract).await?;
    txn.execute_raw(stmt(
        "INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, event_id, context, pinned) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            run_id.into(),
            target.workflow_id.into(),
            target.workflow_name.clone().into(),
            target.version.into(),
            event_id.into(),
            context.into(),
            pinned.into(),
        ],
    ))
    .await?;
    delivery_in(&txn, &target.workflow_name, incoming.channel, "accepted", 202, "", Some(run_id)).await?;
    txn.commit().await?;
    Ok(Accepted::New { run_id, event_id })
}

/// The job that wakes a worker for a run of this target.
pub fn run_job(target: &Target, run_id: Uuid) -> RunJob {
    RunJob::new(&target.tenant, run_id)
}

/// How many days refused records of a workflow stay in the exceptions report.
pub async fn set_exception_retention(
    db: &DatabaseConnection,
    member: &crate::auth::CurrentMember,
    workflow: &str,
    days: i32,
) -> Result<bool, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let updated = txn
        .execute_raw(stmt(
            "UPDATE workflows SET exception_retention_days = $2 WHERE name = $1",
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
            "workflow.exception_retention_changed",
            workflow,
            &format!("refused records are kept {days} days"),
            json!({ "days": days }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// The current retention of a workflow's refused records, in days.
pub async fn exception_retention(
    db: &DatabaseConnection,
    tenant: &Tenant,
    workflow: &str,
) -> Result<Option<i32>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        exception_retention_days: i32,
    }
    let txn = tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(
        "SELECT exception_retention_days FROM workflows WHERE name = $1",
        vec![workflow.into()],
    ))
    .one(&txn)
    .await?;
    txn.commit().await?;
    Ok(row.map(|r| r.exception_retention_days))
}
