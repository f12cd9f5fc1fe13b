//! The price table: USD per million tokens for each model, read from an editable TOML file
//! (`prices.toml` at the project root), and the cost of a call computed from its usage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::response::Usage;

/// Prices of one model, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Prompt tokens served from the provider's prompt cache (defaults to `input`).
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Completion tokens (reasoning included).
    pub output: f64,
    /// The model's context window in tokens, when known (checked by `core_config::context`).
    #[serde(default)]
    pub context_window: Option<u64>,
}

/// Whether a call was made live or through the Batch API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Synchronous chat completions.
    Standard,
    /// Batch API (discounted).
    Batch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    batch: Option<RawBatch>,
    #[serde(default)]
    models: BTreeMap<String, toml::Spanned<ModelPrice>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatch {
    multiplier: f64,
}

/// The loaded price table.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
    batch_multiplier: f64,
}

/// Batch calls cost half the synchronous price unless the table says otherwise.
pub const DEFAULT_BATCH_MULTIPLIER: f64 = 0.5;

impl PriceTable {
    /// Reads a price table file.
    ///
    /// # Errors
    /// [`Error::Prices`] naming the line when the file is not valid TOML, has unknown keys or
    /// holds a negative price; [`Error::Cache`]-style I/O errors are reported as `Prices` too.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Prices {
            path: path.to_owned(),
            line: 0,
            message: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses price-table text as if read from `path`.
    ///
    /// # Errors
    /// As [`PriceTable::load`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let raw: RawTable = toml::from_str(text).map_err(|e| Error::Prices {
            path: path.to_owned(),
            line: e.span().map_or(1, |s| line_of(s.start)),
            message: e.message().trim().to_owned(),
        })?;
        let batch_multiplier = raw.batch.map_or(DEFAULT_BATCH_MULTIPLIER, |b| b.multiplier);
        if !(0.0..=1.0).contains(&batch_multiplier) {
            return Err(Error::Prices {
                path: path.to_owned(),
                line: text.find("multiplier").map_or(1, line_of),
                message: format!("batch.multiplier must be within 0..1, not {batch_multiplier}"),
            });
        }
        let mut models = BTreeMap::new();
        for (name, spanned) in raw.models {
            let span = spanned.span();
            let price = spanned.into_inner();
            let values = [Some(price.input), price.cached_input, Some(price.output)];
            if values.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(Error::Prices {
                    path: path.to_owned(),
                    line: line_of(span.start),
                    message: format!("model `{name}`: prices must be zero or positive"),
                });
            }
            models.insert(name, price);
        }
        Ok(Self {
            models,
            batch_multiplier,
        })
    }

    /// The file users edit, next to `modules.toml` (or `KW_PRICES`).
    #[must_use]
    pub fn default_path(paths: &core_config::ProjectPaths, env: &core_config::Env) -> PathBuf {
        env.get(core_config::EnvVars::KW_PRICES)
            .map_or_else(|| paths.default_price_table(), PathBuf::from)
    }

    /// Every model name in the table.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The price multiplier of Batch API calls.
    #[must_use]
    pub fn batch_multiplier(&self) -> f64 {
        self.batch_multiplier
    }

    /// The prices of a model: by exact name, then without a provider prefix (`openai/…`), then
    /// without a date suffix (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`).
    #[must_use]
    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        let model = model.trim();
        if let Some(price) = self.models.get(model) {
            return Some(price);
        }
        let bare = model.rsplit_once('/').map_or(model, |(_, m)| m);
        if let Some(price) = self.models.get(bare) {
            return Some(price);
        }
        strip_date_suffix(bare).and_then(|base| self.models.get(base))
    }

    /// The cost of a call in USD, or `None` when the model is not in the table.
    #[must_use]
    pub fn cost(&self, model: &str, usage: &Usage, tier: Tier) -> Option<f64> {
        let price = self.get(model)?;
        let cached = usage.cached_prompt_tokens.min(usage.prompt_tokens);
        let uncached = usage.prompt_tokens - cached;
        let usd = (uncached as f64 * price.input
            + cached as f64 * price.cached_input.unwrap_or(price.input)
            + usage.completion_tokens as f64 * price.output)
            / 1_000_000.0;
        Some(match tier {
            Tier::Standard => usd,
            Tier::Batch => usd * self.batch_multiplier,
        })
    }
}

/// `name-YYYY-MM-DD` → `name`.
fn strip_date_suffix(model: &str) -> Option<&str> {
    let (base, date) = model.split_at_checked(model.len().checked_sub(11)?)?;
    let date = date.strip_prefix('-')?;
    let shape = date.len() == 10
        && date.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    shape.then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
[batch]
multiplier = 0.5

[models."gpt-4o-mini"]
input = 0.15
cached_input = 0.075
output = 0.60

[models.free]
input = 0
output = 0
"#;

    fn table() -> PriceTable {
        PriceTable::parse(TABLE, Path::new("prices.toml")).unwrap()
    }

    #[test]
    fn cost_counts_cached_tokens_at_their_rate() {
        let usage = Usage {
            prompt_tokens: 1_000_000,
            cached_prompt_tokens: 400_000,
            completion_tokens: 100_000,
            reasoning_tokens: 0,
            total_tokens: 1_100_000,
        };
        let t = table();
        let standard = t.cost("gpt-4o-mini", &usage, Tier::Standard).unwrap();
        assert!((standard - (0.6 * 0.15 + 0.4 * 0.075 + 0.1 * 0.60)).abs() < 1e-12);
        let batch = t.cost("gpt-4o-mini", &usage, Tier::Batch).unwrap();
        assert!((batch - standard / 2.0).abs() < 1e-12);
        assert_eq!(t.cost("free", &usage, Tier::Standard), Some(0.0));
    }

    #[test]
    fn unknown_models_have_unknown_cost_not_zero() {
        assert_eq!(
            table().cost("my-azure-deployment", &Usage::default(), Tier::Standard),
            None
        );
    }

    #[test]
    fn dated_and_prefixed_names_find_their_model() {
        let t = table();
        assert!(t.get("gpt-4o-mini-2024-07-18").is_some());
        assert!(t.get("openai/gpt-4o-mini").is_some());
        assert!(t.get("gpt-4o-mini-x").is_none());
        assert!(t.get("gpt-4o").is_none());
    }

    #[test]
    fn mistakes_name_the_line() {
        let err = PriceTable::parse("[models.x]\ninput = 1\noutptu = 2\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:3: unknown field `outptu`"), "{err}");
        let err = PriceTable::parse(
            "\n[models.x]\ninput = -1\noutput = 2\n",
            Path::new("p.toml"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "p.toml:2: model `x`: prices must be zero or positive");
    }

    #[test]
    fn the_shipped_table_prices_every_required_model() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prices.toml");
        let t = PriceTable::load(&path).unwrap();
        for model in [
            "gpt-4o-mini",
            "gpt-4o",
            "gpt-4.1",
            "gpt-4.1-mini",
            "gpt-4.1-nano",
            "o4-mini",
            "sim-gpt-4o-mini",
            "sim-gpt-4o",
        ] {
            assert!(t.get(model).is_some(), "{model} is not priced");
        }
        assert_eq!(t.batch_multiplier(), 0.5);
    }
}
