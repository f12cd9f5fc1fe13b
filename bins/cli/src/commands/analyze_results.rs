//! `analyze-results`: look at a run's errors so the prompt can be fixed: the error analysis
//! (confusion, per-label figures, the errors file), where the errors concentrate (slices with
//! exact tests and q-values, calibration), for one run or every module.

use std::io::Write;
use std::process::ExitCode;

use analysis::{ErrorsReport, PatternsReport, Progress, RunRef, Wanted};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use registry::RegistryFile;
use serde::Serialize;

use crate::common::{Bar, ExitStatus, GlobalArgs, Project, print_json, run_cli};

#[path = "analyze_results_judge.rs"]
mod judge;
#[path = "analyze_results_report.rs"]
mod report;

/// Look at the errors of a run so the prompt can be fixed.
///
/// A RUN is a registry id (exp_…), a results CSV path, or a module id (that module's newest
/// run). Files are written under analysis/{MODULE_FOLDER}/, named after the run; nothing
/// already there is overwritten.
#[derive(Debug, Parser)]
#[command(name = "analyze-results", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The error analysis of one run: confusion matrix, per-label precision / recall / F1,
    /// accuracy with its 95% interval, MCC, and the errors file (one row per wrong row).
    Errors {
        /// The run: exp_… id, results CSV, or module id (newest run).
        run: String,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Where the errors concentrate: slices of the run with their error rate, lift, Fisher's
    /// exact p-value and Benjamini–Hochberg q-value, and the confidence calibration.
    Patterns {
        /// The run: exp_… id, results CSV, or module id (newest run).
        run: String,
        /// Slices shown in the text report (the JSON and the file list every slice tested).
        #[arg(long, value_name = "N", default_value_t = 15)]
        top: usize,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Path A against Path B on the same keywords (m02/m02b, m04/m04b, m05/m05b, and the
    /// relevance chain against m12b), joined by ASIN and normalised keyword: kappa between the
    /// paths, each path's accuracy, McNemar's exact test, and a CSV of the rows where they
    /// disagree.
    ///
    /// `paths chain m12b` combines the newest runs of m12, m13, m14, m15 and m16 with the
    /// pipeline's rule (m12 violation → N; else m13 same type → m14's R/N; else m15's S, else
    /// m16's C/N) and compares the result with m12b. Keywords the rule sends to a step whose run
    /// lacks them are counted as undecided and listed in a CSV, never guessed.
    #[command(
        after_help = "Examples:\n  analyze-results paths m02 m02b\n  analyze-results paths chain m12b\n  analyze-results paths chain exp_20260116_120000_m12b --step exp_20260115_090000_m14"
    )]
    Paths {
        /// Path A: exp_… id, results CSV, or module id (newest run), e.g. m02; or `chain` for
        /// the relevance chain m12–m16.
        a: String,
        /// Path B, e.g. m02b (m12b against the chain).
        b: String,
        /// With `chain`: the run to use for one step (a run of m12–m16) instead of its
        /// module's newest run. Repeat for several steps.
        #[arg(long, value_name = "RUN")]
        step: Vec<String>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Model-vs-model agreement of two runs of one module, joined by record id: kappa with its
    /// interval, weighted kappa for ordered labels, the confusion of their answers.
    Agreement {
        /// Run A: exp_… id or results CSV.
        run_a: String,
        /// Run B: exp_… id or results CSV.
        run_b: String,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The cross-module baseline report from the newest run of each module: per-module table,
    /// modules under the threshold, Path A / Path B, top error slices, recommendations. Writes
    /// analysis/baseline.md and/or .json; prints the Markdown (or the JSON with --json).
    Baseline {
        /// Only these modules (ids, comma-separated or repeated).
        #[arg(long, value_delimiter = ',', value_name = "MODULE")]
        modules: Vec<String>,
        /// Accuracy under which a module is listed (0–1).
        #[arg(long, value_name = "SHARE", default_value_t = 0.7)]
        threshold: f64,
        /// Files to write.
        #[arg(long, value_enum, default_value_t = Format::Both)]
        format: Format,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The earlier tool's csv_to_readable: one row per input field and per output field of
    /// each record, with the product link, for reading results in a spreadsheet.
    Readable {
        /// The run: exp_… id, results CSV, or module id (newest run).
        run: String,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// A static HTML report under reports/{timestamp}/: index.html (the baseline with
    /// accuracy intervals, sparklines and flags), one page per module (confusion heatmap,
    /// per-label bars, accuracy history, calibration, error slices, the errors table,
    /// annotation agreement) and, with --compare, a comparison page. Opens from disk with no
    /// server and no network.
    Report(report::ReportArgs),
    /// An LLM judge over a run's answers: each row judged on the criteria of the module's
    /// rubric (prompts/judges/{module}_v1.yaml), against its input and expected answer. Writes
    /// experiment_results/{FOLDER}/{MODULE}_judge_{timestamp}.csv, registers it as a judge run
    /// of the run, and reports the pass rate of each criterion with its Wilson 95% interval and
    /// the criteria failing together. Cached, paced and resumable like `orchestrator run`.
    Judge(judge::JudgeArgs),
    /// Errors and patterns of the newest run of every module that has runs (or of --modules).
    All {
        /// Only these modules (ids, comma-separated or repeated).
        #[arg(long, value_delimiter = ',', value_name = "MODULE")]
        modules: Vec<String>,
        /// Print the reports as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Md,
    Json,
    Both,
}

#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    let file = RegistryFile::in_project(project.paths.root.clone());
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    match cli.command {
        Command::Errors { run, json } => {
            let run = analysis::resolve_run(&project.catalog, &file, &cwd, &run)?;
            let reports = analyze(&project, &cli.global, &run, json, true, false)?;
            let report = reports.errors.context("the error analysis was made")?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", analysis::text::errors(&run, &report));
            }
            Ok(ExitStatus::Success)
        }
        Command::Patterns { run, top, json } => {
            let run = analysis::resolve_run(&project.catalog, &file, &cwd, &run)?;
            let reports = analyze(&project, &cli.global, &run, json, false, true)?;
            let report = reports.patterns.context("the patterns were made")?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", analysis::text::patterns(&run, &report, top));
            }
            Ok(ExitStatus::Success)
        }
        Command::Paths { a, b, step, json } if a.eq_ignore_ascii_case(analysis::chain::CHAIN) => {
            let run_b = analysis::resolve_run(&project.catalog, &file, &cwd, &b)?;
            let given = step
                .iter()
                .map(|s| analysis::resolve_run(&project.catalog, &file, &cwd, s))
                .collect::<Result<Vec<_>, _>>()?;
            let steps = analysis::chain::chain_runs(&project.catalog, &file, &given)?;
            let report = analysis::chain::chain_paths(
                &project.paths.root,
                &project.catalog,
                &steps,
                &run_b,
            )?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", analysis::text::paths(&report));
            }
            Ok(ExitStatus::Success)
        }
        Command::Paths { a, b, step, json } => {
            if !step.is_empty() {
                anyhow::bail!(
                    "--step names runs of the relevance chain: use it with `paths chain m12b`"
                );
            }
            let run_a = analysis::resolve_run(&project.catalog, &file, &cwd, &a)?;
            let run_b = analysis::resolve_run(&project.catalog, &file, &cwd, &b)?;
            let module_a = project.catalog.resolve(&run_a.module)?;
            let module_b = project.catalog.resolve(&run_b.module)?;
            let report =
                analysis::compare::paths(&project.paths.root, module_a, module_b, &run_a, &run_b)?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", analysis::text::paths(&report));
            }
            Ok(ExitStatus::Success)
        }
        Command::Agreement { run_a, run_b, json } => {
            let a = analysis::resolve_run(&project.catalog, &file, &cwd, &run_a)?;
            let b = analysis::resolve_run(&project.catalog, &file, &cwd, &run_b)?;
            let module = project.catalog.resolve(&a.module)?;
            let report = analysis::compare::run_agreement(&project.paths.root, module, &a, &b)?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", analysis::text::agreement(&report));
            }
            Ok(ExitStatus::Success)
        }
        Command::Baseline {
            modules,
            threshold,
            format,
            json,
        } => baseline(
            &project,
            &cli.global,
            &file,
            &modules,
            threshold,
            format,
            json,
        ),
        Command::Readable { run, json } => {
            let run = analysis::resolve_run(&project.catalog, &file, &cwd, &run)?;
            let module = project.catalog.resolve(&run.module)?;
            let report = analysis::readable::readable(&project.paths.root, &run, module)
                .with_context(|| format!("cannot convert {}", project.paths.display(&run.csv)))?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", analysis::text::readable(&report));
            }
            Ok(ExitStatus::Success)
        }
        Command::All { modules, json } => all(&project, &cli.global, &file, &modules, json),
        Command::Report(args) => report::run(&project, &cli.global, &file, args),
        Command::Judge(args) => judge::run(&cli.global, &project, &cwd, &args),
    }
}

struct BarProgress<'a>(&'a Bar);

impl Progress for BarProgress<'_> {
    fn rows_read(&mut self, rows: u64) {
        self.0.set_position(rows);
    }
}

fn analyze(
    project: &Project,
    global: &GlobalArgs,
    run: &RunRef,
    json: bool,
    errors: bool,
    patterns: bool,
) -> anyhow::Result<analysis::RunAnalysis> {
    let module = project.catalog.resolve(&run.module)?;
    let bar = Bar::new(global, json, None, "{spinner} {prefix} {pos} rows read");
    bar.set_prefix(run.name.clone());
    let result = analysis::analyze_run(
        &project.paths.root,
        run,
        module,
        Wanted { errors, patterns },
        &mut BarProgress(&bar),
    );
    bar.finish();
    result.with_context(|| format!("cannot analyse {}", project.paths.display(&run.csv)))
}

#[derive(Serialize)]
struct AllJson {
    modules: Vec<ModuleJson>,
}

#[derive(Serialize)]
struct ModuleJson {
    errors: ErrorsReport,
    patterns: PatternsReport,
}

fn all(
    project: &Project,
    global: &GlobalArgs,
    file: &RegistryFile,
    modules: &[String],
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let runs = analysis::source::chosen_runs(&project.catalog, file, modules)?;
    let mut out = AllJson {
        modules: Vec::new(),
    };
    let mut text = String::new();
    for run in runs {
        let made = analyze(project, global, &run, json, true, true)?;
        let (Some(errors), Some(patterns)) = (made.errors, made.patterns) else {
            continue;
        };
        if !json {
            text.push_str(&analysis::text::errors(&run, &errors));
            text.push('\n');
            text.push_str(&analysis::text::patterns(&run, &patterns, 5));
            text.push('\n');
        }
        out.modules.push(ModuleJson { errors, patterns });
    }
    if json {
        print_json(&out)?;
    } else {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(ExitStatus::Success)
}

fn baseline(
    project: &Project,
    global: &GlobalArgs,
    file: &RegistryFile,
    modules: &[String],
    threshold: f64,
    format: Format,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    if !(0.0..=1.0).contains(&threshold) {
        anyhow::bail!("--threshold {threshold}: give a share between 0 and 1 (0.7 for 70%)");
    }
    let runs = analysis::source::chosen_runs(&project.catalog, file, modules)?;
    let mut analysed = Vec::new();
    for run in runs {
        let made = analyze(project, global, &run, json, true, true)?;
        if let (Some(errors), Some(patterns)) = (made.errors, made.patterns) {
            analysed.push((run, errors, patterns));
        }
    }
    let paths = analysis::baseline::path_reports(&project.paths.root, &project.catalog, &analysed)?;
    let report = analysis::baseline::build(&analysed, paths, threshold);
    let markdown = analysis::baseline::to_markdown(&report);
    let written = analysis::baseline::write(
        &project.paths.root,
        &report,
        (format != Format::Json).then_some(markdown.as_str()),
        format != Format::Md,
    )?;
    if json {
        print_json(&report)?;
    } else {
        let written: Vec<String> = written
            .iter()
            .map(|p| project.paths.display(p).into_owned())
            .collect();
        std::io::stdout()
            .lock()
            .write_all(analysis::text::baseline(&markdown, &written).as_bytes())?;
    }
    Ok(ExitStatus::Success)
}
