//! Writing a dataset: the records are checked exactly as `orchestrator validate` checks a
//! module's dataset, then written atomically; an existing file is only replaced when asked.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use core_config::{AtomicFile, Catalog, ModuleSpec};
use serde_json::Value;

use crate::error::{Error, Result};

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    /// The dataset file.
    pub path: PathBuf,
    /// Records in it.
    pub records: usize,
}

/// The records as JSON Lines.
#[must_use]
pub fn to_jsonl(records: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        // Serialising a `Value` cannot fail.
        out.extend(serde_json::to_vec(record).unwrap_or_default());
        out.push(b'\n');
    }
    out
}

/// Checks `records` as `orchestrator validate` checks `module`'s dataset (prompt `version`):
/// every line parses, ids are present and unique, every placeholder is fed and every expected
/// value is a label. Returns the problems found in the records.
///
/// # Errors
/// When the check's scratch file cannot be written.
pub fn validate(
    catalog: &Catalog,
    module: &ModuleSpec,
    records: &[Value],
    version: &str,
) -> Result<Vec<String>> {
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let path = dir.path().join("records.jsonl");
    std::fs::write(&path, to_jsonl(records)).map_err(|e| Error::io(&path, e))?;
    let mut spec = module.clone();
    spec.dataset.clone_from(&path);
    let check = core_config::check::check_module(catalog, &spec, version);
    Ok(check
        .problems
        .iter()
        .filter(|p| p.file == path || p.file == spec.dataset)
        .map(|p| match p.line {
            Some(line) => format!("  record {line}: {}", p.message),
            None => format!("  {}", p.message),
        })
        .collect())
}

/// Validates `records` (see [`validate`]) and writes them to `out`, atomically. Nothing is
/// written when a problem is found or when `out` exists and `force` is not set.
///
/// # Errors
/// [`Error::Invalid`] with the problems, [`Error::Exists`], or an I/O error.
pub fn write_dataset(
    catalog: &Catalog,
    module: &ModuleSpec,
    records: &[Value],
    out: &Path,
    force: bool,
) -> Result<Written> {
    if out.exists() && !force {
        return Err(Error::Exists {
            path: out.to_owned(),
        });
    }
    let problems = validate(catalog, module, records, &catalog.defaults().prompt_version)?;
    if !problems.is_empty() {
        return Err(Error::Invalid {
            module: module.id.to_string(),
            problems,
        });
    }
    let mut file = AtomicFile::create(out).map_err(|e| Error::io(out, e))?;
    file.write_all(&to_jsonl(records))
        .map_err(|e| Error::io(out, e))?;
    let written = if force {
        file.commit()
    } else {
        file.commit_new()
    };
    let path = written.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists {
                path: out.to_owned(),
            }
        } else {
            Error::io(out, e)
        }
    })?;
    Ok(Written {
        path,
        records: records.len(),
    })
}
