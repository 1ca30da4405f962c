//! A business may declare that it is one person: four-eyes workflows then
//! publish with that person's explicit confirmation and reason instead of a
//! second approver. One row per business; who declared it and why are kept
//! here and in the audit log.

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
CREATE TABLE one_person_business (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    declared_at timestamptz NOT NULL,
    declared_by_email text NOT NULL,
    reason text NOT NULL
);
"#,
            )
            .await?;
        Ok(())
    }
}
