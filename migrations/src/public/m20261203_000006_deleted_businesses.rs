//! A business that deleted itself leaves one row here, outside the schema
//! that was dropped: who deleted it, when, and the head of its audit chain
//! at that moment, so the deletion itself stays on record.

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
CREATE TABLE public.deleted_businesses (
    tenant_id uuid PRIMARY KEY,
    slug text NOT NULL,
    name text NOT NULL,
    deleted_by text NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    audit_events bigint NOT NULL,
    audit_head text NOT NULL
);
"#,
            )
            .await?;
        Ok(())
    }
}
