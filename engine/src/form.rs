//! Public forms built from a data contract: the inputs (shared by the
//! hosted page and the snippet a business embeds), with each field's error
//! beside it and a honeypot field for bots. The words customers read (the
//! heading, an intro, each field's label, the thank-you) are the owner's to
//! change (`FormWords`); the defaults come from the data contract.

use crate::data_contract::{DataContract, FieldRule, FieldType};
use std::collections::BTreeMap;

/// The hidden field people never fill in and bots do.
pub const HONEYPOT: &str = "company_website";

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// "primaryContact.email" → "Primary contact email".
pub fn label(path: &str) -> String {
    let mut out = String::new();
    for (i, part) in path.split('.').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        for (j, c) in part.replace('_', " ").chars().enumerate() {
            if c.is_uppercase() && j > 0 {
                out.push(' ');
                out.extend(c.to_lowercase());
            } else if i == 0 && j == 0 {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// What the owner wrote for the hosted form; empty means the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FormWords {
    pub heading: String,
    pub intro: String,
    pub thank_you: String,
    /// Field path → the label customers see.
    pub labels: BTreeMap<String, String>,
}

impl FormWords {
    pub const DEFAULT_HEADING: &'static str = "Get in touch";
    pub const DEFAULT_INTRO: &'static str = "Tell us about your request and we will get back to you.";
    pub const DEFAULT_THANK_YOU: &'static str = "We have your request and will be in touch soon.";
    pub const MAX_LABEL: usize = 80;
    pub const MAX_HEADING: usize = 120;
    pub const MAX_TEXT: usize = 1000;

    pub fn heading(&self) -> &str {
        non_empty(&self.heading).unwrap_or(Self::DEFAULT_HEADING)
    }

    pub fn intro(&self) -> &str {
        non_empty(&self.intro).unwrap_or(Self::DEFAULT_INTRO)
    }

    pub fn thank_you(&self) -> &str {
        non_empty(&self.thank_you).unwrap_or(Self::DEFAULT_THANK_YOU)
    }

    /// The owner's label for a field, else one made from its name.
    pub fn label(&self, path: &str) -> String {
        self.labels.get(path).and_then(|l| non_empty(l)).map(str::to_string).unwrap_or_else(|| label(path))
    }

    /// Trimmed, with labels only for the form's own fields; each problem as (field, reason).
    pub fn checked(mut self, contract: &DataContract) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        for (field, text, max) in [
            ("heading", &mut self.heading, Self::MAX_HEADING),
            ("intro", &mut self.intro, Self::MAX_TEXT),
            ("thank_you", &mut self.thank_you, Self::MAX_TEXT),
        ] {
            *text = text.trim().to_string();
            if text.chars().count() > max {
                problems.push((field.to_string(), format!("Keep it under {max} characters.")));
            }
        }
        let fields: Vec<String> = form_fields(contract).into_iter().map(|(p, _)| p.clone()).collect();
        let mut labels = BTreeMap::new();
        for (path, text) in std::mem::take(&mut self.labels) {
            let text = text.trim().to_string();
            if !fields.contains(&path) {
                problems.push((format!("labels.{path}"), "The form has no such field.".to_string()));
            } else if text.chars().count() > Self::MAX_LABEL {
                problems
                    .push((format!("labels.{path}"), format!("Keep a label under {} characters.", Self::MAX_LABEL)));
            } else if !text.is_empty() {
                labels.insert(path, text);
            }
        }
        self.labels = labels;
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

/// The form's fields in the order customers see them, with the label made from each name.
pub fn default_labels(contract: &DataContract) -> Vec<(String, String)> {
    form_fields(contract).into_iter().map(|(p, _)| (p.clone(), label(p))).collect()
}

/// The fields a form asks for: every field of the data contract except the
/// staleness timestamp (the server stamps it) and fields the contract fills
/// with a default (an owner id, a value of 0). Controlled fields (with
/// allowed values) come after the free ones.
fn form_fields(contract: &DataContract) -> Vec<(&String, &FieldRule)> {
    let stamp = contract.last_updated.as_ref().map(|s| s.field.as_str());
    let defaulted = |r: &FieldRule| !r.required && r.null == crate::data_contract::NullHandling::Default;
    let mut fields: Vec<_> =
        contract.fields.iter().filter(|(p, r)| Some(p.as_str()) != stamp && !defaulted(r)).collect();
    // Required fields first, then optional ones, then the controlled ones.
    fields.sort_by_key(|(_, r)| (!r.allowed.is_empty(), !r.required));
    fields
}

/// The form's inputs, shared by the hosted page and the embeddable snippet.
pub fn inputs_html(
    contract: &DataContract,
    words: &FormWords,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
) -> String {
    let mut html = String::new();
    let mut more = String::new();
    for (path, rule) in form_fields(contract) {
        let id = format!("f-{}", path.replace('.', "-"));
        let value = values.get(path.as_str()).map(|v| escape(v)).unwrap_or_default();
        let required = if rule.required { " required" } else { "" };
        let input = if !rule.allowed.is_empty() {
            let options: String = rule
                .allowed
                .iter()
                .map(|o| {
                    format!(
                        "<option{}>{}</option>",
                        if values.get(path.as_str()) == Some(o) { " selected" } else { "" },
                        escape(o)
                    )
                })
                .collect();
            format!("<select id=\"{id}\" name=\"{path}\"{required}>{options}</select>")
        } else if path.ends_with("inquiry_text") || path.ends_with("body") || path.ends_with("description") {
            format!("<textarea id=\"{id}\" name=\"{path}\" rows=\"4\"{required}>{value}</textarea>")
        } else {
            let kind = match rule.kind {
                FieldType::Email => "email",
                FieldType::Number | FieldType::Integer => "number",
                _ => "text",
            };
            format!("<input id=\"{id}\" name=\"{path}\" type=\"{kind}\" value=\"{value}\"{required} />")
        };
        let error = errors
            .get(path.as_str())
            .map(|e| format!("<p class=\"field-error\" id=\"{id}-error\" role=\"alert\">{}</p>", escape(e)))
            .unwrap_or_default();
        let block = format!(
            "<div class=\"field\"><label for=\"{id}\">{}{}</label>{input}{error}</div>\n",
            escape(&words.label(path)),
            if rule.required { " *" } else { "" }
        );
        if rule.allowed.is_empty() {
            html.push_str(&block);
        } else {
            more.push_str(&block);
        }
    }
    if !more.is_empty() {
        html.push_str(&format!(
            "<details{}><summary>More details</summary>{more}</details>\n",
            if errors.is_empty() { "" } else { " open" }
        ));
    }
    html.push_str(&format!(
        "<div aria-hidden=\"true\" style=\"position:absolute;left:-10000px\"><label>Leave this empty<input name=\"{HONEYPOT}\" tabindex=\"-1\" autocomplete=\"off\" /></label></div>\n"
    ));
    html
}

/// The snippet a business pastes into its own site.
pub fn snippet(public_url: &str, slug: &str, workflow: &str, contract: &DataContract, words: &FormWords) -> String {
    format!(
        "<form action=\"{}/forms/{slug}/{workflow}\" method=\"post\">\n{}<button type=\"submit\">Send</button>\n</form>",
        public_url.trim_end_matches('/'),
        inputs_html(contract, words, &BTreeMap::new(), &BTreeMap::new())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owners_words_replace_the_defaults_and_only_the_forms_fields_take_labels() {
        let contract = DataContract::template("lead").unwrap();
        let fields = default_labels(&contract);
        let (email, default) = fields.iter().find(|(p, _)| p == "primaryContact.email").unwrap().clone();
        assert_eq!(default, "Primary contact email");
        let words = FormWords {
            heading: "  Book a plumber ".into(),
            intro: String::new(),
            labels: [(email.clone(), " Your email ".to_string()), ("companyName".into(), "  ".into())].into(),
            ..Default::default()
        }
        .checked(&contract)
        .unwrap();
        assert_eq!(words.heading(), "Book a plumber");
        assert_eq!(words.intro(), FormWords::DEFAULT_INTRO);
        assert_eq!(words.label(&email), "Your email");
        assert_eq!(words.label("companyName"), "Company name", "an empty label keeps the default");
        let html = inputs_html(&contract, &words, &BTreeMap::new(), &BTreeMap::new());
        assert!(html.contains(">Your email *</label>"), "{html}");

        let bad = FormWords {
            heading: "x".repeat(FormWords::MAX_HEADING + 1),
            labels: [("nope".to_string(), "Nope".to_string()), (email, "<b>".repeat(30))].into(),
            ..Default::default()
        }
        .checked(&contract)
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["heading", "labels.nope", "labels.primaryContact.email"]);
        let escaped = FormWords { labels: [("companyName".into(), "<Company>".into())].into(), ..Default::default() };
        assert!(inputs_html(&contract, &escaped, &BTreeMap::new(), &BTreeMap::new()).contains("&lt;Company&gt;"));
    }
}
