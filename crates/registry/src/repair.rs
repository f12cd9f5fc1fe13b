//! Rebuilding the registry: keep a backup of the current file, salvage every entry that can
//! still be read (a truncated file usually holds all but the last), and register the result
//! CSVs under `experiment_results/*/` that no entry points to.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, NaiveDateTime};
use core_config::{AtomicFile, ModuleId, ResultRow};
use serde::Serialize;
use serde_json::{Value, json};

use crate::entry::{Entry, NewRun, parse_module_lenient};
use crate::error::{Error, Result};
use crate::file::RegistryFile;
use crate::format::entry_from_value;
use crate::registry::Registry;

/// What [`repair`] may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairOptions {
    /// Work everything out but write nothing (no backup, no new registry).
    pub dry_run: bool,
}

/// Told about each CSV as [`repair`] reads it.
pub trait Progress {
    /// `done` of `total` CSVs read; `path` is the one just read.
    fn csv_read(&mut self, done: usize, total: usize, path: &Path);
}

/// Progress that goes nowhere.
impl Progress for () {
    fn csv_read(&mut self, _done: usize, _total: usize, _path: &Path) {}
}

/// A CSV that could not be registered, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The CSV (relative to the project root when under it).
    pub csv_path: String,
    /// Why.
    pub reason: String,
}

/// An entry of a damaged file that shared its local id with an earlier one, kept under a new
/// id (`{id}_dup2`, `_dup3`, …: the first free one) so neither copy is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    /// The id both entries had.
    pub from: String,
    /// The id the later entry has now.
    pub to: String,
}

/// What [`repair`] did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepairReport {
    /// Whether anything was written.
    pub dry_run: bool,
    /// Where the previous file was copied (none when there was no file, or on a dry run).
    pub backup: Option<PathBuf>,
    /// Why the previous file did not load, when it did not.
    pub damage: Option<String>,
    /// Entries carried over: all of them from a sound file, the readable ones from a damaged
    /// one.
    pub kept: usize,
    /// Entries found in a damaged file but unreadable, with the reason.
    pub lost: Vec<String>,
    /// Entries of a damaged file whose local id was already taken by an earlier entry, and
    /// the id each now has (the earlier one keeps the id; the later one also says so in its
    /// `notes`).
    pub renamed: Vec<Renamed>,
    /// Entries created for CSVs no entry pointed to.
    pub rebuilt: Vec<Entry>,
    /// CSVs that could not be registered.
    pub skipped: Vec<Skipped>,
    /// Entries in the registry afterwards.
    pub total: usize,
}

/// Repairs the registry of `file` under its lock: a backup of the current file (when there is
/// one) is written first as `.registry.json.bak-YYYYmmdd_HHMMSS`, then the registry is
/// rebuilt from the entries still readable plus one `local_only` entry per unregistered
/// results CSV, and written atomically.
///
/// # Errors
/// When the lock cannot be taken, the file cannot be read, or the backup or the new registry
/// cannot be written (the old file is then untouched). CSVs that cannot be read are reported in
/// [`RepairReport::skipped`], not as errors.
pub fn repair(
    file: &RegistryFile,
    options: RepairOptions,
    progress: &mut dyn Progress,
) -> Result<RepairReport> {
    let _lock = file.lock()?;
    let original = match std::fs::read(file.path()) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(file.path(), e)),
    };
    let mut report = RepairReport {
        dry_run: options.dry_run,
        backup: None,
        damage: None,
        kept: 0,
        lost: Vec::new(),
        renamed: Vec::new(),
        rebuilt: Vec::new(),
        skipped: Vec::new(),
        total: 0,
    };
    let mut registry = match &original {
        None => Registry::new(),
        Some(bytes) => match Registry::parse(bytes, file.path()) {
            Ok(registry) => registry,
            Err(error) => {
                report.damage = Some(error.short());
                let salvaged = salvage(bytes);
                report.lost = salvaged.lost;
                report.renamed = salvaged.renamed;
                salvaged.registry
            }
        },
    };
    report.kept = registry.len();

    let registered: HashSet<PathBuf> = registry
        .entries()
        .filter_map(|e| file.resolve_csv(e))
        .map(|p| p.canonicalize().unwrap_or(p))
        .collect();
    let csvs = result_csvs(&file.root().join("experiment_results"));
    let total = csvs.len();
    for (done, csv) in csvs.iter().enumerate() {
        let known = registered.contains(&csv.canonicalize().unwrap_or_else(|_| csv.clone()));
        if !known {
            match run_from_csv(csv) {
                Ok(run) => {
                    report
                        .rebuilt
                        .push(registry.add_run(run, file.root()).clone());
                }
                Err(reason) => report.skipped.push(Skipped {
                    csv_path: crate::paths::stored_csv_path(file.root(), csv),
                    reason,
                }),
            }
        }
        progress.csv_read(done + 1, total, csv);
    }
    report.total = registry.len();
    // A sound file with nothing to add stays as it is (and gains no backup).
    if options.dry_run || (report.damage.is_none() && report.rebuilt.is_empty()) {
        return Ok(report);
    }
    if let Some(bytes) = &original {
        report.backup = Some(backup(file.path(), bytes)?);
    }
    file.write(&registry)?;
    Ok(report)
}

/// `experiment_results/*/*.csv`, sorted.
fn result_csvs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(folders) = std::fs::read_dir(dir) else {
        return out;
    };
    for folder in folders.flatten() {
        if !folder.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        out.extend(
            files
                .flatten()
                .map(|f| f.path())
                .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))),
        );
    }
    out.sort();
    out
}

fn module_of(csv: &Path) -> Option<ModuleId> {
    let prefix = |name: &str| {
        let head = name.split(['_', '-', '.']).next().unwrap_or_default();
        parse_module_lenient(head)
    };
    csv.parent()
        .and_then(Path::file_name)
        .and_then(|n| prefix(&n.to_string_lossy()))
        .or_else(|| csv.file_name().and_then(|n| prefix(&n.to_string_lossy())))
}

fn text_in(value: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| value.get(k).and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// The prompt version in a file name such as `M12_Name_v2_160126_1.csv`.
fn version_in_name(csv: &Path) -> Option<String> {
    let stem = csv.file_stem()?.to_string_lossy().to_ascii_lowercase();
    stem.split(['_', '-'])
        .find(|part| {
            part.len() > 1 && part.starts_with('v') && part[1..].bytes().all(|b| b.is_ascii_digit())
        })
        .map(str::to_owned)
}

#[allow(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
fn run_from_csv(csv: &Path) -> std::result::Result<NewRun, String> {
    let module = module_of(csv)
        .ok_or_else(|| "cannot tell the module from the folder or file name".to_owned())?;
    let rows: Vec<ResultRow> = core_config::read_results(csv).map_err(|e| e.to_string())?;
    let first = rows.first();
    let samples = rows.len();
    let correct = rows.iter().filter(|r| r.correct == Some(true)).count();
    let scored = rows.iter().filter(|r| r.correct.is_some()).count();
    let errors = rows.iter().filter(|r| !r.error.trim().is_empty()).count();
    let accuracy = (scored > 0).then(|| correct as f64 / samples as f64);
    let metadata = first.map_or(Value::Null, |r| r.metadata.clone());
    let modified: Option<NaiveDateTime> = std::fs::metadata(csv)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| DateTime::<Local>::from(t).naive_local());
    let mut metrics = json!({ "total": samples, "errors": errors });
    if scored > 0 {
        metrics["correct"] = json!(correct);
        metrics["accuracy"] = json!(accuracy);
    }
    let defaults = NewRun::new(module, csv);
    Ok(NewRun {
        created_at: modified,
        model: text_in(&metadata, &["model"]).unwrap_or_default(),
        prompt_version: text_in(&metadata, &["prompt_version", "version"])
            .or_else(|| version_in_name(csv))
            .unwrap_or(defaults.prompt_version.clone()),
        prompt_hash: text_in(&metadata, &["prompt_hash"]),
        dataset_version: text_in(&metadata, &["dataset_version"])
            .unwrap_or(defaults.dataset_version.clone()),
        samples: samples as u64,
        accuracy,
        metrics,
        notes: if scored > 0 {
            "rebuilt from the results CSV by `experiment-registry repair`".to_owned()
        } else {
            "rebuilt from the results CSV by `experiment-registry repair`; \
             the CSV has no `correct` column, so accuracy is unknown"
                .to_owned()
        },
        ..defaults
    })
}

fn backup(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let stamp = Local::now().format("%Y%m%d_%H%M%S");
    let name = path.file_name().map_or_else(
        || ".registry.json".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    for n in 1u32.. {
        let candidate = if n == 1 {
            path.with_file_name(format!("{name}.bak-{stamp}"))
        } else {
            path.with_file_name(format!("{name}.bak-{stamp}-{n}"))
        };
        let mut file = AtomicFile::create(&candidate).map_err(|e| Error::io(&candidate, e))?;
        file.write_all(bytes)
            .map_err(|e| Error::io(&candidate, e))?;
        match file.commit_new() {
            Ok(done) => return Ok(done),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&candidate, e)),
        }
    }
    unreachable!("some backup name is free")
}

/// What [`salvage`] read.
struct Salvaged {
    registry: Registry,
    lost: Vec<String>,
    renamed: Vec<Renamed>,
}

/// Reads the `experiments` object of a damaged file entry by entry, keeping every entry that
/// parses completely and stopping at the first that does not. An entry whose id was already
/// read is kept under a fresh id.
fn salvage(bytes: &[u8]) -> Salvaged {
    let mut registry = Registry::new();
    let mut lost = Vec::new();
    let mut renamed = Vec::new();
    let Some(start) = find(bytes, b"\"experiments\"") else {
        return Salvaged {
            registry,
            lost,
            renamed,
        };
    };
    let mut pos = start + b"\"experiments\"".len();
    let skip_ws = |pos: &mut usize| {
        while *pos < bytes.len() && bytes[*pos].is_ascii_whitespace() {
            *pos += 1;
        }
    };
    let expect = |pos: &mut usize, byte: u8| {
        skip_ws(pos);
        if bytes.get(*pos) == Some(&byte) {
            *pos += 1;
            true
        } else {
            false
        }
    };
    if !expect(&mut pos, b':') || !expect(&mut pos, b'{') {
        return Salvaged {
            registry,
            lost,
            renamed,
        };
    }
    loop {
        skip_ws(&mut pos);
        if bytes.get(pos).is_none_or(|b| *b == b'}') {
            break;
        }
        let Some((id, used)) = next_value::<String>(&bytes[pos..]) else {
            break;
        };
        pos += used;
        if !expect(&mut pos, b':') {
            lost.push(format!("experiment `{id}`: the file ends before its value"));
            break;
        }
        skip_ws(&mut pos);
        let Some((value, used)) = next_value::<Value>(&bytes[pos..]) else {
            lost.push(format!("experiment `{id}`: cut off"));
            break;
        };
        pos += used;
        match entry_from_value(&id, value) {
            Ok(mut entry) => {
                if registry.get(&id).is_some() {
                    let to = (2u32..)
                        .map(|n| format!("{id}_dup{n}"))
                        .find(|candidate| registry.get(candidate).is_none())
                        .expect("some suffix is free");
                    let note = format!(
                        "renamed from `{id}` by `experiment-registry repair`: an earlier entry had the same id"
                    );
                    entry.notes = if entry.notes.is_empty() {
                        note
                    } else {
                        format!("{}; {note}", entry.notes)
                    };
                    entry.local_id.clone_from(&to);
                    renamed.push(Renamed { from: id, to });
                }
                registry.insert(entry);
            }
            Err(reason) => lost.push(reason),
        }
        if !expect(&mut pos, b',') {
            break;
        }
    }
    Salvaged {
        registry,
        lost,
        renamed,
    }
}

fn next_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<(T, usize)> {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<T>();
    match stream.next() {
        Some(Ok(value)) => Some((value, stream.byte_offset())),
        _ => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Status;

    const CSV_HEADER: &str = "name,input,output,expected,ASIN,Brand,Keyword,Reasoning,metrics,metadata,record_id,correct,error\n";

    fn write_csv(root: &Path, relative: &str, rows: &[(&str, &str, &str)]) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut text = CSV_HEADER.to_owned();
        for (id, correct, error) in rows {
            text.push_str(&format!(
                "eval,{{}},{{}},{{}},B0X,Brand,kw,,{{}},\"{{\"\"model\"\": \"\"gpt-4o\"\", \"\"version\"\": \"\"v2\"\"}}\",{id},{correct},{error}\n"
            ));
        }
        std::fs::write(path, text).unwrap();
    }

    fn registered(root: &Path, n: usize) -> RegistryFile {
        let file = RegistryFile::in_project(root);
        for i in 0..n {
            let csv = format!("experiment_results/M12_HardConstraintViolationCheck/run_{i}.csv");
            write_csv(root, &csv, &[("r1", "true", "")]);
            file.register(NewRun::new(
                ModuleId::parse("m12").unwrap(),
                root.join(&csv),
            ))
            .unwrap();
        }
        file
    }

    #[test]
    fn a_truncated_file_keeps_every_complete_entry_and_the_backup() {
        let dir = tempfile::tempdir().unwrap();
        let file = registered(dir.path(), 3);
        let text = std::fs::read(file.path()).unwrap();
        // Cut inside the third entry.
        let third = find(&text, b"run_2.csv").unwrap();
        let damaged = text[..third].to_vec();
        std::fs::write(file.path(), &damaged).unwrap();

        let report = repair(&file, RepairOptions::default(), &mut ()).unwrap();
        assert!(
            report.damage.as_deref().unwrap().contains("truncated"),
            "{report:?}"
        );
        assert_eq!(report.kept, 2);
        assert_eq!(report.lost.len(), 1, "{:?}", report.lost);
        assert_eq!(report.rebuilt.len(), 1, "the third CSV is registered again");
        let rebuilt = &report.rebuilt[0];
        assert_eq!(
            rebuilt.csv_path,
            "experiment_results/M12_HardConstraintViolationCheck/run_2.csv"
        );
        assert_eq!(rebuilt.model, "gpt-4o");
        assert_eq!(rebuilt.prompt_version, "v2");
        assert_eq!(rebuilt.accuracy, Some(1.0));
        assert_eq!(rebuilt.status, Status::LocalOnly);
        assert_eq!(
            std::fs::read(report.backup.as_ref().unwrap()).unwrap(),
            damaged
        );
        assert_eq!(file.load().unwrap().len(), 3);
    }

    #[test]
    fn a_sound_file_only_gains_unregistered_csvs() {
        let dir = tempfile::tempdir().unwrap();
        let file = registered(dir.path(), 2);
        write_csv(
            dir.path(),
            "experiment_results/M13_ProductTypeCheck/M13_ProductTypeCheck_v3_160126_1.csv",
            &[("a", "true", ""), ("b", "false", ""), ("c", "", "HTTP 500")],
        );
        std::fs::create_dir_all(dir.path().join("experiment_results/notes")).unwrap();
        std::fs::write(dir.path().join("experiment_results/notes/x.csv"), "a,b\n").unwrap();

        let report = repair(&file, RepairOptions::default(), &mut ()).unwrap();
        assert_eq!(report.damage, None);
        assert_eq!(report.kept, 2);
        assert_eq!(report.rebuilt.len(), 1);
        let m13 = &report.rebuilt[0];
        assert_eq!(m13.module_id, "m13");
        assert_eq!(m13.samples, 3);
        assert!((m13.accuracy.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(m13.metrics["errors"], 1);
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].csv_path, "experiment_results/notes/x.csv");
        assert!(
            report.skipped[0].reason.contains("module"),
            "{:?}",
            report.skipped
        );
        assert_eq!(file.load().unwrap().len(), 3);
        // Running it again finds nothing new.
        let again = repair(&file, RepairOptions::default(), &mut ()).unwrap();
        assert!(again.rebuilt.is_empty());
    }

    #[test]
    fn a_dry_run_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = registered(dir.path(), 1);
        std::fs::write(file.path(), b"{\"experiments\": {").unwrap();
        let report = repair(&file, RepairOptions { dry_run: true }, &mut ()).unwrap();
        assert_eq!(report.rebuilt.len(), 1);
        assert_eq!(report.backup, None);
        assert_eq!(std::fs::read(file.path()).unwrap(), b"{\"experiments\": {");
        let names: Vec<String> = std::fs::read_dir(dir.path().join("experiment_results"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".bak-")), "{names:?}");
    }

    #[test]
    fn backups_never_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".registry.json");
        let one = backup(&path, b"one").unwrap();
        let two = backup(&path, b"two").unwrap();
        assert_ne!(one, two);
        assert_eq!(std::fs::read(one).unwrap(), b"one");
        assert_eq!(std::fs::read(two).unwrap(), b"two");
    }

    #[test]
    fn a_duplicated_id_keeps_both_entries_under_distinct_ids() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        let text = r#"{"experiments": {
  "exp_a": {"module_id": "m12", "model": "first"},
  "exp_a_dup2": {"module_id": "m12", "model": "taken"},
  "exp_a": {"module_id": "m12", "model": "second", "notes": "kd"}
}, "metadata": {}}"#;
        std::fs::write(file.path(), text).unwrap();

        let report = repair(&file, RepairOptions::default(), &mut ()).unwrap();
        assert!(
            report.damage.as_deref().unwrap().contains("appears twice"),
            "{report:?}"
        );
        assert_eq!(
            report.renamed,
            [Renamed {
                from: "exp_a".into(),
                to: "exp_a_dup3".into()
            }]
        );
        assert_eq!(report.kept, 3);
        let registry = file.load().unwrap();
        assert_eq!(registry.get("exp_a").unwrap().model, "first");
        assert_eq!(registry.get("exp_a_dup2").unwrap().model, "taken");
        let moved = registry.get("exp_a_dup3").unwrap();
        assert_eq!(moved.model, "second");
        assert!(
            moved.notes.starts_with("kd; renamed from `exp_a`"),
            "{}",
            moved.notes
        );
        assert_eq!(
            std::fs::read_to_string(report.backup.unwrap()).unwrap(),
            text
        );
    }

    #[test]
    fn salvage_reads_entries_up_to_the_damage() {
        let text = br#"{"experiments": {"a": {"module_id": "m12"}, "b": {"samples": "x"}, "c": {"module_id": "m13"}, "d": {"mod"#;
        let Salvaged { registry, lost, .. } = salvage(text);
        let ids: Vec<&str> = registry.entries().map(|e| e.local_id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(lost.len(), 2, "{lost:?}");
        assert!(lost[0].contains("`b`, field `samples`"));
    }
}
