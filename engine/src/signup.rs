use crate::{password, Email, FieldError, TenantSlug};
use serde::{Deserialize, Serialize};

/// What a person types to open a business on Steward.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupForm {
    pub business_name: String,
    pub slug: String,
    pub email: String,
    pub password: String,
}

/// How long a sign-up's emailed code works.
pub const CODE_MINUTES: i64 = 30;

/// A sign-up that passed every check that needs no database.
#[derive(Debug, Clone)]
pub struct ValidSignup {
    pub business_name: String,
    pub slug: TenantSlug,
    pub email: Email,
    pub password: String,
}

impl SignupForm {
    /// Every problem at once, so the form can show them all next to their fields.
    pub fn validate(&self) -> Result<ValidSignup, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.business_name.trim();
        if name.is_empty() {
            errors.push(FieldError::new("business_name", "Enter your business's name."));
        } else if name.chars().count() > 120 {
            errors.push(FieldError::new("business_name", "Keep the name under 120 characters."));
        }
        let slug = TenantSlug::parse(&self.slug).map_err(|m| errors.push(FieldError::new("slug", m))).ok();
        let email = Email::parse(&self.email).map_err(|m| errors.push(FieldError::new("email", m))).ok();
        if let Some(m) = password::weakness(&self.password, &self.email) {
            errors.push(FieldError::new("password", m));
        }
        match (slug, email, errors.is_empty()) {
            (Some(slug), Some(email), true) => {
                Ok(ValidSignup { business_name: name.to_string(), slug, email, password: self.password.clone() })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_field_at_once() {
        let form = SignupForm {
            business_name: "".into(),
            slug: "Bad Slug".into(),
            email: "nope".into(),
            password: "short".into(),
        };
        let errors = form.validate().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["business_name", "slug", "email", "password"]);
    }

    #[test]
    fn a_good_form_becomes_a_valid_signup() {
        let form = SignupForm {
            business_name: " Harbor Dental ".into(),
            slug: "harbor-dental".into(),
            email: "Dana@Harbor.example".into(),
            password: "copper kettle harbor 42".into(),
        };
        let ok = form.validate().unwrap();
        assert_eq!(ok.business_name, "Harbor Dental");
        assert_eq!(ok.email.as_str(), "dana@harbor.example");
    }
}
