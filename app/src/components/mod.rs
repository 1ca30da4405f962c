pub mod field;
pub mod diff;
