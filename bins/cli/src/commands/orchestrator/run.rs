//! `orchestrator run`: plan, call, score, write, register; with a progress bar and a summary.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use braintrust::{RunOutcome, Session};
use llm_client::{Cache, CacheMode, Client, PacingConfig, Reporter, RetryEvent};
use registry::RegistryFile;
use runner::text::{self, PlanSummary};
use runner::{ExecOptions, Plan, Progress, RunOptions, RunReport, RunReporter};
use serde::Serialize;

use clap::builder::NonEmptyStringValueParser;

use crate::common::{
    Bar, ExitStatus, GlobalArgs, Project, Table, at_least_one, print_json, runtime, thousands,
};

/// Arguments of `orchestrator run`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["modules", "all"]))]
pub(super) struct RunArgs {
    /// Modules to run (m12, M12, 12, m02b, 2b, or a module name).
    modules: Vec<String>,

    /// Run every enabled module.
    #[arg(long)]
    all: bool,

    /// Run a seeded random sample of N records instead of the whole dataset.
    #[arg(long, short = 'n', value_name = "N", value_parser = at_least_one())]
    samples: Option<usize>,

    /// Seed of the sample (the same seed picks the same records on every machine).
    #[arg(long, value_name = "SEED", default_value_t = runner::DEFAULT_SEED)]
    seed: u64,

    /// Model to call [default: the module's model, else DEFAULT_MODEL, else gpt-4o-mini].
    #[arg(long, value_name = "MODEL", value_parser = NonEmptyStringValueParser::new())]
    model: Option<String>,

    /// Load and check everything, print the plan (records, token and cost estimate, output
    /// paths), and send nothing.
    #[arg(long)]
    dry_run: bool,

    /// Upload the run to Braintrust when it finishes.
    #[arg(long)]
    upload: bool,

    /// Most requests in flight (the limit adapts downwards on 429s and 503s).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = at_least_one())]
    concurrency: usize,

    /// Client-side cap on requests per minute.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rpm: Option<u32>,

    /// Client-side cap on tokens per minute.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    tpm: Option<u64>,

    /// Ask the model again even when the answer is in the response cache (and do not store
    /// new answers).
    #[arg(long)]
    no_cache: bool,

    /// Finish the newest interrupted run of each module instead of starting a new one.
    #[arg(long)]
    resume: bool,

    /// Prompt version (`prompts/modules/single/{id}_{version}_{slug}.md`) [default: v1].
    #[arg(long, value_name = "VERSION", value_parser = NonEmptyStringValueParser::new())]
    prompt_version: Option<String>,

    /// Read records from this JSONL file instead of the module's dataset (e.g. a gold file
    /// written by `merge-annotations gold`). One module only.
    #[arg(long, value_name = "FILE")]
    dataset: Option<PathBuf>,

    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    json: bool,
}

impl RunArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            modules: self.modules.clone(),
            all: self.all,
            model: self.model.clone(),
            samples: self.samples,
            seed: self.seed,
            dataset: self.dataset.clone(),
            prompt_version: self.prompt_version.clone(),
            resume: self.resume,
        }
    }
}

pub(super) fn run(
    global: &GlobalArgs,
    project: &Project,
    args: &RunArgs,
) -> anyhow::Result<ExitStatus> {
    let bar = Arc::new(Bar::new(
        global,
        args.json,
        Some(0),
        "{prefix:>5} [{bar:30}] {pos}/{len} rows {per_sec} ETA {eta} {msg}",
    ));
    // Checked before any work: a missing Braintrust key should stop the run, not its upload.
    let upload = if args.upload {
        let config = braintrust::Config::from_settings(&project.env.braintrust())
            .context("--upload needs Braintrust settings")?;
        let session = Session::new(config, bar.clone() as Arc<dyn braintrust::Progress>)?
            .scorer(runner::detail_scores)
            .repo_info(core_config::git_state(&project.paths.root).map(Into::into));
        Some(session)
    } else {
        None
    };
    let setup = runner::prepare(&project.catalog, &project.env, &args.options())?;
    if args.dry_run {
        return dry_run(&setup.plans, &setup.openai.base_url, args.json);
    }
    let client = client(project, args, setup.openai, setup.prices, &bar)?;
    let options = ExecOptions {
        max_in_flight: args.concurrency,
        cache: if args.no_cache {
            CacheMode::Off
        } else {
            CacheMode::Use
        },
    };
    let runtime = runtime()?;
    let mut reports = Vec::new();
    let mut status = ExitStatus::Success;
    for plan in &setup.plans {
        let result = runtime.block_on(async {
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            runner::execute(plan, &client, options, bar.as_ref(), stop).await
        });
        bar.finish();
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                if args.json {
                    print_json(&JsonRuns { runs: &reports })?;
                }
                return Err(anyhow::Error::new(e).context(format!(
                    "the run of {} {} did not finish",
                    plan.module.id, plan.module.name
                )));
            }
        };
        if !finished(project, plan, &report, upload.as_ref(), args.json)? {
            status = ExitStatus::Failure;
        }
        reports.push(report);
    }
    if args.json {
        print_json(&JsonRuns { runs: &reports })?;
    } else if reports.len() > 1 {
        out(&text::overview(&reports))?;
    }
    // Everything is written and synced: the idle connections close with the process instead of
    // one by one before it exits.
    runtime.shutdown_background();
    Ok(status)
}

/// The model client: paced as asked, reporting retries to the bar, answering from the cache.
fn client(
    project: &Project,
    args: &RunArgs,
    openai: core_config::OpenAiSettings,
    prices: Option<llm_client::PriceTable>,
    bar: &Arc<Bar>,
) -> anyhow::Result<Client> {
    let mut builder = Client::builder(openai)
        .pacing(PacingConfig {
            max_concurrency: args.concurrency,
            rpm: args.rpm,
            tpm: args.tpm,
            ..PacingConfig::default()
        })
        .reporter(Arc::clone(bar) as Arc<dyn Reporter>)
        .cache(Cache::open(Cache::default_dir(
            &project.paths,
            &project.env,
        ))?);
    if let Some(prices) = prices {
        builder = builder.prices(prices);
    }
    Ok(builder.build()?)
}

/// Prints a finished run and uploads it when asked; whether every row scored and the upload
/// (if any) worked.
fn finished(
    project: &Project,
    plan: &Plan,
    report: &RunReport,
    upload: Option<&Session>,
    json: bool,
) -> anyhow::Result<bool> {
    if !json {
        out(&text::summary(plan, report))?;
    }
    let mut ok = report.all_scored();
    if let Some(session) = upload {
        let registry = RegistryFile::in_project(project.paths.root.clone());
        let outcome = session.upload_finished_run(&registry, &project.catalog, &report.local_id)?;
        ok &= matches!(outcome, RunOutcome::Uploaded(_));
        print_upload(&outcome, json)?;
    }
    Ok(ok)
}

/// The upload's line: the experiment link with the summary (stderr with `--json`, whose stdout
/// is the report), or the reason it failed (stderr).
fn print_upload(outcome: &RunOutcome, json: bool) -> anyhow::Result<()> {
    match outcome {
        RunOutcome::Uploaded(u) if json => writeln!(
            std::io::stderr().lock(),
            "uploaded {} to Braintrust: {}",
            u.local_id,
            u.experiment_url
        )?,
        RunOutcome::Uploaded(u) => {
            let mut t = Table::headless();
            t.row(["braintrust".to_owned(), u.experiment_url.clone()]);
            write!(std::io::stdout().lock(), "{}", t.render(2))?;
        }
        RunOutcome::Failed(f) => writeln!(
            std::io::stderr().lock(),
            "error: the upload of {} to Braintrust failed: {}\n  the run's results and registry entry are kept (status failed); `sync-braintrust upload {}` tries again",
            f.local_id,
            f.reason,
            f.local_id
        )?,
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonRuns<'a> {
    runs: &'a [RunReport],
}

fn dry_run(plans: &[Plan], base_url: &str, json: bool) -> anyhow::Result<ExitStatus> {
    if json {
        #[derive(Serialize)]
        struct DryRun {
            dry_run: bool,
            plans: Vec<PlanSummary>,
        }
        print_json(&DryRun {
            dry_run: true,
            plans: plans
                .iter()
                .map(|p| PlanSummary::new(p, base_url))
                .collect(),
        })?;
        return Ok(ExitStatus::Success);
    }
    out(&text::dry_run(plans, base_url))?;
    Ok(ExitStatus::Success)
}

/// Prints rendered text on stdout.
fn out(text: &str) -> anyhow::Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

// The one bar on stderr: rows, rate, ETA, tokens and cost so far; retries and waits as lines
// above it; then the upload's rows when `--upload` is given.

impl RunReporter for Bar {
    fn started(&self, plan: &Plan, already_done: usize) {
        self.set_prefix(plan.module.id.to_string());
        self.set_length(plan.records.len() as u64);
        self.set_position(already_done as u64);
    }

    fn row_done(&self, p: &Progress) {
        self.set_position(p.done as u64);
        self.set_message(format!(
            "| {} errors | {} tokens | ${:.4}",
            p.errors,
            thousands(p.tokens),
            p.cost_usd
        ));
    }

    fn finishing(&self) {
        self.set_message("writing results");
    }
}

impl Reporter for Bar {
    fn retrying(&self, event: &RetryEvent<'_>) {
        self.println(
            &format!(
                "  retrying {}: {}",
                event.label.unwrap_or("a call"),
                event.reason
            ),
            false,
        );
    }
}

impl braintrust::Progress for Bar {
    fn run_started(&self, local_id: &str, experiment: &str, rows: usize) {
        self.set_prefix(local_id.to_owned());
        self.set_length(rows as u64);
        self.set_position(0);
        self.set_message(experiment.to_owned());
    }

    fn rows_sent(&self, sent: usize, _total: usize) {
        self.set_position(sent as u64);
    }

    fn retrying(&self, notice: &braintrust::RetryNotice<'_>) {
        self.println(&crate::common::braintrust_retry_line(notice), true);
    }
}
