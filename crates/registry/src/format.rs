//! Reading the registry file. There are three readers over the same rules: the full one (every
//! entry with every field), a fast one for listing and counting (a few fields per entry, the
//! rest checked or skipped without building values), and a selective one (full entries for a
//! few ids). They accept and refuse exactly the same files.
//!
//! Leniency, shared by all: a null takes the field's default, numbers and booleans where text
//! is expected are kept as their text, unknown fields are kept (by the full reader), and
//! anything else of the wrong kind is an error naming the experiment and the field.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::dataset::DatasetRef;
use crate::entry::{Entry, Status, Tier};
use crate::error::Error;
use crate::overview::Summary;

/// A key of an experiment object.
pub(crate) enum Field {
    LocalId,
    ModuleId,
    CsvPath,
    CreatedAt,
    BraintrustId,
    BraintrustUrl,
    UploadedAt,
    PromptVersion,
    PromptHash,
    DatasetVersion,
    Dataset,
    Samples,
    Accuracy,
    Metrics,
    Status,
    Model,
    Notes,
    Tier,
    Unknown(String),
}

impl Field {
    fn from_key(key: &str) -> Self {
        match key {
            "local_id" => Self::LocalId,
            "module_id" => Self::ModuleId,
            "csv_path" => Self::CsvPath,
            "created_at" => Self::CreatedAt,
            "braintrust_id" => Self::BraintrustId,
            "braintrust_url" => Self::BraintrustUrl,
            "uploaded_at" => Self::UploadedAt,
            "prompt_version" => Self::PromptVersion,
            "prompt_hash" => Self::PromptHash,
            "dataset_version" => Self::DatasetVersion,
            "dataset" => Self::Dataset,
            "samples" => Self::Samples,
            "accuracy" => Self::Accuracy,
            "metrics" => Self::Metrics,
            "status" => Self::Status,
            "model" => Self::Model,
            "notes" => Self::Notes,
            "tier" => Self::Tier,
            other => Self::Unknown(other.to_owned()),
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::LocalId => "local_id",
            Self::ModuleId => "module_id",
            Self::CsvPath => "csv_path",
            Self::CreatedAt => "created_at",
            Self::BraintrustId => "braintrust_id",
            Self::BraintrustUrl => "braintrust_url",
            Self::UploadedAt => "uploaded_at",
            Self::PromptVersion => "prompt_version",
            Self::PromptHash => "prompt_hash",
            Self::DatasetVersion => "dataset_version",
            Self::Dataset => "dataset",
            Self::Samples => "samples",
            Self::Accuracy => "accuracy",
            Self::Metrics => "metrics",
            Self::Status => "status",
            Self::Model => "model",
            Self::Notes => "notes",
            Self::Tier => "tier",
            Self::Unknown(name) => name,
        }
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Key;
        impl Visitor<'_> for Key {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
                Ok(Field::from_key(key))
            }
        }
        d.deserialize_identifier(Key)
    }
}

/// A field value read without building a JSON tree: text is borrowed from the file when it
/// has no escapes, arrays and objects are skipped and only their kind is kept.
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Text(Cow<'a, str>),
    Array,
    Object,
}

impl<'a> Scalar<'a> {
    pub(crate) fn from_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.clone()),
            Value::String(s) => Self::Text(Cow::Borrowed(s)),
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Bool(b) => b.to_string(),
            Self::Number(n) => n.to_string(),
            Self::Text(s) => Value::String(s.to_string()).to_string(),
            Self::Array => "an array".to_owned(),
            Self::Object => "an object".to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Number::from_f64(v).map_or(Scalar::Null, Scalar::Number))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
        }
        d.deserialize_any(Any)
    }
}

fn text(value: Scalar<'_>) -> Result<Option<String>, String> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Text(s) => Ok(Some(s.into_owned())),
        Scalar::Number(n) => Ok(Some(n.to_string())),
        Scalar::Bool(b) => Ok(Some(b.to_string())),
        other @ (Scalar::Array | Scalar::Object) => {
            Err(format!("expected text, found {}", other.describe()))
        }
    }
}

fn count(value: &Scalar<'_>) -> Result<u64, String> {
    let refuse = || {
        format!(
            "expected a whole number of rows, found {}",
            value.describe()
        )
    };
    match value {
        Scalar::Null => Ok(0),
        Scalar::Number(n) => {
            if let Some(v) = n.as_u64() {
                return Ok(v);
            }
            match n.as_f64() {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked to be a whole, non-negative number in range"
                )]
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Ok(f as u64),
                _ => Err(refuse()),
            }
        }
        _ => Err(refuse()),
    }
}

fn fraction(value: &Scalar<'_>) -> Result<Option<f64>, String> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Number(n) => Ok(n.as_f64()),
        other => Err(format!(
            "expected a number between 0 and 1, found {}",
            other.describe()
        )),
    }
}

fn status(value: Scalar<'_>) -> Result<Status, String> {
    Ok(text(value)?.map_or(Status::LocalOnly, |s| Status::parse(&s)))
}

/// Sets a field that is not `metrics` and not unknown.
fn set_scalar(entry: &mut Entry, field: &Field, value: Scalar<'_>) -> Result<(), String> {
    match field {
        // The key of the `experiments` map is the id; a differing copy inside is not trusted,
        // but it must still be text.
        Field::LocalId => {
            text(value)?;
        }
        Field::ModuleId => entry.module_id = text(value)?.unwrap_or_default(),
        Field::CsvPath => entry.csv_path = text(value)?.unwrap_or_default(),
        Field::CreatedAt => entry.created_at = text(value)?.unwrap_or_default(),
        Field::BraintrustId => entry.braintrust_id = text(value)?,
        Field::BraintrustUrl => entry.braintrust_url = text(value)?,
        Field::UploadedAt => entry.uploaded_at = text(value)?,
        Field::PromptVersion => entry.prompt_version = text(value)?.unwrap_or_default(),
        Field::PromptHash => entry.prompt_hash = text(value)?,
        Field::DatasetVersion => entry.dataset_version = text(value)?.unwrap_or_default(),
        Field::Samples => entry.samples = count(&value)?,
        Field::Accuracy => entry.accuracy = fraction(&value)?,
        Field::Status => entry.status = status(value)?,
        Field::Model => entry.model = text(value)?.unwrap_or_default(),
        Field::Notes => entry.notes = text(value)?.unwrap_or_default(),
        Field::Tier => entry.tier = text(value)?.map_or(Tier::Live, |t| Tier::parse(&t)),
        Field::Metrics | Field::Dataset | Field::Unknown(_) => {
            unreachable!("not scalar fields")
        }
    }
    Ok(())
}

/// The `dataset` object; null (or absent) is `None`, as in entries written before runs
/// recorded it.
fn dataset(value: Value) -> Result<Option<DatasetRef>, String> {
    if value.is_null() {
        return Ok(None);
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| format!("expected {{path, sha256, records, kind}}: {e}"))
}

fn metrics(value: Value) -> Value {
    match value {
        Value::Null => Value::Object(Map::new()),
        other => other,
    }
}

fn field_error<E: de::Error>(id: &str, field: &Field, message: &str) -> E {
    E::custom(format!(
        "experiment `{id}`, field `{}`: {message}",
        field.name()
    ))
}

/// An entry from a JSON object (used when salvaging a damaged file).
pub(crate) fn entry_from_value(id: &str, value: Value) -> Result<Entry, String> {
    let Value::Object(object) = value else {
        return Err(format!("experiment `{id}` is not an object"));
    };
    let mut entry = Entry::new(id);
    for (key, value) in object {
        let field = Field::from_key(&key);
        let result = match field {
            Field::Metrics => {
                entry.metrics = metrics(value);
                Ok(())
            }
            Field::Dataset => dataset(value).map(|d| entry.dataset = d),
            Field::Unknown(name) => {
                entry.extra.insert(name, value);
                Ok(())
            }
            ref known => set_scalar(&mut entry, known, Scalar::from_value(&value)),
        };
        result.map_err(|message| format!("experiment `{id}`, field `{key}`: {message}"))?;
    }
    Ok(entry)
}

// ------------------------------------------------------------------------------------------
// Entry readers

/// How one experiment object is read.
trait EntryReader<'de> {
    type Item;
    /// Whether to read this entry at all (others are skipped).
    fn wants(&self, _id: &str) -> bool {
        true
    }
    fn read<A: MapAccess<'de>>(&self, map: &mut A, id: &str) -> Result<Self::Item, A::Error>;
}

/// Every field.
struct Full;

impl<'de> EntryReader<'de> for Full {
    type Item = Entry;

    fn read<A: MapAccess<'de>>(&self, map: &mut A, id: &str) -> Result<Entry, A::Error> {
        map.next_value_seed(FullSeed { id })
    }
}

struct FullSeed<'a> {
    id: &'a str,
}

impl<'de> DeserializeSeed<'de> for FullSeed<'_> {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FullSeed<'_> {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "experiment `{}` to be an object", self.id)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut entry = Entry::new(self.id);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Metrics => entry.metrics = metrics(map.next_value()?),
                Field::Dataset => {
                    entry.dataset = dataset(map.next_value()?)
                        .map_err(|m| field_error::<A::Error>(self.id, &field, &m))?;
                }
                Field::Unknown(name) => {
                    let value: Value = map.next_value()?;
                    entry.extra.insert(name, value);
                }
                known => {
                    let value: Scalar<'de> = map.next_value()?;
                    set_scalar(&mut entry, &known, value)
                        .map_err(|m| field_error::<A::Error>(self.id, &known, &m))?;
                }
            }
        }
        Ok(entry)
    }
}

/// The fields listing and counting need; the other text fields are only checked to be text,
/// metrics and unknown fields (which may hold anything) are skipped.
struct Summaries;

impl<'de> EntryReader<'de> for Summaries {
    type Item = Summary;

    fn read<A: MapAccess<'de>>(&self, map: &mut A, id: &str) -> Result<Summary, A::Error> {
        map.next_value_seed(SummarySeed { id })
    }
}

struct SummarySeed<'a> {
    id: &'a str,
}

impl<'de> DeserializeSeed<'de> for SummarySeed<'_> {
    type Value = Summary;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Summary, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SummarySeed<'_> {
    type Value = Summary;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "experiment `{}` to be an object", self.id)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Summary, A::Error> {
        let defaults = Entry::new("");
        let mut out = Summary {
            local_id: self.id.to_owned(),
            module_id: defaults.module_id,
            created_at: defaults.created_at,
            status: defaults.status,
            model: defaults.model,
            prompt_version: defaults.prompt_version,
            samples: defaults.samples,
            accuracy: defaults.accuracy,
            tier: defaults.tier,
            dataset: None,
        };
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Metrics | Field::Unknown(_) => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Field::Dataset => {
                    out.dataset = dataset(map.next_value()?)
                        .map_err(|m| field_error::<A::Error>(self.id, &field, &m))?;
                    continue;
                }
                Field::LocalId
                | Field::CsvPath
                | Field::BraintrustId
                | Field::BraintrustUrl
                | Field::UploadedAt
                | Field::PromptHash
                | Field::DatasetVersion
                | Field::Notes => {
                    // Only the kind matters here; the raw text is not decoded.
                    let raw: &RawValue = map.next_value()?;
                    if let Some(kind) = container_kind(raw) {
                        let message = format!("expected text, found {kind}");
                        return Err(field_error::<A::Error>(self.id, &field, &message));
                    }
                    continue;
                }
                _ => {}
            }
            let value: Scalar<'de> = map.next_value()?;
            let result = match field {
                Field::ModuleId => text(value).map(|t| out.module_id = t.unwrap_or_default()),
                Field::CreatedAt => text(value).map(|t| out.created_at = t.unwrap_or_default()),
                Field::Status => status(value).map(|s| out.status = s),
                Field::Model => text(value).map(|t| out.model = t.unwrap_or_default()),
                Field::PromptVersion => {
                    text(value).map(|t| out.prompt_version = t.unwrap_or_default())
                }
                Field::Samples => count(&value).map(|n| out.samples = n),
                Field::Accuracy => fraction(&value).map(|a| out.accuracy = a),
                Field::Tier => {
                    text(value).map(|t| out.tier = t.map_or(Tier::Live, |t| Tier::parse(&t)))
                }
                _ => unreachable!("handled above"),
            };
            result.map_err(|m| field_error::<A::Error>(self.id, &field, &m))?;
        }
        Ok(out)
    }
}

/// `an array` / `an object` when a raw value is one, as [`Scalar::describe`] words it.
fn container_kind(raw: &RawValue) -> Option<&'static str> {
    match raw.get().as_bytes().first() {
        Some(b'[') => Some("an array"),
        Some(b'{') => Some("an object"),
        _ => None,
    }
}

/// Full entries for the ids asked for; the others skipped.
struct Selected<'s> {
    ids: &'s HashSet<&'s str>,
}

impl<'de> EntryReader<'de> for Selected<'_> {
    type Item = Entry;

    fn wants(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn read<A: MapAccess<'de>>(&self, map: &mut A, id: &str) -> Result<Entry, A::Error> {
        map.next_value_seed(FullSeed { id })
    }
}

// ------------------------------------------------------------------------------------------
// The file

/// What a reader found in the file.
pub(crate) struct Parsed<T> {
    pub(crate) experiments: IndexMap<String, T>,
    pub(crate) metadata: Value,
    pub(crate) extra: Map<String, Value>,
}

struct Top<R> {
    reader: R,
    keep_top: bool,
    capacity: usize,
}

impl<'de, R: EntryReader<'de>> Visitor<'de> for Top<R> {
    type Value = Parsed<R::Item>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a registry object {"experiments": {...}, "metadata": {...}}"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut parsed = Parsed {
            experiments: IndexMap::new(),
            metadata: Value::Object(Map::new()),
            extra: Map::new(),
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "experiments" => {
                    parsed.experiments = map.next_value_seed(Experiments {
                        reader: &self.reader,
                        capacity: self.capacity,
                    })?;
                }
                "metadata" if self.keep_top => parsed.metadata = map.next_value()?,
                _ if self.keep_top => {
                    let value: Value = map.next_value()?;
                    parsed.extra.insert(key.into_owned(), value);
                }
                // Top-level values may hold anything: the readers that do not keep them need
                // not look inside.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(parsed)
    }
}

struct Experiments<'r, R> {
    reader: &'r R,
    capacity: usize,
}

impl<'de, R: EntryReader<'de>> DeserializeSeed<'de> for Experiments<'_, R> {
    type Value = IndexMap<String, R::Item>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: EntryReader<'de>> Visitor<'de> for Experiments<'_, R> {
    type Value = IndexMap<String, R::Item>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`experiments` to be an object of local id -> experiment")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::with_capacity(map.size_hint().unwrap_or(self.capacity));
        // Ids of skipped entries, so a duplicate among them is refused as the full reader does.
        let mut skipped: HashSet<String> = HashSet::new();
        while let Some(id) = map.next_key::<String>()? {
            // A second entry under one id would silently replace the first, and the next write
            // would lose it for good. Refused right after the key, so the error names its line.
            let seen = if self.reader.wants(&id) {
                out.contains_key(&id)
            } else {
                skipped.contains(&id)
            };
            if seen {
                return Err(de::Error::custom(format!(
                    "experiment `{id}` appears twice (a second entry with the same local id)"
                )));
            }
            if self.reader.wants(&id) {
                let item = self.reader.read(&mut map, &id)?;
                out.insert(id, item);
            } else {
                // Even a skipped entry must be an object, as the full reader requires.
                map.next_value_seed(ObjectCheck { id: &id })?;
                skipped.insert(id);
            }
        }
        Ok(out)
    }
}

struct ObjectCheck<'a> {
    id: &'a str,
}

impl<'de> DeserializeSeed<'de> for ObjectCheck<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectCheck<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "experiment `{}` to be an object", self.id)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

fn run<'de, R: EntryReader<'de>>(
    bytes: &'de [u8],
    reader: R,
    keep_top: bool,
    capacity: usize,
) -> Result<Parsed<R::Item>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = de.deserialize_map(Top {
        reader,
        keep_top,
        capacity,
    })?;
    de.end()?;
    Ok(parsed)
}

/// Every entry with every field, and the file's other top-level values.
pub(crate) fn parse_full(bytes: &[u8]) -> Result<Parsed<Entry>, serde_json::Error> {
    run(bytes, Full, true, expected_entries(bytes))
}

/// The fields listing and counting need.
pub(crate) fn parse_summaries(bytes: &[u8]) -> Result<Parsed<Summary>, serde_json::Error> {
    run(bytes, Summaries, false, expected_entries(bytes))
}

/// A guess at the number of entries (written entries take 500–900 bytes), so the map is
/// sized once instead of growing and copying as it fills.
fn expected_entries(bytes: &[u8]) -> usize {
    bytes.len() / 700
}

/// Full entries for `ids` only.
pub(crate) fn parse_selected(
    bytes: &[u8],
    ids: &HashSet<&str>,
) -> Result<IndexMap<String, Entry>, serde_json::Error> {
    Ok(run(bytes, Selected { ids }, false, ids.len())?.experiments)
}

/// What [`parse_lenient`] read.
pub(crate) struct Lenient<T> {
    pub(crate) parsed: T,
    /// The bytes actually read, when they had to be changed.
    pub(crate) fixed: Option<Vec<u8>>,
    /// What was changed.
    pub(crate) warning: Option<String>,
}

/// Reads `bytes` with `parse`; when that fails on Python's `NaN` / `Infinity` (not JSON, but
/// written by the earlier tool for non-finite floats), reads them as null instead.
pub(crate) fn parse_lenient<T>(
    bytes: &[u8],
    path: &Path,
    parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<Lenient<T>, Error> {
    match parse(bytes) {
        Ok(parsed) => Ok(Lenient {
            parsed,
            fixed: None,
            warning: None,
        }),
        Err(first) => {
            if first.classify() == serde_json::error::Category::Syntax
                && let Some((fixed, count)) = replace_non_finite(bytes)
                && let Ok(parsed) = parse(&fixed)
            {
                let warning = format!(
                    "{}: {count} non-finite number{} (NaN/Infinity) read as null",
                    path.display(),
                    if count == 1 { "" } else { "s" }
                );
                return Ok(Lenient {
                    parsed,
                    fixed: Some(fixed),
                    warning: Some(warning),
                });
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(Error::Empty {
                    path: path.to_owned(),
                });
            }
            if let Err(e) = std::str::from_utf8(bytes) {
                let offset = e.valid_up_to();
                return Err(Error::NotUtf8 {
                    path: path.to_owned(),
                    line: 1 + bytes[..offset].iter().filter(|b| **b == b'\n').count(),
                    offset,
                });
            }
            Err(corrupt(path, &first))
        }
    }
}

pub(crate) fn corrupt(path: &Path, error: &serde_json::Error) -> Error {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let mut message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    if error.classify() == serde_json::error::Category::Eof {
        message = format!("{message}, the file ends early (truncated?)");
    }
    Error::Corrupt {
        path: path.to_owned(),
        line: error.line(),
        column: error.column(),
        message,
    }
}

/// Replaces the bare words `NaN`, `Infinity` and `-Infinity` outside strings with `null`.
/// Returns `None` when there are none.
fn replace_non_finite(text: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::with_capacity(text.len());
    let mut count = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
        }
        let rest = &text[i..];
        if let Some(word) = [&b"-Infinity"[..], b"Infinity", b"NaN"]
            .into_iter()
            .find(|w| rest.starts_with(w))
        {
            out.extend_from_slice(b"null");
            count += 1;
            i += word.len();
            continue;
        }
        out.push(b);
        i += 1;
    }
    (count > 0).then_some((out, count))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn one(entry: &Value) -> Result<Entry, String> {
        let text = json!({ "experiments": { "x": entry } }).to_string();
        let full = parse_full(text.as_bytes()).map_err(|e| e.to_string());
        let summary = parse_summaries(text.as_bytes()).map_err(|e| e.to_string());
        // The fast reader must accept and refuse exactly what the full one does.
        assert_eq!(
            full.is_ok(),
            summary.is_ok(),
            "{entry}: {:?} vs {:?}",
            full.as_ref().err(),
            summary.as_ref().err()
        );
        if let (Err(a), Err(b)) = (&full, &summary) {
            assert_eq!(a, b, "same message from both readers");
        }
        full.map(|mut p| p.experiments.swap_remove("x").unwrap())
    }

    #[test]
    fn fields_are_read_leniently() {
        let entry = one(&json!({
            "samples": 100.0,
            "model": null,
            "prompt_hash": 1234,
            "owner": {"name": "kd"},
            "metrics": null,
            "status": null,
            "notes": true
        }))
        .unwrap();
        assert_eq!(entry.samples, 100);
        assert_eq!(entry.model, "");
        assert_eq!(entry.prompt_hash.as_deref(), Some("1234"));
        assert_eq!(entry.extra["owner"], json!({"name": "kd"}));
        assert_eq!(entry.metrics, json!({}));
        assert_eq!(entry.status, Status::LocalOnly);
        assert_eq!(entry.notes, "true");
    }

    #[test]
    fn nonsense_is_refused_by_every_reader_alike() {
        for (entry, message) in [
            (
                json!({"samples": "many"}),
                "field `samples`: expected a whole number of rows, found \"many\"",
            ),
            (
                json!({"samples": -3}),
                "field `samples`: expected a whole number of rows, found -3",
            ),
            (
                json!({"samples": 2.5}),
                "expected a whole number of rows, found 2.5",
            ),
            (
                json!({"accuracy": "high"}),
                "field `accuracy`: expected a number between 0 and 1",
            ),
            (
                json!({"csv_path": ["a"]}),
                "field `csv_path`: expected text, found an array",
            ),
            (
                json!({"notes": {"a": 1}}),
                "field `notes`: expected text, found an object",
            ),
            (
                json!({"local_id": [1]}),
                "field `local_id`: expected text, found an array",
            ),
            (json!("not an object"), "experiment `x` to be an object"),
            (
                json!({"dataset": {"path": "d.jsonl"}}),
                "field `dataset`: expected {path, sha256, records, kind}",
            ),
        ] {
            let err = one(&entry).unwrap_err();
            assert!(err.contains(message), "{entry}: {err}");
        }
    }

    #[test]
    fn the_dataset_is_read_and_old_entries_have_none() {
        let entry = one(&json!({"dataset": {"path": "validated_data/g.jsonl",
            "sha256": "ab", "records": 3, "kind": "gold"}}))
        .unwrap();
        let d = entry.dataset.unwrap();
        assert_eq!((d.path.as_str(), d.records), ("validated_data/g.jsonl", 3));
        assert_eq!(d.kind, crate::DatasetKind::Gold);
        assert_eq!(one(&json!({"model": "m"})).unwrap().dataset, None);
        assert_eq!(one(&json!({"dataset": null})).unwrap().dataset, None);
    }

    #[test]
    fn a_duplicated_id_is_refused_by_every_reader_alike() {
        let text = "{\"experiments\": {\n\"a\": {},\n\"b\": {},\n\"a\": {}}}";
        let full = parse_full(text.as_bytes()).err().unwrap();
        let summaries = parse_summaries(text.as_bytes()).err().unwrap();
        // Skipping `a` (only `b` asked for) must not hide its second copy.
        let selected = parse_selected(text.as_bytes(), &HashSet::from(["b"]))
            .err()
            .unwrap();
        for err in [&full, &summaries, &selected] {
            assert_eq!(err.line(), 4, "{err}");
            assert!(err.to_string().contains("`a` appears twice"), "{err}");
        }
    }

    #[test]
    fn selected_reads_only_what_is_asked() {
        let text = json!({"experiments": {"a": {"model": "x"}, "b": {"model": "y"}}}).to_string();
        let ids = HashSet::from(["b"]);
        let got = parse_selected(text.as_bytes(), &ids).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got["b"].model, "y");
    }
}
