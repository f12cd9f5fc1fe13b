//! The objects of the REST API this crate reads and writes, with only the fields it uses
//! (unknown fields are ignored on the way in).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Braintrust project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Project id (a UUID).
    pub id: String,
    /// Project name.
    pub name: String,
    /// Organisation id.
    #[serde(default)]
    pub org_id: Option<String>,
}

/// A Braintrust experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Experiment id (a UUID).
    pub id: String,
    /// Project it belongs to.
    pub project_id: String,
    /// Name, unique within the project.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time (ISO 8601).
    #[serde(default)]
    pub created: Option<String>,
    /// Free-form metadata; ours carries `local_id` and `module`.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    /// The experiment compared against by default.
    #[serde(default)]
    pub base_exp_id: Option<String>,
    /// The dataset it ran on, when linked.
    #[serde(default)]
    pub dataset_id: Option<String>,
}

impl Experiment {
    /// A metadata value as text.
    #[must_use]
    pub fn metadata_text(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }

    /// The local run this experiment was uploaded from, when we uploaded it.
    #[must_use]
    pub fn local_id(&self) -> Option<&str> {
        self.metadata_text("local_id")
    }
}

/// State of the git checkout an experiment was run from (`repo_info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// Commit SHA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Branch name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Tag on the commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Uncommitted changes present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
    /// Commit author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Commit author's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_email: Option<String>,
    /// Commit message (first line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    /// Commit time (ISO 8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_time: Option<String>,
}

/// The body of `POST /v1/experiment`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewExperiment {
    /// Project to create it in.
    pub project_id: String,
    /// Wanted name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Git state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_info: Option<RepoInfo>,
    /// Baseline experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_exp_id: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Create under a fresh name when the name is taken (otherwise the existing experiment is
    /// returned unchanged).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ensure_new: bool,
    /// The Braintrust dataset the run's records came from, when it was pushed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
}

/// A Braintrust dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Dataset id (a UUID).
    pub id: String,
    /// Project it belongs to.
    pub project_id: String,
    /// Name, unique within the project.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time (ISO 8601).
    #[serde(default)]
    pub created: Option<String>,
    /// Free-form metadata; ours carries `module_id`, `kind` and `sha256`.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

impl Dataset {
    /// A metadata value as text.
    #[must_use]
    pub fn metadata_text(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }
}

/// The body of `POST /v1/dataset` (create, or find by name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewDataset {
    /// Project to create it in.
    pub project_id: String,
    /// Name, unique within the project.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// A Braintrust prompt (its current version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// Prompt id (a UUID), the same across versions.
    pub id: String,
    /// The version: the transaction that stored it.
    #[serde(rename = "_xact_id")]
    pub version: String,
    /// Project it belongs to.
    pub project_id: String,
    /// Display name.
    pub name: String,
    /// Unique within the project; what a push replaces by.
    pub slug: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time of the prompt's first version (ISO 8601).
    #[serde(default)]
    pub created: Option<String>,
    /// Messages, model and parameters.
    #[serde(default)]
    pub prompt_data: Option<Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Metadata; ours carries `module_id`, `version`, `local_file` and `sha256`.
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

impl Prompt {
    /// A metadata value as text.
    #[must_use]
    pub fn metadata_text(&self, key: &str) -> Option<&str> {
        self.metadata.as_ref()?.get(key)?.as_str()
    }
}

/// The body of `PUT /v1/prompt` (create, or replace the prompt of that slug).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewPrompt {
    /// Project to create it in.
    pub project_id: String,
    /// Display name.
    pub name: String,
    /// Unique within the project.
    pub slug: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Messages, model and parameters (`PromptData`).
    pub prompt_data: Value,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Metadata. The published `CreatePrompt` schema does not list it (the `Prompt` object
    /// has it); the tags repeat what matters in case a server drops it.
    pub metadata: Map<String, Value>,
}

/// One page of `fetch`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FetchPage {
    /// Events, newest first (possibly repeating earlier pages' rows in older versions).
    pub events: Vec<Value>,
    /// Where the next page starts; `None` at the end.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One score in a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    /// Score name.
    pub name: String,
    /// Mean over the rows.
    pub score: f64,
}

/// What `summarize` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Project name.
    pub project_name: String,
    /// Experiment name.
    pub experiment_name: String,
    /// Link to the project.
    pub project_url: String,
    /// Link to the experiment.
    pub experiment_url: String,
    /// Mean scores (when asked for).
    #[serde(default)]
    pub scores: Option<BTreeMap<String, ScoreSummary>>,
}
