//! Datasets: past events of a workflow kept with what production did with
//! them (the draft, the path, the confidence, the reviewer's final answer,
//! the model cost), to replay a new version over. Picked by a filter over a
//! date range or added one run at a time. Engineers and owners make them;
//! operations read them.

use crate::auth::CurrentMember;
use crate::db::{decode, scalar, stmt};
use chrono::{DateTime, Utc};
use engine::replay::{DatasetPick, Outcome, Path, Production, ReviewerAnswer};
use engine::review::{Decision, ReviewReason};
use engine::workflow::{StepKind, WorkflowContract};
use engine::{Page, Role};
use sea_orm::{prelude::*, ConnectionTrait, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The most events one dataset holds.
pub const MAX_ITEMS: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0}")]
    Refused(String),
    #[error("{0} was not found")]
    NotFound(String),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Engineers and owners change datasets and start replays.
pub fn may_change(member: &CurrentMember) -> Result<(), DatasetError> {
    match member.role {
        Role::Owner | Role::Engineer => Ok(()),
        _ => Err(DatasetError::Refused("Only engineers and owners change datasets and replays.".into())),
    }
}

/// Whoever may open the workflows reads datasets and replays.
pub fn may_read(member: &CurrentMember) -> Result<(), DatasetError> {
    if member.may_open(Page::Workflows) {
        Ok(())
    } else {
        Err(DatasetError::Refused("Your role does not see workflows, their datasets or replays.".into()))
    }
}

/// Which past runs make a new dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    pub how: DatasetPick,
    /// Runs created from this time on (inclusive), and before `to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// At most this many runs (the sample's size), newest first.
    pub size: u32,
}

/// A dataset as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, FromQueryResult)]
pub struct DatasetRow {
    pub id: Uuid,
    pub workflow_name: String,
    pub name: String,
    pub picked: Value,
    pub items: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One event of a dataset as its page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub run_id: Uuid,
    pub context: Value,
    pub production: Production,
    pub added_at: DateTime<Utc>,
}

fn name_of(name: &str) -> Result<String, DatasetError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(DatasetError::Invalid {
            field: "name",
            reason: "give the dataset a name of 1 to 80 characters".into(),
        });
    }
    Ok(name.to_owned())
}

/// Makes a dataset of `workflow`'s past runs picked by `pick`; returns its id and how many events it holds.
pub async fn create(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
    name: &str,
    pick: &Pick,
) -> Result<(Uuid, u64), DatasetError> {
    may_change(member)?;
    let name = name_of(name)?;
    if pick.size == 0 || pick.size > MAX_ITEMS {
        return Err(DatasetError::Invalid { field: "size", reason: format!("pick between 1 and {MAX_ITEMS} events") });
    }
    if let (Some(from), Some(to)) = (pick.from, pick.to) {
        if from >= to {
            return Err(DatasetError::Invalid {
                field: "to",
                reason: "the end of the range must come after its start".into(),
            });
        }
    }
    let txn = member.tenant.begin(db).await?;
    workflow_exists(&txn, workflow).await?;
    let id = Uuid::new_v4();
    let inserted = txn
        .execute_raw(stmt(
            "INSERT INTO datasets (id, workflow_name, name, picked, created_by) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (workflow_name, name) DO NOTHING",
            vec![id.into(), workflow.into(), name.clone().into(), json!(pick).into(), member.email.clone().into()],
        ))
        .await?;
    if inserted.rows_affected() == 0 {
        return Err(DatasetError::Invalid {
            field: "name",
            reason: format!("{workflow} already has a dataset named {name}"),
        });
    }
    let filter = match pick.how {
        DatasetPick::Overridden => {
            "EXISTS (SELECT 1 FROM review_tasks t WHERE t.run_id = r.id AND t.decision IN ('edit_and_approve', 'reject'))"
        }
        DatasetPick::Reviewed => "EXISTS (SELECT 1 FROM review_tasks t WHERE t.run_id = r.id AND t.status = 'decided')",
        DatasetPick::Failed => "r.status = 'failed'",
        DatasetPick::All | DatasetPick::Sample => "r.status IN ('completed', 'failed', 'waiting_for_review')",
    };
    let order = if pick.how == DatasetPick::Sample { "random()" } else { "r.created_at DESC" };
    let runs: Vec<Uuid> = crate::db::scalars(
        &txn,
        stmt(
            &format!(
                "SELECT r.id AS value FROM runs r
                  WHERE r.workflow_name = $1 AND r.context ? 'event'
                    AND ($2::timestamptz IS NULL OR r.created_at >= $2) AND ($3::timestamptz IS NULL OR r.created_at < $3)
                    AND {filter}
                  ORDER BY {order} LIMIT $4"
            ),
            vec![workflow.into(), pick.from.into(), pick.to.into(), (pick.size as i64).into()],
        ),
    )
    .await?;
    let added = add_in(&txn, member, id, workflow, &runs).await?;
    crate::audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "dataset.created",
        &format!("{workflow}/{name}"),
        &format!("{added} past events picked: {}", pick.how.as_str().replace('_', " ")),
        json!({ "pick": pick }),
    )
    .await?;
    txn.commit().await?;
    Ok((id, added))
}

pub(crate) async fn workflow_exists(txn: &DatabaseTransaction, workflow: &str) -> Result<(), DatasetError> {
    let found: Option<i64> =
        scalar(txn, stmt("SELECT count(*) AS value FROM workflows WHERE name = $1", vec![workflow.into()])).await?;
    if found.unwrap_or(0) == 0 {
        return Err(DatasetError::NotFound(format!("workflow {workflow}")));
    }
    Ok(())
}

/// Adds one past run to a dataset of its workflow (again: nothing changes).
pub async fn add_run(
    db: &DatabaseConnection,
    member: &CurrentMember,
    dataset: Uuid,
    run_id: Uuid,
) -> Result<bool, DatasetError> {
    may_change(member)?;
    let txn = member.tenant.begin(db).await?;
    let workflow: String = scalar(
        &txn,
        stmt("SELECT workflow_name AS value FROM datasets WHERE id = $1 FOR UPDATE", vec![dataset.into()]),
    )
    .await?
    .ok_or_else(|| DatasetError::NotFound("the dataset".into()))?;
    let count: i64 =
        scalar(&txn, stmt("SELECT count(*) AS value FROM dataset_items WHERE dataset_id = $1", vec![dataset.into()]))
            .await?
            .unwrap_or(0);
    // A run whose record retention removed has nothing left to replay.
    let run_workflow: Option<String> = scalar(
        &txn,
        stmt("SELECT workflow_name AS value FROM runs WHERE id = $1 AND context ? 'event'", vec![run_id.into()]),
    )
    .await?;
    match run_workflow {
        None => return Err(DatasetError::NotFound("the run".into())),
        Some(w) if w != workflow => {
            return Err(DatasetError::Invalid {
                field: "run_id",
                reason: format!("the run belongs to {w}; this dataset is for {workflow}"),
            })
        }
        Some(_) => {}
    }
    if count >= MAX_ITEMS as i64 {
        return Err(DatasetError::Invalid {
            field: "dataset",
            reason: format!("a dataset holds at most {MAX_ITEMS} events"),
        });
    }
    let added = add_in(&txn, member, dataset, &workflow, &[run_id]).await? == 1;
    txn.commit().await?;
    Ok(added)
}

/// Keeps each run (its starting context, what production did, the api answers) in the dataset.
async fn add_in(
    txn: &DatabaseTransaction,
    member: &CurrentMember,
    dataset: Uuid,
    workflow: &str,
    runs: &[Uuid],
) -> Result<u64, DbErr> {
    let mut added = 0;
    for past in past_runs(txn, workflow, runs).await? {
        let (context, production, answers) = past.kept()?;
        let res = txn
            .execute_raw(stmt(
                "INSERT INTO dataset_items (dataset_id, run_id, context, production, answers, added_by)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                vec![
                    dataset.into(),
                    past.id.into(),
                    context.into(),
                    json!(production).into(),
                    answers.into(),
                    member.email.clone().into(),
                ],
            ))
            .await?;
        added += res.rows_affected();
    }
    Ok(added)
}

/// A past run as the dataset keeps it.
#[derive(FromQueryResult)]
struct PastRun {
    id: Uuid,
    status: String,
    context: Value,
    error: Option<String>,
    tokens: i64,
    contract: Value,
    steps: Value,
    tasks: Value,
}

async fn past_runs(txn: &DatabaseTransaction, workflow: &str, ids: &[Uuid]) -> Result<Vec<PastRun>, DbErr> {
    PastRun::find_by_statement(stmt(
        "SELECT r.id, r.status, r.context, r.error, (r.tokens_in + r.tokens_out)::bigint AS tokens, v.contract,
                coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'id', s.step_id, 'kind', s.kind, 'status', s.status, 'cost', s.cost_micros,
                            'ms', (extract(epoch FROM s.finished_at - s.started_at) * 1000)::bigint) ORDER BY s.step_index)
                            FROM run_steps s WHERE s.run_id = r.id), '[]') AS steps,
                coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'reason', t.reason, 'draft', t.draft, 'output_name', t.output_name, 'status', t.status,
                            'decision', t.decision, 'edited_output', t.edited_output, 'reason_code', t.reason_code)
                            ORDER BY t.created_at)
                            FROM review_tasks t WHERE t.run_id = r.id), '[]') AS tasks
           FROM runs r JOIN workflow_versions v ON v.workflow_id = r.workflow_id AND v.number = r.workflow_version
          WHERE r.id IN (SELECT jsonb_array_elements_text($1)::uuid) AND r.workflow_name = $2
          ORDER BY r.created_at DESC",
        vec![json!(ids).into(), workflow.into()],
    ))
    .all(txn)
    .await
}

#[derive(Deserialize)]
struct PastStep {
    kind: String,
    status: String,
    cost: i64,
    ms: Option<i64>,
}

#[derive(Deserialize)]
struct PastTask {
    reason: ReviewReason,
    draft: Option<Value>,
    output_name: Option<String>,
    status: String,
    decision: Option<Decision>,
    edited_output: Option<Value>,
    reason_code: Option<String>,
}

/// The parts of a run's context that were there before its first step.
pub const STARTING_KEYS: [&str; 3] = ["event", "trigger", "steward"];

impl PastRun {
    /// (starting context, production, api answers by step id).
    fn kept(&self) -> Result<(Value, Production, Value), DbErr> {
        let contract: WorkflowContract = decode("the run's contract", self.contract.clone())?;
        let steps: Vec<PastStep> = decode("the run's steps", self.steps.clone())?;
        let tasks: Vec<PastTask> = decode("the run's review tasks", self.tasks.clone())?;
        let starting: serde_json::Map<String, Value> =
            STARTING_KEYS.iter().filter_map(|k| self.context.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
        let produced = |name: &Option<String>| name.as_ref().and_then(|n| self.context.get(n)).cloned();
        // The draft as the model wrote it: a task keeps it even when an edit replaced it in the context.
        let drafted = tasks.iter().find(|t| t.draft.is_some());
        let last_llm = contract.steps.iter().rev().find(|s| s.kind == StepKind::Llm && produced(&s.output).is_some());
        let (draft, output_name) = match (drafted, last_llm) {
            (Some(t), _) => (t.draft.clone(), t.output_name.clone()),
            (None, Some(step)) => (produced(&step.output), step.output.clone()),
            (None, None) => (None, None),
        };
        let confidence_field = last_llm.and_then(|s| s.confidence_field.as_deref()).unwrap_or("confidence");
        let routes = contract
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::Rules)
            .filter_map(|s| Some((s.output.clone()?, produced(&s.output)?)))
            .collect();
        let answers: serde_json::Map<String, Value> = contract
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::ApiCall)
            .filter_map(|s| Some((s.id.clone(), produced(&s.output)?)))
            .collect();
        let computing = |kind: &str| matches!(kind, "function" | "rules" | "llm");
        let answer =
            tasks.iter().find(|t| t.status == "decided" && t.draft.is_some()).and_then(|t| match t.decision? {
                Decision::Approve => Some(ReviewerAnswer::Approved),
                Decision::EditAndApprove => {
                    Some(ReviewerAnswer::Edited { output: t.edited_output.clone().unwrap_or(Value::Null) })
                }
                Decision::Reject => Some(ReviewerAnswer::Rejected { reason_code: t.reason_code.clone() }),
            });
        let production = Production {
            outcome: Outcome {
                confidence: draft.as_ref().and_then(|d| engine::run::confidence(d, confidence_field)),
                draft,
                output_name,
                path: Path { person: !tasks.is_empty(), reason: tasks.first().map(|t| t.reason), routes },
                cost_micros: steps.iter().map(|s| s.cost).sum(),
                tokens: self.tokens,
                latency_ms: steps
                    .iter()
                    .filter(|s| computing(&s.kind) && s.status == "completed")
                    .filter_map(|s| s.ms)
                    .sum(),
                error: (self.status == "failed").then(|| self.error.clone().unwrap_or_else(|| "the run failed".into())),
            },
            answer,
        };
        Ok((Value::Object(starting), production, Value::Object(answers)))
    }
}

/// A workflow's datasets, newest first.
pub async fn list(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
) -> Result<Vec<DatasetRow>, DatasetError> {
    may_read(member)?;
    let txn = member.tenant.begin(db).await?;
    let rows = list_in(&txn, workflow).await?;
    txn.commit().await?;
    Ok(rows)
}

pub async fn list_in(txn: &DatabaseTransaction, workflow: &str) -> Result<Vec<DatasetRow>, DbErr> {
    DatasetRow::find_by_statement(stmt(
        "SELECT d.id, d.workflow_name, d.name, d.picked, d.created_by, d.created_at,
                (SELECT count(*) FROM dataset_items i WHERE i.dataset_id = d.id) AS items
           FROM datasets d WHERE d.workflow_name = $1 ORDER BY d.created_at DESC",
        vec![workflow.into()],
    ))
    .all(txn)
    .await
}

/// The datasets a run could join: its workflow's (None: no such run here).
pub async fn for_run(
    db: &DatabaseConnection,
    member: &CurrentMember,
    run_id: Uuid,
) -> Result<Option<Vec<DatasetRow>>, DatasetError> {
    may_read(member)?;
    let txn = member.tenant.begin(db).await?;
    let workflow: Option<String> =
        scalar(&txn, stmt("SELECT workflow_name AS value FROM runs WHERE id = $1", vec![run_id.into()])).await?;
    let rows = match workflow {
        Some(w) => Some(list_in(&txn, &w).await?),
        None => None,
    };
    txn.commit().await?;
    Ok(rows)
}

/// A dataset's events with what production did, newest first.
pub async fn items(db: &DatabaseConnection, member: &CurrentMember, dataset: Uuid) -> Result<Vec<Item>, DatasetError> {
    may_read(member)?;
    let txn = member.tenant.begin(db).await?;
    let mut rows = items_in(&txn, dataset).await?;
    // Events and drafts carry customers' details: masked for a role that does not see sensitive values.
    if !engine::access::sees_sensitive_values(member.role) {
        let workflow: Option<(String, i32)> = {
            #[derive(FromQueryResult)]
            struct Of {
                name: String,
                version: i32,
            }
            Of::find_by_statement(stmt(
                "SELECT w.name, coalesce(w.live_version, (SELECT max(number) FROM workflow_versions v WHERE v.workflow_id = w.id)) AS version
                   FROM datasets d JOIN workflows w ON w.name = d.workflow_name WHERE d.id = $1",
                vec![dataset.into()],
            ))
            .one(&txn)
            .await?
            .map(|o| (o.name, o.version))
        };
        let keys = match workflow {
            Some((name, version)) => crate::replays::sensitive_keys_of(&txn, &name, version).await?,
            None => vec![],
        };
        for item in &mut rows {
            let source = item.context.clone();
            let mask = |v: &Value| engine::run::mask_in(v, &keys, &source);
            item.production.mask_with(&mask);
            item.context = mask(&item.context);
        }
    }
    txn.commit().await?;
    Ok(rows)
}

/// A dataset's events inside a tenant transaction.
pub async fn items_in(txn: &DatabaseTransaction, dataset: Uuid) -> Result<Vec<Item>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        run_id: Uuid,
        context: Value,
        production: Value,
        added_at: DateTime<Utc>,
    }
    Row::find_by_statement(stmt(
        "SELECT run_id, context, production, added_at FROM dataset_items WHERE dataset_id = $1 ORDER BY added_at DESC, run_id",
        vec![dataset.into()],
    ))
    .all(txn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Item { run_id: r.run_id, context: r.context, production: decode("a dataset event", r.production)?, added_at: r.added_at })
    })
    .collect()
}

/// Deletes a dataset with its replays.
pub async fn delete(db: &DatabaseConnection, member: &CurrentMember, dataset: Uuid) -> Result<(), DatasetError> {
    may_change(member)?;
    let txn = member.tenant.begin(db).await?;
    let name: Option<String> = scalar(
        &txn,
        stmt(
            "DELETE FROM datasets WHERE id = $1 RETURNING workflow_name || '/' || name AS value",
            vec![dataset.into()],
        ),
    )
    .await?;
    let name = name.ok_or_else(|| DatasetError::NotFound("the dataset".into()))?;
    crate::audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "dataset.deleted",
        &name,
        "deleted with its replays",
        json!({}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
