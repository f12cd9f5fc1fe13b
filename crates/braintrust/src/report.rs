//! What `sync-braintrust` reports as JSON: where runs stand, and what a sync did.

use std::collections::BTreeMap;

use core_config::BraintrustSettings;
use registry::{Entry, Filter, RegistryFile, Status};
use serde::Serialize;

use crate::links::{self, PushedDataset, PushedPrompt};
use crate::{LINK_FIELDS, Project, RunOutcome, SyncReport};

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
    /// Datasets pushed from this clone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub datasets: Vec<PushedDataset>,
    /// Prompt versions pushed from this clone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<PushedPrompt>,
    /// Uploaded runs linked to a pushed dataset or prompt version, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub linked: Vec<LinkedRun>,
}

/// An uploaded run's links, as the registry keeps them.
#[derive(Debug, Clone, Serialize)]
pub struct LinkedRun {
    /// Local id.
    pub local_id: String,
    /// Module id.
    pub module: String,
    /// `live` or `batch`.
    pub tier: String,
    /// Experiment id.
    pub experiment_id: Option<String>,
    /// Linked dataset name.
    pub dataset: Option<String>,
    /// Linked prompt slug.
    pub prompt: Option<String>,
    /// Linked prompt version.
    pub prompt_version: Option<String>,
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
        let registry = file.load()?;
        let text = |e: &Entry, key: &str| {
            e.extra
                .get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let mut linked: Vec<&Entry> = registry
            .entries()
            .filter(|e| e.status == Status::Uploaded)
            .filter(|e| LINK_FIELDS.iter().any(|k| e.extra.contains_key(*k)))
            .collect();
        linked.sort_by_key(|e| std::cmp::Reverse(e.created()));
        let linked = linked
            .into_iter()
            .map(|e| LinkedRun {
                local_id: e.local_id.clone(),
                module: e.module_id.clone(),
                tier: e.tier.as_str().to_owned(),
                experiment_id: e.braintrust_id.clone(),
                dataset: text(e, "braintrust_dataset"),
                prompt: text(e, "braintrust_prompt_slug"),
                prompt_version: text(e, "braintrust_prompt_version"),
            })
            .collect();
        Ok(Self {
            datasets: links::pushed_datasets(&registry),
            prompts: links::pushed_prompts(&registry),
            linked,
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
