//! `orchestrator`: list the modules, check the data, run experiments.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use core_config::check::{ModuleCheck, check_module};
use core_config::{Catalog, ModuleSpec};
use serde::Serialize;

use crate::common::{ExitStatus, GlobalArgs, Table, plural, print_json, run_cli, thousands};

mod run;

/// Run LLM experiments for the keyword-classification modules.
#[derive(Debug, Parser)]
#[command(name = "orchestrator", version)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every module with its type and whether its files are ready.
    ///
    /// Marks: ✓ ready (dataset, prompt and schema found), ○ disabled (left out of `run --all`),
    /// ✗ files missing.
    List {
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Check datasets, prompts and schemas of every module (or the ones named).
    ///
    /// Every dataset line must parse, every prompt placeholder must be fed by the dataset and
    /// every input key used (or listed in `ignored_inputs`), every schema must be a valid JSON
    /// Schema and a valid strict schema, no JSON object may repeat a key, every expected value
    /// must be one of the module's labels, and record ids must be present and unique. No prompt
    /// may quote a keyword (over 8 characters) of the module's datasets or gold sets, and every
    /// request must fit the model's context window (`context_window` in prices.toml). Judge
    /// rubrics (`prompts/judges/{module}_{version}.yaml`) must load, and their examples must not
    /// quote the module's keywords or expected items either. Problems
    /// are printed as `file:line: what is wrong`; the exit code is 1 when there is any.
    Validate {
        /// Modules to check (ids such as m12, 12, 2b); all when none are given.
        modules: Vec<String>,
        /// Prompt version to check.
        #[arg(long, value_name = "VERSION")]
        prompt_version: Option<String>,
        /// Print a JSON report instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run modules' prompts over their datasets, score the answers, write the results CSV and
    /// register the run.
    ///
    /// Everything is checked before the first call: every dataset line must parse and feed
    /// every prompt placeholder. Answers are cached (`.cache/llm/`), so running the same thing
    /// again costs nothing. A run interrupted by Ctrl-C, a crash or a kill keeps its finished
    /// rows in a journal beside the results; `--resume` finishes it without asking again.
    ///
    /// Exit codes: 0 every row scored, 1 the run completed but some rows errored (their
    /// reasons are in the CSV's `error` column), 2 the tool could not run.
    Run(run::RunArgs),
    /// Inspect or empty the response cache (`.cache/llm/`, or KW_CACHE_DIR).
    ///
    /// Every usable answer is kept, keyed by everything that changes it (URL, model, messages,
    /// temperature, token cap, response format, seed, repeat index), so running the same thing
    /// again costs nothing. Errors and broken answers are never cached.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

#[derive(Debug, Subcommand)]
enum CacheAction {
    /// Count the cached answers and their size.
    Stats {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove every cached answer (and temporary files left by killed writers).
    Clear {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Entry point of the `orchestrator` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    match cli.command {
        Command::List { json } => list(&project.catalog, json),
        Command::Validate {
            modules,
            prompt_version,
            json,
        } => {
            let version =
                prompt_version.unwrap_or_else(|| project.catalog.defaults().prompt_version.clone());
            validate(&project.catalog, &modules, &version, json)
        }
        Command::Run(args) => run::run(&cli.global, &project, &args),
        Command::Cache { action } => cache(&project, &action),
    }
}

fn list(catalog: &Catalog, json: bool) -> anyhow::Result<ExitStatus> {
    let entries = runner::text::module_entries(catalog);
    if json {
        print_json(&entries)?;
        return Ok(ExitStatus::Success);
    }
    write!(
        std::io::stdout().lock(),
        "{}",
        runner::text::module_list(&entries)
    )?;
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct ValidateReport<'a> {
    prompt_version: &'a str,
    modules: Vec<ModuleReport>,
    records: usize,
    problems: usize,
}

#[derive(Serialize)]
struct ModuleReport {
    module: String,
    records: usize,
    problem_count: usize,
    problems: Vec<String>,
}

fn validate(
    catalog: &Catalog,
    names: &[String],
    version: &str,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let modules: Vec<&ModuleSpec> = if names.is_empty() {
        catalog.modules().iter().collect()
    } else {
        names
            .iter()
            .map(|n| catalog.resolve(n))
            .collect::<Result<_, _>>()?
    };
    let checks: Vec<ModuleCheck> = modules
        .iter()
        .map(|m| {
            let mut check = check_module(catalog, m, version);
            // The module's judge rubrics (prompts/judges/), when it has any.
            let rubric_problems = judge::rubric::check_module_rubrics(catalog, m);
            check.total += rubric_problems.len();
            check.problems.extend(rubric_problems);
            check
        })
        .collect();
    let problems: usize = checks.iter().map(|c| c.total).sum();
    let records: usize = checks.iter().map(|c| c.records).sum();
    if json {
        print_json(&ValidateReport {
            prompt_version: version,
            modules: checks
                .iter()
                .map(|c| ModuleReport {
                    module: c.module.clone(),
                    records: c.records,
                    problem_count: c.total,
                    problems: c.problems.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            records,
            problems,
        })?;
    } else {
        let mut out = std::io::stdout().lock();
        let mut table = Table::headless().right(&[2]);
        for c in &checks {
            let status = if c.total == 0 {
                "ok".to_owned()
            } else {
                plural(c.total, "problem", "problems")
            };
            table.row([
                c.module.clone(),
                status,
                format!("{} records", thousands(c.records as u64)),
            ]);
        }
        write!(out, "{}", table.render(0))?;
        for c in checks.iter().filter(|c| !c.problems.is_empty()) {
            writeln!(out, "\n{}:", c.module)?;
            for p in &c.problems {
                writeln!(out, "  {p}")?;
            }
        }
        writeln!(
            out,
            "\n{}, {} records, {} (prompt version {version})",
            plural(checks.len(), "module", "modules"),
            thousands(records as u64),
            plural(problems, "problem", "problems"),
        )?;
    }
    Ok(if problems == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn cache(project: &crate::common::Project, action: &CacheAction) -> anyhow::Result<ExitStatus> {
    let dir = llm_client::Cache::default_dir(&project.paths, &project.env);
    let shown = project.paths.display(&dir).into_owned();
    let cache = llm_client::Cache::open(&dir)?;
    let mut out = std::io::stdout().lock();
    match action {
        CacheAction::Stats { json: true } => print_json(&cache.stats()?)?,
        CacheAction::Stats { json: false } => {
            let stats = cache.stats()?;
            writeln!(out, "response cache {shown}")?;
            writeln!(
                out,
                "  {} answers, {} bytes",
                thousands(stats.entries),
                thousands(stats.bytes)
            )?;
            if stats.unreadable > 0 {
                writeln!(
                    out,
                    "  {} damaged entries (treated as misses)",
                    stats.unreadable
                )?;
            }
            if stats.temp_files > 0 {
                writeln!(
                    out,
                    "  {} temporary files left by killed writers",
                    stats.temp_files
                )?;
            }
        }
        CacheAction::Clear { json: true } => print_json(&cache.clear()?)?,
        CacheAction::Clear { json: false } => {
            let report = cache.clear()?;
            writeln!(
                out,
                "Removed {} answers ({} bytes) from {shown}",
                thousands(report.entries),
                thousands(report.bytes)
            )?;
        }
    }
    Ok(ExitStatus::Success)
}
