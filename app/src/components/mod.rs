//! Pieces of the UI that more than one page shows. A component that needs
//! data keeps its server function beside it (`cost_alerts`, `scorecard`,
//! `reason_codes`, `one_person`); pages import components, never each other.

pub mod add_to_dataset;
pub mod confirm_button;
pub mod copy;
pub mod cost_alerts;
pub mod diff;
pub mod edit_changes;
pub mod field;
pub mod first_run;
pub mod offline_badge;
pub mod one_person;
pub mod reason_codes;
pub mod record;
pub mod refusal;
pub mod scorecard;
pub mod two_factor;
