//! Businesses, people, memberships, sessions and invitations: the only data
//! that lives outside a tenant schema.

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
CREATE TABLE public.tenants (
    id           uuid PRIMARY KEY,
    slug         text NOT NULL UNIQUE,
    name         text NOT NULL,
    schema_name  text NOT NULL UNIQUE CHECK (schema_name ~ '^t_[a-z0-9_]{1,48}$'),
    time_zone    text NOT NULL DEFAULT 'UTC',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.memberships (
    user_id     uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
    tenant_id   uuid NOT NULL REFERENCES public.tenants(id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('owner', 'engineer', 'reviewer', 'operations', 'executive')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX memberships_tenant ON public.memberships (tenant_id);

-- A session is the server-side record of a signed-in browser; the JWT in the
-- cookie carries its id, and a revoked or expired row refuses the cookie.
CREATE TABLE public.sessions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
    tenant_id   uuid NOT NULL REFERENCES public.tenants(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_user_tenant ON public.sessions (user_id, tenant_id) WHERE revoked_at IS NULL;

CREATE TABLE public.invitations (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES public.tenants(id) ON DELETE CASCADE,
    email        text NOT NULL,
    role         text NOT NULL CHECK (role IN ('owner', 'engineer', 'reviewer', 'operations', 'executive')),
    invited_by   uuid REFERENCES public.users(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX invitations_tenant ON public.invitations (tenant_id);
"#,
            )
            .await?;
        Ok(())
    }
}
