//! The crate's error type. Every failed call says which endpoint, what the server said, what a
//! person can do about it, and how many attempts were made over how long.

use std::path::PathBuf;
use std::time::Duration;

use crate::duration::format_duration;
use crate::response::ApiErrorBody;

/// What kind of failure a call ended in; decides whether it was retried and what to tell the
/// user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// 400: the request itself is wrong.
    BadRequest,
    /// 401: the key is missing, wrong or revoked.
    Unauthorized,
    /// 403: no permission (model access, region).
    Forbidden,
    /// 404: unknown model, deployment, file or batch.
    NotFound,
    /// 422: well-formed but unprocessable.
    Unprocessable,
    /// 429 `insufficient_quota` and the spend-limit variants: needs a person to add credit.
    Quota,
    /// 429 rate limit, still failing after every allowed retry.
    RateLimited,
    /// 408, 409 and 5xx, still failing after every allowed retry.
    Server,
    /// The request timed out, after every allowed retry.
    Timeout,
    /// The connection failed, after every allowed retry.
    Connection,
    /// Any other status the client does not retry.
    Other,
}

impl FailureKind {
    /// Whether this failure stops the whole run (no other call can succeed until a person acts).
    #[must_use]
    pub fn is_fatal(self) -> bool {
        matches!(self, Self::Quota | Self::Unauthorized)
    }

    fn hint(self) -> &'static str {
        match self {
            Self::BadRequest => {
                "the server rejected the request as invalid; the message says which field"
            }
            Self::Unauthorized => {
                "check the API key (OPENAI_API_KEY, or AZURE_OPENAI_API_KEY for Azure)"
            }
            Self::Forbidden => {
                "the key has no access to this model or endpoint (or the region is not served)"
            }
            Self::NotFound => {
                "check the model name (for Azure: the deployment name) and OPENAI_BASE_URL"
            }
            Self::Unprocessable => "the server could not process this request as written",
            Self::Quota => {
                "the account is out of credit or over its spend limit: add credit or raise the limit in the provider's billing settings, then rerun (answers already received are cached)"
            }
            Self::RateLimited => {
                "still rate limited after every retry: lower --concurrency or set --rpm/--tpm below the account's limits"
            }
            Self::Server => {
                "the server failed on every attempt: if its message names a setting, check the server's configuration; otherwise try again later"
            }
            Self::Timeout => "no answer in time; check the server, or raise the timeout",
            Self::Connection => "cannot reach the server; check OPENAI_BASE_URL and the network",
            Self::Other => "the server refused the request",
        }
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status (after retries, when the status is retried).
    #[error(
        "{endpoint}: HTTP {status}{}: {} ({}; {attempts} attempt{} in {})",
        code_text(*status, body),
        body.message,
        kind.hint(),
        plural(*attempts),
        format_duration(*elapsed)
    )]
    Api {
        /// Endpoint, e.g. `POST /chat/completions`.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Classification.
        kind: FailureKind,
        /// The error body as parsed (boxed: it keeps every `Result` of this crate small).
        body: Box<ApiErrorBody>,
        /// The server's `x-request-id`, for support tickets.
        request_id: Option<String>,
        /// Attempts made.
        attempts: u32,
        /// Time spent, waits included.
        elapsed: Duration,
    },

    /// No HTTP answer: timeout or connection failure (after retries).
    #[error(
        "{endpoint}: {message} ({}; {attempts} attempt{} in {})",
        kind.hint(),
        plural(*attempts),
        format_duration(*elapsed)
    )]
    Transport {
        /// Endpoint.
        endpoint: String,
        /// [`FailureKind::Timeout`] or [`FailureKind::Connection`].
        kind: FailureKind,
        /// What failed (never contains the key).
        message: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
    },

    /// The server asked us to wait longer than the retry policy allows.
    #[error(
        "{endpoint}: the server asked to wait {} before retrying, more than the allowed {}; rerun later ({attempts} attempt{} in {})",
        format_duration(*wait),
        format_duration(*limit),
        plural(*attempts),
        format_duration(*elapsed)
    )]
    WaitTooLong {
        /// Endpoint.
        endpoint: String,
        /// Requested wait.
        wait: Duration,
        /// The policy's limit.
        limit: Duration,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
    },

    /// A 2xx answer whose body we cannot read.
    #[error("{endpoint}: unreadable response ({message}): {excerpt}")]
    Decode {
        /// Endpoint.
        endpoint: String,
        /// The parser's message.
        message: String,
        /// The start of the body.
        excerpt: String,
    },

    /// An earlier call failed in a way no retry can fix (quota, bad key); this one was not sent.
    #[error("not sent: the run was halted by an earlier failure: {reason}")]
    Halted {
        /// The earlier failure.
        reason: String,
    },

    /// The request cannot be built (e.g. its schema does not compile).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// The client cannot be configured.
    #[error("client configuration: {0}")]
    Config(String),

    /// Reading or writing the response cache.
    #[error("response cache {}", path.display())]
    Cache {
        /// File or folder.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },

    /// The price table file.
    #[error("{}:{line}: {message}", path.display())]
    Prices {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn code_text(status: u16, body: &ApiErrorBody) -> String {
    body.label(status)
        .map_or_else(String::new, |c| format!(" {c}"))
}

impl Error {
    /// The failure class, when the error came from the server or the network.
    #[must_use]
    pub fn kind(&self) -> Option<FailureKind> {
        match self {
            Self::Api { kind, .. } | Self::Transport { kind, .. } => Some(*kind),
            Self::WaitTooLong { .. } => Some(FailureKind::RateLimited),
            _ => None,
        }
    }

    /// Whether the whole run should stop: out of quota, bad key, or halted by such a failure.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Halted { .. }) || self.kind().is_some_and(FailureKind::is_fatal)
    }

    /// Attempts made, for errors that come from calls.
    #[must_use]
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Self::Api { attempts, .. }
            | Self::Transport { attempts, .. }
            | Self::WaitTooLong { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_errors_say_what_to_do_and_how_long_it_took() {
        let err = Error::Api {
            endpoint: "POST /chat/completions".to_owned(),
            status: 429,
            kind: FailureKind::Quota,
            body: Box::new(ApiErrorBody::parse(
                br#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
            )),
            request_id: None,
            attempts: 1,
            elapsed: Duration::from_millis(120),
        };
        assert_eq!(
            err.to_string(),
            "POST /chat/completions: HTTP 429 insufficient_quota: You exceeded your current quota. (the account is out of credit or over its spend limit: add credit or raise the limit in the provider's billing settings, then rerun (answers already received are cached); 1 attempt in 120ms)"
        );
        assert!(err.is_fatal());
        assert_eq!(err.attempts(), Some(1));
    }

    fn api_error(status: u16, kind: FailureKind, body: &str) -> Error {
        Error::Api {
            endpoint: "POST /files".to_owned(),
            status,
            kind,
            body: Box::new(ApiErrorBody::parse(body.as_bytes())),
            request_id: None,
            attempts: 6,
            elapsed: Duration::from_secs(3),
        }
    }

    #[test]
    fn a_code_that_repeats_the_status_is_not_printed() {
        // LiteLLM puts the status in `code`, as text or as a number, and "None" in `type`.
        for body in [
            r#"{"error":{"message":"bad field","type":"None","param":"None","code":"400"}}"#,
            r#"{"error":{"message":"bad field","type":"None","param":"None","code":400}}"#,
        ] {
            let text = api_error(400, FailureKind::BadRequest, body).to_string();
            assert!(
                text.starts_with("POST /files: HTTP 400: bad field ("),
                "{text}"
            );
        }
        // A `type` still says something when the code only repeats the status.
        let text = api_error(
            500,
            FailureKind::Server,
            r#"{"error":{"message":"boom","type":"internal_server_error","code":"500"}}"#,
        )
        .to_string();
        assert!(
            text.starts_with("POST /files: HTTP 500 internal_server_error: boom ("),
            "{text}"
        );
    }

    #[test]
    fn a_failing_server_is_pointed_at_its_configuration_too() {
        let text = api_error(
            500,
            FailureKind::Server,
            r#"{"error":{"message":"files_settings is not set, set it on your config.yaml file","type":"None","param":"None","code":"500"}}"#,
        )
        .to_string();
        assert!(
            text.starts_with(
                "POST /files: HTTP 500: files_settings is not set, set it on your config.yaml file ("
            ),
            "{text}"
        );
        assert!(text.contains("check the server's configuration"), "{text}");
        assert!(text.contains("try again later"), "{text}");
    }
}
