pub mod copy;
pub mod diff;
pub mod field;
