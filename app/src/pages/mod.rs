pub mod changes;
pub mod invitation;
pub mod landing;
pub mod login;
pub mod settings;
pub mod signup;
pub mod workspace;
pub mod workflows;
