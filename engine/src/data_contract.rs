//! Data contracts: what a business object (lead, account, ticket, invoice,
//! task) must look like before automation touches it. Validation and
//! normalisation are pure functions; ingestion calls them at the door.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataContract {
    /// The business object: lead, account, ticket, invoice, task.
    pub object: String,
    /// Field paths (`primaryContact.email`) and their rules.
    pub fields: BTreeMap<String, FieldRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Staleness>,
    /// Which system is authoritative for this object (crm, accounting, helpdesk…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_of_truth: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    String,
    Number,
    Integer,
    Boolean,
    Email,
    Datetime,
    Object,
}

/// What to do when a field is missing or null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NullHandling {
    /// A missing or null value breaks the contract.
    #[default]
    Reject,
    /// Replace it with `default`.
    Default,
    /// Keep it as null.
    Keep,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    #[serde(rename = "type", default)]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(rename = "null", default)]
    pub null: NullHandling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Controlled values; a normalised value must be one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// Free text → controlled value, compared case- and space-insensitively.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub normalize: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// Personal or secret data: masked wherever a run's inputs and outputs are shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Staleness {
    pub field: String,
    pub max_age_days: i64,
}

/// One broken rule, on one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub field: String,
    /// required, type, allowed, min_length, stale, format.
    pub rule: String,
    pub message: String,
}

fn get<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(record, |v, key| v.get(key))
}

fn set(record: &mut Value, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    let mut cur = record;
    for part in parts {
        if !cur.get(part).is_some_and(Value::is_object) {
            if let Some(map) = cur.as_object_mut() {
                map.insert(part.to_owned(), Value::Object(Map::new()));
            }
        }
        match cur.get_mut(part) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(map) = cur.as_object_mut() {
        map.insert(last.to_owned(), value);
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

impl DataContract {
    pub fn from_json(value: &Value) -> Result<DataContract, String> {
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())
    }

    /// Checks a record and returns it normalised, or every rule it breaks.
    pub fn apply(&self, record: &Value, now: DateTime<Utc>) -> Result<Value, Vec<Violation>> {
        let mut out = record.clone();
        let mut violations = Vec::new();
        let mut broke = |field: &str, rule: &str, message: String| {
            violations.push(Violation { field: field.to_owned(), rule: rule.to_owned(), message })
        };
        if !record.is_object() {
            broke("", "type", "the record must be a JSON object".into());
            return Err(violations);
        }
        for (path, rule) in &self.fields {
            let value = get(record, path).cloned().unwrap_or(Value::Null);
            let empty_text = value.as_str().is_some_and(|s| s.trim().is_empty());
            if value.is_null() || (empty_text && rule.required) {
                let present_null = get(record, path).is_some_and(Value::is_null);
                match (rule.null, rule.required) {
                    (NullHandling::Default, _) if !empty_text => {
                        set(&mut out, path, rule.default.clone().unwrap_or(Value::Null))
                    }
                    (_, true) => broke(
                        path,
                        "required",
                        format!("{path} is required and is {}", if empty_text { "empty" } else { "missing" }),
                    ),
                    (NullHandling::Reject, false) if present_null => {
                        broke(path, "required", format!("{path} may not be null"))
                    }
                    _ => {}
                }
                continue;
            }
            let mut value = value;
            if let (Some(text), false) = (value.as_str(), rule.normalize.is_empty()) {
                let key = squash(text);
                if let Some((_, to)) = rule.normalize.iter().find(|(from, _)| squash(from) == key) {
                    value = Value::String(to.clone());
                }
            }
            let type_ok = match rule.kind {
                FieldType::String => value.is_string(),
                FieldType::Number => value.is_number(),
                FieldType::Integer => value.is_i64() || value.is_u64(),
                FieldType::Boolean => value.is_boolean(),
                FieldType::Object => value.is_object(),
                FieldType::Email => value.as_str().is_some_and(|s| crate::Email::parse(s).is_ok()),
                FieldType::Datetime => value.as_str().is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok()),
            };
            if !type_ok {
                let wanted = serde_json::to_value(rule.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                broke(
                    path,
                    if matches!(rule.kind, FieldType::Email | FieldType::Datetime) { "format" } else { "type" },
                    format!("{path} must be a valid {wanted}, not {value}"),
                );
                continue;
            }
            if let Some(min) = rule.min_length {
                if value.as_str().is_some_and(|s| s.trim().chars().count() < min) {
                    broke(path, "min_length", format!("{path} needs at least {min} characters"));
                    continue;
                }
            }
            if !rule.allowed.is_empty() {
                let text = value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string());
                if !rule.allowed.contains(&text) {
                    broke(path, "allowed", format!("{path} '{text}' is not one of: {}", rule.allowed.join(", ")));
                    continue;
                }
            }
            if rule.kind == FieldType::Email {
                if let Some(email) = value.as_str().and_then(|s| crate::Email::parse(s).ok()) {
                    value = Value::String(email.to_string());
                }
            }
            set(&mut out, path, value);
        }
        if let Some(stale) = &self.last_updated {
            match get(record, &stale.field).and_then(Value::as_str).map(DateTime::parse_from_rfc3339) {
                Some(Ok(at)) => {
                    let age = now.signed_duration_since(at.with_timezone(&Utc)).num_days();
                    if age > stale.max_age_days {
                        broke(
                            &stale.field,
                            "stale",
                            format!(
                                "the record was last updated {age} days ago; the limit is {} days",
                                stale.max_age_days
                            ),
                        );
                    }
                }
                Some(Err(_)) => broke(&stale.field, "format", format!("{} must be an RFC 3339 time", stale.field)),
                None => broke(&stale.field, "required", format!("{} is required to judge staleness", stale.field)),
            }
        }
        if violations.is_empty() {
            Ok(out)
        } else {
            Err(violations)
        }
    }

    /// The starting contract for a business object, for the template picker.
    pub fn template(object: &str) -> Option<DataContract> {
        let json = match object {
            "lead" => include_str!("data_contract_templates/lead.json"),
            "account" => include_str!("data_contract_templates/account.json"),
            "ticket" => include_str!("data_contract_templates/ticket.json"),
            "invoice" => include_str!("data_contract_templates/invoice.json"),
            "task" => include_str!("data_contract_templates/task.json"),
            _ => return None,
        };
        serde_json::from_str(json).ok()
    }

    /// A record that meets the contract, for examples (curl, API docs).
    pub fn sample(&self, now: DateTime<Utc>) -> Value {
        let mut out = Value::Object(Map::new());
        for (path, rule) in &self.fields {
            let value = if let Some(first) = rule.allowed.first() {
                Value::String(first.clone())
            } else {
                match rule.kind {
                    FieldType::Email => Value::String("dana@example.com".into()),
                    FieldType::Number | FieldType::Integer => serde_json::json!(1200),
                    FieldType::Boolean => Value::Bool(true),
                    FieldType::Datetime => Value::String(now.to_rfc3339()),
                    FieldType::Object => Value::Object(Map::new()),
                    FieldType::String => Value::String(format!("Example {}", path.rsplit('.').next().unwrap_or(path))),
                }
            };
            set(&mut out, path, value);
        }
        if let Some(stale) = &self.last_updated {
            set(&mut out, &stale.field, Value::String(now.format("%Y-%m-%dT%H:%M:%SZ").to_string()));
        }
        out
    }

    /// The records this contract accepts, as a JSON Schema (2020-12) for API
    /// documents: nested objects for dotted paths, `required` where a missing
    /// value is refused, formats for email and time fields. Normalisation
    /// (other spellings of a controlled value) is told in the description, so
    /// the schema never refuses what the door accepts.
    pub fn json_schema(&self) -> Value {
        fn node(schema: &mut Value, path: &[&str], leaf: Value, required: bool) {
            let (first, rest) = (path[0], &path[1..]);
            if schema.get("properties").is_none() {
                schema["properties"] = Value::Object(Map::new());
            }
            if required {
                let list =
                    schema.as_object_mut().map(|m| m.entry("required").or_insert_with(|| Value::Array(Vec::new())));
                if let Some(Value::Array(list)) = list {
                    if !list.iter().any(|v| v == first) {
                        list.push(Value::String(first.to_owned()));
                    }
                }
            }
            if rest.is_empty() {
                schema["properties"][first] = leaf;
            } else {
                if !schema["properties"][first].is_object() {
                    schema["properties"][first] = serde_json::json!({ "type": "object" });
                }
                node(&mut schema["properties"][first], rest, leaf, required);
            }
        }
        let mut schema = serde_json::json!({
            "type": "object",
            "title": self.object,
            "description": format!("A {} record, as this business's data contract checks it at the door.", self.object),
        });
        for (path, rule) in &self.fields {
            let mut leaf = match rule.kind {
                FieldType::String => serde_json::json!({ "type": "string" }),
                FieldType::Number => serde_json::json!({ "type": "number" }),
                FieldType::Integer => serde_json::json!({ "type": "integer" }),
                FieldType::Boolean => serde_json::json!({ "type": "boolean" }),
                FieldType::Object => serde_json::json!({ "type": "object" }),
                FieldType::Email => serde_json::json!({ "type": "string", "format": "email" }),
                FieldType::Datetime => serde_json::json!({ "type": "string", "format": "date-time" }),
            };
            let mut notes = Vec::new();
            if let Some(min) = rule.min_length {
                leaf["minLength"] = serde_json::json!(min);
            }
            if !rule.allowed.is_empty() {
                if rule.normalize.is_empty() {
                    leaf["enum"] = serde_json::json!(rule.allowed);
                } else {
                    notes.push(format!(
                        "One of {}; also accepted and normalised: {}.",
                        rule.allowed.join(", "),
                        rule.normalize.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            match rule.null {
                NullHandling::Default => {
                    leaf["default"] = rule.default.clone().unwrap_or(Value::Null);
                    notes.push("Missing or null takes the default.".into());
                }
                NullHandling::Keep => leaf["type"] = serde_json::json!([leaf["type"].clone(), "null"]),
                NullHandling::Reject => {}
            }
            if rule.sensitive {
                notes.push("Sensitive: masked wherever runs are shown.".into());
            }
            if !notes.is_empty() {
                leaf["description"] = Value::String(notes.join(" "));
            }
            let required = rule.required && rule.null != NullHandling::Default;
            let parts: Vec<&str> = path.split('.').collect();
            node(&mut schema, &parts, leaf, required);
        }
        if let Some(stale) = &self.last_updated {
            let leaf = serde_json::json!({
                "type": "string",
                "format": "date-time",
                "description": format!("When the record last changed; older than {} days is refused as stale.", stale.max_age_days),
            });
            let parts: Vec<&str> = stale.field.split('.').collect();
            node(&mut schema, &parts, leaf, true);
        }
        schema
    }

    /// The last segment of every sensitive field's path (`primaryContact.email` → `email`).
    pub fn sensitive_keys(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(_, r)| r.sensitive)
            .filter_map(|(p, _)| p.rsplit('.').next().map(str::to_owned))
            .collect()
    }

    pub const TEMPLATES: [&'static str; 5] = ["lead", "account", "ticket", "invoice", "task"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_schema_accepts_what_the_door_accepts_and_requires_what_it_requires() {
        let contract = DataContract::template("lead").unwrap();
        let schema = contract.json_schema();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let now = Utc::now();
        let good = contract.sample(now);
        assert!(contract.apply(&good, now).is_ok());
        assert!(validator.is_valid(&good), "{schema}");
        let mut spelled = good.clone();
        spelled["sourceChannel"] = serde_json::json!("Web Form");
        assert!(
            contract.apply(&spelled, now).is_ok() && validator.is_valid(&spelled),
            "normalised spellings pass both"
        );
        let mut no_email = good.clone();
        no_email["primaryContact"].as_object_mut().unwrap().remove("email");
        assert!(contract.apply(&no_email, now).is_err() && !validator.is_valid(&no_email));
        assert_eq!(schema["properties"]["primaryContact"]["properties"]["email"]["format"], "email");
        assert!(schema["required"].as_array().unwrap().contains(&serde_json::json!("last_updated")));
        let mut no_owner = good;
        no_owner.as_object_mut().unwrap().remove("ownerId");
        assert!(validator.is_valid(&no_owner), "a field with a default may be left out");
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn every_template_parses_and_its_sample_meets_it() {
        for name in DataContract::TEMPLATES {
            let contract = DataContract::template(name).unwrap_or_else(|| panic!("{name}"));
            let sample = contract.sample(now());
            assert!(contract.apply(&sample, now()).is_ok(), "{name}: {:?}", contract.apply(&sample, now()));
        }
    }

    #[test]
    fn a_good_lead_is_normalised() {
        let lead = DataContract::template("lead").unwrap();
        let out = lead.apply(&fixture("lead.website_form.json"), now()).unwrap();
        assert_eq!(out["sourceChannel"], "website", "'Web form' becomes the controlled value");
        assert_eq!(out["primaryContact"]["email"], "dana.whitfield@harbordental.example");
        assert_eq!(out["annual_contract_value"], 60000);
        assert_eq!(lead.sensitive_keys(), vec!["email".to_string(), "phone".to_string()]);
    }

    #[test]
    fn a_broken_lead_reports_every_rule_it_breaks() {
        let lead = DataContract::template("lead").unwrap();
        let violations = lead.apply(&fixture("lead.incomplete.json"), now()).unwrap_err();
        let found: Vec<(&str, &str)> = violations.iter().map(|v| (v.field.as_str(), v.rule.as_str())).collect();
        for expected in [
            ("companyName", "required"),
            ("primaryContact.email", "format"),
            ("sourceChannel", "allowed"),
            ("lifecycleStage", "allowed"),
            ("last_updated", "stale"),
        ] {
            assert!(found.contains(&expected), "missing {expected:?} in {found:?}");
        }
    }

    #[test]
    fn null_handling_defaults_keeps_or_rejects() {
        let contract: DataContract = serde_json::from_value(serde_json::json!({
            "object": "task",
            "fields": {
                "priority": { "type": "string", "null": "default", "default": "normal" },
                "notes": { "type": "string", "null": "keep" },
                "title": { "type": "string", "required": true }
            }
        }))
        .unwrap();
        let out = contract.apply(&serde_json::json!({ "title": "Call back", "notes": null }), now()).unwrap();
        assert_eq!(out["priority"], "normal");
        assert!(out["notes"].is_null());
        let err = contract.apply(&serde_json::json!({ "notes": "x" }), now()).unwrap_err();
        assert_eq!(err[0].field, "title");
    }

    #[test]
    fn other_templates_accept_their_fixtures() {
        assert!(DataContract::template("ticket").unwrap().apply(&fixture("ticket.created.json"), now()).is_ok());
        assert!(DataContract::template("invoice").unwrap().apply(&fixture("invoice.overdue.json"), now()).is_ok());
    }
}
