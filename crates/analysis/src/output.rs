//! Where reports go: `analysis/{MODULE_FOLDER}/`, named after the run. Nothing already written
//! is overwritten: a taken name gets `_2`, `_3`, …, and every file appears whole or not at all
//! (`core_config::AtomicFile`, committed without replacing).

use std::io::Write;
use std::path::{Path, PathBuf};

use core_config::{AtomicFile, ModuleSpec};

use crate::error::{Error, Result};

/// The folder of a module's analysis files.
#[must_use]
pub fn module_dir(root: &Path, module: &ModuleSpec) -> PathBuf {
    root.join("analysis").join(module.folder_name())
}

/// The first of `name`, `name_2`, `name_3`, … for which every `dir/{stem}{suffix}` is free, so a
/// run's files of one analysis share a stem.
#[must_use]
pub fn free_stem(dir: &Path, name: &str, suffixes: &[&str]) -> String {
    let free = |stem: &str| {
        suffixes
            .iter()
            .all(|suffix| !dir.join(format!("{stem}{suffix}")).exists())
    };
    if free(name) {
        return name.to_owned();
    }
    (2u32..)
        .map(|n| format!("{name}_{n}"))
        .find(|stem| free(stem))
        .unwrap_or_else(|| name.to_owned())
}

/// Writes `bytes` to a new file at `path` atomically, refusing to replace an existing one.
///
/// # Errors
/// When the file cannot be written or the name was taken meanwhile.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let mut file = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.commit_new().map_err(|e| Error::io(path, e))
}

/// Serialises a report as pretty JSON into a new file.
///
/// # Errors
/// As [`write_new`].
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<PathBuf> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::io(path, e.into()))?;
    bytes.push(b'\n');
    write_new(path, &bytes)
}
