//! A run's plan and report as plain text (and the plan as JSON), for the orchestrator to
//! print: the dry run's plan, the summary of a finished run, and the overview of several.
//! Every function returns the text; nothing here prints.

use core_config::{Catalog, ModuleSpec, ResponseFormatKind};
use present::{Table, percent, plural, thousands};
use serde::Serialize;

use crate::metrics::RunMetrics;
use crate::{Plan, RunReport};

/// What a dry run would do for one module (the `--dry-run --json` shape).
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    /// Module id.
    pub module: String,
    /// Module name.
    pub name: String,
    /// The dataset file as the user should see it.
    pub dataset: String,
    /// Records in the dataset.
    pub dataset_records: usize,
    /// Records this run asks about.
    pub records: usize,
    /// The sample size asked for.
    pub samples: Option<usize>,
    /// The sample's seed.
    pub seed: u64,
    /// Rows already done by the interrupted run being resumed.
    pub resumed_rows: usize,
    /// The prompt template as the user should see it.
    pub prompt: String,
    /// Prompt version.
    pub prompt_version: String,
    /// Hash of the prompt template.
    pub prompt_hash: String,
    /// Model called.
    pub model: String,
    /// The API's base URL.
    pub base_url: String,
    /// Sampling temperature.
    pub temperature: f64,
    /// Completion token cap.
    pub max_tokens: u32,
    /// Estimated prompt tokens.
    pub estimated_prompt_tokens: u64,
    /// Estimated completion tokens.
    pub estimated_completion_tokens: u64,
    /// Estimated cost, when the model is in the price table.
    pub estimated_cost_usd: Option<f64>,
    /// The results CSV to be written.
    pub results_csv: String,
    /// The journal kept while the run is in progress.
    pub journal: String,
    /// The registry id the run will get.
    pub local_id: String,
}

impl PlanSummary {
    /// The summary of `plan`, whose calls go to `base_url`.
    #[must_use]
    pub fn new(plan: &Plan, base_url: &str) -> Self {
        Self {
            module: plan.module.id.to_string(),
            name: plan.module.name.clone(),
            dataset: plan.display(&plan.dataset),
            dataset_records: plan.dataset_records,
            records: plan.records.len(),
            samples: plan.settings.samples,
            seed: plan.settings.seed,
            resumed_rows: plan.resume.as_ref().map_or(0, |j| j.rows.len()),
            prompt: plan.display(&plan.prompt),
            prompt_version: plan.settings.prompt_version.clone(),
            prompt_hash: plan.prompt_hash.clone(),
            model: plan.settings.model.clone(),
            base_url: base_url.to_owned(),
            temperature: plan.module.settings.temperature,
            max_tokens: plan.module.settings.max_tokens,
            estimated_prompt_tokens: plan.estimate.prompt_tokens,
            estimated_completion_tokens: plan.estimate.completion_tokens,
            estimated_cost_usd: plan.estimate.cost_usd,
            results_csv: plan.display(&plan.csv),
            journal: plan.display(&plan.journal),
            local_id: plan.local_id.clone(),
        }
    }
}

/// The dry run's text: each plan, and the total when there are several.
#[must_use]
pub fn dry_run(plans: &[Plan], base_url: &str) -> String {
    let mut out = format!("Dry run: nothing is sent to {base_url}.\n");
    let (mut prompt, mut completion, mut cost, mut priced) = (0u64, 0u64, 0f64, true);
    for plan in plans {
        let e = PlanSummary::new(plan, base_url);
        out += &format!("\n{} {}\n", e.module, e.name);
        let sample = match e.samples {
            Some(n) if n < e.dataset_records => format!(
                "{} of {} records, seed {}",
                thousands(e.records as u64),
                thousands(e.dataset_records as u64),
                e.seed
            ),
            _ => format!("{} records", thousands(e.records as u64)),
        };
        let resumed = if e.resumed_rows > 0 {
            format!("; resuming, {} rows already done", e.resumed_rows)
        } else {
            String::new()
        };
        let mut t = Table::headless();
        t.row([
            "dataset".to_owned(),
            format!("{} ({sample}{resumed})", e.dataset),
        ]);
        t.row([
            "prompt".to_owned(),
            format!(
                "{} ({}, hash {})",
                e.prompt, e.prompt_version, e.prompt_hash
            ),
        ]);
        t.row([
            "model".to_owned(),
            format!(
                "{}, temperature {}, max {} tokens, {}",
                e.model,
                e.temperature,
                e.max_tokens,
                format_kind(&plan.module)
            ),
        ]);
        t.row([
            "estimate".to_owned(),
            format!(
                "~{} prompt + ~{} completion tokens, {}",
                thousands(e.estimated_prompt_tokens),
                thousands(e.estimated_completion_tokens),
                e.estimated_cost_usd.map_or_else(
                    || "cost unknown (model not in the price table)".to_owned(),
                    |c| format!("~${c:.4}")
                )
            ),
        ]);
        t.row(["results".to_owned(), e.results_csv.clone()]);
        t.row(["registry".to_owned(), e.local_id.clone()]);
        out += &t.render(2);
        prompt += e.estimated_prompt_tokens;
        completion += e.estimated_completion_tokens;
        match e.estimated_cost_usd {
            Some(c) => cost += c,
            None => priced = false,
        }
    }
    if plans.len() > 1 {
        out += &format!(
            "\nTotal: {} modules, ~{} prompt + ~{} completion tokens, {}\n",
            plans.len(),
            thousands(prompt),
            thousands(completion),
            if priced {
                format!("~${cost:.4}")
            } else {
                format!("at least ~${cost:.4} (some models are not in the price table)")
            }
        );
    }
    out
}

fn format_kind(module: &ModuleSpec) -> &'static str {
    match module.settings.response_format {
        ResponseFormatKind::JsonSchema => "json_schema (strict)",
        ResponseFormatKind::JsonObject => "json_object",
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

/// The advice when rows failed for a transient reason and `--resume` can ask them again.
#[must_use]
pub fn retry_advice(report: &RunReport) -> Option<String> {
    (report.retryable_rows > 0).then(|| {
        format!(
            "{} for a transient reason (server unreachable, 5xx, 429); run `orchestrator run {} --resume` to ask exactly those again.",
            plural(report.retryable_rows, "row failed", "rows failed"),
            report.module
        )
    })
}

/// The summary of one finished run of `plan`: rows, time, scores, tokens, cost, files, the
/// per-label table, and how to ask again the rows that failed for a transient reason.
#[must_use]
pub fn summary(plan: &Plan, report: &RunReport) -> String {
    let m = &report.metrics;
    let rate = if report.seconds > 0.0 {
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let r = (report.rows - report.resumed_rows) as f64 / report.seconds;
        format!(" ({r:.1} rows/s)")
    } else {
        String::new()
    };
    let mut out = format!(
        "\n{} {}: {} rows in {:.1}s{rate}{}\n",
        report.module,
        plan.module.name,
        thousands(report.rows as u64),
        report.seconds,
        if report.resumed_rows > 0 {
            format!(", {} resumed from the journal", report.resumed_rows)
        } else {
            String::new()
        }
    );
    let mut t = Table::headless();
    t.row([
        "accuracy".to_owned(),
        match m.accuracy {
            Some(a) => format!(
                "{:.2}% ({}/{} scored) on {}",
                a * 100.0,
                m.correct,
                m.scored,
                registry::text::dataset_name(Some(&report.dataset))
            ),
            None => "- (no row was scored)".to_owned(),
        },
    ]);
    t.row(["errors".to_owned(), errors_text(m)]);
    if let Some(mcc) = m.mcc {
        t.row(["mcc".to_owned(), format!("{mcc:.3}")]);
    }
    if let Some(f1) = m.macro_f1 {
        t.row(["macro f1".to_owned(), format!("{f1:.3}")]);
    }
    if let Some(list) = &m.list {
        t.row([
            "list overlap".to_owned(),
            format!(
                "precision {:.3}, recall {:.3}, f1 {:.3} (means)",
                list.precision, list.recall, list.f1
            ),
        ]);
    }
    t.row([
        "tokens".to_owned(),
        format!(
            "{} prompt ({} cached) + {} completion; {} answers from the response cache",
            thousands(report.prompt_tokens),
            thousands(report.cached_prompt_tokens),
            thousands(report.completion_tokens),
            thousands(report.cache_hits)
        ),
    ]);
    t.row([
        "cost".to_owned(),
        if report.cost_complete {
            format!("${:.4}", report.cost_usd)
        } else {
            format!(
                "at least ${:.4} (the model is not in the price table)",
                report.cost_usd
            )
        },
    ]);
    t.row(["results".to_owned(), report.csv.clone()]);
    t.row(["registered".to_owned(), report.local_id.clone()]);
    out += &t.render(2);
    if !m.per_label.is_empty() {
        let mut labels = Table::new(["label", "support", "predicted", "precision", "recall", "f1"])
            .right(&[1, 2, 3, 4, 5]);
        for l in &m.per_label {
            labels.row([
                l.label.clone(),
                l.support.to_string(),
                l.predicted.to_string(),
                ratio(l.precision),
                ratio(l.recall),
                ratio(l.f1),
            ]);
        }
        out += "\n";
        out += &labels.render(2);
    }
    if let Some(advice) = retry_advice(report) {
        out += &format!("\n{advice}\n");
    }
    out
}

fn errors_text(m: &RunMetrics) -> String {
    if m.errors.is_empty() {
        return "none".to_owned();
    }
    let total: usize = m.errors.values().sum();
    let kinds: Vec<String> = m.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("{total} ({}; see the `error` column)", kinds.join(", "))
}

/// One line per run and the total cost, after several modules ran.
#[must_use]
pub fn overview(reports: &[RunReport]) -> String {
    let mut t = Table::new([
        "module",
        "rows",
        "accuracy",
        "dataset",
        "errors",
        "cost",
        "registered",
    ])
    .right(&[1, 2, 4, 5]);
    let mut cost = 0.0;
    for r in reports {
        cost += r.cost_usd;
        t.row([
            r.module.clone(),
            r.rows.to_string(),
            percent(r.metrics.accuracy),
            registry::text::dataset_kind(Some(&r.dataset)),
            r.metrics.errors.values().sum::<usize>().to_string(),
            format!("${:.4}", r.cost_usd),
            r.local_id.clone(),
        ]);
    }
    format!("\nAll runs\n{}  total cost ${cost:.4}\n", t.render(2))
}

/// One module of the catalogue as `orchestrator list` shows it: whether its files are there.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleEntry<'a> {
    /// Module id.
    pub id: &'a str,
    /// Module name.
    pub name: &'a str,
    /// Module type.
    #[serde(rename = "type")]
    pub module_type: &'a str,
    /// Pipeline stage.
    pub stage: u8,
    /// Whether `run --all` runs it.
    pub enabled: bool,
    /// `ready`, `disabled` or `missing`.
    pub status: &'static str,
    /// Records in its dataset, when the dataset can be counted.
    pub records: Option<usize>,
    /// Its results folder.
    pub folder: String,
    /// Its dataset file.
    pub dataset: String,
    /// Its prompt template at the default version.
    pub prompt: String,
    /// Its output schema.
    pub schema: String,
    /// The files that are missing (`dataset PATH`, …).
    pub missing: Vec<String>,
}

/// Every module of the catalogue, in catalogue order.
#[must_use]
pub fn module_entries(catalog: &Catalog) -> Vec<ModuleEntry<'_>> {
    catalog
        .modules()
        .iter()
        .map(|m| module_entry(catalog, m))
        .collect()
}

fn module_entry<'a>(catalog: &Catalog, m: &'a ModuleSpec) -> ModuleEntry<'a> {
    let version = &catalog.defaults().prompt_version;
    let files = [
        ("dataset", m.dataset.clone()),
        ("prompt", m.prompt_for(version)),
        ("schema", m.schema.clone()),
    ];
    let missing: Vec<String> = files
        .iter()
        .filter(|(_, p)| !catalog.path_of(p).is_file())
        .map(|(what, p)| format!("{what} {}", p.display()))
        .collect();
    let status = if !missing.is_empty() {
        "missing"
    } else if m.enabled {
        "ready"
    } else {
        "disabled"
    };
    ModuleEntry {
        id: m.id.as_str(),
        name: &m.name,
        module_type: m.module_type.as_str(),
        stage: m.stage,
        enabled: m.enabled,
        status,
        records: core_config::dataset::count_records(&catalog.dataset_path(m))
            .ok()
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        folder: m.folder_name(),
        dataset: m.dataset.display().to_string(),
        prompt: m.prompt_for(version).display().to_string(),
        schema: m.schema.display().to_string(),
        missing,
    }
}

/// The `orchestrator list` table with its counts and legend.
#[must_use]
pub fn module_list(entries: &[ModuleEntry<'_>]) -> String {
    let enabled = entries.iter().filter(|e| e.enabled).count();
    let ready = entries.iter().filter(|e| e.status == "ready").count();
    let mut out = format!(
        "{} modules ({enabled} enabled, {ready} ready)\n\n",
        entries.len()
    );
    let mut table =
        Table::new(["", "id", "name", "type", "stage", "records", "note"]).right(&[4, 5]);
    for e in entries {
        let mark = match e.status {
            "ready" => "✓",
            "disabled" => "○",
            _ => "✗",
        };
        let note = match e.status {
            "missing" => format!("missing {}", e.missing.join(", ")),
            "disabled" => "[disabled]".to_owned(),
            _ => String::new(),
        };
        table.row([
            mark.to_owned(),
            e.id.to_owned(),
            e.name.to_owned(),
            e.module_type.to_owned(),
            e.stage.to_string(),
            e.records
                .map_or_else(|| "-".to_owned(), |n| thousands(n as u64)),
            note,
        ]);
    }
    out += &table.render(2);
    out += "\n✓ ready   ○ disabled (not in run --all)   ✗ files missing\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(retryable_rows: usize) -> RunReport {
        RunReport {
            module: "m12".to_owned(),
            local_id: "m12_v1_20260101_000000".to_owned(),
            csv: "experiment_results/m12/m12.csv".to_owned(),
            model: "gpt-4o-mini".to_owned(),
            prompt_version: "v1".to_owned(),
            prompt_hash: "abc".to_owned(),
            dataset: registry::DatasetRef {
                path: "datasets/single/m12.jsonl".to_owned(),
                sha256: "ab".repeat(32),
                records: 10,
                kind: registry::DatasetKind::Golden,
            },
            rows: 10,
            resumed_rows: 0,
            retryable_rows,
            metrics: RunMetrics {
                total: 10,
                scored: 10,
                correct: 7,
                accuracy: Some(0.7),
                errors: std::collections::BTreeMap::new(),
                per_label: Vec::new(),
                macro_f1: None,
                mcc: None,
                confusion: None,
                list: None,
            },
            cache_hits: 0,
            http_requests: 10,
            prompt_tokens: 1_000,
            cached_prompt_tokens: 0,
            completion_tokens: 100,
            cost_usd: 0.5,
            cost_complete: true,
            seconds: 2.0,
        }
    }

    #[test]
    fn transient_failures_point_to_resume() {
        assert_eq!(retry_advice(&report(0)), None);
        assert_eq!(
            retry_advice(&report(3)).as_deref(),
            Some(
                "3 rows failed for a transient reason (server unreachable, 5xx, 429); run \
                 `orchestrator run m12 --resume` to ask exactly those again."
            )
        );
        assert_eq!(
            retry_advice(&report(1)).as_deref(),
            Some(
                "1 row failed for a transient reason (server unreachable, 5xx, 429); run \
                 `orchestrator run m12 --resume` to ask exactly those again."
            )
        );
    }

    #[test]
    fn the_overview_totals_the_cost() {
        let text = overview(&[report(0), report(0)]);
        assert!(text.starts_with("\nAll runs\n"), "{text}");
        assert!(text.ends_with("  total cost $1.0000\n"), "{text}");
        assert_eq!(text.matches("m12_v1_20260101_000000").count(), 2, "{text}");
    }

    #[test]
    fn the_module_list_counts_and_explains_its_marks() {
        let text = module_list(&[]);
        assert_eq!(
            text,
            "0 modules (0 enabled, 0 ready)\n\n    id  name  type  stage  records  note\n\n✓ ready   ○ disabled (not in run --all)   ✗ files missing\n"
        );
    }
}
