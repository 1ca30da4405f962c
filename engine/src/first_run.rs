//! The first-run checklist a new business's owner sees on the dashboard:
//! the steps from an empty business to its first approved run, each ticked
//! from the business's real state (`store::first_run`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FirstRunStep {
    InstallTemplate,
    Publish,
    SendFirstEvent,
    ChooseModel,
    ApproveFirstRun,
    InviteReviewer,
}

impl FirstRunStep {
    pub const ALL: [FirstRunStep; 6] = [
        FirstRunStep::InstallTemplate,
        FirstRunStep::Publish,
        FirstRunStep::SendFirstEvent,
        FirstRunStep::ChooseModel,
        FirstRunStep::ApproveFirstRun,
        FirstRunStep::InviteReviewer,
    ];

    pub fn title(self) -> &'static str {
        match self {
            FirstRunStep::InstallTemplate => "Install a workflow from the template gallery",
            FirstRunStep::Publish => "Publish it",
            FirstRunStep::SendFirstEvent => "Open its form (or connect a tool) and send a first event",
            FirstRunStep::ChooseModel => "Connect a model, or keep the offline one",
            FirstRunStep::ApproveFirstRun => "Approve your first run",
            FirstRunStep::InviteReviewer => "Invite a reviewer",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            FirstRunStep::InstallTemplate => {
                "Ready workflows for leads, support tickets and invoices; you can change everything later."
            }
            FirstRunStep::Publish => "A published version accepts events; drafts never do.",
            FirstRunStep::SendFirstEvent => {
                "The workflow's page has its hosted form, its webhook address and an example."
            }
            FirstRunStep::ChooseModel => {
                "The offline model writes sample drafts at no cost; a provider writes real ones."
            }
            FirstRunStep::ApproveFirstRun => "Drafts that need a person wait in the review queue.",
            FirstRunStep::InviteReviewer => "Someone else to take the judgment calls, by email.",
        }
    }

    /// Where the step is done: `workflow` is the business's first workflow, if any.
    pub fn href(self, slug: &str, workflow: Option<&str>) -> String {
        match (self, workflow) {
            (FirstRunStep::InstallTemplate, _) => format!("/t/{slug}/workflows/gallery"),
            (FirstRunStep::Publish | FirstRunStep::SendFirstEvent, Some(w)) => format!("/t/{slug}/workflows/{w}"),
            (FirstRunStep::Publish | FirstRunStep::SendFirstEvent, None) => format!("/t/{slug}/workflows"),
            (FirstRunStep::ChooseModel, _) => format!("/t/{slug}/models"),
            (FirstRunStep::ApproveFirstRun, _) => format!("/t/{slug}/review"),
            (FirstRunStep::InviteReviewer, _) => format!("/t/{slug}/settings"),
        }
    }
}
