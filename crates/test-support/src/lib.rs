//! What the workspace's tests, examples and benchmarks share: finding the repository (and its
//! `fixtures/`) and copying a fixture folder into a temporary project. A dev-dependency only;
//! it must not depend on any other workspace crate, so every crate can use it.

use std::io;
use std::path::{Path, PathBuf};

/// The repository root (the directory holding the workspace's `Cargo.toml` and `modules.toml`),
/// as an absolute path.
///
/// # Panics
/// When the checkout has no such directory (the crate was moved out of `crates/`).
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root is two levels above crates/test-support")
}

/// A path under the repository's `fixtures/` folder.
#[must_use]
pub fn fixture(relative: impl AsRef<Path>) -> PathBuf {
    repo_root().join("fixtures").join(relative)
}

/// Copies the folder `from` and everything in it to `to` (created if missing).
///
/// # Errors
/// When a folder cannot be read or created, or a file cannot be copied.
pub fn try_copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            try_copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// [`try_copy_dir`] for tests: panics with both paths when the copy fails.
///
/// # Panics
/// When the copy fails.
pub fn copy_dir(from: &Path, to: &Path) {
    if let Err(e) = try_copy_dir(from, to) {
        panic!("cannot copy {} to {}: {e}", from.display(), to.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_holds_the_catalogue_and_fixtures() {
        assert!(repo_root().join("modules.toml").is_file());
        assert!(fixture("registry").is_dir());
    }

    #[test]
    fn copies_nested_folders() {
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("a/b")).unwrap();
        std::fs::write(from.path().join("a/b/c.txt"), "c").unwrap();
        std::fs::write(from.path().join("top.txt"), "t").unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_dir(from.path(), &to.path().join("copy"));
        let read = |p: &str| std::fs::read_to_string(to.path().join(p)).unwrap();
        assert_eq!(read("copy/a/b/c.txt"), "c");
        assert_eq!(read("copy/top.txt"), "t");
        assert!(try_copy_dir(&from.path().join("missing"), &to.path().join("x")).is_err());
    }
}
