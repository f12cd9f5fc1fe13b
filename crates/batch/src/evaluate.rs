//! `evaluate`: joins answers to dataset records by `custom_id`, parses and scores them with the
//! live run's code, writes a results CSV under `experiment_results/`, registers it, and writes
//! `evaluation_report.json`. Requests without an answer are rows too, with their reason:
//! nothing is dropped.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, Local};
use core_config::{
    Catalog, ModuleSpec, Record, RecordReader, ResponseFormatKind, ResultsWriter, TokenParam,
};
use llm_client::{
    ApiErrorBody, BatchOutputLine, Client, PriceTable, ResponseFormat, SchemaCheck, Tier, classify,
    parse_completion,
};
use runner::metrics::{RunMetrics, Tally};
use runner::{Plan, RunSettings, ScoredRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ids::{IdScheme, custom_id};
use crate::layout::{BatchDir, EVALUATION_REPORT, GroupEntry, now_iso, write_json};
use crate::results::{Conflict, Outcomes, Requested, read_requested};

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    /// Groups to evaluate (all when empty).
    pub keys: Vec<String>,
    /// How the completion-token cap is sent (only recorded).
    pub token_param: TokenParam,
    /// When the evaluation started (names the results CSV and the registry entry).
    pub started: DateTime<Local>,
}

/// A request that has no usable answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unanswered {
    /// The request.
    pub custom_id: String,
    /// The record it was made from.
    pub record_id: String,
    /// `missing`, `batch_expired`, `server_error`, `invalid_json`, `refusal`, …
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// A scored answer that was wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    /// The request.
    pub custom_id: String,
    /// The record.
    pub record_id: String,
    /// The keyword, when the record has one.
    pub keyword: String,
    /// Expected value of the primary scored field.
    pub expected: Value,
    /// Answered value of the primary scored field.
    pub output: Value,
}

/// Most mismatches listed per group (all are in the results CSV).
pub const MISMATCHES_LISTED: usize = 20;

/// One group's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupEvaluation {
    /// Module id.
    pub module: String,
    /// Group key.
    pub key: String,
    /// Module name.
    pub name: String,
    /// Requests sent.
    pub requests: usize,
    /// Scored answers that were correct.
    pub correct: usize,
    /// Scored answers (requests with a usable answer).
    pub total: usize,
    /// `correct / total` in percent.
    pub accuracy: Option<f64>,
    /// A (≥ 90 %), B (≥ 80), C (≥ 70), D (≥ 60), F.
    pub grade: Option<String>,
    /// Requests without a usable answer.
    pub errors_count: usize,
    /// Of which: no line at all in the results.
    pub missing: usize,
    /// Of which: a failed line (error file, non-2xx, expired, cancelled).
    pub failed: usize,
    /// Of which: answered, but the answer could not be used (invalid JSON, refusal, …).
    pub unusable: usize,
    /// Every request without a usable answer.
    pub errors: Vec<Unanswered>,
    /// Wrong answers, the first [`MISMATCHES_LISTED`].
    pub mismatches: Vec<Mismatch>,
    /// All wrong answers.
    pub mismatches_total: usize,
    /// Requests answered twice with different answers: the first answer was scored, the
    /// other ignored. Any conflict makes the evaluation incomplete
    /// ([`EvaluationReport::all_scored`] is false).
    pub conflicts: Vec<Conflict>,
    /// Answers stored in the response cache for later live runs (0 without a cache).
    pub cached_answers: usize,
    /// Custom ids in the results that were not asked for (first 20).
    pub unexpected: Vec<String>,
    /// All of them.
    pub unexpected_total: usize,
    /// Prompt tokens billed.
    pub prompt_tokens: u64,
    /// Completion tokens billed.
    pub completion_tokens: u64,
    /// Cost at the batch price, when the model is priced.
    pub cost_usd: Option<f64>,
    /// Results CSV, relative to the project root.
    pub results_csv: String,
    /// Registry id.
    pub local_id: String,
    /// Model.
    pub model: String,
    /// Full figures (accuracy as a share, per-label statistics, confusion matrix).
    pub metrics: RunMetrics,
    /// Things the user should know (prompt or dataset changed since generation).
    pub warnings: Vec<String>,
}

/// Summary over groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationSummary {
    /// Groups evaluated.
    pub modules_evaluated: usize,
    /// Correct answers.
    pub total_correct: usize,
    /// Scored answers.
    pub total_records: usize,
    /// Requests sent.
    pub total_requests: usize,
    /// Requests without a usable answer.
    pub total_errors: usize,
    /// `total_correct / total_records` in percent.
    pub overall_accuracy: Option<f64>,
    /// Groups per grade.
    pub grade_distribution: BTreeMap<String, usize>,
    /// Groups under 70 %.
    pub low_performers: Vec<String>,
    /// Cost at the batch price (`None` when some model is not priced).
    pub cost_usd: Option<f64>,
}

/// `evaluation_report.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationReport {
    /// When (ISO 8601).
    pub timestamp: String,
    /// The batch folder.
    pub batch_dir: String,
    /// Per group.
    pub evaluations: Vec<GroupEvaluation>,
    /// Totals.
    pub summary: EvaluationSummary,
}

impl EvaluationReport {
    /// Whether every request of every group has one scored answer (none missing, failed,
    /// unusable, or answered twice differently).
    #[must_use]
    pub fn all_scored(&self) -> bool {
        self.evaluations
            .iter()
            .all(|e| e.errors_count == 0 && e.conflicts.is_empty())
    }
}

/// The earlier tool's grades.
#[must_use]
pub fn grade(accuracy_percent: f64) -> &'static str {
    match accuracy_percent {
        a if a >= 90.0 => "A",
        a if a >= 80.0 => "B",
        a if a >= 70.0 => "C",
        a if a >= 60.0 => "D",
        _ => "F",
    }
}

/// Evaluates the selected groups of a folder.
///
/// # Errors
/// When a group is unknown, its request files or results are missing (nothing downloaded
/// yet), its dataset changed in a way that breaks the join, or files cannot be read or
/// written.
pub fn evaluate(
    dir: &BatchDir,
    catalog: &Catalog,
    prices: Option<&PriceTable>,
    options: &EvaluateOptions,
) -> Result<EvaluationReport> {
    evaluate_groups(dir, catalog, prices, options, None)
}

/// As [`evaluate`], and stores every usable answer in `client`'s response cache under the key
/// a live run of the same request uses ([`Client::cache_answer`], repeat 0), so a later live
/// run of those records is answered from the cache instead of paying again. Answers the
/// cache would not keep (refusals, invalid JSON) are not stored; a cache entry that cannot be
/// written is a warning, not a failure.
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_into_cache(
    dir: &BatchDir,
    catalog: &Catalog,
    prices: Option<&PriceTable>,
    options: &EvaluateOptions,
    client: &Client,
) -> Result<EvaluationReport> {
    evaluate_groups(dir, catalog, prices, options, Some(client))
}

fn evaluate_groups(
    dir: &BatchDir,
    catalog: &Catalog,
    prices: Option<&PriceTable>,
    options: &EvaluateOptions,
    cache: Option<&Client>,
) -> Result<EvaluationReport> {
    let groups: Vec<&GroupEntry> = dir.groups().collect();
    for key in &options.keys {
        if !groups.iter().any(|g| g.key() == key) {
            return Err(Error::Selection(format!(
                "no group `{key}` in {} (groups: {})",
                dir.path.display(),
                groups
                    .iter()
                    .map(|g| g.key())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut evaluations = Vec::new();
    for group in groups
        .into_iter()
        .filter(|g| options.keys.is_empty() || options.keys.iter().any(|k| k == g.key()))
    {
        evaluations.push(evaluate_group(dir, catalog, prices, options, group, cache)?);
    }
    let summary = summarise(&evaluations);
    let report = EvaluationReport {
        timestamp: now_iso(),
        batch_dir: dir.path.display().to_string(),
        evaluations,
        summary,
    };
    write_json(&dir.join(EVALUATION_REPORT), &report)?;
    Ok(report)
}

fn summarise(evaluations: &[GroupEvaluation]) -> EvaluationSummary {
    let total_correct = evaluations.iter().map(|e| e.correct).sum();
    let total_records: usize = evaluations.iter().map(|e| e.total).sum();
    let mut grade_distribution = BTreeMap::new();
    for e in evaluations {
        if let Some(g) = &e.grade {
            *grade_distribution.entry(g.clone()).or_default() += 1;
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "percentages")]
    let overall_accuracy =
        (total_records > 0).then(|| total_correct as f64 / total_records as f64 * 100.0);
    EvaluationSummary {
        modules_evaluated: evaluations.len(),
        total_correct,
        total_records,
        total_requests: evaluations.iter().map(|e| e.requests).sum(),
        total_errors: evaluations.iter().map(|e| e.errors_count).sum(),
        overall_accuracy,
        grade_distribution,
        low_performers: evaluations
            .iter()
            .filter(|e| e.accuracy.is_some_and(|a| a < 70.0))
            .map(|e| e.key.clone())
            .collect(),
        cost_usd: evaluations.iter().map(|e| e.cost_usd).sum(),
    }
}

/// The dataset of a group: the manifest's, else the module's (or, for an earlier synthetic
/// folder, the synthetic set its key names).
fn dataset_of(catalog: &Catalog, module: &ModuleSpec, group: &GroupEntry) -> Result<PathBuf> {
    if let Some(dataset) = &group.dataset {
        return Ok(catalog.root().join(dataset));
    }
    let key = group.key();
    if key == module.id.as_str() {
        return Ok(catalog.dataset_path(module));
    }
    let folder = catalog.root().join("datasets").join("synthetic");
    let prefix = format!("{key}_");
    let found = std::fs::read_dir(&folder)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".jsonl"))
        });
    found.ok_or_else(|| {
        Error::Selection(format!(
            "{key}: cannot tell which dataset it was made from (expected {}/{prefix}*.jsonl)",
            folder.display()
        ))
    })
}

fn file_sha256(path: &std::path::Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The short failure name a live run gives an HTTP status.
fn status_kind(status: u16, body: &ApiErrorBody) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        422 => "unprocessable",
        429 if body.is_quota() => "quota",
        429 => "rate_limited",
        408 | 409 | 500..=599 => "server_error",
        _ => "http_error",
    }
}

/// A value at a dotted path inside an object.
fn at_path<'a>(root: &'a Value, path: &str) -> &'a Value {
    let path = path
        .strip_prefix("expected.")
        .or_else(|| path.strip_prefix("output."))
        .unwrap_or(path);
    path.split('.')
        .fold(root, |v, key| v.get(key).unwrap_or(&Value::Null))
}

#[expect(
    clippy::too_many_lines,
    reason = "one pass over the records, step by step"
)]
fn evaluate_group(
    dir: &BatchDir,
    catalog: &Catalog,
    prices: Option<&PriceTable>,
    options: &EvaluateOptions,
    group: &GroupEntry,
    cache: Option<&Client>,
) -> Result<GroupEvaluation> {
    let key = group.key();
    let module = catalog.resolve(&group.module)?;
    let requested = read_requested(dir, group)?;
    let Some(mut outcomes) = Outcomes::read(dir, key, &requested.ids)? else {
        return Err(Error::NotReady(format!(
            "{key}: no results in {} (expected {key}_results.jsonl or {key}_results.errors.jsonl; run `batch download {}` first)",
            dir.join(crate::layout::RESULTS_DIR).display(),
            dir.path.display()
        )));
    };
    let model = group
        .model
        .clone()
        .or_else(|| requested.model.clone())
        .unwrap_or_else(|| catalog.defaults().model.clone());
    let dataset = dataset_of(catalog, module, group)?;
    let mut warnings = dataset_change_warning(group, &dataset)?
        .into_iter()
        .collect::<Vec<_>>();
    let mut scoring = Scoring::new(catalog, module, prices, options, group, &model, &dataset)?;
    warnings.extend(scoring.adopt_sent_prompt_hash(group));
    let mut totals = GroupTotals::new(cache);

    let mut writer = ResultsWriter::create(&scoring.plan.csv, module)?;
    let mut tally = Tally::new(module);
    let mut records = Vec::new();
    let mut matched = vec![false; requested.ids.len()];
    let primary = module.primary_score();
    for (index, record) in RecordReader::open(&dataset)?.enumerate() {
        let record = record?;
        let id = custom_id(key, group.custom_ids, &record.id, index as u64);
        let Some(&position) = requested.ids.get(&id) else {
            continue;
        };
        matched[position] = true;
        records.push((record.id.clone(), record.line));
        let record_id = record.id.clone();
        let keyword = record.input_text("keyword");
        let expected = at_path(&Value::Object(record.expected.clone()), &primary.expected).clone();
        let (scored, answered) = match outcomes.index.get(&id).copied() {
            None => {
                totals.missing += 1;
                (scoring.missing_row(record, &id), false)
            }
            Some(at) => {
                let line: BatchOutputLine = outcomes.line(at)?;
                scoring.outcome_row(record, &id, &line, &mut totals)
            }
        };
        totals.note_row(
            &scored,
            answered,
            Listed {
                custom_id: id,
                record_id,
                keyword,
                expected,
            },
            &primary.output,
        );
        let plan = &scoring.plan;
        runner::add_to_tally(&mut tally, plan, &scored.row, scored.error_kind.as_deref());
        writer
            .write(&scored.row)
            .map_err(|e| Error::io(&plan.csv, e))?;
    }
    let mut plan = scoring.plan;
    totals
        .errors
        .extend(not_in_dataset(&requested, &matched, &dataset));
    writer.finish().map_err(|e| Error::io(&plan.csv, e))?;
    plan.records = records;
    let metrics = tally.metrics();
    let local_id = runner::register_as(&plan, &metrics, registry::Tier::Batch)?;

    warnings.extend(totals.cache_warning());
    warnings.extend(conflict_warnings(&outcomes.conflicts));
    let accuracy = metrics.accuracy.map(|a| a * 100.0);
    let unexpected_total = outcomes.unexpected.len();
    outcomes.unexpected.truncate(20);
    Ok(GroupEvaluation {
        module: module.id.to_string(),
        key: key.to_owned(),
        name: module.name.clone(),
        requests: requested.ids.len(),
        correct: metrics.correct,
        total: metrics.scored,
        accuracy,
        grade: accuracy.map(|a| grade(a).to_owned()),
        errors_count: totals.errors.len(),
        missing: totals.missing,
        failed: totals.failed,
        unusable: totals.unusable,
        errors: totals.errors,
        mismatches: totals.mismatches,
        mismatches_total: totals.mismatches_total,
        conflicts: std::mem::take(&mut outcomes.conflicts),
        cached_answers: totals.cached_answers,
        unexpected: std::mem::take(&mut outcomes.unexpected),
        unexpected_total,
        prompt_tokens: totals.prompt_tokens,
        completion_tokens: totals.completion_tokens,
        cost_usd: totals.cost,
        results_csv: plan.display(&plan.csv),
        local_id,
        model,
        metrics,
        warnings,
    })
}

/// A warning when the dataset changed since the requests were generated; an error when its
/// custom ids are record positions, which then no longer name the same records.
fn dataset_change_warning(group: &GroupEntry, dataset: &std::path::Path) -> Result<Option<String>> {
    let Some(then) = &group.dataset_sha256 else {
        return Ok(None);
    };
    if file_sha256(dataset)? == *then {
        return Ok(None);
    }
    if group.custom_ids == IdScheme::Index {
        return Err(Error::Selection(format!(
            "{}: {} changed since the requests were generated, and its custom ids are record positions: answers can no longer be matched to records safely",
            group.key(),
            dataset.display()
        )));
    }
    Ok(Some(format!(
        "{} changed since the requests were generated; answers are matched by record id and scored against the current expected labels",
        dataset.display()
    )))
}

/// What scoring a group's answers needs: the live run's plan, the answer format and its
/// checker, prices, and the cache to store answers in.
struct Scoring<'a> {
    plan: Plan,
    format: ResponseFormat,
    check: Option<SchemaCheck>,
    prices: Option<&'a PriceTable>,
    model: &'a str,
}

impl<'a> Scoring<'a> {
    fn new(
        catalog: &Catalog,
        module: &ModuleSpec,
        prices: Option<&'a PriceTable>,
        options: &EvaluateOptions,
        group: &GroupEntry,
        model: &'a str,
        dataset: &std::path::Path,
    ) -> Result<Self> {
        let settings = RunSettings {
            prompt_version: group
                .prompt_version
                .clone()
                .unwrap_or_else(|| catalog.defaults().prompt_version.clone()),
            model: model.to_owned(),
            samples: None,
            seed: group.seed.unwrap_or(runner::DEFAULT_SEED),
            dataset: Some(dataset.to_path_buf()),
            token_param: options.token_param,
            started: options.started,
        };
        let plan: Plan = runner::plan(catalog, module, settings, false, prices)?;
        let format = match module.settings.response_format {
            ResponseFormatKind::JsonSchema => ResponseFormat::JsonSchema(plan.schema.clone()),
            ResponseFormatKind::JsonObject => ResponseFormat::JsonObject,
        };
        // The live client checks answers against the schema only in Structured Outputs mode; in
        // JSON mode the scorer does it.
        let check = match &format {
            ResponseFormat::JsonSchema(schema) => Some(SchemaCheck::new(&schema.schema).map_err(
                |message| Error::Manifest {
                    path: catalog.schema_path(module),
                    message: format!("the schema does not compile: {message}"),
                },
            )?),
            _ => None,
        };
        Ok(Scoring {
            plan,
            format,
            check,
            prices,
            model,
        })
    }

    /// The run is registered with the prompt hash that was sent; a warning when the prompt
    /// changed since.
    fn adopt_sent_prompt_hash(&mut self, group: &GroupEntry) -> Option<String> {
        let sent = group.prompt_hash.as_ref()?;
        if *sent == self.plan.prompt_hash {
            return None;
        }
        let warning = format!(
            "the prompt {} changed since the requests were generated (hash {sent}, now {}); the run is registered with the hash that was sent",
            self.plan.display(&self.plan.prompt),
            self.plan.prompt_hash
        );
        self.plan.prompt_hash.clone_from(sent);
        Some(warning)
    }

    /// The row of a request that has no line in the downloaded results.
    fn missing_row(&self, record: Record, id: &str) -> ScoredRow {
        runner::error_row(
            &self.plan,
            record,
            "missing",
            "no answer in the downloaded results (run `batch download` again once every batch is finished, or `batch resubmit` to send it again)",
            json!({"tier": "batch", "custom_id": id}),
        )
    }

    /// The row of a request from its result line, and whether the line held an answer.
    fn outcome_row(
        &self,
        record: Record,
        id: &str,
        line: &BatchOutputLine,
        totals: &mut GroupTotals,
    ) -> (ScoredRow, bool) {
        let metrics = json!({"tier": "batch", "custom_id": id, "batch_request_id": line.id});
        match (line.success_body(), &line.response, &line.error) {
            (Some(body), response, _) => {
                let request_id = response.as_ref().and_then(|r| r.request_id.clone());
                (
                    self.answer_row(record, body, request_id, metrics, totals),
                    true,
                )
            }
            (None, Some(response), _) if !(200..300).contains(&response.status_code) => {
                totals.failed += 1;
                let body =
                    ApiErrorBody::parse(&serde_json::to_vec(&response.body).unwrap_or_default());
                let kind = status_kind(response.status_code, &body);
                let code = body.code.as_deref().or(body.kind.as_deref());
                let message = match code {
                    Some(code) => {
                        format!("HTTP {} {code}: {}", response.status_code, body.message)
                    }
                    None => format!("HTTP {}: {}", response.status_code, body.message),
                };
                (
                    runner::error_row(&self.plan, record, kind, &message, metrics),
                    false,
                )
            }
            (None, _, Some(error)) => {
                totals.failed += 1;
                let kind = error
                    .code
                    .clone()
                    .unwrap_or_else(|| "batch_error".to_owned());
                (
                    runner::error_row(&self.plan, record, &kind, &error.message, metrics),
                    false,
                )
            }
            (None, _, None) => {
                totals.failed += 1;
                let row = runner::error_row(
                    &self.plan,
                    record,
                    "batch_error",
                    "the result line has neither an answer nor an error",
                    metrics,
                );
                (row, false)
            }
        }
    }

    /// Scores a successful response body: stores it in the cache, counts its tokens and cost,
    /// and records them in the row's metrics.
    fn answer_row(
        &self,
        record: Record,
        body: &Value,
        request_id: Option<String>,
        mut metrics: Value,
        totals: &mut GroupTotals,
    ) -> ScoredRow {
        let parsed = match parse_completion(body) {
            Ok(parsed) => parsed,
            Err(message) => {
                return runner::error_row(
                    &self.plan,
                    record,
                    "unreadable_response",
                    &message,
                    metrics,
                );
            }
        };
        if let Some(client) = totals.cache {
            // The very request a live run sends for this record, so the key matches; the
            // dataset was read the same way.
            let stored = self
                .plan
                .request(&record.input)
                .map_err(|e| e.to_string())
                .and_then(|request| {
                    client
                        .cache_answer(&request, 0, body.clone())
                        .map_err(|e| e.to_string())
                });
            match stored {
                Ok(true) => totals.cached_answers += 1,
                Ok(false) => {}
                Err(message) => totals.cache_failures.push(message),
            }
        }
        let usage = parsed.usage;
        let row_cost = self.prices.zip(usage.as_ref()).and_then(|(p, u)| {
            p.cost(&parsed.model, u, Tier::Batch)
                .or_else(|| p.cost(self.model, u, Tier::Batch))
        });
        if let Some(u) = &usage {
            totals.prompt_tokens += u.prompt_tokens;
            totals.completion_tokens += u.completion_tokens;
        }
        totals.cost = match (totals.cost, row_cost, usage) {
            (Some(total), Some(c), _) => Some(total + c),
            (total, None, None) => total,
            _ => None,
        };
        if let Some(object) = metrics.as_object_mut() {
            for (k, v) in [
                ("request_id", json!(request_id)),
                ("prompt_tokens", json!(usage.map(|u| u.prompt_tokens))),
                (
                    "cached_prompt_tokens",
                    json!(usage.map(|u| u.cached_prompt_tokens)),
                ),
                (
                    "completion_tokens",
                    json!(usage.map(|u| u.completion_tokens)),
                ),
                ("total_tokens", json!(usage.map(|u| u.total_tokens))),
                ("estimated_cost", json!(row_cost)),
                ("finish_reason", json!(parsed.finish_reason.as_str())),
                ("model", json!(parsed.model)),
            ] {
                object.insert(k.to_owned(), v);
            }
        }
        let outcome = classify(&parsed, &self.format, self.check.as_ref());
        runner::score_answer(
            &self.plan,
            record,
            &outcome,
            parsed.content.as_deref(),
            metrics,
        )
    }
}

/// What the report lists about a record when its row is an error or a wrong answer.
struct Listed {
    custom_id: String,
    record_id: String,
    keyword: String,
    expected: Value,
}

/// Counts and lists over a group's rows.
struct GroupTotals<'a> {
    cache: Option<&'a Client>,
    errors: Vec<Unanswered>,
    mismatches: Vec<Mismatch>,
    mismatches_total: usize,
    missing: usize,
    failed: usize,
    unusable: usize,
    prompt_tokens: u64,
    completion_tokens: u64,
    /// `None` once an answer's cost is unknown.
    cost: Option<f64>,
    cached_answers: usize,
    cache_failures: Vec<String>,
}

impl<'a> GroupTotals<'a> {
    fn new(cache: Option<&'a Client>) -> Self {
        GroupTotals {
            cache,
            errors: Vec::new(),
            mismatches: Vec::new(),
            mismatches_total: 0,
            missing: 0,
            failed: 0,
            unusable: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost: Some(0.0),
            cached_answers: 0,
            cache_failures: Vec::new(),
        }
    }

    /// Lists a row that is an error or a wrong answer; an answered row that is an error was
    /// unusable.
    fn note_row(&mut self, scored: &ScoredRow, answered: bool, listed: Listed, output: &str) {
        if let Some(kind) = &scored.error_kind {
            if answered {
                self.unusable += 1;
            }
            let message = &scored.row.error;
            self.errors.push(Unanswered {
                custom_id: listed.custom_id,
                record_id: listed.record_id,
                kind: kind.clone(),
                message: message
                    .split_once(": ")
                    .map_or(message.clone(), |(_, m)| m.to_owned()),
            });
        } else if scored.row.correct == Some(false) {
            self.mismatches_total += 1;
            if self.mismatches.len() < MISMATCHES_LISTED {
                self.mismatches.push(Mismatch {
                    custom_id: listed.custom_id,
                    record_id: listed.record_id,
                    keyword: listed.keyword,
                    expected: listed.expected,
                    output: at_path(&scored.row.output, output).clone(),
                });
            }
        }
    }

    fn cache_warning(&self) -> Option<String> {
        let first = self.cache_failures.first()?;
        Some(format!(
            "{} answer{} could not be stored in the response cache (first: {first})",
            self.cache_failures.len(),
            if self.cache_failures.len() == 1 {
                ""
            } else {
                "s"
            }
        ))
    }
}

/// Requests whose record is no longer in the dataset cannot become rows; they are listed, in
/// the order they were generated.
fn not_in_dataset(
    requested: &Requested,
    matched: &[bool],
    dataset: &std::path::Path,
) -> Vec<Unanswered> {
    let mut by_position: Vec<(&String, &usize)> = requested.ids.iter().collect();
    by_position.sort_by_key(|(_, p)| **p);
    by_position
        .into_iter()
        .filter(|(_, position)| !matched[**position])
        .map(|(id, _)| Unanswered {
            custom_id: id.clone(),
            record_id: String::new(),
            kind: "not_in_dataset".to_owned(),
            message: format!(
                "no record of {} has this custom id any more",
                dataset.display()
            ),
        })
        .collect()
}

/// The first five conflicting answers, then how many more there are.
fn conflict_warnings(conflicts: &[Conflict]) -> Vec<String> {
    let mut warnings: Vec<String> = conflicts
        .iter()
        .take(5)
        .map(|conflict| {
            format!(
                "`{}` was answered twice with different answers: {} was scored, {} ignored",
                conflict.custom_id, conflict.kept, conflict.ignored
            )
        })
        .collect();
    if conflicts.len() > 5 {
        warnings.push(format!(
            "… and {} more requests answered twice differently (all are listed in evaluation_report.json)",
            conflicts.len() - 5
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_the_earlier_tool() {
        assert_eq!(grade(95.0), "A");
        assert_eq!(grade(90.0), "A");
        assert_eq!(grade(89.99), "B");
        assert_eq!(grade(70.0), "C");
        assert_eq!(grade(60.0), "D");
        assert_eq!(grade(59.9), "F");
    }

    #[test]
    fn statuses_get_the_live_runs_names() {
        let plain = ApiErrorBody::default();
        assert_eq!(status_kind(400, &plain), "bad_request");
        assert_eq!(status_kind(500, &plain), "server_error");
        assert_eq!(status_kind(429, &plain), "rate_limited");
        let quota = ApiErrorBody {
            code: Some("insufficient_quota".to_owned()),
            ..ApiErrorBody::default()
        };
        assert_eq!(status_kind(429, &quota), "quota");
        assert_eq!(status_kind(418, &plain), "http_error");
    }

    #[test]
    fn paths_reach_into_nested_values() {
        let v = json!({"a": {"b": 1}, "c": null});
        assert_eq!(at_path(&v, "a.b"), &json!(1));
        assert_eq!(at_path(&v, "output.a.b"), &json!(1));
        assert_eq!(at_path(&v, "c"), &Value::Null);
        assert_eq!(at_path(&v, "zz"), &Value::Null);
    }
}
