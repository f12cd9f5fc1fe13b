//! `resubmit`: a new round of batches holding only the requests that failed, expired or never
//! came back. Their lines are copied byte for byte from the generated files, so the retried
//! requests are exactly the ones first sent.

use std::collections::HashSet;
use std::path::Path;

use llm_client::Client;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::layout::{
    BatchDir, FileEntry, GroupEntry, Limits, UploadEntry, part_file, request_file_name,
};
use crate::progress::Reporter;
use crate::results::{Outcomes, for_each_request, read_requested};
use crate::status::group_list;
use crate::upload::{UploadReport, check_metadata, upload};

/// What to resubmit.
#[derive(Debug, Clone, Default)]
pub struct ResubmitOptions {
    /// Groups (all when empty).
    pub keys: Vec<String>,
    /// How the new files are split (a smaller token budget helps after `token_limit_exceeded`).
    pub limits: Limits,
    /// Extra batch metadata.
    pub metadata: Map<String, Value>,
    /// Only count, write and send nothing.
    pub dry_run: bool,
}

/// One group's resubmission.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResubmitGroup {
    /// Group key.
    pub key: String,
    /// Requests of the group.
    pub requests: usize,
    /// Requests with an answer.
    pub answered: usize,
    /// Requests whose line says they failed (error file, non-2xx, expired, cancelled).
    pub failed: usize,
    /// Requests with no line at all.
    pub missing: usize,
    /// The new request files.
    pub files: Vec<FileEntry>,
}

/// What `resubmit` did.
#[derive(Debug, Clone, Serialize)]
pub struct ResubmitReport {
    /// The new round's number (`retryNN/`).
    pub round: u32,
    /// Per group.
    pub groups: Vec<ResubmitGroup>,
    /// The upload of the new files (`None` for a dry run or when nothing was left to send).
    pub upload: Option<UploadReport>,
}

impl ResubmitReport {
    /// Requests sent again.
    #[must_use]
    pub fn resent(&self) -> usize {
        self.groups.iter().map(|g| g.failed + g.missing).sum()
    }
}

/// Checks every batch of the selected groups is finished and downloaded.
async fn check_finished(
    dir: &BatchDir,
    client: &Client,
    entries: &[UploadEntry],
    keys: &[String],
) -> Result<()> {
    for entry in entries.iter().filter(|e| keys.contains(&e.key())) {
        let Some(id) = &entry.batch_id else {
            return Err(Error::NotReady(format!(
                "{} has no batch yet (run `batch upload {}` first)",
                entry.file,
                dir.path.display()
            )));
        };
        let batch = client
            .batch(id)
            .await
            .map_err(|e| Error::api(format!("checking batch {id}"), e))?;
        if !batch.status.is_terminal() {
            return Err(Error::NotReady(format!(
                "batch {id} ({}) is still {}: wait for it (`batch status {} --watch`) or cancel it (`batch cancel`) before resubmitting",
                entry.file,
                batch.status.as_str(),
                dir.path.display()
            )));
        }
        for file_id in [&batch.output_file_id, &batch.error_file_id]
            .into_iter()
            .flatten()
        {
            if !part_file(&dir.path, file_id).is_file() {
                return Err(Error::NotReady(format!(
                    "the results of batch {id} ({}) are not downloaded yet (run `batch download {}` first)",
                    entry.file,
                    dir.path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Writes the lines of `redo` from the group's generated files into `folder`, split by the
/// limits.
fn write_round(
    dir: &BatchDir,
    folder: &Path,
    key: &str,
    files: &[String],
    redo: &HashSet<String>,
    limits: Limits,
) -> Result<Vec<FileEntry>> {
    let mut out: Vec<(FileEntry, Vec<u8>)> = Vec::new();
    for name in files {
        let path = dir.join(name);
        for_each_request(&path, |custom_id, _, raw, _| {
            if !redo.contains(custom_id) {
                return Ok(());
            }
            let mut line = raw.to_vec();
            if !line.ends_with(b"\n") {
                line.push(b'\n');
            }
            // Resubmitted lines were generated under the same limits; a smaller token budget
            // is estimated from their size, four bytes a token.
            let tokens = line.len() as u64 / 4;
            let start_new = out.last().is_none_or(|(e, _)| {
                e.requests as usize >= limits.max_lines
                    || e.bytes + line.len() as u64 > limits.max_bytes
                    || limits
                        .max_tokens
                        .is_some_and(|m| e.estimated_prompt_tokens + tokens > m)
            });
            if start_new {
                out.push((
                    FileEntry {
                        file: String::new(),
                        requests: 0,
                        bytes: 0,
                        estimated_prompt_tokens: 0,
                    },
                    Vec::new(),
                ));
            }
            if let Some((entry, content)) = out.last_mut() {
                entry.requests += 1;
                entry.bytes += line.len() as u64;
                entry.estimated_prompt_tokens += tokens;
                content.extend_from_slice(&line);
            }
            Ok(())
        })?;
    }
    let single = out.len() == 1;
    let mut entries = Vec::new();
    for (i, (mut entry, content)) in out.into_iter().enumerate() {
        let name = request_file_name(key, (!single).then_some(i + 1));
        let path = folder.join(&name);
        core_config::write_atomic(&path, &content).map_err(|e| Error::io(&path, e))?;
        entry.file = name;
        entries.push(entry);
    }
    Ok(entries)
}

/// The groups to resubmit: the ones asked for (each must exist), or every group.
fn selected_keys(
    dir: &BatchDir,
    asked: &[String],
    submitted: &[UploadEntry],
) -> Result<Vec<String>> {
    if asked.is_empty() {
        return Ok(dir.groups().map(|g| g.key().to_owned()).collect());
    }
    for key in asked {
        if dir.group(key).is_none() {
            return Err(Error::Selection(format!(
                "no group `{key}` in {} (groups: {})",
                dir.path.display(),
                group_list(submitted)
            )));
        }
    }
    Ok(asked.to_vec())
}

/// Counts one group's answers and, when staging, writes the requests without a successful
/// answer into `staging`.
fn resubmit_group(
    dir: &BatchDir,
    group: &GroupEntry,
    key: &str,
    staging: Option<&Path>,
    limits: Limits,
) -> Result<ResubmitGroup> {
    let requested = read_requested(dir, group)?;
    let outcomes = Outcomes::read(dir, key, &requested.ids)?;
    let (mut answered, mut failed) = (0, 0);
    let mut redo = HashSet::new();
    for id in requested.ids.keys() {
        match outcomes.as_ref().and_then(|o| o.index.get(id)) {
            Some(at) if at.success => answered += 1,
            Some(_) => {
                failed += 1;
                redo.insert(id.clone());
            }
            None => {
                redo.insert(id.clone());
            }
        }
    }
    let missing = redo.len() - failed;
    let files = match (staging, redo.is_empty()) {
        (Some(staging), false) => {
            write_round(dir, staging, key, &group.file_names(), &redo, limits)?
        }
        _ => Vec::new(),
    };
    Ok(ResubmitGroup {
        key: key.to_owned(),
        requests: requested.ids.len(),
        answered,
        failed,
        missing,
        files,
    })
}

/// Moves the staged round into the batch folder as `folder_name` and lists its files in the
/// upload manifest.
fn move_round_in(
    dir: &BatchDir,
    staging: tempfile::TempDir,
    folder_name: &str,
    report: &ResubmitReport,
) -> Result<()> {
    let round = report.round;
    let target = dir.join(folder_name);
    if target.exists() {
        return Err(Error::Selection(format!(
            "{} already exists; remove it (it is not in {}) and run again",
            target.display(),
            crate::layout::UPLOAD_MANIFEST
        )));
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &target).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        Error::io(&target, e)
    })?;
    let mut manifest = dir.upload_manifest()?;
    for group in &report.groups {
        for file in &group.files {
            manifest.results.push(UploadEntry::pending(
                &format!("{folder_name}/{}", file.file),
                &group.key,
                round,
                file.requests,
                file.bytes,
            ));
        }
    }
    dir.save_upload_manifest(&mut manifest)?;
    Ok(())
}

/// Sends again what has no answer.
///
/// # Errors
/// When a batch of a selected group is unfinished or not downloaded, a group is unknown, files
/// cannot be read or written, or the upload fails to start.
pub async fn resubmit(
    dir: &BatchDir,
    client: &Client,
    options: &ResubmitOptions,
    reporter: &dyn Reporter,
) -> Result<ResubmitReport> {
    options.limits.check()?;
    check_metadata(&options.metadata)?;
    let uploads = dir.upload_manifest()?;
    let submitted = dir.submitted()?;
    let keys = selected_keys(dir, &options.keys, &submitted)?;
    check_finished(dir, client, &uploads.results, &keys).await?;
    let round = uploads.results.iter().map(|e| e.round).max().unwrap_or(0) + 1;
    let folder_name = format!("retry{round:02}");
    let staging = if options.dry_run {
        None
    } else {
        Some(
            tempfile::Builder::new()
                .prefix(".resubmitting-")
                .tempdir_in(&dir.path)
                .map_err(|e| Error::io(&dir.path, e))?,
        )
    };

    let mut groups = Vec::new();
    for key in &keys {
        let Some(group) = dir.group(key) else {
            continue;
        };
        groups.push(resubmit_group(
            dir,
            group,
            key,
            staging.as_ref().map(tempfile::TempDir::path),
            options.limits,
        )?);
    }
    let report = ResubmitReport {
        round,
        groups,
        upload: None,
    };
    let Some(staging) = staging else {
        return Ok(report);
    };
    if report.resent() == 0 {
        return Ok(report);
    }
    move_round_in(dir, staging, &folder_name, &report)?;
    let uploaded = upload(dir, client, &options.metadata, reporter).await?;
    Ok(ResubmitReport {
        upload: Some(uploaded),
        ..report
    })
}
