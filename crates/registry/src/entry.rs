//! One experiment in the registry, its upload status, and what a finished run hands over to be
//! registered.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::NaiveDateTime;
use core_config::ModuleId;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::dataset::DatasetRef;

/// The format of `created_at`, `uploaded_at` and the timestamp inside local ids (local time, no
/// offset, as the earlier tool wrote them).
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// Where a run stands with Braintrust.
///
/// Files written by the earlier tool may hold statuses this crate does not set (it documented
/// `synced`); they load as [`Status::Other`] and are written back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Only on disk; not uploaded yet.
    LocalOnly,
    /// Uploaded to Braintrust (`braintrust_id`, `braintrust_url`, `uploaded_at` are set).
    Uploaded,
    /// The upload failed; the reason is in `notes`.
    Failed,
    /// A status this version does not know.
    Other(String),
}

impl Status {
    /// The text stored in the file (`local_only`, `uploaded`, `failed`, or the unknown text).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::LocalOnly => "local_only",
            Self::Uploaded => "uploaded",
            Self::Failed => "failed",
            Self::Other(text) => text,
        }
    }

    /// Reads a status; the known ones match case-insensitively and with `-` for `_`
    /// (`local-only`), anything else is kept as [`Status::Other`].
    #[must_use]
    pub fn parse(text: &str) -> Self {
        // Exact spellings first: this runs once per entry when a large registry is read.
        match text {
            "local_only" => return Self::LocalOnly,
            "uploaded" => return Self::Uploaded,
            "failed" => return Self::Failed,
            _ => {}
        }
        match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "local_only" => Self::LocalOnly,
            "uploaded" => Self::Uploaded,
            "failed" => Self::Failed,
            _ => Self::Other(text.to_owned()),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(s))
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How a run's answers were obtained.
///
/// Stored as `"tier"` only for batch runs: entries without the field (every entry the earlier
/// tool wrote, and every live run) are live, so registries without it load and round-trip
/// unchanged. A tier this version does not know loads as [`Tier::Other`] and is written back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Live calls (`orchestrator run`).
    #[default]
    Live,
    /// The OpenAI Batch API (`batch evaluate`).
    Batch,
    /// A tier this version does not know.
    Other(String),
}

impl Tier {
    /// `live`, `batch`, or the unknown text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Live => "live",
            Self::Batch => "batch",
            Self::Other(text) => text,
        }
    }

    /// Whether this is [`Tier::Live`].
    #[must_use]
    pub fn is_live(&self) -> bool {
        *self == Self::Live
    }

    /// Reads a tier (case-insensitively); anything else is kept as [`Tier::Other`].
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "live" | "" => Self::Live,
            "batch" => Self::Batch,
            _ => Self::Other(text.to_owned()),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Tier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One registered run, with the fields of the earlier tool's registry in its order.
///
/// Fields this version does not know are kept in [`Entry::extra`] and written back after the
/// known ones, so a registry shared with other tools loses nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `exp_{YYYYmmdd_HHMMSS}_{module}`, with `_2`, `_3`, … when a second run of the module
    /// started in the same second.
    pub local_id: String,
    /// Canonical module id (`m12`), as written.
    pub module_id: String,
    /// The results CSV: relative to the project root when it lies under it, absolute otherwise.
    /// Resolve it with [`crate::RegistryFile::resolve_csv`].
    pub csv_path: String,
    /// When the run was registered, ISO 8601 local time.
    pub created_at: String,
    /// Braintrust experiment id, once uploaded.
    pub braintrust_id: Option<String>,
    /// Braintrust experiment URL, once uploaded.
    pub braintrust_url: Option<String>,
    /// When it was uploaded, ISO 8601 local time.
    pub uploaded_at: Option<String>,
    /// Prompt version (`v1`).
    pub prompt_version: String,
    /// Short hash of the prompt file.
    pub prompt_hash: Option<String>,
    /// Dataset version (`v1.1`).
    pub dataset_version: String,
    /// The dataset the run used (`dataset: {path, sha256, records, kind}` in the file);
    /// `None` for entries written before runs recorded it (see [`crate::dataset`]).
    pub dataset: Option<DatasetRef>,
    /// Rows in the run.
    pub samples: u64,
    /// Share of rows answered correctly (0–1); `None` when unknown.
    pub accuracy: Option<f64>,
    /// The run's metrics object, as the runner wrote it.
    pub metrics: Value,
    /// Upload status.
    pub status: Status,
    /// Model name.
    pub model: String,
    /// Free text; the failure reason when `status` is `failed`.
    pub notes: String,
    /// Live or batch (`tier` in the file, written only when not live).
    pub tier: Tier,
    /// Fields this version does not know, kept in their order.
    pub extra: Map<String, Value>,
}

impl Entry {
    /// An entry with the earlier tool's defaults for everything but its id.
    #[must_use]
    pub fn new(local_id: impl Into<String>) -> Self {
        Self {
            local_id: local_id.into(),
            module_id: String::new(),
            csv_path: String::new(),
            created_at: String::new(),
            braintrust_id: None,
            braintrust_url: None,
            uploaded_at: None,
            prompt_version: "v1".to_owned(),
            prompt_hash: None,
            dataset_version: "v1.1".to_owned(),
            dataset: None,
            samples: 0,
            accuracy: None,
            metrics: Value::Object(Map::new()),
            status: Status::LocalOnly,
            model: String::new(),
            notes: String::new(),
            tier: Tier::Live,
            extra: Map::new(),
        }
    }

    /// The module id, read leniently (`m12`, `M12`, `12`, `Module_12`); `None` when it does not
    /// look like one.
    #[must_use]
    pub fn module(&self) -> Option<ModuleId> {
        parse_module_lenient(&self.module_id)
    }

    /// `created_at` as a local date-time, when it parses (with or without fractional seconds or
    /// an offset).
    #[must_use]
    pub fn created(&self) -> Option<NaiveDateTime> {
        parse_timestamp(&self.created_at)
    }
}

pub(crate) fn parse_module_lenient(text: &str) -> Option<ModuleId> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("module_")
        .or_else(|| lower.strip_prefix("module"))
        .unwrap_or(&lower);
    ModuleId::parse(rest)
}

pub use present::parse_timestamp;

/// Formats a timestamp as the registry stores it.
#[must_use]
pub fn format_timestamp(at: NaiveDateTime) -> String {
    at.format(TIMESTAMP_FORMAT).to_string()
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("local_id", &self.local_id)?;
        map.serialize_entry("module_id", &self.module_id)?;
        map.serialize_entry("csv_path", &self.csv_path)?;
        map.serialize_entry("created_at", &self.created_at)?;
        map.serialize_entry("braintrust_id", &self.braintrust_id)?;
        map.serialize_entry("braintrust_url", &self.braintrust_url)?;
        map.serialize_entry("uploaded_at", &self.uploaded_at)?;
        map.serialize_entry("prompt_version", &self.prompt_version)?;
        map.serialize_entry("prompt_hash", &self.prompt_hash)?;
        map.serialize_entry("dataset_version", &self.dataset_version)?;
        if let Some(dataset) = &self.dataset {
            map.serialize_entry("dataset", dataset)?;
        }
        map.serialize_entry("samples", &self.samples)?;
        map.serialize_entry("accuracy", &self.accuracy)?;
        map.serialize_entry("metrics", &self.metrics)?;
        map.serialize_entry("status", &self.status)?;
        map.serialize_entry("model", &self.model)?;
        map.serialize_entry("notes", &self.notes)?;
        if !self.tier.is_live() {
            map.serialize_entry("tier", &self.tier)?;
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// What a finished run hands over to be registered (see [`crate::RegistryFile::register`]).
///
/// Build it with [`NewRun::new`] and struct-update syntax:
///
/// ```
/// use core_config::ModuleId;
/// use registry::NewRun;
///
/// let run = NewRun {
///     model: "gpt-4o-mini".into(),
///     samples: 20,
///     accuracy: Some(0.85),
///     ..NewRun::new(ModuleId::parse("m12").unwrap(), "experiment_results/M12_X/run.csv")
/// };
/// assert_eq!(run.prompt_version, "v1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The module that ran.
    pub module_id: ModuleId,
    /// The results CSV (absolute, or relative to the project root).
    pub csv_path: PathBuf,
    /// When the run finished; now when `None`.
    pub created_at: Option<NaiveDateTime>,
    /// Model name.
    pub model: String,
    /// Prompt version (default `v1`).
    pub prompt_version: String,
    /// Short hash of the prompt file.
    pub prompt_hash: Option<String>,
    /// Dataset version (default `v1.1`).
    pub dataset_version: String,
    /// The dataset the run used, when known.
    pub dataset: Option<DatasetRef>,
    /// Rows in the run.
    pub samples: u64,
    /// Share of rows answered correctly (0–1).
    pub accuracy: Option<f64>,
    /// The run's metrics object.
    pub metrics: Value,
    /// Free text.
    pub notes: String,
    /// Live (the default) or batch.
    pub tier: Tier,
}

impl NewRun {
    /// A run of `module_id` whose results are in `csv_path`, with default versions and no
    /// figures yet.
    #[must_use]
    pub fn new(module_id: ModuleId, csv_path: impl Into<PathBuf>) -> Self {
        Self {
            module_id,
            csv_path: csv_path.into(),
            created_at: None,
            model: String::new(),
            prompt_version: "v1".to_owned(),
            prompt_hash: None,
            dataset_version: "v1.1".to_owned(),
            dataset: None,
            samples: 0,
            accuracy: None,
            metrics: Value::Object(Map::new()),
            notes: String::new(),
            tier: Tier::Live,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_survive() {
        for text in ["local_only", "uploaded", "failed", "synced"] {
            assert_eq!(Status::parse(text).as_str(), text);
        }
        assert_eq!(Status::parse("Local-Only"), Status::LocalOnly);
        assert_eq!(Status::parse("synced"), Status::Other("synced".into()));
    }

    #[test]
    fn module_ids_read_in_old_spellings() {
        let mut entry = Entry::new("x");
        for (text, want) in [("m12", "m12"), ("Module_02", "m02"), ("M02B", "m02b")] {
            entry.module_id = text.into();
            assert_eq!(entry.module().unwrap().as_str(), want, "{text}");
        }
        entry.module_id = "unknown".into();
        assert_eq!(entry.module(), None);
    }

    #[test]
    fn timestamps_parse_with_fractions_and_offsets() {
        let plain = parse_timestamp("2026-01-16T12:34:56").unwrap();
        assert_eq!(format_timestamp(plain), "2026-01-16T12:34:56");
        assert_eq!(
            parse_timestamp("2026-01-16T12:34:56.123456").map(format_timestamp),
            Some("2026-01-16T12:34:56".into())
        );
        assert_eq!(
            parse_timestamp("2026-01-16T12:34:56+01:00").map(format_timestamp),
            Some("2026-01-16T12:34:56".into())
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
