//! What `sync-braintrust` reports as JSON: where runs stand, and what a sync did.

use std::collections::BTreeMap;

use core_config::BraintrustSettings;
use registry::{Entry, Filter, RegistryFile, Status};
use serde::Serialize;

use crate::{Project, RunOutcome, SyncReport};

/// Where the registry's runs stand with Braintrust; read from the registry alone (no key, no
/// network).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Braintrust project name.
    pub project: String,
    /// REST API base.
    pub api_url: String,
    /// Whether an API key is configured.
    pub key_set: bool,
    /// Runs registered.
    pub total: usize,
    /// Runs per upload status.
    pub by_status: BTreeMap<String, usize>,
    /// Runs not on Braintrust (`local_only` or `failed`), oldest first as a sync takes them.
    pub not_uploaded: Vec<Entry>,
}

impl StatusReport {
    /// Reads the registry.
    ///
    /// # Errors
    /// The registry cannot be read.
    pub fn read(settings: &BraintrustSettings, file: &RegistryFile) -> registry::Result<Self> {
        let overview = file.overview()?;
        let stats = overview.stats();
        let mut waiting: Vec<&registry::Summary> = overview
            .list(&Filter::default())
            .into_iter()
            .filter(|s| matches!(s.status, Status::LocalOnly | Status::Failed))
            .collect();
        waiting.reverse();
        let ids: Vec<&str> = waiting.iter().map(|s| s.local_id.as_str()).collect();
        Ok(Self {
            project: settings.project.clone(),
            api_url: settings.api_url.clone(),
            key_set: settings.api_key.is_some(),
            total: stats.total,
            by_status: stats.by_status,
            not_uploaded: overview.entries(&ids)?,
        })
    }
}

/// A [`SyncReport`] as JSON: the project, counts and every run's outcome.
#[derive(Debug, Serialize)]
pub struct SyncJson<'a> {
    project: &'a Project,
    pending: usize,
    uploaded: usize,
    failed: usize,
    not_tried: usize,
    runs: &'a [RunOutcome],
}

impl<'a> From<&'a SyncReport> for SyncJson<'a> {
    fn from(r: &'a SyncReport) -> Self {
        Self {
            project: &r.project,
            pending: r.pending,
            uploaded: r.uploaded(),
            failed: r.failed(),
            not_tried: r.not_tried,
            runs: &r.outcomes,
        }
    }
}
