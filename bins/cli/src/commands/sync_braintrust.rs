//! `sync-braintrust`: upload registered runs to Braintrust, see where each run stands, download
//! experiments back, and link runs to experiments that already exist.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use braintrust::download::{Format, module_of, resolve_experiment, rows_from_events, write_rows};
use braintrust::matching::{MatchReport, match_runs};
use braintrust::{
    Client, Config, Progress, RepoInfo, RetryNotice, RowScorer, RunOutcome, SyncReport, Uploader,
};
use clap::{Parser, Subcommand, ValueEnum};
use core_config::{EnvVars, ModuleSpec, ResultRow};
use indicatif::{ProgressBar, ProgressStyle};
use registry::{Entry, Filter, RegistryFile, Status};
use runner::score::{Detail, score_row};
use serde::Serialize;

use crate::common::{ExitStatus, GlobalArgs, Project, Table, print_json, run_cli, thousands};

/// Upload experiment runs to Braintrust and keep the registry in step with it.
///
/// Each run becomes one experiment in the project (BRAINTRUST_PROJECT, default
/// Keyword-Classification-Pipeline) named root_{module}_{ModuleName}_{YYYYmmdd_HHMMSS} after the
/// run's own start, with one row per results row. Row ids are {local_id}:{record_id}, so an
/// upload that is interrupted, fails half-way or is repeated replaces rows instead of adding
/// them: run it again and the experiment ends up with exactly one row per results row.
///
/// Needs BRAINTRUST_API_KEY (environment or the project's .env). BRAINTRUST_API_URL points at a
/// self-hosted data plane or the local simulator (api-sim), BRAINTRUST_ORG_NAME picks the
/// organisation when the key has several. `status` works without a key.
///
/// Exit codes: 0 done, 1 some run failed to upload (its reason is in the registry), 2 could not
/// run (no key, key refused, service unreachable, bad input).
#[derive(Debug, Parser)]
#[command(name = "sync-braintrust", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, clap::Args)]
struct NetArgs {
    /// Retries of a request that got 429, a 5xx or no answer (waits 1s, 2s, 4s, … up to 30s,
    /// or what Retry-After says); 0 fails at the first error. 400, 401, 403 and 404 are never
    /// retried.
    #[arg(long, value_name = "N", default_value_t = 4)]
    retries: u32,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Upload every run that is not on Braintrust yet (status local_only or failed), oldest
    /// first.
    ///
    /// A run that fails is marked failed with the reason and the sync goes on with the next;
    /// run the sync again to retry it. Runs already uploaded are never sent again.
    Sync {
        /// Only this module's runs (m12, 12, M12, or the module name).
        #[arg(short, long, value_name = "MODULE")]
        module: Option<String>,
        /// Upload at most N runs.
        #[arg(short = 'n', long, value_name = "N")]
        limit: Option<usize>,
        #[command(flatten)]
        net: NetArgs,
        /// Print a JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Upload one run (a local id, or a unique prefix of one).
    Upload {
        /// The run's local id, e.g. exp_20260116_123456_m12.
        id: String,
        /// Upload a run that is already uploaded again (into the same experiment; rows are
        /// replaced, not duplicated).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        net: NetArgs,
        /// Print a JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Counts of runs by upload status, and the runs not uploaded yet. Reads only the
    /// registry: works offline and without a key.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Download an experiment's rows into a local file in the results-CSV shape.
    ///
    /// EXPERIMENT is the local id of an uploaded run, an experiment id, or an experiment name
    /// in the project. The default file is
    /// experiment_results/{ModuleFolder}/braintrust/{experiment name}.{csv|jsonl}.
    Download {
        /// Local id, experiment id or experiment name.
        experiment: String,
        /// csv: a results CSV with the module's columns; jsonl: one JSON object per row.
        #[arg(long, value_enum, default_value_t = DownloadFormat::Csv)]
        format: DownloadFormat,
        /// Where to write (`-` for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The module, when neither the experiment's metadata, name nor rows tell.
        #[arg(short, long, value_name = "MODULE")]
        module: Option<String>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Link runs not recorded as uploaded to experiments that already exist on Braintrust.
    ///
    /// The naming convention decides first, then the earlier tool's sync names
    /// (root_{module}_{local_id}_…), then experiment metadata naming the run. Several
    /// candidates, or one experiment fitting several runs, are reported and left alone.
    /// Experiments this toolkit created are linked only when they hold every row of the run.
    /// Runs the earlier tool recorded with the experiment's name as its id get the real id.
    Match {
        /// Show what would be linked; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        net: NetArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Record that a run is on Braintrust as the experiment you name (settles what `match`
    /// found ambiguous). The run is marked uploaded with that experiment's id and link.
    Link {
        /// The run's local id (a unique prefix is enough).
        id: String,
        /// Experiment id or name in the project.
        experiment: String,
        #[command(flatten)]
        net: NetArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DownloadFormat {
    Csv,
    Jsonl,
}

/// Entry point of the `sync-braintrust` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    let global = &cli.global;
    match cli.command {
        Command::Status { json } => status(&project, json, global.quiet),
        Command::Sync {
            module,
            limit,
            net,
            json,
        } => {
            let module = module
                .map(|m| project.catalog.resolve(&m).map(|s| s.id.clone()))
                .transpose()?;
            let session = Session::open(&project, global, &net, !json)?;
            session.sync(&project, module.as_ref(), limit, json, global.quiet)
        }
        Command::Upload {
            id,
            force,
            net,
            json,
        } => {
            let session = Session::open(&project, global, &net, false)?;
            session.upload(&project, &id, force, json, global.quiet)
        }
        Command::Download {
            experiment,
            format,
            output,
            module,
            net,
        } => {
            let module = module
                .map(|m| project.catalog.resolve(&m).cloned())
                .transpose()?;
            let session = Session::open(&project, global, &net, false)?;
            session.download(&project, &experiment, format, output, module)
        }
        Command::Match { dry_run, net, json } => {
            let session = Session::open(&project, global, &net, false)?;
            session.matching(&project, dry_run, json, global.quiet)
        }
        Command::Link {
            id,
            experiment,
            net,
            json,
        } => {
            let session = Session::open(&project, global, &net, false)?;
            session.link(&project, &id, &experiment, json)
        }
    }
}

/// A connection to Braintrust with a progress display, shared by the commands here and by
/// `orchestrator run --upload`.
pub(crate) struct Session {
    client: Client,
    bar: Arc<Bar>,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    /// Connects with the project's settings (without a key this says what to set).
    fn open(
        project: &Project,
        global: &GlobalArgs,
        net: &NetArgs,
        print_runs: bool,
    ) -> anyhow::Result<Self> {
        let mut config = Config::from_settings(&project.env.braintrust())?;
        config.retry.max_retries = net.retries;
        Self::with_config(config, global, print_runs)
    }

    /// As [`Session::open`] with the default retries, for `orchestrator run --upload`.
    pub(crate) fn for_orchestrator(project: &Project, global: &GlobalArgs) -> anyhow::Result<Self> {
        let config = Config::from_settings(&project.env.braintrust())
            .context("--upload needs Braintrust settings")?;
        Self::with_config(config, global, false)
    }

    fn with_config(config: Config, global: &GlobalArgs, print_runs: bool) -> anyhow::Result<Self> {
        let bar = Arc::new(Bar::new(global, print_runs));
        let client = Client::new(config)?.with_progress(Arc::clone(&bar) as Arc<dyn Progress>);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(Self {
            client,
            bar,
            runtime,
        })
    }

    fn uploader<'a>(
        &'a self,
        project: &'a Project,
        registry: &'a RegistryFile,
        scorer: &'a DetailScores,
    ) -> Uploader<'a> {
        Uploader::new(&self.client, registry, &project.catalog)
            .scorer(scorer)
            .repo_info(repo_info(&project.paths.root))
    }

    fn sync(
        &self,
        project: &Project,
        module: Option<&core_config::ModuleId>,
        limit: Option<usize>,
        json: bool,
        quiet: bool,
    ) -> anyhow::Result<ExitStatus> {
        let registry = RegistryFile::in_project(project.paths.root.clone());
        let waiting = registry.load()?.awaiting_upload(module).len();
        let config = self.client.config();
        if !json {
            let mut out = std::io::stdout().lock();
            if waiting == 0 {
                let scope = module.map_or_else(String::new, |m| format!(" of {m}"));
                writeln!(out, "Nothing to upload: every run{scope} is on Braintrust.")?;
                return Ok(ExitStatus::Success);
            }
            let todo = limit.map_or(waiting, |n| n.min(waiting));
            writeln!(
                out,
                "Uploading {} to Braintrust project {} ({})",
                runs_text(todo),
                config.project,
                config.api_url
            )?;
        }
        let scorer = DetailScores;
        let report = self.runtime.block_on(
            self.uploader(project, &registry, &scorer)
                .sync(module, limit),
        )?;
        self.bar.clear();
        if json {
            print_json(&SyncJson::from(&report))?;
        } else {
            sync_summary(&report, quiet)?;
        }
        Ok(sync_status(&report))
    }

    fn upload(
        &self,
        project: &Project,
        id: &str,
        force: bool,
        json: bool,
        quiet: bool,
    ) -> anyhow::Result<ExitStatus> {
        let registry = RegistryFile::in_project(project.paths.root.clone());
        let scorer = DetailScores;
        let outcome = self
            .runtime
            .block_on(self.uploader(project, &registry, &scorer).upload(id, force))?;
        self.bar.clear();
        if json {
            print_json(&outcome)?;
        } else {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", outcome_line(&outcome))?;
            if let RunOutcome::Failed(f) = &outcome
                && !quiet
            {
                writeln!(
                    out,
                    "\nThe run is marked failed; `sync-braintrust upload {}` (or `sync`) tries again.",
                    f.local_id
                )?;
            }
        }
        Ok(outcome_status(&outcome))
    }

    /// Uploads a run the orchestrator just finished; a failure is reported and recorded, not
    /// raised, so the run's results and registry entry stay.
    pub(crate) fn upload_finished_run(
        &self,
        project: &Project,
        local_id: &str,
        json: bool,
    ) -> anyhow::Result<ExitStatus> {
        let registry = RegistryFile::in_project(project.paths.root.clone());
        let scorer = DetailScores;
        let result = self.runtime.block_on(
            self.uploader(project, &registry, &scorer)
                .upload(local_id, true),
        );
        self.bar.clear();
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                // The project could not be reached: record it like any failed upload.
                let reason = e.to_string();
                registry.mark_failed(local_id, &reason)?;
                RunOutcome::Failed(braintrust::Failed {
                    local_id: local_id.to_owned(),
                    module: String::new(),
                    reason,
                    fatal: e.is_fatal(),
                })
            }
        };
        match &outcome {
            RunOutcome::Uploaded(u) if json => {
                writeln!(
                    std::io::stderr().lock(),
                    "uploaded {} to Braintrust: {}",
                    u.local_id,
                    u.experiment_url
                )?;
            }
            RunOutcome::Uploaded(u) => {
                let mut t = Table::headless();
                t.row(["braintrust".to_owned(), u.experiment_url.clone()]);
                write!(std::io::stdout().lock(), "{}", t.render(2))?;
            }
            RunOutcome::Failed(f) => {
                writeln!(
                    std::io::stderr().lock(),
                    "error: the upload of {} to Braintrust failed: {}\n  the run's results and registry entry are kept (status failed); `sync-braintrust upload {}` tries again",
                    f.local_id,
                    f.reason,
                    f.local_id
                )?;
            }
        }
        Ok(outcome_status(&outcome))
    }

    fn download(
        &self,
        project: &Project,
        reference: &str,
        format: DownloadFormat,
        output: Option<PathBuf>,
        module: Option<ModuleSpec>,
    ) -> anyhow::Result<ExitStatus> {
        let registry = RegistryFile::in_project(project.paths.root.clone()).load()?;
        let (experiment, events) = self.runtime.block_on(async {
            let bt_project = self.client.project().await?;
            let experiment =
                resolve_experiment(&self.client, &bt_project, &registry, reference).await?;
            self.bar.start_fetch(&experiment.name);
            let events = self.client.fetch_rows(&experiment.id).await?;
            Ok::<_, braintrust::Error>((experiment, events))
        })?;
        self.bar.clear();
        let module = match module {
            Some(m) => Some(m),
            None => {
                module_of(&experiment, &events).and_then(|id| project.catalog.get(&id).cloned())
            }
        };
        let rows = rows_from_events(events);
        let format = match format {
            DownloadFormat::Csv => Format::Csv,
            DownloadFormat::Jsonl => Format::Jsonl,
        };
        let to_stdout = output.as_deref() == Some(Path::new("-"));
        let path = match output {
            Some(path) if !to_stdout => path,
            _ => {
                let folder = module.as_ref().map_or_else(
                    || project.paths.experiment_results().join("braintrust"),
                    |m| {
                        project
                            .paths
                            .experiment_results()
                            .join(m.folder_name())
                            .join("braintrust")
                    },
                );
                folder.join(format!(
                    "{}.{}",
                    file_safe(&experiment.name),
                    format.extension()
                ))
            }
        };
        if to_stdout {
            write_stdout(format, module.as_ref(), &rows)?;
        } else {
            let module = match (&module, format) {
                (Some(m), _) => m.clone(),
                (None, Format::Jsonl) => placeholder_module(project)?,
                (None, Format::Csv) => {
                    return Err(braintrust::Error::ModuleUnknown {
                        experiment: experiment.name,
                    }
                    .into());
                }
            };
            write_rows(&path, format, &module, &rows)?;
        }
        let scored = rows.iter().filter(|r| r.correct.is_some()).count();
        let correct = rows.iter().filter(|r| r.correct == Some(true)).count();
        let message = format!(
            "Downloaded {} of {}{} to {}\n  accuracy {} ({}/{} scored), {} errored",
            rows_text(rows.len()),
            experiment.name,
            module
                .as_ref()
                .map_or_else(String::new, |m| format!(" ({})", m.id)),
            if to_stdout {
                "stdout".to_owned()
            } else {
                project.paths.display(&path).into_owned()
            },
            ratio_text(correct, scored),
            correct,
            scored,
            rows.len() - scored
        );
        if to_stdout {
            writeln!(std::io::stderr().lock(), "{message}")?;
        } else {
            writeln!(std::io::stdout().lock(), "{message}")?;
        }
        Ok(ExitStatus::Success)
    }

    fn link(
        &self,
        project: &Project,
        id: &str,
        experiment: &str,
        json: bool,
    ) -> anyhow::Result<ExitStatus> {
        let registry = RegistryFile::in_project(project.paths.root.clone());
        let link = self.runtime.block_on(braintrust::matching::link(
            &self.client,
            &registry,
            id,
            experiment,
        ))?;
        if json {
            print_json(&link)?;
        } else {
            writeln!(
                std::io::stdout().lock(),
                "Linked {} → {}\n  {}",
                link.local_id,
                link.experiment.name,
                link.url.as_deref().unwrap_or_default()
            )?;
        }
        Ok(ExitStatus::Success)
    }

    fn matching(
        &self,
        project: &Project,
        dry_run: bool,
        json: bool,
        quiet: bool,
    ) -> anyhow::Result<ExitStatus> {
        let registry = RegistryFile::in_project(project.paths.root.clone());
        let report = self.runtime.block_on(match_runs(
            &self.client,
            &registry,
            &project.catalog,
            dry_run,
        ))?;
        self.bar.clear();
        if json {
            print_json(&report)?;
        } else {
            match_text(&report, quiet)?;
        }
        Ok(ExitStatus::Success)
    }
}

fn runs_text(n: usize) -> String {
    format!(
        "{} run{}",
        thousands(n as u64),
        if n == 1 { "" } else { "s" }
    )
}

fn rows_text(n: usize) -> String {
    format!(
        "{} row{}",
        thousands(n as u64),
        if n == 1 { "" } else { "s" }
    )
}

fn ratio_text(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let share = part as f64 / whole as f64 * 100.0;
    format!("{share:.1}%")
}

fn outcome_line(outcome: &RunOutcome) -> String {
    match outcome {
        RunOutcome::Uploaded(u) => format!(
            "✓ {}  {}  {}{}\n    {}",
            u.local_id,
            u.experiment_name,
            rows_text(u.rows),
            if u.renamed {
                " (the usual name was taken by another experiment)"
            } else {
                ""
            },
            u.experiment_url
        ),
        RunOutcome::Failed(f) => format!("✗ {}  {}", f.local_id, f.reason),
    }
}

fn outcome_status(outcome: &RunOutcome) -> ExitStatus {
    match outcome {
        RunOutcome::Uploaded(_) => ExitStatus::Success,
        RunOutcome::Failed(f) if f.fatal => ExitStatus::Error,
        RunOutcome::Failed(_) => ExitStatus::Failure,
    }
}

fn sync_status(report: &SyncReport) -> ExitStatus {
    if report
        .outcomes
        .iter()
        .any(|o| matches!(o, RunOutcome::Failed(f) if f.fatal))
    {
        ExitStatus::Error
    } else if report.failed() > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    }
}

fn sync_summary(report: &SyncReport, quiet: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Sync complete: {} uploaded, {} failed.",
        thousands(report.uploaded() as u64),
        thousands(report.failed() as u64)
    )?;
    if let Some(RunOutcome::Failed(f)) = report.outcomes.last()
        && f.fatal
    {
        writeln!(
            out,
            "Stopped early: no other run can succeed until this is fixed ({} not tried).",
            runs_text(report.not_tried)
        )?;
    } else if report.not_tried > 0 {
        writeln!(
            out,
            "{} still waiting (--limit); run the sync again for them.",
            runs_text(report.not_tried)
        )?;
    }
    if report.failed() > 0 && !quiet {
        writeln!(
            out,
            "Failed runs are marked failed with the reason (`sync-braintrust status` lists them); the next sync tries them again."
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct SyncJson<'a> {
    project: &'a braintrust::Project,
    pending: usize,
    uploaded: usize,
    failed: usize,
    not_tried: usize,
    runs: &'a [RunOutcome],
}

impl<'a> From<&'a SyncReport> for SyncJson<'a> {
    fn from(r: &'a SyncReport) -> Self {
        Self {
            project: &r.project,
            pending: r.pending,
            uploaded: r.uploaded(),
            failed: r.failed(),
            not_tried: r.not_tried,
            runs: &r.outcomes,
        }
    }
}

#[derive(Serialize)]
struct StatusJson {
    project: String,
    api_url: String,
    key_set: bool,
    total: usize,
    by_status: std::collections::BTreeMap<String, usize>,
    not_uploaded: Vec<Entry>,
}

fn mark(status: &Status) -> &'static str {
    match status {
        Status::Uploaded => "✓",
        Status::LocalOnly => "○",
        Status::Failed => "✗",
        Status::Other(_) => "?",
    }
}

fn short_time(created_at: &str) -> String {
    registry::parse_timestamp(created_at).map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}

fn status(project: &Project, json: bool, quiet: bool) -> anyhow::Result<ExitStatus> {
    let settings = project.env.braintrust();
    let file = RegistryFile::in_project(project.paths.root.clone());
    let overview = file.overview()?;
    let stats = overview.stats();
    // Oldest first, as a sync would take them.
    let mut waiting: Vec<&registry::Summary> = overview
        .list(&Filter::default())
        .into_iter()
        .filter(|s| matches!(s.status, Status::LocalOnly | Status::Failed))
        .collect();
    waiting.reverse();
    let ids: Vec<&str> = waiting.iter().map(|s| s.local_id.as_str()).collect();
    let entries = overview.entries(&ids)?;
    if json {
        print_json(&StatusJson {
            project: settings.project.clone(),
            api_url: settings.api_url.clone(),
            key_set: settings.api_key.is_some(),
            total: stats.total,
            by_status: stats.by_status,
            not_uploaded: entries,
        })?;
        return Ok(ExitStatus::Success);
    }
    let mut out = std::io::stdout().lock();
    let key = if settings.api_key.is_some() {
        "key set".to_owned()
    } else {
        format!("{} not set: uploads need it", EnvVars::BRAINTRUST_API_KEY)
    };
    writeln!(
        out,
        "Braintrust project {} at {} ({key})",
        settings.project, settings.api_url
    )?;
    if stats.total == 0 {
        writeln!(out, "\nNo runs registered yet.")?;
        return Ok(ExitStatus::Success);
    }
    let counts: Vec<String> = ["uploaded", "local_only", "failed"]
        .into_iter()
        .map(|s| format!("{} {s}", stats.by_status.get(s).copied().unwrap_or(0)))
        .chain(
            stats
                .by_status
                .iter()
                .filter(|(s, _)| !["uploaded", "local_only", "failed"].contains(&s.as_str()))
                .map(|(s, n)| format!("{n} {s}")),
        )
        .collect();
    writeln!(out, "\n{}: {}", runs_text(stats.total), counts.join(", "))?;
    if entries.is_empty() {
        writeln!(out, "\nEvery run is on Braintrust.")?;
        return Ok(ExitStatus::Success);
    }
    writeln!(out, "\nNot uploaded ({}), oldest first:", entries.len())?;
    let mut table = Table::headless().right(&[4]);
    for e in &entries {
        table.row([
            mark(&e.status).to_owned(),
            e.local_id.clone(),
            e.module_id.clone(),
            short_time(&e.created_at),
            e.accuracy
                .map_or_else(|| "-".to_owned(), |a| format!("{:.1}%", a * 100.0)),
            if e.status == Status::Failed {
                e.notes.clone()
            } else {
                String::new()
            },
        ]);
    }
    write!(out, "{}", table.render(2))?;
    if !quiet {
        writeln!(out, "\nUpload them with `sync-braintrust sync`.")?;
    }
    Ok(ExitStatus::Success)
}

fn match_text(report: &MatchReport, quiet: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Braintrust project {}: {} experiment{}; {} not recorded as uploaded.",
        report.project,
        thousands(report.experiments as u64),
        if report.experiments == 1 { "" } else { "s" },
        runs_text(report.runs)
    )?;
    if !report.linked.is_empty() {
        let verb = if report.dry_run { "To link" } else { "Linked" };
        writeln!(out, "\n{verb} ({}):", report.linked.len())?;
        let mut t = Table::headless();
        for l in &report.linked {
            t.row([
                l.local_id.clone(),
                "→".to_owned(),
                l.experiment.name.clone(),
                format!("({})", l.rule.describe()),
            ]);
        }
        write!(out, "{}", t.render(2))?;
    }
    if !report.incomplete.is_empty() {
        writeln!(
            out,
            "\nLeft alone, incomplete ({}): upload these again to finish them",
            report.incomplete.len()
        )?;
        for i in &report.incomplete {
            writeln!(
                out,
                "  {}  {} holds {} of {} rows",
                i.local_id, i.experiment.name, i.found, i.expected
            )?;
        }
    }
    if !report.ambiguous.is_empty() {
        writeln!(out, "\nLeft alone, ambiguous ({}):", report.ambiguous.len())?;
        for a in &report.ambiguous {
            writeln!(out, "  {}  {}:", a.local_id, a.why)?;
            for c in &a.candidates {
                writeln!(out, "      {}", c.name)?;
            }
        }
    }
    if !report.unmatched.is_empty() {
        writeln!(out, "\nNot on Braintrust ({}):", report.unmatched.len())?;
        let mut t = Table::headless();
        for u in &report.unmatched {
            t.row([
                u.local_id.clone(),
                u.expected_name
                    .as_ref()
                    .map_or_else(String::new, |n| format!("(would be {n})")),
            ]);
        }
        write!(out, "{}", t.render(2))?;
    }
    if !report.ambiguous.is_empty() && !quiet {
        writeln!(
            out,
            "\nSettle one with `sync-braintrust link ID EXPERIMENT`, or give the run its own experiment with `sync-braintrust upload ID`."
        )?;
    }
    if report.dry_run {
        writeln!(out, "\nDry run: nothing was written.")?;
    } else if !quiet && (!report.unmatched.is_empty() || !report.incomplete.is_empty()) {
        writeln!(
            out,
            "\n`sync-braintrust sync` uploads the runs not on Braintrust."
        )?;
    }
    Ok(())
}

/// Any module, for writing JSON lines (which do not depend on the module's columns).
fn placeholder_module(project: &Project) -> anyhow::Result<ModuleSpec> {
    project
        .catalog
        .modules()
        .first()
        .cloned()
        .context("modules.toml lists no module")
}

fn write_stdout(
    format: Format,
    module: Option<&ModuleSpec>,
    rows: &[ResultRow],
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Jsonl => {
            for row in rows {
                writeln!(out, "{}", braintrust::download::row_json(row))?;
            }
        }
        Format::Csv => {
            let Some(module) = module else {
                bail!("cannot tell which module the experiment is; pass --module");
            };
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(core_config::results::headers(module))?;
            for row in rows {
                writer.write_record(core_config::results::row_fields(module, row))?;
            }
            writer.flush()?;
        }
    }
    Ok(())
}

/// An experiment name as a file name (names may hold `/` or spaces).
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Per-row scores beyond `correct`, from the module's own scoring: precision, recall and F1
/// of list fields, token overlap of text fields, the share of matched taxonomy levels, NDCG of
/// rankings. Modules with several scored fields also get each field's verdict.
struct DetailScores;

impl RowScorer for DetailScores {
    fn scores(&self, module: &ModuleSpec, row: &ResultRow) -> Vec<(String, f64)> {
        let (Some(expected), Some(output)) = (row.expected.as_object(), row.output.as_object())
        else {
            return Vec::new();
        };
        let Ok(score) = score_row(module, expected, output) else {
            return Vec::new();
        };
        let single = score.fields.len() == 1;
        let name = |field: &str, what: &str| {
            if single {
                what.to_owned()
            } else {
                format!("{field}_{what}")
            }
        };
        let mut out = Vec::new();
        for field in &score.fields {
            match &field.detail {
                Detail::List {
                    precision,
                    recall,
                    f1,
                } => {
                    out.push((name(&field.name, "precision"), *precision));
                    out.push((name(&field.name, "recall"), *recall));
                    out.push((name(&field.name, "f1"), *f1));
                }
                Detail::Text { overlap, .. } => out.push((name(&field.name, "overlap"), *overlap)),
                Detail::Taxonomy {
                    matched, levels, ..
                } => {
                    #[expect(clippy::cast_precision_loss, reason = "level counts are tiny")]
                    let share = if *levels == 0 {
                        1.0
                    } else {
                        *matched as f64 / *levels as f64
                    };
                    out.push((name(&field.name, "levels"), share));
                }
                Detail::Ranking { ndcg } => out.push((name(&field.name, "ndcg"), *ndcg)),
                Detail::Label { .. } => {}
            }
            if !single {
                out.push((
                    format!("{}_correct", field.name),
                    f64::from(u8::from(field.correct)),
                ));
            }
        }
        out
    }
}

/// The git state of the project, when it is a git checkout with git installed.
fn repo_info(root: &Path) -> Option<RepoInfo> {
    let git = |args: &[&str]| -> Option<String> {
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    if git(&["rev-parse", "--is-inside-work-tree"])? != "true" {
        return None;
    }
    let commit = git(&["rev-parse", "HEAD"]);
    let log = git(&["log", "-1", "--format=%an%x00%ae%x00%cI%x00%s"]).unwrap_or_default();
    let mut fields = log
        .split('\0')
        .map(|s| (!s.is_empty()).then(|| s.to_owned()));
    let mut next = || fields.next().flatten();
    Some(RepoInfo {
        commit,
        branch: git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"),
        tag: git(&["describe", "--tags", "--exact-match"]),
        dirty: git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
        author_name: next(),
        author_email: next(),
        commit_time: next(),
        commit_message: next(),
    })
}

/// Progress on stderr: rows sent per run, rows fetched, retries. Hidden when stderr is not a
/// terminal; run results go to stdout as each run ends (text mode).
struct Bar {
    bar: Option<ProgressBar>,
    print_runs: bool,
    quiet: bool,
}

impl Bar {
    fn new(global: &GlobalArgs, print_runs: bool) -> Self {
        let quiet = global.quiet;
        let bar = global.progress_bar(false, Some(0), "{prefix} [{bar:30}] {pos}/{len} rows {msg}");
        if let Some(bar) = &bar {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Self {
            bar,
            print_runs,
            quiet,
        }
    }

    fn start_fetch(&self, experiment: &str) {
        if let Some(bar) = &self.bar {
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}: {pos} rows fetched") {
                bar.set_style(style);
            }
            bar.set_message(experiment.to_owned());
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn say(&self, line: &str, stdout: bool) {
        let print = || {
            if stdout {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            } else {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl Progress for Bar {
    fn run_started(&self, local_id: &str, experiment: &str, rows: usize) {
        if let Some(bar) = &self.bar {
            bar.reset();
            bar.set_prefix(local_id.to_owned());
            bar.set_length(rows as u64);
            bar.set_position(0);
            bar.set_message(experiment.to_owned());
        }
    }

    fn rows_sent(&self, sent: usize, _total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(sent as u64);
        }
    }

    fn run_finished(&self, outcome: &RunOutcome) {
        if self.print_runs {
            self.say(
                &format!("  {}", outcome_line(outcome).replace('\n', "\n  ")),
                true,
            );
        }
    }

    fn rows_fetched(&self, rows: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(rows as u64);
        }
    }

    fn retrying(&self, notice: &RetryNotice<'_>) {
        if !self.quiet {
            self.say(
                &format!(
                    "  retrying {} {} after {} (retry {} of {}, in {})",
                    notice.method,
                    notice.path,
                    notice.reason,
                    notice.retry,
                    notice.max_retries,
                    llm_client::format_duration(notice.wait)
                ),
                false,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(
            file_safe("root_m12_X_20260116_123456"),
            "root_m12_X_20260116_123456"
        );
        assert_eq!(file_safe("my exp/v2"), "my_exp_v2");
    }

    #[test]
    fn git_state_is_read_from_a_checkout_and_absent_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(repo_info(dir.path()), None);
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args([
                    "-c",
                    "user.name=Ann Otator",
                    "-c",
                    "user.email=ann@example.com",
                ])
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("modules.toml"), "version = 1\n").unwrap();
        git(&["add", "modules.toml"]);
        git(&["commit", "-q", "-m", "First commit"]);
        git(&["tag", "v1"]);
        let info = repo_info(dir.path()).unwrap();
        assert_eq!(info.commit.as_deref().map(str::len), Some(40));
        assert_eq!(info.branch.as_deref(), Some("main"));
        assert_eq!(info.tag.as_deref(), Some("v1"));
        assert_eq!(info.dirty, Some(false));
        assert_eq!(info.author_name.as_deref(), Some("Ann Otator"));
        assert_eq!(info.author_email.as_deref(), Some("ann@example.com"));
        assert_eq!(info.commit_message.as_deref(), Some("First commit"));
        assert!(info.commit_time.is_some());
        std::fs::write(dir.path().join("modules.toml"), "version = 2\n").unwrap();
        assert_eq!(repo_info(dir.path()).unwrap().dirty, Some(true));
    }

    #[test]
    fn list_modules_get_precision_recall_and_f1() {
        let catalog = core_config::Catalog::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"),
        )
        .unwrap();
        let module = catalog.resolve("m01").unwrap();
        let row = ResultRow {
            expected: serde_json::json!({"brand_entities": ["A", "B", "C", "D"]}),
            output: serde_json::json!({"brand_entities": ["a", "b", "x"]}),
            correct: Some(false),
            ..ResultRow::default()
        };
        let scores = DetailScores.scores(module, &row);
        let names: Vec<&str> = scores.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["precision", "recall", "f1"]);
        assert!((scores[0].1 - 2.0 / 3.0).abs() < 1e-9);
        assert!((scores[1].1 - 0.5).abs() < 1e-9);
        assert!((scores[2].1 - 4.0 / 7.0).abs() < 1e-9);
        let m12 = catalog.resolve("m12").unwrap();
        let row = ResultRow {
            expected: serde_json::json!({"relevancy": "N"}),
            output: serde_json::json!({"relevancy": "N", "violates_constraint": true}),
            correct: Some(true),
            ..ResultRow::default()
        };
        assert!(DetailScores.scores(m12, &row).is_empty());
    }
}
