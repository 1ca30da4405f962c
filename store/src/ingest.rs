//! Ingestion: an event for a workflow, from any channel, is checked against
//! the workflow's data contract and committed, with its run, before the
//! sender hears 202. Refusals are counted as deliveries; records that
//! break the contract are kept in the exceptions report.

use crate::db::{decode, stmt};
use crate::jobs::RunJob;
use crate::tenant::Tenant;
use crate::webhook_secrets::{SignatureHeaders, SigningSecret};
use chrono::{DateTime, Utc};
use engine::data_contract::{DataContract, Violation};
use engine::workflow::WorkflowContract;
use sea_orm::sqlx;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// The business changed its configuration since the target was read:
    /// nothing was written; read the target again and retry.
    #[error("the workflow's configuration changed; read it again")]
    Stale,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// The live workflow an event is for, with everything the door reads on
/// each event: the contract, the data contract, the signing secrets and
/// the versions a run pins. Read in one transaction and kept in memory
/// (`Targets`) until the business's configuration generation moves.
#[derive(Debug, Clone)]
pub struct Target {
    pub tenant: Tenant,
    pub tenant_slug: String,
    pub workflow_id: Uuid,
    pub workflow_name: String,
    pub version: i32,
    pub contract: WorkflowContract,
    pub data_contract: Option<DataContract>,
    /// What turns a sender's payload into the record (empty: the payload is the record).
    pub mapping: engine::mapping::Mapping,
    pub retention_days: i32,
    /// The production prompt versions and tier models a run fixes when it is created.
    pub pinned: Value,
    /// Signing secrets valid when read, with until when.
    pub secrets: Vec<SigningSecret>,
    /// The business's configuration generation this was read at.
    pub generation: i64,
    /// Where the door's events for it are written together (`accept_groups`);
    /// set by the door's memory (`Targets`). None: each event is written alone.
    pub accepts: Option<crate::accept_groups::AcceptGroups>,
}

/// Reads the workflow by business and name. Unknown → 404; not published → 409.
pub async fn target(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
    slug: &str,
    workflow: &str,
) -> Result<Target, IngestError> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        live_version: Option<i32>,
        contract: Option<Value>,
        exception_retention_days: i32,
        generation: i64,
    }
    let (tenant, row) =
        crate::tenants::tenant_at(db, slug).await?.ok_or_else(|| IngestError::UnknownWorkflow(workflow.to_owned()))?;
    let txn = tenant.begin(db).await?;
    let found = Row::find_by_statement(stmt(
        "SELECT w.id, w.live_version, v.contract, w.exception_retention_days, (SELECT value FROM config_generation) AS generation
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
    let secrets = crate::webhook_secrets::valid_secrets(&txn, settings, found.id).await?;
    let pinned = pins(&txn, &contract).await?;
    txn.commit().await?;
    let mapping = contract.trigger.mapping();
    Ok(Target {
        tenant,
        tenant_slug: row.slug,
        workflow_id: found.id,
        workflow_name: workflow.to_owned(),
        version,
        contract,
        data_contract,
        mapping,
        retention_days: found.exception_retention_days,
        pinned,
        secrets,
        generation: found.generation,
        accepts: None,
    })
}

impl Target {
    /// The signing secrets that hold now (a rotated-out one until its grace ends).
    fn secrets_now(&self) -> Vec<String> {
        let now = Utc::now();
        self.secrets.iter().filter(|s| s.valid_until.is_none_or(|until| until > now)).map(|s| s.value.clone()).collect()
    }

    /// Checks a webhook delivery against the trigger's proof rule with the secrets valid now.
    pub fn prove(&self, delivery: &crate::sender_proof::Delivery) -> Result<crate::sender_proof::Proven, IngestError> {
        crate::sender_proof::verify(&self.contract.trigger.signature(), &self.secrets_now(), delivery)
            .map_err(IngestError::Unauthorized)
    }

    /// Checks a delivery's Standard Webhooks signature against the secrets valid now (outcome reports).
    pub fn verify(&self, headers: &SignatureHeaders, body: &[u8]) -> Result<(), IngestError> {
        crate::webhook_secrets::verify(&self.secrets_now(), headers, body).map_err(IngestError::Unauthorized)
    }
}

/// The door's memory of live targets, by business and workflow. An entry
/// is used until `accept` finds the business's configuration generation
/// moved (it then answers `Stale`, and the caller reads the target again).
#[derive(Clone, Default)]
pub struct Targets {
    known: Arc<Mutex<KnownTargets>>,
}

/// Targets by (business address, workflow name).
type KnownTargets = HashMap<(String, String), Arc<Target>>;

/// Targets kept at most; past this the memory starts afresh.
const TARGETS_KEPT: usize = 10_000;

impl Targets {
    fn known(&self) -> std::sync::MutexGuard<'_, KnownTargets> {
        // A poisoned lock only means a panic elsewhere while it was held; the map is still whole.
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The target, from memory when it is there.
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        settings: &crate::config::Settings,
        slug: &str,
        workflow: &str,
    ) -> Result<Arc<Target>, IngestError> {
        if let Some(t) = self.known().get(&(slug.to_owned(), workflow.to_owned())) {
            return Ok(t.clone());
        }
        self.reload(db, settings, slug, workflow).await
    }

    /// The target read afresh (and remembered).
    pub async fn reload(
        &self,
        db: &DatabaseConnection,
        settings: &crate::config::Settings,
        slug: &str,
        workflow: &str,
    ) -> Result<Arc<Target>, IngestError> {
        let key = (slug.to_owned(), workflow.to_owned());
        match target(db, settings, slug, workflow).await {
            Ok(mut t) => {
                t.accepts = Some(crate::accept_groups::AcceptGroups::new(db, &t.tenant));
                let t = Arc::new(t);
                let mut known = self.known();
                if known.len() >= TARGETS_KEPT {
                    known.clear();
                }
                known.insert(key, t.clone());
                Ok(t)
            }
            Err(e) => {
                self.known().remove(&key);
                Err(e)
            }
        }
    }
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
    let business = match crate::measure::businesses_named() {
        true => crate::tenants::slug_of(db, tenant).await.unwrap_or_default(),
        false => String::new(),
    };
    crate::measure::event(channel.as_str(), outcome, &business);
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

/// What a run uses, fixed when it is created: the production version of
/// every prompt its llm steps name, and the model behind every tier.
pub(crate) async fn pins(txn: &DatabaseTransaction, contract: &WorkflowContract) -> Result<Value, DbErr> {
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
/// the event and its queued run in one statement, its own transaction
/// (`accept_groups`' `ACCEPT`): with the target's other events that arrive
/// meanwhile when the door's memory gave the target (`accept_groups`),
/// alone otherwise. A repeat of an
/// accepted idempotency key is answered with the original run. A record
/// that breaks the contract is kept in the exceptions report and refused
/// with every reason. `Stale`: the business's configuration changed since
/// `target` was read; nothing was written.
pub async fn accept(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
    target: &Target,
    incoming: &Incoming,
    now: DateTime<Utc>,
) -> Result<Accepted, IngestError> {
    // A vendor's payload is mapped to the record first (a preset or the trigger's own rows).
    let mapped = if target.mapping.is_empty() {
        None
    } else {
        match target.mapping.apply(&incoming.record) {
            Ok(mapped) => Some(mapped),
            Err(violations) => return refuse(db, target, incoming, violations).await,
        }
    };
    let given = mapped.as_ref().map_or(&incoming.record, |m| &m.record);
    let record = match &target.data_contract {
        Some(contract) => match contract.apply(given, now) {
            Ok(normalised) => normalised,
            Err(violations) => {
                let violations = match &mapped {
                    Some(m) => m.explain(violations),
                    None => violations,
                };
                return refuse(db, target, incoming, violations).await;
            }
        },
        None => given.clone(),
    };
    let event_id = Uuid::new_v4();
    let run_id = Uuid::new_v4();
    let context = json!({
        "event": record,
        "trigger": { "type": incoming.event_type, "channel": incoming.channel.as_str(), "received_at": now.to_rfc3339() },
        "steward": { "public_url": settings.public_url.as_str().trim_end_matches('/'), "run_id": run_id, "business": target.tenant_slug },
    });
    let json = |v: &Value| serde_json::to_string(v).map_err(|e| IngestError::Storage(DbErr::Custom(e.to_string())));
    let delivery = crate::accept_groups::Delivery {
        generation: target.generation,
        workflow: target.workflow_id,
        idempotency: incoming.idempotency_key.clone(),
        event: event_id,
        via: incoming.channel.as_str(),
        kind: incoming.event_type.clone(),
        record: json(&record)?,
        received: json(&incoming.raw)?,
        run: run_id,
        label: target.workflow_name.clone(),
        version: target.version,
        context: json(&context)?,
        pins: json(&target.pinned)?,
    };
    // With the events of this workflow that arrive meanwhile, or alone. A `Tenant`'s schema
    // name was checked when it was made (`db::in_schema` writes it into the statement).
    let answer = match &target.accepts {
        Some(groups) => groups.accept(delivery).await,
        None => crate::accept_groups::write_alone(db, &target.tenant, &delivery).await,
    }
    .map_err(IngestError::Storage)?;
    if !answer.fresh {
        return Err(IngestError::Stale);
    }
    let accepted = match answer.run {
        Some(run_id) => Accepted::New { run_id, event_id },
        // The key was accepted before (or by another delivery of this group, or one committed
        // meanwhile): the earlier run answers, and the repeat is counted.
        None => {
            let fail = |e: sqlx::Error| IngestError::Storage(crate::db::from_sqlx(e));
            let key = incoming.idempotency_key.clone().unwrap_or_default();
            let mut tx = crate::db::begin_fast(db, &target.tenant).await?;
            let run_id: Uuid =
                sqlx::query_scalar("SELECT run_id FROM events WHERE workflow_id = $1 AND idempotency_key = $2")
                    .bind(target.workflow_id)
                    .bind(&key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(fail)?;
            sqlx::query(
                "INSERT INTO deliveries (workflow_name, channel, outcome, status_code, reason, run_id)
                 VALUES ($1, $2, 'duplicate', 200, 'repeat of an accepted delivery', $3)",
            )
            .bind(&target.workflow_name)
            .bind(incoming.channel.as_str())
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
            Accepted::Duplicate { run_id }
        }
    };
    let outcome = if matches!(accepted, Accepted::New { .. }) { "accepted" } else { "duplicate" };
    crate::measure::event(incoming.channel.as_str(), outcome, &target.tenant_slug);
    Ok(accepted)
}

/// A record that breaks the data contract: kept in the exceptions report,
/// counted as a refused delivery, and answered with every reason.
async fn refuse(
    db: &DatabaseConnection,
    target: &Target,
    incoming: &Incoming,
    violations: Vec<Violation>,
) -> Result<Accepted, IngestError> {
    let txn = target.tenant.begin(db).await?;
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
    crate::measure::event(incoming.channel.as_str(), "rejected", &target.tenant_slug);
    Err(IngestError::Invalid(violations))
}

/// The job that wakes a worker for a run of this target.
pub fn run_job(target: &Target, run_id: Uuid) -> RunJob {
    RunJob::new(&target.tenant, run_id)
}
