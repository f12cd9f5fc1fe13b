//! Writing files so that a reader (or a crash) never sees half of one: write a temporary file
//! beside the target, flush it to disk, then rename it over the target.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file being written; it appears at its path only when [`AtomicFile::commit`] succeeds.
/// Dropping it without committing removes the temporary file and leaves the target untouched.
pub struct AtomicFile {
    target: PathBuf,
    temp: NamedTempFile,
}

impl AtomicFile {
    /// Starts writing `target` (its parent directory is created if missing).
    ///
    /// # Errors
    /// When the directory cannot be created or the temporary file cannot be opened.
    pub fn create(target: impl Into<PathBuf>) -> io::Result<Self> {
        let target = target.into();
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = target
            .file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // tempfile creates 0600 files; outputs are ordinary project files, so keep the mode of
        // the file being replaced, or use the usual 0644 for a new one.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(&target).map_or(0o644, |m| m.permissions().mode() & 0o7777);
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        let temp = builder.tempfile_in(dir)?;
        Ok(Self { target, temp })
    }

    /// The path the file will have once committed.
    #[must_use]
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// A second handle on the temporary file, to start flushing to disk what is written so far
    /// while writing goes on (so that the sync of [`AtomicFile::commit`] has little left to do).
    ///
    /// # Errors
    /// When the handle cannot be duplicated.
    pub fn sync_handle(&self) -> io::Result<std::fs::File> {
        self.temp.as_file().try_clone()
    }

    /// Flushes, syncs and renames the file into place.
    ///
    /// # Errors
    /// When flushing, syncing or renaming fails; the target is then unchanged.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        self.temp.flush()?;
        self.temp.as_file().sync_all()?;
        self.temp.persist(&self.target).map_err(|e| e.error)?;
        // Make the rename itself durable where the platform allows it.
        if let Some(dir) = self.target.parent()
            && let Ok(handle) = std::fs::File::open(dir)
        {
            let _ = handle.sync_all();
        }
        tracing::debug!(path = %self.target.display(), "file written");
        Ok(self.target)
    }

    /// Like [`AtomicFile::commit_new`], but does not wait for the disk: the file appears whole
    /// or not at all to other readers at once, and reaches the disk with the next sync of it.
    /// For files whose state after a crash is recognised and recovered by whoever reads them
    /// next (a run journal found without its header records no progress and is replaced).
    ///
    /// # Errors
    /// `AlreadyExists` when the target exists; otherwise when the file cannot be written.
    pub fn commit_new_unsynced(mut self) -> io::Result<PathBuf> {
        self.temp.flush()?;
        self.temp
            .persist_noclobber(&self.target)
            .map_err(|e| e.error)?;
        tracing::debug!(path = %self.target.display(), "new file written (not yet synced)");
        Ok(self.target)
    }

    /// Like [`AtomicFile::commit`], but refuses to replace an existing file.
    ///
    /// # Errors
    /// `AlreadyExists` when the target exists; otherwise as `commit`.
    pub fn commit_new(mut self) -> io::Result<PathBuf> {
        self.temp.flush()?;
        self.temp.as_file().sync_all()?;
        self.temp
            .persist_noclobber(&self.target)
            .map_err(|e| e.error)?;
        tracing::debug!(path = %self.target.display(), "new file written");
        Ok(self.target)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Removes the temporary files that interrupted writes of `target` left beside it (a process
/// killed between [`AtomicFile::create`] and its commit cannot clean up) and returns how many
/// there were. Only names of the form [`AtomicFile`] gives its temporary files are touched.
///
/// # Errors
/// When the directory cannot be listed or a leftover cannot be removed.
pub fn remove_leftovers(target: &Path) -> io::Result<usize> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let Some(name) = target.file_name() else {
        return Ok(0);
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if file_name.starts_with(&prefix)
            && file_name.ends_with(".tmp")
            && entry.file_type()?.is_file()
        {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// As [`AtomicFile::create`] and [`AtomicFile::commit`].
pub fn write_atomic(path: impl Into<PathBuf>, bytes: &[u8]) -> io::Result<PathBuf> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_an_interrupted_write_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run.csv");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"half a row").unwrap();
        // A killed process never drops its writer.
        std::mem::forget(file);
        for keep in [
            "run.csv.journal.jsonl",
            ".other.csv.x1.tmp",
            ".run.csv.keep",
        ] {
            std::fs::write(dir.path().join(keep), b"x").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
        assert_eq!(remove_leftovers(&target).unwrap(), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".other.csv.x1.tmp",
                ".run.csv.keep",
                "run.csv.journal.jsonl"
            ]
        );
        assert_eq!(remove_leftovers(&dir.path().join("gone/x.csv")).unwrap(), 0);
    }

    #[test]
    fn nothing_appears_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.csv");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"a,b\n").unwrap();
        assert!(!target.exists());
        file.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "a,b\n");
    }

    #[test]
    fn dropping_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        write_atomic(&target, b"old").unwrap();
        {
            let mut file = AtomicFile::create(&target).unwrap();
            file.write_all(b"new but abandoned").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_readable_by_others_and_replacements_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        write_atomic(&target, b"a").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), 0o644);
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&target, b"b").unwrap();
        assert_eq!(mode(&target), 0o640);
    }

    #[test]
    fn commit_new_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("once.csv");
        write_atomic(&target, b"first").unwrap();
        let file = AtomicFile::create(&target).unwrap();
        assert_eq!(
            file.commit_new().unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "first");
    }

    #[test]
    fn an_unsynced_new_file_appears_whole_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run.journal.jsonl");
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"{\"journal\":1}\n").unwrap();
        assert!(!target.exists(), "nothing before the commit");
        file.commit_new_unsynced().unwrap();
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "{\"journal\":1}\n"
        );
        let again = AtomicFile::create(&target).unwrap();
        assert_eq!(
            again.commit_new_unsynced().unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
