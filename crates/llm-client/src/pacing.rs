//! Client-side pacing: a cap on requests and tokens per minute, and an adaptive concurrency
//! limit (additive increase, multiplicative decrease) steered by 429s, 503 "slow down" answers
//! and the server's `x-ratelimit-*` headers. The aim is to run at the provider's limit without
//! provoking a storm of 429s.
//!
//! Until the first answer arrives, only a small probe wave is sent: the server's first
//! `x-ratelimit-limit-*`, `-remaining-*` and `-reset-*` headers then size a request bucket and a
//! token bucket that mirror the server's (its rate, its burst and how much of the burst is left),
//! so the rest of the run is paced from its first request. AIMD keeps handling what the headers
//! do not say (servers without them, limits shared with other clients, 503 "slow down").

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::duration::parse_duration;
use crate::reporter::{Reporter, WaitReason};

/// How fast the client may go.
#[derive(Debug, Clone)]
pub struct PacingConfig {
    /// Most requests in flight at once (the adaptive limit starts here and never exceeds it).
    pub max_concurrency: usize,
    /// Requests per minute, if capped.
    pub rpm: Option<u32>,
    /// Tokens per minute (prompt estimate + completion cap), if capped.
    pub tpm: Option<u64>,
    /// Lower the concurrency on 429/503 and raise it slowly on success.
    pub adaptive: bool,
    /// After a 503 "slow down", how long the rate is held before it may rise again.
    pub slow_down_hold: Duration,
    /// Pace at the request and token limits the server announces in `x-ratelimit-limit-*`,
    /// sending only a small probe wave until the first answer tells what they are.
    pub follow_server_limits: bool,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 16,
            rpm: None,
            tpm: None,
            adaptive: true,
            slow_down_hold: Duration::from_secs(15 * 60),
            follow_server_limits: true,
        }
    }
}

/// Share of the server's announced rate we aim for, leaving room for clock skew between us and
/// the server's window.
const SERVER_RATE_SHARE: f64 = 0.97;

/// Requests sent before any answer has said what the server's limits are.
pub(crate) const PROBE_WAVE: usize = 4;

/// A token bucket with reservations: a caller takes what it needs at once (the level may go
/// negative) and waits until the bucket would have refilled, which keeps callers in order and
/// spaces them evenly.
#[derive(Debug)]
struct Bucket {
    per_second: f64,
    capacity: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: f64, now: Instant) -> Self {
        let per_second = per_minute / 60.0;
        // One second's worth of burst (at least one request): a full minute's burst would let
        // a fresh run fire its whole budget at once.
        let capacity = per_second.max(1.0);
        Self {
            per_second,
            capacity,
            level: capacity,
            at: now,
        }
    }

    /// A bucket mirroring a server's: refilled at `per_minute`, holding `capacity`, of which
    /// `level` is left.
    fn mirror(per_minute: f64, capacity: f64, level: f64, now: Instant) -> Self {
        let capacity = capacity.max(1.0);
        Self {
            per_second: per_minute / 60.0,
            capacity,
            level: level.min(capacity),
            at: now,
        }
    }

    fn set_rate(&mut self, per_minute: f64, now: Instant) {
        self.refill(now);
        let old = self.per_second;
        self.per_second = per_minute / 60.0;
        // Keep the burst the same length of time.
        self.capacity = (self.capacity * self.per_second / old.max(f64::MIN_POSITIVE)).max(1.0);
        self.level = self.level.min(self.capacity);
    }

    /// The server says nothing is left: whatever we thought was left is not.
    fn drain(&mut self, now: Instant) {
        self.refill(now);
        self.level = self.level.min(0.0);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_second).min(self.capacity);
        self.at = now;
    }

    /// Takes `amount` and says how long to wait before using it.
    fn reserve(&mut self, amount: f64, now: Instant) -> Duration {
        self.refill(now);
        // A single call larger than the bucket can still go once the bucket is full.
        let amount = amount.min(self.capacity);
        self.level -= amount;
        if self.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.level / self.per_second)
        }
    }

    fn refund(&mut self, amount: f64) {
        self.level = (self.level + amount).min(self.capacity);
    }
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    gate_until: Option<Instant>,
    user_rpm: Option<Bucket>,
    server_rpm: Option<(u64, Bucket)>,
    server_tpm: Option<(u64, Bucket)>,
    tpm: Option<Bucket>,
    /// No answer yet: only [`PROBE_WAVE`] requests may be in flight.
    probing: bool,
    last_decrease: Option<Instant>,
    hold_until: Option<Instant>,
}

/// The pacer shared by every call of a client.
#[derive(Debug)]
pub(crate) struct Pacer {
    config: PacingConfig,
    state: Mutex<State>,
    notify: Notify,
}

/// A concurrency slot; released on drop.
pub(crate) struct Slot {
    pacer: Arc<Pacer>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.pacer.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.pacer.notify.notify_one();
    }
}

/// Rate-limit headers of one response.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct RateHeaders {
    pub(crate) limit_requests: Option<u64>,
    pub(crate) remaining_requests: Option<u64>,
    pub(crate) reset_requests: Option<Duration>,
    pub(crate) limit_tokens: Option<u64>,
    pub(crate) remaining_tokens: Option<u64>,
    pub(crate) reset_tokens: Option<Duration>,
}

impl RateHeaders {
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let number = |name: &str| text(name).and_then(|v| v.trim().parse::<u64>().ok());
        Self {
            limit_requests: number("x-ratelimit-limit-requests"),
            remaining_requests: number("x-ratelimit-remaining-requests"),
            reset_requests: text("x-ratelimit-reset-requests").and_then(parse_duration),
            limit_tokens: number("x-ratelimit-limit-tokens"),
            remaining_tokens: number("x-ratelimit-remaining-tokens"),
            reset_tokens: text("x-ratelimit-reset-tokens").and_then(parse_duration),
        }
    }
}

impl Pacer {
    pub(crate) fn new(config: PacingConfig) -> Arc<Self> {
        let now = Instant::now();
        let max = config.max_concurrency.max(1);
        let state = State {
            limit: max as f64,
            in_flight: 0,
            gate_until: None,
            user_rpm: config.rpm.map(|r| Bucket::new(f64::from(r.max(1)), now)),
            server_rpm: None,
            server_tpm: None,
            tpm: config.tpm.map(|t| Bucket::new(t.max(1) as f64, now)),
            probing: config.follow_server_limits,
            last_decrease: None,
            hold_until: None,
        };
        Arc::new(Self {
            config: PacingConfig {
                max_concurrency: max,
                ..config
            },
            state: Mutex::new(state),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters half-updated in a way
        // that matters more than stopping would; keep going with the data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Known from an earlier run: this server announces no rate limits, so there is nothing
    /// for a probe wave to learn and the run may start at full concurrency.
    pub(crate) fn skip_probe(&self) {
        self.lock().probing = false;
    }

    /// Whether only a probe wave may be in flight (no answer yet).
    pub(crate) fn probing(&self) -> bool {
        self.lock().probing
    }

    /// The current concurrency limit.
    pub(crate) fn limit(&self) -> usize {
        limit_of(&self.lock())
    }

    /// Waits for a concurrency slot, then for the rate limits. `tokens` is the call's token
    /// estimate for the TPM cap.
    pub(crate) async fn acquire(self: &Arc<Self>, tokens: u64, reporter: &dyn Reporter) -> Slot {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                let limit = if state.probing {
                    limit_of(&state).min(PROBE_WAVE)
                } else {
                    limit_of(&state)
                };
                if state.in_flight < limit {
                    state.in_flight += 1;
                    break;
                }
            }
            notified.await;
        }
        let slot = Slot {
            pacer: Arc::clone(self),
        };
        let wait = {
            let now = Instant::now();
            let mut state = self.lock();
            let mut wait = Duration::ZERO;
            if let Some(bucket) = state.user_rpm.as_mut() {
                wait = wait.max(bucket.reserve(1.0, now));
            }
            if let Some((_, bucket)) = state.server_rpm.as_mut() {
                wait = wait.max(bucket.reserve(1.0, now));
            }
            if let Some((_, bucket)) = state.server_tpm.as_mut() {
                wait = wait.max(bucket.reserve(tokens as f64, now));
            }
            if let Some(bucket) = state.tpm.as_mut() {
                wait = wait.max(bucket.reserve(tokens as f64, now));
            }
            wait
        };
        if !wait.is_zero() {
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                tokens,
                "pacing: waiting for the rate limit"
            );
            tokio::time::sleep(wait).await;
        }
        let _ = reporter;
        self.wait_for_gate().await;
        slot
    }

    /// Sleeps while a server-imposed pause is in force.
    pub(crate) async fn wait_for_gate(&self) {
        loop {
            let gate = self.lock().gate_until;
            match gate {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// Holds every new request until `now + wait`.
    pub(crate) fn pause(&self, wait: Duration, reason: WaitReason, reporter: &dyn Reporter) {
        let until = Instant::now() + wait;
        let mut state = self.lock();
        if state.gate_until.is_none_or(|g| g < until) {
            state.gate_until = Some(until);
            drop(state);
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                ?reason,
                "pacing: every request held"
            );
            reporter.waiting(wait, reason);
        }
    }

    /// Learns from a response's rate-limit headers (the caller's slot is already released, so
    /// `in_flight` counts the other requests on their way).
    pub(crate) fn observe(
        &self,
        headers: &RateHeaders,
        tokens_estimate: u64,
        reporter: &dyn Reporter,
    ) {
        let now = Instant::now();
        let mut state = self.lock();
        let others = state.in_flight as f64;
        if self.config.follow_server_limits {
            let requests = Mirror {
                limit: headers.limit_requests,
                remaining: headers.remaining_requests,
                reset: headers.reset_requests,
                in_flight: others,
            };
            let tokens = Mirror {
                limit: headers.limit_tokens,
                remaining: headers.remaining_tokens,
                reset: headers.reset_tokens,
                in_flight: others * tokens_estimate as f64,
            };
            requests.apply(&mut state.server_rpm, "requests", now);
            tokens.apply(&mut state.server_tpm, "tokens", now);
            if state.probing {
                state.probing = false;
                tracing::debug!(
                    server_rpm = state.server_rpm.as_ref().map(|(l, _)| *l),
                    server_tpm = state.server_tpm.as_ref().map(|(l, _)| *l),
                    "pacing: first answer in; probe wave over"
                );
                drop(state);
                self.notify.notify_waiters();
                state = self.lock();
            }
        }
        let mirror_requests = state.server_rpm.is_some();
        let mirror_tokens = state.server_tpm.is_some();
        drop(state);
        // Without a mirrored bucket, an exhausted budget holds everyone until it resets.
        if !mirror_requests
            && headers.remaining_requests == Some(0)
            && let Some(reset) = headers.reset_requests.filter(|d| !d.is_zero())
        {
            self.pause(reset, WaitReason::BudgetExhausted, reporter);
        }
        if !mirror_tokens
            && let (Some(remaining), Some(reset)) = (headers.remaining_tokens, headers.reset_tokens)
            && remaining < tokens_estimate
            && !reset.is_zero()
        {
            self.pause(reset, WaitReason::BudgetExhausted, reporter);
        }
    }

    /// Gives back part of a token reservation once real usage is known.
    pub(crate) fn refund_tokens(&self, estimated: u64, actual: u64) {
        if estimated > actual
            && let Some(bucket) = self.lock().tpm.as_mut()
        {
            bucket.refund((estimated - actual) as f64);
        }
    }

    /// A call succeeded: raise the limit by about one per round of calls.
    pub(crate) fn on_success(&self, reporter: &dyn Reporter) {
        if !self.config.adaptive {
            return;
        }
        let now = Instant::now();
        let mut state = self.lock();
        if state.hold_until.is_some_and(|h| h > now) {
            return;
        }
        let before = limit_of(&state);
        let max = self.config.max_concurrency as f64;
        state.limit = (state.limit + 1.0 / state.limit.max(1.0)).min(max);
        let after = limit_of(&state);
        drop(state);
        if after != before {
            tracing::debug!(before, after, "pacing: concurrency raised");
            reporter.concurrency_changed(before, after, "answers are flowing");
            self.notify.notify_one();
        }
    }

    /// A 429 (or, with `slow_down`, a 503 "slow down"): halve the limit, at most once per
    /// `window` so a burst of answers to the same overload counts once.
    pub(crate) fn on_overload(&self, slow_down: bool, window: Duration, reporter: &dyn Reporter) {
        if !self.config.adaptive {
            return;
        }
        let now = Instant::now();
        let mut state = self.lock();
        if slow_down {
            state.hold_until = Some(now + self.config.slow_down_hold);
        }
        if state
            .last_decrease
            .is_some_and(|t| now.saturating_duration_since(t) < window)
        {
            return;
        }
        let before = limit_of(&state);
        state.limit = (state.limit / 2.0).max(1.0);
        state.last_decrease = Some(now);
        let after = limit_of(&state);
        drop(state);
        if after != before {
            let reason = if slow_down {
                "the server asked to slow down"
            } else {
                "rate limited"
            };
            tracing::debug!(before, after, reason, "pacing: concurrency lowered");
            reporter.concurrency_changed(before, after, reason);
        }
    }
}

/// One kind of server limit as one answer's headers state it.
struct Mirror {
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<Duration>,
    /// What the other requests in flight will take from it.
    in_flight: f64,
}

impl Mirror {
    /// Creates, re-rates or corrects the bucket mirroring this server limit.
    fn apply(&self, slot: &mut Option<(u64, Bucket)>, what: &'static str, now: Instant) {
        let Some(limit) = self.limit.filter(|l| *l > 0) else {
            return;
        };
        let target = limit as f64 * SERVER_RATE_SHARE;
        match slot.as_mut() {
            None => {
                let per_second = limit as f64 / 60.0;
                // The server's bucket is full again after `reset`: what is left now plus what
                // refills by then is its size. Without both headers, assume one second's worth.
                let capacity = match (self.remaining, self.reset) {
                    (Some(remaining), Some(reset)) => {
                        (remaining as f64 + reset.as_secs_f64() * per_second).round()
                    }
                    _ => per_second,
                }
                .clamp(1.0, limit as f64);
                // Assume the requests still in flight were not counted yet: it errs towards
                // sending less.
                let level = self
                    .remaining
                    .map_or(capacity, |r| r as f64 - self.in_flight);
                tracing::debug!(
                    what,
                    limit,
                    remaining = self.remaining,
                    burst = capacity,
                    pace_per_minute = target,
                    "pacing: server rate limit learned"
                );
                *slot = Some((limit, Bucket::mirror(target, capacity, level, now)));
            }
            Some((known, bucket)) => {
                if *known != limit {
                    tracing::debug!(
                        what,
                        from = *known,
                        to = limit,
                        "pacing: server rate limit changed"
                    );
                    *known = limit;
                    bucket.set_rate(target, now);
                }
                if self.remaining == Some(0) {
                    bucket.drain(now);
                }
            }
        }
    }
}

fn limit_of(state: &State) -> usize {
    // Truncation is the point: 3.7 allowed requests means 3.
    (state.limit.floor() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reporter::NoReporter;

    #[test]
    fn buckets_space_reservations_evenly() {
        let now = Instant::now();
        let mut bucket = Bucket::new(600.0, now); // 10 a second, burst 10
        for _ in 0..10 {
            assert_eq!(bucket.reserve(1.0, now), Duration::ZERO);
        }
        let next = bucket.reserve(1.0, now);
        assert!((next.as_secs_f64() - 0.1).abs() < 1e-9, "{next:?}");
        let after = bucket.reserve(1.0, now);
        assert!((after.as_secs_f64() - 0.2).abs() < 1e-9, "{after:?}");
        // Half a second later five tokens have come back.
        let later = now + Duration::from_millis(500);
        assert!((bucket.reserve(1.0, later).as_secs_f64() - 0.0).abs() < 1e-9);
    }

    #[test]
    fn headers_parse_go_durations_and_ignore_junk() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit-requests", "60".parse().unwrap());
        headers.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset-requests", "2s81ms".parse().unwrap());
        headers.insert("x-ratelimit-remaining-tokens", "-1".parse().unwrap());
        headers.insert("x-ratelimit-reset-tokens", "6m0s".parse().unwrap());
        let parsed = RateHeaders::parse(&headers);
        assert_eq!(parsed.limit_requests, Some(60));
        assert_eq!(parsed.remaining_requests, Some(0));
        assert_eq!(parsed.reset_requests, Some(Duration::from_millis(2081)));
        assert_eq!(parsed.remaining_tokens, None);
        assert_eq!(parsed.reset_tokens, Some(Duration::from_secs(360)));
    }

    #[tokio::test]
    async fn aimd_halves_once_per_window_and_climbs_back() {
        let pacer = Pacer::new(PacingConfig {
            max_concurrency: 16,
            ..PacingConfig::default()
        });
        assert_eq!(pacer.limit(), 16);
        pacer.on_overload(false, Duration::from_secs(60), &NoReporter);
        pacer.on_overload(false, Duration::from_secs(60), &NoReporter);
        assert_eq!(pacer.limit(), 8);
        // About one more slot per round of eight answers.
        for _ in 0..9 {
            pacer.on_success(&NoReporter);
        }
        assert_eq!(pacer.limit(), 9);
        for _ in 0..500 {
            pacer.on_success(&NoReporter);
        }
        assert_eq!(pacer.limit(), 16);
    }

    #[tokio::test]
    async fn slow_down_holds_the_rate() {
        let pacer = Pacer::new(PacingConfig {
            max_concurrency: 8,
            ..PacingConfig::default()
        });
        pacer.on_overload(true, Duration::ZERO, &NoReporter);
        assert_eq!(pacer.limit(), 4);
        for _ in 0..100 {
            pacer.on_success(&NoReporter);
        }
        assert_eq!(
            pacer.limit(),
            4,
            "no increase while the slow-down hold lasts"
        );
    }

    #[tokio::test]
    async fn slots_never_exceed_the_limit() {
        let pacer = Pacer::new(PacingConfig {
            max_concurrency: 2,
            ..PacingConfig::default()
        });
        let a = pacer.acquire(0, &NoReporter).await;
        let _b = pacer.acquire(0, &NoReporter).await;
        let third = tokio::time::timeout(Duration::from_millis(20), pacer.acquire(0, &NoReporter));
        assert!(third.await.is_err(), "a third slot must wait");
        drop(a);
        let third = tokio::time::timeout(Duration::from_secs(5), pacer.acquire(0, &NoReporter));
        assert!(third.await.is_ok(), "a released slot is handed on");
    }
}
