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
    let mut reader = RowReader::open_for_analysis(&run.csv, module)?;
    let rescored = reader.rescored();
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
    let mut count = 0u64;
    while let Some(judged) = reader.next_row()? {
        count += 1;
        if count.is_multiple_of(4096) {
            progress.rows_read(count);
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
