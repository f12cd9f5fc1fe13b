//! `orchestrator run`: plan, call, score, write, register; with a progress bar and a summary.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use braintrust::{RunOutcome, Session};
use core_config::ModuleSpec;
use llm_client::{Cache, CacheMode, Client, PacingConfig, Reporter, RetryEvent};
use registry::RegistryFile;
use runner::metrics::RunMetrics;
use runner::{ExecOptions, Plan, Progress, RunOptions, RunReport, RunReporter};
use serde::Serialize;

use clap::builder::NonEmptyStringValueParser;

use crate::common::{
    Bar, ExitStatus, GlobalArgs, Project, Table, at_least_one, percent, print_json, runtime,
    thousands,
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
        print_overview(&reports)?;
    }
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
        print_summary(plan, report)?;
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

#[derive(Serialize)]
struct PlanJson {
    module: String,
    name: String,
    dataset: String,
    dataset_records: usize,
    records: usize,
    samples: Option<usize>,
    seed: u64,
    resumed_rows: usize,
    prompt: String,
    prompt_version: String,
    prompt_hash: String,
    model: String,
    base_url: String,
    temperature: f64,
    max_tokens: u32,
    estimated_prompt_tokens: u64,
    estimated_completion_tokens: u64,
    estimated_cost_usd: Option<f64>,
    results_csv: String,
    journal: String,
    local_id: String,
}

fn plan_json(plan: &Plan, base_url: &str) -> PlanJson {
    PlanJson {
        module: plan.module.id.to_string(),
        name: plan.module.name.clone(),
        dataset: plan.display(&plan.dataset),
        dataset_records: plan.dataset_records,
        records: plan.records.len(),
        samples: plan.settings.samples,
        seed: plan.settings.seed,
        resumed_rows: plan.resume.as_ref().map_or(0, |j| j.rows.len()),
        prompt: plan.display(&plan.prompt),
        prompt_version: plan.settings.prompt_version.clone(),
        prompt_hash: plan.prompt_hash.clone(),
        model: plan.settings.model.clone(),
        base_url: base_url.to_owned(),
        temperature: plan.module.settings.temperature,
        max_tokens: plan.module.settings.max_tokens,
        estimated_prompt_tokens: plan.estimate.prompt_tokens,
        estimated_completion_tokens: plan.estimate.completion_tokens,
        estimated_cost_usd: plan.estimate.cost_usd,
        results_csv: plan.display(&plan.csv),
        journal: plan.display(&plan.journal),
        local_id: plan.local_id.clone(),
    }
}

fn dry_run(plans: &[Plan], base_url: &str, json: bool) -> anyhow::Result<ExitStatus> {
    let entries: Vec<PlanJson> = plans.iter().map(|p| plan_json(p, base_url)).collect();
    if json {
        #[derive(Serialize)]
        struct DryRun<'a> {
            dry_run: bool,
            plans: &'a [PlanJson],
        }
        print_json(&DryRun {
            dry_run: true,
            plans: &entries,
        })?;
        return Ok(ExitStatus::Success);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "Dry run: nothing is sent to {base_url}.")?;
    let (mut prompt, mut completion, mut cost, mut priced) = (0u64, 0u64, 0f64, true);
    for (plan, e) in plans.iter().zip(&entries) {
        writeln!(out, "\n{} {}", e.module, e.name)?;
        let sample = match e.samples {
            Some(n) if n < e.dataset_records => format!(
                "{} of {} records, seed {}",
                thousands(e.records as u64),
                thousands(e.dataset_records as u64),
                e.seed
            ),
            _ => format!("{} records", thousands(e.records as u64)),
        };
        let resumed = if e.resumed_rows > 0 {
            format!("; resuming, {} rows already done", e.resumed_rows)
        } else {
            String::new()
        };
        let mut t = Table::headless();
        t.row([
            "dataset".to_owned(),
            format!("{} ({sample}{resumed})", e.dataset),
        ]);
        t.row([
            "prompt".to_owned(),
            format!(
                "{} ({}, hash {})",
                e.prompt, e.prompt_version, e.prompt_hash
            ),
        ]);
        t.row([
            "model".to_owned(),
            format!(
                "{}, temperature {}, max {} tokens, {}",
                e.model,
                e.temperature,
                e.max_tokens,
                format_kind(&plan.module)
            ),
        ]);
        t.row([
            "estimate".to_owned(),
            format!(
                "~{} prompt + ~{} completion tokens, {}",
                thousands(e.estimated_prompt_tokens),
                thousands(e.estimated_completion_tokens),
                e.estimated_cost_usd.map_or_else(
                    || "cost unknown (model not in the price table)".to_owned(),
                    |c| format!("~${c:.4}")
                )
            ),
        ]);
        t.row(["results".to_owned(), e.results_csv.clone()]);
        t.row(["registry".to_owned(), e.local_id.clone()]);
        write!(out, "{}", t.render(2))?;
        prompt += e.estimated_prompt_tokens;
        completion += e.estimated_completion_tokens;
        match e.estimated_cost_usd {
            Some(c) => cost += c,
            None => priced = false,
        }
    }
    if plans.len() > 1 {
        writeln!(
            out,
            "\nTotal: {} modules, ~{} prompt + ~{} completion tokens, {}",
            plans.len(),
            thousands(prompt),
            thousands(completion),
            if priced {
                format!("~${cost:.4}")
            } else {
                format!("at least ~${cost:.4} (some models are not in the price table)")
            }
        )?;
    }
    Ok(ExitStatus::Success)
}

fn format_kind(module: &ModuleSpec) -> &'static str {
    match module.settings.response_format {
        core_config::ResponseFormatKind::JsonSchema => "json_schema (strict)",
        core_config::ResponseFormatKind::JsonObject => "json_object",
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

fn print_summary(plan: &Plan, report: &RunReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let m = &report.metrics;
    let rate = if report.seconds > 0.0 {
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let r = (report.rows - report.resumed_rows) as f64 / report.seconds;
        format!(" ({r:.1} rows/s)")
    } else {
        String::new()
    };
    writeln!(
        out,
        "\n{} {}: {} rows in {:.1}s{rate}{}",
        report.module,
        plan.module.name,
        thousands(report.rows as u64),
        report.seconds,
        if report.resumed_rows > 0 {
            format!(", {} resumed from the journal", report.resumed_rows)
        } else {
            String::new()
        }
    )?;
    let mut t = Table::headless();
    t.row([
        "accuracy".to_owned(),
        match m.accuracy {
            Some(a) => format!("{:.2}% ({}/{} scored)", a * 100.0, m.correct, m.scored),
            None => "- (no row was scored)".to_owned(),
        },
    ]);
    t.row(["errors".to_owned(), errors_text(m)]);
    if let Some(mcc) = m.mcc {
        t.row(["mcc".to_owned(), format!("{mcc:.3}")]);
    }
    if let Some(f1) = m.macro_f1 {
        t.row(["macro f1".to_owned(), format!("{f1:.3}")]);
    }
    if let Some(list) = &m.list {
        t.row([
            "list overlap".to_owned(),
            format!(
                "precision {:.3}, recall {:.3}, f1 {:.3} (means)",
                list.precision, list.recall, list.f1
            ),
        ]);
    }
    t.row([
        "tokens".to_owned(),
        format!(
            "{} prompt ({} cached) + {} completion; {} answers from the response cache",
            thousands(report.prompt_tokens),
            thousands(report.cached_prompt_tokens),
            thousands(report.completion_tokens),
            thousands(report.cache_hits)
        ),
    ]);
    t.row([
        "cost".to_owned(),
        if report.cost_complete {
            format!("${:.4}", report.cost_usd)
        } else {
            format!(
                "at least ${:.4} (the model is not in the price table)",
                report.cost_usd
            )
        },
    ]);
    t.row(["results".to_owned(), report.csv.clone()]);
    t.row(["registered".to_owned(), report.local_id.clone()]);
    write!(out, "{}", t.render(2))?;
    if !m.per_label.is_empty() {
        let mut labels = Table::new(["label", "support", "predicted", "precision", "recall", "f1"])
            .right(&[1, 2, 3, 4, 5]);
        for l in &m.per_label {
            labels.row([
                l.label.clone(),
                l.support.to_string(),
                l.predicted.to_string(),
                ratio(l.precision),
                ratio(l.recall),
                ratio(l.f1),
            ]);
        }
        write!(out, "\n{}", labels.render(2))?;
    }
    Ok(())
}

fn errors_text(m: &RunMetrics) -> String {
    if m.errors.is_empty() {
        return "none".to_owned();
    }
    let total: usize = m.errors.values().sum();
    let kinds: Vec<String> = m.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("{total} ({}; see the `error` column)", kinds.join(", "))
}

fn print_overview(reports: &[RunReport]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut t = Table::new(["module", "rows", "accuracy", "errors", "cost", "registered"])
        .right(&[1, 2, 3, 4]);
    let mut cost = 0.0;
    for r in reports {
        cost += r.cost_usd;
        t.row([
            r.module.clone(),
            r.rows.to_string(),
            percent(r.metrics.accuracy),
            r.metrics.errors.values().sum::<usize>().to_string(),
            format!("${:.4}", r.cost_usd),
            r.local_id.clone(),
        ]);
    }
    writeln!(out, "\nAll runs")?;
    write!(out, "{}", t.render(2))?;
    writeln!(out, "  total cost ${cost:.4}")?;
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
        self.println(
            &format!(
                "  retrying {} {} after {} (retry {} of {}, in {})",
                notice.method,
                notice.path,
                notice.reason,
                notice.retry,
                notice.max_retries,
                llm_client::format_duration(notice.wait)
            ),
            true,
        );
    }
}
