//! The summary index beside the registry (`.registry.json.summary`): one short line per run
//! with the fields tables show, written by every writer right after the registry. Listing and
//! counting 100,000 runs from it takes a few milliseconds instead of reading the whole
//! registry.
//!
//! It is a cache and nothing more. Its first line records which registry file it describes
//! (inode, length, modification time); a reader that finds any difference — the earlier tool
//! or an editor changed the registry, a writer crashed between the two files — ignores it and
//! reads the registry itself. Nothing is lost if it is deleted.

use std::fs::Metadata;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::dataset::DatasetRef;
use crate::entry::{Status, Tier};
use crate::overview::Summary;
use crate::registry::Registry;

/// 2: lines gained the tier; 3: the dataset.
const VERSION: u32 = 3;

/// Which registry file an index describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    version: u32,
    /// The file's inode: every atomic replacement makes a new one.
    inode: u64,
    len: u64,
    modified_secs: u64,
    modified_nanos: u32,
    runs: usize,
}

impl Stamp {
    fn of(metadata: &Metadata, runs: usize) -> Option<Self> {
        let modified = metadata.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(Self {
            version: VERSION,
            inode: inode(metadata),
            len: metadata.len(),
            modified_secs: modified.as_secs(),
            modified_nanos: modified.subsec_nanos(),
            runs,
        })
    }

    /// Whether this stamp describes the file with `metadata`.
    fn describes(&self, metadata: &Metadata) -> bool {
        Self::of(metadata, self.runs).is_some_and(|now| now == *self)
    }
}

#[cfg(unix)]
fn inode(metadata: &Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_metadata: &Metadata) -> u64 {
    0
}

/// `.registry.json` → `.registry.json.summary`.
pub(crate) fn path_for(registry: &Path) -> PathBuf {
    let mut name = registry
        .file_name()
        .map_or_else(|| ".registry.json".into(), ToOwned::to_owned);
    name.push(".summary");
    registry.with_file_name(name)
}

/// One run on one line: `[local_id, module_id, created_at, status, model, prompt_version,
/// samples, accuracy, tier, dataset]`.
type Line<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    u64,
    Option<f64>,
    &'a str,
    Option<DatasetRef>,
);
type OwnedLine = (
    String,
    String,
    String,
    String,
    String,
    String,
    u64,
    Option<f64>,
    String,
    Option<DatasetRef>,
);

/// Writes the index of `registry`, just written to `registry_path`. Callers hold the lock.
///
/// # Errors
/// When the file cannot be written; the caller may ignore it (a stale index is never used).
pub(crate) fn write(registry_path: &Path, registry: &Registry) -> std::io::Result<()> {
    let metadata = std::fs::metadata(registry_path)?;
    let stamp = Stamp::of(&metadata, registry.len())
        .ok_or_else(|| std::io::Error::other("no modification time"))?;
    // Replaced atomically like the registry, but not synced to disk: after a crash a lost or
    // stale index is simply not used, and skipping the sync halves the cost of each write.
    let target = path_for(registry_path);
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    let mut out = BufWriter::new(
        tempfile::Builder::new()
            .prefix(".registry.json.summary.")
            .suffix(".tmp")
            .tempfile_in(dir)?,
    );
    serde_json::to_writer(&mut out, &stamp)?;
    out.write_all(b"\n")?;
    for e in registry.entries() {
        let line: Line<'_> = (
            &e.local_id,
            &e.module_id,
            &e.created_at,
            e.status.as_str(),
            &e.model,
            &e.prompt_version,
            e.samples,
            e.accuracy,
            e.tier.as_str(),
            e.dataset.clone(),
        );
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .persist(&target)
        .map_err(|e| e.error)?;
    Ok(())
}

/// The runs of the registry whose open file has `metadata`, when the index describes exactly
/// that file; `None` otherwise (missing, stale, or unreadable index).
pub(crate) fn read(registry_path: &Path, metadata: &Metadata) -> Option<Vec<Summary>> {
    let text = std::fs::read(path_for(registry_path)).ok()?;
    let mut lines = text.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let stamp: Stamp = serde_json::from_slice(lines.next()?).ok()?;
    if !stamp.describes(metadata) {
        return None;
    }
    let mut runs = Vec::with_capacity(stamp.runs);
    for line in lines {
        // Text is borrowed straight from the file unless it has escapes.
        let summary = match serde_json::from_slice::<Line<'_>>(line) {
            Ok(l) => summary(l.0, l.1, l.2, l.3, l.4, l.5, l.6, l.7, l.8, l.9),
            Err(_) => {
                let l: OwnedLine = serde_json::from_slice(line).ok()?;
                summary(&l.0, &l.1, &l.2, &l.3, &l.4, &l.5, l.6, l.7, &l.8, l.9)
            }
        };
        runs.push(summary);
    }
    // A file cut short is as good as none.
    (runs.len() == stamp.runs).then_some(runs)
}

#[allow(clippy::too_many_arguments, reason = "the fields of one index line")]
fn summary(
    local_id: &str,
    module_id: &str,
    created_at: &str,
    status: &str,
    model: &str,
    prompt_version: &str,
    samples: u64,
    accuracy: Option<f64>,
    tier: &str,
    dataset: Option<DatasetRef>,
) -> Summary {
    Summary {
        local_id: local_id.to_owned(),
        module_id: module_id.to_owned(),
        created_at: created_at.to_owned(),
        status: Status::parse(status),
        model: model.to_owned(),
        prompt_version: prompt_version.to_owned(),
        samples,
        accuracy,
        tier: Tier::parse(tier),
        dataset,
    }
}
