//! The batch folder: file names, the manifests written beside the request files, and reading
//! folders written by the earlier tool (its manifests are a subset of ours, or missing).
//!
//! ```text
//! batch_requests/{YYYYmmdd_HHMM}/           (batch_requests/synthetic/{…} for synthetic sets)
//!   manifest.json                           what was generated
//!   {key}_batch.jsonl                       one request file per group…
//!   {key}_part02_batch.jsonl                …or several, when a group is split
//!   retry01/{key}_batch.jsonl               requests sent again by `resubmit`
//!   upload_manifest.json                    uploaded files and created batches
//!   status_report.json                      the last status check
//!   results/parts/{file id}.jsonl           each downloaded output or error file
//!   results/{key}_results.jsonl             every output line of the group
//!   results/{key}_results.errors.jsonl      every error line of the group
//!   download_report.json, evaluation_report.json
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::ids::IdScheme;

/// `manifest.json`.
pub const MANIFEST: &str = "manifest.json";
/// `upload_manifest.json`.
pub const UPLOAD_MANIFEST: &str = "upload_manifest.json";
/// The earlier tool's synthetic upload log, read when `upload_manifest.json` is missing.
pub const LEGACY_UPLOAD_LOG: &str = "upload_log.json";
/// `status_report.json`.
pub const STATUS_REPORT: &str = "status_report.json";
/// `download_report.json`.
pub const DOWNLOAD_REPORT: &str = "download_report.json";
/// `evaluation_report.json`.
pub const EVALUATION_REPORT: &str = "evaluation_report.json";
/// `results/`.
pub const RESULTS_DIR: &str = "results";
/// The suffix every request file name ends with.
pub const REQUEST_SUFFIX: &str = "_batch.jsonl";

/// Manifest format written by this tool; the earlier tool's manifests read as format 0.
pub const MANIFEST_FORMAT: u32 = 1;

/// The name of a request file: `{key}_batch.jsonl`, or `{key}_partNN_batch.jsonl` when the
/// group is split.
#[must_use]
pub fn request_file_name(key: &str, part: Option<usize>) -> String {
    match part {
        Some(n) => format!("{key}_part{n:02}{REQUEST_SUFFIX}"),
        None => format!("{key}{REQUEST_SUFFIX}"),
    }
}

/// The group key a request file name belongs to (`m12_part02_batch.jsonl` → `m12`).
#[must_use]
pub fn key_of_file(file: &str) -> Option<String> {
    let name = Path::new(file).file_name()?.to_str()?;
    let stem = name.strip_suffix(REQUEST_SUFFIX)?;
    let stem = match stem.rsplit_once("_part") {
        Some((key, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => key,
        _ => stem,
    };
    (!stem.is_empty()).then(|| stem.to_owned())
}

/// The module id in a group key: `m12` → `m12`, `m12_sd01` → `m12`.
#[must_use]
pub fn module_of_key(key: &str) -> &str {
    key.split_once('_').map_or(key, |(module, _)| module)
}

/// `results/{key}_results.jsonl` under a batch folder.
#[must_use]
pub fn results_file(dir: &Path, key: &str) -> PathBuf {
    dir.join(RESULTS_DIR).join(format!("{key}_results.jsonl"))
}

/// `results/{key}_results.errors.jsonl` under a batch folder.
#[must_use]
pub fn errors_file(dir: &Path, key: &str) -> PathBuf {
    dir.join(RESULTS_DIR)
        .join(format!("{key}_results.errors.jsonl"))
}

/// `results/parts/{file id}.jsonl`: one downloaded output or error file.
#[must_use]
pub fn part_file(dir: &Path, file_id: &str) -> PathBuf {
    let safe: String = file_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(RESULTS_DIR)
        .join("parts")
        .join(format!("{safe}.jsonl"))
}

/// How request files are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most requests per file (OpenAI: 50,000).
    pub max_lines: usize,
    /// Largest file in bytes (OpenAI: 200 MiB).
    pub max_bytes: u64,
    /// Most estimated prompt tokens per file, for the per-model enqueued-token limits.
    pub max_tokens: Option<u64>,
}

/// OpenAI's per-batch request limit.
pub const OPENAI_MAX_LINES: usize = 50_000;
/// OpenAI's per-batch input file limit (200 MiB).
pub const OPENAI_MAX_BYTES: u64 = 200 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_lines: OPENAI_MAX_LINES,
            max_bytes: OPENAI_MAX_BYTES,
            max_tokens: None,
        }
    }
}

impl Limits {
    /// Checks the limits can hold at least one request.
    ///
    /// # Errors
    /// [`Error::Limits`] naming the limit.
    pub fn check(&self) -> Result<()> {
        if self.max_lines == 0 {
            return Err(Error::Limits(
                "the per-file request limit must be at least 1".to_owned(),
            ));
        }
        if self.max_bytes < 1024 {
            return Err(Error::Limits(format!(
                "a per-file size limit of {} bytes cannot hold a request (use at least 1 KiB)",
                self.max_bytes
            )));
        }
        if self.max_tokens == Some(0) {
            return Err(Error::Limits(
                "the per-file token budget must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// One request file of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name relative to the batch folder.
    pub file: String,
    /// Requests (lines) in the file.
    #[serde(default)]
    pub requests: u64,
    /// Size in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Estimated prompt tokens of its requests.
    #[serde(default)]
    pub estimated_prompt_tokens: u64,
}

/// One group of requests: a module over its dataset (or over one synthetic set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupEntry {
    /// Module id (`m12`).
    pub module: String,
    /// Group key: the module id, or `{module}_sdNN` for a synthetic set. Prefix of its file
    /// names and custom ids.
    #[serde(default)]
    pub key: String,
    /// Module name.
    #[serde(default)]
    pub name: String,
    /// `success`, or `error` (the earlier tool recorded failed modules here).
    #[serde(default)]
    pub status: String,
    /// Requests generated.
    #[serde(default)]
    pub records: u64,
    /// The earlier tool's single request file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
    /// Request files in order.
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// Dataset, relative to the project root.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Records in the dataset.
    #[serde(default)]
    pub dataset_records: Option<u64>,
    /// SHA-256 of the dataset file when the requests were made.
    #[serde(default)]
    pub dataset_sha256: Option<String>,
    /// Prompt file, relative to the root.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Prompt version.
    #[serde(default)]
    pub prompt_version: Option<String>,
    /// Prompt hash (as in the registry).
    #[serde(default)]
    pub prompt_hash: Option<String>,
    /// Model of every request.
    #[serde(default)]
    pub model: Option<String>,
    /// `--samples`, when given.
    #[serde(default)]
    pub samples: Option<usize>,
    /// Sampling seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// How custom ids were made.
    #[serde(default)]
    pub custom_ids: IdScheme,
    /// Estimated prompt tokens.
    #[serde(default)]
    pub estimated_prompt_tokens: u64,
    /// Estimated completion tokens.
    #[serde(default)]
    pub estimated_completion_tokens: u64,
    /// Estimated cost at the batch price, when the model is priced.
    #[serde(default)]
    pub estimated_cost_usd: Option<f64>,
    /// Why the group could not be generated (earlier tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl GroupEntry {
    /// The key, falling back to the module id.
    #[must_use]
    pub fn key(&self) -> &str {
        if self.key.is_empty() {
            &self.module
        } else {
            &self.key
        }
    }

    /// Request file names: the listed files, else the earlier tool's single file, else the
    /// default name.
    #[must_use]
    pub fn file_names(&self) -> Vec<String> {
        if !self.files.is_empty() {
            return self.files.iter().map(|f| f.file.clone()).collect();
        }
        if let Some(file) = &self.output_file {
            let name = Path::new(file)
                .file_name()
                .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
            return vec![name];
        }
        vec![request_file_name(self.key(), None)]
    }
}

/// `manifest.json`: what `generate` wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format (0: the earlier tool).
    #[serde(default)]
    pub format: u32,
    /// When the requests were generated (ISO 8601).
    #[serde(default)]
    pub timestamp: String,
    /// Whether the groups are synthetic sets.
    #[serde(default)]
    pub synthetic: bool,
    /// Endpoint of every line.
    #[serde(default)]
    pub endpoint: String,
    /// Completion window of the batches.
    #[serde(default)]
    pub completion_window: String,
    /// How files were split.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// Groups generated.
    #[serde(default)]
    pub modules_processed: usize,
    /// Requests generated.
    #[serde(default)]
    pub total_records: u64,
    /// Request files written.
    #[serde(default)]
    pub total_files: usize,
    /// Bytes written.
    #[serde(default)]
    pub total_bytes: u64,
    /// Estimated prompt tokens.
    #[serde(default)]
    pub estimated_prompt_tokens: u64,
    /// Estimated completion tokens.
    #[serde(default)]
    pub estimated_completion_tokens: u64,
    /// Estimated cost at the batch price (`None` when some model is not priced).
    #[serde(default)]
    pub estimated_cost_usd: Option<f64>,
    /// Per group.
    #[serde(default)]
    pub results: Vec<GroupEntry>,
}

/// One uploaded file and its batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadEntry {
    /// Request file, relative to the batch folder.
    pub file: String,
    /// Group key.
    #[serde(default)]
    pub key: Option<String>,
    /// Module id.
    #[serde(default)]
    pub module: Option<String>,
    /// 0 for generated files, 1, 2, … for `resubmit` rounds.
    #[serde(default)]
    pub round: u32,
    /// Requests in the file.
    #[serde(default)]
    pub requests: u64,
    /// Size in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// SHA-256 of the file as uploaded.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The uploaded file.
    #[serde(default)]
    pub file_id: Option<String>,
    /// When the file was uploaded (unix seconds).
    #[serde(default)]
    pub uploaded_at: Option<i64>,
    /// The batch created from it.
    #[serde(default)]
    pub batch_id: Option<String>,
    /// `pending`, `uploaded`, `submitted`, or `failed`.
    #[serde(default)]
    pub status: String,
    /// When the batch was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Whether a create request was sent whose outcome is unknown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_sent: bool,
    /// The last failure.
    #[serde(default)]
    pub error: Option<String>,
    /// Metadata sent with the batch.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

impl UploadEntry {
    /// A file waiting to be uploaded.
    #[must_use]
    pub fn pending(file: &str, key: &str, round: u32, requests: u64, bytes: u64) -> Self {
        Self {
            file: file.to_owned(),
            key: Some(key.to_owned()),
            module: Some(module_of_key(key).to_owned()),
            round,
            requests,
            bytes,
            sha256: None,
            file_id: None,
            uploaded_at: None,
            batch_id: None,
            status: "pending".to_owned(),
            created_at: None,
            create_sent: false,
            error: None,
            metadata: Map::new(),
        }
    }

    /// The group key (from the entry, else from the file name).
    #[must_use]
    pub fn key(&self) -> String {
        self.key
            .clone()
            .or_else(|| key_of_file(&self.file))
            .unwrap_or_else(|| self.file.clone())
    }
}

/// `upload_manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadManifest {
    /// When it was last written (ISO 8601).
    #[serde(default)]
    pub timestamp: String,
    /// The batch folder, relative to the project root.
    #[serde(default)]
    pub source_dir: String,
    /// One entry per request file.
    #[serde(default)]
    pub results: Vec<UploadEntry>,
}

impl UploadManifest {
    /// The entry of a file, if any.
    #[must_use]
    pub fn entry(&self, file: &str) -> Option<&UploadEntry> {
        self.results.iter().find(|e| e.file == file)
    }

    /// Entries with a batch.
    pub fn submitted(&self) -> impl Iterator<Item = &UploadEntry> {
        self.results.iter().filter(|e| e.batch_id.is_some())
    }
}

/// The earlier tool's synthetic upload log: `{batches: [{file, batch_id, …}]}`.
#[derive(Deserialize)]
struct LegacyUploadLog {
    #[serde(default)]
    batches: Vec<Map<String, Value>>,
}

/// Reads a JSON file into a type, naming the file in errors.
///
/// # Errors
/// When the file cannot be read or does not have the expected shape.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
        path: path.to_owned(),
        message: format!("not a readable manifest ({e})"),
    })
}

/// Writes a value as pretty JSON, atomically.
///
/// # Errors
/// When the file cannot be written.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Manifest {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    core_config::write_atomic(path, &bytes).map_err(|e| Error::io(path, e))?;
    Ok(())
}

/// An opened batch folder.
#[derive(Debug, Clone)]
pub struct BatchDir {
    /// The folder.
    pub path: PathBuf,
    /// Its manifest (read, or rebuilt from the request files for the earlier tool's folders
    /// without one).
    pub manifest: Manifest,
    /// Whether `manifest.json` was found.
    pub has_manifest: bool,
}

impl BatchDir {
    /// Opens a folder written by `generate` or by the earlier tool.
    ///
    /// # Errors
    /// [`Error::NotABatchDir`] when it holds neither a manifest nor request files, or a
    /// manifest that does not read.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            return Err(Error::NotABatchDir {
                dir: path.to_owned(),
                message: "no such folder".to_owned(),
            });
        }
        let manifest_path = path.join(MANIFEST);
        if manifest_path.is_file() {
            let manifest: Manifest = read_json(&manifest_path)?;
            return Ok(Self {
                path: path.to_owned(),
                manifest,
                has_manifest: true,
            });
        }
        // The earlier tool's folders always had a manifest, but one may have been lost: the
        // request files alone say enough.
        let mut files: Vec<String> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(std::result::Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(REQUEST_SUFFIX))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::NotABatchDir {
                dir: path.to_owned(),
                message: format!(
                    "not a batch folder: expected {MANIFEST} (written by `batch generate`) or request files named *{REQUEST_SUFFIX}"
                ),
            });
        }
        let mut groups: Vec<GroupEntry> = Vec::new();
        for file in files {
            let Some(key) = key_of_file(&file) else {
                continue;
            };
            match groups.iter_mut().find(|g| g.key == key) {
                Some(group) => group.files.push(FileEntry {
                    file,
                    requests: 0,
                    bytes: 0,
                    estimated_prompt_tokens: 0,
                }),
                None => groups.push(GroupEntry {
                    module: module_of_key(&key).to_owned(),
                    key: key.clone(),
                    name: String::new(),
                    status: "success".to_owned(),
                    records: 0,
                    output_file: None,
                    files: vec![FileEntry {
                        file,
                        requests: 0,
                        bytes: 0,
                        estimated_prompt_tokens: 0,
                    }],
                    dataset: None,
                    dataset_records: None,
                    dataset_sha256: None,
                    prompt: None,
                    prompt_version: None,
                    prompt_hash: None,
                    model: None,
                    samples: None,
                    seed: None,
                    custom_ids: IdScheme::Index,
                    estimated_prompt_tokens: 0,
                    estimated_completion_tokens: 0,
                    estimated_cost_usd: None,
                    error: None,
                }),
            }
        }
        Ok(Self {
            path: path.to_owned(),
            manifest: Manifest {
                format: 0,
                timestamp: String::new(),
                synthetic: path.components().any(|c| c.as_os_str() == "synthetic"),
                endpoint: llm_client::BATCH_CHAT_ENDPOINT.to_owned(),
                completion_window: "24h".to_owned(),
                limits: None,
                modules_processed: groups.len(),
                total_records: 0,
                total_files: 0,
                total_bytes: 0,
                estimated_prompt_tokens: 0,
                estimated_completion_tokens: 0,
                estimated_cost_usd: None,
                results: groups,
            },
            has_manifest: false,
        })
    }

    /// The groups that have request files (failed groups of the earlier tool are skipped).
    pub fn groups(&self) -> impl Iterator<Item = &GroupEntry> {
        self.manifest
            .results
            .iter()
            .filter(|g| g.error.is_none() && g.status != "error")
    }

    /// A group by key.
    #[must_use]
    pub fn group(&self, key: &str) -> Option<&GroupEntry> {
        self.groups().find(|g| g.key() == key)
    }

    /// The folder's name (the timestamp), used in batch metadata.
    #[must_use]
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }

    /// A path inside the folder.
    #[must_use]
    pub fn join(&self, relative: &str) -> PathBuf {
        self.path.join(relative)
    }

    /// Reads `upload_manifest.json` (or the earlier tool's `upload_log.json`); empty when
    /// nothing was uploaded yet.
    ///
    /// # Errors
    /// When the file exists but cannot be read.
    pub fn upload_manifest(&self) -> Result<UploadManifest> {
        let path = self.join(UPLOAD_MANIFEST);
        if path.is_file() {
            return read_json(&path);
        }
        let legacy = self.join(LEGACY_UPLOAD_LOG);
        if legacy.is_file() {
            let log: LegacyUploadLog = read_json(&legacy)?;
            let results = log
                .batches
                .into_iter()
                .filter_map(|b| {
                    let file = b.get("file")?.as_str()?.to_owned();
                    let text = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_owned);
                    let mut entry = UploadEntry::pending(
                        &Path::new(&file)
                            .file_name()
                            .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned()),
                        &key_of_file(&file).unwrap_or_default(),
                        0,
                        0,
                        0,
                    );
                    entry.file_id = text("file_id").or_else(|| text("input_file_id"));
                    entry.batch_id = text("batch_id");
                    entry.status = if entry.batch_id.is_some() {
                        "submitted".to_owned()
                    } else {
                        "failed".to_owned()
                    };
                    Some(entry)
                })
                .collect();
            return Ok(UploadManifest {
                timestamp: String::new(),
                source_dir: String::new(),
                results,
            });
        }
        Ok(UploadManifest::default())
    }

    /// Writes `upload_manifest.json`.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save_upload_manifest(&self, manifest: &mut UploadManifest) -> Result<()> {
        manifest.timestamp = now_iso();
        write_json(&self.join(UPLOAD_MANIFEST), manifest)
    }

    /// The submitted batches, failing clearly when nothing was uploaded.
    ///
    /// # Errors
    /// [`Error::NotReady`] when no batch was created yet.
    pub fn submitted(&self) -> Result<Vec<UploadEntry>> {
        let uploads = self.upload_manifest()?;
        let submitted: Vec<UploadEntry> = uploads.submitted().cloned().collect();
        if submitted.is_empty() {
            return Err(Error::NotReady(format!(
                "{}: no batch was created from this folder yet (expected {UPLOAD_MANIFEST} with batch ids; run `batch upload {}` first)",
                self.path.display(),
                self.path.display()
            )));
        }
        Ok(submitted)
    }
}

/// Now, as ISO 8601 local time.
#[must_use]
pub fn now_iso() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Unix seconds as ISO 8601 local time.
#[must_use]
pub fn iso_of(unix: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| {
        t.with_timezone(&chrono::Local)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_keys_round_trip() {
        assert_eq!(request_file_name("m12", None), "m12_batch.jsonl");
        assert_eq!(request_file_name("m12", Some(2)), "m12_part02_batch.jsonl");
        assert_eq!(key_of_file("m12_batch.jsonl").as_deref(), Some("m12"));
        assert_eq!(
            key_of_file("m12_part02_batch.jsonl").as_deref(),
            Some("m12")
        );
        assert_eq!(
            key_of_file("retry01/m12_sd01_batch.jsonl").as_deref(),
            Some("m12_sd01")
        );
        assert_eq!(
            key_of_file("m12_partial_batch.jsonl").as_deref(),
            Some("m12_partial")
        );
        assert_eq!(key_of_file("notes.jsonl"), None);
        assert_eq!(module_of_key("m12_sd01"), "m12");
        assert_eq!(module_of_key("m02b"), "m02b");
    }

    #[test]
    fn the_earlier_tools_manifest_reads() {
        let legacy = r#"{"timestamp": "2026-01-12T21:27:00", "modules_processed": 2, "total_records": 651,
            "results": [
              {"module": "m12", "name": "CheckHardConstraintViolation", "status": "success", "records": 443,
               "output_file": "batch_requests/20260112_2127/m12_batch.jsonl", "format": "structured"},
              {"module": "m03", "status": "error", "error": "Missing files: dataset: x"}]}"#;
        let manifest: Manifest = serde_json::from_str(legacy).unwrap();
        assert_eq!(manifest.format, 0);
        let dir = BatchDir {
            path: PathBuf::from("/x"),
            manifest,
            has_manifest: true,
        };
        let groups: Vec<&GroupEntry> = dir.groups().collect();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].key(), "m12");
        assert_eq!(groups[0].file_names(), ["m12_batch.jsonl"]);
        assert_eq!(groups[0].custom_ids, IdScheme::Index);
    }

    #[test]
    fn a_folder_without_manifest_is_read_from_its_file_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "m12_batch.jsonl",
            "m02_part01_batch.jsonl",
            "m02_part02_batch.jsonl",
        ] {
            std::fs::write(dir.path().join(name), "{}\n").unwrap();
        }
        let opened = BatchDir::open(dir.path()).unwrap();
        assert!(!opened.has_manifest);
        let keys: Vec<(&str, Vec<String>)> =
            opened.groups().map(|g| (g.key(), g.file_names())).collect();
        assert_eq!(
            keys,
            [
                (
                    "m02",
                    vec![
                        "m02_part01_batch.jsonl".to_owned(),
                        "m02_part02_batch.jsonl".to_owned()
                    ]
                ),
                ("m12", vec!["m12_batch.jsonl".to_owned()])
            ]
        );
        let empty = tempfile::tempdir().unwrap();
        let err = BatchDir::open(empty.path()).unwrap_err().to_string();
        assert!(err.contains("expected manifest.json"), "{err}");
    }

    #[test]
    fn the_earlier_tools_upload_log_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m12_sd01_batch.jsonl"), "{}\n").unwrap();
        std::fs::write(
            dir.path().join(LEGACY_UPLOAD_LOG),
            r#"{"batches": [{"file": "batch_requests/synthetic/x/m12_sd01_batch.jsonl", "batch_id": "batch_1", "input_file_id": "file-1"}]}"#,
        )
        .unwrap();
        let opened = BatchDir::open(dir.path()).unwrap();
        let uploads = opened.upload_manifest().unwrap();
        let entry = &uploads.results[0];
        assert_eq!(entry.file, "m12_sd01_batch.jsonl");
        assert_eq!(entry.key(), "m12_sd01");
        assert_eq!(entry.batch_id.as_deref(), Some("batch_1"));
        assert_eq!(entry.file_id.as_deref(), Some("file-1"));
    }

    #[test]
    fn limits_must_hold_a_request() {
        assert!(Limits::default().check().is_ok());
        for limits in [
            Limits {
                max_lines: 0,
                ..Limits::default()
            },
            Limits {
                max_bytes: 10,
                ..Limits::default()
            },
            Limits {
                max_tokens: Some(0),
                ..Limits::default()
            },
        ] {
            assert!(limits.check().is_err());
        }
    }
}
