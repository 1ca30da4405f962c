//! Tenant schemas prepared ahead of sign-ups (`crate::spare`): every tenant
//! migration applied, no business yet. A sign-up takes one and renames it
//! instead of running the migrations' DDL while the person waits.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
CREATE TABLE public.spare_schemas (
    schema_name text PRIMARY KEY CHECK (schema_name ~ '^t__spare_[0-9a-f]{16}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
"#,
            )
            .await?;
        Ok(())
    }
}
