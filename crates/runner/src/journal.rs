//! The run journal: finished rows are appended to a JSONL file beside the results CSV while a
//! run is in progress, so an interrupted run can resume without asking again for what is done.
//!
//! Line 1 is a header describing the run (module, model, prompt, sampled record ids); each
//! further line is one finished row. A row is durable once its line, newline included, is on
//! disk: a run killed mid-write leaves at most a partial last line, which reading ignores (that
//! row is simply done again).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use core_config::{AtomicFile, ResultRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// What identifies a run, written as the journal's first line. Resuming checks the new
/// invocation against it so a changed prompt or model cannot be mixed into the same results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalHeader {
    /// Journal format version.
    pub journal: u32,
    /// Local id the run will be registered under.
    pub local_id: String,
    /// Module id.
    pub module: String,
    /// Model name.
    pub model: String,
    /// Prompt version.
    pub prompt_version: String,
    /// Hash of the prompt file.
    pub prompt_hash: String,
    /// Dataset path relative to the root.
    pub dataset: String,
    /// The results CSV the run will write, relative to the root.
    pub csv: String,
    /// `--samples`, when given.
    pub samples: Option<usize>,
    /// Sampling seed.
    pub seed: u64,
    /// The records of the run, in order.
    pub record_ids: Vec<String>,
    /// When the run started (ISO 8601, local time).
    pub started_at: String,
}

/// Appends finished rows to a journal.
pub struct JournalWriter {
    path: PathBuf,
    file: File,
}

impl JournalWriter {
    /// Creates a new journal with its header. The header is written to a temporary file and
    /// renamed into place, so the journal never exists without it: a run killed while creating
    /// its journal leaves either nothing or a journal that `--resume` can read. The rename does
    /// not wait for the disk (the first call should not wait for it either); a power cut before
    /// the journal's first sync can leave it without its header, the case below.
    ///
    /// A journal that exists but holds no header (left by a kill during creation, before the
    /// header was written atomically) recorded no progress and is replaced; any other existing
    /// file is refused.
    ///
    /// # Errors
    /// When the file cannot be created or a journal with a header already exists.
    pub fn create(path: &Path, header: &JournalHeader) -> Result<Self> {
        let mut line = serde_json::to_vec(header).map_err(|e| Error::io(path, e.into()))?;
        line.push(b'\n');
        let mut temp = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
        temp.write_all(&line).map_err(|e| Error::io(path, e))?;
        let headerless = path.exists() && Journal::read_header(path)?.is_none();
        // A new journal does not wait for the disk before the first call: a crash before its
        // first sync leaves it without a header at worst, which the next run replaces.
        if headerless {
            temp.commit()
        } else {
            temp.commit_new_unsynced()
        }
        .map_err(|e| Error::io(path, e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Reopens an existing journal to append more rows. A partial last line (from a kill
    /// mid-write) is cut off first so the next row starts on a line of its own.
    ///
    /// # Errors
    /// When the file cannot be opened or truncated.
    pub fn append(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        if keep < bytes.len() {
            file.set_len(keep as u64).map_err(|e| Error::io(path, e))?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one finished row.
    ///
    /// # Errors
    /// When writing fails.
    pub fn write(&mut self, index: usize, row: &ResultRow, error_kind: Option<&str>) -> Result<()> {
        let input = serde_json::value::to_raw_value(&row.input)
            .map_err(|e| Error::io(&self.path, e.into()))?;
        self.write_with_input(index, row, error_kind, &input)
    }

    /// Appends one finished row whose input is given as JSON text (`row.input` is not read):
    /// a caller that has the text already spares serialising the largest field again.
    ///
    /// # Errors
    /// When writing fails.
    pub fn write_with_input(
        &mut self,
        index: usize,
        row: &ResultRow,
        error_kind: Option<&str>,
        input: &RawValue,
    ) -> Result<()> {
        let line = LineOut {
            index,
            record_id: &row.record_id,
            error_kind,
            correct: row.correct,
            error: &row.error,
            asin: &row.asin,
            brand: &row.brand,
            keyword: &row.keyword,
            reasoning: &row.reasoning,
            expected: &row.expected,
            output: &row.output,
            metrics: &row.metrics,
            metadata: &row.metadata,
            input,
        };
        // One write call per line keeps a killed process from interleaving half lines.
        let mut buffer = Vec::with_capacity(input.get().len() + 1024);
        serde_json::to_writer(&mut buffer, &line).map_err(|e| Error::io(&self.path, e.into()))?;
        buffer.push(b'\n');
        self.file
            .write_all(&buffer)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// A second handle on the journal, to flush it to disk in the background while rows go on.
    ///
    /// # Errors
    /// When the handle cannot be duplicated.
    pub fn sync_handle(&self) -> Result<File> {
        self.file.try_clone().map_err(|e| Error::io(&self.path, e))
    }

    /// Flushes the journal to disk.
    ///
    /// # Errors
    /// When syncing fails.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}

/// Error kinds of rows whose call failed for a reason that may pass (the server was away,
/// overloaded or rate limiting after every retry). A run that has such rows keeps its journal so
/// `--resume` asks for exactly those rows again; every other row, answered or failed for good
/// (a parse error, a refusal, a rejected request), counts as done.
pub const TRANSIENT_KINDS: [&str; 4] = ["connection", "server_error", "rate_limited", "timeout"];

/// Whether a row that failed with this error kind is asked again by `--resume`.
#[must_use]
pub fn is_transient(error_kind: Option<&str>) -> bool {
    error_kind.is_some_and(|kind| TRANSIENT_KINDS.contains(&kind))
}

/// A finished row read back from a journal (its `row.input` is null: see [`Journal::parse_row`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRow {
    /// Position of the record in the run's order.
    pub index: usize,
    /// The row.
    pub row: ResultRow,
    /// The error kind when the row could not be scored.
    pub error_kind: Option<String>,
}

impl JournalRow {
    /// Whether the row failed for a transient reason and is asked again on `--resume`.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        is_transient(self.error_kind.as_deref())
    }
}

/// A journal read back: its header and the rows finished so far (the last copy wins if a row
/// appears twice).
#[derive(Debug, Clone)]
pub struct Journal {
    /// The run description.
    pub header: JournalHeader,
    /// Finished rows by record id.
    pub rows: BTreeMap<String, JournalRow>,
}

impl Journal {
    /// Reads a journal, ignoring a partial last line.
    ///
    /// # Errors
    /// When the file cannot be read, has no header, or a complete line is not a valid entry.
    pub fn read(path: &Path) -> Result<Self> {
        Self::read_if_started(path)?.ok_or_else(|| Error::Journal {
            path: path.to_owned(),
            line: 1,
            message: "the journal has no header (the run was killed before it started)".to_owned(),
        })
    }

    /// Reads a journal; `None` when it holds no complete header line (empty, or cut inside the
    /// header by a kill during creation): such a run recorded no progress.
    ///
    /// # Errors
    /// When the file cannot be read, its header is not valid, or a complete line is not a
    /// valid entry.
    pub fn read_if_started(path: &Path) -> Result<Option<Self>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        let mut number = 0;
        let mut header: Option<JournalHeader> = None;
        let mut rows = BTreeMap::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| Error::io(path, e))?;
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            number += 1;
            let bad = |message: String| Error::Journal {
                path: path.to_owned(),
                line: number,
                message,
            };
            if header.is_none() {
                header =
                    Some(serde_json::from_str(&line).map_err(|e| bad(format!("bad header: {e}")))?);
                continue;
            }
            let (row, _) =
                Self::parse_row(&line).ok_or_else(|| bad("not a journal row".to_owned()))?;
            rows.insert(row.row.record_id.clone(), row);
        }
        Ok(header.map(|header| Self { header, rows }))
    }

    /// Whether the journal at `path` has a complete header line (read without the rows).
    ///
    /// # Errors
    /// When the file cannot be read or its first complete line is not a valid header.
    pub fn read_header(path: &Path) -> Result<Option<JournalHeader>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut line = String::new();
        BufReader::new(file)
            .read_line(&mut line)
            .map_err(|e| Error::io(path, e))?;
        if !line.ends_with('\n') {
            return Ok(None);
        }
        serde_json::from_str(&line)
            .map(Some)
            .map_err(|e| Error::Journal {
                path: path.to_owned(),
                line: 1,
                message: format!("bad header: {e}"),
            })
    }

    /// Rows that count as done on `--resume`: answered, or failed for good.
    pub fn done_rows(&self) -> impl Iterator<Item = &JournalRow> {
        self.rows.values().filter(|row| !row.is_transient())
    }
}

/// A journal line as written: the small fields first, the big input last.
#[derive(Serialize)]
struct LineOut<'a> {
    index: usize,
    record_id: &'a str,
    error_kind: Option<&'a str>,
    correct: Option<bool>,
    error: &'a str,
    asin: &'a str,
    brand: &'a str,
    keyword: &'a str,
    reasoning: &'a str,
    expected: &'a Value,
    output: &'a Value,
    metrics: &'a Value,
    metadata: &'a Value,
    input: &'a RawValue,
}

/// A journal line as read. The input, the largest part, stays raw JSON text: writing the results
/// CSV copies it as it is, and resuming does not need it.
#[derive(Deserialize)]
struct LineIn<'a> {
    index: usize,
    record_id: String,
    error_kind: Option<String>,
    correct: Option<bool>,
    #[serde(default)]
    error: String,
    #[serde(default)]
    asin: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    keyword: String,
    #[serde(default)]
    reasoning: String,
    #[serde(default)]
    expected: Value,
    #[serde(default)]
    output: Value,
    #[serde(default)]
    metrics: Value,
    #[serde(default)]
    metadata: Value,
    #[serde(borrow)]
    input: &'a RawValue,
}

/// Just the position and id of a journal line (the rest is skipped, not built).
#[derive(Deserialize)]
pub(crate) struct LineHead {
    pub(crate) index: usize,
    pub(crate) record_id: String,
}

impl Journal {
    /// Parses one row line (not the header). The row's `input` is left null; the input's JSON
    /// text is returned beside it.
    #[must_use]
    pub fn parse_row(line: &str) -> Option<(JournalRow, &str)> {
        let line: LineIn<'_> = serde_json::from_str(line).ok()?;
        let input = line.input.get();
        Some((
            JournalRow {
                index: line.index,
                error_kind: line.error_kind,
                row: ResultRow {
                    record_id: line.record_id,
                    input: Value::Null,
                    output: line.output,
                    expected: line.expected,
                    asin: line.asin,
                    brand: line.brand,
                    keyword: line.keyword,
                    reasoning: line.reasoning,
                    metrics: line.metrics,
                    metadata: line.metadata,
                    correct: line.correct,
                    error: line.error,
                    extra: BTreeMap::new(),
                },
            },
            input,
        ))
    }

    /// The position and id of a row line, read without building the row.
    pub(crate) fn parse_head(line: &str) -> Option<LineHead> {
        serde_json::from_str(line).ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn header() -> JournalHeader {
        JournalHeader {
            journal: 1,
            local_id: "exp_20260101_000000_m12".into(),
            module: "m12".into(),
            model: "gpt-4o-mini".into(),
            prompt_version: "v1".into(),
            prompt_hash: "abcd1234".into(),
            dataset: "datasets/single/m12.jsonl".into(),
            csv: "experiment_results/M12_X/M12_v1_20260101_000000.csv".into(),
            samples: Some(2),
            seed: 42,
            record_ids: vec!["a".into(), "b".into()],
            started_at: "2026-01-01T00:00:00".into(),
        }
    }

    fn row(id: &str) -> ResultRow {
        ResultRow {
            record_id: id.into(),
            input: json!({"keyword": "k"}),
            output: json!({"violates_constraint": false}),
            expected: json!({"relevancy": null}),
            correct: Some(true),
            ..ResultRow::default()
        }
    }

    #[test]
    fn rows_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal.jsonl");
        let mut writer = JournalWriter::create(&path, &header()).unwrap();
        writer.write(0, &row("a"), None).unwrap();
        let mut failed = row("b");
        failed.correct = None;
        failed.error = "invalid_json: expected value".into();
        writer.write(1, &failed, Some("invalid_json")).unwrap();
        let journal = Journal::read(&path).unwrap();
        assert_eq!(journal.header, header());
        assert_eq!(journal.rows.len(), 2);
        assert_eq!(
            journal.rows["a"].row.output,
            json!({"violates_constraint": false})
        );
        assert_eq!(
            journal.rows["b"].error_kind.as_deref(),
            Some("invalid_json")
        );
        assert_eq!(journal.rows["b"].index, 1);
    }

    #[test]
    fn a_partial_last_line_is_ignored_and_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal.jsonl");
        let mut writer = JournalWriter::create(&path, &header()).unwrap();
        writer.write(0, &row("a"), None).unwrap();
        drop(writer);
        // A kill in the middle of writing row b.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"index\": 1, \"record_id\": \"b\", \"inp")
            .unwrap();
        drop(file);
        assert_eq!(Journal::read(&path).unwrap().rows.len(), 1);
        let mut writer = JournalWriter::append(&path).unwrap();
        writer.write(1, &row("b"), None).unwrap();
        let journal = Journal::read(&path).unwrap();
        assert_eq!(journal.rows.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_journal_without_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.journal.jsonl");
        std::fs::write(&path, "").unwrap();
        let err = Journal::read(&path).unwrap_err().to_string();
        assert!(err.contains("the journal has no header"), "{err}");
    }

    #[test]
    fn a_journal_killed_before_its_header_holds_no_progress_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal.jsonl");
        // Killed right after creating the file, and killed inside the header line.
        for leftover in ["", "{\"journal\": 1, \"local_id\": \"exp_"] {
            std::fs::write(&path, leftover).unwrap();
            assert!(Journal::read_if_started(&path).unwrap().is_none());
            assert!(Journal::read_header(&path).unwrap().is_none());
            let mut writer = JournalWriter::create(&path, &header()).unwrap();
            writer.write(0, &row("a"), None).unwrap();
            let journal = Journal::read(&path).unwrap();
            assert_eq!(journal.header, header());
            assert_eq!(journal.rows.len(), 1);
        }
        // A journal with a header is never overwritten.
        assert!(JournalWriter::create(&path, &header()).is_err());
        assert_eq!(Journal::read(&path).unwrap().rows.len(), 1);
    }

    #[test]
    fn the_header_is_on_disk_as_soon_as_the_journal_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal.jsonl");
        let _writer = JournalWriter::create(&path, &header()).unwrap();
        // Nothing but the header, complete with its newline; no temporary file left beside it.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.ends_with('\n'));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn only_transient_failures_are_asked_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal.jsonl");
        let mut writer = JournalWriter::create(&path, &header()).unwrap();
        writer.write(0, &row("a"), None).unwrap();
        for (i, kind) in [
            "connection",
            "server_error",
            "rate_limited",
            "timeout",
            "invalid_json",
            "refusal",
            "bad_request",
        ]
        .into_iter()
        .enumerate()
        {
            let mut failed = row(&format!("f{i}"));
            failed.correct = None;
            failed.error = format!("{kind}: failed");
            writer.write(i + 1, &failed, Some(kind)).unwrap();
        }
        let journal = Journal::read(&path).unwrap();
        let done: Vec<&str> = journal
            .done_rows()
            .map(|r| r.row.record_id.as_str())
            .collect();
        assert_eq!(done, ["a", "f4", "f5", "f6"]);
        // A row asked again and answered replaces its failure.
        writer.write(1, &row("f0"), None).unwrap();
        let journal = Journal::read(&path).unwrap();
        assert_eq!(journal.done_rows().count(), 5);
        assert!(!journal.rows["f0"].is_transient());
    }
}
