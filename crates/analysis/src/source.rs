//! Finding a run (a registry id, a results CSV or a module id) and reading its rows one at a
//! time, judged right, wrong or errored.
//!
//! Results CSVs are streamed: memory does not grow with the number of rows. Files written by the
//! earlier tool (no `record_id` / `correct` / `error` columns) are re-scored from their
//! `expected` / `output` columns with the module's scoring spec.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use core_config::results::{CsvQuoting, cell_text, parse_json_cell, strip_bom};
use core_config::{Catalog, ModuleSpec, ResultRow};
use registry::{Entry, Filter, RegistryFile};
use runner::score::{RowScore, score_row};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A run to analyse.
#[derive(Debug, Clone, Serialize)]
pub struct RunRef {
    /// The name files are named after: the registry id, else the CSV's file stem.
    pub name: String,
    /// Registry id, when the run is registered.
    pub id: Option<String>,
    /// The results CSV.
    pub csv: PathBuf,
    /// Module id.
    pub module: String,
    /// Model, when registered.
    pub model: Option<String>,
    /// Prompt version, when registered.
    pub prompt_version: Option<String>,
    /// When it was registered.
    pub created_at: Option<String>,
    /// Estimated cost in USD, when the registry has it.
    pub cost_usd: Option<f64>,
}

fn from_entry(file: &RegistryFile, entry: &Entry) -> Result<RunRef> {
    let csv = file
        .resolve_csv(entry)
        .filter(|p| p.is_file())
        .ok_or_else(|| Error::CsvGone {
            id: entry.local_id.clone(),
            path: PathBuf::from(&entry.csv_path),
        })?;
    let cost = ["total_cost", "cost_usd", "estimated_cost", "cost"]
        .iter()
        .find_map(|k| entry.metrics.get(*k).and_then(Value::as_f64));
    Ok(RunRef {
        name: entry.local_id.clone(),
        id: Some(entry.local_id.clone()),
        csv,
        module: entry
            .module()
            .map_or_else(|| entry.module_id.clone(), |m| m.to_string()),
        model: Some(entry.model.clone()).filter(|m| !m.is_empty()),
        prompt_version: Some(entry.prompt_version.clone()),
        created_at: Some(entry.created_at.clone()),
        cost_usd: cost,
    })
}

pub use registry::module_of_csv;

/// Resolves `text`: a path to a results CSV (relative to `base`), a registry id (`exp_…`), or a
/// module id (its newest registered run whose CSV exists).
///
/// # Errors
/// [`Error::NotARun`], [`Error::NoRuns`], [`Error::CsvGone`], [`Error::UnknownModule`], or the
/// registry's own error for an unknown id (with the closest id).
pub fn resolve_run(
    catalog: &Catalog,
    file: &RegistryFile,
    base: &Path,
    text: &str,
) -> Result<RunRef> {
    let as_path = base.join(text);
    let looks_like_csv = Path::new(text)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if looks_like_csv || as_path.is_file() {
        if !as_path.is_file() {
            return Err(Error::io(
                &as_path,
                io::Error::new(io::ErrorKind::NotFound, "no such results CSV"),
            ));
        }
        let module = module_of_csv(catalog, &as_path).ok_or_else(|| Error::UnknownModule {
            path: as_path.clone(),
        })?;
        let registered = if file.path().is_file() {
            file.load()
                .ok()
                .and_then(|r| r.find_by_csv(file.root(), &as_path).cloned())
        } else {
            None
        };
        if let Some(entry) = registered {
            return from_entry(file, &entry);
        }
        let name = as_path
            .file_stem()
            .map_or_else(|| "run".to_owned(), |s| s.to_string_lossy().into_owned());
        return Ok(RunRef {
            name,
            id: None,
            csv: as_path,
            module: module.id.to_string(),
            model: None,
            prompt_version: None,
            created_at: None,
            cost_usd: None,
        });
    }
    if text.starts_with("exp_") {
        let registry = file.load()?;
        let entry = registry.find(text)?;
        return from_entry(file, entry);
    }
    let Ok(module) = catalog.resolve(text) else {
        return Err(Error::NotARun {
            text: text.to_owned(),
        });
    };
    newest_run(file, module)
}

/// The newest registered run of a module whose results CSV exists.
///
/// # Errors
/// [`Error::NoRuns`] when there is none; the registry's error when it cannot be read.
pub fn newest_run(file: &RegistryFile, module: &ModuleSpec) -> Result<RunRef> {
    let no_runs = || Error::NoRuns {
        module: module.id.to_string(),
    };
    if !file.path().is_file() {
        return Err(no_runs());
    }
    let registry = file.load()?;
    let mut runs = registry.list(&Filter::module(module.id.clone()));
    runs.sort_by(|a, b| {
        b.created()
            .cmp(&a.created())
            .then_with(|| b.local_id.cmp(&a.local_id))
    });
    runs.into_iter()
        // A judge run's CSV holds verdicts, not the module's answers.
        .filter(|e| !e.extra.contains_key("judge_of"))
        .find(|e| file.resolve_csv(e).is_some_and(|p| p.is_file()))
        .map_or_else(|| Err(no_runs()), |e| from_entry(file, e))
}

/// The newest runs of the chosen modules (every module when `modules` is empty), resolved
/// before anything is written: a module given by name without runs is an error; with no names,
/// modules without runs are passed over.
///
/// # Errors
/// An unknown module id, [`Error::NoRuns`] for a named module without runs,
/// [`Error::NothingToAnalyse`] when no module has a run.
pub fn chosen_runs(
    catalog: &Catalog,
    file: &RegistryFile,
    modules: &[String],
) -> Result<Vec<RunRef>> {
    let chosen: Vec<&ModuleSpec> = if modules.is_empty() {
        catalog.modules().iter().collect()
    } else {
        modules
            .iter()
            .map(|m| catalog.resolve(m))
            .collect::<Result<_, _>>()?
    };
    let mut runs = Vec::new();
    for module in chosen {
        match newest_run(file, module) {
            Ok(run) => runs.push(run),
            Err(Error::NoRuns { .. }) if modules.is_empty() => {}
            Err(e) => return Err(e),
        }
    }
    if runs.is_empty() {
        return Err(Error::NothingToAnalyse);
    }
    Ok(runs)
}

/// How a row counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Scored right.
    Right,
    /// Scored wrong.
    Wrong,
    /// Not scored (API failure, truncation, unreadable answer): never counted as wrong.
    Errored {
        /// Short kind (`timeout`, `truncated`, `invalid_json`, …).
        kind: String,
        /// The message.
        message: String,
    },
}

/// A row with its verdict and the field-by-field comparison behind it.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The row as read.
    pub row: ResultRow,
    /// 1-based line of the row in the CSV.
    pub line: u64,
    /// Right, wrong or errored.
    pub verdict: Verdict,
    /// The comparison (absent for errored rows).
    pub score: Option<RowScore>,
}

/// Decides a row's verdict. A row's own `correct` column is the verdict when present (so the
/// numbers equal the run's); the scoring spec decides for files without it.
#[must_use]
pub fn judge(module: &ModuleSpec, row: ResultRow, line: u64) -> Judged {
    let error = row.error.trim();
    if !error.is_empty() {
        let kind = row
            .output
            .get("error_type")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                // The runner writes `kind: message`; other writers leave free text.
                error
                    .split_once(':')
                    .map(|(k, _)| k.trim())
                    .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace))
                    .unwrap_or("error")
                    .to_owned()
            });
        let message = error.to_owned();
        return Judged {
            row,
            line,
            verdict: Verdict::Errored { kind, message },
            score: None,
        };
    }
    let output = row.output.as_object();
    let unparsed = output
        .is_some_and(|o| (o.len() == 1 && o.contains_key("raw")) || o.contains_key("parse_error"));
    if unparsed && row.correct.is_none() {
        return Judged {
            line,
            verdict: Verdict::Errored {
                kind: "invalid_json".to_owned(),
                message: "the answer is not JSON".to_owned(),
            },
            score: None,
            row,
        };
    }
    let empty = Map::new();
    let scored = score_row(
        module,
        row.expected.as_object().unwrap_or(&empty),
        output.unwrap_or(&empty),
    );
    match (scored, row.correct) {
        (Ok(score), correct) => {
            let right = correct.unwrap_or(score.correct);
            Judged {
                row,
                line,
                verdict: if right {
                    Verdict::Right
                } else {
                    Verdict::Wrong
                },
                score: Some(score),
            }
        }
        (Err(_), Some(right)) => Judged {
            row,
            line,
            verdict: if right {
                Verdict::Right
            } else {
                Verdict::Wrong
            },
            score: None,
        },
        (Err(e), None) => Judged {
            row,
            line,
            verdict: Verdict::Errored {
                kind: e.kind().to_owned(),
                message: e.to_string(),
            },
            score: None,
        },
    }
}

type Inner = Box<dyn Read + Send>;

/// Top-level keys of the `input` cell the analyses read (keyword, brands, product type).
const INPUT_KEYS: [&str; 11] = [
    "keyword",
    "brand_name",
    "own_brand",
    "brand_entities",
    "variations_own",
    "related_terms_own",
    "competitor_entities",
    "known_competitor_brands",
    "variations_competitor",
    "competitor_brands",
    "product_type",
];

/// Top-level keys of the `metadata` cell the analyses read.
const METADATA_KEYS: [&str; 5] = ["record_id", "id", "asin", "product_type", "brand_name"];

/// A JSON object cell reduced to some of its top-level keys while it is parsed: the other values
/// (a product's title, bullets, description, taxonomy…) are skipped without being built.
struct KeepKeys(&'static [&'static str]);

struct KeyIn(&'static [&'static str]);

impl<'de> serde::de::DeserializeSeed<'de> for KeyIn {
    type Value = Option<&'static str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeyIn {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().copied().find(|k| *k == key))
    }
}

impl<'de> serde::de::Visitor<'de> for KeepKeys {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeyIn(self.0))? {
            match key {
                Some(key) => {
                    let value: Value = map.next_value()?;
                    out.insert(key.to_owned(), value);
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    // Not an object: nothing to look a key up in.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// The `keys` of a JSON object cell (an empty object for an empty, unreadable or non-object
/// cell: as [`parse_json_cell`] would give, minus the keys nobody reads).
fn parse_keys(text: &str, keys: &'static [&'static str]) -> Value {
    use serde::Deserializer as _;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Value::Object(Map::new());
    }
    let mut de = serde_json::Deserializer::from_str(trimmed);
    match de
        .deserialize_any(KeepKeys(keys))
        .and_then(|v| de.end().map(|()| v))
    {
        Ok(value) => value,
        Err(_) => Value::Object(Map::new()),
    }
}

/// What a [`RowReader`] fills in each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fill {
    /// Every column, every key.
    #[default]
    All,
    /// What the analyses read: `output` and `expected` whole, a few keys of `input` and
    /// `metadata`, no `metrics` (left null). Several times faster on rows with long inputs.
    Analysis,
}

struct Columns {
    input: usize,
    output: usize,
    expected: usize,
    asin: Option<usize>,
    brand: Option<usize>,
    keyword: Option<usize>,
    reasoning: Option<usize>,
    metrics: Option<usize>,
    metadata: Option<usize>,
    record_id: Option<usize>,
    correct: Option<usize>,
    error: Option<usize>,
}

pub use core_config::results::CsvPart as Part;

/// A cut: the offset of a record's first byte and the line feeds before it; `None` when no
/// record starts where it was looked for.
type Cut = Option<(u64, u64)>;

/// The cuts of a file being read in parts, published by the thread that finds them
/// ([`core_config::results::cut_records`]) while the parts are already being read.
#[derive(Debug)]
pub(crate) struct Cuts {
    size: u64,
    parts: usize,
    /// Per cut `k` (1..parts): not found yet, or the cut (`None`: no record starts there).
    found: Mutex<Vec<Option<Cut>>>,
    ready: Condvar,
}

impl Cuts {
    pub(crate) fn new(size: u64, parts: usize) -> Self {
        Self {
            size,
            parts,
            found: Mutex::new(vec![None; parts + 1]),
            ready: Condvar::new(),
        }
    }

    /// Where cut `k` is looked for: it is the first record start at or after this offset.
    fn target(&self, k: usize) -> u64 {
        if k >= self.parts {
            return u64::MAX;
        }
        self.size * k as u64 / self.parts as u64
    }

    pub(crate) fn publish(&self, k: usize, cut: Cut) {
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        found[k] = Some(cut);
        self.ready.notify_all();
    }

    /// Answers every cut not published yet with "none" (the cutting stopped: a panic), so that
    /// no reader waits for ever.
    pub(crate) fn abandon(&self) {
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        for cut in found.iter_mut().filter(|c| c.is_none()) {
            *cut = Some(None);
        }
        self.ready.notify_all();
    }

    /// Cut `k` (offset, line feeds before it), waiting for it; `None` when there is none (the
    /// part ends at the file's end, or does not exist).
    pub(crate) fn wait(&self, k: usize) -> Cut {
        if k >= self.parts {
            return None;
        }
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(cut) = found[k] {
                return cut;
            }
            found = self
                .ready
                .wait(found)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Where the bytes a [`RowReader`] reads end.
#[derive(Debug, Clone)]
pub(crate) enum PartEnd {
    /// At the file's end.
    File,
    /// At this offset.
    At(u64),
    /// At cut `k`, which another thread publishes.
    Cut(Arc<Cuts>, usize),
}

impl PartEnd {
    /// The end offset (`u64::MAX` for the file's end), waiting for a cut to be published.
    fn resolve(&self) -> u64 {
        match self {
            Self::File => u64::MAX,
            Self::At(end) => *end,
            Self::Cut(cuts, k) => cuts.wait(*k).map_or(u64::MAX, |(at, _)| at),
        }
    }
}

/// Reads a file up to a [`PartEnd`]; a cut not published yet is waited for only when the
/// reading reaches the offset it is looked for from.
struct Until<R> {
    inner: R,
    /// File offset of the next byte.
    at: u64,
    end: PartEnd,
}

impl<R: Read> Read for Until<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let limit = match &self.end {
            PartEnd::Cut(cuts, k) if self.at < cuts.target(*k) => cuts.target(*k),
            PartEnd::Cut(..) => {
                let end = self.end.resolve();
                self.end = PartEnd::At(end);
                end
            }
            other => other.resolve(),
        };
        let room = usize::try_from(limit.saturating_sub(self.at)).unwrap_or(usize::MAX);
        if room == 0 || buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(room);
        let n = self.inner.read(&mut buf[..n])?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Reads a results CSV one row at a time, judging each.
pub struct RowReader {
    path: PathBuf,
    module: ModuleSpec,
    reader: csv::Reader<Inner>,
    record: csv::StringRecord,
    columns: Columns,
    index: u64,
    /// The file offset of the parser's byte 0 (after a byte-order mark, or a part's start).
    base: u64,
    /// Where the bytes read end.
    end: PartEnd,
    /// The parser's offset of the last record read (the header at first).
    last_start: u64,
    /// The parser's line of the last record read.
    last_line: u64,
    /// Line feeds before the first byte read (a [`Part`] after the first).
    lines_before: u64,
    /// Whether the rows are numbered from the file's first (false for a later [`Part`]).
    numbered: bool,
    /// A row lacked a record id while `numbered` was false (see [`RowReader::unnumbered_id`]).
    unnumbered: bool,
    finished: bool,
    fill: Fill,
}

impl RowReader {
    /// Opens a results CSV of `module`.
    ///
    /// # Errors
    /// When the file cannot be opened, or lacks the `input` / `output` / `expected` columns.
    pub fn open(path: &Path, module: &ModuleSpec) -> Result<Self> {
        Self::open_part(path, module, None)
    }

    /// Opens one [`Part`] of a results CSV of `module` (the whole file for `None`). Rows keep
    /// the file's line numbers; a part after the first reads the header from the file's start.
    ///
    /// # Errors
    /// As [`RowReader::open`].
    pub fn open_part(path: &Path, module: &ModuleSpec, part: Option<Part>) -> Result<Self> {
        match part {
            None => Self::open_bounded(path, module, (0, 0), PartEnd::File),
            Some(p) => {
                Self::open_bounded(path, module, (p.start, p.lines_before), PartEnd::At(p.end))
            }
        }
    }

    /// Opens the bytes of a results CSV from `start` (a record's first byte, or 0 for the
    /// header; with the line feeds before it) to `end`.
    pub(crate) fn open_bounded(
        path: &Path,
        module: &ModuleSpec,
        (start, lines_before): (u64, u64),
        end: PartEnd,
    ) -> Result<Self> {
        let open = || File::open(path).map_err(|e| Error::io(path, e));
        let watch = |inner: Box<dyn Read + Send>, headers: bool| {
            csv::ReaderBuilder::new()
                .flexible(true)
                .has_headers(headers)
                .from_reader(inner)
        };
        let buffered = |file: File| BufReader::with_capacity(1 << 16, file);
        let (reader, headers, base) = if start == 0 {
            let mut head = [0u8; 3];
            let n = open()?.read(&mut head).map_err(|e| Error::io(path, e))?;
            // Where the parser's byte 0 is in the file: after a byte-order mark.
            let base = if head[..n] == *b"\xEF\xBB\xBF" { 3 } else { 0 };
            let inner = Until {
                inner: buffered(open()?),
                at: 0,
                end: end.clone(),
            };
            let mut reader = watch(Box::new(strip_bom(inner)), true);
            let headers = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
            (reader, headers, base)
        } else {
            let headers = watch(Box::new(strip_bom(buffered(open()?))), true)
                .headers()
                .map_err(|e| csv_error(path, &e))?
                .clone();
            let mut file = open()?;
            file.seek(SeekFrom::Start(start))
                .map_err(|e| Error::io(path, e))?;
            let inner = Until {
                inner: buffered(file),
                at: start,
                end: end.clone(),
            };
            (watch(Box::new(inner), false), headers, start)
        };
        let numbered = start == 0;
        let find = |name: &str| headers.iter().position(|h| h.trim() == name);
        let required = |name: &str| {
            find(name).ok_or_else(|| Error::Csv {
                path: path.to_owned(),
                line: 1,
                message: format!("not a results CSV: column `{name}` is missing"),
            })
        };
        let columns = Columns {
            input: required("input")?,
            output: required("output")?,
            expected: required("expected")?,
            asin: find("ASIN"),
            brand: find("Brand"),
            keyword: find("Keyword"),
            reasoning: find("Reasoning"),
            metrics: find("metrics"),
            metadata: find("metadata"),
            record_id: find("record_id"),
            correct: find("correct"),
            error: find("error"),
        };
        Ok(Self {
            path: path.to_owned(),
            module: module.clone(),
            reader,
            record: csv::StringRecord::new(),
            columns,
            index: 0,
            base,
            end,
            last_start: 0,
            last_line: 1,
            lines_before,
            numbered,
            unnumbered: false,
            finished: false,
            fill: Fill::All,
        })
    }

    /// This reader, filling only what the analyses read.
    pub(crate) fn for_analysis(mut self) -> Self {
        self.fill = Fill::Analysis;
        self
    }

    /// Whether the file names each row's record (a `record_id` column): only then can a part
    /// after the first be read on its own (a row without an id is named after its row number).
    #[must_use]
    pub fn has_record_ids(&self) -> bool {
        self.columns.record_id.is_some()
    }

    /// Whether a row of a later [`Part`] had no record id, so its id (`row{N}`, N counted from
    /// the file's first row) is not known here: read the file whole instead.
    #[must_use]
    pub fn unnumbered_id(&self) -> bool {
        self.unnumbered
    }

    /// Opens a results CSV of `module`, filling only what the analyses read (see [`Fill`]).
    ///
    /// # Errors
    /// As [`RowReader::open`].
    pub fn open_for_analysis(path: &Path, module: &ModuleSpec) -> Result<Self> {
        Ok(Self::open(path, module)?.for_analysis())
    }

    /// Whether the file is in the earlier tool's layout (no `correct` column): its rows are
    /// re-scored.
    #[must_use]
    pub fn rescored(&self) -> bool {
        self.columns.correct.is_none()
    }

    /// The next judged row, `None` at the end.
    ///
    /// # Errors
    /// When the CSV is malformed or cut off inside a quoted cell.
    pub fn next_row(&mut self) -> Result<Option<Judged>> {
        if self.finished {
            return Ok(None);
        }
        let more = self
            .reader
            .read_record(&mut self.record)
            .map_err(|e| csv_error(&self.path, &e))?;
        if !more {
            self.finished = true;
            if let Some(line) = self.open_quote_at_end()? {
                return Err(Error::Csv {
                    path: self.path.clone(),
                    line,
                    message: CsvQuoting::CUT_OFF.to_owned(),
                });
            }
            return Ok(None);
        }
        let position = self.record.position();
        self.last_start = position.map_or(0, csv::Position::byte);
        self.last_line = position.map_or(1, csv::Position::line);
        self.index += 1;
        let line = self.lines_before + self.record.position().map_or(0, csv::Position::line);
        let record = &self.record;
        let c = &self.columns;
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or_default();
        let correct = match get(c.correct).trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        };
        let lean = self.fill == Fill::Analysis;
        let metadata = if lean {
            parse_keys(get(c.metadata), &METADATA_KEYS)
        } else {
            parse_json_cell(get(c.metadata))
        };
        let record_id = match get(c.record_id) {
            "" => metadata
                .get("record_id")
                .or_else(|| metadata.get("id"))
                .map(cell_text)
                .unwrap_or_else(|| {
                    self.unnumbered |= !self.numbered;
                    format!("row{}", self.index)
                }),
            id => id.to_owned(),
        };
        let row = ResultRow {
            record_id,
            input: if lean {
                parse_keys(get(Some(c.input)), &INPUT_KEYS)
            } else {
                parse_json_cell(get(Some(c.input)))
            },
            output: parse_json_cell(get(Some(c.output))),
            expected: parse_json_cell(get(Some(c.expected))),
            asin: get(c.asin).to_owned(),
            brand: get(c.brand).to_owned(),
            keyword: get(c.keyword).to_owned(),
            reasoning: get(c.reasoning).to_owned(),
            metrics: if lean {
                Value::Null
            } else {
                parse_json_cell(get(c.metrics))
            },
            metadata,
            correct,
            error: get(c.error).to_owned(),
            extra: std::collections::BTreeMap::new(),
        };
        Ok(Some(judge(&self.module, row, line)))
    }
}

impl RowReader {
    /// When the input stops inside a quoted cell (cut off), which the `csv` crate accepts as
    /// a complete last record: the line where that cell's quote opened. Records start outside
    /// quotes, so only the last record's bytes need following: they are read again once, at
    /// the end, instead of watching every byte.
    fn open_quote_at_end(&self) -> Result<Option<u64>> {
        let io = |e| Error::io(&self.path, e);
        let mut file = File::open(&self.path).map_err(io)?;
        let from = self.base + self.last_start;
        file.seek(SeekFrom::Start(from)).map_err(io)?;
        let mut tail =
            BufReader::with_capacity(1 << 16, file).take(self.end.resolve().saturating_sub(from));
        let mut quoting = CsvQuoting::new(b',');
        let mut line = self.lines_before + self.last_line;
        let mut opened = line;
        let mut previous = b'\n';
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = tail.read(&mut buffer).map_err(io)?;
            if n == 0 {
                return Ok(quoting.inside_quotes().then_some(opened));
            }
            for &b in &buffer[..n] {
                let outside = !quoting.inside_quotes();
                quoting.feed(std::slice::from_ref(&b));
                // A quote after a quote inside a cell is an escaped one, not a new cell.
                if outside && quoting.inside_quotes() && previous != b'"' {
                    opened = line;
                }
                line += u64::from(b == b'\n');
                previous = b;
            }
        }
    }
}

fn csv_error(path: &Path, e: &csv::Error) -> Error {
    Error::Csv {
        path: path.to_owned(),
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    }
}
