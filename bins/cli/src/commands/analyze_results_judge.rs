//! `analyze-results judge`: an LLM judge over a run's answers, criterion by criterion from the
//! module's rubric (`prompts/judges/{module}_v1.yaml`), through the same client, response cache,
//! pacing and resume as `orchestrator run`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::builder::NonEmptyStringValueParser;
use judge::{Aggregate, JudgeOptions, JudgeProgress};
use llm_client::{Cache, CacheMode, Client, PacingConfig, Reporter};

use crate::common::{Bar, ExitStatus, GlobalArgs, Project, at_least_one, print_json, runtime};

/// Arguments of `analyze-results judge`.
#[derive(Debug, clap::Args)]
pub(super) struct JudgeArgs {
    /// The run to judge: exp_… id, results CSV, or module id (its newest run).
    run: String,

    /// Rubric file [default: prompts/judges/{module}_v1.yaml].
    #[arg(long, value_name = "FILE")]
    rubric: Option<PathBuf>,

    /// Judge model [default: DEFAULT_MODEL, else gpt-4o-mini].
    #[arg(long, value_name = "MODEL", value_parser = NonEmptyStringValueParser::new())]
    model: Option<String>,

    /// Ask the judge K times per row (at temperature 1) and report how much the verdicts
    /// spread; the final verdict is their --aggregate.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    samples: u32,

    /// How the samples of a row become its verdict: the median score against the criterion's
    /// threshold, or the verdict of most samples (a tie fails).
    #[arg(long, value_enum, default_value_t = AggregateArg::Median)]
    aggregate: AggregateArg,

    /// Judge at most N rows (in run order).
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    max_rows: Option<usize>,

    /// Judge only the rows the run got wrong, with the judge's guess at the cause of each
    /// error (prompt_ambiguity, missing_context, wrong_reasoning, …).
    #[arg(long)]
    errors_only: bool,

    /// Finish the newest interrupted judge run of the module instead of starting a new one
    /// (finished calls are not asked again).
    #[arg(long)]
    resume: bool,

    /// Most requests in flight.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = at_least_one())]
    concurrency: usize,

    /// Client-side cap on requests per minute.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rpm: Option<u32>,

    /// Client-side cap on tokens per minute.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    tpm: Option<u64>,

    /// Ask again even when the answer is in the response cache.
    #[arg(long)]
    no_cache: bool,

    /// Print the report as JSON on stdout (judge_run, judge_file, rows, criteria with
    /// pass_rate and pass_rate_ci95, failing_together, …).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AggregateArg {
    Median,
    Majority,
}

impl JudgeProgress for Bar {
    fn started(&self, total: usize, already_done: usize) {
        self.set_prefix("judge");
        self.set_length(total as u64);
        self.set_position(already_done as u64);
    }

    fn call_done(&self, done: usize, _total: usize) {
        self.set_position(done as u64);
    }
}

pub(super) fn run(
    global: &GlobalArgs,
    project: &Project,
    cwd: &Path,
    args: &JudgeArgs,
) -> anyhow::Result<ExitStatus> {
    let openai = project.env.openai()?;
    let options = JudgeOptions {
        run: args.run.clone(),
        rubric: args.rubric.clone(),
        model: args
            .model
            .clone()
            .unwrap_or_else(|| project.env.default_model()),
        samples: args.samples,
        aggregate: match args.aggregate {
            AggregateArg::Median => Aggregate::Median,
            AggregateArg::Majority => Aggregate::Majority,
        },
        max_rows: args.max_rows,
        errors_only: args.errors_only,
        resume: args.resume,
        token_param: openai.token_param,
        started: chrono::Local::now(),
        base: cwd.to_path_buf(),
    };
    // Everything is checked (run, rubric, rows, resume journal) before the first call.
    let plan = judge::plan(&project.catalog, &options)?;
    let bar = Arc::new(Bar::new(
        global,
        args.json,
        Some(plan.calls() as u64),
        "{prefix:>5} [{bar:30}] {pos}/{len} calls {per_sec} ETA {eta}",
    ));
    let mut builder = Client::builder(openai)
        .pacing(PacingConfig {
            max_concurrency: args.concurrency,
            rpm: args.rpm,
            tpm: args.tpm,
            ..PacingConfig::default()
        })
        .reporter(Arc::clone(&bar) as Arc<dyn Reporter>)
        .cache(Cache::open(Cache::default_dir(
            &project.paths,
            &project.env,
        ))?);
    if let Some(prices) = project.prices()? {
        builder = builder.prices(prices);
    }
    let client = builder.build()?;
    let cache = if args.no_cache {
        CacheMode::Off
    } else {
        CacheMode::Use
    };
    let result = runtime()?.block_on(async {
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        judge::execute(&plan, &client, args.concurrency, cache, bar.as_ref(), stop).await
    });
    bar.finish();
    let report =
        result.with_context(|| format!("the judge run of {} did not finish", plan.judged))?;
    if args.json {
        print_json(&report)?;
    } else {
        std::io::stdout()
            .lock()
            .write_all(judge::text::report(&report).as_bytes())?;
    }
    Ok(if report.failed_calls == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
