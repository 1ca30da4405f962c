use serde::{Deserialize, Serialize};
use std::fmt;

/// The URL name of a business (`acme-plumbing`), which also names its
/// PostgreSQL schema (`t_acme_plumbing`). Only constructible through `parse`,
/// so a schema name derived from it is always safe to use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantSlug(String);

pub const SLUG_MIN: usize = 3;
pub const SLUG_MAX: usize = 40;

/// Paths that would be confusing or misleading as a business address.
const RESERVED: &[&str] =
    &["admin", "api", "app", "login", "logout", "signup", "steward", "support", "www", "public", "template"];

impl TenantSlug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if s.len() < SLUG_MIN || s.len() > SLUG_MAX {
            return Err(format!("Use {SLUG_MIN} to {SLUG_MAX} characters."));
        }
        if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err("Use lowercase letters, digits and hyphens only.".into());
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err("Start with a letter.".into());
        }
        if s.ends_with('-') || s.contains("--") {
            return Err("Hyphens go between words, one at a time.".into());
        }
        if RESERVED.contains(&s) {
            return Err("This address is reserved; choose another.".into());
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `t_<slug>` with hyphens as underscores; matches `^t_[a-z0-9_]{1,48}$`.
    pub fn schema_name(&self) -> String {
        format!("t_{}", self.0.replace('-', "_"))
    }

    /// A slug suggestion from a business name: "Acme Plumbing, Inc." → "acme-plumbing-inc".
    pub fn suggest(name: &str) -> String {
        let mut out = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        let trimmed: String = out.trim_end_matches('-').chars().take(SLUG_MAX).collect();
        trimmed.trim_end_matches('-').to_string()
    }
}

/// Whether a schema name is one Steward could have made for a tenant.
pub fn is_tenant_schema_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("t_") else { return false };
    (1..=48).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantSlug {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantSlug> for String {
    fn from(s: TenantSlug) -> String {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_business_slugs_and_names_their_schema() {
        let slug = TenantSlug::parse("acme-plumbing").unwrap();
        assert_eq!(slug.schema_name(), "t_acme_plumbing");
        assert!(is_tenant_schema_name(&slug.schema_name()));
    }

    #[test]
    fn refuses_slugs_that_could_escape_a_schema_name() {
        for bad in ["Acme", "a;drop", "ab", "-acme", "acme-", "a--b", "acme plumbing", "1acme", "api", &"a".repeat(41)]
        {
            assert!(TenantSlug::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn longest_slug_still_makes_a_valid_schema_name() {
        let slug = TenantSlug::parse(&format!("a{}", "-b".repeat(19))).unwrap();
        assert!(is_tenant_schema_name(&slug.schema_name()));
    }

    #[test]
    fn suggests_a_slug_from_a_business_name() {
        assert_eq!(TenantSlug::suggest("Acme Plumbing, Inc."), "acme-plumbing-inc");
        assert!(TenantSlug::parse(&TenantSlug::suggest("Harbor Dental Group")).is_ok());
    }

    #[test]
    fn schema_name_check_rejects_public_and_injection() {
        assert!(!is_tenant_schema_name("public"));
        assert!(!is_tenant_schema_name("t_x; drop schema public"));
        assert!(!is_tenant_schema_name("t_"));
    }
}
