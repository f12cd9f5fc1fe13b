//! Context windows: a request longer than the model's context window is refused by the API (or
//! silently truncated by some servers), so a record that cannot fit is reported before any call.
//!
//! Each model's window is `context_window` (tokens) in its `[models."…"]` table of `prices.toml`;
//! a model without one is not checked.
//!
//! Token counts are *estimated*, not counted with the model's tokenizer: one token per four ASCII
//! bytes (English averages a little over four characters per token in OpenAI's tokenizers), one
//! token per non-ASCII character (CJK and emoji take one token or more each; accented letters
//! less), plus [`MESSAGE_OVERHEAD`] per request. The estimate leans high for text outside ASCII
//! and is within a few percent for English prose, JSON and keywords. A request fits when the
//! estimated prompt (with the output schema, which is sent too) plus `max_tokens` of answer is at
//! most the window.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// Tokens added to every request for the chat format (role markers, message framing).
pub const MESSAGE_OVERHEAD: u64 = 8;

/// The estimated number of tokens of a text (see the module documentation).
#[must_use]
pub fn estimate_tokens(text: &str) -> u64 {
    TextStats::of(text).tokens()
}

/// A text's characters, counted the way [`estimate_tokens`] counts them: ASCII and other.
/// Counts of pieces add up to the counts of the pieces joined, so a prompt can be measured
/// without being put together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextStats {
    /// ASCII characters.
    pub ascii: u64,
    /// Other characters.
    pub other: u64,
}

impl TextStats {
    /// The counts of a text.
    #[must_use]
    pub fn of(text: &str) -> Self {
        // Counted on bytes (a run checks every record's prompt before its first call): in UTF-8
        // an ASCII character is a byte below 0x80, and every other character starts with a byte
        // of 0xC0 or more (continuation bytes are 0x80..=0xBF). Byte counters over runs of at
        // most 255 bytes let the compiler count 32 bytes a step: about 20 times faster than
        // going by `chars()`.
        let mut stats = Self::default();
        for run in text.as_bytes().chunks(255) {
            let (mut a, mut o) = (0u8, 0u8);
            for &b in run {
                a += u8::from(b < 0x80);
                o += u8::from(b >= 0xC0);
            }
            stats.ascii += u64::from(a);
            stats.other += u64::from(o);
        }
        stats
    }

    /// The counts of two texts joined.
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        Self {
            ascii: self.ascii + other.ascii,
            other: self.other + other.other,
        }
    }

    /// Characters (what `str::chars().count()` gives).
    #[must_use]
    pub fn chars(self) -> u64 {
        self.ascii + self.other
    }

    /// Estimated tokens (see the module documentation).
    #[must_use]
    pub fn tokens(self) -> u64 {
        self.ascii.div_ceil(4) + self.other
    }
}

/// Why a request does not fit its model's context window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    /// Estimated prompt tokens (the rendered prompt, the schema and the message overhead).
    pub prompt_tokens: u64,
    /// Tokens reserved for the answer (`max_tokens`).
    pub max_tokens: u64,
    /// The model's context window.
    pub window: u64,
}

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request needs about {} tokens ({} of prompt, estimated, plus max_tokens {}), over the model's context window of {} tokens",
            group(self.prompt_tokens + self.max_tokens),
            group(self.prompt_tokens),
            group(self.max_tokens),
            group(self.window)
        )
    }
}

/// Checks one request: the rendered prompt, the output schema sent with it (empty when none) and
/// the answer budget against a window.
#[must_use]
pub fn check_request(prompt: &str, schema: &str, max_tokens: u32, window: u64) -> Option<Overflow> {
    check_estimate(
        estimate_tokens(prompt),
        estimate_tokens(schema),
        max_tokens,
        window,
    )
}

/// [`check_request`] from the estimated tokens of the prompt and of the schema.
#[must_use]
pub fn check_estimate(
    prompt_tokens: u64,
    schema_tokens: u64,
    max_tokens: u32,
    window: u64,
) -> Option<Overflow> {
    let prompt_tokens = prompt_tokens + schema_tokens + MESSAGE_OVERHEAD;
    let max_tokens = u64::from(max_tokens);
    (prompt_tokens + max_tokens > window).then_some(Overflow {
        prompt_tokens,
        max_tokens,
        window,
    })
}

/// The context windows of `prices.toml`, by model name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextWindows {
    windows: BTreeMap<String, u64>,
}

impl ContextWindows {
    /// Reads the `context_window` of every model of a price table. A missing file gives an empty
    /// table (nothing is checked).
    ///
    /// # Errors
    /// When the file exists but cannot be read, is not TOML, or a `context_window` is not a
    /// positive integer.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        Self::parse(&text, path)
    }

    /// As [`ContextWindows::load`], from text read from `path`.
    ///
    /// # Errors
    /// As [`ContextWindows::load`].
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| crate::catalog::line_col(text, span.start));
            Error::Toml {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        let mut windows = BTreeMap::new();
        let models = table.get("models").and_then(toml::Value::as_table);
        for (name, model) in models.into_iter().flatten() {
            let Some(value) = model.get("context_window") else {
                continue;
            };
            match value.as_integer().and_then(|n| u64::try_from(n).ok()) {
                Some(n) if n > 0 => {
                    windows.insert(name.clone(), n);
                }
                _ => {
                    return Err(Error::Schema {
                        path: path.to_owned(),
                        message: format!(
                            "models.\"{name}\".context_window must be a positive number of tokens, found {value}"
                        ),
                    });
                }
            }
        }
        Ok(Self { windows })
    }

    /// The window of a model: by its exact name, or without a provider prefix (`openai/gpt-4o`)
    /// or a date suffix (`gpt-4o-mini-2024-07-18`), as the price table looks models up.
    #[must_use]
    pub fn get(&self, model: &str) -> Option<u64> {
        let bare = model.rsplit_once('/').map_or(model, |(_, name)| name);
        [model, bare]
            .into_iter()
            .find_map(|name| {
                self.windows
                    .get(name)
                    .or_else(|| strip_date_suffix(name).and_then(|n| self.windows.get(n)))
            })
            .copied()
    }
}

/// `gpt-4o-mini-2024-07-18` → `gpt-4o-mini`.
fn strip_date_suffix(model: &str) -> Option<&str> {
    let (head, date) = model.len().checked_sub(11).map(|i| model.split_at(i))?;
    let date = date.strip_prefix('-')?;
    let bytes = date.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    shape.then_some(head)
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_ascii_by_four_and_other_characters_by_one() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("日本語"), 3);
    }

    #[test]
    fn the_byte_count_equals_a_count_of_characters() {
        // One to four bytes a character: ASCII, accents, CJK, emoji.
        for text in [
            "",
            "café crème",
            "日本語 keywords",
            "🦀 rust 🦀",
            "Ünïcödé\u{0}\n",
            "ab🦀",
        ] {
            let ascii = text.chars().filter(char::is_ascii).count() as u64;
            let other = text.chars().filter(|c| !c.is_ascii()).count() as u64;
            assert_eq!(estimate_tokens(text), ascii.div_ceil(4) + other, "{text}");
        }
    }

    #[test]
    fn a_request_fits_when_prompt_and_answer_fit() {
        let prompt = "x".repeat(4 * 92);
        // 92 + 8 overhead + 900 = 1000.
        assert_eq!(check_request(&prompt, "", 900, 1000), None);
        let over = check_request(&prompt, "s", 900, 1000).unwrap();
        assert_eq!(over.prompt_tokens, 101);
        assert_eq!(
            over.to_string(),
            "the request needs about 1,001 tokens (101 of prompt, estimated, plus max_tokens 900), over the model's context window of 1,000 tokens"
        );
    }

    #[test]
    fn windows_are_read_from_the_price_table_and_found_like_prices() {
        let text = "[batch]\nmultiplier = 0.5\n[models.\"gpt-4o-mini\"]\ninput = 0.15\noutput = 0.6\ncontext_window = 128000\n[models.\"other\"]\ninput = 1.0\noutput = 1.0\n";
        let windows = ContextWindows::parse(text, Path::new("prices.toml")).unwrap();
        assert_eq!(windows.get("gpt-4o-mini"), Some(128_000));
        assert_eq!(windows.get("gpt-4o-mini-2024-07-18"), Some(128_000));
        assert_eq!(windows.get("openai/gpt-4o-mini"), Some(128_000));
        assert_eq!(windows.get("other"), None);
        let bad = text.replace("128000", "\"big\"");
        let err = ContextWindows::parse(&bad, Path::new("prices.toml")).unwrap_err();
        assert!(
            err.to_string()
                .contains("context_window must be a positive number"),
            "{err}"
        );
    }
}
