//! `analyze-results report`: the static HTML report under `reports/{timestamp}/` (the
//! `report` crate builds and writes it; this file parses, shows progress and prints the URL).

use std::io::Write as _;

use anyhow::Context as _;
use registry::RegistryFile;
use serde::Serialize;

use crate::common::{Bar, ExitStatus, GlobalArgs, Project, print_json};

/// The arguments of `analyze-results report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// Only these modules (ids, comma-separated or repeated); every module with runs by
    /// default.
    #[arg(long, value_delimiter = ',', value_name = "MODULE")]
    modules: Vec<String>,
    /// Add a comparison page of two runs of one module (exp_… ids or results CSVs): flips,
    /// McNemar's exact test and the bootstrap interval of `experiment-registry compare`.
    #[arg(long, num_args = 2, value_names = ["RUN_A", "RUN_B"])]
    compare: Vec<String>,
    /// Rows of the errors table embedded per module page; the full errors CSV is copied
    /// beside the page and linked.
    #[arg(long, value_name = "N", default_value_t = report::DEFAULT_MAX_ROWS)]
    max_rows: usize,
    /// Accuracy under which a module is flagged (0–1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.7)]
    threshold: f64,
    /// Write the report folder here instead of reports/{timestamp}/ under the project root
    /// (DIR/{timestamp}/ is created).
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    /// Open the report with the system's opener (xdg-open, open) when there is one.
    #[arg(long)]
    open: bool,
    /// Print what was written as JSON on stdout.
    #[arg(long)]
    json: bool,
}

struct StepProgress<'a>(&'a Bar);

impl report::Progress for StepProgress<'_> {
    fn step(&mut self, what: &str) {
        self.0.set_message(what.to_owned());
        self.0.set_position(0);
    }
    fn rows_read(&mut self, rows: u64) {
        self.0.set_position(rows);
    }
}

#[derive(Serialize)]
struct ReportJson<'a> {
    dir: String,
    url: String,
    files: Vec<FileJson<'a>>,
}

#[derive(Serialize)]
struct FileJson<'a> {
    file: &'a str,
    bytes: u64,
}

/// Builds and writes the report.
pub(crate) fn run(
    project: &Project,
    global: &GlobalArgs,
    file: &RegistryFile,
    args: ReportArgs,
) -> anyhow::Result<ExitStatus> {
    if !(0.0..=1.0).contains(&args.threshold) {
        anyhow::bail!(
            "--threshold {}: give a share between 0 and 1 (0.7 for 70%)",
            args.threshold
        );
    }
    if args.max_rows == 0 {
        anyhow::bail!("--max-rows 0: give at least 1 (the full errors CSV is always linked)");
    }
    let options = report::Options {
        modules: args.modules,
        compare: match args.compare.as_slice() {
            [a, b] => Some((a.clone(), b.clone())),
            _ => None,
        },
        max_rows: args.max_rows,
        threshold: args.threshold,
    };
    let bar = Bar::new(global, args.json, None, "{spinner} {msg} {human_pos} rows");
    let root = &project.paths.root;
    let gathered = report::gather(
        root,
        &project.catalog,
        file,
        &options,
        &mut StepProgress(&bar),
    );
    let gathered = match gathered {
        Ok(g) => g,
        Err(e) => {
            bar.finish();
            return Err(e).context("cannot make the report");
        }
    };
    let out_root = match &args.out {
        Some(dir) => std::path::absolute(dir)
            .with_context(|| format!("cannot resolve --out {}", dir.display()))?,
        None => root.join("reports"),
    };
    let now = chrono::Local::now();
    let written = report::write_site(
        &out_root,
        &gathered,
        &options,
        &now.format("%Y%m%d_%H%M%S").to_string(),
        &now.format("%Y-%m-%d %H:%M").to_string(),
        &mut StepProgress(&bar),
    );
    bar.finish();
    let written = written.context("cannot write the report")?;
    let shown = project.paths.display(&written.dir).into_owned();
    if args.json {
        print_json(&ReportJson {
            dir: shown,
            url: report::file_url(&written.index),
            files: written
                .files
                .iter()
                .map(|(file, bytes)| FileJson {
                    file,
                    bytes: *bytes,
                })
                .collect(),
        })?;
    } else {
        std::io::stdout()
            .lock()
            .write_all(report::text(&written, &shown).as_bytes())?;
    }
    if args.open {
        open(&written.index, global);
    }
    Ok(ExitStatus::Success)
}

/// Opens the index with the system's opener; says so on stderr when there is none.
fn open(index: &std::path::Path, global: &GlobalArgs) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(index)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned
        && !global.quiet
    {
        let _ = writeln!(
            std::io::stderr().lock(),
            "note: cannot open the report with {opener} ({e}); open the URL above in a browser"
        );
    }
}
