//! `merge-annotations`: resolve two annotators' labels into validated data, and validated data
//! into gold datasets.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use annotation::files::find_file;
use annotation::text::{merge_listing, render_gold, render_merge};
use annotation::{GoldFormat, GoldOptions, MergeOptions, MergeReport, Strategy, gold, merge};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::common::{Bar, ExitStatus, GlobalArgs, Project, print_json, run_cli};

/// Merge two annotators' labels into validated data, and validated data into gold datasets.
///
/// `merge` reads an annotation CSV or .xlsx workbook (from generate-annotation-csv, filled in by
/// annotators A and B), reads every annotator cell with the module's labels (for a yes/no field: yes, no, y, n,
/// true, false, 1, 0; for relevance: R, S, C, N and their words), and resolves disagreements
/// with a strategy. `gold` turns the validated CSV into a dataset file that a run can use as the
/// module's dataset.
#[derive(Debug, Parser)]
#[command(name = "merge-annotations", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StrategyArg {
    /// Agreement keeps the shared label; otherwise the annotator who agrees with the model wins
    /// (majority_a_llm / majority_b_llm), and annotator A when neither does (default_a).
    Majority,
    /// Every disagreement becomes NEEDS_REVIEW (resolution `disagreement`) for a person to decide.
    Conservative,
    /// Annotator A wins every disagreement (prefer_a).
    #[value(name = "annotator_a")]
    AnnotatorA,
    /// Annotator B wins every disagreement (prefer_b).
    #[value(name = "annotator_b")]
    AnnotatorB,
}

impl From<StrategyArg> for Strategy {
    fn from(arg: StrategyArg) -> Self {
        match arg {
            StrategyArg::Majority => Self::Majority,
            StrategyArg::Conservative => Self::Conservative,
            StrategyArg::AnnotatorA => Self::AnnotatorA,
            StrategyArg::AnnotatorB => Self::AnnotatorB,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// Dataset records, one JSON object per line: {"id", "input", "expected", "metadata"}.
    Jsonl,
    /// A flat table: id, label, agreement, resolution, context columns, source file.
    Csv,
    /// The earlier tool's flat gold lines, for old consumers: {"asin", "keyword", "brand",
    /// "label", "agreement": "1"/"0", "resolution", then product_title, hard_constraints,
    /// validated_use, product_taxonomy when filled}.
    LegacyJsonl,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Annotation files (with how far annotators A and B are) and the validated and gold files
    /// already written.
    List {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Resolve an annotation CSV or workbook into
    /// validated_data/{MODULE}_validated_{YYYYmmdd_HHMMSS}.csv.
    ///
    /// Adds final_label, resolution and annotator_agreement (1 or 0) for the module's primary
    /// field; a module with more annotated fields also gets `final_<column>`,
    /// `resolution_<column>` and `agreement_<column>` for each of the others. A row where either
    /// annotator left a field empty is listed and left out. Any annotator cell that is not a
    /// label of its field stops the merge, with every such cell listed, and nothing is written.
    Merge {
        /// The annotation CSV or .xlsx workbook (a bare name is also looked up in
        /// annotation_tasks/).
        file: PathBuf,
        /// How disagreements are resolved.
        #[arg(short, long, value_enum, default_value_t = StrategyArg::Majority)]
        strategy: StrategyArg,
        /// Write only the rows where the annotators disagree, as
        /// {MODULE}_disagreements_{timestamp}.csv, for review (every row is still counted).
        #[arg(long)]
        disagreements_only: bool,
        /// The module, when the file name does not start with its id.
        #[arg(long, value_name = "MODULE")]
        module: Option<String>,
        /// Write to this folder instead of validated_data/.
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Print a JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a gold dataset, validated_data/{MODULE}_gold_{YYYYmmdd_HHMMSS}.jsonl, from a
    /// validated CSV.
    ///
    /// Each record is in the dataset format: id (the record id), input (the original record's
    /// full input, taken from the result CSV the annotation file was generated from), expected
    /// (the final label, written the way the module's dataset writes it) and metadata (the
    /// original metadata plus annotator_agreement, resolution and source_file). Rows marked
    /// NEEDS_REVIEW or without a final label are skipped and listed.
    Gold {
        /// The validated CSV (a bare name is also looked up in validated_data/).
        file: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = FormatArg::Jsonl)]
        format: FormatArg,
        /// Take the records' input from this result CSV or dataset JSONL instead of the result
        /// CSV named in the files' sidecars (the module's dataset is used when neither exists).
        #[arg(long, value_name = "FILE")]
        source: Option<PathBuf>,
        /// The module, when the file name does not start with its id.
        #[arg(long, value_name = "MODULE")]
        module: Option<String>,
        /// Write to this folder instead of validated_data/.
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Print a JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Entry point of the `merge-annotations` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    match cli.command {
        Command::List { json } => list(&project, json),
        Command::Merge {
            file,
            strategy,
            disagreements_only,
            module,
            output,
            json,
        } => {
            let file = find_file(&project.paths, &file, &project.paths.annotation_tasks())?;
            let module =
                annotation::generate::module_of(&project.catalog, &file, module.as_deref())?;
            let options = MergeOptions {
                strategy: strategy.into(),
                disagreements_only,
                output_dir: output,
            };
            let mut progress = Bar::new(
                &cli.global,
                false,
                None,
                "{spinner} merging {human_pos} rows",
            );
            let report = merge(&project.paths, module, &file, &options, &mut progress);
            progress.finish();
            let report = report?;
            if json {
                print_json(&MergeJson::from(&report))?;
            } else {
                let text = render_merge(&project.paths, &report, !cli.global.quiet);
                std::io::stdout().lock().write_all(text.as_bytes())?;
            }
            Ok(ExitStatus::Success)
        }
        Command::Gold {
            file,
            format,
            source,
            module,
            output,
            json,
        } => {
            let file = find_file(&project.paths, &file, &project.paths.validated_data())?;
            let module =
                annotation::generate::module_of(&project.catalog, &file, module.as_deref())?;
            let options = GoldOptions {
                format: match format {
                    FormatArg::Jsonl => GoldFormat::Jsonl,
                    FormatArg::Csv => GoldFormat::Csv,
                    FormatArg::LegacyJsonl => GoldFormat::LegacyJsonl,
                },
                source,
                output_dir: output,
            };
            let mut progress = Bar::new(
                &cli.global,
                false,
                None,
                "{spinner} writing gold records {human_pos} rows",
            );
            let report = gold(
                &project.catalog,
                &project.paths,
                module,
                &file,
                &options,
                &mut progress,
            );
            progress.finish();
            let report = report?;
            if json {
                print_json(&report)?;
            } else {
                let text = render_gold(&project.paths, &report, !cli.global.quiet);
                std::io::stdout().lock().write_all(text.as_bytes())?;
            }
            Ok(ExitStatus::Success)
        }
    }
}

#[derive(Serialize)]
struct MergeJson<'a> {
    #[serde(flatten)]
    report: &'a MergeReport,
    agreement_rate: f64,
}

impl<'a> From<&'a MergeReport> for MergeJson<'a> {
    fn from(report: &'a MergeReport) -> Self {
        Self {
            report,
            agreement_rate: (report.agreement_rate() * 10_000.0).round() / 10_000.0,
        }
    }
}

fn list(project: &Project, json: bool) -> anyhow::Result<ExitStatus> {
    let listing = merge_listing(&project.catalog, &project.paths)?;
    if json {
        print_json(&listing)?;
    } else {
        std::io::stdout()
            .lock()
            .write_all(listing.render().as_bytes())?;
    }
    Ok(ExitStatus::Success)
}
