//! Data that crosses between server functions and the browser.

use engine::{Page, Role};
use serde::{Deserialize, Serialize};

/// What the workspace chrome needs: who is signed in, where, and which pages they may open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceView {
    pub business_name: String,
    pub slug: String,
    pub email: String,
    pub role: Role,
    pub pages: Vec<Page>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub joined: String,
    pub is_you: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingInvitationView {
    pub email: String,
    pub role: Role,
    pub expires: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembersView {
    pub members: Vec<MemberView>,
    pub invitations: Vec<PendingInvitationView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationInfo {
    pub business_name: String,
    pub email: String,
    pub role: Role,
    pub has_account: bool,
}

/// Field errors from a form's server function; empty means it succeeded.
pub type FieldErrors = Vec<engine::FieldError>;
