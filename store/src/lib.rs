//! Steward's persistence and security services: tenant-scoped data access,
//! sessions, sign-in throttling, invitations and the job queue. Used by the
//! server, the app's server functions and the worker. Every tenant function
//! takes the `Tenant` (or the member acting in it) and runs in one
//! transaction scoped to its schema.

/// Every Steward process links this crate (the server, the worker, the
/// benchmarks and the tests), so this is the allocator of all of them:
/// mimalloc, which costs the worker's many small JSON allocations less
/// than the system's (measured in README's "Measured").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod accept_groups;
pub mod api_tokens;
pub mod approval_links;
pub mod audit;
pub mod auth;
pub mod backlog;
pub mod bundles;
pub mod business_export;
pub mod client_address;
pub mod config;
pub mod costs;
pub mod currency;
pub mod data_contracts;
pub mod datasets;
pub mod db;
pub mod entities;
pub mod first_run;
pub mod governance;
pub mod grouped;
pub mod hosted_forms;
pub mod ingest;
pub mod invitations;
pub mod jobs;
pub mod key_rotation;
pub mod keyring;
pub mod kpis;
pub mod ledger;
pub mod local_time;
pub mod mailer;
pub mod measure;
pub mod members;
pub mod models;
pub mod one_person;
pub mod outbound;
pub mod outbox;
pub mod password;
pub mod prompts;
pub mod providers;
pub mod readable;
pub mod replays;
pub mod retention;
pub mod reviews;
pub mod run_groups;
pub mod runs;
pub mod secrets;
pub mod seed;
pub mod sender_proof;
pub mod sign_in;
pub mod sign_up;
pub mod slack;
pub mod slack_api;
pub mod slack_messages;
pub mod state;
pub mod telemetry;
pub mod tenant;
pub mod tenants;
pub mod throttle;
pub mod two_factor;
pub mod webhook_secrets;
pub mod workers;
pub mod workflows;

pub use tenant::Tenant;
