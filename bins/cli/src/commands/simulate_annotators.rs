//! `simulate-annotators`: a development stand-in for the two human annotators.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use annotation::files::find_file;
use annotation::text::render_simulated;
use annotation::{GoldFrom, SimulateOptions, simulate};
use clap::Parser;

use crate::common::{ExitStatus, GlobalArgs, print_json, run_cli};

/// DEVELOPMENT AID, NOT PEOPLE: fill both annotators' columns of an annotation CSV with
/// labels copied from the module's dataset, a seeded share of them deliberately changed.
///
/// It exists so the agreement, merge and gold steps can be demonstrated (make demo) and tested
/// without two people. Each row's label is looked up by record_id in the dataset (--gold-from);
/// annotator A changes exactly round(--flip-a × rows) of them to another label of the field,
/// annotator B round(--flip-b × rows), chosen with --seed. Reasoning columns get a short note
/// saying what was done. The file is rewritten in place, atomically, in the same
/// spreadsheet-safe format (a .xlsx workbook stays a workbook, dropdowns and guide included).
///
/// On a judge validation sheet (generate-annotation-csv generate MODULE --judge), the true
/// verdict of a row is whether the judged answer matches the record's expected answer, and A
/// and B each get their share of verdicts wrong.
///
/// Its labels are the dataset's own, not a human judgement: agreement measured on a simulated
/// file says nothing about whether the model's labels can be trusted.
#[derive(Debug, Parser)]
#[command(name = "simulate-annotators", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    /// The annotation CSV or .xlsx workbook to fill (a bare name is also looked up in
    /// annotation_tasks/).
    file: PathBuf,
    /// Where the true labels come from: `auto` for the module's dataset in modules.toml, or a
    /// dataset JSONL file.
    #[arg(long, value_name = "DATASET|auto", default_value = "auto")]
    gold_from: String,
    /// Share of rows annotator A gets wrong (0 to 1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.08)]
    flip_a: f64,
    /// Share of rows annotator B gets wrong (0 to 1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.10)]
    flip_b: f64,
    /// Seed of the choice of rows and of the wrong labels.
    #[arg(long, value_name = "S", default_value_t = 7)]
    seed: u64,
    /// The module, when the file name does not start with its id.
    #[arg(long, value_name = "MODULE")]
    module: Option<String>,
    /// Replace annotator cells that are already filled (refused otherwise, to protect real
    /// annotations).
    #[arg(long)]
    overwrite: bool,
    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
}

/// Entry point of the `simulate-annotators` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    let file = find_file(&project.paths, &cli.file, &project.paths.annotation_tasks())?;
    if judge::validate::sheet_meta(&file).is_some() {
        // A judge validation sheet: the true verdict is whether the answer matches the
        // expected one, each annotator missing a seeded share of them.
        let report = judge::validate::simulate_sheet(
            &file,
            cli.flip_a,
            cli.flip_b,
            cli.seed,
            cli.overwrite,
        )?;
        if cli.json {
            print_json(&report)?;
        } else {
            let text = judge::text::simulated(&report, &project.paths.display(&file));
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
        return Ok(ExitStatus::Success);
    }
    let module = annotation::generate::module_of(&project.catalog, &file, cli.module.as_deref())?;
    let gold_from = if cli.gold_from.eq_ignore_ascii_case("auto") {
        GoldFrom::Auto
    } else {
        GoldFrom::Dataset(PathBuf::from(&cli.gold_from))
    };
    let options = SimulateOptions {
        gold_from,
        flip_a: cli.flip_a,
        flip_b: cli.flip_b,
        seed: cli.seed,
        overwrite: cli.overwrite,
    };
    let report = simulate(&project.catalog, module, &file, &options)?;
    if cli.json {
        print_json(&report)?;
        return Ok(ExitStatus::Success);
    }
    let text = render_simulated(&project.paths, &report, &options, !cli.global.quiet);
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitStatus::Success)
}
