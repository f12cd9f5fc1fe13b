//! What a cell means in one annotated field: a label of a categorical field (read with the
//! field's own label set and aliases), a list of items, free text, or a JSON structure
//! (taxonomy and ranking fields). Also the reverse: a JSON value rendered as a cell, and a final
//! value written back in the shape of the module's dataset.

use serde_json::Value;

use core_config::{LabelSet, Reading, ScoreField, ScoreKind, Side};

/// A JSON value as an annotation cell: strings as they are, null as empty, lists of strings
/// joined with `", "`, other lists and objects as compact JSON (non-ASCII kept).
#[must_use]
pub fn render_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

/// One value of an annotated field, after normalisation.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A label of a categorical field, in its canonical spelling (`true`, `R`, `OB`, `Null`).
    Label(String),
    /// Items of a list field, in the order given.
    List(Vec<String>),
    /// Free text, trimmed.
    Text(String),
    /// A taxonomy or ranking table.
    Json(Value),
}

impl FieldValue {
    /// Whether two values say the same thing: labels exactly, lists as case-insensitive sets,
    /// text ignoring case and runs of spaces, structures as JSON values.
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Label(a), Self::Label(b)) => a == b,
            (Self::List(a), Self::List(b)) => list_key(a) == list_key(b),
            (Self::Text(a), Self::Text(b)) => fold(a) == fold(b),
            (Self::Json(a), Self::Json(b)) => a == b,
            _ => false,
        }
    }

    /// The value as a cell of the validated CSV.
    #[must_use]
    pub fn cell(&self) -> String {
        match self {
            Self::Label(s) | Self::Text(s) => s.clone(),
            // Joined items read back by splitting on separators, so items that contain one
            // are written as a JSON array instead (which reads back exactly).
            Self::List(items) if items.iter().any(|i| i.contains([',', ';', '\n'])) => {
                Value::from(items.clone()).to_string()
            }
            Self::List(items) => items.join(", "),
            Self::Json(v) => v.to_string(),
        }
    }
}

fn list_key(items: &[String]) -> Vec<String> {
    let mut key: Vec<String> = items.iter().map(|i| fold(i)).collect();
    key.sort_unstable();
    key.dedup();
    key
}

fn fold(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Reads cells and values of one scored field.
#[derive(Debug, Clone, Copy)]
pub struct FieldReader<'a> {
    field: &'a ScoreField,
}

/// Words an annotator may type for "this list is empty" (an empty cell means "not annotated").
const EMPTY_LIST_WORDS: [&str; 4] = ["[]", "none", "-", "(none)"];

impl<'a> FieldReader<'a> {
    /// A reader for a scored field.
    #[must_use]
    pub fn new(field: &'a ScoreField) -> Self {
        Self { field }
    }

    /// The field.
    #[must_use]
    pub fn field(&self) -> &'a ScoreField {
        self.field
    }

    /// The label set, for categorical fields.
    #[must_use]
    pub fn labels(&self) -> Option<&'a LabelSet> {
        self.field.labels.as_ref()
    }

    /// Reads a cell typed by an annotator: `Ok(None)` when it is empty (not annotated).
    ///
    /// # Errors
    /// A reason (such as the allowed labels) when the cell is not a value of the field.
    pub fn annotator(&self, cell: &str) -> Result<Option<FieldValue>, String> {
        let trimmed = cell.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if let Some(labels) = self.labels() {
            return match labels.read_cell(trimmed) {
                Ok(Reading::Label(label)) => Ok(Some(FieldValue::Label(label))),
                Ok(Reading::Missing) => Ok(None),
                Err(e) => Err(format!(
                    "not a label of field `{}` (expected one of: {})",
                    self.field.name,
                    e.allowed.join(", ")
                )),
            };
        }
        match self.field.kind {
            ScoreKind::List => parse_list(trimmed).map(|items| Some(FieldValue::List(items))),
            ScoreKind::Taxonomy | ScoreKind::Ranking => match serde_json::from_str(trimmed) {
                Ok(value @ Value::Array(_)) => Ok(Some(FieldValue::Json(value))),
                _ => Err(format!(
                    "a `{}` field takes a JSON array such as the one in the llm column",
                    self.field.kind
                )),
            },
            _ => Ok(Some(FieldValue::Text(trimmed.to_owned()))),
        }
    }

    /// Reads the model's answer as shown in an `llm_*` column. Anything unreadable is `None`
    /// (the model's answer only breaks ties; it is never an error).
    #[must_use]
    pub fn llm(&self, cell: &str) -> Option<FieldValue> {
        if let Some(labels) = self.labels() {
            let value = Value::String(cell.trim().to_owned());
            return match labels.read_json(Side::Output, Some(&value)) {
                Ok(Reading::Label(label)) => Some(FieldValue::Label(label)),
                _ => None,
            };
        }
        if self.field.kind == ScoreKind::List && cell.trim().is_empty() {
            // An empty list renders as an empty cell.
            return Some(FieldValue::List(Vec::new()));
        }
        self.annotator(cell).ok().flatten()
    }

    /// Reads the field's value in a dataset record's `expected` (for the simulated annotator).
    ///
    /// # Errors
    /// When the value is not one of the labels or has the wrong shape.
    pub fn expected(&self, value: Option<&Value>) -> Result<Option<FieldValue>, String> {
        if let Some(labels) = self.labels() {
            return match labels.read_json(Side::Expected, value) {
                Ok(Reading::Label(label)) => Ok(Some(FieldValue::Label(label))),
                Ok(Reading::Missing) => Ok(None),
                Err(e) => Err(e.to_string()),
            };
        }
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        match (self.field.kind, value) {
            (ScoreKind::List, Value::Array(items)) => Ok(Some(FieldValue::List(
                items.iter().map(render_cell).collect(),
            ))),
            (ScoreKind::Taxonomy | ScoreKind::Ranking, Value::Array(_)) => {
                Ok(Some(FieldValue::Json(value.clone())))
            }
            (ScoreKind::Text, Value::String(s)) => Ok(Some(FieldValue::Text(s.clone()))),
            (kind, other) => Err(format!(
                "a `{kind}` value cannot be {}",
                core_config::dataset::kind_of(other)
            )),
        }
    }

    /// A final value in the shape of the module's dataset (`record.expected`), so a gold file
    /// reads back as the same label.
    ///
    /// Labels are written back with the inverse of the dataset-side reading: the first of
    /// `observed` (raw values seen in the dataset or results for this field, most common first)
    /// that reads as the label, else null for the null label, a JSON boolean for boolean
    /// fields, or the label itself.
    #[must_use]
    pub fn expected_json(&self, value: &FieldValue, observed: &[Value]) -> Value {
        match value {
            FieldValue::Label(label) => {
                let Some(labels) = self.labels() else {
                    return Value::String(label.clone());
                };
                let reads_as = |raw: &Value| {
                    matches!(
                        labels.read_json(Side::Expected, Some(raw)),
                        Ok(Reading::Label(l)) if l == *label
                    )
                };
                let generic = [
                    Value::Null,
                    Value::Bool(label == "true"),
                    Value::String(label.clone()),
                ];
                observed
                    .iter()
                    .chain(
                        generic
                            .iter()
                            .filter(|v| !v.is_boolean() || labels.labels() == ["true", "false"]),
                    )
                    .find(|raw| reads_as(raw))
                    .cloned()
                    .unwrap_or_else(|| Value::String(label.clone()))
            }
            FieldValue::List(items) => {
                Value::Array(items.iter().cloned().map(Value::String).collect())
            }
            FieldValue::Text(text) => Value::String(text.clone()),
            FieldValue::Json(v) => v.clone(),
        }
    }
}

/// Splits a list cell: a JSON array of strings, a word meaning "empty", or items separated by
/// commas, semicolons or line breaks.
fn parse_list(cell: &str) -> Result<Vec<String>, String> {
    if EMPTY_LIST_WORDS
        .iter()
        .any(|w| w.eq_ignore_ascii_case(cell))
    {
        return Ok(Vec::new());
    }
    if cell.starts_with('[') {
        return match serde_json::from_str::<Vec<String>>(cell) {
            Ok(items) => Ok(items),
            Err(_) => Err(
                "starts with `[` but is not a JSON array of strings (write items separated by commas instead)"
                    .to_owned(),
            ),
        };
    }
    Ok(cell
        .split([',', ';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn catalog() -> core_config::Catalog {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules.toml"))
                .unwrap();
        core_config::Catalog::parse(&text, Path::new("/p/modules.toml")).unwrap()
    }

    fn field<'a>(catalog: &'a core_config::Catalog, module: &str, name: &str) -> &'a ScoreField {
        catalog.resolve(module).unwrap().score_field(name).unwrap()
    }

    fn label(s: &str) -> Option<FieldValue> {
        Some(FieldValue::Label(s.to_owned()))
    }

    #[test]
    fn cells_render_lists_joined_and_structures_as_compact_json() {
        assert_eq!(render_cell(&json!(null)), "");
        assert_eq!(render_cell(&json!(["a", "b"])), "a, b");
        assert_eq!(render_cell(&json!(0.9)), "0.9");
        assert_eq!(
            render_cell(&json!([{"level": 1, "product_type": "Gant \u{e0} four"}])),
            "[{\"level\":1,\"product_type\":\"Gant \u{e0} four\"}]"
        );
    }

    #[test]
    fn annotator_cells_are_read_per_field() {
        let catalog = catalog();
        let violates = FieldReader::new(field(&catalog, "m12", "violates"));
        assert_eq!(violates.annotator(" Yes "), Ok(label("true")));
        assert_eq!(violates.annotator("n"), Ok(label("false")));
        assert_eq!(violates.annotator(""), Ok(None));
        let err = violates.annotator("maybe").unwrap_err();
        assert_eq!(
            err,
            "not a label of field `violates` (expected one of: true, false)"
        );
        let relevancy = FieldReader::new(field(&catalog, "m12b", "relevancy"));
        assert_eq!(relevancy.annotator("n"), Ok(label("N")));
        assert_eq!(relevancy.annotator("Substitute"), Ok(label("S")));
        assert!(relevancy.annotator("false").is_err());
        let constraints = FieldReader::new(field(&catalog, "m11", "hard_constraints"));
        assert_eq!(
            constraints.annotator("Heat Resistance; Size M"),
            Ok(Some(FieldValue::List(vec![
                "Heat Resistance".into(),
                "Size M".into()
            ])))
        );
        assert_eq!(
            constraints.annotator("none"),
            Ok(Some(FieldValue::List(vec![])))
        );
        assert!(constraints.annotator("[1, 2]").is_err());
        let taxonomy = FieldReader::new(field(&catalog, "m06", "taxonomy"));
        assert!(taxonomy.annotator("Oven Mitt").is_err());
    }

    #[test]
    fn llm_cells_are_read_leniently() {
        let catalog = catalog();
        let violates = FieldReader::new(field(&catalog, "m12", "violates"));
        assert_eq!(violates.llm("false"), label("false"));
        assert_eq!(violates.llm("garbage"), None);
        let own = FieldReader::new(field(&catalog, "m02", "branding_scope_1"));
        // The model answered null: the cell is empty and reads as the null label.
        assert_eq!(own.llm(""), label("Null"));
    }

    #[test]
    fn comparisons_follow_the_field_kind() {
        let list =
            |items: &[&str]| FieldValue::List(items.iter().map(|s| (*s).to_owned()).collect());
        assert!(list(&["A", "b"]).same_as(&list(&["B", "a", "a"])));
        assert!(!list(&["a"]).same_as(&list(&["a", "c"])));
        let tricky = list(&["Heat Resistant up to 500\u{b0}F, washable", "Size M"]);
        assert_eq!(
            tricky.cell(),
            "[\"Heat Resistant up to 500\u{b0}F, washable\",\"Size M\"]"
        );
        assert_eq!(
            parse_list(&tricky.cell()),
            Ok(vec![
                "Heat Resistant up to 500\u{b0}F, washable".to_owned(),
                "Size M".to_owned()
            ])
        );
        assert_eq!(list(&["a", "b"]).cell(), "a, b");
        assert!(
            FieldValue::Text("Holding  a phone".into())
                .same_as(&FieldValue::Text("holding a phone".into()))
        );
    }

    #[test]
    fn labels_are_written_back_in_the_dataset_shape() {
        let catalog = catalog();
        let violates = FieldReader::new(field(&catalog, "m12", "violates"));
        let observed = [json!("N"), json!(null)];
        assert_eq!(
            violates.expected_json(&FieldValue::Label("true".into()), &observed),
            json!("N")
        );
        assert_eq!(
            violates.expected_json(&FieldValue::Label("false".into()), &observed),
            json!(null)
        );
        let own = FieldReader::new(field(&catalog, "m02", "branding_scope_1"));
        assert_eq!(
            own.expected_json(&FieldValue::Label("Null".into()), &[]),
            json!(null)
        );
        assert_eq!(
            own.expected_json(&FieldValue::Label("OB".into()), &[]),
            json!("OB")
        );
        let same = FieldReader::new(field(&catalog, "m13", "same_type"));
        assert_eq!(
            same.expected_json(&FieldValue::Label("true".into()), &[]),
            json!(true)
        );
        let relevancy = FieldReader::new(field(&catalog, "m12b", "relevancy"));
        assert_eq!(
            relevancy.expected_json(&FieldValue::Label("C".into()), &[]),
            json!("C")
        );
        // Whatever is written reads back as the label it came from.
        for (reader, value) in [(violates, json!("N")), (own, json!(null))] {
            let read = reader.expected(Some(&value)).unwrap().unwrap();
            assert_eq!(reader.expected_json(&read, &observed), value);
        }
    }
}
