//! `analyze-results`: look at a run's errors so the prompt can be fixed: the error analysis
//! (confusion, per-label figures, the errors file), where the errors concentrate (slices with
//! exact tests and q-values, calibration), for one run or every module.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use analysis::{ErrorsReport, PatternsReport, Progress, RunRef, Wanted};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use registry::RegistryFile;
use serde::Serialize;

use crate::common::{
    Bar, ExitStatus, GlobalArgs, Project, Table, percent, plural, print_json, run_cli,
};

/// Look at the errors of a run so the prompt can be fixed.
///
/// A RUN is a registry id (exp_…), a results CSV path, or a module id (that module's newest
/// run). Files are written under analysis/{MODULE_FOLDER}/, named after the run; nothing
/// already there is overwritten.
#[derive(Debug, Parser)]
#[command(name = "analyze-results", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The error analysis of one run: confusion matrix, per-label precision / recall / F1,
    /// accuracy with its 95% interval, MCC, and the errors file (one row per wrong row).
    Errors {
        /// The run: exp_… id, results CSV, or module id (newest run).
        run: String,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Where the errors concentrate: slices of the run with their error rate, lift, Fisher's
    /// exact p-value and Benjamini–Hochberg q-value, and the confidence calibration.
    Patterns {
        /// The run: exp_… id, results CSV, or module id (newest run).
        run: String,
        /// Slices shown in the text report (the JSON and the file list every slice tested).
        #[arg(long, value_name = "N", default_value_t = 15)]
        top: usize,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Path A against Path B on the same keywords (m02/m02b, m04/m04b, m05/m05b), joined by
    /// ASIN and normalised keyword: kappa between the paths, each path's accuracy, McNemar's
    /// exact test, and a CSV of the rows where they disagree.
    Paths {
        /// Path A: exp_… id, results CSV, or module id (newest run), e.g. m02.
        a: String,
        /// Path B, e.g. m02b.
        b: String,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Model-vs-model agreement of two runs of one module, joined by record id: kappa with its
    /// interval, weighted kappa for ordered labels, the confusion of their answers.
    Agreement {
        /// Run A: exp_… id or results CSV.
        run_a: String,
        /// Run B: exp_… id or results CSV.
        run_b: String,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The cross-module baseline report from the newest run of each module: per-module table,
    /// modules under the threshold, Path A / Path B, top error slices, recommendations. Writes
    /// analysis/baseline.md and/or .json; prints the Markdown (or the JSON with --json).
    Baseline {
        /// Only these modules (ids, comma-separated or repeated).
        #[arg(long, value_delimiter = ',', value_name = "MODULE")]
        modules: Vec<String>,
        /// Accuracy under which a module is listed (0–1).
        #[arg(long, value_name = "SHARE", default_value_t = 0.7)]
        threshold: f64,
        /// Files to write.
        #[arg(long, value_enum, default_value_t = Format::Both)]
        format: Format,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The earlier tool's csv_to_readable: one row per input field and per output field of
    /// each record, with the product link, for reading results in a spreadsheet.
    Readable {
        /// The run: exp_… id, results CSV, or module id (newest run).
        run: String,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Errors and patterns of the newest run of every module that has runs (or of --modules).
    All {
        /// Only these modules (ids, comma-separated or repeated).
        #[arg(long, value_delimiter = ',', value_name = "MODULE")]
        modules: Vec<String>,
        /// Print the reports as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Md,
    Json,
    Both,
}

#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let project = cli.global.project()?;
    let file = RegistryFile::in_project(project.paths.root.clone());
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    match cli.command {
        Command::Errors { run, json } => {
            let run = analysis::resolve_run(&project.catalog, &file, &cwd, &run)?;
            let reports = analyze(&project, &cli.global, &run, json, true, false)?;
            let report = reports.errors.context("the error analysis was made")?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", render_errors(&run, &report));
            }
            Ok(ExitStatus::Success)
        }
        Command::Patterns { run, top, json } => {
            let run = analysis::resolve_run(&project.catalog, &file, &cwd, &run)?;
            let reports = analyze(&project, &cli.global, &run, json, false, true)?;
            let report = reports.patterns.context("the patterns were made")?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", render_patterns(&run, &report, top));
            }
            Ok(ExitStatus::Success)
        }
        Command::Paths { a, b, json } => {
            let run_a = analysis::resolve_run(&project.catalog, &file, &cwd, &a)?;
            let run_b = analysis::resolve_run(&project.catalog, &file, &cwd, &b)?;
            let module_a = project.catalog.resolve(&run_a.module)?;
            let module_b = project.catalog.resolve(&run_b.module)?;
            let report =
                analysis::compare::paths(&project.paths.root, module_a, module_b, &run_a, &run_b)?;
            if json {
                print_json(&report)?;
            } else {
                let title = format!(
                    "Path A {} ({}) against Path B {} ({})",
                    term(&report.path_a),
                    report.module_a,
                    term(&report.path_b),
                    report.module_b
                );
                print!(
                    "{}",
                    render_comparison(
                        &title,
                        &report.comparison,
                        report.errored_a,
                        report.errored_b,
                        "keywords"
                    )
                );
            }
            Ok(ExitStatus::Success)
        }
        Command::Agreement { run_a, run_b, json } => {
            let a = analysis::resolve_run(&project.catalog, &file, &cwd, &run_a)?;
            let b = analysis::resolve_run(&project.catalog, &file, &cwd, &run_b)?;
            let module = project.catalog.resolve(&a.module)?;
            let report = analysis::compare::run_agreement(&project.paths.root, module, &a, &b)?;
            if json {
                print_json(&report)?;
            } else {
                let title = format!(
                    "Agreement of {} and {} ({})",
                    term(&report.run_a),
                    term(&report.run_b),
                    report.module
                );
                print!(
                    "{}",
                    render_comparison(
                        &title,
                        &report.comparison,
                        report.errored_a,
                        report.errored_b,
                        "records"
                    )
                );
            }
            Ok(ExitStatus::Success)
        }
        Command::Baseline {
            modules,
            threshold,
            format,
            json,
        } => baseline(
            &project,
            &cli.global,
            &file,
            &modules,
            threshold,
            format,
            json,
        ),
        Command::Readable { run, json } => {
            let run = analysis::resolve_run(&project.catalog, &file, &cwd, &run)?;
            let module = project.catalog.resolve(&run.module)?;
            let report = analysis::readable::readable(&project.paths.root, &run, module)
                .with_context(|| format!("cannot convert {}", project.paths.display(&run.csv)))?;
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "{} of {} ({}) in {}: {}",
                    plural(report.records as usize, "record", "records"),
                    term(&report.run),
                    report.module,
                    plural(report.rows as usize, "row", "rows"),
                    term(&report.readable_file)
                );
            }
            Ok(ExitStatus::Success)
        }
        Command::All { modules, json } => all(&project, &cli.global, &file, &modules, json),
    }
}

struct BarProgress<'a>(&'a Bar);

impl Progress for BarProgress<'_> {
    fn rows_read(&mut self, rows: u64) {
        self.0.set_position(rows);
    }
}

fn analyze(
    project: &Project,
    global: &GlobalArgs,
    run: &RunRef,
    json: bool,
    errors: bool,
    patterns: bool,
) -> anyhow::Result<analysis::RunAnalysis> {
    let module = project.catalog.resolve(&run.module)?;
    let bar = Bar::new(global, json, None, "{spinner} {prefix} {pos} rows read");
    bar.set_prefix(run.name.clone());
    let result = analysis::analyze_run(
        &project.paths.root,
        run,
        module,
        Wanted { errors, patterns },
        &mut BarProgress(&bar),
    );
    bar.finish();
    result.with_context(|| format!("cannot analyse {}", project.paths.display(&run.csv)))
}

#[derive(Serialize)]
struct AllJson {
    modules: Vec<ModuleJson>,
}

#[derive(Serialize)]
struct ModuleJson {
    errors: ErrorsReport,
    patterns: PatternsReport,
}

/// The runs of the chosen modules, resolved before anything is written: a module given by name
/// without runs is an error; with no names, modules without runs are passed over.
fn chosen_runs(
    project: &Project,
    file: &RegistryFile,
    modules: &[String],
) -> anyhow::Result<Vec<RunRef>> {
    let chosen: Vec<&core_config::ModuleSpec> = if modules.is_empty() {
        project.catalog.modules().iter().collect()
    } else {
        modules
            .iter()
            .map(|m| project.catalog.resolve(m))
            .collect::<Result<_, _>>()?
    };
    let mut runs = Vec::new();
    for module in chosen {
        match analysis::source::newest_run(file, module) {
            Ok(run) => runs.push(run),
            Err(analysis::Error::NoRuns { .. }) if modules.is_empty() => {}
            Err(e) => return Err(e.into()),
        }
    }
    if runs.is_empty() {
        anyhow::bail!("no module has a run to analyse: run `orchestrator run MODULE` first");
    }
    Ok(runs)
}

fn all(
    project: &Project,
    global: &GlobalArgs,
    file: &RegistryFile,
    modules: &[String],
    json: bool,
) -> anyhow::Result<ExitStatus> {
    let runs = chosen_runs(project, file, modules)?;
    let mut out = AllJson {
        modules: Vec::new(),
    };
    let mut text = String::new();
    for run in runs {
        let made = analyze(project, global, &run, json, true, true)?;
        let (Some(errors), Some(patterns)) = (made.errors, made.patterns) else {
            continue;
        };
        if !json {
            text.push_str(&render_errors(&run, &errors));
            text.push('\n');
            text.push_str(&render_patterns(&run, &patterns, 5));
            text.push('\n');
        }
        out.modules.push(ModuleJson { errors, patterns });
    }
    if json {
        print_json(&out)?;
    } else {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    Ok(ExitStatus::Success)
}

fn baseline(
    project: &Project,
    global: &GlobalArgs,
    file: &RegistryFile,
    modules: &[String],
    threshold: f64,
    format: Format,
    json: bool,
) -> anyhow::Result<ExitStatus> {
    if !(0.0..=1.0).contains(&threshold) {
        anyhow::bail!("--threshold {threshold}: give a share between 0 and 1 (0.7 for 70%)");
    }
    let runs = chosen_runs(project, file, modules)?;
    let mut analysed = Vec::new();
    for run in runs {
        let made = analyze(project, global, &run, json, true, true)?;
        if let (Some(errors), Some(patterns)) = (made.errors, made.patterns) {
            analysed.push((run, errors, patterns));
        }
    }
    let mut paths = Vec::new();
    for (a, b) in analysis::compare::PATH_PAIRS {
        let find = |id: &str| {
            analysed
                .iter()
                .find(|(r, _, _)| r.module == id)
                .map(|(r, _, _)| r)
        };
        if let (Some(run_a), Some(run_b)) = (find(a), find(b)) {
            let module_a = project.catalog.resolve(&run_a.module)?;
            let module_b = project.catalog.resolve(&run_b.module)?;
            paths.push(analysis::compare::paths(
                &project.paths.root,
                module_a,
                module_b,
                run_a,
                run_b,
            )?);
        }
    }
    let report = analysis::baseline::build(&analysed, paths, threshold);
    let markdown = analysis::baseline::to_markdown(&report);
    let dir = project.paths.root.join("analysis");
    let suffixes: &[&str] = match format {
        Format::Md => &[".md"],
        Format::Json => &[".json"],
        Format::Both => &[".md", ".json"],
    };
    let stem = analysis::output::free_stem(&dir, "baseline", suffixes);
    let mut written = Vec::new();
    if format != Format::Json {
        written.push(analysis::output::write_new(
            &dir.join(format!("{stem}.md")),
            markdown.as_bytes(),
        )?);
    }
    if format != Format::Md {
        written.push(analysis::output::write_json(
            &dir.join(format!("{stem}.json")),
            &report,
        )?);
    }
    if json {
        print_json(&report)?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(term_block(&markdown).as_bytes())?;
        writeln!(out)?;
        for path in written {
            writeln!(out, "Written: {}", term(&project.paths.display(&path)))?;
        }
    }
    Ok(ExitStatus::Success)
}

/// Like [`term`] for a multi-line block: line breaks stay.
fn term_block(text: &str) -> String {
    text.split('\n').map(term).collect::<Vec<_>>().join("\n")
}

/// Untrusted text (keywords, labels, reasoning) made safe for a terminal: control characters
/// are shown escaped, never sent.
fn term(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn number(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

fn header(run: &RunRef, module: &str, what: &str) -> String {
    let mut line = format!("{what} of {} ({module}", term(&run.name));
    if let Some(model) = &run.model {
        let _ = write!(line, ", {}", term(model));
    }
    if let Some(version) = &run.prompt_version {
        let _ = write!(line, ", prompt {}", term(version));
    }
    line.push(')');
    line
}

fn render_errors(run: &RunRef, r: &ErrorsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", header(run, &r.module, "Errors"));
    if r.rescored {
        let _ = writeln!(
            out,
            "  (an earlier-tool file without a `correct` column: re-scored from expected / output)"
        );
    }
    let mut line = format!(
        "  {} · {} scored · {} wrong · {} errored",
        plural(r.rows as usize, "row", "rows"),
        r.scored,
        r.error_count,
        r.errored
    );
    if !r.errored_by_kind.is_empty() {
        let kinds: Vec<String> = r
            .errored_by_kind
            .iter()
            .map(|(k, n)| format!("{} {n}", term(k)))
            .collect();
        let _ = write!(line, " ({})", kinds.join(", "));
    }
    let _ = writeln!(out, "{line}");
    let ci = r.accuracy_ci95.map_or_else(
        || "-".to_owned(),
        |[lo, hi]| format!("{}–{}", percent(Some(lo)), percent(Some(hi))),
    );
    let mut figures = format!("  accuracy {} (95% CI {ci})", percent(r.accuracy));
    if !r.labels.is_empty() {
        let _ = write!(
            figures,
            " · MCC {} · macro F1 {} · micro F1 {}",
            number(r.mcc, 3),
            number(r.macro_f1, 3),
            number(r.micro_f1, 3)
        );
    }
    let _ = writeln!(out, "{figures}");
    if !r.labels.is_empty() {
        let _ = writeln!(
            out,
            "\n  Confusion matrix (rows: expected, columns: predicted)"
        );
        let mut table =
            Table::new(std::iter::once(String::new()).chain(r.labels.iter().map(|l| term(l))))
                .right(&(1..=r.labels.len()).collect::<Vec<_>>());
        for (label, row) in r.labels.iter().zip(&r.confusion_matrix) {
            table.row(std::iter::once(term(label)).chain(row.iter().map(u64::to_string)));
        }
        out.push_str(&table.render(4));
        let mut table = Table::new(["label", "support", "predicted", "precision", "recall", "F1"])
            .right(&[1, 2, 3, 4, 5]);
        for (label, f) in &r.per_label {
            table.row([
                term(label),
                f.support.to_string(),
                f.predicted.to_string(),
                percent(f.precision),
                percent(f.recall),
                number(f.f1, 3),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render(2));
    }
    if let Some(b) = &r.binary {
        let _ = writeln!(
            out,
            "\n  Against the positive class {}: TP {} · TN {} · FP {} · FN {}",
            term(&b.positive),
            b.tp,
            b.tn,
            b.fp,
            b.r#fn
        );
    }
    if !r.lists.is_empty() {
        let mut table = Table::new([
            "list field",
            "records",
            "precision",
            "recall",
            "F1",
            "Jaccard",
            "missing",
            "extra",
        ])
        .right(&[1, 2, 3, 4, 5, 6, 7]);
        for l in &r.lists {
            table.row([
                term(&l.field),
                l.rows.to_string(),
                format!("{:.3}", l.precision),
                format!("{:.3}", l.recall),
                format!("{:.3}", l.f1),
                format!("{:.3}", l.jaccard),
                l.missing_items.to_string(),
                l.extra_items.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&table.render(2));
    }
    if let Some(file) = &r.errors_file {
        let _ = writeln!(
            out,
            "\nErrors file: {} ({}, {})",
            term(file),
            plural(r.error_count as usize, "wrong row", "wrong rows"),
            plural(r.errored as usize, "errored row", "errored rows")
        );
    }
    out
}

fn p_value(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn render_patterns(run: &RunRef, r: &PatternsReport, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", header(run, &r.module, "Error patterns"));
    let _ = writeln!(
        out,
        "  {} scored · {} wrong ({}) · {} errored (left out) · {} tested",
        plural(r.scored as usize, "row", "rows"),
        r.errors,
        percent(r.error_rate),
        r.errored,
        plural(r.slices.len(), "slice", "slices")
    );
    if r.slices.is_empty() {
        let _ = writeln!(out, "\n  No slice to test.");
    } else {
        let mut table = Table::new([
            "feature", "value", "rows", "errors", "rate", "lift", "p", "q",
        ])
        .right(&[2, 3, 4, 5, 6, 7]);
        for s in r.slices.iter().take(top) {
            table.row([
                s.feature.clone(),
                term(&s.value),
                s.rows.to_string(),
                s.errors.to_string(),
                percent(Some(s.error_rate)),
                number(s.lift, 2),
                p_value(s.p_value),
                p_value(s.q_value),
            ]);
        }
        let shown = top.min(r.slices.len());
        let _ = writeln!(
            out,
            "\n  Top {shown} of {} by q-value, then lift:",
            r.slices.len()
        );
        out.push_str(&table.render(2));
    }
    let c = &r.calibration;
    if c.rows > 0 {
        let _ = writeln!(
            out,
            "\n  Calibration over {} with a confidence: ECE {}",
            plural(c.rows as usize, "row", "rows"),
            number(c.ece, 3)
        );
        let mut table =
            Table::new(["confidence", "rows", "mean conf.", "accuracy"]).right(&[1, 2, 3]);
        for b in c.bins.iter().filter(|b| b.rows > 0) {
            table.row([
                format!("{:.1}-{:.1}", b.low, b.high),
                b.rows.to_string(),
                number(b.mean_confidence, 3),
                percent(b.accuracy),
            ]);
        }
        out.push_str(&table.render(2));
    }
    if let Some(file) = &r.patterns_file {
        let _ = writeln!(out, "\nPatterns file: {}", term(file));
    }
    out
}

fn render_comparison(
    title: &str,
    c: &analysis::compare::Comparison,
    errored_a: u64,
    errored_b: u64,
    items: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    let _ = writeln!(
        out,
        "  {} {items} scored in both · {} only scored in A · {} only scored in B · errored rows left out: A {errored_a}, B {errored_b}",
        c.joined, c.only_a, c.only_b
    );
    if c.expected_differs > 0 {
        let _ = writeln!(
            out,
            "  note: {} joined {items} have a different expected label in the two runs",
            c.expected_differs
        );
    }
    let kappa = match (c.kappa, c.kappa_ci95) {
        (Some(k), Some([lo, hi])) => format!("{k:.3} (95% CI {lo:.3} to {hi:.3})"),
        _ => format!(
            "undefined ({})",
            c.kappa_undefined.as_deref().unwrap_or("no items")
        ),
    };
    let _ = writeln!(
        out,
        "  same answer {} · Cohen's kappa {kappa}",
        percent(c.observed_agreement)
    );
    if let Some(w) = c.weighted_kappa {
        let _ = writeln!(out, "  quadratic-weighted kappa {w:.3}");
    }
    let _ = writeln!(
        out,
        "  accuracy against expected: A {} · B {} · McNemar exact p = {} ({} right only in A, {} right only in B)",
        percent(c.accuracy_a),
        percent(c.accuracy_b),
        p_value(c.mcnemar_p),
        c.right_a_wrong_b,
        c.wrong_a_right_b
    );
    if !c.labels.is_empty() {
        let _ = writeln!(out, "\n  Answers (rows: A, columns: B)");
        let mut table =
            Table::new(std::iter::once(String::new()).chain(c.labels.iter().map(|l| term(l))))
                .right(&(1..=c.labels.len()).collect::<Vec<_>>());
        for (label, row) in c.labels.iter().zip(&c.confusion_matrix) {
            table.row(std::iter::once(term(label)).chain(row.iter().map(u64::to_string)));
        }
        out.push_str(&table.render(4));
    }
    if let Some(file) = &c.disagreements_file {
        let _ = writeln!(out, "\nDisagreements: {}", term(file));
    }
    out
}
