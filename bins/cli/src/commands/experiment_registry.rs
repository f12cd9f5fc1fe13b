//! `experiment-registry`: list, inspect, clean up, repair and compare the runs recorded in
//! `experiment_results/.registry.json`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Parser, Subcommand};
use core_config::ModuleSpec;
use registry::compare::{CompareOptions, Comparison, Flip};
use registry::repair::{RepairOptions, RepairReport};
use registry::{
    Entry, Filter, OpenedRun, Overview, Registry, RegistryFile, Status, Summary, open_run,
};
use serde::Serialize;
use serde_json::Value;

use crate::common::{
    ExitStatus, GlobalArgs, Project, Table, percent, percent_of, plural, print_json, run_cli,
    short_time, status_mark, thousands,
};

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
    /// Counts per status and per module, with each module's newest and best run.
    Stats {
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
            limit,
            json,
        } => list(
            &project,
            &file,
            (module.as_deref(), status.as_deref()),
            limit,
            json,
            quiet,
        ),
        Command::Pending { json } => pending(&file, json, quiet),
        Command::Stats { json } => stats(&project, &file, json),
        Command::Show { id, json } => show(&project, &file, &id, json),
        Command::Cleanup { dry_run, json } => cleanup(&project, &file, dry_run, json),
        Command::Repair { dry_run, json } => repair(&project, &file, dry_run, json),
        Command::Compare {
            a,
            b,
            resamples,
            seed,
            flips,
            json,
        } => {
            let options = CompareOptions {
                resamples,
                seed,
                ..CompareOptions::default()
            };
            compare(&project, &file, &a, &b, &options, flips, json)
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

fn dash(text: &str) -> String {
    if text.trim().is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

fn runs_table(entries: &[&Summary]) -> Table {
    let mut table = Table::new([
        "", "id", "module", "created", "model", "prompt", "samples", "accuracy", "status",
    ])
    .right(&[6, 7]);
    for e in entries {
        table.row([
            status_mark(&e.status).to_owned(),
            e.local_id.clone(),
            dash(&e.module_id),
            short_time(&e.created_at),
            dash(&e.model),
            dash(&e.prompt_version),
            thousands(e.samples),
            percent(e.accuracy),
            e.status.to_string(),
        ]);
    }
    table
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
    (module, status): (Option<&str>, Option<&str>),
    limit: usize,
    json: bool,
    quiet: bool,
) -> anyhow::Result<ExitStatus> {
    let module = module.map(|m| resolve_module(project, m)).transpose()?;
    let filter = Filter {
        module: module.map(|m| m.id.clone()),
        status: status.map(Status::parse),
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
    let mut out = std::io::stdout().lock();
    if shown.is_empty() {
        if registry.is_empty() {
            writeln!(
                out,
                "No runs registered yet in {} (the orchestrator adds one per run).",
                project.paths.display(file.path())
            )?;
        } else {
            let mut what = Vec::new();
            if let Some(m) = module {
                what.push(format!("module {}", m.id));
            }
            if let Some(s) = &filter.status {
                what.push(format!("status {s}"));
            }
            writeln!(
                out,
                "No runs match {} ({} in the registry).",
                what.join(", "),
                plural(registry.len(), "run", "runs")
            )?;
            if let Some(Status::Other(s)) = &filter.status
                && !quiet
            {
                writeln!(
                    out,
                    "hint: the statuses are local_only, uploaded and failed; `{s}` is not one of them"
                )?;
            }
        }
        return Ok(ExitStatus::Success);
    }
    write!(out, "{}", runs_table(&shown).render(0))?;
    if shown.len() < total {
        writeln!(
            out,
            "\nShowing {} of {}{}.",
            thousands(shown.len() as u64),
            plural(total, "run", "runs"),
            if quiet { "" } else { " (--limit 0 shows all)" }
        )?;
    } else {
        writeln!(out, "\n{}.", plural(total, "run", "runs"))?;
    }
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
    let mut out = std::io::stdout().lock();
    if pending.is_empty() {
        writeln!(out, "Nothing waiting to be uploaded.")?;
    } else {
        writeln!(out, "Pending upload ({}):", thousands(pending.len() as u64))?;
        let mut table = Table::headless().right(&[3]);
        for e in &pending {
            table.row([
                e.local_id.clone(),
                dash(&e.module_id),
                short_time(&e.created_at),
                percent(e.accuracy),
            ]);
        }
        write!(out, "{}", table.render(2))?;
    }
    if !failed.is_empty() {
        writeln!(
            out,
            "\nFailed uploads ({}):",
            thousands(failed.len() as u64)
        )?;
        let mut table = Table::headless();
        for e in &failed {
            table.row([e.local_id.clone(), dash(&e.module_id), dash(&e.notes)]);
        }
        write!(out, "{}", table.render(2))?;
    }
    if !quiet && (!pending.is_empty() || !failed.is_empty()) {
        writeln!(out, "\nUpload them with `sync-braintrust sync`.")?;
    }
    Ok(ExitStatus::Success)
}

fn stats(project: &Project, file: &RegistryFile, json: bool) -> anyhow::Result<ExitStatus> {
    let registry = overview(file)?;
    let stats = registry.stats();
    if json {
        print_json(&stats)?;
        return Ok(ExitStatus::Success);
    }
    let mut out = std::io::stdout().lock();
    if stats.total == 0 {
        writeln!(
            out,
            "No runs registered yet in {}.",
            project.paths.display(file.path())
        )?;
        return Ok(ExitStatus::Success);
    }
    // The statuses this toolkit sets first, in the order a run goes through them.
    let known = ["local_only", "uploaded", "failed"];
    let statuses: Vec<String> = known
        .iter()
        .filter_map(|s| stats.by_status.get(*s).map(|n| (*s, *n)))
        .chain(
            stats
                .by_status
                .iter()
                .filter(|(s, _)| !known.contains(&s.as_str()))
                .map(|(s, n)| (s.as_str(), *n)),
        )
        .map(|(s, n)| format!("{} {s}", thousands(n as u64)))
        .collect();
    writeln!(
        out,
        "{} in {} ({})\n",
        plural(stats.total, "run", "runs"),
        plural(stats.modules.len(), "module", "modules"),
        statuses.join(", ")
    )?;
    let mut table = Table::new([
        "module",
        "runs",
        "local",
        "uploaded",
        "failed",
        "latest",
        "latest acc",
        "best acc",
        "best run",
    ])
    .right(&[1, 2, 3, 4, 6, 7]);
    for m in &stats.modules {
        table.row([
            m.module.clone(),
            thousands(m.runs as u64),
            thousands(m.local_only as u64),
            thousands(m.uploaded as u64),
            thousands(m.failed as u64),
            short_time(&m.latest_at),
            percent(m.latest_accuracy),
            percent(m.best_accuracy),
            m.best_id.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    write!(out, "{}", table.render(0))?;
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
    let csv = file.resolve_csv(entry);
    let csv_note = match &csv {
        None => "-".to_owned(),
        Some(path) if path.exists() => project.paths.display(path).into_owned(),
        Some(path) => format!("{} (missing)", project.paths.display(path)),
    };
    let module = match entry.module().and_then(|m| project.catalog.get(&m)) {
        Some(spec) => format!("{} ({})", spec.id, spec.name),
        None => dash(&entry.module_id),
    };
    let prompt = match &entry.prompt_hash {
        Some(hash) => format!("{} (hash {hash})", dash(&entry.prompt_version)),
        None => dash(&entry.prompt_version),
    };
    let mut table = Table::headless();
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), dash);
    for (key, value) in [
        ("module", module),
        ("status", entry.status.to_string()),
        ("created", dash(&entry.created_at)),
        ("csv", csv_note),
        ("model", dash(&entry.model)),
        ("prompt", prompt),
        ("dataset", dash(&entry.dataset_version)),
        ("samples", thousands(entry.samples)),
        ("accuracy", percent(entry.accuracy)),
        ("braintrust id", opt(&entry.braintrust_id)),
        ("braintrust url", opt(&entry.braintrust_url)),
        ("uploaded", opt(&entry.uploaded_at)),
        ("notes", dash(&entry.notes)),
    ] {
        table.row([key.to_owned(), value]);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", entry.local_id)?;
    write!(out, "{}", table.render(2))?;
    if let Some(metrics) = entry.metrics.as_object().filter(|m| !m.is_empty()) {
        writeln!(out, "\n  metrics")?;
        let mut table = Table::headless();
        for (key, value) in metrics {
            table.row([key.clone(), compact(value)]);
        }
        write!(out, "{}", table.render(4))?;
    }
    if !entry.extra.is_empty() {
        writeln!(out, "\n  other fields")?;
        let mut table = Table::headless();
        for (key, value) in &entry.extra {
            table.row([key.clone(), compact(value)]);
        }
        write!(out, "{}", table.render(4))?;
    }
    Ok(ExitStatus::Success)
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
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
    let mut out = std::io::stdout().lock();
    if removed.is_empty() {
        writeln!(
            out,
            "No cleanup needed: every CSV of the {} is there.",
            plural(remaining, "run", "runs")
        )?;
        return Ok(ExitStatus::Success);
    }
    writeln!(
        out,
        "{} {} whose CSV no longer exists:",
        if dry_run { "Would remove" } else { "Removed" },
        plural(removed.len(), "entry", "entries")
    )?;
    let mut table = Table::headless();
    for e in &removed {
        let csv = file.resolve_csv(e).map_or_else(
            || "-".to_owned(),
            |p| project.paths.display(&p).into_owned(),
        );
        table.row([e.local_id.clone(), dash(&e.module_id), csv]);
    }
    write!(out, "{}", table.render(2))?;
    writeln!(
        out,
        "\n{} {}.{}",
        plural(remaining, "run", "runs"),
        if dry_run { "would remain" } else { "remain" },
        if dry_run {
            " Nothing was changed (--dry-run)."
        } else {
            ""
        }
    )?;
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
    render_repair(project, file, &report)?;
    Ok(ExitStatus::Success)
}

fn render_repair(
    project: &Project,
    file: &RegistryFile,
    report: &RepairReport,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let shown = |p: &Path| project.paths.display(p).into_owned();
    if let Some(damage) = &report.damage {
        writeln!(out, "The registry did not load: {damage}")?;
    }
    if let Some(backup) = &report.backup {
        writeln!(out, "Backed up {} to {}", shown(file.path()), shown(backup))?;
    }
    if report.damage.is_some() {
        writeln!(
            out,
            "Salvaged {} from the damaged file.",
            plural(report.kept, "entry", "entries")
        )?;
        if !report.lost.is_empty() {
            writeln!(
                out,
                "Could not read {}:",
                plural(report.lost.len(), "entry", "entries")
            )?;
            for lost in &report.lost {
                writeln!(out, "  {lost}")?;
            }
        }
        for r in &report.renamed {
            writeln!(
                out,
                "Two entries had the id `{}`: the later one is now `{}`.",
                r.from, r.to
            )?;
        }
    } else {
        writeln!(
            out,
            "The registry is sound ({}).",
            plural(report.kept, "entry", "entries")
        )?;
    }
    if report.rebuilt.is_empty() {
        writeln!(out, "Every results CSV is registered.")?;
    } else {
        writeln!(
            out,
            "{} {} for CSVs no entry pointed to:",
            if report.dry_run {
                "Would register"
            } else {
                "Registered"
            },
            plural(report.rebuilt.len(), "run", "runs")
        )?;
        let mut table = Table::headless().right(&[2, 3]);
        for e in &report.rebuilt {
            table.row([
                e.local_id.clone(),
                dash(&e.module_id),
                thousands(e.samples),
                percent(e.accuracy),
                e.csv_path.clone(),
            ]);
        }
        write!(out, "{}", table.render(2))?;
    }
    if !report.skipped.is_empty() {
        writeln!(
            out,
            "Skipped {}:",
            plural(report.skipped.len(), "CSV", "CSVs")
        )?;
        let mut table = Table::headless();
        for s in &report.skipped {
            table.row([s.csv_path.clone(), s.reason.clone()]);
        }
        write!(out, "{}", table.render(2))?;
    }
    let changes = report.damage.is_some() || !report.rebuilt.is_empty();
    if report.dry_run {
        writeln!(
            out,
            "\nDry run: nothing was written. The registry would hold {}.",
            plural(report.total, "entry", "entries")
        )?;
    } else if changes {
        writeln!(
            out,
            "\nThe registry now holds {}.",
            plural(report.total, "entry", "entries")
        )?;
    } else {
        writeln!(out, "\nNothing to do.")?;
    }
    Ok(())
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

fn compare(
    project: &Project,
    file: &RegistryFile,
    a: &str,
    b: &str,
    options: &CompareOptions,
    flips: usize,
    json: bool,
) -> anyhow::Result<ExitStatus> {
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
            dash(&run_a.module),
            dash(&run_b.module)
        );
    }
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
    render_compare(module, &run_a, &run_b, &result, flips)?;
    Ok(ExitStatus::Success)
}

fn points(difference: f64) -> String {
    format!("{:+.1}", difference * 100.0)
}

fn p_value(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".to_owned()
    } else {
        format!("{p:.4}")
    }
}

fn clip(text: &str, width: usize) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= width {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

fn render_compare(
    module: &ModuleSpec,
    a: &OpenedRun,
    b: &OpenedRun,
    c: &Comparison,
    flips: usize,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Comparing two runs of {} ({}), scored on `{}`\n",
        module.id, module.name, c.field
    )?;
    write!(out, "{}", runs_compared(a, b, c).render(2))?;
    writeln!(out, "\nPaired rows: {}", pairing(c))?;
    if c.a.duplicate_ids + c.b.duplicate_ids > 0 {
        writeln!(
            out,
            "warning: repeated record ids (A {}, B {}); only the first row of each was paired",
            c.a.duplicate_ids, c.b.duplicate_ids
        )?;
    }
    if c.expected_differs > 0 {
        writeln!(
            out,
            "warning: {} paired rows expect different answers in A and B (different dataset versions?)",
            thousands(c.expected_differs as u64)
        )?;
    }
    let (Some(summary), Some(diff)) = (accuracy_summary(c), c.difference) else {
        writeln!(
            out,
            "\nNo row was scored in both runs, so there is nothing to compare."
        )?;
        return Ok(());
    };
    writeln!(out)?;
    write!(out, "{}", summary.render(2))?;
    writeln!(out, "\n{}", verdict(c.mcnemar.p_value, diff))?;
    for (title, list) in [
        ("Right → wrong", &c.right_to_wrong),
        ("Wrong → right", &c.wrong_to_right),
    ] {
        if list.is_empty() {
            continue;
        }
        writeln!(out, "\n{title} ({}):", thousands(list.len() as u64))?;
        write!(out, "{}", flips_table(list, flips).render(2))?;
        if flips > 0 && list.len() > flips {
            writeln!(
                out,
                "  … and {} more (--flips 0 shows all)",
                thousands((list.len() - flips) as u64)
            )?;
        }
    }
    if !c.labels.is_empty() {
        writeln!(out, "\nBy expected label:")?;
        write!(out, "{}", labels_table(c).render(2))?;
    }
    Ok(())
}

/// Each run with its own counts (errored rows count as wrong, as the registry counts them).
fn runs_compared(a: &OpenedRun, b: &OpenedRun, c: &Comparison) -> Table {
    let mut runs =
        Table::new(["", "run", "model", "prompt", "rows", "errors", "accuracy"]).right(&[4, 5, 6]);
    for (label, run, counts) in [("A", a, &c.a), ("B", b, &c.b)] {
        runs.row([
            label.to_owned(),
            run.name().to_owned(),
            run.model.as_deref().map_or_else(|| "-".to_owned(), dash),
            run.prompt_version
                .as_deref()
                .map_or_else(|| "-".to_owned(), dash),
            thousands(counts.rows as u64),
            thousands(counts.errors as u64),
            percent_of(counts.correct, counts.rows),
        ]);
    }
    runs
}

/// `1,234 (left out: 3 with an error, …)`.
fn pairing(c: &Comparison) -> String {
    let left_out: Vec<String> = [
        (c.excluded_errors, "with an error"),
        (c.excluded_unscored, "not scored"),
        (c.only_in_a, "only in A"),
        (c.only_in_b, "only in B"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{} {what}", thousands(n as u64)))
    .collect();
    if left_out.is_empty() {
        thousands(c.paired as u64)
    } else {
        format!(
            "{} (left out: {})",
            thousands(c.paired as u64),
            left_out.join(", ")
        )
    }
}

/// Both accuracies, the difference with its interval, and McNemar's test; `None` when no row
/// was scored in both runs.
fn accuracy_summary(c: &Comparison) -> Option<Table> {
    let (acc_a, acc_b, diff) = (c.accuracy_a?, c.accuracy_b?, c.difference?);
    let mut summary = Table::headless().right(&[1]);
    summary.row([
        "accuracy A".to_owned(),
        percent(Some(acc_a)),
        format!("({}/{})", c.correct_a, c.paired),
    ]);
    summary.row([
        "accuracy B".to_owned(),
        percent(Some(acc_b)),
        format!("({}/{})", c.correct_b, c.paired),
    ]);
    let interval = c.interval.map_or_else(String::new, |ci| {
        format!(
            "{:.0}% CI {} to {} (paired bootstrap, {} resamples, seed {})",
            ci.confidence * 100.0,
            points(ci.low),
            points(ci.high),
            thousands(ci.resamples as u64),
            ci.seed
        )
    });
    summary.row([
        "B - A".to_owned(),
        format!("{} pts", points(diff)),
        interval,
    ]);
    summary.row([
        "McNemar".to_owned(),
        format!("p = {}", p_value(c.mcnemar.p_value)),
        format!(
            "(exact; {} right→wrong, {} wrong→right)",
            c.mcnemar.right_to_wrong, c.mcnemar.wrong_to_right
        ),
    ]);
    Some(summary)
}

fn verdict(p: f64, diff: f64) -> String {
    if p >= 0.05 {
        format!(
            "Not significant at the 5% level (McNemar p = {}): more rows are needed to be sure.",
            p_value(p)
        )
    } else if diff > 0.0 {
        "B is more accurate than A (McNemar, significant at the 5% level).".to_owned()
    } else {
        "B is less accurate than A (McNemar, significant at the 5% level).".to_owned()
    }
}

fn labels_table(c: &Comparison) -> Table {
    let mut table = Table::new(["label", "rows", "A", "B", "change"]).right(&[1, 2, 3, 4]);
    for l in &c.labels {
        table.row([
            l.label.clone(),
            thousands(l.rows as u64),
            percent(Some(l.accuracy_a)),
            percent(Some(l.accuracy_b)),
            points(l.accuracy_b - l.accuracy_a),
        ]);
    }
    table
}

fn flips_table(list: &[Flip], limit: usize) -> Table {
    let mut table = Table::new(["record", "keyword", "expected", "A", "B"]);
    let take = if limit == 0 { list.len() } else { limit };
    for f in list.iter().take(take) {
        table.row([
            clip(&f.record_id, 40),
            clip(&dash(&f.keyword), 40),
            clip(&f.expected, 24),
            clip(&f.output_a, 24),
            clip(&f.output_b, 24),
        ]);
    }
    table
}
