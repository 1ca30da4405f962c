//! Marks the business busy (`public.tenants.busy_since`) when work appears
//! in its schema: a run queued (new, retried, resumed or released), a
//! review task opened, mail written. Only the first mark writes; while the
//! business is busy the check is an index lookup.

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
CREATE FUNCTION mark_busy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.tenants SET busy_since = now() WHERE schema_name = TG_TABLE_SCHEMA AND busy_since IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER runs_mark_busy AFTER INSERT ON runs FOR EACH STATEMENT EXECUTE FUNCTION mark_busy();
CREATE TRIGGER runs_queued_mark_busy AFTER UPDATE OF status ON runs
    FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status <> 'queued') EXECUTE FUNCTION mark_busy();
CREATE TRIGGER review_tasks_mark_busy AFTER INSERT ON review_tasks FOR EACH STATEMENT EXECUTE FUNCTION mark_busy();
CREATE TRIGGER outbox_mark_busy AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION mark_busy();
"#,
            )
            .await?;
        Ok(())
    }
}
