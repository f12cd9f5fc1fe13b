//! The project's experiments as a list a person can filter (module, model, prompt version,
//! since a date), each with the local run it came from when the registry knows it, and the
//! bulk download of such a list: one file per experiment, written atomically and skipped when it
//! is already there, so an interrupted download picks up where it stopped.

use core_config::{Catalog, ModuleId, ProjectPaths};
use registry::Registry;
use serde::Serialize;

use crate::client::Client;
use crate::download::{Format, module_of, rows_from_events, write_rows};
use crate::error::{Error, Result};
use crate::naming::module_of_name;
use crate::session::download_path;
use crate::types::{Experiment, Project};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ExperimentFilter {
    /// Only this module's experiments.
    pub module: Option<ModuleId>,
    /// Only experiments whose metadata names this model.
    pub model: Option<String>,
    /// Only experiments whose metadata names this prompt version.
    pub prompt_version: Option<String>,
    /// Only experiments created on or after this day or time (ISO 8601 text in UTC, as
    /// Braintrust records `created`, compared as text: `2026-01-16` or `2026-01-16T08:00`).
    pub since: Option<String>,
}

/// One experiment of the list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// Experiment id.
    pub id: String,
    /// Experiment name.
    pub name: String,
    /// Creation time (ISO 8601), when known.
    pub created: Option<String>,
    /// Module, from its metadata or name.
    pub module: Option<String>,
    /// Model, from its metadata.
    pub model: Option<String>,
    /// Prompt version, from its metadata.
    pub prompt_version: Option<String>,
    /// `live` or `batch`, from its metadata.
    pub tier: Option<String>,
    /// The local run it was uploaded from, when the registry links it.
    pub local_id: Option<String>,
    /// The linked Braintrust dataset, when it has one.
    pub dataset_id: Option<String>,
}

impl Listed {
    fn new(experiment: &Experiment, registry: &Registry) -> Self {
        let text = |key: &str| experiment.metadata_text(key).map(str::to_owned);
        let module = experiment
            .metadata_text("module")
            .and_then(ModuleId::parse)
            .or_else(|| module_of_name(&experiment.name))
            .map(|m| m.to_string());
        let local_id = registry
            .find_by_braintrust_id(&experiment.id)
            .or_else(|| registry.find_by_braintrust_id(&experiment.name))
            .map(|e| e.local_id.clone())
            .or_else(|| {
                experiment
                    .local_id()
                    .filter(|id| registry.get(id).is_some())
                    .map(str::to_owned)
            });
        Self {
            id: experiment.id.clone(),
            name: experiment.name.clone(),
            created: experiment.created.clone(),
            module,
            model: text("model"),
            prompt_version: text("prompt_version"),
            tier: text("tier"),
            local_id,
            dataset_id: experiment.dataset_id.clone(),
        }
    }

    fn fits(&self, filter: &ExperimentFilter) -> bool {
        let same = |have: &Option<String>, want: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| have.as_ref().is_some_and(|h| h.eq_ignore_ascii_case(w)))
        };
        let module = filter.module.as_ref().map(ToString::to_string);
        same(&self.module, &module)
            && same(&self.model, &filter.model)
            && same(&self.prompt_version, &filter.prompt_version)
            && filter
                .since
                .as_ref()
                .is_none_or(|since| self.created.as_deref().is_some_and(|c| c >= since.as_str()))
    }
}

/// The project's experiments that fit `filter`, newest first, with their local runs.
///
/// # Errors
/// Request failures.
pub async fn list(
    client: &Client,
    registry: &Registry,
    filter: &ExperimentFilter,
) -> Result<(Project, Vec<(Experiment, Listed)>)> {
    let project = client.project().await?;
    let experiments = client.experiments(&project.id).await?;
    let listed = experiments
        .into_iter()
        .map(|e| {
            let l = Listed::new(&e, registry);
            (e, l)
        })
        .filter(|(_, l)| l.fits(filter))
        .collect();
    Ok((project, listed))
}

/// What happened to one experiment of a bulk download.
#[derive(Debug, Clone, Serialize)]
pub struct BulkItem {
    /// Experiment name.
    pub experiment: String,
    /// The file (as shown to people).
    pub file: String,
    /// Rows written; `None` when the file was already there.
    pub rows: Option<usize>,
}

/// What a bulk download did.
#[derive(Debug, Clone, Serialize)]
pub struct BulkReport {
    /// Experiments that fit the filter.
    pub experiments: usize,
    /// Downloaded now.
    pub downloaded: usize,
    /// Already downloaded (file present), left alone.
    pub skipped: usize,
    /// Every experiment, in list order.
    pub items: Vec<BulkItem>,
}

/// Downloads every experiment that fits `filter` to its default file
/// (`experiment_results/{ModuleFolder}/braintrust/{name}.{csv|jsonl}`), skipping files that
/// exist. Each file is written atomically, so after an interruption a file is either complete
/// or absent, and running it again fetches only what is missing. `on_item` hears each item as
/// it is done.
///
/// # Errors
/// [`Error::ModuleUnknown`] for an experiment whose module cannot be told (CSV needs it);
/// request and file failures (files already written stay).
pub async fn download_all(
    client: &Client,
    registry: &Registry,
    catalog: &Catalog,
    paths: &ProjectPaths,
    filter: &ExperimentFilter,
    format: Format,
    mut on_item: impl FnMut(&BulkItem),
) -> Result<BulkReport> {
    let (_, listed) = list(client, registry, filter).await?;
    let mut report = BulkReport {
        experiments: listed.len(),
        downloaded: 0,
        skipped: 0,
        items: Vec::with_capacity(listed.len()),
    };
    // Oldest first: a person reading the output sees the runs in the order they were made.
    for (experiment, item) in listed.into_iter().rev() {
        let known = item
            .module
            .as_deref()
            .and_then(ModuleId::parse)
            .or_else(|| filter.module.clone())
            .and_then(|m| catalog.get(&m).cloned());
        let path = download_path(paths, known.as_ref(), &experiment.name, format);
        let file = paths.display(&path).into_owned();
        // A download killed while writing leaves its temporary file; it is never the file.
        core_config::remove_leftovers(&path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        let done = if path.is_file() {
            report.skipped += 1;
            BulkItem {
                experiment: experiment.name.clone(),
                file,
                rows: None,
            }
        } else {
            let events = client.fetch_rows(&experiment.id).await?;
            let module = known
                .or_else(|| module_of(&experiment, &events).and_then(|m| catalog.get(&m).cloned()))
                .ok_or_else(|| Error::ModuleUnknown {
                    experiment: experiment.name.clone(),
                })?;
            let rows = rows_from_events(events);
            write_rows(&path, format, &module, &rows)?;
            report.downloaded += 1;
            BulkItem {
                experiment: experiment.name.clone(),
                file,
                rows: Some(rows.len()),
            }
        };
        on_item(&done);
        report.items.push(done);
    }
    Ok(report)
}
