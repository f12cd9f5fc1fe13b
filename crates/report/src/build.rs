//! Gathering what the pages show, from the libraries that compute it: each module's newest run
//! analysed by `analysis` (errors and patterns, in one pass), the baseline and Path A / Path B
//! from `analysis::baseline`, each module's run history from the registry, the agreement of
//! each filled annotation file from `annotation::analysis`, each module's judge runs from
//! `judge::history` (pass rates as `analyze-results judge` summarised them, and the judge's
//! validation against people), and the run comparison from `registry::compare` (what
//! `experiment-registry compare` shows).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use agreement::AnalysisOptions;
use analysis::baseline::BaselineReport;
use analysis::{ErrorsReport, PatternsReport, RunRef, Wanted};
use annotation::analysis::{FieldAnalysis, analyze_file};
use core_config::Catalog;
use judge::history::RecordedJudgeRun;
use registry::compare::{CompareOptions, Comparison};
use registry::{Filter, OpenedRun, Overview, Registry, RegistryFile};

use crate::{Error, Options, Progress, Result};

/// One registered run of a module, for the accuracy history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRun {
    /// Local id.
    pub id: String,
    /// When it was registered.
    pub created_at: String,
    /// Model.
    pub model: String,
    /// Prompt version.
    pub prompt_version: String,
    /// Accuracy, when the registry has it.
    pub accuracy: Option<f64>,
}

/// The agreement analysis of one filled annotation file.
#[derive(Debug)]
pub struct AnnotationData {
    /// The file, relative to the project root.
    pub file: String,
    /// Its fields, primary first (empty when the file could not be analysed).
    pub fields: Vec<FieldAnalysis>,
    /// Why the file could not be analysed (a cell that is not a label, …): the page says so
    /// instead of the whole report failing.
    pub error: Option<String>,
}

/// Everything one module's page shows.
#[derive(Debug)]
pub struct ModuleData {
    /// The run analysed.
    pub run: RunRef,
    /// Its module's name.
    pub name: String,
    /// The error analysis.
    pub errors: ErrorsReport,
    /// The error patterns.
    pub patterns: PatternsReport,
    /// The full errors file written by the analysis.
    pub errors_csv: PathBuf,
    /// The registry's runs of this module, oldest first (judge runs left out).
    pub history: Vec<HistoryRun>,
    /// Filled annotation files of this module.
    pub annotations: Vec<AnnotationData>,
    /// The judge runs of this module's runs, newest first.
    pub judges: Vec<RecordedJudgeRun>,
    /// Whether the module has a judge rubric (`prompts/judges/{module}_*.yaml`): the page then
    /// says when it has no judge run yet.
    pub judge_rubric: bool,
}

/// Two runs compared.
#[derive(Debug)]
pub struct CompareData {
    /// The module.
    pub module: String,
    /// The field compared.
    pub field: String,
    /// Run A.
    pub a: OpenedRun,
    /// Run B.
    pub b: OpenedRun,
    /// The comparison.
    pub result: Comparison,
}

/// What the report shows.
#[derive(Debug)]
pub struct Gathered {
    /// One entry per module, in catalogue order.
    pub modules: Vec<ModuleData>,
    /// The baseline (per-module table, flags, Path A / Path B, recommendations).
    pub baseline: BaselineReport,
    /// The comparison, when asked for.
    pub compare: Option<CompareData>,
}

struct RowsProgress<'a>(&'a mut dyn Progress);

impl analysis::Progress for RowsProgress<'_> {
    fn rows_read(&mut self, rows: u64) {
        self.0.rows_read(rows);
    }
}

impl annotation::Progress for RowsProgress<'_> {
    fn rows_done(&mut self, rows: u64) {
        self.0.rows_read(rows);
    }
}

/// Gathers the report: resolves the runs first (a module or run that does not exist fails
/// before anything is written), then analyses each module's newest run.
///
/// The analysis writes its usual files under `analysis/{MODULE_FOLDER}/` (errors CSV and JSON,
/// patterns JSON, Path A / Path B disagreements), as `analyze-results all` does.
///
/// # Errors
/// An unknown module, a module without runs, an unreadable results CSV or annotation file, runs
/// to compare that are missing or of two modules.
pub fn gather(
    root: &Path,
    catalog: &Catalog,
    file: &RegistryFile,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<Gathered> {
    let runs = analysis::source::chosen_runs(catalog, file, &options.modules)?;
    let (overview, registry) = if file.path().is_file() {
        (file.overview()?, file.load()?)
    } else {
        (Overview::empty(file.path()), Registry::new())
    };
    // Judge runs are registered under the judged module; they are not runs of its history.
    let judge_runs: HashSet<&str> = registry
        .entries()
        .filter(|e| e.extra.contains_key(judge::run::JUDGE_OF))
        .map(|e| e.local_id.as_str())
        .collect();
    let compare = match &options.compare {
        Some((a, b)) => {
            progress.step(&format!("comparing {a} with {b}"));
            Some(compare_runs(file, catalog, &overview, a, b)?)
        }
        None => None,
    };
    let mut analysed = Vec::new();
    let mut histories = Vec::new();
    for run in runs {
        let module = catalog.resolve(&run.module)?;
        progress.step(&format!("{}: reading {}", module.id, run.name));
        let made = analysis::analyze_run(
            root,
            &run,
            module,
            Wanted {
                errors: true,
                patterns: true,
            },
            &mut RowsProgress(progress),
        )?;
        let (Some(errors), Some(patterns)) = (made.errors, made.patterns) else {
            continue;
        };
        histories.push(history(&overview, module, &judge_runs));
        analysed.push((run, errors, patterns));
    }
    progress.step("Path A / Path B");
    let paths = analysis::baseline::path_reports(root, catalog, &analysed)?;
    let baseline = analysis::baseline::build(&analysed, paths, options.threshold);
    let mut modules = Vec::new();
    for ((run, errors, patterns), history) in analysed.into_iter().zip(histories) {
        let module = catalog.resolve(&run.module)?;
        let annotations = annotations(root, catalog, module, progress)?;
        progress.step(&format!("{}: judge runs", module.id));
        let judges = judge::history::recorded_runs(root, &registry, module.id.as_str());
        let judge_rubric = judge::history::has_rubric(root, module.id.as_str());
        let errors_csv = errors
            .errors_file
            .as_ref()
            .map(|f| root.join(f))
            .unwrap_or_default();
        modules.push(ModuleData {
            name: module.name.clone(),
            run,
            errors,
            patterns,
            errors_csv,
            history,
            annotations,
            judges,
            judge_rubric,
        });
    }
    Ok(Gathered {
        modules,
        baseline,
        compare,
    })
}

fn history(
    overview: &Overview,
    module: &core_config::ModuleSpec,
    judge_runs: &HashSet<&str>,
) -> Vec<HistoryRun> {
    let mut runs: Vec<HistoryRun> = overview
        .list(&Filter::module(module.id.clone()))
        .into_iter()
        .filter(|s| !judge_runs.contains(s.local_id.as_str()))
        .map(|s| HistoryRun {
            id: s.local_id.clone(),
            created_at: s.created_at.clone(),
            model: s.model.clone(),
            prompt_version: s.prompt_version.clone(),
            accuracy: s.accuracy,
        })
        .collect();
    runs.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    runs
}

/// The filled annotation files of `module` in `annotation_tasks/` (those where both annotators
/// filled at least one row), analysed as `calculate-agreement analyze` does.
fn annotations(
    root: &Path,
    catalog: &Catalog,
    module: &core_config::ModuleSpec,
    progress: &mut dyn Progress,
) -> Result<Vec<AnnotationData>> {
    let paths = core_config::ProjectPaths::new(root);
    let folder = paths.annotation_tasks();
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let files =
        annotation::files::files_in(&folder, ".csv").map_err(|source| Error::Annotation {
            path: folder.clone(),
            source: Box::new(source),
        })?;
    let mut out = Vec::new();
    for path in files {
        let status = annotation::files::task_file(catalog, &path);
        let filled = status.module.as_deref() == Some(module.id.as_str())
            && status.status.as_ref().is_ok_and(|s| s.complete > 0);
        if !filled {
            continue;
        }
        progress.step(&format!(
            "{}: annotation file {}",
            module.id,
            paths.display(&path)
        ));
        let analysis = analyze_file(
            module,
            &path,
            &AnalysisOptions::default(),
            &mut RowsProgress(progress),
        );
        let file = paths.display(&path).into_owned();
        out.push(match analysis {
            Ok(analysis) => AnnotationData {
                file,
                fields: analysis.fields,
                error: None,
            },
            Err(e) => AnnotationData {
                file,
                fields: Vec::new(),
                error: Some(core_config::error_chain(&e)),
            },
        });
    }
    Ok(out)
}

fn compare_runs(
    file: &RegistryFile,
    catalog: &Catalog,
    overview: &Overview,
    a: &str,
    b: &str,
) -> Result<CompareData> {
    let mut load = || -> registry::Result<&Overview> { Ok(overview) };
    let run_a = registry::open_run(file, catalog, a, &mut load)?;
    let run_b = registry::open_run(file, catalog, b, &mut load)?;
    if run_a.module != run_b.module {
        return Err(Error::CompareModules {
            a: run_a.module,
            b: run_b.module,
        });
    }
    let module = catalog.resolve(&run_a.module)?;
    let field = module.primary_score();
    let result =
        registry::compare::compare(&run_a.rows, &run_b.rows, field, &CompareOptions::default());
    Ok(CompareData {
        module: module.id.to_string(),
        field: field.name.clone(),
        a: run_a,
        b: run_b,
        result,
    })
}
