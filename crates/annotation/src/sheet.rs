//! CSV files that go to people and come back: written so a spreadsheet cannot run anything in
//! them, read back so that nothing the writer did (or the spreadsheet did on saving) changes a
//! value.
//!
//! Writing: UTF-8 with a byte-order mark (Excel guesses the code page without it), every field
//! quoted, CRLF line ends (RFC 4180), and a `'` before any cell that a spreadsheet would read as
//! a formula or a control sequence (OWASP CSV injection).
//!
//! Reading: undoes exactly that `'`, and accepts what spreadsheets write back: CRLF or LF, a BOM
//! or none, `;` or tab separators (European Excel locales; detected from the header line),
//! trailing empty columns, rows made only of separators, header cells with spaces around them.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use core_config::results::{CsvQuoting, LineCounter};

use crate::error::{Error, MalformedRow, Result};

/// First characters that make a spreadsheet treat a cell as a formula or control sequence:
/// the OWASP set (`=`, `+`, `-`, `@`, tab, CR, LF), NUL, the DDE pipe, and the full-width forms
/// some spreadsheets normalise to ASCII.
const DANGEROUS: [char; 13] = [
    '=', '+', '-', '@', '\t', '\r', '\n', '\0', '|', '＝', '＋', '－', '＠',
];

fn is_dangerous(c: char) -> bool {
    DANGEROUS.contains(&c)
}

/// Whether a cell needs a protecting `'`. A cell that already starts with quotes followed by a
/// dangerous character needs one more, or reading would strip one of its own quotes.
fn needs_escape(cell: &str) -> bool {
    cell.trim_start_matches('\'')
        .chars()
        .next()
        .is_some_and(is_dangerous)
}

/// The cell as written: prefixed with `'` when a spreadsheet would otherwise evaluate it.
#[must_use]
pub fn escape_cell(cell: &str) -> Cow<'_, str> {
    if needs_escape(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The cell as it was before [`escape_cell`]: one leading `'` is removed when what follows it
/// would have been escaped. Any other text is returned unchanged.
#[must_use]
pub fn unescape_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_escape(rest) => rest,
        _ => cell,
    }
}

/// Writes spreadsheet-safe CSV to any writer.
pub struct SafeCsvWriter<W: Write> {
    csv: csv::Writer<W>,
    path: PathBuf,
}

impl<W: Write> SafeCsvWriter<W> {
    /// Starts a file: writes the byte-order mark and the header row. `path` is only used in
    /// messages.
    ///
    /// # Errors
    /// When writing fails.
    pub fn new<S: AsRef<str>>(path: &Path, mut out: W, headers: &[S]) -> Result<Self> {
        out.write_all("\u{feff}".as_bytes())
            .map_err(|e| Error::io(path, e))?;
        let csv = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Always)
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        let mut writer = Self {
            csv,
            path: path.to_owned(),
        };
        writer.write_row(headers)?;
        Ok(writer)
    }

    /// Writes one row; every cell is escaped.
    ///
    /// # Errors
    /// When writing fails.
    pub fn write_row<S: AsRef<str>>(&mut self, cells: &[S]) -> Result<()> {
        self.csv
            .write_record(cells.iter().map(|c| escape_cell(c.as_ref()).into_owned()))
            .map_err(|e| Error::io(&self.path, e.into()))
    }

    /// Flushes and returns the inner writer.
    ///
    /// # Errors
    /// When flushing fails.
    pub fn finish(self) -> Result<W> {
        let path = self.path;
        self.csv
            .into_inner()
            .map_err(|e| Error::io(&path, io::Error::other(e.to_string())))
    }
}

/// One data row of an annotation CSV, cells already un-escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationRow {
    /// 1-based line the row starts on.
    pub line: u64,
    /// One cell per header (missing trailing cells are empty).
    pub cells: Vec<String>,
}

impl AnnotationRow {
    /// The cell at a column index (`""` when the row is shorter).
    #[must_use]
    pub fn get(&self, index: usize) -> &str {
        self.cells.get(index).map_or("", String::as_str)
    }

    /// The cell at an optional column index (`""` when the column is absent).
    #[must_use]
    pub fn get_opt(&self, index: Option<usize>) -> &str {
        index.map_or("", |i| self.get(i))
    }
}

type Source<R> = LineMarks<R>;

/// The bytes of a file: the header line read ahead, then the rest.
type Bytes<R> = io::Chain<Cursor<Vec<u8>>, BufReader<R>>;

/// Where the parser's rows start, in the lines an editor shows, and whether the input so far
/// stops inside a quoted cell.
///
/// The `csv` crate's own line numbers drift on CRLF files (it counts the `\n` of a CRLF as part
/// of the next record), and spreadsheets write CRLF, so lines are counted here instead (only the
/// parser's read-ahead is kept, so memory stays bounded). The quoting is followed so that a file
/// that ends inside a quoted cell (cut off) is told apart from a complete one, which the `csv`
/// crate does not do.
struct Marks {
    lines: LineCounter,
    /// Followed here when the parser reads inline (see [`Feed`]).
    quoting: CsvQuoting,
    /// Whether the input read so far stops inside a quoted cell.
    cut_off: bool,
    ended: bool,
    /// For a part of a file ([`Feed::Part`]): the offset of the last byte read that is not a
    /// line break, and the length of the part once all of it has been read.
    last_content: Option<u64>,
    part_len: Option<u64>,
}

impl Marks {
    fn new(delimiter: u8) -> Self {
        Self {
            lines: LineCounter::default(),
            quoting: CsvQuoting::new(delimiter),
            cut_off: false,
            ended: false,
            last_content: None,
            part_len: None,
        }
    }

    /// The 1-based line of the row the parser places at byte `start`.
    fn line_at(&mut self, start: u64) -> u64 {
        self.lines.line_at(start)
    }
}

/// A reader that records where line-end bytes are.
struct LineMarks<R> {
    feed: Feed<R>,
    marks: Arc<Mutex<Marks>>,
}

/// Where [`LineMarks`] gets its bytes.
enum Feed<R> {
    /// From the reader, following the marks as the parser reads.
    Inline(Bytes<R>),
    /// From a second thread that reads ahead and follows the marks, so the parser's core only
    /// parses. (Files only: the reader must be able to move to that thread.)
    Ahead(ReadAhead),
    /// One part of a file read by several readers at once: its bytes, then [`PART_END`]. Only
    /// the line breaks are followed; whether the part stops inside a quoted cell is told by
    /// the parser itself (see [`AnnotationReader::read_row`]).
    Part(PartFeed<R>),
}

/// Bytes the parser reads after a part of a file. After a whole record (outside quotes) they
/// make one more record, `x`, that starts after the part's last byte that is not a line break.
/// Inside a quoted cell they are part of that cell, so the record that holds them starts
/// before: the part stops inside a quoted cell (or, at the end of the file, the file is cut
/// off). The leading line feed ends a last record that has no line break of its own.
const PART_END: &[u8] = b"\nx\n";

/// The bytes of one part of a file, then [`PART_END`].
struct PartFeed<R> {
    bytes: Bytes<R>,
    /// Bytes of the part read so far.
    read: u64,
    /// Bytes of [`PART_END`] given so far, once the part is read.
    end_given: Option<usize>,
}

impl<R: Read> Read for LineMarks<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.feed {
            Feed::Inline(inner) => {
                let n = inner.read(buf)?;
                let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
                marks.quoting.feed(&buf[..n]);
                marks.cut_off = marks.quoting.inside_quotes();
                marks.lines.feed(&buf[..n]);
                marks.ended |= n == 0 && !buf.is_empty();
                Ok(n)
            }
            Feed::Part(part) => {
                if part.end_given.is_none() {
                    let n = part.bytes.read(buf)?;
                    let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
                    if n > 0 {
                        let bytes = &buf[..n];
                        marks.lines.feed(bytes);
                        if let Some(i) = bytes.iter().rposition(|&b| b != b'\n' && b != b'\r') {
                            marks.last_content = Some(part.read + i as u64);
                        }
                        part.read += n as u64;
                        return Ok(n);
                    }
                    if buf.is_empty() {
                        return Ok(0);
                    }
                    marks.part_len = Some(part.read);
                    part.end_given = Some(0);
                }
                let given = part.end_given.unwrap_or(PART_END.len());
                let n = buf.len().min(PART_END.len() - given);
                buf[..n].copy_from_slice(&PART_END[given..given + n]);
                part.end_given = Some(given + n);
                if n == 0 && !buf.is_empty() {
                    let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
                    marks.ended = true;
                }
                Ok(n)
            }
            Feed::Ahead(ahead) => {
                let n = ahead.read(buf, &self.marks)?;
                // Set when the parser (not the thread) reaches the end, so that `ended` still
                // means "the row just parsed is the last one".
                if n == 0 && !buf.is_empty() {
                    let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
                    marks.ended = true;
                }
                Ok(n)
            }
        }
    }
}

/// What the read-ahead thread sends: bytes with the line breaks found in them, then the end.
enum Ahead {
    /// The next bytes, and the stretches of line breaks completed while reading them.
    Chunk(Vec<u8>, LineCounter),
    /// The end of the input: the last stretch, and whether it stops inside a quoted cell.
    End(LineCounter, bool),
}

/// Chunks read by a background thread, which also follows their line breaks and quoting (with
/// no lock: each chunk carries its lines). Memory is bounded by the channel: at most
/// [`ReadAhead::QUEUED`] chunks wait. Dropping the reader ends the thread (its next send fails).
struct ReadAhead {
    chunks: mpsc::Receiver<io::Result<Ahead>>,
    /// Spent chunks go back to the thread to be filled again.
    spent: mpsc::SyncSender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    done: bool,
}

impl ReadAhead {
    const CHUNK: usize = 64 * 1024;
    const QUEUED: usize = 4;

    /// Starts the thread.
    fn start<R: Read + Send + 'static>(mut bytes: Bytes<R>, delimiter: u8) -> io::Result<Self> {
        let (send, chunks) = mpsc::sync_channel(Self::QUEUED);
        let (spent, reuse) = mpsc::sync_channel::<Vec<u8>>(Self::QUEUED + 2);
        std::thread::Builder::new()
            .name("annotation-read-ahead".to_owned())
            .spawn(move || {
                let mut quoting = CsvQuoting::new(delimiter);
                let mut lines = LineCounter::default();
                loop {
                    let mut chunk = reuse.try_recv().unwrap_or_default();
                    chunk.resize(Self::CHUNK, 0);
                    let n = loop {
                        match bytes.read(&mut chunk) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            other => break other,
                        }
                    };
                    let message = match n {
                        Ok(0) => {
                            lines.finish();
                            let mut last = LineCounter::default();
                            lines.hand_over(&mut last);
                            let _ = send.send(Ok(Ahead::End(last, quoting.inside_quotes())));
                            return;
                        }
                        Ok(n) => {
                            chunk.truncate(n);
                            quoting.feed(&chunk);
                            lines.feed(&chunk);
                            let mut found = LineCounter::default();
                            lines.hand_over(&mut found);
                            Ok(Ahead::Chunk(chunk, found))
                        }
                        Err(e) => Err(e),
                    };
                    let failed = message.is_err();
                    if send.send(message).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Self {
            chunks,
            spent,
            current: Vec::new(),
            at: 0,
            done: false,
        })
    }

    fn read(&mut self, buf: &mut [u8], marks: &Mutex<Marks>) -> io::Result<usize> {
        while self.at == self.current.len() {
            if self.done {
                return Ok(0);
            }
            let message = self
                .chunks
                .recv()
                .map_err(|_| io::Error::other("the file reader thread stopped"))??;
            let mut marks = marks.lock().unwrap_or_else(PoisonError::into_inner);
            match message {
                Ahead::Chunk(chunk, mut lines) => {
                    lines.hand_over(&mut marks.lines);
                    let spent = std::mem::replace(&mut self.current, chunk);
                    let _ = self.spent.try_send(spent);
                    self.at = 0;
                }
                Ahead::End(mut lines, inside_quotes) => {
                    lines.hand_over(&mut marks.lines);
                    marks.cut_off = inside_quotes;
                    self.done = true;
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Streams the rows of an annotation CSV or workbook (`.xlsx`): headers first, then one row at
/// a time, so memory does not grow with a CSV file. A workbook is read whole when opened (the
/// format does not stream); its rows carry their sheet row numbers as lines.
pub struct AnnotationReader<R: Read> {
    path: PathBuf,
    /// The CSV parser; `None` for a workbook, whose rows are in `sheet`.
    csv: Option<csv::Reader<Source<R>>>,
    sheet: Option<crate::workbook::SheetRows>,
    headers: Vec<String>,
    delimiter: u8,
    record: csv::ByteRecord,
    marks: Arc<Mutex<Marks>>,
    /// Rows that do not fit the header, reported together at the end.
    misfits: Vec<MalformedRow>,
    /// Columns whose cells are left empty (not checked or copied): see [`Self::only_columns`].
    skipped: Vec<bool>,
    /// Set for a reader over one part of a file ([`AnnotationReader::open_parts`]).
    part: Option<Part>,
}

/// Where a part of a file starts and how it ends (see [`AnnotationReader::open_parts`]).
#[derive(Debug, Clone)]
struct Part {
    /// The part's place among the parts.
    index: usize,
    /// Line breaks before the part (as [`LineCounter`] counts them), once counted: by the
    /// first call of [`AnnotationReader::read_row`], on the thread that reads the part.
    lines_before: Option<u64>,
    /// The line breaks of every part, counted once each, shared by the readers.
    lines: Arc<PartLines>,
    /// Whether the part runs to the end of the file.
    last: bool,
    /// Whether the part turned out to end inside a quoted cell (and is not the last).
    missed: bool,
}

impl AnnotationReader<File> {
    /// Opens a file and reads its header line. A file named `*.xlsx` is read as a workbook
    /// (its annotation sheet: see [`crate::workbook`]); messages then name the file and the
    /// sheet, and lines are the sheet's row numbers.
    ///
    /// # Errors
    /// When the file cannot be opened, is empty, or its header is not valid.
    ///
    /// A second thread reads the file ahead of the parser (and follows its line breaks and
    /// quoting), so a big file is read on two cores.
    pub fn open(path: &Path) -> Result<Self> {
        if crate::workbook::is_workbook(path) {
            return Self::from_sheet(crate::workbook::read_sheet(path)?);
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Self::start(
            path,
            file,
            |bytes, delimiter| ReadAhead::start(bytes, delimiter).map(Feed::Ahead),
            None,
        )
    }

    /// Readers over `parts` consecutive parts of a CSV file, each made of whole records, so
    /// that several threads can read one big file at once. Reading every part in order gives
    /// the rows, line numbers and errors that [`Self::open`] gives for the whole file, with one
    /// exception that the caller must check: a part other than the last may turn out to stop
    /// inside a quoted cell ([`Self::missed_cut`]; for the first part, possibly as soon as it
    /// is opened); the caller then reads the file in one pass.
    ///
    /// The cuts are found without reading the file up to them: each is a line feed just past a
    /// point of the file, preferably one after a closing quote; whether it really ends a record
    /// is known only once the part before it has been read, which costs nothing extra. (A
    /// multi-line quoted cell at a cut is what makes a cut miss.) Each part's line breaks are
    /// counted once, by the first reader that needs them (usually the next part's, on its own
    /// thread, before it parses), so the parts can be read on any threads in any order.
    ///
    /// Returns `None`, and the file is best read in one pass, for a workbook, a file smaller
    /// than `min_bytes`, one whose first line break is not a line feed (a file of CR line ends
    /// is never cut), and one where fewer than two parts could be cut.
    ///
    /// # Errors
    /// When the file cannot be read, or its header is not valid (as [`Self::open`]).
    pub fn open_parts(
        path: &Path,
        parts: usize,
        min_bytes: u64,
    ) -> Result<Option<Vec<AnnotationReader<io::Take<File>>>>> {
        use std::io::{Seek, SeekFrom};
        if parts < 2 || crate::workbook::is_workbook(path) {
            return Ok(None);
        }
        let io_error = |e| Error::io(path, e);
        let file = File::open(path).map_err(io_error)?;
        let size = file.metadata().map_err(io_error)?.len();
        if size < min_bytes.max(1) {
            return Ok(None);
        }
        let Some(cuts) = find_cuts(&file, size, parts).map_err(io_error)? else {
            return Ok(None);
        };
        let mut readers = Vec::with_capacity(cuts.len() + 1);
        let ranges: Vec<(u64, u64)> = std::iter::once(0)
            .chain(cuts.iter().copied())
            .zip(cuts.iter().copied().chain([size]))
            .collect();
        let lines = Arc::new(PartLines {
            path: path.to_owned(),
            counts: Mutex::new(vec![Count::Todo; ranges.len()]),
            counted: std::sync::Condvar::new(),
            ranges,
        });
        // A fresh handle: `find_cuts` moved the other's offset.
        let file = File::open(path).map_err(io_error)?;
        let first = AnnotationReader::start_part(
            path,
            file.take(cuts[0]),
            cuts.len() + 1,
            Arc::clone(&lines),
        )?;
        let (headers, delimiter) = (first.headers.clone(), first.delimiter);
        readers.push(first);
        for (i, &start) in cuts.iter().enumerate() {
            let end = cuts.get(i + 1).copied().unwrap_or(size);
            let mut file = File::open(path).map_err(io_error)?;
            file.seek(SeekFrom::Start(start)).map_err(io_error)?;
            let marks = Arc::new(Mutex::new(Marks::new(delimiter)));
            let source = LineMarks {
                feed: Feed::Part(PartFeed {
                    bytes: Cursor::new(Vec::new())
                        .chain(BufReader::with_capacity(64 * 1024, file.take(end - start))),
                    read: 0,
                    end_given: None,
                }),
                marks: Arc::clone(&marks),
            };
            readers.push(AnnotationReader {
                path: path.to_owned(),
                csv: Some(csv_reader(delimiter, true, source)),
                sheet: None,
                headers: headers.clone(),
                delimiter,
                record: csv::ByteRecord::new(),
                marks,
                misfits: Vec::new(),
                skipped: Vec::new(),
                part: Some(Part {
                    index: i + 1,
                    lines_before: None,
                    lines: Arc::clone(&lines),
                    last: end == size,
                    missed: false,
                }),
            });
        }
        Ok(Some(readers))
    }

    /// A reader over a workbook's sheet: the header checked as a CSV header is.
    fn from_sheet(sheet: crate::workbook::Sheet) -> Result<Self> {
        let path = sheet.shown_path();
        let Some(mut headers) = sheet.header else {
            return Err(Error::EmptyFile { path });
        };
        for header in &mut headers {
            *header = header.trim().to_owned();
        }
        while headers.last().is_some_and(String::is_empty) {
            headers.pop();
        }
        for (i, name) in headers.iter().enumerate() {
            if !name.is_empty() && headers[..i].iter().any(|h| h.eq_ignore_ascii_case(name)) {
                return Err(Error::DuplicateColumn {
                    path,
                    column: name.clone(),
                });
            }
        }
        Ok(Self {
            path,
            csv: None,
            sheet: Some(sheet.rows),
            headers,
            delimiter: b',',
            record: csv::ByteRecord::new(),
            marks: Arc::new(Mutex::new(Marks::new(b','))),
            misfits: Vec::new(),
            skipped: Vec::new(),
            part: None,
        })
    }
}

impl AnnotationReader<io::Take<File>> {
    /// The reader over the first of `parts` parts: it reads the header.
    fn start_part(
        path: &Path,
        bytes: io::Take<File>,
        parts: usize,
        lines: Arc<PartLines>,
    ) -> Result<Self> {
        let part = Part {
            index: 0,
            lines_before: Some(0),
            lines,
            last: parts < 2,
            missed: false,
        };
        let feed = |bytes, _| {
            Ok(Feed::Part(PartFeed {
                bytes,
                read: 0,
                end_given: None,
            }))
        };
        Self::start(path, bytes, feed, Some(part))
    }
}

impl<R: Read> AnnotationReader<R> {
    /// Whether this reader, over a part of a file other than the last
    /// ([`AnnotationReader::open_parts`]), found that its part stops inside a quoted cell. Its
    /// rows are then incomplete and the next part's are wrong: the file must be read in one
    /// pass.
    #[must_use]
    pub fn missed_cut(&self) -> bool {
        self.part.as_ref().is_some_and(|p| p.missed)
    }

    /// Reads the header line from any reader; `path` is only used in messages.
    ///
    /// # Errors
    /// When the input is empty or its header is not valid.
    pub fn new(path: &Path, reader: R) -> Result<Self> {
        Self::start(path, reader, |bytes, _| Ok(Feed::Inline(bytes)), None)
    }

    /// Reads the header line, then hands the bytes to `feed`.
    fn start(
        path: &Path,
        reader: R,
        feed: impl FnOnce(Bytes<R>, u8) -> io::Result<Feed<R>>,
        part: Option<Part>,
    ) -> Result<Self> {
        let mut buffered = BufReader::with_capacity(64 * 1024, reader);
        // The first line decides the separator; it is read ahead and replayed to the parser.
        let mut first = Vec::new();
        buffered
            .read_until(b'\n', &mut first)
            .map_err(|e| Error::io(path, e))?;
        if first.starts_with(b"\xEF\xBB\xBF") {
            first.drain(..3);
        }
        if first.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::EmptyFile {
                path: path.to_owned(),
            });
        }
        let delimiter = detect_delimiter(&first);
        let marks = Arc::new(Mutex::new(Marks::new(delimiter)));
        let source = LineMarks {
            feed: feed(Cursor::new(first).chain(buffered), delimiter)
                .map_err(|e| Error::io(path, e))?,
            marks: Arc::clone(&marks),
        };
        let mut csv = csv_reader(delimiter, part.is_some(), source);
        let mut record = csv::ByteRecord::new();
        let read = csv
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(path, &e))?;
        if !read {
            return Err(Error::EmptyFile {
                path: path.to_owned(),
            });
        }
        let mut part = part;
        if let Some(part) = part.as_mut() {
            // A header record that runs past the first part's end (a quoted cell of many lines):
            // the cut is wrong, the file is read in one pass.
            let after = csv.position().byte();
            let marks = marks.lock().unwrap_or_else(PoisonError::into_inner);
            if !part.last && marks.part_len.is_some_and(|len| after > len + 1) {
                part.missed = true;
            }
        }
        let mut headers = Vec::with_capacity(record.len());
        for (i, cell) in record.iter().enumerate() {
            let text = std::str::from_utf8(cell).map_err(|_| Error::Csv {
                path: path.to_owned(),
                line: 1,
                message: format!(
                    "header cell {} is not valid UTF-8 (save the file as \"CSV UTF-8\")",
                    i + 1
                ),
            })?;
            headers.push(text.trim().to_owned());
        }
        while headers.last().is_some_and(String::is_empty) {
            headers.pop();
        }
        for (i, name) in headers.iter().enumerate() {
            if !name.is_empty() && headers[..i].iter().any(|h| h.eq_ignore_ascii_case(name)) {
                return Err(Error::DuplicateColumn {
                    path: path.to_owned(),
                    column: name.clone(),
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            csv: Some(csv),
            sheet: None,
            headers,
            delimiter,
            record,
            marks,
            misfits: Vec::new(),
            skipped: Vec::new(),
            part,
        })
    }

    /// The file being read (as given).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Header cells, trimmed, without trailing empty ones.
    #[must_use]
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The separator found in the header line (`,`, `;` or tab).
    #[must_use]
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The index of a column, matched case-insensitively.
    #[must_use]
    pub fn index_of(&self, name: &str) -> Option<usize> {
        index_of(&self.headers, name)
    }

    /// From now on, rows carry only the cells of `columns`; the others are left empty (checked
    /// for UTF-8 but not copied). A reader that looks at four columns of twenty need not pay for
    /// copying the rest. (Every row is still parsed whole and checked against the header.)
    pub fn only_columns(&mut self, columns: &[usize]) {
        self.skipped = (0..self.headers.len())
            .map(|i| !columns.contains(&i))
            .collect();
    }

    /// Reads the next data row into `row`, reusing its cell buffers, and returns `Ok(false)`
    /// at the end of the input.
    ///
    /// The iterator allocates a fresh row (one `String` per cell) each time; this is for callers
    /// that stream millions of rows and only look at each row once. On an error, `row` holds
    /// unspecified contents.
    ///
    /// # Errors
    /// As the iterator: a malformed line or a cell that is not valid UTF-8.
    pub fn read_row(&mut self, row: &mut AnnotationRow) -> Result<bool> {
        if self.csv.is_none() {
            return self.read_sheet_row(row);
        }
        let mut lines_before = 0;
        if let Some(part) = self.part.as_mut() {
            if part.missed {
                return Ok(false);
            }
            lines_before = match part.lines_before {
                Some(lines) => lines,
                None => {
                    let lines = part
                        .lines
                        .before(part.index)
                        .map_err(|e| Error::io(&self.path, e))?;
                    part.lines_before = Some(lines);
                    lines
                }
            };
        }
        loop {
            let Some(csv) = self.csv.as_mut() else {
                return Ok(false);
            };
            let read = csv
                .read_byte_record(&mut self.record)
                .map_err(|e| csv_error(&self.path, &e))?;
            if !read {
                return self.end();
            }
            let start = self.record.position().map_or(0, csv::Position::byte);
            let after = csv.position().byte();
            let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
            let line = marks.line_at(start) + lines_before;
            // A record that reaches past the part's end plus one line feed holds `x` of
            // `PART_END`: the part is over.
            if let Some(part) = self.part.as_mut()
                && marks.part_len.is_some_and(|len| after > len + 1)
            {
                if marks.last_content.is_none_or(|at| start > at) {
                    // The record is `PART_END`'s own: the part ends between records.
                    drop(marks);
                    return self.end();
                }
                if !part.last {
                    // The cut fell inside a quoted cell: the caller reads the file in one pass.
                    part.missed = true;
                    return Ok(false);
                }
                return Err(Error::Csv {
                    path: self.path.clone(),
                    line,
                    message: CsvQuoting::CUT_OFF.to_owned(),
                });
            }
            // The parser has seen the end of the input, so this is the last row.
            if marks.ended && marks.cut_off {
                return Err(Error::Csv {
                    path: self.path.clone(),
                    line,
                    message: CsvQuoting::CUT_OFF.to_owned(),
                });
            }
            drop(marks);
            // Spreadsheets save rows of bare separators for formatted but empty rows.
            if self
                .record
                .iter()
                .all(|c| c.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            if let Some(problem) = self.misfit(line)? {
                // Kept going only to list every such row; the read fails at the end.
                self.misfits.push(MalformedRow { line, problem });
                continue;
            }
            row.line = line;
            row.cells.resize(self.headers.len(), String::new());
            // One check of the whole row is much cheaper than one per cell; cells are checked
            // one by one only to name the bad one. (A row is valid as a whole and cell by cell
            // when no cell starts inside a character.)
            let whole_row_valid = std::str::from_utf8(self.record.as_slice()).is_ok()
                && self
                    .record
                    .iter()
                    .all(|cell| cell.first().is_none_or(|&b| (b as i8) >= -0x40));
            let mut given = self.record.iter();
            for (i, cell) in row.cells.iter_mut().enumerate() {
                cell.clear();
                let Some(bytes) = given.next() else {
                    continue;
                };
                // A skipped column is still checked, so a file is refused whatever is read.
                let skipped = self.skipped.get(i).copied().unwrap_or(false);
                if skipped && whole_row_valid {
                    continue;
                }
                let text = std::str::from_utf8(bytes).map_err(|e| Error::Csv {
                    path: self.path.clone(),
                    line,
                    message: format!(
                        "column `{}` is not valid UTF-8 (invalid byte at position {}); save the file as \"CSV UTF-8\"",
                        self.headers[i],
                        e.valid_up_to() + 1
                    ),
                })?;
                if !skipped {
                    cell.push_str(unescape_cell(text));
                }
            }
            return Ok(true);
        }
    }

    /// [`Self::read_row`] for a workbook's sheet: the same checks, on typed cells already turned
    /// into text (no `'` to undo: a workbook stores text as text).
    fn read_sheet_row(&mut self, row: &mut AnnotationRow) -> Result<bool> {
        let Some(rows) = self.sheet.as_mut() else {
            return Ok(false);
        };
        for (line, cells) in rows.by_ref() {
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let columns = self.headers.len();
            if let Some(extra) = cells
                .iter()
                .skip(columns)
                .position(|c| !c.trim().is_empty())
            {
                return Err(Error::Csv {
                    path: self.path.clone(),
                    line,
                    message: format!(
                        "a value in column {}, which has no header; give the column a name in row 1 (or move the value) and run again",
                        crate::workbook::column_letters(columns + extra)
                    ),
                });
            }
            row.line = line;
            row.cells.resize(columns, String::new());
            let mut given = cells.into_iter();
            for (i, cell) in row.cells.iter_mut().enumerate() {
                cell.clear();
                if let Some(text) = given.next()
                    && !self.skipped.get(i).copied().unwrap_or(false)
                {
                    *cell = text;
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// The end of the input: fine unless rows did not fit the header.
    fn end(&mut self) -> Result<bool> {
        if self.misfits.is_empty() {
            return Ok(false);
        }
        Err(Error::MalformedRows {
            path: self.path.clone(),
            columns: self.headers.len(),
            delimiter: char::from(self.delimiter),
            rows: std::mem::take(&mut self.misfits),
        })
    }

    /// Why the current record does not fit the header: cells beyond the header's columns, or a
    /// row separated by another separator (re-saved by a spreadsheet with other settings).
    /// A quote left open, which swallows the line end and the next line, is an error at once,
    /// naming the line and column where the quote opened.
    fn misfit(&self, line: u64) -> Result<Option<String>> {
        let (given, columns) = (self.record.len(), self.headers.len());
        let blank = |c: &[u8]| c.iter().all(u8::is_ascii_whitespace);
        if given > columns && !self.record.iter().skip(columns).all(blank) {
            let is_break = |b: &u8| *b == b'\n' || *b == b'\r';
            if let Some(at) = self.record.iter().position(|c| c.iter().any(is_break)) {
                let before: usize = self.record.iter().take(at).map(|c| count(c, b'\n')).sum();
                let opened = line + before as u64;
                let column = self
                    .headers
                    .get(at)
                    .map_or_else(|| format!("column {}", at + 1), |h| format!("`{h}`"));
                let runs_to = opened + count(&self.record[at], b'\n') as u64;
                return Err(Error::Csv {
                    path: self.path.clone(),
                    line: opened,
                    message: format!(
                        "the quote that opens the cell of column {column} on this line is never closed, so the cell runs on to line {runs_to} and the rows after it are misread; close the quote (or remove it) and run again"
                    ),
                });
            }
            return Ok(Some(format!(
                "{given} cells, {} more than the header's {columns} columns",
                given - columns
            )));
        }
        if given < columns {
            for other in [b',', b';', b'\t'] {
                let seen: usize = self.record.iter().map(|c| count(c, other)).sum();
                if other != self.delimiter && given + seen >= columns {
                    let shown = if other == b'\t' {
                        "tab".to_owned()
                    } else {
                        format!("`{}`", char::from(other))
                    };
                    return Ok(Some(format!(
                        "separated by {shown}, not by the header's `{}` (re-saved by a spreadsheet with other settings?)",
                        char::from(self.delimiter)
                    )));
                }
            }
        }
        Ok(None)
    }

    fn next_row(&mut self) -> Result<Option<AnnotationRow>> {
        let mut row = AnnotationRow {
            line: 0,
            cells: Vec::with_capacity(self.headers.len()),
        };
        Ok(self.read_row(&mut row)?.then_some(row))
    }
}

impl<R: Read> Iterator for AnnotationReader<R> {
    type Item = Result<AnnotationRow>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row().transpose()
    }
}

fn count(cell: &[u8], byte: u8) -> usize {
    cell.iter().filter(|&&b| b == byte).count()
}

/// A whole annotation CSV in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationTable {
    /// Header cells.
    pub headers: Vec<String>,
    /// Data rows.
    pub rows: Vec<AnnotationRow>,
}

impl AnnotationTable {
    /// The index of a column, matched case-insensitively.
    #[must_use]
    pub fn index_of(&self, name: &str) -> Option<usize> {
        index_of(&self.headers, name)
    }
}

/// Reads a whole annotation CSV (a convenience over [`AnnotationReader`] for small files).
///
/// # Errors
/// As [`AnnotationReader`].
pub fn read_annotation_file(path: &Path) -> Result<AnnotationTable> {
    let reader = AnnotationReader::open(path)?;
    let headers = reader.headers().to_vec();
    let rows = reader.collect::<Result<Vec<_>>>()?;
    Ok(AnnotationTable { headers, rows })
}

fn index_of(headers: &[String], name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|h| h == name)
        .or_else(|| headers.iter().position(|h| h.eq_ignore_ascii_case(name)))
}

/// The separator a header line uses: whichever of `,`, `;` and tab occurs most often outside
/// quotes (a comma on a tie).
fn detect_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    candidates[best]
}

/// The parser every reader uses; a part of a file is read in bigger pieces (it is read
/// straight from the file, not from a thread's chunks).
fn csv_reader<R: Read>(delimiter: u8, part: bool, source: R) -> csv::Reader<R> {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false);
    if part {
        builder.buffer_capacity(64 * 1024);
    }
    builder.from_reader(source)
}

/// The line breaks of each part of a file, counted once each by whichever reader needs them
/// first: a part's reader counts the part before it, then adds the counts of the parts before
/// that (counting any that no one has started, waiting for any being counted). Nothing waits
/// for a reader to be read, so the parts can be read on any threads in any order.
struct PartLines {
    path: PathBuf,
    /// Each part's byte range.
    ranges: Vec<(u64, u64)>,
    counts: Mutex<Vec<Count>>,
    counted: std::sync::Condvar,
}

#[derive(Debug, Clone)]
enum Count {
    Todo,
    Counting,
    Done(u64),
    Failed(String),
}

impl std::fmt::Debug for PartLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartLines")
            .field("ranges", &self.ranges)
            .finish_non_exhaustive()
    }
}

impl PartLines {
    /// Line breaks before part `index`.
    fn before(&self, index: usize) -> io::Result<u64> {
        let mut sum = 0;
        for part in (0..index).rev() {
            let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                match &counts[part] {
                    Count::Done(n) => {
                        sum += n;
                        break;
                    }
                    Count::Failed(message) => return Err(io::Error::other(message.clone())),
                    Count::Counting => {
                        counts = self
                            .counted
                            .wait(counts)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                    Count::Todo => {
                        counts[part] = Count::Counting;
                        drop(counts);
                        let (start, end) = self.ranges[part];
                        let counted = count_line_breaks(&self.path, start, end);
                        counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
                        counts[part] = match &counted {
                            Ok(n) => Count::Done(*n),
                            Err(e) => Count::Failed(e.to_string()),
                        };
                        self.counted.notify_all();
                    }
                }
            }
        }
        Ok(sum)
    }
}

/// Line breaks in bytes `start..end` of a file as [`LineCounter`] counts them: CR, LF and CRLF
/// each end one line (`start` is 0 or just past a line feed).
fn count_line_breaks(path: &Path, start: u64, end: u64) -> io::Result<u64> {
    let mut file = File::open(path)?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(start))?;
    let mut file = file.take(end - start);
    let mut buffer = vec![0u8; 1 << 20];
    let (mut lines, mut after_cr) = (0u64, false);
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => return Ok(lines),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let bytes = &buffer[..n];
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            let follows_cr = if i == 0 {
                after_cr
            } else {
                bytes[i - 1] == b'\r'
            };
            if bytes[i] == b'\r' || !follows_cr {
                lines += 1;
            }
        }
        after_cr = bytes[n - 1] == b'\r';
    }
}

/// Where to cut a file of `size` bytes into up to `parts` parts (the starts of every part but
/// the first), or `None` when it should not be cut: its first line break is not a line feed,
/// or fewer than two parts could be made.
///
/// Each cut is just past a line feed at or after `size * k / parts`, and not before a
/// byte-order mark (the parser would drop it). Among the first line feeds there, one that
/// follows a closing quote (an odd run of quotes, or `""` after a separator) is preferred: a
/// line feed inside a quoted cell rarely does. Whether the cut is right is checked when the
/// part before it is read.
fn find_cuts(file: &File, size: u64, parts: usize) -> io::Result<Option<Vec<u64>>> {
    const WINDOW: usize = 1 << 20;
    const BEFORE: u64 = 64;
    const CANDIDATES: usize = 64;
    let read_at = |offset: u64, buffer: &mut Vec<u8>| -> io::Result<()> {
        let mut reader = file.try_clone()?;
        io::Seek::seek(&mut reader, io::SeekFrom::Start(offset))?;
        buffer.clear();
        reader.take(WINDOW as u64).read_to_end(buffer)?;
        Ok(())
    };
    let mut window = Vec::with_capacity(WINDOW);
    read_at(0, &mut window)?;
    let header = window.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&window);
    let Some(first_break) = memchr::memchr2(b'\n', b'\r', header) else {
        return Ok(None);
    };
    let line_feed = header[first_break] == b'\n' || header.get(first_break + 1) == Some(&b'\n');
    if !line_feed {
        return Ok(None);
    }
    let delimiter = detect_delimiter(&header[..first_break]);
    // Past the header line (and then some), so no cut can fall inside the header record.
    let mut previous = (window.len() - header.len() + first_break) as u64 + 1;
    let parts = u64::try_from(parts).unwrap_or(u64::MAX);
    let mut cuts = Vec::new();
    for k in 1..parts {
        let target = (size / parts * k).max(previous + 1);
        let from = target.saturating_sub(BEFORE);
        read_at(from, &mut window)?;
        let skip = usize::try_from(target - from).unwrap_or(0);
        // The first line feed, the first after `""` and a separator, the first after an odd
        // run of quotes (best).
        let (mut first, mut empty_cell, mut chosen) = (None, None, None);
        for i in memchr::memchr_iter(b'\n', &window[skip.min(window.len())..])
            .map(|i| i + skip)
            .take(CANDIDATES)
        {
            let cut = from + i as u64 + 1;
            let after = &window[i + 1..];
            if cut >= size || (after.len() < 3 && from + (WINDOW as u64) < size) {
                break;
            }
            if after.starts_with(b"\xEF\xBB\xBF") {
                continue;
            }
            first.get_or_insert(cut);
            match closes_record(&window[..i], delimiter) {
                Some(true) => {
                    chosen = Some(cut);
                    break;
                }
                Some(false) => {
                    empty_cell.get_or_insert(cut);
                }
                None => {}
            }
        }
        if let Some(cut) = chosen.or(empty_cell).or(first) {
            cuts.push(cut);
            previous = cut;
        }
    }
    Ok((!cuts.is_empty()).then_some(cuts))
}

/// Whether a line that ends with `line` (without its line feed) looks like the end of a
/// record: `Some(true)` when it ends with an odd run of quotes (a closing quote), `Some(false)`
/// when with `""` after a separator (an empty quoted cell, or a quote inside a quoted cell),
/// `None` otherwise.
fn closes_record(line: &[u8], delimiter: u8) -> Option<bool> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let quotes = line.iter().rev().take_while(|&&b| b == b'"').count();
    let before = line.len() - quotes;
    if quotes % 2 == 1 {
        Some(true)
    } else if quotes >= 2
        && (before == 0
            || matches!(line[before - 1], b'\n' | b'\r')
            || line[before - 1] == delimiter)
    {
        Some(false)
    } else {
        None
    }
}

fn csv_error(path: &Path, e: &csv::Error) -> Error {
    let line = e.position().map_or(0, csv::Position::line);
    match e.kind() {
        csv::ErrorKind::Io(io) => Error::io(path, io::Error::new(io.kind(), io.to_string())),
        _ => Error::Csv {
            path: path.to_owned(),
            line,
            message: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(headers: &[&str], rows: &[Vec<&str>]) -> Vec<u8> {
        let mut w = SafeCsvWriter::new(Path::new("t.csv"), Vec::new(), headers).unwrap();
        for row in rows {
            w.write_row(row).unwrap();
        }
        w.finish().unwrap()
    }

    fn read(bytes: &[u8]) -> AnnotationTable {
        let reader = AnnotationReader::new(Path::new("t.csv"), bytes).unwrap();
        let headers = reader.headers().to_vec();
        let rows = reader.collect::<Result<Vec<_>>>().unwrap();
        AnnotationTable { headers, rows }
    }

    #[test]
    fn a_file_cut_inside_a_cell_is_refused_at_the_row_it_cut() {
        let bytes = write(
            &["row_id", "notes"],
            &[vec!["1", "first"], vec!["2", "second line\nof two"]],
        );
        assert_eq!(read(&bytes).rows.len(), 2);
        let cut = bytes.len() - "of two\"\r\n".len();
        let reader = AnnotationReader::new(Path::new("t.csv"), &bytes[..cut]).unwrap();
        let rows: Vec<Result<AnnotationRow>> = reader.collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].as_ref().unwrap().cells, ["1", "first"]);
        let err = rows[1].as_ref().unwrap_err().to_string();
        assert_eq!(err, format!("t.csv:3: {}", CsvQuoting::CUT_OFF));
        // Cut right after a closing quote, the row is whole: nothing to refuse.
        let whole = bytes.len() - "\r\n".len();
        assert_eq!(read(&bytes[..whole]).rows.len(), 2);
    }

    #[test]
    fn dangerous_cells_are_prefixed_and_restored() {
        for cell in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "-5 volts",
            "+1",
            "@x",
            "\tleading tab",
            "\nleading newline",
            "\rleading return",
            "|pipe",
            "＝1+1",
            "＠x",
            "'=already quoted",
            "''=twice",
        ] {
            let written = escape_cell(cell);
            assert!(written.starts_with('\''), "{cell:?} -> {written:?}");
            assert_eq!(unescape_cell(&written), cell, "{cell:?}");
        }
        for cell in ["", "plain", "'tis", "a=b", "5 - 3", "'", "''"] {
            assert_eq!(escape_cell(cell), cell);
            assert_eq!(unescape_cell(cell), cell);
        }
    }

    #[test]
    fn files_have_a_bom_quote_everything_and_end_lines_with_crlf() {
        let bytes = write(&["row_id", "note"], &[vec!["1", "=1+2\";=1+2"]]);
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "\u{feff}\"row_id\",\"note\"\r\n\"1\",\"'=1+2\"\";=1+2\"\r\n"
        );
    }

    #[test]
    fn round_trip_is_lossless() {
        let cells = vec![
            "1",
            "=HYPERLINK(\"http://x\",\"y\")",
            "-5 volts",
            "multi\nline, with \"quotes\"",
            "\u{e9}t\u{e9} 500\u{b0}F",
        ];
        let table = read(&write(
            &["a", "b", "c", "d", "e"],
            std::slice::from_ref(&cells),
        ));
        assert_eq!(table.rows[0].cells, cells);
        assert_eq!(table.rows[0].line, 2);
    }

    #[test]
    fn reads_what_spreadsheets_write_back() {
        // European Excel: semicolons, CRLF, no BOM, no quotes where not needed, trailing
        // empty columns, padded header cells and a row of bare separators.
        let text = " row_id ;annotator_a; notes;;\r\n1;'=SUM(A1);x;;\r\n;;;;\r\n2;\"a;b\";;;\r\n";
        let table = read(text.as_bytes());
        assert_eq!(table.headers, ["row_id", "annotator_a", "notes"]);
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0].cells, ["1", "=SUM(A1)", "x"]);
        assert_eq!(table.rows[1].cells, ["2", "a;b", ""]);
        assert_eq!(table.rows[1].line, 4);
        let blank_lines = read(b"row_id,a\r\n\r\n1,\"x\r\ny\"\r\n\r\n2,z\r\n");
        let lines: Vec<u64> = blank_lines.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 6]);
        let lf = read(b"row_id,a\n\n1,\"x\ny\"\n\n2,z\n");
        let lines: Vec<u64> = lf.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 6]);
        let tabs = read(b"row_id\tnote\n1\t-2\n");
        assert_eq!(tabs.rows[0].cells, ["1", "-2"]);
        let short = read(b"\xEF\xBB\xBFrow_id,a,b\n1\n");
        assert_eq!(short.rows[0].cells, ["1", "", ""]);
    }

    #[test]
    fn empty_and_broken_files_name_the_problem() {
        let err = AnnotationReader::new(Path::new("e.csv"), &b""[..])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "e.csv: the file is empty (expected a header line starting with `row_id`)"
        );
        let err = AnnotationReader::new(Path::new("d.csv"), &b"row_id,a,A\n"[..])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(err, "d.csv:1: column `A` appears twice in the header");
        let reader = AnnotationReader::new(Path::new("u.csv"), &b"row_id,a\n1,x\n2,\xff\n"[..]);
        let results: Vec<_> = reader.unwrap().collect();
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(
            err.starts_with("u.csv:3: column `a` is not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn read_row_reuses_the_row_and_matches_the_iterator() {
        let bytes = b"row_id,a,b\r\n1,'=x,long cell\r\n,,\r\n2\r\n3,\"q,\"\"\",z\r\n";
        let expected = read(bytes);
        let mut reader = AnnotationReader::new(Path::new("t.csv"), &bytes[..]).unwrap();
        let mut row = AnnotationRow {
            line: 0,
            cells: Vec::new(),
        };
        let mut rows = Vec::new();
        while reader.read_row(&mut row).unwrap() {
            rows.push(row.clone());
        }
        assert_eq!(rows, expected.rows);
        assert_eq!(rows[0].cells, ["1", "=x", "long cell"]);
        assert_eq!(rows[1].cells, ["2", "", ""]);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4, 5]);
        assert_eq!(rows[2].cells, ["3", "q,\"", "z"]);
        assert!(!reader.read_row(&mut row).unwrap());

        let mut bad =
            AnnotationReader::new(Path::new("u.csv"), &b"row_id,a\n1,\xff\n"[..]).unwrap();
        let err = bad.read_row(&mut row).unwrap_err().to_string();
        assert!(
            err.starts_with("u.csv:2: column `a` is not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn a_ten_megabyte_cell_round_trips() {
        let big = format!("={}", "x\"y,z;".repeat(10 * 1024 * 1024 / 6));
        let table = read(&write(&["row_id", "note"], &[vec!["1", &big]]));
        assert_eq!(table.rows[0].cells[1], big);
    }

    /// Every row's line, or the error, as `new` (inline) or `open` (read-ahead thread) reads it.
    fn lines_and_error(reader: Result<AnnotationReader<impl Read>>) -> (Vec<u64>, String) {
        let mut lines = Vec::new();
        let mut reader = match reader {
            Ok(reader) => reader,
            Err(e) => return (lines, e.to_string()),
        };
        let mut row = AnnotationRow {
            line: 0,
            cells: Vec::new(),
        };
        loop {
            match reader.read_row(&mut row) {
                Ok(true) => lines.push(row.line),
                Ok(false) => return (lines, String::new()),
                Err(e) => return (lines, e.to_string()),
            }
        }
    }

    #[test]
    fn reading_ahead_on_a_thread_gives_the_same_lines_and_errors() {
        // Rows of varied lengths, CR, LF and CRLF breaks and blank lines, so that chunk ends
        // fall inside cells, between a CR and its LF, and inside runs of blank lines.
        let mut text = b"row_id,note\r\n".to_vec();
        for i in 0..40_000u32 {
            let note = "x".repeat((i % 37) as usize);
            let end: &[u8] = match i % 5 {
                0 => b"\r\n",
                1 => b"\n",
                2 => b"\r",
                3 => b"\r\n\r\n\n",
                _ => b"\n\"quoted\r\nline\",z\n",
            };
            text.extend_from_slice(format!("{i},\"{note}\"").as_bytes());
            text.extend_from_slice(end);
        }
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.csv");
        std::fs::write(&whole, &text).unwrap();
        // The same file cut off inside a quoted cell, and with a bad byte near its end.
        let cut = dir.path().join("cut.csv");
        let mut cut_text = text.clone();
        cut_text.extend_from_slice(b"9,\"never closed\n");
        std::fs::write(&cut, &cut_text).unwrap();
        let bad = dir.path().join("bad.csv");
        let mut bad_text = text.clone();
        bad_text.extend_from_slice(b"9,\xff\n");
        std::fs::write(&bad, &bad_text).unwrap();
        for (path, bytes) in [(&whole, &text), (&cut, &cut_text), (&bad, &bad_text)] {
            let inline = lines_and_error(AnnotationReader::new(path, &bytes[..]));
            let ahead = lines_and_error(AnnotationReader::open(path));
            assert!(inline.0.len() > 40_000, "{}", inline.0.len());
            assert_eq!(inline, ahead, "{}", path.display());
        }
        let (_, cut_error) = lines_and_error(AnnotationReader::open(&cut));
        assert!(cut_error.contains(CsvQuoting::CUT_OFF), "{cut_error}");
        let (_, bad_error) = lines_and_error(AnnotationReader::open(&bad));
        assert!(bad_error.contains("not valid UTF-8"), "{bad_error}");
    }

    /// Every row (line and cells) read, and the error (or the misfit rows) at the end.
    type RowsRead = (Vec<(u64, Vec<String>)>, String);

    /// Rows (line and cells) and the error of every part in turn, as one list; `None` when a
    /// part other than the last stopped inside a quoted cell.
    fn parts_lines_and_error(path: &Path, parts: usize) -> Option<RowsRead> {
        let readers = match AnnotationReader::open_parts(path, parts, 0) {
            Ok(readers) => readers.expect("the file is cut"),
            Err(e) => return Some((Vec::new(), e.to_string())),
        };
        assert!(readers.len() > 1, "{}", path.display());
        let mut rows = Vec::new();
        let mut misfits = Vec::new();
        let mut row = AnnotationRow {
            line: 0,
            cells: Vec::new(),
        };
        for mut reader in readers {
            loop {
                match reader.read_row(&mut row) {
                    Ok(true) => rows.push((row.line, row.cells.clone())),
                    Ok(false) => break,
                    Err(Error::MalformedRows { rows, .. }) => {
                        misfits.extend(rows);
                        break;
                    }
                    Err(e) => return Some((rows, e.to_string())),
                }
            }
            if reader.missed_cut() {
                return None;
            }
        }
        let error = if misfits.is_empty() {
            String::new()
        } else {
            misfits
                .iter()
                .map(|m| format!("{}: {}", m.line, m.problem))
                .collect::<Vec<_>>()
                .join("; ")
        };
        Some((rows, error))
    }

    /// The same, read in one pass by [`AnnotationReader::open`].
    fn whole_lines_and_error(path: &Path) -> RowsRead {
        let mut reader = match AnnotationReader::open(path) {
            Ok(reader) => reader,
            Err(e) => return (Vec::new(), e.to_string()),
        };
        let mut rows = Vec::new();
        let mut row = AnnotationRow {
            line: 0,
            cells: Vec::new(),
        };
        loop {
            match reader.read_row(&mut row) {
                Ok(true) => rows.push((row.line, row.cells.clone())),
                Ok(false) => return (rows, String::new()),
                Err(Error::MalformedRows { rows: misfits, .. }) => {
                    let error = misfits
                        .iter()
                        .map(|m| format!("{}: {}", m.line, m.problem))
                        .collect::<Vec<_>>()
                        .join("; ");
                    return (rows, error);
                }
                Err(e) => return (rows, e.to_string()),
            }
        }
    }

    /// A file of `rows` rows with quoted line feeds, CRLF and LF and lone CR line ends, blank
    /// lines and rows of bare separators, and `extra` put in after `at` rows.
    fn tricky_file(rows: u32, at: u32, extra: &[u8]) -> Vec<u8> {
        let mut text = b"\xEF\xBB\xBF\"row_id\",\"label\",\"note\"\r\n".to_vec();
        for i in 0..rows {
            if i == at {
                text.extend_from_slice(extra);
            }
            let row = match i % 9 {
                0 => format!("\"{i}\",\"R\",\"two\nlines\"\r\n"),
                1 => format!("{i},N,plain\n"),
                2 => format!("\"{i}\",\"S\",\"\"\r\n\r\n"),
                3 => format!("{i},C,\"quote \"\"inside\"\"\r\nand more\"\r\n"),
                4 => format!("{i},R,x\r"),
                5 => format!("\n{i},N,\"\"\r\n"),
                6 => format!(",,\r\n{i},S,\"a,b\"\n"),
                7 => format!("\"{i}\",\"C\",\",\"\"\n,\"\"\"\r\n"),
                _ => format!("\u{feff}{i},R,\"\u{feff}bom inside\"\r\n"),
            };
            text.extend_from_slice(row.as_bytes());
        }
        text
    }

    #[test]
    fn parts_of_a_file_give_the_rows_lines_and_errors_of_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("clean", tricky_file(3000, 0, b"")),
            ("misfits", {
                let mut t = tricky_file(3000, 2500, b"1,R,x,extra\r\n");
                t.extend_from_slice(b"2,R,x,y,z\n3;R;x\n");
                t
            }),
            ("cut_off", {
                let mut t = tricky_file(3000, 0, b"");
                t.extend_from_slice(b"9,R,\"never\nclosed\n");
                t
            }),
            ("bad_utf8", tricky_file(3000, 2900, b"9,R,\xff\n")),
            (
                "unclosed_quote",
                tricky_file(3000, 2200, b"9,R,\"opened,x\n1,2,3,4\n"),
            ),
            ("no_line_end", {
                let mut t = tricky_file(3000, 0, b"");
                t.extend_from_slice(b"9,R,last");
                t
            }),
            ("closed_at_end", {
                let mut t = tricky_file(3000, 0, b"");
                t.extend_from_slice(b"9,R,\"last\"");
                t
            }),
            ("blank_end", {
                let mut t = tricky_file(3000, 0, b"");
                t.extend_from_slice(b"\r\n\r\n,,\n\r");
                t
            }),
        ];
        for (name, text) in &cases {
            let path = dir.path().join(format!("{name}.csv"));
            std::fs::write(&path, text).unwrap();
            let whole = whole_lines_and_error(&path);
            assert!(whole.0.len() > 2000, "{name}: {}", whole.0.len());
            for parts in [2, 3, 5, 16] {
                let split = parts_lines_and_error(&path, parts)
                    .unwrap_or_else(|| panic!("{name}: a cut missed"));
                let differs = split.0.iter().zip(&whole.0).position(|(a, b)| a != b);
                assert_eq!(
                    differs.map(|i| (&split.0[i], &whole.0[i])),
                    None,
                    "{name}, {parts} parts"
                );
                assert_eq!(
                    (split.0.len(), &split.1),
                    (whole.0.len(), &whole.1),
                    "{name}, {parts} parts"
                );
            }
        }
    }

    #[test]
    fn parts_read_backwards_or_on_threads_number_their_lines_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clean.csv");
        std::fs::write(&path, tricky_file(3000, 0, b"")).unwrap();
        let whole = whole_lines_and_error(&path);
        let read_part = |mut reader: AnnotationReader<io::Take<File>>| {
            let mut row = AnnotationRow {
                line: 0,
                cells: Vec::new(),
            };
            let mut lines = Vec::new();
            while reader.read_row(&mut row).unwrap() {
                lines.push(row.line);
            }
            lines
        };
        let expected: Vec<u64> = whole.0.iter().map(|(line, _)| *line).collect();
        let readers = AnnotationReader::open_parts(&path, 5, 0).unwrap().unwrap();
        let mut backwards: Vec<Vec<u64>> = readers.into_iter().rev().map(read_part).collect();
        backwards.reverse();
        assert_eq!(backwards.concat(), expected);
        let readers = AnnotationReader::open_parts(&path, 5, 0).unwrap().unwrap();
        let threaded: Vec<Vec<u64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = readers
                .into_iter()
                .map(|r| scope.spawn(move || read_part(r)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(threaded.concat(), expected);
    }

    #[test]
    fn a_cut_inside_a_quoted_cell_is_noticed() {
        // One cell of many lines across the middle, each line ending like a record (`,""`).
        let mut text = b"row_id,label,note\n1,R,x\n2,N,\"".to_vec();
        for _ in 0..20_000 {
            text.extend_from_slice(b"a,\"\"\n");
        }
        text.extend_from_slice(b"end\"\n3,S,y\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.csv");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(parts_lines_and_error(&path, 2), None);
        let (rows, error) = whole_lines_and_error(&path);
        assert_eq!((rows.len(), error.as_str()), (3, ""));
    }

    #[test]
    fn a_header_across_the_first_cut_is_noticed() {
        let mut text = b"row_id,\"note".to_vec();
        for _ in 0..10_000 {
            text.extend_from_slice(b"\"\"\n");
        }
        text.extend_from_slice(b"\"\n1,x\n2,y\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("header.csv");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(parts_lines_and_error(&path, 2), None);
        assert_eq!(whole_lines_and_error(&path).0.len(), 2);
    }

    #[test]
    fn files_of_cr_line_ends_or_one_line_are_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("cr.csv", b"row_id,a\r1,x\r2,y\r3,z\r".to_vec()),
            ("one.csv", b"row_id,a\n".to_vec()),
            ("small.csv", b"row_id,a\n1,x\n2,y\n".to_vec()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &text).unwrap();
            let cut = AnnotationReader::open_parts(&path, 4, 0).unwrap();
            if name == "small.csv" {
                assert_eq!(cut.map(|r| r.len()), Some(2));
                assert!(
                    AnnotationReader::open_parts(&path, 4, 1 << 20)
                        .unwrap()
                        .is_none()
                );
            } else {
                assert!(cut.is_none(), "{name}");
            }
        }
    }

    #[test]
    fn readers_can_move_to_another_thread() {
        fn send<T: Send>(_: &T) {}
        send(&AnnotationReader::new(Path::new("t.csv"), &b"row_id\n"[..]).unwrap());
    }

    #[test]
    fn delimiter_detection_ignores_quoted_separators() {
        assert_eq!(detect_delimiter(b"\"a;b;c\",d,e"), b',');
        assert_eq!(detect_delimiter(b"a;b;c"), b';');
        assert_eq!(detect_delimiter(b"a\tb"), b'\t');
        assert_eq!(detect_delimiter(b"row_id"), b',');
    }
}
