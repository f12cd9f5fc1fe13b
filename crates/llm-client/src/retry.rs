//! When to try again and how long to wait: which statuses are retried, how server hints
//! (`retry-after-ms`, `retry-after`, `x-should-retry`) are read, and exponential backoff with
//! full jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::error::FailureKind;
use crate::response::ApiErrorBody;

/// How persistent the client is.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call for server errors, timeouts and connection failures (first try
    /// included).
    pub max_attempts: u32,
    /// Retries per call for 429 rate limits; these are expected under load and counted apart.
    pub max_rate_limit_retries: u32,
    /// First backoff step.
    pub base_delay: Duration,
    /// Largest backoff step.
    pub max_delay: Duration,
    /// The longest server-requested wait the client accepts; longer means "come back later"
    /// (a daily limit) and fails the call.
    pub max_retry_after: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_rate_limit_retries: 30,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            timeout: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt + 1`: a random wait between zero and
    /// `base · 2^(attempt-1)`, capped at `max_delay` ("full jitter").
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let ceiling = exp.min(self.max_delay);
        ceiling.mul_f64(random_unit())
    }
}

/// What to do after a non-success status.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Try again after the wait (if the server named one) or a backoff.
    Retry {
        kind: FailureKind,
        server_wait: Option<Duration>,
        slow_down: bool,
    },
    /// Give up now.
    Fail(FailureKind),
}

/// What the response headers say about retrying, read before the body is consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Hints {
    should_retry: Option<bool>,
    retry_after: Option<Duration>,
}

impl Hints {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            should_retry: match header_text(headers, "x-should-retry") {
                Some("true") => Some(true),
                Some("false") => Some(false),
                _ => None,
            },
            retry_after: retry_after(headers),
        }
    }
}

/// Decides about a failed response.
pub(crate) fn decide(status: StatusCode, body: &ApiErrorBody, hints: &Hints) -> Decision {
    let code = status.as_u16();
    if code == 429 && body.is_quota() {
        // No header can make a retry succeed while the account has no credit.
        return Decision::Fail(FailureKind::Quota);
    }
    let kind = match code {
        400 => FailureKind::BadRequest,
        401 => FailureKind::Unauthorized,
        403 => FailureKind::Forbidden,
        404 => FailureKind::NotFound,
        422 => FailureKind::Unprocessable,
        429 => FailureKind::RateLimited,
        408 | 409 | 500..=599 => FailureKind::Server,
        _ => FailureKind::Other,
    };
    let default_retry = matches!(kind, FailureKind::RateLimited | FailureKind::Server);
    let should_retry = hints.should_retry.unwrap_or(default_retry);
    if !should_retry {
        tracing::debug!(status = code, ?kind, "not retried");
        return Decision::Fail(kind);
    }
    let slow_down = code == 503 && body.message.to_ascii_lowercase().contains("slow down");
    // Status and headers only: a body may quote the key the request was sent with.
    tracing::info!(status = code, ?kind, server_wait = ?hints.retry_after, slow_down, "retrying");
    Decision::Retry {
        kind,
        server_wait: hints.retry_after,
        slow_down,
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The server's requested wait: `retry-after-ms` (milliseconds), then `retry-after` (seconds,
/// or an HTTP date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = header_text(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let text = header_text(headers, "retry-after")?;
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A number in `[0, 1)` for jitter. Not cryptographic: SplitMix64 over a shared counter seeded
/// from the clock, so concurrent callers draw different values.
pub(crate) fn random_unit() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut seed = STATE.load(Ordering::Relaxed);
    if seed == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        seed = nanos | 1;
    }
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    STATE.store(z, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(pairs: &[(&'static str, &str)]) -> Hints {
        Hints::from_headers(&headers(pairs))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    fn body(json: &str) -> ApiErrorBody {
        ApiErrorBody::parse(json.as_bytes())
    }

    #[test]
    fn retried_and_fail_fast_statuses() {
        let none = Hints::default();
        let plain = ApiErrorBody::default();
        for code in [408, 409, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    decide(StatusCode::from_u16(code).unwrap(), &plain, &none),
                    Decision::Retry { .. }
                ),
                "{code} should be retried"
            );
        }
        for (code, kind) in [
            (400, FailureKind::BadRequest),
            (401, FailureKind::Unauthorized),
            (403, FailureKind::Forbidden),
            (404, FailureKind::NotFound),
            (422, FailureKind::Unprocessable),
        ] {
            assert_eq!(
                decide(StatusCode::from_u16(code).unwrap(), &plain, &none),
                Decision::Fail(kind)
            );
        }
        let quota = body(
            r#"{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
        );
        // Even a hint to retry does not make a quota error worth retrying.
        assert_eq!(
            decide(
                StatusCode::TOO_MANY_REQUESTS,
                &quota,
                &hints(&[("x-should-retry", "true")])
            ),
            Decision::Fail(FailureKind::Quota)
        );
    }

    #[test]
    fn x_should_retry_overrides_the_status() {
        let plain = ApiErrorBody::default();
        assert_eq!(
            decide(
                StatusCode::INTERNAL_SERVER_ERROR,
                &plain,
                &hints(&[("x-should-retry", "false")])
            ),
            Decision::Fail(FailureKind::Server)
        );
        assert!(matches!(
            decide(
                StatusCode::BAD_REQUEST,
                &plain,
                &hints(&[("x-should-retry", "true")])
            ),
            Decision::Retry {
                kind: FailureKind::BadRequest,
                ..
            }
        ));
    }

    #[test]
    fn slow_down_is_recognised() {
        let slow = body(
            r#"{"error":{"message":"Slow Down: please reduce your request rate.","type":"server_error"}}"#,
        );
        assert!(matches!(
            decide(StatusCode::SERVICE_UNAVAILABLE, &slow, &Hints::default()),
            Decision::Retry {
                slow_down: true,
                ..
            }
        ));
        let overloaded = body(
            r#"{"error":{"message":"The engine is currently overloaded","type":"server_error"}}"#,
        );
        assert!(matches!(
            decide(
                StatusCode::SERVICE_UNAVAILABLE,
                &overloaded,
                &Hints::default()
            ),
            Decision::Retry {
                slow_down: false,
                ..
            }
        ));
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after-ms", "1500"),
                ("retry-after", "9")
            ])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "0.25")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            ..RetryPolicy::default()
        };
        let mut seen_different = false;
        let mut last = None;
        for attempt in 1..=10 {
            let d = policy.backoff(attempt);
            let ceiling = (100u64 << (attempt - 1)).min(400);
            assert!(d <= Duration::from_millis(ceiling), "{attempt}: {d:?}");
            if last.is_some_and(|l| l != d) {
                seen_different = true;
            }
            last = Some(d);
        }
        assert!(seen_different);
        for _ in 0..1000 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
