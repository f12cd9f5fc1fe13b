//! Answers: schema-valid JSON made up deterministically from the request, and, in answer-key
//! mode, the expected labels of the dataset record a request was rendered from.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use core_config::{Catalog, ModuleSpec, Reading, Record, ResponseSchema, Side, Template};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::util::{Rng, hash64};

/// A record the simulator recognised in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised {
    /// Module id, e.g. `m12`.
    pub module: String,
    /// Record id.
    pub record: String,
    /// Whether this answer was deliberately made wrong.
    pub wrong: bool,
}

struct KeyedModule {
    spec: ModuleSpec,
    schema: Option<ResponseSchema>,
    records: Vec<Record>,
    templates: Vec<Template>,
}

/// Where a rendering came from: module, template and record indexes.
type Origin = (usize, usize, usize);

/// The project's datasets, indexed so a request can be traced back to its record.
pub struct AnswerKey {
    modules: Vec<KeyedModule>,
    by_rendering: HashMap<u64, Vec<Origin>>,
    by_schema_name: HashMap<String, usize>,
    wrong_rate: f64,
    seed: u64,
    /// The prompt-sensitive mode, when on (see [`crate::sensitive`]).
    sensitive: Option<crate::sensitive::Sensitive>,
    /// Problems met while loading (a dataset that does not parse, a prompt that does not
    /// render): the module is still answered, just not recognised by its rendering.
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for AnswerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerKey")
            .field("modules", &self.modules.len())
            .field("renderings", &self.by_rendering.len())
            .finish_non_exhaustive()
    }
}

/// What loading one module produced.
struct Loaded {
    module: KeyedModule,
    fingerprints: Vec<(u64, usize, usize)>,
    warnings: Vec<String>,
}

fn load_module(catalog: &Catalog, spec: &ModuleSpec) -> Loaded {
    let mut warnings = Vec::new();
    let records = core_config::read_records(&catalog.dataset_path(spec)).unwrap_or_else(|e| {
        warnings.push(format!("{}: {e}", spec.id));
        Vec::new()
    });
    let schema = ResponseSchema::load(&catalog.schema_path(spec), &spec.slug)
        .map_err(|e| warnings.push(format!("{}: {e}", spec.id)))
        .ok();
    let mut templates = Vec::new();
    let mut fingerprints = Vec::new();
    for path in prompt_versions(catalog, spec) {
        let template = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| Template::parse(t).map_err(|e| e.to_string()));
        match template {
            Ok(template) => {
                let t = templates.len();
                for (r, record) in records.iter().enumerate() {
                    if let Ok(text) = template.render(&record.input) {
                        fingerprints.push((fingerprint(text.trim()), t, r));
                    }
                }
                templates.push(template);
            }
            Err(e) => warnings.push(format!("{}: {e}", path.display())),
        }
    }
    Loaded {
        module: KeyedModule {
            spec: spec.clone(),
            schema,
            records,
            templates,
        },
        fingerprints,
        warnings,
    }
}

impl AnswerKey {
    /// Loads `modules.toml` under `root`, every module's dataset, schema and prompt versions
    /// (modules in parallel).
    ///
    /// # Errors
    /// When the catalogue does not load. Problems with single modules become warnings.
    pub fn load(root: &Path, wrong_rate: f64, seed: u64) -> Result<Self, Error> {
        let catalog = Catalog::load(&root.join(core_config::CATALOG_FILE))
            .map_err(|e| Error::AnswerKey(e.to_string()))?;
        let loaded: Vec<Loaded> = std::thread::scope(|scope| {
            let handles: Vec<_> = catalog
                .modules()
                .iter()
                .map(|spec| {
                    let catalog = &catalog;
                    scope.spawn(move || load_module(catalog, spec))
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        let mut key = Self {
            modules: Vec::new(),
            by_rendering: HashMap::new(),
            by_schema_name: HashMap::new(),
            wrong_rate,
            seed,
            sensitive: None,
            warnings: Vec::new(),
        };
        for loaded in loaded {
            let m = key.modules.len();
            if let Some(schema) = &loaded.module.schema {
                key.by_schema_name.insert(schema.name.clone(), m);
            }
            for (print, t, r) in loaded.fingerprints {
                key.by_rendering.entry(print).or_default().push((m, t, r));
            }
            key.warnings.extend(loaded.warnings);
            key.modules.push(loaded.module);
        }
        Ok(key)
    }

    /// Turns the prompt-sensitive mode on (`--prompt-sensitive`): records of the modules with
    /// rules are answered wrongly less often the better the prompt (see [`crate::sensitive`]),
    /// and proposer requests get candidate instructions.
    #[must_use]
    pub fn prompt_sensitive(mut self) -> Self {
        let records = self
            .modules
            .iter()
            .map(|m| {
                let list = m
                    .records
                    .iter()
                    .filter_map(|r| Some((r.input_text("keyword"), expected_label(m, r)?)))
                    .collect();
                (m.spec.id.to_string(), list)
            })
            .collect();
        self.sensitive = Some(crate::sensitive::Sensitive::new(self.seed, records));
        self
    }

    /// The answer to a proposer request in prompt-sensitive mode (`None` otherwise).
    pub(crate) fn propose(&self, messages: &[&str]) -> Option<String> {
        let sensitive = self.sensitive.as_ref()?;
        messages.iter().find_map(|m| sensitive.propose(m))
    }

    /// Whether `text` is exactly what `origin` renders to.
    fn renders_to(&self, (m, t, r): Origin, text: &str) -> bool {
        let module = &self.modules[m];
        module.templates[t]
            .render(&module.records[r].input)
            .is_ok_and(|rendered| rendered.trim() == text)
    }

    /// Number of modules and records loaded.
    #[must_use]
    pub fn size(&self) -> (usize, usize) {
        (
            self.modules.len(),
            self.modules.iter().map(|m| m.records.len()).sum(),
        )
    }

    /// The module a schema name belongs to.
    fn module_by_schema(&self, name: &str) -> Option<usize> {
        self.by_schema_name.get(name).copied()
    }

    /// Finds the record behind a request: first by the hash of a message's text, then by the
    /// record's keyword and title appearing in the prompt.
    fn recognise(&self, messages: &[&str], schema_name: Option<&str>) -> Option<(usize, usize)> {
        for text in messages {
            let text = text.trim();
            let candidates = self.by_rendering.get(&fingerprint(text));
            if let Some(&(m, _, r)) = candidates
                .into_iter()
                .flatten()
                .find(|origin| self.renders_to(**origin, text))
            {
                return Some((m, r));
            }
        }
        let joined = messages.join("\n");
        let candidates: Vec<usize> = match schema_name.and_then(|n| self.module_by_schema(n)) {
            Some(m) => vec![m],
            None => (0..self.modules.len()).collect(),
        };
        let mut best: Option<((usize, usize), usize)> = None;
        for m in candidates {
            for (r, record) in self.modules[m].records.iter().enumerate() {
                let mut score = 0;
                let mut missed = false;
                for field in ["keyword", "title"] {
                    let Some(value) = record.input.get(field).and_then(Value::as_str) else {
                        continue;
                    };
                    if value.is_empty() {
                        continue;
                    }
                    if joined.contains(value) {
                        score += value.len();
                    } else {
                        missed = true;
                    }
                }
                if !missed && score > 0 && best.is_none_or(|(_, s)| score > s) {
                    best = Some(((m, r), score));
                }
            }
        }
        best.map(|(found, _)| found)
    }

    /// Whether the answer for this record is to be wrong: a function of the seed, module and
    /// record id only, so reruns agree.
    fn is_wrong(&self, module: &str, record: &str) -> bool {
        if self.wrong_rate <= 0.0 {
            return false;
        }
        let h = hash64(&[
            &self.seed.to_le_bytes(),
            module.as_bytes(),
            record.as_bytes(),
        ]);
        ((h >> 11) as f64 / (1u64 << 53) as f64) < self.wrong_rate
    }
}

/// A cheap index key for a prompt: its length and its first and last 256 bytes. Renderings
/// that share it are told apart by rendering them again, so hashing whole prompts (slow in
/// debug builds, with thousands of records) is never needed.
fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let bytes = text.as_bytes();
    let edge = bytes.len().min(256);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.len().hash(&mut hasher);
    bytes[..edge].hash(&mut hasher);
    bytes[bytes.len() - edge..].hash(&mut hasher);
    hasher.finish()
}

/// Prompt files of every version of a module (the `{version}` part of its prompt path).
fn prompt_versions(catalog: &Catalog, spec: &ModuleSpec) -> Vec<PathBuf> {
    let pattern = catalog.path_of(Path::new(&spec.prompt));
    let Some((before, after)) = pattern.to_str().and_then(|p| p.split_once("{version}")) else {
        return vec![pattern];
    };
    let before = Path::new(before);
    let (dir, prefix) = if before.to_string_lossy().ends_with('/') {
        (before.to_path_buf(), String::new())
    } else {
        (
            before.parent().map(Path::to_path_buf).unwrap_or_default(),
            before
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    };
    if after.contains('/') {
        // A version directory rather than a file name part: try the default version only.
        let version = &catalog.defaults().prompt_version;
        return vec![catalog.prompt_path(spec, version)];
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() > prefix.len() + after.len()
                && name.starts_with(&prefix)
                && name.ends_with(after)
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Compiled schemas, shared by all requests.
#[derive(Default)]
pub(crate) struct Validators {
    cache: Mutex<HashMap<u64, Arc<jsonschema::Validator>>>,
}

impl Validators {
    pub(crate) fn get(&self, schema: &Value) -> Option<Arc<jsonschema::Validator>> {
        let key = hash64(&[schema.to_string().as_bytes()]);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = cache.get(&key) {
            return Some(Arc::clone(v));
        }
        let validator = Arc::new(jsonschema::validator_for(schema).ok()?);
        cache.insert(key, Arc::clone(&validator));
        Some(validator)
    }
}

/// What a request asks for, reduced to what answering needs.
pub(crate) struct Question<'a> {
    pub(crate) messages: Vec<&'a str>,
    pub(crate) schema_name: Option<&'a str>,
    pub(crate) schema: Option<&'a Value>,
    pub(crate) json: bool,
    pub(crate) seed: u64,
}

/// The answer and what it was based on.
pub(crate) struct Answer {
    pub(crate) content: String,
    pub(crate) recognised: Option<Recognised>,
}

/// Answers a question: schema-valid, deterministic, and in answer-key mode built from the
/// recognised record's expected labels.
pub(crate) fn answer(
    question: &Question<'_>,
    key: Option<&AnswerKey>,
    validators: &Validators,
) -> Answer {
    let mut rng = Rng::new(question.seed);
    // Prompt-sensitive mode: demos name other records; only the prompt's own input counts.
    let stripped: Vec<String> = match key {
        Some(k) if k.sensitive.is_some() => question
            .messages
            .iter()
            .map(|m| crate::sensitive::without_examples(m))
            .collect(),
        _ => Vec::new(),
    };
    let messages: Vec<&str> = if stripped.is_empty() {
        question.messages.clone()
    } else {
        stripped.iter().map(String::as_str).collect()
    };
    let found = key.and_then(|k| {
        k.recognise(&messages, question.schema_name)
            .map(|(m, r)| (k, m, r))
    });
    // The request's own schema rules; without one (JSON mode) the recognised module's schema
    // still makes the answer look like the real thing.
    let module_schema = found.and_then(|(k, m, _)| k.modules[m].schema.as_ref().map(|s| &s.schema));
    let schema = question
        .schema
        .or(if question.json { module_schema } else { None });

    if !question.json {
        return Answer {
            content: "This is a simulated answer from api-sim; no model was consulted.".to_owned(),
            recognised: found.map(|(k, m, r)| recognised(k, m, r, &question.messages)),
        };
    }
    let mut value = match schema {
        Some(schema) => generate(schema, schema, &mut rng, ""),
        None => json!({"answer": "simulated", "simulator": "api-sim"}),
    };
    let mut recognised_record = None;
    if let Some((k, m, r)) = found {
        let validator = schema.and_then(|s| validators.get(s));
        let rec = recognised(k, m, r, &question.messages);
        overlay(
            &mut value,
            &k.modules[m],
            &k.modules[m].records[r],
            rec.wrong,
            validator.as_deref(),
            &mut rng,
        );
        clear_details_of_false_flags(&mut value, validator.as_deref());
        recognised_record = Some(rec);
    }
    Answer {
        content: serde_json::to_string(&value).unwrap_or_default(),
        recognised: recognised_record,
    }
}

fn recognised(key: &AnswerKey, m: usize, r: usize, messages: &[&str]) -> Recognised {
    let module = key.modules[m].spec.id.to_string();
    let record = key.modules[m].records[r].id.clone();
    let sensitive = key.sensitive.as_ref().filter(|s| s.knows(&module));
    let wrong = match (
        sensitive,
        expected_label(&key.modules[m], &key.modules[m].records[r]),
    ) {
        (Some(s), Some(label)) => s.is_wrong(&module, &record, &label, &messages.join("\n")),
        _ => key.is_wrong(&module, &record),
    };
    Recognised {
        module,
        record,
        wrong,
    }
}

/// The record's expected label of the module's first scored field, if it reads as one.
fn expected_label(module: &KeyedModule, record: &Record) -> Option<String> {
    let field = module.spec.score.first()?;
    let labels = field.labels.as_ref()?;
    match labels.read_json(Side::Expected, get_path(&record.expected, &field.expected)) {
        Ok(Reading::Label(label)) => Some(label),
        _ => None,
    }
}

/// Puts the record's expected values into the generated answer, one field at a time, keeping
/// only changes that leave the answer valid against the schema.
fn overlay(
    value: &mut Value,
    module: &KeyedModule,
    record: &Record,
    wrong: bool,
    validator: Option<&jsonschema::Validator>,
    rng: &mut Rng,
) {
    let valid = |v: &Value| validator.is_none_or(|val| val.is_valid(v));
    let mut set_paths: Vec<String> = Vec::new();
    let mut skip_expected: Vec<String> = Vec::new();
    for (i, field) in module.spec.score.iter().enumerate() {
        let make_wrong = wrong && i == 0;
        let expected = get_path(&record.expected, &field.expected);
        let new = match &field.labels {
            Some(labels) => {
                let Ok(Reading::Label(label)) = labels.read_json(Side::Expected, expected) else {
                    continue;
                };
                let label = if make_wrong && labels.labels().len() > 1 {
                    let all = labels.labels();
                    let at = labels.index_of(&label).unwrap_or(0);
                    let step = 1 + rng.below(all.len() - 1);
                    all[(at + step) % all.len()].clone()
                } else {
                    label
                };
                labels.output_value(&label)
            }
            None if make_wrong => continue,
            None => match expected {
                Some(v) => v.clone(),
                None => continue,
            },
        };
        if make_wrong {
            skip_expected.push(field.expected.clone());
        }
        let mut candidate = value.clone();
        if set_path(&mut candidate, &field.output, new) && valid(&candidate) {
            *value = candidate;
            set_paths.push(field.output.clone());
        }
    }
    // Other expected keys the answer also has (a reasoning, a matched term, …).
    for (name, expected) in &record.expected {
        if set_paths
            .iter()
            .any(|p| p == name || p.starts_with(&format!("{name}.")))
            || skip_expected.iter().any(|p| p == name)
            || value.get(name).is_none()
        {
            continue;
        }
        let mut candidate = value.clone();
        if set_path(&mut candidate, name, expected.clone()) && valid(&candidate) {
            *value = candidate;
        }
    }
}

/// A yes/no field that is false has nothing to detail: a sibling naming the same thing
/// (`violates_constraint` and `violated_constraint`: the same words after the first `_`) becomes
/// null where the schema allows it, as a model's answer would.
fn clear_details_of_false_flags(value: &mut Value, validator: Option<&jsonschema::Validator>) {
    let Some(object) = value.as_object() else {
        return;
    };
    let subject = |name: &str| name.split_once('_').map(|(_, rest)| rest.to_owned());
    let details: Vec<String> = object
        .iter()
        .filter(|(_, v)| **v == Value::Bool(false))
        .filter_map(|(flag, _)| {
            let topic = subject(flag)?;
            Some(
                object
                    .iter()
                    .filter(|(name, v)| {
                        *name != flag
                            && !v.is_boolean()
                            && !v.is_null()
                            && subject(name).as_deref() == Some(topic.as_str())
                    })
                    .map(|(name, _)| name.clone())
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect();
    for name in details {
        let mut candidate = value.clone();
        if let Some(o) = candidate.as_object_mut() {
            o.insert(name, Value::Null);
        }
        if validator.is_none_or(|v| v.is_valid(&candidate)) {
            *value = candidate;
        }
    }
}

fn get_path<'a>(map: &'a Map<String, Value>, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut current = map.get(parts.next()?)?;
    for part in parts {
        current = current.get(part)?;
    }
    Some(current)
}

fn set_path(value: &mut Value, dotted: &str, new: Value) -> bool {
    let mut current = value;
    let parts: Vec<&str> = dotted.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        match current.get_mut(*part) {
            Some(next) if next.is_object() => current = next,
            _ => return false,
        }
    }
    match current.as_object_mut() {
        Some(object) => {
            object.insert(parts[parts.len() - 1].to_owned(), new);
            true
        }
        None => false,
    }
}

/// Makes up a value that satisfies `schema` (the strict-mode subset plus `minItems`,
/// `maxItems`, `minimum`, `maximum`), shaped by the property name where that helps.
pub(crate) fn generate(schema: &Value, root: &Value, rng: &mut Rng, name: &str) -> Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return match resolve(root, reference) {
            Some(target) => generate(target, root, rng, name),
            None => Value::Null,
        };
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let non_null: Vec<&Value> = options.iter().filter(|v| !v.is_null()).collect();
        if non_null.is_empty() {
            return Value::Null;
        }
        return non_null[rng.below(non_null.len())].clone();
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(keyword).and_then(Value::as_array) {
            let pick = branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .or_else(|| branches.first());
            return pick.map_or(Value::Null, |b| generate(b, root, rng, name));
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    let lower = name.to_ascii_lowercase();
    match kind {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, sub) in props {
                    out.insert(key.clone(), generate(sub, root, rng, key));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1);
            let max = schema
                .get("maxItems")
                .and_then(Value::as_u64)
                .unwrap_or(min.max(3));
            let n = min + rng.below((max.saturating_sub(min) + 1).min(3) as usize) as u64;
            let items = schema
                .get("items")
                .cloned()
                .unwrap_or(json!({"type": "string"}));
            let singular = lower.trim_end_matches('s');
            Value::Array(
                (0..n)
                    .map(|_| generate(&items, root, rng, singular))
                    .collect(),
            )
        }
        "number" => {
            let min = schema.get("minimum").and_then(Value::as_f64);
            let max = schema.get("maximum").and_then(Value::as_f64);
            let (lo, hi) = match (min, max) {
                (Some(lo), Some(hi)) => (lo, hi),
                (Some(lo), None) => (lo, lo + 1.0),
                (None, Some(hi)) => (hi - 1.0, hi),
                (None, None) => (0.55, 0.99),
            };
            let x = lo + (hi - lo) * rng.unit();
            json!((x * 100.0).round() / 100.0)
        }
        "integer" => {
            let lo = schema.get("minimum").and_then(Value::as_i64).unwrap_or(1);
            let hi = schema
                .get("maximum")
                .and_then(Value::as_i64)
                .unwrap_or(lo + 2);
            json!(lo + rng.below((hi - lo + 1).max(1) as usize) as i64)
        }
        "boolean" => Value::Bool(rng.below(2) == 0),
        "null" => Value::Null,
        _ => Value::String(text_for(&lower, rng)),
    }
}

fn text_for(name: &str, rng: &mut Rng) -> String {
    const WORDS: [&str; 12] = [
        "stainless",
        "compact",
        "portable",
        "kitchen",
        "outdoor",
        "wireless",
        "bamboo",
        "travel",
        "magnetic",
        "garden",
        "insulated",
        "foldable",
    ];
    if name.contains("reason") || name.contains("explanation") || name.contains("rationale") {
        return "Simulated by api-sim: the answer follows the dataset, not a model.".to_owned();
    }
    let a = WORDS[rng.below(WORDS.len())];
    let b = WORDS[rng.below(WORDS.len())];
    if name.is_empty() {
        format!("{a} {b}")
    } else {
        format!("{a} {b} {}", name.replace('_', " "))
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["flag", "label", "items", "confidence", "detail", "reasoning"],
            "properties": {
                "flag": {"type": "boolean"},
                "label": {"type": ["string", "null"], "enum": ["OB", null]},
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 2, "maxItems": 2},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "detail": {"anyOf": [{"type": "object", "additionalProperties": false, "required": ["a"], "properties": {"a": {"type": "integer"}}}, {"type": "null"}]},
                "reasoning": {"type": "string"}
            },
            "$defs": {"item": {"type": "string"}}
        })
    }

    #[test]
    fn a_false_flag_has_no_details() {
        let schema = json!({"type": "object", "additionalProperties": false,
            "required": ["violates_constraint", "violated_constraint", "reasoning"],
            "properties": {
                "violates_constraint": {"type": "boolean"},
                "violated_constraint": {"anyOf": [
                    {"type": "object", "additionalProperties": false, "required": ["attribute"],
                     "properties": {"attribute": {"type": "string"}}},
                    {"type": "null"}]},
                "reasoning": {"type": "string"}}});
        let validator = jsonschema::validator_for(&schema).unwrap();
        let details = json!({"attribute": "size"});
        let mut no =
            json!({"violates_constraint": false, "violated_constraint": details, "reasoning": "r"});
        clear_details_of_false_flags(&mut no, Some(&validator));
        assert_eq!(no["violated_constraint"], Value::Null);
        assert_eq!(no["reasoning"], "r");
        let mut yes =
            json!({"violates_constraint": true, "violated_constraint": details, "reasoning": "r"});
        clear_details_of_false_flags(&mut yes, Some(&validator));
        assert_eq!(yes["violated_constraint"], details);
        // Where the schema does not allow null, the details stay.
        let strict = json!({"type": "object", "properties": {
            "violated_constraint": {"type": "object"}}});
        let validator = jsonschema::validator_for(&strict).unwrap();
        let mut kept = json!({"violates_constraint": false, "violated_constraint": details});
        clear_details_of_false_flags(&mut kept, Some(&validator));
        assert_eq!(kept["violated_constraint"], details);
    }

    #[test]
    fn generated_values_satisfy_the_schema_and_repeat() {
        let s = schema();
        let validator = jsonschema::validator_for(&s).unwrap();
        for seed in 0..50 {
            let v = generate(&s, &s, &mut Rng::new(seed), "");
            assert!(validator.is_valid(&v), "{v}");
            assert_eq!(v, generate(&s, &s, &mut Rng::new(seed), ""));
        }
    }

    #[test]
    fn paths_are_read_and_written() {
        let mut v = json!({"a": {"b": 1}});
        assert!(set_path(&mut v, "a.b", json!(2)));
        assert!(set_path(&mut v, "c", json!(3)));
        assert!(!set_path(&mut v, "x.y", json!(4)));
        assert_eq!(v, json!({"a": {"b": 2}, "c": 3}));
        let map = v.as_object().unwrap();
        assert_eq!(get_path(map, "a.b"), Some(&json!(2)));
        assert_eq!(get_path(map, "a.z"), None);
    }
}
