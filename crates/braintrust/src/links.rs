//! What this clone pushed to Braintrust, kept in the registry file's `metadata` (the earlier
//! tool's `resource_mappings.yaml`): `braintrust_datasets` by dataset name and
//! `braintrust_prompts` by slug, each with the remote id, the local file and its SHA-256. An
//! upload reads them to link its experiment to the dataset and prompt version it ran on.

use registry::{Registry, RegistryFile};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::Result;

/// Key of the pushed datasets in the registry's `metadata`.
pub const DATASETS_KEY: &str = "braintrust_datasets";
/// Key of the pushed prompts in the registry's `metadata`.
pub const PROMPTS_KEY: &str = "braintrust_prompts";

/// A dataset pushed from this clone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedDataset {
    /// Dataset name on Braintrust (`m12_golden_v1`).
    pub name: String,
    /// Dataset id.
    pub id: String,
    /// Module id.
    pub module_id: String,
    /// `golden`, `gold`, `synthetic` or `imported`.
    pub kind: String,
    /// The local file, relative to the project root when under it.
    pub local_file: String,
    /// SHA-256 of the file as pushed.
    pub sha256: String,
    /// Records pushed.
    pub records: usize,
    /// When (ISO 8601 local time).
    pub pushed_at: String,
}

/// A prompt version pushed from this clone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedPrompt {
    /// Prompt slug on Braintrust.
    pub slug: String,
    /// Prompt id (the same across versions).
    pub id: String,
    /// The version pushed (`_xact_id`).
    pub version: String,
    /// Module id.
    pub module_id: String,
    /// Our prompt version (`v1`).
    pub prompt_version: String,
    /// The template file, relative to the project root.
    pub local_file: String,
    /// SHA-256 of the template file.
    pub sha256: String,
    /// When (ISO 8601 local time).
    pub pushed_at: String,
}

fn read<T: for<'de> Deserialize<'de>>(registry: &Registry, key: &str) -> Vec<T> {
    registry
        .metadata()
        .get(key)
        .and_then(Value::as_object)
        .map(|map| {
            map.values()
                .filter_map(|v| serde_json::from_value(v.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The datasets pushed from this clone, by name.
#[must_use]
pub fn pushed_datasets(registry: &Registry) -> Vec<PushedDataset> {
    read(registry, DATASETS_KEY)
}

/// The prompts pushed from this clone, by slug.
#[must_use]
pub fn pushed_prompts(registry: &Registry) -> Vec<PushedPrompt> {
    read(registry, PROMPTS_KEY)
}

fn store(file: &RegistryFile, key: &str, name: &str, value: Value) -> Result<()> {
    file.update(|registry| {
        let metadata = registry.metadata_mut();
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        let section = &mut metadata[key];
        if !section.is_object() {
            *section = json!({});
        }
        section[name] = value;
        Ok::<_, registry::Error>(())
    })?;
    Ok(())
}

/// Records a dataset push.
///
/// # Errors
/// When the registry cannot be updated.
pub fn record_dataset(file: &RegistryFile, pushed: &PushedDataset) -> Result<()> {
    store(file, DATASETS_KEY, &pushed.name, json!(pushed))
}

/// Records a prompt push.
///
/// # Errors
/// When the registry cannot be updated.
pub fn record_prompt(file: &RegistryFile, pushed: &PushedPrompt) -> Result<()> {
    store(file, PROMPTS_KEY, &pushed.slug, json!(pushed))
}

/// The local time now, as the registry writes times.
pub(crate) fn now() -> String {
    registry::format_timestamp(chrono::Local::now().naive_local())
}
