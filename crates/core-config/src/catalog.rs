//! The module catalogue: `modules.toml` parsed, validated and resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::fieldpath::FieldPath;
use crate::ids::{ModuleId, closest, folder_name};
use crate::labels::{LabelSet, ScoreKind};

/// The file name the catalogue is read from, at the project root.
pub const CATALOG_FILE: &str = "modules.toml";

/// What kind of task a module performs (shown by `orchestrator list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleType {
    /// Pulls entities or attributes out of a listing.
    Extraction,
    /// Generates new strings (e.g. brand search variations).
    Generation,
    /// Answers a two-way question (e.g. OB vs Null).
    BinaryClassifier,
    /// Assigns one of several labels.
    Classifier,
    /// Orders items.
    Ranking,
    /// Checks and corrects an earlier module's answer.
    Validation,
}

impl ModuleType {
    /// The name used in `modules.toml`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Extraction => "extraction",
            Self::Generation => "generation",
            Self::BinaryClassifier => "binary_classifier",
            Self::Classifier => "classifier",
            Self::Ranking => "ranking",
            Self::Validation => "validation",
        }
    }
}

impl fmt::Display for ModuleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the module asks the model for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatKind {
    /// Structured Outputs: `json_schema` with `strict: true` from the module's schema file.
    JsonSchema,
    /// JSON mode: any JSON object (a message must mention "json").
    JsonObject,
}

/// Settings every module inherits unless it overrides them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Model used when neither the command line nor the module names one.
    pub model: String,
    /// Sampling temperature.
    pub temperature: f64,
    /// Cap on completion tokens.
    pub max_tokens: u32,
    /// Prompt version used when `--prompt-version` is not given.
    pub prompt_version: String,
    /// Version recorded for the datasets.
    pub dataset_version: String,
    /// How JSON is requested.
    pub response_format: ResponseFormatKind,
}

/// The model settings of one module after applying the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    /// Model name, when the module overrides it (otherwise the run's default applies).
    pub model_override: Option<String>,
    /// Sampling temperature.
    pub temperature: f64,
    /// Cap on completion tokens.
    pub max_tokens: u32,
    /// How JSON is requested.
    pub response_format: ResponseFormatKind,
}

/// A named column and the field it is filled from.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column header.
    pub name: String,
    /// Where the value comes from.
    pub from: FieldPath,
}

/// One scored field of a module.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreField {
    /// Short name (also the suffix of the annotation columns).
    pub name: String,
    /// How values are compared.
    pub kind: ScoreKind,
    /// Dotted path of the field in `record.expected`.
    pub expected: String,
    /// Dotted path of the field in the model output.
    pub output: String,
    /// Labels of a categorical field (binary, multiclass, boolean).
    pub labels: Option<LabelSet>,
    /// Match threshold of list, text, taxonomy and ranking fields.
    pub threshold: Option<f64>,
}

/// A field annotators fill in.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotatedField {
    /// The scored field it corresponds to.
    pub score: String,
    /// Column suffix: `annotator_a_{column}` (or just `annotator_a` when empty).
    pub column: String,
    /// The annotation column holding the model's answer for this field.
    pub llm: String,
}

/// One of the two annotators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Annotator {
    /// Annotator A.
    A,
    /// Annotator B.
    B,
}

impl Annotator {
    /// `a` or `b`.
    #[must_use]
    pub fn letter(self) -> char {
        match self {
            Self::A => 'a',
            Self::B => 'b',
        }
    }
}

impl AnnotatedField {
    /// The header of this field's column for one annotator, e.g. `annotator_a_violates`.
    #[must_use]
    pub fn column_for(&self, annotator: Annotator) -> String {
        let letter = annotator.letter();
        if self.column.is_empty() {
            format!("annotator_{letter}")
        } else {
            format!("annotator_{letter}_{}", self.column)
        }
    }
}

/// The layout of a module's annotation CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationSpec {
    /// Context columns copied from the run (asin, keyword, title, …).
    pub context: Vec<Column>,
    /// The model's answers.
    pub llm: Vec<Column>,
    /// Fields both annotators fill.
    pub fields: Vec<AnnotatedField>,
    /// Whether each annotator also gets a reasoning column.
    pub reasoning: bool,
}

impl AnnotationSpec {
    /// The reasoning column of one annotator, if the layout has one.
    #[must_use]
    pub fn reasoning_column(&self, annotator: Annotator) -> Option<String> {
        self.reasoning
            .then(|| format!("annotator_{}_reasoning", annotator.letter()))
    }

    /// Every header, in order: `row_id, record_id`, context, model answers, annotator A's
    /// columns, annotator B's columns, `agreement, notes`.
    #[must_use]
    pub fn headers(&self) -> Vec<String> {
        let mut headers = vec!["row_id".to_owned(), "record_id".to_owned()];
        headers.extend(self.context.iter().map(|c| c.name.clone()));
        headers.extend(self.llm.iter().map(|c| c.name.clone()));
        for annotator in [Annotator::A, Annotator::B] {
            headers.extend(self.fields.iter().map(|f| f.column_for(annotator)));
            headers.extend(self.reasoning_column(annotator));
        }
        headers.push("agreement".to_owned());
        headers.push("notes".to_owned());
        headers
    }
}

/// Everything the catalogue says about one module.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleSpec {
    /// Canonical id, e.g. `m12`.
    pub id: ModuleId,
    /// CamelCase name, e.g. `HardConstraintViolationCheck`.
    pub name: String,
    /// snake_case slug used in file names.
    pub slug: String,
    /// Task type.
    pub module_type: ModuleType,
    /// Pipeline stage (1–4).
    pub stage: u8,
    /// Whether `run --all` includes it.
    pub enabled: bool,
    /// One-line purpose.
    pub description: String,
    /// Dataset path relative to the root.
    pub dataset: PathBuf,
    /// Prompt path relative to the root, with `{version}` standing for the prompt version.
    pub prompt: String,
    /// JSON-schema path relative to the root.
    pub schema: PathBuf,
    /// Model settings after defaults.
    pub settings: ModelSettings,
    /// Input keys present in the dataset that the prompt deliberately does not use.
    pub ignored_inputs: Vec<String>,
    /// Scored fields; a row is correct when all of them are. The first is the primary one.
    pub score: Vec<ScoreField>,
    /// The module's own columns in the results CSV.
    pub results_columns: Vec<Column>,
    /// The annotation CSV layout.
    pub annotation: AnnotationSpec,
}

impl ModuleSpec {
    /// Folder under `experiment_results/`, e.g. `M12_HardConstraintViolationCheck`.
    #[must_use]
    pub fn folder_name(&self) -> String {
        folder_name(&self.id, &self.name)
    }

    /// The primary scored field (used for per-label metrics and annotation agreement).
    #[must_use]
    pub fn primary_score(&self) -> &ScoreField {
        &self.score[0]
    }

    /// A scored field by name.
    #[must_use]
    pub fn score_field(&self, name: &str) -> Option<&ScoreField> {
        self.score.iter().find(|s| s.name == name)
    }

    /// The prompt path (relative to the root) for a prompt version such as `v1`.
    #[must_use]
    pub fn prompt_for(&self, version: &str) -> PathBuf {
        PathBuf::from(self.prompt.replace("{version}", version))
    }
}

/// The loaded catalogue.
#[derive(Debug, Clone)]
pub struct Catalog {
    path: PathBuf,
    root: PathBuf,
    defaults: Defaults,
    modules: Vec<ModuleSpec>,
}

impl Catalog {
    /// Reads and validates a catalogue file. The project root is the file's directory.
    ///
    /// # Errors
    /// When the file cannot be read, is not valid TOML, or describes an inconsistent module
    /// (the error names the file, line and key).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Finds the project root above `start` and loads its catalogue.
    ///
    /// # Errors
    /// When no `modules.toml` exists in `start` or any parent, or it does not load.
    pub fn discover(start: &Path) -> Result<Self> {
        let root = crate::paths::find_root(start)?;
        Self::load(&root.join(CATALOG_FILE))
    }

    /// Parses catalogue text as if it had been read from `path`.
    ///
    /// # Errors
    /// As [`Catalog::load`].
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |span| line_col(text, span.start));
            Error::Toml {
                path: path.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let root = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let located = Locator { text, path };
        resolve(raw, &located, path, root)
    }

    /// The catalogue file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The project root (the directory holding `modules.toml`).
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Catalogue-wide defaults.
    #[must_use]
    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    /// Every module, in id order.
    #[must_use]
    pub fn modules(&self) -> &[ModuleSpec] {
        &self.modules
    }

    /// The modules `run --all` includes.
    pub fn enabled(&self) -> impl Iterator<Item = &ModuleSpec> {
        self.modules.iter().filter(|m| m.enabled)
    }

    /// A module by canonical id.
    #[must_use]
    pub fn get(&self, id: &ModuleId) -> Option<&ModuleSpec> {
        self.modules.iter().find(|m| &m.id == id)
    }

    /// Resolves what a user typed: `m12`, `M12`, `12`, `2b`, a module name or a folder name.
    ///
    /// # Errors
    /// [`Error::UnknownModule`] listing the valid ids and the closest one.
    pub fn resolve(&self, text: &str) -> Result<&ModuleSpec> {
        if let Some(id) = ModuleId::parse(text)
            && let Some(module) = self.get(&id)
        {
            return Ok(module);
        }
        let trimmed = text.trim();
        if let Some(module) = self.modules.iter().find(|m| {
            m.name.eq_ignore_ascii_case(trimmed) || m.folder_name().eq_ignore_ascii_case(trimmed)
        }) {
            return Ok(module);
        }
        let valid: Vec<String> = self.modules.iter().map(|m| m.id.to_string()).collect();
        let suggestion = match ModuleId::parse(text) {
            // An id-shaped typo: suggest the numerically nearest module (m17 -> m16).
            Some(id) => self
                .modules
                .iter()
                .map(|m| (id_distance(&id, &m.id), m.id.to_string()))
                .filter(|(d, _)| *d <= 4)
                .min()
                .map(|(_, id)| id),
            None => closest(trimmed, valid.iter().map(String::as_str)).map(str::to_owned),
        };
        Err(Error::UnknownModule {
            input: trimmed.to_owned(),
            valid,
            suggestion,
        })
    }

    /// The module a file name belongs to, from its `M12_…` / `M12B_…` prefix.
    #[must_use]
    pub fn module_for_file_name(&self, file_name: &str) -> Option<&ModuleSpec> {
        let upper = file_name.to_ascii_uppercase();
        self.modules
            .iter()
            .filter(|m| {
                let id = m.id.upper();
                upper
                    .strip_prefix(&id)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['_', '-', '.', ' ']))
            })
            .max_by_key(|m| m.id.as_str().len())
    }

    /// A path relative to the root made absolute.
    #[must_use]
    pub fn path_of(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }

    /// Absolute dataset path of a module.
    #[must_use]
    pub fn dataset_path(&self, module: &ModuleSpec) -> PathBuf {
        self.path_of(&module.dataset)
    }

    /// Absolute prompt path of a module for a prompt version.
    #[must_use]
    pub fn prompt_path(&self, module: &ModuleSpec, version: &str) -> PathBuf {
        self.path_of(&module.prompt_for(version))
    }

    /// Absolute schema path of a module.
    #[must_use]
    pub fn schema_path(&self, module: &ModuleSpec) -> PathBuf {
        self.path_of(&module.schema)
    }
}

/// How far apart two ids are: twice the difference of their numbers, plus one when the letter
/// suffix differs.
fn id_distance(a: &ModuleId, b: &ModuleId) -> u32 {
    let split = |id: &ModuleId| {
        let digits: String = id.as_str()[1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let number: u32 = digits.parse().unwrap_or(0);
        (number, id.as_str()[1 + digits.len()..].to_owned())
    };
    let (na, sa) = split(a);
    let (nb, sb) = split(b);
    na.abs_diff(nb) * 2 + u32::from(sa != sb)
}

// ------------------------------------------------------------------------------------------
// Raw TOML shape
// ------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    version: u32,
    defaults: Defaults,
    #[serde(default)]
    context_sets: BTreeMap<String, Vec<RawColumn>>,
    #[serde(rename = "module", default)]
    modules: Vec<toml::Spanned<RawModule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    id: String,
    name: String,
    slug: String,
    #[serde(rename = "type")]
    module_type: ModuleType,
    stage: u8,
    enabled: bool,
    description: String,
    dataset: String,
    prompt: String,
    schema: String,
    model: Option<String>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    response_format: Option<ResponseFormatKind>,
    #[serde(default)]
    ignored_inputs: Vec<String>,
    #[serde(default)]
    score: Vec<RawScore>,
    results: Option<RawResults>,
    annotation: RawAnnotation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScore {
    name: String,
    kind: ScoreKind,
    expected: String,
    output: String,
    #[serde(default)]
    labels: Vec<String>,
    positive: Option<String>,
    null: Option<String>,
    #[serde(default)]
    ordered: bool,
    #[serde(default)]
    aliases: BTreeMap<String, Vec<String>>,
    threshold: Option<f64>,
    #[serde(default)]
    expected_values: BTreeMap<String, String>,
    #[serde(default)]
    output_values: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResults {
    columns: Vec<RawColumn>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    from: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnnotation {
    context_set: Option<String>,
    #[serde(default)]
    context: Vec<RawColumn>,
    #[serde(default)]
    llm: Vec<RawColumn>,
    fields: Vec<RawAnnotatedField>,
    reasoning: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnnotatedField {
    score: String,
    column: String,
    llm: String,
}

// ------------------------------------------------------------------------------------------
// Resolution and validation
// ------------------------------------------------------------------------------------------

/// Finds the line of a key inside a module's span, so semantic errors point at the key.
struct Locator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Locator<'_> {
    fn error(&self, span: &Range<usize>, key: &str, message: String) -> Error {
        let line = self.key_line(span, key);
        Error::Catalog {
            path: self.path.to_owned(),
            line,
            message,
        }
    }

    fn key_line(&self, span: &Range<usize>, key: &str) -> usize {
        let start = span.start.min(self.text.len());
        let end = span.end.min(self.text.len());
        let (first_line, _) = line_col(self.text, start);
        if !key.is_empty() {
            for (offset, line) in self.text[start..end].lines().enumerate() {
                let trimmed = line.trim_start().trim_start_matches('{').trim_start();
                if let Some(rest) = trimmed.strip_prefix(key)
                    && rest.trim_start().starts_with('=')
                {
                    return first_line + offset;
                }
            }
        }
        first_line
    }
}

pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

fn resolve(raw: RawCatalog, loc: &Locator<'_>, path: &Path, root: PathBuf) -> Result<Catalog> {
    if raw.version != 1 {
        return Err(Error::Catalog {
            path: path.to_owned(),
            line: loc.key_line(&(0..loc.text.len()), "version"),
            message: format!(
                "key `version`: unsupported catalogue version {} (this tool reads version 1)",
                raw.version
            ),
        });
    }
    let mut modules = Vec::with_capacity(raw.modules.len());
    let mut seen = BTreeSet::new();
    // A module's span covers only its `[[module]]` header; its keys run until the next module.
    let starts: Vec<usize> = raw.modules.iter().map(|m| m.span().start).collect();
    for (i, spanned) in raw.modules.into_iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(loc.text.len());
        let span = spanned.span().start..end;
        let module = resolve_module(
            spanned.into_inner(),
            &raw.defaults,
            &raw.context_sets,
            loc,
            &span,
        )?;
        if !seen.insert(module.id.clone()) {
            return Err(loc.error(
                &span,
                "id",
                format!("key `id`: module `{}` is declared twice", module.id),
            ));
        }
        modules.push(module);
    }
    // Catalogue order is id order (m01, m01a, …, m02b, m03, …), whatever the file's order.
    modules.sort_by(|a, b| a.id.cmp(&b.id));
    if modules.is_empty() {
        return Err(Error::Catalog {
            path: path.to_owned(),
            line: 1,
            message: "the catalogue declares no modules (add [[module]] tables)".to_owned(),
        });
    }
    Ok(Catalog {
        path: path.to_owned(),
        root,
        defaults: raw.defaults,
        modules,
    })
}

fn resolve_module(
    raw: RawModule,
    defaults: &Defaults,
    context_sets: &BTreeMap<String, Vec<RawColumn>>,
    loc: &Locator<'_>,
    span: &Range<usize>,
) -> Result<ModuleSpec> {
    let module = raw.id.clone();
    let err = |key: &str, message: String| {
        loc.error(
            span,
            key,
            format!("module `{module}`, key `{key}`: {message}"),
        )
    };
    let id = check_module_keys(&raw, &err)?;
    let score = resolve_scores(raw.score, &err)?;
    let results_columns = match &raw.results {
        Some(results) => parse_columns(&results.columns, "columns", &err)?,
        None => default_results_columns(&score[0], &err)?,
    };
    let annotation = resolve_annotation(&raw.annotation, &score, context_sets, &err)?;
    Ok(ModuleSpec {
        id,
        name: raw.name,
        slug: raw.slug,
        module_type: raw.module_type,
        stage: raw.stage,
        enabled: raw.enabled,
        description: raw.description,
        dataset: PathBuf::from(raw.dataset),
        prompt: raw.prompt,
        schema: PathBuf::from(raw.schema),
        settings: ModelSettings {
            model_override: raw.model,
            temperature: raw.temperature.unwrap_or(defaults.temperature),
            max_tokens: raw.max_tokens.unwrap_or(defaults.max_tokens),
            response_format: raw.response_format.unwrap_or(defaults.response_format),
        },
        ignored_inputs: raw.ignored_inputs,
        score,
        results_columns,
        annotation,
    })
}

/// Checks a module's own keys (id, name, slug, stage, model settings, files, at least one
/// score field) and returns its id.
fn check_module_keys(raw: &RawModule, err: &dyn Fn(&str, String) -> Error) -> Result<ModuleId> {
    let id = ModuleId::parse(&raw.id)
        .filter(|id| id.as_str() == raw.id)
        .ok_or_else(|| {
            err(
                "id",
                format!(
                    "`{}` is not a canonical module id (like m12 or m02b)",
                    raw.id
                ),
            )
        })?;
    if raw.name.is_empty()
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(err(
            "name",
            "must be a non-empty CamelCase name (letters, digits, _)".to_owned(),
        ));
    }
    if raw.slug.is_empty()
        || !raw
            .slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(err("slug", "must be snake_case (a-z, 0-9, _)".to_owned()));
    }
    if !(1..=4).contains(&raw.stage) {
        return Err(err("stage", format!("must be 1 to 4, not {}", raw.stage)));
    }
    if let Some(t) = raw.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(err("temperature", format!("must be within 0..2, not {t}")));
    }
    if raw.max_tokens == Some(0) {
        return Err(err("max_tokens", "must be at least 1".to_owned()));
    }
    for (key, value) in [
        ("dataset", &raw.dataset),
        ("prompt", &raw.prompt),
        ("schema", &raw.schema),
    ] {
        if value.trim().is_empty() {
            return Err(err(key, "must name a file".to_owned()));
        }
    }
    if raw.score.is_empty() {
        return Err(err(
            "score",
            "a module needs at least one [[module.score]] table".to_owned(),
        ));
    }
    Ok(id)
}

/// The module's score fields, each name declared once.
fn resolve_scores(
    raw: Vec<RawScore>,
    err: &dyn Fn(&str, String) -> Error,
) -> Result<Vec<ScoreField>> {
    let mut score = Vec::with_capacity(raw.len());
    for s in raw {
        if score.iter().any(|f: &ScoreField| f.name == s.name) {
            return Err(err(
                "name",
                format!("score field `{}` is declared twice", s.name),
            ));
        }
        score.push(resolve_score(s, err)?);
    }
    Ok(score)
}

/// Columns whose `from` paths parse; an error names `key` and the column.
fn parse_columns(
    cols: &[RawColumn],
    key: &str,
    err: &dyn Fn(&str, String) -> Error,
) -> Result<Vec<Column>> {
    cols.iter()
        .map(|c| {
            FieldPath::parse(&c.from)
                .map(|from| Column {
                    name: c.name.clone(),
                    from,
                })
                .map_err(|m| err(key, format!("column `{}`: {m}", c.name)))
        })
        .collect()
}

/// Without a `[module.results]` table: the primary field's expected value and answer.
fn default_results_columns(
    primary: &ScoreField,
    err: &dyn Fn(&str, String) -> Error,
) -> Result<Vec<Column>> {
    Ok(vec![
        Column {
            name: "Expected_Output".to_owned(),
            from: FieldPath::parse(&format!("expected.{}", primary.expected))
                .map_err(|m| err("expected", m))?,
        },
        Column {
            name: "output_HC".to_owned(),
            from: FieldPath::parse(&format!("output.{}", primary.output))
                .map_err(|m| err("output", m))?,
        },
    ])
}

/// The annotation layout: its context columns (a named set, then the module's own), LLM
/// columns and annotated fields, each field naming a declared score field and LLM column, and
/// no header twice.
fn resolve_annotation(
    a: &RawAnnotation,
    score: &[ScoreField],
    context_sets: &BTreeMap<String, Vec<RawColumn>>,
    err: &dyn Fn(&str, String) -> Error,
) -> Result<AnnotationSpec> {
    let mut context = Vec::new();
    if let Some(set) = &a.context_set {
        let cols = context_sets.get(set).ok_or_else(|| {
            err(
                "context_set",
                format!(
                    "no [context_sets] entry named `{set}` (known: {})",
                    context_sets.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        context.extend(parse_columns(cols, "context_set", err)?);
    }
    context.extend(parse_columns(&a.context, "context", err)?);
    let llm = parse_columns(&a.llm, "llm", err)?;
    if a.fields.is_empty() {
        return Err(err(
            "fields",
            "an annotation layout needs at least one field".to_owned(),
        ));
    }
    let mut fields = Vec::new();
    for f in &a.fields {
        if !score.iter().any(|s| s.name == f.score) {
            return Err(err(
                "fields",
                format!(
                    "annotated field refers to score field `{}`, which is not declared",
                    f.score
                ),
            ));
        }
        if !llm.iter().any(|c| c.name == f.llm) {
            return Err(err(
                "fields",
                format!(
                    "annotated field `{}` names llm column `{}`, which is not in `llm`",
                    f.score, f.llm
                ),
            ));
        }
        fields.push(AnnotatedField {
            score: f.score.clone(),
            column: f.column.clone(),
            llm: f.llm.clone(),
        });
    }
    let spec = AnnotationSpec {
        context,
        llm,
        fields,
        reasoning: a.reasoning,
    };
    let mut names = BTreeSet::new();
    for header in spec.headers() {
        if !names.insert(header.clone()) {
            return Err(err(
                "annotation",
                format!("column `{header}` appears twice in the annotation layout"),
            ));
        }
    }
    Ok(spec)
}

fn resolve_score(s: RawScore, err: &dyn Fn(&str, String) -> Error) -> Result<ScoreField> {
    let field = |key: &str, m: String| err(key, format!("score field `{}`: {m}", s.name));
    if s.name.is_empty()
        || !s
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(field(
            "name",
            "must be a non-empty snake_case name".to_owned(),
        ));
    }
    for (key, value) in [("expected", &s.expected), ("output", &s.output)] {
        if value.is_empty() || value.split('.').any(str::is_empty) {
            return Err(field(key, format!("`{value}` is not a dotted field name")));
        }
    }
    let categorical_only = |key: &str, present: bool| -> Result<()> {
        if present && !s.kind.is_categorical() {
            return Err(field(
                key,
                format!(
                    "only categorical fields take `{key}`, and this one is `{}`",
                    s.kind
                ),
            ));
        }
        Ok(())
    };
    categorical_only("labels", !s.labels.is_empty())?;
    categorical_only("positive", s.positive.is_some())?;
    categorical_only("null", s.null.is_some())?;
    categorical_only("aliases", !s.aliases.is_empty())?;
    categorical_only("ordered", s.ordered)?;
    categorical_only("expected_values", !s.expected_values.is_empty())?;
    categorical_only("output_values", !s.output_values.is_empty())?;

    let labels = score_labels(&s, &field)?;
    let threshold = score_threshold(&s, &field)?;
    Ok(ScoreField {
        name: s.name,
        kind: s.kind,
        expected: s.expected,
        output: s.output,
        labels,
        threshold,
    })
}

/// A categorical field's label set (fixed true/false for a boolean one); `None` for the
/// other kinds.
fn score_labels(s: &RawScore, field: &dyn Fn(&str, String) -> Error) -> Result<Option<LabelSet>> {
    Ok(match s.kind {
        ScoreKind::Boolean => {
            if !s.labels.is_empty() || s.positive.is_some() || !s.aliases.is_empty() {
                return Err(field("labels", "a boolean field has the fixed labels true/false; remove labels, positive and aliases".to_owned()));
            }
            if let Some(null) = &s.null
                && null != "true"
                && null != "false"
            {
                return Err(field(
                    "null",
                    format!("a boolean field's null label must be true or false, not `{null}`"),
                ));
            }
            let set = LabelSet::boolean(s.null.clone());
            Some(
                set.with_side_values(&s.expected_values, &s.output_values)
                    .map_err(|m| field("expected_values", m))?,
            )
        }
        ScoreKind::Binary | ScoreKind::Multiclass => {
            for (key, value) in [("positive", &s.positive), ("null", &s.null)] {
                if let Some(value) = value
                    && !s.labels.contains(value)
                {
                    return Err(field(
                        key,
                        format!(
                            "{key} label `{value}` is not one of the labels ({})",
                            s.labels.join(", ")
                        ),
                    ));
                }
            }
            if s.kind == ScoreKind::Binary {
                if s.labels.len() != 2 {
                    return Err(field(
                        "labels",
                        format!(
                            "a binary field needs exactly two labels, found {}",
                            s.labels.len()
                        ),
                    ));
                }
                if s.positive.is_none() {
                    return Err(field(
                        "positive",
                        "a binary field must name its positive label".to_owned(),
                    ));
                }
            } else if s.labels.len() < 2 {
                return Err(field(
                    "labels",
                    "a multiclass field needs at least two labels".to_owned(),
                ));
            }
            let set = LabelSet::new(
                s.labels.clone(),
                &s.aliases,
                s.positive.clone(),
                s.null.clone(),
                s.ordered,
            )
            .map_err(|m| field("labels", m))?;
            Some(
                set.with_side_values(&s.expected_values, &s.output_values)
                    .map_err(|m| field("expected_values", m))?,
            )
        }
        ScoreKind::List | ScoreKind::Taxonomy | ScoreKind::Ranking | ScoreKind::Text => None,
    })
}

/// The similarity threshold: none for a categorical field, within 0..1 for the others.
fn score_threshold(s: &RawScore, field: &dyn Fn(&str, String) -> Error) -> Result<Option<f64>> {
    Ok(match (s.kind.is_categorical(), s.threshold) {
        (true, Some(_)) => {
            return Err(field(
                "threshold",
                "categorical fields are exact matches and take no threshold".to_owned(),
            ));
        }
        (true, None) => None,
        (false, None) => {
            return Err(field(
                "threshold",
                format!("a `{}` field needs a threshold in 0..1", s.kind),
            ));
        }
        (false, Some(t)) if !(0.0..=1.0).contains(&t) => {
            return Err(field("threshold", format!("must be within 0..1, not {t}")));
        }
        (false, Some(t)) => Some(t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
version = 1

[defaults]
model = "gpt-4o-mini"
temperature = 0.0
max_tokens = 512
prompt_version = "v1"
dataset_version = "v1.1"
response_format = "json_schema"

[[module]]
id = "m12"
name = "HardConstraintViolationCheck"
slug = "check_hard_constraint"
type = "classifier"
stage = 4
enabled = true
description = "d"
dataset = "datasets/m12.jsonl"
prompt = "prompts/m12_{version}.md"
schema = "schemas/m12.json"

[[module.score]]
name = "violates"
kind = "boolean"
expected = "relevancy"
output = "violates_constraint"
expected_values = { N = "true", null = "false" }

[module.annotation]
context = [{ name = "keyword", from = "input.keyword" }]
llm = [{ name = "llm_violates", from = "output.violates_constraint" }]
fields = [{ score = "violates", column = "violates", llm = "llm_violates" }]
reasoning = true

[[module]]
id = "m12b"
name = "CombinedClassification"
slug = "combined_classification"
type = "classifier"
stage = 4
enabled = false
description = "d"
dataset = "datasets/m12b.jsonl"
prompt = "prompts/m12b.md"
schema = "schemas/m12b.json"

[[module.score]]
name = "relevancy"
kind = "multiclass"
expected = "relevancy"
output = "relevancy"
labels = ["R", "S", "C", "N"]
ordered = true

[module.annotation]
llm = [{ name = "llm_relevancy", from = "output.relevancy" }]
fields = [{ score = "relevancy", column = "relevancy", llm = "llm_relevancy" }]
reasoning = false
"#;

    fn parse(text: &str) -> Result<Catalog> {
        Catalog::parse(text, Path::new("/p/modules.toml"))
    }

    #[test]
    fn parses_a_minimal_catalogue() {
        let catalog = parse(MINIMAL).unwrap();
        assert_eq!(catalog.root(), Path::new("/p"));
        assert_eq!(catalog.modules().len(), 2);
        assert_eq!(catalog.enabled().count(), 1);
        let m12 = catalog.resolve("12").unwrap();
        assert_eq!(m12.folder_name(), "M12_HardConstraintViolationCheck");
        assert_eq!(m12.prompt_for("v2"), PathBuf::from("prompts/m12_v2.md"));
        assert_eq!(m12.settings.max_tokens, 512);
        assert_eq!(m12.primary_score().kind, ScoreKind::Boolean);
        // Defaults fill in the results columns from the primary field.
        let names: Vec<_> = m12
            .results_columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["Expected_Output", "output_HC"]);
        assert_eq!(
            m12.results_columns[0].from.to_string(),
            "expected.relevancy"
        );
        assert_eq!(
            m12.annotation.headers(),
            [
                "row_id",
                "record_id",
                "keyword",
                "llm_violates",
                "annotator_a_violates",
                "annotator_a_reasoning",
                "annotator_b_violates",
                "annotator_b_reasoning",
                "agreement",
                "notes"
            ]
        );
        let m12b = catalog.resolve("M12B").unwrap();
        let labels = m12b.primary_score().labels.as_ref().unwrap();
        assert_eq!(labels.labels(), ["R", "S", "C", "N"]);
        assert!(labels.ordered());
    }

    #[test]
    fn resolves_names_and_folder_names() {
        let catalog = parse(MINIMAL).unwrap();
        assert_eq!(
            catalog
                .resolve("combinedclassification")
                .unwrap()
                .id
                .as_str(),
            "m12b"
        );
        assert_eq!(
            catalog
                .resolve("M12_HardConstraintViolationCheck")
                .unwrap()
                .id
                .as_str(),
            "m12"
        );
    }

    #[test]
    fn unknown_ids_list_the_valid_ones_and_suggest_the_closest() {
        let catalog = parse(MINIMAL).unwrap();
        let err = catalog.resolve("m13").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown module `m13` (did you mean `m12`?); valid ids: m12, m12b"
        );
        let err = catalog.resolve("frobnicate").unwrap_err().to_string();
        assert_eq!(err, "unknown module `frobnicate`; valid ids: m12, m12b");
    }

    #[test]
    fn file_names_map_to_modules_by_prefix() {
        let catalog = parse(MINIMAL).unwrap();
        let id = |name: &str| catalog.module_for_file_name(name).map(|m| m.id.to_string());
        assert_eq!(
            id("M12_annotation_20260116_123456.csv").as_deref(),
            Some("m12")
        );
        assert_eq!(
            id("M12B_annotation_20260116_123456.csv").as_deref(),
            Some("m12b")
        );
        assert_eq!(id("m12b_gold.jsonl").as_deref(), Some("m12b"));
        assert_eq!(id("M13_annotation.csv"), None);
        assert_eq!(id("M123_x.csv"), None);
    }

    #[test]
    fn syntax_errors_name_file_line_and_key() {
        let broken = MINIMAL.replace("stage = 4\nenabled = true", "stage = 4\nenabled = maybe");
        let err = parse(&broken).unwrap_err().to_string();
        assert!(
            err.starts_with("/p/modules.toml:18:11: string values must be quoted"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line() {
        let broken = MINIMAL.replace(
            "slug = \"check_hard_constraint\"",
            "slug = \"check_hard_constraint\"\nslugg = \"x\"",
        );
        let err = parse(&broken).unwrap_err().to_string();
        assert!(err.starts_with("/p/modules.toml:16:1:"), "{err}");
        assert!(err.contains("unknown field `slugg`"), "{err}");
    }

    #[test]
    fn semantic_errors_point_at_the_key() {
        let broken = MINIMAL.replace("ordered = true", "ordered = true\npositive = \"X\"");
        let err = parse(&broken).unwrap_err().to_string();
        assert_eq!(
            err,
            "/p/modules.toml:56: module `m12b`, key `positive`: score field `relevancy`: positive label `X` is not one of the labels (R, S, C, N)"
        );
        let missing_threshold = MINIMAL
            .replace("kind = \"multiclass\"", "kind = \"list\"")
            .replace(
                "labels = [\"R\", \"S\", \"C\", \"N\"]\nordered = true\n",
                "",
            );
        let err = parse(&missing_threshold).unwrap_err().to_string();
        assert!(
            err.contains(
                "key `threshold`: score field `relevancy`: a `list` field needs a threshold"
            ),
            "{err}"
        );
    }

    #[test]
    fn annotation_fields_must_refer_to_declared_columns() {
        let broken = MINIMAL.replace(
            "fields = [{ score = \"violates\", column = \"violates\", llm = \"llm_violates\" }]",
            "fields = [{ score = \"violates\", column = \"violates\", llm = \"llm_nope\" }]",
        );
        let err = parse(&broken).unwrap_err().to_string();
        assert!(
            err.contains("names llm column `llm_nope`, which is not in `llm`"),
            "{err}"
        );
        assert!(err.starts_with("/p/modules.toml:34:"), "{err}");
    }

    #[test]
    fn duplicate_modules_are_rejected() {
        let doubled = MINIMAL.replace("id = \"m12b\"", "id = \"m12\"");
        let err = parse(&doubled).unwrap_err().to_string();
        assert!(err.contains("module `m12` is declared twice"), "{err}");
    }
}
