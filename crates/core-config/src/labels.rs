//! Reading labels: the one place that decides what a raw value in a dataset, a model output or
//! an annotator's cell means.
//!
//! Normalisation is per field, never global: in a boolean field `n` means false, while in a
//! relevance field (`R`/`S`/`C`/`N`) `N` means Not relevant. The earlier tool mapped `n` to
//! false everywhere, which silently turned every "Not relevant" into "false".

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// How a scored field is compared (and, for categorical kinds, how its labels are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// Two labels, one of them the positive class (e.g. `OB` vs `Null`).
    Binary,
    /// Several labels (e.g. `R`/`S`/`C`/`N`).
    Multiclass,
    /// `true` / `false`.
    Boolean,
    /// A list of strings, compared as lower-cased sets (precision / recall / F1).
    List,
    /// A 1–3 level product-type hierarchy.
    Taxonomy,
    /// An attribute table ranked within each attribute type.
    Ranking,
    /// Free text.
    Text,
}

impl ScoreKind {
    /// Whether values of this kind are labels from a fixed set.
    #[must_use]
    pub fn is_categorical(self) -> bool {
        matches!(self, Self::Binary | Self::Multiclass | Self::Boolean)
    }

    /// The name used in `modules.toml`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::Multiclass => "multiclass",
            Self::Boolean => "boolean",
            Self::List => "list",
            Self::Taxonomy => "taxonomy",
            Self::Ranking => "ranking",
            Self::Text => "text",
        }
    }
}

impl fmt::Display for ScoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of a comparison a value comes from; each side may map raw values differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `record.expected` in a dataset (or a gold file).
    Expected,
    /// The model's output.
    Output,
    /// A cell a person typed into an annotation CSV.
    Annotator,
}

/// The labels of a categorical field, in their declared order (the order weighted kappa uses).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSet {
    labels: Vec<String>,
    aliases: BTreeMap<String, String>,
    positive: Option<String>,
    null_label: Option<String>,
    ordered: bool,
    expected_values: BTreeMap<String, String>,
    output_values: BTreeMap<String, String>,
}

const BOOL_TRUE: [&str; 5] = ["true", "yes", "y", "t", "1"];
const BOOL_FALSE: [&str; 5] = ["false", "no", "n", "f", "0"];

/// What a raw value read as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A label of the set.
    Label(String),
    /// Nothing there: an empty annotation cell, or a missing value in a field without a null
    /// label.
    Missing,
}

/// A value that is not one of the field's labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a label of this field (expected one of: {})", .allowed.join(", "))]
pub struct LabelError {
    /// The raw value as text.
    pub value: String,
    /// The labels (and the null spellings, when the field has a null label) that would be read.
    pub allowed: Vec<String>,
}

impl LabelSet {
    /// The label set of a boolean field.
    #[must_use]
    pub fn boolean(null_label: Option<String>) -> Self {
        let mut aliases = BTreeMap::new();
        for word in BOOL_TRUE {
            aliases.insert(word.to_owned(), "true".to_owned());
        }
        for word in BOOL_FALSE {
            aliases.insert(word.to_owned(), "false".to_owned());
        }
        Self {
            labels: vec!["true".to_owned(), "false".to_owned()],
            aliases,
            positive: Some("true".to_owned()),
            null_label,
            ordered: false,
            expected_values: BTreeMap::new(),
            output_values: BTreeMap::new(),
        }
    }

    /// A set of named labels with aliases (`alias -> label`, matched case-insensitively).
    ///
    /// # Errors
    /// When an alias, the positive label or the null label is not one of `labels`.
    pub fn new(
        labels: Vec<String>,
        aliases: &BTreeMap<String, Vec<String>>,
        positive: Option<String>,
        null_label: Option<String>,
        ordered: bool,
    ) -> Result<Self, String> {
        if labels.is_empty() {
            return Err("a categorical field needs at least one label".to_owned());
        }
        let mut map = BTreeMap::new();
        for label in &labels {
            if map.insert(fold(label), label.clone()).is_some() {
                return Err(format!("label `{label}` is listed twice"));
            }
        }
        for (label, words) in aliases {
            if !labels.contains(label) {
                return Err(format!(
                    "aliases are given for `{label}`, which is not one of the labels"
                ));
            }
            for word in words {
                if let Some(previous) = map.insert(fold(word), label.clone())
                    && previous != *label
                {
                    return Err(format!(
                        "alias `{word}` would read as both `{previous}` and `{label}`"
                    ));
                }
            }
        }
        for (what, value) in [("positive", &positive), ("null", &null_label)] {
            if let Some(value) = value
                && !labels.contains(value)
            {
                return Err(format!(
                    "{what} label `{value}` is not one of the labels ({})",
                    labels.join(", ")
                ));
            }
        }
        Ok(Self {
            labels,
            aliases: map,
            positive,
            null_label,
            ordered,
            expected_values: BTreeMap::new(),
            output_values: BTreeMap::new(),
        })
    }

    /// Adds per-side value maps (`raw value -> label`; the key `null` stands for a JSON null or
    /// an empty value).
    ///
    /// # Errors
    /// When a mapped-to label is not one of the labels.
    pub fn with_side_values(
        mut self,
        expected: &BTreeMap<String, String>,
        output: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        for (side, source, target) in [
            ("expected_values", expected, &mut self.expected_values),
            ("output_values", output, &mut self.output_values),
        ] {
            for (raw, label) in source {
                if !self.labels.contains(label) {
                    return Err(format!(
                        "{side} maps `{raw}` to `{label}`, which is not one of the labels ({})",
                        self.labels.join(", ")
                    ));
                }
                target.insert(fold(raw), label.clone());
            }
        }
        Ok(self)
    }

    /// The labels in declared order.
    #[must_use]
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The other spellings that read as `label` (the aliases of `modules.toml`; for boolean
    /// fields the yes/no words), lower-cased, in alphabetical order.
    #[must_use]
    pub fn aliases_of(&self, label: &str) -> Vec<&str> {
        let own = fold(label);
        self.aliases
            .iter()
            .filter(|(word, to)| to.as_str() == label && **word != own)
            .map(|(word, _)| word.as_str())
            .collect()
    }

    /// The positive class, for binary and boolean fields.
    #[must_use]
    pub fn positive(&self) -> Option<&str> {
        self.positive.as_deref()
    }

    /// The label a null / empty / `"null"` value reads as, if the field has one.
    #[must_use]
    pub fn null_label(&self) -> Option<&str> {
        self.null_label.as_deref()
    }

    /// Whether the declared order is meaningful (weighted kappa applies).
    #[must_use]
    pub fn ordered(&self) -> bool {
        self.ordered
    }

    /// Position of a label in the declared order.
    #[must_use]
    pub fn index_of(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }

    /// Reads a JSON value from a dataset (`Side::Expected`) or a model output (`Side::Output`).
    ///
    /// A JSON null, an empty string and the strings `null`/`none` read as the null label when
    /// the field has one, and as [`Reading::Missing`] otherwise.
    ///
    /// # Errors
    /// When the value is not one of the labels.
    pub fn read_json(&self, side: Side, value: Option<&Value>) -> Result<Reading, LabelError> {
        match value {
            None | Some(Value::Null) => self.read_null(side),
            Some(Value::Bool(b)) => self.read_text(side, if *b { "true" } else { "false" }),
            Some(Value::Number(n)) => self.read_text(side, &n.to_string()),
            Some(Value::String(s)) => self.read_text(side, s),
            Some(other) => Err(self.error(&other.to_string())),
        }
    }

    /// Reads a cell typed by an annotator. An empty cell is "not annotated" (never a label).
    ///
    /// # Errors
    /// When the cell holds something that is not one of the labels.
    pub fn read_cell(&self, cell: &str) -> Result<Reading, LabelError> {
        if cell.trim().is_empty() {
            return Ok(Reading::Missing);
        }
        self.read_text(Side::Annotator, cell)
    }

    fn side_map(&self, side: Side) -> Option<&BTreeMap<String, String>> {
        let map = match side {
            Side::Expected => &self.expected_values,
            Side::Output => &self.output_values,
            Side::Annotator => return None,
        };
        (!map.is_empty()).then_some(map)
    }

    fn read_null(&self, side: Side) -> Result<Reading, LabelError> {
        if let Some(label) = self.side_map(side).and_then(|m| m.get("null")) {
            return Ok(Reading::Label(label.clone()));
        }
        Ok(self
            .null_label
            .clone()
            .map_or(Reading::Missing, Reading::Label))
    }

    fn read_text(&self, side: Side, text: &str) -> Result<Reading, LabelError> {
        let key = fold(text);
        if let Some(map) = self.side_map(side) {
            if let Some(label) = map.get(&key) {
                return Ok(Reading::Label(label.clone()));
            }
            if is_null_word(&key) && side != Side::Annotator {
                return self.read_null(side);
            }
        }
        if key.is_empty() {
            return self.read_null(side);
        }
        if let Some(label) = self.aliases.get(&key) {
            return Ok(Reading::Label(label.clone()));
        }
        if is_null_word(&key)
            && let Some(null) = &self.null_label
        {
            return Ok(Reading::Label(null.clone()));
        }
        Err(self.error(text))
    }

    fn error(&self, value: &str) -> LabelError {
        let mut allowed = self.labels.clone();
        if let Some(null) = &self.null_label {
            allowed.retain(|l| l != null);
            allowed.push(format!("{null} (or null / none)"));
        }
        LabelError {
            value: value.to_owned(),
            allowed,
        }
    }

    /// The JSON value a model would answer for `label` on the output side: the inverse of
    /// reading. Used by the simulator to answer from a dataset's expected labels.
    #[must_use]
    pub fn output_value(&self, label: &str) -> Value {
        if let Some(map) = self.side_map(Side::Output)
            && let Some((raw, _)) = map.iter().find(|(_, l)| l.as_str() == label)
        {
            return if raw == "null" {
                Value::Null
            } else {
                Value::String(raw.clone())
            };
        }
        if self.null_label.as_deref() == Some(label) {
            return Value::Null;
        }
        if self.labels == ["true", "false"] {
            return Value::Bool(label == "true");
        }
        Value::String(label.to_owned())
    }
}

fn is_null_word(folded: &str) -> bool {
    matches!(folded, "" | "null" | "none")
}

/// Case- and whitespace-insensitive key for label matching.
fn fold(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn relevance() -> LabelSet {
        let aliases = BTreeMap::from([
            ("R".to_owned(), vec!["relevant".to_owned()]),
            ("N".to_owned(), vec!["not relevant".to_owned()]),
        ]);
        LabelSet::new(
            vec!["R".into(), "S".into(), "C".into(), "N".into()],
            &aliases,
            None,
            None,
            true,
        )
        .unwrap()
    }

    fn own_brand() -> LabelSet {
        LabelSet::new(
            vec!["OB".into(), "Null".into()],
            &BTreeMap::new(),
            Some("OB".into()),
            Some("Null".into()),
            false,
        )
        .unwrap()
    }

    fn label(s: &str) -> Reading {
        Reading::Label(s.to_owned())
    }

    #[test]
    fn n_is_false_in_a_boolean_field_but_not_relevant_in_a_relevance_field() {
        let boolean = LabelSet::boolean(None);
        assert_eq!(boolean.read_cell("n"), Ok(label("false")));
        assert_eq!(boolean.read_cell("N"), Ok(label("false")));
        assert_eq!(boolean.read_cell("Yes"), Ok(label("true")));
        assert_eq!(
            boolean.read_json(Side::Output, Some(&json!(true))),
            Ok(label("true"))
        );

        let relevance = relevance();
        assert_eq!(relevance.read_cell("N"), Ok(label("N")));
        assert_eq!(relevance.read_cell("n"), Ok(label("N")));
        assert_eq!(relevance.read_cell("Not  Relevant"), Ok(label("N")));
        assert_eq!(relevance.read_cell(" r "), Ok(label("R")));
        assert!(relevance.read_cell("false").is_err());
        // "none" is not a relevance label: it must not silently become N.
        assert!(relevance.read_cell("none").is_err());
    }

    #[test]
    fn empty_cells_are_not_annotated_even_with_a_null_label() {
        assert_eq!(own_brand().read_cell("  "), Ok(Reading::Missing));
        assert_eq!(relevance().read_cell(""), Ok(Reading::Missing));
    }

    #[test]
    fn null_spellings_read_as_the_null_label() {
        let ob = own_brand();
        for value in [
            json!(null),
            json!("Null"),
            json!("null"),
            json!(""),
            json!("None"),
        ] {
            assert_eq!(
                ob.read_json(Side::Expected, Some(&value)),
                Ok(label("Null"))
            );
        }
        assert_eq!(ob.read_json(Side::Output, None), Ok(label("Null")));
        assert_eq!(ob.read_cell("null"), Ok(label("Null")));
        assert_eq!(
            ob.read_json(Side::Expected, Some(&json!("ob"))),
            Ok(label("OB"))
        );
    }

    #[test]
    fn without_a_null_label_null_is_missing() {
        assert_eq!(
            relevance().read_json(Side::Output, Some(&json!(null))),
            Ok(Reading::Missing)
        );
    }

    #[test]
    fn side_maps_translate_expected_values() {
        // M12: the dataset holds relevancy "N" (violation) or null; the model answers a boolean.
        let set = LabelSet::boolean(None)
            .with_side_values(
                &BTreeMap::from([
                    ("N".to_owned(), "true".to_owned()),
                    ("null".to_owned(), "false".to_owned()),
                ]),
                &BTreeMap::new(),
            )
            .unwrap();
        assert_eq!(
            set.read_json(Side::Expected, Some(&json!("N"))),
            Ok(label("true"))
        );
        assert_eq!(
            set.read_json(Side::Expected, Some(&json!(null))),
            Ok(label("false"))
        );
        assert_eq!(
            set.read_json(Side::Expected, Some(&json!("Null"))),
            Ok(label("false"))
        );
        assert_eq!(
            set.read_json(Side::Output, Some(&json!(false))),
            Ok(label("false"))
        );
        assert!(set.read_json(Side::Expected, Some(&json!("R"))).is_err());
    }

    #[test]
    fn output_value_inverts_reading() {
        let ob = own_brand();
        assert_eq!(ob.output_value("Null"), json!(null));
        assert_eq!(ob.output_value("OB"), json!("OB"));
        assert_eq!(LabelSet::boolean(None).output_value("true"), json!(true));
        assert_eq!(relevance().output_value("S"), json!("S"));
    }

    #[test]
    fn construction_rejects_inconsistent_sets() {
        let err = LabelSet::new(
            vec!["R".into(), "N".into()],
            &BTreeMap::new(),
            Some("X".into()),
            None,
            false,
        )
        .unwrap_err();
        assert!(err.contains("positive label `X`"), "{err}");
        let clash = BTreeMap::from([
            ("R".to_owned(), vec!["yes".to_owned()]),
            ("N".to_owned(), vec!["yes".to_owned()]),
        ]);
        assert!(
            LabelSet::new(vec!["R".into(), "N".into()], &clash, None, None, false)
                .unwrap_err()
                .contains("would read as both")
        );
    }

    #[test]
    fn errors_list_the_allowed_labels() {
        let err = own_brand().read_cell("CB").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`CB` is not a label of this field (expected one of: OB, Null (or null / none))"
        );
    }
}
