//! `sync-braintrust`: upload registered runs to Braintrust, see where each run stands, download
//! experiments back, and link runs to experiments that already exist.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use braintrust::download::{Format, module_of, rows_from_events, write_rows};
use braintrust::{Config, Progress, RetryNotice, RunOutcome, Session, SyncReport, text};
use clap::{Parser, Subcommand, ValueEnum};
use core_config::{ModuleSpec, ResultRow};
use registry::RegistryFile;

use crate::common::{Bar, ExitStatus, GlobalArgs, Project, at_least_one, print_json, run_cli};

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
        #[arg(short = 'n', long, value_name = "N", value_parser = at_least_one())]
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
    let quiet = global.quiet;
    let registry = RegistryFile::in_project(project.paths.root.clone());
    match cli.command {
        Command::Status { json } => status(&project, json, quiet),
        Command::Sync {
            module,
            limit,
            net,
            json,
        } => {
            let module = module
                .map(|m| project.catalog.resolve(&m).map(|s| s.id.clone()))
                .transpose()?;
            let (session, bar) = open(&project, global, &net, !json, UPLOAD_BAR)?;
            let waiting = registry.load()?.awaiting_upload(module.as_ref()).len();
            if !json {
                let config = session.client().config();
                out(&text::sync_header(config, module.as_ref(), waiting, limit))?;
                if waiting == 0 {
                    return Ok(ExitStatus::Success);
                }
            }
            let report = session.sync(&registry, &project.catalog, module.as_ref(), limit)?;
            bar.bar.finish();
            if json {
                print_json(&braintrust::SyncJson::from(&report))?;
            } else {
                out(&text::sync_summary(&report, quiet))?;
            }
            Ok(sync_status(&report))
        }
        Command::Upload {
            id,
            force,
            net,
            json,
        } => {
            let (session, bar) = open(&project, global, &net, false, UPLOAD_BAR)?;
            let outcome = session.upload(&registry, &project.catalog, &id, force)?;
            bar.bar.finish();
            print_outcome(&outcome, json, quiet)?;
            Ok(outcome_status(&outcome))
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
            let fetch_bar = "{spinner} {msg}: {pos} rows fetched";
            let (session, bar) = open(&project, global, &net, false, fetch_bar)?;
            let registry = registry.load()?;
            let experiment = session.find_experiment(&registry, &experiment)?;
            bar.bar.set_message(experiment.name.clone());
            let events = session.fetch_rows(&experiment)?;
            bar.bar.finish();
            let module = module.or_else(|| {
                module_of(&experiment, &events).and_then(|id| project.catalog.get(&id).cloned())
            });
            let format = match format {
                DownloadFormat::Csv => Format::Csv,
                DownloadFormat::Jsonl => Format::Jsonl,
            };
            download(
                &project,
                &experiment.name,
                rows_from_events(events),
                format,
                output,
                module,
            )
        }
        Command::Match { dry_run, net, json } => {
            let (session, bar) = open(&project, global, &net, false, UPLOAD_BAR)?;
            let report = session.match_runs(&registry, &project.catalog, dry_run)?;
            bar.bar.finish();
            if json {
                print_json(&report)?;
            } else {
                out(&text::matched(&report, quiet))?;
            }
            Ok(ExitStatus::Success)
        }
        Command::Link {
            id,
            experiment,
            net,
            json,
        } => {
            let (session, _bar) = open(&project, global, &net, false, UPLOAD_BAR)?;
            let link = session.link(&registry, &id, &experiment)?;
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
    }
}

const UPLOAD_BAR: &str = "{prefix} [{bar:30}] {pos}/{len} rows {msg}";

/// Connects with the project's settings (without a key this says what to set).
fn open(
    project: &Project,
    global: &GlobalArgs,
    net: &NetArgs,
    print_runs: bool,
    template: &str,
) -> anyhow::Result<(Session, Arc<Printer>)> {
    let mut config = Config::from_settings(&project.env.braintrust())?;
    config.retry.max_retries = net.retries;
    let printer = Arc::new(Printer {
        bar: Bar::new(global, false, Some(0), template),
        print_runs,
        quiet: global.quiet,
    });
    let session = Session::new(config, Arc::clone(&printer) as Arc<dyn Progress>)?
        .scorer(runner::detail_scores)
        .repo_info(core_config::git_state(&project.paths.root).map(Into::into));
    Ok((session, printer))
}

/// One run's outcome: the experiment on stdout, or the reason it failed on stderr.
fn print_outcome(outcome: &RunOutcome, json: bool, quiet: bool) -> anyhow::Result<()> {
    if json {
        return print_json(outcome);
    }
    match outcome {
        RunOutcome::Uploaded(_) => {
            writeln!(std::io::stdout().lock(), "{}", text::outcome_line(outcome))?;
        }
        RunOutcome::Failed(f) => {
            let mut err = std::io::stderr().lock();
            writeln!(err, "{}", text::outcome_line(outcome))?;
            if !quiet {
                write!(err, "{}", text::retry_hint(&f.local_id))?;
            }
        }
    }
    Ok(())
}

fn download(
    project: &Project,
    experiment: &str,
    rows: Vec<ResultRow>,
    format: Format,
    output: Option<PathBuf>,
    module: Option<ModuleSpec>,
) -> anyhow::Result<ExitStatus> {
    let to_stdout = output.as_deref() == Some(Path::new("-"));
    let shown = if to_stdout {
        write_stdout(format, module.as_ref(), &rows)?;
        "stdout".to_owned()
    } else {
        let path = output.unwrap_or_else(|| {
            braintrust::download_path(&project.paths, module.as_ref(), experiment, format)
        });
        let writing = match (&module, format) {
            (Some(m), _) => m.clone(),
            (None, Format::Jsonl) => placeholder_module(project)?,
            (None, Format::Csv) => {
                return Err(braintrust::Error::ModuleUnknown {
                    experiment: experiment.to_owned(),
                }
                .into());
            }
        };
        write_rows(&path, format, &writing, &rows)?;
        project.paths.display(&path).into_owned()
    };
    let message = text::downloaded(&rows, experiment, module.as_ref().map(|m| &m.id), &shown);
    // With the rows on stdout, the summary goes beside them on stderr.
    if to_stdout {
        write!(std::io::stderr().lock(), "{message}")?;
    } else {
        out(&message)?;
    }
    Ok(ExitStatus::Success)
}

/// Writes a report's text to stdout (an error, not a panic, when stdout is closed).
fn out(text: &str) -> anyhow::Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
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

fn status(project: &Project, json: bool, quiet: bool) -> anyhow::Result<ExitStatus> {
    let file = RegistryFile::in_project(project.paths.root.clone());
    let report = braintrust::StatusReport::read(&project.env.braintrust(), &file)?;
    if json {
        print_json(&report)?;
    } else {
        out(&text::status(&report, quiet))?;
    }
    Ok(ExitStatus::Success)
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

/// Progress on stderr: rows sent per run, rows fetched, retries (hidden when stderr is not a
/// terminal); with `print_runs`, each run's outcome as it ends (see [`print_outcome`]).
struct Printer {
    bar: Bar,
    print_runs: bool,
    quiet: bool,
}

impl Progress for Printer {
    fn run_started(&self, local_id: &str, experiment: &str, rows: usize) {
        self.bar.set_prefix(local_id.to_owned());
        self.bar.set_length(rows as u64);
        self.bar.set_position(0);
        self.bar.set_message(experiment.to_owned());
    }

    fn rows_sent(&self, sent: usize, _total: usize) {
        self.bar.set_position(sent as u64);
    }

    fn run_finished(&self, outcome: &RunOutcome) {
        if !self.print_runs {
            return;
        }
        let line = format!("  {}", text::outcome_line(outcome).replace('\n', "\n  "));
        match outcome {
            RunOutcome::Uploaded(_) => {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            RunOutcome::Failed(_) => self.bar.println(&line, true),
        }
    }

    fn rows_fetched(&self, rows: usize) {
        self.bar.set_position(rows as u64);
    }

    fn retrying(&self, notice: &RetryNotice<'_>) {
        if !self.quiet {
            self.bar
                .println(&crate::common::braintrust_retry_line(notice), true);
        }
    }
}
