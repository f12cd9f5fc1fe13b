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
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
