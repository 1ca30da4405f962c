//! The scope of tenant work: one business's id and its checked schema name.

use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction};

/// One business whose data a unit of work may touch: its id and its checked
/// schema name. Only checked entry points make one: `auth::authorize` (a
/// member's session), `all` (the system listing scheduled jobs walk), a job
/// made from one of those (`RunJob::tenant`), and the signed doors once
/// their signature holds (webhooks, forms, approval links).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant {
    id: Uuid,
    schema: String,
}

impl Tenant {
    /// A tenant from its stored row; the schema name must be a tenant schema.
    pub(crate) fn new(id: Uuid, schema: String) -> Result<Tenant, DbErr> {
        if !engine::tenant::is_tenant_schema_name(&schema) {
            return Err(DbErr::Custom(format!("refusing invalid tenant schema name {schema:?}")));
        }
        Ok(Tenant { id, schema })
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Opens the business's unit of work (`db::tenant_txn`).
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
        crate::db::tenant_txn(db, &self.schema).await
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.schema)
    }
}
