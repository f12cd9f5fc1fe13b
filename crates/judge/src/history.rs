//! The judge runs recorded in the registry, read back for reports (the module pages of
//! `analyze-results report`): each judge run's entry, its verdicts read from its judge CSV and
//! summarised by [`summarise_ids`] (the figures `analyze-results judge` printed), and the newest
//! check of its judge against people ([`newest_validation`], the rule `analyze-results judge`
//! reports with).

use std::collections::HashSet;
use std::path::Path;

use core_config::ProjectPaths;
use registry::{Entry, Registry};
use serde::Serialize;
use serde_json::Value;

use crate::run::{JUDGE_OF, read_verdicts};
use crate::summary::{Summary, summarise_ids};
use crate::validate::{RecordedValidation, newest_validation};

/// The newest check against people of a judge (module, rubric hash, model).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationCheck {
    /// The judge run the check was recorded on (this run or another run of the same judge).
    pub judge_run: String,
    /// What was recorded.
    #[serde(flatten)]
    pub recorded: RecordedValidation,
}

/// One judge run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedJudgeRun {
    /// Its registry id.
    pub judge_run: String,
    /// The run it judged (`judge_of`: a registry id, or a results CSV's stem).
    pub judged_run: String,
    /// Module id.
    pub module: String,
    /// When it was registered.
    pub created_at: String,
    /// Judge model.
    pub model: String,
    /// Rubric file, relative to the project root (empty when the entry does not say).
    pub rubric: String,
    /// Rubric hash (empty when the entry does not say).
    pub rubric_hash: String,
    /// Samples per row.
    pub samples: u64,
    /// How samples became one verdict (`median`, `majority`).
    pub aggregate: String,
    /// Whether only the judged run's wrong rows were judged.
    pub errors_only: bool,
    /// The judge CSV, relative to the project root.
    pub judge_file: String,
    /// Records with verdicts in the judge CSV.
    pub records: u64,
    /// The verdicts summarised; `None` when the judge CSV cannot be read.
    pub summary: Option<Summary>,
    /// Why the judge CSV cannot be read.
    pub problem: Option<String>,
    /// The newest check of this judge against people; `None` when it never was.
    pub validation: Option<ValidationCheck>,
}

/// Every judge run of `module`'s runs in `registry`, newest first, each read back from its
/// judge CSV. A judge CSV that cannot be read is named in that run's `problem` rather than
/// failing the whole listing.
#[must_use]
pub fn recorded_runs(root: &Path, registry: &Registry, module: &str) -> Vec<RecordedJudgeRun> {
    let mut entries: Vec<&Entry> = registry
        .entries()
        .filter(|e| e.module_id == module && e.extra.contains_key(JUDGE_OF))
        .collect();
    entries.sort_by(|a, b| {
        (b.created_at.as_str(), b.local_id.as_str())
            .cmp(&(a.created_at.as_str(), a.local_id.as_str()))
    });
    entries
        .into_iter()
        .map(|e| recorded_run(root, registry, e))
        .collect()
}

fn recorded_run(root: &Path, registry: &Registry, entry: &Entry) -> RecordedJudgeRun {
    let paths = ProjectPaths::new(root);
    let judge = |key: &str| entry.metrics.get("judge").and_then(|j| j.get(key));
    let text = |key: &str| {
        judge(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let rubric_hash = entry
        .prompt_hash
        .clone()
        .unwrap_or_else(|| text("rubric_hash"));
    let csv = registry::resolve_csv_path(root, &entry.csv_path);
    let (summary, records, problem) = match csv.as_deref().map(read_verdicts) {
        Some(Ok(verdicts)) => {
            let mut criteria: Vec<&str> = Vec::new();
            let mut records = HashSet::new();
            for v in &verdicts {
                if !criteria.contains(&v.criterion.as_str()) {
                    criteria.push(&v.criterion);
                }
                records.insert(v.record_id.as_str());
            }
            let records = records.len() as u64;
            (Some(summarise_ids(&criteria, &verdicts)), records, None)
        }
        Some(Err(e)) => (None, 0, Some(core_config::error_chain(&e))),
        None => (
            None,
            0,
            Some("the registry entry names no judge CSV".to_owned()),
        ),
    };
    let validation = newest_validation(registry, &entry.module_id, &rubric_hash, &entry.model).map(
        |(checked, recorded)| ValidationCheck {
            judge_run: checked.local_id.clone(),
            recorded,
        },
    );
    RecordedJudgeRun {
        judge_run: entry.local_id.clone(),
        judged_run: entry
            .extra
            .get(JUDGE_OF)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        module: entry.module_id.clone(),
        created_at: entry.created_at.clone(),
        model: entry.model.clone(),
        rubric: text("rubric"),
        rubric_hash,
        samples: judge("samples").and_then(Value::as_u64).unwrap_or(1),
        aggregate: text("aggregate"),
        errors_only: judge("errors_only")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        judge_file: csv
            .as_deref()
            .map_or_else(|| entry.csv_path.clone(), |p| paths.display(p).into_owned()),
        records,
        summary,
        problem,
        validation,
    }
}

/// Whether `module` has a rubric of any version in `prompts/judges/`.
#[must_use]
pub fn has_rubric(root: &Path, module: &str) -> bool {
    let prefix = format!("{module}_");
    std::fs::read_dir(root.join("prompts").join("judges")).is_ok_and(|dir| {
        dir.filter_map(std::result::Result::ok).any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".yaml"))
        })
    })
}
