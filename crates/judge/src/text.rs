//! A judge run's report as text.

use std::fmt::Write as _;

use crate::run::JudgeReport;

/// Whether the judge was checked against people, for the judge report.
fn validation_line(r: &JudgeReport) -> String {
    let safe = |s: &str| present::terminal_safe(s).into_owned();
    match &r.validation {
        Some(v) if v.validated => format!(
            "validated against people (judge run {} on {})",
            safe(&v.judge_run),
            safe(&v.sheet)
        ),
        Some(v) => format!(
            "NOT VALIDATED: this judge agreed with people less than they agree with each other \
             (judge run {} on {}); do not trust its pass rates",
            safe(&v.judge_run),
            safe(&v.sheet)
        ),
        None => format!(
            "not validated against people yet (generate-annotation-csv generate {} --judge {})",
            r.module,
            safe(&r.judge_run)
        ),
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// The report `analyze-results judge` prints: files, calls, then pass rate per criterion with
/// its Wilson 95% interval (and the spread of samples when there were several), the criteria
/// failing together, and the error causes of an errors-only run. Untrusted text (ids from the
/// rubric, file names) is made terminal-safe.
#[must_use]
pub fn report(r: &JudgeReport) -> String {
    let safe = |s: &str| present::terminal_safe(s).into_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "judge run {} of {} ({}, rubric {}, model {})",
        safe(&r.judge_run),
        safe(&r.judged_run),
        r.module,
        safe(&r.rubric),
        safe(&r.model)
    );
    let _ = writeln!(out, "  verdicts: {}", safe(&r.judge_file));
    let mut rows = format!("{} rows judged", r.rows);
    if r.skipped_rows > 0 {
        let _ = write!(
            rows,
            ", {} left out ({})",
            r.skipped_rows,
            if r.errors_only {
                "right or unanswered"
            } else {
                "no answer"
            }
        );
    }
    let _ = write!(
        rows,
        "; {} calls ({} per row{})",
        r.calls,
        present::plural(r.samples as usize, "sample", "samples"),
        if r.samples > 1 {
            format!(", {}", r.aggregate.as_str())
        } else {
            String::new()
        }
    );
    if r.resumed_calls > 0 {
        let _ = write!(rows, ", {} resumed from the journal", r.resumed_calls);
    }
    let _ = writeln!(out, "  {rows}");
    if r.failed_calls > 0 {
        let _ = writeln!(
            out,
            "  {} calls failed; run again with --resume to ask them again",
            r.failed_calls
        );
    }
    let _ = writeln!(out, "  {}", validation_line(r));
    let _ = writeln!(
        out,
        "\ncriterion            pass rate   95% CI             rows"
    );
    for c in &r.summary.criteria {
        let ci = c.pass_rate_ci95.map_or_else(
            || "-".to_owned(),
            |[lo, hi]| format!("{:.1}%–{:.1}%", lo * 100.0, hi * 100.0),
        );
        let mut line = format!(
            "{:<20} {:>9}   {:<16} {:>6}",
            safe(&c.id),
            percent(c.pass_rate),
            ci,
            c.rows
        );
        if let Some(agreement) = c.sample_agreement {
            let _ = write!(
                line,
                "   samples agree {}, {} unstable rows",
                percent(Some(agreement)),
                c.unstable_rows
            );
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !r.summary.failing_together.is_empty() {
        let _ = writeln!(out, "\nfailing together (rows failing both / either):");
        for f in &r.summary.failing_together {
            let _ = writeln!(
                out,
                "  {} + {}: {}/{} ({:.2})",
                safe(&f.a),
                safe(&f.b),
                f.both,
                f.either,
                f.jaccard
            );
        }
    }
    if !r.summary.error_causes.is_empty() {
        let _ = writeln!(out, "\nerror causes:");
        for (cause, n) in &r.summary.error_causes {
            let _ = writeln!(out, "  {cause}: {n}");
        }
    }
    out
}

fn fixed(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

fn interval(ci: Option<[f64; 2]>) -> String {
    ci.map_or_else(|| "-".to_owned(), |[lo, hi]| format!("[{lo:.3}, {hi:.3}]"))
}

/// The report `calculate-agreement` prints for a judge validation sheet: per criterion and over
/// all, annotator A vs B and the judge vs their consensus (items, observed agreement, Cohen's
/// kappa with its 95% interval, Gwet's AC1), then the verdict: validated, or NOT VALIDATED.
#[must_use]
pub fn validation(r: &crate::validate::ValidationReport) -> String {
    let safe = |s: &str| present::terminal_safe(s).into_owned();
    let v = &r.validation;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "judge validation of {} ({}) on {}",
        safe(&r.judge_run),
        safe(&r.module),
        safe(&r.sheet)
    );
    let _ = writeln!(out, "  judge verdicts: {}", safe(&r.judge_file));
    if v.incomplete_rows > 0 {
        let _ = writeln!(
            out,
            "  {} left out (a verdict missing from either annotator)",
            present::plural(v.incomplete_rows as usize, "row", "rows")
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<20} {:<9} {:>5} {:>7} {:>7} {:<18} {:>7}",
        "criterion", "pair", "n", "agree", "kappa", "kappa 95% CI", "AC1"
    );
    for c in &v.criteria {
        for (name, p) in [("A vs B", &c.annotators), ("judge", &c.judge_vs_consensus)] {
            let _ = writeln!(
                out,
                "{:<20} {:<9} {:>5} {:>6.1}% {:>7} {:<18} {:>7}",
                if name == "A vs B" {
                    safe(&c.criterion)
                } else {
                    String::new()
                },
                name,
                p.items,
                p.observed * 100.0,
                fixed(p.kappa),
                interval(p.kappa_ci95),
                fixed(p.ac1),
            );
        }
        let _ = writeln!(
            out,
            "{:<20} {}",
            "",
            if c.validated {
                "validated"
            } else {
                "NOT VALIDATED"
            }
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        if v.validated {
            "The judge is validated: it agrees with the annotators' consensus at least as well as \
             they agree with each other."
        } else {
            "The judge is NOT VALIDATED: it agrees with the annotators' consensus less than they \
             agree with each other (or a figure is undefined). Do not trust its pass rates."
        }
    );
    let _ = writeln!(
        out,
        "(judge = the judge against the annotators' consensus, the rows where A and B agree)"
    );
    out
}

/// What `generate-annotation-csv generate MODULE --judge RUN` prints: the sheet, what is on it
/// and what to do next. `shown` is the sheet as the user should see it.
#[must_use]
pub fn sheet(s: &crate::validate::GeneratedSheet, shown: &str) -> String {
    let safe = |t: &str| present::terminal_safe(t).into_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "judge validation sheet for {} ({} of {}): {}",
        safe(&s.judge_run),
        safe(&s.module),
        safe(&s.judged_run),
        safe(shown)
    );
    let _ = writeln!(
        out,
        "  {}, {} each ({}): {}",
        present::plural(s.records, "record", "records"),
        present::plural(s.criteria.len(), "criterion", "criteria"),
        s.criteria
            .iter()
            .map(|c| safe(c))
            .collect::<Vec<_>>()
            .join(", "),
        present::plural(s.rows, "row", "rows"),
    );
    let _ = writeln!(
        out,
        "  Two annotators fill annotator_a and annotator_b with pass or fail, without seeing the \
         judge's verdicts;\n  then: calculate-agreement analyze {}",
        safe(shown)
    );
    out
}

/// What `simulate-annotators` prints for a judge validation sheet.
#[must_use]
pub fn simulated(s: &crate::validate::SimulatedSheet, shown: &str) -> String {
    format!(
        "filled {} of {} with simulated verdicts (NOT PEOPLE): {} truly pass; annotator A \
         wrong on {}, annotator B on {}\n",
        present::plural(s.rows, "row", "rows"),
        present::terminal_safe(shown),
        s.true_passes,
        s.flipped_a,
        s.flipped_b
    )
}
