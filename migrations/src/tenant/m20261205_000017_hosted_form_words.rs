//! The words of a workflow's hosted form, as the owner wrote them: heading,
//! intro, thank-you and field labels (empty means the default made from the
//! data contract).

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
CREATE TABLE hosted_form_words (
    workflow_id uuid PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    heading text NOT NULL DEFAULT '',
    intro text NOT NULL DEFAULT '',
    thank_you text NOT NULL DEFAULT '',
    labels jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
"#,
            )
            .await?;
        Ok(())
    }
}
