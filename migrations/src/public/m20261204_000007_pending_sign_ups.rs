//! A sign-up waits here until the person types the code emailed to them:
//! the answer to a sign-up is the same whether the email already has an
//! account or not, so only the mailbox's owner learns which it was.

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
CREATE TABLE public.pending_sign_ups (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    business_name text NOT NULL,
    slug text NOT NULL,
    -- NULL when the email already has an account: its password stays.
    password_hash text,
    code_hash text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX pending_sign_ups_email ON public.pending_sign_ups (email);
"#,
            )
            .await?;
        Ok(())
    }
}
