//! Dataset records: one JSON object per line, `{"id", "input", "expected", "metadata"}`.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// One dataset record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unique id within its file.
    pub id: String,
    /// Values the prompt placeholders are filled from.
    pub input: Map<String, Value>,
    /// The expected answer (may be empty for unlabeled data).
    pub expected: Map<String, Value>,
    /// Free-form metadata (asin, brand_name, keyword, source, …).
    pub metadata: Map<String, Value>,
    /// 1-based line number in the file it was read from.
    pub line: usize,
}

impl Record {
    /// The record as the JSON object it was read from (without the line number).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("id".to_owned(), Value::String(self.id.clone()));
        object.insert("input".to_owned(), Value::Object(self.input.clone()));
        object.insert("expected".to_owned(), Value::Object(self.expected.clone()));
        object.insert("metadata".to_owned(), Value::Object(self.metadata.clone()));
        Value::Object(object)
    }

    /// A metadata value as text (`""` when absent or null).
    #[must_use]
    pub fn meta_text(&self, key: &str) -> String {
        self.metadata
            .get(key)
            .map(crate::results::cell_text)
            .unwrap_or_default()
    }

    /// An input value as text (`""` when absent or null).
    #[must_use]
    pub fn input_text(&self, key: &str) -> String {
        self.input
            .get(key)
            .map(crate::results::cell_text)
            .unwrap_or_default()
    }

    /// Parses one line's JSON object into a record.
    ///
    /// # Errors
    /// A message saying what is wrong with the line (without file and line, which the caller
    /// adds).
    pub fn from_json(value: Value, line: usize) -> Result<Self, String> {
        let Value::Object(mut object) = value else {
            return Err(format!(
                "a record must be a JSON object, found {}",
                kind_of(&value)
            ));
        };
        let id = match object.remove("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(_)) => return Err("field `id` is empty".to_owned()),
            Some(other) => {
                return Err(format!(
                    "field `id` must be a string, found {}",
                    kind_of(&other)
                ));
            }
            None => {
                return Err(
                    "field `id` is missing (every record needs an id unique within its file)"
                        .to_owned(),
                );
            }
        };
        let mut take_object = |key: &str, required: bool| -> Result<Map<String, Value>, String> {
            match object.remove(key) {
                Some(Value::Object(map)) => Ok(map),
                Some(Value::Null) | None if !required => Ok(Map::new()),
                None => Err(format!("field `{key}` is missing")),
                Some(other) => Err(format!(
                    "field `{key}` must be an object, found {}",
                    kind_of(&other)
                )),
            }
        };
        let input = take_object("input", true)?;
        let expected = take_object("expected", false)?;
        let metadata = take_object("metadata", false)?;
        Ok(Self {
            id,
            input,
            expected,
            metadata,
            line,
        })
    }
}

/// A JSON value's kind, for messages.
#[must_use]
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON error on one line, with the column inside that line (serde counts the trailing
/// newline as a second line, which would be confusing here).
fn json_error_message(error: &serde_json::Error, text: &str) -> String {
    let message = error.to_string();
    let reason = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(reason, _)| reason);
    let column = if error.line() > 1 {
        text.trim_end().chars().count() + 1
    } else {
        error.column()
    };
    format!("invalid JSON at column {column}: {reason}")
}

/// Reads records one line at a time; blank lines are skipped. Each error names the file and
/// line.
pub struct RecordReader<R> {
    path: PathBuf,
    reader: BufReader<R>,
    line: usize,
    buffer: Vec<u8>,
}

impl RecordReader<std::fs::File> {
    /// Opens a dataset file.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::new(path, file))
    }
}

/// Whole lines of a dataset file: bytes `start..end`, where `start` is 0 or follows a line
/// feed and `end` is the file's length or follows one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// Cuts a dataset file into at most `parts` ranges of whole lines, of about equal size, that
/// cover it in order. A record is one line (a JSON string cannot hold a raw line feed), so a
/// range never splits a record. A file smaller than `parts` lines gives fewer ranges.
///
/// # Errors
/// When the file cannot be read.
pub fn line_ranges(path: &Path, parts: usize) -> Result<Vec<LineRange>> {
    let io = |e| Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let parts = u64::try_from(parts.max(1)).unwrap_or(1);
    let mut cuts = vec![0];
    let mut chunk = vec![0; 64 * 1024];
    for k in 1..parts {
        // The cut follows the first line feed at or after the target byte's predecessor.
        let target = (size / parts * k).max(*cuts.last().unwrap_or(&0)).max(1);
        let mut at = target - 1;
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        let cut = loop {
            let n = file.read(&mut chunk).map_err(io)?;
            if n == 0 {
                break size;
            }
            if let Some(i) = memchr::memchr(b'\n', &chunk[..n]) {
                break at + i as u64 + 1;
            }
            at += n as u64;
        };
        if cut < size && cut > *cuts.last().unwrap_or(&0) {
            cuts.push(cut);
        }
    }
    cuts.push(size);
    Ok(cuts
        .windows(2)
        .map(|w| LineRange {
            start: w[0],
            end: w[1],
        })
        .collect())
}

impl RecordReader<std::io::Take<std::fs::File>> {
    /// Opens the records of one range of a dataset file (see [`line_ranges`]). Line numbers
    /// count from the start of the file, so messages read as they would in one pass; the lines
    /// before the range are counted, not parsed.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn open_range(path: &Path, range: LineRange) -> Result<Self> {
        let io = |e| Error::io(path, e);
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut before = 0;
        let mut left = range.start;
        let mut chunk = vec![0; 256 * 1024];
        while left > 0 {
            let want = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
            let n = file.read(&mut chunk[..want]).map_err(io)?;
            if n == 0 {
                break;
            }
            before += memchr::memchr_iter(b'\n', &chunk[..n]).count();
            left -= n as u64;
        }
        file.seek(SeekFrom::Start(range.start)).map_err(io)?;
        let mut reader = Self::new(path, file.take(range.end - range.start));
        reader.line = before;
        Ok(reader)
    }
}

impl<R: Read> RecordReader<R> {
    /// Reads records from any reader; `path` is only used in messages.
    pub fn new(path: &Path, reader: R) -> Self {
        Self {
            path: path.to_owned(),
            reader: BufReader::with_capacity(64 * 1024, reader),
            line: 0,
            buffer: Vec::new(),
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Dataset {
            path: self.path.clone(),
            line: self.line,
            message,
        }
    }

    /// The next record's line (UTF-8, a byte-order mark removed, blank lines skipped) and its
    /// number, or `None` at the end of the file. [`parse_record`] reads it as [`Iterator::next`]
    /// would.
    ///
    /// # Errors
    /// When the line cannot be read or is not UTF-8.
    pub fn next_text(&mut self) -> Option<Result<(usize, &str)>> {
        let text = next_line(
            &mut self.reader,
            &mut self.buffer,
            &mut self.line,
            &self.path,
        )?;
        Some(text.map(|text| (self.line, text)))
    }

    /// The next raw line as parsed JSON, or `None` at the end of the file.
    ///
    /// # Errors
    /// When the line is not UTF-8 or not valid JSON.
    pub fn next_value(&mut self) -> Option<Result<(usize, Value)>> {
        let text = match next_line(
            &mut self.reader,
            &mut self.buffer,
            &mut self.line,
            &self.path,
        )? {
            Ok(text) => text,
            Err(e) => return Some(Err(e)),
        };
        let line = self.line;
        Some(
            crate::json::parse(text)
                .map(|value| (line, value))
                .map_err(|e| Error::Dataset {
                    path: self.path.clone(),
                    line,
                    message: json_error_message(&e, text),
                }),
        )
    }
}

/// Reads the next non-blank line into `buffer`, counting lines in `line`; its text without a
/// byte-order mark.
fn next_line<'b, R: Read>(
    reader: &mut BufReader<R>,
    buffer: &'b mut Vec<u8>,
    line: &mut usize,
    path: &Path,
) -> Option<Result<&'b str>> {
    let start = loop {
        buffer.clear();
        match reader.read_until(b'\n', buffer) {
            Ok(0) => return None,
            Ok(_) => *line += 1,
            Err(e) => return Some(Err(Error::io(path, e))),
        }
        match std::str::from_utf8(buffer) {
            Ok(text) => {
                let start = text.len() - text.strip_prefix('\u{feff}').unwrap_or(text).len();
                if !text[start..].trim().is_empty() {
                    break start;
                }
            }
            Err(e) => {
                return Some(Err(Error::Dataset {
                    path: path.to_owned(),
                    line: *line,
                    message: format!(
                        "not valid UTF-8 (invalid byte at column {})",
                        e.valid_up_to() + 1
                    ),
                }));
            }
        }
    };
    // Checked in the loop; the borrow checker wants the text made again outside it.
    Some(Ok(std::str::from_utf8(&buffer[start..]).unwrap_or_default()))
}

/// Reads a record from its line's text as [`RecordReader`] does (see
/// [`RecordReader::next_text`]); `path` and `line` are only used in messages.
///
/// # Errors
/// When the text is not valid JSON or not a record.
pub fn parse_record(path: &Path, line: usize, text: &str) -> Result<Record> {
    let error = |message| Error::Dataset {
        path: path.to_owned(),
        line,
        message,
    };
    let value = crate::json::parse(text).map_err(|e| error(json_error_message(&e, text)))?;
    Record::from_json(value, line).map_err(error)
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        let (line, value) = match self.next_value()? {
            Ok(pair) => pair,
            Err(e) => return Some(Err(e)),
        };
        Some(Record::from_json(value, line).map_err(|message| self.error(message)))
    }
}

/// Reads a whole dataset, stopping at the first bad line; duplicate ids are an error too.
///
/// # Errors
/// The first problem, naming the file and line.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let mut records: Vec<Record> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for record in RecordReader::open(path)? {
        let record = record?;
        if let Some(first) = seen.insert(record.id.clone(), record.line) {
            return Err(Error::Dataset {
                path: path.to_owned(),
                line: record.line,
                message: format!("duplicate id `{}` (first used on line {first})", record.id),
            });
        }
        records.push(record);
    }
    Ok(records)
}

/// Whether a dataset line is blank (whitespace only, a byte-order mark allowed): the reader
/// skips such lines, so they are not records. Most lines start with `{`, which settles it
/// without looking further.
#[must_use]
pub fn is_blank_line(line: &[u8]) -> bool {
    match line
        .iter()
        .find(|b| !(b.is_ascii() && char::from(**b).is_whitespace()))
    {
        None => true,
        Some(b) if b.is_ascii() => false,
        Some(_) => std::str::from_utf8(line)
            .is_ok_and(|t| t.strip_prefix('\u{feff}').unwrap_or(t).trim().is_empty()),
    }
}

/// The records in a dataset file (its non-blank lines), counted without parsing them.
///
/// # Errors
/// When the file cannot be read.
pub fn count_records(path: &Path) -> std::io::Result<u64> {
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(n);
        }
        if !is_blank_line(&line) {
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Vec<Result<Record>> {
        RecordReader::new(Path::new("d.jsonl"), text).collect()
    }

    #[test]
    fn ranges_cover_the_file_in_whole_lines_and_read_with_the_files_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut text = String::new();
        for i in 0..50 {
            // Lines of varied length, blank lines, and a byte-order mark on the first.
            if i == 0 {
                text.push('\u{feff}');
            }
            let pad = "é".repeat(i * 7 % 23);
            text.push_str(&format!(
                "{{\"id\":\"r{i}\",\"input\":{{\"k\":\"{pad}\"}}}}\n"
            ));
            if i % 9 == 4 {
                text.push_str("  \n");
            }
        }
        std::fs::write(&path, &text).unwrap();
        let whole: Vec<(String, usize)> = RecordReader::open(&path)
            .unwrap()
            .map(|r| r.map(|r| (r.id, r.line)).unwrap())
            .collect();
        assert_eq!(whole.len(), 50);
        for parts in [1, 2, 3, 7, 16, 200] {
            let ranges = line_ranges(&path, parts).unwrap();
            assert!(ranges.len() <= parts, "{parts}: {ranges:?}");
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().unwrap().end, text.len() as u64);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(
                    text.as_bytes()[usize::try_from(pair[1].start).unwrap() - 1],
                    b'\n'
                );
            }
            let joined: Vec<(String, usize)> = ranges
                .iter()
                .flat_map(|&range| RecordReader::open_range(&path, range).unwrap())
                .map(|r| r.map(|r| (r.id, r.line)).unwrap())
                .collect();
            assert_eq!(joined, whole, "{parts} parts");
        }
        // A bad line in a later range is named by its line in the file.
        let bad = text.replacen("{\"id\":\"r40\"", "{\"id\":", 1);
        std::fs::write(&path, &bad).unwrap();
        let one_pass = RecordReader::open(&path)
            .unwrap()
            .find_map(Result::err)
            .unwrap()
            .to_string();
        let ranges = line_ranges(&path, 2).unwrap();
        let in_parts = RecordReader::open_range(&path, ranges[1])
            .unwrap()
            .find_map(Result::err)
            .unwrap()
            .to_string();
        assert_eq!(in_parts, one_pass);
        assert!(one_pass.contains(":45:"), "{one_pass}");
    }

    #[test]
    fn an_empty_file_is_one_empty_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, "").unwrap();
        assert_eq!(
            line_ranges(&path, 4).unwrap(),
            vec![LineRange { start: 0, end: 0 }]
        );
        assert_eq!(
            RecordReader::open_range(&path, LineRange { start: 0, end: 0 })
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn reads_records_and_skips_blank_lines() {
        let records = read(b"{\"id\":\"a\",\"input\":{\"keyword\":\"x\"},\"expected\":{\"relevancy\":null}}\n\n{\"id\":7,\"input\":{}}\n");
        assert_eq!(records.len(), 2);
        let second = records[1].as_ref().unwrap();
        assert_eq!(second.id, "7");
        assert_eq!(second.line, 3);
        assert!(second.expected.is_empty());
    }

    #[test]
    fn bad_json_names_file_and_line() {
        let records = read(b"{\"id\":\"a\",\"input\":{}}\n{\"id\": \"b\", \"input\": {\n");
        let err = records[1].as_ref().unwrap_err().to_string();
        assert_eq!(
            err,
            "d.jsonl:2: invalid JSON at column 23: EOF while parsing an object"
        );
    }

    #[test]
    fn shape_errors_are_specific() {
        for (line, want) in [
            (
                &b"[1,2]"[..],
                "d.jsonl:1: a record must be a JSON object, found an array",
            ),
            (
                b"{\"input\":{}}",
                "d.jsonl:1: field `id` is missing (every record needs an id unique within its file)",
            ),
            (
                b"{\"id\":\"\",\"input\":{}}",
                "d.jsonl:1: field `id` is empty",
            ),
            (b"{\"id\":\"a\"}", "d.jsonl:1: field `input` is missing"),
            (
                b"{\"id\":\"a\",\"input\":\"x\"}",
                "d.jsonl:1: field `input` must be an object, found a string",
            ),
        ] {
            let err = read(line)[0].as_ref().unwrap_err().to_string();
            assert_eq!(err, want);
        }
    }

    #[test]
    fn non_utf8_is_reported_with_its_line() {
        let err = read(b"{\"id\":\"a\",\"input\":{}}\n{\"id\":\"\xff\"}\n")[1]
            .as_ref()
            .unwrap_err()
            .to_string();
        assert_eq!(err, "d.jsonl:2: not valid UTF-8 (invalid byte at column 8)");
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"input\":{}}\n{\"id\":\"a\",\"input\":{}}\n",
        )
        .unwrap();
        let err = read_records(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("d.jsonl:2: duplicate id `a` (first used on line 1)"),
            "{err}"
        );
    }

    #[test]
    fn records_are_the_non_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, "{\"a\":1}\n\n  \n\u{feff}\n{\"a\":2}").unwrap();
        assert_eq!(count_records(&path).unwrap(), 2);
        assert!(is_blank_line(b" \t\r\n"));
        assert!(!is_blank_line(b"{}"));
        assert!(count_records(&dir.path().join("missing.jsonl")).is_err());
    }
}
