//! The areas of the business's audit log, for filtering it.

/// Every area an audit event belongs to.
pub const AREAS: &[&str] = &[
    "sign-in",
    "business",
    "token",
    "secret",
    "workflow",
    "prompt",
    "data_contract",
    "model",
    "threshold",
    "fallback",
    "review",
    "cost",
    "kpi",
    "settings",
];
