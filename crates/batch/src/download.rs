//! `download`: every finished batch's output and error files, including the partial results
//! of expired and cancelled batches.
//!
//! Each downloaded file is kept as `results/parts/{file id}.jsonl` (so running `download`
//! again fetches only what is new), and each group's files are rebuilt from its parts in batch
//! order: `results/{key}_results.jsonl` (output files) and `results/{key}_results.errors.jsonl`
//! (error files), the names the earlier tool used.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use llm_client::Client;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layout::{
    BatchDir, DOWNLOAD_REPORT, RESULTS_DIR, errors_file, now_iso, part_file, results_file,
    write_json,
};
use crate::progress::{Event, Reporter};
use crate::status::BatchState;

/// What happened to one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadEntry {
    /// Group key.
    pub key: String,
    /// Module id.
    pub module: String,
    /// Request file.
    pub file: String,
    /// Resubmission round (0 for generated files).
    pub round: u32,
    /// The batch.
    pub batch_id: String,
    /// The batch's status.
    pub status: String,
    /// `downloaded`, `not_ready` (still running), `no_output` (finished without files) or
    /// `failed` (validation failed; see `message`).
    pub state: String,
    /// Output file.
    pub output_file_id: Option<String>,
    /// Error file.
    pub error_file_id: Option<String>,
    /// Lines in the output file.
    pub results: u64,
    /// Lines in the error file.
    pub errors: u64,
    /// Details (validation errors).
    pub message: Option<String>,
}

/// Counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DownloadSummary {
    /// Batches whose files are downloaded.
    pub downloaded: usize,
    /// Batches still running.
    pub not_ready: usize,
    /// Batches that failed validation or finished without files.
    pub errors: usize,
    /// Output lines over all batches.
    pub total_results: u64,
    /// Error lines over all batches.
    pub total_errors: u64,
}

/// `download_report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadReport {
    /// When (ISO 8601).
    pub timestamp: String,
    /// The results folder.
    pub results_dir: String,
    /// Per batch.
    pub downloads: Vec<DownloadEntry>,
    /// Per group: the assembled files.
    pub groups: Vec<GroupFiles>,
    /// Counts.
    pub summary: DownloadSummary,
}

/// A group's assembled result files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFiles {
    /// Group key.
    pub key: String,
    /// `results/{key}_results.jsonl`, when there are output lines.
    pub results_file: Option<String>,
    /// `results/{key}_results.errors.jsonl`, when there are error lines.
    pub errors_file: Option<String>,
    /// Output lines.
    pub results: u64,
    /// Error lines.
    pub errors: u64,
}

fn count_lines(path: &Path) -> Result<u64> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut n = 0;
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(|e| Error::io(path, e))?;
        if !line.iter().all(u8::is_ascii_whitespace) {
            n += 1;
        }
    }
    Ok(n)
}

/// Fetches a file unless its part is already on disk; returns its line count.
async fn fetch_part(
    dir: &BatchDir,
    client: &Client,
    file_id: &str,
    reporter: &dyn Reporter,
) -> Result<u64> {
    let path = part_file(&dir.path, file_id);
    if !path.is_file() {
        let content = client
            .file_content(file_id)
            .await
            .map_err(|e| Error::api(format!("downloading {file_id}"), e))?;
        core_config::write_atomic(&path, &content).map_err(|e| Error::io(&path, e))?;
    }
    let lines = count_lines(&path)?;
    reporter.event(&Event::Downloaded { file_id, lines });
    Ok(lines)
}

/// Concatenates parts into one file, atomically; every part ends with a newline.
fn assemble(target: &Path, parts: &[PathBuf]) -> Result<()> {
    let mut out = core_config::AtomicFile::create(target).map_err(|e| Error::io(target, e))?;
    for part in parts {
        let bytes = std::fs::read(part).map_err(|e| Error::io(part, e))?;
        out.write_all(&bytes).map_err(|e| Error::io(target, e))?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            out.write_all(b"\n").map_err(|e| Error::io(target, e))?;
        }
    }
    out.commit().map_err(|e| Error::io(target, e))?;
    Ok(())
}

/// Downloads what is finished and rebuilds each group's result files.
///
/// # Errors
/// When nothing was uploaded, a call fails, or a file cannot be written.
pub async fn download(
    dir: &BatchDir,
    client: &Client,
    reporter: &dyn Reporter,
) -> Result<DownloadReport> {
    let submitted = dir.submitted()?;
    let mut downloads = Vec::new();
    let mut summary = DownloadSummary::default();
    // Per group: output parts and error parts, in batch order.
    let mut parts: Vec<(String, Vec<PathBuf>, Vec<PathBuf>)> = Vec::new();
    for entry in &submitted {
        let id = entry.batch_id.clone().unwrap_or_default();
        let batch = client
            .batch(&id)
            .await
            .map_err(|e| Error::api(format!("checking batch {id} ({})", entry.file), e))?;
        let state = BatchState::from_batch(entry, batch);
        let mut row = DownloadEntry {
            key: state.key.clone(),
            module: state.module.clone(),
            file: state.file.clone(),
            round: state.round,
            batch_id: state.batch_id.clone(),
            status: state.status.clone(),
            state: String::new(),
            output_file_id: state.output_file_id.clone(),
            error_file_id: state.error_file_id.clone(),
            results: 0,
            errors: 0,
            message: None,
        };
        let group = match parts.iter().position(|(k, _, _)| *k == state.key) {
            Some(i) => i,
            None => {
                parts.push((state.key.clone(), Vec::new(), Vec::new()));
                parts.len() - 1
            }
        };
        if !state.terminal {
            row.state = "not_ready".to_owned();
            summary.not_ready += 1;
            downloads.push(row);
            continue;
        }
        if let Some(file_id) = &state.output_file_id {
            row.results = fetch_part(dir, client, file_id, reporter).await?;
            parts[group].1.push(part_file(&dir.path, file_id));
        }
        if let Some(file_id) = &state.error_file_id {
            row.errors = fetch_part(dir, client, file_id, reporter).await?;
            parts[group].2.push(part_file(&dir.path, file_id));
        }
        if state.output_file_id.is_some() || state.error_file_id.is_some() {
            row.state = "downloaded".to_owned();
            summary.downloaded += 1;
        } else {
            row.state = if state.status == "failed" {
                "failed"
            } else {
                "no_output"
            }
            .to_owned();
            summary.errors += 1;
            if !state.errors.is_empty() {
                row.message = Some(
                    state
                        .errors
                        .iter()
                        .map(|e| match (&e.code, e.line) {
                            (Some(code), Some(line)) => {
                                format!("line {line}: {code}: {}", e.message)
                            }
                            (Some(code), None) => format!("{code}: {}", e.message),
                            (None, _) => e.message.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
        }
        summary.total_results += row.results;
        summary.total_errors += row.errors;
        downloads.push(row);
    }

    let mut groups = Vec::new();
    for (key, outputs, errors) in &parts {
        let mut files = GroupFiles {
            key: key.clone(),
            results_file: None,
            errors_file: None,
            results: 0,
            errors: 0,
        };
        if !outputs.is_empty() {
            let target = results_file(&dir.path, key);
            assemble(&target, outputs)?;
            files.results = count_lines(&target)?;
            files.results_file = Some(relative(dir, &target));
        }
        if !errors.is_empty() {
            let target = errors_file(&dir.path, key);
            assemble(&target, errors)?;
            files.errors = count_lines(&target)?;
            files.errors_file = Some(relative(dir, &target));
        }
        groups.push(files);
    }
    let report = DownloadReport {
        timestamp: now_iso(),
        results_dir: RESULTS_DIR.to_owned(),
        downloads,
        groups,
        summary,
    };
    write_json(&dir.join(DOWNLOAD_REPORT), &report)?;
    Ok(report)
}

fn relative(dir: &BatchDir, path: &Path) -> String {
    path.strip_prefix(&dir.path)
        .unwrap_or(path)
        .display()
        .to_string()
}
