//! The registry's reports as plain text, for `experiment-registry` to print: run tables,
//! pending uploads, statistics, one run in full, cleanup and repair reports, and run
//! comparisons. Every function returns the text; nothing here prints.

use std::path::Path;

use core_config::{ModuleSpec, ProjectPaths};
use present::{Table, percent, percent_of, plural, short_time, terminal_safe, thousands};
use serde_json::Value;

use crate::compare::{Comparison, Flip};
use crate::dataset::{DatasetRef, UNRECORDED};
use crate::repair::RepairReport;
use crate::{Entry, Filter, OpenedRun, RegistryFile, Stats, Status, Summary};

/// The one-character mark of a run's Braintrust status in tables.
#[must_use]
pub fn status_mark(status: &Status) -> &'static str {
    match status {
        Status::Uploaded => "✓",
        Status::LocalOnly => "○",
        Status::Failed => "✗",
        Status::Other(_) => "?",
    }
}

/// The text, or `-` when it is blank.
#[must_use]
pub fn dash(text: &str) -> String {
    if text.trim().is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

fn opt(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_owned(), dash)
}

/// The kind of a run's dataset, `unrecorded` for entries written before runs recorded it.
#[must_use]
pub fn dataset_kind(dataset: Option<&DatasetRef>) -> String {
    dataset.map_or_else(|| UNRECORDED.to_owned(), |d| d.kind.to_string())
}

/// A run's dataset as reports name it: kind and path (`gold validated_data/….jsonl`), or
/// `unrecorded`.
#[must_use]
pub fn dataset_name(dataset: Option<&DatasetRef>) -> String {
    dataset.map_or_else(
        || UNRECORDED.to_owned(),
        |d| terminal_safe(&format!("{} {}", d.kind, d.path)).into_owned(),
    )
}

/// Runs as a table: status mark, id, module, time, model, prompt, dataset kind, samples,
/// accuracy, status.
#[must_use]
pub fn runs_table(entries: &[&Summary]) -> Table {
    let mut table = Table::new([
        "", "id", "module", "created", "model", "prompt", "dataset", "samples", "accuracy",
        "status",
    ])
    .right(&[7, 8]);
    for e in entries {
        table.row([
            status_mark(&e.status).to_owned(),
            e.local_id.clone(),
            dash(&e.module_id),
            short_time(&e.created_at),
            dash(&e.model),
            dash(&e.prompt_version),
            dataset_kind(e.dataset.as_ref()),
            thousands(e.samples),
            percent(e.accuracy),
            e.status.to_string(),
        ]);
    }
    table
}

/// What `list` found: the runs shown out of those matching `filter`, and the registry's size.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    /// The runs to show, newest first.
    pub shown: &'a [&'a Summary],
    /// How many runs matched the filter.
    pub total: usize,
    /// How many runs the registry holds.
    pub registered: usize,
    /// The filter asked for.
    pub filter: &'a Filter,
    /// The registry file as the user should see it.
    pub registry_path: &'a str,
}

/// The `list` report; `hints` adds the advice a quiet run leaves out.
#[must_use]
pub fn list(l: &Listing<'_>, hints: bool) -> String {
    let mut out = String::new();
    if l.shown.is_empty() {
        if l.registered == 0 {
            out += &format!(
                "No runs registered yet in {} (the orchestrator adds one per run).\n",
                l.registry_path
            );
        } else {
            let mut what = Vec::new();
            if let Some(m) = &l.filter.module {
                what.push(format!("module {m}"));
            }
            if let Some(s) = &l.filter.status {
                what.push(format!("status {s}"));
            }
            if let Some(d) = &l.filter.dataset {
                what.push(format!("dataset {}", terminal_safe(d)));
            }
            out += &format!(
                "No runs match {} ({} in the registry).\n",
                what.join(", "),
                plural(l.registered, "run", "runs")
            );
            if let Some(Status::Other(s)) = &l.filter.status
                && hints
            {
                out += &format!(
                    "hint: the statuses are local_only, uploaded and failed; `{s}` is not one of them\n"
                );
            }
        }
        return out;
    }
    out += &runs_table(l.shown).render(0);
    if l.shown.len() < l.total {
        out += &format!(
            "\nShowing {} of {}{}.\n",
            thousands(l.shown.len() as u64),
            plural(l.total, "run", "runs"),
            if hints { " (--limit 0 shows all)" } else { "" }
        );
    } else {
        out += &format!("\n{}.\n", plural(l.total, "run", "runs"));
    }
    out
}

/// The `pending` report: runs waiting for upload and failed uploads with their reason.
#[must_use]
pub fn pending(pending: &[&Summary], failed: &[Entry], hints: bool) -> String {
    let mut out = String::new();
    if pending.is_empty() {
        out += "Nothing waiting to be uploaded.\n";
    } else {
        out += &format!("Pending upload ({}):\n", thousands(pending.len() as u64));
        let mut table = Table::headless().right(&[3]);
        for e in pending {
            table.row([
                e.local_id.clone(),
                dash(&e.module_id),
                short_time(&e.created_at),
                percent(e.accuracy),
                format!("on {}", dataset_kind(e.dataset.as_ref())),
            ]);
        }
        out += &table.render(2);
    }
    if !failed.is_empty() {
        out += &format!("\nFailed uploads ({}):\n", thousands(failed.len() as u64));
        let mut table = Table::headless();
        for e in failed {
            table.row([e.local_id.clone(), dash(&e.module_id), dash(&e.notes)]);
        }
        out += &table.render(2);
    }
    if hints && (!pending.is_empty() || !failed.is_empty()) {
        out += "\nUpload them with `sync-braintrust sync`.\n";
    }
    out
}

/// The `stats` report: counts per status, then one row per module and dataset (a best
/// accuracy is the best on that dataset; datasets are never mixed).
#[must_use]
pub fn stats(stats: &Stats, registry_path: &str) -> String {
    if stats.total == 0 {
        return format!("No runs registered yet in {registry_path}.\n");
    }
    // The statuses this toolkit sets first, in the order a run goes through them.
    let known = ["local_only", "uploaded", "failed"];
    let statuses: Vec<String> = known
        .iter()
        .filter_map(|s| stats.by_status.get(*s).map(|n| (*s, *n)))
        .chain(
            stats
                .by_status
                .iter()
                .filter(|(s, _)| !known.contains(&s.as_str()))
                .map(|(s, n)| (s.as_str(), *n)),
        )
        .map(|(s, n)| format!("{} {s}", thousands(n as u64)))
        .collect();
    let mut out = format!(
        "{} in {} ({})\n\n",
        plural(stats.total, "run", "runs"),
        plural(stats.by_module.len(), "module", "modules"),
        statuses.join(", ")
    );
    let mut table = Table::new([
        "module",
        "dataset",
        "runs",
        "local",
        "uploaded",
        "failed",
        "latest",
        "latest acc",
        "best acc",
        "best run",
    ])
    .right(&[2, 3, 4, 5, 7, 8]);
    for m in &stats.modules {
        table.row([
            m.module.clone(),
            dataset_name(m.dataset.as_ref()),
            thousands(m.runs as u64),
            thousands(m.local_only as u64),
            thousands(m.uploaded as u64),
            thousands(m.failed as u64),
            short_time(&m.latest_at),
            percent(m.latest_accuracy),
            percent(m.best_accuracy),
            m.best_id.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    out += &table.render(0);
    out
}

/// The `show` report: every field of one run. `module` is the run's module when the catalogue
/// knows it; `csv` says whether the results CSV exists.
#[must_use]
pub fn show(
    entry: &Entry,
    module: Option<&ModuleSpec>,
    file: &RegistryFile,
    paths: &ProjectPaths,
) -> String {
    let csv_note = match file.resolve_csv(entry) {
        None => "-".to_owned(),
        Some(path) if path.exists() => paths.display(&path).into_owned(),
        Some(path) => format!("{} (missing)", paths.display(&path)),
    };
    let module = match module {
        Some(spec) => format!("{} ({})", spec.id, spec.name),
        None => dash(&entry.module_id),
    };
    let prompt = match &entry.prompt_hash {
        Some(hash) => format!("{} (hash {hash})", dash(&entry.prompt_version)),
        None => dash(&entry.prompt_version),
    };
    let mut table = Table::headless();
    for (key, value) in [
        ("module", module),
        ("status", entry.status.to_string()),
        ("created", dash(&entry.created_at)),
        ("csv", csv_note),
        ("model", dash(&entry.model)),
        ("prompt", prompt),
        ("dataset", dataset_name(entry.dataset.as_ref())),
        (
            "dataset sha256",
            entry
                .dataset
                .as_ref()
                .map_or_else(|| "-".to_owned(), |d| d.sha256.clone()),
        ),
        (
            "dataset records",
            entry
                .dataset
                .as_ref()
                .map_or_else(|| "-".to_owned(), |d| thousands(d.records)),
        ),
        ("dataset version", dash(&entry.dataset_version)),
        ("samples", thousands(entry.samples)),
        ("accuracy", percent(entry.accuracy)),
        ("braintrust id", opt(entry.braintrust_id.as_deref())),
        ("braintrust url", opt(entry.braintrust_url.as_deref())),
        ("uploaded", opt(entry.uploaded_at.as_deref())),
        ("notes", dash(&entry.notes)),
    ] {
        table.row([key.to_owned(), value]);
    }
    let mut out = format!("{}\n", entry.local_id);
    out += &table.render(2);
    if let Some(metrics) = entry.metrics.as_object().filter(|m| !m.is_empty()) {
        out += "\n  metrics\n";
        let mut table = Table::headless();
        for (key, value) in metrics {
            table.row([key.clone(), compact(value)]);
        }
        out += &table.render(4);
    }
    if !entry.extra.is_empty() {
        out += "\n  other fields\n";
        let mut table = Table::headless();
        for (key, value) in &entry.extra {
            table.row([key.clone(), compact(value)]);
        }
        out += &table.render(4);
    }
    out
}

fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// The `cleanup` report: the entries dropped (or that would be) and how many remain.
#[must_use]
pub fn cleanup(
    removed: &[Entry],
    remaining: usize,
    dry_run: bool,
    file: &RegistryFile,
    paths: &ProjectPaths,
) -> String {
    if removed.is_empty() {
        return format!(
            "No cleanup needed: every CSV of the {} is there.\n",
            plural(remaining, "run", "runs")
        );
    }
    let mut out = format!(
        "{} {} whose CSV no longer exists:\n",
        if dry_run { "Would remove" } else { "Removed" },
        plural(removed.len(), "entry", "entries")
    );
    let mut table = Table::headless();
    for e in removed {
        let csv = file
            .resolve_csv(e)
            .map_or_else(|| "-".to_owned(), |p| paths.display(&p).into_owned());
        table.row([e.local_id.clone(), dash(&e.module_id), csv]);
    }
    out += &table.render(2);
    out += &format!(
        "\n{} {}.{}\n",
        plural(remaining, "run", "runs"),
        if dry_run { "would remain" } else { "remain" },
        if dry_run {
            " Nothing was changed (--dry-run)."
        } else {
            ""
        }
    );
    out
}

/// The `repair` report: damage found, backup kept, entries salvaged and rebuilt, CSVs skipped.
#[must_use]
pub fn repair(report: &RepairReport, file: &RegistryFile, paths: &ProjectPaths) -> String {
    let shown = |p: &Path| paths.display(p).into_owned();
    let mut out = String::new();
    if let Some(damage) = &report.damage {
        out += &format!("The registry did not load: {damage}\n");
    }
    if let Some(backup) = &report.backup {
        out += &format!("Backed up {} to {}\n", shown(file.path()), shown(backup));
    }
    if report.damage.is_some() {
        out += &format!(
            "Salvaged {} from the damaged file.\n",
            plural(report.kept, "entry", "entries")
        );
        if !report.lost.is_empty() {
            out += &format!(
                "Could not read {}:\n",
                plural(report.lost.len(), "entry", "entries")
            );
            for lost in &report.lost {
                out += &format!("  {lost}\n");
            }
        }
        for r in &report.renamed {
            out += &format!(
                "Two entries had the id `{}`: the later one is now `{}`.\n",
                r.from, r.to
            );
        }
    } else {
        out += &format!(
            "The registry is sound ({}).\n",
            plural(report.kept, "entry", "entries")
        );
    }
    if report.rebuilt.is_empty() {
        out += "Every results CSV is registered.\n";
    } else {
        out += &format!(
            "{} {} for CSVs no entry pointed to:\n",
            if report.dry_run {
                "Would register"
            } else {
                "Registered"
            },
            plural(report.rebuilt.len(), "run", "runs")
        );
        let mut table = Table::headless().right(&[2, 3]);
        for e in &report.rebuilt {
            table.row([
                e.local_id.clone(),
                dash(&e.module_id),
                thousands(e.samples),
                percent(e.accuracy),
                e.csv_path.clone(),
            ]);
        }
        out += &table.render(2);
    }
    if !report.skipped.is_empty() {
        out += &format!("Skipped {}:\n", plural(report.skipped.len(), "CSV", "CSVs"));
        let mut table = Table::headless();
        for s in &report.skipped {
            table.row([s.csv_path.clone(), s.reason.clone()]);
        }
        out += &table.render(2);
    }
    let changes = report.damage.is_some() || !report.rebuilt.is_empty();
    if report.dry_run {
        out += &format!(
            "\nDry run: nothing was written. The registry would hold {}.\n",
            plural(report.total, "entry", "entries")
        );
    } else if changes {
        out += &format!(
            "\nThe registry now holds {}.\n",
            plural(report.total, "entry", "entries")
        );
    } else {
        out += "\nNothing to do.\n";
    }
    out
}

// ------------------------------------------------------------------------------------------
// compare

fn points(difference: f64) -> String {
    format!("{:+.1}", difference * 100.0)
}

fn p_value(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".to_owned()
    } else {
        format!("{p:.4}")
    }
}

fn clip(text: &str, width: usize) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= width {
        one_line
    } else {
        let mut cut: String = one_line.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

/// The `compare` report of two runs of `module`; `flips` caps the flipped rows shown of each
/// kind (0 shows all).
#[must_use]
pub fn compare(
    module: &ModuleSpec,
    a: &OpenedRun,
    b: &OpenedRun,
    c: &Comparison,
    flips: usize,
) -> String {
    let mut out = format!(
        "Comparing two runs of {} ({}), scored on `{}`\n\n",
        module.id, module.name, c.field
    );
    out += &runs_compared(a, b, c).render(2);
    out += &format!("\nPaired rows: {}\n", pairing(c));
    if c.a.duplicate_ids + c.b.duplicate_ids > 0 {
        out += &format!(
            "warning: repeated record ids (A {}, B {}); only the first row of each was paired\n",
            c.a.duplicate_ids, c.b.duplicate_ids
        );
    }
    if c.expected_differs > 0 {
        out += &format!(
            "warning: {} paired rows expect different answers in A and B (different dataset versions?)\n",
            thousands(c.expected_differs as u64)
        );
    }
    let (Some(summary), Some(diff)) = (accuracy_summary(c), c.difference) else {
        out += "\nNo row was scored in both runs, so there is nothing to compare.\n";
        return out;
    };
    out += "\n";
    out += &summary.render(2);
    out += &format!("\n{}\n", verdict(c.mcnemar.p_value, diff));
    for (title, list) in [
        ("Right → wrong", &c.right_to_wrong),
        ("Wrong → right", &c.wrong_to_right),
    ] {
        if list.is_empty() {
            continue;
        }
        out += &format!("\n{title} ({}):\n", thousands(list.len() as u64));
        out += &flips_table(list, flips).render(2);
        if flips > 0 && list.len() > flips {
            out += &format!(
                "  … and {} more (--flips 0 shows all)\n",
                thousands((list.len() - flips) as u64)
            );
        }
    }
    if !c.labels.is_empty() {
        out += "\nBy expected label:\n";
        out += &labels_table(c).render(2);
    }
    out
}

/// Each run with its own counts (errored rows count as wrong, as the registry counts them).
fn runs_compared(a: &OpenedRun, b: &OpenedRun, c: &Comparison) -> Table {
    let mut runs = Table::new([
        "", "run", "model", "prompt", "dataset", "rows", "errors", "accuracy",
    ])
    .right(&[5, 6, 7]);
    for (label, run, counts) in [("A", a, &c.a), ("B", b, &c.b)] {
        runs.row([
            label.to_owned(),
            run.name().to_owned(),
            opt(run.model.as_deref()),
            opt(run.prompt_version.as_deref()),
            dataset_name(run.dataset.as_ref()),
            thousands(counts.rows as u64),
            thousands(counts.errors as u64),
            percent_of(counts.correct, counts.rows),
        ]);
    }
    runs
}

/// `1,234 (left out: 3 with an error, …)`.
fn pairing(c: &Comparison) -> String {
    let left_out: Vec<String> = [
        (c.excluded_errors, "with an error"),
        (c.excluded_unscored, "not scored"),
        (c.only_in_a, "only in A"),
        (c.only_in_b, "only in B"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{} {what}", thousands(n as u64)))
    .collect();
    if left_out.is_empty() {
        thousands(c.paired as u64)
    } else {
        format!(
            "{} (left out: {})",
            thousands(c.paired as u64),
            left_out.join(", ")
        )
    }
}

/// Both accuracies, the difference with its interval, and McNemar's test; `None` when no row
/// was scored in both runs.
fn accuracy_summary(c: &Comparison) -> Option<Table> {
    let (acc_a, acc_b, diff) = (c.accuracy_a?, c.accuracy_b?, c.difference?);
    let mut summary = Table::headless().right(&[1]);
    summary.row([
        "accuracy A".to_owned(),
        percent(Some(acc_a)),
        format!("({}/{})", c.correct_a, c.paired),
    ]);
    summary.row([
        "accuracy B".to_owned(),
        percent(Some(acc_b)),
        format!("({}/{})", c.correct_b, c.paired),
    ]);
    let interval = c.interval.map_or_else(String::new, |ci| {
        format!(
            "{:.0}% CI {} to {} (paired bootstrap, {} resamples, seed {})",
            ci.confidence * 100.0,
            points(ci.low),
            points(ci.high),
            thousands(ci.resamples as u64),
            ci.seed
        )
    });
    summary.row([
        "B - A".to_owned(),
        format!("{} pts", points(diff)),
        interval,
    ]);
    summary.row([
        "McNemar".to_owned(),
        format!("p = {}", p_value(c.mcnemar.p_value)),
        format!(
            "(exact; {} right→wrong, {} wrong→right)",
            c.mcnemar.right_to_wrong, c.mcnemar.wrong_to_right
        ),
    ]);
    Some(summary)
}

fn verdict(p: f64, diff: f64) -> String {
    if p >= 0.05 {
        format!(
            "Not significant at the 5% level (McNemar p = {}): more rows are needed to be sure.",
            p_value(p)
        )
    } else if diff > 0.0 {
        "B is more accurate than A (McNemar, significant at the 5% level).".to_owned()
    } else {
        "B is less accurate than A (McNemar, significant at the 5% level).".to_owned()
    }
}

fn labels_table(c: &Comparison) -> Table {
    let mut table = Table::new(["label", "rows", "A", "B", "change"]).right(&[1, 2, 3, 4]);
    for l in &c.labels {
        table.row([
            l.label.clone(),
            thousands(l.rows as u64),
            percent(Some(l.accuracy_a)),
            percent(Some(l.accuracy_b)),
            points(l.accuracy_b - l.accuracy_a),
        ]);
    }
    table
}

fn flips_table(list: &[Flip], limit: usize) -> Table {
    let mut table = Table::new(["record", "keyword", "expected", "A", "B"]);
    let take = if limit == 0 { list.len() } else { limit };
    for f in list.iter().take(take) {
        table.row([
            clip(&f.record_id, 40),
            clip(&dash(&f.keyword), 40),
            clip(&f.expected, 24),
            clip(&f.output_a, 24),
            clip(&f.output_b, 24),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_registry_says_where_runs_go() {
        let filter = Filter::default();
        let text = list(
            &Listing {
                shown: &[],
                total: 0,
                registered: 0,
                filter: &filter,
                registry_path: "experiment_results/.registry.json",
            },
            true,
        );
        assert_eq!(
            text,
            "No runs registered yet in experiment_results/.registry.json (the orchestrator adds one per run).\n"
        );
    }

    #[test]
    fn an_unknown_status_gets_a_hint_unless_quiet() {
        let filter = Filter {
            status: Some(Status::parse("done")),
            ..Filter::default()
        };
        let listing = Listing {
            shown: &[],
            total: 0,
            registered: 3,
            filter: &filter,
            registry_path: "r.json",
        };
        assert_eq!(
            list(&listing, true),
            "No runs match status done (3 runs in the registry).\n\
             hint: the statuses are local_only, uploaded and failed; `done` is not one of them\n"
        );
        assert_eq!(
            list(&listing, false),
            "No runs match status done (3 runs in the registry).\n"
        );
    }

    #[test]
    fn nothing_pending_says_so_without_advice() {
        assert_eq!(pending(&[], &[], true), "Nothing waiting to be uploaded.\n");
    }

    #[test]
    fn an_empty_registry_has_no_stats_table() {
        assert_eq!(
            stats(&Stats::default(), "r.json"),
            "No runs registered yet in r.json.\n"
        );
    }

    #[test]
    fn flips_are_clipped_to_one_line() {
        assert_eq!(clip("a\nb", 10), "a b");
        assert_eq!(clip("abcdefghijkl", 5), "abcd…");
        assert_eq!(p_value(0.00001), "< 0.0001");
        assert_eq!(points(-0.0512), "-5.1");
        assert!(verdict(0.2, 0.1).starts_with("Not significant"));
        assert!(verdict(0.01, -0.1).starts_with("B is less accurate"));
    }
}
