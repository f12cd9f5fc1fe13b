//! A connection to Braintrust ready for the toolkit's commands: the client, the runtime it runs
//! on, the per-row scorer and the git state that go with every upload. `sync-braintrust` and
//! `orchestrator run --upload` both work through it.

use std::path::PathBuf;
use std::sync::Arc;

use core_config::{Catalog, ModuleId, ModuleSpec, ProjectPaths, ResultRow};
use registry::{Registry, RegistryFile};
use serde_json::Value;

use crate::datasets::{self, ListedDataset, LocalDataset, PushPlan, Pushed};
use crate::download::{Format, resolve_experiment};
use crate::listing::{self, BulkItem, BulkReport, ExperimentFilter, Listed};
use crate::matching::{Link, MatchReport};
use crate::prompts::{self, LocalPrompt, PromptPushed};
use crate::types::{Dataset, Project, Prompt};
use crate::upload::{Failed, NoExtraScores, RowScorer, RunOutcome, SyncReport, Uploader};
use crate::{Client, Config, Error, Experiment, Progress, RepoInfo, Result};

/// Any function from a module and a results row to named scores is a [`RowScorer`].
impl<F> RowScorer for F
where
    F: Fn(&ModuleSpec, &ResultRow) -> Vec<(String, f64)> + Send + Sync,
{
    fn scores(&self, module: &ModuleSpec, row: &ResultRow) -> Vec<(String, f64)> {
        self(module, row)
    }
}

/// The client with its own runtime; every method blocks until the work is done.
pub struct Session {
    client: Client,
    runtime: tokio::runtime::Runtime,
    scorer: Box<dyn RowScorer>,
    repo_info: Option<RepoInfo>,
}

impl Session {
    /// Connects with `config`, reporting progress to `progress`.
    ///
    /// # Errors
    /// When the client or the runtime cannot be built.
    pub fn new(config: Config, progress: Arc<dyn Progress>) -> Result<Self> {
        let client = Client::new(config)?.with_progress(progress);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Runtime { source })?;
        Ok(Self {
            client,
            runtime,
            scorer: Box::new(NoExtraScores),
            repo_info: None,
        })
    }

    /// Scores added to every uploaded row (beyond `correct`).
    #[must_use]
    pub fn scorer(mut self, scorer: impl RowScorer + 'static) -> Self {
        self.scorer = Box::new(scorer);
        self
    }

    /// The git state recorded with every experiment created.
    #[must_use]
    pub fn repo_info(mut self, repo_info: Option<RepoInfo>) -> Self {
        self.repo_info = repo_info;
        self
    }

    /// The client (its configuration names the project and the API URL).
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn uploader<'a>(&'a self, registry: &'a RegistryFile, catalog: &'a Catalog) -> Uploader<'a> {
        Uploader::new(&self.client, registry, catalog)
            .scorer(self.scorer.as_ref())
            .repo_info(self.repo_info.clone())
    }

    /// Uploads one run (a local id or a unique prefix of one).
    ///
    /// # Errors
    /// As [`Uploader::upload`].
    pub fn upload(
        &self,
        registry: &RegistryFile,
        catalog: &Catalog,
        local_id: &str,
        force: bool,
    ) -> Result<RunOutcome> {
        self.runtime
            .block_on(self.uploader(registry, catalog).upload(local_id, force))
    }

    /// Uploads a run that was just made. Not reaching the project at all is recorded in the
    /// registry and returned as a failed outcome like any other, so the run's results and
    /// registry entry stay.
    ///
    /// # Errors
    /// Only when the failure cannot be recorded in the registry.
    pub fn upload_finished_run(
        &self,
        registry: &RegistryFile,
        catalog: &Catalog,
        local_id: &str,
    ) -> Result<RunOutcome> {
        match self.upload(registry, catalog, local_id, true) {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                let reason = e.to_string();
                registry.mark_failed(local_id, &reason)?;
                Ok(RunOutcome::Failed(Failed {
                    local_id: local_id.to_owned(),
                    module: String::new(),
                    reason,
                    fatal: e.is_fatal(),
                }))
            }
        }
    }

    /// Uploads every run not on Braintrust yet, oldest first.
    ///
    /// # Errors
    /// As [`Uploader::sync`].
    pub fn sync(
        &self,
        registry: &RegistryFile,
        catalog: &Catalog,
        module: Option<&ModuleId>,
        limit: Option<usize>,
    ) -> Result<SyncReport> {
        self.runtime
            .block_on(self.uploader(registry, catalog).sync(module, limit))
    }

    /// The experiment a local id, experiment id or experiment name refers to.
    ///
    /// # Errors
    /// When the project cannot be reached or nothing answers to `reference`.
    pub fn find_experiment(&self, registry: &Registry, reference: &str) -> Result<Experiment> {
        self.runtime.block_on(async {
            let project = self.client.project().await?;
            resolve_experiment(&self.client, &project, registry, reference).await
        })
    }

    /// Every row of an experiment.
    ///
    /// # Errors
    /// When fetching fails.
    pub fn fetch_rows(&self, experiment: &Experiment) -> Result<Vec<Value>> {
        self.runtime
            .block_on(self.client.fetch_rows(&experiment.id))
    }

    /// Links runs to experiments that already exist ([`crate::matching::match_runs`]).
    ///
    /// # Errors
    /// As [`crate::matching::match_runs`].
    pub fn match_runs(
        &self,
        registry: &RegistryFile,
        catalog: &Catalog,
        dry_run: bool,
    ) -> Result<MatchReport> {
        self.runtime.block_on(crate::matching::match_runs(
            &self.client,
            registry,
            catalog,
            dry_run,
        ))
    }

    /// Records a run as the experiment named ([`crate::matching::link`]).
    ///
    /// # Errors
    /// As [`crate::matching::link`].
    pub fn link(&self, registry: &RegistryFile, local_id: &str, reference: &str) -> Result<Link> {
        self.runtime.block_on(crate::matching::link(
            &self.client,
            registry,
            local_id,
            reference,
        ))
    }
}

impl Session {
    /// What pushing `local` will do (the dataset, its rows the file no longer has); writes
    /// nothing.
    ///
    /// # Errors
    /// Request failures.
    pub fn dataset_plan(&self, local: &LocalDataset) -> Result<PushPlan> {
        self.runtime
            .block_on(datasets::plan_push(&self.client, local))
    }

    /// Pushes a dataset as planned (see [`datasets::push`]).
    ///
    /// # Errors
    /// As [`datasets::push`].
    pub fn push_dataset(
        &self,
        registry: &RegistryFile,
        local: &LocalDataset,
        plan: &PushPlan,
        prune: bool,
    ) -> Result<Pushed> {
        self.runtime
            .block_on(datasets::push(&self.client, registry, local, plan, prune))
    }

    /// A dataset by name and its rows as records in our shape.
    ///
    /// # Errors
    /// [`Error::DatasetNotFound`]; as [`datasets::pull`].
    pub fn pull_dataset(&self, name: &str) -> Result<(Dataset, Vec<Value>)> {
        self.runtime.block_on(async {
            let (_, dataset) = datasets::find(&self.client, name).await?;
            let records = datasets::pull(&self.client, &dataset).await?;
            Ok((dataset, records))
        })
    }

    /// The project's datasets with this clone's pushes.
    ///
    /// # Errors
    /// Request and registry failures.
    pub fn list_datasets(&self, registry: &RegistryFile) -> Result<(Project, Vec<ListedDataset>)> {
        self.runtime
            .block_on(datasets::list(&self.client, registry))
    }

    /// Creates or replaces a module's prompt (see [`prompts::push`]).
    ///
    /// # Errors
    /// As [`prompts::push`].
    pub fn push_prompt(
        &self,
        registry: &RegistryFile,
        local: &LocalPrompt,
    ) -> Result<PromptPushed> {
        self.runtime
            .block_on(prompts::push(&self.client, registry, local))
    }

    /// The project's prompts.
    ///
    /// # Errors
    /// Request failures.
    pub fn list_prompts(&self) -> Result<(Project, Vec<Prompt>)> {
        self.runtime.block_on(prompts::list(&self.client))
    }

    /// The project's experiments that fit `filter`, with their local runs.
    ///
    /// # Errors
    /// Request failures.
    pub fn list_experiments(
        &self,
        registry: &Registry,
        filter: &ExperimentFilter,
    ) -> Result<(Project, Vec<Listed>)> {
        let (project, listed) =
            self.runtime
                .block_on(listing::list(&self.client, registry, filter))?;
        Ok((project, listed.into_iter().map(|(_, l)| l).collect()))
    }

    /// Downloads every experiment that fits `filter` (see [`listing::download_all`]).
    ///
    /// # Errors
    /// As [`listing::download_all`].
    pub fn download_all(
        &self,
        registry: &Registry,
        catalog: &Catalog,
        paths: &ProjectPaths,
        filter: &ExperimentFilter,
        format: Format,
        on_item: impl FnMut(&BulkItem),
    ) -> Result<BulkReport> {
        self.runtime.block_on(listing::download_all(
            &self.client,
            registry,
            catalog,
            paths,
            filter,
            format,
            on_item,
        ))
    }
}

/// Where a downloaded experiment goes by default:
/// `experiment_results/{ModuleFolder}/braintrust/{experiment name}.{csv|jsonl}`, or
/// `experiment_results/braintrust/…` when the module is not known.
#[must_use]
pub fn download_path(
    paths: &ProjectPaths,
    module: Option<&ModuleSpec>,
    experiment: &str,
    format: Format,
) -> PathBuf {
    let results = paths.experiment_results();
    let folder = match module {
        Some(m) => results.join(m.folder_name()),
        None => results,
    };
    folder
        .join("braintrust")
        .join(format!("{}.{}", file_safe(experiment), format.extension()))
}

/// An experiment name as a file name (names may hold `/` or spaces).
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The git state as the upload records it.
impl From<core_config::GitState> for RepoInfo {
    fn from(git: core_config::GitState) -> Self {
        Self {
            commit: git.commit,
            branch: git.branch,
            tag: git.tag,
            dirty: git.dirty,
            author_name: git.author_name,
            author_email: git.author_email,
            commit_time: git.commit_time,
            commit_message: git.commit_message,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(
            file_safe("root_m12_X_20260116_123456"),
            "root_m12_X_20260116_123456"
        );
        assert_eq!(file_safe("my exp/v2"), "my_exp_v2");
    }

    #[test]
    fn downloads_go_under_the_module_folder_when_it_is_known() {
        let catalog =
            Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"))
                .unwrap();
        let m12 = catalog.resolve("m12").unwrap();
        let paths = ProjectPaths::new("/p");
        assert_eq!(
            download_path(&paths, Some(m12), "my exp", Format::Csv),
            Path::new("/p/experiment_results")
                .join(m12.folder_name())
                .join("braintrust/my_exp.csv")
        );
        assert_eq!(
            download_path(&paths, None, "e", Format::Jsonl),
            Path::new("/p/experiment_results/braintrust/e.jsonl")
        );
    }

    #[test]
    fn functions_score_rows() {
        let scorer = |_: &ModuleSpec, row: &ResultRow| {
            vec![(
                "n".to_owned(),
                f64::from(u8::from(row.correct == Some(true))),
            )]
        };
        let boxed: Box<dyn RowScorer> = Box::new(scorer);
        let catalog =
            Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"))
                .unwrap();
        let row = ResultRow {
            correct: Some(true),
            ..ResultRow::default()
        };
        assert_eq!(
            boxed.scores(catalog.resolve("m12").unwrap(), &row),
            vec![("n".to_owned(), 1.0)]
        );
    }
}
