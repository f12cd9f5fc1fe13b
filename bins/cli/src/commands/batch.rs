//! `batch`: the OpenAI Batch API workflow (generate, upload, status, download, evaluate,
//! resubmit, cancel) over the `batch` crate.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use batch::layout::{Limits, OPENAI_MAX_LINES};
use batch::{BatchDir, EvaluateOptions, Event, GenerateOptions, ResubmitOptions, WatchOptions};
use chrono::Local;
use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};
use llm_client::format_duration;
use serde::Serialize;

use crate::common::{
    Bar, ExitStatus, GlobalArgs, Project, at_least_one, print_json, run_cli, runtime,
};

/// Run modules through the OpenAI Batch API: half the price of live calls, no client-side rate
/// limits, answers within 24 hours.
///
/// The steps, each safe to interrupt and run again:
///
///   batch generate m12 m13        request files + manifest.json in batch_requests/{YYYYmmdd_HHMM}/
///   batch upload DIR              upload the files and create one batch per file
///   batch status DIR --watch      wait until every batch is finished
///   batch download DIR            answers and failures into DIR/results/
///   batch evaluate DIR            score, write the results CSV, register the run
///   batch resubmit DIR            send again only what failed, expired or never came back
///
/// DIR is the folder `generate` printed; a bare name such as 20260127_1200 is looked up under
/// batch_requests/ (and batch_requests/synthetic/). Folders written by the earlier Python
/// scripts are read too.
///
/// Exit codes: 0 done, 1 the step ran but something is not finished or failed (the output says
/// what), 2 could not run.
#[derive(Debug, Parser)]
#[command(name = "batch", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write one request file per module (split at 50,000 requests and 200 MiB, or a token
    /// budget) and manifest.json with token and cost estimates at the batch price.
    ///
    /// Each line carries exactly the body a live `orchestrator run` sends. Custom ids are
    /// {module}_{record id} (characters other than letters, digits, `-`, `_`, `.` and `:`
    /// become `_`), or {module}_{position} zero-padded to five digits when a record id is
    /// empty, longer than 96 characters, or would look like another one. Nothing is written
    /// unless every record of every module is fine.
    Generate(GenerateArgs),
    /// Upload each request file (purpose batch) and create its batch (24h window, metadata
    /// naming the folder, module and file); writes upload_manifest.json.
    ///
    /// Run it again after an interruption or a failure: files with a batch are skipped,
    /// uploaded files are not sent again, and a batch whose creation got no answer is looked
    /// up by its file and metadata before a second one is created.
    Upload(UploadArgs),
    /// Show every batch (status, answered/total, failed) and write status_report.json.
    ///
    /// Exit code 0 when every batch is finished and every request has an answer (answers of
    /// resubmitted requests count), 1 otherwise: still running, or requests failed, expired or
    /// were cancelled and are not resubmitted yet.
    Status(StatusArgs),
    /// Download the answers and failures of every finished batch (expired and cancelled ones
    /// too: what they finished is kept) into DIR/results/{module}_results.jsonl and
    /// {module}_results.errors.jsonl; writes download_report.json.
    ///
    /// Files already downloaded are not fetched again. Exit code 1 while some batch is still
    /// running.
    Download(DirArgs),
    /// Join answers to records by custom id, score them as a live run would, write the results
    /// CSV under experiment_results/, register the run, and write evaluation_report.json
    /// (accuracy, grade A-F, every failed or missing request, mismatches).
    ///
    /// Requests without a usable answer are rows of the CSV too, with the reason in the
    /// `error` column; exit code 1 when there are any.
    Evaluate(EvaluateArgs),
    /// Send again, as new batches, only the requests that failed, expired or never came back
    /// (their lines copied unchanged into DIR/retryNN/).
    ///
    /// Every batch of the module must be finished and downloaded first.
    Resubmit(ResubmitArgs),
    /// Ask unfinished batches to stop; what they answered so far can still be downloaded.
    Cancel(CancelArgs),
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// Modules (m12, 12, 2b, or a name); every enabled module when none is given (with
    /// --synthetic: every module that has a synthetic set).
    modules: Vec<String>,

    /// Use the synthetic sets datasets/synthetic/{module}_sdNN_{slug}.jsonl (one group per
    /// set, written to batch_requests/synthetic/).
    #[arg(long)]
    synthetic: bool,

    /// Model for every request [default: the module's model, else DEFAULT_MODEL, else
    /// gpt-4o-mini].
    #[arg(long, value_name = "MODEL", value_parser = NonEmptyStringValueParser::new())]
    model: Option<String>,

    /// Only a seeded random sample of N records per module (the same records `orchestrator
    /// run --samples N --seed S` picks).
    #[arg(long, short = 'n', value_name = "N", value_parser = at_least_one())]
    samples: Option<usize>,

    /// Seed of the sample.
    #[arg(long, value_name = "SEED", default_value_t = runner::DEFAULT_SEED)]
    seed: u64,

    /// Prompt version [default: the catalogue's, v1].
    #[arg(long, value_name = "VERSION", value_parser = NonEmptyStringValueParser::new())]
    prompt_version: Option<String>,

    /// Read records from this JSONL file instead of the module's dataset (one module only).
    #[arg(long, value_name = "FILE")]
    dataset: Option<PathBuf>,

    #[command(flatten)]
    limits: LimitArgs,

    /// Write to this folder instead of batch_requests/{YYYYmmdd_HHMM}/ (it must not exist).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Print the manifest as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, clap::Args)]
struct LimitArgs {
    /// Most requests per file (OpenAI allows 50,000 per batch).
    #[arg(long, value_name = "N", default_value_t = OPENAI_MAX_LINES, value_parser = at_least_one())]
    max_lines: usize,

    /// Largest file (OpenAI allows 200 MiB); e.g. 100MiB, 50MB, 1048576. Sizes count in
    /// 1024s: 200MB = 200MiB = 209,715,200 bytes.
    #[arg(long, value_name = "SIZE", default_value = "200MiB", value_parser = batch::parse_size)]
    max_bytes: u64,

    /// Most estimated prompt tokens per file, to stay under the model's enqueued-token limit
    /// (e.g. 2000000); no budget when not given.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_tokens_per_file: Option<u64>,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_lines: self.max_lines,
            max_bytes: self.max_bytes,
            max_tokens: self.max_tokens_per_file,
        }
    }
}

#[derive(Debug, clap::Args)]
struct DirArgs {
    /// The batch folder (a path, or a name under batch_requests/).
    dir: PathBuf,

    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct UploadArgs {
    #[command(flatten)]
    dir: DirArgs,

    /// Extra metadata on every batch (up to 9 pairs), e.g. --metadata owner=ads-team.
    #[arg(long, value_name = "KEY=VALUE", value_parser = batch::parse_metadata_pair)]
    metadata: Vec<(String, String)>,

    /// Show what would be uploaded and the estimated cost; send nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    dir: DirArgs,

    /// Keep checking until every batch is finished, waiting longer while nothing moves; a
    /// progress bar shows on stderr.
    #[arg(long)]
    watch: bool,

    /// First wait between checks while watching (it grows by half, up to --max-interval,
    /// while nothing changes).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = batch::parse_interval)]
    interval: Duration,

    /// Longest wait between checks while watching.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = batch::parse_interval)]
    max_interval: Duration,

    /// Stop watching after this long (exit code 1 if batches are still running).
    #[arg(long, value_name = "DURATION", value_parser = batch::parse_wait)]
    timeout: Option<Duration>,
}

#[derive(Debug, clap::Args)]
struct EvaluateArgs {
    #[command(flatten)]
    dir: DirArgs,

    /// Only these modules (or synthetic sets such as m12_sd01); all when none is given.
    modules: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ResubmitArgs {
    #[command(flatten)]
    dir: DirArgs,

    /// Only these modules (or synthetic sets); all when none is given.
    modules: Vec<String>,

    #[command(flatten)]
    limits: LimitArgs,

    /// Extra metadata on the new batches.
    #[arg(long, value_name = "KEY=VALUE", value_parser = batch::parse_metadata_pair)]
    metadata: Vec<(String, String)>,

    /// Count what would be sent again; write and send nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct CancelArgs {
    #[command(flatten)]
    dir: DirArgs,

    /// Only these modules; all when none is given.
    modules: Vec<String>,
}

/// Entry point of the `batch` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    let global = &cli.global;
    match cli.command {
        Command::Generate(args) => generate(global, &project, &args),
        Command::Upload(args) => upload(global, &project, &args),
        Command::Status(args) => status(global, &project, &args),
        Command::Download(args) => download(global, &project, &args),
        Command::Evaluate(args) => evaluate(&project, &args),
        Command::Resubmit(args) => resubmit(global, &project, &args),
        Command::Cancel(args) => cancel(&project, &args),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Finds the batch folder: as given, else under batch_requests/ (and its synthetic/ folder).
fn open_dir(project: &Project, arg: &Path) -> anyhow::Result<BatchDir> {
    let base = project.paths.batch_requests();
    let Some(found) = batch::find_dir(&base, arg) else {
        bail!(
            "no batch folder `{}` (looked in the current folder, {} and {})",
            arg.display(),
            project.paths.display(&base),
            project.paths.display(&base.join("synthetic"))
        );
    };
    Ok(BatchDir::open(&found)?)
}

/// Writes a report's text to stdout (an error, not a panic, when stdout is closed).
fn out(text: &str) -> anyhow::Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

fn shown(project: &Project, path: &Path) -> String {
    project.paths.display(path).into_owned()
}

/// Progress on stderr: a bar for generation and watching, a message otherwise.
const BAR: &str = "{prefix:>8} [{bar:30}] {pos}/{len} {msg}";

impl batch::Reporter for Bar {
    fn event(&self, event: &Event<'_>) {
        let bar = self;
        match event {
            Event::Generating { key, done, total } => {
                bar.set_prefix((*key).to_owned());
                bar.set_length((*total).max(*done));
                bar.set_position(*done);
                bar.set_message("requests");
            }
            Event::Uploading { file, bytes: size } => {
                bar.set_prefix("upload");
                bar.set_message(format!("{file} ({})", batch::text::bytes(*size)));
            }
            Event::Skipped { file, reason } => bar.println(&format!("  {file}: {reason}"), false),
            Event::Submitted {
                file,
                batch_id,
                found,
            } => {
                let how = if *found { "found again" } else { "created" };
                bar.inc(1);
                bar.println(&format!("  {file}: batch {batch_id} {how}"), false);
            }
            Event::Failed { file, message } => bar.println(&format!("  {file}: {message}"), false),
            Event::Polled { states, next } => {
                let total: u64 = states.iter().map(|s| s.request_counts.total).sum();
                let done: u64 = states
                    .iter()
                    .map(|s| s.request_counts.completed + s.request_counts.failed)
                    .sum();
                let finished = states.iter().filter(|s| s.terminal).count();
                bar.set_prefix("batches");
                bar.set_length(total.max(done));
                bar.set_position(done);
                bar.set_message(match next {
                    Some(wait) => format!(
                        "requests; {finished}/{} batches finished; next check in {}",
                        states.len(),
                        format_duration(*wait)
                    ),
                    None => format!("requests; {finished}/{} batches finished", states.len()),
                });
            }
            Event::Downloaded { file_id, lines } => {
                bar.set_prefix("download");
                bar.set_message(format!("{file_id} ({lines} lines)"));
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// generate
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct GenerateJson<'a> {
    dir: String,
    manifest: &'a batch::Manifest,
}

fn generate(
    global: &GlobalArgs,
    project: &Project,
    args: &GenerateArgs,
) -> anyhow::Result<ExitStatus> {
    let openai = project.env.openai()?;
    let prices = project.prices()?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let options = GenerateOptions {
        modules: args.modules.clone(),
        synthetic: args.synthetic,
        model: args.model.clone(),
        default_model: project.env.default_model(),
        prompt_version: args.prompt_version.clone(),
        samples: args.samples,
        seed: args.seed,
        dataset: args.dataset.as_ref().map(|d| cwd.join(d)),
        limits: args.limits.limits(),
        token_param: openai.token_param,
        out: args.out.as_ref().map(|d| cwd.join(d)),
        started: Local::now(),
    };
    let bar = Bar::new(global, args.json, Some(0), BAR);
    let generated = batch::generate(&project.catalog, prices.as_ref(), &options, &bar);
    bar.finish();
    let generated = generated.context("no request files were written")?;
    if args.json {
        print_json(&GenerateJson {
            dir: shown(project, &generated.dir),
            manifest: &generated.manifest,
        })?;
        return Ok(ExitStatus::Success);
    }
    let text = batch::text::generated(
        &shown(project, &generated.dir),
        &generated.manifest,
        global.quiet,
    );
    out(&text)?;
    Ok(ExitStatus::Success)
}

// ---------------------------------------------------------------------------------------------
// upload
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct DryUpload<'a> {
    dry_run: bool,
    dir: String,
    files: &'a [batch::PendingFile],
    estimated_cost_usd: Option<f64>,
}

fn upload(global: &GlobalArgs, project: &Project, args: &UploadArgs) -> anyhow::Result<ExitStatus> {
    let dir = open_dir(project, &args.dir.dir)?;
    let metadata = batch::metadata_map(&args.metadata);
    batch::check_metadata(&metadata)?;
    let shown_dir = shown(project, &dir.path);
    if args.dry_run {
        let files = batch::pending_files(&dir)?;
        if args.dir.json {
            print_json(&DryUpload {
                dry_run: true,
                dir: shown_dir,
                files: &files,
                estimated_cost_usd: dir.manifest.estimated_cost_usd,
            })?;
            return Ok(ExitStatus::Success);
        }
        let text = batch::text::dry_upload(&shown_dir, &files, dir.manifest.estimated_cost_usd);
        out(&text)?;
        return Ok(ExitStatus::Success);
    }
    let client = project.openai_client()?;
    let bar = Bar::new(global, args.dir.json, Some(0), BAR);
    let report = runtime()?.block_on(batch::upload(&dir, &client, &metadata, &bar));
    bar.finish();
    let report = report?;
    let status = if report.failed > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    if args.dir.json {
        print_json(&report)?;
        return Ok(status);
    }
    out(&batch::text::upload(&shown_dir, &report, global.quiet))?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------------------------

fn status(global: &GlobalArgs, project: &Project, args: &StatusArgs) -> anyhow::Result<ExitStatus> {
    let dir = open_dir(project, &args.dir.dir)?;
    let client = project.openai_client()?;
    let shown_dir = shown(project, &dir.path);
    let runtime = runtime()?;
    let (report, end) = if args.watch {
        let bar = Bar::new(global, args.dir.json, Some(0), BAR);
        let options = WatchOptions {
            interval: args.interval,
            max_interval: args.max_interval.max(args.interval),
            timeout: args.timeout,
        };
        let result = runtime.block_on(async {
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            batch::status::watch(&dir, &client, options, &bar, stop).await
        });
        bar.finish();
        let (report, end) = result?;
        (report, Some(end))
    } else {
        (runtime.block_on(batch::status::check(&dir, &client))?, None)
    };
    let status = if report.all_clean() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    if args.dir.json {
        print_json(&report)?;
        return Ok(status);
    }
    out(&batch::text::status(&shown_dir, &report, end, global.quiet))?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// download
// ---------------------------------------------------------------------------------------------

fn download(global: &GlobalArgs, project: &Project, args: &DirArgs) -> anyhow::Result<ExitStatus> {
    let dir = open_dir(project, &args.dir)?;
    let client = project.openai_client()?;
    let bar = Bar::new(global, args.json, Some(0), BAR);
    let report = runtime()?.block_on(batch::download(&dir, &client, &bar));
    bar.finish();
    let report = report?;
    let status = if report.summary.not_ready > 0 || report.summary.errors > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    if args.json {
        print_json(&report)?;
        return Ok(status);
    }
    let text = batch::text::download(&shown(project, &dir.path), &report, global.quiet);
    out(&text)?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// evaluate
// ---------------------------------------------------------------------------------------------

fn evaluate(project: &Project, args: &EvaluateArgs) -> anyhow::Result<ExitStatus> {
    let dir = open_dir(project, &args.dir.dir)?;
    let prices = project.prices()?;
    let openai = project.env.openai()?;
    let options = EvaluateOptions {
        keys: args.modules.clone(),
        token_param: openai.token_param,
        started: Local::now(),
    };
    // Usable answers also go into the response cache, so a live run of them is free. Scoring
    // needs no API key: without a usable client configuration there is just no caching.
    let cache =
        llm_client::Cache::open(llm_client::Cache::default_dir(&project.paths, &project.env))?;
    let report = match llm_client::Client::builder(openai).cache(cache).build() {
        Ok(client) => {
            batch::evaluate_into_cache(&dir, &project.catalog, prices.as_ref(), &options, &client)?
        }
        Err(_) => batch::evaluate(&dir, &project.catalog, prices.as_ref(), &options)?,
    };
    let status = if report.all_scored() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    if args.dir.json {
        print_json(&report)?;
        return Ok(status);
    }
    out(&batch::text::evaluation(
        &shown(project, &dir.path),
        &report,
    ))?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// resubmit
// ---------------------------------------------------------------------------------------------

fn resubmit(
    global: &GlobalArgs,
    project: &Project,
    args: &ResubmitArgs,
) -> anyhow::Result<ExitStatus> {
    let dir = open_dir(project, &args.dir.dir)?;
    let client = project.openai_client()?;
    let options = ResubmitOptions {
        keys: args.modules.clone(),
        limits: args.limits.limits(),
        metadata: batch::metadata_map(&args.metadata),
        dry_run: args.dry_run,
    };
    let bar = Bar::new(global, args.dir.json, Some(0), BAR);
    let report = runtime()?.block_on(batch::resubmit(&dir, &client, &options, &bar));
    bar.finish();
    let report = report?;
    let failed = report.upload.as_ref().is_some_and(|u| u.failed > 0);
    let status = if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    if args.dir.json {
        print_json(&report)?;
        return Ok(status);
    }
    let text = batch::text::resubmit(
        &shown(project, &dir.path),
        &report,
        args.dry_run,
        global.quiet,
    );
    out(&text)?;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// cancel
// ---------------------------------------------------------------------------------------------

fn cancel(project: &Project, args: &CancelArgs) -> anyhow::Result<ExitStatus> {
    let dir = open_dir(project, &args.dir.dir)?;
    let client = project.openai_client()?;
    let states = runtime()?.block_on(batch::status::cancel(&dir, &client, &args.modules))?;
    if args.dir.json {
        print_json(&states)?;
        return Ok(ExitStatus::Success);
    }
    out(&batch::text::cancelled(&shown(project, &dir.path), &states))?;
    Ok(ExitStatus::Success)
}
