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
pub fn run_cli<C: clap::Parser>(run: impl FnOnce(C) -> anyhow::Result<ExitStatus>) -> ExitCode {
    let cli = C::parse();
    run_main(|| run(cli))
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
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "error: {error}");
            for cause in error.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitStatus::Error.into()
        }
    }
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
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A plain text table: columns padded to their widest cell, two spaces apart.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
    right_aligned: Vec<usize>,
}

impl Table {
    /// A table with a header row.
    #[must_use]
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            rows: vec![headers.into_iter().map(Into::into).collect()],
            right_aligned: Vec::new(),
        }
    }

    /// A table without a header row.
    #[must_use]
    pub fn headless() -> Self {
        Self::default()
    }

    /// Right-aligns the given columns (numbers).
    #[must_use]
    pub fn right(mut self, columns: &[usize]) -> Self {
        self.right_aligned.extend_from_slice(columns);
        self
    }

    /// Adds a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Renders the table, one line per row, each line indented by `indent` spaces.
    #[must_use]
    pub fn render(&self, indent: usize) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = " ".repeat(indent);
            for (c, cell) in row.iter().enumerate() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                let last = c + 1 == row.len();
                if self.right_aligned.contains(&c) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if !last {
                        line.push_str(&" ".repeat(pad));
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `n` and the noun that fits it, with thousands separators: `1 row`, `1,234 rows`.
#[must_use]
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(n as u64),
        if n == 1 { one } else { many }
    )
}

/// A share in `0..=1` as a percentage with one decimal (`87.5%`), or `-` when unknown.
#[must_use]
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |s| format!("{:.1}%", s * 100.0))
}

/// `part` as a percentage of `whole` with one decimal, or `-` when `whole` is 0.
#[must_use]
pub fn percent_of(part: usize, whole: usize) -> String {
    percent((whole > 0).then(|| part as f64 / whole as f64))
}

/// A registry timestamp for tables: `2026-01-16T12:34:56…` → `2026-01-16 12:34`; any other text
/// as it is, and `-` for an empty one.
#[must_use]
pub fn short_time(text: &str) -> String {
    match registry::parse_timestamp(text) {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None if text.trim().is_empty() => "-".to_owned(),
        None => text.to_owned(),
    }
}

/// The one-character mark of a run's Braintrust status in tables.
#[must_use]
pub fn status_mark(status: &registry::Status) -> &'static str {
    match status {
        registry::Status::Uploaded => "✓",
        registry::Status::LocalOnly => "○",
        registry::Status::Failed => "✗",
        registry::Status::Other(_) => "?",
    }
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

/// Formats an integer with thousands separators (`12,345`).
#[must_use]
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(["id", "n"]).right(&[1]);
        t.row(["m12", "120"]);
        t.row(["m12b", "7"]);
        assert_eq!(t.render(2), "  id      n\n  m12   120\n  m12b    7\n");
    }

    #[test]
    fn presentation_helpers() {
        assert_eq!(plural(1, "row", "rows"), "1 row");
        assert_eq!(plural(1234, "row", "rows"), "1,234 rows");
        assert_eq!(plural(0, "row", "rows"), "0 rows");
        assert_eq!(percent(Some(0.875)), "87.5%");
        assert_eq!(percent(None), "-");
        assert_eq!(percent_of(1, 3), "33.3%");
        assert_eq!(percent_of(1, 0), "-");
        assert_eq!(short_time("2026-01-16T12:34:56"), "2026-01-16 12:34");
        assert_eq!(short_time(""), "-");
        assert_eq!(short_time("yesterday"), "yesterday");
        assert_eq!(status_mark(&registry::Status::Uploaded), "✓");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
