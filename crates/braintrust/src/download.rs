//! Experiments back to local files: events become results rows (our CSV shape), written as a
//! results CSV or as JSON lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use core_config::results::{reasoning_of, write_results};
use core_config::{AtomicFile, ModuleId, ModuleSpec, ResultRow};
use registry::Registry;
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::event::ROW_KEY;
use crate::naming::module_of_name;
use crate::types::{Experiment, Project};
use crate::upload::looks_like_uuid;

/// Finds the experiment a user named: a local run id (or unique prefix) of an uploaded run, an
/// experiment id, or an experiment name in the project.
///
/// # Errors
/// [`Error::ExperimentNotFound`] (with a hint) when nothing answers to it; request failures.
pub async fn resolve_experiment(
    client: &Client,
    project: &Project,
    registry: &Registry,
    reference: &str,
) -> Result<Experiment> {
    let reference = reference.trim();
    let not_found = |hint: Option<String>| Error::ExperimentNotFound {
        reference: reference.to_owned(),
        project: project.name.clone(),
        hint,
    };
    if reference.starts_with("exp_")
        && let Ok(entry) = registry.find(reference)
    {
        return match entry.braintrust_id.as_deref() {
            Some(id) if looks_like_uuid(id) => client.experiment(id).await,
            Some(name) => client
                .find_experiment(&project.id, name)
                .await?
                .ok_or_else(|| {
                    not_found(Some(format!("run {} names it `{name}`", entry.local_id)))
                }),
            None => Err(not_found(Some(format!(
                "run {} is {}, not uploaded; `sync-braintrust upload {}` uploads it",
                entry.local_id, entry.status, entry.local_id
            )))),
        };
    }
    if looks_like_uuid(reference) {
        return match client.experiment(reference).await {
            Err(Error::Http { status: 404, .. }) => Err(not_found(None)),
            other => other,
        };
    }
    if let Some(found) = client.find_experiment(&project.id, reference).await? {
        return Ok(found);
    }
    let names: Vec<String> = client
        .experiments(&project.id)
        .await?
        .into_iter()
        .map(|e| e.name)
        .collect();
    let hint = core_config::closest(reference, names.iter().map(String::as_str))
        .map(|n| format!("did you mean `{n}`?"));
    Err(not_found(hint))
}

/// The module of an experiment: from its metadata, its name, or its rows' metadata.
#[must_use]
pub fn module_of(experiment: &Experiment, events: &[Value]) -> Option<ModuleId> {
    experiment
        .metadata_text("module")
        .and_then(ModuleId::parse)
        .or_else(|| module_of_name(&experiment.name))
        .or_else(|| {
            events.iter().find_map(|e| {
                e.pointer("/metadata/module_id")
                    .or_else(|| e.pointer("/metadata/module"))
                    .and_then(Value::as_str)
                    .and_then(ModuleId::parse)
            })
        })
}

fn object_or_empty(value: Option<&Value>) -> Value {
    match value {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v.clone(),
    }
}

fn text_at<'a>(event: &'a Value, pointers: &[&str]) -> &'a str {
    pointers
        .iter()
        .find_map(|p| {
            event
                .pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_default()
}

/// One event as a results row.
#[must_use]
pub fn row_from_event(event: &Value) -> ResultRow {
    let id = event.get("id").and_then(Value::as_str).unwrap_or_default();
    let record_id = match text_at(event, &["/metadata/record_id"]) {
        "" => id.rsplit_once(':').map_or(id, |(_, r)| r).to_owned(),
        r => r.to_owned(),
    };
    let output = object_or_empty(event.get("output"));
    let correct = match event.pointer("/scores/correct").and_then(Value::as_f64) {
        Some(x) if x >= 0.5 => Some(true),
        Some(_) => Some(false),
        None => None,
    };
    let error = match event.get("error") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let mut metrics = event
        .get("metrics")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(tokens) = metrics.remove("tokens") {
        metrics.insert("total_tokens".to_owned(), tokens);
    }
    let mut metadata = event
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.remove(ROW_KEY);
    ResultRow {
        record_id,
        input: object_or_empty(event.get("input")),
        expected: object_or_empty(event.get("expected")),
        asin: text_at(event, &["/metadata/asin", "/input/asin"]).to_owned(),
        brand: text_at(
            event,
            &[
                "/metadata/brand",
                "/metadata/brand_name",
                "/input/brand_name",
            ],
        )
        .to_owned(),
        keyword: text_at(event, &["/metadata/keyword", "/input/keyword"]).to_owned(),
        reasoning: reasoning_of(&output),
        output,
        metrics: Value::Object(metrics),
        metadata: Value::Object(metadata),
        correct,
        error,
        extra: std::collections::BTreeMap::new(),
    }
}

/// Events as results rows, in the order of the CSV they were uploaded from (rows we did not
/// upload follow, by id). Each event is dropped once converted.
#[must_use]
pub fn rows_from_events(events: Vec<Value>) -> Vec<ResultRow> {
    let mut keyed: Vec<(u64, String, Value)> = events
        .into_iter()
        .map(|e| {
            let place = e
                .pointer("/metadata/row")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX);
            let id = e
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            (place, id, e)
        })
        .collect();
    keyed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    keyed
        .into_iter()
        .map(|(_, _, e)| row_from_event(&e))
        .collect()
}

/// The file format of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A results CSV with the module's columns.
    Csv,
    /// One JSON object per row with the results fields.
    Jsonl,
}

impl Format {
    /// The file extension.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }
}

/// One row as a JSON object with the results fields.
#[must_use]
pub fn row_json(row: &ResultRow) -> Value {
    json!({
        "record_id": row.record_id,
        "input": row.input,
        "output": row.output,
        "expected": row.expected,
        "asin": row.asin,
        "brand": row.brand,
        "keyword": row.keyword,
        "reasoning": row.reasoning,
        "metrics": row.metrics,
        "metadata": row.metadata,
        "correct": row.correct,
        "error": row.error,
    })
}

/// Writes rows to `path` atomically (a reader never sees half a file).
///
/// # Errors
/// When the file cannot be written.
pub fn write_rows(
    path: &Path,
    format: Format,
    module: &ModuleSpec,
    rows: &[ResultRow],
) -> Result<PathBuf> {
    match format {
        Format::Csv => Ok(write_results(path, module, rows)?),
        Format::Jsonl => {
            let io = |e: std::io::Error| {
                Error::Files(core_config::Error::Io {
                    path: path.to_owned(),
                    source: e,
                })
            };
            let mut file = AtomicFile::create(path).map_err(io)?;
            for row in rows {
                writeln!(file, "{}", row_json(row)).map_err(io)?;
            }
            file.commit().map_err(io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_as_rows_in_csv_order() {
        let events = vec![
            json!({"id": "exp_1:b", "_xact_id": "2", "input": {"keyword": "k2"}, "output": {"relevancy": "R", "reasoning": "why"},
                "expected": {"relevancy": "N"}, "scores": {"correct": 0}, "metrics": {"tokens": 9, "prompt_tokens": 7},
                "metadata": {"record_id": "b", "row": 2, "asin": "B2", "brand": "X"}}),
            json!({"id": "exp_1:a", "_xact_id": "1", "input": {"keyword": "k1"}, "output": null,
                "expected": {"relevancy": "N"}, "error": "invalid_json: cut", "metadata": {"record_id": "a", "row": 1}}),
            json!({"id": "someone-elses-row", "input": {"keyword": "k3"}, "scores": {"correct": 1}}),
        ];
        let rows = rows_from_events(events);
        let ids: Vec<&str> = rows.iter().map(|r| r.record_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "someone-elses-row"]);
        assert_eq!(rows[0].correct, None);
        assert_eq!(rows[0].error, "invalid_json: cut");
        assert_eq!(rows[0].output, json!({}));
        assert_eq!(rows[0].keyword, "k1");
        assert_eq!(rows[1].correct, Some(false));
        assert_eq!(rows[1].reasoning, "why");
        assert_eq!(rows[1].brand, "X");
        assert_eq!(
            rows[1].metrics,
            json!({"total_tokens": 9, "prompt_tokens": 7})
        );
        assert!(rows[1].metadata.get("row").is_none());
        assert_eq!(rows[2].correct, Some(true));
    }

    #[test]
    fn the_module_comes_from_metadata_then_name_then_rows() {
        let mut experiment = Experiment {
            id: "x".into(),
            project_id: "p".into(),
            name: "root_m14_PrimaryUseCheckSameType_20260116_123456".into(),
            description: None,
            created: None,
            metadata: None,
            base_exp_id: None,
            dataset_id: None,
        };
        assert_eq!(module_of(&experiment, &[]).unwrap().as_str(), "m14");
        experiment.name = "nightly".into();
        let rows = [json!({"metadata": {"module_id": "m02b"}})];
        assert_eq!(module_of(&experiment, &rows).unwrap().as_str(), "m02b");
        experiment.metadata = Some(json!({"module": "m12"}).as_object().unwrap().clone());
        assert_eq!(module_of(&experiment, &rows).unwrap().as_str(), "m12");
        experiment.metadata = None;
        assert_eq!(module_of(&experiment, &[]), None);
    }
}
