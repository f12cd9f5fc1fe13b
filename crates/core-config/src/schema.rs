//! Output schemas: loading a module's JSON schema file and checking it obeys the rules of
//! OpenAI's strict Structured Outputs (every object closed, every property required).

use std::path::Path;

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// A module's output schema, as sent in `response_format.json_schema`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseSchema {
    /// Schema name (`[a-zA-Z0-9_-]`, at most 64 characters).
    pub name: String,
    /// Whether strict mode is requested.
    pub strict: bool,
    /// The JSON Schema of the answer object.
    pub schema: Value,
}

impl ResponseSchema {
    /// Reads a schema file. Three shapes are accepted: the `json_schema` object
    /// (`{name, strict, schema}`), a whole `response_format` (`{type: "json_schema",
    /// json_schema: {…}}`), or a bare JSON Schema (named `fallback_name`, strict).
    ///
    /// # Errors
    /// When the file cannot be read or is not JSON, or the name is invalid.
    pub fn load(path: &Path, fallback_name: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let value: Value = crate::json::parse(&text).map_err(|e| Error::Schema {
            path: path.to_owned(),
            message: crate::json::describe(&e),
        })?;
        let schema = Self::from_value(value, fallback_name).map_err(|message| Error::Schema {
            path: path.to_owned(),
            message,
        })?;
        let problems = schema.meta_problems();
        if problems.is_empty() {
            Ok(schema)
        } else {
            Err(Error::Schema {
                path: path.to_owned(),
                message: format!("not a valid JSON Schema: {}", problems.join("; ")),
            })
        }
    }

    /// Every way the schema breaks the JSON Schema (2020-12) meta-schema, each as
    /// `#/json/pointer: reason` (the pointer is inside the `schema` object); empty when valid.
    /// An invalid schema (`"type": "yesno"`) would make the API refuse every request.
    #[must_use]
    pub fn meta_problems(&self) -> Vec<String> {
        let validator = jsonschema::draft202012::meta::validator();
        validator
            .iter_errors(&self.schema)
            .map(|e| {
                let at = e.instance_path().to_string();
                match e.instance().as_ref() {
                    Value::String(t) if at.ends_with("/type") => format!(
                        "#{at}: \"{t}\" is not a JSON Schema type (use one of: {})",
                        SUPPORTED_TYPES.join(", ")
                    ),
                    _ => format!("#{at}: {e}"),
                }
            })
            .collect()
    }

    /// As [`ResponseSchema::load`], from an already parsed value.
    ///
    /// # Errors
    /// When the shape is not one of the accepted ones or the name is invalid.
    pub fn from_value(value: Value, fallback_name: &str) -> Result<Self, String> {
        let inner = match value.get("json_schema") {
            Some(inner) => inner.clone(),
            None => value,
        };
        let (name, strict, schema) = match (inner.get("name"), inner.get("schema")) {
            (Some(name), Some(schema)) => (
                name.as_str().ok_or("`name` must be a string")?.to_owned(),
                inner
                    .get("strict")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                schema.clone(),
            ),
            (None, Some(_)) => return Err("`schema` is given without a `name`".to_owned()),
            _ => (fallback_name.to_owned(), true, inner),
        };
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "schema name `{name}` must be 1-64 characters of a-z, A-Z, 0-9, _ and -"
            ));
        }
        Ok(Self {
            name,
            strict,
            schema,
        })
    }

    /// The `response_format` value for a chat request.
    #[must_use]
    pub fn response_format(&self) -> Value {
        json!({
            "type": "json_schema",
            "json_schema": {
                "name": self.name,
                "strict": self.strict,
                "schema": self.schema,
            }
        })
    }

    /// Whether the top-level object declares a property.
    #[must_use]
    pub fn has_property(&self, dotted: &str) -> bool {
        let mut current = &self.schema;
        for key in dotted.split('.') {
            let Some(next) = object_branch(current)
                .and_then(|o| o.get("properties"))
                .and_then(|p| p.get(key))
            else {
                return false;
            };
            current = next;
        }
        true
    }

    /// The subschema of a (dotted) property, if declared.
    #[must_use]
    pub fn property(&self, dotted: &str) -> Option<&Value> {
        let mut current = &self.schema;
        for key in dotted.split('.') {
            current = object_branch(current)?.get("properties")?.get(key)?;
        }
        Some(current)
    }

    /// Every way this schema breaks the strict-mode rules; empty when it is a valid strict
    /// schema.
    #[must_use]
    pub fn strict_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.strict {
            problems.push("`strict` must be true".to_owned());
        }
        if self.schema.get("type").and_then(Value::as_str) != Some("object") {
            problems.push("the root schema must have \"type\": \"object\"".to_owned());
        }
        check_strict(&self.schema, "#", &mut problems);
        problems
    }
}

/// For a nullable object (`anyOf: [{object}, {null}]`), the object branch.
fn object_branch(schema: &Value) -> Option<&Value> {
    if schema.get("properties").is_some() {
        return Some(schema);
    }
    schema
        .get("anyOf")?
        .as_array()?
        .iter()
        .find(|s| s.get("properties").is_some())
}

fn has_type(schema: &Value, wanted: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == wanted,
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str() == Some(wanted)),
        _ => false,
    }
}

const SUPPORTED_TYPES: [&str; 7] = [
    "string", "number", "integer", "boolean", "object", "array", "null",
];

const UNSUPPORTED: [&str; 8] = [
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
];

fn check_strict(schema: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(object) = schema.as_object() else {
        problems.push(format!("{at}: a schema must be an object"));
        return;
    };
    for keyword in UNSUPPORTED {
        if object.contains_key(keyword) {
            problems.push(format!("{at}: `{keyword}` is not supported in strict mode"));
        }
    }
    let types: Vec<&Value> = match object.get("type") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    for t in types {
        if !t.as_str().is_some_and(|t| SUPPORTED_TYPES.contains(&t)) {
            problems.push(format!(
                "{at}: type {t} is not supported (use one of: {})",
                SUPPORTED_TYPES.join(", ")
            ));
        }
    }
    if object.get("type").is_none()
        && !object.contains_key("anyOf")
        && !object.contains_key("enum")
        && !object.contains_key("const")
        && !object.contains_key("$ref")
    {
        problems.push(format!(
            "{at}: every schema needs a `type` (or anyOf / enum)"
        ));
    }
    let is_object = has_type(schema, "object") || object.contains_key("properties");
    if is_object {
        if object.get("additionalProperties") != Some(&Value::Bool(false)) {
            problems.push(format!(
                "{at}: objects must set \"additionalProperties\": false"
            ));
        }
        let properties = object.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match properties {
            None => problems.push(format!("{at}: objects must list their `properties`")),
            Some(properties) => {
                for key in properties.keys() {
                    if !required.contains(&key.as_str()) {
                        problems.push(format!(
                            "{at}: property `{key}` must be listed in `required` (make it nullable to allow no value)"
                        ));
                    }
                }
                for key in &required {
                    if !properties.contains_key(*key) {
                        problems.push(format!(
                            "{at}: `required` names `{key}`, which is not a property"
                        ));
                    }
                }
                for (key, sub) in properties {
                    check_strict(sub, &format!("{at}/properties/{key}"), problems);
                }
            }
        }
    }
    if has_type(schema, "array") {
        match object.get("items") {
            Some(items) => check_strict(items, &format!("{at}/items"), problems),
            None => problems.push(format!("{at}: arrays must declare `items`")),
        }
    }
    if let Some(branches) = object.get("anyOf").and_then(Value::as_array) {
        for (i, branch) in branches.iter().enumerate() {
            check_strict(branch, &format!("{at}/anyOf/{i}"), problems);
        }
    }
    for keyword in ["$defs", "definitions"] {
        if let Some(defs) = object.get(keyword).and_then(Value::as_object) {
            for (key, sub) in defs {
                check_strict(sub, &format!("{at}/{keyword}/{key}"), problems);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(schema: Value) -> Vec<String> {
        ResponseSchema::from_value(
            json!({"name": "m12", "strict": true, "schema": schema}),
            "x",
        )
        .unwrap()
        .strict_problems()
    }

    #[test]
    fn a_valid_strict_schema_has_no_problems() {
        let problems = strict(json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["violates_constraint", "violated_constraint", "relevancy"],
            "properties": {
                "violates_constraint": {"type": "boolean"},
                "relevancy": {"type": ["string", "null"], "enum": ["N", null]},
                "violated_constraint": {"anyOf": [
                    {"type": "object", "additionalProperties": false, "required": ["attribute"],
                     "properties": {"attribute": {"type": "string"}}},
                    {"type": "null"}
                ]}
            }
        }));
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn open_objects_and_optional_properties_are_reported_with_their_path() {
        let problems = strict(json!({
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "string"}}, "additionalProperties": false, "required": []}}
            }
        }));
        assert_eq!(
            problems,
            [
                "#: objects must set \"additionalProperties\": false",
                "#: property `b` must be listed in `required` (make it nullable to allow no value)",
                "#/properties/b/items: property `c` must be listed in `required` (make it nullable to allow no value)",
            ]
        );
    }

    #[test]
    fn an_invalid_type_is_refused_on_load_with_its_pointer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"name": "m14", "strict": true, "schema": {"type": "object", "additionalProperties": false,
            "required": ["relevancy"], "properties": {"relevancy": {"type": "yesno"}}}}"#,
        )
        .unwrap();
        let err = ResponseSchema::load(&path, "x").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: not a valid JSON Schema: #/properties/relevancy/type: ",
                path.display()
            )),
            "{err}"
        );
        assert!(err.contains("yesno"), "{err}");
        // From a value (as the simulator receives it), the strict check says the same.
        assert_eq!(
            strict(
                json!({"type": "object", "additionalProperties": false, "required": ["a"],
                "properties": {"a": {"type": "yesno"}}})
            ),
            [
                "#/properties/a: type \"yesno\" is not supported (use one of: string, number, integer, boolean, object, array, null)"
            ]
        );
    }

    #[test]
    fn accepts_the_three_file_shapes() {
        let bare = json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false});
        let a = ResponseSchema::from_value(bare.clone(), "fallback").unwrap();
        assert_eq!(a.name, "fallback");
        assert!(a.strict);
        let wrapped = json!({"type": "json_schema", "json_schema": {"name": "n", "strict": true, "schema": bare}});
        let b = ResponseSchema::from_value(wrapped, "fallback").unwrap();
        assert_eq!(b.name, "n");
        assert_eq!(b.response_format()["json_schema"]["name"], "n");
        assert!(
            ResponseSchema::from_value(json!({"name": "bad name!", "schema": {}}), "x").is_err()
        );
    }

    #[test]
    fn finds_nested_properties() {
        let s = ResponseSchema::from_value(json!({"type": "object", "properties": {"step1": {"anyOf": [
            {"type": "object", "properties": {"violated": {"type": "boolean"}}}, {"type": "null"}]}}}), "x").unwrap();
        assert!(s.has_property("step1.violated"));
        assert!(!s.has_property("step1.nope"));
        assert!(!s.has_property("step2"));
    }
}
