//! Prompts on Braintrust: a module's template at one prompt version pushed as one Braintrust
//! prompt, created or replaced by slug (each push is a new version of the same prompt), and
//! listed.
//!
//! The message is the template with each `{{field}}` placeholder written as the mustache
//! variable `{{input.field}}` (Braintrust fills prompts from a dataset row's `input`); the
//! options carry the model, temperature, token cap and the `response_format` the runner sends.

use core_config::{
    Catalog, ModuleSpec, ProjectPaths, ResponseFormatKind, ResponseSchema, Template,
};
use registry::RegistryFile;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::links::{self, PushedPrompt};
use crate::types::{NewPrompt, Project, Prompt};

/// A module's prompt at one version, ready to push.
#[derive(Debug, Clone)]
pub struct LocalPrompt {
    /// The module.
    pub module: ModuleSpec,
    /// Our prompt version (`v1`).
    pub version: String,
    /// Slug on Braintrust: `{module}-{slug}-{version}` with dashes
    /// (`m12-check-hard-constraint-v1`).
    pub slug: String,
    /// Display name: `{module} {ModuleName} {version}`.
    pub name: String,
    /// The template file as the registry records it.
    pub local_file: String,
    /// SHA-256 of the template file (the registry's `prompt_hash` is its first 8 hex digits).
    pub sha256: String,
    /// `prompt_data`: messages, model and parameters.
    pub prompt_data: Value,
}

/// The slug of a module's prompt at a version.
#[must_use]
pub fn slug(module: &ModuleSpec, version: &str) -> String {
    format!("{}-{}-{version}", module.id, module.slug).replace('_', "-")
}

/// The template text with `{{field}}` written as Braintrust's `{{input.field}}`.
#[must_use]
pub fn mustache(template: &Template) -> String {
    let mut text = template.text().to_owned();
    for name in template.names() {
        text = text.replace(&format!("{{{{{name}}}}}"), &format!("{{{{input.{name}}}}}"));
    }
    text
}

impl LocalPrompt {
    /// Reads the module's template at `version` (default: the catalogue's) and its schema.
    ///
    /// # Errors
    /// [`Error::Files`] naming the template or schema file when it cannot be read or parsed.
    pub fn load(
        catalog: &Catalog,
        paths: &ProjectPaths,
        module: &ModuleSpec,
        version: Option<&str>,
    ) -> Result<Self> {
        let version = version
            .unwrap_or(&catalog.defaults().prompt_version)
            .to_owned();
        let path = catalog.prompt_path(module, &version);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::Files(core_config::Error::Io {
                path: path.clone(),
                source: e,
            })
        })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let template = Template::parse(text).map_err(|e| {
            let line = match &e {
                core_config::TemplateError::Malformed { line, .. }
                | core_config::TemplateError::Unfed { line, .. } => *line,
            };
            Error::Files(core_config::Error::Template {
                path: path.clone(),
                line,
                message: e.to_string(),
            })
        })?;
        let response_format = match module.settings.response_format {
            ResponseFormatKind::JsonSchema => {
                ResponseSchema::load(&catalog.schema_path(module), &module.slug)?.response_format()
            }
            ResponseFormatKind::JsonObject => json!({"type": "json_object"}),
        };
        let model = module
            .settings
            .model_override
            .clone()
            .unwrap_or_else(|| catalog.defaults().model.clone());
        let prompt_data = json!({
            "prompt": {
                "type": "chat",
                "messages": [{"role": "user", "content": mustache(&template)}],
            },
            "options": {
                "model": model,
                "params": {
                    "temperature": module.settings.temperature,
                    "max_tokens": module.settings.max_tokens,
                    "response_format": response_format,
                },
            },
            "template_format": "mustache",
        });
        Ok(Self {
            slug: slug(module, &version),
            name: format!("{} {} {version}", module.id, module.name),
            local_file: paths.display(&path).into_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            module: module.clone(),
            version,
            prompt_data,
        })
    }

    /// Prompt metadata: `{module_id, version, local_file, sha256}`.
    #[must_use]
    pub fn metadata(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("module_id".to_owned(), json!(self.module.id.to_string()));
        m.insert("version".to_owned(), json!(self.version));
        m.insert("local_file".to_owned(), json!(self.local_file));
        m.insert("sha256".to_owned(), json!(self.sha256));
        m
    }

    fn body(&self, project: &Project) -> NewPrompt {
        NewPrompt {
            project_id: project.id.clone(),
            name: self.name.clone(),
            slug: self.slug.clone(),
            description: Some(format!(
                "{}: {} (from {}, sha256 {})",
                self.module.id,
                self.module.description,
                self.local_file,
                &self.sha256[..12]
            )),
            prompt_data: self.prompt_data.clone(),
            // The published create schema has no `metadata`; the tags say the same for a
            // server that drops it.
            tags: vec![
                self.module.id.to_string(),
                self.version.clone(),
                format!("sha256:{}", &self.sha256[..12]),
            ],
            metadata: self.metadata(),
        }
    }
}

/// What a prompt push did.
#[derive(Debug, Clone, Serialize)]
pub struct PromptPushed {
    /// The prompt, at the version just stored.
    pub prompt: Prompt,
    /// Whether a prompt of that slug existed (and now has a new version).
    pub replaced: bool,
}

/// Creates the prompt or replaces the one of its slug, and records the push in the registry.
///
/// # Errors
/// Request and registry failures.
pub async fn push(
    client: &Client,
    registry: &RegistryFile,
    local: &LocalPrompt,
) -> Result<PromptPushed> {
    let project = client.project().await?;
    let replaced = client
        .prompts(&project.id, Some(&local.slug))
        .await?
        .iter()
        .any(|p| p.slug == local.slug);
    let prompt = client.replace_prompt(&local.body(&project)).await?;
    links::record_prompt(
        registry,
        &PushedPrompt {
            slug: prompt.slug.clone(),
            id: prompt.id.clone(),
            version: prompt.version.clone(),
            module_id: local.module.id.to_string(),
            prompt_version: local.version.clone(),
            local_file: local.local_file.clone(),
            sha256: local.sha256.clone(),
            pushed_at: links::now(),
        },
    )?;
    Ok(PromptPushed { prompt, replaced })
}

/// The project's prompts, newest first.
///
/// # Errors
/// Request failures.
pub async fn list(client: &Client) -> Result<(Project, Vec<Prompt>)> {
    let project = client.project().await?;
    let prompts = client.prompts(&project.id, None).await?;
    Ok((project, prompts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_input_variables() {
        let t = Template::parse("Keyword: {{keyword}}\nTitle: {{title}} {{keyword}}\n{\"a\": {}}")
            .unwrap();
        assert_eq!(
            mustache(&t),
            "Keyword: {{input.keyword}}\nTitle: {{input.title}} {{input.keyword}}\n{\"a\": {}}"
        );
    }
}
