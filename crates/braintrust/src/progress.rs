//! How long work reports where it is, for a binary's progress bar. The library never prints.

use std::time::Duration;

use crate::upload::RunOutcome;

/// A request about to be tried again.
#[derive(Debug, Clone)]
pub struct RetryNotice<'a> {
    /// Request method.
    pub method: &'static str,
    /// Request path.
    pub path: &'a str,
    /// Why (e.g. `HTTP 503`, `connection refused`).
    pub reason: &'a str,
    /// The retry about to happen (1 for the first).
    pub retry: u32,
    /// Retries allowed.
    pub max_retries: u32,
    /// Wait before it.
    pub wait: Duration,
}

/// Receives progress; every method does nothing by default.
pub trait Progress: Send + Sync {
    /// A run's upload starts: its experiment and row count are known.
    fn run_started(&self, _local_id: &str, _experiment: &str, _rows: usize) {}

    /// Rows of the current run stored so far.
    fn rows_sent(&self, _sent: usize, _total: usize) {}

    /// A run's upload ended, either way.
    fn run_finished(&self, _outcome: &RunOutcome) {}

    /// Rows fetched so far (downloads), after de-duplication.
    fn rows_fetched(&self, _rows: usize) {}

    /// A request failed and will be tried again.
    fn retrying(&self, _notice: &RetryNotice<'_>) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
