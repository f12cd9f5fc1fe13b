//! `status`: where every batch of a folder is, written to `status_report.json`; `watch` polls
//! with a growing interval until every batch is finished; `cancel` stops unfinished ones.

use std::future::Future;
use std::time::Duration;

use llm_client::{Batch, BatchError, Client, RequestCounts};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::layout::{BatchDir, STATUS_REPORT, UploadEntry, iso_of, now_iso, write_json};
use crate::progress::{Event, Reporter};

/// One batch as last seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchState {
    /// Group key.
    pub key: String,
    /// Module id.
    pub module: String,
    /// Request file.
    pub file: String,
    /// 0 for generated files, 1, 2, … for resubmissions.
    pub round: u32,
    /// The batch.
    pub batch_id: String,
    /// `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`,
    /// `cancelling` or `cancelled`.
    pub status: String,
    /// Whether the batch will not change any more.
    pub terminal: bool,
    /// ISO 8601 times of the lifecycle steps reached.
    pub created_at: Option<String>,
    /// When it started running.
    pub in_progress_at: Option<String>,
    /// When it completed.
    pub completed_at: Option<String>,
    /// When validation failed.
    pub failed_at: Option<String>,
    /// When the window ran out.
    pub expired_at: Option<String>,
    /// When it was cancelled.
    pub cancelled_at: Option<String>,
    /// Progress.
    pub request_counts: RequestCounts,
    /// Answers, once finished.
    pub output_file_id: Option<String>,
    /// Failed lines, once finished.
    pub error_file_id: Option<String>,
    /// Validation errors (e.g. `token_limit_exceeded`).
    pub errors: Vec<BatchError>,
    /// Metadata given at creation.
    pub metadata: Map<String, Value>,
}

impl BatchState {
    pub(crate) fn from_batch(entry: &UploadEntry, batch: Batch) -> Self {
        let iso = |t: Option<i64>| t.and_then(iso_of);
        let key = entry.key();
        Self {
            module: entry
                .module
                .clone()
                .unwrap_or_else(|| crate::layout::module_of_key(&key).to_owned()),
            key,
            file: entry.file.clone(),
            round: entry.round,
            batch_id: batch.id,
            status: batch.status.as_str().to_owned(),
            terminal: batch.status.is_terminal(),
            created_at: iso_of(batch.created_at),
            in_progress_at: iso(batch.in_progress_at),
            completed_at: iso(batch.completed_at),
            failed_at: iso(batch.failed_at),
            expired_at: iso(batch.expired_at),
            cancelled_at: iso(batch.cancelled_at),
            request_counts: batch.request_counts.unwrap_or_default(),
            output_file_id: batch.output_file_id,
            error_file_id: batch.error_file_id,
            errors: batch.errors.map(|e| e.data).unwrap_or_default(),
            metadata: batch.metadata.unwrap_or_default(),
        }
    }

    /// Whether it finished with every request answered.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.status == "completed" && self.request_counts.failed == 0
    }
}

/// Counts over all batches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusSummary {
    /// Batches checked.
    pub batches: usize,
    /// Completed.
    pub completed: usize,
    /// Not finished yet (validating, in progress, finalizing, cancelling).
    pub in_progress: usize,
    /// Failed validation.
    pub failed: usize,
    /// Ran out of time (partial results).
    pub expired: usize,
    /// Cancelled (partial results).
    pub cancelled: usize,
    /// Requests in all batches.
    pub total_requests: u64,
    /// Requests answered.
    pub completed_requests: u64,
    /// Requests failed.
    pub failed_requests: u64,
    /// Whether every batch is finished.
    pub all_terminal: bool,
}

/// A group's requests over all its batches (resubmissions included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupProgress {
    /// Group key.
    pub key: String,
    /// Requests generated.
    pub requests: u64,
    /// Requests answered so far, in any round.
    pub answered: u64,
    /// Whether some batch of the group is still running.
    pub running: bool,
}

/// `status_report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// When the check was made (ISO 8601).
    pub timestamp: String,
    /// Every batch.
    pub statuses: Vec<BatchState>,
    /// Per group, over its rounds.
    #[serde(default)]
    pub groups: Vec<GroupProgress>,
    /// Counts.
    pub summary: StatusSummary,
}

impl StatusReport {
    fn new(dir: &BatchDir, statuses: Vec<BatchState>) -> Self {
        let mut s = StatusSummary {
            batches: statuses.len(),
            all_terminal: statuses.iter().all(|b| b.terminal),
            ..StatusSummary::default()
        };
        for b in &statuses {
            match b.status.as_str() {
                "completed" => s.completed += 1,
                "failed" => s.failed += 1,
                "expired" => s.expired += 1,
                "cancelled" => s.cancelled += 1,
                _ => s.in_progress += 1,
            }
            s.total_requests += b.request_counts.total;
            s.completed_requests += b.request_counts.completed;
            s.failed_requests += b.request_counts.failed;
        }
        // Resubmitted requests are answered in later rounds: a group is done when its
        // answers, over every round, cover its requests.
        let mut groups: Vec<GroupProgress> = Vec::new();
        for b in &statuses {
            let index = match groups.iter().position(|g| g.key == b.key) {
                Some(i) => i,
                None => {
                    let requests = dir
                        .group(&b.key)
                        .map(|g| g.records)
                        .filter(|r| *r > 0)
                        .unwrap_or_else(|| {
                            statuses
                                .iter()
                                .filter(|o| o.key == b.key && o.round == 0)
                                .map(|o| o.request_counts.total)
                                .sum()
                        });
                    groups.push(GroupProgress {
                        key: b.key.clone(),
                        requests,
                        answered: 0,
                        running: false,
                    });
                    groups.len() - 1
                }
            };
            groups[index].answered += b.request_counts.completed;
            groups[index].running |= !b.terminal;
        }
        Self {
            timestamp: now_iso(),
            statuses,
            groups,
            summary: s,
        }
    }

    /// Whether every batch is finished and every request has an answer (in some round).
    #[must_use]
    pub fn all_clean(&self) -> bool {
        self.summary.all_terminal && self.groups.iter().all(|g| g.answered >= g.requests)
    }
}

/// Fetches every submitted batch of the folder.
async fn fetch(dir: &BatchDir, client: &Client) -> Result<Vec<BatchState>> {
    let mut states = Vec::new();
    for entry in dir.submitted()? {
        let id = entry.batch_id.clone().unwrap_or_default();
        let batch = client
            .batch(&id)
            .await
            .map_err(|e| Error::api(format!("checking batch {id} ({})", entry.file), e))?;
        states.push(BatchState::from_batch(&entry, batch));
    }
    Ok(states)
}

/// Checks every batch once and writes `status_report.json`.
///
/// # Errors
/// When nothing was uploaded yet, a batch cannot be fetched, or the report cannot be written.
pub async fn check(dir: &BatchDir, client: &Client) -> Result<StatusReport> {
    let report = StatusReport::new(dir, fetch(dir, client).await?);
    write_json(&dir.join(STATUS_REPORT), &report)?;
    Ok(report)
}

/// How `watch` polls.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// First wait between checks; it resets whenever a batch moves.
    pub interval: Duration,
    /// Longest wait between checks (the wait grows by half while nothing moves).
    pub max_interval: Duration,
    /// Give up after this long.
    pub timeout: Option<Duration>,
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// Every batch is finished.
    Finished,
    /// The timeout passed first.
    TimedOut,
    /// The caller stopped it (Ctrl-C).
    Stopped,
}

fn progress_key(states: &[BatchState]) -> Vec<(String, u64, u64)> {
    states
        .iter()
        .map(|s| {
            (
                s.status.clone(),
                s.request_counts.completed,
                s.request_counts.failed,
            )
        })
        .collect()
}

/// Checks until every batch is finished, waiting longer while nothing moves. The report is
/// rewritten after every check.
///
/// # Errors
/// As [`check`].
pub async fn watch(
    dir: &BatchDir,
    client: &Client,
    options: WatchOptions,
    reporter: &dyn Reporter,
    stop: impl Future<Output = ()>,
) -> Result<(StatusReport, WatchEnd)> {
    tokio::pin!(stop);
    let started = tokio::time::Instant::now();
    let mut wait = options.interval;
    let mut last: Option<Vec<(String, u64, u64)>> = None;
    loop {
        let report = check(dir, client).await?;
        if report.summary.all_terminal {
            reporter.event(&Event::Polled {
                states: &report.statuses,
                next: None,
            });
            return Ok((report, WatchEnd::Finished));
        }
        let now = progress_key(&report.statuses);
        if last.as_ref() == Some(&now) {
            wait = wait.mul_f64(1.5).min(options.max_interval);
        } else {
            wait = options.interval;
        }
        last = Some(now);
        if let Some(timeout) = options.timeout {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok((report, WatchEnd::TimedOut));
            }
            wait = wait.min(left);
        }
        reporter.event(&Event::Polled {
            states: &report.statuses,
            next: Some(wait),
        });
        tokio::select! {
            biased;
            () = &mut stop => return Ok((report, WatchEnd::Stopped)),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Asks every unfinished batch of the selected groups (all when `keys` is empty) to stop;
/// what they answered so far stays downloadable.
///
/// # Errors
/// When nothing was uploaded, a group is unknown, or a call fails.
pub async fn cancel(dir: &BatchDir, client: &Client, keys: &[String]) -> Result<Vec<BatchState>> {
    let submitted = dir.submitted()?;
    for key in keys {
        if !submitted.iter().any(|e| &e.key() == key) {
            return Err(Error::Selection(format!(
                "no batch of `{key}` in {} (groups: {})",
                dir.path.display(),
                group_list(&submitted)
            )));
        }
    }
    let mut states = Vec::new();
    for entry in submitted
        .iter()
        .filter(|e| keys.is_empty() || keys.contains(&e.key()))
    {
        let id = entry.batch_id.clone().unwrap_or_default();
        let batch = client
            .batch(&id)
            .await
            .map_err(|e| Error::api(format!("checking batch {id}"), e))?;
        let batch = if batch.status.is_terminal() {
            batch
        } else {
            client
                .cancel_batch(&id)
                .await
                .map_err(|e| Error::api(format!("cancelling batch {id}"), e))?
        };
        states.push(BatchState::from_batch(entry, batch));
    }
    Ok(states)
}

pub(crate) fn group_list(entries: &[UploadEntry]) -> String {
    let mut keys: Vec<String> = entries.iter().map(UploadEntry::key).collect();
    keys.dedup();
    keys.join(", ")
}
