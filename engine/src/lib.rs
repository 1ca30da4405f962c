//! Steward's pure domain. No database, no HTTP: everything here can be unit
//! tested in isolation. The basic modules also compile to WebAssembly, so
//! the browser validates forms with exactly the rules the server enforces;
//! the `contracts` feature adds workflow, prompt and data contracts (server side).

#[macro_use]
mod words;

pub mod access;
pub mod audit;
pub mod cost_kind;
pub mod email;
pub mod field_error;
pub mod first_run;
pub mod headline;
pub mod money;
pub mod password;
pub mod role;
pub mod run_state;
pub mod scale;
pub mod sender_proof;
pub mod signup;
pub mod source_map;
pub mod tenant;
pub mod token_scope;

#[cfg(feature = "contracts")]
pub mod cel;
#[cfg(feature = "contracts")]
pub mod chart;
#[cfg(feature = "contracts")]
pub mod compiled;
#[cfg(feature = "contracts")]
pub mod cost;
#[cfg(feature = "contracts")]
pub mod data_contract;
#[cfg(feature = "contracts")]
pub mod diff;
#[cfg(feature = "contracts")]
pub mod form;
#[cfg(feature = "contracts")]
pub mod kpi;
#[cfg(feature = "contracts")]
pub mod mapping;
#[cfg(feature = "contracts")]
pub mod no_nul;
#[cfg(feature = "contracts")]
pub mod offline_model;
#[cfg(feature = "contracts")]
pub mod prompt;
#[cfg(feature = "contracts")]
pub mod readable;
#[cfg(feature = "contracts")]
pub mod record_title;
#[cfg(feature = "contracts")]
pub mod replay;
#[cfg(feature = "contracts")]
pub mod report;
#[cfg(feature = "contracts")]
pub mod report_pdf;
#[cfg(feature = "contracts")]
pub mod review;
#[cfg(feature = "contracts")]
pub mod run;
#[cfg(feature = "contracts")]
pub mod slack_message;
#[cfg(feature = "contracts")]
pub mod workflow;

pub use access::Page;
pub use cost_kind::CostKind;
pub use email::Email;
pub use field_error::FieldError;
pub use role::Role;
pub use run_state::{RunStatus, StepStatus};
pub use tenant::TenantSlug;
