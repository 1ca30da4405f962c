//! Replays: a workflow version (with, if asked, other prompt versions or
//! another model tier) run in shadow over a dataset by the worker, event by
//! event, each result committed as it comes (progress N of M; a restarted
//! worker goes on where the last stopped). Nothing a customer or a CRM can
//! see happens; what the models cost is the replay's, never production's.
//! The workflow's publish gate reads the latest finished replay.

use crate::auth::CurrentMember;
use crate::datasets::{may_change, may_read, DatasetError};
use crate::db::{decode, scalar, stmt};
use crate::Tenant;
use chrono::{DateTime, Utc};
use engine::replay::{Comparison, LatestReplay, Outcome, Production, PublishGate, ReplayStatus, Summary};
use engine::workflow::{ModelTier, WorkflowContract};
use sea_orm::{prelude::*, ConnectionTrait, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What to replay over a dataset.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Replaying {
    pub version: i32,
    /// Prompt versions to use instead of the production ones.
    pub prompt_versions: BTreeMap<String, i32>,
    /// The model tier every llm step uses instead of its own.
    pub model_tier: Option<ModelTier>,
}

/// Starts a replay of `replaying` over a dataset; the caller wakes the worker with `jobs::ReplayJob`.
pub async fn start(
    db: &DatabaseConnection,
    member: &CurrentMember,
    dataset: Uuid,
    replaying: &Replaying,
) -> Result<Uuid, DatasetError> {
    may_change(member)?;
    if replaying.model_tier == Some(ModelTier::Auto) {
        return Err(DatasetError::Invalid { field: "model_tier", reason: "choose small or premium".into() });
    }
    let txn = member.tenant.begin(db).await?;
    #[derive(FromQueryResult)]
    struct Set {
        workflow_name: String,
        name: String,
        items: i64,
    }
    let set = Set::find_by_statement(stmt(
        "SELECT workflow_name, name, (SELECT count(*) FROM dataset_items WHERE dataset_id = d.id) AS items
           FROM datasets d WHERE id = $1",
        vec![dataset.into()],
    ))
    .one(&txn)
    .await?
    .ok_or_else(|| DatasetError::NotFound("the dataset".into()))?;
    if set.items == 0 {
        return Err(DatasetError::Invalid { field: "dataset", reason: "the dataset has no events to replay".into() });
    }
    let Some(contract) = crate::workflows::version_contract_in(&txn, &set.workflow_name, replaying.version).await?
    else {
        return Err(DatasetError::Invalid {
            field: "version",
            reason: format!("{} has no version {}", set.workflow_name, replaying.version),
        });
    };
    for (prompt, number) in &replaying.prompt_versions {
        if crate::prompts::pinned_in(&txn, prompt, *number).await?.is_none() {
            return Err(DatasetError::Invalid {
                field: "prompt_versions",
                reason: format!("the prompt {prompt} has no version {number}"),
            });
        }
    }
    // What it uses is fixed now, as a run's is when it is created: the version's production prompts, unless asked otherwise.
    let mut pinned = crate::ingest::pins(&txn, &contract).await?;
    if let Some(prompts) = pinned["prompts"].as_object_mut() {
        for (name, number) in &replaying.prompt_versions {
            prompts.insert(name.clone(), json!(number));
        }
    }
    let id = Uuid::new_v4();
    txn.execute_raw(stmt(
        "INSERT INTO replays (id, dataset_id, workflow_name, version, prompt_versions, model_tier, total, created_by, pinned)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            id.into(),
            dataset.into(),
            set.workflow_name.clone().into(),
            replaying.version.into(),
            json!(replaying.prompt_versions).into(),
            replaying.model_tier.map(|t| t.as_str().to_owned()).into(),
            (set.items as i32).into(),
            member.email.clone().into(),
            pinned.into(),
        ],
    ))
    .await?;
    crate::audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "replay.started",
        &set.workflow_name,
        &format!("version {} replayed over {} ({} events)", replaying.version, set.name, set.items),
        json!({ "replay": id, "version": replaying.version, "dataset": set.name, "prompt_versions": replaying.prompt_versions, "model_tier": replaying.model_tier }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// A replay as the worker runs it.
#[derive(Debug, Clone)]
pub struct LeasedReplay {
    pub id: Uuid,
    pub dataset_id: Uuid,
    pub workflow_name: String,
    pub version: i32,
    /// The replayed version's contract, with the model tier asked for on every llm step.
    pub contract: WorkflowContract,
    /// Prompt versions and models, as a run of this version would pin them, with the replay's prompt versions.
    pub pinned: Value,
    pub generation: i64,
    pub budget: Option<crate::costs::BudgetState>,
}

/// Takes the replay's lease if it is queued, or running under a lapsed lease.
pub async fn lease(
    db: &DatabaseConnection,
    tenant: &Tenant,
    replay: Uuid,
    owner: &str,
    seconds: i64,
) -> Result<Option<LeasedReplay>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        dataset_id: Uuid,
        workflow_name: String,
        version: i32,
        pinned: Value,
        model_tier: Option<String>,
        attempts: i32,
        contract: Option<Value>,
        generation: i64,
    }
    let txn = tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(
        "WITH leased AS (
             UPDATE replays SET status = 'running', lease_owner = $2, attempts = attempts + 1,
                    lease_until = now() + make_interval(secs => $3::double precision), started_at = coalesce(started_at, now())
              WHERE id = $1 AND (status = 'queued' OR (status = 'running' AND (lease_until IS NULL OR lease_until < now())))
          RETURNING dataset_id, workflow_name, version, pinned, model_tier, attempts)
         SELECT l.dataset_id, l.workflow_name, l.version, l.pinned, l.model_tier, l.attempts, v.contract,
                (SELECT value FROM config_generation) AS generation
           FROM leased l
           LEFT JOIN workflows w ON w.name = l.workflow_name
           LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.number = l.version",
        vec![replay.into(), owner.into(), (seconds as f64).into()],
    ))
    .one(&txn)
    .await?;
    let Some(row) = row else {
        txn.commit().await?;
        return Ok(None);
    };
    // A replay that cannot go on ends here, said on its page, rather than being taken up again and again.
    let given_up = if row.attempts > MAX_ATTEMPTS {
        Some(format!("stopped after {MAX_ATTEMPTS} tries: each worker that took it up stopped before it finished"))
    } else if row.contract.is_none() {
        Some(format!("{} has no version {} any more", row.workflow_name, row.version))
    } else {
        None
    };
    if let Some(why) = given_up {
        end_in(&txn, replay, owner, ReplayStatus::Failed, Some(&why)).await?;
        txn.commit().await?;
        return Ok(None);
    }
    let what = format!("the contract of {} v{}", row.workflow_name, row.version);
    let mut contract: WorkflowContract =
        decode(&what, row.contract.ok_or_else(|| DbErr::RecordNotFound(what.clone()))?)?;
    if let Some(tier) = row.model_tier.as_deref().and_then(|t| t.parse::<ModelTier>().ok()) {
        for step in contract.steps.iter_mut().filter(|s| s.kind == engine::workflow::StepKind::Llm) {
            step.model = Some(tier);
        }
    }
    let budget = crate::costs::gate_state_in(&txn, &row.workflow_name).await?;
    txn.commit().await?;
    Ok(Some(LeasedReplay {
        id: replay,
        dataset_id: row.dataset_id,
        workflow_name: row.workflow_name,
        version: row.version,
        contract,
        pinned: row.pinned,
        generation: row.generation,
        budget,
    }))
}

/// Extends the lease while the replay goes on. False: lost (or the replay was cancelled).
pub async fn renew(
    db: &DatabaseConnection,
    tenant: &Tenant,
    replay: Uuid,
    owner: &str,
    seconds: i64,
) -> Result<bool, DbErr> {
    let txn = tenant.begin(db).await?;
    let res = txn
        .execute_raw(stmt(
            "UPDATE replays SET lease_until = now() + make_interval(secs => $3::double precision)
              WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            vec![replay.into(), owner.into(), (seconds as f64).into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected() == 1)
}

/// One dataset event still to replay.
#[derive(Debug, Clone)]
pub struct Pending {
    pub run_id: Uuid,
    pub context: Value,
    pub production: Production,
    pub answers: Value,
}

/// The dataset's events this replay has no result for yet, oldest first.
pub async fn pending(db: &DatabaseConnection, tenant: &Tenant, replay: &LeasedReplay) -> Result<Vec<Pending>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        run_id: Uuid,
        context: Value,
        production: Value,
        answers: Value,
    }
    let txn = tenant.begin(db).await?;
    let rows = Row::find_by_statement(stmt(
        "SELECT i.run_id, i.context, i.production, i.answers FROM dataset_items i
          WHERE i.dataset_id = $1
            -- The dataset as it was when the replay started: its total.
            AND i.added_at <= (SELECT created_at FROM replays WHERE id = $2)
            AND NOT EXISTS (SELECT 1 FROM replay_results r WHERE r.replay_id = $2 AND r.run_id = i.run_id)
          ORDER BY i.added_at, i.run_id",
        vec![replay.dataset_id.into(), replay.id.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(Pending {
                run_id: r.run_id,
                context: r.context,
                production: decode("a dataset event", r.production)?,
                answers: r.answers,
            })
        })
        .collect()
}

/// Keeps one event's result and counts it done, if this worker still holds
/// the replay and nobody cancelled it. False: stop.
pub async fn record(
    db: &DatabaseConnection,
    tenant: &Tenant,
    replay: Uuid,
    owner: &str,
    run_id: Uuid,
    outcome: &Outcome,
    comparison: &Comparison,
) -> Result<bool, DbErr> {
    let txn = tenant.begin(db).await?;
    txn.execute_raw(stmt(
        "WITH held AS (SELECT id FROM replays WHERE id = $1 AND lease_owner = $2 AND status = 'running' FOR UPDATE),
                  kept AS (
                    INSERT INTO replay_results (replay_id, run_id, outcome, comparison, regression)
                    SELECT id, $3, $4, $5, $6 FROM held
                    ON CONFLICT DO NOTHING RETURNING replay_id)
             UPDATE replays SET done = done + 1, cost_micros = cost_micros + $7
              WHERE id IN (SELECT replay_id FROM kept)",
        vec![
            replay.into(),
            owner.into(),
            run_id.into(),
            json!(outcome).into(),
            json!(comparison).into(),
            comparison.is_regression().into(),
            outcome.cost_micros.into(),
        ],
    ))
    .await?;
    let still: Option<bool> = scalar(
        &txn,
        stmt(
            "SELECT (lease_owner = $2 AND status = 'running') AS value FROM replays WHERE id = $1",
            vec![replay.into(), owner.into()],
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(still.unwrap_or(false))
}

/// Every result of a replay beside what production did, read inside a tenant transaction.
async fn results_in(txn: &DatabaseTransaction, replay: Uuid) -> Result<Vec<ReplayResult>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        run_id: Uuid,
        context: Value,
        production: Value,
        outcome: Value,
        comparison: Value,
    }
    Row::find_by_statement(stmt(
        "SELECT r.run_id, i.context, i.production, r.outcome, r.comparison
           FROM replay_results r
           JOIN replays p ON p.id = r.replay_id
           JOIN dataset_items i ON i.dataset_id = p.dataset_id AND i.run_id = r.run_id
          WHERE r.replay_id = $1
          ORDER BY r.regression DESC, (r.comparison->>'path_changed')::boolean DESC,
                   jsonb_array_length(r.comparison->'draft_changes') DESC, r.run_id",
        vec![replay.into()],
    ))
    .all(txn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(ReplayResult {
            run_id: r.run_id,
            event: r.context.get("event").cloned().unwrap_or(Value::Null),
            production: decode("a dataset event", r.production)?,
            outcome: decode("a replay outcome", r.outcome)?,
            comparison: decode("a replay comparison", r.comparison)?,
        })
    })
    .collect()
}

/// Closes a replay with its figures, and writes them in the change log with the version.
pub async fn finish(
    db: &DatabaseConnection,
    tenant: &Tenant,
    replay: &LeasedReplay,
    owner: &str,
) -> Result<Option<Summary>, DbErr> {
    let txn = tenant.begin(db).await?;
    let results = results_in(&txn, replay.id).await?;
    let summary = engine::replay::summarize(
        &results.iter().map(|r| (&r.production, &r.outcome, &r.comparison)).collect::<Vec<_>>(),
    );
    let closed = txn
        .execute_raw(stmt(
            "UPDATE replays SET status = 'completed', summary = $3, finished_at = now(), lease_owner = NULL, lease_until = NULL
              WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
            vec![replay.id.into(), owner.into(), json!(summary).into()],
        ))
        .await?;
    if closed.rows_affected() == 1 {
        let points = |a: Option<f64>| a.map(|a| format!("{:.0}%", a * 100.0)).unwrap_or_else(|| "n/a".into());
        crate::audit::record_change(
            &txn,
            None,
            "workflow",
            "replay.finished",
            &replay.workflow_name,
            &format!(
                "version {} replayed over {} events: agreement {} → {}, {} to a person → {}, {} regressions",
                replay.version,
                summary.events,
                points(summary.production.agreement),
                points(summary.replay.agreement),
                points(Some(summary.production.to_person)),
                points(Some(summary.replay.to_person)),
                summary.regressions
            ),
            json!({ "replay": replay.id, "version": replay.version, "summary": summary }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok((closed.rows_affected() == 1).then_some(summary))
}

/// Ends a replay that cannot go on (the budget's cap, a missing version).
pub async fn fail(
    db: &DatabaseConnection,
    tenant: &Tenant,
    replay: Uuid,
    owner: &str,
    error: &str,
) -> Result<(), DbErr> {
    let txn = tenant.begin(db).await?;
    end_in(&txn, replay, owner, ReplayStatus::Failed, Some(error)).await?;
    txn.commit().await?;
    Ok(())
}

/// How many times workers may take a replay up before it is given up.
const MAX_ATTEMPTS: i32 = 5;

async fn end_in(
    txn: &DatabaseTransaction,
    replay: Uuid,
    owner: &str,
    status: ReplayStatus,
    error: Option<&str>,
) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "UPDATE replays SET status = $3, error = $4, finished_at = now(), lease_owner = NULL, lease_until = NULL
          WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        vec![replay.into(), owner.into(), status.as_str().into(), error.map(str::to_owned).into()],
    ))
    .await?;
    Ok(())
}

/// Stops a replay that is waiting or running; what it did so far stays.
pub async fn cancel(db: &DatabaseConnection, member: &CurrentMember, replay: Uuid) -> Result<bool, DatasetError> {
    may_change(member)?;
    let txn = member.tenant.begin(db).await?;
    let workflow: Option<String> = scalar(
        &txn,
        stmt(
            "UPDATE replays SET status = 'cancelled', finished_at = now(), lease_owner = NULL, lease_until = NULL
              WHERE id = $1 AND status IN ('queued', 'running') RETURNING workflow_name AS value",
            vec![replay.into()],
        ),
    )
    .await?;
    let Some(workflow) = workflow else {
        let exists: Option<i64> =
            scalar(&txn, stmt("SELECT count(*) AS value FROM replays WHERE id = $1", vec![replay.into()])).await?;
        txn.commit().await?;
        return match exists.unwrap_or(0) {
            0 => Err(DatasetError::NotFound("the replay".into())),
            _ => Ok(false),
        };
    };
    crate::audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "replay.cancelled",
        &workflow,
        "",
        json!({ "replay": replay }),
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Replays whose job may be gone: queued longer than `stale_seconds`, or
/// running under a lapsed lease (true).
pub async fn stalled(db: &DatabaseConnection, tenant: &Tenant, stale_seconds: i64) -> Result<Vec<(Uuid, bool)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        lapsed: bool,
    }
    let txn = tenant.begin(db).await?;
    let rows = Row::find_by_statement(stmt(
        "SELECT id, status = 'running' AS lapsed FROM replays
          WHERE (status = 'queued' AND created_at < now() - make_interval(secs => $1::double precision))
             OR (status = 'running' AND (lease_until IS NULL OR lease_until < now()))",
        vec![(stale_seconds as f64).into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows.into_iter().map(|r| (r.id, r.lapsed)).collect())
}

/// A replay as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRow {
    pub id: Uuid,
    pub dataset_id: Uuid,
    pub dataset: String,
    pub workflow_name: String,
    pub version: i32,
    pub prompt_versions: BTreeMap<String, i32>,
    pub model_tier: Option<String>,
    pub status: ReplayStatus,
    pub total: i32,
    pub done: i32,
    pub cost_micros: i64,
    pub summary: Option<Summary>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(FromQueryResult)]
struct ReplayRecord {
    id: Uuid,
    dataset_id: Uuid,
    dataset: String,
    workflow_name: String,
    version: i32,
    prompt_versions: Value,
    model_tier: Option<String>,
    status: ReplayStatus,
    total: i32,
    done: i32,
    cost_micros: i64,
    summary: Option<Value>,
    error: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl ReplayRecord {
    fn row(self) -> Result<ReplayRow, DbErr> {
        Ok(ReplayRow {
            id: self.id,
            dataset_id: self.dataset_id,
            dataset: self.dataset,
            workflow_name: self.workflow_name,
            version: self.version,
            prompt_versions: decode("a replay's prompt versions", self.prompt_versions)?,
            model_tier: self.model_tier,
            status: self.status,
            total: self.total,
            done: self.done,
            cost_micros: self.cost_micros,
            summary: self.summary.map(|s| decode("a replay summary", s)).transpose()?,
            error: self.error,
            created_by: self.created_by,
            created_at: self.created_at,
            finished_at: self.finished_at,
        })
    }
}

const REPLAY_COLUMNS: &str = "SELECT p.id, p.dataset_id, d.name AS dataset, p.workflow_name, p.version, p.prompt_versions,
        p.model_tier, p.status, p.total, p.done, p.cost_micros, p.summary, p.error, p.created_by, p.created_at, p.finished_at
   FROM replays p JOIN datasets d ON d.id = p.dataset_id";

/// A workflow's replays, newest first.
pub async fn list(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
) -> Result<Vec<ReplayRow>, DatasetError> {
    may_read(member)?;
    let txn = member.tenant.begin(db).await?;
    let rows = ReplayRecord::find_by_statement(stmt(
        &format!("{REPLAY_COLUMNS} WHERE p.workflow_name = $1 ORDER BY p.created_at DESC LIMIT 50"),
        vec![workflow.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows.into_iter().map(ReplayRecord::row).collect::<Result<_, _>>()?)
}

/// What a workflow's replays page shows and offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// Every version, newest first, and the live one.
    pub versions: Vec<i32>,
    pub live_version: Option<i32>,
    /// The prompts the newest version's llm steps use: name, versions (newest first), the production one.
    pub prompts: Vec<(String, Vec<i32>, Option<i32>)>,
    pub datasets: Vec<crate::datasets::DatasetRow>,
    pub gate: PublishGate,
}

pub async fn overview(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
) -> Result<Overview, DatasetError> {
    may_read(member)?;
    let txn = member.tenant.begin(db).await?;
    #[derive(FromQueryResult)]
    struct Version {
        number: i32,
        live: bool,
        contract: Value,
    }
    let versions = Version::find_by_statement(stmt(
        "SELECT v.number, w.live_version IS NOT DISTINCT FROM v.number AS live, v.contract
           FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id WHERE w.name = $1 ORDER BY v.number DESC",
        vec![workflow.into()],
    ))
    .all(&txn)
    .await?;
    let Some(newest) = versions.first() else {
        return Err(DatasetError::NotFound(format!("workflow {workflow}")));
    };
    let contract: WorkflowContract = decode("a workflow contract", newest.contract.clone())?;
    let mut prompts = Vec::new();
    for name in contract.steps.iter().filter_map(|s| s.prompt_template.clone()) {
        if prompts.iter().any(|p: &(String, Vec<i32>, Option<i32>)| p.0 == name) {
            continue;
        }
        #[derive(FromQueryResult)]
        struct Numbers {
            numbers: Value,
            production: Option<i32>,
        }
        let found = Numbers::find_by_statement(stmt(
            "SELECT jsonb_agg(v.number ORDER BY v.number DESC) AS numbers,
                    (SELECT l.number FROM prompt_labels l WHERE l.prompt_id = p.id AND l.label = 'production') AS production
               FROM prompt_templates p JOIN prompt_versions v ON v.prompt_id = p.id WHERE p.name = $1 GROUP BY p.id",
            vec![name.clone().into()],
        ))
        .one(&txn)
        .await?;
        if let Some(found) = found {
            prompts.push((name, decode("a prompt's versions", found.numbers)?, found.production));
        }
    }
    let overview = Overview {
        live_version: versions.iter().find(|v| v.live).map(|v| v.number),
        versions: versions.iter().map(|v| v.number).collect(),
        prompts,
        datasets: crate::datasets::list_in(&txn, workflow).await?,
        gate: gate_in(&txn, workflow).await?,
    };
    txn.commit().await?;
    Ok(overview)
}

/// One event of a replay: production beside the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayResult {
    pub run_id: Uuid,
    pub event: Value,
    pub production: Production,
    pub outcome: Outcome,
    pub comparison: Comparison,
}

impl ReplayResult {
    fn mask(&mut self, keys: &[String]) {
        let source = json!({ "event": self.event.clone() });
        let mask = |v: &Value| engine::run::mask_in(v, keys, &source);
        self.production.mask_with(&mask);
        self.outcome.mask_with(&mask);
        self.comparison.mask_with(&mask);
        self.event = mask(&self.event);
    }
}

/// The keys a version of the workflow masks (its data contracts' sensitive fields).
pub(crate) async fn sensitive_keys_of(
    txn: &DatabaseTransaction,
    workflow: &str,
    version: i32,
) -> Result<Vec<String>, DbErr> {
    match crate::workflows::version_contract_in(txn, workflow, version).await? {
        Some(contract) => crate::runs::sensitive_keys_for(txn, &contract).await,
        None => Ok(vec![]),
    }
}

/// A replay with every event's comparison, regressions first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayDetail {
    pub replay: ReplayRow,
    pub results: Vec<ReplayResult>,
    /// The figures so far (the final ones once it has finished).
    pub summary: Summary,
    /// The business's currency, for the costs.
    pub currency: engine::money::Currency,
}

pub async fn detail(
    db: &DatabaseConnection,
    member: &CurrentMember,
    replay: Uuid,
) -> Result<ReplayDetail, DatasetError> {
    may_read(member)?;
    let txn = member.tenant.begin(db).await?;
    let row = ReplayRecord::find_by_statement(stmt(&format!("{REPLAY_COLUMNS} WHERE p.id = $1"), vec![replay.into()]))
        .one(&txn)
        .await?
        .ok_or_else(|| DatasetError::NotFound("the replay".into()))?
        .row()?;
    let mut results = results_in(&txn, replay).await?;
    // Drafts and events carry customers' details: masked for a role that does not see sensitive values.
    if !engine::access::sees_sensitive_values(member.role) {
        let keys = sensitive_keys_of(&txn, &row.workflow_name, row.version).await?;
        results.iter_mut().for_each(|r| r.mask(&keys));
    }
    let currency = crate::currency::currency_in(&txn).await?;
    txn.commit().await?;
    let summary = row.summary.clone().unwrap_or_else(|| {
        engine::replay::summarize(
            &results.iter().map(|r| (&r.production, &r.outcome, &r.comparison)).collect::<Vec<_>>(),
        )
    });
    Ok(ReplayDetail { replay: row, results, summary, currency })
}

/// The workflow's publish gate (the defaults when it has none).
pub async fn gate_in(txn: &DatabaseTransaction, workflow: &str) -> Result<PublishGate, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        required: bool,
        within_days: i32,
        max_agreement_drop_points: f64,
        max_cost_increase_percent: f64,
    }
    Ok(Row::find_by_statement(stmt(
        "SELECT required, within_days, max_agreement_drop_points, max_cost_increase_percent FROM publish_gates WHERE workflow_name = $1",
        vec![workflow.into()],
    ))
    .one(txn)
    .await?
    .map(|r| PublishGate {
        required: r.required,
        within_days: r.within_days.max(1) as u32,
        max_agreement_drop_points: r.max_agreement_drop_points,
        max_cost_increase_percent: r.max_cost_increase_percent,
    })
    .unwrap_or_default())
}

/// The latest finished replay of `version`, with its age.
pub async fn latest_in(
    txn: &DatabaseTransaction,
    workflow: &str,
    version: i32,
) -> Result<Option<(Uuid, LatestReplay)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        age_days: f64,
        summary: Value,
    }
    let row = Row::find_by_statement(stmt(
        "SELECT id, (extract(epoch FROM now() - finished_at) / 86400)::float8 AS age_days, summary FROM replays
          WHERE workflow_name = $1 AND version = $2 AND status = 'completed' AND summary IS NOT NULL
            -- Only a replay of the version as it would run: no other prompt versions, no other tier.
            AND prompt_versions = '{}'::jsonb AND model_tier IS NULL
          ORDER BY finished_at DESC LIMIT 1",
        vec![workflow.into(), version.into()],
    ))
    .one(txn)
    .await?;
    row.map(|r| Ok((r.id, LatestReplay { age_days: r.age_days, summary: decode("a replay summary", r.summary)? })))
        .transpose()
}

/// Sets a workflow's publish gate (owners: the gate guards what engineers publish).
pub async fn set_gate(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
    gate: &PublishGate,
) -> Result<(), DatasetError> {
    if member.role != engine::Role::Owner {
        return Err(DatasetError::Refused("Only owners set what a version needs before it is published.".into()));
    }
    if let Some((field, reason)) = gate.problems().into_iter().next() {
        return Err(DatasetError::Invalid { field, reason });
    }
    let txn = member.tenant.begin(db).await?;
    crate::datasets::workflow_exists(&txn, workflow).await?;
    txn.execute_raw(stmt(
        "INSERT INTO publish_gates (workflow_name, required, within_days, max_agreement_drop_points, max_cost_increase_percent, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (workflow_name) DO UPDATE SET required = $2, within_days = $3, max_agreement_drop_points = $4,
                max_cost_increase_percent = $5, updated_by = $6, updated_at = now()",
        vec![
            workflow.into(),
            gate.required.into(),
            (gate.within_days as i32).into(),
            gate.max_agreement_drop_points.into(),
            gate.max_cost_increase_percent.into(),
            member.email.clone().into(),
        ],
    ))
    .await?;
    crate::audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "workflow.publish_gate_set",
        workflow,
        &if gate.required {
            format!(
                "publishing needs a replay in the last {} days: agreement at most {} points lower, model cost at most {}% higher",
                gate.within_days, gate.max_agreement_drop_points, gate.max_cost_increase_percent
            )
        } else {
            "publishing needs no replay".to_owned()
        },
        json!({ "gate": gate }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// What the publish dialog shows: the gate, the latest replay of the version and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateView {
    pub gate: PublishGate,
    pub latest: Option<(Uuid, Summary, f64)>,
    pub verdict: engine::replay::GateVerdict,
}

/// The gate's verdict on publishing `version`, inside the publishing transaction.
pub async fn judge_in(txn: &DatabaseTransaction, workflow: &str, version: i32) -> Result<GateView, DbErr> {
    let gate = gate_in(txn, workflow).await?;
    let latest = latest_in(txn, workflow, version).await?;
    Ok(view_of(gate, version, latest))
}

fn view_of(gate: PublishGate, version: i32, latest: Option<(Uuid, LatestReplay)>) -> GateView {
    let verdict = gate.judge(version, latest.as_ref().map(|(_, l)| l));
    GateView { gate, latest: latest.map(|(id, l)| (id, l.summary, l.age_days)), verdict }
}

/// The gate's verdict on each of `versions`, for the workflow page, in one transaction.
pub async fn judge(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
    versions: &[i32],
) -> Result<Vec<(i32, GateView)>, DatasetError> {
    may_read(member)?;
    let txn = member.tenant.begin(db).await?;
    let gate = gate_in(&txn, workflow).await?;
    let mut views = Vec::with_capacity(versions.len());
    for &version in versions {
        let latest = latest_in(&txn, workflow, version).await?;
        views.push((version, view_of(gate.clone(), version, latest)));
    }
    txn.commit().await?;
    Ok(views)
}
