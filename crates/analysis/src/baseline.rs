//! The cross-module baseline report: one table of every module's newest run, the modules under a
//! threshold, the Path A / Path B comparisons, each module's top error slices, and
//! recommendations stated as facts taken from those figures.

use std::fmt::Write as _;

use serde::Serialize;

use std::path::{Path, PathBuf};

use core_config::Catalog;

use crate::compare::PathsReport;
use crate::errors::ErrorsReport;
use crate::patterns::{PatternsReport, Slice};
use crate::source::RunRef;

/// Slices shown per module: significant (q < 0.05) and over-represented (lift > 1).
pub const TOP_SLICES: usize = 3;

/// One module's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleLine {
    /// Module id.
    pub module: String,
    /// The run analysed.
    pub run: String,
    /// Rows.
    pub rows: u64,
    /// Scored rows.
    pub scored: u64,
    /// Errored rows.
    pub errored: u64,
    /// Accuracy over scored rows.
    pub accuracy: Option<f64>,
    /// Its Wilson 95% interval.
    pub accuracy_ci95: Option<[f64; 2]>,
    /// Macro F1 (categorical modules).
    pub macro_f1: Option<f64>,
    /// MCC (categorical modules).
    pub mcc: Option<f64>,
    /// Cost in USD, when the registry has it.
    pub cost_usd: Option<f64>,
    /// When the run was registered.
    pub date: Option<String>,
    /// Prompt version.
    pub prompt_version: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// The errors file.
    pub errors_file: Option<String>,
    /// Top significant error slices.
    pub top_slices: Vec<Slice>,
}

/// Totals over the modules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Modules analysed.
    pub modules: usize,
    /// Rows.
    pub rows: u64,
    /// Scored rows.
    pub scored: u64,
    /// Right rows.
    pub correct: u64,
    /// Errored rows.
    pub errored: u64,
    /// `correct / scored`.
    pub accuracy: Option<f64>,
    /// Summed cost of the runs that have one.
    pub cost_usd: Option<f64>,
}

/// The `analyze-results baseline` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineReport {
    /// Accuracy threshold (0–1).
    pub threshold: f64,
    /// Totals.
    pub total: Totals,
    /// One line per module.
    pub modules: Vec<ModuleLine>,
    /// Modules whose accuracy is under the threshold.
    pub under_threshold: Vec<String>,
    /// Path A / Path B comparisons of the pairs with runs on both sides.
    pub paths: Vec<PathsReport>,
    /// Facts worth acting on.
    pub recommendations: Vec<String>,
}

/// Path A against Path B for every pair (m02/m02b, m04/m04b, m05/m05b) whose two modules are
/// both among the analysed runs, and the relevance chain against m12b when m12b and the five
/// chain steps (m12–m16) are.
///
/// # Errors
/// When a module id is unknown or a CSV cannot be read or the disagreements file written.
pub fn path_reports(
    root: &Path,
    catalog: &Catalog,
    analysed: &[(RunRef, ErrorsReport, PatternsReport)],
) -> crate::Result<Vec<PathsReport>> {
    let find = |id: &str| {
        analysed
            .iter()
            .find(|(r, _, _)| r.module == id)
            .map(|(r, _, _)| r)
    };
    let mut paths = Vec::new();
    for (a, b) in crate::compare::PATH_PAIRS {
        if let (Some(run_a), Some(run_b)) = (find(a), find(b)) {
            let module_a = catalog.resolve(&run_a.module)?;
            let module_b = catalog.resolve(&run_b.module)?;
            paths.push(crate::compare::paths(
                root, module_a, module_b, run_a, run_b,
            )?);
        }
    }
    let steps: Option<Vec<RunRef>> = crate::chain::Step::ALL
        .iter()
        .map(|s| find(s.id()).cloned())
        .collect();
    if let (Some(steps), Some(run_b)) = (steps, find(crate::chain::CHAIN_PATH_B)) {
        paths.push(crate::chain::chain_paths(root, catalog, &steps, run_b)?);
    }
    Ok(paths)
}

/// Writes `analysis/baseline.md` (when `markdown`) and `analysis/baseline.json` (when `json`)
/// under `root`, under a free name (`baseline_2`, …) so nothing already there is replaced.
/// Returns the files written.
///
/// # Errors
/// When a file cannot be written.
pub fn write(
    root: &Path,
    report: &BaselineReport,
    markdown: Option<&str>,
    json: bool,
) -> crate::Result<Vec<PathBuf>> {
    let dir = root.join("analysis");
    let mut suffixes = Vec::new();
    if markdown.is_some() {
        suffixes.push(".md");
    }
    if json {
        suffixes.push(".json");
    }
    let stem = crate::output::free_stem(&dir, "baseline", &suffixes);
    let mut written = Vec::new();
    if let Some(markdown) = markdown {
        written.push(crate::output::write_new(
            &dir.join(format!("{stem}.md")),
            markdown.as_bytes(),
        )?);
    }
    if json {
        written.push(crate::output::write_json(
            &dir.join(format!("{stem}.json")),
            report,
        )?);
    }
    Ok(written)
}

/// Builds the report from each module's analysis.
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn build(
    analysed: &[(RunRef, ErrorsReport, PatternsReport)],
    paths: Vec<PathsReport>,
    threshold: f64,
) -> BaselineReport {
    let mut modules = Vec::new();
    let mut recommendations = Vec::new();
    let mut under = Vec::new();
    let mut total = Totals {
        modules: analysed.len(),
        rows: 0,
        scored: 0,
        correct: 0,
        errored: 0,
        accuracy: None,
        cost_usd: None,
    };
    for (run, errors, patterns) in analysed {
        total.rows += errors.rows;
        total.scored += errors.scored;
        total.correct += errors.correct;
        total.errored += errors.errored;
        if let Some(cost) = run.cost_usd {
            *total.cost_usd.get_or_insert(0.0) += cost;
        }
        let top: Vec<Slice> = patterns
            .slices
            .iter()
            .filter(|s| s.q_value < 0.05 && s.lift.is_some_and(|l| l > 1.0))
            .take(TOP_SLICES)
            .cloned()
            .collect();
        module_recommendations(
            errors,
            patterns,
            top.first(),
            threshold,
            &mut recommendations,
            &mut under,
        );
        modules.push(module_line(run, errors, top));
    }
    path_recommendations(&paths, &mut recommendations);
    total.accuracy = (total.scored > 0).then(|| total.correct as f64 / total.scored as f64);
    BaselineReport {
        threshold,
        total,
        modules,
        under_threshold: under,
        paths,
        recommendations,
    }
}

/// Adds one module's recommendations, and the module to `under` when its accuracy is under
/// the threshold.
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn module_recommendations(
    errors: &ErrorsReport,
    patterns: &PatternsReport,
    top: Option<&Slice>,
    threshold: f64,
    recommendations: &mut Vec<String>,
    under: &mut Vec<String>,
) {
    let m = &errors.module;
    if let Some(accuracy) = errors.accuracy
        && accuracy < threshold
    {
        under.push(m.clone());
        recommendations.push(format!(
            "{m}: accuracy {:.1}% is under the {:.0}% threshold ({} of {} scored rows right)",
            accuracy * 100.0,
            threshold * 100.0,
            errors.correct,
            errors.scored
        ));
    }
    let weakest = errors
        .per_label
        .iter()
        .filter_map(|(label, f)| f.recall.map(|r| (label, r, f)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((label, recall, f)) = weakest
        && recall < 0.8
    {
        recommendations.push(format!(
            "{m}: recall of {label} {recall:.2} ({} of {} rows expected {label} were answered {label})",
            (recall * f.support as f64).round(),
            f.support
        ));
    }
    for list in &errors.lists {
        if list.recall < 0.8 {
            recommendations.push(format!(
                "{m}: mean recall of {} {:.2}; {} expected items missed over {} records",
                list.field, list.recall, list.missing_items, list.rows
            ));
        }
    }
    if let Some(slice) = top
        && patterns.errors > 0
    {
        recommendations.push(format!(
            "{m}: {:.0}% of errors are rows where {} = {} (error rate {:.1}% against {:.1}% overall, q = {:.2e})",
            slice.errors as f64 / patterns.errors as f64 * 100.0,
            slice.feature,
            slice.value,
            slice.error_rate * 100.0,
            patterns.error_rate.unwrap_or(0.0) * 100.0,
            slice.q_value
        ));
    }
    if errors.errored > 0 {
        let kinds: Vec<String> = errors
            .errored_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        recommendations.push(format!(
            "{m}: {} rows errored ({}) and were not scored",
            errors.errored,
            kinds.join(", ")
        ));
    }
}

/// One module's line of the report.
fn module_line(run: &RunRef, errors: &ErrorsReport, top: Vec<Slice>) -> ModuleLine {
    ModuleLine {
        module: errors.module.clone(),
        run: run.name.clone(),
        rows: errors.rows,
        scored: errors.scored,
        errored: errors.errored,
        accuracy: errors.accuracy,
        accuracy_ci95: errors.accuracy_ci95,
        macro_f1: errors.macro_f1,
        mcc: errors.mcc,
        cost_usd: run.cost_usd,
        date: run.created_at.clone(),
        prompt_version: run.prompt_version.clone(),
        model: run.model.clone(),
        errors_file: errors.errors_file.clone(),
        top_slices: top,
    }
}

/// One recommendation per pair of paths that share keywords.
fn path_recommendations(paths: &[PathsReport], recommendations: &mut Vec<String>) {
    for p in paths {
        let c = &p.comparison;
        if c.joined > 0 {
            recommendations.push(format!(
                "{} vs {}: the paths give the same answer on {:.1}% of {} keywords; accuracy {:.1}% vs {:.1}% (McNemar p = {:.3})",
                p.module_a,
                p.module_b,
                c.observed_agreement.unwrap_or(0.0) * 100.0,
                c.joined,
                c.accuracy_a.unwrap_or(0.0) * 100.0,
                c.accuracy_b.unwrap_or(0.0) * 100.0,
                c.mcnemar_p
            ));
        }
        if let Some(chain) = &p.chain
            && chain.undecided > 0
        {
            let why: Vec<String> = chain
                .undecided_by_step
                .iter()
                .map(|(why, n)| format!("{why} ({n})"))
                .collect();
            recommendations.push(format!(
                "chain: {} of {} keywords could not be decided ({})",
                chain.undecided,
                chain.keywords,
                why.join("; ")
            ));
        }
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

/// Markdown-safe cell: pipes and line breaks would break the table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The report as Markdown.
#[must_use]
pub fn to_markdown(r: &BaselineReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Baseline report\n");
    let _ = writeln!(
        out,
        "{} modules · {} rows · {} scored · {} errored · accuracy {}{}\n",
        r.total.modules,
        r.total.rows,
        r.total.scored,
        r.total.errored,
        pct(r.total.accuracy),
        r.total
            .cost_usd
            .map(|c| format!(" · cost ${c:.4}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "| module | run | rows | accuracy (95% CI) | macro F1 | MCC | errored | cost | date | prompt | model |"
    );
    let _ = writeln!(out, "|---|---|---:|---|---:|---:|---:|---:|---|---|---|");
    for m in &r.modules {
        let ci = m.accuracy_ci95.map_or_else(String::new, |[lo, hi]| {
            format!(" ({:.1}–{:.1}%)", lo * 100.0, hi * 100.0)
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}{ci} | {} | {} | {} | {} | {} | {} | {} |",
            m.module,
            cell(&m.run),
            m.rows,
            pct(m.accuracy),
            num(m.macro_f1),
            num(m.mcc),
            m.errored,
            m.cost_usd
                .map_or_else(|| "-".to_owned(), |c| format!("${c:.4}")),
            cell(m.date.as_deref().unwrap_or("-")),
            cell(m.prompt_version.as_deref().unwrap_or("-")),
            cell(m.model.as_deref().unwrap_or("-")),
        );
    }
    let _ = writeln!(
        out,
        "\n## Under {:.0}%\n\n{}\n",
        r.threshold * 100.0,
        if r.under_threshold.is_empty() {
            "None.".to_owned()
        } else {
            r.under_threshold.join(", ")
        }
    );
    if !r.paths.is_empty() {
        let _ = writeln!(out, "## Path A vs Path B\n");
        let _ = writeln!(
            out,
            "| pair | joined | same answer | kappa (95% CI) | accuracy A | accuracy B | McNemar p |"
        );
        let _ = writeln!(out, "|---|---:|---:|---|---:|---:|---:|");
        for p in &r.paths {
            let c = &p.comparison;
            let kappa = match (c.kappa, c.kappa_ci95) {
                (Some(k), Some([lo, hi])) => format!("{k:.3} ({lo:.3} to {hi:.3})"),
                _ => "undefined".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {}/{} | {} | {} | {kappa} | {} | {} | {:.4} |",
                p.module_a,
                p.module_b,
                c.joined,
                pct(c.observed_agreement),
                pct(c.accuracy_a),
                pct(c.accuracy_b),
                c.mcnemar_p
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Top error slices (q < 0.05, lift > 1)\n");
    let mut any = false;
    for m in &r.modules {
        for s in &m.top_slices {
            any = true;
            let _ = writeln!(
                out,
                "- {}: {} = {}: {} of {} rows wrong ({:.1}%, lift {:.2}, q = {:.2e})",
                m.module,
                s.feature,
                cell(&s.value),
                s.errors,
                s.rows,
                s.error_rate * 100.0,
                s.lift.unwrap_or(0.0),
                s.q_value
            );
        }
    }
    if !any {
        let _ = writeln!(out, "None.");
    }
    let _ = writeln!(out, "\n## Recommendations\n");
    if r.recommendations.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for line in &r.recommendations {
        let _ = writeln!(out, "- {}", cell(line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_files_never_replace_earlier_ones() {
        let root = tempfile::tempdir().unwrap();
        let report = build(&[], Vec::new(), 0.7);
        let first = write(root.path(), &report, Some("# one\n"), true).unwrap();
        let names = |files: &[PathBuf]| -> Vec<String> {
            files
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(&first), ["baseline.md", "baseline.json"]);
        let second = write(root.path(), &report, Some("# two\n"), false).unwrap();
        assert_eq!(names(&second), ["baseline_2.md"]);
        let dir = root.path().join("analysis");
        assert_eq!(
            std::fs::read_to_string(dir.join("baseline.md")).unwrap(),
            "# one\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("baseline_2.md")).unwrap(),
            "# two\n"
        );
        let only_json = write(root.path(), &report, None, true).unwrap();
        assert_eq!(names(&only_json), ["baseline_2.json"]);
    }
}
