//! Uploading registered runs: one experiment per run, one event per results row, the outcome
//! written back to the registry. Every step can be repeated safely: the experiment is found
//! again by name, and rows replace themselves by id.

use std::collections::{HashMap, HashSet};

use core_config::{Catalog, ModuleId, ModuleSpec, ResultRow};
use registry::{Entry, Registry, RegistryFile, Status};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::client::Client;
use crate::config::{MAX_EVENTS_PER_INSERT, MAX_INSERT_BYTES};
use crate::error::{Error, Result};
use crate::event::{Chunker, event_for_row};
use crate::naming::experiment_name;
use crate::types::{Experiment, NewExperiment, Project, RepoInfo};

/// Extra per-row scores (each within `[0, 1]`) a caller can compute from a row, such as list
/// precision / recall / F1. `correct` is always sent; these come on top.
pub trait RowScorer: Send + Sync {
    /// Named scores for one scored row of `module`.
    fn scores(&self, module: &ModuleSpec, row: &ResultRow) -> Vec<(String, f64)>;
}

/// Sends `correct` only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoExtraScores;

impl RowScorer for NoExtraScores {
    fn scores(&self, _module: &ModuleSpec, _row: &ResultRow) -> Vec<(String, f64)> {
        Vec::new()
    }
}

/// A run now on Braintrust.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Uploaded {
    /// Local id of the run.
    pub local_id: String,
    /// Module id.
    pub module: String,
    /// Experiment id (stored as `braintrust_id`).
    pub experiment_id: String,
    /// Experiment name, as Braintrust has it.
    pub experiment_name: String,
    /// Link to the experiment (stored as `braintrust_url`).
    pub experiment_url: String,
    /// Rows sent.
    pub rows: usize,
    /// Insert requests it took.
    pub requests: usize,
    /// Rows already in the experiment that the CSV no longer has, deleted by a forced
    /// re-upload (always 0 otherwise).
    pub removed: usize,
    /// The conventional name was held by another experiment, so Braintrust chose this one.
    pub renamed: bool,
    /// The pushed Braintrust dataset the run's records came from (linked as the experiment's
    /// `dataset_id`), when there is one.
    pub dataset: Option<LinkedDataset>,
    /// The pushed prompt version the run used (in the experiment's metadata), when there is one.
    pub prompt: Option<LinkedPrompt>,
}

/// The dataset an uploaded run is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkedDataset {
    /// Dataset id.
    pub id: String,
    /// Dataset name.
    pub name: String,
}

/// The prompt version an uploaded run is linked to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkedPrompt {
    /// Prompt id.
    pub id: String,
    /// Prompt slug.
    pub slug: String,
    /// Prompt version (`_xact_id`).
    pub version: String,
}

/// Registry fields (kept in each entry's extra fields) holding an uploaded run's links.
pub const LINK_FIELDS: [&str; 5] = [
    "braintrust_dataset_id",
    "braintrust_dataset",
    "braintrust_prompt_id",
    "braintrust_prompt_slug",
    "braintrust_prompt_version",
];

/// A run whose upload failed (its registry entry now says `failed` with this reason).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failed {
    /// Local id of the run.
    pub local_id: String,
    /// Module id.
    pub module: String,
    /// Why, as stored in the registry's `notes`.
    pub reason: String,
    /// The key or service is unusable, so a sync stops here.
    pub fatal: bool,
}

/// What became of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunOutcome {
    /// Uploaded and recorded.
    Uploaded(Uploaded),
    /// Failed and recorded.
    Failed(Failed),
}

impl RunOutcome {
    /// The run's local id.
    #[must_use]
    pub fn local_id(&self) -> &str {
        match self {
            Self::Uploaded(u) => &u.local_id,
            Self::Failed(f) => &f.local_id,
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    /// The project uploaded to.
    pub project: Project,
    /// Runs waiting before the sync (matching the module filter).
    pub pending: usize,
    /// Outcomes, in upload order (oldest run first).
    pub outcomes: Vec<RunOutcome>,
    /// Runs not tried: beyond `--limit`, or after a fatal error.
    pub not_tried: usize,
}

impl SyncReport {
    /// Runs uploaded.
    #[must_use]
    pub fn uploaded(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o, RunOutcome::Uploaded(_)))
            .count()
    }

    /// Runs that failed.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.uploaded()
    }
}

/// Uploads registered runs of one project to Braintrust and records the outcome.
pub struct Uploader<'a> {
    client: &'a Client,
    registry: &'a RegistryFile,
    catalog: &'a Catalog,
    scorer: &'a dyn RowScorer,
    repo_info: Option<RepoInfo>,
    project: OnceCell<Project>,
}

impl<'a> Uploader<'a> {
    /// An uploader of the runs in `registry`, whose modules are described by `catalog`.
    #[must_use]
    pub fn new(client: &'a Client, registry: &'a RegistryFile, catalog: &'a Catalog) -> Self {
        Self {
            client,
            registry,
            catalog,
            scorer: &NoExtraScores,
            repo_info: None,
            project: OnceCell::new(),
        }
    }

    /// Adds scores computed by `scorer` to every scored row.
    #[must_use]
    pub fn scorer(mut self, scorer: &'a dyn RowScorer) -> Self {
        self.scorer = scorer;
        self
    }

    /// Records this git state as each new experiment's `repo_info`.
    #[must_use]
    pub fn repo_info(mut self, repo_info: Option<RepoInfo>) -> Self {
        self.repo_info = repo_info;
        self
    }

    /// The configured project (created on first use).
    ///
    /// # Errors
    /// When Braintrust cannot be reached or refuses the key.
    pub async fn project(&self) -> Result<&Project> {
        self.project.get_or_try_init(|| self.client.project()).await
    }

    /// Uploads one run (a local id or a unique prefix of one) and records the outcome.
    ///
    /// With `force` an uploaded run is uploaded again into its experiment, and afterwards the
    /// experiment holds exactly the CSV's rows: rows it had that the CSV no longer has are
    /// deleted (`_object_delete` events).
    ///
    /// # Errors
    /// [`Error::AlreadyUploaded`] for an uploaded run without `force`, registry errors, and
    /// failures to reach the project. A failure of the upload itself is not an error: it is
    /// recorded and returned as [`RunOutcome::Failed`].
    pub async fn upload(&self, local_id: &str, force: bool) -> Result<RunOutcome> {
        let registry = self.registry.load()?;
        let entry = registry.find(local_id)?.clone();
        if entry.status == Status::Uploaded && !force {
            return Err(Error::AlreadyUploaded {
                url: entry
                    .braintrust_url
                    .clone()
                    .unwrap_or_else(|| "no URL recorded".to_owned()),
                local_id: entry.local_id,
            });
        }
        self.project().await?;
        self.upload_entry(&entry, &registry, force).await
    }

    /// Uploads every `local_only` and `failed` run (of `module`, if given), oldest first, at
    /// most `limit` of them. A run that fails is recorded and the sync goes on, unless the
    /// failure means no run can succeed (the key was refused).
    ///
    /// # Errors
    /// Registry errors, and failures to reach the project before any run is tried.
    pub async fn sync(
        &self,
        module: Option<&ModuleId>,
        limit: Option<usize>,
    ) -> Result<SyncReport> {
        let registry = self.registry.load()?;
        let waiting: Vec<Entry> = registry
            .awaiting_upload(module)
            .into_iter()
            .cloned()
            .collect();
        let project = self.project().await?.clone();
        let todo = limit.map_or(waiting.len(), |n| n.min(waiting.len()));
        let mut outcomes = Vec::with_capacity(todo);
        for entry in waiting.iter().take(todo) {
            // Reloaded per run: runs uploaded earlier in this sync become baselines of later
            // runs of the same module.
            let registry = self.registry.load()?;
            let outcome = self.upload_entry(entry, &registry, false).await?;
            let fatal = matches!(&outcome, RunOutcome::Failed(f) if f.fatal);
            outcomes.push(outcome);
            if fatal {
                break;
            }
        }
        Ok(SyncReport {
            project,
            pending: waiting.len(),
            not_tried: waiting.len() - outcomes.len(),
            outcomes,
        })
    }

    /// Uploads one entry and records the outcome in the registry.
    async fn upload_entry(
        &self,
        entry: &Entry,
        registry: &Registry,
        prune: bool,
    ) -> Result<RunOutcome> {
        let outcome = match self.send(entry, registry, prune).await {
            Ok(uploaded) => {
                self.registry.mark_uploaded(
                    &uploaded.local_id,
                    &uploaded.experiment_id,
                    &uploaded.experiment_url,
                )?;
                record_links(self.registry, &uploaded)?;
                RunOutcome::Uploaded(uploaded)
            }
            Err(error) => {
                // The whole chain: the registry keeps only this text of why it failed.
                let reason =
                    std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(": ");
                self.registry.mark_failed(&entry.local_id, &reason)?;
                RunOutcome::Failed(Failed {
                    local_id: entry.local_id.clone(),
                    module: entry.module_id.clone(),
                    reason,
                    fatal: error.is_fatal(),
                })
            }
        };
        self.client.progress().run_finished(&outcome);
        Ok(outcome)
    }

    async fn send(&self, entry: &Entry, registry: &Registry, prune: bool) -> Result<Uploaded> {
        let module = entry
            .module()
            .and_then(|id| self.catalog.get(&id))
            .ok_or_else(|| Error::UnknownModule {
                local_id: entry.local_id.clone(),
                module: entry.module_id.clone(),
            })?;
        let csv = self
            .registry
            .resolve_csv(entry)
            .ok_or_else(|| Error::NoCsv {
                local_id: entry.local_id.clone(),
            })?;
        if !csv.is_file() {
            return Err(Error::CsvMissing {
                local_id: entry.local_id.clone(),
                path: csv,
            });
        }
        let rows = core_config::read_results(&csv)?;
        let project = self.project().await?;
        let name = experiment_name(entry, &module.id, &module.name);
        let base_exp_id = self.baseline(entry, registry, project).await;
        let (dataset, prompt) = run_links(entry, registry, self.registry, &rows);
        let mut metadata = experiment_metadata(entry, module);
        if let Some(d) = &dataset {
            metadata.insert("dataset".to_owned(), json!(d));
        }
        if let Some(p) = &prompt {
            metadata.insert("prompt".to_owned(), json!(p));
        }
        let new = NewExperiment {
            project_id: project.id.clone(),
            name: name.clone(),
            description: Some(description(entry, module)),
            metadata,
            dataset_id: dataset.as_ref().map(|d| d.id.clone()),
            repo_info: self.repo_info.clone(),
            base_exp_id,
            tags: [
                entry.module_id.as_str(),
                entry.prompt_version.as_str(),
                entry.model.as_str(),
                if entry.tier.is_live() {
                    ""
                } else {
                    entry.tier.as_str()
                },
            ]
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| (*t).to_owned())
            .collect(),
            ensure_new: false,
        };
        let experiment = self
            .ensure_experiment(project, &entry.local_id, new)
            .await?;
        let progress = self.client.progress();
        progress.run_started(&entry.local_id, &experiment.name, rows.len());

        let total = rows.len();
        let mut sent = Sent {
            rows: 0,
            total,
            requests: 0,
        };
        let mut chunker = Chunker::new(MAX_EVENTS_PER_INSERT, MAX_INSERT_BYTES);
        let mut events = RowEvents::new(&entry.local_id, module, self.scorer);
        let mut ids: HashSet<String> = HashSet::with_capacity(if prune { total } else { 0 });
        for (i, row) in rows.iter().enumerate() {
            let event = events.event(i, row);
            if prune && let Some(id) = event.get("id").and_then(Value::as_str) {
                ids.insert(id.to_owned());
            }
            if let Some(chunk) = chunker.push(event) {
                self.insert_chunk(&experiment.id, &chunk, &mut sent).await?;
            }
        }
        if let Some(chunk) = chunker.finish() {
            self.insert_chunk(&experiment.id, &chunk, &mut sent).await?;
        }
        let removed = if prune {
            self.remove_stale(&experiment.id, &ids, &sent).await?
        } else {
            0
        };
        let summary = self.client.summarize(&experiment.id).await?;
        Ok(Uploaded {
            local_id: entry.local_id.clone(),
            module: module.id.to_string(),
            renamed: experiment.name != name,
            experiment_id: experiment.id,
            experiment_name: summary.experiment_name,
            experiment_url: summary.experiment_url,
            rows: total,
            requests: sent.requests,
            removed,
            dataset,
            prompt,
        })
    }

    /// Deletes the rows of the experiment whose id is not in `keep` (rows of an earlier upload
    /// that the CSV no longer has) and returns how many. Runs after every row is stored, so an
    /// interruption never leaves the experiment with fewer rows than the CSV.
    async fn remove_stale(
        &self,
        experiment_id: &str,
        keep: &HashSet<String>,
        sent: &Sent,
    ) -> Result<usize> {
        let partial = |e: Error| Error::Partial {
            stored: sent.rows,
            total: sent.total,
            source: Box::new(e),
        };
        let remote = self
            .client
            .fetch_rows(experiment_id)
            .await
            .map_err(partial)?;
        let mut chunker = Chunker::new(MAX_EVENTS_PER_INSERT, MAX_INSERT_BYTES);
        let mut removed = 0;
        let mut chunks = Vec::new();
        for id in remote
            .iter()
            .filter_map(|row| row.get("id").and_then(Value::as_str))
            .filter(|id| !keep.contains(*id))
        {
            removed += 1;
            if let Some(chunk) = chunker.push(json!({"id": id, "_object_delete": true})) {
                chunks.push(chunk);
            }
        }
        chunks.extend(chunker.finish());
        for chunk in chunks {
            self.client
                .insert(experiment_id, &chunk)
                .await
                .map_err(partial)?;
        }
        Ok(removed)
    }

    /// Stores one chunk; a failure says how far the run got.
    async fn insert_chunk(
        &self,
        experiment_id: &str,
        chunk: &[Value],
        sent: &mut Sent,
    ) -> Result<()> {
        self.client
            .insert(experiment_id, chunk)
            .await
            .map_err(|e| Error::Partial {
                stored: sent.rows,
                total: sent.total,
                source: Box::new(e),
            })?;
        sent.rows += chunk.len();
        sent.requests += 1;
        self.client.progress().rows_sent(sent.rows, sent.total);
        Ok(())
    }

    /// The experiment for this run: the one of the conventional name when it is ours (a
    /// repeated or resumed upload), else the one a previous attempt created under another
    /// name, else a new one under a name Braintrust makes unique.
    async fn ensure_experiment(
        &self,
        project: &Project,
        local_id: &str,
        new: NewExperiment,
    ) -> Result<Experiment> {
        let found = self.client.create_experiment(&new).await?;
        if found.local_id() == Some(local_id) {
            return Ok(found);
        }
        // Another run (another machine, or the earlier tool) holds the name. Never mix rows
        // into it.
        let experiments = self.client.experiments(&project.id).await?;
        if let Some(ours) = experiments
            .into_iter()
            .find(|e| e.local_id() == Some(local_id))
        {
            return Ok(ours);
        }
        self.client
            .create_experiment(&NewExperiment {
                ensure_new: true,
                ..new
            })
            .await
    }

    /// The newest earlier upload of the same module in this project, so Braintrust compares
    /// the run with its predecessor rather than with whatever experiment came last.
    async fn baseline(
        &self,
        entry: &Entry,
        registry: &Registry,
        project: &Project,
    ) -> Option<String> {
        let created = entry.created();
        let candidate = registry
            .entries()
            .filter(|e| {
                e.local_id != entry.local_id
                    && e.module_id == entry.module_id
                    && e.status == Status::Uploaded
                    && e.created() < created
            })
            .filter_map(|e| {
                Some((
                    e.created(),
                    e.braintrust_id
                        .as_deref()
                        .filter(|id| looks_like_uuid(id))?,
                ))
            })
            .max_by_key(|(at, _)| *at)?
            .1
            .to_owned();
        let experiment = self.client.experiment(&candidate).await.ok()?;
        (experiment.project_id == project.id).then_some(experiment.id)
    }
}

/// How far an upload got.
struct Sent {
    rows: usize,
    total: usize,
    requests: usize,
}

/// Makes the events of a run's rows one by one. A record id that repeats within the CSV gets
/// `#2`, `#3`, … so no row replaces another.
struct RowEvents<'a> {
    local_id: &'a str,
    module: &'a ModuleSpec,
    scorer: &'a dyn RowScorer,
    seen: HashMap<String, usize>,
}

impl<'a> RowEvents<'a> {
    fn new(local_id: &'a str, module: &'a ModuleSpec, scorer: &'a dyn RowScorer) -> Self {
        Self {
            local_id,
            module,
            scorer,
            seen: HashMap::new(),
        }
    }

    fn event(&mut self, index: usize, row: &ResultRow) -> Value {
        let extra = if row.correct.is_some() {
            self.scorer.scores(self.module, row)
        } else {
            Vec::new()
        };
        let n = self.seen.entry(row.record_id.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            event_for_row(self.local_id, index, row, &extra)
        } else {
            let mut renamed = row.clone();
            renamed.record_id = format!("{}#{n}", row.record_id);
            event_for_row(self.local_id, index, &renamed, &extra)
        }
    }
}

/// Whether an id has the shape of a UUID (the earlier tool stored experiment names instead).
#[must_use]
pub fn looks_like_uuid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn percent(accuracy: Option<f64>) -> String {
    accuracy.map_or_else(|| "-".to_owned(), |a| format!("{:.1}%", a * 100.0))
}

fn description(entry: &Entry, module: &ModuleSpec) -> String {
    format!(
        "{} {}: {}, prompt {}, {} rows, accuracy {} (local run {})",
        module.id,
        module.name,
        if entry.model.is_empty() {
            "model unknown"
        } else {
            &entry.model
        },
        entry.prompt_version,
        entry.samples,
        percent(entry.accuracy),
        entry.local_id
    )
}

fn experiment_metadata(entry: &Entry, module: &ModuleSpec) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("local_id".to_owned(), json!(entry.local_id));
    m.insert("module".to_owned(), json!(module.id.to_string()));
    m.insert("module_name".to_owned(), json!(module.name));
    m.insert("model".to_owned(), json!(entry.model));
    m.insert("prompt_version".to_owned(), json!(entry.prompt_version));
    m.insert("prompt_hash".to_owned(), json!(entry.prompt_hash));
    m.insert("dataset_version".to_owned(), json!(entry.dataset_version));
    m.insert("samples".to_owned(), json!(entry.samples));
    m.insert("accuracy".to_owned(), json!(entry.accuracy));
    m.insert("created_at".to_owned(), json!(entry.created_at));
    m.insert("results_csv".to_owned(), json!(entry.csv_path));
    m.insert("tier".to_owned(), json!(entry.tier.as_str()));
    m.insert("source".to_owned(), json!("kw-toolkit"));
    m
}

/// The pushed dataset and prompt version a run used, from what this clone pushed.
///
/// The prompt: one pushed for the run's module and prompt version whose file hash starts with
/// the run's `prompt_hash` (the newest such push). The dataset: one pushed for the module whose
/// file is unchanged since and holds every record id of the run (the smallest such, then the
/// newest push). Neither is guessed when nothing fits.
fn run_links(
    entry: &Entry,
    registry: &Registry,
    file: &RegistryFile,
    rows: &[ResultRow],
) -> (Option<LinkedDataset>, Option<LinkedPrompt>) {
    let prompt = entry
        .prompt_hash
        .as_deref()
        .filter(|h| !h.is_empty())
        .and_then(|hash| {
            crate::links::pushed_prompts(registry)
                .into_iter()
                .filter(|p| {
                    p.module_id == entry.module_id
                        && p.prompt_version == entry.prompt_version
                        && p.sha256.starts_with(hash)
                })
                .max_by(|a, b| a.pushed_at.cmp(&b.pushed_at))
                .map(|p| LinkedPrompt {
                    id: p.id,
                    slug: p.slug,
                    version: p.version,
                })
        });
    let wanted: HashSet<&str> = rows.iter().map(|r| r.record_id.as_str()).collect();
    let dataset = crate::links::pushed_datasets(registry)
        .into_iter()
        .filter(|d| d.module_id == entry.module_id && !wanted.is_empty())
        .filter(|d| {
            let Some(path) = registry::resolve_csv_path(file.root(), &d.local_file) else {
                return false;
            };
            let Ok(bytes) = std::fs::read(&path) else {
                return false;
            };
            use sha2::Digest as _;
            if hex::encode(sha2::Sha256::digest(&bytes)) != d.sha256 {
                return false;
            }
            let Ok(records) = core_config::read_records(&path) else {
                return false;
            };
            let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
            wanted.iter().all(|id| ids.contains(id))
        })
        .min_by(|a, b| {
            a.records
                .cmp(&b.records)
                .then_with(|| b.pushed_at.cmp(&a.pushed_at))
        })
        .map(|d| LinkedDataset {
            id: d.id,
            name: d.name,
        });
    (dataset, prompt)
}

/// Keeps an uploaded run's links in its registry entry (cleared when it has none now).
fn record_links(file: &RegistryFile, uploaded: &Uploaded) -> Result<()> {
    let values = [
        uploaded.dataset.as_ref().map(|d| d.id.clone()),
        uploaded.dataset.as_ref().map(|d| d.name.clone()),
        uploaded.prompt.as_ref().map(|p| p.id.clone()),
        uploaded.prompt.as_ref().map(|p| p.slug.clone()),
        uploaded.prompt.as_ref().map(|p| p.version.clone()),
    ];
    file.update(|registry| {
        let Some(entry) = registry.get(&uploaded.local_id) else {
            return Ok::<_, registry::Error>(());
        };
        let unchanged = LINK_FIELDS
            .iter()
            .zip(&values)
            .all(|(k, v)| entry.extra.get(*k).and_then(Value::as_str) == v.as_deref());
        if unchanged {
            return Ok(());
        }
        if let Some(entry) = registry.get_mut(&uploaded.local_id) {
            for (key, value) in LINK_FIELDS.iter().zip(values) {
                match value {
                    Some(v) => {
                        entry.extra.insert((*key).to_owned(), json!(v));
                    }
                    None => {
                        entry.extra.remove(*key);
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_told_from_names() {
        assert!(looks_like_uuid("17b25eb4-95bf-499b-9ee3-1b6118546ecc"));
        assert!(!looks_like_uuid(
            "root_m12_HardConstraintViolationCheck_20260116_123456"
        ));
        assert!(!looks_like_uuid("17b25eb4-95bf-499b-9ee3-1b6118546ecz"));
    }

    #[test]
    fn repeated_record_ids_get_their_own_events() {
        let catalog = Catalog::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"),
        )
        .unwrap();
        let module = catalog.resolve("m12").unwrap();
        let row = |id: &str| ResultRow {
            record_id: id.into(),
            correct: Some(true),
            ..ResultRow::default()
        };
        let mut make = RowEvents::new("exp_1", module, &NoExtraScores);
        let events: Vec<Value> = [row("a"), row("b"), row("a")]
            .iter()
            .enumerate()
            .map(|(i, r)| make.event(i, r))
            .collect();
        let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["exp_1:a", "exp_1:b", "exp_1:a#2"]);
    }
}
