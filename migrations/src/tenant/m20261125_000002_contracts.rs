//! Workflows and prompt templates as immutable, numbered versions, and the
//! change log's "why". A run will pin the exact version rows it used.

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
ALTER TABLE audit_events ADD COLUMN area text NOT NULL DEFAULT 'business';
ALTER TABLE audit_events ADD COLUMN why text NOT NULL DEFAULT '';
CREATE INDEX audit_events_area ON audit_events (area, at DESC);

CREATE TABLE workflows (
    id                   uuid PRIMARY KEY,
    name                 text NOT NULL UNIQUE,
    owner_user_id        uuid,
    backup_owner_user_id uuid,
    escalation_contact   text NOT NULL DEFAULT '',
    live_version         integer,
    created_at           timestamptz NOT NULL DEFAULT now()
);

-- Every save is a new row; rows are never updated except for the
-- publish/approve bookkeeping columns, which record who did what to that exact version.
CREATE TABLE workflow_versions (
    workflow_id          uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    number               integer NOT NULL,
    yaml                 text NOT NULL,
    contract             jsonb NOT NULL,
    change_note          text NOT NULL CHECK (length(trim(change_note)) > 0),
    author_user_id       uuid NOT NULL,
    author_email         text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    requires_four_eyes   boolean NOT NULL DEFAULT false,
    approved_by_email    text,
    approved_at          timestamptz,
    first_published_at   timestamptz,
    PRIMARY KEY (workflow_id, number)
);

CREATE TABLE prompt_templates (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE prompt_versions (
    prompt_id       uuid NOT NULL REFERENCES prompt_templates(id) ON DELETE CASCADE,
    number          integer NOT NULL,
    document        jsonb NOT NULL,
    change_note     text NOT NULL CHECK (length(trim(change_note)) > 0),
    author_email    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prompt_id, number)
);

-- Labels (production, staging) point at one version each.
CREATE TABLE prompt_labels (
    prompt_id  uuid NOT NULL REFERENCES prompt_templates(id) ON DELETE CASCADE,
    label      text NOT NULL CHECK (label IN ('production', 'staging')),
    number     integer NOT NULL,
    PRIMARY KEY (prompt_id, label)
);

CREATE TABLE data_contracts (
    name        text PRIMARY KEY,
    document    jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE secrets (
    name        text PRIMARY KEY,
    ciphertext  bytea NOT NULL,
    nonce       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
"#,
            )
            .await?;
        Ok(())
    }
}
