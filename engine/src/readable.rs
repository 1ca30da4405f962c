//! A record or a draft as a person reads it: labelled fields in an order
//! that reads well, instead of JSON. The labels and the order come from what
//! the business wrote (for an event: the data contract in the hosted form's
//! order, with the owner's own labels; for a draft: the prompt's response
//! schema, its titles, figures before text before lists) and otherwise from
//! the field's name in words ("primaryContact.email" → "Primary contact email").
//! Values are shown as they arrive, so masked values stay masked.

use crate::data_contract::DataContract;
use crate::form::{self, FormWords};
use serde_json::Value;
use std::collections::BTreeMap;

/// One line of a record: its label and its value in words.
pub type Field = (String, String);

/// How a record's fields are named and ordered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels {
    /// Known paths, in the order they are shown; fields not named come after, as they arrive.
    order: Vec<String>,
    names: BTreeMap<String, String>,
}

impl Labels {
    /// An event's fields as its hosted form asks for them, with the owner's labels;
    /// the contract's other fields (a default, the time stamp) after them.
    pub fn for_event(contract: &DataContract, words: &FormWords) -> Labels {
        let mut order: Vec<String> = form::default_labels(contract).into_iter().map(|(path, _)| path).collect();
        for path in contract.fields.keys() {
            if !order.contains(path) {
                order.push(path.clone());
            }
        }
        let names = order.iter().map(|path| (path.clone(), words.label(path))).collect();
        Labels { order, names }
    }

    /// A draft's fields from the response schema (JSON Schema, the shorthand
    /// expanded): figures and yes/no first, then text, then lists and
    /// objects; within each, required fields in their listed order. A
    /// property's `title` is its label.
    pub fn for_draft(schema: &Value) -> Labels {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Labels::default() };
        let required: Vec<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let group = |p: &Value| match p.get("type").and_then(Value::as_str) {
            Some("number" | "integer" | "boolean") => 0,
            Some("string") | None => 1,
            Some(_) => 2,
        };
        let mut keys: Vec<(&String, &Value)> = properties.iter().collect();
        keys.sort_by_key(|(name, p)| {
            (group(p), required.iter().position(|r| *r == name.as_str()).unwrap_or(usize::MAX), name.to_string())
        });
        let names = keys
            .iter()
            .filter_map(|(name, p)| p.get("title").and_then(Value::as_str).map(|t| (name.to_string(), t.to_string())))
            .collect();
        Labels { order: keys.into_iter().map(|(name, _)| name.clone()).collect(), names }
    }

    fn label(&self, path: &str) -> String {
        if path.is_empty() {
            return "Value".into();
        }
        self.names.get(path).cloned().unwrap_or_else(|| form::label(path))
    }

    /// Where a path goes: after the known path it is or lies under, else after every known one.
    fn rank(&self, path: &str) -> usize {
        self.order
            .iter()
            .position(|known| path == known || path.strip_prefix(known.as_str()).is_some_and(|r| r.starts_with('.')))
            .unwrap_or(self.order.len())
    }
}

/// The record's fields, labelled and ordered; nested objects flattened
/// ("Primary contact name"), lists of words joined, yes/no for booleans.
pub fn fields(record: &Value, labels: &Labels) -> Vec<Field> {
    if record.is_null() || record.as_object().is_some_and(|m| m.is_empty()) {
        return Vec::new();
    }
    let mut leaves = Vec::new();
    flatten(String::new(), record, &mut leaves);
    // Stable: fields with the same rank keep the order they arrived in.
    leaves.sort_by_key(|(path, _)| labels.rank(path));
    leaves.into_iter().map(|(path, value)| (labels.label(&path), value)).collect()
}

fn flatten(path: String, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                flatten(join(key), v, out);
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (i, item) in items.iter().enumerate() {
                flatten(join(&(i + 1).to_string()), item, out);
            }
        }
        Value::Array(items) => {
            let words: Vec<String> = items.iter().map(scalar).collect();
            out.push((path, if words.is_empty() { "—".into() } else { words.join(", ") }));
        }
        other => out.push((path, scalar(other))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) if s.trim().is_empty() => "—".into(),
        // A time stamp reads to the minute: "2026-12-03 08:58 UTC".
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s.trim()) {
            Ok(at) => at.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string(),
            Err(_) => s.clone(),
        },
        Value::Bool(true) => "Yes".into(),
        Value::Bool(false) => "No".into(),
        Value::Null => "—".into(),
        Value::Object(_) | Value::Array(_) => "—".into(),
        Value::Number(n) => n.to_string(),
    }
}

/// The fields as an HTML table (for emails and server-rendered pages).
pub fn html_table(fields: &[Field], testid: &str) -> String {
    let rows: String = fields
        .iter()
        .map(|(label, value)| {
            format!("<tr><th scope=\"row\">{}</th><td>{}</td></tr>", form::escape(label), form::escape(value))
        })
        .collect();
    format!("<table class=\"fields\" data-testid=\"{testid}\"><tbody>{rows}</tbody></table>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_reads_in_the_forms_order_with_the_owners_labels() {
        let contract = DataContract::template("lead").expect("the lead template");
        let mut words = FormWords::default();
        words.labels.insert("companyName".into(), "Your practice".into());
        let event = json!({
            "sourceChannel": "website",
            "companyName": "Harbor Dental",
            "primaryContact": { "email": "••••", "name": "Dana Reyes" },
            "extra": [1, 2]
        });
        let shown = fields(&event, &Labels::for_event(&contract, &words));
        let labels: Vec<&str> = shown.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels[0], "Your practice", "{shown:?}");
        assert!(shown.contains(&("Primary contact email".into(), "••••".into())), "masked stays masked: {shown:?}");
        assert!(shown.contains(&("Primary contact name".into(), "Dana Reyes".into())));
        assert_eq!(shown.last(), Some(&("Extra".into(), "1, 2".into())), "unknown fields come last");
        let pos = |l: &str| labels.iter().position(|x| *x == l).unwrap();
        assert!(pos("Primary contact name") < pos("Source channel"), "free fields before controlled ones: {labels:?}");
    }

    #[test]
    fn a_draft_reads_figures_then_text_then_lists_with_the_schemas_titles() {
        let schema = json!({
            "type": "object",
            "properties": {
                "summary": { "type": "string", "title": "What they want" },
                "risks": { "type": "array", "items": { "type": "string" } },
                "fit_score": { "type": "number" },
                "confidence": { "type": "number" },
                "urgent": { "type": "boolean" }
            },
            "required": ["fit_score", "summary", "risks", "confidence"]
        });
        let draft = json!({ "confidence": 0.62, "fit_score": 72, "risks": ["no budget", "timing"], "summary": "A clinic", "urgent": false, "note": null });
        let shown = fields(&draft, &Labels::for_draft(&schema));
        assert_eq!(
            shown,
            vec![
                ("Fit score".into(), "72".into()),
                ("Confidence".into(), "0.62".into()),
                ("Urgent".into(), "No".into()),
                ("What they want".into(), "A clinic".into()),
                ("Risks".into(), "no budget, timing".into()),
                ("Note".into(), "—".into()),
            ]
        );
        // Without a schema: names in words, as they arrive; lists of objects numbered.
        let shown = fields(&json!({ "lines": [{ "sku": "A1" }, { "sku": "B2" }], "total": 3 }), &Labels::default());
        assert_eq!(
            shown,
            vec![
                ("Lines 1 sku".into(), "A1".into()),
                ("Lines 2 sku".into(), "B2".into()),
                ("Total".into(), "3".into())
            ]
        );
        assert_eq!(fields(&json!("plain"), &Labels::default()), vec![("Value".into(), "plain".into())]);
        assert_eq!(
            fields(&json!({ "last_updated": "2026-12-03T09:58:10.88+01:00" }), &Labels::default()),
            vec![("Last updated".into(), "2026-12-03 08:58 UTC".into())]
        );
        let table = html_table(&[("Name <b>".into(), "a & b".into())], "draft-fields");
        assert!(table.contains("<th scope=\"row\">Name &lt;b&gt;</th><td>a &amp; b</td>"), "{table}");
    }
}
