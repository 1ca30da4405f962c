//! Public forms built from a data contract: the inputs (shared by the
//! hosted page and the snippet a business embeds), with each field's error
//! beside it and a honeypot field for bots.

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
            label(path),
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
pub fn snippet(public_url: &str, slug: &str, workflow: &str, contract: &DataContract) -> String {
    format!(
        "<form action=\"{}/forms/{slug}/{workflow}\" method=\"post\">\n{}<button type=\"submit\">Send</button>\n</form>",
        public_url.trim_end_matches('/'),
        inputs_html(contract, &BTreeMap::new(), &BTreeMap::new())
    )
}
