//! The built-in offline model: deterministic, schema-valid output with no key
//! and no network, so a fresh install runs end to end. Token counts are
//! estimated the way providers roughly count (about four characters a token).

use serde_json::{json, Value};

/// About four characters per token, at least one for non-empty text.
pub fn estimate_tokens(text: &str) -> u64 {
    let chars = text.chars().count() as u64;
    if chars == 0 {
        0
    } else {
        chars.div_ceil(4)
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// Output that satisfies `schema`, derived from the prompt so the same
/// prompt always gets the same answer.
pub fn respond(prompt: &str, schema: &Value) -> Value {
    generate(schema, fnv(prompt), "answer")
}

fn generate(schema: &Value, seed: u64, name: &str) -> Value {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.get((seed % values.len().max(1) as u64) as usize).cloned().unwrap_or(Value::Null);
    }
    match schema.get("type").and_then(Value::as_str).unwrap_or("object") {
        "object" => {
            let mut out = serde_json::Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (i, (key, sub)) in props.iter().enumerate() {
                    out.insert(key.clone(), generate(sub, seed.rotate_left(i as u32 * 7 + 1), key));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let item = schema.get("items").cloned().unwrap_or(json!({ "type": "string" }));
            json!([generate(&item, seed.rotate_left(3), name)])
        }
        "number" | "integer" => {
            let min = schema.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
            let max = schema.get("maximum").and_then(Value::as_f64).unwrap_or(min + 100.0);
            let span = (max - min).max(0.0);
            let v = min + (seed % 1000) as f64 / 1000.0 * span;
            if schema.get("type").and_then(Value::as_str) == Some("integer") {
                json!(v.floor() as i64)
            } else {
                json!((v * 100.0).round() / 100.0)
            }
        }
        "boolean" => json!(seed.is_multiple_of(2)),
        _ => json!(format!("Offline draft {name} #{:04}", seed % 10_000)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_deterministic_and_fits_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": { "score": { "type": "number", "minimum": 0, "maximum": 100 }, "tags": { "type": "array", "items": { "type": "string" } } },
            "required": ["score", "tags"]
        });
        let a = respond("hello", &schema);
        assert_eq!(a, respond("hello", &schema));
        assert!(jsonschema::is_valid(&schema, &a), "{a}");
        assert_eq!(estimate_tokens("abcdefgh"), 2);
    }
}
