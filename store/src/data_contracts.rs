//! A business's data contracts, one per business object it uses.

use crate::db::stmt;
use crate::{audit, auth::CurrentMember};
use engine::data_contract::{DataContract, Violation};
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum DataContractError {
    #[error("{0}")]
    Invalid(String),
    #[error("there is no data contract named {0}")]
    NotFound(String),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct ContractRow {
    pub name: String,
    pub document: Value,
    pub updated_at: DateTimeUtc,
}

pub async fn list(db: &DatabaseConnection, member: &CurrentMember) -> Result<Vec<ContractRow>, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let rows = ContractRow::find_by_statement(stmt(
        "SELECT name, document, updated_at FROM data_contracts ORDER BY name",
        vec![],
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

pub async fn get(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
) -> Result<ContractRow, DataContractError> {
    let txn = member.tenant.begin(db).await?;
    let row = ContractRow::find_by_statement(stmt(
        "SELECT name, document, updated_at FROM data_contracts WHERE name = $1",
        vec![name.into()],
    ))
    .one(&txn)
    .await?
    .ok_or_else(|| DataContractError::NotFound(name.to_owned()))?;
    txn.commit().await?;
    Ok(row)
}

/// The business's data contract `name`, inside its transaction. A stored
/// contract that no longer parses is an error.
pub async fn find_in(txn: &DatabaseTransaction, name: &str) -> Result<Option<DataContract>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        document: Value,
    }
    let Some(row) =
        Row::find_by_statement(stmt("SELECT document FROM data_contracts WHERE name = $1", vec![name.into()]))
            .one(txn)
            .await?
    else {
        return Ok(None);
    };
    DataContract::from_json(&row.document)
        .map(Some)
        .map_err(|e| DbErr::Type(format!("the data contract {name} does not parse: {e}")))
}

/// The sensitive keys of every data contract of the business (what a
/// record of unknown workflow shape is masked with).
pub async fn all_sensitive_keys(txn: &DatabaseTransaction) -> Result<Vec<String>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        document: Value,
    }
    let rows = Row::find_by_statement(stmt("SELECT document FROM data_contracts", vec![])).all(txn).await?;
    let mut keys: Vec<String> = rows
        .iter()
        .filter_map(|r| DataContract::from_json(&r.document).ok())
        .flat_map(|dc| dc.sensitive_keys())
        .collect();
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// The business's data contract `name`, in a transaction of its own.
pub async fn find(db: &DatabaseConnection, tenant: &crate::Tenant, name: &str) -> Result<Option<DataContract>, DbErr> {
    let txn = tenant.begin(db).await?;
    let found = find_in(&txn, name).await?;
    txn.commit().await?;
    Ok(found)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Creates or replaces a data contract after checking it parses; records why.
pub async fn save(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    document: &Value,
    why: &str,
) -> Result<(), DataContractError> {
    if !valid_name(name) {
        return Err(DataContractError::Invalid("Name it with lowercase letters, digits, '-' or '_'.".into()));
    }
    if why.trim().is_empty() {
        return Err(DataContractError::Invalid("Say why you made this change; the change log keeps it.".into()));
    }
    let txn = member.tenant.begin(db).await?;
    save_in(&txn, member, name, document, why).await?;
    txn.commit().await?;
    Ok(())
}

/// `save` inside the caller's tenant transaction.
pub async fn save_in(
    txn: &DatabaseTransaction,
    member: &CurrentMember,
    name: &str,
    document: &Value,
    why: &str,
) -> Result<(), DataContractError> {
    if !valid_name(name) {
        return Err(DataContractError::Invalid("Name it with lowercase letters, digits, '-' or '_'.".into()));
    }
    DataContract::from_json(document)
        .map_err(|e| DataContractError::Invalid(format!("The contract does not parse: {e}")))?;
    txn.execute_raw(stmt(
        "INSERT INTO data_contracts (name, document) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET document = excluded.document, updated_at = now()",
        vec![name.into(), document.clone().into()],
    ))
    .await?;
    audit::record_change(txn, Some(member), "data_contract", "data_contract.saved", name, why.trim(), json!({}))
        .await?;
    Ok(())
}

/// Runs a record through a stored contract: the normalised record, or every broken rule.
pub async fn test_record(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    record: &Value,
) -> Result<Result<Value, Vec<Violation>>, DataContractError> {
    let row = get(db, member, name).await?;
    let contract = DataContract::from_json(&row.document).map_err(DataContractError::Invalid)?;
    Ok(contract.apply(record, chrono::Utc::now()))
}
