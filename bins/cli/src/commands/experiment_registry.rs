//! `experiment-registry`: list, inspect, clean up, repair and compare the runs recorded in
//! `experiment_results/.registry.json`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand};
use core_config::ModuleSpec;
use registry::compare::{CompareOptions, Comparison};
use registry::repair::RepairOptions;
use registry::{
    Entry, Filter, OpenedRun, Overview, Registry, RegistryFile, Status, Summary, open_run, text,
};
use serde::Serialize;

use crate::common::{ExitStatus, GlobalArgs, Project, print_json, run_cli};

/// Keep track of experiment runs: what ran, with which prompt and model, how well it did,
/// and whether it is on Braintrust yet.
///
/// The registry is experiment_results/.registry.json. The orchestrator adds a run when it
/// finishes and sync-braintrust marks runs uploaded or failed; this program reads it, tidies
/// it and compares runs.
#[derive(Debug, Parser)]
#[command(name = "experiment-registry", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List runs, newest first.
    ///
    /// Marks: ✓ uploaded to Braintrust, ○ local only, ✗ upload failed, ? other status.
    List {
        /// Only this module's runs (m12, 12, M12, or the module name).
        #[arg(short, long, value_name = "MODULE")]
        module: Option<String>,
        /// Only runs with this status: local_only, uploaded, failed (or any status found in
        /// the file).
        #[arg(short, long, value_name = "STATUS")]
        status: Option<String>,
        /// Only runs on this dataset: a kind (golden, gold, synthetic, silver, imported,
        /// chained), a dataset path or file name, a SHA-256 prefix (8+ hex digits), or
        /// `unrecorded` for runs registered before runs recorded their dataset.
        #[arg(short, long, value_name = "DATASET")]
        dataset: Option<String>,
        /// Show at most N runs; 0 shows all.
        #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Runs waiting to be uploaded to Braintrust (status local_only), and failed uploads with
    /// their reason.
    Pending {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Counts per status, and per module and dataset each one's newest and best run.
    ///
    /// Accuracies measured on different datasets are never compared: a module run on the
    /// golden set and on a gold file has one row for each.
    Stats {
        /// Only runs on this dataset: a kind (golden, gold, synthetic, silver, imported,
        /// chained), a dataset path or file name, a SHA-256 prefix (8+ hex digits), or
        /// `unrecorded` for runs registered before runs recorded their dataset.
        #[arg(short, long, value_name = "DATASET")]
        dataset: Option<String>,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Everything recorded about one run.
    Show {
        /// The run's local id (a unique prefix is enough).
        id: String,
        /// Print the entry as stored, in JSON.
        #[arg(long)]
        json: bool,
    },
    /// Drop the entries whose results CSV no longer exists, and say which.
    Cleanup {
        /// Say what would be dropped, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the registry: back up the current file, keep every entry that can still be
    /// read, and register the results CSVs under experiment_results/*/ that no entry points
    /// to.
    ///
    /// Use it when the registry is damaged (other commands then refuse to touch it) or when
    /// CSVs were made without being registered. Rebuilt entries get status local_only.
    Repair {
        /// Say what would be done, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Did the change help? Compare two runs of the same module row by row.
    ///
    /// Rows are paired by record id; rows that errored in either run are left out and
    /// counted. Reports each run's accuracy, the difference with a 95% paired-bootstrap
    /// confidence interval, McNemar's exact test, the rows that flipped and the accuracy per
    /// expected label. A and B are local ids (or unique prefixes) or paths to results CSVs.
    Compare {
        /// The baseline run.
        a: String,
        /// The run to compare with it.
        b: String,
        /// Bootstrap resamples.
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        resamples: usize,
        /// Bootstrap seed (the same seed gives the same interval everywhere).
        #[arg(long, value_name = "N", default_value_t = 42)]
        seed: u64,
        /// Show at most N flipped rows of each kind; 0 shows all (JSON always has all).
        #[arg(long, value_name = "N", default_value_t = 20)]
        flips: usize,
        /// Both runs must be on this dataset (kind, path, file name or SHA-256 prefix).
        #[arg(short, long, value_name = "DATASET")]
        dataset: Option<String>,
        /// Compare runs on different datasets anyway (their accuracies are not comparable).
        #[arg(long)]
        force: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Entry point of the `experiment-registry` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    let quiet = cli.global.quiet;
    let file = RegistryFile::in_project(project.paths.root.clone());
    match cli.command {
        Command::List {
            module,
            status,
            dataset,
            limit,
            json,
        } => list(
            &project,
            &file,
            (module.as_deref(), status.as_deref(), dataset),
            limit,
            json,
            quiet,
        ),
        Command::Pending { json } => pending(&file, json, quiet),
        Command::Stats { dataset, json } => stats(&project, &file, dataset, json),
        Command::Show { id, json } => show(&project, &file, &id, json),
        Command::Cleanup { dry_run, json } => cleanup(&project, &file, dry_run, json),
        Command::Repair { dry_run, json } => repair(&project, &file, dry_run, json),
        Command::Compare {
            a,
            b,
            resamples,
            seed,
            flips,
            dataset,
            force,
            json,
        } => {
            let options = CompareOptions {
                resamples,
                seed,
                ..CompareOptions::default()
            };
            let shown = CompareShown {
                flips,
                json,
                dataset,
                force,
            };
            compare(&project, &file, (&a, &b), &options, &shown)
        }
    }
}

fn warn(warnings: &[String]) {
    let mut err = std::io::stderr().lock();
    for warning in warnings {
        let _ = writeln!(err, "warning: {warning}");
    }
}

/// The whole registry (for commands that change it).
fn load(file: &RegistryFile) -> anyhow::Result<Registry> {
    let registry = file.load()?;
    warn(registry.warnings());
    Ok(registry)
}

/// The fast read-only view (for commands that only look). It lives until the process ends:
/// freeing a view of 100,000 runs one string at a time would add a noticeable pause to every
/// command, just before exiting anyway.
fn overview(file: &RegistryFile) -> registry::Result<&'static Overview> {
    let overview = file.overview()?;
    warn(overview.warnings());
    Ok(Box::leak(Box::new(overview)))
}

/// Prints a rendered report on stdout.
fn out(text: &str) -> anyhow::Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn resolve_module<'a>(project: &'a Project, text: &str) -> anyhow::Result<&'a ModuleSpec> {
    Ok(project.catalog.resolve(text)?)
}

#[derive(Serialize)]
struct ListJson {
    total: usize,
    shown: usize,
    experiments: Vec<Entry>,
}

fn list(
    project: &Project,
    file: &RegistryFile,
    (module, status, dataset): (Option<&str>, Option<&str>, Option<String>),
    limit: usize,
    json: bool,
    quiet: bool,
) -> anyhow::Result<ExitStatus> {
    let module = module.map(|m| resolve_module(project, m)).transpose()?;
    let filter = Filter {
        module: module.map(|m| m.id.clone()),
        status: status.map(Status::parse),
        dataset,
    };
    let registry = overview(file)?;
    let matched = registry.list(&filter);
    let total = matched.len();
    let shown: Vec<&Summary> = if limit == 0 {
        matched
    } else {
        matched.into_iter().take(limit).collect()
    };
    if json {
        let ids: Vec<&str> = shown.iter().map(|s| s.local_id.as_str()).collect();
        print_json(&ListJson {
            total,
            shown: shown.len(),
            experiments: registry.entries(&ids)?,
        })?;
        return Ok(ExitStatus::Success);
    }
    let text = text::list(
        &text::Listing {
            shown: &shown,
            total,
            registered: registry.len(),
            filter: &filter,
            registry_path: &project.paths.display(file.path()),
        },
        !quiet,
    );
    out(&text)?;
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct PendingJson {
    pending: Vec<Entry>,
    failed: Vec<Entry>,
}

fn ids<'a>(runs: &[&'a Summary]) -> Vec<&'a str> {
    runs.iter().map(|s| s.local_id.as_str()).collect()
}

fn pending(file: &RegistryFile, json: bool, quiet: bool) -> anyhow::Result<ExitStatus> {
    let registry = overview(file)?;
    let pending = registry.pending();
    // Failed runs are few, and their reason is only in the full entry.
    let failed = registry.entries(&ids(&registry.list(&Filter::status(Status::Failed))))?;
    if json {
        print_json(&PendingJson {
            pending: registry.entries(&ids(&pending))?,
            failed,
        })?;
        return Ok(ExitStatus::Success);
    }
    out(&text::pending(&pending, &failed, !quiet))?;
    Ok(ExitStatus::Success)
}

fn stats(
    project: &Project,
    file: &RegistryFile,
    dataset: Option<String>,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let registry = overview(file)?;
    let stats = registry.stats_filtered(&Filter {
        dataset,
        ..Filter::default()
    });
    if json {
        print_json(&stats)?;
        return Ok(ExitStatus::Success);
    }
    out(&text::stats(&stats, &project.paths.display(file.path())))?;
    Ok(ExitStatus::Success)
}

fn show(
    project: &Project,
    file: &RegistryFile,
    id: &str,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let registry = overview(file)?;
    let id = registry.find(id)?.local_id.clone();
    let entry = &registry.entries(&[&id])?[0];
    if json {
        print_json(entry)?;
        return Ok(ExitStatus::Success);
    }
    let module = entry.module().and_then(|m| project.catalog.get(&m));
    out(&text::show(entry, module, file, &project.paths))?;
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct CleanupJson<'a> {
    dry_run: bool,
    removed: &'a [Entry],
    remaining: usize,
}

fn cleanup(
    project: &Project,
    file: &RegistryFile,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let root = file.root().to_owned();
    let (removed, remaining) = if dry_run {
        let mut registry = load(file)?;
        let removed = registry.remove_missing_csvs(&root);
        (removed, registry.len())
    } else {
        file.update(|registry| {
            let removed = registry.remove_missing_csvs(&root);
            Ok::<_, registry::Error>((removed, registry.len()))
        })?
    };
    if json {
        print_json(&CleanupJson {
            dry_run,
            removed: &removed,
            remaining,
        })?;
        return Ok(ExitStatus::Success);
    }
    out(&text::cleanup(
        &removed,
        remaining,
        dry_run,
        file,
        &project.paths,
    ))?;
    Ok(ExitStatus::Success)
}

fn repair(
    project: &Project,
    file: &RegistryFile,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let report = registry::repair::repair(file, RepairOptions { dry_run }, &mut ())?;
    if json {
        print_json(&report)?;
        return Ok(ExitStatus::Success);
    }
    out(&text::repair(&report, file, &project.paths))?;
    Ok(ExitStatus::Success)
}

// ------------------------------------------------------------------------------------------
// compare

#[derive(Serialize)]
struct CompareJson<'a> {
    module: &'a str,
    field: &'a str,
    a: &'a OpenedRun,
    b: &'a OpenedRun,
    result: &'a Comparison,
}

/// How `compare` shows its result, and which datasets it accepts.
struct CompareShown {
    flips: usize,
    json: bool,
    dataset: Option<String>,
    force: bool,
}

fn compare(
    project: &Project,
    file: &RegistryFile,
    (a, b): (&str, &str),
    options: &CompareOptions,
    shown: &CompareShown,
) -> anyhow::Result<ExitStatus> {
    let (flips, json) = (shown.flips, shown.json);
    let mut loaded = None;
    let mut load = || -> registry::Result<&'static Overview> {
        if loaded.is_none() {
            loaded = Some(overview(file)?);
        }
        Ok(loaded.expect("loaded just above"))
    };
    let run_a = open_run(file, &project.catalog, a, &mut load)?;
    let run_b = open_run(file, &project.catalog, b, &mut load)?;
    if run_a.module != run_b.module {
        bail!(
            "A is a run of {} and B a run of {}: compare needs two runs of the same module",
            text::dash(&run_a.module),
            text::dash(&run_b.module)
        );
    }
    check_datasets(&run_a, &run_b, shown)?;
    let module = resolve_module(project, &run_a.module)?;
    let field = module.primary_score();
    let result = registry::compare::compare(&run_a.rows, &run_b.rows, field, options);
    if json {
        print_json(&CompareJson {
            module: module.id.as_str(),
            field: &field.name,
            a: &run_a,
            b: &run_b,
            result: &result,
        })?;
        return Ok(ExitStatus::Success);
    }
    out(&text::compare(module, &run_a, &run_b, &result, flips))?;
    Ok(ExitStatus::Success)
}

/// Accuracies on different datasets are not comparable: refused unless `--force`; with
/// `--dataset`, both runs must be on that one.
fn check_datasets(a: &OpenedRun, b: &OpenedRun, shown: &CompareShown) -> anyhow::Result<()> {
    if let Some(wanted) = &shown.dataset {
        for (side, run) in [("A", a), ("B", b)] {
            if !registry::dataset::dataset_matches(run.dataset.as_ref(), wanted) {
                bail!(
                    "{side} ({}) ran on {}, not on the dataset `{}` asked for",
                    run.name(),
                    text::dataset_name(run.dataset.as_ref()),
                    present::terminal_safe(wanted)
                );
            }
        }
    }
    let (Some(da), Some(db)) = (&a.dataset, &b.dataset) else {
        return Ok(());
    };
    if (&da.path, &da.sha256) != (&db.path, &db.sha256) && !shown.force {
        bail!(
            "A ran on {} and B on {}: their accuracies are not comparable (--force compares them anyway)",
            text::dataset_name(Some(da)),
            text::dataset_name(Some(db))
        );
    }
    Ok(())
}
