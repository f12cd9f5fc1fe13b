//! `calculate-agreement`: how far two annotators agree on an annotation CSV (Cohen's kappa and
//! the statistics that correct its blind spots), and how close the LLM comes to them.
//!
//! The file is streamed once through `annotation`'s reader and label readers into `agreement`'s
//! accumulators, so memory does not grow with the number of rows; everything here is the glue
//! between the two crates and the rendering of their reports.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agreement::AnalysisOptions;
use annotation::analysis::analyze_file;
use annotation::files::{find_file, sheet_files, task_file};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use annotation::analysis::text::{
    BatchFile, ListedFile, render_batch, render_list_of_files, render_report,
};

use crate::common::{Bar, ExitStatus, GlobalArgs, Project, print_json, run_cli};

/// Measure how far two annotators agree on an annotation CSV, and how close the LLM comes.
///
/// Reads the files generate-annotation-csv writes (CSV or .xlsx workbook), once annotators A and
/// B have filled their columns. Each cell is read with the module's own labels and aliases, in any case (yes/no,
/// R/S/C/N, OB/CB/NB/Null, ...); an empty cell means "not annotated yet" and its row is left out
/// of the statistics, never counted as a label.
///
/// Low agreement is an answer, not an error: the exit code is 0 whenever a file could be
/// analysed, 2 when it could not (a cell that is not a label, missing columns, an unreadable
/// file), and 1 when `batch` could not analyse some of the files.
#[derive(Debug, Parser)]
#[command(name = "calculate-agreement", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The annotation files in annotation_tasks/, with their module, rows, and how many rows
    /// annotator A, annotator B and both have filled.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The agreement report of one annotation file.
    ///
    /// Cohen's kappa with its interpretation, observed and expected agreement, agreements,
    /// disagreements and each annotator's label distribution; then the kappa's standard error
    /// and 95% interval, a seeded bootstrap interval, kappa_max, PABAK (with the prevalence and
    /// bias indices for two labels), Gwet's AC1, Krippendorff's alpha, weighted kappas for
    /// ordered labels such as R, S, C, N, and the LLM's agreement with A, B and their
    /// consensus. Modules with several annotated fields get one section per field; list fields
    /// report mean Jaccard overlap and exact-set agreement, text fields normalised exact
    /// agreement and mean token overlap.
    ///
    /// When both annotators used one and the same label everywhere, kappa is undefined (0/0):
    /// the report says so and still gives observed agreement, PABAK and AC1.
    ///
    /// A judge validation sheet (generate-annotation-csv generate MODULE --judge JUDGE_RUN)
    /// gets the judge's report instead: per criterion, annotator A vs B and the judge vs their
    /// consensus (kappa with its 95% interval, AC1), and NOT VALIDATED when the judge agrees
    /// with the consensus less than the annotators agree with each other (kept in the judge
    /// run's registry entry, so later reports show it).
    Analyze {
        /// The annotation CSV or .xlsx workbook (a relative name is also looked up in
        /// annotation_tasks/).
        file: PathBuf,
        /// Also print the confusion matrix (rows annotator A, columns annotator B).
        #[arg(short, long)]
        verbose: bool,
        /// Print one JSON object (fractions in [0, 1] at full precision, null where a value
        /// does not apply) instead of the text report.
        #[arg(long)]
        json: bool,
        /// The module, when the file name does not start with its id (M12_..., M12B_...).
        #[arg(long, value_name = "MODULE")]
        module: Option<String>,
        #[command(flatten)]
        stats: StatsArgs,
    },
    /// One line per annotation file in annotation_tasks/: module, annotated rows (N), kappa
    /// and its interpretation.
    ///
    /// A file that cannot be analysed is listed with its error, and the exit code is then 1.
    Batch {
        /// Print JSON (every file's full report, or its error) instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stats: StatsArgs,
    },
}

#[derive(Debug, Clone, Copy, clap::Args)]
struct StatsArgs {
    /// Seed of the bootstrap interval: the same seed gives the same interval on every machine.
    #[arg(long, value_name = "S", default_value_t = agreement::DEFAULT_SEED)]
    seed: u64,
    /// Bootstrap replicates for the kappa interval (0 turns the bootstrap off).
    #[arg(long, value_name = "N", default_value_t = agreement::DEFAULT_REPLICATES)]
    bootstrap: u32,
}

/// Entry point of the `calculate-agreement` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    match cli.command {
        Command::List { json } => list(&project, json),
        Command::Analyze {
            file,
            verbose,
            json,
            module,
            stats,
        } => {
            let file = find_file(&project.paths, &file, &project.paths.annotation_tasks())?;
            if judge::validate::sheet_meta(&file).is_some() {
                return judge_validation(&project, &file, json);
            }
            let module =
                annotation::generate::module_of(&project.catalog, &file, module.as_deref())?;
            let mut progress = row_spinner(&cli.global, "reading annotations".to_owned());
            let analysis = analyze_file(module, &file, &options(stats), &mut progress);
            progress.finish();
            let analysis = analysis?;
            let shown = project.paths.display(&file).into_owned();
            if json {
                print_json(&analysis.report(&shown))?;
            } else {
                let text = render_report(&analysis, &shown, verbose);
                std::io::stdout().lock().write_all(text.as_bytes())?;
            }
            Ok(ExitStatus::Success)
        }
        Command::Batch { json, stats } => batch(&project, &cli.global, stats, json),
    }
}

/// `analyze` of a judge validation sheet (`generate-annotation-csv generate MODULE --judge`):
/// the judge against the annotators' consensus next to the annotators' own agreement, and
/// whether the judge is validated (recorded in the registry for later reports).
fn judge_validation(project: &Project, file: &Path, json: bool) -> anyhow::Result<ExitStatus> {
    let report = judge::validate::validate_sheet(&project.paths.root, file)?;
    if json {
        print_json(&report)?;
    } else {
        let text = judge::text::validation(&report);
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(ExitStatus::Success)
}

/// A spinner with a row count on stderr.
fn row_spinner(global: &GlobalArgs, what: String) -> Bar {
    let bar = Bar::new(global, false, None, "{spinner} {msg} {human_pos} rows");
    bar.set_message(what);
    bar
}

/// The annotation commands' long reads (analysis, merge, gold) report their rows to a bar.
impl annotation::Progress for Bar {
    fn rows_done(&mut self, rows: u64) {
        self.set_position(rows);
    }
}

/// The statistics options; whether a field's label order counts is decided per field from the
/// catalogue.
fn options(stats: StatsArgs) -> AnalysisOptions {
    AnalysisOptions {
        ordered: false,
        bootstrap_replicates: stats.bootstrap,
        seed: stats.seed,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn list(project: &Project, json: bool) -> anyhow::Result<ExitStatus> {
    let folder = project.paths.annotation_tasks();
    let files = sheet_files(&folder)?;
    let found: Vec<_> = files
        .iter()
        .map(|p| task_file(&project.catalog, p))
        .collect();
    if !json {
        let listed: Vec<ListedFile> = (files.iter().zip(&found))
            .map(|(path, found)| ListedFile {
                name: file_name(path),
                found,
            })
            .collect();
        let text = render_list_of_files(&project.paths.display(&folder), &listed);
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(ExitStatus::Success);
    }
    let entries: Vec<Value> = (files.iter().zip(found))
        .map(|(path, found)| {
            let (status, error) = match found.status {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            };
            json!({
                "file": project.paths.display(path),
                "module": found.module,
                "rows": status.map(|s| s.rows),
                "annotated_a": status.map(|s| s.annotated_a),
                "annotated_b": status.map(|s| s.annotated_b),
                "annotated_both": status.map(|s| s.complete),
                "error": error,
            })
        })
        .collect();
    print_json(&json!({
        "folder": project.paths.display(&folder),
        "files": entries,
    }))?;
    Ok(ExitStatus::Success)
}

fn batch(
    project: &Project,
    global: &GlobalArgs,
    stats: StatsArgs,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let folder = project.paths.annotation_tasks();
    let files = sheet_files(&folder)?;
    let mut results = Vec::with_capacity(files.len());
    for path in &files {
        let shown = project.paths.display(path).into_owned();
        let module = annotation::generate::module_of(&project.catalog, path, None);
        let outcome = module.map_err(anyhow::Error::from).and_then(|module| {
            let mut progress = row_spinner(global, format!("reading {}", file_name(path)));
            let analysis = analyze_file(module, path, &options(stats), &mut progress);
            progress.finish();
            Ok(analysis?)
        });
        results.push((path, shown, outcome));
    }
    let failed = results.iter().filter(|(_, _, r)| r.is_err()).count();
    let status = if failed > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    let module_of_name = |path: &Path| {
        path.file_name()
            .and_then(|n| project.catalog.module_for_file_name(&n.to_string_lossy()))
            .map(|m| m.id.to_string())
    };

    if !json {
        let lines: Vec<BatchFile> = results
            .iter()
            .map(|(path, _, outcome)| BatchFile {
                path,
                module: module_of_name(path),
                outcome: outcome.as_ref().map_err(|e| format!("{e:#}")),
            })
            .collect();
        let text = render_batch(&project.paths.display(&folder), &lines);
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(status);
    }
    let entries: Vec<Value> = results
        .iter()
        .map(|(path, shown, outcome)| match outcome {
            Ok(analysis) => json!({
                "file": shown,
                "module": analysis.module.id.to_string(),
                "status": "ok",
                "report": analysis.report(shown),
            }),
            Err(error) => json!({
                "file": shown,
                "module": module_of_name(path),
                "status": "error",
                "error": format!("{error:#}"),
            }),
        })
        .collect();
    print_json(&json!({
        "folder": project.paths.display(&folder),
        "analysed": results.len() - failed,
        "failed": failed,
        "files": entries,
    }))?;
    Ok(status)
}
