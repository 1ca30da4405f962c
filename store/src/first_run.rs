//! The first-run checklist: each step ticked from what the business really
//! has (a workflow, a live version, an event, a model choice, an approved
//! draft, a reviewer), read in one transaction. The owner can dismiss it,
//! or say the offline model is the choice for now.

use crate::{auth::CurrentMember, db::stmt};
use engine::first_run::FirstRunStep;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};

#[derive(Debug, Clone)]
pub struct Checklist {
    pub steps: Vec<(FirstRunStep, bool)>,
    pub dismissed: bool,
    /// The business's first workflow, where its publish and form steps happen.
    pub first_workflow: Option<String>,
}

impl Checklist {
    pub fn done(&self) -> bool {
        self.steps.iter().all(|(_, done)| *done)
    }
}

#[derive(FromQueryResult)]
struct State {
    first_workflow: Option<String>,
    published: bool,
    event_in: bool,
    model_chosen: bool,
    approved: bool,
    reviewer: bool,
    dismissed: bool,
}

pub async fn checklist(db: &DatabaseConnection, member: &CurrentMember) -> Result<Checklist, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let state = State::find_by_statement(stmt(
        "SELECT (SELECT name FROM workflows ORDER BY created_at, name LIMIT 1) AS first_workflow,
                EXISTS (SELECT 1 FROM workflows WHERE live_version IS NOT NULL) AS published,
                EXISTS (SELECT 1 FROM events) AS event_in,
                EXISTS (SELECT 1 FROM model_tiers t JOIN models m ON m.id = t.model_id WHERE m.provider <> 'offline')
                  OR EXISTS (SELECT 1 FROM first_run WHERE offline_model_kept_at IS NOT NULL) AS model_chosen,
                EXISTS (SELECT 1 FROM review_tasks WHERE decision IN ('approve', 'edit_and_approve')) AS approved,
                EXISTS (SELECT 1 FROM public.memberships WHERE tenant_id = $1 AND role = 'reviewer')
                  OR EXISTS (SELECT 1 FROM public.invitations
                              WHERE tenant_id = $1 AND role = 'reviewer' AND revoked_at IS NULL AND expires_at > now()) AS reviewer,
                EXISTS (SELECT 1 FROM first_run WHERE dismissed_at IS NOT NULL) AS dismissed",
        vec![member.tenant.id().into()],
    ))
    .one(&txn)
    .await?
    .ok_or_else(|| DbErr::RecordNotFound("the checklist's state".into()))?;
    txn.commit().await?;
    let done = |step| match step {
        FirstRunStep::InstallTemplate => state.first_workflow.is_some(),
        FirstRunStep::Publish => state.published,
        FirstRunStep::SendFirstEvent => state.event_in,
        FirstRunStep::ChooseModel => state.model_chosen,
        FirstRunStep::ApproveFirstRun => state.approved,
        FirstRunStep::InviteReviewer => state.reviewer,
    };
    Ok(Checklist {
        steps: FirstRunStep::ALL.into_iter().map(|s| (s, done(s))).collect(),
        dismissed: state.dismissed,
        first_workflow: state.first_workflow.clone(),
    })
}

/// What the owner says from the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Hide the checklist for good.
    Dismiss,
    /// The offline model is the model for now.
    KeepOfflineModel,
}

pub async fn choose(db: &DatabaseConnection, member: &CurrentMember, choice: Choice) -> Result<(), DbErr> {
    let column = match choice {
        Choice::Dismiss => "dismissed_at",
        Choice::KeepOfflineModel => "offline_model_kept_at",
    };
    let txn = member.tenant.begin(db).await?;
    txn.execute_raw(stmt(&format!("UPDATE first_run SET {column} = coalesce({column}, now())"), vec![])).await?;
    txn.commit().await?;
    Ok(())
}
