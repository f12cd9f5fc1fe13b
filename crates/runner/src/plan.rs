//! Planning a run: load and check everything before the first call (dataset lines, prompt
//! placeholders, schema), choose the records, name the output files and estimate the cost.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Local};
use core_config::TokenParam;
use core_config::template::Template;
use core_config::{
    Catalog, ModuleSpec, ProjectPaths, Record, RecordReader, ResponseFormatKind, ResponseSchema,
};
use llm_client::{ChatRequest, Message, PriceTable, ResponseFormat, Tier, Usage};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::score::{ScoreError, score_row};
use core_config::sample::sample_order;

/// Seed used for `--samples` when none is given.
pub const DEFAULT_SEED: u64 = 42;

/// What the caller decides about a run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Prompt version (`v1`, …).
    pub prompt_version: String,
    /// Model to call.
    pub model: String,
    /// Run only a seeded random sample of this many records.
    pub samples: Option<usize>,
    /// Seed of the sample.
    pub seed: u64,
    /// Read records from this file instead of the module's dataset (e.g. a gold file).
    pub dataset: Option<PathBuf>,
    /// How the token cap is sent.
    pub token_param: TokenParam,
    /// When the run starts (names the files and the registry entry).
    pub started: DateTime<Local>,
}

/// Rough token and cost estimate of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Prompt tokens (about four characters a token).
    pub prompt_tokens: u64,
    /// Completion tokens (a per-module guess bounded by the token cap).
    pub completion_tokens: u64,
    /// USD at the live price, when the model is in the price table.
    pub cost_usd: Option<f64>,
}

/// Everything a run needs, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The module.
    pub module: ModuleSpec,
    /// The project's folders.
    pub paths: ProjectPaths,
    /// Dataset file.
    pub dataset: PathBuf,
    /// Prompt file.
    pub prompt: PathBuf,
    /// The parsed prompt.
    pub template: Template,
    /// The output schema, shared by every request of the run (not copied per record).
    pub schema: Arc<ResponseSchema>,
    /// Model settings.
    pub settings: RunSettings,
    /// Hash of the prompt file (first 8 hex digits of SHA-256).
    pub prompt_hash: String,
    /// Records of the run in order (ids), with the dataset line of each.
    pub records: Vec<(String, usize)>,
    /// Records in the dataset.
    pub dataset_records: usize,
    /// Dataset version recorded in the registry.
    pub dataset_version: String,
    /// The dataset's kind (known before the first call; see [`Plan::dataset_ref`]).
    pub dataset_kind: registry::DatasetKind,
    /// The dataset's identity, worked out on a thread of its own (see [`Plan::dataset_ref`]).
    described: Described,
    /// Registry id of the run.
    pub local_id: String,
    /// Results CSV.
    pub csv: PathBuf,
    /// Journal of finished rows.
    pub journal: PathBuf,
    /// The journal being resumed, if any.
    pub resume: Option<Journal>,
    /// Token and cost estimate.
    pub estimate: Estimate,
    /// In JSON mode the server does not hold answers to the schema; they are checked here.
    pub json_mode_check: Option<llm_client::SchemaCheck>,
}

/// A dataset's identity (path, SHA-256, records, kind) being worked out on a thread of its own.
/// Reading and hashing a big file takes milliseconds of CPU that pass 1 would otherwise share
/// (on two cores, about 4 ms of the time before the first call for 5.5 MB); the identity is only
/// recorded when the run ends, so the thread starts once pass 1 is done and works while the
/// first calls are out.
#[derive(Debug, Clone)]
struct Described(
    Arc<OnceLock<std::result::Result<registry::DatasetRef, (std::io::ErrorKind, String)>>>,
);

impl Described {
    fn start(root: &Path, dataset: &Path, default: &Path) -> Self {
        let cell = Arc::new(OnceLock::new());
        let out = Arc::clone(&cell);
        let (root, dataset, default) = (root.to_owned(), dataset.to_owned(), default.to_owned());
        std::thread::spawn(move || {
            // Whatever happens, the cell is filled: a waiter must never wait for ever.
            let described = std::panic::catch_unwind(|| {
                registry::DatasetRef::describe(&root, &dataset, &default)
                    .map_err(|e| (e.kind(), e.to_string()))
            })
            .unwrap_or_else(|_| {
                Err((
                    std::io::ErrorKind::Other,
                    "describing the dataset failed".to_owned(),
                ))
            });
            let _ = out.set(described);
        });
        Self(cell)
    }
}

impl Plan {
    /// The dataset's identity (path, SHA-256, records, kind), recorded with the run. It is
    /// worked out on a thread of its own from planning on; this waits for it.
    ///
    /// # Errors
    /// When the dataset could not be read.
    pub fn dataset_ref(&self) -> Result<registry::DatasetRef> {
        self.described
            .0
            .wait()
            .clone()
            .map_err(|(kind, message)| Error::io(&self.dataset, std::io::Error::new(kind, message)))
    }

    /// Builds the chat request for one record.
    ///
    /// # Errors
    /// When a placeholder is not fed (checked for every record during planning, so this does
    /// not happen for planned records).
    pub fn request(
        &self,
        input: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ChatRequest, core_config::TemplateError> {
        let prompt = self.template.render(input)?;
        Ok(request_for(
            &self.module,
            &self.schema,
            &self.settings,
            prompt,
        ))
    }

    /// Path shown relative to the project root.
    #[must_use]
    pub fn display(&self, path: &Path) -> String {
        self.paths.display(path).into_owned()
    }
}

fn request_for(
    module: &ModuleSpec,
    schema: &Arc<ResponseSchema>,
    settings: &RunSettings,
    prompt: String,
) -> ChatRequest {
    let format = match module.settings.response_format {
        ResponseFormatKind::JsonSchema => ResponseFormat::JsonSchema(Arc::clone(schema)),
        ResponseFormatKind::JsonObject => ResponseFormat::JsonObject,
    };
    ChatRequest::new(settings.model.clone(), vec![Message::user(prompt)])
        .temperature(module.settings.temperature)
        .max_tokens(module.settings.max_tokens)
        .token_param(settings.token_param)
        .response_format(format)
}

/// File-name timestamp, `YYYYmmdd_HHMMSS`.
#[must_use]
pub fn stamp(time: &DateTime<Local>) -> String {
    time.format("%Y%m%d_%H%M%S").to_string()
}

/// Hash of a prompt file as stored in the registry.
#[must_use]
pub fn prompt_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..4])
}

/// A guess at the answer length: classifiers answer a label, a confidence and a sentence or
/// two; extraction modules answer lists.
fn completion_guess(module: &ModuleSpec) -> u64 {
    let guess: u64 = if module.primary_score().kind.is_categorical() {
        120
    } else {
        300
    };
    guess.min(u64::from(module.settings.max_tokens))
}

/// Plans a new run, or the resumption of the newest unfinished one.
///
/// # Errors
/// When the dataset, prompt or schema is missing or broken (naming file and line), a record
/// does not feed a placeholder, or `resume` finds nothing (or something incompatible).
pub fn plan(
    catalog: &Catalog,
    module: &ModuleSpec,
    settings: RunSettings,
    resume: bool,
    prices: Option<&PriceTable>,
) -> Result<Plan> {
    let paths = ProjectPaths::new(catalog.root());
    let dataset = settings
        .dataset
        .clone()
        .unwrap_or_else(|| catalog.dataset_path(module));
    let prompt = catalog.prompt_path(module, &settings.prompt_version);
    let (prompt_text, template) = load_prompt(module, &prompt)?;
    let schema = load_schema(catalog, module)?;
    if !dataset.is_file() {
        return Err(Error::Missing {
            what: "dataset",
            module: module.id.to_string(),
            path: dataset,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let checked = check_dataset(
        &paths, module, &settings, prices, &dataset, &prompt, &template, &schema,
    )?;
    let dataset_records = checked.records.len();
    if dataset_records == 0 {
        return Err(Error::EmptyDataset {
            module: module.id.to_string(),
            path: dataset,
        });
    }
    let default_dataset = catalog.dataset_path(module);
    let (_, dataset_kind) =
        registry::DatasetRef::path_and_kind(&paths.root, &dataset, &default_dataset)
            .map_err(|e| Error::io(&dataset, e))?;
    let described = Described::start(&paths.root, &dataset, &default_dataset);
    let chosen = choose_records(
        &paths,
        module,
        (&settings, dataset_tag(&dataset_kind).as_deref()),
        resume,
        &checked.records,
        &prompt_text,
    )?;
    let estimate = estimate(
        module,
        &schema,
        checked.prompt_chars,
        chosen.records.len(),
        dataset_records,
        prices,
        &settings.model,
    );
    let json_mode_check = match module.settings.response_format {
        ResponseFormatKind::JsonObject => Some(
            llm_client::SchemaCheck::new(&schema.schema).map_err(|message| Error::Prompt {
                path: catalog.schema_path(module),
                message: format!("the schema does not compile: {message}"),
            })?,
        ),
        ResponseFormatKind::JsonSchema => None,
    };
    let mut settings = settings;
    settings.started = chosen.started;
    Ok(Plan {
        module: module.clone(),
        paths,
        dataset,
        prompt,
        template,
        schema: Arc::new(schema),
        prompt_hash: prompt_hash(&prompt_text),
        settings,
        records: chosen.records,
        dataset_records,
        dataset_version: catalog.defaults().dataset_version.clone(),
        dataset_kind,
        described,
        local_id: chosen.local_id,
        csv: chosen.csv,
        journal: chosen.journal,
        resume: chosen.resumed,
        estimate,
        json_mode_check,
    })
}

/// The prompt file's bytes (hashed as they are) and its parsed template.
fn load_prompt(module: &ModuleSpec, prompt: &Path) -> Result<(Vec<u8>, Template)> {
    let prompt_text = std::fs::read(prompt).map_err(|e| Error::Missing {
        what: "prompt",
        module: module.id.to_string(),
        path: prompt.to_path_buf(),
        source: e,
    })?;
    let template =
        Template::parse(String::from_utf8_lossy(&prompt_text).into_owned()).map_err(|e| {
            Error::Prompt {
                path: prompt.to_path_buf(),
                message: e.to_string(),
            }
        })?;
    Ok((prompt_text, template))
}

/// The module's response schema.
fn load_schema(catalog: &Catalog, module: &ModuleSpec) -> Result<ResponseSchema> {
    let schema = ResponseSchema::load(&catalog.schema_path(module), &module.slug)?;
    // The API refuses every request of a strict schema that breaks the strict rules; say so
    // once, before the first call, rather than once per row.
    if module.settings.response_format == ResponseFormatKind::JsonSchema && schema.strict {
        let problems = schema.strict_problems();
        if !problems.is_empty() {
            return Err(Error::Prompt {
                path: catalog.schema_path(module),
                message: format!(
                    "not a valid strict schema (the API would refuse every request): {}",
                    problems.join("; ")
                ),
            });
        }
    }
    Ok(schema)
}

/// What pass 1 over the dataset keeps: every record's id and line, and the rendered prompts'
/// length in characters.
struct CheckedDataset {
    records: Vec<(String, usize)>,
    prompt_chars: u64,
}

/// Pass 1 over the dataset: every line must parse and feed every placeholder before any call
/// is made. Only ids and line numbers are kept.
///
/// The file is cut into ranges of whole lines, one per core, checked at the same time (on two
/// cores this halves the time before the first call). The outcome is that of one pass: the
/// ranges' records join in file order, duplicate ids are found while joining, and the problem
/// reported is the first one in the file.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site; all are borrowed inputs"
)]
fn check_dataset(
    paths: &ProjectPaths,
    module: &ModuleSpec,
    settings: &RunSettings,
    prices: Option<&PriceTable>,
    dataset: &Path,
    prompt: &Path,
    template: &Template,
    schema: &ResponseSchema,
) -> Result<CheckedDataset> {
    // A record that cannot fit the model's context window is refused before any call (the
    // window comes from the price table; without one, nothing is checked).
    let window = match prices {
        Some(table) => table.get(&settings.model).and_then(|m| m.context_window),
        None => core_config::context::ContextWindows::load(&paths.default_price_table())?
            .get(&settings.model),
    };
    let schema_text = match module.settings.response_format {
        ResponseFormatKind::JsonSchema => schema.response_format().to_string(),
        ResponseFormatKind::JsonObject => String::new(),
    };
    let checker = RecordCheck {
        paths,
        module,
        model: &settings.model,
        dataset,
        prompt,
        template,
        schema_text: &schema_text,
        schema_tokens: core_config::context::estimate_tokens(&schema_text),
        window,
    };
    let ranges = core_config::dataset::line_ranges(dataset, pass_one_parts(dataset))?;
    checker.ranges(&ranges)
}

/// Ranges pass 1 is cut into: one per core, for a dataset big enough to be worth a thread.
fn pass_one_parts(dataset: &Path) -> usize {
    const WORTH_A_THREAD: u64 = 256 * 1024;
    let size = std::fs::metadata(dataset).map_or(0, |m| m.len());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    usize::try_from(size / WORTH_A_THREAD)
        .unwrap_or(usize::MAX)
        .clamp(1, cores.min(16))
}

/// What pass 1 checks of each record, and with what.
struct RecordCheck<'a> {
    paths: &'a ProjectPaths,
    module: &'a ModuleSpec,
    model: &'a str,
    dataset: &'a Path,
    prompt: &'a Path,
    template: &'a Template,
    schema_text: &'a str,
    /// The schema text's estimated tokens.
    schema_tokens: u64,
    window: Option<u64>,
}

/// One range's records (ids and lines, in order) up to its first problem, if any.
struct CheckedPart {
    records: Vec<(String, usize)>,
    prompt_chars: u64,
    problem: Option<Error>,
}

impl RecordCheck<'_> {
    fn bad_record(&self, line: usize, message: String) -> Error {
        Error::Config(core_config::Error::Dataset {
            path: self.dataset.to_path_buf(),
            line,
            message,
        })
    }

    /// Checks the records of every range at once, one range per thread, and joins them in
    /// file order.
    fn ranges(&self, ranges: &[core_config::dataset::LineRange]) -> Result<CheckedDataset> {
        let parts: Vec<CheckedPart> = std::thread::scope(|scope| {
            let later: Vec<_> = ranges
                .iter()
                .skip(1)
                .map(|&range| scope.spawn(move || self.part(range)))
                .collect();
            let mut parts = ranges
                .first()
                .map(|&r| self.part(r))
                .into_iter()
                .collect::<Vec<_>>();
            parts.extend(
                later
                    .into_iter()
                    .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
            );
            parts
        });

        let mut all: Vec<(String, usize)> = Vec::new();
        let mut seen = HashSet::new();
        let mut prompt_chars: u64 = 0;
        for part in parts {
            // A part's records all come before its own problem, if it has one.
            for (id, line) in part.records {
                if !seen.insert(id.clone()) {
                    return Err(self.bad_record(line, format!("duplicate id `{id}`")));
                }
                all.push((id, line));
            }
            prompt_chars += part.prompt_chars;
            if let Some(problem) = part.problem {
                return Err(problem);
            }
        }
        Ok(CheckedDataset {
            records: all,
            prompt_chars,
        })
    }

    /// Checks the records of one range, stopping at the first problem.
    fn part(&self, range: core_config::dataset::LineRange) -> CheckedPart {
        let mut part = CheckedPart {
            records: Vec::new(),
            prompt_chars: 0,
            problem: None,
        };
        let mut reader = match RecordReader::open_range(self.dataset, range) {
            Ok(reader) => reader,
            Err(e) => {
                part.problem = Some(e.into());
                return part;
            }
        };
        while let Some(next) = reader.next_text() {
            let checked = next.map_err(Error::from).and_then(|(line, text)| {
                match self.usual_record(line, text) {
                    Some(checked) => Ok(checked),
                    // Anything unusual goes the full way, which also words the problem.
                    None => core_config::dataset::parse_record(self.dataset, line, text)
                        .map_err(Error::from)
                        .and_then(|record| self.record(record)),
                }
            });
            match checked {
                Ok((id, line, chars)) => {
                    part.records.push((id, line));
                    part.prompt_chars += chars;
                }
                Err(problem) => {
                    part.problem = Some(problem);
                    break;
                }
            }
        }
        part
    }

    /// Checks a record line of the usual shape without building its values or its prompt
    /// (see [`core_config::lite`]): what [`RecordCheck::record`] gives, or `None` when the line
    /// is unusual or has a problem, for [`RecordCheck::record`] to check and word.
    fn usual_record(&self, line: usize, text: &str) -> Option<(String, usize, u64)> {
        let view = core_config::lite::view_record(text)?;
        let stats = self.template.render_stats(&view.input)?;
        let expected = core_config::lite::object_map(&view.expected);
        if let Err(ScoreError::Expected { .. }) =
            score_row(self.module, &expected, &serde_json::Map::new())
        {
            return None;
        }
        if let Some(window) = self.window
            && core_config::context::check_estimate(
                stats.tokens(),
                self.schema_tokens,
                self.module.settings.max_tokens,
                window,
            )
            .is_some()
        {
            return None;
        }
        Some((view.id.into_owned(), line, stats.chars()))
    }

    /// Checks one record; its id, line and rendered prompt's length in characters.
    fn record(&self, record: Record) -> Result<(String, usize, u64)> {
        if let Some(p) = self.template.unfed(&record.input) {
            return Err(Error::Render {
                dataset: self.dataset.to_path_buf(),
                line: record.line,
                record: record.id.clone(),
                message: format!(
                    "no input key `{}` for the placeholder {{{{{}}}}} ({}:{})",
                    p.name,
                    p.name,
                    self.paths.display(self.prompt),
                    p.line
                ),
            });
        }
        // A row whose expected value cannot be read can never be scored: paying for its answer
        // is waste (a hand-edited gold file is the usual source).
        if let Err(e @ ScoreError::Expected { .. }) =
            score_row(self.module, &record.expected, &serde_json::Map::new())
        {
            return Err(self.bad_record(record.line, format!("record `{}`: {e}", record.id)));
        }
        let rendered = self.template.render(&record.input).unwrap_or_default();
        if let Some(over) = self.window.and_then(|w| {
            core_config::context::check_request(
                &rendered,
                self.schema_text,
                self.module.settings.max_tokens,
                w,
            )
        }) {
            return Err(self.bad_record(
                record.line,
                format!("record `{}`: {over} ({})", record.id, self.model),
            ));
        }
        Ok((record.id, record.line, rendered.chars().count() as u64))
    }
}

/// The records a run calls, with its names: a fresh run's sample, or a resumed run's records.
struct Chosen {
    records: Vec<(String, usize)>,
    local_id: String,
    csv: PathBuf,
    journal: PathBuf,
    resumed: Option<Journal>,
    started: DateTime<Local>,
}

/// Picks the records and names of a new run, or of the resumption of the newest unfinished
/// one (`resume`).
fn choose_records(
    paths: &ProjectPaths,
    module: &ModuleSpec,
    (settings, tag): (&RunSettings, Option<&str>),
    resume: bool,
    all: &[(String, usize)],
    prompt_text: &[u8],
) -> Result<Chosen> {
    let folder = paths.experiment_results().join(module.folder_name());
    let sample = || -> Vec<(String, usize)> {
        let order = sample_order(
            all.len(),
            settings.samples,
            settings.samples.map(|_| settings.seed),
        );
        order.into_iter().map(|i| all[i].clone()).collect()
    };
    if !resume {
        let (stem, local_id) = free_names(&folder, module, settings, tag)?;
        return Ok(Chosen {
            records: sample(),
            local_id,
            csv: folder.join(format!("{stem}.csv")),
            journal: folder.join(format!("{stem}.journal.jsonl")),
            resumed: None,
            started: settings.started,
        });
    }
    let journal_path = newest_journal(&folder, module)?.ok_or_else(|| Error::NothingToResume {
        module: module.id.to_string(),
        folder: folder.clone(),
    })?;
    match Journal::read_if_started(&journal_path)? {
        Some(journal) => resumed_records(paths, settings, all, prompt_text, journal_path, journal),
        // Killed before its header: no call was made, so the run starts afresh under the
        // names it was given.
        None => {
            let (stem, local_id, started) = names_of(&journal_path, module, settings)?;
            Ok(Chosen {
                records: sample(),
                local_id,
                csv: folder.join(format!("{stem}.csv")),
                journal: journal_path,
                resumed: None,
                started,
            })
        }
    }
}

/// The records of a started run, in its order, once its model and prompt are checked to be
/// the ones it started with and every record is still in the dataset.
fn resumed_records(
    paths: &ProjectPaths,
    settings: &RunSettings,
    all: &[(String, usize)],
    prompt_text: &[u8],
    journal_path: PathBuf,
    journal: Journal,
) -> Result<Chosen> {
    let header = &journal.header;
    let hash = prompt_hash(prompt_text);
    for (what, then, now) in [
        ("model", &header.model, &settings.model),
        (
            "prompt version",
            &header.prompt_version,
            &settings.prompt_version,
        ),
        ("prompt hash", &header.prompt_hash, &hash),
    ] {
        if then != now {
            return Err(Error::ResumeMismatch {
                journal: journal_path,
                what,
                then: then.clone(),
                now: now.clone(),
            });
        }
    }
    let lines: std::collections::HashMap<&str, usize> =
        all.iter().map(|(id, line)| (id.as_str(), *line)).collect();
    let mut records = Vec::with_capacity(header.record_ids.len());
    for id in &header.record_ids {
        let line = lines
            .get(id.as_str())
            .copied()
            .ok_or_else(|| Error::ResumeMismatch {
                journal: journal_path.clone(),
                what: "dataset",
                then: format!("a record `{id}`"),
                now: "no such record in the dataset".to_owned(),
            })?;
        records.push((id.clone(), line));
    }
    let started = DateTime::parse_from_rfc3339(&header.started_at)
        .map_or(settings.started, |t| t.with_timezone(&Local));
    Ok(Chosen {
        records,
        local_id: header.local_id.clone(),
        csv: paths.root.join(&header.csv),
        journal: journal_path,
        resumed: Some(journal),
        started,
    })
}

/// Tokens and cost of the chosen records, from the rendered prompts' length (about four
/// characters a token), the schema sent with each, and a guess at each answer.
fn estimate(
    module: &ModuleSpec,
    schema: &ResponseSchema,
    prompt_chars: u64,
    records: usize,
    dataset_records: usize,
    prices: Option<&PriceTable>,
    model: &str,
) -> Estimate {
    #[expect(clippy::cast_precision_loss, reason = "estimates")]
    let share = if dataset_records == 0 {
        0.0
    } else {
        records as f64 / dataset_records as f64
    };
    let schema_tokens = schema.schema.to_string().len() as u64 / 4;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "estimates"
    )]
    let prompt_tokens = ((prompt_chars / 4) as f64 * share) as u64 + schema_tokens * records as u64;
    let completion_tokens = completion_guess(module) * records as u64;
    let cost_usd = prices.and_then(|p| {
        let usage = Usage {
            prompt_tokens,
            cached_prompt_tokens: 0,
            completion_tokens,
            reasoning_tokens: 0,
            total_tokens: prompt_tokens + completion_tokens,
        };
        p.cost(model, &usage, Tier::Standard)
    });
    Estimate {
        prompt_tokens,
        completion_tokens,
        cost_usd,
    }
}

/// The tag results CSV names carry when the dataset is not the module's own: its kind
/// (`gold`, `synthetic`, …), so `M12_v1_gold_20260116_123456.csv` is not taken for a golden run.
fn dataset_tag(kind: &registry::DatasetKind) -> Option<String> {
    if *kind == registry::DatasetKind::Golden {
        return None;
    }
    let tag: String = kind
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    // A tag of digits only would read as part of the timestamp.
    (!tag.is_empty() && !tag.starts_with(|c: char| c.is_ascii_digit())).then_some(tag)
}

/// A results stem and local id not used yet: `M12_v1_20260116_123456` (`M12_v1_gold_…` with a
/// dataset tag) and `exp_20260116_123456_m12`, with `_2`, `_3`, … when a run of the module
/// already started in the same second.
fn free_names(
    folder: &Path,
    module: &ModuleSpec,
    settings: &RunSettings,
    tag: Option<&str>,
) -> Result<(String, String)> {
    let ts = stamp(&settings.started);
    let tag = tag.map(|t| format!("{t}_")).unwrap_or_default();
    let base = format!(
        "{}_{}_{tag}{ts}",
        module.id.upper(),
        settings.prompt_version
    );
    for n in 1..1000 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("_{n}")
        };
        let stem = format!("{base}{suffix}");
        let taken = folder.join(format!("{stem}.csv")).exists()
            || folder.join(format!("{stem}.journal.jsonl")).exists();
        if !taken {
            return Ok((stem, format!("exp_{ts}_{}{suffix}", module.id)));
        }
    }
    Err(Error::io(
        folder,
        std::io::Error::other("too many runs started in the same second"),
    ))
}

/// The results stem, local id and start time a journal's name gives
/// (`M12_v1_20260116_123456_2.journal.jsonl`: `M12_v1_20260116_123456_2`,
/// `exp_20260116_123456_m12_2`), for a journal that lost its header.
fn names_of(
    journal: &Path,
    module: &ModuleSpec,
    settings: &RunSettings,
) -> Result<(String, String, DateTime<Local>)> {
    let name = journal
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".journal.jsonl").to_owned();
    let prefix = format!("{}_{}_", module.id.upper(), settings.prompt_version);
    let Some(rest) = stem.strip_prefix(&prefix) else {
        return Err(Error::ResumeMismatch {
            journal: journal.to_owned(),
            what: "prompt version",
            then: format!("the run named {stem}"),
            now: settings.prompt_version.clone(),
        });
    };
    // A dataset tag (`gold_`) comes before the timestamp, which starts with a digit.
    let rest = match rest.split_once('_') {
        Some((tag, after)) if !tag.starts_with(|c: char| c.is_ascii_digit()) => after,
        _ => rest,
    };
    let (ts, suffix) = rest.split_at(rest.len().min(15));
    let started = chrono::NaiveDateTime::parse_from_str(ts, "%Y%m%d_%H%M%S")
        .ok()
        .and_then(|t| t.and_local_timezone(Local).earliest())
        .unwrap_or(settings.started);
    let local_id = format!("exp_{ts}_{}{suffix}", module.id);
    Ok((stem, local_id, started))
}

/// The newest unfinished run of a module (its journal), if any.
fn newest_journal(folder: &Path, module: &ModuleSpec) -> Result<Option<PathBuf>> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(folder, e)),
    };
    let prefix = format!("{}_", module.id.upper());
    let mut journals: Vec<PathBuf> = entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".journal.jsonl"))
        })
        .collect();
    // Names carry the start time, so the lexically last is the newest.
    journals.sort();
    Ok(journals.pop())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One module, m14, over `d.jsonl`, `p_{version}.md` and `s.json`.
    const CATALOG: &str = include_str!("../../../fixtures/catalog/m14_only.toml");

    pub(crate) const SCHEMA: &str = r#"{"name": "m14", "strict": true, "schema": {"type": "object", "additionalProperties": false,
        "required": ["relevancy"], "properties": {"relevancy": {"type": "string", "enum": ["R", "N"]}}}}"#;

    const LINE: &str = r#"{"id": "a", "input": {"keyword": "k"}, "expected": {"relevancy": "R"}}"#;

    /// A project of one module, m14, over this dataset and schema, and its catalog.
    fn project(dataset: &str, schema: &str) -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("modules.toml"), CATALOG).unwrap();
        std::fs::write(dir.path().join("d.jsonl"), dataset).unwrap();
        std::fs::write(dir.path().join("p_v1.md"), "Keyword: {{keyword}}").unwrap();
        std::fs::write(dir.path().join("s.json"), schema).unwrap();
        let catalog = Catalog::load(&dir.path().join("modules.toml")).unwrap();
        (dir, catalog)
    }

    /// Plans a run of the one module of a project made of these files.
    pub(crate) fn plan_of(dataset: &str, schema: &str) -> (tempfile::TempDir, Result<Plan>) {
        let (dir, catalog) = project(dataset, schema);
        let settings = RunSettings {
            prompt_version: "v1".into(),
            model: "m".into(),
            samples: None,
            seed: DEFAULT_SEED,
            dataset: None,
            token_param: TokenParam::MaxCompletionTokens,
            started: Local::now(),
        };
        let result = plan(&catalog, &catalog.modules()[0], settings, false, None);
        (dir, result)
    }

    fn error_of(dataset: &str, schema: &str) -> String {
        let (dir, result) = plan_of(dataset, schema);
        let Err(error) = result else {
            panic!("the plan is refused");
        };
        let message = error.to_string();
        message.replace(&format!("{}/", dir.path().display()), "")
    }

    /// Runs `check` with pass 1's checker over a project holding `dataset`.
    fn with_checker<T>(dataset: &str, check: impl FnOnce(&RecordCheck<'_>, &Path) -> T) -> T {
        let (dir, catalog) = project(dataset, SCHEMA);
        let module = &catalog.modules()[0];
        let paths = ProjectPaths::new(catalog.root());
        let prompt = catalog.prompt_path(module, "v1");
        let (_, template) = load_prompt(module, &prompt).unwrap();
        let dataset = dir.path().join("d.jsonl");
        let checker = RecordCheck {
            paths: &paths,
            module,
            model: "m",
            dataset: &dataset,
            prompt: &prompt,
            template: &template,
            schema_text: "{}",
            schema_tokens: 1,
            window: Some(1_000),
        };
        check(&checker, dir.path())
    }

    #[test]
    fn a_usual_record_is_checked_as_the_full_way_checks_it() {
        let lines = [
            r#"{"id": "r1", "input": {"keyword": "oven mitt"}, "expected": {"relevancy": "R"}}"#,
            r#"{"id": "r2", "input": {"keyword": ["a", {"b": 1.50}], "x": null}, "expected": {"relevancy": "N"}, "metadata": {"asin": "B0"}}"#,
            r#"{"id": "r3", "input": {"keyword": "gant \"four\" ✓ ü"}, "other": [1]}"#,
            r#"{"id": "r4", "input": {"keyword": 12}, "expected": null}"#,
            // Each of these the full way refuses, so the usual way must leave it.
            r#"{"id": "r5", "input": {"title": "no keyword"}, "expected": {"relevancy": "R"}}"#,
            r#"{"id": "r6", "input": {"keyword": "k"}, "expected": {"relevancy": "maybe"}}"#,
            r#"{"id": "r7", "input": {"keyword": "k"}, "metadata": {"a": 1, "a": 2}}"#,
            r#"{"id": 8, "input": {"keyword": "k"}}"#,
        ];
        let long = format!(
            r#"{{"id": "r9", "input": {{"keyword": "{}"}}, "expected": {{"relevancy": "R"}}}}"#,
            "w ".repeat(3000)
        );
        with_checker("", |checker, _| {
            for text in lines.iter().copied().chain([long.as_str()]) {
                let full = core_config::dataset::parse_record(checker.dataset, 7, text)
                    .map_err(Error::from)
                    .and_then(|record| checker.record(record));
                match (checker.usual_record(7, text), full) {
                    (Some(usual), Ok(full)) => assert_eq!(usual, full, "{text}"),
                    (None, Ok(_)) => assert!(text.contains(r#""id": 8"#), "left aside: {text}"),
                    (Some(usual), Err(e)) => panic!("{text}: {usual:?}, but the full way says {e}"),
                    (None, Err(_)) => {}
                }
            }
        });
    }

    /// Pass 1 over `dataset` cut into `parts` ranges: the records or the error message.
    fn pass_one(
        dataset: &str,
        parts: usize,
    ) -> std::result::Result<(Vec<(String, usize)>, u64), String> {
        with_checker(dataset, |checker, dir| pass_one_with(checker, dir, parts))
    }

    fn pass_one_with(
        checker: &RecordCheck<'_>,
        dir: &Path,
        parts: usize,
    ) -> std::result::Result<(Vec<(String, usize)>, u64), String> {
        let dataset = checker.dataset;
        let ranges = core_config::dataset::line_ranges(dataset, parts).unwrap();
        checker
            .ranges(&ranges)
            .map(|c| (c.records, c.prompt_chars))
            .map_err(|e| e.to_string().replace(&format!("{}/", dir.display()), ""))
    }

    #[test]
    fn pass_one_in_parts_gives_what_one_pass_gives() {
        let line = |i: usize, id: &str, input: &str| {
            format!(
                r#"{{"id": "{id}", "input": {input}, "expected": {{"relevancy": "R"}}}} {}"#,
                " ".repeat(i % 5)
            )
        };
        let sound: Vec<String> = (0..40)
            .map(|i| {
                line(
                    i,
                    &format!("r{i}"),
                    &format!(r#"{{"keyword": "k{}"}}"#, "é".repeat(i)),
                )
            })
            .collect();
        let with = |changes: &[(usize, String)]| {
            let mut lines = sound.clone();
            for (at, text) in changes {
                lines[*at].clone_from(text);
            }
            lines.join("\n") + "\n"
        };
        let cases = [
            ("sound", with(&[])),
            (
                "a duplicate in a later range comes before that range's own problem",
                with(&[
                    (29, line(29, "r2", r#"{"keyword": "x"}"#)),
                    (34, line(34, "r34", r#"{"other": "x"}"#)),
                ]),
            ),
            (
                "an early problem comes before a later duplicate",
                with(&[
                    (9, line(9, "r9", r#"{"other": "x"}"#)),
                    (29, line(29, "r2", r#"{"keyword": "x"}"#)),
                ]),
            ),
            (
                "a duplicate inside one range",
                with(&[(38, line(38, "r37", r#"{"keyword": "x"}"#))]),
            ),
            (
                "bad JSON on the last line",
                with(&[(39, "{\"id\": ".to_owned())]),
            ),
            (
                "a prompt over the context window",
                with(&[(
                    20,
                    line(
                        20,
                        "r20",
                        &format!(r#"{{"keyword": "{}"}}"#, "w ".repeat(3000)),
                    ),
                )]),
            ),
        ];
        for (what, dataset) in cases {
            let one = pass_one(&dataset, 1);
            for parts in [2, 3, 5, 8] {
                assert_eq!(pass_one(&dataset, parts), one, "{what}: {parts} parts");
            }
            match what {
                "sound" => assert_eq!(one.as_ref().unwrap().0.len(), 40),
                _ => assert!(one.is_err(), "{what}"),
            }
            if let Err(message) = &one {
                let expected_line = match what {
                    "a duplicate in a later range comes before that range's own problem" => ":30:",
                    "an early problem comes before a later duplicate" => ":10:",
                    "a duplicate inside one range" => ":39:",
                    "bad JSON on the last line" => ":40:",
                    _ => ":21:",
                };
                assert!(message.contains(expected_line), "{what}: {message}");
            }
        }
    }

    #[test]
    fn a_sound_project_plans_every_record() {
        let (_dir, result) = plan_of(&format!("{LINE}\n"), SCHEMA);
        assert_eq!(result.unwrap().records.len(), 1);
    }

    #[test]
    fn every_request_shares_the_plans_schema() {
        let (_dir, result) = plan_of(&format!("{LINE}\n"), SCHEMA);
        let plan = result.unwrap();
        let input: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"keyword": "k"}"#).unwrap();
        let request = plan.request(&input).unwrap();
        let ResponseFormat::JsonSchema(schema) = &request.response_format else {
            panic!("a json_schema module asks for Structured Outputs");
        };
        assert!(Arc::ptr_eq(schema, &plan.schema), "not a copy per request");
        // The body is the one a request holding its own copy of the schema sends.
        let mut copied = request.clone();
        copied.response_format = ResponseFormat::JsonSchema(Arc::new((*plan.schema).clone()));
        assert_eq!(
            request.to_body_bytes().unwrap(),
            copied.to_body_bytes().unwrap()
        );
    }

    #[test]
    fn an_empty_dataset_is_refused() {
        assert_eq!(
            error_of("\n\n", SCHEMA),
            "d.jsonl: module m14: the dataset has no records (is the file empty?)"
        );
    }

    #[test]
    fn an_expected_value_outside_the_labels_is_refused_before_any_call() {
        let dataset = format!(
            "{LINE}\n{}\n",
            LINE.replace("\"a\"", "\"b\"").replace("\"R\"", "\"maybe\"")
        );
        assert_eq!(
            error_of(&dataset, SCHEMA),
            "d.jsonl:2: record `b`: expected.relevancy: `maybe` is not a label of this field (expected one of: R, N)"
        );
    }

    #[test]
    fn a_strict_schema_that_breaks_the_strict_rules_is_refused() {
        let open = SCHEMA.replace("\"additionalProperties\": false,", "");
        assert_eq!(
            error_of(&format!("{LINE}\n"), &open),
            "s.json: not a valid strict schema (the API would refuse every request): #: objects must set \"additionalProperties\": false"
        );
        // A schema that does not ask for strict mode is the provider's to interpret.
        let loose = open.replace("\"strict\": true", "\"strict\": false");
        assert!(plan_of(&format!("{LINE}\n"), &loose).1.is_ok());
    }

    #[test]
    fn a_run_on_another_dataset_carries_its_kind_in_the_csv_name_and_resumes_by_it() {
        let (dir, result) = plan_of(&format!("{LINE}\n"), SCHEMA);
        let golden = result.unwrap();
        assert_eq!(golden.dataset_kind, registry::DatasetKind::Golden);
        let described = golden.dataset_ref().unwrap();
        assert_eq!(described.kind, registry::DatasetKind::Golden);
        assert_eq!(described.path, "d.jsonl");
        assert_eq!(described.records, 1);
        assert_eq!(described.sha256.len(), 64);
        let name = golden
            .csv
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with("M14_v1_2"),
            "no tag for the module's own: {name}"
        );
        // The same module on a gold file.
        let gold = dir
            .path()
            .join("validated_data/M14_gold_20260116_120000.jsonl");
        std::fs::create_dir_all(gold.parent().unwrap()).unwrap();
        std::fs::write(&gold, format!("{LINE}\n")).unwrap();
        let catalog = Catalog::load(&dir.path().join("modules.toml")).unwrap();
        let settings = RunSettings {
            dataset: Some(gold),
            ..golden.settings
        };
        let plan = plan(
            &catalog,
            &catalog.modules()[0],
            settings.clone(),
            false,
            None,
        )
        .unwrap();
        assert_eq!(plan.dataset_kind, registry::DatasetKind::Gold);
        assert_eq!(
            plan.dataset_ref().unwrap().kind,
            registry::DatasetKind::Gold
        );
        let name = plan.csv.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("M14_v1_gold_2"), "{name}");
        // A journal of a tagged run that lost its header still gives its names back.
        let journal = Path::new("M14_v1_gold_20260116_123456_2.journal.jsonl");
        let module = &catalog.modules()[0];
        let (stem, local_id, _) = names_of(journal, module, &settings).unwrap();
        assert_eq!(stem, "M14_v1_gold_20260116_123456_2");
        assert_eq!(local_id, "exp_20260116_123456_m14_2");
    }
}
