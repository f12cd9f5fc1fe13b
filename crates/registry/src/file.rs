//! The registry on disk: reads without locking (the file is only ever replaced whole), writes
//! as read-modify-write under an exclusive lock on a sidecar file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use core_config::ProjectPaths;

use crate::entry::{Entry, NewRun};
use crate::error::{Error, Result};
use crate::index;
use crate::overview::Overview;
use crate::paths::resolve_csv_path;
use crate::registry::Registry;

/// How long a writer waits for another to finish before giving up.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// The registry file of a project, and the project root its CSV paths are relative to.
///
/// Every change goes through [`RegistryFile::update`]: take the lock, read the file, change it,
/// write a temporary file, sync it and rename it over the old one. Two processes adding runs
/// at the same moment both keep their entry, and a reader sees either the old file or the new
/// one, never half of one.
///
/// ```
/// use core_config::ModuleId;
/// use registry::{NewRun, RegistryFile, Status};
///
/// let project = tempfile::tempdir()?;
/// let file = RegistryFile::in_project(project.path());
///
/// // What the orchestrator does when a run finishes…
/// let csv = project.path().join("experiment_results/M12_X/M12_X_v1_160126_1.csv");
/// let entry = file.register(NewRun {
///     model: "gpt-4o-mini".into(),
///     samples: 20,
///     accuracy: Some(0.85),
///     ..NewRun::new(ModuleId::parse("m12").unwrap(), &csv)
/// })?;
/// assert_eq!(entry.csv_path, "experiment_results/M12_X/M12_X_v1_160126_1.csv");
///
/// // …and what the Braintrust sync does after uploading it.
/// file.mark_uploaded(&entry.local_id, "bt-123", "https://braintrust.example/exp/bt-123")?;
/// assert_eq!(file.load()?.get(&entry.local_id).unwrap().status, Status::Uploaded);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryFile {
    path: PathBuf,
    root: PathBuf,
    lock_timeout: Duration,
}

impl RegistryFile {
    /// The registry at `path`, whose CSV paths are relative to `root`.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            root: root.into(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }

    /// The registry of the project at `root`: `experiment_results/.registry.json`.
    #[must_use]
    pub fn in_project(root: impl Into<PathBuf>) -> Self {
        let paths = ProjectPaths::new(root);
        Self::new(paths.registry_file(), paths.root)
    }

    /// Waits at most `timeout` for another writer (default [`DEFAULT_LOCK_TIMEOUT`]).
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The registry file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The project root.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The sidecar file writers lock (`.registry.json.lock`). It is never removed: removing it
    /// while another process waits on it would let two writers in at once.
    #[must_use]
    pub fn lock_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map_or_else(|| ".registry.json".into(), ToOwned::to_owned);
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// Reads the registry; a missing file is an empty registry.
    ///
    /// # Errors
    /// [`Error::Io`] when the file exists but cannot be read, [`Error::Corrupt`] when it does
    /// not parse. Nothing is written either way.
    pub fn load(&self) -> Result<Registry> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Registry::parse(&bytes, &self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::new()),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }

    /// Reads the registry for listing and counting only (much faster on large registries than
    /// [`RegistryFile::load`]); a missing file is an empty registry.
    ///
    /// # Errors
    /// As [`RegistryFile::load`].
    pub fn overview(&self) -> Result<Overview> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Overview::empty(&self.path));
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let metadata = file.metadata().map_err(|e| Error::io(&self.path, e))?;
        if let Some(runs) = index::read(&self.path, &metadata) {
            return Ok(Overview::from_index(file, &self.path, runs));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        (&file)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        Overview::parse(bytes, &self.path)
    }

    /// Read-modify-write under the lock. The file is rewritten only when `change` succeeds and
    /// changed something; when it fails, or the file could not be read, nothing is written.
    ///
    /// # Errors
    /// As [`RegistryFile::load`], [`Error::Locked`] after waiting too long for another writer,
    /// [`Error::Io`] when writing fails, or whatever `change` returns.
    pub fn update<T, E>(&self, change: impl FnOnce(&mut Registry) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        let _lock = self.lock()?;
        let mut registry = self.load()?;
        let out = change(&mut registry)?;
        if registry.is_changed() {
            self.write(&registry)?;
        }
        Ok(out)
    }

    /// Registers a finished run under a fresh local id and returns its entry.
    ///
    /// # Errors
    /// As [`RegistryFile::update`].
    pub fn register(&self, run: NewRun) -> Result<Entry> {
        self.update(|registry| Ok(registry.add_run(run, &self.root).clone()))
    }

    /// Records a successful Braintrust upload (now) and returns the updated entry.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no run has this id; otherwise as [`RegistryFile::update`].
    pub fn mark_uploaded(
        &self,
        local_id: &str,
        braintrust_id: &str,
        braintrust_url: &str,
    ) -> Result<Entry> {
        let now = chrono::Local::now().naive_local();
        self.update(|registry| {
            registry
                .mark_uploaded(local_id, braintrust_id, braintrust_url, now)
                .cloned()
        })
    }

    /// Records a failed upload with its reason and returns the updated entry.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no run has this id; otherwise as [`RegistryFile::update`].
    pub fn mark_failed(&self, local_id: &str, reason: &str) -> Result<Entry> {
        self.update(|registry| registry.mark_failed(local_id, reason).cloned())
    }

    /// Where an entry's CSV is (see [`resolve_csv_path`]); `None` when it has no CSV path.
    #[must_use]
    pub fn resolve_csv(&self, entry: &Entry) -> Option<PathBuf> {
        resolve_csv_path(&self.root, &entry.csv_path)
    }

    /// Writes the registry in place of the file (atomically). Callers must hold the lock.
    pub(crate) fn write(&self, registry: &Registry) -> Result<()> {
        let permissions = std::fs::metadata(&self.path).ok().map(|m| m.permissions());
        core_config::write_atomic(&self.path, &registry.to_json())
            .map_err(|e| Error::io(&self.path, e))?;
        // The temporary file is created private; keep the mode the registry had.
        if let Some(permissions) = permissions {
            std::fs::set_permissions(&self.path, permissions)
                .map_err(|e| Error::io(&self.path, e))?;
        }
        // The summary index is a cache: if it cannot be written, the old one no longer matches
        // the registry and readers fall back to the registry itself.
        let _ = index::write(&self.path, registry);
        Ok(())
    }

    /// Takes the exclusive lock, waiting up to the timeout. Dropping the file releases it (as
    /// does the process ending, so a crashed writer never leaves the registry locked).
    pub(crate) fn lock(&self) -> Result<File> {
        let path = self.lock_path();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        // Someone else is writing. Wait in the kernel's queue (woken the moment the lock is
        // free, unlike polling) on a helper thread, so the wait can time out. If it does, the
        // helper keeps waiting; when it finally gets the lock its send fails and dropping the
        // file releases the lock at once.
        let start = Instant::now();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let locked = file.lock().map(|()| file);
            let _ = sender.send(locked);
        });
        match receiver.recv_timeout(self.lock_timeout) {
            Ok(Ok(file)) => Ok(file),
            Ok(Err(e)) => Err(Error::io(&path, e)),
            Err(_) => Err(Error::Locked {
                path,
                waited: start.elapsed(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use core_config::ModuleId;

    use super::*;
    use crate::entry::Tier;

    fn run(csv: &str) -> NewRun {
        NewRun::new(ModuleId::parse("m12").unwrap(), csv)
    }

    #[test]
    fn a_missing_registry_is_empty_and_created_on_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        assert!(file.load().unwrap().is_empty());
        file.register(run("a.csv")).unwrap();
        assert!(
            dir.path()
                .join("experiment_results/.registry.json")
                .is_file()
        );
        assert_eq!(file.load().unwrap().len(), 1);
    }

    #[test]
    fn a_corrupt_registry_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        file.register(run("a.csv")).unwrap();
        let text = std::fs::read(file.path()).unwrap();
        let truncated = &text[..text.len() - 20];
        std::fs::write(file.path(), truncated).unwrap();

        let err = file.register(run("b.csv")).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(".registry.json:"), "{err}");
        assert_eq!(std::fs::read(file.path()).unwrap(), truncated);
    }

    /// Two entries under one id: the file is refused (naming the second one's line) and left
    /// as it is, by the full reader, the listing reader and writers alike.
    #[test]
    fn a_duplicated_id_is_a_corrupt_registry() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        let text = "{\n  \"experiments\": {\n    \"exp_a\": {\"model\": \"one\"},\n    \"exp_b\": {},\n    \"exp_a\": {\"model\": \"two\"}\n  },\n  \"metadata\": {}\n}\n";
        std::fs::write(file.path(), text).unwrap();

        let err = file.load().unwrap_err();
        let Error::Corrupt { line, message, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(*line, 5, "{err}");
        assert!(message.contains("`exp_a` appears twice"), "{err}");
        let listed = file.overview().unwrap_err();
        assert_eq!(listed.to_string(), err.to_string());

        assert!(file.register(run("c.csv")).is_err());
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), text);
    }

    #[test]
    fn an_empty_registry_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        for text in ["", "  \n"] {
            std::fs::write(file.path(), text).unwrap();
            for err in [file.load().unwrap_err(), file.overview().unwrap_err()] {
                assert!(matches!(err, Error::Empty { .. }), "{err}");
                let shown = err.to_string();
                assert!(shown.contains(".registry.json: empty file"), "{shown}");
                assert!(!shown.contains(":1:0"), "{shown}");
                assert!(err.short().ends_with(".registry.json: empty file"), "{err}");
            }
        }
        assert!(file.register(run("a.csv")).is_err());
        assert_eq!(std::fs::read(file.path()).unwrap(), b"  \n");
    }

    #[test]
    fn a_registry_that_is_not_utf8_names_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        let mut bytes = br#"{"experiments": {"exp_a": {"model": "gpt"#.to_vec();
        let offset = bytes.len();
        bytes.extend_from_slice(b"\xff\xfe\"}}}");
        std::fs::write(file.path(), &bytes).unwrap();
        for err in [file.load().unwrap_err(), file.overview().unwrap_err()] {
            assert!(
                matches!(err, Error::NotUtf8 { line: 1, offset: at, .. } if at == offset),
                "{err:?}"
            );
            assert!(
                err.to_string().contains(&format!(
                    ".registry.json:1: not UTF-8 text (first invalid byte at offset {offset})"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn batch_runs_are_marked_and_entries_without_a_tier_are_live() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        // A registry the earlier tool wrote: no tier anywhere.
        std::fs::write(
            file.path(),
            r#"{"experiments": {"exp_old": {"module_id": "m12", "status": "uploaded"}}, "metadata": {}}"#,
        )
        .unwrap();
        assert_eq!(
            file.load().unwrap().get("exp_old").unwrap().tier,
            Tier::Live
        );

        let live = file.register(run("live.csv")).unwrap();
        let batch = file
            .register(NewRun {
                tier: Tier::Batch,
                ..run("batch.csv")
            })
            .unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let experiments = &json["experiments"];
        assert_eq!(experiments[&batch.local_id]["tier"], "batch");
        // Live runs are written as before: no tier field.
        assert!(experiments[&live.local_id].get("tier").is_none(), "{text}");
        assert!(experiments["exp_old"].get("tier").is_none(), "{text}");

        let registry = file.load().unwrap();
        assert_eq!(registry.get(&batch.local_id).unwrap().tier, Tier::Batch);
        assert_eq!(registry.get(&live.local_id).unwrap().tier, Tier::Live);
        // The listing reader, from the summary index and from the file, agrees.
        let tiers = |overview: Overview| -> Vec<(String, Tier)> {
            overview
                .runs()
                .map(|s| (s.local_id.clone(), s.tier.clone()))
                .collect()
        };
        let indexed = file.overview().unwrap();
        assert!(format!("{indexed:?}").contains("from_index: true"));
        let parsed = Overview::parse(text.into_bytes(), file.path()).unwrap();
        let want = vec![
            ("exp_old".to_owned(), Tier::Live),
            (live.local_id, Tier::Live),
            (batch.local_id, Tier::Batch),
        ];
        assert_eq!(tiers(indexed), want);
        assert_eq!(tiers(parsed), want);
    }

    #[test]
    fn a_failing_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        file.register(run("a.csv")).unwrap();
        let before = std::fs::read(file.path()).unwrap();
        let err = file
            .update(|registry| {
                registry.add_run(run("b.csv"), dir.path());
                registry.mark_failed("exp_missing", "x").map(|_| ())
            })
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert_eq!(std::fs::read(file.path()).unwrap(), before);
    }

    #[test]
    fn a_held_lock_times_out_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file =
            RegistryFile::in_project(dir.path()).with_lock_timeout(Duration::from_millis(30));
        let held = file.lock().unwrap();
        let err = file.register(run("a.csv")).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains(".registry.json.lock"), "{err}");
        drop(held);
        file.register(run("a.csv")).unwrap();
    }

    #[test]
    fn threads_adding_at_once_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        std::thread::scope(|scope| {
            for t in 0..4 {
                let file = file.clone();
                scope.spawn(move || {
                    for i in 0..10 {
                        file.register(run(&format!("t{t}_{i}.csv"))).unwrap();
                    }
                });
            }
        });
        let registry = file.load().unwrap();
        assert_eq!(registry.len(), 40);
    }

    #[test]
    fn the_summary_index_is_used_only_while_it_matches() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        for i in 0..5 {
            file.register(NewRun {
                accuracy: Some(0.5),
                ..run(&format!("{i}.csv"))
            })
            .unwrap();
        }
        let index = index::path_for(file.path());
        assert!(index.is_file());
        let from_index = file.overview().unwrap();
        assert!(format!("{from_index:?}").contains("from_index: true"));
        let parsed = Overview::parse(std::fs::read(file.path()).unwrap(), file.path()).unwrap();
        assert_eq!(from_index.stats(), parsed.stats());
        let ids: Vec<&str> = parsed.runs().map(|s| s.local_id.as_str()).collect();
        assert_eq!(
            from_index.runs().map(|s| &s.local_id).collect::<Vec<_>>(),
            parsed.runs().map(|s| &s.local_id).collect::<Vec<_>>()
        );
        assert_eq!(
            from_index.entries(&ids).unwrap(),
            file.load().unwrap().entries().cloned().collect::<Vec<_>>()
        );

        // Another program rewrites the registry (one run fewer): the index no longer matches.
        let mut registry = file.load().unwrap();
        registry.remove(ids[0]);
        std::fs::write(file.path(), registry.to_json()).unwrap();
        let fresh = file.overview().unwrap();
        assert!(format!("{fresh:?}").contains("from_index: false"));
        assert_eq!(fresh.len(), 4);

        // A damaged index is ignored too.
        file.register(run("5.csv")).unwrap();
        let text = std::fs::read(&index).unwrap();
        std::fs::write(&index, &text[..text.len() - 10]).unwrap();
        let fresh = file.overview().unwrap();
        assert!(format!("{fresh:?}").contains("from_index: false"));
        assert_eq!(fresh.len(), 5);
    }

    #[cfg(unix)]
    #[test]
    fn rewriting_keeps_the_files_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        file.register(run("a.csv")).unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o664)).unwrap();
        file.register(run("b.csv")).unwrap();
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o664);
    }
}
