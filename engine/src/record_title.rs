//! A record named in words, as a person would: the contact and company of a
//! lead, a ticket's subject and who sent it, an invoice and its customer.
//! Emails, the review queue and the runs list use it instead of run ids.

use serde_json::Value;

/// The record's name from the fields the data contract templates use, or
/// None when it has none of them.
pub fn record_title(record: &Value) -> Option<String> {
    let text = |path: &str| {
        let mut node = record;
        for part in path.split('.') {
            node = node.get(part)?;
        }
        let s = node.as_str()?.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    let first = |paths: &[&str]| paths.iter().find_map(|p| text(p));
    let person = first(&["primaryContact.name", "requester.name", "customer.name", "contact.name"]);
    if let Some(subject) = first(&["subject", "title"]) {
        return Some(match person {
            Some(p) => format!("\"{subject}\" from {p}"),
            None => format!("\"{subject}\""),
        });
    }
    if let Some(invoice) = first(&["invoice_id", "invoice_number"]) {
        return Some(match person {
            Some(p) => format!("Invoice {invoice} for {p}"),
            None => format!("Invoice {invoice}"),
        });
    }
    let company = first(&["companyName", "company", "account.name", "name"]);
    match (person, company) {
        (Some(p), Some(c)) => Some(format!("{p}, {c}")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_template_record_is_named_in_words() {
        let lead = json!({ "companyName": "Harbor Dental", "primaryContact": { "name": "Dana Reyes", "email": "d@h.example" } });
        assert_eq!(record_title(&lead).as_deref(), Some("Dana Reyes, Harbor Dental"));
        let ticket = json!({ "subject": "Printer on fire", "requester": { "name": "Sam" } });
        assert_eq!(record_title(&ticket).as_deref(), Some("\"Printer on fire\" from Sam"));
        let invoice = json!({ "invoice_id": "INV-7", "customer": { "name": "Pier Cafe" } });
        assert_eq!(record_title(&invoice).as_deref(), Some("Invoice INV-7 for Pier Cafe"));
        assert_eq!(record_title(&json!({ "name": "Acme", "domain": "acme.example" })).as_deref(), Some("Acme"));
        assert_eq!(record_title(&json!({ "title": "Call back" })).as_deref(), Some("\"Call back\""));
        assert_eq!(record_title(&json!({ "companyName": "  ", "amount": 3 })), None);
    }
}
