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
    /// When the first and the last chat completion since start or reset were answered,
    /// microseconds since the Unix epoch (0: none yet).
    first_answered_us: AtomicU64,
    last_answered_us: AtomicU64,
    pub(crate) faults: Faults,
}

/// A copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// `"POST /v1/chat/completions" -> status -> count`.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Chat completions answered (status 200).
    pub chat_answered: u64,
    /// When the first chat completion since start (or the last reset) was answered,
    /// microseconds since the Unix epoch. Lets a benchmark time a run's phases without polling
    /// this endpoint while the run goes (polling would take CPU from what it measures).
    #[serde(default)]
    pub chat_first_answered_at_us: Option<u64>,
    /// When the last chat completion so far was answered, microseconds since the Unix epoch.
    #[serde(default)]
    pub chat_last_answered_at_us: Option<u64>,
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

/// Microseconds since the Unix epoch, now (at least 1, so that 0 can mean "never").
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| {
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
        })
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
        let now = unix_micros();
        let _ =
            self.first_answered_us
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        self.last_answered_us.fetch_max(now, Ordering::Relaxed);
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
            chat_first_answered_at_us: Some(self.first_answered_us.load(Ordering::Relaxed))
                .filter(|&t| t > 0),
            chat_last_answered_at_us: Some(self.last_answered_us.load(Ordering::Relaxed))
                .filter(|&t| t > 0),
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
        self.first_answered_us.store(0, Ordering::Relaxed);
        self.last_answered_us.store(0, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_timed_from_the_first_to_the_last_and_reset_forgets_them() {
        let stats = Stats::default();
        let empty = stats.snapshot();
        assert_eq!(empty.chat_first_answered_at_us, None);
        assert_eq!(empty.chat_last_answered_at_us, None);

        let before = unix_micros();
        stats.answered(Some("m12:a".to_owned()));
        std::thread::sleep(std::time::Duration::from_millis(2));
        stats.answered(None);
        let after = unix_micros();
        let seen = stats.snapshot();
        let first = seen.chat_first_answered_at_us.unwrap();
        let last = seen.chat_last_answered_at_us.unwrap();
        assert!(
            before <= first && first < last && last <= after,
            "{first} {last}"
        );
        assert_eq!(seen.chat_answered, 2);

        stats.reset();
        let reset = stats.snapshot();
        assert_eq!(reset.chat_first_answered_at_us, None);
        assert_eq!(reset.chat_last_answered_at_us, None);
        stats.answered(None);
        assert!(stats.snapshot().chat_first_answered_at_us.unwrap() >= last);
    }
}
