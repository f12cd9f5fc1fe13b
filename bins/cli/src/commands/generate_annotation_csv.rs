//! `generate-annotation-csv`: sample a run's results into a CSV that two annotators fill in.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use annotation::files::{files_in, result_csvs, task_file};
use annotation::{DEFAULT_SEED, GenerateOptions, Generated, generate};
use clap::{ArgGroup, Args, Parser, Subcommand};
use core_config::ModuleSpec;
use serde::Serialize;

use crate::common::{
    ExitStatus, GlobalArgs, Project, Table, plural, print_json, run_cli, thousands,
};

/// Turn a run's results into a CSV for two human annotators.
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
    /// Write an annotation CSV for one module.
    Generate {
        /// The module (m12, 12, M12B, or the module name).
        module: String,
        #[command(flatten)]
        sampling: Sampling,
        /// Read this result CSV instead of the module's newest one (result CSVs of the earlier
        /// Python tool work too).
        #[arg(short, long, value_name = "FILE")]
        source: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Write annotation CSVs for several modules, each from its newest result CSV.
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
    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
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
            output,
        } => {
            let module = project.catalog.resolve(&module)?;
            let options = options(&sampling, source, output.output);
            let generated = generate(&project.catalog, &project.paths, module, &options)?;
            if output.json {
                print_json(&generated)?;
            } else {
                let mut out = std::io::stdout().lock();
                describe(&mut out, &project, module, &generated)?;
                if !cli.global.quiet {
                    next_steps(&mut out, &[&generated.file])?;
                }
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

fn options(
    sampling: &Sampling,
    source: Option<PathBuf>,
    output: Option<PathBuf>,
) -> GenerateOptions {
    GenerateOptions {
        sample: sampling.sample,
        seed: sampling.seed,
        shuffle: !sampling.no_shuffle,
        source,
        output_dir: output,
    }
}

fn describe(
    out: &mut impl Write,
    project: &Project,
    module: &ModuleSpec,
    g: &Generated,
) -> anyhow::Result<()> {
    let show = |p: &Path| project.paths.display(p).into_owned();
    writeln!(out, "Wrote {}", show(&g.file))?;
    let mut table = Table::headless();
    table.row([
        "module".to_owned(),
        format!("{} {}", module.id, module.name),
    ]);
    table.row([
        "source".to_owned(),
        format!(
            "{} ({} rows)",
            show(&g.source),
            thousands(g.source_rows as u64)
        ),
    ]);
    let order = match g.seed {
        Some(seed) => format!("shuffled with seed {seed}"),
        None => "in file order".to_owned(),
    };
    let usable = g.source_rows - g.skipped_errors - g.skipped_duplicates;
    table.row([
        "rows".to_owned(),
        format!(
            "{} of {}, {order}",
            thousands(g.rows as u64),
            thousands(usable as u64)
        ),
    ]);
    if g.skipped_errors > 0 {
        table.row([
            "skipped".to_owned(),
            format!(
                "{} without a model answer (error column set)",
                plural(g.skipped_errors, "row", "rows")
            ),
        ]);
    }
    if g.skipped_duplicates > 0 {
        table.row([
            "skipped".to_owned(),
            format!(
                "{} repeating a record id",
                plural(g.skipped_duplicates, "row", "rows")
            ),
        ]);
    }
    table.row([
        "columns".to_owned(),
        format!(
            "{} (annotator A fills {})",
            g.columns.len(),
            g.annotator_a.join(", ")
        ),
    ]);
    table.row([
        String::new(),
        format!("   (annotator B fills {})", g.annotator_b.join(", ")),
    ]);
    write!(out, "{}", table.render(2))?;
    Ok(())
}

fn next_steps(out: &mut impl Write, files: &[&Path]) -> anyhow::Result<()> {
    writeln!(
        out,
        "\nNext: give the file to annotators A and B. Each fills only their own columns and saves\n\
         it as CSV (UTF-8 if asked). Then:"
    )?;
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        writeln!(out, "  calculate-agreement analyze {name}")?;
        writeln!(out, "  merge-annotations merge {name}")?;
    }
    Ok(())
}

#[derive(Serialize)]
struct BatchEntry {
    module: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    generated: Option<Generated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
        let options = options(sampling, None, output.output.clone());
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
        let mut out = std::io::stdout().lock();
        let mut table = Table::new(["", "module", "rows", "file"]).right(&[2]);
        for e in &entries {
            match (&e.generated, &e.error) {
                (Some(g), _) => table.row([
                    "✓".to_owned(),
                    e.module.clone(),
                    thousands(g.rows as u64),
                    project.paths.display(&g.file).into_owned(),
                ]),
                (None, error) => table.row([
                    "✗".to_owned(),
                    e.module.clone(),
                    "-".to_owned(),
                    error.clone().unwrap_or_default(),
                ]),
            }
        }
        write!(out, "{}", table.render(0))?;
        writeln!(
            out,
            "\n{} written, {failed} failed",
            plural(
                entries.len() - failed,
                "annotation file",
                "annotation files"
            )
        )?;
        let files: Vec<&Path> = entries
            .iter()
            .filter_map(|e| e.generated.as_ref().map(|g| g.file.as_path()))
            .collect();
        if !global.quiet && !files.is_empty() {
            next_steps(&mut out, &files)?;
        }
    }
    Ok(if failed == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

#[derive(Serialize)]
struct ModuleSources {
    module: String,
    name: String,
    result_csvs: usize,
    newest: Option<PathBuf>,
    rows: Option<usize>,
}

#[derive(Serialize)]
struct TaskFile {
    file: PathBuf,
    module: Option<String>,
    rows: Option<usize>,
    annotated_a: Option<usize>,
    annotated_b: Option<usize>,
    complete: Option<usize>,
    problem: Option<String>,
}

#[derive(Serialize)]
struct Listing {
    modules: Vec<ModuleSources>,
    annotation_files: Vec<TaskFile>,
}

/// Data rows of a CSV (any CSV; used for result files).
fn count_rows(path: &Path) -> Option<usize> {
    annotation::AnnotationReader::open(path)
        .ok()
        .map(|r| r.filter(Result::is_ok).count())
}

fn list(project: &Project, json: bool) -> anyhow::Result<ExitStatus> {
    let sources = result_csvs(&project.catalog, &project.paths)?;
    let modules: Vec<ModuleSources> = project
        .catalog
        .modules()
        .iter()
        .map(|m| {
            let files = sources.get(m.id.as_str());
            let newest = files.and_then(|f| f.first()).map(|f| f.path.clone());
            ModuleSources {
                module: m.id.to_string(),
                name: m.name.clone(),
                result_csvs: files.map_or(0, Vec::len),
                rows: newest.as_deref().and_then(count_rows),
                newest,
            }
        })
        .collect();
    let tasks: Vec<TaskFile> = files_in(&project.paths.annotation_tasks(), ".csv")?
        .into_iter()
        .map(|path| {
            let found = task_file(&project.catalog, &path);
            let (status, problem) = match found.status {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            };
            TaskFile {
                file: path,
                module: found.module,
                rows: status.map(|s| s.rows),
                annotated_a: status.map(|s| s.annotated_a),
                annotated_b: status.map(|s| s.annotated_b),
                complete: status.map(|s| s.complete),
                problem,
            }
        })
        .collect();
    if json {
        print_json(&Listing {
            modules,
            annotation_files: tasks,
        })?;
        return Ok(ExitStatus::Success);
    }
    let show = |p: &Path| project.paths.display(p).into_owned();
    let mut out = std::io::stdout().lock();
    let with: Vec<&ModuleSources> = modules.iter().filter(|m| m.newest.is_some()).collect();
    let without: Vec<&str> = modules
        .iter()
        .filter(|m| m.newest.is_none())
        .map(|m| m.module.as_str())
        .collect();
    writeln!(
        out,
        "Result CSVs in experiment_results/ ({} of {} modules have one):",
        with.len(),
        modules.len()
    )?;
    if with.is_empty() {
        writeln!(out, "  none yet (orchestrator run MODULE)")?;
    } else {
        let mut table =
            Table::new(["", "module", "rows", "newest result CSV", "files"]).right(&[2, 4]);
        for m in &with {
            table.row([
                "✓".to_owned(),
                m.module.clone(),
                m.rows
                    .map_or_else(|| "?".to_owned(), |n| thousands(n as u64)),
                m.newest.as_deref().map(show).unwrap_or_default(),
                m.result_csvs.to_string(),
            ]);
        }
        write!(out, "{}", table.render(2))?;
    }
    if !with.is_empty() && !without.is_empty() {
        writeln!(out, "  ○ no result CSV yet: {}", without.join(", "))?;
    }
    writeln!(out, "\nAnnotation files in annotation_tasks/:")?;
    if tasks.is_empty() {
        writeln!(
            out,
            "  none yet (generate-annotation-csv generate MODULE --sample 100)"
        )?;
    } else {
        let mut table =
            Table::new(["file", "module", "rows", "A done", "B done", "both"]).right(&[2, 3, 4, 5]);
        for t in &tasks {
            let n = |v: Option<usize>| v.map_or_else(|| "-".to_owned(), |n| thousands(n as u64));
            let mut cells = vec![
                t.file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                t.module.clone().unwrap_or_else(|| "?".to_owned()),
                n(t.rows),
                n(t.annotated_a),
                n(t.annotated_b),
                n(t.complete),
            ];
            if let Some(problem) = &t.problem {
                cells.push(format!("({problem})"));
            }
            table.row(cells);
        }
        write!(out, "{}", table.render(2))?;
    }
    Ok(ExitStatus::Success)
}
