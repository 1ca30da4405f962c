//! People on the judgment calls: claims and escalation on review tasks,
//! the business's reason codes, and single-use approval links sent by email.

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
ALTER TABLE review_tasks ADD COLUMN workflow_name text NOT NULL DEFAULT '';
ALTER TABLE review_tasks ADD COLUMN claimed_by text;
ALTER TABLE review_tasks ADD COLUMN claimed_at timestamptz;
ALTER TABLE review_tasks ADD COLUMN escalated_at timestamptz;
-- Minutes before the task is past its SLA and past its maximum age (from the workflow's contract).
ALTER TABLE review_tasks ADD COLUMN sla_minutes double precision NOT NULL DEFAULT 240;
ALTER TABLE review_tasks ADD COLUMN max_age_minutes double precision NOT NULL DEFAULT 2880;
ALTER TABLE review_tasks ADD COLUMN stale_action text NOT NULL DEFAULT 'reject';
-- The business value a task is about (for priority), when the run has one.
ALTER TABLE review_tasks ADD COLUMN value double precision;
-- An edit-and-approve keeps what it changed in the draft, field by field.
ALTER TABLE review_tasks ADD COLUMN edit_changes jsonb;
CREATE INDEX review_tasks_claimed ON review_tasks (claimed_by) WHERE status = 'open';

-- Why a person edited or rejected a draft; the business keeps its own list.
CREATE TABLE review_reason_codes (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,39}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO review_reason_codes (code) VALUES ('wrong_facts'), ('tone'), ('missing_context'), ('policy'), ('duplicate'), ('stale');

-- A link in a review email: bound to its task and reviewer, expiring, used once.
CREATE TABLE approval_links (
    id              uuid PRIMARY KEY,
    task_id         uuid NOT NULL REFERENCES review_tasks(id) ON DELETE CASCADE,
    reviewer_email  text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approval_links_task ON approval_links (task_id);
"#,
            )
            .await?;
        Ok(())
    }
}
