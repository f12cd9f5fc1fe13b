//! Files and Batch API types, read leniently (every field but the id may be missing), plus the
//! per-line shapes of batch output and error files.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An uploaded file (`OpenAIFile`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FileObject {
    /// `file-…`.
    pub id: String,
    /// Size in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds, when the file expires.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// File name as uploaded.
    #[serde(default)]
    pub filename: String,
    /// `batch`, `batch_output`, …
    #[serde(default)]
    pub purpose: String,
}

/// Where a batch is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchStatus {
    /// The input file is being checked.
    Validating,
    /// Validation failed (see the batch's `errors`).
    Failed,
    /// Running.
    InProgress,
    /// Results are being written.
    Finalizing,
    /// Done; the output and error files are ready.
    Completed,
    /// The completion window ran out; finished requests are in the output file.
    Expired,
    /// Cancel requested.
    Cancelling,
    /// Cancelled; finished requests are in the output file.
    Cancelled,
    /// A status this client does not know.
    Other(String),
}

impl BatchStatus {
    /// The wire name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Validating => "validating",
            Self::Failed => "failed",
            Self::InProgress => "in_progress",
            Self::Finalizing => "finalizing",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
            Self::Other(s) => s,
        }
    }

    /// Whether the batch will not change any more.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Failed | Self::Completed | Self::Expired | Self::Cancelled
        )
    }
}

impl<'de> Deserialize<'de> for BatchStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "validating" => Self::Validating,
            "failed" => Self::Failed,
            "in_progress" => Self::InProgress,
            "finalizing" => Self::Finalizing,
            "completed" => Self::Completed,
            "expired" => Self::Expired,
            "cancelling" => Self::Cancelling,
            "cancelled" => Self::Cancelled,
            _ => Self::Other(text),
        })
    }
}

impl Serialize for BatchStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Request counts of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct RequestCounts {
    /// Lines in the input file (0 until validated).
    #[serde(default)]
    pub total: u64,
    /// Lines answered.
    #[serde(default)]
    pub completed: u64,
    /// Lines failed.
    #[serde(default)]
    pub failed: u64,
}

/// One validation error of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct BatchError {
    /// Machine code, e.g. `duplicate_custom_id`.
    #[serde(default)]
    pub code: Option<String>,
    /// Human message.
    #[serde(default)]
    pub message: String,
    /// The offending parameter.
    #[serde(default)]
    pub param: Option<String>,
    /// 1-based line of the input file.
    #[serde(default)]
    pub line: Option<u64>,
}

/// `errors` of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct BatchErrors {
    /// The errors.
    #[serde(default)]
    pub data: Vec<BatchError>,
}

/// A batch job (`Batch`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Batch {
    /// `batch_…`.
    pub id: String,
    /// Endpoint of every line, e.g. `/v1/chat/completions`.
    #[serde(default)]
    pub endpoint: String,
    /// Model of the lines, when reported.
    #[serde(default)]
    pub model: Option<String>,
    /// Validation errors.
    #[serde(default)]
    pub errors: Option<BatchErrors>,
    /// The input file.
    #[serde(default)]
    pub input_file_id: String,
    /// `24h`.
    #[serde(default)]
    pub completion_window: String,
    /// Status.
    pub status: BatchStatus,
    /// Answers, once finished.
    #[serde(default)]
    pub output_file_id: Option<String>,
    /// Failed lines, once finished.
    #[serde(default)]
    pub error_file_id: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds.
    #[serde(default)]
    pub in_progress_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub finalizing_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub failed_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub expired_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub cancelling_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub cancelled_at: Option<i64>,
    /// Progress.
    #[serde(default)]
    pub request_counts: Option<RequestCounts>,
    /// Token usage, when reported.
    #[serde(default)]
    pub usage: Option<Value>,
    /// Metadata given at creation.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// A page of batches.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BatchList {
    /// Batches, newest first.
    #[serde(default)]
    pub data: Vec<Batch>,
    /// Whether more pages follow (pass the last id as `after`).
    #[serde(default)]
    pub has_more: bool,
    /// First id of the page.
    #[serde(default)]
    pub first_id: Option<String>,
    /// Last id of the page.
    #[serde(default)]
    pub last_id: Option<String>,
}

/// What to create a batch from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateBatch {
    /// The uploaded input file (`purpose = batch`).
    pub input_file_id: String,
    /// `/v1/chat/completions`.
    pub endpoint: String,
    /// Only `24h` is accepted.
    pub completion_window: String,
    /// Up to 16 string pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl CreateBatch {
    /// A chat-completions batch over an uploaded file, with a 24 h window.
    #[must_use]
    pub fn chat(input_file_id: impl Into<String>) -> Self {
        Self {
            input_file_id: input_file_id.into(),
            endpoint: crate::request::BATCH_CHAT_ENDPOINT.to_owned(),
            completion_window: "24h".to_owned(),
            metadata: None,
        }
    }
}

/// The `response` part of an output line.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BatchLineResponse {
    /// HTTP status of the request.
    #[serde(default)]
    pub status_code: u16,
    /// `x-request-id`.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The response body (a chat completion, or an error body).
    #[serde(default)]
    pub body: Value,
}

/// The `error` part of an output line (failures outside HTTP, such as `batch_expired`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BatchLineError {
    /// Machine code.
    #[serde(default)]
    pub code: Option<String>,
    /// Human message.
    #[serde(default)]
    pub message: String,
}

/// One line of a batch output or error file. Classify by `response.status_code` and `error`,
/// not by the file it came from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BatchOutputLine {
    /// `batch_req_…`.
    #[serde(default)]
    pub id: Option<String>,
    /// The input line's `custom_id`.
    pub custom_id: String,
    /// The HTTP answer, if the request ran.
    #[serde(default)]
    pub response: Option<BatchLineResponse>,
    /// The failure, if it did not.
    #[serde(default)]
    pub error: Option<BatchLineError>,
}

impl BatchOutputLine {
    /// Parses one line.
    ///
    /// # Errors
    /// When the line is not JSON or has no `custom_id`.
    pub fn parse(line: &str) -> Result<Self, String> {
        serde_json::from_str(line).map_err(|e| e.to_string())
    }

    /// The chat-completion body, when the request succeeded.
    #[must_use]
    pub fn success_body(&self) -> Option<&Value> {
        self.response
            .as_ref()
            .filter(|r| (200..300).contains(&r.status_code) && self.error.is_none())
            .map(|r| &r.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_parse() {
        let ok = BatchOutputLine::parse(r#"{"id":"batch_req_1","custom_id":"a","response":{"status_code":200,"request_id":"r","body":{"choices":[]}},"error":null}"#).unwrap();
        assert!(ok.success_body().is_some());
        let http = BatchOutputLine::parse(r#"{"id":"batch_req_2","custom_id":"b","response":{"status_code":400,"body":{"error":{"message":"bad"}}},"error":null}"#).unwrap();
        assert!(http.success_body().is_none());
        let expired = BatchOutputLine::parse(r#"{"id":"batch_req_3","custom_id":"c","response":null,"error":{"code":"batch_expired","message":"late"}}"#).unwrap();
        assert_eq!(
            expired.error.unwrap().code.as_deref(),
            Some("batch_expired")
        );
        assert!(BatchOutputLine::parse(r#"{"id":"x"}"#).is_err());
    }

    #[test]
    fn unknown_statuses_are_kept() {
        let batch: Batch = serde_json::from_str(r#"{"id":"batch_1","status":"paused"}"#).unwrap();
        assert_eq!(batch.status, BatchStatus::Other("paused".to_owned()));
        assert!(!batch.status.is_terminal());
        let done: Batch = serde_json::from_str(r#"{"id":"batch_1","status":"expired","request_counts":{"total":3,"completed":2,"failed":1}}"#).unwrap();
        assert!(done.status.is_terminal());
        assert_eq!(done.request_counts.unwrap().failed, 1);
    }
}
