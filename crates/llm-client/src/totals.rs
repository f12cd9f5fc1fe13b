//! Running totals of a client: calls, cache hits, retries, tokens and money, readable at any
//! time from any task.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::response::Usage;

/// Costs are summed in nano-dollars so the counters can be plain atomics.
const NANOS_PER_USD: f64 = 1e9;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    calls: AtomicU64,
    cache_hits: AtomicU64,
    failures: AtomicU64,
    http_requests: AtomicU64,
    retries: AtomicU64,
    prompt_tokens: AtomicU64,
    cached_prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    spent_nano_usd: AtomicU64,
    saved_nano_usd: AtomicU64,
    unpriced_responses: AtomicU64,
    cache_write_errors: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn nanos(usd: f64) -> u64 {
    (usd * NANOS_PER_USD).round().max(0.0) as u64
}

impl Counters {
    pub(crate) fn call_started(&self) {
        add(&self.calls, 1);
    }

    pub(crate) fn cache_hit(&self, cost: Option<f64>) {
        add(&self.cache_hits, 1);
        if let Some(cost) = cost {
            add(&self.saved_nano_usd, nanos(cost));
        }
    }

    pub(crate) fn failure(&self) {
        add(&self.failures, 1);
    }

    pub(crate) fn http_request(&self) {
        add(&self.http_requests, 1);
    }

    pub(crate) fn retry(&self) {
        add(&self.retries, 1);
    }

    pub(crate) fn cache_write_error(&self) {
        add(&self.cache_write_errors, 1);
    }

    /// A billed answer (every 200, even one whose content turned out unusable).
    pub(crate) fn billed(&self, usage: Option<&Usage>, cost: Option<f64>) {
        if let Some(u) = usage {
            add(&self.prompt_tokens, u.prompt_tokens);
            add(&self.cached_prompt_tokens, u.cached_prompt_tokens);
            add(&self.completion_tokens, u.completion_tokens);
        }
        match cost {
            Some(cost) => add(&self.spent_nano_usd, nanos(cost)),
            None => add(&self.unpriced_responses, 1),
        }
    }

    pub(crate) fn snapshot(&self) -> Totals {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Totals {
            calls: get(&self.calls),
            cache_hits: get(&self.cache_hits),
            failures: get(&self.failures),
            http_requests: get(&self.http_requests),
            retries: get(&self.retries),
            prompt_tokens: get(&self.prompt_tokens),
            cached_prompt_tokens: get(&self.cached_prompt_tokens),
            completion_tokens: get(&self.completion_tokens),
            spent_usd: get(&self.spent_nano_usd) as f64 / NANOS_PER_USD,
            saved_usd: get(&self.saved_nano_usd) as f64 / NANOS_PER_USD,
            unpriced_responses: get(&self.unpriced_responses),
            cache_write_errors: get(&self.cache_write_errors),
        }
    }
}

/// A snapshot of a client's running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    /// `chat` calls made (cache hits included).
    pub calls: u64,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// Calls that ended in an error.
    pub failures: u64,
    /// HTTP requests sent (retries included).
    pub http_requests: u64,
    /// Retries.
    pub retries: u64,
    /// Prompt tokens billed.
    pub prompt_tokens: u64,
    /// Of which served from the provider's prompt cache.
    pub cached_prompt_tokens: u64,
    /// Completion tokens billed.
    pub completion_tokens: u64,
    /// Money spent on answers received, USD (priced answers only).
    pub spent_usd: f64,
    /// What the cache hits cost when they were first fetched, USD.
    pub saved_usd: f64,
    /// Billed answers whose model is not in the price table: the real spend is higher than
    /// `spent_usd` when this is not zero.
    pub unpriced_responses: u64,
    /// Answers that could not be written to the cache (the call itself succeeded).
    pub cache_write_errors: u64,
}

impl Totals {
    /// Whether `spent_usd` covers everything billed.
    #[must_use]
    pub fn cost_complete(&self) -> bool {
        self.unpriced_responses == 0
    }
}
