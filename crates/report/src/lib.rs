//! The static HTML report of `analyze-results report`: an `index.html` (the baseline as a page),
//! one page per module (confusion heatmap, per-label bars, list figures, judge runs with their
//! pass rates and validation status, accuracy history, calibration, error slices, the errors
//! table, list items, annotation agreement) and a comparison page of two runs, written as one
//! folder under `reports/{timestamp}/` that opens from disk with no server and no network:
//! styles, scripts and charts are inline, and nothing references an `http(s)://` resource.
//!
//! It renders what `analysis`, `registry`, `annotation` and `judge` (its recorded judge runs,
//! [`judge::history`]) compute and never computes a statistic of its own. Templates are
//! `minijinja` (HTML auto-escaping on every template, so keywords and reasoning render as
//! text); charts come from the small SVG builder in [`svg`].
//!
//! It must not use HTTP, the model client or terminal output: binaries print. (`analysis` and
//! `judge` link the model client crate for their own commands; nothing here calls it.)
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod build;
mod error;
mod pages;
pub mod svg;

pub use build::{Gathered, ModuleData, gather};
pub use error::{Error, Result};
pub use pages::{
    ErrorLine, Page, SHOWN_SLICES, Written, errors_csv_name, file_url, render_pages, text,
    write_site,
};

/// Errors-table rows embedded per module page unless `--max-rows` says otherwise.
pub const DEFAULT_MAX_ROWS: usize = 2_000;

/// What to put in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Only these modules (ids); every module with runs when empty.
    pub modules: Vec<String>,
    /// Two runs (ids or results CSVs) for the comparison page.
    pub compare: Option<(String, String)>,
    /// Errors-table rows embedded per module page; the full errors CSV is linked.
    pub max_rows: usize,
    /// Accuracy under which a module is flagged (0–1).
    pub threshold: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            modules: Vec::new(),
            compare: None,
            max_rows: DEFAULT_MAX_ROWS,
            threshold: 0.7,
        }
    }
}

/// Receives the report's progress. The library never prints.
pub trait Progress {
    /// A step began (`"m12: reading the run"`, `"writing m12.html"`).
    fn step(&mut self, what: &str) {
        let _ = what;
    }
    /// Rows of the current run read so far.
    fn rows_read(&mut self, rows: u64) {
        let _ = rows;
    }
}

/// No progress reporting.
impl Progress for () {}
