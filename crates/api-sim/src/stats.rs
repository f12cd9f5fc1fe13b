//! What the simulator has seen: requests by endpoint and status, chat requests by recognised
//! record, and injected faults. Tests read it (`GET /_sim/stats`) to prove, for example, that a
//! resumed run asked for nothing twice.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counters of injected faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) rate_limited: AtomicU64,
    pub(crate) quota: AtomicU64,
    pub(crate) server_error: AtomicU64,
    pub(crate) overloaded: AtomicU64,
    pub(crate) slow_down: AtomicU64,
    pub(crate) invalid_json: AtomicU64,
    pub(crate) wrong_answers: AtomicU64,
    /// Braintrust inserts answered 500 by an injected fault.
    pub(crate) braintrust_insert_failed: AtomicU64,
    /// Of those, the ones that stored their rows first.
    pub(crate) braintrust_insert_failed_after_write: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    by_record: Mutex<BTreeMap<String, u64>>,
    unrecognised: AtomicU64,
    answered: AtomicU64,
    pub(crate) faults: Faults,
}

/// A copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// `"POST /v1/chat/completions" -> status -> count`.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Chat completions answered (status 200).
    pub chat_answered: u64,
    /// Answered chat requests per recognised record, keyed `module:record-id`.
    pub chat_by_record: BTreeMap<String, u64>,
    /// Answered chat requests whose record was not recognised.
    pub chat_unrecognised: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
}

impl StatsSnapshot {
    /// Requests to an endpoint (e.g. `POST /v1/chat/completions`) with any status.
    #[must_use]
    pub fn total(&self, endpoint: &str) -> u64 {
        self.requests.get(endpoint).map_or(0, |m| m.values().sum())
    }

    /// Requests to an endpoint with one status.
    #[must_use]
    pub fn count(&self, endpoint: &str, status: u16) -> u64 {
        self.requests
            .get(endpoint)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// A fault counter (`rate_limited`, `quota`, `server_error`, `overloaded`, `slow_down`,
    /// `invalid_json`, `wrong_answers`, `braintrust_insert_failed`,
    /// `braintrust_insert_failed_after_write`).
    #[must_use]
    pub fn fault(&self, name: &str) -> u64 {
        self.faults.get(name).copied().unwrap_or(0)
    }
}

impl Stats {
    pub(crate) fn request(&self, endpoint: String, status: u16) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *requests
            .entry(endpoint)
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    pub(crate) fn answered(&self, record: Option<String>) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        match record {
            Some(record) => {
                *self
                    .by_record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(record)
                    .or_default() += 1;
            }
            None => {
                self.unrecognised.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let f = &self.faults;
        let faults = [
            ("rate_limited", &f.rate_limited),
            ("quota", &f.quota),
            ("server_error", &f.server_error),
            ("overloaded", &f.overloaded),
            ("slow_down", &f.slow_down),
            ("invalid_json", &f.invalid_json),
            ("wrong_answers", &f.wrong_answers),
            ("braintrust_insert_failed", &f.braintrust_insert_failed),
            (
                "braintrust_insert_failed_after_write",
                &f.braintrust_insert_failed_after_write,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.load(Ordering::Relaxed)))
        .collect();
        StatsSnapshot {
            requests: self
                .requests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            chat_answered: self.answered.load(Ordering::Relaxed),
            chat_by_record: self
                .by_record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            chat_unrecognised: self.unrecognised.load(Ordering::Relaxed),
            faults,
        }
    }

    pub(crate) fn reset(&self) {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.by_record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.unrecognised.store(0, Ordering::Relaxed);
        self.answered.store(0, Ordering::Relaxed);
        let f = &self.faults;
        for counter in [
            &f.rate_limited,
            &f.quota,
            &f.server_error,
            &f.overloaded,
            &f.slow_down,
            &f.invalid_json,
            &f.wrong_answers,
            &f.braintrust_insert_failed,
            &f.braintrust_insert_failed_after_write,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}
