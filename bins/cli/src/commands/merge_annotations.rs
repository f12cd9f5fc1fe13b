//! `merge-annotations`: resolve two annotators' labels into validated data, and validated data
//! into gold datasets.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annotation::files::{files_in, find_file, task_file};
use annotation::{
    GoldFormat, GoldOptions, GoldReport, MergeOptions, MergeReport, Resolution, Strategy, gold,
    merge,
};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::common::{
    Bar, ExitStatus, GlobalArgs, Project, Table, percent_of, print_json, run_cli, thousands,
};

/// Merge two annotators' labels into validated data, and validated data into gold datasets.
///
/// `merge` reads an annotation CSV (from generate-annotation-csv, filled in by annotators A and
/// B), reads every annotator cell with the module's labels (for a yes/no field: yes, no, y, n,
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
    /// Resolve an annotation CSV into validated_data/{MODULE}_validated_{YYYYmmdd_HHMMSS}.csv.
    ///
    /// Adds final_label, resolution and annotator_agreement (1 or 0) for the module's primary
    /// field; a module with more annotated fields also gets `final_<column>`,
    /// `resolution_<column>` and `agreement_<column>` for each of the others. A row where either
    /// annotator left a field empty is listed and left out. Any annotator cell that is not a
    /// label of its field stops the merge, with every such cell listed, and nothing is written.
    Merge {
        /// The annotation CSV (a bare name is also looked up in annotation_tasks/).
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
                print_merge(&project, &report, cli.global.quiet)?;
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
                print_gold(&project, &report, cli.global.quiet)?;
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn resolutions_text(resolutions: &std::collections::BTreeMap<Resolution, usize>) -> String {
    if resolutions.is_empty() {
        return "-".to_owned();
    }
    resolutions
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_merge(project: &Project, r: &MergeReport, quiet: bool) -> anyhow::Result<()> {
    let show = |p: &Path| project.paths.display(p).into_owned();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Merged {} (module {}, strategy {})",
        show(&r.file),
        r.module,
        r.strategy
    )?;
    let mut table = Table::headless().right(&[1]);
    table.row(["rows".to_owned(), thousands(r.rows as u64), String::new()]);
    let left_out = if r.incomplete.is_empty() {
        String::new()
    } else {
        format!(
            "({} left out: an annotation is missing)",
            r.incomplete.len()
        )
    };
    table.row([
        "annotated".to_owned(),
        thousands(r.annotated as u64),
        left_out,
    ]);
    table.row([
        "agreements".to_owned(),
        thousands(r.agreements as u64),
        format!("({})", percent_of(r.agreements, r.annotated)),
    ]);
    table.row([
        "disagreements".to_owned(),
        thousands(r.disagreements as u64),
        String::new(),
    ]);
    write!(out, "{}", table.render(2))?;
    if r.fields.len() > 1 {
        writeln!(out, "  per field:")?;
        let mut fields =
            Table::new(["field", "column", "agree", "disagree", "resolutions"]).right(&[2, 3]);
        for f in &r.fields {
            fields.row([
                f.field.clone(),
                f.final_column.clone(),
                thousands(f.agreements as u64),
                thousands(f.disagreements as u64),
                resolutions_text(&f.resolutions),
            ]);
        }
        write!(out, "{}", fields.render(4))?;
    }
    writeln!(out, "  resolutions    {}", resolutions_text(&r.resolutions))?;
    if !r.llm_columns_present && r.strategy == Strategy::Majority {
        writeln!(
            out,
            "  note: the file has no llm_* column to break ties, so majority keeps annotator A"
        )?;
    }
    if !r.incomplete.is_empty() {
        writeln!(out, "\nLeft out (an annotation is missing):")?;
        for row in &r.incomplete {
            writeln!(
                out,
                "  row_id {} (line {}): {} empty",
                row.row_id,
                row.line,
                row.missing.join(", ")
            )?;
        }
    }
    let what = if r.disagreements_only {
        "disagreeing rows"
    } else {
        "rows"
    };
    writeln!(
        out,
        "\nWrote {} ({} {what})",
        show(&r.output),
        thousands(r.written as u64)
    )?;
    if !quiet {
        let name = r
            .output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let review = r
            .resolutions
            .get(&Resolution::Disagreement)
            .copied()
            .unwrap_or_default();
        if review > 0 {
            writeln!(
                out,
                "Next: decide the {review} NEEDS_REVIEW row{} (write the label into final_label), then\n  merge-annotations gold {name}",
                if review == 1 { "" } else { "s" }
            )?;
        } else if r.disagreements_only {
            writeln!(
                out,
                "Next: review these rows; merge the full file to write validated data."
            )?;
        } else {
            writeln!(out, "Next: merge-annotations gold {name}")?;
        }
    }
    Ok(())
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

fn print_gold(project: &Project, r: &GoldReport, quiet: bool) -> anyhow::Result<()> {
    let show = |p: &Path| project.paths.display(p).into_owned();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Wrote {} ({} records)",
        show(&r.output),
        thousands(r.written as u64)
    )?;
    let mut table = Table::headless();
    table.row(["from".to_owned(), show(&r.file)]);
    table.row(["inputs".to_owned(), show(&r.inputs_from)]);
    let ids = |list: &[String]| {
        if list.is_empty() {
            String::new()
        } else {
            let shown: Vec<&str> = list.iter().take(10).map(String::as_str).collect();
            let more = list.len().saturating_sub(10);
            format!(
                " (row_id {}{})",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        }
    };
    table.row([
        "skipped".to_owned(),
        format!(
            "{} NEEDS_REVIEW{}, {} without a final label{}",
            r.needs_review.len(),
            ids(&r.needs_review),
            r.empty.len(),
            ids(&r.empty)
        ),
    ]);
    write!(out, "{}", table.render(2))?;
    if !quiet && r.format == GoldFormat::Jsonl {
        writeln!(
            out,
            "The file is in the dataset format: a run can use it as module {}'s dataset as it is.",
            r.module
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct ListedFile {
    file: PathBuf,
    module: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    complete: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

#[derive(Serialize)]
struct Listing {
    annotation_files: Vec<ListedFile>,
    validated_files: Vec<ListedFile>,
    gold_files: Vec<ListedFile>,
}

fn list(project: &Project, json: bool) -> anyhow::Result<ExitStatus> {
    let module_of = |path: &Path| {
        path.file_name()
            .and_then(|n| project.catalog.module_for_file_name(&n.to_string_lossy()))
            .map(|m| m.id.to_string())
    };
    let annotation_files: Vec<ListedFile> = files_in(&project.paths.annotation_tasks(), ".csv")?
        .into_iter()
        .map(|path| {
            let found = task_file(&project.catalog, &path);
            let (rows, complete, problem) = match found.status {
                Ok(s) => (Some(s.rows), Some(s.complete), None),
                Err(e) => (None, None, Some(e)),
            };
            ListedFile {
                file: path,
                module: found.module,
                rows,
                complete,
                problem,
            }
        })
        .collect();
    let validated = files_in(&project.paths.validated_data(), ".csv")?;
    let (gold_csv, validated): (Vec<PathBuf>, Vec<PathBuf>) =
        validated.into_iter().partition(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("_gold_"))
        });
    let listed = |path: PathBuf, count: bool| ListedFile {
        module: module_of(&path),
        rows: if count {
            annotation::AnnotationReader::open(&path)
                .ok()
                .map(|r| r.filter(Result::is_ok).count())
        } else {
            std::fs::read(&path).ok().map(|b| {
                b.split(|c| *c == b'\n')
                    .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                    .count()
            })
        },
        file: path,
        complete: None,
        problem: None,
    };
    let validated_files: Vec<ListedFile> = validated.into_iter().map(|p| listed(p, true)).collect();
    let mut gold_files: Vec<ListedFile> = files_in(&project.paths.validated_data(), ".jsonl")?
        .into_iter()
        .map(|p| listed(p, false))
        .collect();
    gold_files.extend(gold_csv.into_iter().map(|p| listed(p, true)));
    if json {
        print_json(&Listing {
            annotation_files,
            validated_files,
            gold_files,
        })?;
        return Ok(ExitStatus::Success);
    }
    let mut out = std::io::stdout().lock();
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let n = |v: Option<usize>| v.map_or_else(|| "-".to_owned(), |n| thousands(n as u64));
    writeln!(out, "Annotation files (annotation_tasks/):")?;
    if annotation_files.is_empty() {
        writeln!(out, "  none (generate-annotation-csv generate MODULE)")?;
    } else {
        let mut table = Table::new(["", "file", "module", "rows", "both annotated"]).right(&[3, 4]);
        for f in &annotation_files {
            let mark = match (f.rows, f.complete) {
                (Some(rows), Some(done)) if rows > 0 && rows == done => "✓",
                (Some(_), Some(_)) => "○",
                _ => "✗",
            };
            let mut cells = vec![
                mark.to_owned(),
                name(&f.file),
                f.module.clone().unwrap_or_else(|| "?".to_owned()),
                n(f.rows),
                n(f.complete),
            ];
            if let Some(problem) = &f.problem {
                cells.push(format!("({problem})"));
            }
            table.row(cells);
        }
        write!(out, "{}", table.render(2))?;
        writeln!(
            out,
            "  ✓ ready to merge   ○ annotations missing   ✗ unreadable"
        )?;
    }
    for (title, files) in [
        ("Validated files (validated_data/):", &validated_files),
        ("Gold files (validated_data/):", &gold_files),
    ] {
        writeln!(out, "\n{title}")?;
        if files.is_empty() {
            writeln!(out, "  none")?;
            continue;
        }
        let mut table = Table::new(["file", "module", "rows"]).right(&[2]);
        for f in files {
            table.row([
                name(&f.file),
                f.module.clone().unwrap_or_else(|| "?".to_owned()),
                n(f.rows),
            ]);
        }
        write!(out, "{}", table.render(2))?;
    }
    Ok(ExitStatus::Success)
}
