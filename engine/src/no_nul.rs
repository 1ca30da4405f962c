//! PostgreSQL stores no NUL character (U+0000) in text or in JSON. What
//! Steward is given to keep (a delivery, a step's answer, an error quoting
//! one) is checked first, so whoever gave it hears where the character is
//! instead of a storage error that would fail the same way on every retry.

use serde_json::Value;
use std::borrow::Cow;

/// Where a JSON document holds a NUL character, in a value or a key, as a
/// field path under `path` (`contact.name`, `items[2]`); `Some("")` when
/// the document is itself a string with one.
pub fn nul_in(value: &Value, path: &str) -> Option<String> {
    // Checked without building a path first: nearly every document has none.
    if !has_nul(value) {
        return None;
    }
    let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        Value::String(s) if s.contains('\0') => Some(path.to_owned()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_in(v, &format!("{path}[{i}]"))),
        Value::Object(map) => {
            map.iter().find_map(|(k, v)| if k.contains('\0') { Some(at(&visible(k))) } else { nul_in(v, &at(k)) })
        }
        _ => None,
    }
}

/// Whether any text or key of the document holds a NUL character.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Text with each NUL character written out as `\u0000`, for a message
/// that quotes what it was given.
pub fn visible(text: &str) -> Cow<'_, str> {
    match text.contains('\0') {
        true => Cow::Owned(text.replace('\0', "\\u0000")),
        false => Cow::Borrowed(text),
    }
}

/// A document of messages (a step's detail) with each NUL character in its
/// text and keys written out as `\u0000`.
pub fn shown(value: Value) -> Value {
    if !has_nul(&value) {
        return value;
    }
    match value {
        Value::String(s) if s.contains('\0') => Value::String(visible(&s).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(shown).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (visible(&k).into_owned(), shown(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nul_is_found_by_its_field_path_in_values_and_keys() {
        assert_eq!(nul_in(&json!({ "contact": { "name": "Ann\u{0}" } }), ""), Some("contact.name".into()));
        assert_eq!(nul_in(&json!({ "items": [1, "a", "b\u{0}"] }), ""), Some("items[2]".into()));
        assert_eq!(nul_in(&json!({ "ke\u{0}y": 1 }), "answer"), Some("answer.ke\\u0000y".into()));
        assert_eq!(nul_in(&json!("x\u{0}"), ""), Some(String::new()));
        assert_eq!(nul_in(&json!({ "name": "Ann", "n": [1, null, true] }), ""), None);
    }

    #[test]
    fn a_message_shows_a_nul_as_its_escape() {
        assert_eq!(visible("a\u{0}b"), "a\\u0000b");
        assert!(matches!(visible("plain"), Cow::Borrowed("plain")));
        let detail = shown(json!({ "calls": [{ "error": "bad\u{0}", "k\u{0}": 1 }] }));
        assert_eq!(detail, json!({ "calls": [{ "error": "bad\\u0000", "k\\u0000": 1 }] }));
        assert_eq!(nul_in(&detail, ""), None);
    }
}
