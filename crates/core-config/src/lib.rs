//! The foundation every other crate stands on: the module catalogue (`modules.toml`), the
//! environment, the project's paths, and the on-disk formats shared across the pipeline
//! (dataset records, prompt templates, output schemas, results CSVs).
//!
//! - [`Catalog`] loads and validates `modules.toml`: each module's files, model settings, scoring
//!   spec ([`ScoreField`], [`LabelSet`]) and annotation layout ([`AnnotationSpec`]). Ids resolve from
//!   `m12`, `M12`, `12`, `2b`, … ([`ModuleId`]).
//! - [`Env`] is the only reader of environment variables (and of `.env`); keys are [`Secret`]s whose
//!   `Debug`/`Display` print a redaction.
//! - [`labels`] decides what a raw value means, per field: `n` is false in a boolean field and Not
//!   relevant in a relevance field.
//! - [`check`] is the data check behind `orchestrator validate`; [`contamination`] is its rule
//!   that a prompt never quotes the keywords it is evaluated on.
//!
//! This crate does no network I/O and must not depend on any other crate of the workspace, on
//! HTTP, async runtimes or terminal output: it is pure configuration and file formats.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod atomic;
mod catalog;
pub mod check;
pub mod contamination;
pub mod context;
pub mod dataset;
mod env;
mod error;
pub mod fieldpath;
mod git;
mod ids;
pub mod json;
pub mod labels;
pub mod lite;
mod paths;
pub mod results;
pub mod sample;
pub mod schema;
pub mod template;

pub use atomic::{AtomicFile, remove_leftovers, write_atomic};
pub use catalog::{
    AnnotatedField, AnnotationSpec, Annotator, CATALOG_FILE, Catalog, Column, Defaults,
    ModelSettings, ModuleSpec, ModuleType, ResponseFormatKind, ScoreField,
};
pub use dataset::{Record, RecordReader, read_records};
pub use env::{
    BraintrustSettings, DEFAULT_BRAINTRUST_API_URL, DEFAULT_BRAINTRUST_APP_URL,
    DEFAULT_BRAINTRUST_PROJECT, DEFAULT_MODEL, DEFAULT_OPENAI_BASE_URL, Env, EnvVars,
    OpenAiSettings, Provider, Secret, TokenParam,
};
pub use error::{Error, Result, error_chain};
pub use git::{GitState, git_state};
pub use ids::{ModuleId, closest, folder_name};
pub use labels::{LabelError, LabelSet, Reading, ScoreKind, Side};
pub use paths::{ProjectPaths, find_root};
pub use results::{ResultRow, ResultsWriter, read_results};
pub use schema::ResponseSchema;
pub use template::{Template, TemplateError};
