//! The reliability suite (`make test-reliability`): the toolkit under kills, fault storms,
//! concurrent writers, malformed inputs, and with secrets in its environment. Every scenario
//! runs the real binaries against the local simulator and asserts what must hold; the figures
//! each one measured are printed (`-- --nocapture` shows them).

mod bad_inputs;
mod concurrent_runs;
mod fault_storm;
mod kill_resume;
mod secrets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::TestProject;

/// The results CSVs of a module's folder under `experiment_results/`, sorted.
pub fn results_csvs(project: &TestProject, folder: &str) -> Vec<PathBuf> {
    files_ending(
        &project.path(&format!("experiment_results/{folder}")),
        ".csv",
    )
}

/// Files of a folder whose names end with `suffix`, sorted (none when the folder is missing).
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.to_string_lossy().ends_with(suffix));
    files.sort();
    files
}

/// A CSV as rows of `header -> cell`.
pub fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The record ids of the rows a journal holds (complete lines after the header).
pub fn journal_rows(journal: &Path) -> Vec<String> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .split_inclusive('\n')
        .skip(1)
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["record_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The project's registry, parsed (panics when it is missing or not JSON).
pub fn registry(project: &TestProject) -> serde_json::Value {
    let path = project.path("experiment_results/.registry.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Polls `ready` every few milliseconds until it returns something, failing after a minute
/// with `what`.
pub fn wait_for<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Holds the registry's writer lock (the same `flock` the toolkit takes), so a run that has
/// written its results waits to register until the guard is dropped.
pub struct RegistryLock {
    _file: std::fs::File,
}

impl RegistryLock {
    pub fn hold(project: &TestProject) -> Self {
        let path = project.path("experiment_results/.registry.json.lock");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap();
        file.lock().unwrap();
        Self { _file: file }
    }
}

/// Every file under `dir` (relative path -> content), for "nothing changed" checks.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            } else {
                let relative = path.strip_prefix(base).unwrap().display().to_string();
                out.insert(relative, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
