//! Steward's integration tests, in one binary so they link once. Every test
//! still gets its own database, Redis prefix and server (see `support`), and
//! nextest runs each in its own process.

mod support;

mod access;
mod api_tokens;
mod audit;
mod bad_bytes;
mod binary;
mod bundles;
mod business_deletion;
mod costs;
mod data_contracts;
mod faults;
mod first_run;
mod ingest;
mod invitations;
mod keys;
mod kpis;
mod metrics;
mod models;
mod openapi;
mod operations;
mod outbound;
mod presets;
mod prompts;
mod recovery;
mod replays;
mod retention;
mod review;
mod runs;
mod security_headers;
mod sender_proof;
mod sessions;
mod signup;
mod site_files;
mod slack;
mod traces;
mod two_factor;
mod worker_shutdown;
mod workflows;
