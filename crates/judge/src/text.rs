//! A judge run's report as text.

use std::fmt::Write as _;

use crate::run::JudgeReport;

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
