//! Which businesses have work in progress: the sweeper and the scheduled
//! jobs visit those (and everyone only now and then), so their cost
//! follows the businesses with work, not the number of businesses.

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
-- Set (by triggers in the business's schema) when a run is queued, a review task opens or mail
-- is written; cleared by the sweeper when none of that is left.
ALTER TABLE public.tenants ADD COLUMN busy_since timestamptz;
CREATE INDEX tenants_busy ON public.tenants (busy_since) WHERE busy_since IS NOT NULL;
UPDATE public.tenants SET busy_since = now();
"#,
            )
            .await?;
        Ok(())
    }
}
