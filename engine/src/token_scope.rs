//! What an API token may do. A token acts as the member who made it and
//! never does more than that member's role allows, whatever its scopes say.

use crate::access::{may_send_events, Page};
use crate::Role;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Send events to all workflows, or to the workflows the token names.
    SendEvents,
    /// Read runs' status.
    ReadRuns,
    /// Decide review tasks.
    DecideReviews,
    /// Export workflow bundles.
    ExportBundles,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] =
        [TokenScope::SendEvents, TokenScope::ReadRuns, TokenScope::DecideReviews, TokenScope::ExportBundles];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::SendEvents => "send_events",
            TokenScope::ReadRuns => "read_runs",
            TokenScope::DecideReviews => "decide_reviews",
            TokenScope::ExportBundles => "export_bundles",
        }
    }

    pub fn parse(text: &str) -> Option<TokenScope> {
        TokenScope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// In words, for the settings page.
    pub fn label(self) -> &'static str {
        match self {
            TokenScope::SendEvents => "Send events",
            TokenScope::ReadRuns => "Read runs",
            TokenScope::DecideReviews => "Decide review tasks",
            TokenScope::ExportBundles => "Export bundles",
        }
    }

    /// Whether a member with `role` may do this at all (and so make or use a token that does).
    pub fn allowed_for(self, role: Role) -> bool {
        match self {
            TokenScope::SendEvents => may_send_events(role),
            TokenScope::ReadRuns => Page::Runs.allows(role),
            TokenScope::DecideReviews => Page::ReviewQueue.allows(role),
            TokenScope::ExportBundles => Page::Workflows.allows(role),
        }
    }
}

impl std::fmt::Display for TokenScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may make API tokens: owners (for any scope their role allows) and
/// engineers (their own).
pub fn may_make_tokens(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Engineer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_follow_the_roles() {
        for scope in TokenScope::ALL {
            assert_eq!(TokenScope::parse(scope.as_str()), Some(scope));
            assert!(scope.allowed_for(Role::Owner));
        }
        assert!(!TokenScope::DecideReviews.allowed_for(Role::Engineer), "engineers do not decide reviews");
        assert!(!TokenScope::SendEvents.allowed_for(Role::Reviewer));
        assert!(TokenScope::DecideReviews.allowed_for(Role::Reviewer));
        assert!(!may_make_tokens(Role::Reviewer) && may_make_tokens(Role::Engineer));
    }
}
