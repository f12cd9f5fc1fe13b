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
//! - [`datasets`] pushes a dataset file as a Braintrust dataset (row ids are record ids, so a
//!   push again replaces rows), pulls one back into our JSONL record shape, and lists them;
//!   [`prompts`] pushes a module's template at a prompt version as a Braintrust prompt (replaced
//!   by slug: each push is a new version) and lists them; [`links`] keeps what was pushed in the
//!   registry, so an upload links its experiment to the dataset (`dataset_id`) and prompt
//!   version (metadata) it ran on; [`listing`] lists the project's experiments with filters and
//!   their local runs, and downloads them in bulk, resumably.
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
pub mod datasets;
pub mod download;
mod error;
pub mod event;
pub mod links;
pub mod listing;
pub mod matching;
pub mod naming;
mod progress;
pub mod prompts;
mod report;
mod session;
pub mod text;
mod types;
mod upload;

pub use client::{Client, RowStore};
pub use config::{Config, FETCH_PAGE_SIZE, MAX_EVENTS_PER_INSERT, MAX_INSERT_BYTES, RetryPolicy};
pub use error::{Error, Result};
pub use progress::{Progress, RetryNotice, Silent};
pub use report::{LinkedRun, StatusReport, SyncJson};
pub use session::{Session, download_path};
pub use types::{
    Dataset, Experiment, FetchPage, NewDataset, NewExperiment, NewPrompt, Project, Prompt,
    RepoInfo, ScoreSummary, Summary,
};
pub use upload::{
    Failed, LINK_FIELDS, LinkedDataset, LinkedPrompt, NoExtraScores, RowScorer, RunOutcome,
    SyncReport, Uploaded, Uploader, looks_like_uuid,
};
