//! Steward's pure domain. No database, no HTTP: everything here can be unit
//! tested in isolation and compiled to WebAssembly, so the browser validates
//! forms with exactly the rules the server enforces.

pub mod access;
pub mod email;
pub mod field_error;
pub mod password;
pub mod role;
pub mod signup;
pub mod tenant;

pub use access::Page;
pub use email::Email;
pub use field_error::FieldError;
pub use role::Role;
pub use tenant::TenantSlug;
