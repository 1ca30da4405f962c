//! The currency a business keeps its figures in (prices, budgets, costs,
//! savings): an ISO code from `engine::money::CURRENCIES`, US dollars until
//! the owner chooses another in Settings.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE public.tenants ADD COLUMN currency text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$');",
            )
            .await?;
        Ok(())
    }
}
