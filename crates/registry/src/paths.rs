//! How CSV paths are stored (relative to the project root when possible, so a project can move)
//! and found again (including absolute paths the earlier tool wrote before the project moved).

use std::path::{Component, Path, PathBuf};

/// The text stored in `csv_path` for `csv`: relative to `root` (with `/` separators) when the
/// file lies under it, absolute otherwise. A relative `csv` is taken as relative to the root.
///
/// ```
/// use std::path::Path;
/// use registry::stored_csv_path;
///
/// let root = Path::new("/proj");
/// assert_eq!(
///     stored_csv_path(root, Path::new("/proj/experiment_results/M12_X/a.csv")),
///     "experiment_results/M12_X/a.csv"
/// );
/// assert_eq!(stored_csv_path(root, Path::new("/elsewhere/a.csv")), "/elsewhere/a.csv");
/// ```
#[must_use]
pub fn stored_csv_path(root: &Path, csv: &Path) -> String {
    if csv.is_relative() {
        return slashes(csv);
    }
    if let Ok(rel) = csv.strip_prefix(root) {
        return slashes(rel);
    }
    // The same directory reached through a symlink (e.g. /tmp vs /private/tmp).
    if let (Ok(root), Ok(csv_real)) = (root.canonicalize(), csv.canonicalize())
        && let Ok(rel) = csv_real.strip_prefix(&root)
    {
        return slashes(rel);
    }
    csv.to_string_lossy().into_owned()
}

fn slashes(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Where the CSV of a stored `csv_path` is: relative paths under `root`; absolute paths as they
/// are, unless the file is gone and the path runs through an `experiment_results` folder whose
/// counterpart under `root` holds it (a project copied or moved since the earlier tool wrote
/// absolute paths). `None` for an empty path.
///
/// ```
/// use std::path::Path;
/// use registry::resolve_csv_path;
///
/// let root = Path::new("/proj");
/// assert_eq!(
///     resolve_csv_path(root, "experiment_results/M12_X/a.csv").unwrap(),
///     Path::new("/proj/experiment_results/M12_X/a.csv")
/// );
/// assert_eq!(resolve_csv_path(root, ""), None);
/// ```
#[must_use]
pub fn resolve_csv_path(root: &Path, stored: &str) -> Option<PathBuf> {
    if stored.trim().is_empty() {
        return None;
    }
    let path = Path::new(stored);
    if path.is_relative() {
        return Some(root.join(path));
    }
    if path.exists() {
        return Some(path.to_owned());
    }
    let components: Vec<Component<'_>> = path.components().collect();
    if let Some(at) = components
        .iter()
        .rposition(|c| c.as_os_str() == "experiment_results")
    {
        let moved: PathBuf = root.join(components[at..].iter().collect::<PathBuf>());
        if moved.exists() {
            return Some(moved);
        }
    }
    Some(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_normalised() {
        let root = Path::new("/proj");
        assert_eq!(
            stored_csv_path(root, Path::new("./experiment_results/a.csv")),
            "experiment_results/a.csv"
        );
    }

    #[test]
    fn moved_projects_find_their_csvs() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("experiment_results/M12_X/a.csv");
        std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
        std::fs::write(&csv, "x").unwrap();
        let old = "/home/someone/kw-classification-v1.1/experiment_results/M12_X/a.csv";
        assert_eq!(resolve_csv_path(dir.path(), old).unwrap(), csv);
        let gone = "/home/someone/kw/experiment_results/M12_X/b.csv";
        assert_eq!(resolve_csv_path(dir.path(), gone).unwrap(), Path::new(gone));
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_roots_still_give_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(real.join("experiment_results")).unwrap();
        std::fs::write(real.join("experiment_results/a.csv"), "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            stored_csv_path(&link, &real.join("experiment_results/a.csv")),
            "experiment_results/a.csv"
        );
    }
}
