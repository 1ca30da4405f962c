//! Two-factor sign-in and the audit chain's daily anchors.
//!
//! A person's TOTP secret is sealed with the installation's keyring
//! (`totp_nonce`, `totp_secret`); it counts only once confirmed
//! (`totp_enabled_at`). `totp_last_step` refuses a code used before. Recovery
//! codes are stored as SHA-256 hashes (they are 50 random bits each, shown
//! once) and each works once. An owner can require a second factor for the
//! whole business.
//!
//! `audit_anchors` records each business's audit chain head once a day, outside
//! the business's schema, so rewriting a business's chain from scratch is
//! caught by the anchors it no longer matches.

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
ALTER TABLE public.users
    ADD COLUMN totp_nonce bytea,
    ADD COLUMN totp_secret bytea,
    ADD COLUMN totp_enabled_at timestamptz,
    ADD COLUMN totp_last_step bigint;

CREATE TABLE public.recovery_codes (
    user_id uuid NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

ALTER TABLE public.tenants ADD COLUMN require_two_factor boolean NOT NULL DEFAULT false;

CREATE TABLE public.audit_anchors (
    tenant_id uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    day date NOT NULL,
    seq bigint NOT NULL,
    head text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);
"#,
            )
            .await?;
        Ok(())
    }
}
