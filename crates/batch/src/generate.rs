//! `generate`: one request file per group (split by lines, bytes and an optional token budget),
//! each line carrying exactly the body a live run would send, and `manifest.json`.
//!
//! Records are streamed, never held: a reader thread cuts the dataset into chunks of lines,
//! workers turn them into request lines, and the lines are written in dataset order. Ids are
//! checked for repeats with fixed-size Bloom filters, so memory does not grow with the
//! dataset. Everything is written into a hidden folder that is renamed into place at the end,
//! so a failed or interrupted run leaves no half-written batch folder behind: on an error the
//! hidden folder is removed at once, and the one a killed run (Ctrl-C, a crash) leaves is
//! removed by the next `generate` (its generator held a lock on it, which the kernel releases
//! when the process ends).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Local};
use core_config::{
    AtomicFile, Catalog, ModuleSpec, ProjectPaths, RecordReader, ResponseFormatKind, TokenParam,
};
use llm_client::{BATCH_CHAT_ENDPOINT, PriceTable, Tier, Usage};
use runner::{Plan, RunSettings};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ids::{Bloom, BloomKey, IdScheme, custom_id, safe_id};
use crate::layout::{
    FileEntry, GroupEntry, Limits, MANIFEST, MANIFEST_FORMAT, Manifest, request_file_name,
    write_json,
};
use crate::progress::{Event, Reporter};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Modules as typed (`m12`, `12`, `2b`, a name); none means every enabled module, or with
    /// `synthetic` every module that has a synthetic set.
    pub modules: Vec<String>,
    /// Use the synthetic sets under `datasets/synthetic/` (`{id}_sdNN_{slug}.jsonl`).
    pub synthetic: bool,
    /// Model for every module (else the module's, else `default_model`).
    pub model: Option<String>,
    /// The environment's default model.
    pub default_model: String,
    /// Prompt version (else the catalogue's default).
    pub prompt_version: Option<String>,
    /// Only a seeded sample of this many records per group.
    pub samples: Option<usize>,
    /// Seed of the sample (the same seed as `orchestrator run` picks the same records).
    pub seed: u64,
    /// Read this dataset instead of the module's (one module only).
    pub dataset: Option<PathBuf>,
    /// How files are split.
    pub limits: Limits,
    /// How the completion-token cap is sent.
    pub token_param: TokenParam,
    /// Write here instead of `batch_requests/{YYYYmmdd_HHMM}/`.
    pub out: Option<PathBuf>,
    /// When generation started (names the folder).
    pub started: DateTime<Local>,
}

/// What `generate` wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The batch folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Hidden staging folders (`.generating-*`) that earlier runs killed mid-way (Ctrl-C, a
    /// crash) had left beside it, removed before this one started.
    pub leftovers_removed: usize,
}

/// The prefix of the hidden folder a batch is staged in before it is renamed into place.
pub const STAGING_PREFIX: &str = ".generating-";

/// The file inside a staging folder that its generator keeps locked while it works: a
/// staging folder whose lock can be taken belongs to a process that is gone.
const STAGING_LOCK: &str = ".owner.lock";

/// A staging folder without a lock file is left alone this long: it may belong to a generator
/// that has created the folder but not yet its lock.
const UNLOCKED_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes the staging folders in `parent` that generators killed mid-way left behind, and
/// returns how many. Folders of generators still running (their lock is held) are kept.
fn remove_stale_staging(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(STAGING_PREFIX)
            || !entry.file_type().is_ok_and(|t| t.is_dir())
        {
            continue;
        }
        let dir = entry.path();
        let stale = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(STAGING_LOCK))
        {
            // Taking the lock proves its owner is gone; it is released when `lock` drops.
            Ok(lock) => lock.try_lock().is_ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|age| age > UNLOCKED_GRACE),
            Err(_) => false,
        };
        if stale && std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Creates the staging folder and takes its lock (held until the returned file drops).
fn create_staging(parent: &Path) -> Result<(tempfile::TempDir, std::fs::File)> {
    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))?;
    let path = staging.path().join(STAGING_LOCK);
    let lock = std::fs::OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    lock.try_lock().map_err(|e| {
        Error::io(
            &path,
            match e {
                std::fs::TryLockError::Error(e) => e,
                std::fs::TryLockError::WouldBlock => std::io::ErrorKind::WouldBlock.into(),
            },
        )
    })?;
    Ok((staging, lock))
}

/// A module over one dataset.
struct Unit<'a> {
    module: &'a ModuleSpec,
    key: String,
    dataset: PathBuf,
}

/// Picks the groups to generate.
fn units<'a>(catalog: &'a Catalog, options: &GenerateOptions) -> Result<Vec<Unit<'a>>> {
    let named: Vec<&ModuleSpec> = options
        .modules
        .iter()
        .map(|m| catalog.resolve(m))
        .collect::<Result<_, _>>()?;
    if !options.synthetic {
        let modules: Vec<&ModuleSpec> = if named.is_empty() {
            catalog.enabled().collect()
        } else {
            named
        };
        if options.dataset.is_some() && modules.len() != 1 {
            return Err(Error::Selection(format!(
                "--dataset works with exactly one module ({} selected)",
                modules.len()
            )));
        }
        return Ok(modules
            .into_iter()
            .map(|module| Unit {
                module,
                key: module.id.to_string(),
                dataset: options
                    .dataset
                    .clone()
                    .unwrap_or_else(|| catalog.dataset_path(module)),
            })
            .collect());
    }
    if options.dataset.is_some() {
        return Err(Error::Selection(
            "--dataset and --synthetic cannot be combined".to_owned(),
        ));
    }
    let folder = ProjectPaths::new(catalog.root())
        .datasets()
        .join("synthetic");
    let mut files: Vec<String> = match std::fs::read_dir(&folder) {
        Ok(entries) => entries
            .filter_map(std::result::Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".jsonl"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&folder, e)),
    };
    files.sort();
    let candidates: Vec<&ModuleSpec> = if named.is_empty() {
        catalog.modules().iter().collect()
    } else {
        named.clone()
    };
    let mut units = Vec::new();
    for module in candidates {
        let prefix = format!("{}_sd", module.id);
        let mut found = false;
        for file in &files {
            let Some(rest) = file.strip_prefix(&prefix) else {
                continue;
            };
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() || !rest[digits.len()..].starts_with('_') {
                continue;
            }
            found = true;
            units.push(Unit {
                module,
                key: format!("{}_sd{digits}", module.id),
                dataset: folder.join(file),
            });
        }
        if !found && !named.is_empty() {
            return Err(Error::Selection(format!(
                "{} has no synthetic dataset: expected {}/{}_sdNN_{}.jsonl",
                module.id,
                folder.display(),
                module.id,
                module.slug
            )));
        }
    }
    if units.is_empty() {
        return Err(Error::Selection(format!(
            "no synthetic datasets in {} (expected files named {{module}}_sdNN_{{slug}}.jsonl)",
            folder.display()
        )));
    }
    Ok(units)
}

/// Writes request files for the selected groups and `manifest.json`.
///
/// # Errors
/// When a module is unknown, a dataset, prompt or schema is missing or broken (naming file
/// and line), a record id repeats, a single request is larger than the file limit, or a file
/// cannot be written. Nothing is left behind on error.
pub fn generate(
    catalog: &Catalog,
    prices: Option<&PriceTable>,
    options: &GenerateOptions,
    reporter: &dyn Reporter,
) -> Result<Generated> {
    options.limits.check()?;
    if options.samples == Some(0) {
        return Err(Error::Selection("--samples must be at least 1".to_owned()));
    }
    let units = units(catalog, options)?;
    let paths = ProjectPaths::new(catalog.root());
    let target = match &options.out {
        Some(out) => {
            if out.exists() {
                return Err(Error::Selection(format!(
                    "{} already exists: choose another --out, or remove it",
                    out.display()
                )));
            }
            out.clone()
        }
        None => free_dir(&paths, options),
    };
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    // A generator killed mid-way (Ctrl-C, a crash) cannot clean up after itself; the next one
    // does. On an error or a panic here the staging folder is removed when it drops.
    let leftovers_removed = remove_stale_staging(&parent);
    let (staging, lock) = create_staging(&parent)?;

    let mut groups = Vec::with_capacity(units.len());
    for unit in &units {
        groups.push(generate_unit(
            catalog,
            unit,
            options,
            prices,
            staging.path(),
            reporter,
        )?);
    }
    let cost = groups
        .iter()
        .map(|g| g.estimated_cost_usd)
        .sum::<Option<f64>>();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        timestamp: options
            .started
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        synthetic: options.synthetic,
        endpoint: BATCH_CHAT_ENDPOINT.to_owned(),
        completion_window: "24h".to_owned(),
        limits: Some(options.limits),
        modules_processed: groups.len(),
        total_records: groups.iter().map(|g| g.records).sum(),
        total_files: groups.iter().map(|g| g.files.len()).sum(),
        total_bytes: groups.iter().flat_map(|g| &g.files).map(|f| f.bytes).sum(),
        estimated_prompt_tokens: groups.iter().map(|g| g.estimated_prompt_tokens).sum(),
        estimated_completion_tokens: groups.iter().map(|g| g.estimated_completion_tokens).sum(),
        estimated_cost_usd: cost,
        results: groups,
    };
    write_json(&staging.path().join(MANIFEST), &manifest)?;
    let lock_path = staging.path().join(STAGING_LOCK);
    std::fs::remove_file(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
    drop(lock);
    let staged = staging.keep();
    if target.exists() {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(Error::Selection(format!(
            "{} appeared while generating: run again",
            target.display()
        )));
    }
    if let Err(e) = std::fs::rename(&staged, &target) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(Error::io(&target, e));
    }
    if let Ok(dir) = std::fs::File::open(&parent) {
        let _ = dir.sync_all();
    }
    Ok(Generated {
        dir: target,
        manifest,
        leftovers_removed,
    })
}

/// `batch_requests/[synthetic/]{YYYYmmdd_HHMM}`, with `_2`, `_3`, … when taken.
fn free_dir(paths: &ProjectPaths, options: &GenerateOptions) -> PathBuf {
    let mut base = paths.batch_requests();
    if options.synthetic {
        base = base.join("synthetic");
    }
    let stamp = options.started.format("%Y%m%d_%H%M").to_string();
    let mut n = 1;
    loop {
        let name = if n == 1 {
            stamp.clone()
        } else {
            format!("{stamp}_{n}")
        };
        let candidate = base.join(name);
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// Whole dataset lines for a worker: the number of the first line and the index of the first
/// record among them travel along, so messages and custom ids do not depend on the split.
struct Chunk {
    first_line: usize,
    first_index: u64,
    bytes: Vec<u8>,
}

/// A worker's lines for one chunk, ready to write.
struct Written {
    out: Vec<u8>,
    items: Vec<Item>,
    records: u64,
}

/// One written request.
struct Item {
    record_id: String,
    line: usize,
    len: usize,
    tokens: u64,
    raw_key: BloomKey,
    safe_key: Option<BloomKey>,
}

/// Why a pass stopped.
enum Stop {
    /// A real problem, reported to the user.
    Error(Error),
    /// A record id cannot serve as a custom id: the group is written again with positions.
    Unusable,
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Self::Error(error)
    }
}

/// What one pass over a dataset produced.
struct Pass {
    files: Vec<FileEntry>,
    records: u64,
    written: u64,
    prompt_tokens: u64,
    sha256: String,
    raw_suspects: HashSet<String>,
    safe_suspects: HashSet<String>,
}

/// Everything a worker needs to turn records into lines.
struct Context<'a> {
    unit: &'a Unit<'a>,
    plan: &'a Plan,
    scheme: IdScheme,
    keep: Option<&'a [bool]>,
    schema_tokens: u64,
}

const CHUNK_BYTES: usize = 256 * 1024;

/// The same test for a blank line as the dataset reader's, so record indexes agree.
fn is_blank(line: &[u8]) -> bool {
    core_config::dataset::is_blank_line(line)
}

/// Records in a dataset (non-blank lines), for sampling.
fn count_records(path: &Path) -> Result<u64> {
    core_config::dataset::count_records(path).map_err(|e| Error::io(path, e))
}

/// Reads the dataset into chunks of whole lines, hashing every byte.
fn read_chunks(path: &Path, work: &SyncSender<(u64, Result<Chunk>)>) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let (mut seq, mut line_no, mut index) = (0u64, 0usize, 0u64);
    let mut chunk = Chunk {
        first_line: 1,
        first_index: 0,
        bytes: Vec::with_capacity(CHUNK_BYTES + 4096),
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if n > 0 {
            hasher.update(&line);
            line_no += 1;
            chunk.bytes.extend_from_slice(&line);
            if !is_blank(&line) {
                index += 1;
            }
        }
        if (n == 0 && !chunk.bytes.is_empty()) || chunk.bytes.len() >= CHUNK_BYTES {
            let next = Chunk {
                first_line: line_no + 1,
                first_index: index,
                bytes: Vec::with_capacity(CHUNK_BYTES + 4096),
            };
            let full = std::mem::replace(&mut chunk, next);
            if work.send((seq, Ok(full))).is_err() {
                // The writer stopped; its reason is reported, not this.
                return Ok(String::new());
            }
            seq += 1;
        }
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
    }
}

/// Turns one chunk of records into request lines.
fn work(chunk: &Chunk, cx: &Context<'_>) -> Result<Written, Stop> {
    let unit = cx.unit;
    let plan = cx.plan;
    let mut written = Written {
        out: Vec::with_capacity(chunk.bytes.len() * 3),
        items: Vec::new(),
        records: 0,
    };
    for (this, record) in
        (chunk.first_index..).zip(RecordReader::new(&unit.dataset, &chunk.bytes[..]))
    {
        let mut record = record.map_err(|e| match e {
            core_config::Error::Dataset {
                path,
                line,
                message,
            } => Error::Config(core_config::Error::Dataset {
                path,
                line: line + chunk.first_line - 1,
                message,
            }),
            other => Error::Config(other),
        })?;
        record.line += chunk.first_line - 1;
        written.records += 1;
        if cx.keep.is_some_and(|k| {
            !k.get(usize::try_from(this).unwrap_or(usize::MAX))
                .copied()
                .unwrap_or(false)
        }) {
            continue;
        }
        let (id, safe_key) = match cx.scheme {
            IdScheme::RecordId => match safe_id(&record.id) {
                Some(safe) => (format!("{}_{safe}", unit.key), Some(BloomKey::of(&safe))),
                None => return Err(Stop::Unusable),
            },
            IdScheme::Index => (
                custom_id(&unit.key, IdScheme::Index, &record.id, this),
                None,
            ),
        };
        if let Some(p) = plan.template.unfed(&record.input) {
            return Err(Error::Record {
                dataset: unit.dataset.clone(),
                line: record.line,
                record: record.id,
                message: format!(
                    "no input key `{}` for the placeholder {{{{{}}}}} ({}:{})",
                    p.name,
                    p.name,
                    plan.display(&plan.prompt),
                    p.line
                ),
            }
            .into());
        }
        // An expected value that cannot be read can never be scored: sending the request
        // would waste its price (the live planner refuses such records too).
        if let Err(e @ runner::score::ScoreError::Expected { .. }) =
            runner::score::score_row(&plan.module, &record.expected, &serde_json::Map::new())
        {
            return Err(Error::Config(core_config::Error::Dataset {
                path: unit.dataset.clone(),
                line: record.line,
                message: format!("record `{}`: {e}", record.id),
            })
            .into());
        }
        let request = plan.request(&record.input).map_err(|e| Error::Record {
            dataset: unit.dataset.clone(),
            line: record.line,
            record: record.id.clone(),
            message: e.to_string(),
        })?;
        let start = written.out.len();
        write_line(&mut written.out, &id, &request).map_err(|e| Error::Record {
            dataset: unit.dataset.clone(),
            line: record.line,
            record: record.id.clone(),
            message: format!("cannot serialise the request: {e}"),
        })?;
        written.items.push(Item {
            raw_key: BloomKey::of(&record.id),
            safe_key,
            record_id: record.id,
            line: record.line,
            len: written.out.len() - start,
            tokens: request.estimated_prompt_tokens() + cx.schema_tokens,
        });
    }
    Ok(written)
}

/// One pass over a dataset: a reader thread, workers on the other cores, and this thread
/// writing their lines in dataset order. Memory is bounded by the chunks in flight.
fn run_pass(
    cx: &Context<'_>,
    dir: &Path,
    limits: Limits,
    total: Option<u64>,
    reporter: &dyn Reporter,
) -> Result<Pass, Stop> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 4);
    let (work_tx, work_rx) = sync_channel::<(u64, Result<Chunk>)>(workers * 2);
    let (done_tx, done_rx) = sync_channel::<(u64, Result<Written, Stop>)>(workers * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let mut splitter = Splitter {
        dir,
        key: &cx.unit.key,
        limits,
        done: Vec::new(),
        current: None,
        committing: Vec::new(),
    };
    let outcome = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_chunks(&cx.unit.dataset, &work_tx));
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let work_rx = Arc::clone(&work_rx);
            scope.spawn(move || {
                loop {
                    let next = work_rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    let Ok((seq, chunk)) = next else { return };
                    let result = match chunk {
                        Ok(chunk) => work(&chunk, cx),
                        Err(e) => Err(Stop::Error(e)),
                    };
                    if done_tx.send((seq, result)).is_err() {
                        return;
                    }
                }
            });
        }
        // Only the workers hold these now: when the writer stops early, the workers stop, and
        // with them gone the reader's next send fails and it stops too.
        drop(done_tx);
        drop(work_rx);
        let collected = collect(cx, &mut splitter, done_rx, total, reporter);
        let sha = reader.join().unwrap_or_else(|_| Ok(String::new()));
        collected.and_then(|mut pass| {
            pass.sha256 = sha?;
            Ok(pass)
        })
    });
    match outcome {
        Ok(mut pass) => {
            pass.files = splitter.finish()?;
            Ok(pass)
        }
        Err(stop) => {
            splitter.abandon();
            Err(stop)
        }
    }
}

/// Writes the workers' lines in dataset order and watches the ids.
fn collect(
    cx: &Context<'_>,
    splitter: &mut Splitter<'_>,
    done: Receiver<(u64, Result<Written, Stop>)>,
    total: Option<u64>,
    reporter: &dyn Reporter,
) -> Result<Pass, Stop> {
    let mut raw_seen = Bloom::new();
    let mut safe_seen = Bloom::new();
    let mut pass = Pass {
        files: Vec::new(),
        records: 0,
        written: 0,
        prompt_tokens: 0,
        sha256: String::new(),
        raw_suspects: HashSet::new(),
        safe_suspects: HashSet::new(),
    };
    let mut waiting: BTreeMap<u64, Result<Written, Stop>> = BTreeMap::new();
    let mut next = 0u64;
    let mut last_report = 0u64;
    for (seq, result) in done {
        waiting.insert(seq, result);
        while let Some(result) = waiting.remove(&next) {
            next += 1;
            let written = result?;
            pass.records += written.records;
            let mut offset = 0;
            for item in &written.items {
                let line = &written.out[offset..offset + item.len];
                offset += item.len;
                if raw_seen.insert(item.raw_key) {
                    pass.raw_suspects.insert(item.record_id.clone());
                }
                if let Some(key) = item.safe_key
                    && safe_seen.insert(key)
                    && let Some(safe) = safe_id(&item.record_id)
                {
                    pass.safe_suspects.insert(safe.into_owned());
                }
                if line.len() as u64 > splitter.limits.max_bytes {
                    return Err(Error::Record {
                        dataset: cx.unit.dataset.clone(),
                        line: item.line,
                        record: item.record_id.clone(),
                        message: format!(
                            "its request is {} bytes, more than the per-file limit of {} bytes",
                            line.len(),
                            splitter.limits.max_bytes
                        ),
                    }
                    .into());
                }
                splitter.push(line, item.tokens)?;
                pass.written += 1;
                pass.prompt_tokens += item.tokens;
            }
            if pass.written >= last_report + 5_000 {
                last_report = pass.written;
                reporter.event(&Event::Generating {
                    key: &cx.unit.key,
                    done: pass.written,
                    total: total.unwrap_or(0),
                });
            }
        }
    }
    Ok(pass)
}

/// Settles suspected repeats: a record id used twice is an error; two ids made equal by
/// replacing characters mean the group needs positions instead.
fn second_look(unit: &Unit<'_>, pass: &Pass) -> Result<bool> {
    let mut raw_lines: HashMap<String, usize> = HashMap::new();
    let mut safe_owner: HashMap<String, String> = HashMap::new();
    let mut collision = false;
    for record in RecordReader::open(&unit.dataset)? {
        let record = record?;
        if pass.raw_suspects.contains(&record.id)
            && let Some(first) = raw_lines.insert(record.id.clone(), record.line)
        {
            return Err(Error::Record {
                dataset: unit.dataset.clone(),
                line: record.line,
                record: record.id,
                message: format!(
                    "duplicate id (first used on line {first}); ids must be unique so answers can be joined back"
                ),
            });
        }
        if let Some(safe) = safe_id(&record.id)
            && pass.safe_suspects.contains(safe.as_ref())
            && let Some(other) = safe_owner.insert(safe.into_owned(), record.id.clone())
            && other != record.id
        {
            collision = true;
        }
    }
    Ok(collision)
}
/// A guess at answer length for the estimate, as the live planner makes it: classifiers
/// answer a label and a sentence or two, extraction modules answer lists.
fn completion_guess(module: &ModuleSpec) -> u64 {
    let guess: u64 = if module.primary_score().kind.is_categorical() {
        120
    } else {
        300
    };
    guess.min(u64::from(module.settings.max_tokens))
}

/// Writes lines into files, starting a new one whenever the next line would break a limit.
struct Splitter<'a> {
    dir: &'a Path,
    key: &'a str,
    limits: Limits,
    done: Vec<(FileEntry, PathBuf)>,
    current: Option<Part>,
    /// Files being flushed to disk while the next one fills.
    committing: Vec<std::thread::JoinHandle<std::io::Result<PathBuf>>>,
}

struct Part {
    out: BufWriter<AtomicFile>,
    entry: FileEntry,
}

impl Splitter<'_> {
    fn push(&mut self, line: &[u8], tokens: u64) -> Result<()> {
        let len = line.len() as u64;
        if let Some(part) = &self.current {
            let e = &part.entry;
            let full = e.requests as usize >= self.limits.max_lines
                || e.bytes + len > self.limits.max_bytes
                || self
                    .limits
                    .max_tokens
                    .is_some_and(|max| e.estimated_prompt_tokens + tokens > max);
            if full {
                self.close()?;
            }
        }
        let part = match &mut self.current {
            Some(part) => part,
            None => {
                let name = request_file_name(self.key, Some(self.done.len() + 1));
                let path = self.dir.join(&name);
                let file = AtomicFile::create(&path).map_err(|e| Error::io(&path, e))?;
                self.current.insert(Part {
                    out: BufWriter::with_capacity(1 << 20, file),
                    entry: FileEntry {
                        file: name,
                        requests: 0,
                        bytes: 0,
                        estimated_prompt_tokens: 0,
                    },
                })
            }
        };
        part.out
            .write_all(line)
            .map_err(|e| Error::io(self.dir.join(&part.entry.file), e))?;
        part.entry.requests += 1;
        part.entry.bytes += len;
        part.entry.estimated_prompt_tokens += tokens;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some(part) = self.current.take() {
            let path = self.dir.join(&part.entry.file);
            let file = part
                .out
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?;
            // Flushing a 200 MB file to disk takes a while; the next file fills meanwhile.
            self.committing
                .push(std::thread::spawn(move || file.commit()));
            self.done.push((part.entry, path));
        }
        Ok(())
    }

    /// Waits for every file to be on disk.
    fn wait(&mut self) -> Result<()> {
        let mut first_error = None;
        for handle in self.committing.drain(..) {
            let result = handle
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("a writer thread panicked")));
            if let (Err(e), None) = (result, &first_error) {
                first_error = Some(e);
            }
        }
        match first_error {
            Some(e) => Err(Error::io(self.dir, e)),
            None => Ok(()),
        }
    }

    /// Removes everything written (the pass is started again).
    fn abandon(mut self) {
        self.current = None;
        let _ = self.wait();
        for (_, path) in self.done.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Closes the last file; a group that fits one file gets the plain `{key}_batch.jsonl`.
    fn finish(mut self) -> Result<Vec<FileEntry>> {
        self.close()?;
        self.wait()?;
        if let [(entry, path)] = self.done.as_mut_slice() {
            let name = request_file_name(self.key, None);
            let plain = self.dir.join(&name);
            std::fs::rename(&*path, &plain).map_err(|e| Error::io(&plain, e))?;
            entry.file = name;
        }
        Ok(self.done.into_iter().map(|(entry, _)| entry).collect())
    }
}

/// Appends one batch input line (`{custom_id, method, url, body}` and a newline) to `out`:
/// the same bytes as [`llm_client::batch_input_line`] serialised, without building a tree.
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    custom_id: &str,
    request: &llm_client::ChatRequest,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"custom_id\":");
    serde_json::to_writer(&mut *out, custom_id)?;
    out.extend_from_slice(b",\"method\":\"POST\",\"url\":");
    serde_json::to_writer(&mut *out, BATCH_CHAT_ENDPOINT)?;
    out.extend_from_slice(b",\"body\":");
    out.extend_from_slice(&request.to_body_bytes()?);
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// The request planner for a module: the live run's checked plan (prompt, schema, model
/// settings), made over the dataset's first record only, because planning keeps every record
/// id in memory and generation must not. The other records are checked as they are written.
pub(crate) fn request_plan(
    catalog: &Catalog,
    module: &ModuleSpec,
    dataset: &Path,
    model: String,
    prompt_version: String,
    token_param: TokenParam,
    started: DateTime<Local>,
) -> Result<Plan> {
    let file = std::fs::File::open(dataset).map_err(|e| Error::io(dataset, e))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut line_no = 0;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(dataset, e))?
            == 0
        {
            return Err(runner::Error::EmptyDataset {
                module: module.id.to_string(),
                path: dataset.to_owned(),
            }
            .into());
        }
        line_no += 1;
        if !is_blank(&line) {
            break;
        }
    }
    let mut first = tempfile::NamedTempFile::new().map_err(|e| Error::io("temporary file", e))?;
    first
        .write_all(&line)
        .map_err(|e| Error::io(first.path(), e))?;
    let settings = RunSettings {
        prompt_version,
        model,
        samples: None,
        seed: runner::DEFAULT_SEED,
        dataset: Some(first.path().to_owned()),
        token_param,
        started,
    };
    // Problems with the record are reported at its real place.
    let relocate = |path: &mut PathBuf, at: &mut usize| {
        if path == first.path() {
            dataset.clone_into(path);
            *at += line_no - 1;
        }
    };
    runner::plan(catalog, module, settings, false, None).map_err(|e| {
        Error::Runner(match e {
            runner::Error::Config(core_config::Error::Dataset {
                mut path,
                mut line,
                message,
            }) => {
                relocate(&mut path, &mut line);
                runner::Error::Config(core_config::Error::Dataset {
                    path,
                    line,
                    message,
                })
            }
            runner::Error::Render {
                mut dataset,
                mut line,
                record,
                message,
            } => {
                relocate(&mut dataset, &mut line);
                runner::Error::Render {
                    dataset,
                    line,
                    record,
                    message,
                }
            }
            other => other,
        })
    })
}

fn generate_unit(
    catalog: &Catalog,
    unit: &Unit<'_>,
    options: &GenerateOptions,
    prices: Option<&PriceTable>,
    dir: &Path,
    reporter: &dyn Reporter,
) -> Result<GroupEntry> {
    let module = unit.module;
    let model = options
        .model
        .clone()
        .or_else(|| module.settings.model_override.clone())
        .unwrap_or_else(|| options.default_model.clone());
    let version = options
        .prompt_version
        .clone()
        .unwrap_or_else(|| catalog.defaults().prompt_version.clone());
    if !unit.dataset.is_file() {
        return Err(Error::Selection(format!(
            "module {}: no dataset at {}",
            module.id,
            unit.dataset.display()
        )));
    }
    let plan = request_plan(
        catalog,
        module,
        &unit.dataset,
        model.clone(),
        version.clone(),
        options.token_param,
        options.started,
    )?;
    let keep = sample_keep(unit, options)?;
    let total = keep
        .as_ref()
        .map(|k| k.iter().filter(|b| **b).count() as u64);
    let (pass, scheme) = run_passes(unit, &plan, keep.as_deref(), dir, options, total, reporter)?;
    reporter.event(&Event::Generating {
        key: &unit.key,
        done: pass.written,
        total: total.unwrap_or(pass.written),
    });
    let written = pass.written;
    let prompt_tokens = pass.prompt_tokens;
    let completion_tokens = completion_guess(module) * written;
    let cost = estimate_cost(prices, &model, prompt_tokens, completion_tokens);
    let paths = &plan.paths;
    Ok(GroupEntry {
        module: module.id.to_string(),
        key: unit.key.clone(),
        name: module.name.clone(),
        status: "success".to_owned(),
        records: written,
        output_file: None,
        files: pass.files,
        dataset: Some(paths.display(&unit.dataset).into_owned()),
        dataset_records: Some(pass.records),
        dataset_sha256: Some(pass.sha256),
        prompt: Some(plan.display(&plan.prompt)),
        prompt_version: Some(version),
        prompt_hash: Some(plan.prompt_hash.clone()),
        model: Some(model),
        samples: options.samples,
        seed: options.samples.map(|_| options.seed),
        custom_ids: scheme,
        estimated_prompt_tokens: prompt_tokens,
        estimated_completion_tokens: completion_tokens,
        estimated_cost_usd: cost,
        error: None,
    })
}

/// Which records a sampled run keeps (`None` when every record is kept).
fn sample_keep(unit: &Unit<'_>, options: &GenerateOptions) -> Result<Option<Vec<bool>>> {
    let Some(n) = options.samples else {
        return Ok(None);
    };
    let records = usize::try_from(count_records(&unit.dataset)?).unwrap_or(usize::MAX);
    let mut keep = vec![false; records];
    for i in core_config::sample::sample_order(records, Some(n), Some(options.seed)) {
        keep[i] = true;
    }
    Ok(Some(keep))
}

/// Writes the request files, falling back from record ids to positions when needed.
fn run_passes(
    unit: &Unit<'_>,
    plan: &Plan,
    keep: Option<&[bool]>,
    dir: &Path,
    options: &GenerateOptions,
    total: Option<u64>,
    reporter: &dyn Reporter,
) -> Result<(Pass, IdScheme)> {
    let schema_tokens = match unit.module.settings.response_format {
        ResponseFormatKind::JsonSchema => plan.schema.schema.to_string().len() as u64 / 4,
        ResponseFormatKind::JsonObject => 0,
    };
    // Record ids first; positions when an id cannot serve or two would look the same.
    let mut scheme = IdScheme::RecordId;
    let pass = loop {
        let cx = Context {
            unit,
            plan,
            scheme,
            keep,
            schema_tokens,
        };
        match run_pass(&cx, dir, options.limits, total, reporter) {
            Ok(pass) => {
                let suspicious = !pass.raw_suspects.is_empty() || !pass.safe_suspects.is_empty();
                if suspicious && second_look(unit, &pass)? && scheme == IdScheme::RecordId {
                    remove_files(dir, &pass.files);
                    scheme = IdScheme::Index;
                    continue;
                }
                break pass;
            }
            Err(Stop::Unusable) if scheme == IdScheme::RecordId => scheme = IdScheme::Index,
            Err(Stop::Unusable) => {
                return Err(Error::Selection(format!(
                    "{}: no usable custom ids",
                    unit.dataset.display()
                )));
            }
            Err(Stop::Error(e)) => return Err(e),
        }
    };
    Ok((pass, scheme))
}

/// The batch-tier cost of the estimated tokens, when prices are known.
fn estimate_cost(
    prices: Option<&PriceTable>,
    model: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> Option<f64> {
    prices.and_then(|p| {
        p.cost(
            model,
            &Usage {
                prompt_tokens,
                cached_prompt_tokens: 0,
                completion_tokens,
                reasoning_tokens: 0,
                total_tokens: prompt_tokens + completion_tokens,
            },
            Tier::Batch,
        )
    })
}

fn remove_files(dir: &Path, files: &[FileEntry]) {
    for file in files {
        let _ = std::fs::remove_file(dir.join(&file.file));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_judged_like_the_dataset_reader_does() {
        for (line, blank) in [
            (&b"\n"[..], true),
            (b"  \t\r\n", true),
            (b"\x0b\n", true),
            ("\u{feff}\n".as_bytes(), true),
            ("\u{3000} \n".as_bytes(), true),
            (b"{}\n", false),
            (b" x", false),
            ("\u{feff}{}".as_bytes(), false),
            (b"\xff\n", false),
        ] {
            assert_eq!(is_blank(line), blank, "{line:?}");
            let reader_skips = RecordReader::new(Path::new("d"), line).next().is_none();
            assert_eq!(reader_skips, blank, "{line:?}");
        }
    }
    use llm_client::{ChatRequest, Message, batch_input_line};

    #[test]
    fn lines_are_the_same_bytes_as_the_clients_batch_line() {
        let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("say \"hi\" ü\n")])
            .temperature(0.0)
            .max_tokens(12);
        let mut out = Vec::new();
        write_line(&mut out, "m12_a\"b", &request).unwrap();
        let want = format!("{}\n", batch_input_line("m12_a\"b", &request));
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
