//! The first-run checklist's own memory: whether the owner dismissed it,
//! and whether they chose to keep the offline model (the other steps are
//! read from the business's real state). One row per business.

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
CREATE TABLE first_run (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    dismissed_at timestamptz,
    offline_model_kept_at timestamptz
);
INSERT INTO first_run DEFAULT VALUES;
"#,
            )
            .await?;
        Ok(())
    }
}
