//! A review task's draft as it may travel outside Steward (review emails,
//! Slack): with the data contract's sensitive fields masked, also where a
//! value was copied into the draft's text. The page shows `draft` to the
//! people who decide.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("ALTER TABLE review_tasks ADD COLUMN shown_draft jsonb;").await?;
        Ok(())
    }
}
