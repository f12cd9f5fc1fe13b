//! The registry in memory: parsing and writing the file format, queries, id allocation and the
//! status changes a run goes through.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDateTime;
use core_config::ModuleId;
use indexmap::IndexMap;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::dataset::{DatasetRef, dataset_matches, group_key};
use crate::entry::{Entry, NewRun, Status, format_timestamp, parse_module_lenient};
use crate::error::{Error, Result};
use crate::format;
use crate::paths::{resolve_csv_path, stored_csv_path};

/// All registered runs, in the order they were added, plus the file's `metadata` object and any
/// top-level keys this version does not know (kept and written back).
///
/// ```
/// use core_config::ModuleId;
/// use registry::{Filter, NewRun, Registry};
///
/// let mut registry = Registry::new();
/// let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 16)
///     .unwrap()
///     .and_hms_opt(12, 34, 56)
///     .unwrap();
/// let m12 = ModuleId::parse("m12").unwrap();
/// let first = registry
///     .add_run(NewRun { created_at: Some(at), ..NewRun::new(m12.clone(), "a.csv") }, "/proj".as_ref())
///     .local_id
///     .clone();
/// let second = registry
///     .add_run(NewRun { created_at: Some(at), ..NewRun::new(m12.clone(), "b.csv") }, "/proj".as_ref())
///     .local_id
///     .clone();
/// assert_eq!(first, "exp_20260116_123456_m12");
/// assert_eq!(second, "exp_20260116_123456_m12_2");
/// assert_eq!(registry.list(&Filter::module(m12)).len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    experiments: IndexMap<String, Entry>,
    metadata: Value,
    extra: Map<String, Value>,
    warnings: Vec<String>,
    changed: bool,
}

/// Which entries [`Registry::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this module's runs.
    pub module: Option<ModuleId>,
    /// Only runs with this status.
    pub status: Option<Status>,
    /// Only runs on this dataset: a kind (`gold`), a path or file name, a SHA-256 prefix
    /// (8 hex digits or more), or `unrecorded` for entries without one.
    pub dataset: Option<String>,
}

impl Filter {
    /// Every run of one module.
    #[must_use]
    pub fn module(module: ModuleId) -> Self {
        Self {
            module: Some(module),
            ..Self::default()
        }
    }

    /// Every run with one status.
    #[must_use]
    pub fn status(status: Status) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    fn module_matches(&self, module_id: &str) -> bool {
        match &self.module {
            None => true,
            // Fast path first: canonical ids need no parsing.
            Some(module) => {
                module_id == module.as_str()
                    || parse_module_lenient(module_id).as_ref() == Some(module)
            }
        }
    }
}

/// Counts over the registry, overall and per module.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Number of runs.
    pub total: usize,
    /// Runs per status (`local_only`, `uploaded`, `failed`, and any other status found).
    pub by_status: BTreeMap<String, usize>,
    /// Runs per module id (`unknown` when an entry has none).
    pub by_module: BTreeMap<String, usize>,
    /// One row per module and dataset, in module id order (then dataset path).
    pub modules: Vec<ModuleStats>,
}

/// One line of [`Stats`]: the runs of one module on one dataset (accuracies on different
/// datasets are never compared, so the best run is the best on that dataset).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModuleStats {
    /// Module id.
    pub module: String,
    /// The dataset these runs used; `None` for entries that did not record it.
    pub dataset: Option<DatasetRef>,
    /// Number of runs.
    pub runs: usize,
    /// Runs not uploaded yet.
    pub local_only: usize,
    /// Runs uploaded.
    pub uploaded: usize,
    /// Runs whose upload failed.
    pub failed: usize,
    /// Runs with another status.
    pub other: usize,
    /// The newest run.
    pub latest_id: String,
    /// When the newest run was registered.
    pub latest_at: String,
    /// The newest run's accuracy.
    pub latest_accuracy: Option<f64>,
    /// The run with the highest accuracy.
    pub best_id: Option<String>,
    /// The highest accuracy.
    pub best_accuracy: Option<f64>,
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self {
            metadata: Value::Object(Map::new()),
            ..Self::default()
        }
    }

    /// Parses registry text; `path` is only used in error messages.
    ///
    /// Files the earlier tool wrote load as they are. Python's `NaN` / `Infinity`, which are not
    /// JSON, read as null (noted in [`Registry::warnings`]).
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the line and column when the text is not JSON, not an object,
    /// or an entry has a field of the wrong kind.
    pub fn parse(text: &[u8], path: &Path) -> Result<Self> {
        let read = format::parse_lenient(text, path, format::parse_full)?;
        Ok(Self {
            experiments: read.parsed.experiments,
            metadata: read.parsed.metadata,
            extra: read.parsed.extra,
            warnings: read.warning.into_iter().collect(),
            changed: false,
        })
    }

    /// The registry as the file holds it: pretty JSON with two-space indents and a final
    /// newline.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Things worth telling the user about the file that did not stop it from loading.
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Number of runs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.experiments.len()
    }

    /// Whether there are no runs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.experiments.is_empty()
    }

    /// Every run in file order (oldest additions first).
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &Entry> {
        self.experiments.values()
    }

    /// A run by exact local id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.experiments.get(id)
    }

    /// A run by exact local id, to change it.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Entry> {
        let entry = self.experiments.get_mut(id);
        self.changed |= entry.is_some();
        entry
    }

    /// A run by local id, or by a prefix only one id starts with.
    ///
    /// # Errors
    /// [`Error::NotFound`] with the closest id when there is no such run (or the prefix is
    /// shared by several).
    pub fn find(&self, id: &str) -> Result<&Entry> {
        match self.experiments.get(id.trim()) {
            Some(entry) => Ok(entry),
            None => find_in(self.experiments.values(), id),
        }
    }

    /// Adds a run, replacing any run with the same local id; returns the one replaced.
    pub fn insert(&mut self, entry: Entry) -> Option<Entry> {
        self.changed = true;
        self.experiments.insert(entry.local_id.clone(), entry)
    }

    /// Removes a run, keeping the order of the others.
    pub fn remove(&mut self, id: &str) -> Option<Entry> {
        let removed = self.experiments.shift_remove(id);
        self.changed |= removed.is_some();
        removed
    }

    /// The file's `metadata` value (an object in every file seen so far).
    #[must_use]
    pub fn metadata(&self) -> &Value {
        &self.metadata
    }

    /// The file's `metadata` value, to change it.
    pub fn metadata_mut(&mut self) -> &mut Value {
        self.changed = true;
        &mut self.metadata
    }

    /// A free local id for a run of `module` at `at`: `exp_{YYYYmmdd_HHMMSS}_{module}`, or with
    /// `_2`, `_3`, … appended when that one is taken.
    #[must_use]
    pub fn next_id(&self, module: &ModuleId, at: NaiveDateTime) -> String {
        let base = format!("exp_{}_{module}", at.format("%Y%m%d_%H%M%S"));
        if !self.experiments.contains_key(&base) {
            return base;
        }
        (2u32..)
            .map(|n| format!("{base}_{n}"))
            .find(|id| !self.experiments.contains_key(id))
            .unwrap_or(base)
    }

    /// Registers a finished run under a fresh local id (status `local_only`); `root` is the
    /// project root the CSV path is stored relative to.
    ///
    /// There is one entry per results CSV: registering a CSV that already has an entry (a run
    /// resumed after a crash, registered again) updates that entry's figures and keeps its
    /// local id, creation time and upload status.
    pub fn add_run(&mut self, run: NewRun, root: &Path) -> &Entry {
        let csv_path = stored_csv_path(root, &run.csv_path);
        if let Some(existing) = self
            .find_by_csv(root, &run.csv_path)
            .map(|e| e.local_id.clone())
        {
            let entry = self
                .experiments
                .get_mut(&existing)
                .expect("found just above");
            entry.module_id = run.module_id.to_string();
            entry.csv_path = csv_path;
            entry.prompt_version = run.prompt_version;
            entry.prompt_hash = run.prompt_hash;
            entry.dataset_version = run.dataset_version;
            entry.dataset = run.dataset;
            entry.samples = run.samples;
            entry.accuracy = run.accuracy;
            entry.metrics = run.metrics;
            entry.model = run.model;
            if !run.notes.is_empty() {
                entry.notes = run.notes;
            }
            entry.tier = run.tier;
            self.changed = true;
            return &self.experiments[&existing];
        }
        let at = run
            .created_at
            .unwrap_or_else(|| chrono::Local::now().naive_local());
        let id = self.next_id(&run.module_id, at);
        let entry = Entry {
            module_id: run.module_id.to_string(),
            csv_path,
            created_at: format_timestamp(at),
            prompt_version: run.prompt_version,
            prompt_hash: run.prompt_hash,
            dataset_version: run.dataset_version,
            dataset: run.dataset,
            samples: run.samples,
            accuracy: run.accuracy,
            metrics: run.metrics,
            model: run.model,
            notes: run.notes,
            tier: run.tier,
            ..Entry::new(id.clone())
        };
        self.insert(entry);
        &self.experiments[&id]
    }

    /// The run whose results are in `csv` (absolute, or relative to `root`), however its path
    /// was stored (relative, or absolute as the earlier tool wrote it).
    #[must_use]
    pub fn find_by_csv(&self, root: &Path, csv: &Path) -> Option<&Entry> {
        let stored = stored_csv_path(root, csv);
        if let Some(entry) = self.experiments.values().find(|e| e.csv_path == stored) {
            return Some(entry);
        }
        // Absolute paths the earlier tool wrote may name the same file from where the project
        // used to be; only those need resolving (relative ones matched above).
        let wanted = resolve_csv_path(root, &stored)?;
        self.experiments.values().find(|e| {
            Path::new(&e.csv_path).is_absolute()
                && resolve_csv_path(root, &e.csv_path).is_some_and(|p| p == wanted)
        })
    }

    /// The run uploaded as this Braintrust experiment.
    #[must_use]
    pub fn find_by_braintrust_id(&self, braintrust_id: &str) -> Option<&Entry> {
        self.experiments
            .values()
            .find(|e| e.braintrust_id.as_deref() == Some(braintrust_id))
    }

    /// Records a successful upload: Braintrust id and URL, `uploaded_at`, status `uploaded`.
    /// A failure reason left in `notes` by an earlier attempt is cleared.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no run has this id.
    pub fn mark_uploaded(
        &mut self,
        id: &str,
        braintrust_id: &str,
        braintrust_url: &str,
        at: NaiveDateTime,
    ) -> Result<&Entry> {
        let entry = self.entry_mut(id)?;
        if entry.status == Status::Failed {
            entry.notes.clear();
        }
        entry.braintrust_id = Some(braintrust_id.to_owned());
        entry.braintrust_url = Some(braintrust_url.to_owned());
        entry.uploaded_at = Some(format_timestamp(at));
        entry.status = Status::Uploaded;
        Ok(entry)
    }

    /// Records a failed upload: status `failed`, the reason in `notes`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no run has this id.
    pub fn mark_failed(&mut self, id: &str, reason: &str) -> Result<&Entry> {
        let entry = self.entry_mut(id)?;
        entry.status = Status::Failed;
        reason.clone_into(&mut entry.notes);
        Ok(entry)
    }

    fn entry_mut(&mut self, id: &str) -> Result<&mut Entry> {
        if !self.experiments.contains_key(id) {
            return Err(self.find(id).err().unwrap_or_else(|| Error::NotFound {
                id: id.to_owned(),
                suggestion: None,
            }));
        }
        self.changed = true;
        Ok(self
            .experiments
            .get_mut(id)
            .expect("presence checked just above"))
    }

    /// Drops the runs whose CSV no longer exists under `root` and returns them. Runs without a
    /// CSV path are kept.
    pub fn remove_missing_csvs(&mut self, root: &Path) -> Vec<Entry> {
        let missing: Vec<String> = self
            .experiments
            .values()
            .filter(|e| resolve_csv_path(root, &e.csv_path).is_some_and(|p| !p.exists()))
            .map(|e| e.local_id.clone())
            .collect();
        missing.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// The runs that match `filter`, newest first (by `created_at`, then local id).
    #[must_use]
    pub fn list(&self, filter: &Filter) -> Vec<&Entry> {
        list_runs(self.experiments.values(), filter)
    }

    /// The runs not uploaded yet (status `local_only`), newest first.
    #[must_use]
    pub fn pending(&self) -> Vec<&Entry> {
        self.list(&Filter::status(Status::LocalOnly))
    }

    /// What a sync should upload: runs `local_only` or `failed`, oldest first (optionally of
    /// one module only).
    #[must_use]
    pub fn awaiting_upload(&self, module: Option<&ModuleId>) -> Vec<&Entry> {
        let filter = Filter {
            module: module.cloned(),
            ..Filter::default()
        };
        let mut runs: Vec<&Entry> = self
            .list(&filter)
            .into_iter()
            .filter(|e| matches!(e.status, Status::LocalOnly | Status::Failed))
            .collect();
        runs.reverse();
        runs
    }

    /// Counts per status and module, and each module's newest and best run.
    #[must_use]
    pub fn stats(&self) -> Stats {
        stats_of(self.experiments.values())
    }

    pub(crate) fn is_changed(&self) -> bool {
        self.changed
    }
}

/// What listing, counting and finding need from a run; both full entries and the fast
/// summaries ([`crate::Summary`]) have it.
pub(crate) trait Run {
    fn local_id(&self) -> &str;
    fn module_id(&self) -> &str;
    fn created_at(&self) -> &str;
    fn status(&self) -> &Status;
    fn accuracy(&self) -> Option<f64>;
    fn dataset(&self) -> Option<&DatasetRef>;
}

impl Run for Entry {
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

/// Newest first: by `created_at` (ISO 8601 text sorts in time order), then by local id.
fn newest_first<R: Run>(a: &R, b: &R) -> std::cmp::Ordering {
    b.created_at()
        .cmp(a.created_at())
        .then_with(|| natural_id_order(b.local_id(), a.local_id()))
}

pub(crate) fn list_runs<'a, R: Run + 'a>(
    runs: impl Iterator<Item = &'a R>,
    filter: &Filter,
) -> Vec<&'a R> {
    // Module ids repeat: decide once per spelling instead of parsing each run's.
    let mut module_matches: HashMap<&'a str, bool> = HashMap::new();
    let mut out: Vec<&R> = runs
        .filter(|r| {
            if let Some(status) = &filter.status
                && r.status() != status
            {
                return false;
            }
            if let Some(wanted) = &filter.dataset
                && !dataset_matches(r.dataset(), wanted)
            {
                return false;
            }
            filter.module.is_none()
                || *module_matches
                    .entry(r.module_id())
                    .or_insert_with(|| filter.module_matches(r.module_id()))
        })
        .collect();
    out.sort_unstable_by(|a, b| newest_first(*a, *b));
    out
}

/// A run by exact id, else by a prefix only one id has.
pub(crate) fn find_in<'a, R: Run + 'a, I>(runs: I, id: &str) -> Result<&'a R>
where
    I: Iterator<Item = &'a R> + Clone,
{
    let id = id.trim();
    if let Some(run) = runs.clone().find(|r| r.local_id() == id) {
        return Ok(run);
    }
    let mut prefixed = runs.clone().filter(|r| r.local_id().starts_with(id));
    if !id.is_empty()
        && let Some(first) = prefixed.next()
    {
        if prefixed.next().is_none() {
            return Ok(first);
        }
        return Err(Error::NotFound {
            id: id.to_owned(),
            suggestion: Some(format!("{}…, several ids start with it", first.local_id())),
        });
    }
    Err(Error::NotFound {
        id: id.to_owned(),
        suggestion: core_config::closest(id, runs.map(Run::local_id)).map(str::to_owned),
    })
}

/// A stats row: module id, then the dataset's (path, SHA-256).
type RowKey = (String, (String, String));

pub(crate) fn stats_of<'a, R: Run + 'a>(runs: impl ExactSizeIterator<Item = &'a R>) -> Stats {
    let mut stats = Stats {
        total: runs.len(),
        ..Stats::default()
    };
    // One row per (module, dataset): a best accuracy never mixes datasets.
    let mut modules: BTreeMap<RowKey, (ModuleStats, Option<&'a R>)> = BTreeMap::new();
    // Module ids repeat: read each spelling once.
    let mut keys: HashMap<&'a str, String> = HashMap::new();
    for run in runs {
        *stats
            .by_status
            .entry(run.status().as_str().to_owned())
            .or_default() += 1;
        let module = keys
            .entry(run.module_id())
            .or_insert_with(|| module_key(run.module_id()))
            .clone();
        *stats.by_module.entry(module.clone()).or_default() += 1;
        let key = (module, group_key(run.dataset()));
        let (row, latest) = modules.entry(key).or_insert_with_key(|(m, _)| {
            (
                ModuleStats {
                    module: m.clone(),
                    dataset: run.dataset().cloned(),
                    ..ModuleStats::default()
                },
                None,
            )
        });
        row.runs += 1;
        match run.status() {
            Status::LocalOnly => row.local_only += 1,
            Status::Uploaded => row.uploaded += 1,
            Status::Failed => row.failed += 1,
            Status::Other(_) => row.other += 1,
        }
        if latest.is_none_or(|l| newest_first(run, l).is_lt()) {
            *latest = Some(run);
        }
        if let Some(accuracy) = run.accuracy().filter(|a| a.is_finite())
            && row.best_accuracy.is_none_or(|best| accuracy > best)
        {
            row.best_accuracy = Some(accuracy);
            row.best_id = Some(run.local_id().to_owned());
        }
    }
    stats.modules = modules
        .into_values()
        .map(|(mut row, latest)| {
            if let Some(latest) = latest {
                latest.local_id().clone_into(&mut row.latest_id);
                latest.created_at().clone_into(&mut row.latest_at);
                row.latest_accuracy = latest.accuracy();
            }
            row
        })
        .collect();
    stats
}

/// Ids of runs in the same second end in `_2`, `_3`, … `_10`: compare the suffix as a number so
/// `_10` sorts after `_9`.
fn natural_id_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(id: &str) -> (&str, u32) {
        match id.rsplit_once('_') {
            Some((head, n))
                if !n.is_empty() && n.len() < 6 && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (head, n.parse().unwrap_or(0))
            }
            _ => (id, 1),
        }
    }
    let (ha, na) = split(a);
    let (hb, nb) = split(b);
    ha.cmp(hb).then(na.cmp(&nb))
}

fn module_key(module_id: &str) -> String {
    match parse_module_lenient(module_id) {
        Some(id) => id.to_string(),
        None if module_id.trim().is_empty() => "unknown".to_owned(),
        None => module_id.to_owned(),
    }
}

// ------------------------------------------------------------------------------------------
// File format

impl Serialize for Registry {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        struct Experiments<'a>(&'a IndexMap<String, Entry>);
        impl Serialize for Experiments<'_> {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (id, entry) in self.0 {
                    map.serialize_entry(id, entry)?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(2 + self.extra.len()))?;
        map.serialize_entry("experiments", &Experiments(&self.experiments))?;
        map.serialize_entry("metadata", &self.metadata)?;
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, 16)
            .unwrap()
            .and_hms_opt(h, m, s)
            .unwrap()
    }

    fn m(id: &str) -> ModuleId {
        ModuleId::parse(id).unwrap()
    }

    const OLD: &str = r#"{
  "experiments": {
    "exp_20260116_123456_m12": {
      "local_id": "exp_20260116_123456_m12",
      "module_id": "m12",
      "csv_path": "/home/kd/kw-classification-v1.1/experiment_results/M12_HardConstraintViolationCheck/M12_HardConstraintViolationCheck_v1_160126_1.csv",
      "created_at": "2026-01-16T12:34:56.123456",
      "braintrust_id": null,
      "braintrust_url": null,
      "uploaded_at": null,
      "prompt_version": "v1",
      "prompt_hash": "a1b2c3d4",
      "dataset_version": "v1.1",
      "samples": 100,
      "accuracy": 0.85,
      "metrics": {"total": 100, "correct": 85, "errors": 0, "accuracy": 0.85, "error_rate": 0.0},
      "status": "local_only",
      "model": "gpt-4o-mini",
      "notes": ""
    },
    "exp_20260115_090000_m02": {
      "local_id": "exp_20260115_090000_m02",
      "module_id": "m02",
      "csv_path": "",
      "created_at": "2026-01-15T09:00:00",
      "status": "synced",
      "reviewer": "kd",
      "tags": ["baseline"]
    }
  },
  "metadata": {"owner": "team"},
  "schema_hint": 1
}"#;

    #[test]
    fn loads_the_earlier_tools_file_and_keeps_what_it_does_not_know() {
        let registry = Registry::parse(OLD.as_bytes(), Path::new("r.json")).unwrap();
        assert_eq!(registry.len(), 2);
        let old = registry.get("exp_20260115_090000_m02").unwrap();
        assert_eq!(old.status, Status::Other("synced".into()));
        assert_eq!(old.extra["reviewer"], "kd");
        assert_eq!(old.prompt_version, "v1", "defaults fill missing fields");
        let written: Value = serde_json::from_slice(&registry.to_json()).unwrap();
        assert_eq!(
            written["experiments"]["exp_20260115_090000_m02"]["tags"],
            json!(["baseline"])
        );
        assert_eq!(written["metadata"], json!({"owner": "team"}));
        assert_eq!(written["schema_hint"], 1);
        let original: Value = serde_json::from_str(OLD).unwrap();
        assert_eq!(
            written["experiments"]["exp_20260116_123456_m12"],
            original["experiments"]["exp_20260116_123456_m12"],
            "a complete entry round-trips exactly"
        );
        // Writing, reading and writing again changes nothing.
        let again = Registry::parse(&registry.to_json(), Path::new("r.json")).unwrap();
        assert_eq!(again.to_json(), registry.to_json());
    }

    #[test]
    fn field_order_follows_the_earlier_tool() {
        let mut registry = Registry::new();
        registry.add_run(NewRun::new(m("m12"), "a.csv"), Path::new("/p"));
        let text = String::from_utf8(registry.to_json()).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("      \""))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "local_id",
                "module_id",
                "csv_path",
                "created_at",
                "braintrust_id",
                "braintrust_url",
                "uploaded_at",
                "prompt_version",
                "prompt_hash",
                "dataset_version",
                "samples",
                "accuracy",
                "metrics",
                "status",
                "model",
                "notes"
            ]
        );
        assert!(text.starts_with("{\n  \"experiments\": {\n    \"exp_"));
    }

    #[test]
    fn broken_files_name_line_and_column() {
        let truncated = &OLD.as_bytes()[..OLD.len() / 2];
        let err = Registry::parse(truncated, Path::new("x/.registry.json")).unwrap_err();
        let Error::Corrupt { line, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(*line > 1);
        let text = err.to_string();
        assert!(text.starts_with("x/.registry.json:"), "{text}");
        assert!(text.contains("the file ends early (truncated?)"), "{text}");

        let err = Registry::parse(
            br#"{"experiments": {"exp_1": {"samples": "lots"}}}"#,
            Path::new("r.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("r.json:1:"), "{err}");
        assert!(
            err.contains("experiment `exp_1`, field `samples`: expected a whole number of rows, found \"lots\""),
            "{err}"
        );

        let err = Registry::parse(b"[]", Path::new("r.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a registry object"), "{err}");
        let err = Registry::parse(b"", Path::new("r.json"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.json: empty file"), "{err}");
    }

    #[test]
    fn python_nan_reads_as_null_with_a_warning() {
        let text = br#"{"experiments": {"e": {"accuracy": NaN, "notes": "NaN stays", "metrics": {"f1": -Infinity}}}, "metadata": {}}"#;
        let registry = Registry::parse(text, Path::new("r.json")).unwrap();
        let entry = registry.get("e").unwrap();
        assert_eq!(entry.accuracy, None);
        assert_eq!(entry.notes, "NaN stays");
        assert_eq!(entry.metrics, json!({"f1": null}));
        assert_eq!(registry.warnings().len(), 1);
        assert!(registry.warnings()[0].contains("2 non-finite numbers"));
    }

    #[test]
    fn ids_get_suffixes_within_one_second() {
        let mut registry = Registry::new();
        let ids: Vec<String> = (0..11)
            .map(|i| {
                registry
                    .add_run(
                        NewRun {
                            created_at: Some(at(12, 0, 0)),
                            ..NewRun::new(m("m12"), format!("{i}.csv"))
                        },
                        Path::new("/p"),
                    )
                    .local_id
                    .clone()
            })
            .collect();
        assert_eq!(ids[0], "exp_20260116_120000_m12");
        assert_eq!(ids[1], "exp_20260116_120000_m12_2");
        assert_eq!(ids[10], "exp_20260116_120000_m12_11");
        let listed: Vec<&str> = registry
            .list(&Filter::default())
            .iter()
            .map(|e| e.local_id.as_str())
            .collect();
        assert_eq!(listed[0], "exp_20260116_120000_m12_11", "newest first");
        assert_eq!(listed[10], "exp_20260116_120000_m12");
        // Another module in the same second gets its own base id.
        assert_eq!(
            registry.next_id(&m("m13"), at(12, 0, 0)),
            "exp_20260116_120000_m13"
        );
    }

    #[test]
    fn registering_a_csv_again_updates_its_entry() {
        let mut registry = Registry::new();
        let first = NewRun {
            created_at: Some(at(9, 0, 0)),
            samples: 10,
            ..NewRun::new(m("m12"), "/p/experiment_results/M12_X/a.csv")
        };
        let id = registry.add_run(first, Path::new("/p")).local_id.clone();
        registry
            .mark_uploaded(&id, "bt", "https://bt/x", at(9, 5, 0))
            .unwrap();
        let again = NewRun {
            created_at: Some(at(10, 0, 0)),
            samples: 20,
            ..NewRun::new(m("m12"), "experiment_results/M12_X/a.csv")
        };
        let entry = registry.add_run(again, Path::new("/p"));
        assert_eq!(entry.local_id, id);
        assert_eq!(entry.samples, 20);
        assert_eq!(entry.created_at, "2026-01-16T09:00:00");
        assert_eq!(entry.status, Status::Uploaded);
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn csvs_are_found_by_any_spelling_of_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("experiment_results/M12_X/a.csv");
        std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
        std::fs::write(&csv, "x").unwrap();
        let mut registry = Registry::new();
        let mut old = Entry::new("exp_old");
        old.csv_path = "/home/kd/kw/experiment_results/M12_X/a.csv".into();
        old.braintrust_id = Some("bt-7".into());
        registry.insert(old);
        assert_eq!(
            registry
                .find_by_csv(dir.path(), &csv)
                .map(|e| e.local_id.as_str()),
            Some("exp_old")
        );
        assert_eq!(
            registry
                .find_by_csv(dir.path(), Path::new("experiment_results/M12_X/a.csv"))
                .map(|e| e.local_id.as_str()),
            Some("exp_old")
        );
        assert!(
            registry
                .find_by_csv(dir.path(), Path::new("other.csv"))
                .is_none()
        );
        assert_eq!(
            registry
                .find_by_braintrust_id("bt-7")
                .map(|e| e.local_id.as_str()),
            Some("exp_old")
        );
    }

    #[test]
    fn awaiting_upload_is_local_and_failed_runs_oldest_first() {
        let mut registry = Registry::new();
        for (h, module) in [(1, "m12"), (2, "m13"), (3, "m12"), (4, "m12")] {
            registry.add_run(
                NewRun {
                    created_at: Some(at(h, 0, 0)),
                    ..NewRun::new(m(module), format!("{h}.csv"))
                },
                Path::new("/p"),
            );
        }
        registry
            .mark_failed("exp_20260116_030000_m12", "503")
            .unwrap();
        registry
            .mark_uploaded("exp_20260116_040000_m12", "bt", "u", at(5, 0, 0))
            .unwrap();
        let ids = |runs: Vec<&Entry>| runs.iter().map(|e| e.local_id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(registry.awaiting_upload(None)),
            [
                "exp_20260116_010000_m12",
                "exp_20260116_020000_m13",
                "exp_20260116_030000_m12"
            ]
        );
        assert_eq!(
            ids(registry.awaiting_upload(Some(&m("m13")))),
            ["exp_20260116_020000_m13"]
        );
    }

    #[test]
    fn csv_paths_are_stored_relative_to_the_root() {
        let mut registry = Registry::new();
        let entry = registry.add_run(
            NewRun::new(m("m12"), "/p/experiment_results/M12_X/a.csv"),
            Path::new("/p"),
        );
        assert_eq!(entry.csv_path, "experiment_results/M12_X/a.csv");
        let entry = registry.add_run(NewRun::new(m("m12"), "/q/a.csv"), Path::new("/p"));
        assert_eq!(entry.csv_path, "/q/a.csv");
    }

    #[test]
    fn filters_by_module_in_any_spelling_and_status() {
        let mut registry = Registry::parse(OLD.as_bytes(), Path::new("r")).unwrap();
        let mut odd = Entry::new("exp_x");
        odd.module_id = "Module_12".into();
        registry.insert(odd);
        assert_eq!(registry.list(&Filter::module(m("12"))).len(), 2);
        assert_eq!(
            registry
                .list(&Filter::status(Status::Other("synced".into())))
                .len(),
            1
        );
        assert_eq!(registry.pending().len(), 2);
    }

    #[test]
    fn upload_status_changes() {
        let mut registry = Registry::new();
        let id = registry
            .add_run(NewRun::new(m("m12"), "a.csv"), Path::new("/p"))
            .local_id
            .clone();
        let entry = registry
            .mark_failed(&id, "HTTP 503 from Braintrust")
            .unwrap();
        assert_eq!(entry.status, Status::Failed);
        assert_eq!(entry.notes, "HTTP 503 from Braintrust");
        let entry = registry
            .mark_uploaded(&id, "bt-1", "https://bt/app/x", at(13, 0, 0))
            .unwrap();
        assert_eq!(entry.status, Status::Uploaded);
        assert_eq!(entry.notes, "", "the failure reason no longer applies");
        assert_eq!(entry.uploaded_at.as_deref(), Some("2026-01-16T13:00:00"));
        let err = registry.mark_failed("exp_nope", "x").unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
    }

    #[test]
    fn find_accepts_unique_prefixes_and_suggests() {
        let registry = Registry::parse(OLD.as_bytes(), Path::new("r")).unwrap();
        assert_eq!(
            registry.find("exp_20260115").unwrap().local_id,
            "exp_20260115_090000_m02"
        );
        let err = registry.find("exp_20260116_123456_m13").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no experiment `exp_20260116_123456_m13` in the registry (did you mean `exp_20260116_123456_m12`?)"
        );
        assert!(registry.find("exp_2026").is_err(), "ambiguous prefix");
    }

    #[test]
    fn stats_count_statuses_and_find_latest_and_best() {
        let mut registry = Registry::new();
        for (t, acc) in [(1, 0.5), (2, 0.9), (3, 0.7)] {
            registry.add_run(
                NewRun {
                    created_at: Some(at(t, 0, 0)),
                    accuracy: Some(acc),
                    ..NewRun::new(m("m12"), format!("{t}.csv"))
                },
                Path::new("/p"),
            );
        }
        registry.add_run(NewRun::new(m("m13"), "b.csv"), Path::new("/p"));
        registry
            .mark_failed("exp_20260116_010000_m12", "boom")
            .unwrap();
        let stats = registry.stats();
        assert_eq!(stats.total, 4);
        assert_eq!(stats.by_status["local_only"], 3);
        assert_eq!(stats.by_status["failed"], 1);
        assert_eq!(stats.by_module["m12"], 3);
        let m12 = &stats.modules[0];
        assert_eq!(m12.latest_id, "exp_20260116_030000_m12");
        assert_eq!(m12.latest_accuracy, Some(0.7));
        assert_eq!(m12.best_id.as_deref(), Some("exp_20260116_020000_m12"));
        assert_eq!(m12.failed, 1);
        assert_eq!(stats.modules[1].best_accuracy, None);
    }

    fn on(kind: crate::DatasetKind, path: &str, sha: &str) -> Option<crate::DatasetRef> {
        Some(crate::DatasetRef {
            path: path.into(),
            sha256: sha.into(),
            records: 10,
            kind,
        })
    }

    #[test]
    fn the_best_accuracy_is_per_dataset_and_never_mixes_datasets() {
        use crate::DatasetKind::{Gold, Golden};
        let mut registry = Registry::new();
        // The gold run scores highest, but on a different dataset than the golden runs; the
        // old entry (no dataset recorded) is a group of its own.
        for (t, acc, dataset) in [
            (1, 0.60, on(Golden, "datasets/single/m12.jsonl", "aa")),
            (2, 0.95, on(Gold, "validated_data/M12_gold_1.jsonl", "bb")),
            (3, 0.70, on(Golden, "datasets/single/m12.jsonl", "aa")),
            (4, 0.99, None),
        ] {
            registry.add_run(
                NewRun {
                    created_at: Some(at(t, 0, 0)),
                    accuracy: Some(acc),
                    dataset,
                    ..NewRun::new(m("m12"), format!("{t}.csv"))
                },
                Path::new("/p"),
            );
        }
        let stats = registry.stats();
        assert_eq!(stats.by_module["m12"], 4);
        let rows: Vec<(String, Option<f64>, usize)> = stats
            .modules
            .iter()
            .map(|r| {
                (
                    crate::text::dataset_name(r.dataset.as_ref()),
                    r.best_accuracy,
                    r.runs,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("unrecorded".to_owned(), Some(0.99), 1),
                ("golden datasets/single/m12.jsonl".to_owned(), Some(0.70), 2),
                (
                    "gold validated_data/M12_gold_1.jsonl".to_owned(),
                    Some(0.95),
                    1
                ),
            ]
        );
        let gold = Filter {
            dataset: Some("gold".into()),
            ..Filter::default()
        };
        let listed: Vec<&str> = registry
            .list(&gold)
            .iter()
            .map(|e| e.local_id.as_str())
            .collect();
        assert_eq!(listed, ["exp_20260116_020000_m12"]);
        let by_path = Filter {
            dataset: Some("datasets/single/m12.jsonl".into()),
            module: Some(m("m12")),
            ..Filter::default()
        };
        assert_eq!(registry.list(&by_path).len(), 2);
        let unrecorded = Filter {
            dataset: Some("unrecorded".into()),
            ..Filter::default()
        };
        assert_eq!(registry.list(&unrecorded).len(), 1);
    }

    #[test]
    fn an_entry_without_a_dataset_round_trips_unchanged() {
        let text =
            br#"{"experiments": {"exp_1": {"module_id": "m12", "accuracy": 0.5}}, "metadata": {}}"#;
        let registry = Registry::parse(text, Path::new("r.json")).unwrap();
        let written = String::from_utf8(registry.to_json()).unwrap();
        assert!(!written.contains("\"dataset\""), "{written}");
        let again = Registry::parse(written.as_bytes(), Path::new("r.json")).unwrap();
        assert_eq!(again, registry);
    }

    #[test]
    fn removing_missing_csvs_keeps_the_rest_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kept.csv"), "x").unwrap();
        let mut registry = Registry::new();
        for (t, csv) in [(1, "kept.csv"), (2, "gone.csv"), (3, "")] {
            registry.add_run(
                NewRun {
                    created_at: Some(at(t, 0, 0)),
                    ..NewRun::new(m("m12"), csv)
                },
                dir.path(),
            );
        }
        let removed = registry.remove_missing_csvs(dir.path());
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].csv_path, "gone.csv");
        let left: Vec<&str> = registry.entries().map(|e| e.csv_path.as_str()).collect();
        assert_eq!(left, ["kept.csv", ""]);
    }
}
