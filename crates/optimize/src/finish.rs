//! Setting a run up (splits, folder, plan), running the search, and its results: the new prompt
//! version, `optimized.json`, the baseline and optimized runs on the test split (registered),
//! and their comparison.

use std::path::{Path, PathBuf};

use chrono::Local;
use core_config::contamination::Keywords;
use core_config::{Catalog, Env, ModuleSpec, Record};
use llm_client::{CacheMode, Client, PriceTable};
use registry::compare::{CompareOptions, Comparison};
use runner::{ExecOptions, RunOptions};
use serde::{Deserialize, Serialize};

use crate::engine::{Budget, Evaluator, Spent};
use crate::methods::{Best, Search};
use crate::prompt::{Demo, PromptParts};
use crate::split::{Splits, cap, split};
use crate::{Error, Method, Options, Preset, Progress, Result};

/// What a run records about itself in its folder (`run.json`), so `--resume` continues the
/// same search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RunFile {
    module: String,
    method: Method,
    preset: Preset,
    model: String,
    seed: u64,
}

/// A checked run, ready to search: nothing sent yet; the split files are written.
pub struct Setup {
    /// The module.
    pub module: ModuleSpec,
    /// The caller's options.
    pub options: Options,
    /// `artifacts/optimize/{module}/{timestamp}/`.
    pub dir: PathBuf,
    /// Whether an earlier attempt's folder is continued.
    pub resumed: bool,
    /// The splits (train and dev capped by the preset).
    pub splits: Splits,
    /// The whole splits and `run.json`, written when the search starts (a new run only).
    to_write: Option<(Splits, RunFile)>,
    /// The unoptimized prompt split into its parts.
    pub parts: PromptParts,
    /// The unoptimized prompt's version.
    pub base_version: String,
    /// The runner's plan of the module over the train split.
    pub plan: runner::Plan,
    /// Prices.
    pub prices: Option<PriceTable>,
    /// Where to call.
    pub openai: core_config::OpenAiSettings,
    /// Model evaluated.
    pub model: String,
}

fn write_jsonl(path: &Path, records: &[Record]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(&r.to_json()).unwrap_or_default());
        text.push('\n');
    }
    core_config::write_atomic(path, text.as_bytes()).map_err(|e| Error::io(path, e))?;
    Ok(())
}

fn read(path: &Path) -> Result<Vec<Record>> {
    Ok(core_config::read_records(path)?)
}

/// The newest run folder of a module.
fn newest_dir(root: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Loads the module, splits its records (or reads the given split files), writes the split
/// files and `run.json`, and plans the module through the runner — all before any call.
///
/// # Errors
/// An unknown module, split files given partly, a prompt without the editable sections, a
/// dataset or prompt the runner refuses, or `--resume` with nothing to resume.
pub fn prepare(catalog: &Catalog, env: &Env, options: &Options) -> Result<Setup> {
    let module = catalog.resolve(&options.module)?.clone();
    let base_version = catalog.defaults().prompt_version.clone();
    let prompt_path = catalog.prompt_path(&module, &base_version);
    let prompt_text =
        std::fs::read_to_string(&prompt_path).map_err(|e| Error::io(&prompt_path, e))?;
    let parts = PromptParts::parse(&prompt_path, &prompt_text)?;
    let folder = catalog
        .root()
        .join("artifacts/optimize")
        .join(module.id.to_string());
    let model = options
        .model
        .clone()
        .or_else(|| module.settings.model_override.clone())
        .unwrap_or_else(|| env.default_model());
    let run_file = RunFile {
        module: module.id.to_string(),
        method: options.method,
        preset: options.preset,
        model: model.clone(),
        seed: options.seed,
    };
    let (dir, resumed) = if options.resume {
        let dir = newest_dir(&folder).ok_or_else(|| {
            Error::Invalid(format!(
                "--resume: no optimization of {} under {} to continue",
                module.id,
                folder.display()
            ))
        })?;
        let text = std::fs::read_to_string(dir.join("run.json"))
            .map_err(|e| Error::io(dir.join("run.json"), e))?;
        let then: RunFile = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", dir.join("run.json").display())))?;
        if then != run_file {
            return Err(Error::Invalid(format!(
                "--resume: {} was started with other settings ({} {} {} seed {}); give the same ones",
                dir.display(),
                then.method.name(),
                then.preset.name(),
                then.model,
                then.seed
            )));
        }
        if dir.join("optimized.json").is_file() {
            return Err(Error::Invalid(format!(
                "--resume: {} has finished (optimized.json is there)",
                dir.display()
            )));
        }
        (dir, true)
    } else {
        let stamp = Local::now().format("%Y%m%d_%H%M%S").to_string();
        let mut dir = folder.join(&stamp);
        let mut n = 2;
        while dir.exists() {
            dir = folder.join(format!("{stamp}_{n}"));
            n += 1;
        }
        (dir, false)
    };
    let mut splits = if resumed {
        Splits {
            train: read(&dir.join("train.jsonl"))?,
            dev: read(&dir.join("dev.jsonl"))?,
            test: read(&dir.join("test.jsonl"))?,
        }
    } else {
        match (&options.train, &options.dev, &options.test) {
            (Some(train), Some(dev), Some(test)) => Splits {
                train: read(train)?,
                dev: read(dev)?,
                test: read(test)?,
            },
            (None, None, None) => {
                let dataset = options
                    .dataset
                    .clone()
                    .unwrap_or_else(|| catalog.dataset_path(&module));
                split(&module, read(&dataset)?, options.seed)
            }
            _ => {
                return Err(Error::Invalid(
                    "--train, --dev and --test go together: give all three or none".to_owned(),
                ));
            }
        }
    };
    check_disjoint(&splits)?;
    if splits.train.is_empty() || splits.dev.is_empty() || splits.test.is_empty() {
        return Err(Error::Invalid(format!(
            "a split is empty (train {}, dev {}, test {}): the dataset is too small",
            splits.train.len(),
            splits.dev.len(),
            splits.test.len()
        )));
    }
    let to_write = (!resumed).then(|| (splits.clone(), run_file));
    let sizes = options.preset.sizes();
    // The preset's caps keep each label's share (the split lists records label by label).
    splits.train = cap(&module, std::mem::take(&mut splits.train), sizes.train);
    splits.dev = cap(&module, std::mem::take(&mut splits.dev), sizes.dev);
    let setup = runner::prepare(
        catalog,
        env,
        &RunOptions {
            modules: vec![module.id.to_string()],
            model: Some(model.clone()),
            // Only the module, schema and settings of this plan are used (and its estimate);
            // the split files are written when the search starts, not by a dry run.
            dataset: options.train.clone().or_else(|| options.dataset.clone()),
            prompt_version: Some(base_version.clone()),
            ..RunOptions::default()
        },
    )?;
    let plan = setup
        .plans
        .into_iter()
        .next()
        .ok_or_else(|| Error::Invalid("the runner planned nothing".to_owned()))?;
    Ok(Setup {
        module,
        options: options.clone(),
        dir,
        resumed,
        splits,
        to_write,
        parts,
        base_version,
        plan,
        prices: setup.prices,
        openai: setup.openai,
        model,
    })
}

/// Refuses splits that share a record id or a keyword with test.
fn check_disjoint(splits: &Splits) -> Result<()> {
    let test: std::collections::HashSet<&str> = splits.test.iter().map(|r| r.id.as_str()).collect();
    if let Some(r) = splits
        .train
        .iter()
        .chain(&splits.dev)
        .find(|r| test.contains(r.id.as_str()))
    {
        return Err(Error::Invalid(format!(
            "record `{}` is in the test split and in train or dev",
            r.id
        )));
    }
    Ok(())
}

/// Calls the search may send at most, by method and preset, and calls of the two test runs.
#[must_use]
pub fn call_bound(
    method: Method,
    sizes: crate::Sizes,
    train: usize,
    dev: usize,
    test: usize,
) -> (u64, u64) {
    let mini = (dev / 4).max(4).min(dev);
    let search = dev
        + match method {
            Method::Bootstrap => train + sizes.trials * dev,
            Method::Instructions => sizes.rounds * (1 + sizes.candidates * dev),
            Method::Mipro => {
                // Successive halving as the search runs it: the rungs, then the finalists on
                // dev and, when they tie, on train.
                let (mut alive, mut size, mut rungs) =
                    (3 * (1 + sizes.trials.div_ceil(2)), mini, 0);
                while alive > 2 && size < dev {
                    rungs += alive * size;
                    alive = alive.div_ceil(2);
                    size = (size * 2).min(dev);
                }
                sizes.rounds * (1 + sizes.candidates * mini) + train + rungs + alive * (dev + train)
            }
            Method::Gepa => train + sizes.trials * (1 + dev),
        };
    (search as u64, 2 * test as u64)
}

/// The dry run's estimate.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// Module id.
    pub module: String,
    /// Method.
    pub method: Method,
    /// Preset.
    pub preset: Preset,
    /// Records per split (train and dev as the preset uses them).
    pub train: usize,
    /// Dev records.
    pub dev: usize,
    /// Test records.
    pub test: usize,
    /// Most calls of the search (fewer when answers are cached).
    pub search_calls: u64,
    /// Calls of the baseline and optimized runs on test.
    pub test_calls: u64,
    /// Estimated cost of all of them, USD (when the model is priced).
    pub cost: Option<f64>,
    /// The caps.
    pub max_calls: u64,
    /// Cost cap.
    pub max_cost: f64,
}

/// Calls and cost estimate of a prepared run; sends nothing.
#[must_use]
pub fn dry_run(setup: &Setup) -> DryRun {
    let sizes = setup.options.preset.sizes();
    let (search, test) = call_bound(
        setup.options.method,
        sizes,
        setup.splits.train.len(),
        setup.splits.dev.len(),
        setup.splits.test.len(),
    );
    #[expect(clippy::cast_precision_loss, reason = "estimates")]
    let per_call = setup
        .plan
        .estimate
        .cost_usd
        .map(|c| c / setup.plan.records.len().max(1) as f64);
    #[expect(clippy::cast_precision_loss, reason = "estimates")]
    let cost = per_call.map(|c| c * (search + test) as f64);
    DryRun {
        module: setup.module.id.to_string(),
        method: setup.options.method,
        preset: setup.options.preset,
        train: setup.splits.train.len(),
        dev: setup.splits.dev.len(),
        test: setup.splits.test.len(),
        search_calls: search,
        test_calls: test,
        cost,
        max_calls: setup.options.max_calls,
        max_cost: setup.options.max_cost,
    }
}

/// What an optimization produced (`optimized.json` and the `--json` output).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Module id.
    pub module: String,
    /// Method.
    pub method: Method,
    /// Model evaluated.
    pub model: String,
    /// Proposer model.
    pub proposer_model: String,
    /// Preset.
    pub preset: Preset,
    /// Seed.
    pub seed: u64,
    /// The new prompt version (`v2`, …).
    pub prompt_version: String,
    /// The new prompt file, relative to the project root.
    pub prompt_file: String,
    /// The run folder, relative to the project root.
    pub folder: String,
    /// Train split file.
    pub train_file: String,
    /// Dev split file.
    pub dev_file: String,
    /// Test split file.
    pub test_file: String,
    /// Records per split as used.
    pub splits: SplitSizes,
    /// Dev score of the unoptimized prompt.
    pub initial_dev_score: f64,
    /// Dev score of the chosen prompt.
    pub final_dev_score: f64,
    /// The chosen instruction.
    pub instruction: String,
    /// The chosen demos.
    pub demos: Vec<Demo>,
    /// Trials scored.
    pub trials: usize,
    /// Whether a cap ended the search early.
    pub budget_exhausted: bool,
    /// Registry id of the baseline run on test.
    pub baseline_run: String,
    /// Registry id of the optimized run on test.
    pub optimized_run: String,
    /// Baseline accuracy on test.
    pub baseline_test_accuracy: Option<f64>,
    /// Optimized accuracy on test.
    pub optimized_test_accuracy: Option<f64>,
    /// Optimized minus baseline.
    pub accuracy_difference: Option<f64>,
    /// McNemar's exact p.
    pub mcnemar_p: f64,
    /// Paired bootstrap 95 % interval of the difference.
    pub difference_ci: Option<(f64, f64)>,
    /// Calls sent (search and test runs; cache hits excluded).
    pub calls: u64,
    /// Answers from the cache.
    pub cache_hits: u64,
    /// USD spent.
    pub cost: f64,
    /// The caps.
    pub max_calls: u64,
    /// Cost cap.
    pub max_cost: f64,
    /// Seconds of wall time.
    pub seconds: f64,
    /// The full comparison from the registry crate.
    #[serde(skip)]
    pub comparison: Option<Comparison>,
}

/// Records per split as the search used them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SplitSizes {
    /// Train.
    pub train: usize,
    /// Dev.
    pub dev: usize,
    /// Test.
    pub test: usize,
}

/// The first free `vN` of a module's prompt.
fn next_version(catalog: &Catalog, module: &ModuleSpec) -> String {
    (2..10_000)
        .map(|n| format!("v{n}"))
        .find(|v| !catalog.prompt_path(module, v).exists())
        .unwrap_or_else(|| "v10000".to_owned())
}

/// Runs the search, writes the new prompt version and `optimized.json`, runs the baseline and
/// the optimized prompt on the test split (both registered) and compares them.
///
/// # Errors
/// A fatal call, a file that cannot be written, or a test run that fails.
pub async fn optimize(
    catalog: &Catalog,
    env: &Env,
    setup: Setup,
    client: &Client,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let started = std::time::Instant::now();
    if let Some((splits, run_file)) = &setup.to_write {
        let dir = &setup.dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        write_jsonl(&dir.join("train.jsonl"), &splits.train)?;
        write_jsonl(&dir.join("dev.jsonl"), &splits.dev)?;
        write_jsonl(&dir.join("test.jsonl"), &splits.test)?;
        let text = serde_json::to_string_pretty(run_file).unwrap_or_default();
        core_config::write_atomic(dir.join("run.json"), text.as_bytes())
            .map_err(|e| Error::io(dir.join("run.json"), e))?;
    }
    let options = &setup.options;
    let sizes = options.preset.sizes();
    let test_calls = 2 * setup.splits.test.len() as u64;
    if options.max_calls < test_calls {
        return Err(Error::Invalid(format!(
            "--max-calls {} leaves nothing for the search after the two test runs ({test_calls} calls)",
            options.max_calls
        )));
    }
    // The test runs' calls are set aside first; the search gets the rest.
    #[expect(clippy::cast_precision_loss, reason = "estimates")]
    let test_cost = setup.plan.estimate.cost_usd.map_or(0.0, |c| {
        c / setup.plan.records.len().max(1) as f64 * 4.0 * test_calls as f64
    });
    let budget = Budget::new(
        options.max_calls - test_calls,
        (options.max_cost - test_cost).max(0.0),
    );
    let test_keywords = Keywords::new(setup.splits.test.iter().map(|r| r.input_text("keyword")));
    let proposer_model = options
        .proposer_model
        .clone()
        .unwrap_or_else(|| setup.model.clone());
    let ev = Evaluator::new(
        setup.plan.clone(),
        client,
        setup.prices.as_ref(),
        budget,
        test_keywords,
        proposer_model.clone(),
        options.concurrency,
        setup.dir.join("trials.jsonl"),
    )?;
    let search = Search {
        ev: &ev,
        module: &setup.module,
        parts: &setup.parts,
        train: &setup.splits.train,
        dev: &setup.splits.dev,
        sizes,
        seed: options.seed,
        progress,
    };
    let best: Best = search.run(options.method).await?;
    let searched = ev.budget.spent();

    // The new prompt version.
    let version = next_version(catalog, &setup.module);
    let prompt_path = catalog.prompt_path(&setup.module, &version);
    let text = setup.parts.compose(&best.instruction, &best.demos);
    ev.check_contamination(&text)?;
    core_config::write_atomic(&prompt_path, text.as_bytes())
        .map_err(|e| Error::io(&prompt_path, e))?;

    // Baseline and optimized on the test split, through the runner (registered).
    progress.phase("baseline on test");
    let (base_id, base_csv, base_spent) =
        test_run(catalog, env, &setup, &setup.base_version, client).await?;
    progress.phase("optimized on test");
    let (opt_id, opt_csv, opt_spent) = test_run(catalog, env, &setup, &version, client).await?;
    let rows_a = core_config::read_results(&base_csv)?;
    let rows_b = core_config::read_results(&opt_csv)?;
    let comparison = registry::compare::compare(
        &rows_a,
        &rows_b,
        setup.module.primary_score(),
        &CompareOptions::default(),
    );
    let root = catalog.root();
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let outcome = Outcome {
        module: setup.module.id.to_string(),
        method: options.method,
        model: setup.model.clone(),
        proposer_model,
        preset: options.preset,
        seed: options.seed,
        prompt_version: version,
        prompt_file: rel(&prompt_path),
        folder: rel(&setup.dir),
        train_file: rel(&setup.dir.join("train.jsonl")),
        dev_file: rel(&setup.dir.join("dev.jsonl")),
        test_file: rel(&setup.dir.join("test.jsonl")),
        splits: SplitSizes {
            train: setup.splits.train.len(),
            dev: setup.splits.dev.len(),
            test: setup.splits.test.len(),
        },
        initial_dev_score: best.initial_dev_score,
        final_dev_score: best.dev_score,
        instruction: best.instruction,
        demos: best.demos,
        trials: best.trials,
        budget_exhausted: best.budget_exhausted,
        baseline_run: base_id,
        optimized_run: opt_id,
        baseline_test_accuracy: comparison.accuracy_a,
        optimized_test_accuracy: comparison.accuracy_b,
        accuracy_difference: comparison.difference,
        mcnemar_p: comparison.mcnemar.p_value,
        difference_ci: comparison.interval.map(|i| (i.low, i.high)),
        calls: searched.calls + base_spent.calls + opt_spent.calls,
        cache_hits: searched.cache_hits + base_spent.cache_hits + opt_spent.cache_hits,
        cost: searched.cost + base_spent.cost + opt_spent.cost,
        max_calls: options.max_calls,
        max_cost: options.max_cost,
        seconds: started.elapsed().as_secs_f64(),
        comparison: Some(comparison),
    };
    let json = serde_json::to_string_pretty(&outcome).unwrap_or_default();
    let path = setup.dir.join("optimized.json");
    core_config::write_atomic(&path, json.as_bytes()).map_err(|e| Error::io(&path, e))?;
    Ok(outcome)
}

/// One registered run of `version` over the test split: its id, CSV and spend.
async fn test_run(
    catalog: &Catalog,
    env: &Env,
    setup: &Setup,
    version: &str,
    client: &Client,
) -> Result<(String, PathBuf, Spent)> {
    let prepared = runner::prepare(
        catalog,
        env,
        &RunOptions {
            modules: vec![setup.module.id.to_string()],
            model: Some(setup.model.clone()),
            dataset: Some(setup.dir.join("test.jsonl")),
            prompt_version: Some(version.to_owned()),
            ..RunOptions::default()
        },
    )?;
    let plan = prepared
        .plans
        .into_iter()
        .next()
        .ok_or_else(|| Error::Invalid("the runner planned nothing".to_owned()))?;
    let report = runner::execute(
        &plan,
        client,
        ExecOptions {
            max_in_flight: setup.options.concurrency.max(1),
            cache: CacheMode::Use,
        },
        &runner::Quiet,
        std::future::pending(),
    )
    .await?;
    Ok((
        report.local_id,
        plan.csv.clone(),
        Spent {
            calls: report.http_requests,
            cache_hits: report.cache_hits,
            cost: report.cost_usd,
        },
    ))
}
