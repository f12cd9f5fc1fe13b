//! `sync-braintrust`: upload registered runs to Braintrust, see where each run stands, download
//! experiments back (one or in bulk), list them, link runs to experiments that already exist, and
//! push, pull and list datasets and prompts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use braintrust::datasets::{self, LocalDataset};
use braintrust::download::{Format, module_of, rows_from_events, write_rows};
use braintrust::listing::ExperimentFilter;
use braintrust::prompts::LocalPrompt;
use braintrust::{Config, Progress, RetryNotice, RunOutcome, Session, SyncReport, text};
use clap::builder::NonEmptyStringValueParser;
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
/// Datasets (`datasets push m12` → m12_golden_v1) and prompts (`prompts push m12`) go up too;
/// uploads made after those pushes link their experiment to the dataset (dataset_id) and the
/// prompt version (metadata) they ran on, and `status` shows those links.
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
    ///
    /// With --all, every experiment of the project (of --module, if given) goes to its default
    /// file; files already there are skipped, so an interrupted bulk download is finished by
    /// running it again.
    Download {
        /// Local id, experiment id or experiment name.
        #[arg(required_unless_present = "all")]
        experiment: Option<String>,
        /// Download every experiment (of --module, if given) to its default file, skipping
        /// those already downloaded.
        #[arg(long, conflicts_with_all = ["experiment", "output"])]
        all: bool,
        /// csv: a results CSV with the module's columns; jsonl: one JSON object per row.
        #[arg(long, value_enum, default_value_t = DownloadFormat::Csv)]
        format: DownloadFormat,
        /// Where to write (`-` for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The module, when neither the experiment's metadata, name nor rows tell (with --all:
        /// only this module's experiments).
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
    /// List the project's experiments, newest first, with the local run each came from.
    List {
        /// Only this module's experiments.
        #[arg(short, long, value_name = "MODULE")]
        module: Option<String>,
        /// Only experiments run with this model (from their metadata).
        #[arg(long, value_name = "MODEL")]
        model: Option<String>,
        /// Only experiments of this prompt version (v1, v2, …).
        #[arg(long, value_name = "VERSION")]
        prompt_version: Option<String>,
        /// Only experiments created on or after this day or time, in UTC as Braintrust records
        /// it (2026-01-16, 2026-01-16T08:00).
        #[arg(long, value_name = "DATE", value_parser = parse_since)]
        since: Option<String>,
        #[command(flatten)]
        net: NetArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Push, pull and list Braintrust datasets (golden, gold, synthetic or imported records).
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Push and list Braintrust prompts (a module's template at a prompt version).
    #[command(subcommand)]
    Prompts(PromptsCommand),
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

#[derive(Debug, Subcommand)]
enum DatasetsCommand {
    /// Upload a dataset file as a Braintrust dataset, replacing rows by record id.
    ///
    /// MODULE pushes the module's dataset from modules.toml as {module}_golden_{version}
    /// (m12_golden_v1); a FILE (a gold file from `merge-annotations gold`, a synthetic or an
    /// imported JSONL) is named after its kind: {module}_gold_{timestamp}, {module}_sd01,
    /// {module}_{file name}. Metadata {module_id, kind, sha256}; row ids are the record ids, so
    /// pushing again replaces rows instead of adding them. Rows on Braintrust the file no longer
    /// has are listed, and deleted only with --prune (after every row is stored).
    Push {
        /// A module (m12) or a dataset JSONL file.
        source: String,
        /// Name on Braintrust instead of the conventional one.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Delete the dataset's rows that the file no longer has.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        net: NetArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Download a Braintrust dataset as a dataset JSONL that `orchestrator run --dataset FILE`
    /// runs as it is ({id, input, expected, metadata} per line).
    Pull {
        /// Dataset name, e.g. m12_golden_v1.
        name: String,
        /// Where to write [default: datasets/braintrust/{name}.jsonl].
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        net: NetArgs,
    },
    /// List the project's datasets, and which were pushed from here.
    List {
        #[command(flatten)]
        net: NetArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PromptsCommand {
    /// Create or replace (a new version of) the Braintrust prompt of a module's template.
    ///
    /// The slug is {module}-{slug}-{version} (m12-check-hard-constraint-v1), so pushing again
    /// replaces it. The message is the template with {{field}} written as {{input.field}}; the
    /// options carry the model, temperature, max_tokens and the response_format JSON schema;
    /// metadata {module_id, version, local_file, sha256}.
    Push {
        /// The module (m12, 12, M12, or the module name).
        module: String,
        /// Prompt version [default: the catalogue's, v1].
        #[arg(long, value_name = "VERSION", value_parser = NonEmptyStringValueParser::new())]
        version: Option<String>,
        #[command(flatten)]
        net: NetArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the project's prompts.
    List {
        #[command(flatten)]
        net: NetArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `--since`: a day (`YYYY-MM-DD`) or a time (`YYYY-MM-DDTHH:MM[:SS]`).
fn parse_since(text: &str) -> Result<String, String> {
    let text = text.trim();
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok();
    let time = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .any(|f| chrono::NaiveDateTime::parse_from_str(text, f).is_ok());
    if day || time {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a date: write 2026-01-16 or 2026-01-16T08:00"
        ))
    }
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
            all,
            format,
            output,
            module,
            net,
        } => {
            let module = module
                .map(|m| project.catalog.resolve(&m).cloned())
                .transpose()?;
            let format = match format {
                DownloadFormat::Csv => Format::Csv,
                DownloadFormat::Jsonl => Format::Jsonl,
            };
            let Some(experiment) = experiment.filter(|_| !all) else {
                return download_all(&project, global, &net, module.as_ref(), format);
            };
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
            download(
                &project,
                &experiment.name,
                rows_from_events(events),
                format,
                output,
                module,
            )
        }
        Command::List {
            module,
            model,
            prompt_version,
            since,
            net,
            json,
        } => {
            let filter = ExperimentFilter {
                module: module
                    .map(|m| project.catalog.resolve(&m).map(|s| s.id.clone()))
                    .transpose()?,
                model,
                prompt_version,
                since,
            };
            let (session, _bar) = open(&project, global, &net, false, UPLOAD_BAR)?;
            let (bt_project, listed) = session.list_experiments(&registry.load()?, &filter)?;
            if json {
                print_json(&serde_json::json!({"project": bt_project, "experiments": listed}))?;
            } else {
                out(&text::experiments(&bt_project, &listed))?;
            }
            Ok(ExitStatus::Success)
        }
        Command::Datasets(command) => datasets(&project, global, &registry, command),
        Command::Prompts(command) => prompts(&project, global, &registry, command),
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

/// `download --all`: every experiment that fits, each line as it is done.
fn download_all(
    project: &Project,
    global: &GlobalArgs,
    net: &NetArgs,
    module: Option<&ModuleSpec>,
    format: Format,
) -> anyhow::Result<ExitStatus> {
    let filter = ExperimentFilter {
        module: module.map(|m| m.id.clone()),
        ..ExperimentFilter::default()
    };
    let (session, bar) = open(
        project,
        global,
        net,
        false,
        "{spinner} {msg}: {pos} rows fetched",
    )?;
    let registry = RegistryFile::in_project(project.paths.root.clone()).load()?;
    let report = session.download_all(
        &registry,
        &project.catalog,
        &project.paths,
        &filter,
        format,
        |item| {
            let _ = std::io::stdout()
                .lock()
                .write_all(text::bulk_item(item).as_bytes());
        },
    )?;
    bar.bar.finish();
    out(&text::bulk_summary(&report))?;
    Ok(ExitStatus::Success)
}

fn datasets(
    project: &Project,
    global: &GlobalArgs,
    registry: &RegistryFile,
    command: DatasetsCommand,
) -> anyhow::Result<ExitStatus> {
    match command {
        DatasetsCommand::Push {
            source,
            name,
            prune,
            net,
            json,
        } => {
            // The file is read and checked before anything is sent.
            let local =
                LocalDataset::open(&project.catalog, &project.paths, &source, name.as_deref())?;
            let (session, bar) = open(project, global, &net, false, UPLOAD_BAR)?;
            let plan = session.dataset_plan(&local)?;
            if !json {
                out(&text::dataset_plan(&local, &plan, prune))?;
            }
            let pushed = session
                .push_dataset(registry, &local, &plan, prune)
                .with_context(|| {
                    format!(
                        "dataset {} is not fully pushed; the same push again finishes it (rows are replaced by id)",
                        local.name
                    )
                })?;
            bar.bar.finish();
            if json {
                print_json(&serde_json::json!({"plan": plan, "pushed": pushed}))?;
            } else {
                out(&text::dataset_pushed(&pushed))?;
            }
            Ok(ExitStatus::Success)
        }
        DatasetsCommand::Pull {
            name,
            out: file,
            net,
        } => {
            let (session, bar) = open(
                project,
                global,
                &net,
                false,
                "{spinner} {msg}: {pos} rows fetched",
            )?;
            let (dataset, records) = session.pull_dataset(&name)?;
            bar.bar.finish();
            let path = file.unwrap_or_else(|| datasets::pull_path(&project.paths, &dataset.name));
            datasets::write_records(&path, &records)?;
            out(&text::dataset_pulled(
                &dataset.name,
                records.len(),
                &project.paths.display(&path),
            ))?;
            Ok(ExitStatus::Success)
        }
        DatasetsCommand::List { net, json } => {
            let (session, _bar) = open(project, global, &net, false, UPLOAD_BAR)?;
            let (bt_project, listed) = session.list_datasets(registry)?;
            if json {
                print_json(&serde_json::json!({"project": bt_project, "datasets": listed}))?;
            } else {
                out(&text::datasets(&bt_project, &listed))?;
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn prompts(
    project: &Project,
    global: &GlobalArgs,
    registry: &RegistryFile,
    command: PromptsCommand,
) -> anyhow::Result<ExitStatus> {
    match command {
        PromptsCommand::Push {
            module,
            version,
            net,
            json,
        } => {
            let module = project.catalog.resolve(&module)?;
            let local =
                LocalPrompt::load(&project.catalog, &project.paths, module, version.as_deref())?;
            let (session, _bar) = open(project, global, &net, false, UPLOAD_BAR)?;
            let pushed = session.push_prompt(registry, &local)?;
            if json {
                print_json(&pushed)?;
            } else {
                out(&text::prompt_pushed(&local, &pushed))?;
            }
            Ok(ExitStatus::Success)
        }
        PromptsCommand::List { net, json } => {
            let (session, _bar) = open(project, global, &net, false, UPLOAD_BAR)?;
            let (bt_project, prompts) = session.list_prompts()?;
            if json {
                print_json(&serde_json::json!({"project": bt_project, "prompts": prompts}))?;
            } else {
                out(&text::prompts(&bt_project, &prompts))?;
            }
            Ok(ExitStatus::Success)
        }
    }
}

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
