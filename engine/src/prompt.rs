//! Prompt templates: a versioned JSON document with an objective, the
//! context keys it needs, the response schema (shorthand or JSON Schema),
//! rules, and the template text rendered with minijinja.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptTemplate {
    pub objective: String,
    #[serde(rename = "requiredContextKeys", default)]
    pub required_context_keys: Vec<String>,
    /// Either `{ "field": "number_0_to_100" | "string" | "string[]" | … }` or a JSON Schema.
    #[serde(rename = "responseSchema")]
    pub response_schema: Value,
    #[serde(default)]
    pub rules: Vec<String>,
    pub template: String,
}

/// The seed's shorthand for response fields.
fn shorthand(kind: &str) -> Option<Value> {
    Some(match kind {
        "string" => json!({ "type": "string" }),
        "string[]" => json!({ "type": "array", "items": { "type": "string" } }),
        "number" => json!({ "type": "number" }),
        "integer" => json!({ "type": "integer" }),
        "boolean" => json!({ "type": "boolean" }),
        "number_0_to_1" => json!({ "type": "number", "minimum": 0, "maximum": 1 }),
        "number_0_to_100" => json!({ "type": "number", "minimum": 0, "maximum": 100 }),
        _ => return None,
    })
}

fn is_json_schema(v: &Value) -> bool {
    v.get("type").is_some_and(Value::is_string) || v.get("$schema").is_some() || v.get("properties").is_some()
}

impl PromptTemplate {
    pub fn from_json(value: &Value) -> Result<PromptTemplate, Vec<String>> {
        let template: PromptTemplate = serde_json::from_value(value.clone()).map_err(|e| vec![e.to_string()])?;
        let problems = template.problems();
        if problems.is_empty() {
            Ok(template)
        } else {
            Err(problems)
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.objective.trim().is_empty() {
            out.push("objective: say what the prompt is for".to_string());
        }
        if let Err(e) = self.response_json_schema().and_then(|s| compile(&s).map(|_| ())) {
            out.push(format!("responseSchema: {e}"));
        }
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        if let Err(e) = env.template_from_str(&self.template) {
            out.push(format!("template: {}", e.detail().unwrap_or("does not parse")));
        }
        out
    }

    /// The response schema as JSON Schema, expanding the shorthand.
    pub fn response_json_schema(&self) -> Result<Value, String> {
        let schema = &self.response_schema;
        if is_json_schema(schema) {
            return Ok(schema.clone());
        }
        let Some(fields) = schema.as_object() else {
            return Err("use a JSON Schema or an object of field: type shorthand".into());
        };
        let mut properties = Map::new();
        for (field, kind) in fields {
            let kind = kind.as_str().ok_or_else(|| format!("{field}: the shorthand is a text such as \"string\""))?;
            let expanded = shorthand(kind).ok_or_else(|| {
                format!("{field}: unknown shorthand '{kind}'; use string, string[], number, integer, boolean, number_0_to_1 or number_0_to_100")
            })?;
            properties.insert(field.clone(), expanded);
        }
        Ok(json!({
            "type": "object",
            "properties": properties,
            "required": fields.keys().collect::<Vec<_>>(),
            "additionalProperties": false
        }))
    }

    /// Renders the template with a context; every required key must be there.
    pub fn render(&self, context: &Value) -> Result<String, Vec<String>> {
        let missing: Vec<String> = self
            .required_context_keys
            .iter()
            .filter(|k| context.get(k.as_str()).is_none_or(Value::is_null))
            .map(|k| format!("{k}: required context key is missing"))
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        crate::run::render_template(&self.template, context).map_err(|e| vec![format!("template: {e}")])
    }

    /// The system message: objective, rules and the JSON Schema to answer in.
    pub fn system_instructions(&self, schema: &Value) -> String {
        format!(
            "{}\nRules:\n{}\nAnswer with one JSON object that matches this JSON Schema: {}",
            self.objective,
            self.rules.iter().map(|r| format!("- {r}")).collect::<Vec<_>>().join("\n"),
            schema
        )
    }

    /// Why a model's output does not meet the response schema, if it does not.
    pub fn check_output(&self, output: &Value) -> Result<(), Vec<String>> {
        static VALIDATORS: std::sync::LazyLock<crate::compiled::Compiled<jsonschema::Validator>> =
            std::sync::LazyLock::new(Default::default);
        let schema = self.response_json_schema().map_err(|e| vec![e])?;
        let validator = VALIDATORS.get(&schema.to_string(), || compile(&schema)).map_err(|e| vec![e])?;
        let errors: Vec<String> =
            validator.iter_errors(output).map(|e| format!("{}: {}", e.instance_path(), e)).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Value {
        serde_json::from_str(include_str!("../tests/fixtures/lead_summary_v4.json")).unwrap()
    }

    #[test]
    fn the_seed_template_compiles_renders_and_checks_output() {
        let t = PromptTemplate::from_json(&seed()).unwrap();
        let rendered = t
            .render(&json!({
                "normalized_lead": { "companyName": "Harbor Dental", "primaryContact": { "name": "Dana" }, "inquiry_text": "4 clinics" },
                "company_context": "dental group"
            }))
            .unwrap();
        assert!(rendered.contains("Lead: Harbor Dental (Dana)"));
        assert!(t.check_output(&json!({ "fit_score": 82, "summary": "ok", "risks": [], "next_step": "call" })).is_ok());
        let errors = t.check_output(&json!({ "fit_score": 182, "summary": "ok", "risks": "none" })).unwrap_err();
        assert!(errors.len() >= 3, "{errors:?}");
    }

    #[test]
    fn a_missing_context_key_is_named() {
        let t = PromptTemplate::from_json(&seed()).unwrap();
        let err = t.render(&json!({ "normalized_lead": {} })).unwrap_err();
        assert_eq!(err, vec!["company_context: required context key is missing".to_string()]);
    }

    #[test]
    fn full_json_schema_is_accepted_and_bad_schemas_and_templates_are_refused() {
        let mut doc = seed();
        doc["responseSchema"] =
            json!({ "type": "object", "properties": { "x": { "type": "string" } }, "required": ["x"] });
        assert!(PromptTemplate::from_json(&doc).is_ok());
        doc["responseSchema"] = json!({ "x": "strung" });
        assert!(PromptTemplate::from_json(&doc).unwrap_err()[0].contains("unknown shorthand 'strung'"));
        doc["responseSchema"] = json!({ "type": "object", "minProperties": "two" });
        assert!(PromptTemplate::from_json(&doc).unwrap_err()[0].starts_with("responseSchema"));
        let mut doc = seed();
        doc["template"] = json!("{{ unclosed");
        assert!(PromptTemplate::from_json(&doc).unwrap_err()[0].starts_with("template"));
    }
}
