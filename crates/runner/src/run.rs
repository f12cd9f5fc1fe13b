//! Executing a planned run: call the model for every record not finished yet, score each answer,
//! journal it, then write the results CSV in run order and register the run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Instant;

use core_config::results::{ResultsWriter, reasoning_of};
use core_config::{Record, RecordReader, ResultRow};
use futures::FutureExt;
use llm_client::{CacheMode, CallOptions, ChatResponse, Client, Outcome, PreparedChat, Totals};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::journal::{Journal, JournalHeader, JournalWriter, is_transient};
use crate::metrics::{RunMetrics, Tally};
use crate::plan::Plan;
use crate::score::score_row;

/// How a run calls the model.
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions {
    /// Most calls in flight (the client's adaptive limit may hold fewer).
    pub max_in_flight: usize,
    /// Cache use.
    pub cache: CacheMode,
}

/// Progress so far, for progress bars.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// Rows finished (including those done before a resume).
    pub done: usize,
    /// Rows in the run.
    pub total: usize,
    /// Finished rows that were correct.
    pub correct: usize,
    /// Finished rows that errored.
    pub errors: usize,
    /// Tokens billed so far in this invocation (prompt + completion).
    pub tokens: u64,
    /// Money spent so far in this invocation, USD.
    pub cost_usd: f64,
}

/// Receives run progress. Defaults do nothing.
pub trait RunReporter: Send + Sync {
    /// The run starts; `already_done` rows come from the journal of an earlier attempt.
    fn started(&self, plan: &Plan, already_done: usize) {
        let _ = (plan, already_done);
    }
    /// A row finished.
    fn row_done(&self, progress: &Progress) {
        let _ = progress;
    }
    /// Every row is done; the results file is being written.
    fn finishing(&self) {}
}

/// A reporter that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl RunReporter for Quiet {}

/// What a finished run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Module id.
    pub module: String,
    /// Registry id.
    pub local_id: String,
    /// Results CSV, relative to the root.
    pub csv: String,
    /// Model called.
    pub model: String,
    /// Prompt version and hash.
    pub prompt_version: String,
    /// Prompt hash.
    pub prompt_hash: String,
    /// The dataset the run was measured on.
    pub dataset: registry::DatasetRef,
    /// Rows in the run.
    pub rows: usize,
    /// Rows taken from the journal of an earlier, interrupted attempt.
    pub resumed_rows: usize,
    /// Rows whose call failed for a transient reason (connection, timeout, 5xx, 429 after every
    /// retry). When there are any, the journal is kept and `--resume` asks for exactly these
    /// rows again. Left out of JSON when zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub retryable_rows: usize,
    /// Accuracy, errors, per-label figures.
    pub metrics: RunMetrics,
    /// Calls answered from the response cache in this invocation.
    pub cache_hits: u64,
    /// HTTP requests sent in this invocation (retries included).
    pub http_requests: u64,
    /// Prompt tokens billed in this invocation.
    pub prompt_tokens: u64,
    /// Of which served from the provider's prompt cache.
    pub cached_prompt_tokens: u64,
    /// Completion tokens billed in this invocation.
    pub completion_tokens: u64,
    /// USD spent in this invocation (priced answers only).
    pub cost_usd: f64,
    /// Whether every billed answer had a price (otherwise the real cost is higher).
    pub cost_complete: bool,
    /// Wall time of this invocation, seconds.
    pub seconds: f64,
}

#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde's signature")]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl RunReport {
    /// Whether every row was scored (exit code 0) or some errored (exit code 1).
    #[must_use]
    pub fn all_scored(&self) -> bool {
        self.metrics.errors.is_empty()
    }
}

/// A record's row of the results: scored, or carrying the reason it could not be.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRow {
    /// The results row (`correct` set when scored, `error` set when not).
    pub row: ResultRow,
    /// Short error kind (`invalid_json`, `server_error`, …) when the row could not be scored.
    pub error_kind: Option<String>,
}

/// The outcome of one record, before it is journaled.
struct Finished {
    index: usize,
    scored: ScoredRow,
    /// The record's input as JSON text, for the journal and the results CSV.
    input_json: Box<RawValue>,
    fatal: Option<llm_client::Error>,
}

/// Runs a plan to the end (or until `stop` resolves, or a fatal API error), then writes the
/// results CSV and registers the run.
///
/// Interrupted runs keep their finished rows in the journal; run the plan again with
/// `resume` to finish them.
///
/// # Errors
/// [`Error::Fatal`] on quota or key failures (the journal keeps what finished),
/// [`Error::Interrupted`] when `stop` resolved first, and I/O or registry failures.
pub async fn execute(
    plan: &Plan,
    client: &Client,
    options: ExecOptions,
    reporter: &dyn RunReporter,
    stop: impl Future<Output = ()>,
) -> Result<RunReport> {
    let started = Instant::now();
    let totals_before = client.totals();
    let module = &plan.module;
    let mut tally = Tally::new(module);
    let total = plan.records.len();

    // Rows an earlier attempt finished count now and are not asked again.
    let mut journal = open_journal(plan, &mut tally)?;
    // Rows that failed for a transient reason (the server was away) are asked again.
    let done = done_ids(plan);
    let resumed_rows = done.len();
    reporter.started(plan, resumed_rows);

    // Stops sending new calls when the run ends early; calls already sent finish on their own.
    let (_abort, mut finished_rows) = start_calls(plan, client, options, &done);
    tokio::pin!(stop);

    // A fresh run writes its results CSV as it goes, in run order, so nothing is left to do
    // at the end but the rename. Rows that finish early wait in a small reorder buffer; if an
    // early row is slow for long enough that the buffer grows past its cap (or the run is a
    // resumption), the CSV is written from the journal at the end instead.
    let mut in_order = in_order_writer(plan)?;
    let mut early_sync = EarlySync::default();
    let mut fatal = None;
    let mut interrupted = false;
    let mut retryable_rows = 0;
    loop {
        let finished = tokio::select! {
            biased;
            () = &mut stop => { interrupted = true; break; }
            next = finished_rows.recv() => match next {
                Some(Message::Finished(finished)) => *finished,
                // A panicking call is a bug; surface it rather than losing the row silently.
                Some(Message::Panicked(panic)) => std::panic::resume_unwind(panic),
                None => break,
            },
        };
        if let Some(error) = finished.fatal {
            fatal = Some(error);
            break;
        }
        let scored = finished.scored;
        if is_transient(scored.error_kind.as_deref()) {
            retryable_rows += 1;
        }
        journal.write_with_input(
            finished.index,
            &scored.row,
            scored.error_kind.as_deref(),
            &finished.input_json,
        )?;
        add_to_tally(&mut tally, plan, &scored.row, scored.error_kind.as_deref());
        stream_row(
            &mut in_order,
            plan,
            finished.index,
            (scored.row, finished.input_json),
        )?;
        early_sync.row_written(&journal, in_order.as_ref());
        reporter.row_done(&progress(&tally, total, &totals_before, &client.totals()));
    }
    if fatal.is_some() || interrupted {
        journal.sync()?;
        ended_early(plan, &tally, fatal, interrupted)?;
    }

    reporter.finishing();
    // The journal is flushed to disk while the results CSV is finished (its own flush, rename
    // and folder sync): the two waits on the disk overlap.
    let (synced, finished) = std::thread::scope(|scope| {
        let synced = scope.spawn(|| journal.sync());
        let finished = finish_results(plan, in_order, total);
        let synced = synced
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (synced, finished)
    });
    synced?;
    finished?;
    let metrics = tally.metrics();
    let entry = register(plan, &metrics)?;
    // The CSV and the registry entry exist: the journal has done its job, unless rows failed
    // for a transient reason; then it stays so `--resume` asks for exactly those rows again and
    // rewrites this CSV and this registry entry.
    if retryable_rows == 0 {
        let _ = std::fs::remove_file(&plan.journal);
        // Closing the last handle on the removed file frees its pages, milliseconds for the
        // journal of a big run: a thread of its own does it while the report is made and printed.
        // (Were it cut short by the process ending, the kernel closes the file then.)
        std::thread::spawn(move || drop(journal));
    }

    let after = client.totals();
    run_report(
        plan,
        entry,
        (resumed_rows, retryable_rows),
        metrics,
        &totals_before,
        &after,
        started,
    )
}

/// Rows written between two background flushes of the journal and the results CSV.
const EARLY_SYNC_ROWS: usize = 256;

/// Flushes the journal and the results CSV to disk in the background every
/// [`EARLY_SYNC_ROWS`] rows, so that the syncs at the end of the run, which the run waits for,
/// find little left to write. It adds nothing to crash safety (the final syncs stay) and a
/// failure here is left to them.
#[derive(Default)]
struct EarlySync {
    rows: usize,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl EarlySync {
    fn row_written(&mut self, journal: &JournalWriter, csv: Option<&InOrder>) {
        self.rows += 1;
        if self.rows < EARLY_SYNC_ROWS || self.running.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        self.rows = 0;
        let files: Vec<std::fs::File> = [
            journal.sync_handle().ok(),
            csv.and_then(|c| c.writer.sync_handle().ok()),
        ]
        .into_iter()
        .flatten()
        .collect();
        self.running = Some(tokio::task::spawn_blocking(move || {
            for file in files {
                let _ = file.sync_data();
            }
        }));
    }
}

/// Starts the task that sends the calls of the records not `done`; finished rows come back
/// on the receiver.
///
/// Calls run as tasks of their own, each holding a permit while it is in flight. A call that
/// ends frees its permit at once and the next record is sent at once, however busy the run loop
/// is journaling: refilling the slots from there, one per finished row, delayed the last
/// calls of every wave by the journaling of the rows ahead of them.
fn start_calls(
    plan: &Plan,
    client: &Client,
    options: ExecOptions,
    done: &HashMap<&str, ()>,
) -> (AbortOnDrop, tokio::sync::mpsc::UnboundedReceiver<Message>) {
    let (sender, finished_rows) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let producer = tokio::spawn(send_calls(
        Arc::new(plan.clone()),
        client.clone(),
        options,
        done.keys().map(|id| (*id).to_owned()).collect(),
        sender,
    ));
    (AbortOnDrop(producer), finished_rows)
}

/// The ids of the rows an earlier attempt finished, which are not asked again.
fn done_ids(plan: &Plan) -> HashMap<&str, ()> {
    plan.resume
        .as_ref()
        .map(|j| {
            j.done_rows()
                .map(|r| (r.row.record_id.as_str(), ()))
                .collect()
        })
        .unwrap_or_default()
}

/// Hands a finished row to the in-order CSV stream, if the run still has one.
fn stream_row(
    in_order: &mut Option<InOrder>,
    plan: &Plan,
    index: usize,
    row: (ResultRow, Box<RawValue>),
) -> Result<()> {
    if let Some(stream) = in_order.as_mut()
        && !stream
            .push(index, row)
            .map_err(|e| Error::io(&plan.csv, e))?
    {
        // Too many rows waiting behind a slow one: fall back to the journal.
        *in_order = None;
    }
    Ok(())
}

/// The error of a run that stopped before its end: a fatal API error or an interruption.
fn ended_early(
    plan: &Plan,
    tally: &Tally,
    fatal: Option<llm_client::Error>,
    interrupted: bool,
) -> Result<()> {
    let total = plan.records.len();
    if let Some(source) = fatal {
        return Err(Error::Fatal {
            done: tally.total(),
            total,
            journal: plan.journal.clone(),
            source,
        });
    }
    if interrupted {
        return Err(Error::Interrupted {
            done: tally.total(),
            total,
            journal: plan.journal.clone(),
        });
    }
    Ok(())
}

/// Opens the run's journal. A resumption counts the rows an earlier attempt finished (they
/// are not asked again) and appends; a fresh run starts a new journal.
fn open_journal(plan: &Plan, tally: &mut Tally) -> Result<JournalWriter> {
    let journal = match &plan.resume {
        Some(previous) => {
            for finished in previous.done_rows() {
                add_to_tally(tally, plan, &finished.row, finished.error_kind.as_deref());
            }
            // An attempt killed while writing the results left its temporary file behind.
            core_config::remove_leftovers(&plan.csv).map_err(|e| Error::io(&plan.csv, e))?;
            JournalWriter::append(&plan.journal)?
        }
        None => JournalWriter::create(&plan.journal, &header(plan))?,
    };
    Ok(journal)
}

/// The in-order results writer of a fresh run; a resumption writes its CSV from the journal.
fn in_order_writer(plan: &Plan) -> Result<Option<InOrder>> {
    if plan.resume.is_some() {
        return Ok(None);
    }
    Ok(Some(InOrder {
        writer: ResultsWriter::create(&plan.csv, &plan.module)?,
        next: 0,
        waiting: BTreeMap::new(),
    }))
}

/// Progress after a row: counts from the tally, tokens and cost since the run started.
fn progress(tally: &Tally, total: usize, before: &Totals, now: &Totals) -> Progress {
    Progress {
        done: tally.total(),
        total,
        correct: tally.correct(),
        errors: tally.error_count(),
        tokens: (now.prompt_tokens + now.completion_tokens)
            .saturating_sub(before.prompt_tokens + before.completion_tokens),
        cost_usd: now.spent_usd - before.spent_usd,
    }
}

/// Finishes the results CSV: from the in-order stream when it holds every row, else from
/// the journal.
fn finish_results(plan: &Plan, in_order: Option<InOrder>, total: usize) -> Result<()> {
    match in_order {
        Some(stream) if stream.next == total => {
            stream
                .writer
                .finish()
                .map_err(|e| Error::io(&plan.csv, e))?;
        }
        _ => write_results(plan)?,
    }
    Ok(())
}

/// The report of a finished run; `rows` are its resumed and retryable row counts, and the
/// usage is the difference between the client totals `before` and `after` it.
///
/// # Errors
/// When the dataset could not be described (see [`Plan::dataset_ref`]).
fn run_report(
    plan: &Plan,
    local_id: String,
    rows: (usize, usize),
    metrics: RunMetrics,
    before: &Totals,
    after: &Totals,
    started: Instant,
) -> Result<RunReport> {
    let (resumed_rows, retryable_rows) = rows;
    Ok(RunReport {
        module: plan.module.id.to_string(),
        local_id,
        csv: plan.display(&plan.csv),
        model: plan.settings.model.clone(),
        prompt_version: plan.settings.prompt_version.clone(),
        prompt_hash: plan.prompt_hash.clone(),
        dataset: plan.dataset_ref()?,
        rows: plan.records.len(),
        resumed_rows,
        retryable_rows,
        metrics,
        cache_hits: after.cache_hits - before.cache_hits,
        http_requests: after.http_requests - before.http_requests,
        prompt_tokens: after.prompt_tokens - before.prompt_tokens,
        cached_prompt_tokens: after.cached_prompt_tokens - before.cached_prompt_tokens,
        completion_tokens: after.completion_tokens - before.completion_tokens,
        cost_usd: after.spent_usd - before.spent_usd,
        cost_complete: after.unpriced_responses == before.unpriced_responses,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a call task reports to the run loop.
enum Message {
    Finished(Box<Finished>),
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A record read ahead, ready to send.
struct Ready {
    /// Its position in the run.
    index: usize,
    record: Record,
    /// Its input as JSON text: the journal and the results CSV take it as it is, so the
    /// largest field is serialised once, here, rather than once for each on the run loop.
    input_json: Box<RawValue>,
    /// Its call, serialised and keyed (or why it cannot be sent).
    call: std::result::Result<PreparedChat, NotSent>,
}

/// Why a record read ahead has no call to send.
enum NotSent {
    /// A placeholder is not fed (the record changed on disk since planning).
    Render(core_config::TemplateError),
    /// The client cannot make the request (it cannot be serialised, or no valid URL).
    Client(llm_client::Error),
}

/// Streams the records of the run that are not done yet (pass 2 over the dataset) and sends a
/// call for each as soon as a permit is free. Ends when every call is sent, or when the run loop
/// stops listening.
///
/// Records are read and their prompts rendered ahead, on a thread of their own, into a buffer
/// as deep as the slots: a wave of answers frees many slots at once, and each must find its
/// request ready rather than wait while the records ahead of it are parsed one by one.
async fn send_calls(
    plan: Arc<Plan>,
    client: Client,
    options: ExecOptions,
    done: HashSet<String>,
    sender: tokio::sync::mpsc::UnboundedSender<Message>,
) {
    let slots = options.max_in_flight.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(slots));
    let (ready, mut next) = tokio::sync::mpsc::channel::<Ready>(slots);
    let reader = {
        let plan = Arc::clone(&plan);
        let client = client.clone();
        tokio::task::spawn_blocking(move || read_ahead(&plan, &client, &done, &ready))
    };
    while let Some(record) = next.recv().await {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        if sender.is_closed() {
            return;
        }
        let plan = Arc::clone(&plan);
        let client = client.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            let call = call_one(&plan, &client, options.cache, record, permit);
            let message = match std::panic::AssertUnwindSafe(call).catch_unwind().await {
                Ok(finished) => Message::Finished(Box::new(finished)),
                Err(panic) => Message::Panicked(panic),
            };
            let _ = sender.send(message);
        });
    }
    // A panic while reading ahead is a bug; surface it rather than ending the run quietly
    // short of its records.
    if let Err(error) = reader.await
        && error.is_panic()
    {
        let _ = sender.send(Message::Panicked(error.into_panic()));
    }
}

/// Pass 2: reads the records of the run that are not `done`, renders and prepares their calls
/// and hands them to `ready`, in run order, until the last one or until nobody takes them any
/// more; whether every record was handed over.
fn read_ahead(
    plan: &Plan,
    client: &Client,
    done: &HashSet<String>,
    ready: &tokio::sync::mpsc::Sender<Ready>,
) -> bool {
    let positions: HashMap<&str, usize> = plan
        .records
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    // Planning read the whole dataset moments ago; a failure to reread it now shows up as the
    // records it would have held missing from the journal, and the run stays resumable.
    let Ok(reader) = RecordReader::open(&plan.dataset) else {
        return false;
    };
    for record in reader {
        let Ok(record) = record else { continue };
        let Some(&index) = positions.get(record.id.as_str()) else {
            continue;
        };
        if done.contains(&record.id) {
            continue;
        }
        let call = match plan.request(&record.input) {
            Ok(request) => client.prepare(request, 0).map_err(NotSent::Client),
            Err(e) => Err(NotSent::Render(e)),
        };
        // A map of JSON values always serialises.
        let input_json = serde_json::value::to_raw_value(&record.input)
            .unwrap_or_else(|_| RawValue::NULL.to_owned());
        let record = Ready {
            index,
            record,
            input_json,
            call,
        };
        if ready.blocking_send(record).is_err() {
            return false;
        }
    }
    true
}

fn header(plan: &Plan) -> JournalHeader {
    JournalHeader {
        journal: 1,
        local_id: plan.local_id.clone(),
        module: plan.module.id.to_string(),
        model: plan.settings.model.clone(),
        prompt_version: plan.settings.prompt_version.clone(),
        prompt_hash: plan.prompt_hash.clone(),
        dataset: plan.display(&plan.dataset),
        csv: plan.display(&plan.csv),
        samples: plan.settings.samples,
        seed: plan.settings.seed,
        record_ids: plan.records.iter().map(|(id, _)| id.clone()).collect(),
        started_at: plan.settings.started.to_rfc3339(),
    }
}

/// Adds a finished row to a tally (re-scoring it from its expected and output values).
pub fn add_to_tally(tally: &mut Tally, plan: &Plan, row: &ResultRow, error_kind: Option<&str>) {
    if let Some(kind) = error_kind {
        tally.add_error(kind);
        return;
    }
    let empty = Map::new();
    let expected = row.expected.as_object().unwrap_or(&empty);
    let output = row.output.as_object().unwrap_or(&empty);
    match score_row(&plan.module, expected, output) {
        Ok(score) => tally.add_scored(&score),
        Err(e) => tally.add_error(e.kind()),
    }
}

/// Calls the model for one record (its position in the run, the record, its rendered request)
/// and scores the answer. The slot (`permit`) is given back as soon as the answer is in, before
/// the scoring, so the next record is sent meanwhile.
async fn call_one(
    plan: &Plan,
    client: &Client,
    cache: CacheMode,
    ready: Ready,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Finished {
    let Ready {
        index,
        record,
        input_json,
        call,
    } = ready;
    let done = |scored| Finished {
        index,
        scored,
        input_json,
        fatal: None,
    };
    let answer = match call {
        Ok(call) => {
            let options = CallOptions {
                repeat: 0,
                cache,
                label: Some(record.id.clone()),
                invalid_retries: 0,
            };
            client.chat_prepared(&call, &options).await
        }
        // Planning checked every placeholder; a record changed on disk since then.
        Err(NotSent::Render(e)) => {
            return done(error_row(plan, record, "render", &e.to_string(), json!({})));
        }
        Err(NotSent::Client(error)) => Err(error),
    };
    drop(permit);
    match answer {
        Err(error) if error.is_fatal() => Finished {
            fatal: Some(error),
            ..done(ScoredRow {
                row: ResultRow::default(),
                error_kind: None,
            })
        },
        Err(error) => {
            let kind = error.kind().map_or("error", failure_name);
            let message = error.to_string();
            done(error_row(plan, record, kind, &message, json!({})))
        }
        Ok(response) => {
            let metrics = metrics_of(&response);
            done(score_answer(
                plan,
                record,
                &response.outcome,
                response.content.as_deref(),
                metrics,
            ))
        }
    }
}

fn failure_name(kind: llm_client::FailureKind) -> &'static str {
    use llm_client::FailureKind as K;
    match kind {
        K::BadRequest => "bad_request",
        K::Unauthorized => "unauthorized",
        K::Forbidden => "forbidden",
        K::NotFound => "not_found",
        K::Unprocessable => "unprocessable",
        K::Quota => "quota",
        K::RateLimited => "rate_limited",
        K::Server => "server_error",
        K::Timeout => "timeout",
        K::Connection => "connection",
        K::Other => "http_error",
    }
}

fn metrics_of(response: &ChatResponse) -> Value {
    let usage = response.usage.as_ref();
    json!({
        "cached": response.cached,
        "duration": response.elapsed.as_secs_f64(),
        "attempts": response.attempts,
        "prompt_tokens": usage.map(|u| u.prompt_tokens),
        "cached_prompt_tokens": usage.map(|u| u.cached_prompt_tokens),
        "completion_tokens": usage.map(|u| u.completion_tokens),
        "total_tokens": usage.map(|u| u.total_tokens),
        "estimated_cost": response.cost_usd,
        "finish_reason": response.finish_reason.as_str(),
        "model": response.model,
        "request_id": response.request_id,
    })
}

/// Turns a model answer into a results row: parses, checks the schema (in JSON mode), scores.
/// Used for live calls and for Batch API results alike.
#[must_use]
pub fn score_answer(
    plan: &Plan,
    record: Record,
    outcome: &Outcome,
    content: Option<&str>,
    metrics: Value,
) -> ScoredRow {
    let raw = || json!({"raw_output": content, "parse_error": true});
    let fail = |record, kind: &str, message: &str, output| {
        failed_row(plan, record, kind, message, output, metrics.clone())
    };
    let value = match outcome {
        Outcome::Json(value) => value.clone(),
        Outcome::Refusal { message } => {
            return fail(record, "refusal", message, json!({"refusal": message}));
        }
        Outcome::InvalidJson { error } => return fail(record, "invalid_json", error, raw()),
        Outcome::SchemaMismatch { value, problems } => {
            return fail(
                record,
                "schema_mismatch",
                &problems.join("; "),
                value.clone(),
            );
        }
        Outcome::Truncated => {
            let message = format!(
                "the answer hit the token cap ({} tokens)",
                plan.module.settings.max_tokens
            );
            return fail(record, "truncated", &message, raw());
        }
        other => return fail(record, other.kind(), &format!("{other:?}"), raw()),
    };
    if let Some(check) = &plan.json_mode_check {
        let problems = check.problems(&value);
        if !problems.is_empty() {
            return fail(record, "schema_mismatch", &problems.join("; "), value);
        }
    }
    let Some(output) = value.as_object() else {
        return fail(
            record,
            "schema_mismatch",
            "the answer is not a JSON object",
            value,
        );
    };
    match score_row(&plan.module, &record.expected, output) {
        Ok(score) => ScoredRow {
            row: row_for(
                plan,
                record,
                value.clone(),
                metrics.clone(),
                Some(score.correct),
                String::new(),
            ),
            error_kind: None,
        },
        Err(e) => {
            let output = value.clone();
            fail(record, e.kind(), &e.to_string(), output)
        }
    }
}

/// A results row for a record whose call failed (no answer to score).
#[must_use]
pub fn error_row(
    plan: &Plan,
    record: Record,
    kind: &str,
    message: &str,
    metrics: Value,
) -> ScoredRow {
    let output = json!({"error": message, "error_type": kind});
    failed_row(plan, record, kind, message, output, metrics)
}

fn failed_row(
    plan: &Plan,
    record: Record,
    kind: &str,
    message: &str,
    output: Value,
    metrics: Value,
) -> ScoredRow {
    ScoredRow {
        row: row_for(
            plan,
            record,
            output,
            metrics,
            None,
            format!("{kind}: {message}"),
        ),
        error_kind: Some(kind.to_owned()),
    }
}

fn row_for(
    plan: &Plan,
    record: Record,
    output: Value,
    metrics: Value,
    correct: Option<bool>,
    error: String,
) -> ResultRow {
    let mut metadata = record.metadata.clone();
    metadata.insert("record_id".to_owned(), Value::String(record.id.clone()));
    metadata.insert(
        "module_id".to_owned(),
        Value::String(plan.module.id.to_string()),
    );
    metadata
        .entry("split")
        .or_insert_with(|| Value::String("eval".to_owned()));
    metadata.insert(
        "prompt_version".to_owned(),
        Value::String(plan.settings.prompt_version.clone()),
    );
    metadata.insert(
        "model".to_owned(),
        Value::String(plan.settings.model.clone()),
    );
    let keyword = record.input_text("keyword");
    let keyword = if keyword.is_empty() {
        record.meta_text("keyword")
    } else {
        keyword
    };
    ResultRow {
        asin: record.meta_text("asin"),
        brand: {
            let brand = record.meta_text("brand_name");
            if brand.is_empty() {
                record.input_text("brand_name")
            } else {
                brand
            }
        },
        keyword,
        reasoning: reasoning_of(&output),
        record_id: record.id,
        input: Value::Object(record.input),
        expected: Value::Object(record.expected),
        output,
        metrics,
        metadata: Value::Object(metadata),
        correct,
        error,
        extra: std::collections::BTreeMap::new(),
    }
}

/// Most finished rows kept waiting for an earlier, slower row before the in-order writer gives
/// up and the CSV is written from the journal at the end.
const REORDER_CAP: usize = 4096;

/// Writes rows to the results CSV in run order as they finish.
struct InOrder {
    writer: ResultsWriter,
    next: usize,
    waiting: BTreeMap<usize, (ResultRow, Box<RawValue>)>,
}

impl InOrder {
    /// Adds a finished row (with its input as JSON text); writes every row whose turn has come.
    /// `false` when the buffer overflowed and streaming should stop.
    fn push(&mut self, index: usize, row: (ResultRow, Box<RawValue>)) -> std::io::Result<bool> {
        self.waiting.insert(index, row);
        while let Some((row, input)) = self.waiting.remove(&self.next) {
            self.writer.write_with_input_json(&row, input.get())?;
            self.next += 1;
        }
        Ok(self.waiting.len() <= REORDER_CAP)
    }
}

/// Writes the results CSV in run order from the journal, holding only line offsets in memory.
fn write_results(plan: &Plan) -> Result<()> {
    let file = std::fs::File::open(&plan.journal).map_err(|e| Error::io(&plan.journal, e))?;
    let mut reader = BufReader::new(file);
    // Index pass: (position in the run, byte offset) of each row's newest line.
    let mut offsets: HashMap<String, (usize, u64)> = HashMap::new();
    let mut line = String::new();
    let mut offset = 0u64;
    let mut first = true;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(&plan.journal, e))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        if !first {
            let head = Journal::parse_head(&line).ok_or_else(|| Error::Journal {
                path: plan.journal.clone(),
                line: 0,
                message: "not a journal row".to_owned(),
            })?;
            offsets.insert(head.record_id, (head.index, offset));
        }
        first = false;
        offset += n as u64;
    }
    let mut order: Vec<(usize, u64)> = offsets.into_values().collect();
    order.sort_unstable();
    let mut writer = ResultsWriter::create(&plan.csv, &plan.module)?;
    for (_, offset) in order {
        reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(&plan.journal, e))?;
        line.clear();
        reader
            .read_line(&mut line)
            .map_err(|e| Error::io(&plan.journal, e))?;
        let (row, input) = Journal::parse_row(&line).ok_or_else(|| Error::Journal {
            path: plan.journal.clone(),
            line: 0,
            message: "a row could not be read back".to_owned(),
        })?;
        writer
            .write_with_input_json(&row.row, input)
            .map_err(|e| Error::io(&plan.csv, e))?;
    }
    writer.finish().map_err(|e| Error::io(&plan.csv, e))?;
    Ok(())
}

/// Registers a finished run (its results CSV written) and returns its local id.
///
/// # Errors
/// [`Error::Registry`] when the registry cannot be updated.
pub fn register(plan: &Plan, metrics: &RunMetrics) -> Result<String> {
    register_as(plan, metrics, registry::Tier::Live)
}

/// Registers the run as [`register`] does, marked with `tier` (a batch run, say), in one write.
///
/// # Errors
/// [`Error::Registry`] when the registry cannot be updated.
pub fn register_as(plan: &Plan, metrics: &RunMetrics, tier: registry::Tier) -> Result<String> {
    let file = registry::RegistryFile::in_project(&plan.paths.root);
    let run = registry::NewRun {
        created_at: Some(plan.settings.started.naive_local()),
        model: plan.settings.model.clone(),
        prompt_version: plan.settings.prompt_version.clone(),
        prompt_hash: Some(plan.prompt_hash.clone()),
        dataset_version: plan.dataset_version.clone(),
        dataset: Some(plan.dataset_ref()?),
        samples: plan.records.len() as u64,
        accuracy: metrics.accuracy,
        metrics: serde_json::to_value(metrics).unwrap_or_default(),
        tier,
        ..registry::NewRun::new(plan.module.id.clone(), plan.csv.clone())
    };
    file.register(run)
        .map(|entry| entry.local_id)
        .map_err(|source| Error::Registry {
            csv: plan.csv.clone(),
            source,
        })
}

/// Drives a plan with a quiet reporter and no interruption (for tests and library users).
///
/// # Errors
/// As [`execute`].
pub async fn run_quietly(plan: &Plan, client: &Client, options: ExecOptions) -> Result<RunReport> {
    execute(plan, client, options, &Quiet, std::future::pending()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Journal;

    fn header(ids: usize) -> JournalHeader {
        JournalHeader {
            journal: 1,
            local_id: "exp_20260101_000000_m12".into(),
            module: "m12".into(),
            model: "gpt-4o-mini".into(),
            prompt_version: "v1".into(),
            prompt_hash: "abcd1234".into(),
            dataset: "datasets/single/m12.jsonl".into(),
            csv: "experiment_results/M12_X/M12_v1_20260101_000000.csv".into(),
            samples: None,
            seed: 42,
            record_ids: (0..ids).map(|i| format!("r{i}")).collect(),
            started_at: "2026-01-01T00:00:00".into(),
        }
    }

    #[tokio::test]
    async fn the_journal_is_flushed_in_the_background_every_so_many_rows_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.journal.jsonl");
        let rows = 2 * EARLY_SYNC_ROWS + 3;
        let mut journal = JournalWriter::create(&path, &header(rows)).unwrap();
        let mut early = EarlySync::default();
        let mut flushes = 0;
        for i in 0..rows {
            let row = ResultRow {
                record_id: format!("r{i}"),
                correct: Some(true),
                ..ResultRow::default()
            };
            journal.write(i, &row, None).unwrap();
            early.row_written(&journal, None);
            if early.rows == 0 {
                // A flush was started with this row: wait for it, as the next one would.
                flushes += 1;
                early.running.take().unwrap().await.unwrap();
            }
        }
        assert_eq!(flushes, 2);
        assert_eq!(early.rows, 3);
        journal.sync().unwrap();
        let read = Journal::read(&path).unwrap();
        assert_eq!(read.rows.len(), rows);
        assert_eq!(read.rows["r0"].index, 0);
    }

    /// A plan over `n` records of the one-module test project (`r0`, `r1`, … with keywords
    /// `k0`, `k1`, …).
    /// A client for preparing calls; nothing is sent.
    fn test_client() -> Client {
        let settings = core_config::OpenAiSettings {
            provider: core_config::Provider::OpenAi,
            base_url: "http://127.0.0.1:9/v1".to_owned(),
            api_key: Some(core_config::Secret::new("sk-test")),
            organization: None,
            project: None,
            api_version: None,
            token_param: core_config::TokenParam::MaxCompletionTokens,
        };
        Client::builder(settings).build().unwrap()
    }

    fn small_plan(n: usize) -> (tempfile::TempDir, Plan) {
        let lines: String = (0..n)
            .map(|i| {
                format!(
                    "{{\"id\": \"r{i}\", \"input\": {{\"keyword\": \"k{i}\"}}, \"expected\": {{\"relevancy\": \"R\"}}}}\n"
                )
            })
            .collect();
        let (dir, plan) = crate::plan::tests::plan_of(&lines, crate::plan::tests::SCHEMA);
        (dir, plan.unwrap())
    }

    #[test]
    fn records_are_read_ahead_in_run_order_without_the_done_ones() {
        let (_dir, plan) = small_plan(6);
        let client = test_client();
        let done: HashSet<String> = ["r1", "r4"].into_iter().map(String::from).collect();
        let (ready, mut next) = tokio::sync::mpsc::channel::<Ready>(16);
        assert!(
            read_ahead(&plan, &client, &done, &ready),
            "every record handed over"
        );
        drop(ready);
        let mut seen = Vec::new();
        while let Ok(ready) = next.try_recv() {
            let record = &ready.record;
            assert_eq!(plan.records[ready.index].0, record.id);
            let Ok(call) = &ready.call else {
                panic!("the record's call is prepared")
            };
            let request = plan.request(&record.input).unwrap();
            assert_eq!(call.request(), &request, "the request is the record's");
            assert!(
                request.messages[0]
                    .content
                    .contains(&format!("k{}", &record.id[1..]))
            );
            assert_eq!(call.key(), client.cache_key(&request, 0));
            assert_eq!(
                ready.input_json.get(),
                Value::Object(record.input.clone()).to_string(),
                "the input text is the compact JSON of the record's input"
            );
            seen.push(record.id.clone());
        }
        assert_eq!(seen, ["r0", "r2", "r3", "r5"]);
    }

    #[test]
    fn reading_ahead_stops_when_nobody_takes_the_records() {
        let (_dir, plan) = small_plan(50);
        let (ready, mut next) = tokio::sync::mpsc::channel::<Ready>(2);
        let reader =
            std::thread::spawn(move || read_ahead(&plan, &test_client(), &HashSet::new(), &ready));
        // Two records fill the buffer; take one, then leave: the reader must end, not wait on.
        let first = loop {
            if let Ok(item) = next.try_recv() {
                break item;
            }
            std::thread::yield_now();
        };
        assert_eq!(first.record.id, "r0");
        drop(next);
        assert!(
            !reader.join().unwrap(),
            "the reader stopped short of the 50 records"
        );
    }
}
