use serde::{Deserialize, Serialize};
use std::fmt;

/// An email address, trimmed and lower-cased. Deliberately simple: it checks
/// the shape people get wrong (missing `@`, missing domain, spaces); the mail
/// server is the final judge of deliverability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("Enter an email address.".into());
        }
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("Enter a valid email address, like name@example.com.".into());
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("An email address needs an @, like name@example.com.".into());
        };
        // The domain: dot-separated labels of letters, digits and inner hyphens.
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        // The local part: RFC 5322's dot-atom (no quotes, brackets, commas or angle brackets).
        let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local.split('.').all(|part| !part.is_empty() && part.chars().all(atom));
        if !local_ok || !domain_ok {
            return Err("Enter a valid email address, like name@example.com.".into());
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(Email::parse("  Dana@Harbor.Example ").unwrap().as_str(), "dana@harbor.example");
    }

    #[test]
    fn refuses_addresses_people_mistype() {
        for bad in [
            "",
            "not-an-email",
            "a@b",
            "a @b.com",
            "@b.com",
            "a@.com",
            "a@b..com",
            "a@b.com.",
            "<script>alert(1)</script>@x.test",
            "\"quoted\"@x.test",
            "a,b@x.test",
            "a..b@x.test",
            ".a@x.test",
            "a@-x.test",
            "a@x_y.test",
            "a@b@x.test",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
        for good in ["o'brien+quotes@acme-plumbing.test", "first.last@mail.example.co.uk", "x_1@a1.io"] {
            assert!(Email::parse(good).is_ok(), "{good} is an address");
        }
    }
}
