//! The results CSV: one row per dataset record of a run, in the earlier tool's column layout
//! (`name, input, output, expected, ASIN, Brand, Keyword`, the module's own columns,
//! `Reasoning, metrics, metadata`) plus `record_id, correct, error`.
//!
//! The reader also accepts result CSVs the earlier tool wrote (without the last three columns).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::atomic::AtomicFile;
use crate::catalog::ModuleSpec;
use crate::error::{Error, Result};
use crate::fieldpath::Root;

/// Columns before the module's own.
pub const LEADING_COLUMNS: [&str; 7] = [
    "name", "input", "output", "expected", "ASIN", "Brand", "Keyword",
];
/// Columns after the module's own.
pub const TRAILING_COLUMNS: [&str; 6] = [
    "Reasoning",
    "metrics",
    "metadata",
    "record_id",
    "correct",
    "error",
];

/// One row of a results CSV.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultRow {
    /// The dataset record's id.
    pub record_id: String,
    /// The record's input.
    pub input: Value,
    /// The model's parsed answer (or `{"raw_output": …}` when it did not parse).
    pub output: Value,
    /// The record's expected answer.
    pub expected: Value,
    /// Product ASIN.
    pub asin: String,
    /// Brand name.
    pub brand: String,
    /// Keyword (keyword-level modules).
    pub keyword: String,
    /// The model's reasoning, if it gave one.
    pub reasoning: String,
    /// Per-call metrics (tokens, cost, duration, cache hit, …).
    pub metrics: Value,
    /// Record metadata plus run details.
    pub metadata: Value,
    /// Whether the answer was right; `None` when the row errored (or an old file lacks it).
    pub correct: Option<bool>,
    /// Why the row could not be scored (empty when it was scored).
    pub error: String,
    /// Columns not in the fixed layout (the module's own columns when reading).
    pub extra: BTreeMap<String, String>,
}

impl ResultRow {
    /// The object a field-path root refers to in this row (null when it is not an object).
    #[must_use]
    pub fn root(&self, root: Root) -> Option<&Map<String, Value>> {
        match root {
            Root::Input => self.input.as_object(),
            Root::Expected => self.expected.as_object(),
            Root::Output => self.output.as_object(),
            Root::Metadata => self.metadata.as_object(),
        }
    }
}

/// A JSON value as a CSV cell: strings as they are, null as empty, everything else as JSON.
#[must_use]
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

/// The model's reasoning: `output.reasoning`, else the first `reasoning` found in a nested step.
#[must_use]
pub fn reasoning_of(output: &Value) -> String {
    fn find(value: &Value) -> Option<&str> {
        let object = value.as_object()?;
        if let Some(Value::String(s)) = object.get("reasoning") {
            return Some(s);
        }
        object.values().find_map(find)
    }
    find(output).unwrap_or_default().to_owned()
}

/// The headers of a module's results CSV.
#[must_use]
pub fn headers(module: &ModuleSpec) -> Vec<String> {
    LEADING_COLUMNS
        .iter()
        .map(|s| (*s).to_owned())
        .chain(module.results_columns.iter().map(|c| c.name.clone()))
        .chain(TRAILING_COLUMNS.iter().map(|s| (*s).to_owned()))
        .collect()
}

/// Writes a results CSV atomically: rows go to a temporary file that replaces the target only
/// when [`ResultsWriter::finish`] succeeds.
pub struct ResultsWriter {
    csv: csv::Writer<AtomicFile>,
    module: ModuleSpec,
}

impl ResultsWriter {
    /// Starts a results file for `module` at `path`.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path, module: &ModuleSpec) -> Result<Self> {
        let file = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
        let mut csv = csv::WriterBuilder::new().from_writer(file);
        csv.write_record(headers(module))
            .map_err(|e| Error::io(path, e.into()))?;
        Ok(Self {
            csv,
            module: module.clone(),
        })
    }

    /// Appends one row.
    ///
    /// # Errors
    /// When writing fails.
    pub fn write(&mut self, row: &ResultRow) -> io::Result<()> {
        let fields = row_fields(&self.module, row);
        self.csv.write_record(&fields).map_err(io::Error::from)
    }

    /// Appends one row whose input is given as JSON text (compact, as `Value::to_string` writes
    /// it): the text goes into the `input` column as it is, which spares serialising the largest
    /// column again (or parsing and re-serialising it). A row that still holds its input in
    /// `row.input` gives the module's input columns from there; a row whose `row.input` is null
    /// has them read from the text.
    ///
    /// # Errors
    /// When writing fails, or `input_json` is not JSON while a module column needs to read it.
    pub fn write_with_input_json(&mut self, row: &ResultRow, input_json: &str) -> io::Result<()> {
        let reads_input = self
            .module
            .results_columns
            .iter()
            .any(|c| c.from.root() == Root::Input);
        let fields = if reads_input && row.input.is_null() {
            let mut full = row.clone();
            full.input = serde_json::from_str(input_json).map_err(io::Error::other)?;
            fields_with_input(&self.module, &full, input_json.to_owned())
        } else {
            fields_with_input(&self.module, row, input_json.to_owned())
        };
        self.csv.write_record(&fields).map_err(io::Error::from)
    }

    /// A handle on the file being written, to flush what is written so far to disk while the
    /// rows go on (see [`AtomicFile::sync_handle`]); rows still in the writer's buffer are not
    /// covered.
    ///
    /// # Errors
    /// When the handle cannot be duplicated.
    pub fn sync_handle(&self) -> io::Result<std::fs::File> {
        self.csv.get_ref().sync_handle()
    }

    /// Flushes and moves the file into place.
    ///
    /// # Errors
    /// When flushing or renaming fails; the target is then untouched.
    pub fn finish(self) -> io::Result<PathBuf> {
        let file = self
            .csv
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        file.commit()
    }
}

/// The cells of one row, in [`headers`] order.
#[must_use]
pub fn row_fields(module: &ModuleSpec, row: &ResultRow) -> Vec<String> {
    fields_with_input(module, row, row.input.to_string())
}

/// The cells of one row with the `input` cell given as text.
fn fields_with_input(module: &ModuleSpec, row: &ResultRow, input: String) -> Vec<String> {
    let mut fields = Vec::with_capacity(
        LEADING_COLUMNS.len() + module.results_columns.len() + TRAILING_COLUMNS.len(),
    );
    fields.push("eval".to_owned());
    fields.push(input);
    fields.push(row.output.to_string());
    fields.push(row.expected.to_string());
    fields.push(row.asin.clone());
    fields.push(row.brand.clone());
    fields.push(row.keyword.clone());
    for column in &module.results_columns {
        let value = row
            .root(column.from.root())
            .and_then(|object| column.from.lookup(object));
        fields.push(value.map(cell_text).unwrap_or_default());
    }
    fields.push(row.reasoning.clone());
    fields.push(row.metrics.to_string());
    fields.push(row.metadata.to_string());
    fields.push(row.record_id.clone());
    fields.push(match row.correct {
        Some(true) => "true".to_owned(),
        Some(false) => "false".to_owned(),
        None => String::new(),
    });
    fields.push(row.error.clone());
    fields
}

/// Parses a JSON column leniently: empty is `{}`, text that is not JSON is `{"raw": text}`.
#[must_use]
pub fn parse_json_cell(text: &str) -> Value {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(trimmed).unwrap_or_else(|_| {
        let mut raw = Map::new();
        raw.insert("raw".to_owned(), Value::String(text.to_owned()));
        Value::Object(raw)
    })
}

/// Reads a results CSV (ours or the earlier tool's).
///
/// # Errors
/// When the file cannot be read, is not CSV, or lacks the `input`/`output`/`expected` columns.
pub fn read_results(path: &Path) -> Result<Vec<ResultRow>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(QuoteWatch {
            inner: strip_bom(file),
            quoting: CsvQuoting::new(b','),
            lines: LineCounter::default(),
        });
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(e) => return Err(csv_error(path, &e, &mut reader.get_mut().lines, None)),
    };
    let index = |name: &str| headers.iter().position(|h| h.trim() == name);
    for required in ["input", "output", "expected"] {
        if index(required).is_none() {
            return Err(Error::Csv {
                path: path.to_owned(),
                line: 1,
                message: format!("not a results CSV: column `{required}` is missing"),
            });
        }
    }
    let fixed: Vec<&str> = LEADING_COLUMNS
        .iter()
        .chain(TRAILING_COLUMNS.iter())
        .copied()
        .collect();
    let mut rows = Vec::new();
    let mut last_line = 1;
    let mut record = csv::StringRecord::new();
    for i in 0.. {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(csv_error(
                    path,
                    &e,
                    &mut reader.get_mut().lines,
                    Some(&headers),
                ));
            }
        }
        // The csv crate's own line numbers drift on CRLF files and after blank lines; count
        // line breaks in the bytes instead.
        if let Some(position) = record.position() {
            last_line = reader.get_mut().lines.line_at(position.byte());
        }
        let get = |name: &str| index(name).and_then(|i| record.get(i)).unwrap_or_default();
        let correct = match get("correct").trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        };
        let metadata = parse_json_cell(get("metadata"));
        let record_id = match get("record_id") {
            "" => metadata
                .get("record_id")
                .or_else(|| metadata.get("id"))
                .map(cell_text)
                .unwrap_or_else(|| format!("row{}", i + 1)),
            id => id.to_owned(),
        };
        let extra = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| !fixed.contains(&h.trim()))
            .map(|(j, h)| (h.to_owned(), record.get(j).unwrap_or_default().to_owned()))
            .collect();
        rows.push(ResultRow {
            record_id,
            input: parse_json_cell(get("input")),
            output: parse_json_cell(get("output")),
            expected: parse_json_cell(get("expected")),
            asin: get("ASIN").to_owned(),
            brand: get("Brand").to_owned(),
            keyword: get("Keyword").to_owned(),
            reasoning: get("Reasoning").to_owned(),
            metrics: parse_json_cell(get("metrics")),
            metadata,
            correct,
            error: get("error").to_owned(),
            extra,
        });
    }
    if reader.get_ref().quoting.inside_quotes() {
        return Err(Error::Csv {
            path: path.to_owned(),
            line: last_line,
            message: CsvQuoting::CUT_OFF.to_owned(),
        });
    }
    Ok(rows)
}

/// Follows the quoting of a CSV byte stream the way the `csv` crate reads it (a field is quoted
/// when its first byte is `"`; `""` inside is a quote), so a reader can tell whether its input
/// stopped inside a quoted cell. The `csv` crate accepts such a cell as complete, which turns a
/// file cut off by a crash or an interrupted copy into plausible, silently shortened data.
#[derive(Debug, Clone, Copy)]
pub struct CsvQuoting {
    delimiter: u8,
    state: Quoting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

impl CsvQuoting {
    /// What to tell the user about a file that ends inside a quoted cell.
    pub const CUT_OFF: &'static str = "the file ends inside a quoted cell that starts on this line: it was cut off (a crash or an interrupted copy?); restore or regenerate it";

    /// A tracker for a stream with this separator, at the start of the stream.
    #[must_use]
    pub fn new(delimiter: u8) -> Self {
        Self {
            delimiter,
            state: Quoting::FieldStart,
        }
    }

    /// Follows the next bytes of the stream. Quoted and unquoted cells are skipped with
    /// `memchr` (vectorised), so only the bytes where the state can change are looked at.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            if self.state == Quoting::Quoted {
                // Most bytes of a quoted cell: skip to its next quote at once (most cells are
                // short, and a short scan is cheaper than setting up `memchr`).
                let short = rest.len().min(16);
                let found = match rest[..short].iter().position(|&c| c == b'"') {
                    Some(i) => Some(i),
                    None => memchr::memchr(b'"', &rest[short..]).map(|i| i + short),
                };
                match found {
                    Some(i) => {
                        rest = &rest[i + 1..];
                        self.state = Quoting::QuoteInQuoted;
                        continue;
                    }
                    None => return,
                }
            }
            rest = tail;
            self.state = match self.state {
                Quoting::QuoteInQuoted if b == b'"' => Quoting::Quoted,
                Quoting::FieldStart if b == b'"' => Quoting::Quoted,
                _ if b == self.delimiter || b == b'\n' || b == b'\r' => Quoting::FieldStart,
                _ => Quoting::Unquoted,
            };
            if self.state == Quoting::Unquoted {
                // Nothing changes inside an unquoted cell (a quote there is a plain byte).
                let short = rest.len().min(16);
                let stop = |c: &u8| *c == self.delimiter || *c == b'\n' || *c == b'\r';
                let found = match rest[..short].iter().position(stop) {
                    Some(i) => Some(i),
                    None => memchr::memchr3(self.delimiter, b'\n', b'\r', &rest[short..])
                        .map(|i| i + short),
                };
                match found {
                    Some(i) => rest = &rest[i..],
                    None => return,
                }
            }
        }
    }

    /// Whether the bytes so far stop inside a quoted cell.
    #[must_use]
    pub fn inside_quotes(&self) -> bool {
        self.state == Quoting::Quoted
    }

    /// Follows `bytes` up to the end of the current record: a line feed outside quotes. Returns
    /// the index just past that line feed (where the next record starts), or `None` when no
    /// record ends in `bytes` (all of them have then been followed). A line feed inside a quoted
    /// cell never ends a record, so a file can be cut there into pieces of whole records.
    pub fn feed_to_record_end(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            let outside = self.state != Quoting::Quoted;
            self.feed(std::slice::from_ref(&b));
            if b == b'\n' && outside {
                return Some(i + 1);
            }
        }
        None
    }
}

/// A byte range of a CSV file that holds whole records, so that one file can be read by several
/// threads at once (see [`split_records`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvPart {
    /// Offset of the range's first byte: 0 for the first part (which holds the header), else
    /// the first byte of a record.
    pub start: u64,
    /// Offset just past the range's last byte.
    pub end: u64,
    /// Line feeds before `start`, so that rows keep the line numbers of the whole file.
    pub lines_before: u64,
}

/// Cuts a CSV file separated by `delimiter` into at most `parts` byte ranges of about equal
/// size, each made of whole records. The cuts follow the quoting the way the `csv` crate reads
/// it ([`CsvQuoting`]), so a line feed inside a quoted cell (a reasoning on several lines, say)
/// never cuts a record. One sequential pass over the bytes before the last cut, without
/// parsing. A file of one record (or none) is one part; an empty file, none.
///
/// # Errors
/// When the file cannot be read.
pub fn split_records(path: &Path, delimiter: u8, parts: usize) -> io::Result<Vec<CsvPart>> {
    let size = std::fs::metadata(path)?.len();
    let mut cuts: Vec<(u64, u64)> = Vec::new();
    cut_records(path, delimiter, parts, |_, cut| cuts.extend(cut))?;
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = (0, 0);
    for cut in cuts.into_iter().chain([(size, 0)]) {
        if cut.0 > start.0 {
            out.push(CsvPart {
                start: start.0,
                end: cut.0,
                lines_before: start.1,
            });
            start = cut;
        }
    }
    Ok(out)
}

/// The cuts of [`split_records`] as they are found, so that the parts can be read while the
/// rest of the file is still being cut: `found(k, cut)` is called once for each `k` in
/// `1..parts`, in order, with the offset of the first record at or after `k/parts` of the file
/// and the line feeds before it, or `None` when no record starts there (the file ends first).
/// Every `k` is answered, also when reading fails (then with `None`, before the error returns).
///
/// # Errors
/// When the file cannot be read.
pub fn cut_records(
    path: &Path,
    delimiter: u8,
    parts: usize,
    mut found: impl FnMut(usize, Option<(u64, u64)>),
) -> io::Result<()> {
    let parts = parts.max(1);
    let mut next = 1;
    let result = cut_records_into(path, delimiter, parts, &mut |cut| {
        found(next, Some(cut));
        next += 1;
    });
    for k in next..parts {
        found(k, None);
    }
    result
}

fn cut_records_into(
    path: &Path,
    delimiter: u8,
    parts: usize,
    found: &mut dyn FnMut((u64, u64)),
) -> io::Result<()> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let parts = u64::try_from(parts).unwrap_or(1);
    let mut quoting = CsvQuoting::new(delimiter);
    let mut lines = 0u64;
    let mut offset = 0u64;
    let mut buffer = vec![0u8; 1 << 20];
    let mut next = 1;
    'read: while next < parts {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        let mut bytes = &buffer[..n];
        while next < parts && !bytes.is_empty() {
            let target = size * next / parts;
            let here = offset + bytes.len() as u64;
            let follow = if target > offset {
                // Up to the target: only the quoting and the line feeds.
                let upto = usize::try_from((target - offset).min(bytes.len() as u64))
                    .unwrap_or(bytes.len());
                quoting.feed(&bytes[..upto]);
                lines += memchr::memchr_iter(b'\n', &bytes[..upto]).count() as u64;
                offset += upto as u64;
                bytes = &bytes[upto..];
                if offset < target {
                    continue 'read;
                }
                bytes
            } else {
                bytes
            };
            match quoting.feed_to_record_end(follow) {
                Some(past) => {
                    lines += memchr::memchr_iter(b'\n', &follow[..past]).count() as u64;
                    offset += past as u64;
                    bytes = &follow[past..];
                    if offset >= size {
                        return Ok(());
                    }
                    found((offset, lines));
                    next += 1;
                }
                None => {
                    lines += memchr::memchr_iter(b'\n', follow).count() as u64;
                    offset = here;
                    continue 'read;
                }
            }
        }
    }
    Ok(())
}

/// A reader that follows the quoting and the line breaks of everything read through it.
struct QuoteWatch<R> {
    inner: R,
    quoting: CsvQuoting,
    lines: LineCounter,
}

impl<R: io::Read> io::Read for QuoteWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.quoting.feed(&buf[..n]);
        self.lines.feed(&buf[..n]);
        Ok(n)
    }
}

/// Turns the byte offsets the `csv` crate gives for records into the line numbers an editor
/// shows. `\r\n`, a lone `\n` and a lone `\r` each end one line. The csv crate puts a record's
/// start at the line break (or the blank lines) before it, so a stretch of line breaks that
/// begins at or before the offset is counted whole.
///
/// Offsets are asked for in increasing order, so only the stretches read ahead of the csv
/// parser are held.
#[derive(Debug, Default)]
pub struct LineCounter {
    /// Bytes fed so far.
    offset: u64,
    /// Whether the last byte fed was `\r` (a `\n` after it ends no further line).
    after_cr: bool,
    /// Finished stretches of line breaks not counted yet: (offset of the first byte, breaks).
    stretches: std::collections::VecDeque<(u64, u64)>,
    /// The stretch being read, when the last byte fed was a line break.
    open: Option<(u64, u64)>,
    /// Line breaks counted so far.
    counted: u64,
}

impl LineCounter {
    /// Follows the next bytes of the stream (only its line breaks are looked at).
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut next = 0;
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            if i > next {
                self.end_stretch();
            }
            let b = bytes[i];
            let ends_line = b == b'\r' || !self.after_cr;
            let stretch = self.open.get_or_insert((self.offset + i as u64, 0));
            if ends_line {
                stretch.1 += 1;
            }
            self.after_cr = b == b'\r';
            next = i + 1;
        }
        if bytes.len() > next {
            self.end_stretch();
        }
        self.offset += bytes.len() as u64;
    }

    /// Moves the stretches of line breaks that are complete (a byte that is not a break came
    /// after them) into `other`, which must be a counter that is only fed this way. Lets one
    /// thread follow the bytes while another asks for lines.
    pub fn hand_over(&mut self, other: &mut Self) {
        other.stretches.append(&mut self.stretches);
    }

    /// The input is over: the last stretch of line breaks is complete too.
    pub fn finish(&mut self) {
        if let Some(stretch) = self.open.take() {
            self.stretches.push_back(stretch);
        }
    }

    /// A byte that is not a line break: the stretch of breaks before it is over.
    fn end_stretch(&mut self) {
        if let Some(stretch) = self.open.take() {
            self.stretches.push_back(stretch);
        }
        self.after_cr = false;
    }

    /// The 1-based line of the record the csv crate places at `byte`. Offsets must be asked
    /// for in increasing order.
    #[must_use]
    pub fn line_at(&mut self, byte: u64) -> u64 {
        while let Some(&(start, breaks)) = self.stretches.front() {
            if start > byte {
                break;
            }
            self.counted += breaks;
            self.stretches.pop_front();
        }
        if let Some((start, breaks)) = self.open.as_mut()
            && *start <= byte
        {
            self.counted += *breaks;
            *breaks = 0;
        }
        self.counted + 1
    }
}

/// A csv error with our line number; the csv crate's own message repeats its line number, which
/// drifts on CRLF files, so the usual cases are put in words here.
fn csv_error(
    path: &Path,
    e: &csv::Error,
    lines: &mut LineCounter,
    headers: Option<&csv::StringRecord>,
) -> Error {
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            let field = err.field();
            let column = headers.and_then(|h| h.get(field)).map_or_else(
                || format!("field {}", field + 1),
                |h| format!("column `{h}`"),
            );
            format!("{column}: the cell is not valid UTF-8 (save the file as UTF-8)")
        }
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    };
    Error::Csv {
        path: path.to_owned(),
        line: e.position().map_or(0, |p| lines.line_at(p.byte())),
        message,
    }
}

/// A reader that skips a leading UTF-8 byte-order mark.
pub fn strip_bom<R: io::Read>(reader: R) -> impl io::Read {
    BomSkipper {
        inner: reader,
        checked: false,
        pending: Vec::new(),
    }
}

struct BomSkipper<R> {
    inner: R,
    checked: bool,
    pending: Vec<u8>,
}

impl<R: io::Read> io::Read for BomSkipper<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.checked {
            self.checked = true;
            let mut head = [0u8; 3];
            let mut filled = 0;
            while filled < 3 {
                let n = self.inner.read(&mut head[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if head[..filled] != [0xEF, 0xBB, 0xBF] {
                self.pending.extend_from_slice(&head[..filled]);
            }
        }
        if !self.pending.is_empty() {
            let n = self.pending.len().min(buf.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Writes `rows` for `module` to `path` atomically (a convenience over [`ResultsWriter`]).
///
/// # Errors
/// When the file cannot be written.
pub fn write_results(path: &Path, module: &ModuleSpec, rows: &[ResultRow]) -> Result<PathBuf> {
    let mut writer = ResultsWriter::create(path, module)?;
    for row in rows {
        writer.write(row).map_err(|e| Error::io(path, e))?;
    }
    writer.finish().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use serde_json::json;

    use super::*;
    use crate::catalog::Catalog;

    fn m12() -> ModuleSpec {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules.toml"))
                .unwrap();
        let catalog = Catalog::parse(&text, Path::new("/p/modules.toml")).unwrap();
        catalog.resolve("m12").unwrap().clone()
    }

    #[test]
    fn parts_are_whole_records_whatever_the_cells_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut text = String::from("id;note\r\n");
        for i in 0..200 {
            text.push_str(&format!(
                "{i};\"a \"\"quoted\"\"\nline;{}\"\r\n",
                "x".repeat(i % 13)
            ));
        }
        std::fs::write(&path, &text).unwrap();
        let bytes = text.as_bytes();
        let records = |b: &[u8]| {
            csv::ReaderBuilder::new()
                .delimiter(b';')
                .has_headers(false)
                .from_reader(b)
                .records()
                .map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        let whole = records(bytes);
        for n in [1, 2, 5, 1000] {
            let parts = split_records(&path, b';', n).unwrap();
            assert!(!parts.is_empty() && parts.len() <= n);
            assert_eq!(
                (parts[0].start, parts.last().unwrap().end),
                (0, bytes.len() as u64)
            );
            let mut got = Vec::new();
            for p in &parts {
                let piece = &bytes[p.start as usize..p.end as usize];
                let before = bytes[..p.start as usize]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                assert_eq!(p.lines_before, before as u64);
                got.extend(records(piece));
            }
            assert_eq!(got, whole, "{n} parts");
        }
        std::fs::write(&path, "").unwrap();
        assert!(split_records(&path, b',', 4).unwrap().is_empty());
    }

    #[test]
    fn a_record_ends_at_a_line_feed_outside_quotes() {
        let end = |before: &str, text: &str| {
            let mut q = CsvQuoting::new(b',');
            q.feed(before.as_bytes());
            q.feed_to_record_end(text.as_bytes())
        };
        assert_eq!(end("", "a,b\nc,d\n"), Some(4));
        assert_eq!(end("", "a,\"b\nc\",d\ne"), Some(10), "a quoted line feed");
        assert_eq!(end("x,\"open", " cell\nstill\",z\r\nnext"), Some(16));
        assert_eq!(end("", "a,\"say \"\"hi\n\"\"\"\nz"), Some(16));
        assert_eq!(end("", "a,\"never closed\n"), None);
        assert_eq!(end("", "no line feed"), None);
        // A quote inside an unquoted cell is a plain byte.
        assert_eq!(end("", "ab\"c,d\ne"), Some(7));
    }

    #[test]
    fn quoting_follows_the_csv_rules() {
        let state = |text: &str| {
            let mut q = CsvQuoting::new(b',');
            q.feed(text.as_bytes());
            q.inside_quotes()
        };
        assert!(!state("a,\"b,c\"\n\"x\"\"y\",z"));
        assert!(state("a,\"b,c"));
        assert!(state("a,\"line one\nline two"));
        assert!(
            state("a,\"say \"\"hi\"\""),
            "an escaped quote does not close the cell"
        );
        assert!(
            !state("a,5\" screen,b"),
            "a quote inside an unquoted cell is text"
        );
        // Fed in pieces, as a reader sees it.
        let mut q = CsvQuoting::new(b';');
        for piece in ["a;\"", "b;c\"", "\"", "d\";e\r\n"] {
            q.feed(piece.as_bytes());
        }
        assert!(!q.inside_quotes());
    }

    #[test]
    fn a_results_file_cut_inside_a_cell_is_refused_with_its_line() {
        let module = m12();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("M12/out.csv");
        let row = |id: &str| ResultRow {
            record_id: id.into(),
            input: json!({"keyword": "k", "title": "a title"}),
            output: json!({"violates_constraint": false}),
            expected: json!({"relevancy": "N"}),
            correct: Some(true),
            ..ResultRow::default()
        };
        write_results(&path, &module, &[row("a"), row("b")]).unwrap();
        assert_eq!(read_results(&path).unwrap().len(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let cut = text.rfind("a title").unwrap();
        std::fs::write(&path, &text[..cut]).unwrap();
        let err = read_results(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(&format!("out.csv:3: {}", CsvQuoting::CUT_OFF)),
            "{err}"
        );
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/results")
            .join(name)
    }

    #[test]
    fn a_bad_cell_in_a_crlf_file_is_reported_on_its_line() {
        // CRLF line ends, two multi-line reasoning cells, and a Latin-1 keyword on line 6.
        let path = fixture("M12_results_crlf_bad_cell.csv");
        let err = read_results(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "M12_results_crlf_bad_cell.csv:6: column `Keyword`: the cell is not valid UTF-8 (save the file as UTF-8)"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_crlf_file_cut_inside_a_cell_is_refused_with_its_line() {
        let text = std::fs::read(fixture("M12_results_crlf_bad_cell.csv")).unwrap();
        let text = String::from_utf8_lossy(&text).into_owned();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.csv");
        // Cut inside the second multi-line cell, which starts on line 4.
        let cut = text.find("No constraint is broken").unwrap();
        std::fs::write(&path, &text[..cut]).unwrap();
        let err = read_results(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(&format!("cut.csv:4: {}", CsvQuoting::CUT_OFF)),
            "{err}"
        );
    }

    #[test]
    fn line_breaks_are_counted_the_way_editors_count_them() {
        // Record starts as the csv crate reports them (byte offsets), for LF, CRLF, CR and
        // blank lines.
        for (text, expected) in [
            (&b"a,b\n1,\"x\ny\"\n2,z\n\n\n3,w\n"[..], vec![2, 4, 7]),
            (
                &b"a,b\r\n1,\"x\r\ny\"\r\n2,z\r\n\r\n\r\n3,w\r\n"[..],
                vec![2, 4, 7],
            ),
            (&b"a,b\r1,2\r3,4\r"[..], vec![2, 3]),
        ] {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(QuoteWatch {
                    inner: text,
                    quoting: CsvQuoting::new(b','),
                    lines: LineCounter::default(),
                });
            let mut record = csv::StringRecord::new();
            let mut lines = Vec::new();
            while reader.read_record(&mut record).unwrap() {
                let byte = record.position().unwrap().byte();
                lines.push(reader.get_mut().lines.line_at(byte));
            }
            assert_eq!(lines, expected, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn round_trips_a_row_with_the_module_columns() {
        let module = m12();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("M12/out.csv");
        let row = ResultRow {
            record_id: "M12_B0X__oven mitt".into(),
            input: json!({"keyword": "oven mitt, \"large\"", "title": "Mitt\nline two"}),
            output: json!({"violates_constraint": false, "relevancy": null, "reasoning": "fine"}),
            expected: json!({"relevancy": "N"}),
            asin: "B0X".into(),
            brand: "KitchenAid".into(),
            keyword: "oven mitt, \"large\"".into(),
            reasoning: "fine".into(),
            metrics: json!({"prompt_tokens": 10}),
            metadata: json!({"asin": "B0X"}),
            correct: Some(false),
            error: String::new(),
            extra: BTreeMap::new(),
        };
        write_results(&path, &module, std::slice::from_ref(&row)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("name,input,output,expected,ASIN,Brand,Keyword,Expected_Output,output_HC,Reasoning,metrics,metadata,record_id,correct,error\n"), "{text}");
        let back = read_results(&path).unwrap();
        assert_eq!(back.len(), 1);
        let mut expected = row;
        expected.extra = BTreeMap::from([
            ("Expected_Output".into(), "N".into()),
            ("output_HC".into(), String::new()),
        ]);
        assert_eq!(back[0], expected);
    }

    #[test]
    fn input_given_as_json_text_is_written_as_is() {
        let module = m12();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        let row = ResultRow {
            record_id: "r1".into(),
            input: json!({"keyword": "k", "n": [1, 2]}),
            output: json!({"violates_constraint": true, "relevancy": "N"}),
            expected: json!({"relevancy": "N"}),
            correct: Some(true),
            ..ResultRow::default()
        };
        write_results(&a, &module, std::slice::from_ref(&row)).unwrap();
        let mut writer = ResultsWriter::create(&b, &module).unwrap();
        let text = row.input.to_string();
        let row_input = row.input.clone();
        let without = ResultRow {
            input: Value::Null,
            ..row
        };
        writer.write_with_input_json(&without, &text).unwrap();
        writer.finish().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

        // A row that keeps its input gives the same file from the same text.
        let (c, kept) = (
            dir.path().join("c.csv"),
            ResultRow {
                input: row_input,
                ..without
            },
        );
        let mut writer = ResultsWriter::create(&c, &module).unwrap();
        writer.write_with_input_json(&kept, &text).unwrap();
        writer.finish().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    }

    #[test]
    fn reads_the_earlier_tools_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.csv");
        std::fs::write(
            &path,
            "\u{feff}name,input,output,expected,ASIN,Brand,Keyword,Expected_Output,output_HC,Reasoning,metrics,metadata\n\
             eval,\"{\"\"keyword\"\": \"\"k\"\"}\",not json,,B1,Br,k,N,N,r,{},\"{\"\"asin\"\": \"\"B1\"\"}\"\n",
        )
        .unwrap();
        let rows = read_results(&path).unwrap();
        assert_eq!(rows[0].record_id, "row1");
        assert_eq!(rows[0].output, json!({"raw": "not json"}));
        assert_eq!(rows[0].expected, json!({}));
        assert_eq!(rows[0].correct, None);
        assert_eq!(rows[0].extra["Expected_Output"], "N");
    }

    #[test]
    fn rejects_files_that_are_not_results() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let err = read_results(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("x.csv:1: not a results CSV: column `input` is missing"),
            "{err}"
        );
    }

    #[test]
    fn reasoning_falls_back_to_nested_steps() {
        assert_eq!(reasoning_of(&json!({"reasoning": "top"})), "top");
        assert_eq!(
            reasoning_of(&json!({"step1": {"reasoning": "inner"}, "relevancy": "R"})),
            "inner"
        );
        assert_eq!(reasoning_of(&json!({"relevancy": "R"})), "");
    }

    #[test]
    fn bom_is_skipped_only_when_present() {
        let mut out = String::new();
        strip_bom(&b"\xEF\xBB\xBFab"[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "ab");
        out.clear();
        strip_bom(&b"a"[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, "a");
    }
}
