//! The environment: the one place in the workspace that reads environment variables (and the
//! project's `.env` file), and the [`Secret`] type that keeps API keys out of logs.
#![allow(
    clippy::disallowed_methods,
    reason = "this module is the single sanctioned reader of environment variables"
)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// Names of every environment variable the toolkit reads.
pub struct EnvVars;

impl EnvVars {
    /// OpenAI (or compatible server) API key.
    pub const OPENAI_API_KEY: &'static str = "OPENAI_API_KEY";
    /// Base URL of the OpenAI-compatible API (default `https://api.openai.com/v1`).
    pub const OPENAI_BASE_URL: &'static str = "OPENAI_BASE_URL";
    /// Sent as the `OpenAI-Organization` header.
    pub const OPENAI_ORG_ID: &'static str = "OPENAI_ORG_ID";
    /// Sent as the `OpenAI-Project` header.
    pub const OPENAI_PROJECT_ID: &'static str = "OPENAI_PROJECT_ID";
    /// `openai`, `azure` or `compatible` (default: `azure` when `AZURE_OPENAI_ENDPOINT` is set).
    pub const OPENAI_PROVIDER: &'static str = "OPENAI_PROVIDER";
    /// `max_completion_tokens` or `max_tokens`: how the token cap is sent.
    pub const OPENAI_TOKEN_PARAM: &'static str = "OPENAI_TOKEN_PARAM";
    /// Azure OpenAI key (sent as the `api-key` header).
    pub const AZURE_OPENAI_API_KEY: &'static str = "AZURE_OPENAI_API_KEY";
    /// Azure OpenAI endpoint, e.g. `https://my-resource.openai.azure.com`.
    pub const AZURE_OPENAI_ENDPOINT: &'static str = "AZURE_OPENAI_ENDPOINT";
    /// Azure `api-version` query parameter.
    pub const OPENAI_API_VERSION: &'static str = "OPENAI_API_VERSION";
    /// Model used when neither `--model` nor the module names one (default `gpt-4o-mini`).
    pub const DEFAULT_MODEL: &'static str = "DEFAULT_MODEL";
    /// Braintrust API key.
    pub const BRAINTRUST_API_KEY: &'static str = "BRAINTRUST_API_KEY";
    /// Braintrust REST API base (default `https://api.braintrust.dev`).
    pub const BRAINTRUST_API_URL: &'static str = "BRAINTRUST_API_URL";
    /// Braintrust web app (default `https://www.braintrust.dev`).
    pub const BRAINTRUST_APP_URL: &'static str = "BRAINTRUST_APP_URL";
    /// Braintrust organisation name.
    pub const BRAINTRUST_ORG_NAME: &'static str = "BRAINTRUST_ORG_NAME";
    /// Braintrust project name (default `Keyword-Classification-Pipeline`).
    pub const BRAINTRUST_PROJECT: &'static str = "BRAINTRUST_PROJECT";
    /// Directory of the response cache (default `<root>/.cache/llm`).
    pub const KW_CACHE_DIR: &'static str = "KW_CACHE_DIR";
    /// Price table file (default `<root>/prices.toml`).
    pub const KW_PRICES: &'static str = "KW_PRICES";

    /// Every variable with a one-line description, for `--help` texts and the docs.
    pub const ALL: &'static [(&'static str, &'static str)] = &[
        (
            Self::OPENAI_API_KEY,
            "API key of OpenAI or the compatible server",
        ),
        (
            Self::OPENAI_BASE_URL,
            "API base URL (default https://api.openai.com/v1)",
        ),
        (Self::OPENAI_ORG_ID, "OpenAI-Organization header"),
        (Self::OPENAI_PROJECT_ID, "OpenAI-Project header"),
        (Self::OPENAI_PROVIDER, "openai | azure | compatible"),
        (
            Self::OPENAI_TOKEN_PARAM,
            "max_completion_tokens | max_tokens",
        ),
        (
            Self::AZURE_OPENAI_API_KEY,
            "Azure OpenAI key (api-key header)",
        ),
        (Self::AZURE_OPENAI_ENDPOINT, "Azure OpenAI endpoint"),
        (Self::OPENAI_API_VERSION, "Azure api-version"),
        (Self::DEFAULT_MODEL, "default model (gpt-4o-mini)"),
        (Self::BRAINTRUST_API_KEY, "Braintrust API key"),
        (
            Self::BRAINTRUST_API_URL,
            "Braintrust API base (https://api.braintrust.dev)",
        ),
        (
            Self::BRAINTRUST_APP_URL,
            "Braintrust app (https://www.braintrust.dev)",
        ),
        (Self::BRAINTRUST_ORG_NAME, "Braintrust organisation"),
        (
            Self::BRAINTRUST_PROJECT,
            "Braintrust project (Keyword-Classification-Pipeline)",
        ),
        (
            Self::KW_CACHE_DIR,
            "response cache directory (<root>/.cache/llm)",
        ),
        (Self::KW_PRICES, "price table (<root>/prices.toml)"),
    ];
}

/// Default OpenAI base URL.
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Default model.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Default Braintrust API base.
pub const DEFAULT_BRAINTRUST_API_URL: &str = "https://api.braintrust.dev";
/// Default Braintrust app URL.
pub const DEFAULT_BRAINTRUST_APP_URL: &str = "https://www.braintrust.dev";
/// Default Braintrust project (the earlier tool's).
pub const DEFAULT_BRAINTRUST_PROJECT: &str = "Keyword-Classification-Pipeline";

/// A secret such as an API key. `Debug` and `Display` print a redaction; the value is only
/// reachable through [`Secret::expose`], which makes every use easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for putting into a request header.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Which flavour of OpenAI-compatible API we talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// api.openai.com (or a proxy that behaves like it).
    OpenAi,
    /// Azure OpenAI: `api-key` header, `api-version` query, deployment paths.
    Azure,
    /// vLLM, Ollama, llama.cpp server, LiteLLM and other compatible servers.
    Compatible,
}

/// How the completion-token cap is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenParam {
    /// `max_completion_tokens` (OpenAI's current field).
    MaxCompletionTokens,
    /// `max_tokens` (deprecated by OpenAI, but the only one many compatible servers know).
    MaxTokens,
}

impl TokenParam {
    /// The JSON field name.
    #[must_use]
    pub fn field(self) -> &'static str {
        match self {
            Self::MaxCompletionTokens => "max_completion_tokens",
            Self::MaxTokens => "max_tokens",
        }
    }
}

/// Everything needed to reach the model API.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    /// API flavour.
    pub provider: Provider,
    /// Base URL (for Azure: the resource endpoint).
    pub base_url: String,
    /// API key, if one is configured.
    pub api_key: Option<Secret>,
    /// `OpenAI-Organization` header.
    pub organization: Option<String>,
    /// `OpenAI-Project` header.
    pub project: Option<String>,
    /// Azure `api-version`.
    pub api_version: Option<String>,
    /// How the token cap is sent.
    pub token_param: TokenParam,
}

/// Everything needed to reach Braintrust.
#[derive(Debug, Clone)]
pub struct BraintrustSettings {
    /// API key, if configured.
    pub api_key: Option<Secret>,
    /// REST API base.
    pub api_url: String,
    /// Web app base (for experiment links).
    pub app_url: String,
    /// Organisation name, if configured.
    pub org_name: Option<String>,
    /// Project name.
    pub project: String,
}

/// A snapshot of the environment: the process's variables over the project's `.env` file.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only names: values may be secrets.
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Env {
    /// Reads the process environment, then fills in what is missing from `<root>/.env`.
    ///
    /// # Errors
    /// When `.env` exists but cannot be parsed (the error names the line).
    pub fn load(root: Option<&Path>) -> Result<Self> {
        let mut vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        if let Some(root) = root {
            let path = root.join(".env");
            if path.is_file() {
                for (name, value) in read_dotenv(&path)? {
                    vars.entry(name).or_insert(value);
                }
            }
        }
        Ok(Self { vars })
    }

    /// An environment made of the given pairs only (for tests and embedding).
    #[must_use]
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value; empty values count as unset.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The model used when neither the command line nor the module names one.
    #[must_use]
    pub fn default_model(&self) -> String {
        self.get(EnvVars::DEFAULT_MODEL)
            .unwrap_or(DEFAULT_MODEL)
            .to_owned()
    }

    /// Model API settings.
    ///
    /// # Errors
    /// When `OPENAI_PROVIDER` or `OPENAI_TOKEN_PARAM` has an unknown value, or Azure is chosen
    /// without an endpoint.
    pub fn openai(&self) -> Result<OpenAiSettings> {
        let provider = match self
            .get(EnvVars::OPENAI_PROVIDER)
            .map(str::to_ascii_lowercase)
        {
            None if self.get(EnvVars::AZURE_OPENAI_ENDPOINT).is_some() => Provider::Azure,
            None => Provider::OpenAi,
            Some(p) => match p.as_str() {
                "openai" => Provider::OpenAi,
                "azure" => Provider::Azure,
                "compatible" | "vllm" | "ollama" | "litellm" | "llamacpp" | "llama.cpp" => {
                    Provider::Compatible
                }
                other => {
                    return Err(Error::Env {
                        name: EnvVars::OPENAI_PROVIDER,
                        message: format!("`{other}` is not one of openai, azure, compatible"),
                    });
                }
            },
        };
        let token_param = match self.get(EnvVars::OPENAI_TOKEN_PARAM) {
            None if provider == Provider::Compatible => TokenParam::MaxTokens,
            None => TokenParam::MaxCompletionTokens,
            Some("max_completion_tokens") => TokenParam::MaxCompletionTokens,
            Some("max_tokens") => TokenParam::MaxTokens,
            Some(other) => {
                return Err(Error::Env {
                    name: EnvVars::OPENAI_TOKEN_PARAM,
                    message: format!("`{other}` is not one of max_completion_tokens, max_tokens"),
                });
            }
        };
        let (base_url, api_key) = if provider == Provider::Azure {
            let endpoint = self
                .get(EnvVars::AZURE_OPENAI_ENDPOINT)
                .or_else(|| self.get(EnvVars::OPENAI_BASE_URL))
                .ok_or(Error::Env {
                    name: EnvVars::AZURE_OPENAI_ENDPOINT,
                    message: "Azure OpenAI needs an endpoint such as https://my-resource.openai.azure.com".to_owned(),
                })?;
            let key = self
                .get(EnvVars::AZURE_OPENAI_API_KEY)
                .or_else(|| self.get(EnvVars::OPENAI_API_KEY));
            (endpoint.to_owned(), key)
        } else {
            (
                self.get(EnvVars::OPENAI_BASE_URL)
                    .unwrap_or(DEFAULT_OPENAI_BASE_URL)
                    .to_owned(),
                self.get(EnvVars::OPENAI_API_KEY),
            )
        };
        Ok(OpenAiSettings {
            provider,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.map(Secret::new),
            organization: self.get(EnvVars::OPENAI_ORG_ID).map(str::to_owned),
            project: self.get(EnvVars::OPENAI_PROJECT_ID).map(str::to_owned),
            api_version: self.get(EnvVars::OPENAI_API_VERSION).map(str::to_owned),
            token_param,
        })
    }

    /// Braintrust settings.
    #[must_use]
    pub fn braintrust(&self) -> BraintrustSettings {
        BraintrustSettings {
            api_key: self.get(EnvVars::BRAINTRUST_API_KEY).map(Secret::new),
            api_url: self
                .get(EnvVars::BRAINTRUST_API_URL)
                .unwrap_or(DEFAULT_BRAINTRUST_API_URL)
                .trim_end_matches('/')
                .to_owned(),
            app_url: self
                .get(EnvVars::BRAINTRUST_APP_URL)
                .unwrap_or(DEFAULT_BRAINTRUST_APP_URL)
                .trim_end_matches('/')
                .to_owned(),
            org_name: self.get(EnvVars::BRAINTRUST_ORG_NAME).map(str::to_owned),
            project: self
                .get(EnvVars::BRAINTRUST_PROJECT)
                .unwrap_or(DEFAULT_BRAINTRUST_PROJECT)
                .to_owned(),
        }
    }
}

fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| Error::DotEnv {
        path: path.to_owned(),
        line: 1,
        message: e.to_string(),
    })?;
    let mut pairs = Vec::new();
    for item in iter {
        match item {
            Ok(pair) => pairs.push(pair),
            Err(dotenvy::Error::LineParse(line, _)) => {
                // dotenvy reports the offending text, not its line: find it.
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let number = text
                    .lines()
                    .position(|l| l.trim() == line.trim())
                    .map_or(1, |i| i + 1);
                return Err(Error::DotEnv {
                    path: path.to_owned(),
                    line: number,
                    message: format!("cannot parse `{}` (expected NAME=value)", line.trim()),
                });
            }
            Err(e) => {
                return Err(Error::DotEnv {
                    path: path.to_owned(),
                    line: 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let key = Secret::new("sk-test-VERYSECRET1234567890");
        assert_eq!(format!("{key:?}"), "Secret([redacted])");
        assert_eq!(format!("{key}"), "[redacted]");
        let env = Env::from_pairs([(EnvVars::OPENAI_API_KEY, "sk-test-VERYSECRET1234567890")]);
        let settings = env.openai().unwrap();
        let debug = format!("{settings:?} {env:?}");
        assert!(!debug.contains("VERYSECRET"), "{debug}");
        assert_eq!(
            settings.api_key.unwrap().expose(),
            "sk-test-VERYSECRET1234567890"
        );
    }

    #[test]
    fn openai_defaults() {
        let s = Env::default().openai().unwrap();
        assert_eq!(s.provider, Provider::OpenAi);
        assert_eq!(s.base_url, "https://api.openai.com/v1");
        assert_eq!(s.token_param, TokenParam::MaxCompletionTokens);
        assert!(s.api_key.is_none());
        assert_eq!(Env::default().default_model(), "gpt-4o-mini");
    }

    #[test]
    fn compatible_servers_default_to_max_tokens() {
        let env = Env::from_pairs([
            (EnvVars::OPENAI_PROVIDER, "ollama"),
            (EnvVars::OPENAI_BASE_URL, "http://localhost:11434/v1/"),
        ]);
        let s = env.openai().unwrap();
        assert_eq!(s.provider, Provider::Compatible);
        assert_eq!(s.token_param, TokenParam::MaxTokens);
        assert_eq!(s.base_url, "http://localhost:11434/v1");
    }

    #[test]
    fn azure_is_chosen_by_its_endpoint() {
        let env = Env::from_pairs([
            (EnvVars::AZURE_OPENAI_ENDPOINT, "https://r.openai.azure.com"),
            (EnvVars::AZURE_OPENAI_API_KEY, "k"),
            (EnvVars::OPENAI_API_VERSION, "2024-10-21"),
        ]);
        let s = env.openai().unwrap();
        assert_eq!(s.provider, Provider::Azure);
        assert_eq!(s.api_version.as_deref(), Some("2024-10-21"));
        assert_eq!(s.api_key.unwrap().expose(), "k");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let env = Env::from_pairs([(EnvVars::OPENAI_PROVIDER, "bedrock")]);
        assert_eq!(
            env.openai().unwrap_err().to_string(),
            "environment variable OPENAI_PROVIDER: `bedrock` is not one of openai, azure, compatible"
        );
    }

    #[test]
    fn dotenv_fills_in_but_never_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "PATH=/from/dotenv\nKW_TEST_ONLY_VAR=1\n",
        )
        .unwrap();
        let env = Env::load(Some(dir.path())).unwrap();
        assert_eq!(env.get("KW_TEST_ONLY_VAR"), Some("1"));
        assert_ne!(env.get("PATH"), Some("/from/dotenv"));
        std::fs::write(dir.path().join(".env"), "this is not a pair\n").unwrap();
        let err = Env::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.ends_with(".env:1: cannot parse `this is not a pair` (expected NAME=value)"),
            "{err}"
        );
    }

    #[test]
    fn braintrust_defaults() {
        let s = Env::default().braintrust();
        assert_eq!(s.api_url, "https://api.braintrust.dev");
        assert_eq!(s.project, "Keyword-Classification-Pipeline");
        assert!(s.api_key.is_none());
    }
}
