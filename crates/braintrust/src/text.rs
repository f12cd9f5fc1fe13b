//! Plain-text renderings of what `sync-braintrust` reports; the binary decides where each goes.
//! With `quiet`, hints about the next command are left out; failures never are.

use std::fmt::Write as _;

use core_config::{EnvVars, ResultRow};
use present::{Table, percent, percent_of, plural, short_time, thousands};
use registry::Status;

use crate::datasets::{ListedDataset, LocalDataset, PushPlan, Pushed};
use crate::listing::{BulkItem, BulkReport, Listed};
use crate::matching::MatchReport;
use crate::prompts::{LocalPrompt, PromptPushed};
use crate::report::StatusReport;
use crate::{Config, Project, Prompt, RunOutcome, SyncReport};

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
        RunOutcome::Uploaded(u) => {
            let mut line = format!(
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
            );
            let mut links = Vec::new();
            if let Some(d) = &u.dataset {
                links.push(format!("dataset {}", d.name));
            }
            if let Some(p) = &u.prompt {
                links.push(format!("prompt {} version {}", p.slug, p.version));
            }
            if !links.is_empty() {
                line.push_str(&format!("\n    linked to {}", links.join(", ")));
            }
            line
        }
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
        links_section(out, report)?;
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

/// Datasets and prompts pushed from this clone, and the uploaded runs linked to them.
fn links_section(out: &mut String, report: &StatusReport) -> std::fmt::Result {
    if !report.datasets.is_empty() {
        writeln!(out, "\nDatasets pushed ({}):", report.datasets.len())?;
        let mut table = Table::headless().right(&[3]);
        for d in &report.datasets {
            table.row([
                d.name.clone(),
                d.module_id.clone(),
                d.kind.clone(),
                plural(d.records, "record", "records"),
                d.local_file.clone(),
                short_time(&d.pushed_at),
            ]);
        }
        write!(out, "{}", table.render(2))?;
    }
    if !report.prompts.is_empty() {
        writeln!(out, "\nPrompts pushed ({}):", report.prompts.len())?;
        let mut table = Table::headless();
        for p in &report.prompts {
            table.row([
                p.slug.clone(),
                format!("version {}", p.version),
                p.local_file.clone(),
                short_time(&p.pushed_at),
            ]);
        }
        write!(out, "{}", table.render(2))?;
    }
    if !report.linked.is_empty() {
        writeln!(
            out,
            "\nUploaded runs linked to a dataset or prompt ({}):",
            report.linked.len()
        )?;
        let mut table = Table::headless();
        for r in &report.linked {
            table.row([
                r.local_id.clone(),
                r.tier.clone(),
                format!("dataset {}", r.dataset.as_deref().unwrap_or("-")),
                format!(
                    "prompt {}",
                    r.prompt.as_ref().map_or_else(
                        || "-".to_owned(),
                        |p| format!("{p}@{}", r.prompt_version.as_deref().unwrap_or("?"))
                    )
                ),
            ]);
        }
        write!(out, "{}", table.render(2))?;
    }
    Ok(())
}

/// What a dataset push is about to do: the file, the dataset, and the rows on Braintrust the
/// file no longer has (deleted with `prune`, else kept).
#[must_use]
pub fn dataset_plan(local: &LocalDataset, plan: &PushPlan, prune: bool) -> String {
    text(|out| {
        let target = match &plan.existing {
            Some(_) => format!("it holds {} now", plural(plan.remote_rows, "row", "rows")),
            None => "new".to_owned(),
        };
        writeln!(
            out,
            "Pushing {} of {} ({}, {}) to dataset {} in project {} ({target})",
            plural(local.records.len(), "record", "records"),
            local.local_file,
            local.module.id,
            local.kind,
            local.name,
            plan.project.name
        )?;
        if plan.stale.is_empty() {
            return Ok(());
        }
        let verb = if prune {
            "will be deleted"
        } else {
            "are kept (pass --prune to delete them)"
        };
        writeln!(
            out,
            "{} on Braintrust not in the file {verb}:",
            plural(plan.stale.len(), "row", "rows")
        )?;
        for id in &plan.stale {
            writeln!(out, "  - {}", present::terminal_safe(id))?;
        }
        Ok(())
    })
}

/// A dataset push done.
#[must_use]
pub fn dataset_pushed(pushed: &Pushed) -> String {
    let mut line = format!(
        "✓ {}  {} {} ({})",
        pushed.dataset.name,
        plural(pushed.rows, "row", "rows"),
        if pushed.created {
            "stored"
        } else {
            "stored, replacing by id"
        },
        plural(pushed.requests, "request", "requests")
    );
    if pushed.deleted > 0 {
        line.push_str(&format!(
            "; {} deleted",
            plural(pushed.deleted, "stale row", "stale rows")
        ));
    }
    if pushed.kept_stale > 0 {
        line.push_str(&format!(
            "; {} kept",
            plural(pushed.kept_stale, "stale row", "stale rows")
        ));
    }
    format!("{line}\n    id {}\n", pushed.dataset.id)
}

/// The project's datasets.
#[must_use]
pub fn datasets(project: &Project, listed: &[ListedDataset]) -> String {
    text(|out| {
        writeln!(
            out,
            "Braintrust project {}: {}",
            project.name,
            plural(listed.len(), "dataset", "datasets")
        )?;
        if listed.is_empty() {
            return Ok(());
        }
        let mut table = Table::new(["name", "module", "kind", "created", "pushed from here"]);
        for d in listed {
            let meta = |k: &str| d.dataset.metadata_text(k).unwrap_or("-").to_owned();
            let pushed = match (&d.pushed, d.changed_locally) {
                (Some(p), Some(true)) => format!("{} (changed since)", p.local_file),
                (Some(p), _) => p.local_file.clone(),
                (None, _) => "-".to_owned(),
            };
            table.row([
                present::terminal_safe(&d.dataset.name).into_owned(),
                present::terminal_safe(&meta("module_id")).into_owned(),
                present::terminal_safe(&meta("kind")).into_owned(),
                d.dataset
                    .created
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short_time),
                pushed,
            ]);
        }
        write!(out, "{}", table.render(2))
    })
}

/// A pulled dataset written.
#[must_use]
pub fn dataset_pulled(name: &str, records: usize, shown: &str) -> String {
    format!(
        "Pulled {} of dataset {name} to {shown}\n",
        plural(records, "record", "records")
    )
}

/// A prompt push done.
#[must_use]
pub fn prompt_pushed(local: &LocalPrompt, pushed: &PromptPushed) -> String {
    format!(
        "✓ {}  version {}{}\n    from {} ({} {}), id {}\n",
        pushed.prompt.slug,
        pushed.prompt.version,
        if pushed.replaced {
            " (replaces the previous version)"
        } else {
            " (new prompt)"
        },
        local.local_file,
        local.module.id,
        local.version,
        pushed.prompt.id,
    )
}

/// The project's prompts.
#[must_use]
pub fn prompts(project: &Project, prompts: &[Prompt]) -> String {
    text(|out| {
        writeln!(
            out,
            "Braintrust project {}: {}",
            project.name,
            plural(prompts.len(), "prompt", "prompts")
        )?;
        if prompts.is_empty() {
            return Ok(());
        }
        let mut table = Table::new(["slug", "module", "version", "model", "braintrust version"]);
        for p in prompts {
            let model = p
                .prompt_data
                .as_ref()
                .and_then(|d| d.pointer("/options/model"))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("-");
            table.row([
                present::terminal_safe(&p.slug).into_owned(),
                present::terminal_safe(p.metadata_text("module_id").unwrap_or("-")).into_owned(),
                present::terminal_safe(p.metadata_text("version").unwrap_or("-")).into_owned(),
                present::terminal_safe(model).into_owned(),
                p.version.clone(),
            ]);
        }
        write!(out, "{}", table.render(2))
    })
}

/// The project's experiments that fit the filter, with their local runs.
#[must_use]
pub fn experiments(project: &Project, listed: &[Listed]) -> String {
    text(|out| {
        writeln!(
            out,
            "Braintrust project {}: {}",
            project.name,
            plural(listed.len(), "experiment", "experiments")
        )?;
        if listed.is_empty() {
            return Ok(());
        }
        let mut table = Table::new([
            "experiment",
            "module",
            "model",
            "prompt",
            "created",
            "local run",
        ]);
        let safe = |t: &Option<String>| {
            t.as_deref().map_or_else(
                || "-".to_owned(),
                |t| present::terminal_safe(t).into_owned(),
            )
        };
        for e in listed {
            table.row([
                present::terminal_safe(&e.name).into_owned(),
                safe(&e.module),
                safe(&e.model),
                safe(&e.prompt_version),
                e.created
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short_time),
                e.local_id.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        write!(out, "{}", table.render(2))
    })
}

/// One experiment of a bulk download.
#[must_use]
pub fn bulk_item(item: &BulkItem) -> String {
    match item.rows {
        Some(rows) => format!(
            "  ✓ {}  {} → {}\n",
            present::terminal_safe(&item.experiment),
            plural(rows, "row", "rows"),
            item.file
        ),
        None => format!(
            "  · {}  already downloaded ({})\n",
            present::terminal_safe(&item.experiment),
            item.file
        ),
    }
}

/// A bulk download's counts.
#[must_use]
pub fn bulk_summary(report: &BulkReport) -> String {
    format!(
        "{}: {} downloaded, {} already there.\n",
        plural(report.experiments, "experiment", "experiments"),
        report.downloaded,
        report.skipped
    )
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
            datasets: Vec::new(),
            prompts: Vec::new(),
            linked: Vec::new(),
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
            datasets: Vec::new(),
            prompts: Vec::new(),
            linked: Vec::new(),
        };
        assert_eq!(
            status(&report, true),
            "Braintrust project P at u (key set)\n\n3 runs: 2 uploaded, 0 local_only, 0 failed, 1 archived\n\nEvery run is on Braintrust.\n"
        );
    }
}
