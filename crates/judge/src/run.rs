//! A judge run: plan (the run to judge, its rows, the rubric, the file names), call the judge
//! for every row and sample through the shared model client (its cache, pacing and retries),
//! journal every answer so an interrupted run resumes without asking again, then write
//! `experiment_results/{FOLDER}/{MODULE}_judge_{timestamp}.csv` and register it as a judge run
//! of the judged run.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Local};
use core_config::{AtomicFile, Catalog, ModuleSpec, ProjectPaths, ResultRow, TokenParam};
use futures::StreamExt;
use llm_client::{CacheMode, CallOptions, ChatRequest, Client, Message, Outcome, ResponseFormat};
use registry::RegistryFile;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::prompt::{self, Given};
use crate::rubric::{self, LoadedRubric};
use crate::summary::{Aggregate, Summary, Verdict, aggregate, summarise};

/// Registry field naming the run a judge run judged.
pub const JUDGE_OF: &str = "judge_of";

/// What the caller decides about a judge run.
#[derive(Debug, Clone)]
pub struct JudgeOptions {
    /// The run to judge: registry id, results CSV, or module id (its newest run).
    pub run: String,
    /// Rubric file; `prompts/judges/{module}_v1.yaml` when `None`.
    pub rubric: Option<PathBuf>,
    /// Judge model.
    pub model: String,
    /// Samples per row (1 or more).
    pub samples: u32,
    /// How samples become one verdict.
    pub aggregate: Aggregate,
    /// Judge at most this many rows (in run order).
    pub max_rows: Option<usize>,
    /// Judge only the run's wrong rows, with an error cause each.
    pub errors_only: bool,
    /// Finish the newest unfinished judge run of the module instead of starting one.
    pub resume: bool,
    /// How the token cap is sent.
    pub token_param: TokenParam,
    /// When the run starts (names the files).
    pub started: DateTime<Local>,
    /// Directory relative paths on the command line are relative to.
    pub base: PathBuf,
}

/// The first line of a judge journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    judge_journal: u32,
    judged_run: String,
    judged_id: Option<String>,
    judged_csv: String,
    rubric: String,
    rubric_hash: String,
    model: String,
    samples: u32,
    aggregate: Aggregate,
    errors_only: bool,
    csv: String,
    started_at: String,
    record_ids: Vec<String>,
}

/// One journaled judge answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    record_id: String,
    sample: u32,
    verdicts: Vec<Given>,
    error_cause: Option<String>,
}

impl<'de> Deserialize<'de> for Aggregate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "majority" => Ok(Self::Majority),
            _ => Ok(Self::Median),
        }
    }
}

/// Everything a judge run needs, checked before the first call.
#[derive(Debug, Clone)]
pub struct JudgePlan {
    /// The module judged.
    pub module: ModuleSpec,
    /// The project's folders.
    pub paths: ProjectPaths,
    /// The judged run's name (registry id, else its CSV's stem).
    pub judged: String,
    /// The judged run's registry id, when registered.
    pub judged_id: Option<String>,
    /// The judged run's results CSV.
    pub judged_csv: PathBuf,
    /// The rubric.
    pub rubric: LoadedRubric,
    /// The request schema, shared by every call.
    pub schema: Arc<core_config::ResponseSchema>,
    /// Judge model.
    pub model: String,
    /// Samples per row.
    pub samples: u32,
    /// How samples become one verdict.
    pub aggregate: Aggregate,
    /// Errors-only mode.
    pub errors_only: bool,
    /// How the token cap is sent.
    pub token_param: TokenParam,
    /// The rows judged, in order.
    pub rows: Vec<ResultRow>,
    /// Rows of the run left out (no answer to judge, or right when judging errors).
    pub skipped: usize,
    /// The judge CSV.
    pub csv: PathBuf,
    /// The journal.
    pub journal: PathBuf,
    /// Answers an earlier attempt journaled, by (record id, sample).
    resumed: HashMap<(String, u32), Line>,
    /// When the run started.
    pub started: DateTime<Local>,
}

impl JudgePlan {
    /// Calls the run makes in all (rows × samples).
    #[must_use]
    pub fn calls(&self) -> usize {
        self.rows.len() * self.samples as usize
    }

    /// Calls an earlier attempt finished.
    #[must_use]
    pub fn resumed_calls(&self) -> usize {
        self.resumed.len()
    }

    /// The request for one row and sample.
    #[must_use]
    pub fn request(&self, row: &ResultRow, sample: u32) -> ChatRequest {
        let expected = row
            .expected
            .as_object()
            .is_some_and(|o| !o.is_empty())
            .then_some(&row.expected);
        let text = prompt::render(
            &self.module,
            &self.rubric.rubric,
            &row.input,
            expected,
            &row.output,
            self.errors_only,
        );
        let mut request = ChatRequest::new(
            self.model.clone(),
            vec![Message::system(prompt::system()), Message::user(text)],
        )
        .temperature(if self.samples > 1 { 1.0 } else { 0.0 })
        .max_tokens(300 + 150 * self.rubric.rubric.criteria.len() as u32)
        .token_param(self.token_param)
        .response_format(ResponseFormat::JsonSchema(Arc::clone(&self.schema)));
        if self.samples > 1 {
            request = request.seed(i64::from(sample));
        }
        request
    }
}

/// The stem of a judge run's files: `M01_judge_20260116_123456`, with `_2`, … when taken.
fn free_stem(folder: &Path, module: &ModuleSpec, started: &DateTime<Local>) -> String {
    let base = format!(
        "{}_judge_{}",
        module.id.upper(),
        runner::plan::stamp(started)
    );
    (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            }
        })
        .find(|stem| {
            !folder.join(format!("{stem}.csv")).exists()
                && !folder.join(format!("{stem}.journal.jsonl")).exists()
        })
        .unwrap_or(base)
}

/// Plans a judge run (or the resumption of the newest unfinished one).
///
/// # Errors
/// An unknown run, a missing or broken rubric (naming file, line and field), a run with
/// nothing to judge, or a journal that does not match what is asked now.
pub fn plan(catalog: &Catalog, options: &JudgeOptions) -> Result<JudgePlan> {
    let root = catalog.root().to_path_buf();
    let paths = ProjectPaths::new(&root);
    let file = RegistryFile::in_project(&root);
    let run = analysis::resolve_run(catalog, &file, &options.base, &options.run)?;
    let module = catalog.resolve(&run.module)?.clone();
    let rubric_file = match &options.rubric {
        Some(path) if path.is_absolute() => path.clone(),
        Some(path) => options.base.join(path),
        None => rubric::rubric_path(&root, &module, rubric::DEFAULT_VERSION),
    };
    if !rubric_file.is_file() {
        return Err(Error::NoRubric {
            module: module.id.to_string(),
            path: rubric_file,
        });
    }
    let rubric = rubric::load(&rubric_file)?;
    if rubric.rubric.module != module.id.to_string() {
        return Err(Error::Rubric {
            path: rubric_file,
            line: None,
            message: format!(
                "module: the rubric is {}'s, the run is {}'s",
                rubric.rubric.module, module.id
            ),
        });
    }
    let all = core_config::read_results(&run.csv)?;
    let total = all.len();
    let mut rows: Vec<ResultRow> = all
        .into_iter()
        .filter(|r| r.error.is_empty() && r.output.is_object())
        .filter(|r| !options.errors_only || r.correct == Some(false))
        .collect();
    if let Some(max) = options.max_rows {
        rows.truncate(max);
    }
    let judged = run.name.clone();
    if rows.is_empty() {
        return Err(Error::NothingToJudge {
            run: judged,
            why: if options.errors_only {
                "no wrong rows with an answer".to_owned()
            } else {
                "no rows with an answer".to_owned()
            },
        });
    }
    let folder = paths.experiment_results().join(module.folder_name());
    let schema = Arc::new(prompt::schema(&module, &rubric.rubric, options.errors_only));
    let mut plan = JudgePlan {
        judged_id: run.id.clone(),
        judged,
        judged_csv: run.csv,
        schema,
        model: options.model.clone(),
        samples: options.samples.max(1),
        aggregate: options.aggregate,
        errors_only: options.errors_only,
        token_param: options.token_param,
        skipped: 0,
        csv: PathBuf::new(),
        journal: PathBuf::new(),
        resumed: HashMap::new(),
        started: options.started,
        rubric,
        rows,
        module,
        paths,
    };
    plan.skipped = total - plan.rows.len();
    if options.resume {
        resume(&mut plan, &folder)?;
    } else {
        let stem = free_stem(&folder, &plan.module, &options.started);
        plan.csv = folder.join(format!("{stem}.csv"));
        plan.journal = folder.join(format!("{stem}.journal.jsonl"));
    }
    Ok(plan)
}

/// Points the plan at the newest unfinished judge run of its module and loads its answers,
/// once the run, rubric, model and samples are checked to be the same.
fn resume(plan: &mut JudgePlan, folder: &Path) -> Result<()> {
    let prefix = format!("{}_judge_", plan.module.id.upper());
    let mut journals: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| Error::io(folder, e))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".journal.jsonl"))
        })
        .collect();
    journals.sort();
    let journal = journals.pop().ok_or_else(|| Error::Resume {
        path: folder.to_owned(),
        message: format!("no unfinished judge run of {}", plan.module.id),
    })?;
    let reader = BufReader::new(std::fs::File::open(&journal).map_err(|e| Error::io(&journal, e))?);
    let mut lines = reader.lines();
    let header: Header = lines
        .next()
        .and_then(std::result::Result::ok)
        .and_then(|l| serde_json::from_str(&l).ok())
        .ok_or_else(|| Error::Resume {
            path: journal.clone(),
            message: "the journal has no header".to_owned(),
        })?;
    let now = header_of(plan, &header.record_ids);
    for (what, then, now) in [
        ("judged run", &header.judged_csv, &now.judged_csv),
        ("rubric", &header.rubric_hash, &now.rubric_hash),
        ("model", &header.model, &now.model),
        (
            "samples",
            &header.samples.to_string(),
            &now.samples.to_string(),
        ),
        (
            "errors-only",
            &header.errors_only.to_string(),
            &now.errors_only.to_string(),
        ),
    ] {
        if then != now {
            return Err(Error::Resume {
                path: journal,
                message: format!("the {what} was {then}, now it is {now}"),
            });
        }
    }
    let by_id: HashMap<&str, &ResultRow> = plan
        .rows
        .iter()
        .map(|r| (r.record_id.as_str(), r))
        .collect();
    let mut rows = Vec::with_capacity(header.record_ids.len());
    for id in &header.record_ids {
        let row = by_id.get(id.as_str()).ok_or_else(|| Error::Resume {
            path: journal.clone(),
            message: format!("record `{id}` is no longer a row to judge in the run"),
        })?;
        rows.push((*row).clone());
    }
    plan.rows = rows;
    // A line cut short by a kill is the last one; it is asked again.
    for line in lines.map_while(std::result::Result::ok) {
        if let Ok(line) = serde_json::from_str::<Line>(&line) {
            plan.resumed
                .insert((line.record_id.clone(), line.sample), line);
        }
    }
    plan.csv = plan.paths.root.join(&header.csv);
    plan.journal = journal;
    plan.started = DateTime::parse_from_rfc3339(&header.started_at)
        .map_or(plan.started, |t| t.with_timezone(&Local));
    Ok(())
}

fn header_of(plan: &JudgePlan, record_ids: &[String]) -> Header {
    Header {
        judge_journal: 1,
        judged_run: plan.judged.clone(),
        judged_id: plan.judged_id.clone(),
        judged_csv: plan.paths.display(&plan.judged_csv).into_owned(),
        rubric: plan.paths.display(&plan.rubric.path).into_owned(),
        rubric_hash: plan.rubric.hash.clone(),
        model: plan.model.clone(),
        samples: plan.samples,
        aggregate: plan.aggregate,
        errors_only: plan.errors_only,
        csv: plan.paths.display(&plan.csv).into_owned(),
        started_at: plan.started.to_rfc3339(),
        record_ids: record_ids.to_vec(),
    }
}

/// Receives judge progress. Defaults do nothing.
pub trait JudgeProgress: Send + Sync {
    /// The run starts: `total` calls, `already_done` of them from an earlier attempt.
    fn started(&self, total: usize, already_done: usize) {
        let _ = (total, already_done);
    }
    /// A call finished.
    fn call_done(&self, done: usize, total: usize) {
        let _ = (done, total);
    }
}

/// Progress that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl JudgeProgress for Quiet {}

/// What a finished judge run produced (the `--json` report).
#[derive(Debug, Clone, Serialize)]
pub struct JudgeReport {
    /// Registry id of the judge run.
    pub judge_run: String,
    /// The judge CSV, relative to the root.
    pub judge_file: String,
    /// The judged run.
    pub judged_run: String,
    /// Module id.
    pub module: String,
    /// Rubric file and hash.
    pub rubric: String,
    /// Rubric hash.
    pub rubric_hash: String,
    /// Judge model.
    pub model: String,
    /// Rows judged.
    pub rows: usize,
    /// Rows of the run left out.
    pub skipped_rows: usize,
    /// Samples per row and how they were aggregated.
    pub samples: u32,
    /// Aggregation.
    pub aggregate: Aggregate,
    /// Errors-only mode.
    pub errors_only: bool,
    /// Calls in the run, of which taken from an earlier attempt's journal.
    pub calls: usize,
    /// Calls resumed from the journal.
    pub resumed_calls: usize,
    /// Calls that failed (invalid answer, refusal, server gone); `--resume` asks them again.
    pub failed_calls: usize,
    /// HTTP requests sent in this invocation.
    pub http_requests: u64,
    /// Answers from the response cache in this invocation.
    pub cache_hits: u64,
    /// USD spent in this invocation.
    pub cost_usd: f64,
    /// The newest check of this judge (module, rubric hash, model) against people; `null`
    /// when it was never checked, so its verdicts are not validated.
    pub validation: Option<crate::validate::PriorValidation>,
    /// Per criterion pass rates, criteria failing together, error causes.
    #[serde(flatten)]
    pub summary: Summary,
}

/// Runs a judge plan: asks for every (row, sample) not journaled yet, then writes the CSV and
/// registers the judge run.
///
/// # Errors
/// [`Error::Fatal`] on key or quota failures and [`Error::Interrupted`] when `stop` resolves
/// (both keep the journal for `--resume`); I/O and registry failures.
pub async fn execute(
    plan: &JudgePlan,
    client: &Client,
    max_in_flight: usize,
    cache: CacheMode,
    progress: &dyn JudgeProgress,
    stop: impl Future<Output = ()>,
) -> Result<JudgeReport> {
    let before = client.totals();
    let total = plan.calls();
    let mut answers: HashMap<(String, u32), Line> = plan.resumed.clone();
    let mut journal = open_journal(plan)?;
    progress.started(total, answers.len());
    let todo: Vec<(usize, u32)> = (0..plan.rows.len())
        .flat_map(|i| (0..plan.samples).map(move |s| (i, s)))
        .filter(|(i, s)| !answers.contains_key(&(plan.rows[*i].record_id.clone(), *s)))
        .collect();
    let calls = futures::stream::iter(todo)
        .map(|(i, sample)| call(plan, client, cache, i, sample))
        .buffer_unordered(max_in_flight.max(1));
    tokio::pin!(calls);
    tokio::pin!(stop);
    let mut failed = 0;
    loop {
        let next = tokio::select! {
            biased;
            () = &mut stop => {
                journal.flush().map_err(|e| Error::io(&plan.journal, e))?;
                return Err(Error::Interrupted { done: answers.len(), total, journal: plan.journal.clone() });
            }
            next = calls.next() => next,
        };
        let Some(outcome) = next else { break };
        match outcome {
            Called::Answer(line) => {
                serde_json::to_writer(&mut journal, &line)
                    .map_err(|e| Error::io(&plan.journal, e.into()))?;
                journal
                    .write_all(b"\n")
                    .and_then(|()| journal.flush())
                    .map_err(|e| Error::io(&plan.journal, e))?;
                answers.insert((line.record_id.clone(), line.sample), line);
            }
            Called::Failed => failed += 1,
            Called::Fatal(source) => {
                journal.flush().map_err(|e| Error::io(&plan.journal, e))?;
                return Err(Error::Fatal {
                    done: answers.len(),
                    total,
                    journal: plan.journal.clone(),
                    source,
                });
            }
        }
        progress.call_done(answers.len() + failed, total);
    }
    drop(journal);
    let verdicts = verdicts(plan, &answers);
    write_csv(plan, &verdicts)?;
    let summary = summarise(&plan.rubric.rubric.criteria, &verdicts);
    let judge_run = register(plan, &summary)?;
    if failed == 0 {
        let _ = std::fs::remove_file(&plan.journal);
    }
    let after = client.totals();
    Ok(JudgeReport {
        judge_run,
        judge_file: plan.paths.display(&plan.csv).into_owned(),
        judged_run: plan.judged.clone(),
        module: plan.module.id.to_string(),
        rubric: plan.paths.display(&plan.rubric.path).into_owned(),
        rubric_hash: plan.rubric.hash.clone(),
        model: plan.model.clone(),
        rows: plan.rows.len(),
        skipped_rows: plan.skipped,
        samples: plan.samples,
        aggregate: plan.aggregate,
        errors_only: plan.errors_only,
        calls: total,
        resumed_calls: plan.resumed.len(),
        failed_calls: failed,
        http_requests: after.http_requests - before.http_requests,
        cache_hits: after.cache_hits - before.cache_hits,
        cost_usd: after.spent_usd - before.spent_usd,
        validation: crate::validate::prior_validation(
            &plan.paths.root,
            &plan.module.id.to_string(),
            &plan.rubric.hash,
            &plan.model,
        )?,
        summary,
    })
}

/// The journal: a new one with its header, or the resumed one opened for appending.
fn open_journal(plan: &JudgePlan) -> Result<std::io::BufWriter<std::fs::File>> {
    let io = |e| Error::io(&plan.journal, e);
    if let Some(parent) = plan.journal.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    if plan.journal.is_file() {
        // Drop a last line cut short by a kill, so appended lines start on a line of their own.
        let text = std::fs::read(&plan.journal).map_err(io)?;
        let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&plan.journal)
            .map_err(io)?;
        file.set_len(keep as u64).map_err(io)?;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&plan.journal)
            .map_err(io)?;
        file.flush().map_err(io)?;
        return Ok(std::io::BufWriter::new(file));
    }
    let ids: Vec<String> = plan.rows.iter().map(|r| r.record_id.clone()).collect();
    let mut writer = std::io::BufWriter::new(std::fs::File::create(&plan.journal).map_err(io)?);
    serde_json::to_writer(&mut writer, &header_of(plan, &ids)).map_err(|e| io(e.into()))?;
    writer.write_all(b"\n").map_err(io)?;
    writer.flush().map_err(io)?;
    Ok(writer)
}

enum Called {
    Answer(Line),
    Failed,
    Fatal(llm_client::Error),
}

async fn call(
    plan: &JudgePlan,
    client: &Client,
    cache: CacheMode,
    i: usize,
    sample: u32,
) -> Called {
    let row = &plan.rows[i];
    let request = plan.request(row, sample);
    let options = CallOptions {
        repeat: sample,
        cache,
        label: Some(row.record_id.clone()),
        invalid_retries: 1,
    };
    match client.chat(&request, &options).await {
        Err(e) if e.is_fatal() => Called::Fatal(e),
        Err(_) => Called::Failed,
        Ok(response) => match &response.outcome {
            Outcome::Json(value) => {
                match prompt::parse(&plan.rubric.rubric, value, plan.errors_only) {
                    Ok((verdicts, error_cause)) => Called::Answer(Line {
                        record_id: row.record_id.clone(),
                        sample,
                        verdicts,
                        error_cause,
                    }),
                    Err(_) => Called::Failed,
                }
            }
            _ => Called::Failed,
        },
    }
}

/// Final verdicts in row order, criteria in rubric order; rows without any answer are left out.
fn verdicts(plan: &JudgePlan, answers: &HashMap<(String, u32), Line>) -> Vec<Verdict> {
    let mut out = Vec::new();
    for row in &plan.rows {
        let lines: Vec<&Line> = (0..plan.samples)
            .filter_map(|s| answers.get(&(row.record_id.clone(), s)))
            .collect();
        if lines.is_empty() {
            continue;
        }
        for (k, criterion) in plan.rubric.rubric.criteria.iter().enumerate() {
            let samples: Vec<(&Given, Option<&str>)> = lines
                .iter()
                .filter_map(|l| l.verdicts.get(k).map(|g| (g, l.error_cause.as_deref())))
                .collect();
            out.push(aggregate(
                &row.record_id,
                criterion,
                &samples,
                plan.aggregate,
            ));
        }
    }
    out
}

/// The judge CSV's columns.
pub const COLUMNS: [&str; 8] = [
    "record_id",
    "criterion",
    "verdict",
    "score",
    "reasoning",
    "judge_model",
    "error_cause",
    "sample_verdicts",
];

/// Writes the judge CSV atomically, every text cell spreadsheet-safe.
fn write_csv(plan: &JudgePlan, verdicts: &[Verdict]) -> Result<()> {
    let io = |e| Error::io(&plan.csv, e);
    let file = AtomicFile::create(&plan.csv).map_err(io)?;
    let mut writer = csv::Writer::from_writer(file);
    let csv_err = |e: csv::Error| Error::io(&plan.csv, std::io::Error::other(e));
    writer.write_record(COLUMNS).map_err(csv_err)?;
    for v in verdicts {
        let samples: Vec<&str> = v
            .samples
            .iter()
            .map(|p| if *p { "pass" } else { "fail" })
            .collect();
        let safe = |s: &str| annotation::sheet::escape_cell(s).into_owned();
        writer
            .write_record([
                safe(&v.record_id),
                safe(&v.criterion),
                if v.pass { "pass" } else { "fail" }.to_owned(),
                format_score(v.score),
                safe(&v.reasoning),
                safe(&plan.model),
                safe(v.error_cause.as_deref().unwrap_or_default()),
                samples.join(" "),
            ])
            .map_err(csv_err)?;
    }
    let file = writer
        .into_inner()
        .map_err(|e| Error::io(&plan.csv, std::io::Error::other(e.to_string())))?;
    file.commit().map_err(io)?;
    Ok(())
}

/// Reads a judge CSV back as the final verdicts it holds, in file order (rows, then criteria
/// in rubric order, as [`execute`] writes them): text cells un-escaped, `sample_verdicts` split
/// into each sample's verdict. Columns are found by name.
///
/// # Errors
/// An unreadable file, a missing column, a verdict that is neither `pass` nor `fail`, or a
/// score that is not a number (naming the line).
pub fn read_verdicts(path: &Path) -> Result<Vec<Verdict>> {
    use annotation::sheet::unescape_cell;
    let csv_err = |e: csv::Error| Error::io(path, std::io::Error::other(e.to_string()));
    let sheet = |line: usize, message: String| Error::Sheet {
        path: path.to_owned(),
        line,
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_err)?;
    let headers = reader.headers().map_err(csv_err)?.clone();
    let mut at = [0; COLUMNS.len()];
    for (i, name) in COLUMNS.iter().enumerate() {
        at[i] = headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == *name)
            .ok_or_else(|| {
                sheet(
                    1,
                    format!(
                        "header: no `{name}` column (a judge CSV has {})",
                        COLUMNS.join(", ")
                    ),
                )
            })?;
    }
    let verdict = |text: &str, line: usize, column: &str| match text {
        "pass" => Ok(true),
        "fail" => Ok(false),
        other => Err(sheet(
            line,
            format!("{column}: `{other}` is neither pass nor fail"),
        )),
    };
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(csv_err)?;
        let line = i + 2;
        let cell = |n: usize| record.get(at[n]).unwrap_or_default();
        let text = |n: usize| unescape_cell(cell(n)).to_owned();
        let pass = verdict(cell(2), line, "verdict")?;
        let score: f64 = cell(3)
            .parse()
            .map_err(|_| sheet(line, format!("score: `{}` is not a number", cell(3))))?;
        let samples = cell(7)
            .split_whitespace()
            .map(|v| verdict(v, line, "sample_verdicts"))
            .collect::<Result<Vec<bool>>>()?;
        let cause = text(6);
        out.push(Verdict {
            record_id: text(0),
            criterion: text(1),
            pass,
            score,
            reasoning: text(4),
            samples,
            error_cause: (!cause.is_empty()).then_some(cause),
        });
    }
    Ok(out)
}

fn format_score(score: f64) -> String {
    if score.fract() == 0.0 {
        format!("{score:.0}")
    } else {
        format!("{score}")
    }
}

/// Registers the judge CSV, marked as a judge run of the judged run (`judge_of`), with the
/// rubric and the summary as its metrics. A resumed run updates its entry.
fn register(plan: &JudgePlan, summary: &Summary) -> Result<String> {
    let file = RegistryFile::in_project(&plan.paths.root);
    let judged = plan
        .judged_id
        .clone()
        .unwrap_or_else(|| plan.judged.clone());
    let metrics = serde_json::json!({
        "judge": {
            "rubric": plan.paths.display(&plan.rubric.path),
            "rubric_hash": plan.rubric.hash,
            "samples": plan.samples,
            "aggregate": plan.aggregate,
            "errors_only": plan.errors_only,
        },
        "criteria": summary.criteria,
        "failing_together": summary.failing_together,
    });
    let run = registry::NewRun {
        created_at: Some(plan.started.naive_local()),
        model: plan.model.clone(),
        prompt_version: format!("judge-{}", plan.rubric.rubric.version),
        prompt_hash: Some(plan.rubric.hash.clone()),
        samples: plan.rows.len() as u64,
        accuracy: None,
        metrics,
        notes: format!("judge run of {judged}"),
        ..registry::NewRun::new(plan.module.id.clone(), plan.csv.clone())
    };
    file.update(|registry| {
        let id = registry.add_run(run, &plan.paths.root).local_id.clone();
        if let Some(entry) = registry.get_mut(&id) {
            entry
                .extra
                .insert(JUDGE_OF.to_owned(), Value::String(judged.clone()));
        }
        Ok::<_, registry::Error>(id)
    })
    .map_err(Error::Registry)
}

/// The judge runs of a run in the registry (their ids), oldest first.
///
/// # Errors
/// When the registry cannot be read.
pub fn judge_runs_of(root: &Path, run_id: &str) -> Result<Vec<String>> {
    let file = RegistryFile::in_project(root);
    if !file.path().is_file() {
        return Ok(Vec::new());
    }
    let registry = file.load()?;
    let mut ids: Vec<String> = registry
        .entries()
        .filter(|e| e.extra.get(JUDGE_OF).and_then(Value::as_str) == Some(run_id))
        .map(|e| e.local_id.clone())
        .collect();
    ids.sort();
    Ok(ids)
}
