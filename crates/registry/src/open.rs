//! Opening one run for a comparison: by local id (or a unique prefix) through the registry, or
//! straight from a results CSV whose folder or file name tells the module.

use std::path::{Path, PathBuf};

use core_config::{Catalog, ModuleSpec, ProjectPaths, ResultRow};
use serde::Serialize;

use crate::dataset::DatasetRef;
use crate::{Error, Overview, RegistryFile, Result};

/// A run's rows and where they came from.
#[derive(Debug, Clone, Serialize)]
pub struct OpenedRun {
    /// Local id, or `None` when a CSV path was given.
    pub id: Option<String>,
    /// The results CSV, relative to the project root when it is inside it.
    pub csv_path: String,
    /// Model, when the registry says.
    pub model: Option<String>,
    /// Prompt version, when the registry says.
    pub prompt_version: Option<String>,
    /// When the run was made, when the registry says.
    pub created_at: Option<String>,
    /// The dataset it ran on, when the registry recorded it.
    pub dataset: Option<DatasetRef>,
    /// The module id.
    #[serde(skip)]
    pub module: String,
    /// The results rows.
    #[serde(skip)]
    pub rows: Vec<ResultRow>,
}

impl OpenedRun {
    /// How to name the run to a reader: its id, else its CSV.
    #[must_use]
    pub fn name(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.csv_path)
    }
}

/// Opens `text`: a path ending in `.csv` (relative to the current directory) is read directly;
/// anything else is a local id looked up in the registry, which `overview` loads only then.
///
/// # Errors
/// A CSV that is missing, unreadable or of no known module; an unknown id; a run whose CSV is
/// not recorded or no longer exists.
pub fn open_run<'o>(
    file: &RegistryFile,
    catalog: &Catalog,
    text: &str,
    overview: &mut dyn FnMut() -> Result<&'o Overview>,
) -> Result<OpenedRun> {
    let paths = ProjectPaths::new(file.root());
    let as_path = PathBuf::from(text);
    if as_path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let path = if as_path.is_absolute() {
            as_path
        } else {
            std::env::current_dir()
                .map_err(|source| Error::Io {
                    path: PathBuf::from("."),
                    source,
                })?
                .join(as_path)
        };
        if !path.is_file() {
            return Err(Error::CsvNotFound { path });
        }
        let module = module_of_csv(catalog, &path)
            .ok_or_else(|| Error::CsvModuleUnknown { path: path.clone() })?;
        return Ok(OpenedRun {
            id: None,
            csv_path: paths.display(&path).into_owned(),
            model: None,
            prompt_version: None,
            created_at: None,
            dataset: None,
            module: module.id.to_string(),
            rows: core_config::read_results(&path)?,
        });
    }
    let registry = overview()?;
    let id = registry.find(text)?.local_id.clone();
    let entry = registry.entries(&[&id])?.remove(0);
    let csv = file.resolve_csv(&entry).ok_or_else(|| Error::NoCsv {
        id: entry.local_id.clone(),
    })?;
    if !csv.is_file() {
        return Err(Error::CsvGone {
            id: entry.local_id,
            path: paths.display(&csv).into_owned(),
        });
    }
    Ok(OpenedRun {
        rows: core_config::read_results(&csv)?,
        csv_path: paths.display(&csv).into_owned(),
        module: entry
            .module()
            .map_or_else(|| entry.module_id.clone(), |m| m.to_string()),
        id: Some(entry.local_id),
        model: Some(entry.model),
        prompt_version: Some(entry.prompt_version),
        created_at: Some(entry.created_at),
        dataset: entry.dataset,
    })
}

/// The module a results CSV belongs to, from its file name or its folder's (`M12_…`).
#[must_use]
pub fn module_of_csv<'a>(catalog: &'a Catalog, path: &Path) -> Option<&'a ModuleSpec> {
    let name = |p: Option<&std::ffi::OsStr>| p.map(|n| n.to_string_lossy().into_owned());
    name(path.file_name())
        .and_then(|n| catalog.module_for_file_name(&n))
        .or_else(|| {
            name(path.parent().and_then(Path::file_name))
                .and_then(|n| catalog.module_for_file_name(&n))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml")).unwrap()
    }

    #[test]
    fn a_csv_tells_its_module_by_file_or_folder_name() {
        let catalog = catalog();
        let by_file = module_of_csv(&catalog, Path::new("/x/M12_v1_20260116_123456.csv"));
        assert_eq!(by_file.map(|m| m.id.to_string()).as_deref(), Some("m12"));
        let by_folder = module_of_csv(&catalog, Path::new("/x/M14_Something/run.csv"));
        assert_eq!(by_folder.map(|m| m.id.to_string()).as_deref(), Some("m14"));
        assert!(module_of_csv(&catalog, Path::new("/x/y/run.csv")).is_none());
    }

    #[test]
    fn a_missing_csv_or_unknown_id_is_an_error_and_csvs_need_no_registry() {
        let dir = tempfile::tempdir().unwrap();
        let file = RegistryFile::in_project(dir.path());
        let catalog = catalog();
        let mut never = || -> Result<&'static Overview> { panic!("the registry is not needed") };
        let missing = dir.path().join("M12_v1.csv");
        let err = open_run(&file, &catalog, missing.to_str().unwrap(), &mut never).unwrap_err();
        assert!(matches!(err, Error::CsvNotFound { .. }), "{err}");
        std::fs::write(dir.path().join("run.csv"), "id\n").unwrap();
        let err = open_run(
            &file,
            &catalog,
            dir.path().join("run.csv").to_str().unwrap(),
            &mut never,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("cannot tell which module"),
            "{err}"
        );
        let overview: &'static Overview = Box::leak(Box::new(file.overview().unwrap()));
        let err = open_run(&file, &catalog, "exp_nope", &mut || Ok(overview)).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }
}
