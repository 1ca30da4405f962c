/// Minimum length of a new password.
pub const MIN_LENGTH: usize = 12;

/// Passwords long enough to pass the length rule that still appear at the top
/// of breach lists; refusing them costs nothing and stops the lazy guess.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "111111111111",
    "000000000000",
    "password1234",
    "password12345",
    "password123!",
    "passwordpassword",
    "password1234!",
    "qwertyuiop12",
    "qwertyuiopasdf",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "welcome1234!",
    "administrator",
    "changeme1234",
    "abcdefghijkl",
    "abc123456789",
    "aaaaaaaaaaaa",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "sunshine1234",
    "princess1234",
    "dragon123456",
    "monkey123456",
    "superman1234",
    "starwars1234",
    "passw0rd1234",
    "p@ssw0rd1234",
    "correcthorsebatterystaple",
    "secret123456",
    "master123456",
    "qazwsxedcrfv",
    "asdfghjkl123",
    "zxcvbnm12345",
    "michael12345",
    "internet1234",
    "computer1234",
];

/// Why a new password is not acceptable, if it is not.
pub fn weakness(password: &str, email: &str) -> Option<String> {
    if password.chars().count() < MIN_LENGTH {
        return Some(format!("Use at least {MIN_LENGTH} characters."));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Some("This password is too common; choose something less guessable.".into());
    }
    if lower.chars().all(|c| c == lower.chars().next().unwrap_or(' ')) {
        return Some("Do not repeat a single character.".into());
    }
    if !email.is_empty() && lower == email.trim().to_lowercase() {
        return Some("Do not use your email address as your password.".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused_with_the_rule() {
        assert_eq!(weakness("short", "").unwrap(), "Use at least 12 characters.");
    }

    #[test]
    fn common_passwords_are_refused_even_when_long_enough() {
        assert!(weakness("Password1234", "").is_some());
        assert!(weakness("zzzzzzzzzzzzzz", "").is_some());
    }

    #[test]
    fn a_long_uncommon_password_is_fine() {
        assert!(weakness("copper kettle harbor 42", "dana@harbor.example").is_none());
    }
}
