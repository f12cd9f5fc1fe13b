//! The experiment registry: the record of every run in `experiment_results/.registry.json`,
//! written under an exclusive lock and replaced atomically so concurrent writers never lose an
//! entry and readers never see a torn file.
//!
//! - [`RegistryFile`] is the file on disk: [`RegistryFile::register`] adds a finished run,
//!   [`RegistryFile::mark_uploaded`] / [`RegistryFile::mark_failed`] record what the Braintrust
//!   sync did, and [`RegistryFile::update`] is the general read-modify-write under the lock.
//! - [`Registry`] is the registry in memory: listing with a [`Filter`], [`Registry::pending`],
//!   [`Registry::stats`], id allocation ([`Registry::next_id`]). Files written by the earlier
//!   tool load as they are; fields and statuses this version does not know are kept.
//! - [`Overview`] is a fast read-only view for listing and counting large registries
//!   ([`RegistryFile::overview`]): it reads the summary index every writer keeps beside the
//!   registry (`.registry.json.summary`) when that index describes the registry exactly, and
//!   the registry itself otherwise.
//! - [`repair`] rebuilds a damaged registry from what can be salvaged and the result CSVs on
//!   disk, after keeping a backup.
//! - [`compare`] answers "did my prompt change help?": two runs of one module aligned by record
//!   id, the accuracy difference with a paired-bootstrap interval, McNemar's exact test, the
//!   rows that flipped and per-label changes; [`open_run`] opens either side by local id or by
//!   results-CSV path.
//! - [`text`] renders each of these reports as plain text for the command line to print.
//!
//! It must not depend on HTTP clients, Braintrust, the model client or terminal output.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod compare;
pub mod dataset;
mod entry;
mod error;
mod file;
mod format;
mod index;
mod open;
mod overview;
mod paths;
mod registry;
pub mod repair;
pub mod text;

pub use dataset::{DatasetKind, DatasetRef};
pub use entry::{Entry, NewRun, Status, TIMESTAMP_FORMAT, Tier, format_timestamp, parse_timestamp};
pub use error::{Error, Result};
pub use file::{DEFAULT_LOCK_TIMEOUT, RegistryFile};
pub use open::{OpenedRun, module_of_csv, open_run};
pub use overview::{Overview, Summary};
pub use paths::{resolve_csv_path, stored_csv_path};
pub use registry::{Filter, ModuleStats, Registry, Stats};
