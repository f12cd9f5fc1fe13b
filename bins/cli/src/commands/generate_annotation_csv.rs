//! `generate-annotation-csv`: sample a run's results into a CSV that two annotators fill in.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annotation::files::result_csvs;
use annotation::generate_text::{BatchEntry, listing, next_steps, render_batch, render_generated};
use annotation::{DEFAULT_SEED, GenerateOptions, SheetFormat, generate};
use clap::{ArgGroup, Args, Parser, Subcommand};
use core_config::ModuleSpec;

use crate::common::{ExitStatus, GlobalArgs, Project, print_json, run_cli};

/// Turn a run's results into a CSV (or an Excel workbook) for two human annotators.
///
/// Rows come from the module's newest result CSV in experiment_results/ (or --source), are
/// shuffled with a seed and sampled, and are laid out in the columns modules.toml declares for
/// the module: row_id, record_id, context (asin, keyword, product details), the model's answers
/// (llm_*), then annotator_a_* and annotator_b_* columns to fill, agreement and notes.
///
/// The file goes to annotation_tasks/{MODULE}_annotation_{YYYYmmdd_HHMMSS}.csv and never
/// replaces an existing one. It is safe to open in Excel or Google Sheets: UTF-8 with BOM, every
/// cell quoted, and a cell a spreadsheet would run as a formula (starting with = + - @, tab or
/// a line break) gets a leading ' that the toolkit removes again when it reads the file back.
/// A sidecar {name}.meta.json records the source, seed and sample.
///
/// With --format xlsx the file is annotation_tasks/{MODULE}_annotation_{YYYYmmdd_HHMMSS}.xlsx
/// instead: the same rows (the same seed picks the same rows), with a dropdown of the module's
/// labels on each annotator column, protected product and model columns, disagreements
/// highlighted, and a Guide sheet. No cell is a formula.
#[derive(Debug, Parser)]
#[command(name = "generate-annotation-csv", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Modules with result CSVs (the newest is the default source) and existing annotation
    /// files.
    ///
    /// Marks: ✓ has a result CSV, ○ none yet.
    List {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Write an annotation CSV (or workbook, --format xlsx) for one module.
    Generate {
        /// The module (m12, 12, M12B, or the module name).
        module: String,
        #[command(flatten)]
        sampling: Sampling,
        /// Read this result CSV instead of the module's newest one (result CSVs of the earlier
        /// Python tool work too).
        #[arg(short, long, value_name = "FILE", conflicts_with = "judge")]
        source: Option<PathBuf>,
        /// Instead, a sheet to validate this judge run (exp_… id of an `analyze-results judge`
        /// run, or its judge CSV) against people: per sampled record (-n), one row per rubric
        /// criterion with the question, input, expected answer and the judged answer, and
        /// annotator_a / annotator_b columns for each annotator's own pass or fail (the judge's
        /// verdict is not shown). Written to annotation_tasks/judges/; read back by
        /// calculate-agreement analyze.
        #[arg(long, value_name = "JUDGE_RUN")]
        judge: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Write annotation CSVs (or workbooks) for several modules, each from its newest result CSV.
    #[command(group(ArgGroup::new("which").required(true).args(["modules", "all"])))]
    Batch {
        /// Modules to generate for.
        modules: Vec<String>,
        /// Every module that has a result CSV.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        sampling: Sampling,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Args)]
struct Sampling {
    /// Keep N rows (the first N after shuffling); every row when not given.
    #[arg(short = 'n', long, value_name = "N")]
    sample: Option<usize>,
    /// Seed of the shuffle: the same seed picks the same rows on every machine.
    #[arg(long, value_name = "S", default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Keep the result CSV's row order instead of shuffling (--seed is then unused).
    #[arg(long)]
    no_shuffle: bool,
}

#[derive(Debug, Args)]
struct Output {
    /// Write to this folder instead of annotation_tasks/.
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// csv: a spreadsheet-safe CSV. xlsx: a workbook where each label column has a dropdown of
    /// the module's labels (with what each means), the product and model columns are protected
    /// (no password), A/B disagreements turn red, and a Guide sheet explains the labels and
    /// where the rows came from. Every command that reads annotation files reads both.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Csv)]
    format: Format,
    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
}

/// The kind of annotation file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A spreadsheet-safe CSV.
    Csv,
    /// An Excel workbook with label dropdowns and a Guide sheet.
    Xlsx,
}

impl From<Format> for SheetFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Csv => Self::Csv,
            Format::Xlsx => Self::Xlsx,
        }
    }
}

/// Entry point of the `generate-annotation-csv` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    match cli.command {
        Command::List { json } => list(&project, json),
        Command::Generate {
            module,
            sampling,
            source,
            judge,
            output,
        } => {
            let module = project.catalog.resolve(&module)?;
            if let Some(judge_run) = judge {
                return judge_sheet(&project, module, judge_run, &sampling, &output);
            }
            let options = options(&sampling, source, &output);
            let generated = generate(&project.catalog, &project.paths, module, &options)?;
            if output.json {
                print_json(&generated)?;
            } else {
                let mut text = render_generated(&project.paths, module, &generated);
                if !cli.global.quiet {
                    text.push_str(&next_steps(&[&generated.file]));
                }
                std::io::stdout().lock().write_all(text.as_bytes())?;
            }
            Ok(ExitStatus::Success)
        }
        Command::Batch {
            modules,
            all,
            sampling,
            output,
        } => batch(&project, &cli.global, &modules, all, &sampling, &output),
    }
}

/// `generate --judge`: the validation sheet of a judge run.
fn judge_sheet(
    project: &Project,
    module: &ModuleSpec,
    judge_run: String,
    sampling: &Sampling,
    output: &Output,
) -> anyhow::Result<ExitStatus> {
    let options = judge::validate::SheetOptions {
        judge_run,
        sample: sampling.sample,
        seed: sampling.seed,
        shuffle: !sampling.no_shuffle,
        output_dir: output.output.clone(),
        started: chrono::Local::now(),
        base: std::env::current_dir()?,
    };
    let sheet = judge::validate::generate_sheet(&project.catalog, &options)?;
    if sheet.module != module.id.to_string() {
        anyhow::bail!(
            "{} judged {}, not {}",
            sheet.judge_run,
            sheet.module,
            module.id
        );
    }
    if output.json {
        print_json(&sheet)?;
    } else {
        let shown = project.paths.display(&sheet.file);
        let text = judge::text::sheet(&sheet, &shown);
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(ExitStatus::Success)
}

fn options(sampling: &Sampling, source: Option<PathBuf>, output: &Output) -> GenerateOptions {
    GenerateOptions {
        sample: sampling.sample,
        seed: sampling.seed,
        shuffle: !sampling.no_shuffle,
        source,
        output_dir: output.output.clone(),
        format: output.format.into(),
    }
}

fn batch(
    project: &Project,
    global: &GlobalArgs,
    names: &[String],
    all: bool,
    sampling: &Sampling,
    output: &Output,
) -> anyhow::Result<ExitStatus> {
    let catalog = &project.catalog;
    let modules: Vec<&ModuleSpec> = if all {
        let sources = result_csvs(catalog, &project.paths)?;
        catalog
            .modules()
            .iter()
            .filter(|m| sources.contains_key(m.id.as_str()))
            .collect()
    } else {
        names
            .iter()
            .map(|n| catalog.resolve(n))
            .collect::<Result<_, _>>()?
    };
    if modules.is_empty() {
        anyhow::bail!(
            "no module has a result CSV in {} (run `orchestrator run MODULE` first)",
            project.paths.display(&project.paths.experiment_results())
        );
    }
    let mut entries = Vec::new();
    for module in &modules {
        let options = options(sampling, None, output);
        let entry = match generate(catalog, &project.paths, module, &options) {
            Ok(g) => BatchEntry {
                module: module.id.to_string(),
                generated: Some(g),
                error: None,
            },
            Err(e) => BatchEntry {
                module: module.id.to_string(),
                generated: None,
                error: Some(e.to_string()),
            },
        };
        entries.push(entry);
    }
    let failed = entries.iter().filter(|e| e.error.is_some()).count();
    if output.json {
        print_json(&entries)?;
    } else {
        let mut text = render_batch(&project.paths, &entries);
        let files: Vec<&Path> = entries
            .iter()
            .filter_map(|e| e.generated.as_ref().map(|g| g.file.as_path()))
            .collect();
        if !global.quiet && !files.is_empty() {
            text.push_str(&next_steps(&files));
        }
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn list(project: &Project, json: bool) -> anyhow::Result<ExitStatus> {
    let listing = listing(&project.catalog, &project.paths)?;
    if json {
        print_json(&listing)?;
    } else {
        let text = listing.render(&project.paths);
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(ExitStatus::Success)
}
