//! From command-line options to a validated run setup: the modules resolved, the model, dataset
//! and prices chosen, every module planned, and the places the run will write checked — all
//! before the first call, so a run that cannot finish costs nothing.

use std::path::{Path, PathBuf};

use chrono::Local;
use core_config::{AtomicFile, Catalog, Env, ModuleSpec, OpenAiSettings};
use llm_client::PriceTable;
use registry::RegistryFile;

use crate::plan::{Plan, RunSettings, plan};
use crate::{Error, Result};

/// What a caller asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Modules named (ids or names); ignored when `all` is set.
    pub modules: Vec<String>,
    /// Every enabled module.
    pub all: bool,
    /// Model for every module [default: the module's model, else the environment's].
    pub model: Option<String>,
    /// A seeded random sample of this many records.
    pub samples: Option<usize>,
    /// Seed of the sample.
    pub seed: u64,
    /// Records from this file instead of the module's dataset (one module only); a relative
    /// path is taken from the current directory.
    pub dataset: Option<PathBuf>,
    /// Prompt version [default: the catalogue's].
    pub prompt_version: Option<String>,
    /// Finish the newest interrupted run of each module.
    pub resume: bool,
}

/// A run ready to start.
#[derive(Debug)]
pub struct RunSetup {
    /// One plan per module, in the order asked.
    pub plans: Vec<Plan>,
    /// The price table, when the project has one.
    pub prices: Option<PriceTable>,
    /// Where and how to call the model.
    pub openai: OpenAiSettings,
}

/// Resolves, plans and checks a run.
///
/// # Errors
/// An unknown module, `--dataset` with several modules, missing OpenAI settings, a bad price
/// table, a module that cannot be planned (broken dataset, prompt or schema), a registry that
/// does not load, or a results folder or registry that cannot be written.
pub fn prepare(catalog: &Catalog, env: &Env, options: &RunOptions) -> Result<RunSetup> {
    let modules: Vec<&ModuleSpec> = if options.all {
        catalog.enabled().collect()
    } else {
        options
            .modules
            .iter()
            .map(|m| catalog.resolve(m))
            .collect::<Result<_, _>>()?
    };
    if options.dataset.is_some() && modules.len() != 1 {
        return Err(Error::DatasetNeedsOneModule {
            given: modules.len(),
        });
    }
    let openai = env.openai()?;
    let paths = core_config::ProjectPaths::new(catalog.root());
    let prices_path = PriceTable::default_path(&paths, env);
    let prices = if prices_path.is_file() {
        Some(PriceTable::load(&prices_path).map_err(Error::Prices)?)
    } else {
        None
    };
    let started = Local::now();
    let version = options
        .prompt_version
        .clone()
        .unwrap_or_else(|| catalog.defaults().prompt_version.clone());
    let dataset = options.dataset.as_deref().map(absolute);
    let mut plans = Vec::with_capacity(modules.len());
    for module in modules {
        let settings = RunSettings {
            prompt_version: version.clone(),
            model: options
                .model
                .clone()
                .or_else(|| module.settings.model_override.clone())
                .unwrap_or_else(|| env.default_model()),
            samples: options.samples,
            seed: options.seed,
            dataset: dataset.clone(),
            token_param: openai.token_param,
            started,
        };
        let planned =
            plan(catalog, module, settings, options.resume, prices.as_ref()).map_err(|e| {
                Error::Plan {
                    module: module.id.to_string(),
                    name: module.name.clone(),
                    source: Box::new(e),
                }
            })?;
        plans.push(planned);
    }
    check_writable(&RegistryFile::in_project(catalog.root()), &plans)?;
    Ok(RunSetup {
        plans,
        prices,
        openai,
    })
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_owned(), |c| c.join(path))
    }
}

/// A registry that does not load, or a folder the run cannot write into, would otherwise
/// surface only after every call was paid for. Each check is a real write (a temporary file in
/// the folder, removed again), so it fails wherever the run would, whatever the user's
/// permissions; folders that do not exist yet are not created (a dry run writes nothing), their
/// nearest existing ancestor is probed instead.
///
/// # Errors
/// [`Error::RegistryUnusable`] or [`Error::NotWritable`].
pub fn check_writable(registry: &RegistryFile, plans: &[Plan]) -> Result<()> {
    for plan in plans {
        probe(&plan.csv)?;
        probe(&plan.journal)?;
    }
    registry
        .overview()
        .map_err(|source| Error::RegistryUnusable { source })?;
    probe(registry.path())?;
    let lock = registry.lock_path();
    if lock.symlink_metadata().is_ok() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&lock)
            .map_err(|source| Error::NotWritable { path: lock, source })?;
    }
    Ok(())
}

/// Writes (and removes) a temporary file in the folder that will hold `target`, or in its
/// nearest existing ancestor when the folder is not there yet.
fn probe(target: &Path) -> Result<()> {
    let folder = target.parent().unwrap_or(target);
    let existing = folder
        .ancestors()
        .find(|p| p.as_os_str().is_empty() || p.symlink_metadata().is_ok())
        .unwrap_or(folder);
    let not_writable = |source| Error::NotWritable {
        path: existing.to_owned(),
        source,
    };
    if !existing.as_os_str().is_empty() && !existing.is_dir() {
        return Err(not_writable(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "a file stands where a folder should be",
        )));
    }
    AtomicFile::create(existing.join(".write-probe"))
        .map(drop)
        .map_err(not_writable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_fails_where_a_file_stands_in_for_the_folder_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("experiment_results");
        std::fs::write(&results, "a file, not a folder").unwrap();
        let err = probe(&results.join("M12_X/M12_v1.csv")).unwrap_err();
        assert!(matches!(err, Error::NotWritable { .. }), "{err}");
        assert!(err.to_string().contains("nothing was sent"), "{err}");

        // A folder not there yet is not created; its parent is probed and left as it was.
        probe(&dir.path().join("new/M12_v1.csv")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_lock_that_cannot_be_opened_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let registry = RegistryFile::in_project(dir.path());
        std::fs::create_dir_all(registry.lock_path()).unwrap();
        let err = check_writable(&registry, &[]).unwrap_err();
        assert!(matches!(err, Error::NotWritable { .. }), "{err}");
    }

    #[test]
    fn dataset_needs_one_module() {
        let catalog = core_config::Catalog::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"),
        )
        .unwrap();
        let env = Env::default();
        let options = RunOptions {
            modules: vec!["m12".into(), "m13".into()],
            dataset: Some(PathBuf::from("gold.jsonl")),
            ..RunOptions::default()
        };
        let err = prepare(&catalog, &env, &options).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--dataset works with exactly one module (2 given)"
        );
    }
}
