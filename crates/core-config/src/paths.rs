//! Where things live: the project root and the output folders under it.

use std::path::{Path, PathBuf};

use crate::catalog::CATALOG_FILE;
use crate::error::{Error, Result};

/// Walks up from `start` to the first directory holding `modules.toml`.
///
/// # Errors
/// [`Error::RootNotFound`] when no parent has one.
pub fn find_root(start: &Path) -> Result<PathBuf> {
    let start = if start.is_absolute() {
        start.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io(".", e))?
            .join(start)
    };
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        if d.join(CATALOG_FILE).is_file() {
            return Ok(d.to_owned());
        }
        dir = d.parent();
    }
    Err(Error::RootNotFound { start })
}

/// The project's folders, all under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPaths {
    /// The project root.
    pub root: PathBuf,
}

impl ProjectPaths {
    /// Paths under `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `experiment_results/`: one folder per module with its result CSVs, and the registry.
    #[must_use]
    pub fn experiment_results(&self) -> PathBuf {
        self.root.join("experiment_results")
    }

    /// `experiment_results/.registry.json`.
    #[must_use]
    pub fn registry_file(&self) -> PathBuf {
        self.experiment_results().join(".registry.json")
    }

    /// `annotation_tasks/`: CSVs handed to annotators.
    #[must_use]
    pub fn annotation_tasks(&self) -> PathBuf {
        self.root.join("annotation_tasks")
    }

    /// `validated_data/`: merged annotations and gold datasets.
    #[must_use]
    pub fn validated_data(&self) -> PathBuf {
        self.root.join("validated_data")
    }

    /// `batch_requests/`: Batch API request files, manifests and results.
    #[must_use]
    pub fn batch_requests(&self) -> PathBuf {
        self.root.join("batch_requests")
    }

    /// `datasets/`.
    #[must_use]
    pub fn datasets(&self) -> PathBuf {
        self.root.join("datasets")
    }

    /// Default response-cache directory, `.cache/llm/`.
    #[must_use]
    pub fn default_cache_dir(&self) -> PathBuf {
        self.root.join(".cache").join("llm")
    }

    /// Default price table, `prices.toml`.
    #[must_use]
    pub fn default_price_table(&self) -> PathBuf {
        self.root.join("prices.toml")
    }

    /// A path shown relative to the root when it lies under it (for messages and snapshots).
    #[must_use]
    pub fn display<'a>(&self, path: &'a Path) -> std::borrow::Cow<'a, str> {
        match path.strip_prefix(&self.root) {
            Ok(rel) => std::borrow::Cow::Owned(rel.display().to_string()),
            Err(_) => path.to_string_lossy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_root_from_a_nested_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("modules.toml"), "").unwrap();
        let nested = root.join("experiment_results/M12_X");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(find_root(&nested).unwrap(), root);
        assert_eq!(find_root(&root).unwrap(), root);
    }

    #[test]
    fn missing_root_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_root(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("no modules.toml in "), "{err}");
        assert!(
            err.ends_with("(run inside a project, or pass --root DIR)"),
            "{err}"
        );
    }

    #[test]
    fn folders_live_under_the_root() {
        let p = ProjectPaths::new("/proj");
        assert_eq!(
            p.registry_file(),
            Path::new("/proj/experiment_results/.registry.json")
        );
        assert_eq!(p.annotation_tasks(), Path::new("/proj/annotation_tasks"));
        assert_eq!(
            p.display(Path::new("/proj/validated_data/x.csv")),
            "validated_data/x.csv"
        );
        assert_eq!(p.display(Path::new("/elsewhere/x.csv")), "/elsewhere/x.csv");
    }
}
