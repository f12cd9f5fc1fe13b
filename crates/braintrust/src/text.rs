//! Plain-text renderings of what `sync-braintrust` reports; the binary decides where each goes.
//! With `quiet`, hints about the next command are left out; failures never are.

use std::fmt::Write as _;

use core_config::{EnvVars, ResultRow};
use present::{Table, percent, percent_of, plural, short_time, thousands};
use registry::Status;

use crate::matching::MatchReport;
use crate::report::StatusReport;
use crate::{Config, RunOutcome, SyncReport};

use present::render as text;

use registry::text::status_mark as mark;

/// What a sync is about to do: `waiting` runs (at most `limit`) of `module`, or that there is
/// nothing to upload.
#[must_use]
pub fn sync_header(
    config: &Config,
    module: Option<&core_config::ModuleId>,
    waiting: usize,
    limit: Option<usize>,
) -> String {
    if waiting == 0 {
        let scope = module.map_or_else(String::new, |m| format!(" of {m}"));
        return format!("Nothing to upload: every run{scope} is on Braintrust.\n");
    }
    format!(
        "Uploading {} to Braintrust project {} ({})\n",
        plural(limit.map_or(waiting, |n| n.min(waiting)), "run", "runs"),
        config.project,
        config.api_url
    )
}

/// One run's outcome: `✓ id  experiment  N rows` and its link, or `✗ id  reason`.
#[must_use]
pub fn outcome_line(outcome: &RunOutcome) -> String {
    match outcome {
        RunOutcome::Uploaded(u) => format!(
            "✓ {}  {}  {}{}\n    {}",
            u.local_id,
            u.experiment_name,
            plural(u.rows, "row", "rows"),
            if u.renamed {
                " (the usual name was taken by another experiment)"
            } else {
                ""
            },
            u.experiment_url
        ),
        RunOutcome::Failed(f) => format!("✗ {}  {}", f.local_id, f.reason),
    }
}

/// What to do about a run that failed to upload.
#[must_use]
pub fn retry_hint(local_id: &str) -> String {
    format!(
        "\nThe run is marked failed; `sync-braintrust upload {local_id}` (or `sync`) tries again.\n"
    )
}

/// Counts after a sync, why it stopped early, and what happens to failed runs.
#[must_use]
pub fn sync_summary(report: &SyncReport, quiet: bool) -> String {
    text(|out| {
        writeln!(
            out,
            "Sync complete: {} uploaded, {} failed.",
            thousands(report.uploaded() as u64),
            thousands(report.failed() as u64)
        )?;
        if let Some(RunOutcome::Failed(f)) = report.outcomes.last()
            && f.fatal
        {
            writeln!(
                out,
                "Stopped early: no other run can succeed until this is fixed ({} not tried).",
                plural(report.not_tried, "run", "runs")
            )?;
        } else if report.not_tried > 0 {
            writeln!(
                out,
                "{} still waiting (--limit); run the sync again for them.",
                plural(report.not_tried, "run", "runs")
            )?;
        }
        if report.failed() > 0 && !quiet {
            writeln!(
                out,
                "Failed runs are marked failed with the reason (`sync-braintrust status` lists them); the next sync tries them again."
            )?;
        }
        Ok(())
    })
}

/// Rows downloaded from `experiment` to `shown`, with their accuracy.
#[must_use]
pub fn downloaded(
    rows: &[ResultRow],
    experiment: &str,
    module: Option<&core_config::ModuleId>,
    shown: &str,
) -> String {
    let scored = rows.iter().filter(|r| r.correct.is_some()).count();
    let correct = rows.iter().filter(|r| r.correct == Some(true)).count();
    format!(
        "Downloaded {} of {experiment}{} to {shown}\n  accuracy {} ({correct}/{scored} scored), {} errored\n",
        plural(rows.len(), "row", "rows"),
        module.map_or_else(String::new, |m| format!(" ({m})")),
        percent_of(correct, scored),
        rows.len() - scored
    )
}

/// The project, run counts by status, and the runs not uploaded yet.
#[must_use]
pub fn status(report: &StatusReport, quiet: bool) -> String {
    text(|out| {
        let key = if report.key_set {
            "key set".to_owned()
        } else {
            format!("{} not set: uploads need it", EnvVars::BRAINTRUST_API_KEY)
        };
        writeln!(
            out,
            "Braintrust project {} at {} ({key})",
            report.project, report.api_url
        )?;
        if report.total == 0 {
            return writeln!(out, "\nNo runs registered yet.");
        }
        const USUAL: [&str; 3] = ["uploaded", "local_only", "failed"];
        let counts: Vec<String> = USUAL
            .into_iter()
            .map(|s| format!("{} {s}", report.by_status.get(s).copied().unwrap_or(0)))
            .chain(
                report
                    .by_status
                    .iter()
                    .filter(|(s, _)| !USUAL.contains(&s.as_str()))
                    .map(|(s, n)| format!("{n} {s}")),
            )
            .collect();
        writeln!(
            out,
            "\n{}: {}",
            plural(report.total, "run", "runs"),
            counts.join(", ")
        )?;
        let entries = &report.not_uploaded;
        if entries.is_empty() {
            return writeln!(out, "\nEvery run is on Braintrust.");
        }
        writeln!(out, "\nNot uploaded ({}), oldest first:", entries.len())?;
        let mut table = Table::headless().right(&[4]);
        for e in entries {
            table.row([
                mark(&e.status).to_owned(),
                e.local_id.clone(),
                e.module_id.clone(),
                short_time(&e.created_at),
                percent(e.accuracy),
                if e.status == Status::Failed {
                    e.notes.clone()
                } else {
                    String::new()
                },
            ]);
        }
        write!(out, "{}", table.render(2))?;
        if !quiet {
            writeln!(out, "\nUpload them with `sync-braintrust sync`.")?;
        }
        Ok(())
    })
}

/// What `match` linked (or would), and what it left alone and why.
#[must_use]
pub fn matched(report: &MatchReport, quiet: bool) -> String {
    text(|out| {
        writeln!(
            out,
            "Braintrust project {}: {}; {} not recorded as uploaded.",
            report.project,
            plural(report.experiments, "experiment", "experiments"),
            plural(report.runs, "run", "runs")
        )?;
        if !report.linked.is_empty() {
            let verb = if report.dry_run { "To link" } else { "Linked" };
            writeln!(out, "\n{verb} ({}):", report.linked.len())?;
            let mut t = Table::headless();
            for l in &report.linked {
                t.row([
                    l.local_id.clone(),
                    "→".to_owned(),
                    l.experiment.name.clone(),
                    format!("({})", l.rule.describe()),
                ]);
            }
            write!(out, "{}", t.render(2))?;
        }
        if !report.incomplete.is_empty() {
            writeln!(
                out,
                "\nLeft alone, incomplete ({}): upload these again to finish them",
                report.incomplete.len()
            )?;
            for i in &report.incomplete {
                writeln!(
                    out,
                    "  {}  {} holds {} of {} rows",
                    i.local_id, i.experiment.name, i.found, i.expected
                )?;
            }
        }
        if !report.ambiguous.is_empty() {
            writeln!(out, "\nLeft alone, ambiguous ({}):", report.ambiguous.len())?;
            for a in &report.ambiguous {
                writeln!(out, "  {}  {}:", a.local_id, a.why)?;
                for c in &a.candidates {
                    writeln!(out, "      {}", c.name)?;
                }
            }
        }
        if !report.unmatched.is_empty() {
            writeln!(out, "\nNot on Braintrust ({}):", report.unmatched.len())?;
            let mut t = Table::headless();
            for u in &report.unmatched {
                t.row([
                    u.local_id.clone(),
                    u.expected_name
                        .as_ref()
                        .map_or_else(String::new, |n| format!("(would be {n})")),
                ]);
            }
            write!(out, "{}", t.render(2))?;
        }
        if !report.ambiguous.is_empty() && !quiet {
            writeln!(
                out,
                "\nSettle one with `sync-braintrust link ID EXPERIMENT`, or give the run its own experiment with `sync-braintrust upload ID`."
            )?;
        }
        if report.dry_run {
            writeln!(out, "\nDry run: nothing was written.")?;
        } else if !quiet && (!report.unmatched.is_empty() || !report.incomplete.is_empty()) {
            writeln!(
                out,
                "\n`sync-braintrust sync` uploads the runs not on Braintrust."
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Failed;

    #[test]
    fn a_failed_run_shows_its_reason() {
        let outcome = RunOutcome::Failed(Failed {
            local_id: "exp_1".to_owned(),
            module: "m12".to_owned(),
            reason: "no results file".to_owned(),
            fatal: false,
        });
        assert_eq!(outcome_line(&outcome), "✗ exp_1  no results file");
        assert!(retry_hint("exp_1").contains("`sync-braintrust upload exp_1`"));
    }

    #[test]
    fn status_of_an_empty_registry_names_the_missing_key() {
        let report = StatusReport {
            project: "P".to_owned(),
            api_url: "http://x".to_owned(),
            key_set: false,
            total: 0,
            by_status: BTreeMap::new(),
            not_uploaded: Vec::new(),
        };
        assert_eq!(
            status(&report, false),
            "Braintrust project P at http://x (BRAINTRUST_API_KEY not set: uploads need it)\n\nNo runs registered yet.\n"
        );
    }

    #[test]
    fn status_counts_the_usual_statuses_first() {
        let report = StatusReport {
            project: "P".to_owned(),
            api_url: "u".to_owned(),
            key_set: true,
            total: 3,
            by_status: BTreeMap::from([("archived".to_owned(), 1), ("uploaded".to_owned(), 2)]),
            not_uploaded: Vec::new(),
        };
        assert_eq!(
            status(&report, true),
            "Braintrust project P at u (key set)\n\n3 runs: 2 uploaded, 0 local_only, 0 failed, 1 archived\n\nEvery run is on Braintrust.\n"
        );
    }
}
