//! The data check behind `orchestrator validate`: every dataset line parses, every prompt
//! placeholder is fed and every input key used (or explicitly ignored), every schema is a valid
//! strict schema, every expected value is in the module's label set, record ids are present and
//! unique. Problems are collected, not stopped at, so one run shows them all.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::catalog::ResponseFormatKind;
use crate::catalog::{Catalog, ModuleSpec};
use crate::contamination::Keywords;
use crate::context::{ContextWindows, check_request};
use crate::dataset::{Record, RecordReader, kind_of};
use crate::fieldpath::{Root, lookup_dotted};
use crate::labels::{Reading, ScoreKind, Side};
use crate::schema::ResponseSchema;
use crate::template::{Template, TemplateError};

/// One problem found by the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file it is in (relative to the project root when it lies under it).
    pub file: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// What one module's check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleCheck {
    /// The module.
    pub module: String,
    /// Records read from its dataset.
    pub records: usize,
    /// Problems to show (repeats of one kind beyond a few are summarised in a note line).
    pub problems: Vec<Problem>,
    /// How many problems were found in all, repeats included.
    pub total: usize,
}

/// Checks every module of the catalogue for one prompt version.
#[must_use]
pub fn check_catalog(catalog: &Catalog, prompt_version: &str) -> Vec<ModuleCheck> {
    catalog
        .modules()
        .iter()
        .map(|m| check_module(catalog, m, prompt_version))
        .collect()
}

/// The price table, which also gives each model's context window.
const PRICE_TABLE: &str = "prices.toml";

/// At most this many problems of one kind are listed per file; the rest are counted.
const SAME_KIND_LIMIT: usize = 3;

/// Groups repeated problems (the same unused key on every line) into one line with a count.
#[derive(Default)]
struct Collector {
    problems: Vec<Problem>,
    repeats: HashMap<String, (usize, usize)>,
}

impl Collector {
    fn push(&mut self, file: &Path, line: Option<usize>, message: String) {
        self.problems.push(Problem {
            file: file.to_owned(),
            line,
            message,
        });
    }

    fn push_grouped(&mut self, key: String, file: &Path, line: usize, message: String) {
        let entry = self.repeats.entry(key).or_insert((usize::MAX, 0));
        entry.1 += 1;
        if entry.1 <= SAME_KIND_LIMIT {
            if entry.0 == usize::MAX {
                entry.0 = self.problems.len();
            }
            self.push(file, Some(line), message);
        }
    }

    fn total(&self) -> usize {
        let hidden: usize = self
            .repeats
            .values()
            .map(|(_, count)| count.saturating_sub(SAME_KIND_LIMIT))
            .sum();
        self.problems.len() + hidden
    }

    fn finish(mut self) -> Vec<Problem> {
        let mut notes: Vec<(usize, usize)> = self
            .repeats
            .values()
            .filter(|(_, count)| *count > SAME_KIND_LIMIT)
            .map(|(first, count)| (*first, count - SAME_KIND_LIMIT))
            .collect();
        notes.sort_unstable();
        for (first, more) in notes.into_iter().rev() {
            let template = self.problems[first].clone();
            self.problems.insert(
                first + SAME_KIND_LIMIT,
                Problem {
                    file: template.file,
                    line: None,
                    message: format!("... and {more} more like the line above"),
                },
            );
        }
        self.problems
    }
}

/// Checks one module's dataset, prompt and schema.
#[must_use]
pub fn check_module(catalog: &Catalog, module: &ModuleSpec, prompt_version: &str) -> ModuleCheck {
    let prompt_rel = module.prompt_for(prompt_version);
    let dataset_rel = module.dataset.clone();
    let mut out = Collector::default();
    let template = check_prompt(catalog, module, &prompt_rel, &mut out);
    let schema_text = check_schema(catalog, module, &mut out);
    let (model, window) = context_window(catalog, module, &mut out);
    let checks = RecordChecks {
        module,
        template: template.as_ref(),
        schema_text: &schema_text,
        model: &model,
        window,
        dataset_rel: &dataset_rel,
        prompt_rel: &prompt_rel,
    };
    let (records, keywords) = check_dataset(catalog, &checks, &mut out);
    check_contamination(catalog, module, &dataset_rel, keywords, &mut out);

    let total = out.total();
    ModuleCheck {
        module: module.id.to_string(),
        records,
        problems: out.finish(),
        total,
    }
}

/// Reads and parses the module's prompt; `None` when it cannot be used.
fn check_prompt(
    catalog: &Catalog,
    module: &ModuleSpec,
    prompt_rel: &Path,
    out: &mut Collector,
) -> Option<Template> {
    match std::fs::read_to_string(catalog.path_of(prompt_rel)) {
        Err(e) => {
            out.push(
                prompt_rel,
                None,
                format!("cannot read the prompt of module {}: {e}", module.id),
            );
            None
        }
        Ok(text) => match Template::parse(text) {
            Ok(t) => {
                if t.placeholders().is_empty() {
                    out.push(
                        prompt_rel,
                        None,
                        "the prompt has no {{placeholders}}: no record would change it".to_owned(),
                    );
                }
                Some(t)
            }
            Err(TemplateError::Malformed { line, snippet }) => {
                out.push(prompt_rel, Some(line), format!("malformed placeholder `{snippet}` (write {{{{name}}}} with a field name and no spaces)"));
                None
            }
            Err(e) => {
                out.push(prompt_rel, None, e.to_string());
                None
            }
        },
    }
}

/// Checks the module's schema; the response format text sent with each request (empty unless
/// the module uses a JSON schema).
fn check_schema(catalog: &Catalog, module: &ModuleSpec, out: &mut Collector) -> String {
    let schema_rel = module.schema.clone();
    let mut schema_text = String::new();
    match ResponseSchema::load(&catalog.path_of(&schema_rel), &module.slug) {
        Err(e) => out.push(
            &schema_rel,
            None,
            strip_path(&e.to_string(), &catalog.path_of(&schema_rel)),
        ),
        Ok(schema) => {
            if module.settings.response_format == ResponseFormatKind::JsonSchema {
                schema_text = schema.response_format().to_string();
            }
            for problem in schema.strict_problems() {
                out.push(
                    &schema_rel,
                    None,
                    format!("not a valid strict schema: {problem}"),
                );
            }
            check_schema_fields(module, &schema, &schema_rel, out);
        }
    }
    schema_text
}

/// The module's model and its context window, when the price table gives one.
fn context_window(
    catalog: &Catalog,
    module: &ModuleSpec,
    out: &mut Collector,
) -> (String, Option<u64>) {
    let prices_rel = PathBuf::from(PRICE_TABLE);
    let model = module
        .settings
        .model_override
        .clone()
        .unwrap_or_else(|| catalog.defaults().model.clone());
    let window = match ContextWindows::load(&catalog.path_of(&prices_rel)) {
        Ok(windows) => windows.get(&model),
        Err(e) => {
            out.push(
                &prices_rel,
                None,
                strip_path(&e.to_string(), &catalog.path_of(&prices_rel)),
            );
            None
        }
    };
    (model, window)
}

/// What each record of a module's dataset is checked against.
struct RecordChecks<'a> {
    module: &'a ModuleSpec,
    template: Option<&'a Template>,
    schema_text: &'a str,
    model: &'a str,
    window: Option<u64>,
    dataset_rel: &'a PathBuf,
    prompt_rel: &'a PathBuf,
}

/// The keywords of the records: lowercased keyword to (keyword, dataset, line).
type RecordKeywords = BTreeMap<String, (String, PathBuf, usize)>;

/// Checks every record of the module's dataset; the number of records read and their keywords.
fn check_dataset(
    catalog: &Catalog,
    checks: &RecordChecks<'_>,
    out: &mut Collector,
) -> (usize, RecordKeywords) {
    let (module, dataset_rel) = (checks.module, checks.dataset_rel);
    let mut records = 0;
    let mut keywords = RecordKeywords::new();
    match RecordReader::open(&catalog.path_of(dataset_rel)) {
        Err(e) => out.push(
            dataset_rel,
            None,
            format!(
                "cannot read the dataset of module {}: {}",
                module.id,
                io_reason(&e)
            ),
        ),
        Ok(mut reader) => {
            let mut ids: HashMap<String, usize> = HashMap::new();
            while let Some(item) = reader.next_value() {
                let (line, value) = match item {
                    Ok(pair) => pair,
                    Err(e) => {
                        let text = e.to_string();
                        let (line, message) = split_line(&text);
                        out.push(dataset_rel, line, message);
                        continue;
                    }
                };
                let record = match Record::from_json(value, line) {
                    Ok(r) => r,
                    Err(message) => {
                        out.push(dataset_rel, Some(line), message);
                        continue;
                    }
                };
                records += 1;
                if let Some(keyword) = record_keyword(&record) {
                    keywords
                        .entry(keyword.to_lowercase())
                        .or_insert_with(|| (keyword, dataset_rel.clone(), line));
                }
                if let Some(first) = ids.insert(record.id.clone(), line) {
                    out.push(
                        dataset_rel,
                        Some(line),
                        format!("duplicate id `{}` (first used on line {first})", record.id),
                    );
                }
                checks.check_record(&record, line, out);
            }
            if records == 0 && out.problems.iter().all(|p| &p.file != dataset_rel) {
                out.push(dataset_rel, None, "the dataset has no records".to_owned());
            }
        }
    }
    (records, keywords)
}

impl RecordChecks<'_> {
    /// Checks one record's request size, inputs and expected answer.
    fn check_record(&self, record: &Record, line: usize, out: &mut Collector) {
        let (module, dataset_rel) = (self.module, self.dataset_rel);
        if let (Some(template), Some(window)) = (self.template, self.window)
            && let Ok(prompt) = template.render(&record.input)
            && let Some(over) = check_request(
                &prompt,
                self.schema_text,
                module.settings.max_tokens,
                window,
            )
        {
            out.push_grouped(
                "context".to_owned(),
                dataset_rel,
                line,
                format!(
                    "record `{}`: {over} ({}, {PRICE_TABLE})",
                    record.id, self.model
                ),
            );
        }
        if let Some(template) = self.template {
            check_inputs(module, template, record, dataset_rel, self.prompt_rel, out);
        }
        check_expected(module, record, dataset_rel, out);
    }
}

/// The keyword a keyword-level record is about.
fn record_keyword(record: &Record) -> Option<String> {
    [record.input.get("keyword"), record.metadata.get("keyword")]
        .into_iter()
        .flatten()
        .find_map(Value::as_str)
        .map(str::to_owned)
}

/// The module's other evaluation data: synthetic datasets and gold sets, found by their file
/// name prefix (`m12_…`, `M12_gold_…`) under `datasets/` and `validated_data/`.
fn other_datasets(catalog: &Catalog, module: &ModuleSpec, own: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![catalog.path_of(Path::new("validated_data"))];
    if let Ok(entries) = std::fs::read_dir(catalog.path_of(Path::new("datasets"))) {
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let own = catalog.path_of(own);
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "jsonl")
                && path != own
                && catalog
                    .module_for_file_name(name)
                    .is_some_and(|m| m.id == module.id)
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every prompt file of the module: the `{version}` of its prompt path matched against the
/// files of the prompt directory.
fn prompt_files(catalog: &Catalog, module: &ModuleSpec) -> Vec<PathBuf> {
    let pattern = PathBuf::from(&module.prompt);
    let (Some(dir), Some(name)) = (
        pattern.parent(),
        pattern.file_name().and_then(|n| n.to_str()),
    ) else {
        return vec![pattern];
    };
    let Some((prefix, suffix)) = name.split_once("{version}") else {
        return vec![pattern];
    };
    let Ok(entries) = std::fs::read_dir(catalog.path_of(dir)) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            (file.len() > prefix.len() + suffix.len()
                && file.starts_with(prefix)
                && file.ends_with(suffix))
            .then(|| dir.join(file))
        })
        .collect();
    found.sort();
    found
}

/// A prompt that quotes a keyword of the module's own evaluation data shows the model the test
/// item: reported on the prompt line, with the dataset line the keyword comes from.
fn check_contamination(
    catalog: &Catalog,
    module: &ModuleSpec,
    dataset_rel: &Path,
    mut keywords: BTreeMap<String, (String, PathBuf, usize)>,
    out: &mut Collector,
) {
    for path in other_datasets(catalog, module, dataset_rel) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let rel = path
            .strip_prefix(catalog.root())
            .map_or_else(|_| path.clone(), Path::to_owned);
        for (index, line) in text.lines().enumerate() {
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let keyword = [
                value.pointer("/input/keyword"),
                value.pointer("/metadata/keyword"),
            ]
            .into_iter()
            .flatten()
            .find_map(Value::as_str);
            if let Some(keyword) = keyword {
                keywords
                    .entry(keyword.to_lowercase())
                    .or_insert_with(|| (keyword.to_owned(), rel.clone(), index + 1));
            }
        }
    }
    let matcher = Keywords::new(keywords.values().map(|(k, _, _)| k));
    if matcher.is_empty() {
        return;
    }
    for prompt in prompt_files(catalog, module) {
        let Ok(text) = std::fs::read_to_string(catalog.path_of(&prompt)) else {
            continue;
        };
        for hit in matcher.find(&text) {
            let (_, file, line) = &keywords[&hit.keyword.to_lowercase()];
            out.push(
                &prompt,
                Some(hit.line),
                format!(
                    "quotes the evaluation keyword `{}` ({}:{line}): the model would be shown a test item; use an invented keyword",
                    hit.keyword,
                    file.display()
                ),
            );
        }
    }
}

fn io_reason(e: &crate::Error) -> String {
    match e {
        crate::Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn strip_path(message: &str, path: &std::path::Path) -> String {
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(message).to_owned()
}

/// Splits `path:line: message` produced by the dataset reader.
fn split_line(text: &str) -> (Option<usize>, String) {
    let mut parts = text.splitn(3, ':');
    let (_, line, rest) = (parts.next(), parts.next(), parts.next());
    match (line.and_then(|l| l.trim().parse().ok()), rest) {
        (Some(line), Some(rest)) => (Some(line), rest.trim_start().to_owned()),
        _ => (None, text.to_owned()),
    }
}

fn check_inputs(
    module: &ModuleSpec,
    template: &Template,
    record: &Record,
    dataset: &Path,
    prompt: &Path,
    out: &mut Collector,
) {
    let names = template.names();
    for p in template.placeholders() {
        if !record.input.contains_key(&p.name) && names.contains(p.name.as_str()) {
            out.push_grouped(
                format!("unfed:{}", p.name),
                dataset,
                record.line,
                format!(
                    "record `{}` has no input key `{}`, but the prompt uses {{{{{}}}}} ({}:{})",
                    record.id,
                    p.name,
                    p.name,
                    prompt.display(),
                    p.line
                ),
            );
        }
    }
    for key in record.input.keys() {
        if !names.contains(key.as_str()) && !module.ignored_inputs.contains(key) {
            out.push_grouped(
                format!("unused:{key}"),
                dataset,
                record.line,
                format!(
                    "input key `{key}` is not used by the prompt {} (use it as {{{{{key}}}}}, or list it in `ignored_inputs` of module {})",
                    prompt.display(),
                    module.id
                ),
            );
        }
    }
}

fn check_expected(module: &ModuleSpec, record: &Record, dataset: &Path, out: &mut Collector) {
    for field in &module.score {
        let value = lookup_dotted(&record.expected, &field.expected);
        let problem = match (&field.labels, field.kind) {
            (Some(labels), _) => match labels.read_json(Side::Expected, value) {
                Ok(Reading::Label(_)) => None,
                Ok(Reading::Missing) => Some(format!(
                    "record `{}`: expected.{} is missing (labels: {})",
                    record.id,
                    field.expected,
                    labels.labels().join(", ")
                )),
                Err(e) => Some(format!(
                    "record `{}`: expected.{}: {e}",
                    record.id, field.expected
                )),
            },
            (None, kind) => shape_problem(kind, value)
                .map(|m| format!("record `{}`: expected.{}: {m}", record.id, field.expected)),
        };
        if let Some(message) = problem {
            out.push(dataset, Some(record.line), message);
        }
    }
}

fn shape_problem(kind: ScoreKind, value: Option<&Value>) -> Option<String> {
    let Some(value) = value else {
        return Some("is missing".to_owned());
    };
    let objects_with = |keys: &[&str]| -> Option<String> {
        let Value::Array(items) = value else {
            return Some(format!("must be an array, found {}", kind_of(value)));
        };
        items
            .iter()
            .enumerate()
            .find_map(|(i, item)| {
                let object = item.as_object()?;
                keys.iter()
                    .find(|k| !object.contains_key(**k))
                    .map(|k| format!("item {i} has no `{k}`"))
            })
            .or_else(|| {
                items
                    .iter()
                    .position(|item| !item.is_object())
                    .map(|i| format!("item {i} must be an object"))
            })
    };
    match kind {
        ScoreKind::List => match value {
            Value::Array(items) => items
                .iter()
                .position(|i| !i.is_string())
                .map(|i| format!("item {i} must be a string")),
            other => Some(format!(
                "must be an array of strings, found {}",
                kind_of(other)
            )),
        },
        ScoreKind::Text => {
            (!value.is_string()).then(|| format!("must be a string, found {}", kind_of(value)))
        }
        ScoreKind::Taxonomy => objects_with(&["level", "product_type"]),
        ScoreKind::Ranking => objects_with(&["attribute_type", "attribute_value", "rank"]),
        ScoreKind::Binary | ScoreKind::Multiclass | ScoreKind::Boolean => None,
    }
}

/// Every output field the catalogue reads must exist in the schema, and every label the schema
/// allows must read as one of the module's labels.
fn check_schema_fields(
    module: &ModuleSpec,
    schema: &ResponseSchema,
    file: &Path,
    out: &mut Collector,
) {
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for field in &module.score {
        wanted.insert(
            field.output.clone(),
            format!("score field `{}`", field.name),
        );
    }
    for column in module.results_columns.iter().chain(&module.annotation.llm) {
        if column.from.root() == Root::Output {
            wanted
                .entry(column.from.keys().join("."))
                .or_insert_with(|| format!("column `{}`", column.name));
        }
    }
    for (path, user) in &wanted {
        if !schema.has_property(path) {
            out.push(file, None, format!("modules.toml reads output.{path} (for {user} of module {}), but the schema does not declare it", module.id));
        }
    }
    for field in &module.score {
        let Some(labels) = &field.labels else {
            continue;
        };
        let Some(enum_values) = schema
            .property(&field.output)
            .and_then(|p| p.get("enum"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for value in enum_values {
            if let Err(e) = labels.read_json(Side::Output, Some(value)) {
                out.push(file, None, format!("output.{} allows {value}, which does not read as a label of score field `{}`: {e}", field.output, field.name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One module, m14, over `d.jsonl`, `p_{version}.md` and `s.json`.
    const CATALOG: &str = include_str!("../../../fixtures/catalog/m14_only.toml");

    const SCHEMA: &str = r#"{"name": "m14", "strict": true, "schema": {"type": "object", "additionalProperties": false,
        "required": ["relevancy"], "properties": {"relevancy": {"type": "string", "enum": ["R", "N"]}}}}"#;

    fn project(dataset: &str, prompt: &str, schema: &str) -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("modules.toml"), CATALOG).unwrap();
        std::fs::write(dir.path().join("d.jsonl"), dataset).unwrap();
        std::fs::write(dir.path().join("p_v1.md"), prompt).unwrap();
        std::fs::write(dir.path().join("s.json"), schema).unwrap();
        let catalog = Catalog::load(&dir.path().join("modules.toml")).unwrap();
        (dir, catalog)
    }

    fn problems(dataset: &str, prompt: &str, schema: &str) -> Vec<String> {
        let (_dir, catalog) = project(dataset, prompt, schema);
        let module = &catalog.modules()[0];
        check_module(&catalog, module, "v1")
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const GOOD_LINE: &str = r#"{"id": "a", "input": {"keyword": "k", "asin_note": "x"}, "expected": {"relevancy": "R"}}"#;

    #[test]
    fn clean_data_passes() {
        assert_eq!(
            problems(&format!("{GOOD_LINE}\n"), "Keyword: {{keyword}}", SCHEMA),
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_json_line_is_reported_with_file_and_line() {
        let dataset = format!("{GOOD_LINE}\n{{\"id\": \"b\", \"input\": \n");
        assert_eq!(
            problems(&dataset, "Keyword: {{keyword}}", SCHEMA),
            ["d.jsonl:2: invalid JSON at column 21: EOF while parsing a value"]
        );
    }

    #[test]
    fn unfed_placeholder_and_unused_key_are_reported() {
        let dataset = format!("{GOOD_LINE}\n").replace("\"keyword\": \"k\"", "\"kw\": \"k\"");
        assert_eq!(
            problems(&dataset, "Keyword:\n{{keyword}}", SCHEMA),
            [
                "d.jsonl:1: record `a` has no input key `keyword`, but the prompt uses {{keyword}} (p_v1.md:2)",
                "d.jsonl:1: input key `kw` is not used by the prompt p_v1.md (use it as {{kw}}, or list it in `ignored_inputs` of module m14)",
            ]
        );
    }

    #[test]
    fn a_schema_that_is_not_strict_is_reported() {
        let open = SCHEMA.replace("\"additionalProperties\": false,", "");
        assert_eq!(
            problems(&format!("{GOOD_LINE}\n"), "{{keyword}}", &open),
            [
                "s.json: not a valid strict schema: #: objects must set \"additionalProperties\": false"
            ]
        );
    }

    #[test]
    fn labels_ids_and_malformed_placeholders() {
        let dataset = format!(
            "{GOOD_LINE}\n{}\n{}\n",
            GOOD_LINE
                .replace("\"R\"", "\"S\"")
                .replace("\"a\"", "\"b\""),
            GOOD_LINE
        );
        assert_eq!(
            problems(&dataset, "{{keyword}}", SCHEMA),
            [
                "d.jsonl:2: record `b`: expected.relevancy: `S` is not a label of this field (expected one of: R, N)",
                "d.jsonl:3: duplicate id `a` (first used on line 1)",
            ]
        );
        assert_eq!(
            problems(&format!("{GOOD_LINE}\n"), "x\n{{ keyword }}", SCHEMA),
            [
                "p_v1.md:2: malformed placeholder `{{ keyword }}` (write {{name}} with a field name and no spaces)"
            ]
        );
    }

    #[test]
    fn repeated_problems_are_grouped() {
        let line = GOOD_LINE.replace("\"asin_note\": \"x\"", "\"extra\": 1");
        let dataset: String = (0..6)
            .map(|i| line.replace("\"a\"", &format!("\"r{i}\"")) + "\n")
            .collect();
        let (_dir, catalog) = project(&dataset, "{{keyword}}", SCHEMA);
        let check = check_module(&catalog, &catalog.modules()[0], "v1");
        assert_eq!(check.total, 6);
        let found: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 4, "{found:#?}");
        assert_eq!(found[3], "d.jsonl: ... and 3 more like the line above");
    }

    #[test]
    fn a_prompt_quoting_an_evaluation_keyword_is_reported_with_file_and_line() {
        let line = GOOD_LINE.replace(
            "\"keyword\": \"k\"",
            "\"keyword\": \"Oven Mitt 800 Degrees\"",
        );
        let prompt =
            "Keyword: {{keyword}}\n\n## Example\nKeyword \"oven mitt 800 degrees\" is N.\n";
        let (dir, catalog) = project(&format!("{line}\n"), prompt, SCHEMA);
        // A second prompt version and a synthetic dataset of the same module are checked too;
        // another module's dataset is not.
        std::fs::write(
            dir.path().join("p_v2.md"),
            "{{keyword}}\nsee: heat proof gloves\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("datasets/synthetic")).unwrap();
        std::fs::write(
            dir.path().join("datasets/synthetic/m14_sd01_x.jsonl"),
            "\n{\"id\": \"s\", \"input\": {\"keyword\": \"heat proof gloves\"}}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("datasets/synthetic/m15_sd01_x.jsonl"),
            "{\"id\": \"s\", \"input\": {\"keyword\": \"keyword: \"}}\n",
        )
        .unwrap();
        let check = check_module(&catalog, &catalog.modules()[0], "v1");
        let found: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "p_v1.md:4: quotes the evaluation keyword `Oven Mitt 800 Degrees` (d.jsonl:1): the model would be shown a test item; use an invented keyword",
                "p_v2.md:2: quotes the evaluation keyword `heat proof gloves` (datasets/synthetic/m14_sd01_x.jsonl:2): the model would be shown a test item; use an invented keyword",
            ]
        );
    }

    #[test]
    fn duplicated_json_keys_are_refused_with_file_line_and_key() {
        let schema = SCHEMA.replace(
            "\"required\": [\"relevancy\"],",
            "\"required\": [\"relevancy\"],\n\"type\": \"object\",",
        );
        assert_eq!(
            problems(&format!("{GOOD_LINE}\n"), "{{keyword}}", &schema),
            ["s.json: line 3: duplicate key `type` (each key may appear once in an object)"]
        );
        let dataset = format!(
            "{GOOD_LINE}\n{}\n",
            GOOD_LINE.replace("\"a\",", "\"b\", \"expected\": {},")
        );
        assert_eq!(
            problems(&dataset, "{{keyword}}", SCHEMA),
            ["d.jsonl:2: invalid JSON at column 83: duplicate key `expected`"]
        );
    }

    #[test]
    fn a_record_over_the_context_window_is_reported_with_file_and_line() {
        // A generated record of about 12.5 million tokens (50 MB of text).
        let huge = "x".repeat(50_000_000);
        let dataset = format!(
            "{GOOD_LINE}\n{}\n",
            GOOD_LINE
                .replace("\"a\"", "\"big\"")
                .replace("\"keyword\": \"k\"", &format!("\"keyword\": \"{huge}\""))
        );
        let (dir, catalog) = project(&dataset, "Keyword: {{keyword}}", SCHEMA);
        std::fs::write(
            dir.path().join("prices.toml"),
            "[models.m]\ninput = 1.0\noutput = 1.0\ncontext_window = 128000\n",
        )
        .unwrap();
        let check = check_module(&catalog, &catalog.modules()[0], "v1");
        let found: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("d.jsonl:2: record `big`: the request needs about 12,500,"),
            "{}",
            found[0]
        );
        assert!(
            found[0]
                .ends_with("over the model's context window of 128,000 tokens (m, prices.toml)"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn missing_files_name_the_module() {
        let (dir, catalog) = project(GOOD_LINE, "{{keyword}}", SCHEMA);
        std::fs::remove_file(dir.path().join("d.jsonl")).unwrap();
        let check = check_module(&catalog, &catalog.modules()[0], "v1");
        assert_eq!(
            check.problems[0].to_string(),
            "d.jsonl: cannot read the dataset of module m14: No such file or directory (os error 2)"
        );
    }
}
