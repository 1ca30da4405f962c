//! The currency a business keeps its figures in: read inside its own
//! transactions (like its time zone), chosen by an owner in Settings and
//! kept in the audit log. Amounts are never converted; only how they read changes.

use crate::{audit, auth::CurrentMember, db::stmt, tenant::Tenant};
use engine::money::Currency;
use engine::Role;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, FromQueryResult};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum CurrencyError {
    #[error("{0}")]
    Refused(String),
    #[error("currency: {0}")]
    Unknown(String),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// The business's currency, inside its transaction.
pub async fn currency_in(txn: &DatabaseTransaction) -> Result<Currency, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        currency: Option<String>,
    }
    let row = Row::find_by_statement(stmt(
        "SELECT max(currency) AS currency FROM public.tenants WHERE schema_name = current_schema()",
        vec![],
    ))
    .one(txn)
    .await?;
    Ok(row.and_then(|r| r.currency).and_then(|c| Currency::from_code(&c)).unwrap_or_default())
}

/// The business's currency, in a transaction of its own.
pub async fn currency(db: &DatabaseConnection, tenant: &Tenant) -> Result<Currency, DbErr> {
    let txn = tenant.begin(db).await?;
    let found = currency_in(&txn).await?;
    txn.commit().await?;
    Ok(found)
}

/// An owner chooses the business's currency (audited).
pub async fn choose(db: &DatabaseConnection, member: &CurrentMember, code: &str) -> Result<Currency, CurrencyError> {
    if member.role != Role::Owner {
        return Err(CurrencyError::Refused("Only an owner can choose the business's currency.".into()));
    }
    let chosen = Currency::from_code(code)
        .ok_or_else(|| CurrencyError::Unknown("Choose one of the currencies in the list.".into()))?;
    let txn = member.tenant.begin(db).await?;
    let before = currency_in(&txn).await?;
    if before != chosen {
        txn.execute_raw(stmt(
            "UPDATE public.tenants SET currency = $1 WHERE schema_name = current_schema()",
            vec![chosen.code().into()],
        ))
        .await?;
        audit::record_change(
            &txn,
            Some(member),
            "business",
            "business.currency_changed",
            "currency",
            &format!("{} → {}", before.code(), chosen.code()),
            json!({ "from": before.code(), "to": chosen.code() }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(chosen)
}
