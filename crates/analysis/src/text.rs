//! The text reports of `analyze-results`: the error analysis, the error patterns, Path A
//! against Path B, run-vs-run agreement, the readable-file summary and the baseline's terminal
//! text. Each returns a `String`; the binary prints it. Untrusted text (labels, keywords, run
//! names) is made safe for a terminal here.

use std::fmt::Write as _;

use present::{Table, percent, plural};

use crate::compare::{AgreementReport, Comparison, PathsReport};
use crate::readable::ReadableReport;
use crate::{ErrorsReport, PatternsReport, RunRef};

/// Like [`term`] for a multi-line block: line breaks stay.
#[must_use]
pub fn term_block(text: &str) -> String {
    text.split('\n').map(term).collect::<Vec<_>>().join("\n")
}

/// Untrusted text (keywords, labels, reasoning) made safe for a terminal: control characters
/// are shown escaped, never sent.
#[must_use]
pub fn term(text: &str) -> String {
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

/// The error analysis of `run` as text.
#[must_use]
pub fn errors(run: &RunRef, r: &ErrorsReport) -> String {
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

/// The error patterns of `run` as text, with the `top` slices.
#[must_use]
pub fn patterns(run: &RunRef, r: &PatternsReport, top: usize) -> String {
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

fn comparison(title: &str, c: &Comparison, errored_a: u64, errored_b: u64, items: &str) -> String {
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

/// Path A against Path B as text (with the relevance chain's runs and undecided keywords when
/// Path A is the chain).
#[must_use]
pub fn paths(report: &PathsReport) -> String {
    let Some(chain) = &report.chain else {
        let title = format!(
            "Path A {} ({}) against Path B {} ({})",
            term(&report.path_a),
            report.module_a,
            term(&report.path_b),
            report.module_b
        );
        return comparison(
            &title,
            &report.comparison,
            report.errored_a,
            report.errored_b,
            "keywords",
        );
    };
    let runs: Vec<String> = chain
        .runs
        .iter()
        .map(|(module, run)| format!("{module} {}", term(run)))
        .collect();
    let mut title = format!(
        "Path A: the relevance chain ({}) against Path B {} ({})",
        runs.join(", "),
        term(&report.path_b),
        report.module_b
    );
    let _ = write!(
        title,
        "\n  the chain decided {} of the {} keywords of m12's run; {} undecided",
        chain.decided, chain.keywords, chain.undecided
    );
    if !chain.undecided_by_step.is_empty() {
        let why: Vec<String> = chain
            .undecided_by_step
            .iter()
            .map(|(why, n)| format!("{why} ({n})"))
            .collect();
        let _ = write!(title, " ({})", why.join("; "));
    }
    let mut out = comparison(
        &title,
        &report.comparison,
        report.errored_a,
        report.errored_b,
        "keywords",
    );
    if let Some(file) = &chain.undecided_file {
        let _ = writeln!(out, "Undecided by the chain: {}", term(file));
    }
    out
}

/// The agreement of two runs of one module as text.
#[must_use]
pub fn agreement(report: &AgreementReport) -> String {
    let title = format!(
        "Agreement of {} and {} ({})",
        term(&report.run_a),
        term(&report.run_b),
        report.module
    );
    comparison(
        &title,
        &report.comparison,
        report.errored_a,
        report.errored_b,
        "records",
    )
}

/// The one line that says what the readable file holds and where it is.
#[must_use]
pub fn readable(report: &ReadableReport) -> String {
    format!(
        "{} of {} ({}) in {}: {}\n",
        plural(report.records as usize, "record", "records"),
        term(&report.run),
        report.module,
        plural(report.rows as usize, "row", "rows"),
        term(&report.readable_file)
    )
}

/// The baseline's terminal text: its Markdown, then one `Written:` line per file (paths as the
/// user should read them).
#[must_use]
pub fn baseline(markdown: &str, written: &[String]) -> String {
    let mut out = term_block(markdown);
    out.push('\n');
    for path in written {
        let _ = writeln!(out, "Written: {}", term(path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison_of(labels: &[&str], matrix: Vec<Vec<u64>>) -> Comparison {
        Comparison {
            joined: 4,
            only_a: 1,
            only_b: 0,
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            confusion_matrix: matrix,
            observed_agreement: Some(0.75),
            kappa: Some(0.5),
            kappa_ci95: Some([-0.2, 1.0]),
            kappa_undefined: None,
            weighted_kappa: None,
            accuracy_a: Some(1.0),
            accuracy_b: Some(0.75),
            right_a_wrong_b: 1,
            wrong_a_right_b: 0,
            mcnemar_p: 1.0,
            expected_differs: 0,
            disagreements_file: Some("analysis/M02/x_disagreements.csv".to_owned()),
        }
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(term("red\u{1b}[31m"), "red\\u{1b}[31m");
        assert_eq!(term("a\tb"), "a\\tb");
        assert_eq!(term_block("one\ntwo\r"), "one\ntwo\\r");
    }

    #[test]
    fn paths_report_reads_as_text() {
        let report = PathsReport {
            path_a: "exp_a".to_owned(),
            path_b: "exp_\u{1b}b".to_owned(),
            module_a: "m02".to_owned(),
            module_b: "m02b".to_owned(),
            errored_a: 0,
            errored_b: 2,
            comparison: comparison_of(&["Y", "N"], vec![vec![2, 1], vec![0, 1]]),
            chain: None,
        };
        let text = paths(&report);
        assert_eq!(
            text,
            "Path A exp_a (m02) against Path B exp_\\u{1b}b (m02b)\n\
             \x20 4 keywords scored in both · 1 only scored in A · 0 only scored in B · errored rows left out: A 0, B 2\n\
             \x20 same answer 75.0% · Cohen's kappa 0.500 (95% CI -0.200 to 1.000)\n\
             \x20 accuracy against expected: A 100.0% · B 75.0% · McNemar exact p = 1.0000 (1 right only in A, 0 right only in B)\n\
             \n\
             \x20 Answers (rows: A, columns: B)\n\
             \x20      Y  N\n\
             \x20   Y  2  1\n\
             \x20   N  0  1\n\
             \n\
             Disagreements: analysis/M02/x_disagreements.csv\n"
        );
    }

    #[test]
    fn undefined_kappa_says_why() {
        let mut c = comparison_of(&[], Vec::new());
        c.kappa = None;
        c.kappa_ci95 = None;
        c.kappa_undefined = Some("one label only".to_owned());
        c.disagreements_file = None;
        let report = AgreementReport {
            run_a: "exp_1".to_owned(),
            run_b: "exp_2".to_owned(),
            module: "m12".to_owned(),
            errored_a: 0,
            errored_b: 0,
            comparison: c,
        };
        let text = agreement(&report);
        assert!(text.starts_with("Agreement of exp_1 and exp_2 (m12)\n"));
        assert!(text.contains("4 records scored in both"));
        assert!(text.contains("Cohen's kappa undefined (one label only)\n"));
    }

    #[test]
    fn readable_and_baseline_lines() {
        let report = ReadableReport {
            run: "exp_1".to_owned(),
            module: "m12".to_owned(),
            records: 1,
            rows: 1234,
            readable_file: "analysis/M12/exp_1_readable.csv".to_owned(),
        };
        assert_eq!(
            readable(&report),
            "1 record of exp_1 (m12) in 1,234 rows: analysis/M12/exp_1_readable.csv\n"
        );
        assert_eq!(
            baseline("# Baseline\n\u{7}", &["analysis/baseline.md".to_owned()]),
            "# Baseline\n\\u{7}\nWritten: analysis/baseline.md\n"
        );
    }
}
