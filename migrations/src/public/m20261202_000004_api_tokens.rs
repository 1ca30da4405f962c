//! API tokens: how programs call Steward's JSON API without a person's
//! password. A token belongs to one business and acts as the member who
//! made it, within the scopes it names; it is stored as a SHA-256 hash
//! (the token is 256 random bits, so a slow hash adds nothing), with a
//! short prefix kept in clear so people can tell their tokens apart.

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
CREATE TABLE public.api_tokens (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES public.tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    prefix text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    scopes text[] NOT NULL CHECK (cardinality(scopes) > 0
        AND scopes <@ ARRAY['send_events', 'read_runs', 'decide_reviews', 'export_bundles']),
    -- For send_events: the workflows it may send to; NULL: all of them.
    workflows text[],
    created_by uuid NOT NULL REFERENCES public.users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    revoked_by uuid REFERENCES public.users (id),
    last_used_at timestamptz,
    last_used_from text
);
CREATE INDEX api_tokens_tenant ON public.api_tokens (tenant_id, created_at DESC);
"#,
            )
            .await?;
        Ok(())
    }
}
