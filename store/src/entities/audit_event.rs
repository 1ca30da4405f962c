use sea_orm::entity::prelude::*;

/// Tenant table: no schema name, so it resolves through the tenant transaction.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub action: String,
    pub subject: String,
    pub detail: Json,
    /// What part of the business changed: business, workflow, prompt, model, threshold, fallback.
    pub area: String,
    /// The author's reason ("why"), required for contract changes.
    pub why: String,
    /// The event's place in the business's hash chain (set by the database).
    pub seq: i64,
    /// The hash of the event before it; empty for the first.
    pub prev_hash: String,
    /// SHA-256 of `prev_hash` followed by the event's canonical text (`audit_canonical`).
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
