//! One module per page (or group of pages), with its server functions
//! beside it. A page's own sections are its child modules
//! (`workflows::triggers`, `models::secrets`).

pub mod account;
pub mod api_tokens;
pub mod changes;
pub mod costs;
pub mod data_contracts;
pub mod governance;
pub mod invitation;
pub mod landing;
pub mod login;
pub mod models;
pub mod prompts;
pub mod replays;
pub mod reports;
pub mod review;
pub mod runs;
pub mod settings;
pub mod signup;
pub mod workflows;
pub mod workspace;
