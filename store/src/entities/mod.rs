//! sea-orm entities. Public-schema entities name their schema; tenant
//! entities do not, and resolve through the transaction's `search_path`.

pub mod audit_event;
pub mod invitation;
pub mod membership;
pub mod session;
pub mod tenant;
pub mod user;
