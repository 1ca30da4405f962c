//! Turning a sending tool's payload into the record a data contract checks.
//!
//! Vendors' events do not look like Steward's records: Stripe nests the
//! invoice under `data.object`, Typeform keeps answers in a list, HubSpot
//! wraps every property in `{ value }`. A trigger's mapping is a table —
//! record field → expression over the payload — that runs at the door
//! before the data contract. Presets are such tables for common vendor
//! events, kept as data (`mapping_presets/*.yaml`, each with a sample
//! payload from the vendor's documentation beside it); a trigger names one
//! (`preset:`) and may override or add rows (`mapping:`).
//!
//! Expressions are minijinja expressions (`data.object.customer_email`,
//! `properties.company.value or "unknown"`, `created | from_unix`), so the
//! same language the prompts use; three additions cover what vendors need:
//! `from_unix` and `from_unix_ms` (epoch seconds or milliseconds, as
//! numbers or text, to an RFC 3339 time) and `find(list, path, value)`
//! (the first item of a list whose `path` equals `value`).

use crate::data_contract::Violation;
use minijinja::value::Value as Jinja;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// A mapping preset: a vendor event turned into a data contract's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// How a trigger names it (`preset: stripe-invoice-payment-failed`).
    pub name: String,
    /// In words, for the trigger page.
    pub title: String,
    pub vendor: String,
    /// How this vendor signs its webhooks.
    pub signature: crate::sender_proof::Scheme,
    /// The vendor's name for the event.
    pub event: String,
    /// Where the payload says which event it is; a payload of another event is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type_at: Option<String>,
    /// The data contract the mapped record is checked against.
    pub data_contract: String,
    /// What to set in the vendor's tool besides the address and secret.
    pub setup: String,
    /// Where the payload's shape is documented.
    pub documentation: String,
    /// For tools whose webhook body is written by hand (Zendesk triggers): the body to paste there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_to_send: Option<String>,
    /// Record field (dotted path) → expression over the payload.
    pub fields: BTreeMap<String, String>,
    /// A payload from the vendor's documentation (filled from the JSON file beside the YAML).
    #[serde(skip)]
    pub sample: Value,
}

/// The presets shipped with Steward: (YAML, sample payload).
const SOURCES: [(&str, &str); 5] = [
    (
        include_str!("mapping_presets/stripe-invoice-payment-failed.yaml"),
        include_str!("mapping_presets/stripe-invoice-payment-failed.json"),
    ),
    (
        include_str!("mapping_presets/hubspot-contact-created.yaml"),
        include_str!("mapping_presets/hubspot-contact-created.json"),
    ),
    (
        include_str!("mapping_presets/typeform-form-response.yaml"),
        include_str!("mapping_presets/typeform-form-response.json"),
    ),
    (
        include_str!("mapping_presets/zendesk-ticket-created.yaml"),
        include_str!("mapping_presets/zendesk-ticket-created.json"),
    ),
    (
        include_str!("mapping_presets/shopify-order-created.yaml"),
        include_str!("mapping_presets/shopify-order-created.json"),
    ),
];

/// Every preset, in the order the trigger page offers them.
pub fn presets() -> &'static [Preset] {
    static PRESETS: OnceLock<Vec<Preset>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(yaml, sample)| {
                // Shipped files, checked by this module's tests: a broken one is a build mistake.
                let mut preset: Preset = serde_norway::from_str(yaml).expect("a shipped mapping preset parses");
                preset.sample = serde_json::from_str(sample).expect("a shipped preset sample is JSON");
                preset
            })
            .collect()
    })
}

/// A preset by name.
pub fn preset(name: &str) -> Option<&'static Preset> {
    presets().iter().find(|p| p.name == name)
}

/// The names of every preset, for "use one of: …".
pub fn preset_names() -> String {
    presets().iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// A trigger's effective mapping: its preset's rows with its own on top.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapping {
    pub fields: BTreeMap<String, String>,
    /// (where, the event it expects) when the payload says which event it is.
    pub event_check: Option<(String, String)>,
}

/// What a mapping made of a payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub record: Value,
    /// Fields whose expression found nothing, with the expression (for the data contract's reasons).
    pub empty: BTreeMap<String, String>,
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `a.b.c` on a payload without `a` is nothing, not an error: the data contract says whether it matters.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.add_filter("from_unix", |v: Jinja| epoch(v, 1));
        env.add_filter("from_unix_ms", |v: Jinja| epoch(v, 1000));
        env.add_function("find", find);
        env
    })
}

/// Epoch seconds (`per_second` 1) or milliseconds (1000), as a number or
/// text, to an RFC 3339 time; nothing stays nothing.
fn epoch(value: Jinja, per_second: i64) -> Result<Jinja, Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(value);
    }
    let number = match value.as_str() {
        Some(text) => text.trim().parse::<i64>().ok(),
        None => i64::try_from(value.clone()).ok(),
    };
    let at = number
        .and_then(|n| chrono::DateTime::from_timestamp(n.div_euclid(per_second), 0))
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("{value} is not an epoch time")))?;
    Ok(Jinja::from(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

/// The first item of `list` whose dotted `path` equals `wanted`.
fn find(list: Jinja, path: String, wanted: Jinja) -> Result<Jinja, Error> {
    if list.is_undefined() || list.is_none() {
        return Ok(Jinja::UNDEFINED);
    }
    for item in list.try_iter()? {
        let mut at = item.clone();
        for part in path.split('.') {
            at = at.get_attr(part).unwrap_or(Jinja::UNDEFINED);
        }
        if at == wanted {
            return Ok(item);
        }
    }
    Ok(Jinja::UNDEFINED)
}

/// Whether an expression reads; the reason when not.
pub fn check_expression(expression: &str) -> Result<(), String> {
    environment().compile_expression(expression).map(|_| ()).map_err(|e| e.to_string())
}

/// Whether a record field is a dotted path of names.
pub fn is_field_path(path: &str) -> bool {
    !path.is_empty() && path.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn set(record: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    let mut cur = record;
    for part in parts {
        let entry = cur.entry(part.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        cur = next;
    }
    cur.insert(last.to_owned(), value);
}

impl Mapping {
    /// A trigger's mapping from its preset and its own rows.
    pub fn of(preset: Option<&Preset>, own: &BTreeMap<String, String>) -> Mapping {
        let mut fields = preset.map(|p| p.fields.clone()).unwrap_or_default();
        fields.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        let event_check = preset.and_then(|p| p.event_type_at.clone().map(|at| (at, p.event.clone())));
        Mapping { fields, event_check }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.event_check.is_none()
    }

    /// Maps a payload to a record. Every field that cannot be computed is a
    /// violation (`rule: mapping`); so is a payload of another event.
    pub fn apply(&self, payload: &Value) -> Result<Mapped, Vec<Violation>> {
        let mut violations = Vec::new();
        if let Some((at, expected)) = &self.event_check {
            let found = lookup(payload, at).and_then(Value::as_str);
            if found != Some(expected.as_str()) {
                violations.push(Violation {
                    field: at.clone(),
                    rule: "event_type".into(),
                    message: format!(
                        "this trigger maps '{expected}' events, and this payload is {}; send only '{expected}' to this address",
                        found.map(|f| format!("'{f}'")).unwrap_or_else(|| format!("without `{at}`"))
                    ),
                });
                return Err(violations);
            }
        }
        let env = environment();
        let context = Jinja::from_serialize(payload);
        let mut record = Map::new();
        let mut empty = BTreeMap::new();
        for (field, expression) in &self.fields {
            let value = env.compile_expression(expression).and_then(|e| e.eval(&context));
            match value {
                Ok(v) if v.is_undefined() || v.is_none() => {
                    empty.insert(field.clone(), expression.clone());
                }
                Ok(v) => match serde_json::to_value(&v) {
                    Ok(json) => set(&mut record, field, json),
                    Err(e) => violations.push(Violation {
                        field: field.clone(),
                        rule: "mapping".into(),
                        message: format!("{field}: `{expression}` gave a value that is not JSON: {e}"),
                    }),
                },
                Err(e) => violations.push(Violation {
                    field: field.clone(),
                    rule: "mapping".into(),
                    message: format!(
                        "{field}: `{expression}` could not be computed: {}",
                        e.detail().unwrap_or(&e.to_string())
                    ),
                }),
            }
        }
        if violations.is_empty() {
            Ok(Mapped { record: Value::Object(record), empty })
        } else {
            Err(violations)
        }
    }
}

impl Mapped {
    /// The data contract's reasons, saying where the mapping looked for a field it found empty.
    pub fn explain(&self, violations: Vec<Violation>) -> Vec<Violation> {
        violations
            .into_iter()
            .map(|mut v| {
                if let Some(expression) = self.empty.get(&v.field).filter(|_| v.rule == "required") {
                    v.message = format!("{} is required and the mapping found nothing at `{expression}`", v.field);
                }
                v
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shipped_preset_reads_and_maps_its_sample_to_a_valid_record() {
        assert_eq!(presets().len(), SOURCES.len());
        let now = chrono::Utc::now();
        for preset in presets() {
            for (field, expression) in &preset.fields {
                assert!(is_field_path(field), "{}: {field}", preset.name);
                check_expression(expression).unwrap_or_else(|e| panic!("{} {field}: {e}", preset.name));
            }
            let contract = crate::data_contract::DataContract::template(&preset.data_contract)
                .unwrap_or_else(|| panic!("{} names no shipped data contract", preset.name));
            let mapped = Mapping::of(Some(preset), &BTreeMap::new())
                .apply(&preset.sample)
                .unwrap_or_else(|v| panic!("{}: {v:?}", preset.name));
            // Samples are from the vendors' documentation, so their times are old: judge them at their own time.
            let at = contract
                .last_updated
                .as_ref()
                .and_then(|s| lookup(&mapped.record, &s.field))
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or(now);
            contract.apply(&mapped.record, at).unwrap_or_else(|v| panic!("{}: {v:?}", preset.name));
        }
    }

    #[test]
    fn stripe_invoice_fields_land_where_the_invoice_contract_wants_them() {
        let preset = preset("stripe-invoice-payment-failed").unwrap();
        let mapped = Mapping::of(Some(preset), &BTreeMap::new()).apply(&preset.sample).unwrap();
        let r = &mapped.record;
        assert_eq!(r["invoice_id"], preset.sample["data"]["object"]["number"], "the number customers see");
        assert_eq!(r["customer"]["email"], preset.sample["data"]["object"]["customer_email"]);
        assert_eq!(r["amount_due"]["minor_units"], preset.sample["data"]["object"]["amount_due"]);
        let created = preset.sample["created"].as_i64().unwrap();
        let expected =
            chrono::DateTime::from_timestamp(created, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(r["last_updated"], json!(expected));
    }

    #[test]
    fn another_event_of_the_vendor_is_refused_naming_where_it_says_so() {
        let preset = preset("stripe-invoice-payment-failed").unwrap();
        let mut other = preset.sample.clone();
        other["type"] = json!("customer.created");
        let refused = Mapping::of(Some(preset), &BTreeMap::new()).apply(&other).unwrap_err();
        assert_eq!(refused[0].field, "type");
        assert!(refused[0].message.contains("'customer.created'"), "{}", refused[0].message);
    }

    #[test]
    fn own_rows_override_the_preset_and_a_failing_expression_is_a_reason() {
        let preset = preset("typeform-form-response").unwrap();
        let own = BTreeMap::from([
            ("companyName".to_string(), "\"Fixed Ltd\"".to_string()),
            ("last_updated".to_string(), "form_response.hidden | from_unix".to_string()),
        ]);
        let mut payload = preset.sample.clone();
        payload["form_response"]["hidden"] = json!("not a time");
        let refused = Mapping::of(Some(preset), &own).apply(&payload).unwrap_err();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].field, "last_updated");
        assert_eq!(refused[0].rule, "mapping");
        let own = BTreeMap::from([("companyName".to_string(), "\"Fixed Ltd\"".to_string())]);
        let mapped = Mapping::of(Some(preset), &own).apply(&preset.sample).unwrap();
        assert_eq!(mapped.record["companyName"], "Fixed Ltd");
    }

    #[test]
    fn a_field_the_payload_lacks_is_explained_with_the_expression() {
        let mapping = Mapping {
            fields: BTreeMap::from([("customer.email".to_string(), "data.object.customer_email".to_string())]),
            event_check: None,
        };
        let mapped = mapping.apply(&json!({ "data": { "object": {} } })).unwrap();
        assert_eq!(mapped.record, json!({}));
        let explained = mapped.explain(vec![Violation {
            field: "customer.email".into(),
            rule: "required".into(),
            message: "customer.email is required and is missing".into(),
        }]);
        assert!(explained[0].message.contains("`data.object.customer_email`"), "{}", explained[0].message);
    }

    #[test]
    fn epochs_and_lists_are_read_the_vendor_way() {
        let mapping = Mapping {
            fields: BTreeMap::from([
                ("a".to_string(), "s | from_unix".to_string()),
                ("b".to_string(), "ms | from_unix_ms".to_string()),
                ("c".to_string(), "find(items, \"field.ref\", \"email\").email".to_string()),
                ("d".to_string(), "[first, missing, last] | select | join(\" \")".to_string()),
            ]),
            event_check: None,
        };
        let payload = json!({
            "s": 1700000000, "ms": "1700000000123", "first": "Ada", "last": "Lovelace",
            "items": [{ "field": { "ref": "name" }, "text": "x" }, { "field": { "ref": "email" }, "email": "a@b.co" }],
        });
        let r = mapping.apply(&payload).unwrap().record;
        assert_eq!(r["a"], "2023-11-14T22:13:20Z");
        assert_eq!(r["b"], "2023-11-14T22:13:20Z");
        assert_eq!(r["c"], "a@b.co");
        assert_eq!(r["d"], "Ada Lovelace");
        assert!(check_expression("a |").is_err());
    }
}
