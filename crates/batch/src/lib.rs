//! The OpenAI Batch API workflow: request files (split by count, bytes and tokens), upload,
//! status, download, evaluation through the shared scorer, and resubmission of what failed.
//!
//! - [`generate()`] streams each module's dataset into request files whose bodies are exactly
//!   what a live run sends ([`runner::Plan::request`]), with `custom_id`s traceable to records
//!   ([`IdScheme`]), and writes `manifest.json` with token and batch-price estimates.
//! - [`upload()`], [`status::check`] / [`status::watch`], [`download()`] and
//!   [`resubmit()`] drive the batches through an [`llm_client::Client`] and keep their state in
//!   the folder's JSON files, so every step can be interrupted and run again.
//! - [`evaluate()`] joins answers to records by `custom_id`, scores them with the live run's
//!   code, writes the results CSV and registers it like a live run.
//! - [`text`] renders each report as the `batch` binary prints it.
//! - [`BatchDir`] reads folders written by this crate and by the earlier Python tool.
//!
//! It must not depend on terminal output; progress goes through a trait ([`Reporter`]).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod download;
mod error;
mod evaluate;
mod generate;
mod ids;
pub mod layout;
mod progress;
mod resubmit;
mod results;
pub mod status;
pub mod text;
mod units;
mod upload;

pub use download::{DownloadEntry, DownloadReport, DownloadSummary, GroupFiles, download};
pub use error::{Error, Result};
pub use evaluate::{
    EvaluateOptions, EvaluationReport, EvaluationSummary, GroupEvaluation, MISMATCHES_LISTED,
    Mismatch, Unanswered, evaluate, evaluate_into_cache, grade,
};
pub use generate::{GenerateOptions, Generated, STAGING_PREFIX, generate};
pub use ids::{IdScheme, MAX_ID_CHARS, custom_id, safe_id};
pub use layout::{BatchDir, Limits, Manifest, UploadManifest};
pub use progress::{Event, Quiet, Reporter};
pub use resubmit::{ResubmitGroup, ResubmitOptions, ResubmitReport, resubmit};
pub use results::Conflict;
pub use status::{BatchState, GroupProgress, StatusReport, StatusSummary, WatchEnd, WatchOptions};
pub use units::{
    find_dir, metadata_map, parse_interval, parse_metadata_pair, parse_size, parse_wait,
};
pub use upload::{PendingFile, UploadReport, check_metadata, pending_files, upload};
