//! Where Braintrust is, who we are to it, and how persistent the client is.

use std::time::Duration;

use core_config::{BraintrustSettings, EnvVars, Secret};

use crate::error::{Error, Result};

/// Events per insert request (the SDKs' batch size).
pub const MAX_EVENTS_PER_INSERT: usize = 100;

/// Bytes of JSON per insert request: half the SDKs' 6 MiB request ceiling, as they do.
pub const MAX_INSERT_BYTES: usize = 3 * 1024 * 1024;

/// Rows asked for per fetch page (the SDKs' page size).
pub const FETCH_PAGE_SIZE: usize = 1000;

/// When to try a request again.
///
/// Rate limits (429), server errors (5xx, 408) and requests that got no answer are retried with
/// exponential backoff (`base · 2^n`, at most `max_delay`), or after the wait a `Retry-After`
/// header names. 400, 401, 403 and 404 are never retried: the same request cannot succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: fail at the first error).
    pub max_retries: u32,
    /// First backoff step.
    pub base_delay: Duration,
    /// Largest backoff step.
    pub max_delay: Duration,
    /// Longest `Retry-After` the client accepts; a longer one fails the request at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first retry).
    #[must_use]
    pub fn backoff(&self, retry: u32) -> Duration {
        self.base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay)
    }
}

/// Everything the client needs to reach Braintrust.
#[derive(Debug, Clone)]
pub struct Config {
    /// REST API base, without a trailing `/` or `/v1` (e.g. `https://api.braintrust.dev`).
    pub api_url: String,
    /// Web app base (the project link when the service gives none).
    pub app_url: String,
    /// API key, sent as a bearer token.
    pub api_key: Secret,
    /// Organisation, for keys that belong to several.
    pub org_name: Option<String>,
    /// Project that holds the experiments.
    pub project: String,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

impl Config {
    /// Configuration from the environment's Braintrust settings.
    ///
    /// # Errors
    /// [`Error::MissingKey`] without `BRAINTRUST_API_KEY`, [`Error::Config`] when the API URL is
    /// not an http(s) URL.
    pub fn from_settings(settings: &BraintrustSettings) -> Result<Self> {
        let api_key = settings.api_key.clone().ok_or(Error::MissingKey)?;
        Ok(Self {
            api_url: normalise_api_url(&settings.api_url)?,
            app_url: settings.app_url.trim_end_matches('/').to_owned(),
            api_key,
            org_name: settings.org_name.clone(),
            project: settings.project.clone(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
        })
    }
}

/// Trims a trailing `/` and `/v1`: users who know `OPENAI_BASE_URL` often write the version
/// into the base, but Braintrust's paths carry it.
fn normalise_api_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(Error::Config {
            name: EnvVars::BRAINTRUST_API_URL,
            message: format!("`{url}` is not an http(s) URL"),
        });
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use core_config::Env;

    use super::*;

    #[test]
    fn the_key_is_required_and_urls_are_tidied() {
        let env = Env::from_pairs([("BRAINTRUST_API_URL", "http://127.0.0.1:9/v1/")]);
        assert!(matches!(
            Config::from_settings(&env.braintrust()),
            Err(Error::MissingKey)
        ));
        let env = Env::from_pairs([
            ("BRAINTRUST_API_URL", "http://127.0.0.1:9/v1/"),
            ("BRAINTRUST_API_KEY", "bt-secret"),
        ]);
        let config = Config::from_settings(&env.braintrust()).unwrap();
        assert_eq!(config.api_url, "http://127.0.0.1:9");
        assert_eq!(config.project, "Keyword-Classification-Pipeline");
        assert!(!format!("{config:?}").contains("bt-secret"));
        let env = Env::from_pairs([
            ("BRAINTRUST_API_URL", "api.braintrust.dev"),
            ("BRAINTRUST_API_KEY", "k"),
        ]);
        let err = Config::from_settings(&env.braintrust()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "BRAINTRUST_API_URL: `api.braintrust.dev` is not an http(s) URL"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (0..7).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    }
}
