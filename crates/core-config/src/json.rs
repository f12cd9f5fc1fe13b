//! JSON parsing that refuses duplicated object keys. `serde_json` silently keeps the last of two
//! equal keys, so a schema or record with `"type"` written twice would be used with whichever
//! came last, and nobody would notice. Every JSON file the toolkit loads through this crate goes
//! through [`parse`].

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Whether every expected field is in `answer` with a matching value: text compared trimmed and
/// lower-cased, lists as sets, objects field by field (extra answer fields are ignored). The one
/// notion of "this answer matches the record's expected answer" that the simulator's judge and
/// the simulated annotators of a judge sheet share.
#[must_use]
pub fn answer_matches(expected: &Map<String, Value>, answer: &Map<String, Value>) -> bool {
    expected
        .iter()
        .all(|(k, e)| answer.get(k).is_some_and(|a| same_value(e, a)))
}

fn same_value(expected: &Value, answer: &Value) -> bool {
    match (expected, answer) {
        (Value::Array(e), Value::Array(a)) => {
            let e: HashSet<String> = e.iter().map(comparable).collect();
            let a: HashSet<String> = a.iter().map(comparable).collect();
            e == a
        }
        (Value::Object(e), Value::Object(a)) => answer_matches(e, a),
        (e, a) => comparable(e) == comparable(a),
    }
}

/// Text for comparing: trimmed, lower-cased; other values as their JSON, lower-cased.
fn comparable(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_lowercase(),
        other => other.to_string().to_lowercase(),
    }
}

/// Parses JSON text into a [`Value`], failing on a duplicated key in any object.
///
/// # Errors
/// Invalid JSON, or `duplicate key `name``; `serde_json`'s line and column point just after the
/// second occurrence of the key.
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = StrictValue.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

const DUPLICATE_KEY: &str = "duplicate key";

/// A parse error as `line L column C: reason` / `line L: duplicate key `k``, without
/// serde_json's trailing position.
pub(crate) fn describe(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let reason = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(reason, _)| reason);
    if reason.starts_with(DUPLICATE_KEY) {
        format!(
            "line {}: {reason} (each key may appear once in an object)",
            error.line()
        )
    } else {
        format!(
            "invalid JSON at line {} column {}: {reason}",
            error.line(),
            error.column()
        )
    }
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        StrictValue.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One lookup per key: the slot of a new key is kept for its value.
            match object.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(map.next_value_seed(StrictValue)?);
                }
                serde_json::map::Entry::Occupied(known) => {
                    let key = known.key();
                    return Err(de::Error::custom(format_args!("{DUPLICATE_KEY} `{key}`")));
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_match_expected_fields_as_text_sets_and_objects() {
        let expected = serde_json::json!({"brand": " Owala ", "items": ["a", "B"], "t": {"x": 1}});
        let good = serde_json::json!({"brand": "owala", "items": ["b", "A"], "t": {"x": 1, "y": 2}, "extra": 3});
        let bad = serde_json::json!({"brand": "owala", "items": ["a"], "t": {"x": 1}});
        let (e, g, b) = (
            expected.as_object().unwrap(),
            good.as_object().unwrap(),
            bad.as_object().unwrap(),
        );
        assert!(answer_matches(e, g));
        assert!(!answer_matches(e, b));
        assert!(!answer_matches(e, &Map::new()));
    }

    use super::*;

    #[test]
    fn parses_like_serde_json() {
        let text = r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn a_duplicated_key_is_refused_with_its_line() {
        let text =
            "{\n  \"type\": \"object\",\n  \"properties\": {\n    \"a\": 1,\n    \"a\": 2\n  }\n}";
        let err = parse(text).unwrap_err();
        assert_eq!(err.line(), 5, "{err}");
        assert!(err.to_string().starts_with("duplicate key `a`"), "{err}");
        // The same key in different objects is fine.
        assert!(parse(r#"{"a": {"a": 1}, "b": {"a": 2}}"#).is_ok());
    }

    #[test]
    fn trailing_text_is_refused() {
        assert!(parse("{} {}").is_err());
    }
}
