//! A client for the documented Braintrust `/v1` REST endpoints and the logic to upload runs
//! idempotently, check their status, download experiments and match local runs to them.
//!
//! - [`Client`] talks to the API ([`Config`] from the environment's Braintrust settings): get or
//!   create the project, create and list experiments, insert events, fetch them with cursor
//!   paging and de-duplication by id, summarize. It retries 429, 5xx and requests that got no
//!   answer with exponential backoff honouring `Retry-After` ([`RetryPolicy`]), and never 400,
//!   401, 403 or 404.
//! - [`Uploader`] turns a registered run into one experiment named
//!   `root_{module}_{ModuleName}_{YYYYmmdd_HHMMSS}` and one event per results row, with the
//!   deterministic id `{local_id}:{record_id}`, so an interrupted or repeated upload replaces
//!   rows instead of duplicating them; the outcome goes to the registry (`uploaded` with id,
//!   link and time, or `failed` with the reason).
//! - [`download`] turns an experiment back into results rows; [`matching`] links local runs to
//!   experiments that already exist, and reports what it cannot decide instead of guessing.
//! - [`Session`] is the client with its own runtime, per-row scorer and git state: what the
//!   binaries (`sync-braintrust`, `orchestrator run --upload`) call; [`download_path`] is where
//!   a downloaded experiment goes by default.
//! - [`text`] renders the reports as `sync-braintrust` prints them ([`StatusReport`] reads
//!   where the registry's runs stand).
//! - [`Progress`] receives progress for a binary's progress bar.
//!
//! The API key is a [`core_config::Secret`]: it goes into the `Authorization` header and
//! nowhere else, and error texts are scrubbed of it.
//!
//! It must not depend on the model client or terminal output, and never runs subprocesses:
//! callers pass the git state in ([`RepoInfo`]).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod client;
mod config;
pub mod download;
mod error;
pub mod event;
pub mod matching;
pub mod naming;
mod progress;
mod report;
mod session;
pub mod text;
mod types;
mod upload;

pub use client::Client;
pub use config::{Config, FETCH_PAGE_SIZE, MAX_EVENTS_PER_INSERT, MAX_INSERT_BYTES, RetryPolicy};
pub use error::{Error, Result};
pub use progress::{Progress, RetryNotice, Silent};
pub use report::{StatusReport, SyncJson};
pub use session::{Session, download_path};
pub use types::{Experiment, FetchPage, NewExperiment, Project, RepoInfo, ScoreSummary, Summary};
pub use upload::{
    Failed, NoExtraScores, RowScorer, RunOutcome, SyncReport, Uploaded, Uploader, looks_like_uuid,
};
