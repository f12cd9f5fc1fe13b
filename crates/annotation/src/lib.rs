//! Annotation tasks: sampling result rows into spreadsheet-safe CSVs for two annotators,
//! reading them back exactly, merging the two annotators' labels and writing gold datasets.
//!
//! - [`generate()`] samples a run's result CSV (seeded, portable: `core_config::sample`) into
//!   `annotation_tasks/{MODULE}_annotation_{timestamp}.csv`, in the columns `modules.toml`
//!   declares for the module.
//! - [`sheet`] writes those files so spreadsheets cannot evaluate a cell, and reads them back
//!   (streaming, [`AnnotationReader`]) exactly as written, whatever Excel or Sheets did on saving.
//! - [`merge()`] resolves the two annotators per field ([`Strategy`], [`Resolution`]) into
//!   `validated_data/`; [`gold()`] turns a validated file into dataset records.
//! - [`workbook`] writes the same rows as an `.xlsx` workbook (dropdowns of the module's labels,
//!   protected product columns, a guide sheet) and reads workbooks back wherever a CSV is read:
//!   [`AnnotationReader::open`] takes either.
//! - [`simulate()`] is a development stand-in for the two annotators.
//!
//! It must not depend on HTTP, the model client or terminal output: binaries print, this crate
//! returns [`Error`]s that name the file, line, row id and column.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod analysis;
mod error;
pub mod files;
pub mod generate;
pub mod generate_text;
pub mod gold;
pub mod merge;
pub mod sheet;
pub mod simulate;
pub mod text;
pub mod values;
pub mod workbook;

pub use core_config::sample::DEFAULT_SEED;
pub use error::{DuplicateRowId, Error, InvalidCell, MalformedRow, Result};
pub use generate::{GenerateOptions, Generated, SheetFormat, generate};
pub use gold::{GoldFormat, GoldOptions, GoldReport, gold};
pub use merge::{
    FieldColumns, FileStatus, MergeOptions, MergeReport, NEEDS_REVIEW, Resolution, Strategy,
    file_status, locate, merge,
};
pub use sheet::{AnnotationReader, AnnotationRow, AnnotationTable, read_annotation_file};
pub use simulate::{GoldFrom, SimulateOptions, SimulateReport, simulate};

/// Receives progress of long reads (every 1,024 rows and at the end), so a binary can draw a
/// progress bar. The library never prints.
pub trait Progress {
    /// `rows` data rows have been processed so far.
    fn rows_done(&mut self, rows: u64) {
        let _ = rows;
    }
}

/// No progress reporting.
impl Progress for () {}
