//! Plain-text renderings of the workflow's reports, as the `batch` binary prints them.
//!
//! Each function returns the text; the binary decides where it goes. `dir` is the batch folder
//! as the user should see it (relative to the project where possible). With `quiet`, the
//! closing "Next: …" hints are left out; warnings and failures never are.

use std::fmt::Write as _;

use present::{Table, plural, thousands};

use crate::{
    BatchState, DownloadReport, EvaluationReport, Manifest, PendingFile, ResubmitReport,
    StatusReport, UploadReport, WatchEnd,
};

/// How many unanswered requests the evaluation text lists per module.
pub const LISTED: usize = 10;

/// A byte count in 1024s: `512 B`, `1.5 KiB`, `200.0 MiB`.
#[must_use]
pub fn bytes(n: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let f = n as f64;
    if f >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", f / (1024.0 * 1024.0 * 1024.0))
    } else if f >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", f / (1024.0 * 1024.0))
    } else if f >= 1024.0 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// A cost in dollars, or `unknown` when a model has no price.
#[must_use]
pub fn usd(cost: Option<f64>) -> String {
    cost.map_or_else(|| "unknown".to_owned(), |c| format!("${c:.4}"))
}

use present::render as text;

/// What `generate` wrote: files per module, sizes, token and cost estimates.
#[must_use]
pub fn generated(dir: &str, m: &Manifest, quiet: bool) -> String {
    text(|out| {
        writeln!(
            out,
            "Wrote {} for {} to {dir}/ ({} requests, {})\n",
            plural(m.total_files, "request file", "request files"),
            plural(m.modules_processed, "module", "modules"),
            thousands(m.total_records),
            bytes(m.total_bytes)
        )?;
        let mut table = Table::new([
            "module",
            "file",
            "requests",
            "size",
            "est. tokens",
            "custom ids",
        ])
        .right(&[2, 3, 4]);
        for group in &m.results {
            for (i, file) in group.files.iter().enumerate() {
                table.row([
                    if i == 0 {
                        group.key().to_owned()
                    } else {
                        String::new()
                    },
                    file.file.clone(),
                    thousands(file.requests),
                    bytes(file.bytes),
                    thousands(file.estimated_prompt_tokens),
                    if i == 0 {
                        group.custom_ids.as_str().replace('_', " ")
                    } else {
                        String::new()
                    },
                ]);
            }
        }
        write!(out, "{}", table.render(2))?;
        writeln!(
            out,
            "\nEstimated: ~{} prompt + ~{} completion tokens, {} at the batch price",
            thousands(m.estimated_prompt_tokens),
            thousands(m.estimated_completion_tokens),
            match m.estimated_cost_usd {
                Some(c) => format!("${c:.4}"),
                None => "cost unknown (a model is not in prices.toml)".to_owned(),
            }
        )?;
        if !quiet {
            writeln!(out, "Next: batch upload {dir}")?;
        }
        Ok(())
    })
}

/// What `upload --dry-run` would do with each file.
#[must_use]
pub fn dry_upload(dir: &str, files: &[PendingFile], estimated_cost_usd: Option<f64>) -> String {
    text(|out| {
        writeln!(out, "Dry run: nothing is sent. {dir}:\n")?;
        let mut table = Table::new(["module", "file", "requests", "size", "would"]).right(&[2, 3]);
        for f in files {
            table.row([
                f.key.clone(),
                f.file.clone(),
                thousands(f.requests),
                bytes(f.bytes),
                match f.action {
                    "upload" => "upload and create a batch".to_owned(),
                    "create" => "create a batch (file already uploaded)".to_owned(),
                    _ => format!("skip (batch {})", f.batch_id.as_deref().unwrap_or_default()),
                },
            ]);
        }
        write!(out, "{}", table.render(2))?;
        writeln!(
            out,
            "\nEstimated cost at the batch price: {}",
            usd(estimated_cost_usd)
        )
    })
}

/// What `upload` did with each file.
#[must_use]
pub fn upload(dir: &str, report: &UploadReport, quiet: bool) -> String {
    text(|out| {
        writeln!(
            out,
            "{dir}: {} uploaded, {} created, {} found again, {} already submitted, {} failed\n",
            report.uploaded,
            plural(report.created, "batch", "batches"),
            report.found,
            report.skipped,
            report.failed
        )?;
        let mut table = Table::new(["module", "file", "requests", "batch", "state"]).right(&[2]);
        for e in &report.entries {
            table.row([
                e.key(),
                e.file.clone(),
                thousands(e.requests),
                e.batch_id.clone().unwrap_or_else(|| "-".to_owned()),
                match (&e.batch_id, &e.error) {
                    (Some(_), _) => "submitted".to_owned(),
                    (None, Some(error)) => error.clone(),
                    (None, None) => e.status.clone(),
                },
            ]);
        }
        write!(out, "{}", table.render(2))?;
        if report.failed > 0 {
            writeln!(
                out,
                "\n{} failed: fix the cause, then run `batch upload {dir}` again (finished files are skipped)",
                plural(report.failed, "file", "files")
            )?;
        } else if !quiet {
            writeln!(out, "\nNext: batch status {dir} --watch")?;
        }
        Ok(())
    })
}

/// One row per batch: module, file, batch id, status, answered/total (share), failed.
#[must_use]
pub fn states(states: &[BatchState]) -> String {
    let mut table =
        Table::new(["module", "file", "batch", "status", "answered", "failed"]).right(&[4, 5]);
    for s in states {
        let c = s.request_counts;
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let share = if c.total > 0 {
            format!(" ({:.0}%)", c.completed as f64 / c.total as f64 * 100.0)
        } else {
            String::new()
        };
        table.row([
            s.key.clone(),
            s.file.clone(),
            s.batch_id.clone(),
            s.status.clone(),
            format!("{}/{}{share}", thousands(c.completed), thousands(c.total)),
            thousands(c.failed),
        ]);
    }
    table.render(2)
}

/// Where every batch stands; `end` says why watching stopped, when it did.
#[must_use]
pub fn status(dir: &str, report: &StatusReport, end: Option<WatchEnd>, quiet: bool) -> String {
    text(|out| {
        let s = &report.summary;
        writeln!(out, "{dir}: {}\n", plural(s.batches, "batch", "batches"))?;
        write!(out, "{}", states(&report.statuses))?;
        for state in &report.statuses {
            for e in &state.errors {
                let at = e.line.map_or_else(String::new, |l| format!(" (line {l})"));
                writeln!(
                    out,
                    "  {} {}: {}{at}: {}",
                    state.key,
                    state.batch_id,
                    e.code.as_deref().unwrap_or("error"),
                    e.message
                )?;
            }
        }
        let mut parts = Vec::new();
        for (n, what) in [
            (s.completed, "completed"),
            (s.in_progress, "running"),
            (s.expired, "expired"),
            (s.cancelled, "cancelled"),
            (s.failed, "failed"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let requests: u64 = report.groups.iter().map(|g| g.requests).sum();
        let answered: u64 = report
            .groups
            .iter()
            .map(|g| g.answered.min(g.requests))
            .sum();
        let rounds = if report.statuses.iter().any(|b| b.round > 0) {
            " (resubmissions included)"
        } else {
            ""
        };
        writeln!(
            out,
            "\n{}; {} of {} requests answered{rounds}, {} in error files",
            parts.join(", "),
            thousands(answered),
            thousands(requests),
            plural(
                usize::try_from(s.failed_requests).unwrap_or(usize::MAX),
                "failed line",
                "failed lines"
            )
        )?;
        match end {
            Some(WatchEnd::TimedOut) => writeln!(out, "Stopped watching: --timeout passed")?,
            Some(WatchEnd::Stopped) => writeln!(out, "Stopped watching (interrupted)")?,
            _ => {}
        }
        if quiet {
            return Ok(());
        }
        if !s.all_terminal {
            writeln!(
                out,
                "Not finished yet: run `batch status {dir} --watch` to wait"
            )?;
        } else if report.all_clean() {
            writeln!(out, "Next: batch download {dir}")?;
        } else {
            writeln!(
                out,
                "Next: batch download {dir} (what finished is kept), then `batch resubmit {dir}` for the rest"
            )?;
        }
        Ok(())
    })
}

/// What `download` fetched per batch and the files it wrote.
#[must_use]
pub fn download(dir: &str, report: &DownloadReport, quiet: bool) -> String {
    text(|out| {
        let s = &report.summary;
        writeln!(
            out,
            "{dir}: {} downloaded, {} still running, {} without results\n",
            plural(s.downloaded, "batch", "batches"),
            s.not_ready,
            s.errors
        )?;
        let mut table =
            Table::new(["module", "batch", "status", "answers", "errors", "state"]).right(&[3, 4]);
        for d in &report.downloads {
            table.row([
                d.key.clone(),
                d.batch_id.clone(),
                d.status.clone(),
                thousands(d.results),
                thousands(d.errors),
                match &d.message {
                    Some(m) => format!("{}: {m}", d.state.replace('_', " ")),
                    None => d.state.replace('_', " "),
                },
            ]);
        }
        write!(out, "{}", table.render(2))?;
        writeln!(out)?;
        for g in &report.groups {
            if let Some(file) = &g.results_file {
                writeln!(out, "  {dir}/{file}: {} answers", thousands(g.results))?;
            }
            if let Some(file) = &g.errors_file {
                writeln!(
                    out,
                    "  {dir}/{file}: {} failed requests",
                    thousands(g.errors)
                )?;
            }
        }
        if quiet {
            return Ok(());
        }
        if s.not_ready > 0 {
            writeln!(
                out,
                "\nSome batches are still running: run `batch status {dir} --watch`, then download again"
            )?;
        } else {
            writeln!(out, "\nNext: batch evaluate {dir}")?;
        }
        Ok(())
    })
}

/// Accuracy per module, then each module's files, tokens, warnings and the first
/// [`LISTED`] requests without a usable answer.
#[must_use]
pub fn evaluation(dir: &str, report: &EvaluationReport) -> String {
    text(|out| {
        writeln!(
            out,
            "{dir}: {} evaluated\n",
            plural(report.evaluations.len(), "module", "modules")
        )?;
        let mut table = Table::new([
            "module", "requests", "scored", "correct", "accuracy", "grade", "failed", "missing",
            "unusable",
        ])
        .right(&[1, 2, 3, 4, 6, 7, 8]);
        for e in &report.evaluations {
            table.row([
                e.key.clone(),
                thousands(e.requests as u64),
                thousands(e.total as u64),
                thousands(e.correct as u64),
                e.accuracy
                    .map_or_else(|| "-".to_owned(), |a| format!("{a:.2}%")),
                e.grade.clone().unwrap_or_else(|| "-".to_owned()),
                thousands(e.failed as u64),
                thousands(e.missing as u64),
                thousands(e.unusable as u64),
            ]);
        }
        write!(out, "{}", table.render(2))?;
        let s = &report.summary;
        if report.evaluations.len() > 1 {
            writeln!(
                out,
                "\nOverall: {} of {} scored answers correct ({})",
                thousands(s.total_correct as u64),
                thousands(s.total_records as u64),
                s.overall_accuracy
                    .map_or_else(|| "-".to_owned(), |a| format!("{a:.2}%"))
            )?;
            if !s.low_performers.is_empty() {
                writeln!(out, "Under 70%: {}", s.low_performers.join(", "))?;
            }
        }
        for e in &report.evaluations {
            writeln!(out, "\n{} {}", e.key, e.name)?;
            let mut t = Table::headless();
            t.row(["results".to_owned(), e.results_csv.clone()]);
            t.row(["registered".to_owned(), e.local_id.clone()]);
            t.row([
                "tokens".to_owned(),
                format!(
                    "{} prompt + {} completion, {} at the batch price",
                    thousands(e.prompt_tokens),
                    thousands(e.completion_tokens),
                    usd(e.cost_usd)
                ),
            ]);
            if e.mismatches_total > 0 {
                t.row([
                    "mismatches".to_owned(),
                    if e.mismatches.len() == e.mismatches_total {
                        format!("{} (listed in evaluation_report.json)", e.mismatches_total)
                    } else {
                        format!(
                            "{} (the first {} are listed in evaluation_report.json; all are in the CSV)",
                            e.mismatches_total,
                            e.mismatches.len()
                        )
                    },
                ]);
            }
            write!(out, "{}", t.render(2))?;
            for w in &e.warnings {
                writeln!(out, "  warning: {w}")?;
            }
            if e.unexpected_total > 0 {
                writeln!(
                    out,
                    "  warning: {} carry custom ids this folder never sent (ignored; the first are listed in evaluation_report.json)",
                    plural(e.unexpected_total, "result line", "result lines")
                )?;
            }
            if !e.errors.is_empty() {
                writeln!(out, "  without a usable answer ({}):", e.errors.len())?;
                for u in e.errors.iter().take(LISTED) {
                    writeln!(out, "    {} [{}] {}", u.custom_id, u.kind, u.message)?;
                }
                if e.errors.len() > LISTED {
                    writeln!(
                        out,
                        "    … and {} more (all are listed in {dir}/evaluation_report.json)",
                        e.errors.len() - LISTED
                    )?;
                }
            }
        }
        if !report.all_scored() {
            writeln!(
                out,
                "\nSome requests have no usable answer: `batch resubmit {dir}` sends the failed and missing ones again"
            )?;
        }
        Ok(())
    })
}

/// What `resubmit` sends again (or would, with `dry_run`) and the batches it created.
#[must_use]
pub fn resubmit(dir: &str, report: &ResubmitReport, dry_run: bool, quiet: bool) -> String {
    text(|out| {
        let resent = report.resent();
        if resent == 0 {
            return writeln!(
                out,
                "{dir}: nothing to resubmit, every request has an answer"
            );
        }
        writeln!(
            out,
            "{dir}: {} {} (round {})\n",
            if dry_run {
                "would send again"
            } else {
                "sending again"
            },
            plural(resent, "request", "requests"),
            report.round
        )?;
        let mut table = Table::new([
            "module",
            "requests",
            "answered",
            "failed",
            "missing",
            "new files",
        ])
        .right(&[1, 2, 3, 4]);
        for g in &report.groups {
            table.row([
                g.key.clone(),
                thousands(g.requests as u64),
                thousands(g.answered as u64),
                thousands(g.failed as u64),
                thousands(g.missing as u64),
                g.files
                    .iter()
                    .map(|f| format!("retry{:02}/{}", report.round, f.file))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
        }
        write!(out, "{}", table.render(2))?;
        if let Some(upload) = &report.upload {
            writeln!(out)?;
            for e in upload.entries.iter().filter(|e| e.round == report.round) {
                match (&e.batch_id, &e.error) {
                    (Some(id), _) => writeln!(out, "  {}: batch {id}", e.file)?,
                    (None, Some(error)) => writeln!(out, "  {}: {error}", e.file)?,
                    (None, None) => writeln!(out, "  {}: {}", e.file, e.status)?,
                }
            }
            if upload.failed > 0 {
                writeln!(
                    out,
                    "\nSome files were not submitted: run `batch upload {dir}` to retry them"
                )?;
            } else if !quiet {
                writeln!(out, "\nNext: batch status {dir} --watch")?;
            }
        }
        Ok(())
    })
}

/// The batches `cancel` asked to stop.
#[must_use]
pub fn cancelled(dir: &str, batches: &[BatchState]) -> String {
    format!(
        "{dir}:\n\n{}\nCancelling takes up to 10 minutes; then `batch download {dir}` keeps what finished\n",
        states(batches)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::OPENAI_MAX_BYTES;

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(OPENAI_MAX_BYTES), "200.0 MiB");
    }

    #[test]
    fn costs_without_a_price_are_unknown() {
        assert_eq!(usd(Some(0.5)), "$0.5000");
        assert_eq!(usd(None), "unknown");
    }

    #[test]
    fn an_empty_resubmission_says_every_request_has_an_answer() {
        let report = ResubmitReport {
            round: 1,
            groups: Vec::new(),
            upload: None,
        };
        assert_eq!(
            resubmit("batch_requests/x", &report, false, false),
            "batch_requests/x: nothing to resubmit, every request has an answer\n"
        );
    }

    #[test]
    fn cancelling_shows_the_table_and_what_to_do_next() {
        let text = cancelled("dir", &[]);
        assert!(text.starts_with("dir:\n\n  module"), "{text}");
        assert!(
            text.ends_with("then `batch download dir` keeps what finished\n"),
            "{text}"
        );
    }
}
