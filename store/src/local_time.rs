//! The business's own calendar: its time zone (as a SQL fragment any tenant
//! query can use, and as a name), today's date and the current month there.
//! Costs, KPIs and governance all count days and months this way.

use crate::db::stmt;
use crate::tenant::Tenant;
use chrono::{DateTime, NaiveDate, Utc};
use engine::kpi::Month;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, FromQueryResult};

/// The business's time zone, read inside its own transaction (the tenant's
/// schema is the current schema there).
pub(crate) const TZ: &str =
    "(SELECT coalesce(max(time_zone), 'UTC') FROM public.tenants WHERE schema_name = current_schema())";

/// The business's time zone name (UTC when unset), inside its transaction.
pub async fn time_zone_in(txn: &DatabaseTransaction) -> Result<String, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        tz: String,
    }
    let row = Row::find_by_statement(stmt(&format!("SELECT {TZ} AS tz"), vec![])).one(txn).await?;
    Ok(row.map(|r| r.tz).unwrap_or_else(|| "UTC".into()))
}

/// The business's month at `now`, in its own time zone.
pub async fn current_month(db: &DatabaseConnection, tenant: &Tenant, now: DateTime<Utc>) -> Result<Month, DbErr> {
    let txn = tenant.begin(db).await?;
    let tz = time_zone_in(&txn).await?;
    txn.commit().await?;
    Ok(Month::at(now, &tz))
}

/// Today in the business's time zone.
pub async fn today(db: &DatabaseConnection, tenant: &Tenant) -> Result<NaiveDate, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        today: NaiveDate,
    }
    let txn = tenant.begin(db).await?;
    let row = Row::find_by_statement(stmt(&format!("SELECT (now() AT TIME ZONE {TZ})::date AS today"), vec![]))
        .one(&txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("today's date".into()))?;
    txn.commit().await?;
    Ok(row.today)
}
