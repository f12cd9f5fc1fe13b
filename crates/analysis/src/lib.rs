//! Understanding a run's errors so the prompt can be fixed: the error analysis of one run
//! (confusion, per-label figures, accuracy with its Wilson interval, MCC, the errors file),
//! where the errors concentrate (slices with Fisher's exact test and Benjamini–Hochberg
//! q-values, confidence calibration), and the comparison of two runs.
//!
//! Reads results CSVs (streamed: memory does not grow with rows beyond the slice counts), the
//! registry and `modules.toml`; returns typed reports and writes its files under
//! `analysis/{MODULE_FOLDER}/` without replacing any file. Statistics come from the `agreement`
//! crate where it has them ([`stats`] holds the rest, tested against SciPy / statsmodels).
//!
//! It must not depend on HTTP, the model client or terminal output: binaries print.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod baseline;
pub mod chain;
pub mod compare;
mod error;
pub mod errors;
pub mod output;
pub mod patterns;
pub mod readable;
pub mod source;
pub mod stats;
pub mod text;

use std::path::Path;

use annotation::sheet::SafeCsvWriter;
use core_config::{AtomicFile, ModuleSpec};

pub use error::{Error, Result};
pub use errors::{ErrorKind, ErrorRow, ErrorsReport, ErrorsTally};
pub use patterns::{PatternsReport, PatternsTally, Slice};
pub use source::Part;
pub use source::{Judged, RowReader, RunRef, Verdict, resolve_run};

/// Receives progress of long reads (every 4,096 rows and at the end). The library never prints.
pub trait Progress {
    /// `rows` rows have been read so far.
    fn rows_read(&mut self, rows: u64) {
        let _ = rows;
    }
}

/// No progress reporting.
impl Progress for () {}

/// Which reports one pass over a run makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// The error analysis and errors file.
    pub errors: bool,
    /// The error patterns.
    pub patterns: bool,
}

/// What one pass over a run made.
#[derive(Debug, Clone, PartialEq)]
pub struct RunAnalysis {
    /// The error analysis (with `errors_file` set), when wanted.
    pub errors: Option<ErrorsReport>,
    /// The error patterns (with `patterns_file` set), when wanted.
    pub patterns: Option<PatternsReport>,
}

/// Reads a run once and makes the wanted reports; writes `{run}_errors.csv`,
/// `{run}_errors.json` and `{run}_patterns.json` under `analysis/{MODULE_FOLDER}/` of `root`.
/// Nothing is written unless the whole CSV reads.
///
/// # Errors
/// When the CSV cannot be read (file and line named) or a file cannot be written.
pub fn analyze_run(
    root: &Path,
    run: &RunRef,
    module: &ModuleSpec,
    wanted: Wanted,
    progress: &mut dyn Progress,
) -> Result<RunAnalysis> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    analyze_run_on(root, run, module, wanted, progress, threads)
}

/// Files smaller than this are read on one thread: cutting them would not pay.
pub const SPLIT_BYTES: u64 = 16 << 20;

/// [`analyze_run`] on at most `threads` threads: a results CSV of at least [`SPLIT_BYTES`]
/// bytes with a `record_id` column is cut into parts of whole records
/// ([`core_config::results::cut_records`], on a thread of its own while the first part is read),
/// each read and tallied on its own thread, and the tallies are merged in file order: the
/// reports and files equal those of a single pass (the errors file keeps the file's row order).
/// The error rows of the later parts wait in memory until the earlier parts are written.
///
/// # Errors
/// As [`analyze_run`]; a malformed row is reported as a single pass would report it (the first
/// in file order).
pub fn analyze_run_on(
    root: &Path,
    run: &RunRef,
    module: &ModuleSpec,
    wanted: Wanted,
    progress: &mut dyn Progress,
    threads: usize,
) -> Result<RunAnalysis> {
    analyze_run_split(root, run, module, wanted, progress, threads, SPLIT_BYTES)
}

/// The tallies of one part of a run.
struct PartTally {
    errors: ErrorsTally,
    patterns: PatternsTally,
    /// The errors-file rows, in file order.
    error_rows: Vec<ErrorRow>,
    /// Rows read.
    rows: u64,
}

/// Reads one later part; `None` when a row's id depends on rows before the part.
fn tally_part(
    run: &RunRef,
    module: &ModuleSpec,
    wanted: Wanted,
    (cuts, k): (&std::sync::Arc<source::Cuts>, usize),
    read: &std::sync::atomic::AtomicU64,
) -> Result<Option<PartTally>> {
    let mut tally = PartTally {
        errors: ErrorsTally::new(module),
        patterns: PatternsTally::new(module),
        error_rows: Vec::new(),
        rows: 0,
    };
    // No record starts where this part would: the parts before hold the whole file.
    let Some(start) = cuts.wait(k) else {
        return Ok(Some(tally));
    };
    let end = source::PartEnd::Cut(std::sync::Arc::clone(cuts), k + 1);
    let mut reader = RowReader::open_bounded(&run.csv, module, start, end)?.for_analysis();
    while let Some(judged) = reader.next_row()? {
        if reader.unnumbered_id() {
            return Ok(None);
        }
        tally.rows += 1;
        if tally.rows.is_multiple_of(4096) {
            read.fetch_add(4096, std::sync::atomic::Ordering::Relaxed);
        }
        if wanted.errors
            && let Some(row) = tally.errors.add(&judged)
        {
            tally.error_rows.push(row);
        }
        if wanted.patterns {
            tally.patterns.add(&judged);
        }
    }
    Ok(Some(tally))
}

/// A scoped thread's result; its panic (a bug) goes on as this thread's.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[expect(clippy::too_many_lines, reason = "one pass, its parts and its files")]
fn analyze_run_split(
    root: &Path,
    run: &RunRef,
    module: &ModuleSpec,
    wanted: Wanted,
    progress: &mut dyn Progress,
    threads: usize,
    split_bytes: u64,
) -> Result<RunAnalysis> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let whole = RowReader::open_for_analysis(&run.csv, module)?;
    let rescored = whole.rescored();
    let size = std::fs::metadata(&run.csv)
        .map_err(|e| Error::io(&run.csv, e))?
        .len();
    let threads = if size >= split_bytes && whole.has_record_ids() {
        threads.max(1)
    } else {
        1
    };
    let dir = output::module_dir(root, module);
    let mut suffixes = Vec::new();
    if wanted.errors {
        suffixes.extend(["_errors.csv", "_errors.json"]);
    }
    if wanted.patterns {
        suffixes.push("_patterns.json");
    }
    let stem = output::free_stem(&dir, &run.name, &suffixes);
    let errors_path = dir.join(format!("{stem}_errors.csv"));
    // The errors file is streamed into a temporary file that appears only once every row read.
    let mut sheet = if wanted.errors {
        let file = AtomicFile::create(&errors_path).map_err(|e| Error::io(&errors_path, e))?;
        Some(SafeCsvWriter::new(
            &errors_path,
            file,
            &errors::ERRORS_HEADERS,
        )?)
    } else {
        None
    };
    let mut errors = ErrorsTally::new(module);
    let mut patterns = PatternsTally::new(module);
    let read = AtomicU64::new(0);
    // Parts after the first are cut by a thread of their own while the first is read: each
    // part's end is waited for only when its reader gets there.
    let cuts = std::sync::Arc::new(source::Cuts::new(size, threads));
    let mut reader = if threads > 1 {
        let end = source::PartEnd::Cut(std::sync::Arc::clone(&cuts), 1);
        RowReader::open_bounded(&run.csv, module, (0, 0), end)?.for_analysis()
    } else {
        whole
    };
    let (count, later) = std::thread::scope(|scope| -> Result<_> {
        let cutter = (threads > 1).then(|| {
            scope.spawn(|| {
                /// Whatever happens to the cutting, no reader waits for ever.
                struct Abandon<'c>(&'c source::Cuts);
                impl Drop for Abandon<'_> {
                    fn drop(&mut self) {
                        self.0.abandon();
                    }
                }
                let _abandon = Abandon(&cuts);
                core_config::results::cut_records(&run.csv, b',', threads, |k, cut| {
                    cuts.publish(k, cut);
                })
            })
        });
        let handles: Vec<_> = (1..threads)
            .map(|k| {
                let cuts = &cuts;
                let read = &read;
                scope.spawn(move || tally_part(run, module, wanted, (cuts, k), read))
            })
            .collect();
        let mut count = 0u64;
        while let Some(judged) = reader.next_row()? {
            count += 1;
            if count.is_multiple_of(4096) {
                progress.rows_read(count + read.load(Ordering::Relaxed));
            }
            if let Some(sheet) = sheet.as_mut()
                && let Some(row) = errors.add(&judged)
            {
                sheet.write_row(&row.cells())?;
            }
            if wanted.patterns {
                patterns.add(&judged);
            }
        }
        if let Some(cutter) = cutter {
            join(cutter).map_err(|e| Error::io(&run.csv, e))?;
        }
        let mut later = Vec::with_capacity(handles.len());
        for handle in handles {
            later.push(join(handle)?);
        }
        Ok((count, later))
    })?;
    let mut count = count;
    if later.iter().any(Option::is_none) {
        // A later part cannot name its rows: read the file whole.
        drop(sheet);
        return analyze_run_split(root, run, module, wanted, progress, 1, split_bytes);
    }
    for tally in later.into_iter().flatten() {
        if let Some(sheet) = sheet.as_mut() {
            for row in &tally.error_rows {
                sheet.write_row(&row.cells())?;
            }
        }
        count += tally.rows;
        errors.merge(&tally.errors);
        patterns.merge(&tally.patterns);
    }
    progress.rows_read(count);
    let display = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let errors_report = match sheet {
        Some(sheet) => {
            let file = sheet.finish()?;
            let written = file.commit_new().map_err(|e| Error::io(&errors_path, e))?;
            let mut report = errors.finish(run, rescored);
            report.errors_file = Some(display(&written));
            output::write_json(&dir.join(format!("{stem}_errors.json")), &report)?;
            Some(report)
        }
        None => None,
    };
    let patterns_report = if wanted.patterns {
        let path = dir.join(format!("{stem}_patterns.json"));
        let mut report = patterns.finish(run);
        report.patterns_file = Some(display(&path));
        output::write_json(&path, &report)?;
        Some(report)
    } else {
        None
    };
    Ok(RunAnalysis {
        errors: errors_report,
        patterns: patterns_report,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use core_config::results::ResultsWriter;
    use core_config::{Catalog, ResultRow};
    use serde_json::json;

    use super::*;

    fn m02() -> ModuleSpec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml");
        Catalog::load(&path)
            .unwrap()
            .resolve("m02")
            .unwrap()
            .clone()
    }

    /// A results CSV whose cells hold what cuts could trip on: line feeds and quotes inside
    /// quoted reasoning, CRLF inside cells, errored rows, and (with `ids: false`) rows without a
    /// record id.
    fn results(dir: &Path, rows: usize, ids: bool) -> RunRef {
        let module = m02();
        let csv = dir.join("experiment_results/M02_ClassifyOwnBrandKeywords/M02_parts.csv");
        let mut writer = ResultsWriter::create(&csv, &module).unwrap();
        for i in 0..rows {
            let branded = i % 3 == 0;
            let keyword = format!(
                "{}bottle {} \"lid\"",
                if branded { "owala " } else { "" },
                i % 17
            );
            let expected = if branded { json!("OB") } else { json!(null) };
            let wrong = i % 7 == 0;
            let errored = i % 23 == 0;
            let answer = if wrong {
                if branded { json!(null) } else { json!("OB") }
            } else {
                expected.clone()
            };
            let reasoning = format!(
                "line one of {i}\nsaid \"so\",\r\nthen, {}",
                "x".repeat(i % 50)
            );
            writer
                .write(&ResultRow {
                    record_id: if ids || i % 5 != 0 { format!("r{i}") } else { String::new() },
                    input: json!({"keyword": keyword, "brand_entities": ["Owala"]}),
                    output: if errored {
                        json!({"error": "timed out", "error_type": "timeout"})
                    } else {
                        json!({"branding_scope_1": answer, "confidence": (i % 10) as f64 / 10.0, "reasoning": reasoning})
                    },
                    expected: json!({"branding_scope_1": expected}),
                    asin: format!("B{:09}", i % 11),
                    brand: "Owala".to_owned(),
                    keyword,
                    reasoning,
                    metrics: json!({}),
                    metadata: json!({"product_type": format!("T{}", i % 4)}),
                    correct: (!errored).then_some(!wrong),
                    error: if errored { "timeout: timed out".to_owned() } else { String::new() },
                    extra: std::collections::BTreeMap::new(),
                })
                .unwrap();
        }
        writer.finish().unwrap();
        RunRef {
            name: "parts".to_owned(),
            id: None,
            csv,
            module: "m02".to_owned(),
            model: None,
            prompt_version: None,
            created_at: None,
            cost_usd: None,
        }
    }

    const BOTH: Wanted = Wanted {
        errors: true,
        patterns: true,
    };

    /// Asserts two reports are equal, their floating-point figures to 1e-12 (sums of
    /// confidences and list scores are added in another order when read in parts).
    fn same(a: &RunAnalysis, b: &RunAnalysis, what: &str) {
        fn walk(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
            use serde_json::Value;
            match (a, b) {
                (Value::Number(x), Value::Number(y)) => {
                    let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                    assert!(
                        (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                        "{at}: {x} vs {y}"
                    );
                }
                (Value::Array(x), Value::Array(y)) => {
                    assert_eq!(x.len(), y.len(), "{at}: lengths");
                    for (i, (x, y)) in x.iter().zip(y).enumerate() {
                        walk(x, y, &format!("{at}[{i}]"));
                    }
                }
                (Value::Object(x), Value::Object(y)) => {
                    assert_eq!(
                        x.keys().collect::<Vec<_>>(),
                        y.keys().collect::<Vec<_>>(),
                        "{at}: keys"
                    );
                    for (k, v) in x {
                        walk(v, &y[k], &format!("{at}.{k}"));
                    }
                }
                _ => assert_eq!(a, b, "{at}"),
            }
        }
        for (x, y) in [
            (
                serde_json::to_value(&a.errors),
                serde_json::to_value(&b.errors),
            ),
            (
                serde_json::to_value(&a.patterns),
                serde_json::to_value(&b.patterns),
            ),
        ] {
            walk(&x.unwrap(), &y.unwrap(), what);
        }
    }

    fn analyse(root: &Path, run: &RunRef, threads: usize) -> (RunAnalysis, Vec<u8>) {
        let made = analyze_run_split(root, run, &m02(), BOTH, &mut (), threads, 0).unwrap();
        let file = made.errors.as_ref().unwrap().errors_file.clone().unwrap();
        (made, std::fs::read(root.join(file)).unwrap())
    }

    #[test]
    fn parts_hold_whole_records_and_cover_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = results(dir.path(), 300, true);
        let mut plain = csv::Reader::from_path(&run.csv).unwrap();
        let id = plain
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "record_id")
            .unwrap();
        let whole: Vec<csv::StringRecord> = plain.records().map(Result::unwrap).collect();
        let size = std::fs::metadata(&run.csv).unwrap().len();
        for n in [1, 2, 3, 7, 64] {
            let parts = core_config::results::split_records(&run.csv, b',', n).unwrap();
            assert!(parts.len() <= n && !parts.is_empty());
            assert_eq!(parts[0].start, 0);
            assert_eq!(parts.last().unwrap().end, size);
            assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
            let mut read = Vec::new();
            let mut lines = Vec::new();
            for part in &parts {
                let mut reader = RowReader::open_part(&run.csv, &m02(), Some(*part)).unwrap();
                while let Some(judged) = reader.next_row().unwrap() {
                    read.push(judged.row.record_id.clone());
                    lines.push(judged.line);
                }
            }
            let mut reader = RowReader::open(&run.csv, &m02()).unwrap();
            let mut want_lines = Vec::new();
            while let Some(judged) = reader.next_row().unwrap() {
                want_lines.push(judged.line);
            }
            let want: Vec<String> = whole.iter().map(|r| r[id].to_owned()).collect();
            assert_eq!(read, want, "{n} parts");
            assert_eq!(lines, want_lines, "{n} parts keep the file's line numbers");
        }
    }

    #[test]
    fn a_run_read_in_parts_gives_the_reports_and_files_of_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let run = results(dir.path(), 500, true);
        let (one, one_file) = analyse(&dir.path().join("one"), &run, 1);
        assert!(one.errors.as_ref().unwrap().error_count > 50);
        for threads in [2, 3, 8] {
            let root = dir.path().join(format!("t{threads}"));
            let (made, file) = analyse(&root, &run, threads);
            same(&made, &one, &format!("{threads} threads"));
            assert_eq!(
                file, one_file,
                "{threads} threads: the errors file, byte for byte"
            );
        }
    }

    #[test]
    fn rows_without_ids_are_read_in_one_pass_so_they_keep_their_row_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let run = results(dir.path(), 200, false);
        let (one, one_file) = analyse(&dir.path().join("one"), &run, 1);
        let (made, file) = analyse(&dir.path().join("two"), &run, 2);
        same(&made, &one, "2 threads");
        assert_eq!(file, one_file);
        assert!(String::from_utf8(file).unwrap().contains("row"));
    }

    #[test]
    fn a_malformed_later_row_is_named_as_one_pass_names_it_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let run = results(dir.path(), 300, true);
        // Cut the file just before the quote that closes a cell of its last row.
        let text = std::fs::read(&run.csv).unwrap();
        let at = memchr::memrchr(b'"', &text[..text.len() - 20]).unwrap();
        let cut: PathBuf = run.csv.with_file_name("M02_cut.csv");
        std::fs::write(&cut, &text[..at]).unwrap();
        let run = RunRef { csv: cut, ..run };
        let err = |threads: usize, root: &Path| {
            analyze_run_split(root, &run, &m02(), BOTH, &mut (), threads, 0)
                .unwrap_err()
                .to_string()
        };
        let one = err(1, &dir.path().join("one"));
        assert!(one.contains("cut off"), "{one}");
        for threads in [2, 4] {
            let root = dir.path().join(format!("t{threads}"));
            assert_eq!(err(threads, &root), one);
            let written = std::fs::read_dir(root.join("analysis/M02_ClassifyOwnBrandKeywords"))
                .map_or(0, Iterator::count);
            assert_eq!(written, 0, "no file, not even a temporary one");
        }
    }
}
