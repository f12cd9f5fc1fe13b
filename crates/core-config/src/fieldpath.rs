//! Field paths such as `output.step1_hard_constraint.violated`: where a column's value comes
//! from in a record or a result row.

use std::fmt;

use serde_json::{Map, Value};

/// The part of a record a path starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    /// `input.…`: the record's input.
    Input,
    /// `expected.…`: the record's expected answer.
    Expected,
    /// `output.…`: the model's answer.
    Output,
    /// `metadata.…`: the record's metadata.
    Metadata,
}

impl Root {
    fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Expected => "expected",
            Self::Output => "output",
            Self::Metadata => "metadata",
        }
    }
}

/// A parsed field path: a root and one or more keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    root: Root,
    keys: Vec<String>,
}

impl FieldPath {
    /// Parses `root.key[.key…]`.
    ///
    /// # Errors
    /// When the root is not one of `input`, `expected`, `output`, `metadata`, or a key is empty.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.split('.');
        let root = match parts.next().unwrap_or_default() {
            "input" => Root::Input,
            "expected" => Root::Expected,
            "output" => Root::Output,
            "metadata" => Root::Metadata,
            other => {
                return Err(format!(
                    "field path `{text}` must start with input., expected., output. or metadata. (found `{other}`)"
                ));
            }
        };
        let keys: Vec<String> = parts.map(str::to_owned).collect();
        if keys.is_empty() || keys.iter().any(String::is_empty) {
            return Err(format!(
                "field path `{text}` needs a key after `{}.`",
                root.as_str()
            ));
        }
        Ok(Self { root, keys })
    }

    /// Where the path starts.
    #[must_use]
    pub fn root(&self) -> Root {
        self.root
    }

    /// The first key below the root (the top-level field name).
    #[must_use]
    pub fn top_key(&self) -> &str {
        &self.keys[0]
    }

    /// The keys below the root.
    #[must_use]
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Looks the path up in an object that plays the role of the root.
    #[must_use]
    pub fn lookup<'a>(&self, root: &'a Map<String, Value>) -> Option<&'a Value> {
        let mut current = root.get(&self.keys[0])?;
        for key in &self.keys[1..] {
            current = current.as_object()?.get(key)?;
        }
        Some(current)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.root.as_str(), self.keys.join("."))
    }
}

/// Looks up a dotted path (no root) inside a JSON object.
#[must_use]
pub fn lookup_dotted<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut keys = path.split('.');
    let mut current = object.get(keys.next()?)?;
    for key in keys {
        current = current.as_object()?.get(key)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_and_looks_up_nested_paths() {
        let path = FieldPath::parse("output.step1.violated").unwrap();
        assert_eq!(path.root(), Root::Output);
        assert_eq!(path.top_key(), "step1");
        let output = json!({"step1": {"violated": true}});
        assert_eq!(path.lookup(output.as_object().unwrap()), Some(&json!(true)));
        assert_eq!(path.to_string(), "output.step1.violated");
    }

    #[test]
    fn rejects_bad_paths() {
        assert!(
            FieldPath::parse("outputs.x")
                .unwrap_err()
                .contains("must start with")
        );
        assert!(
            FieldPath::parse("input")
                .unwrap_err()
                .contains("needs a key")
        );
        assert!(FieldPath::parse("input..x").is_err());
    }
}
