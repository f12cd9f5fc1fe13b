//! `import-data`: datasets from spreadsheets and earlier runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use core_config::ModuleSpec;
use dataset::{ColumnMap, Shape, Written};
use registry::{OpenedRun, Overview, RegistryFile};
use serde::Serialize;

use crate::common::{ExitStatus, GlobalArgs, Project, print_json, run_cli};

/// Turn spreadsheets and earlier runs into datasets a module can run on.
///
/// Every dataset is written in the module's shape {id, input, expected, metadata}, checked as
/// `orchestrator validate` checks datasets, and written atomically; an existing file is never
/// replaced without --force. Bad input (a missing column, an unknown label, a duplicate id, a
/// file that is not UTF-8, an empty sheet) stops with the file, line or row, column and value,
/// exit code 2, and nothing written.
#[derive(Debug, Parser)]
#[command(name = "import-data", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A table (CSV or TSV in any delimiter, XLSX, ODS) becomes a module's dataset.
    ///
    /// Without --map, columns named like the module's input keys (its prompt's placeholders)
    /// feed them, a column named like its expected field fills it, an `id` column gives ids
    /// (else they are built as M12_{ASIN}__{keyword} from an `asin` column), and the other
    /// columns go to metadata. A map file says it explicitly:
    ///
    ///     id = "Record ID"
    ///     [input]
    ///     keyword = "Search Term"
    ///     [expected]
    ///     relevancy = "Label"
    ///     [metadata]
    ///     asin = "ASIN"
    ///
    /// Cells holding a JSON array or object stay JSON where the module takes structured data
    /// (taxonomy, attribute tables, lists; a list may also be written `a; b; c`). Expected
    /// labels are read with the module's label rules (aliases such as `own brand` for OB).
    #[command(verbatim_doc_comment)]
    Table {
        /// The table to import.
        file: PathBuf,
        /// The module the dataset is for (m12, 12, M12).
        #[arg(short, long, value_name = "MODULE")]
        module: String,
        /// Which column feeds which key (TOML).
        #[arg(long, value_name = "MAP.toml")]
        map: Option<PathBuf>,
        /// The sheet of a workbook to read (default: the first).
        #[arg(long, value_name = "NAME")]
        sheet: Option<String>,
        /// The delimiter of a text table (default: the one its header line uses most of , ; tab |).
        #[arg(long, value_name = "CHAR")]
        delimiter: Option<char>,
        /// Where to write (default: datasets/imported/{module}_{file stem}.jsonl).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A Keepa product export becomes synthetic dataset groups, one per product type.
    ///
    /// As the earlier tool's generate_sd_datasets.py: groups sd01, sd02, … (product types in
    /// order), at most --per-type products each, one file per product module whose prompt the
    /// export feeds (datasets/synthetic/{id}_sd{NN}_{slug}.jsonl: M01, M01a, M01b, M06, M07;
    /// M08 takes M06/M07 answers and is skipped), and datasets/synthetic/sd_datasets_summary.json.
    /// Columns: Type, ASIN, Title, "Description & Features: Description", "Description &
    /// Features: Feature 1..10", Brand, Manufacturer, "Categories: Root", "Categories: Sub",
    /// Color, Size, Material, Style, Model, "Item Form", "Target Audience", "Specific Uses",
    /// "Number of Items", "Included Components". Expected answers are what the export states
    /// (metadata.label_source = "keepa-catalogue"), not reviewed labels.
    Keepa {
        /// The Keepa export (CSV, or XLSX with --sheet).
        file: PathBuf,
        /// The sheet of a workbook to read (default: the first).
        #[arg(long, value_name = "NAME")]
        sheet: Option<String>,
        /// At most N products per product type.
        #[arg(long, value_name = "N", default_value_t = 20)]
        per_type: usize,
        /// Replace files that exist.
        #[arg(long)]
        force: bool,
        /// Print the summary JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The next module's dataset, its inputs filled from a finished run's answers.
    ///
    /// Each record of the next module's dataset (or --base) whose product the run answered gets
    /// the inputs the answer holds: M01's brand_entities feed M02; M06–M08's taxonomy and
    /// attributes feed M09/M10. Records keep their expected answers; `metadata.chained_from`
    /// names the run.
    Chain {
        /// The finished run: a local id (or unique prefix) or a results CSV.
        #[arg(long, value_name = "RUN")]
        from: String,
        /// The module the dataset is for.
        #[arg(short, long, value_name = "MODULE")]
        module: String,
        /// The records to fill (default: the module's own dataset).
        #[arg(long, value_name = "FILE")]
        base: Option<PathBuf>,
        /// Where to write (default: datasets/chained/{module}_from_{run}.jsonl).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A silver dataset: a run's answers taken as the expected ones, for unlabelled sets.
    ///
    /// Records are marked metadata.label_source = "silver:{run}"; runs on it are registered as
    /// silver, and every report that scores them says so.
    Silver {
        /// The run: a local id (or unique prefix) or a results CSV.
        run: String,
        /// Where to write (default: datasets/silver/{module}_silver_{run}.jsonl).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Entry point of the `import-data` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

#[derive(Serialize)]
struct Report<'a> {
    module: &'a str,
    kind: &'a str,
    path: String,
    records: usize,
    skipped: usize,
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    match cli.command {
        Command::Table {
            file,
            module,
            map,
            sheet,
            delimiter,
            out,
            force,
            json,
        } => {
            let module = project.catalog.resolve(&module)?;
            let delimiter = delimiter
                .map(|c| u8::try_from(c).ok().filter(u8::is_ascii))
                .map(|d| d.context("--delimiter: one ASCII character, please"))
                .transpose()?;
            let table = dataset::read_table(&file, sheet.as_deref(), delimiter)?;
            let map = map.as_deref().map(ColumnMap::load).transpose()?;
            let version = &project.catalog.defaults().prompt_version;
            let shape = Shape::of(&project.catalog, module, version)?;
            let records = dataset::import_table(&table, &shape, map.as_ref())?;
            let stem = file
                .file_stem()
                .map_or_else(|| "table".to_owned(), |s| s.to_string_lossy().into_owned());
            let default = format!("datasets/imported/{}_{stem}.jsonl", module.id);
            let out = output(&project, out, &default);
            let written = dataset::write_dataset(&project.catalog, module, &records, &out, force)?;
            report(&project, module, "imported", &written, None, json)
        }
        Command::Keepa {
            file,
            sheet,
            per_type,
            force,
            json,
        } => {
            let table = dataset::read_table(&file, sheet.as_deref(), None)?;
            let synthetic = dataset::keepa::build(&project.catalog, &table, per_type.max(1))?;
            let written = dataset::keepa::write(&project.catalog, &synthetic, force)?;
            if json {
                print_json(&synthetic)?;
            } else {
                let text = dataset::text::keepa(&synthetic, per_type.max(1), written.len());
                std::io::stdout().lock().write_all(text.as_bytes())?;
            }
            Ok(ExitStatus::Success)
        }
        Command::Chain {
            from,
            module,
            base,
            out,
            force,
            json,
        } => {
            let next = project.catalog.resolve(&module)?;
            let run = open(&project, &from)?;
            let base_path = base.unwrap_or_else(|| project.catalog.dataset_path(next));
            let base = core_config::read_records(&base_path)?;
            let built = dataset::chain(&run, next, &base)?;
            let default = format!(
                "datasets/chained/{}_from_{}.jsonl",
                next.id,
                file_safe(run.name())
            );
            let out = output(&project, out, &default);
            let written =
                dataset::write_dataset(&project.catalog, next, &built.records, &out, force)?;
            let why = "records of products the run did not answer";
            report(
                &project,
                next,
                "chained",
                &written,
                Some((built.skipped, why)),
                json,
            )
        }
        Command::Silver {
            run,
            out,
            force,
            json,
        } => {
            let run = open(&project, &run)?;
            let module = project.catalog.resolve(&run.module)?;
            let built = dataset::silver(&run, module)?;
            let default = format!(
                "datasets/silver/{}_silver_{}.jsonl",
                module.id,
                file_safe(run.name())
            );
            let out = output(&project, out, &default);
            let written =
                dataset::write_dataset(&project.catalog, module, &built.records, &out, force)?;
            let why = "rows without a usable answer";
            report(
                &project,
                module,
                "silver",
                &written,
                Some((built.skipped, why)),
                json,
            )
        }
    }
}

/// `--out` as given (relative to the current directory), or the default under the root.
fn output(project: &Project, out: Option<PathBuf>, default: &str) -> PathBuf {
    out.unwrap_or_else(|| project.paths.root.join(default))
}

/// A run id or CSV file name as part of a file name.
fn file_safe(name: &str) -> String {
    let base = Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_owned(), |s| s.to_string_lossy().into_owned());
    base.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn open(project: &Project, run: &str) -> anyhow::Result<OpenedRun> {
    let file = RegistryFile::in_project(project.paths.root.clone());
    let mut load =
        || -> registry::Result<&'static Overview> { Ok(Box::leak(Box::new(file.overview()?))) };
    dataset::Error::from_run(
        run,
        registry::open_run(&file, &project.catalog, run, &mut load),
    )
    .map_err(Into::into)
}

fn report(
    project: &Project,
    module: &ModuleSpec,
    kind: &str,
    written: &Written,
    skipped: Option<(usize, &str)>,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let shown = project.paths.display(&written.path).into_owned();
    if json {
        print_json(&Report {
            module: module.id.as_str(),
            kind,
            path: shown,
            records: written.records,
            skipped: skipped.map_or(0, |(n, _)| n),
        })?;
    } else {
        let text = dataset::text::written(module.id.as_str(), kind, written, &shown, skipped);
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(ExitStatus::Success)
}
