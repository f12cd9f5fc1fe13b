//! A light JSON tree borrowed from its text, for checking dataset records quickly.
//!
//! A run checks every record of its dataset before the first call (pass 1). Parsing a record
//! into [`serde_json::Value`]s builds a hashed map for every object and copies every string,
//! which is most of that pass's time. [`Lite`] keeps strings borrowed from the line where they
//! have no escapes and objects as lists of pairs in document order. Like [`crate::json::parse`],
//! it refuses a key given twice in any object, at any depth.
//!
//! [`view_record`] reads a record line of the usual shape (a non-empty string id, an `input`
//! object, `expected` and `metadata` objects or absent) and gives `None` for anything else, so a
//! caller falls back to [`crate::json::parse`] and [`crate::Record::from_json`], which word the
//! problem. Serialising a [`Lite`] gives the same text as serialising the [`Value`] the same
//! line parses to (see [`Lite::to_value`]).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};

/// A JSON value whose strings borrow from the text they were read from when they can.
#[derive(Debug, Clone, PartialEq)]
pub enum Lite<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as [`crate::json::parse`] reads it.
    Number(Number),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Lite<'a>>),
    /// An object: its members in document order, each key once.
    Object(Vec<(Cow<'a, str>, Lite<'a>)>),
}

impl Lite<'_> {
    /// The same value as a [`Value`].
    #[must_use]
    pub fn to_value(&self) -> Value {
        match self {
            Lite::Null => Value::Null,
            Lite::Bool(b) => Value::Bool(*b),
            Lite::Number(n) => Value::Number(n.clone()),
            Lite::Str(s) => Value::String(s.clone().into_owned()),
            Lite::Array(items) => Value::Array(items.iter().map(Lite::to_value).collect()),
            Lite::Object(members) => Value::Object(object_map(members)),
        }
    }
}

/// An object's members as a [`Map`].
#[must_use]
pub fn object_map(members: &[(Cow<'_, str>, Lite<'_>)]) -> Map<String, Value> {
    members
        .iter()
        .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
        .collect()
}

impl Serialize for Lite<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Lite::Null => serializer.serialize_unit(),
            Lite::Bool(b) => serializer.serialize_bool(*b),
            Lite::Number(n) => n.serialize(serializer),
            Lite::Str(s) => serializer.serialize_str(s),
            Lite::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Lite::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key.as_ref(), value)?;
                }
                map.end()
            }
        }
    }
}

/// Objects with fewer members than this are checked for a repeated key by comparing keys;
/// bigger ones with a set.
const SMALL_OBJECT: usize = 32;

/// The keys of one object met so far, to refuse a repeated one.
#[derive(Default)]
struct Keys<'a> {
    small: Vec<Cow<'a, str>>,
    big: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> Keys<'a> {
    /// Adds a key (a borrowed key costs nothing to copy); `false` when the object already had
    /// it.
    fn insert(&mut self, key: Cow<'a, str>) -> bool {
        if let Some(big) = &mut self.big {
            return big.insert(key);
        }
        if self.small.contains(&key) {
            return false;
        }
        self.small.push(key);
        if self.small.len() >= SMALL_OBJECT {
            self.big = Some(self.small.drain(..).collect());
        }
        true
    }
}

fn repeated<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key `{key}`"))
}

/// Reads an object key, borrowed from the text when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Reads a [`Lite`], refusing repeated keys.
struct LiteSeed;

impl<'de> DeserializeSeed<'de> for LiteSeed {
    type Value = Lite<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(LiteVisitor)
    }
}

struct LiteVisitor;

impl<'de> Visitor<'de> for LiteVisitor {
    type Value = Lite<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Lite::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Lite::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Lite::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // As crate::json::parse reads it.
        Ok(Number::from_f64(v).map_or(Lite::Null, Lite::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Lite::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Lite::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Lite::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Lite::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Lite::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        LiteSeed.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(LiteSeed)? {
            items.push(item);
        }
        Ok(Lite::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        let mut keys = Keys::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if !keys.insert(key.clone()) {
                return Err(repeated(&key));
            }
            members.push((key, map.next_value_seed(LiteSeed)?));
        }
        Ok(Lite::Object(members))
    }
}

/// What kind of value [`CheckSeed`] went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Object,
    Other,
}

/// Goes over a value without keeping it, refusing repeated keys.
struct CheckSeed;

impl<'de> DeserializeSeed<'de> for CheckSeed {
    type Value = Kind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
        Ok(Kind::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
        Ok(Kind::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
        Ok(Kind::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
        Ok(Kind::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Kind, E> {
        Ok(Kind::Other)
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kind, D::Error> {
        CheckSeed.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        while seq.next_element_seed(CheckSeed)?.is_some() {}
        Ok(Kind::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut keys = Keys::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if !keys.insert(key.clone()) {
                return Err(repeated(&key));
            }
            map.next_value_seed(CheckSeed)?;
        }
        Ok(Kind::Object)
    }
}

/// A dataset record as [`view_record`] reads it: what checking it needs, borrowed from its line.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView<'a> {
    /// The record's id.
    pub id: Cow<'a, str>,
    /// The input object's members.
    pub input: Vec<(Cow<'a, str>, Lite<'a>)>,
    /// The expected object's members (none when it is absent or null).
    pub expected: Vec<(Cow<'a, str>, Lite<'a>)>,
}

/// Reads a record line of the usual shape: a JSON object with a non-empty string `id`, an
/// `input` object, `expected` and `metadata` objects (or null, or absent), any other members,
/// and no key repeated in any object. `None` for anything else (including every line
/// [`crate::json::parse`] or [`crate::Record::from_json`] refuses): read it the slow way then.
#[must_use]
pub fn view_record(text: &str) -> Option<RecordView<'_>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let view = deserializer.deserialize_map(RecordVisitor).ok()?;
    deserializer.end().ok()?;
    Some(view)
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = RecordView<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let unusual = || de::Error::custom("not a record of the usual shape");
        let mut keys = Keys::default();
        let (mut id, mut input, mut expected) = (None, None, Vec::new());
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if !keys.insert(key.clone()) {
                return Err(repeated(&key));
            }
            match key.as_ref() {
                "id" => match map.next_value_seed(LiteSeed)? {
                    Lite::Str(s) if !s.trim().is_empty() => id = Some(s),
                    _ => return Err(unusual()),
                },
                "input" => match map.next_value_seed(LiteSeed)? {
                    Lite::Object(members) => input = Some(members),
                    _ => return Err(unusual()),
                },
                "expected" => match map.next_value_seed(LiteSeed)? {
                    Lite::Object(members) => expected = members,
                    Lite::Null => {}
                    _ => return Err(unusual()),
                },
                "metadata" => match map.next_value_seed(CheckSeed)? {
                    Kind::Object | Kind::Null => {}
                    Kind::Other => return Err(unusual()),
                },
                _ => {
                    map.next_value_seed(CheckSeed)?;
                }
            }
        }
        Ok(RecordView {
            id: id.ok_or_else(unusual)?,
            input: input.ok_or_else(unusual)?,
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;

    /// What the slow way makes of a line: the record, or that it refuses it.
    fn slow(text: &str) -> Option<Record> {
        Record::from_json(crate::json::parse(text).ok()?, 1).ok()
    }

    #[test]
    fn a_usual_record_reads_as_the_slow_way_reads_it() {
        let text = r#"{"id": "r1", "input": {"keyword": "oven \"mitt\"", "n": 1.50, "big": 18446744073709551615, "neg": -3, "list": [1, [], {}, {"a": null}], "t": true, "é": "ü"}, "expected": {"relevancy": "R"}, "metadata": {"asin": "B0"}, "extra": [{"x": 1}]}"#;
        let view = view_record(text).unwrap();
        let record = slow(text).unwrap();
        assert_eq!(view.id, record.id);
        assert_eq!(object_map(&view.input), record.input);
        assert_eq!(object_map(&view.expected), record.expected);
        // Serialised, compact or pretty, a light value is the text its Value gives.
        for (key, value) in &view.input {
            let parsed = &record.input[key.as_ref()];
            assert_eq!(
                serde_json::to_string_pretty(value).unwrap(),
                serde_json::to_string_pretty(parsed).unwrap()
            );
            assert_eq!(serde_json::to_string(value).unwrap(), parsed.to_string());
        }
        // Strings without escapes are borrowed; a string with escapes is not.
        assert!(matches!(view.input[1].1, Lite::Number(_)));
        assert!(matches!(view.input[0].1, Lite::Str(Cow::Owned(_))));
        assert!(matches!(view.input[6].1, Lite::Str(Cow::Borrowed(_))));
    }

    #[test]
    fn every_line_the_slow_way_refuses_is_left_to_it() {
        let refused = [
            "",
            "[]",
            "{}",
            r#"{"id": "r1"}"#,
            r#"{"input": {}}"#,
            r#"{"id": "", "input": {}}"#,
            r#"{"id": "  ", "input": {}}"#,
            r#"{"id": true, "input": {}}"#,
            r#"{"id": "r1", "input": null}"#,
            r#"{"id": "r1", "input": []}"#,
            r#"{"id": "r1", "input": {}, "expected": []}"#,
            r#"{"id": "r1", "input": {}, "metadata": "m"}"#,
            r#"{"id": "r1", "id": "r2", "input": {}}"#,
            r#"{"id": "r1", "input": {"k": 1, "k": 2}}"#,
            r#"{"id": "r1", "input": {"k": [{"a": 1, "a": 1}]}}"#,
            r#"{"id": "r1", "input": {}, "metadata": {"m": {"a": 1, "a": 2}}}"#,
            r#"{"id": "r1", "input": {}, "other": [{"a": 1, "a": 2}]}"#,
            r#"{"id": "r1", "input": {}} trailing"#,
            r#"{"id": "r1", "input": {"k": "unclosed}"#,
        ];
        for text in refused {
            assert!(slow(text).is_none(), "the slow way refuses {text}");
            assert!(view_record(text).is_none(), "left to the slow way: {text}");
        }
        // Shapes the slow way accepts but this one leaves to it: a number id.
        let number_id = r#"{"id": 7, "input": {}}"#;
        assert!(slow(number_id).is_some());
        assert!(view_record(number_id).is_none());
        // Accepted both ways: absent or null expected and metadata.
        for text in [
            r#"{"id": "r1", "input": {}}"#,
            r#"{"id": "r1", "input": {}, "expected": null, "metadata": null}"#,
        ] {
            let (view, record) = (view_record(text).unwrap(), slow(text).unwrap());
            assert_eq!(object_map(&view.expected), record.expected);
            assert!(view.expected.is_empty());
        }
    }

    #[test]
    fn big_objects_still_refuse_a_repeated_key() {
        let members: Vec<String> = (0..100).map(|i| format!("\"k{i}\": {i}")).collect();
        let good = format!(r#"{{"id": "r", "input": {{{}}}}}"#, members.join(", "));
        assert_eq!(view_record(&good).unwrap().input.len(), 100);
        let bad = format!(
            r#"{{"id": "r", "input": {{{}, "k57": 0}}}}"#,
            members.join(", ")
        );
        assert!(slow(&bad).is_none());
        assert!(view_record(&bad).is_none());
    }
}
