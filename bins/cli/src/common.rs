//! What every binary shares: global flags, the project context, exit codes, error rendering and
//! small output helpers.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use core_config::{Catalog, Env, ProjectPaths};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything worked.
    Success,
    /// The command ran, and the answer is negative (problems found, rows errored, …).
    Failure,
    /// The command could not do its work.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => Self::SUCCESS,
            ExitStatus::Failure => Self::from(1),
            ExitStatus::Error => Self::from(2),
        }
    }
}

/// Parses the command line of a binary and runs it with [`run_main`]: the whole `main` of
/// every binary.
///
/// Every binary also gets, without its command file knowing: a `completions SHELL` subcommand,
/// `-v`/`--verbose` (see `init_tracing`) and a `--help` that opens with its own description.
pub fn run_cli<C: clap::Parser>(run: impl FnOnce(C) -> anyhow::Result<ExitStatus>) -> ExitCode {
    let mut command = cli_command::<C>();
    let mut matches = command.clone().get_matches();
    if let Some((COMPLETIONS, sub)) = matches.subcommand() {
        let shell = sub.get_one::<clap_complete::Shell>("shell").copied();
        return run_main(|| {
            let shell = shell.context("completions: no shell given")?;
            print_completions(&mut command, shell)?;
            Ok(ExitStatus::Success)
        });
    }
    init_tracing(verbosity(&matches));
    let cli = match C::from_arg_matches_mut(&mut matches) {
        Ok(cli) => cli,
        Err(error) => error.format(&mut command).exit(),
    };
    run_main(|| run(cli))
}

/// The name of the subcommand every binary has for shell completions.
const COMPLETIONS: &str = "completions";

/// The id of the verbosity flag [`cli_command`] adds (an id no command file uses, so it never
/// collides with a command's own arguments).
const VERBOSITY: &str = "kw_log_verbosity";

/// A binary's full command line: its own (`C`) plus what [`run_cli`] adds to every binary.
#[must_use]
pub fn cli_command<C: clap::CommandFactory>() -> clap::Command {
    let command = own_description(C::command());
    let mut command = with_verbosity(command);
    // A binary with required arguments of its own (`simulate-annotators FILE`) must still take
    // `completions SHELL` alone.
    if command.get_arguments().any(clap::Arg::is_required_set) {
        command = command.subcommand_negates_reqs(true);
    }
    command.subcommand(
        clap::Command::new(COMPLETIONS)
            .about("Print a shell completion script for this program on stdout")
            .long_about(
                "Print a shell completion script for this program on stdout, e.g.\n\n  \
                 orchestrator completions bash > ~/.local/share/bash-completion/completions/orchestrator",
            )
            .arg(
                clap::Arg::new("shell")
                    .value_name("SHELL")
                    .required(true)
                    .value_parser(clap::value_parser!(clap_complete::Shell)),
            ),
    )
}

/// Replaces the package description (what a bare `#[command(about)]` puts in `about`) with the
/// first paragraph of the binary's own doc comment, so `-h` and `--help` say what this binary
/// does rather than what the package is.
fn own_description(command: clap::Command) -> clap::Command {
    let package = env!("CARGO_PKG_DESCRIPTION");
    if command.get_about().map(ToString::to_string).as_deref() != Some(package) {
        return command;
    }
    let summary = command.get_long_about().map(|long| {
        let long = long.to_string();
        let first = long.trim().split("\n\n").next().unwrap_or_default();
        first.split_whitespace().collect::<Vec<_>>().join(" ")
    });
    match summary {
        Some(summary) if !summary.is_empty() => command.about(summary),
        _ => command,
    }
}

/// Adds `-v`/`--verbose` (a count) to the command and to every subcommand that does not already
/// have a `-v` or `--verbose` of its own.
///
/// Not a clap `global` argument: `calculate-agreement analyze -v` already means "print the
/// confusion matrix", and a global `-v` would collide with it. There the command's own flag
/// keeps its meaning, and `calculate-agreement -v analyze FILE` turns on logging.
fn with_verbosity(command: clap::Command) -> clap::Command {
    let taken = command.get_arguments().any(|arg| {
        arg.get_short() == Some('v')
            || arg.get_long() == Some("verbose")
            || arg.get_id() == VERBOSITY
    });
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    let mut command = command;
    for name in names {
        command = command.mut_subcommand(name, with_verbosity);
    }
    if taken {
        return command;
    }
    command.arg(
        clap::Arg::new(VERBOSITY)
            .short('v')
            .long("verbose")
            .action(clap::ArgAction::Count)
            .help(
                "Log on stderr: -v retries and cache hits, -vv also every file written \
                 (RUST_LOG overrides)",
            ),
    )
}

/// How many times `-v` was given, on the command and its subcommands together.
fn verbosity(matches: &clap::ArgMatches) -> u8 {
    let mut count: u8 = 0;
    let mut level = Some(matches);
    while let Some(m) = level {
        if let Ok(Some(n)) = m.try_get_one::<u8>(VERBOSITY) {
            count = count.saturating_add(*n);
        }
        level = m.subcommand().map(|(_, sub)| sub);
    }
    count
}

/// The crates whose `tracing` events `-v` shows (module paths, so `kw_cli` covers every binary).
const TOOLKIT_CRATES: &[&str] = &[
    "kw_cli",
    "core_config",
    "llm_client",
    "api_sim",
    "runner",
    "registry",
    "braintrust",
    "batch",
    "annotation",
    "agreement",
];

/// The `tracing` filter for a verbosity and an optional `RUST_LOG` value: `RUST_LOG` wins; else
/// nothing at 0, `info` for the toolkit's crates at 1 and `debug` from 2. `None` means no
/// logging at all.
///
/// # Errors
/// When `RUST_LOG` is not a valid filter.
pub fn log_filter(verbosity: u8, rust_log: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(spec) = rust_log {
        tracing_subscriber::EnvFilter::try_new(spec)
            .with_context(|| format!("RUST_LOG={spec:?} is not a log filter"))?;
        return Ok(Some(spec.to_owned()));
    }
    let level = match verbosity {
        0 => return Ok(None),
        1 => "info",
        _ => "debug",
    };
    Ok(Some(
        TOOLKIT_CRATES
            .iter()
            .map(|krate| format!("{krate}={level}"))
            .collect::<Vec<_>>()
            .join(","),
    ))
}

/// Sends `tracing` events to stderr (never stdout, which carries data) per [`log_filter`]; off
/// by default.
fn init_tracing(verbosity: u8) {
    let env = Env::load(None).unwrap_or_default();
    let filter = match log_filter(verbosity, env.get("RUST_LOG")) {
        Ok(Some(filter)) => filter,
        Ok(None) => return,
        Err(error) => {
            let _ = writeln!(io::stderr().lock(), "warning: {error:#}; logging stays off");
            return;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// Writes the completion script for `shell` on stdout.
fn print_completions(
    command: &mut clap::Command,
    shell: clap_complete::Shell,
) -> anyhow::Result<()> {
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, command, name, &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// Runs a command body: prints an error chain as `error: …` / `  caused by: …` on stderr and maps
/// it to exit code 2; a closed stdout (e.g. piping into `head`) ends quietly with 0.
pub fn run_main(body: impl FnOnce() -> anyhow::Result<ExitStatus>) -> ExitCode {
    match body() {
        Ok(status) => status.into(),
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            let _ = io::stderr()
                .lock()
                .write_all(render_error(&error).as_bytes());
            ExitStatus::Error.into()
        }
    }
}

/// An error chain as the binaries print it: `error: …`, then one `  caused by: …` line per cause.
#[must_use]
pub fn render_error(error: &anyhow::Error) -> String {
    let mut out = format!("error: {error}\n");
    for cause in error.chain().skip(1) {
        out.push_str(&format!("  caused by: {cause}\n"));
    }
    out
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            // `print_json` writes through serde_json, which wraps the io::Error in its own.
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(io::ErrorKind::BrokenPipe)
    })
}

/// Flags every binary accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Project root (the directory holding modules.toml); found by walking up from the current
    /// directory when not given.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Print less: no progress bars and no hints.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Hide progress bars (they are also hidden when stderr is not a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

impl GlobalArgs {
    /// Whether progress may be drawn: not with `--quiet`, `--no-progress` or `--json` (whose
    /// readers want clean streams), and only when stderr is a terminal.
    #[must_use]
    pub fn shows_progress(&self, json: bool) -> bool {
        !(self.quiet || self.no_progress || json) && io::stderr().is_terminal()
    }

    /// A progress bar (or spinner, when `len` is `None`) on stderr drawn with `template`, or
    /// `None` when progress is not shown.
    #[must_use]
    pub fn progress_bar(
        &self,
        json: bool,
        len: Option<u64>,
        template: &str,
    ) -> Option<indicatif::ProgressBar> {
        if !self.shows_progress(json) {
            return None;
        }
        let bar =
            indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Some(bar)
    }
}

/// The loaded project: catalogue, paths and environment.
pub struct Project {
    /// The module catalogue.
    pub catalog: Catalog,
    /// Folders under the root.
    pub paths: ProjectPaths,
    /// Environment variables (process over `.env`).
    pub env: Env,
}

impl GlobalArgs {
    /// Finds and loads the project.
    ///
    /// # Errors
    /// When no catalogue is found or it does not load.
    pub fn project(&self) -> anyhow::Result<Project> {
        let catalog = match &self.root {
            Some(root) => {
                let path = root.join(core_config::CATALOG_FILE);
                if !path.is_file() {
                    anyhow::bail!(
                        "--root {}: no {} there",
                        root.display(),
                        core_config::CATALOG_FILE
                    );
                }
                Catalog::load(&path)?
            }
            None => {
                let cwd = std::env::current_dir().context("cannot read the current directory")?;
                Catalog::discover(&cwd)?
            }
        };
        let root = catalog.root().to_owned();
        let env = Env::load(Some(&root))?;
        Ok(Project {
            catalog,
            paths: ProjectPaths::new(root),
            env,
        })
    }
}

/// Writes a value as pretty JSON on stdout.
///
/// # Errors
/// When stdout is closed.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    // Buffered: stdout writes line by line otherwise, one system call per line of JSON.
    let mut out = io::BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

pub use present::{Table, percent, percent_of, percent_setting, plural, short_time, thousands};

pub use registry::text::status_mark;

/// The line shown when the Braintrust client retries a request.
#[must_use]
pub fn braintrust_retry_line(notice: &braintrust::RetryNotice<'_>) -> String {
    format!(
        "  retrying {} {} after {} (retry {} of {}, in {})",
        notice.method,
        notice.path,
        notice.reason,
        notice.retry,
        notice.max_retries,
        llm_client::format_duration(notice.wait)
    )
}

/// The async runtime every command that talks HTTP (or serves it) runs on.
///
/// # Errors
/// When the operating system refuses the runtime's threads.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

impl Project {
    /// The price table (`prices.toml`, or `KW_PRICES`), or `None` when there is no such file
    /// (costs are then unknown, never 0).
    ///
    /// # Errors
    /// When the file exists but does not parse.
    pub fn prices(&self) -> anyhow::Result<Option<llm_client::PriceTable>> {
        let path = llm_client::PriceTable::default_path(&self.paths, &self.env);
        Ok(if path.is_file() {
            Some(llm_client::PriceTable::load(&path)?)
        } else {
            None
        })
    }

    /// An OpenAI-compatible client from the environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`),
    /// pricing its calls with [`Project::prices`].
    ///
    /// # Errors
    /// When the key is missing, the price table is bad or the client cannot be built.
    pub fn openai_client(&self) -> anyhow::Result<llm_client::Client> {
        let mut builder = llm_client::Client::builder(self.env.openai()?);
        if let Some(prices) = self.prices()? {
            builder = builder.prices(prices);
        }
        Ok(builder.build()?)
    }
}

/// The one progress bar of every command: drawn on stderr when [`GlobalArgs::shows_progress`]
/// allows it, and a silent no-op otherwise, so commands call it without checking.
#[derive(Debug, Clone, Default)]
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    /// A bar of `len` steps (a spinner when `None`) drawn with an indicatif `template`.
    #[must_use]
    pub fn new(global: &GlobalArgs, json: bool, len: Option<u64>, template: &str) -> Self {
        Self(global.progress_bar(json, len, template))
    }

    /// A bar that never draws.
    #[must_use]
    pub fn hidden() -> Self {
        Self(None)
    }

    /// Sets the number of steps.
    pub fn set_length(&self, len: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(len);
        }
    }

    /// Sets the position.
    pub fn set_position(&self, pos: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(pos);
        }
    }

    /// Advances by `delta` steps.
    pub fn inc(&self, delta: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(delta);
        }
    }

    /// Sets the text after the bar.
    pub fn set_message(&self, message: impl Into<std::borrow::Cow<'static, str>>) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }

    /// Sets the text before the bar.
    pub fn set_prefix(&self, prefix: impl Into<std::borrow::Cow<'static, str>>) {
        if let Some(bar) = &self.0 {
            bar.set_prefix(prefix);
        }
    }

    /// Prints a line above the bar (or on stderr when no bar is drawn and `always` is set).
    pub fn println(&self, line: &str, always: bool) {
        match &self.0 {
            Some(bar) => bar.println(line),
            None if always => {
                let _ = writeln!(io::stderr().lock(), "{line}");
            }
            None => {}
        }
    }

    /// Removes the bar from the screen.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }

    /// Whether the bar is drawn.
    #[must_use]
    pub fn is_visible(&self) -> bool {
        self.0.is_some()
    }
}

/// A clap value parser for counts that must be at least 1 (`--concurrency`, `--samples`, …).
#[must_use]
pub fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presentation_helpers() {
        assert_eq!(status_mark(&registry::Status::Uploaded), "✓");
    }

    /// Every library error variant that wraps a cause, each around a cause with a text of its
    /// own: the rendered chain must show that text exactly once.
    #[test]
    fn error_chains_print_each_cause_once() {
        const CAUSE: &str = "disk on fire 7f3a";
        let io = || io::Error::other(CAUSE);
        let path = PathBuf::from("some/file.csv");
        let errors: Vec<anyhow::Error> = vec![
            core_config::Error::Io {
                path: path.clone(),
                source: io(),
            }
            .into(),
            annotation::Error::Io {
                path: path.clone(),
                source: io(),
            }
            .into(),
            registry::Error::Io {
                path: path.clone(),
                source: io(),
            }
            .into(),
            runner::Error::Io {
                path: path.clone(),
                source: io(),
            }
            .into(),
            runner::Error::Missing {
                what: "dataset",
                module: "m12".to_owned(),
                path: path.clone(),
                source: io(),
            }
            .into(),
            batch::Error::Io {
                path: path.clone(),
                source: io(),
            }
            .into(),
            batch::Error::Api {
                what: "uploading m12_batch.jsonl".to_owned(),
                source: llm_client::Error::Cache {
                    path: path.clone(),
                    source: io(),
                },
            }
            .into(),
            llm_client::Error::Cache {
                path: path.clone(),
                source: io(),
            }
            .into(),
            braintrust::Error::Partial {
                stored: 10,
                total: 20,
                source: Box::new(braintrust::Error::Files(core_config::Error::Io {
                    path,
                    source: io(),
                })),
            }
            .into(),
            api_sim::Error::Bind {
                addr: "127.0.0.1:1".to_owned(),
                source: io(),
            }
            .into(),
            api_sim::Error::Runtime(io()).into(),
        ];
        for error in errors {
            let error = error.context("cannot do the thing");
            let text = render_error(&error);
            assert_eq!(text.matches(CAUSE).count(), 1, "{text}");
            // No line of the chain repeats the one below it either.
            let lines: Vec<&str> = text.lines().collect();
            for pair in lines.windows(2) {
                let cause = pair[1].trim_start().trim_start_matches("caused by: ");
                assert!(!pair[0].contains(cause), "{text}");
            }
        }
    }

    #[test]
    fn chains_are_rendered_one_cause_a_line() {
        let error = anyhow::Error::new(io::Error::other("inner")).context("outer");
        assert_eq!(render_error(&error), "error: outer\n  caused by: inner\n");
    }

    #[test]
    fn verbosity_picks_the_log_filter() {
        assert_eq!(log_filter(0, None).unwrap(), None);
        let info = log_filter(1, None).unwrap().unwrap();
        assert!(
            info.contains("core_config=info") && info.contains("llm_client=info"),
            "{info}"
        );
        let debug = log_filter(2, None).unwrap().unwrap();
        assert!(
            debug.contains("core_config=debug") && !debug.contains("=info"),
            "{debug}"
        );
        assert_eq!(log_filter(3, None).unwrap(), log_filter(2, None).unwrap());
        // RUST_LOG wins over -v, and a bad one is an error rather than silence.
        assert_eq!(
            log_filter(2, Some("warn")).unwrap().as_deref(),
            Some("warn")
        );
        assert!(log_filter(0, Some("core_config=lots")).is_err());
    }
}
