//! Workflows as immutable numbered versions: save (with a reason), approve
//! (four eyes), publish, roll back. Exactly one version is live.

use crate::db::{decode, scalar, scalars, stmt};
use crate::tenant::Tenant;
use crate::{audit, auth::CurrentMember};
use engine::workflow::{Catalog, ContractIssue, WorkflowContract};
use engine::Role;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, DbBackend, FromQueryResult, Statement};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("the contract has problems")]
    Invalid(Vec<ContractIssue>),
    #[error("{0}")]
    Refused(String),
    #[error("there is no such workflow or version")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// What contracts of this business may refer to.
pub async fn catalog(txn: &DatabaseTransaction, tenant: &Tenant) -> Result<Catalog, DbErr> {
    let names = |sql: &'static str| async move {
        scalars::<String, _>(txn, stmt(sql, vec![])).await.map(|names| names.into_iter().collect())
    };
    let domains: Vec<String> = scalars(
        txn,
        stmt(
            "SELECT DISTINCT split_part(u.email, '@', 2) AS value FROM public.memberships m JOIN public.users u ON u.id = m.user_id
              WHERE m.tenant_id = $1",
            vec![tenant.id().into()],
        ),
    )
    .await?;
    let members: Vec<String> = scalars(
        txn,
        stmt(
            "SELECT lower(u.email) AS value FROM public.memberships m JOIN public.users u ON u.id = m.user_id WHERE m.tenant_id = $1",
            vec![tenant.id().into()],
        ),
    )
    .await?;
    Ok(Catalog {
        members: members.into_iter().collect(),
        prompts: names("SELECT name AS value FROM prompt_templates").await?,
        data_contracts: names("SELECT name AS value FROM data_contracts").await?,
        secrets: names("SELECT name AS value FROM secrets").await?,
        internal_domains: domains,
    })
}

/// The business's catalog, in a transaction of its own.
pub async fn catalog_of(db: &DatabaseConnection, tenant: &Tenant) -> Result<Catalog, DbErr> {
    let txn = tenant.begin(db).await?;
    let catalog = catalog(&txn, tenant).await?;
    txn.commit().await?;
    Ok(catalog)
}

/// Checks a contract against this business's catalog without saving it.
pub async fn check(db: &DatabaseConnection, member: &CurrentMember, yaml: &str) -> Result<Vec<ContractIssue>, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let catalog = catalog(&txn, &member.tenant).await?;
    txn.commit().await?;
    Ok(WorkflowContract::parse(yaml, &catalog).err().unwrap_or_default())
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct WorkflowRow {
    pub name: String,
    pub owner_email: Option<String>,
    pub backup_owner_email: Option<String>,
    pub escalation_contact: String,
    pub live_version: Option<i32>,
    pub latest_version: i32,
    pub updated_at: DateTimeUtc,
}

const WORKFLOW_ROWS: &str = r#"
SELECT w.name, o.email AS owner_email, b.email AS backup_owner_email, w.escalation_contact, w.live_version,
       max(v.number) AS latest_version, max(v.created_at) AS updated_at
  FROM workflows w
  JOIN workflow_versions v ON v.workflow_id = w.id
  LEFT JOIN public.users o ON o.id = w.owner_user_id
  LEFT JOIN public.users b ON b.id = w.backup_owner_user_id
"#;

pub async fn list(db: &DatabaseConnection, member: &CurrentMember) -> Result<Vec<WorkflowRow>, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let sql = format!("{WORKFLOW_ROWS} GROUP BY w.id, o.email, b.email ORDER BY w.name");
    let rows = WorkflowRow::find_by_statement(Statement::from_string(DbBackend::Postgres, sql)).all(&txn).await?;
    txn.commit().await?;
    Ok(rows)
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct VersionRow {
    pub number: i32,
    pub change_note: String,
    pub author_email: String,
    pub created_at: DateTimeUtc,
    pub requires_four_eyes: bool,
    pub approved_by_email: Option<String>,
    pub first_published_at: Option<DateTimeUtc>,
}

#[derive(Debug, Clone)]
pub struct WorkflowDetail {
    pub workflow: WorkflowRow,
    pub versions: Vec<VersionRow>,
}

pub async fn detail(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
) -> Result<WorkflowDetail, WorkflowError> {
    let txn = member.tenant.begin(db).await?;
    let sql = format!("{WORKFLOW_ROWS} WHERE w.name = $1 GROUP BY w.id, o.email, b.email");
    let workflow = WorkflowRow::find_by_statement(stmt(&sql, vec![name.into()]))
        .one(&txn)
        .await?
        .ok_or(WorkflowError::NotFound)?;
    let versions = VersionRow::find_by_statement(stmt(
        "SELECT v.number, v.change_note, v.author_email, v.created_at, v.requires_four_eyes, v.approved_by_email, v.first_published_at
           FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id WHERE w.name = $1 ORDER BY v.number DESC",
        vec![name.into()],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(WorkflowDetail { workflow, versions })
}

pub async fn version_yaml(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    number: i32,
) -> Result<String, WorkflowError> {
    let txn = member.tenant.begin(db).await?;
    let yaml: String = scalar(
        &txn,
        stmt(
            "SELECT v.yaml AS value FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id WHERE w.name = $1 AND v.number = $2",
            vec![name.into(), number.into()],
        ),
    )
    .await?
    .ok_or(WorkflowError::NotFound)?;
    txn.commit().await?;
    Ok(yaml)
}

/// Saves a new immutable version (a draft) of the workflow the contract
/// names, creating the workflow on its first save. Returns (name, number).
pub async fn save_version(
    db: &DatabaseConnection,
    member: &CurrentMember,
    yaml: &str,
    note: &str,
) -> Result<(String, i32), WorkflowError> {
    let txn = member.tenant.begin(db).await?;
    let catalog = catalog(&txn, &member.tenant).await?;
    let saved = save_version_in(&txn, member, yaml, note, &catalog).await?;
    txn.commit().await?;
    Ok(saved)
}

/// `save_version` inside the caller's tenant transaction, checking
/// references against `catalog` (a bundle import adds its own prompts to it).
pub async fn save_version_in(
    txn: &DatabaseTransaction,
    member: &CurrentMember,
    yaml: &str,
    note: &str,
    catalog: &Catalog,
) -> Result<(String, i32), WorkflowError> {
    if note.trim().is_empty() {
        return Err(WorkflowError::Refused("Say why you made this change; the change log keeps it.".into()));
    }
    let contract = WorkflowContract::parse(yaml, catalog).map_err(WorkflowError::Invalid)?;
    txn.execute_raw(stmt(
        "INSERT INTO workflows (id, name, owner_user_id) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        vec![Uuid::new_v4().into(), contract.workflow.clone().into(), member.user_id.into()],
    ))
    .await?;
    // Lock the workflow so two saves cannot take the same number.
    let workflow_id: Uuid = scalar(
        txn,
        stmt("SELECT id AS value FROM workflows WHERE name = $1 FOR UPDATE", vec![contract.workflow.clone().into()]),
    )
    .await?
    .ok_or(WorkflowError::NotFound)?;
    let number: i32 = scalar(
        txn,
        stmt(
            "SELECT coalesce(max(number), 0) + 1 AS value FROM workflow_versions WHERE workflow_id = $1",
            vec![workflow_id.into()],
        ),
    )
    .await?
    .ok_or(WorkflowError::NotFound)?;
    txn.execute_raw(stmt(
        "INSERT INTO workflow_versions (workflow_id, number, yaml, contract, change_note, author_user_id, author_email, requires_four_eyes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            workflow_id.into(),
            number.into(),
            yaml.into(),
            json!(contract).into(),
            note.trim().into(),
            member.user_id.into(),
            member.email.clone().into(),
            contract.requires_four_eyes(catalog).into(),
        ],
    ))
    .await?;
    audit::record_change(
        txn,
        Some(member),
        "workflow",
        "workflow.version_saved",
        &contract.workflow,
        note.trim(),
        json!({ "version": number }),
    )
    .await?;
    Ok((contract.workflow, number))
}

#[derive(FromQueryResult)]
struct VersionState {
    workflow_id: Uuid,
    author_user_id: Uuid,
    requires_four_eyes: bool,
    approved: bool,
    ever_published: bool,
}

async fn version_state(txn: &DatabaseTransaction, name: &str, number: i32) -> Result<VersionState, WorkflowError> {
    VersionState::find_by_statement(stmt(
        "SELECT w.id AS workflow_id, v.author_user_id, v.requires_four_eyes, v.approved_at IS NOT NULL AS approved,
                v.first_published_at IS NOT NULL AS ever_published
           FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
          WHERE w.name = $1 AND v.number = $2 FOR UPDATE OF w",
        vec![name.into(), number.into()],
    ))
    .one(txn)
    .await?
    .ok_or(WorkflowError::NotFound)
}

/// A second engineer or owner approves this exact version for publishing.
pub async fn approve(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    number: i32,
    note: &str,
) -> Result<(), WorkflowError> {
    if !matches!(member.role, Role::Engineer | Role::Owner) {
        return Err(WorkflowError::Refused("Only an engineer or an owner can approve a version.".into()));
    }
    let txn = member.tenant.begin(db).await?;
    let state = version_state(&txn, name, number).await?;
    if state.author_user_id == member.user_id {
        return Err(WorkflowError::Refused("You wrote this version; a second person must approve it.".into()));
    }
    txn.execute_raw(stmt(
        "UPDATE workflow_versions SET approved_by_email = $1, approved_at = now() WHERE workflow_id = $2 AND number = $3",
        vec![member.email.clone().into(), state.workflow_id.into(), number.into()],
    ))
    .await?;
    audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "workflow.version_approved",
        name,
        note,
        json!({ "version": number }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Makes a version the live one. A rollback publishes an earlier version
/// that was live before; either is recorded in the change log. A four-eyes
/// version without a second approver publishes only in a declared one-person
/// business, with `without_second_approver` as the publisher's reason.
pub async fn publish(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    number: i32,
    why: &str,
    without_second_approver: Option<&str>,
) -> Result<(), WorkflowError> {
    let txn = member.tenant.begin(db).await?;
    let state = version_state(&txn, name, number).await?;
    let rollback = state.ever_published;
    let may = match member.role {
        Role::Engineer | Role::Owner => true,
        Role::Operations => rollback,
        _ => false,
    };
    if !may {
        return Err(WorkflowError::Refused("Your role cannot publish this version.".into()));
    }
    let mut waiver = None;
    if state.requires_four_eyes && !state.approved {
        let solo_reason = without_second_approver.map(str::trim).filter(|r| !r.is_empty());
        match (crate::one_person::declaration_in(&txn).await?, solo_reason) {
            (Some(_), Some(reason)) => waiver = Some(reason.to_string()),
            (Some(_), None) => {
                return Err(WorkflowError::Refused(
                    "This version needs a second approver. In a one-person business, confirm that you publish it without one and say why.".into(),
                ))
            }
            (None, _) => {
                return Err(WorkflowError::Refused(
                    "This version emails outside the business or writes financial records: a second engineer or owner must approve it before it is published. Invite a second approver, or (owners) declare a one-person business in Settings.".into(),
                ))
            }
        }
    }
    // The publish gate: a recent, good replay of this version (a version that was live before is restored without one).
    let gate = crate::replays::judge_in(&txn, name, number).await?;
    if let (false, engine::replay::GateVerdict::Blocked(reasons)) = (rollback, &gate.verdict) {
        return Err(WorkflowError::Refused(reasons.join(" ")));
    }
    let previous: Option<i32> = scalar::<Option<i32>, _>(
        &txn,
        stmt("SELECT live_version AS value FROM workflows WHERE id = $1", vec![state.workflow_id.into()]),
    )
    .await?
    .flatten();
    txn.execute_raw(stmt(
        "UPDATE workflows SET live_version = $1 WHERE id = $2",
        vec![number.into(), state.workflow_id.into()],
    ))
    .await?;
    txn.execute_raw(stmt(
        "UPDATE workflow_versions SET first_published_at = coalesce(first_published_at, now()) WHERE workflow_id = $1 AND number = $2",
        vec![state.workflow_id.into(), number.into()],
    ))
    .await?;
    let action =
        if rollback && previous.is_some_and(|p| p > number) { "workflow.rolled_back" } else { "workflow.published" };
    let why = match &waiver {
        Some(reason) => format!("{why} without a second approver (one-person business): {reason}"),
        None => why.to_string(),
    };
    audit::record_change(
        &txn,
        Some(member),
        "workflow",
        action,
        name,
        &why,
        json!({
            "version": number,
            "previous": previous,
            "without_second_approver": waiver,
            "replay": gate.latest.as_ref().map(|(id, summary, _)| json!({ "id": id, "summary": summary })),
            "gate": gate.verdict,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Sets who owns a workflow, who backs them up, and whom to escalate to.
/// Owners must be members of the business; the escalation contact is an
/// email or a role (`role:operations`).
pub async fn set_owners(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    owner_email: &str,
    backup_email: &str,
    escalation_contact: &str,
) -> Result<(), WorkflowError> {
    let txn = member.tenant.begin(db).await?;
    let member_id = |email: String| {
        let txn = &txn;
        async move {
            if email.trim().is_empty() {
                return Ok::<_, WorkflowError>(None);
            }
            scalar::<Uuid, _>(
                txn,
                stmt(
                    "SELECT u.id AS value FROM public.users u JOIN public.memberships m ON m.user_id = u.id
                      WHERE m.tenant_id = $1 AND u.email = $2",
                    vec![member.tenant.id().into(), email.trim().to_lowercase().into()],
                ),
            )
            .await?
            .map(Some)
            .ok_or_else(|| WorkflowError::Refused(format!("{} is not a member of this business.", email.trim())))
        }
    };
    let owner = member_id(owner_email.to_owned()).await?;
    let backup = member_id(backup_email.to_owned()).await?;
    if owner.is_some() && owner == backup {
        return Err(WorkflowError::Refused("The backup owner must be someone other than the owner.".into()));
    }
    let updated = txn
        .execute_raw(stmt(
            "UPDATE workflows SET owner_user_id = $1, backup_owner_user_id = $2, escalation_contact = $3 WHERE name = $4",
            vec![owner.into(), backup.into(), escalation_contact.trim().into(), name.into()],
        ))
        .await?;
    if updated.rows_affected() == 0 {
        return Err(WorkflowError::NotFound);
    }
    audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "workflow.owners_changed",
        name,
        &format!("owner {owner_email}, backup {backup_email}, escalation {escalation_contact}"),
        json!({ "owner": owner_email, "backup_owner": backup_email, "escalation_contact": escalation_contact }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The contract of a version of a workflow, if it has that version.
pub(crate) async fn version_contract_in(
    txn: &DatabaseTransaction,
    workflow: &str,
    version: i32,
) -> Result<Option<WorkflowContract>, DbErr> {
    let contract: Option<serde_json::Value> = scalar(
        txn,
        stmt(
            "SELECT v.contract AS value FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
              WHERE w.name = $1 AND v.number = $2",
            vec![workflow.into(), version.into()],
        ),
    )
    .await?;
    contract.map(|c| decode("a workflow contract", c)).transpose()
}
