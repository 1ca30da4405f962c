//! Slack approvals: the business's Slack app (bot token and signing secret,
//! encrypted like every stored secret), which Slack user is which member,
//! and one message per review task sent to a channel: pending → posting
//! (a worker's claim) → posted (Slack's `ts`) | failed (with the reason),
//! and whether the decision has been shown on it yet.

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
CREATE TABLE slack_connection (
    id                   boolean PRIMARY KEY DEFAULT true CHECK (id),
    team                 text NOT NULL,
    bot_token_nonce      bytea NOT NULL,
    bot_token            bytea NOT NULL,
    signing_secret_nonce bytea NOT NULL,
    signing_secret       bytea NOT NULL,
    connected_by         text NOT NULL,
    connected_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE slack_members (
    email          text PRIMARY KEY,
    slack_user_id  text NOT NULL UNIQUE CHECK (slack_user_id ~ '^[UW][A-Z0-9]{2,20}$'),
    linked_by      text NOT NULL,
    linked_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE slack_messages (
    task_id        uuid PRIMARY KEY REFERENCES review_tasks(id) ON DELETE CASCADE,
    channel        text NOT NULL,
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'posting', 'posted', 'failed')),
    attempts       integer NOT NULL DEFAULT 0,
    claimed_until  timestamptz,
    slack_channel  text,
    ts             text,
    outcome_shown  boolean NOT NULL DEFAULT false,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_messages_open ON slack_messages (created_at) WHERE status IN ('pending', 'posting') OR NOT outcome_shown;
CREATE TRIGGER slack_messages_mark_busy AFTER INSERT ON slack_messages FOR EACH STATEMENT EXECUTE FUNCTION mark_busy();
"#,
            )
            .await?;
        Ok(())
    }
}
