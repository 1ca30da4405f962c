//! argon2id password hashes.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

pub fn hash(password: &str) -> String {
    // argon2 0.6 draws the salt from the OS itself.
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters cannot fail on a generated salt")
        .to_string()
}

pub fn verify(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A hash of a password nobody knows, verified against when the email is
/// unknown so that a failed sign-in takes the same time either way.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that matches nothing"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let h = super::hash("copper kettle harbor 42");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("copper kettle harbor 42", &h));
        assert!(!super::verify("copper kettle harbor 43", &h));
        assert!(!super::verify("anything", "not a hash"));
    }
}
