//! A headline figure of the monthly report, already in words. Computed on
//! the server (`kpi::headlines`) and shown as it is in the browser, so it
//! lives outside the server-only modules.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub key: String,
    pub label: String,
    pub value: String,
    pub vs_last_month: String,
    pub vs_baseline: String,
    /// Whether the change since last month is good news (None: nothing to judge).
    pub better: Option<bool>,
}
