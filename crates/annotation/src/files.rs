//! Where annotation files live and how they are named: timestamps in names, new files that never
//! replace an existing one, result CSVs found per module, and the provenance sidecars.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use core_config::{Catalog, ProjectPaths};

use crate::error::{Error, Result};

/// `YYYYmmdd_HHMMSS` in local time, the stamp every output name carries.
#[must_use]
pub fn timestamp_now() -> String {
    chrono::Local::now().format("%Y%m%d_%H%M%S").to_string()
}

/// A file being written that will get a new name: `{stem}.{ext}`, or `{stem}_2.{ext}`, `_3`, …
/// when that exists.
///
/// Like `core_config::AtomicFile` it is a temporary file until it is persisted, but the rename
/// refuses to replace anything and, when a concurrent writer took the name first, retries with
/// the next suffix (which `AtomicFile::commit_new` cannot, as it drops the temporary on failure).
pub struct NewFile {
    dir: PathBuf,
    stem: String,
    ext: String,
    temp: Option<tempfile::NamedTempFile>,
    /// The folder did not exist before: an abandoned file removes it again, so a failed
    /// command leaves no trace.
    created_dir: bool,
}

impl NewFile {
    /// Starts a new file in `dir` (created if missing).
    ///
    /// # Errors
    /// When the folder or the temporary file cannot be created.
    pub fn create(dir: &Path, stem: &str, ext: &str) -> Result<Self> {
        let created_dir = !dir.is_dir();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{stem}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            dir: dir.to_owned(),
            stem: stem.to_owned(),
            ext: ext.to_owned(),
            temp: Some(temp),
            created_dir,
        })
    }

    /// The name the file will get if nothing takes it first.
    #[must_use]
    pub fn intended_path(&self) -> PathBuf {
        self.dir.join(format!("{}.{}", self.stem, self.ext))
    }

    /// Flushes, syncs and moves the file to the first free name.
    ///
    /// # Errors
    /// When syncing or renaming fails; no existing file is touched.
    pub fn persist(mut self) -> Result<PathBuf> {
        let Some(mut temp) = self.temp.take() else {
            return Err(Error::Invalid("the file was already persisted".to_owned()));
        };
        self.created_dir = false;
        temp.flush()
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| Error::io(temp.path(), e))?;
        for n in 1..10_000u32 {
            let name = if n == 1 {
                format!("{}.{}", self.stem, self.ext)
            } else {
                format!("{}_{n}.{}", self.stem, self.ext)
            };
            let target = self.dir.join(name);
            if target.exists() {
                continue;
            }
            match temp.persist_noclobber(&target) {
                Ok(_) => {
                    if let Ok(dir) = std::fs::File::open(&self.dir) {
                        let _ = dir.sync_all();
                    }
                    return Ok(target);
                }
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
                Err(e) => return Err(Error::io(target, e.error)),
            }
        }
        Err(Error::Invalid(format!(
            "{}: no free name among {}_2 … {}_9999",
            self.dir.display(),
            self.stem,
            self.stem
        )))
    }
}

impl Write for NewFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.temp {
            Some(temp) => temp.write(buf),
            None => Err(std::io::Error::other("the file was already persisted")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        // The temporary file removes itself; then the folder goes too if this created it and
        // it is still empty (remove_dir refuses otherwise).
        drop(self.temp.take());
        if self.created_dir {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// The date and time in a file name: `YYYYmmdd_HHMMSS` (this toolkit), `YYYYmmdd_HHMM`, or the
/// earlier tool's `ddmmyy_N` (N = run number of the day, returned as the second value).
#[must_use]
pub fn name_timestamp(name: &str) -> Option<(NaiveDateTime, u32)> {
    let digits: Vec<(usize, &str)> = digit_runs(name);
    for pair in digits.windows(2) {
        let ((i, a), (j, b)) = (pair[0], pair[1]);
        // Only runs separated by exactly one `_` belong together.
        if j != i + a.len() + 1 || name.as_bytes()[i + a.len()] != b'_' {
            continue;
        }
        let parsed = match (a.len(), b.len()) {
            (8, 6) => NaiveDateTime::parse_from_str(&format!("{a}{b}"), "%Y%m%d%H%M%S")
                .ok()
                .map(|t| (t, 0)),
            (8, 4) => NaiveDateTime::parse_from_str(&format!("{a}{b}"), "%Y%m%d%H%M")
                .ok()
                .map(|t| (t, 0)),
            (6, 1..=3) => NaiveDate::parse_from_str(a, "%d%m%y")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .zip(b.parse().ok()),
            _ => None,
        };
        if parsed.is_some() {
            return parsed;
        }
    }
    None
}

fn digit_runs(name: &str) -> Vec<(usize, &str)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, c) in name.char_indices() {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, &name[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, &name[s..]));
    }
    runs
}

/// A result CSV of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Module id.
    pub module: String,
    /// The file.
    pub path: PathBuf,
    /// Date and run number from the file name, if it has them.
    pub stamp: Option<(NaiveDateTime, u32)>,
    /// Last modification time.
    pub modified: SystemTime,
}

impl SourceFile {
    fn sort_key(&self) -> (Option<(NaiveDateTime, u32)>, SystemTime) {
        (self.stamp, self.modified)
    }
}

/// Every result CSV under `experiment_results/`, per module id, newest first (by the stamp in the
/// name, then modification time). A folder belongs to a module by its `M12_…` prefix, so the
/// earlier tool's folder names are found too.
///
/// # Errors
/// When `experiment_results/` exists but cannot be listed.
pub fn result_csvs(
    catalog: &Catalog,
    paths: &ProjectPaths,
) -> Result<BTreeMap<String, Vec<SourceFile>>> {
    let root = paths.experiment_results();
    let mut found: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(found);
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&root, e))?;
        let dir = entry.path();
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        if !dir.is_dir() || dir_name.starts_with('.') {
            continue;
        }
        let Some(module) = catalog.module_for_file_name(&dir_name) else {
            continue;
        };
        let files = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for file in files {
            let file = file.map_err(|e| Error::io(&dir, e))?;
            let name = file.file_name().to_string_lossy().into_owned();
            let path = file.path();
            if name.starts_with('.')
                || !name.to_ascii_lowercase().ends_with(".csv")
                || !path.is_file()
            {
                continue;
            }
            let modified = file
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            found
                .entry(module.id.to_string())
                .or_default()
                .push(SourceFile {
                    module: module.id.to_string(),
                    stamp: name_timestamp(&name),
                    path,
                    modified,
                });
        }
    }
    for files in found.values_mut() {
        files.sort_by(|a, b| b.sort_key().cmp(&a.sort_key()).then(a.path.cmp(&b.path)));
    }
    Ok(found)
}

/// Files in a folder whose names end with `suffix`, sorted by name (which sorts by timestamp for
/// the toolkit's own names).
///
/// # Errors
/// When the folder exists but cannot be listed.
pub fn files_in(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // `~$name.xlsx` is the lock file a spreadsheet keeps beside an open workbook.
        if !name.starts_with('.')
            && !name.starts_with("~$")
            && name.to_ascii_lowercase().ends_with(suffix)
            && entry.path().is_file()
        {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The annotation files (CSVs and `.xlsx` workbooks) in a folder, sorted by name.
///
/// # Errors
/// When the folder exists but cannot be listed.
pub fn sheet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = files_in(dir, ".csv")?;
    files.extend(files_in(dir, ".xlsx")?);
    files.sort();
    Ok(files)
}

/// Provenance kept beside an annotation, validated or gold file as `{stem}.meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// What the file is: `annotation_task`, `validated` or `gold`.
    pub kind: String,
    /// Module id.
    pub module: String,
    /// When the file was written (local time, RFC 3339).
    pub created_at: String,
    /// The result CSV the rows came from (relative to the project root when under it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_file: Option<String>,
    /// The annotation CSV a validated or gold file came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_file: Option<String>,
    /// The validated CSV a gold file came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated_file: Option<String>,
    /// Free-form details (sample size, seed, strategy, …).
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Sidecar {
    /// A sidecar of `kind` for `module`, stamped now.
    #[must_use]
    pub fn new(kind: &str, module: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            module: module.to_owned(),
            created_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            results_file: None,
            annotation_file: None,
            validated_file: None,
            details: serde_json::Map::new(),
        }
    }

    /// The sidecar path of a data file: `x.csv` → `x.meta.json`.
    #[must_use]
    pub fn path_for(file: &Path) -> PathBuf {
        file.with_extension("meta.json")
    }

    /// Reads the sidecar of a data file, if there is one.
    ///
    /// # Errors
    /// When it exists but is not valid.
    pub fn read_for(file: &Path) -> Result<Option<Self>> {
        let path = Self::path_for(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Sidecar {
                path,
                message: format!("not a valid sidecar: {e}"),
            })
    }

    /// Writes the sidecar beside `file` atomically.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn write_for(&self, file: &Path) -> Result<PathBuf> {
        let path = Self::path_for(file);
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        core_config::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))
    }
}

/// A path as stored in a sidecar: relative to the root when it is under it.
#[must_use]
pub fn stored_path(paths: &ProjectPaths, path: &Path) -> String {
    paths.display(path).into_owned()
}

/// A path read from a sidecar, made absolute against the root.
#[must_use]
pub fn restored_path(paths: &ProjectPaths, stored: &str) -> PathBuf {
    let path = Path::new(stored);
    if path.is_absolute() {
        path.to_owned()
    } else {
        paths.root.join(path)
    }
}

/// A file as given, or (for a relative path that does not exist) the same name in `folder`.
///
/// # Errors
/// [`Error::NoSuchFile`] when neither exists.
pub fn find_file(paths: &ProjectPaths, file: &Path, folder: &Path) -> Result<PathBuf> {
    if file.is_file() {
        return Ok(file.to_owned());
    }
    let looked_in = if file.is_relative() {
        let inside = folder.join(file);
        if inside.is_file() {
            return Ok(inside);
        }
        Some(paths.display(folder).into_owned())
    } else {
        None
    };
    Err(Error::NoSuchFile {
        path: file.to_owned(),
        looked_in,
    })
}

/// An annotation file's module (told from its name) and how far it is annotated, or why that
/// cannot be told.
#[derive(Debug)]
pub struct TaskFileStatus {
    /// The module id, when the file name starts with one.
    pub module: Option<String>,
    /// The rows and how many each annotator filled, or the reason the file is unreadable.
    pub status: std::result::Result<crate::FileStatus, String>,
}

/// The [`TaskFileStatus`] of an annotation file in `annotation_tasks/`.
#[must_use]
pub fn task_file(catalog: &Catalog, path: &Path) -> TaskFileStatus {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let module = catalog.module_for_file_name(&name);
    let status = module.map(|m| crate::file_status(m, path));
    TaskFileStatus {
        module: module.map(|m| m.id.to_string()),
        status: match status {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("cannot tell the module from the file name".to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(name: &str) -> Option<String> {
        name_timestamp(name).map(|(t, n)| format!("{} #{n}", t.format("%Y-%m-%d %H:%M:%S")))
    }

    #[test]
    fn timestamps_are_read_from_names() {
        assert_eq!(
            stamp("M12_v1_20260116_123456.csv").as_deref(),
            Some("2026-01-16 12:34:56 #0")
        );
        assert_eq!(
            stamp("M12_HardConstraintViolationCheck_v1_160126_2.csv").as_deref(),
            Some("2026-01-16 00:00:00 #2")
        );
        assert_eq!(
            stamp("20260127_1200_batch.csv").as_deref(),
            Some("2026-01-27 12:00:00 #0")
        );
        assert_eq!(stamp("M12_results.csv"), None);
        assert_eq!(stamp("M12_99999999_999999.csv"), None);
    }

    #[test]
    fn new_files_never_replace_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for text in ["one", "two", "three"] {
            let mut file = NewFile::create(dir.path(), "M12_annotation_x", "csv").unwrap();
            file.write_all(text.as_bytes()).unwrap();
            paths.push(file.persist().unwrap());
        }
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "M12_annotation_x.csv",
                "M12_annotation_x_2.csv",
                "M12_annotation_x_3.csv"
            ]
        );
        assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), "one");
        // An abandoned file leaves nothing behind, not even the folder it created.
        drop(NewFile::create(dir.path(), "gone", "csv").unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        let fresh = dir.path().join("validated_data");
        let mut file = NewFile::create(&fresh, "x", "csv").unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        assert!(!fresh.exists());
    }

    #[test]
    fn sidecars_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("M12_annotation_1.csv");
        assert_eq!(Sidecar::read_for(&file).unwrap(), None);
        let mut sidecar = Sidecar::new("annotation_task", "m12");
        sidecar.results_file = Some("experiment_results/M12_X/a.csv".into());
        let written = sidecar.write_for(&file).unwrap();
        assert!(written.ends_with("M12_annotation_1.meta.json"));
        assert_eq!(Sidecar::read_for(&file).unwrap(), Some(sidecar));
        std::fs::write(&written, "{").unwrap();
        assert!(
            Sidecar::read_for(&file)
                .unwrap_err()
                .to_string()
                .contains("not a valid sidecar")
        );
    }
}
