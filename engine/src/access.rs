use crate::Role;
use serde::{Deserialize, Serialize};

/// The pages of a business's workspace. Which roles may open each one is
/// decided here, once, and used by the server (pages and server functions)
/// and by the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Page {
    Dashboard,
    Workflows,
    Prompts,
    DataContracts,
    ReviewQueue,
    Runs,
    Costs,
    Reports,
    Governance,
    ChangeLog,
    Models,
    ApiTokens,
    Settings,
    /// The signed-in person's own account (two-factor sign-in); reached from their name, not the menu.
    Account,
}

impl Page {
    pub const ALL: [Page; 14] = [
        Page::Dashboard,
        Page::Workflows,
        Page::Prompts,
        Page::DataContracts,
        Page::ReviewQueue,
        Page::Runs,
        Page::Costs,
        Page::Reports,
        Page::Governance,
        Page::ChangeLog,
        Page::Models,
        Page::ApiTokens,
        Page::Settings,
        Page::Account,
    ];

    /// The path segment after `/t/<slug>`; empty for the dashboard.
    pub fn path_segment(self) -> &'static str {
        match self {
            Page::Dashboard => "",
            Page::Workflows => "workflows",
            Page::Prompts => "prompts",
            Page::DataContracts => "data-contracts",
            Page::ReviewQueue => "review",
            Page::Runs => "runs",
            Page::Costs => "costs",
            Page::Reports => "reports",
            Page::Governance => "governance",
            Page::ChangeLog => "changes",
            Page::Models => "models",
            Page::ApiTokens => "tokens",
            Page::Settings => "settings",
            Page::Account => "account",
        }
    }

    pub fn from_path_segment(segment: &str) -> Option<Page> {
        Page::ALL.into_iter().find(|p| p.path_segment() == segment)
    }

    pub fn title(self) -> &'static str {
        match self {
            Page::Dashboard => "Dashboard",
            Page::Workflows => "Workflows",
            Page::Prompts => "Prompts",
            Page::DataContracts => "Data contracts",
            Page::ReviewQueue => "Review queue",
            Page::Runs => "Runs",
            Page::Costs => "Costs",
            Page::Reports => "Reports",
            Page::Governance => "Governance",
            Page::ChangeLog => "Audit log",
            Page::Models => "Models",
            Page::ApiTokens => "API tokens",
            Page::Settings => "Settings",
            Page::Account => "Your account",
        }
    }

    pub fn allowed_roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Page::Dashboard | Page::Account => &[Owner, Engineer, Reviewer, Operations, Executive],
            Page::Workflows | Page::Prompts | Page::DataContracts => &[Owner, Engineer, Operations],
            Page::ReviewQueue => &[Owner, Reviewer, Operations],
            Page::Runs => &[Owner, Engineer, Reviewer, Operations],
            Page::Costs => &[Owner, Operations, Executive],
            Page::Reports | Page::Governance => &[Owner, Operations, Executive],
            // Sign-ins with addresses, secrets changed, exports: the owner and operations read it.
            Page::ChangeLog => &[Owner, Operations],
            Page::Models => &[Owner, Engineer],
            // Owners see every token of the business; engineers their own.
            Page::ApiTokens => &[Owner, Engineer],
            Page::Settings => &[Owner],
        }
    }

    pub fn allows(self, role: Role) -> bool {
        self.allowed_roles().contains(&role)
    }

    /// Whether the page is listed in the workspace menu.
    pub fn in_menu(self) -> bool {
        self != Page::Account
    }
}

/// Who sees the values of fields a data contract marks sensitive (a
/// customer's email, phone, address): the people who decide on the work,
/// owners and reviewers. Engineers, operations and executives see them
/// masked; step inputs and outputs are stored masked for everyone.
pub fn sees_sensitive_values(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Reviewer)
}

/// Who may send an event through the signed-in events API: the people who
/// run workflows (engineers, operations, owners). Reviewers decide what
/// runs produce; they do not start runs.
pub fn may_send_events(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Engineer | Role::Operations)
}

impl Page {
    pub fn href(self, slug: &str) -> String {
        match self.path_segment() {
            "" => format!("/t/{slug}"),
            seg => format!("/t/{slug}/{seg}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_people_who_decide_see_sensitive_values() {
        assert!(sees_sensitive_values(Role::Owner) && sees_sensitive_values(Role::Reviewer));
        for role in [Role::Engineer, Role::Operations, Role::Executive] {
            assert!(!sees_sensitive_values(role), "{role}");
        }
    }

    #[test]
    fn only_owners_open_settings() {
        assert!(Page::Settings.allows(Role::Owner));
        for role in [Role::Engineer, Role::Reviewer, Role::Operations, Role::Executive] {
            assert!(!Page::Settings.allows(role));
        }
    }

    #[test]
    fn everyone_has_a_dashboard_and_owners_see_everything() {
        for page in Page::ALL {
            assert!(page.allows(Role::Owner));
        }
        for role in Role::ALL {
            assert!(Page::Dashboard.allows(role));
        }
    }

    #[test]
    fn engineers_operations_and_owners_send_events_and_nobody_else() {
        let senders: Vec<Role> = Role::ALL.into_iter().filter(|r| may_send_events(*r)).collect();
        assert_eq!(senders, vec![Role::Owner, Role::Engineer, Role::Operations]);
    }

    #[test]
    fn path_segments_round_trip() {
        for page in Page::ALL {
            assert_eq!(Page::from_path_segment(page.path_segment()), Some(page));
        }
    }
}
