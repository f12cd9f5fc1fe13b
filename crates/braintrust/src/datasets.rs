//! Datasets on Braintrust: a local dataset file (a module's golden set, a gold file from
//! `merge-annotations gold`, a synthetic or imported file) pushed as one Braintrust dataset
//! whose row ids are the record ids, pulled back into our JSONL record shape, and listed.
//!
//! Pushing again replaces rows by id; rows the file no longer has are reported, and deleted
//! only when asked (`prune`), after every row is stored.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use core_config::{AtomicFile, Catalog, ModuleSpec, ProjectPaths, Record};
use registry::RegistryFile;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::client::{Client, RowStore};
use crate::config::{FETCH_PAGE_SIZE, MAX_EVENTS_PER_INSERT, MAX_INSERT_BYTES};
use crate::error::{Error, Result};
use crate::event::Chunker;
use crate::links::{self, PushedDataset};
use crate::types::{Dataset, NewDataset, Project};

/// A dataset file ready to push.
#[derive(Debug, Clone)]
pub struct LocalDataset {
    /// Name on Braintrust: `{module}_{tag}` (`m12_golden_v1`), or the name asked for.
    pub name: String,
    /// The module its records are for.
    pub module: ModuleSpec,
    /// `golden` (the module's dataset in `modules.toml`), `gold`, `synthetic` or `imported`.
    pub kind: String,
    /// The file.
    pub path: PathBuf,
    /// The file as the registry records it (relative to the root when under it).
    pub local_file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Its records, in file order.
    pub records: Vec<Record>,
}

impl LocalDataset {
    /// Reads what `datasets push` was given: a module (its dataset in `modules.toml`) or a
    /// dataset file. `name` replaces the conventional name.
    ///
    /// # Errors
    /// [`Error::DatasetSource`] when it is neither, or the module cannot be told;
    /// [`Error::Files`] naming the file and line of a bad record.
    pub fn open(
        catalog: &Catalog,
        paths: &ProjectPaths,
        what: &str,
        name: Option<&str>,
    ) -> Result<Self> {
        let source = |message: String| Error::DatasetSource {
            what: what.to_owned(),
            message,
        };
        let given = Path::new(what);
        let as_file = if given.is_absolute() {
            given.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(given))
                .unwrap_or_else(|_| given.to_path_buf())
        };
        let looks_like_file = what.contains(['/', '\\']) || what.ends_with(".jsonl");
        let (path, module) = if as_file.is_file() {
            (as_file, None)
        } else if looks_like_file {
            return Err(source(format!("no such file ({})", as_file.display())));
        } else {
            let module = catalog
                .resolve(what)
                .map_err(|e| source(format!("neither a dataset file nor a module: {e}")))?;
            (catalog.dataset_path(module), Some(module.clone()))
        };
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Files(core_config::Error::Io {
                path: path.clone(),
                source: e,
            })
        })?;
        let records = core_config::read_records(&path)?;
        if records.is_empty() {
            return Err(source(format!("{} holds no records", path.display())));
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = match module {
            Some(m) => m,
            None => module_of_records(catalog, &records, &file_name).ok_or_else(|| {
                source(
                    "cannot tell its module: no record has metadata.module_id and the file name \
                     does not start with one (m12_…)"
                        .to_owned(),
                )
            })?,
        };
        let golden = same_file(&path, &catalog.dataset_path(&module));
        let (kind, tag) = kind_and_tag(&module, &file_name, golden);
        let name = name.map_or_else(|| format!("{}_{tag}", module.id), str::to_owned);
        Ok(Self {
            name,
            local_file: paths.display(&path).into_owned(),
            module,
            kind,
            path,
            sha256: hex::encode(Sha256::digest(&bytes)),
            records,
        })
    }

    /// Dataset metadata: `{module_id, kind, sha256}`.
    #[must_use]
    pub fn metadata(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("module_id".to_owned(), json!(self.module.id.to_string()));
        m.insert("kind".to_owned(), json!(self.kind));
        m.insert("sha256".to_owned(), json!(self.sha256));
        m
    }

    fn description(&self) -> String {
        format!(
            "{} {} {} dataset, {} records, from {}",
            self.module.id,
            self.module.name,
            self.kind,
            self.records.len(),
            self.local_file
        )
    }
}

/// The module named by the records' `metadata.module_id`, else by the file name's prefix.
fn module_of_records(catalog: &Catalog, records: &[Record], file_name: &str) -> Option<ModuleSpec> {
    records
        .iter()
        .find_map(|r| r.metadata.get("module_id").and_then(Value::as_str))
        .and_then(|id| catalog.resolve(id).ok())
        .or_else(|| catalog.module_for_file_name(file_name))
        .cloned()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The kind of a dataset file and the tag its conventional name ends with.
fn kind_and_tag(module: &ModuleSpec, file_name: &str, golden: bool) -> (String, String) {
    let stem = file_name.strip_suffix(".jsonl").unwrap_or(file_name);
    let prefix = module.id.as_str().len();
    let rest = if stem
        .get(..prefix)
        .is_some_and(|p| p.eq_ignore_ascii_case(module.id.as_str()))
    {
        stem[prefix..].trim_start_matches(['_', '-'])
    } else {
        stem
    };
    let first = rest.split(['_', '-']).next().unwrap_or_default();
    let is_version =
        |t: &str| t.len() > 1 && t.starts_with('v') && t[1..].chars().all(|c| c.is_ascii_digit());
    if golden {
        let version = if is_version(first) { first } else { "v1" };
        return ("golden".to_owned(), format!("golden_{version}"));
    }
    let lower = rest.to_ascii_lowercase();
    if let Some(after) = lower
        .strip_prefix("gold_")
        .or_else(|| lower.strip_prefix("gold-"))
    {
        return ("gold".to_owned(), format!("gold_{}", safe(after)));
    }
    let sd = first.to_ascii_lowercase();
    if sd.len() > 2 && sd.starts_with("sd") && sd[2..].chars().all(|c| c.is_ascii_digit()) {
        return ("synthetic".to_owned(), sd);
    }
    ("imported".to_owned(), safe(&lower))
}

fn safe(text: &str) -> String {
    let out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "dataset".to_owned()
    } else {
        out
    }
}

/// The event of one record: its id, input, expected answer and metadata.
fn record_event(record: &Record) -> Value {
    json!({
        "id": record.id,
        "input": record.input,
        "expected": record.expected,
        "metadata": record.metadata,
    })
}

/// What a push will do, worked out before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct PushPlan {
    /// The project.
    pub project: Project,
    /// The dataset when it exists already.
    pub existing: Option<Dataset>,
    /// Rows the dataset holds now.
    pub remote_rows: usize,
    /// Ids of remote rows the file no longer has, sorted.
    pub stale: Vec<String>,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    /// The dataset.
    pub dataset: Dataset,
    /// Whether the push created it.
    pub created: bool,
    /// Rows sent (every record).
    pub rows: usize,
    /// Insert requests it took.
    pub requests: usize,
    /// Stale rows deleted (with prune).
    pub deleted: usize,
    /// Stale rows left in place (without prune).
    pub kept_stale: usize,
}

/// Looks at the remote side: the dataset of that name and the rows the file no longer has.
///
/// # Errors
/// When a request fails.
pub async fn plan_push(client: &Client, local: &LocalDataset) -> Result<PushPlan> {
    let project = client.project().await?;
    let existing = client
        .datasets(&project.id, Some(&local.name))
        .await?
        .into_iter()
        .find(|d| d.name == local.name);
    let (remote_rows, stale) = match &existing {
        Some(dataset) => {
            let rows = client
                .fetch_all_of(RowStore::Dataset, &dataset.id, FETCH_PAGE_SIZE)
                .await?;
            let ids: HashSet<&str> = local.records.iter().map(|r| r.id.as_str()).collect();
            let mut stale: Vec<String> = rows
                .iter()
                .filter_map(|r| r.get("id").and_then(Value::as_str))
                .filter(|id| !ids.contains(id))
                .map(str::to_owned)
                .collect();
            stale.sort();
            (rows.len(), stale)
        }
        None => (0, Vec::new()),
    };
    Ok(PushPlan {
        project,
        existing,
        remote_rows,
        stale,
    })
}

/// Pushes the records (replacing rows by id), deletes the stale rows when `prune`, updates the
/// dataset's metadata, and records the push in the registry.
///
/// Rows go first and deletions after them, so a push that fails part-way never leaves fewer
/// rows than the file; the dataset's `sha256` changes only once everything is stored. Running
/// it again after a failure finishes the job.
///
/// # Errors
/// [`Error::Partial`] (how far it got) when an insert fails; request and registry failures.
pub async fn push(
    client: &Client,
    registry: &RegistryFile,
    local: &LocalDataset,
    plan: &PushPlan,
    prune: bool,
) -> Result<Pushed> {
    let (dataset, created) = match &plan.existing {
        Some(d) => (d.clone(), false),
        None => {
            let d = client
                .create_dataset(&NewDataset {
                    project_id: plan.project.id.clone(),
                    name: local.name.clone(),
                    description: Some(local.description()),
                    metadata: Map::new(),
                    tags: vec![local.module.id.to_string(), local.kind.clone()],
                })
                .await?;
            (d, true)
        }
    };
    let total = local.records.len();
    let progress = client.progress();
    progress.run_started(&local.name, &dataset.name, total);
    let mut stored = 0;
    let mut requests = 0;
    let partial = |stored: usize, e: Error| Error::Partial {
        stored,
        total,
        source: Box::new(e),
    };
    let mut chunker = Chunker::new(MAX_EVENTS_PER_INSERT, MAX_INSERT_BYTES);
    let mut chunks = Vec::new();
    for record in &local.records {
        if let Some(chunk) = chunker.push(record_event(record)) {
            chunks.push(chunk);
        }
    }
    chunks.extend(chunker.finish());
    for chunk in chunks {
        client
            .insert_into(RowStore::Dataset, &dataset.id, &chunk)
            .await
            .map_err(|e| partial(stored, e))?;
        stored += chunk.len();
        requests += 1;
        progress.rows_sent(stored, total);
    }
    let mut deleted = 0;
    if prune && !plan.stale.is_empty() {
        let mut chunker = Chunker::new(MAX_EVENTS_PER_INSERT, MAX_INSERT_BYTES);
        let mut chunks = Vec::new();
        for id in &plan.stale {
            if let Some(chunk) = chunker.push(json!({"id": id, "_object_delete": true})) {
                chunks.push(chunk);
            }
        }
        chunks.extend(chunker.finish());
        for chunk in chunks {
            client
                .insert_into(RowStore::Dataset, &dataset.id, &chunk)
                .await
                .map_err(|e| partial(stored, e))?;
            deleted += chunk.len();
            requests += 1;
        }
    }
    let dataset = client
        .update_dataset(&dataset.id, Some(&local.description()), &local.metadata())
        .await
        .map_err(|e| partial(stored, e))?;
    links::record_dataset(
        registry,
        &PushedDataset {
            name: dataset.name.clone(),
            id: dataset.id.clone(),
            module_id: local.module.id.to_string(),
            kind: local.kind.clone(),
            local_file: local.local_file.clone(),
            sha256: local.sha256.clone(),
            records: total,
            pushed_at: links::now(),
        },
    )?;
    Ok(Pushed {
        dataset,
        created,
        rows: total,
        requests,
        deleted,
        kept_stale: if prune { 0 } else { plan.stale.len() },
    })
}

/// The project's dataset of that name.
///
/// # Errors
/// [`Error::DatasetNotFound`] (with a close name when there is one); request failures.
pub async fn find(client: &Client, name: &str) -> Result<(Project, Dataset)> {
    let project = client.project().await?;
    if let Some(found) = client
        .datasets(&project.id, Some(name))
        .await?
        .into_iter()
        .find(|d| d.name == name)
    {
        return Ok((project, found));
    }
    let all = client.datasets(&project.id, None).await?;
    let hint = core_config::closest(name, all.iter().map(|d| d.name.as_str()))
        .map(|n| format!("did you mean `{n}`?"))
        .or_else(|| {
            Some(if all.is_empty() {
                "the project has no datasets; `sync-braintrust datasets push MODULE` adds one"
                    .to_owned()
            } else {
                "`sync-braintrust datasets list` shows them".to_owned()
            })
        });
    Err(Error::DatasetNotFound {
        name: name.to_owned(),
        project: project.name,
        hint,
    })
}

/// A dataset's rows as records in our shape (`{id, input, expected, metadata}`), oldest
/// first (then by id).
///
/// # Errors
/// [`Error::DatasetRow`] for a row whose input is not an object; request failures.
pub async fn pull(client: &Client, dataset: &Dataset) -> Result<Vec<Value>> {
    let mut rows = client
        .fetch_all_of(RowStore::Dataset, &dataset.id, FETCH_PAGE_SIZE)
        .await?;
    let text = |row: &Value, key: &str| {
        row.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    rows.sort_by_key(|r| (text(r, "created"), text(r, "id")));
    rows.iter()
        .map(|row| {
            let id = text(row, "id");
            let bad = |message: String| Error::DatasetRow {
                name: dataset.name.clone(),
                id: id.clone(),
                message,
            };
            let object = |key: &str, required: bool| -> Result<Value> {
                match row.get(key) {
                    Some(Value::Object(o)) => Ok(Value::Object(o.clone())),
                    None | Some(Value::Null) if !required => Ok(json!({})),
                    Some(other) => Err(bad(format!(
                        "`{key}` is {}, not an object",
                        core_config::dataset::kind_of(other)
                    ))),
                    None => Err(bad(format!("`{key}` is missing"))),
                }
            };
            if id.is_empty() {
                return Err(bad("the row has no id".to_owned()));
            }
            Ok(json!({
                "id": id,
                "input": object("input", true)?,
                "expected": object("expected", false)?,
                "metadata": object("metadata", false)?,
            }))
        })
        .collect()
}

/// Where a pulled dataset goes by default: `datasets/braintrust/{name}.jsonl`.
#[must_use]
pub fn pull_path(paths: &ProjectPaths, name: &str) -> PathBuf {
    paths
        .datasets()
        .join("braintrust")
        .join(format!("{}.jsonl", safe(name)))
}

/// Writes records as JSON lines, atomically.
///
/// # Errors
/// [`Error::Write`] when the file cannot be written.
pub fn write_records(path: &Path, records: &[Value]) -> Result<()> {
    let fail = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut file = AtomicFile::create(path).map_err(fail)?;
    for record in records {
        writeln!(file, "{record}").map_err(fail)?;
    }
    file.commit().map_err(fail)?;
    Ok(())
}

/// A dataset on Braintrust with what this clone knows of it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedDataset {
    /// The dataset.
    #[serde(flatten)]
    pub dataset: Dataset,
    /// The push from this clone, when there was one.
    pub pushed: Option<PushedDataset>,
    /// The local file changed since it was pushed (`None` when unknown).
    pub changed_locally: Option<bool>,
}

/// The project's datasets, newest first, with this clone's pushes.
///
/// # Errors
/// Request and registry failures.
pub async fn list(
    client: &Client,
    registry: &RegistryFile,
) -> Result<(Project, Vec<ListedDataset>)> {
    let project = client.project().await?;
    let pushed = links::pushed_datasets(&registry.load()?);
    let datasets = client.datasets(&project.id, None).await?;
    let listed = datasets
        .into_iter()
        .map(|dataset| {
            let pushed = pushed.iter().find(|p| p.id == dataset.id).cloned();
            let changed_locally = pushed.as_ref().and_then(|p| {
                let path = registry::resolve_csv_path(registry.root(), &p.local_file)?;
                let bytes = std::fs::read(path).ok()?;
                Some(hex::encode(Sha256::digest(&bytes)) != p.sha256)
            });
            ListedDataset {
                dataset,
                pushed,
                changed_locally,
            }
        })
        .collect();
    Ok((project, listed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m12() -> ModuleSpec {
        let catalog =
            Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"))
                .unwrap();
        catalog.resolve("m12").unwrap().clone()
    }

    #[test]
    fn names_follow_the_kind_of_file() {
        let m12 = m12();
        let k = |name: &str, golden: bool| kind_and_tag(&m12, name, golden);
        assert_eq!(
            k("m12_v1_check_hard_constraint.jsonl", true),
            ("golden".to_owned(), "golden_v1".to_owned())
        );
        assert_eq!(
            k("M12_gold_20260116_123456.jsonl", false),
            ("gold".to_owned(), "gold_20260116_123456".to_owned())
        );
        assert_eq!(
            k("m12_sd01_check_hard_constraint.jsonl", false),
            ("synthetic".to_owned(), "sd01".to_owned())
        );
        assert_eq!(
            k("m12_client batch.jsonl", false),
            ("imported".to_owned(), "client_batch".to_owned())
        );
    }
}
