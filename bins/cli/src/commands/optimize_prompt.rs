//! `optimize-prompt`: optimize a module's prompt (instruction and worked examples) on a
//! train/dev split, then compare it with the unoptimized prompt on the held-out test split.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::builder::NonEmptyStringValueParser;
use llm_client::{Cache, Client, PacingConfig};
use optimize::{Method, Options, Preset, Spent};

use crate::common::{ExitStatus, GlobalArgs, at_least_one, print_json, run_cli, runtime};

/// Optimize a module's prompt natively: the same template, schema, scorer, cache, cost
/// accounting and registry as `orchestrator run`.
///
/// The module's records are split (seeded, stratified by label) into train, dev and test. The
/// method edits only the `## Decision rules` section (the instruction) and adds worked examples
/// to `## Examples`; the input placeholders and the output format are kept. Methods:
///
///   bootstrap     demos from train records the model answers correctly; random search over
///                 demo sets on dev
///   instructions  a proposer model rewrites the rules from dev failures (COPRO-like)
///   mipro         instructions x demo sets, successive halving on dev minibatches
///   gepa          reflective mutation: a worked example for a failing label the prompt does
///                 not show yet, else rewritten rules; parents from a Pareto front over dev
///
/// The best prompt becomes a new version (`prompts/modules/single/{id}_vN_{slug}.md`); the
/// baseline and it then run on the test split (both registered) and are compared (accuracy
/// difference, exact McNemar p, paired bootstrap CI). Artifacts go to
/// `artifacts/optimize/{module}/{timestamp}/`. Every call goes through the response cache, so a
/// rerun with the same seed costs nothing; `--resume` continues a killed run.
///
/// Exit codes: 0 the optimized prompt beats the baseline on test, 1 it does not, 2 error.
#[derive(Debug, clap::Parser)]
#[command(
    name = "optimize-prompt",
    version,
    about,
    long_about,
    verbatim_doc_comment
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,

    /// The module (m12, 12, m02, a module name).
    module: String,

    /// Search method.
    #[arg(long, value_enum, default_value = "bootstrap")]
    method: MethodArg,

    /// Search size: lite (smoke test), light, medium, full (whole train and dev splits).
    #[arg(long, value_enum, default_value = "light")]
    preset: PresetArg,

    /// Train split file (JSONL, dataset shape); with --dev and --test instead of the seeded split.
    #[arg(long, value_name = "FILE", requires_all = ["dev", "test"])]
    train: Option<PathBuf>,

    /// Dev split file.
    #[arg(long, value_name = "FILE", requires_all = ["train", "test"])]
    dev: Option<PathBuf>,

    /// Test split file.
    #[arg(long, value_name = "FILE", requires_all = ["train", "dev"])]
    test: Option<PathBuf>,

    /// Split this dataset (e.g. a gold file from `merge-annotations gold`) instead of the module's.
    #[arg(long, value_name = "FILE", conflicts_with = "train")]
    dataset: Option<PathBuf>,

    /// Model whose prompt is optimized [default: the module's, else DEFAULT_MODEL].
    #[arg(long, value_name = "MODEL", value_parser = NonEmptyStringValueParser::new())]
    model: Option<String>,

    /// Model that writes candidate instructions [default: --model].
    #[arg(long, value_name = "MODEL", value_parser = NonEmptyStringValueParser::new())]
    proposer_model: Option<String>,

    /// Hard cap on calls sent (search and both test runs; cache hits are free).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    max_calls: u64,

    /// Hard cap on cost in USD, checked before each call against an upper-bound estimate.
    #[arg(long, value_name = "USD", default_value_t = 5.0)]
    max_cost: f64,

    /// Seed of the split and of every random choice.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Print the splits and the calls and cost estimate; send nothing.
    #[arg(long)]
    dry_run: bool,

    /// Continue the newest unfinished run of this module (same method, preset, model, seed).
    #[arg(long)]
    resume: bool,

    /// Most requests in flight.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = at_least_one())]
    concurrency: usize,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MethodArg {
    Bootstrap,
    Instructions,
    Mipro,
    Gepa,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PresetArg {
    Lite,
    Light,
    Medium,
    Full,
}

/// Progress lines on stderr.
struct Lines {
    show: bool,
}

impl optimize::Progress for Lines {
    fn trial(&self, what: &str, spent: &Spent, best_dev: f64) {
        if self.show {
            let _ = writeln!(
                std::io::stderr().lock(),
                "  {what}: {} calls ({} cached), ${:.4}, best dev {:.1}%",
                spent.calls,
                spent.cache_hits,
                spent.cost,
                best_dev * 100.0
            );
        }
    }
    fn phase(&self, name: &str) {
        if self.show {
            let _ = writeln!(std::io::stderr().lock(), "  {name}");
        }
    }
}

/// Entry point of the `optimize-prompt` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    if !(cli.max_cost >= 0.0 && cli.max_cost.is_finite()) {
        anyhow::bail!(
            "--max-cost {}: give a non-negative amount in USD",
            cli.max_cost
        );
    }
    let project = cli.global.project()?;
    let options = Options {
        module: cli.module.clone(),
        method: match cli.method {
            MethodArg::Bootstrap => Method::Bootstrap,
            MethodArg::Instructions => Method::Instructions,
            MethodArg::Mipro => Method::Mipro,
            MethodArg::Gepa => Method::Gepa,
        },
        preset: match cli.preset {
            PresetArg::Lite => Preset::Lite,
            PresetArg::Light => Preset::Light,
            PresetArg::Medium => Preset::Medium,
            PresetArg::Full => Preset::Full,
        },
        train: cli.train.clone(),
        dev: cli.dev.clone(),
        test: cli.test.clone(),
        dataset: cli.dataset.clone(),
        model: cli.model.clone(),
        proposer_model: cli.proposer_model.clone(),
        max_calls: cli.max_calls,
        max_cost: cli.max_cost,
        seed: cli.seed,
        resume: cli.resume,
        concurrency: cli.concurrency,
    };
    let setup = optimize::prepare(&project.catalog, &project.env, &options)?;
    if cli.dry_run {
        let estimate = optimize::dry_run(&setup);
        if cli.json {
            print_json(&estimate)?;
        } else {
            write!(
                std::io::stdout().lock(),
                "{}",
                optimize::text::dry_run(&estimate)
            )?;
        }
        return Ok(ExitStatus::Success);
    }
    let mut builder = Client::builder(setup.openai.clone())
        .pacing(PacingConfig {
            max_concurrency: cli.concurrency,
            ..PacingConfig::default()
        })
        .cache(Cache::open(Cache::default_dir(
            &project.paths,
            &project.env,
        ))?);
    if let Some(prices) = setup.prices.clone() {
        builder = builder.prices(prices);
    }
    let client = builder.build()?;
    let progress = Arc::new(Lines {
        show: !cli.global.quiet,
    });
    let outcome = runtime()?.block_on(optimize::optimize(
        &project.catalog,
        &project.env,
        setup,
        &client,
        progress.as_ref(),
    ))?;
    if cli.json {
        print_json(&outcome)?;
    } else {
        write!(
            std::io::stdout().lock(),
            "{}",
            optimize::text::summary(&outcome)
        )?;
    }
    let better = matches!(
        (outcome.baseline_test_accuracy, outcome.optimized_test_accuracy),
        (Some(a), Some(b)) if b > a
    );
    Ok(if better {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
