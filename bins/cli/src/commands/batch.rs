//! `batch`: the OpenAI Batch API workflow (generate, upload, status, download, evaluate,
//! resubmit, cancel) over the `batch` crate.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use batch::layout::{Limits, OPENAI_MAX_LINES};
use batch::{
    BatchDir, BatchState, DownloadReport, EvaluateOptions, EvaluationReport, Event,
    GenerateOptions, Generated, ResubmitOptions, ResubmitReport, StatusReport, UploadReport,
    WatchEnd, WatchOptions,
};
use chrono::Local;
use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand};
use llm_client::{format_duration, parse_duration};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::common::{
    Bar, ExitStatus, GlobalArgs, Project, Table, at_least_one, plural, print_json, run_cli,
    runtime, thousands,
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
    #[arg(long, value_name = "SIZE", default_value = "200MiB", value_parser = size)]
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

fn size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits_end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(t.len(), |(i, _)| i);
    let (number, unit) = t.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (write e.g. 200MiB, 50MB or 1048576)"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB or GiB)"
            ));
        }
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "sizes are small positive numbers"
    )]
    let bytes = (number * factor).round() as u64;
    if bytes == 0 {
        return Err(format!(
            "`{text}` is 0 bytes: a file must hold at least one request"
        ));
    }
    Ok(bytes)
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration (write e.g. 500ms, 30s, 5m, 2h)"))
}

/// A wait between checks: 0 would poll the API in a busy loop.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err(format!("`{text}` is no wait at all; give at least e.g. 1s")),
        d => Ok(d),
    }
}

fn metadata_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    if key.trim().is_empty() {
        return Err(format!("`{text}` has no KEY before the `=`"));
    }
    Ok((key.trim().to_owned(), value.to_owned()))
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
    #[arg(long, value_name = "KEY=VALUE", value_parser = metadata_pair)]
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
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    interval: Duration,

    /// Longest wait between checks while watching.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = positive_duration)]
    max_interval: Duration,

    /// Stop watching after this long (exit code 1 if batches are still running).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
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
    #[arg(long, value_name = "KEY=VALUE", value_parser = metadata_pair)]
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
    let candidates = [
        arg.to_owned(),
        base.join(arg),
        base.join("synthetic").join(arg),
    ];
    let Some(found) = candidates.iter().find(|c| c.is_dir()) else {
        bail!(
            "no batch folder `{}` (looked in the current folder, {} and {})",
            arg.display(),
            project.paths.display(&base),
            project.paths.display(&base.join("synthetic"))
        );
    };
    let found = found.canonicalize().unwrap_or_else(|_| found.clone());
    Ok(BatchDir::open(&found)?)
}

fn shown(project: &Project, path: &Path) -> String {
    project.paths.display(path).into_owned()
}

fn bytes(n: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let f = n as f64;
    if f >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", f / (1024.0 * 1024.0 * 1024.0))
    } else if f >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", f / (1024.0 * 1024.0))
    } else if f >= 1024.0 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn usd(cost: Option<f64>) -> String {
    cost.map_or_else(|| "unknown".to_owned(), |c| format!("${c:.4}"))
}

fn metadata_map(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
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
                bar.set_message(format!("{file} ({})", bytes(*size)));
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
    print_generated(project, &generated, global.quiet)?;
    Ok(ExitStatus::Success)
}

fn print_generated(project: &Project, generated: &Generated, quiet: bool) -> anyhow::Result<()> {
    let m = &generated.manifest;
    let dir = shown(project, &generated.dir);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Wrote {} for {} to {dir}/ ({} requests, {})\n",
        plural(m.total_files, "request file", "request files"),
        plural(m.modules_processed, "module", "modules"),
        thousands(m.total_records),
        bytes(m.total_bytes)
    )?;
    let mut table = Table::new([
        "module",
        "file",
        "requests",
        "size",
        "est. tokens",
        "custom ids",
    ])
    .right(&[2, 3, 4]);
    for group in &m.results {
        for (i, file) in group.files.iter().enumerate() {
            table.row([
                if i == 0 {
                    group.key().to_owned()
                } else {
                    String::new()
                },
                file.file.clone(),
                thousands(file.requests),
                bytes(file.bytes),
                thousands(file.estimated_prompt_tokens),
                if i == 0 {
                    group.custom_ids.as_str().replace('_', " ")
                } else {
                    String::new()
                },
            ]);
        }
    }
    write!(out, "{}", table.render(2))?;
    writeln!(
        out,
        "\nEstimated: ~{} prompt + ~{} completion tokens, {} at the batch price",
        thousands(m.estimated_prompt_tokens),
        thousands(m.estimated_completion_tokens),
        match m.estimated_cost_usd {
            Some(c) => format!("${c:.4}"),
            None => "cost unknown (a model is not in prices.toml)".to_owned(),
        }
    )?;
    if !quiet {
        writeln!(out, "Next: batch upload {dir}")?;
    }
    Ok(())
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
    let metadata = metadata_map(&args.metadata);
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
        let mut out = std::io::stdout().lock();
        writeln!(out, "Dry run: nothing is sent. {shown_dir}:\n")?;
        let mut table = Table::new(["module", "file", "requests", "size", "would"]).right(&[2, 3]);
        for f in &files {
            table.row([
                f.key.clone(),
                f.file.clone(),
                thousands(f.requests),
                bytes(f.bytes),
                match f.action {
                    "upload" => "upload and create a batch".to_owned(),
                    "create" => "create a batch (file already uploaded)".to_owned(),
                    _ => format!("skip (batch {})", f.batch_id.as_deref().unwrap_or_default()),
                },
            ]);
        }
        write!(out, "{}", table.render(2))?;
        writeln!(
            out,
            "\nEstimated cost at the batch price: {}",
            usd(dir.manifest.estimated_cost_usd)
        )?;
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
    print_upload(&shown_dir, &report, global.quiet)?;
    Ok(status)
}

fn print_upload(dir: &str, report: &UploadReport, quiet: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{dir}: {} uploaded, {} created, {} found again, {} already submitted, {} failed\n",
        report.uploaded,
        plural(report.created, "batch", "batches"),
        report.found,
        report.skipped,
        report.failed
    )?;
    let mut table = Table::new(["module", "file", "requests", "batch", "state"]).right(&[2]);
    for e in &report.entries {
        table.row([
            e.key(),
            e.file.clone(),
            thousands(e.requests),
            e.batch_id.clone().unwrap_or_else(|| "-".to_owned()),
            match (&e.batch_id, &e.error) {
                (Some(_), _) => "submitted".to_owned(),
                (None, Some(error)) => error.clone(),
                (None, None) => e.status.clone(),
            },
        ]);
    }
    write!(out, "{}", table.render(2))?;
    if report.failed > 0 {
        writeln!(
            out,
            "\n{} failed: fix the cause, then run `batch upload {dir}` again (finished files are skipped)",
            plural(report.failed, "file", "files")
        )?;
    } else if !quiet {
        writeln!(out, "\nNext: batch status {dir} --watch")?;
    }
    Ok(())
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
    print_status(&shown_dir, &report, end, global.quiet)?;
    Ok(status)
}

fn state_rows(states: &[BatchState]) -> Table {
    let mut table =
        Table::new(["module", "file", "batch", "status", "answered", "failed"]).right(&[4, 5]);
    for s in states {
        let c = s.request_counts;
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let share = if c.total > 0 {
            format!(" ({:.0}%)", c.completed as f64 / c.total as f64 * 100.0)
        } else {
            String::new()
        };
        table.row([
            s.key.clone(),
            s.file.clone(),
            s.batch_id.clone(),
            s.status.clone(),
            format!("{}/{}{share}", thousands(c.completed), thousands(c.total)),
            thousands(c.failed),
        ]);
    }
    table
}

fn print_status(
    dir: &str,
    report: &StatusReport,
    end: Option<WatchEnd>,
    quiet: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let s = &report.summary;
    writeln!(out, "{dir}: {}\n", plural(s.batches, "batch", "batches"))?;
    write!(out, "{}", state_rows(&report.statuses).render(2))?;
    for state in &report.statuses {
        for e in &state.errors {
            let at = e.line.map_or_else(String::new, |l| format!(" (line {l})"));
            writeln!(
                out,
                "  {} {}: {}{at}: {}",
                state.key,
                state.batch_id,
                e.code.as_deref().unwrap_or("error"),
                e.message
            )?;
        }
    }
    let mut parts = Vec::new();
    for (n, what) in [
        (s.completed, "completed"),
        (s.in_progress, "running"),
        (s.expired, "expired"),
        (s.cancelled, "cancelled"),
        (s.failed, "failed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let requests: u64 = report.groups.iter().map(|g| g.requests).sum();
    let answered: u64 = report
        .groups
        .iter()
        .map(|g| g.answered.min(g.requests))
        .sum();
    let rounds = if report.statuses.iter().any(|b| b.round > 0) {
        " (resubmissions included)"
    } else {
        ""
    };
    writeln!(
        out,
        "\n{}; {} of {} requests answered{rounds}, {} in error files",
        parts.join(", "),
        thousands(answered),
        thousands(requests),
        plural(
            usize::try_from(s.failed_requests).unwrap_or(usize::MAX),
            "failed line",
            "failed lines"
        )
    )?;
    match end {
        Some(WatchEnd::TimedOut) => writeln!(out, "Stopped watching: --timeout passed")?,
        Some(WatchEnd::Stopped) => writeln!(out, "Stopped watching (interrupted)")?,
        _ => {}
    }
    if quiet {
        return Ok(());
    }
    if !s.all_terminal {
        writeln!(
            out,
            "Not finished yet: run `batch status {dir} --watch` to wait"
        )?;
    } else if report.all_clean() {
        writeln!(out, "Next: batch download {dir}")?;
    } else {
        writeln!(
            out,
            "Next: batch download {dir} (what finished is kept), then `batch resubmit {dir}` for the rest"
        )?;
    }
    Ok(())
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
    print_download(&shown(project, &dir.path), &report, global.quiet)?;
    Ok(status)
}

fn print_download(dir: &str, report: &DownloadReport, quiet: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let s = &report.summary;
    writeln!(
        out,
        "{dir}: {} downloaded, {} still running, {} without results\n",
        plural(s.downloaded, "batch", "batches"),
        s.not_ready,
        s.errors
    )?;
    let mut table =
        Table::new(["module", "batch", "status", "answers", "errors", "state"]).right(&[3, 4]);
    for d in &report.downloads {
        table.row([
            d.key.clone(),
            d.batch_id.clone(),
            d.status.clone(),
            thousands(d.results),
            thousands(d.errors),
            match &d.message {
                Some(m) => format!("{}: {m}", d.state.replace('_', " ")),
                None => d.state.replace('_', " "),
            },
        ]);
    }
    write!(out, "{}", table.render(2))?;
    writeln!(out)?;
    for g in &report.groups {
        if let Some(file) = &g.results_file {
            writeln!(out, "  {dir}/{file}: {} answers", thousands(g.results))?;
        }
        if let Some(file) = &g.errors_file {
            writeln!(
                out,
                "  {dir}/{file}: {} failed requests",
                thousands(g.errors)
            )?;
        }
    }
    if quiet {
        return Ok(());
    }
    if s.not_ready > 0 {
        writeln!(
            out,
            "\nSome batches are still running: run `batch status {dir} --watch`, then download again"
        )?;
    } else {
        writeln!(out, "\nNext: batch evaluate {dir}")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// evaluate
// ---------------------------------------------------------------------------------------------

/// How many unanswered requests the text output lists per module.
const LISTED: usize = 10;

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
    print_evaluation(project, &dir, &report)?;
    Ok(status)
}

fn print_evaluation(
    project: &Project,
    dir: &BatchDir,
    report: &EvaluationReport,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let shown_dir = shown(project, &dir.path);
    writeln!(
        out,
        "{shown_dir}: {} evaluated\n",
        plural(report.evaluations.len(), "module", "modules")
    )?;
    let mut table = Table::new([
        "module", "requests", "scored", "correct", "accuracy", "grade", "failed", "missing",
        "unusable",
    ])
    .right(&[1, 2, 3, 4, 6, 7, 8]);
    for e in &report.evaluations {
        table.row([
            e.key.clone(),
            thousands(e.requests as u64),
            thousands(e.total as u64),
            thousands(e.correct as u64),
            e.accuracy
                .map_or_else(|| "-".to_owned(), |a| format!("{a:.2}%")),
            e.grade.clone().unwrap_or_else(|| "-".to_owned()),
            thousands(e.failed as u64),
            thousands(e.missing as u64),
            thousands(e.unusable as u64),
        ]);
    }
    write!(out, "{}", table.render(2))?;
    let s = &report.summary;
    if report.evaluations.len() > 1 {
        writeln!(
            out,
            "\nOverall: {} of {} scored answers correct ({})",
            thousands(s.total_correct as u64),
            thousands(s.total_records as u64),
            s.overall_accuracy
                .map_or_else(|| "-".to_owned(), |a| format!("{a:.2}%"))
        )?;
        if !s.low_performers.is_empty() {
            writeln!(out, "Under 70%: {}", s.low_performers.join(", "))?;
        }
    }
    for e in &report.evaluations {
        writeln!(out, "\n{} {}", e.key, e.name)?;
        let mut t = Table::headless();
        t.row(["results".to_owned(), e.results_csv.clone()]);
        t.row(["registered".to_owned(), e.local_id.clone()]);
        t.row([
            "tokens".to_owned(),
            format!(
                "{} prompt + {} completion, {} at the batch price",
                thousands(e.prompt_tokens),
                thousands(e.completion_tokens),
                usd(e.cost_usd)
            ),
        ]);
        if e.mismatches_total > 0 {
            t.row([
                "mismatches".to_owned(),
                if e.mismatches.len() == e.mismatches_total {
                    format!("{} (listed in evaluation_report.json)", e.mismatches_total)
                } else {
                    format!(
                        "{} (the first {} are listed in evaluation_report.json; all are in the CSV)",
                        e.mismatches_total,
                        e.mismatches.len()
                    )
                },
            ]);
        }
        write!(out, "{}", t.render(2))?;
        for w in &e.warnings {
            writeln!(out, "  warning: {w}")?;
        }
        if e.unexpected_total > 0 {
            writeln!(
                out,
                "  warning: {} carry custom ids this folder never sent (ignored; the first are listed in evaluation_report.json)",
                plural(e.unexpected_total, "result line", "result lines")
            )?;
        }
        if !e.errors.is_empty() {
            writeln!(out, "  without a usable answer ({}):", e.errors.len())?;
            for u in e.errors.iter().take(LISTED) {
                writeln!(out, "    {} [{}] {}", u.custom_id, u.kind, u.message)?;
            }
            if e.errors.len() > LISTED {
                writeln!(
                    out,
                    "    … and {} more (all are listed in {shown_dir}/evaluation_report.json)",
                    e.errors.len() - LISTED
                )?;
            }
        }
    }
    if !report.all_scored() {
        writeln!(
            out,
            "\nSome requests have no usable answer: `batch resubmit {shown_dir}` sends the failed and missing ones again"
        )?;
    }
    Ok(())
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
        metadata: metadata_map(&args.metadata),
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
    print_resubmit(
        &shown(project, &dir.path),
        &report,
        args.dry_run,
        global.quiet,
    )?;
    Ok(status)
}

fn print_resubmit(
    dir: &str,
    report: &ResubmitReport,
    dry_run: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let resent = report.resent();
    if resent == 0 {
        writeln!(
            out,
            "{dir}: nothing to resubmit, every request has an answer"
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{dir}: {} {} (round {})\n",
        if dry_run {
            "would send again"
        } else {
            "sending again"
        },
        plural(resent, "request", "requests"),
        report.round
    )?;
    let mut table = Table::new([
        "module",
        "requests",
        "answered",
        "failed",
        "missing",
        "new files",
    ])
    .right(&[1, 2, 3, 4]);
    for g in &report.groups {
        table.row([
            g.key.clone(),
            thousands(g.requests as u64),
            thousands(g.answered as u64),
            thousands(g.failed as u64),
            thousands(g.missing as u64),
            g.files
                .iter()
                .map(|f| format!("retry{:02}/{}", report.round, f.file))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    write!(out, "{}", table.render(2))?;
    if let Some(upload) = &report.upload {
        writeln!(out)?;
        for e in upload.entries.iter().filter(|e| e.round == report.round) {
            match (&e.batch_id, &e.error) {
                (Some(id), _) => writeln!(out, "  {}: batch {id}", e.file)?,
                (None, Some(error)) => writeln!(out, "  {}: {error}", e.file)?,
                (None, None) => writeln!(out, "  {}: {}", e.file, e.status)?,
            }
        }
        if upload.failed > 0 {
            writeln!(
                out,
                "\nSome files were not submitted: run `batch upload {dir}` to retry them"
            )?;
        } else if !quiet {
            writeln!(out, "\nNext: batch status {dir} --watch")?;
        }
    }
    Ok(())
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
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}:\n", shown(project, &dir.path))?;
    write!(out, "{}", state_rows(&states).render(2))?;
    writeln!(
        out,
        "\nCancelling takes up to 10 minutes; then `batch download {}` keeps what finished",
        shown(project, &dir.path)
    )?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use batch::layout::OPENAI_MAX_BYTES;

    #[test]
    fn sizes_count_in_1024s() {
        assert_eq!(size("200MiB"), Ok(OPENAI_MAX_BYTES));
        assert_eq!(size("200MB"), Ok(OPENAI_MAX_BYTES));
        assert_eq!(size("1.5k"), Ok(1536));
        assert_eq!(size("4096"), Ok(4096));
        assert!(size("12 parsecs").is_err());
        assert!(size("MB").is_err());
    }

    #[test]
    fn metadata_pairs_split_at_the_first_equals_sign() {
        assert_eq!(
            metadata_pair("owner=ads=team"),
            Ok(("owner".to_owned(), "ads=team".to_owned()))
        );
        assert!(metadata_pair("owner").is_err());
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(OPENAI_MAX_BYTES), "200.0 MiB");
    }
}
