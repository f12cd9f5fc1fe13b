//! `upload`: each request file becomes an uploaded file (`purpose=batch`) and a batch
//! (`completion_window` 24h, metadata naming the folder, module and file).
//!
//! `upload_manifest.json` is rewritten after every step, so an interrupted upload resumes
//! where it stopped: files with a batch are skipped, uploaded files are not sent again, and a
//! create request whose answer never arrived is looked up by its file and metadata before a
//! second one is sent (OpenAI does not deduplicate retried creates).

use bytes::Bytes;
use llm_client::{Batch, Client, CreateBatch};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::layout::{BatchDir, UploadEntry, UploadManifest, module_of_key};
use crate::progress::{Event, Reporter};

/// Metadata keys the toolkit sets on every batch.
const OWN_METADATA: [&str; 7] = [
    "source",
    "batch_dir",
    "module",
    "key",
    "file",
    "round",
    "sha256",
];

/// A request file and what `upload` will do with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingFile {
    /// File, relative to the batch folder.
    pub file: String,
    /// Group key.
    pub key: String,
    /// 0 for generated files, 1, 2, … for resubmissions.
    pub round: u32,
    /// Requests in it (from the manifest).
    pub requests: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// `upload` (not uploaded yet), `create` (uploaded, no batch yet), or `done`.
    pub action: &'static str,
    /// The batch, when there is one.
    pub batch_id: Option<String>,
}

/// Every request file of a folder, in order, with what `upload` would do.
///
/// # Errors
/// When the upload manifest cannot be read.
pub fn pending_files(dir: &BatchDir) -> Result<Vec<PendingFile>> {
    let uploads = dir.upload_manifest()?;
    let mut files: Vec<PendingFile> = Vec::new();
    for group in dir.groups() {
        let sizes: Vec<(String, u64, u64)> = if group.files.is_empty() {
            group
                .file_names()
                .into_iter()
                .map(|f| (f, group.records, 0))
                .collect()
        } else {
            group
                .files
                .iter()
                .map(|f| (f.file.clone(), f.requests, f.bytes))
                .collect()
        };
        for (file, requests, bytes) in sizes {
            files.push(PendingFile {
                file,
                key: group.key().to_owned(),
                round: 0,
                requests,
                bytes,
                action: "upload",
                batch_id: None,
            });
        }
    }
    for entry in uploads.results.iter().filter(|e| e.round > 0) {
        files.push(PendingFile {
            file: entry.file.clone(),
            key: entry.key(),
            round: entry.round,
            requests: entry.requests,
            bytes: entry.bytes,
            action: "upload",
            batch_id: None,
        });
    }
    for file in &mut files {
        if let Some(entry) = uploads.entry(&file.file) {
            file.batch_id.clone_from(&entry.batch_id);
            file.action = if entry.batch_id.is_some() {
                "done"
            } else if entry.file_id.is_some() {
                "create"
            } else {
                "upload"
            };
        }
    }
    Ok(files)
}

/// What `upload` did.
#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    /// Every file's entry after this run.
    pub entries: Vec<UploadEntry>,
    /// Files uploaded now.
    pub uploaded: usize,
    /// Batches created now.
    pub created: usize,
    /// Batches found again after an uncertain create.
    pub found: usize,
    /// Files that already had a batch.
    pub skipped: usize,
    /// Files that failed (see their `error`).
    pub failed: usize,
}

/// Builds the metadata of a batch: the toolkit's keys plus the user's.
fn metadata(
    dir: &BatchDir,
    entry: &UploadEntry,
    sha: &str,
    extra: &Map<String, Value>,
) -> Map<String, Value> {
    let key = entry.key();
    let mut map = Map::new();
    let mut put = |k: &str, v: String| {
        map.insert(k.to_owned(), Value::String(v));
    };
    put("source", "kw-toolkit".to_owned());
    put("batch_dir", dir.name());
    put("module", module_of_key(&key).to_owned());
    put("key", key);
    put("file", entry.file.clone());
    put("round", entry.round.to_string());
    put("sha256", sha.chars().take(16).collect());
    for (k, v) in extra {
        map.insert(k.clone(), v.clone());
    }
    map
}

/// Checks user metadata against OpenAI's limits (16 pairs in all, keys ≤ 64 and values ≤ 512
/// characters) before anything is sent.
///
/// # Errors
/// [`Error::Selection`] naming the offending pair.
pub fn check_metadata(extra: &Map<String, Value>) -> Result<()> {
    if extra.len() + OWN_METADATA.len() > 16 {
        return Err(Error::Selection(format!(
            "at most {} metadata pairs can be added (the toolkit sets {} of the 16 allowed)",
            16 - OWN_METADATA.len(),
            OWN_METADATA.len()
        )));
    }
    for (k, v) in extra {
        if OWN_METADATA.contains(&k.as_str()) {
            return Err(Error::Selection(format!(
                "metadata key `{k}` is set by the toolkit; choose another name"
            )));
        }
        let text = v.as_str().unwrap_or_default();
        if k.is_empty() || k.chars().count() > 64 || text.chars().count() > 512 {
            return Err(Error::Selection(format!(
                "metadata `{k}`: keys need 1-64 characters and values at most 512"
            )));
        }
    }
    Ok(())
}

/// Whether a failed create may still have created the batch (no answer, a server error, or
/// an answer we could not read); a 4xx says for sure that nothing was created.
fn uncertain(error: &llm_client::Error) -> bool {
    match error {
        llm_client::Error::Api { status, .. } => {
            !(400..500).contains(status) || *status == 408 || *status == 409
        }
        llm_client::Error::Transport { .. }
        | llm_client::Error::Decode { .. }
        | llm_client::Error::WaitTooLong { .. } => true,
        _ => false,
    }
}

/// Looks for a batch made from this entry's file: same input file, or the same folder, file
/// and content in its metadata. Batches are listed newest first; the search stops at ones
/// older than the upload.
async fn find_existing(
    client: &Client,
    dir: &BatchDir,
    entry: &UploadEntry,
) -> Result<Option<Batch>> {
    let sha16: String = entry
        .sha256
        .as_deref()
        .unwrap_or_default()
        .chars()
        .take(16)
        .collect();
    let dir_name = dir.name();
    let matches = |b: &Batch| {
        if entry.file_id.as_deref() == Some(b.input_file_id.as_str()) {
            return true;
        }
        let meta = |k: &str| {
            b.metadata
                .as_ref()
                .and_then(|m| m.get(k))
                .and_then(Value::as_str)
        };
        meta("source") == Some("kw-toolkit")
            && meta("batch_dir") == Some(dir_name.as_str())
            && meta("file") == Some(entry.file.as_str())
            && meta("sha256") == Some(sha16.as_str())
    };
    let oldest = entry.uploaded_at.map(|t| t - 600);
    let mut after: Option<String> = None;
    for _ in 0..20 {
        let page = client
            .list_batches(after.as_deref(), Some(100))
            .await
            .map_err(|e| Error::api("listing batches to find one already created", e))?;
        if let Some(found) = page.data.iter().find(|b| matches(b)) {
            return Ok(Some(found.clone()));
        }
        let too_old = page
            .data
            .last()
            .is_some_and(|b| oldest.is_some_and(|o| b.created_at < o));
        if !page.has_more || too_old {
            break;
        }
        after = page
            .last_id
            .or_else(|| page.data.last().map(|b| b.id.clone()));
        if after.is_none() {
            break;
        }
    }
    Ok(None)
}

fn record_batch(entry: &mut UploadEntry, batch: &Batch, meta: Map<String, Value>) {
    entry.batch_id = Some(batch.id.clone());
    entry.status = "submitted".to_owned();
    entry.created_at = crate::layout::iso_of(batch.created_at);
    entry.create_sent = false;
    entry.error = None;
    entry.metadata = meta;
}

/// Uploads every file without a batch and creates its batch.
///
/// # Errors
/// When a request file or the upload manifest cannot be read or written, or the metadata is
/// invalid. API failures of single files do not stop the others: they are recorded in the
/// entry (`status: failed`) and counted in the report.
pub async fn upload(
    dir: &BatchDir,
    client: &Client,
    extra_metadata: &Map<String, Value>,
    reporter: &dyn Reporter,
) -> Result<UploadReport> {
    check_metadata(extra_metadata)?;
    let files = pending_files(dir)?;
    let mut manifest: UploadManifest = dir.upload_manifest()?;
    manifest.source_dir = dir.path.display().to_string();
    let mut report = UploadReport {
        entries: Vec::new(),
        uploaded: 0,
        created: 0,
        found: 0,
        skipped: 0,
        failed: 0,
    };
    let run = Run {
        dir,
        client,
        extra_metadata,
        reporter,
    };
    for pending in &files {
        let index = entry_index(&mut manifest, pending);
        if let Some(batch_id) = manifest.results[index].batch_id.clone() {
            report.skipped += 1;
            reporter.event(&Event::Skipped {
                file: &pending.file,
                reason: &format!("already submitted as {batch_id}"),
            });
            continue;
        }
        let Some(sha) = run
            .upload_content(&mut manifest, index, pending, &mut report)
            .await?
        else {
            continue;
        };
        run.submit(&mut manifest, index, pending, &sha, &mut report)
            .await?;
    }
    report.entries = files
        .iter()
        .filter_map(|f| manifest.entry(&f.file).cloned())
        .collect();
    Ok(report)
}

/// The manifest entry of a pending file, added when it has none yet.
fn entry_index(manifest: &mut UploadManifest, pending: &PendingFile) -> usize {
    match manifest.results.iter().position(|e| e.file == pending.file) {
        Some(i) => i,
        None => {
            manifest.results.push(UploadEntry::pending(
                &pending.file,
                &pending.key,
                pending.round,
                pending.requests,
                pending.bytes,
            ));
            manifest.results.len() - 1
        }
    }
}

/// What every file of one `upload` run shares.
struct Run<'a> {
    dir: &'a BatchDir,
    client: &'a Client,
    extra_metadata: &'a Map<String, Value>,
    reporter: &'a dyn Reporter,
}

impl Run<'_> {
    /// Uploads the file unless the same content is uploaded already; its SHA-256, or `None`
    /// when the upload failed (recorded in the entry and the report).
    async fn upload_content(
        &self,
        manifest: &mut UploadManifest,
        index: usize,
        pending: &PendingFile,
        report: &mut UploadReport,
    ) -> Result<Option<String>> {
        let (dir, reporter) = (self.dir, self.reporter);
        let path = dir.join(&pending.file);
        let content = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let sha = hex::encode(Sha256::digest(&content));
        let entry = &mut manifest.results[index];
        entry.bytes = content.len() as u64;
        if entry.file_id.is_none() || entry.sha256.as_deref() != Some(sha.as_str()) {
            // A file uploaded earlier whose content changed since is uploaded again.
            entry.create_sent = false;
            reporter.event(&Event::Uploading {
                file: &pending.file,
                bytes: content.len() as u64,
            });
            let name = pending.file.replace('/', "_");
            match self
                .client
                .upload_file(&name, Bytes::from(content), "batch")
                .await
            {
                Ok(file) => {
                    entry.file_id = Some(file.id);
                    entry.uploaded_at = Some(file.created_at);
                    entry.sha256 = Some(sha.clone());
                    entry.status = "uploaded".to_owned();
                    entry.error = None;
                    report.uploaded += 1;
                }
                Err(e) => {
                    let message = format!("upload failed: {e}");
                    reporter.event(&Event::Failed {
                        file: &pending.file,
                        message: &message,
                    });
                    entry.status = "failed".to_owned();
                    entry.error = Some(message);
                    report.failed += 1;
                    dir.save_upload_manifest(manifest)?;
                    return Ok(None);
                }
            }
            dir.save_upload_manifest(manifest)?;
        }
        Ok(Some(sha))
    }

    /// Creates the uploaded file's batch, or finds the one an earlier run created.
    async fn submit(
        &self,
        manifest: &mut UploadManifest,
        index: usize,
        pending: &PendingFile,
        sha: &str,
        report: &mut UploadReport,
    ) -> Result<()> {
        let (dir, client, reporter) = (self.dir, self.client, self.reporter);
        let entry = manifest.results[index].clone();
        let meta = metadata(dir, &entry, sha, self.extra_metadata);
        if entry.create_sent
            && let Some(batch) = find_existing(client, dir, &entry).await?
        {
            record_batch(&mut manifest.results[index], &batch, meta);
            report.found += 1;
            reporter.event(&Event::Submitted {
                file: &pending.file,
                batch_id: &batch.id,
                found: true,
            });
            dir.save_upload_manifest(manifest)?;
            return Ok(());
        }
        manifest.results[index].create_sent = true;
        dir.save_upload_manifest(manifest)?;
        let mut create = CreateBatch::chat(entry.file_id.clone().unwrap_or_default());
        create.metadata = Some(meta.clone());
        match client.create_batch(&create).await {
            Ok(batch) => {
                record_batch(&mut manifest.results[index], &batch, meta);
                report.created += 1;
                reporter.event(&Event::Submitted {
                    file: &pending.file,
                    batch_id: &batch.id,
                    found: false,
                });
            }
            Err(e) => {
                self.create_failed(manifest, index, pending, &e, meta, report)
                    .await?;
            }
        }
        dir.save_upload_manifest(manifest)
    }

    /// After a failed create: finds the batch when the request may have gone through anyway,
    /// otherwise records the failure.
    async fn create_failed(
        &self,
        manifest: &mut UploadManifest,
        index: usize,
        pending: &PendingFile,
        e: &llm_client::Error,
        meta: Map<String, Value>,
        report: &mut UploadReport,
    ) -> Result<()> {
        let maybe_created = uncertain(e);
        let found = if maybe_created {
            find_existing(self.client, self.dir, &manifest.results[index]).await?
        } else {
            None
        };
        if let Some(batch) = found {
            record_batch(&mut manifest.results[index], &batch, meta);
            report.found += 1;
            self.reporter.event(&Event::Submitted {
                file: &pending.file,
                batch_id: &batch.id,
                found: true,
            });
        } else {
            let message = format!("creating the batch failed: {e}");
            self.reporter.event(&Event::Failed {
                file: &pending.file,
                message: &message,
            });
            let entry = &mut manifest.results[index];
            entry.status = "failed".to_owned();
            entry.error = Some(message);
            // Only an answer that says "no" proves nothing was created.
            entry.create_sent = maybe_created;
            report.failed += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_metadata_is_checked_against_the_limits() {
        let ok: Map<String, Value> = [("team".to_owned(), Value::String("ads".to_owned()))]
            .into_iter()
            .collect();
        assert!(check_metadata(&ok).is_ok());
        let clash: Map<String, Value> = [("file".to_owned(), Value::String("x".to_owned()))]
            .into_iter()
            .collect();
        assert!(
            check_metadata(&clash)
                .unwrap_err()
                .to_string()
                .contains("set by the toolkit")
        );
        let many: Map<String, Value> = (0..10)
            .map(|i| (format!("k{i}"), Value::String("v".to_owned())))
            .collect();
        assert!(check_metadata(&many).is_err());
        let long: Map<String, Value> = [("k".to_owned(), Value::String("v".repeat(513)))]
            .into_iter()
            .collect();
        assert!(check_metadata(&long).is_err());
    }

    #[test]
    fn only_a_clear_refusal_proves_no_batch_was_created() {
        let api = |status| llm_client::Error::Api {
            endpoint: "POST /batches".to_owned(),
            status,
            kind: llm_client::FailureKind::Other,
            body: Box::default(),
            request_id: None,
            attempts: 1,
            elapsed: std::time::Duration::ZERO,
        };
        assert!(!uncertain(&api(400)));
        assert!(!uncertain(&api(404)));
        assert!(uncertain(&api(409)));
        assert!(uncertain(&api(500)));
        assert!(uncertain(&llm_client::Error::Transport {
            endpoint: "POST /batches".to_owned(),
            kind: llm_client::FailureKind::Timeout,
            message: "timed out".to_owned(),
            attempts: 3,
            elapsed: std::time::Duration::ZERO,
        }));
    }
}
