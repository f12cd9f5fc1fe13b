//! A fast, read-only view of the registry for listing and counting: one pass over the file
//! that keeps a few fields per run and skips metrics and unknown fields without building them.
//! On a registry of 100,000 runs this is several times faster than [`crate::Registry::parse`], which
//! matters for `experiment-registry list` and `stats`.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use core_config::ModuleId;
use serde::Serialize;

use crate::dataset::DatasetRef;
use crate::entry::{Entry, Status, Tier, parse_module_lenient};
use crate::error::{Error, Result};
use crate::format;
use crate::registry::{Filter, Run, Stats, find_in, list_runs, stats_of};

/// A run as listing and counting see it: the fields of [`Entry`] that tables show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Local id.
    pub local_id: String,
    /// Module id, as written.
    pub module_id: String,
    /// When it was registered.
    pub created_at: String,
    /// Upload status.
    pub status: Status,
    /// Model name.
    pub model: String,
    /// Prompt version.
    pub prompt_version: String,
    /// Rows in the run.
    pub samples: u64,
    /// Share of rows answered correctly.
    pub accuracy: Option<f64>,
    /// Live or batch (left out of JSON when live, as in the registry file).
    #[serde(skip_serializing_if = "Tier::is_live")]
    pub tier: Tier,
    /// The dataset the run used; `None` for entries written before runs recorded it.
    pub dataset: Option<DatasetRef>,
}

impl Summary {
    /// The module id, read leniently (see [`Entry::module`]).
    #[must_use]
    pub fn module(&self) -> Option<ModuleId> {
        parse_module_lenient(&self.module_id)
    }
}

impl Run for Summary {
    fn local_id(&self) -> &str {
        &self.local_id
    }
    fn module_id(&self) -> &str {
        &self.module_id
    }
    fn created_at(&self) -> &str {
        &self.created_at
    }
    fn status(&self) -> &Status {
        &self.status
    }
    fn accuracy(&self) -> Option<f64> {
        self.accuracy
    }
    fn dataset(&self) -> Option<&DatasetRef> {
        self.dataset.as_ref()
    }
}

/// The registry read for listing and counting. It accepts and refuses exactly the files
/// [`crate::Registry::parse`] does, and can still hand out full entries for the few runs a command
/// shows ([`Overview::entries`]).
///
/// ```
/// use registry::{Filter, Overview, Status};
///
/// let text = br#"{"experiments": {
///   "exp_20260116_120000_m12": {"module_id": "m12", "created_at": "2026-01-16T12:00:00",
///                               "status": "local_only", "accuracy": 0.8,
///                               "metrics": {"total": 10}, "reviewer": "kd"}},
///   "metadata": {}}"#;
/// let overview = Overview::parse(text.to_vec(), ".registry.json".as_ref())?;
/// assert_eq!(overview.pending().len(), 1);
/// assert_eq!(overview.stats().by_module["m12"], 1);
/// let full = overview.entries(&["exp_20260116_120000_m12"])?;
/// assert_eq!(full[0].extra["reviewer"], "kd");
/// # Ok::<(), registry::Error>(())
/// ```
pub struct Overview {
    /// The registry text, once read. When the runs came from the summary index it is read
    /// only if full entries are asked for, from the file opened when the index was checked
    /// (so it is the very file the index describes, even if a writer has replaced it since).
    bytes: OnceLock<Vec<u8>>,
    file: Option<File>,
    path: PathBuf,
    runs: Vec<Summary>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Overview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overview")
            .field("path", &self.path)
            .field("runs", &self.runs.len())
            .field("from_index", &self.file.is_some())
            .finish_non_exhaustive()
    }
}

impl Overview {
    /// Reads registry text; `path` is used in error messages.
    ///
    /// # Errors
    /// As [`crate::Registry::parse`].
    pub fn parse(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let read = format::parse_lenient(&bytes, path, format::parse_summaries)?;
        Ok(Self {
            bytes: OnceLock::from(read.fixed.unwrap_or(bytes)),
            file: None,
            path: path.to_owned(),
            runs: read.parsed.experiments.into_values().collect(),
            warnings: read.warning.into_iter().collect(),
        })
    }

    /// Runs read from the summary index of the open registry `file`.
    pub(crate) fn from_index(file: File, path: &Path, runs: Vec<Summary>) -> Self {
        Self {
            bytes: OnceLock::new(),
            file: Some(file),
            path: path.to_owned(),
            runs,
            warnings: Vec::new(),
        }
    }

    /// An empty registry (no file yet).
    #[must_use]
    pub fn empty(path: &Path) -> Self {
        Self {
            bytes: OnceLock::from(br#"{"experiments": {}}"#.to_vec()),
            file: None,
            path: path.to_owned(),
            runs: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn bytes(&self) -> Result<&[u8]> {
        if let Some(bytes) = self.bytes.get() {
            return Ok(bytes);
        }
        let mut bytes = Vec::new();
        if let Some(mut file) = self.file.as_ref() {
            file.seek(SeekFrom::Start(0))
                .and_then(|_| file.read_to_end(&mut bytes))
                .map_err(|e| Error::io(&self.path, e))?;
        }
        // Only files this crate wrote have an index, and they never hold NaN: no need for the
        // lenient reading here.
        Ok(self.bytes.get_or_init(|| bytes))
    }

    /// Things worth telling the user about the file that did not stop it from loading.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Number of runs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether there are no runs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Every run in file order.
    pub fn runs(&self) -> impl ExactSizeIterator<Item = &Summary> {
        self.runs.iter()
    }

    /// The runs that match `filter`, newest first (as [`crate::Registry::list`]).
    #[must_use]
    pub fn list(&self, filter: &Filter) -> Vec<&Summary> {
        list_runs(self.runs.iter(), filter)
    }

    /// The runs not uploaded yet, newest first (as [`crate::Registry::pending`]).
    #[must_use]
    pub fn pending(&self) -> Vec<&Summary> {
        self.list(&Filter::status(Status::LocalOnly))
    }

    /// Counts per status and module (as [`crate::Registry::stats`]).
    #[must_use]
    pub fn stats(&self) -> Stats {
        stats_of(self.runs.iter())
    }

    /// Counts over the runs that match `filter` (a `--dataset` filter, say).
    #[must_use]
    pub fn stats_filtered(&self, filter: &Filter) -> Stats {
        stats_of(self.list(filter).into_iter())
    }

    /// A run by local id or unique prefix (as [`crate::Registry::find`]).
    ///
    /// # Errors
    /// [`Error::NotFound`] with the closest id.
    pub fn find(&self, id: &str) -> Result<&Summary> {
        find_in(self.runs.iter(), id)
    }

    /// The full entries of the runs named by `ids` (exact local ids), in that order.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an id that is not in the registry.
    pub fn entries(&self, ids: &[&str]) -> Result<Vec<Entry>> {
        let known: HashSet<&str> = self.runs.iter().map(|r| r.local_id.as_str()).collect();
        if let Some(missing) = ids.iter().find(|id| !known.contains(**id)) {
            return Err(self.find(missing).err().unwrap_or_else(|| Error::NotFound {
                id: (*missing).to_owned(),
                suggestion: None,
            }));
        }
        let wanted: HashSet<&str> = ids.iter().copied().collect();
        let found = format::parse_selected(self.bytes()?, &wanted)
            .map_err(|e| format::corrupt(&self.path, &e))?;
        Ok(ids
            .iter()
            .filter_map(|id| found.get(*id).cloned())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    const TEXT: &str = r#"{
  "experiments": {
    "exp_20260116_120000_m12": {"module_id": "m12", "created_at": "2026-01-16T12:00:00",
      "status": "uploaded", "accuracy": 0.9, "samples": 10, "metrics": {"f1": NaN}},
    "exp_20260116_120000_m12_2": {"module_id": "M12", "created_at": "2026-01-16T12:00:00",
      "status": "local_only", "accuracy": null, "notes": "re-run"},
    "exp_20260115_080000_m02": {"module_id": "Module_02", "created_at": "2026-01-15T08:00:00",
      "status": "synced", "accuracy": 0.7, "tags": ["a"]}
  },
  "metadata": {"owner": "team"}
}"#;

    #[test]
    fn agrees_with_the_full_registry() {
        let path = Path::new("r.json");
        let overview = Overview::parse(TEXT.as_bytes().to_vec(), path).unwrap();
        let registry = Registry::parse(TEXT.as_bytes(), path).unwrap();
        assert_eq!(overview.warnings(), registry.warnings());
        assert_eq!(overview.stats(), registry.stats());
        for filter in [
            Filter::default(),
            Filter::module(ModuleId::parse("12").unwrap()),
            Filter::status(Status::LocalOnly),
        ] {
            let a: Vec<&str> = overview
                .list(&filter)
                .iter()
                .map(|s| s.local_id.as_str())
                .collect();
            let b: Vec<&str> = registry
                .list(&filter)
                .iter()
                .map(|e| e.local_id.as_str())
                .collect();
            assert_eq!(a, b, "{filter:?}");
        }
        let ids: Vec<&str> = registry.entries().map(|e| e.local_id.as_str()).collect();
        let full = overview.entries(&ids).unwrap();
        let expected: Vec<Entry> = registry.entries().cloned().collect();
        assert_eq!(
            full, expected,
            "full entries, NaN read as null as in the full reader"
        );
    }

    #[test]
    fn entries_of_unknown_ids_are_refused() {
        let overview = Overview::parse(TEXT.as_bytes().to_vec(), Path::new("r.json")).unwrap();
        let err = overview.entries(&["exp_20260115_080000_m03"]).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(
            overview.find("exp_20260115").unwrap().local_id,
            "exp_20260115_080000_m02"
        );
    }
}
