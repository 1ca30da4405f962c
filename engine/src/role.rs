use serde::{Deserialize, Serialize};
use std::fmt;

/// What a member of a business may do. Checked on the server for every page
/// and server function; the navigation only mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Engineer,
    Reviewer,
    Operations,
    Executive,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Owner, Role::Engineer, Role::Reviewer, Role::Operations, Role::Executive];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Engineer => "engineer",
            Role::Reviewer => "reviewer",
            Role::Operations => "operations",
            Role::Executive => "executive",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| "Choose one of: owner, engineer, reviewer, operations, executive.".to_string())
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Engineer => "Engineer",
            Role::Reviewer => "Reviewer",
            Role::Operations => "Operations",
            Role::Executive => "Executive",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Role::Owner => "Everything, including billing and members.",
            Role::Engineer => "Builds workflows, prompts, data contracts and secrets.",
            Role::Reviewer => "Decides the review queue's judgment calls.",
            Role::Operations => "Monitors runs, budgets and incidents; can roll back.",
            Role::Executive => "Reads dashboards and the monthly report.",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("admin").is_err());
    }
}
