//! The plain-text agreement report of `calculate-agreement analyze`: one section per field
//! (kappa and the statistics that correct it, label distributions, the model's agreement), and
//! the kappa guide.

use agreement::{AgreementReport, Interpretation, ListReport, TextReport, Undefined};
use present::Table;

use super::{FieldAnalysis, FieldStats, FileAnalysis};

const RULE: &str = "============================================================";
const SUBRULE: &str = "----------------------------------------";

/// A coefficient to 4 places (never `-0.0000`).
#[must_use]
pub fn f4(x: f64) -> String {
    let text = format!("{x:.4}");
    if text == "-0.0000" {
        "0.0000".to_owned()
    } else {
        text
    }
}

/// A share as a percentage to 2 places.
#[must_use]
pub fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn section(out: &mut String, title: &str) {
    out.push('\n');
    out.push_str(SUBRULE);
    out.push('\n');
    out.push_str(title);
    out.push('\n');
    out.push_str(SUBRULE);
    out.push_str("\n\n");
}

/// Why a value is missing, in plain words.
#[must_use]
pub fn why(reason: &Undefined) -> String {
    match reason {
        Undefined::SingleLabel { label } => format!(
            "both annotators gave every annotated row the same label, `{label}`, so chance agreement is already 100% and kappa is 0/0: it has no value (it is not 1)"
        ),
        Undefined::NoItems => "no row has labels from both annotators".to_owned(),
        other => other.to_string(),
    }
}

/// The text report of `calculate-agreement analyze`; `verbose` adds each categorical field's
/// confusion matrix.
#[must_use]
pub fn render_report(analysis: &FileAnalysis<'_>, shown_file: &str, verbose: bool) -> String {
    let mut out = String::new();
    out.push_str(RULE);
    out.push_str("\nINTER-ANNOTATOR AGREEMENT REPORT\n");
    out.push_str(RULE);
    out.push_str("\n\n");
    out.push_str(&format!("File: {shown_file}\n"));
    out.push_str(&format!(
        "Module: {} ({})\n",
        analysis.module.id, analysis.module.name
    ));
    let single = analysis.fields.len() == 1;
    if single {
        let f = &analysis.fields[0];
        out.push_str(&format!(
            "Field: {} ({} vs {})\n",
            f.name, f.column_a, f.column_b
        ));
    } else {
        let names: Vec<&str> = analysis.fields.iter().map(|f| f.name.as_str()).collect();
        out.push_str(&format!(
            "Fields: {} (the first is the primary field)\n",
            names.join(", ")
        ));
    }
    out.push_str(&format!("Total rows: {}\n", analysis.total_rows));
    if single {
        out.push_str(&annotated_line(&analysis.fields[0], analysis.total_rows));
    }

    for (i, field) in analysis.fields.iter().enumerate() {
        if !single {
            out.push('\n');
            out.push_str(RULE);
            out.push_str(&format!(
                "\nFIELD {} of {}: {} ({} field{}; {} vs {})\n",
                i + 1,
                analysis.fields.len(),
                field.name,
                field.score_kind,
                if i == 0 { ", primary" } else { "" },
                field.column_a,
                field.column_b
            ));
            out.push_str(RULE);
            out.push_str("\n\n");
            out.push_str(&annotated_line(field, analysis.total_rows));
        }
        match &field.stats {
            FieldStats::Categorical(report) => render_categorical(&mut out, field, report, verbose),
            FieldStats::List(report) => render_list(&mut out, field, report),
            FieldStats::Text(report) => render_text(&mut out, field, report),
        }
    }

    let categorical = analysis
        .fields
        .iter()
        .any(|f| matches!(f.stats, FieldStats::Categorical(_)));
    if !categorical {
        return out;
    }
    section(&mut out, "KAPPA INTERPRETATION (Landis & Koch 1977)");
    let band = match &analysis.fields[0].stats {
        FieldStats::Categorical(r) => r.interpretation,
        _ => None,
    };
    let mut guide = Table::headless();
    for b in Interpretation::ALL {
        let mark = match (Some(b) == band, analysis.fields.len()) {
            (false, _) => String::new(),
            (true, 1) => "<- this file".to_owned(),
            (true, _) => format!("<- {} (primary field)", analysis.fields[0].name),
        };
        guide.row([b.range().to_owned(), b.as_str().to_owned(), mark]);
    }
    out.push_str(&guide.render(2));
    out
}

fn annotated_line(field: &FieldAnalysis, total_rows: u64) -> String {
    let annotated = field.annotated_rows();
    let left_out = total_rows - annotated;
    if left_out == 0 {
        format!("Annotated rows: {annotated}\n")
    } else {
        format!(
            "Annotated rows: {annotated} ({left_out} left out: A filled {}, B filled {})\n",
            field.filled_a, field.filled_b
        )
    }
}

fn render_categorical(out: &mut String, field: &FieldAnalysis, r: &AgreementReport, verbose: bool) {
    section(out, "AGREEMENT METRICS");
    render_kappa(out, r);
    if !r.labels.is_empty() {
        render_distribution(out, r);
    }
    section(out, "ADDITIONAL STATISTICS");
    out.push_str(&additional_statistics(r).render(0));
    render_llm_categorical(out, field, r);
    if verbose {
        render_confusion(out, r);
    }
}

/// Kappa and its band (or why there is none), observed and expected agreement, the counts and
/// the labels found.
fn render_kappa(out: &mut String, r: &AgreementReport) {
    match (&r.cohen_kappa, r.interpretation) {
        (Ok(kappa), Some(band)) => {
            out.push_str(&format!("Cohen's Kappa: {}\n", f4(*kappa)));
            out.push_str(&format!("Interpretation: {band}\n"));
        }
        (Ok(kappa), None) => out.push_str(&format!("Cohen's Kappa: {}\n", f4(*kappa))),
        (Err(reason), _) => {
            out.push_str("Cohen's Kappa: undefined\n");
            out.push_str("Interpretation: none (kappa is undefined)\n");
            out.push_str(&wrap(&format!("Why: {}.", why(reason)), 2));
            if matches!(reason, Undefined::SingleLabel { .. }) {
                out.push_str(&wrap(
                    "Observed agreement, PABAK and Gwet's AC1 below still say how often they agreed.",
                    2,
                ));
            }
        }
    }
    let share = |v: &agreement::Value| v.as_ref().map_or_else(|_| "-".to_owned(), |x| pct(*x));
    out.push_str(&format!(
        "\nObserved Agreement: {}\n",
        share(&r.observed_agreement)
    ));
    out.push_str(&format!(
        "Expected Agreement: {}\n\n",
        share(&r.expected_agreement)
    ));
    out.push_str(&format!("Agreements: {}\n", r.agreements));
    out.push_str(&format!("Disagreements: {}\n\n", r.disagreements));
    let labels = if r.labels.is_empty() {
        "none".to_owned()
    } else {
        r.labels.join(", ")
    };
    out.push_str(&format!("Labels found: {labels}\n"));
}

fn render_distribution(out: &mut String, r: &AgreementReport) {
    section(out, "LABEL DISTRIBUTION");
    let n = r.annotated_rows;
    let cell = |count: u64| {
        if n == 0 {
            count.to_string()
        } else {
            format!("{count} ({})", pct(count as f64 / n as f64))
        }
    };
    let mut table = Table::new(["label", "annotator A", "annotator B"]).right(&[1, 2]);
    for (label, a) in &r.distribution_a.0 {
        table.row([label.clone(), cell(*a), cell(r.distribution_b.get(label))]);
    }
    out.push_str(&table.render(2));
}

/// The value and note cells of one statistic: `undefined (as kappa)` when it is undefined for
/// kappa's reason, `off` for a bootstrap turned off.
struct Cells<'a> {
    kappa_reason: Option<&'a Undefined>,
}

impl Cells<'_> {
    fn value(&self, value: &agreement::Value, note: String) -> [String; 2] {
        match value {
            Ok(x) => [f4(*x), note],
            Err(reason) => self.undefined(reason),
        }
    }

    fn interval(&self, value: &Result<[f64; 2], Undefined>, note: String) -> [String; 2] {
        match value {
            Ok([lo, hi]) => [format!("[{}, {}]", f4(*lo), f4(*hi)), note],
            Err(Undefined::NoReplicates) if self.kappa_reason != Some(&Undefined::NoReplicates) => {
                ["off".to_owned(), "(--bootstrap 0)".to_owned()]
            }
            Err(reason) => self.undefined(reason),
        }
    }

    fn undefined(&self, reason: &Undefined) -> [String; 2] {
        if Some(reason) == self.kappa_reason {
            ["undefined".to_owned(), "(as kappa)".to_owned()]
        } else {
            ["undefined".to_owned(), format!("({})", why(reason))]
        }
    }
}

fn additional_statistics(r: &AgreementReport) -> Table {
    let cells = Cells {
        kappa_reason: r.cohen_kappa.as_ref().err(),
    };
    let mut table = Table::headless();
    let mut row = |name: &str, [value, note]: [String; 2]| {
        table.row([format!("{name}:"), value, note]);
    };
    let asymptotic = "(asymptotic; Fleiss, Cohen & Everitt 1969)".to_owned();
    row("Kappa standard error", cells.value(&r.kappa_se, asymptotic));
    let ci = "(kappa ± 1.96 standard errors)".to_owned();
    row("Kappa 95% CI", cells.interval(&r.kappa_ci95, ci));
    row(
        "Bootstrap 95% CI",
        cells.interval(&r.kappa_bootstrap_ci95, bootstrap_note(r)),
    );
    let max = "(the highest kappa these label distributions allow)".to_owned();
    row("Kappa max", cells.value(&r.kappa_max, max));
    let declared = r.categories.len();
    let labels = format!("({declared} declared labels)");
    row("PABAK", cells.value(&r.pabak, labels.clone()));
    if declared == 2 {
        let (first, second) = (&r.categories[0], &r.categories[1]);
        let prevalence = format!("(both `{first}` minus both `{second}`, over N)");
        row(
            "Prevalence index",
            cells.value(&r.prevalence_index, prevalence),
        );
        let bias = format!("(A `{first}` with B `{second}`, minus the reverse, over N)");
        row("Bias index", cells.value(&r.bias_index, bias));
    }
    row("Gwet's AC1", cells.value(&r.gwet_ac1, labels));
    let nominal = "(nominal)".to_owned();
    row(
        "Krippendorff's alpha",
        cells.value(&r.krippendorff_alpha, nominal),
    );
    if r.ordered {
        let order = format!("(distances by position in {})", r.categories.join(", "));
        row(
            "Weighted kappa, linear",
            cells.value(&r.weighted_kappa_linear, order),
        );
        let same = "(same order)".to_owned();
        row(
            "Weighted kappa, quadratic",
            cells.value(&r.weighted_kappa_quadratic, same),
        );
    }
    table
}

fn bootstrap_note(r: &AgreementReport) -> String {
    let boot = &r.bootstrap;
    let dropped = if boot.undefined_replicates > 0 {
        format!(
            ", {} with undefined kappa dropped",
            boot.undefined_replicates
        )
    } else {
        String::new()
    };
    format!(
        "({}, {} replicates, seed {}{dropped})",
        boot.method, boot.replicates, boot.seed
    )
}

fn render_confusion(out: &mut String, r: &AgreementReport) {
    section(
        out,
        "CONFUSION MATRIX (rows: annotator A, columns: annotator B)",
    );
    let labels = &r.categories;
    let mut header = vec!["A \\ B".to_owned()];
    header.extend(labels.iter().cloned());
    header.push("total".to_owned());
    let numeric: Vec<usize> = (1..=labels.len() + 1).collect();
    let mut table = Table::new(header).right(&numeric);
    let mut column_totals = vec![0u64; labels.len()];
    for (label, counts) in labels.iter().zip(r.confusion_matrix.rows()) {
        let mut cells = vec![label.clone()];
        for (total, count) in column_totals.iter_mut().zip(counts) {
            *total += count;
            cells.push(count.to_string());
        }
        cells.push(counts.iter().sum::<u64>().to_string());
        table.row(cells);
    }
    let mut totals = vec!["total".to_owned()];
    totals.extend(column_totals.iter().map(u64::to_string));
    totals.push(r.annotated_rows.to_string());
    table.row(totals);
    out.push_str(&table.render(2));
}

fn render_llm_categorical(out: &mut String, field: &FieldAnalysis, r: &AgreementReport) {
    let Some(column) = &field.llm_column else {
        section(out, "LLM AGREEMENT");
        out.push_str("The file has no column with the model's answer for this field.\n");
        return;
    };
    section(out, &format!("LLM AGREEMENT ({column})"));
    let Some(llm) = &r.llm_agreement else {
        return;
    };
    let mut table = Table::new(["compared with", "rows", "agreement", "kappa"]).right(&[1, 2, 3]);
    let mut notes = Vec::new();
    for (who, c) in [
        ("annotator A", &llm.vs_a),
        ("annotator B", &llm.vs_b),
        ("consensus", &llm.vs_consensus),
    ] {
        let agreement = c
            .agreement
            .as_ref()
            .map_or_else(|_| "-".to_owned(), |x| pct(*x));
        let kappa = match &c.cohen_kappa {
            Ok(k) => f4(*k),
            Err(reason) => {
                if c.rows > 0 {
                    notes.push(format!("kappa against {who} is undefined: {}", why(reason)));
                }
                "-".to_owned()
            }
        };
        table.row([who.to_owned(), c.rows.to_string(), agreement, kappa]);
    }
    out.push_str(&table.render(2));
    out.push_str("  (consensus: the rows where A and B agree, with their shared label)\n");
    for note in notes {
        out.push_str(&wrap(&format!("Note: {note}."), 2));
    }
    if field.llm_unreadable > 0 {
        out.push_str(&wrap(
            &format!(
                "Note: {} cells of {column} are not a label of the field and were left out.",
                field.llm_unreadable
            ),
            2,
        ));
    }
}

/// A value, or why it is undefined.
fn value_text(v: &agreement::Value) -> String {
    v.as_ref()
        .map_or_else(|r| format!("undefined ({})", why(r)), |x| f4(*x))
}

/// A share as a percentage, or why it is undefined.
fn share_text(v: &agreement::Value) -> String {
    v.as_ref()
        .map_or_else(|r| format!("undefined ({})", why(r)), |x| pct(*x))
}

/// The model's agreement with A, B and their consensus on a list or text field: one table row
/// each, the two metric cells made by `cells`. `None` when the file has no model column.
fn render_llm_overlap<C>(
    out: &mut String,
    field: &FieldAnalysis,
    comparisons: Option<[&C; 3]>,
    headers: [&str; 2],
    cells: impl Fn(&C) -> (u64, String, String),
    note: &str,
) {
    let Some(column) = &field.llm_column else {
        section(out, "LLM AGREEMENT");
        out.push_str("The file has no column with the model's answer for this field.\n");
        return;
    };
    section(out, &format!("LLM AGREEMENT ({column})"));
    if let Some([a, b, consensus]) = comparisons {
        let mut table =
            Table::new(["compared with", "rows", headers[0], headers[1]]).right(&[1, 2, 3]);
        for (who, c) in [
            ("annotator A", a),
            ("annotator B", b),
            ("consensus", consensus),
        ] {
            let (rows, first, second) = cells(c);
            table.row([who.to_owned(), rows.to_string(), first, second]);
        }
        out.push_str(&table.render(2));
        out.push_str(note);
    }
}

fn dash_or(v: &agreement::Value, show: fn(f64) -> String) -> String {
    v.as_ref().map_or_else(|_| "-".to_owned(), |x| show(*x))
}

fn render_list(out: &mut String, field: &FieldAnalysis, r: &ListReport) {
    section(out, "AGREEMENT METRICS");
    if field.is_structured() {
        out.push_str(&wrap(
            "Each table is compared as a set of its rows: a row counts as shared only when every value in it matches (case aside).",
            0,
        ));
        out.push('\n');
    }
    out.push_str(&format!(
        "Mean Jaccard overlap: {}\n",
        value_text(&r.mean_jaccard)
    ));
    out.push_str(&format!(
        "Exact-set agreement: {}\n",
        share_text(&r.exact_set_agreement)
    ));
    render_llm_overlap(
        out,
        field,
        r.llm_agreement
            .as_ref()
            .map(|l| [&l.vs_a, &l.vs_b, &l.vs_consensus]),
        ["mean Jaccard", "exact sets"],
        |c| {
            (
                c.rows,
                dash_or(&c.mean_jaccard, f4),
                dash_or(&c.exact_set_agreement, pct),
            )
        },
        "  (consensus: the rows where A and B gave the same set)\n",
    );
}

fn render_text(out: &mut String, field: &FieldAnalysis, r: &TextReport) {
    section(out, "AGREEMENT METRICS");
    out.push_str(&format!(
        "Exact agreement: {} (after lower-casing and keeping only words)\n",
        share_text(&r.exact_agreement)
    ));
    out.push_str(&format!(
        "Mean token overlap: {} (Jaccard of the word sets)\n",
        value_text(&r.mean_token_overlap)
    ));
    render_llm_overlap(
        out,
        field,
        r.llm_agreement
            .as_ref()
            .map(|l| [&l.vs_a, &l.vs_b, &l.vs_consensus]),
        ["exact", "token overlap"],
        |c| {
            (
                c.rows,
                dash_or(&c.exact_agreement, pct),
                dash_or(&c.mean_token_overlap, f4),
            )
        },
        "  (consensus: the rows where A and B wrote the same text)\n",
    );
}

/// One annotation file of `calculate-agreement list`.
#[derive(Debug)]
pub struct ListedFile<'a> {
    /// The file name.
    pub name: String,
    /// Its module and how far it is annotated, or why that cannot be told.
    pub found: &'a crate::files::TaskFileStatus,
}

/// What `calculate-agreement list` prints: one row per annotation file in `folder` (as shown).
#[must_use]
pub fn render_list_of_files(folder: &str, files: &[ListedFile<'_>]) -> String {
    let mut out = format!("Annotation files ({folder}/):\n");
    if files.is_empty() {
        out.push_str("  none (generate-annotation-csv generate MODULE writes one)\n");
        return out;
    }
    let n = |v: Option<usize>| v.map_or_else(|| "-".to_owned(), |v| present::thousands(v as u64));
    let mut table =
        Table::new(["", "file", "module", "rows", "A", "B", "both"]).right(&[3, 4, 5, 6]);
    for file in files {
        let status = file.found.status.as_ref().ok();
        let (rows, both) = (status.map(|s| s.rows), status.map(|s| s.complete));
        let mark = match (rows, both) {
            (Some(rows), Some(both)) if rows > 0 && rows == both => "✓",
            (Some(_), Some(_)) => "○",
            _ => "✗",
        };
        let mut cells = vec![
            mark.to_owned(),
            file.name.clone(),
            file.found.module.as_deref().unwrap_or("?").to_owned(),
            n(rows),
            n(status.map(|s| s.annotated_a)),
            n(status.map(|s| s.annotated_b)),
            n(both),
        ];
        if let Err(error) = &file.found.status {
            cells.push(format!("({})", first_line(error)));
        }
        table.row(cells);
    }
    out.push_str(&table.render(2));
    out.push_str(
        "  ✓ every row annotated by both   ○ some rows still missing an annotation   ✗ unreadable\n",
    );
    out.push_str(
        "  A, B, both: rows where annotator A, annotator B, or both filled every annotated field\n",
    );
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// One annotation file of `calculate-agreement batch`: its analysis, or the error that stopped
/// it.
#[derive(Debug)]
pub struct BatchFile<'a> {
    /// The file's path, as the error text names it.
    pub path: &'a std::path::Path,
    /// The module told from the file name, for a file that could not be analysed.
    pub module: Option<String>,
    /// The analysis, or the error's text with its causes (`{error:#}`).
    pub outcome: std::result::Result<&'a FileAnalysis<'a>, String>,
}

/// What `calculate-agreement batch` prints: module, annotated rows, kappa and its reading per
/// file in `folder` (as shown), then how many files could not be analysed.
#[must_use]
pub fn render_batch(folder: &str, files: &[BatchFile<'_>]) -> String {
    let mut out = format!("Agreement per annotation file ({folder}/):\n");
    if files.is_empty() {
        out.push_str("  none (generate-annotation-csv generate MODULE writes one)\n");
        return out;
    }
    let mut table = Table::new(["file", "module", "N", "kappa", "interpretation"]).right(&[2, 3]);
    for file in files {
        let name = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match &file.outcome {
            Ok(analysis) => {
                let primary = &analysis.fields[0];
                let (kappa, reading) = batch_cells(primary);
                table.row([
                    name,
                    analysis.module.id.to_string(),
                    present::thousands(primary.annotated_rows()),
                    kappa,
                    reading,
                ]);
            }
            Err(text) => {
                let message = first_line(text)
                    .strip_prefix(&format!("{}: ", file.path.display()))
                    .unwrap_or(first_line(text))
                    .trim_end_matches(':')
                    .to_owned();
                let module = file.module.clone().unwrap_or_else(|| "?".to_owned());
                let cells = ["-".to_owned(), "-".to_owned(), format!("✗ {message}")];
                table.row([name, module].into_iter().chain(cells));
            }
        }
    }
    out.push_str(&table.render(2));
    let failed = files.iter().filter(|f| f.outcome.is_err()).count();
    if failed > 0 {
        out.push_str(&format!(
            "\n{failed} of {} could not be analysed; `calculate-agreement analyze FILE` shows the details.\n",
            present::plural(files.len(), "file", "files")
        ));
    }
    out
}

/// The kappa and interpretation cells of a file's primary field in the batch table.
fn batch_cells(field: &FieldAnalysis) -> (String, String) {
    match &field.stats {
        FieldStats::Categorical(r) => match (&r.cohen_kappa, r.interpretation) {
            (Ok(k), Some(band)) => (f4(*k), band.to_string()),
            (Ok(k), None) => (f4(*k), String::new()),
            (Err(Undefined::SingleLabel { label }), _) => (
                "-".to_owned(),
                format!("undefined: every label is `{label}`"),
            ),
            (Err(reason), _) => ("-".to_owned(), format!("undefined: {}", why(reason))),
        },
        FieldStats::List(r) => (
            "-".to_owned(),
            format!(
                "{} field: mean Jaccard {}",
                field.score_kind,
                dash_or(&r.mean_jaccard, f4)
            ),
        ),
        FieldStats::Text(r) => (
            "-".to_owned(),
            format!("text field: exact {}", dash_or(&r.exact_agreement, pct)),
        ),
    }
}

/// Wraps prose at 92 columns with a hanging indent.
fn wrap(text: &str, indent: usize) -> String {
    const WIDTH: usize = 92;
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = pad.clone();
    for word in text.split_whitespace() {
        if line.len() > indent && line.len() + 1 + word.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = pad.clone();
        }
        if line.len() > indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > indent {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_print_four_places_and_never_minus_zero() {
        assert_eq!(f4(0.823_44), "0.8234");
        assert_eq!(f4(-0.000_01), "0.0000");
        assert_eq!(f4(-0.052_63), "-0.0526");
        assert_eq!(pct(0.915_789), "91.58%");
    }

    fn status(rows: usize, complete: usize) -> crate::files::TaskFileStatus {
        let status = crate::FileStatus {
            rows,
            annotated_a: rows,
            annotated_b: complete,
            complete,
        };
        crate::files::TaskFileStatus {
            module: Some("M12".to_owned()),
            status: Ok(status),
        }
    }

    #[test]
    fn the_list_marks_complete_partial_and_unreadable_files() {
        let (done, partial) = (status(1200, 1200), status(4, 1));
        let broken = crate::files::TaskFileStatus {
            module: None,
            status: Err("cannot tell the module\nsecond line".to_owned()),
        };
        let listed = |name: &str, found| ListedFile {
            name: name.to_owned(),
            found,
        };
        let files = [
            listed("M12_a.csv", &done),
            listed("M12_b.csv", &partial),
            listed("x.csv", &broken),
        ];
        let text = render_list_of_files("annotation_tasks", &files);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Annotation files (annotation_tasks/):");
        assert!(lines[2].starts_with("  ✓  M12_a.csv  M12") && lines[2].contains("1,200"));
        assert!(lines[3].starts_with("  ○  M12_b.csv") && lines[3].ends_with(" 1"));
        assert!(
            lines[4].starts_with("  ✗  x.csv") && lines[4].ends_with("(cannot tell the module)")
        );
        assert_eq!(
            render_list_of_files("t", &[]),
            "Annotation files (t/):\n  none (generate-annotation-csv generate MODULE writes one)\n"
        );
    }

    #[test]
    fn a_batch_error_is_shown_without_its_path_and_counted() {
        let path = std::path::Path::new("/p/annotation_tasks/M12_x.csv");
        let files = [BatchFile {
            path,
            module: Some("M12".to_owned()),
            outcome: Err("/p/annotation_tasks/M12_x.csv: missing column A:\ncause".to_owned()),
        }];
        let text = render_batch("annotation_tasks", &files);
        assert!(
            text.contains("M12_x.csv  M12     -      -  ✗ missing column A\n"),
            "{text}"
        );
        assert!(text.ends_with("\n1 of 1 file could not be analysed; `calculate-agreement analyze FILE` shows the details.\n"));
    }

    #[test]
    fn prose_wraps_with_a_hanging_indent() {
        let text = "word ".repeat(40);
        let wrapped = wrap(&text, 2);
        assert!(
            wrapped
                .lines()
                .all(|l| l.starts_with("  word") && l.len() <= 92)
        );
        assert_eq!(wrapped.split_whitespace().count(), 40);
    }
}
