//! Progress events. The library never prints; a binary implements [`Reporter`] (progress bars,
//! logs) and hands it to the client.

use std::time::Duration;

use crate::response::Usage;

/// A retry about to happen.
#[derive(Debug, Clone)]
pub struct RetryEvent<'a> {
    /// The caller's label for the call (e.g. a record id).
    pub label: Option<&'a str>,
    /// The attempt that failed (1 = the first try).
    pub attempt: u32,
    /// How long the client waits before the next attempt.
    pub delay: Duration,
    /// What failed, e.g. `HTTP 500 server_error` or `timeout`.
    pub reason: String,
}

/// Why new requests are held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The server answered 429 and named a wait.
    RateLimited,
    /// The server's remaining request or token budget ran out.
    BudgetExhausted,
}

/// A finished call.
#[derive(Debug, Clone)]
pub struct CallEvent<'a> {
    /// The caller's label.
    pub label: Option<&'a str>,
    /// Answered from the cache.
    pub cached: bool,
    /// HTTP attempts made.
    pub attempts: u32,
    /// Time taken.
    pub elapsed: Duration,
    /// Token counts, when known.
    pub usage: Option<&'a Usage>,
    /// Cost, when known.
    pub cost_usd: Option<f64>,
    /// `ok`, `invalid_json`, …, or `error` when the call failed.
    pub outcome: &'static str,
}

/// Receives progress events. Every method has an empty default, so an implementation only
/// writes the ones it shows.
pub trait Reporter: Send + Sync {
    /// A call failed and will be tried again.
    fn retrying(&self, event: &RetryEvent<'_>) {
        let _ = event;
    }

    /// New requests are held back for `wait`.
    fn waiting(&self, wait: Duration, reason: WaitReason) {
        let _ = (wait, reason);
    }

    /// The adaptive concurrency limit moved.
    fn concurrency_changed(&self, from: usize, to: usize, reason: &'static str) {
        let _ = (from, to, reason);
    }

    /// A call finished (answered, from the cache, or failed).
    fn call_done(&self, event: &CallEvent<'_>) {
        let _ = event;
    }
}

/// A reporter that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl Reporter for NoReporter {}
