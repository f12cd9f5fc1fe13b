//! Datasets made from earlier runs: chained datasets (the next module's inputs filled from a
//! run's answers) and silver datasets (a run's answers taken as the expected ones, for sets
//! nobody has labelled).

use std::collections::HashMap;

use core_config::fieldpath::lookup_dotted;
use core_config::{ModuleSpec, Reading, Record, Side};
use registry::OpenedRun;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// How many records were built and how many were left out, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Built {
    /// The records.
    #[serde(skip)]
    pub records: Vec<Value>,
    /// Rows or records left out: the run's errored rows (silver), records the run has no
    /// answer for (chain).
    pub skipped: usize,
}

fn record(
    id: &str,
    input: Value,
    expected: Map<String, Value>,
    metadata: Map<String, Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("id".to_owned(), Value::from(id));
    out.insert("input".to_owned(), input);
    out.insert("expected".to_owned(), Value::Object(expected));
    out.insert("metadata".to_owned(), Value::Object(metadata));
    Value::Object(out)
}

/// A silver dataset: one record per scored row of `run` (a run of `module`), its expected
/// answer the run's answer, marked `metadata.label_source = "silver:{run}"`.
///
/// # Errors
/// [`Error::Nothing`] when no row of the run has an answer.
pub fn silver(run: &OpenedRun, module: &ModuleSpec) -> Result<Built> {
    let source = format!("silver:{}", run.name());
    let mut built = Built::default();
    for row in &run.rows {
        let Some(output) = row.output.as_object().filter(|_| row.error.is_empty()) else {
            built.skipped += 1;
            continue;
        };
        let mut expected = Map::new();
        let mut complete = true;
        for field in &module.score {
            let answer = lookup_dotted(output, &field.output);
            let value = match &field.labels {
                Some(labels) => match labels.read_json(Side::Output, answer) {
                    Ok(reading @ Reading::Label(_)) => {
                        crate::import::canonical_expected(labels, &reading)
                    }
                    _ => {
                        complete = false;
                        break;
                    }
                },
                None => match answer {
                    Some(v) => v.clone(),
                    None => {
                        complete = false;
                        break;
                    }
                },
            };
            expected.insert(field.expected.clone(), value);
        }
        if !complete {
            built.skipped += 1;
            continue;
        }
        let mut metadata = row.metadata.as_object().cloned().unwrap_or_default();
        metadata.insert("label_source".to_owned(), Value::from(source.as_str()));
        metadata.insert("dataset_kind".to_owned(), Value::from("silver"));
        built.records.push(record(
            &row.record_id,
            row.input.clone(),
            expected,
            metadata,
        ));
    }
    if built.records.is_empty() {
        return Err(Error::Nothing {
            what: format!("run `{}`", run.name()),
            message: "no row has an answer to take as expected (every row errored?)".to_owned(),
        });
    }
    Ok(built)
}

/// The ASIN a record or row is about.
fn asin_of(metadata: &Map<String, Value>, input: &Map<String, Value>, id: &str) -> Option<String> {
    metadata
        .get("asin")
        .or_else(|| input.get("asin"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            // Ids are `M01_{ASIN}` or `M02_{ASIN}__{keyword}`.
            let rest = id.split_once('_')?.1;
            Some(rest.split("__").next()?.to_owned())
        })
        .filter(|a| !a.is_empty())
}

/// A chained dataset for `next`: each record of `base` (the next module's records, usually its
/// own dataset) whose product `run` answered gets the input keys the run's answer holds (M01's
/// `brand_entities` feed M02's). Records are kept with their expected answers; provenance goes
/// to `metadata` (`chained_from`, `chained_module`, `dataset_kind = "chained"`).
///
/// # Errors
/// [`Error::Nothing`] when the run's answers hold none of the inputs `next` takes, or no
/// record of `base` is about a product the run answered.
pub fn chain(run: &OpenedRun, next: &ModuleSpec, base: &[Record]) -> Result<Built> {
    let mut answers: HashMap<String, &Map<String, Value>> = HashMap::new();
    for row in &run.rows {
        let (Some(output), true) = (row.output.as_object(), row.error.is_empty()) else {
            continue;
        };
        let input = row.input.as_object().cloned().unwrap_or_default();
        let meta = row.metadata.as_object().cloned().unwrap_or_default();
        let asin = if row.asin.is_empty() {
            asin_of(&meta, &input, &row.record_id)
        } else {
            Some(row.asin.clone())
        };
        if let Some(asin) = asin {
            answers.entry(asin).or_insert(output);
        }
    }
    let inputs: Vec<&String> = base
        .first()
        .map(|r| r.input.keys().collect())
        .unwrap_or_default();
    let fed: Vec<String> = answers
        .values()
        .flat_map(|o| o.keys())
        .filter(|k| inputs.contains(k))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if fed.is_empty() {
        let answered: std::collections::BTreeSet<&String> =
            answers.values().flat_map(|o| o.keys()).collect();
        return Err(Error::Nothing {
            what: format!("run `{}`", run.name()),
            message: format!(
                "its answers ({}) hold none of the inputs {} takes ({})",
                answered
                    .into_iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                next.id,
                inputs
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let mut built = Built::default();
    for record in base {
        let answer =
            asin_of(&record.metadata, &record.input, &record.id).and_then(|a| answers.get(&a));
        let Some(answer) = answer else {
            built.skipped += 1;
            continue;
        };
        let mut input = record.input.clone();
        for key in &fed {
            if let Some(value) = answer.get(key) {
                input.insert(key.clone(), value.clone());
            }
        }
        let mut metadata = record.metadata.clone();
        metadata.insert("chained_from".to_owned(), Value::from(run.name()));
        metadata.insert(
            "chained_module".to_owned(),
            Value::from(run.module.as_str()),
        );
        metadata.insert("chained_keys".to_owned(), Value::from(fed.clone()));
        metadata.insert("dataset_kind".to_owned(), Value::from("chained"));
        built.records.push(record_value(
            &record.id,
            input,
            record.expected.clone(),
            metadata,
        ));
    }
    if built.records.is_empty() {
        return Err(Error::Nothing {
            what: format!("run `{}`", run.name()),
            message: format!(
                "it answered no product of the {} records it would feed",
                base.len()
            ),
        });
    }
    Ok(built)
}

fn record_value(
    id: &str,
    input: Map<String, Value>,
    expected: Map<String, Value>,
    metadata: Map<String, Value>,
) -> Value {
    record(id, Value::Object(input), expected, metadata)
}
