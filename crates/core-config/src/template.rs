//! Prompt templates: Markdown with `{{field}}` placeholders filled from `record.input`.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::context::TextStats;
use crate::lite::Lite;

/// A placeholder occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The field name between the braces.
    pub name: String,
    /// 1-based line of the occurrence in the template.
    pub line: usize,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(std::ops::Range<usize>),
    Field(usize),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
    pieces: Vec<Piece>,
    placeholders: Vec<Placeholder>,
    /// The counts of the text around the placeholders.
    literal: TextStats,
}

/// A problem in a template or in filling it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` that does not open a well-formed `{{name}}`.
    #[error(
        "line {line}: malformed placeholder `{snippet}` (write {{{{name}}}} with a field name and no spaces)"
    )]
    Malformed {
        /// Line of the problem.
        line: usize,
        /// The offending text.
        snippet: String,
    },
    /// A placeholder the record's input does not provide.
    #[error(
        "placeholder {{{{{name}}}}} (template line {line}) is not fed: the record's input has no key `{name}`"
    )]
    Unfed {
        /// The placeholder.
        name: String,
        /// Its line in the template.
        line: usize,
    },
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    /// [`TemplateError::Malformed`] for a `{{` that does not open `{{name}}`.
    pub fn parse(text: impl Into<String>) -> Result<Self, TemplateError> {
        let text = text.into();
        let mut pieces = Vec::new();
        let mut placeholders = Vec::new();
        let mut cursor = 0;
        let mut search = 0;
        while let Some(found) = text[search..].find("{{") {
            let open = search + found;
            let after = &text[open + 2..];
            let name_len = after.find(|c: char| !is_word(c)).unwrap_or(after.len());
            let line = text[..open].matches('\n').count() + 1;
            if name_len == 0 || !after[name_len..].starts_with("}}") {
                let end = after.char_indices().nth(24).map_or(after.len(), |(i, _)| i);
                let snippet: String = format!("{{{{{}", &after[..end])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                return Err(TemplateError::Malformed { line, snippet });
            }
            if open > cursor {
                pieces.push(Piece::Text(cursor..open));
            }
            placeholders.push(Placeholder {
                name: after[..name_len].to_owned(),
                line,
            });
            pieces.push(Piece::Field(placeholders.len() - 1));
            cursor = open + 2 + name_len + 2;
            search = cursor;
        }
        if cursor < text.len() {
            pieces.push(Piece::Text(cursor..text.len()));
        }
        let literal = pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Text(range) => Some(TextStats::of(&text[range.clone()])),
                Piece::Field(_) => None,
            })
            .fold(TextStats::default(), TextStats::plus);
        Ok(Self {
            text,
            pieces,
            placeholders,
            literal,
        })
    }

    /// The template text as written.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every placeholder occurrence in order.
    #[must_use]
    pub fn placeholders(&self) -> &[Placeholder] {
        &self.placeholders
    }

    /// The distinct placeholder names.
    #[must_use]
    pub fn names(&self) -> BTreeSet<&str> {
        self.placeholders.iter().map(|p| p.name.as_str()).collect()
    }

    /// The first placeholder the input does not feed, if any.
    #[must_use]
    pub fn unfed(&self, input: &Map<String, Value>) -> Option<&Placeholder> {
        self.placeholders
            .iter()
            .find(|p| !input.contains_key(&p.name))
    }

    /// Fills every placeholder from `input`: strings as they are, null as empty, lists and
    /// objects as indented JSON, numbers and booleans as written.
    ///
    /// # Errors
    /// [`TemplateError::Unfed`] when the input lacks a placeholder's key.
    pub fn render(&self, input: &Map<String, Value>) -> Result<String, TemplateError> {
        if let Some(p) = self.unfed(input) {
            return Err(TemplateError::Unfed {
                name: p.name.clone(),
                line: p.line,
            });
        }
        let mut out = String::with_capacity(self.text.len() + 1024);
        for piece in &self.pieces {
            match piece {
                Piece::Text(range) => out.push_str(&self.text[range.clone()]),
                Piece::Field(i) => {
                    let value = &input[&self.placeholders[*i].name];
                    out.push_str(&render_value(value));
                }
            }
        }
        Ok(out)
    }
}

impl Template {
    /// The counts of what [`Template::render`] would make of a light input (see
    /// [`crate::lite`]), without making it; `None` when a placeholder is not fed.
    #[must_use]
    pub fn render_stats(&self, input: &[(Cow<'_, str>, Lite<'_>)]) -> Option<TextStats> {
        let mut stats = self.literal;
        for piece in &self.pieces {
            if let Piece::Field(i) = piece {
                let name = self.placeholders[*i].name.as_str();
                let (_, value) = input.iter().find(|(key, _)| key == name)?;
                stats = stats.plus(value_stats(value));
            }
        }
        Some(stats)
    }
}

/// The counts of [`render_value`] of the value a light value stands for.
fn value_stats(value: &Lite<'_>) -> TextStats {
    match value {
        Lite::Null => TextStats::default(),
        Lite::Str(s) => TextStats::of(s),
        Lite::Bool(b) => TextStats::of(if *b { "true" } else { "false" }),
        Lite::Number(n) => TextStats::of(&n.to_string()),
        Lite::Array(_) | Lite::Object(_) => pretty_stats(value, 0),
    }
}

/// The counts of `serde_json::to_string_pretty` of the value a light value stands for, written
/// `depth` levels deep, without writing it: two spaces per level, `[]` and `{}` when empty, keys
/// and strings quoted with serde_json's escapes.
fn pretty_stats(value: &Lite<'_>, depth: u64) -> TextStats {
    let ascii = |n: u64| TextStats { ascii: n, other: 0 };
    match value {
        Lite::Null => ascii(4),
        Lite::Bool(b) => ascii(if *b { 4 } else { 5 }),
        Lite::Number(n) => TextStats::of(&n.to_string()),
        Lite::Str(s) => quoted_stats(s),
        Lite::Array(items) if items.is_empty() => ascii(2),
        Lite::Object(members) if members.is_empty() => ascii(2),
        // `[`, then per item a line break (after a comma but for the first) and the indent,
        // then a line break, the closing indent and `]`.
        Lite::Array(items) => items.iter().fold(
            ascii(4 + 2 * depth + 2 * (items.len() as u64 - 1)),
            |stats, item| {
                stats
                    .plus(ascii(2 * (depth + 1)))
                    .plus(pretty_stats(item, depth + 1))
            },
        ),
        // As an array, each member being the quoted key, `: ` and the value.
        Lite::Object(members) => members.iter().fold(
            ascii(4 + 2 * depth + 2 * (members.len() as u64 - 1)),
            |stats, (key, item)| {
                stats
                    .plus(ascii(2 * (depth + 1) + 2))
                    .plus(quoted_stats(key))
                    .plus(pretty_stats(item, depth + 1))
            },
        ),
    }
}

/// The counts of a string as serde_json writes it: quoted, `"` and `\\` escaped with a
/// backslash, the control characters with a short escape (`\\n`) or `\\u00XX`.
fn quoted_stats(text: &str) -> TextStats {
    // One pass of byte counters over runs of at most 255 bytes, which the compiler counts many
    // bytes a step (as `TextStats::of` does): most strings have nothing to escape.
    let mut stats = TextStats { ascii: 2, other: 0 };
    for run in text.as_bytes().chunks(255) {
        let (mut ascii, mut other, mut backslashed, mut control, mut short) =
            (0u8, 0u8, 0u8, 0u8, 0u8);
        for &b in run {
            ascii += u8::from(b < 0x80);
            other += u8::from(b >= 0xC0);
            backslashed += u8::from(b == b'"') + u8::from(b == b'\\');
            control += u8::from(b < 0x20);
            short += u8::from(matches!(b, 0x08 | b'\t' | b'\n' | 0x0C | b'\r'));
        }
        // A backslashed character and a short escape take one byte more; `\\u00XX` five more.
        stats.ascii += u64::from(ascii) + u64::from(backslashed) + 5 * u64::from(control)
            - 4 * u64::from(short);
        stats.other += u64::from(other);
    }
    stats
}

/// How one input value is written into a prompt.
#[must_use]
pub fn render_value(value: &Value) -> Cow<'_, str> {
    match value {
        Value::Null => Cow::Borrowed(""),
        Value::String(s) => Cow::Borrowed(s),
        Value::Bool(b) => Cow::Owned(b.to_string()),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Array(_) | Value::Object(_) => {
            Cow::Owned(serde_json::to_string_pretty(value).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn input(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn renders_every_value_kind() {
        let t = Template::parse(
            "K: {{keyword}}\nT: {{taxonomy}}\nD: [{{description}}] n={{n}} {{keyword}}",
        )
        .unwrap();
        let out = t
            .render(&input(json!({
                "keyword": "oven mitt",
                "taxonomy": [{"level": 1}],
                "description": null,
                "n": 2
            })))
            .unwrap();
        assert_eq!(
            out,
            "K: oven mitt\nT: [\n  {\n    \"level\": 1\n  }\n]\nD: [] n=2 oven mitt"
        );
        assert_eq!(
            t.names().into_iter().collect::<Vec<_>>(),
            ["description", "keyword", "n", "taxonomy"]
        );
        assert_eq!(t.placeholders()[1].line, 2);
    }

    #[test]
    fn render_stats_count_what_render_writes() {
        let t = Template::parse(
            "Ké: {{keyword}}\nT: {{taxonomy}}\nD: [{{description}}] n={{n}} {{keyword}} {{b}}{{f}}",
        )
        .unwrap();
        let line = r#"{"id": "r", "input": {"keyword": "gant \"four\" ✓", "taxonomy": [{"le\"vel\r\n\b\f": 1, "name": "Küche\n\u0001\t\"q\" \\ /"}, [], {}, [[{"x": []}]]], "description": null, "n": 2, "b": false, "f": 1.50}}"#;
        let view = crate::lite::view_record(line).unwrap();
        let record = crate::dataset::parse_record(std::path::Path::new("d"), 1, line).unwrap();
        let rendered = t.render(&record.input).unwrap();
        let stats = t.render_stats(&view.input).unwrap();
        assert_eq!(stats, TextStats::of(&rendered));
        assert_eq!(stats.chars(), rendered.chars().count() as u64);
        assert_eq!(stats.tokens(), crate::context::estimate_tokens(&rendered));
        // An unfed placeholder gives nothing to count.
        let unfed = crate::lite::view_record(r#"{"id": "r", "input": {"keyword": "k"}}"#).unwrap();
        assert_eq!(t.render_stats(&unfed.input), None);
    }

    #[test]
    fn render_stats_count_every_shipped_prompt_over_its_dataset() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let catalog = crate::Catalog::load(&root.join(crate::CATALOG_FILE)).unwrap();
        let mut checked = 0;
        for module in catalog.modules() {
            let prompt = catalog.prompt_path(module, &catalog.defaults().prompt_version);
            let t = Template::parse(std::fs::read_to_string(prompt).unwrap()).unwrap();
            let text = std::fs::read_to_string(catalog.dataset_path(module)).unwrap();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let view = crate::lite::view_record(line).unwrap();
                let record =
                    crate::dataset::parse_record(std::path::Path::new("d"), 1, line).unwrap();
                let rendered = t.render(&record.input).unwrap();
                assert_eq!(t.render_stats(&view.input), Some(TextStats::of(&rendered)));
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked} records");
    }

    #[test]
    fn unfed_placeholders_are_errors_before_anything_is_sent() {
        let t = Template::parse("a\n{{keyword}} {{title}}").unwrap();
        let err = t.render(&input(json!({"keyword": "x"}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "placeholder {{title}} (template line 2) is not fed: the record's input has no key `title`"
        );
    }

    #[test]
    fn malformed_placeholders_are_reported_with_their_line() {
        let err = Template::parse("ok\nthen {{ keyword }} here").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: malformed placeholder `{{ keyword }} here` (write {{name}} with a field name and no spaces)"
        );
        assert!(Template::parse("{{keyword").is_err());
    }

    #[test]
    fn text_without_placeholders_is_kept() {
        let t = Template::parse("no fields, just {braces} and }}").unwrap();
        assert_eq!(
            t.render(&Map::new()).unwrap(),
            "no fields, just {braces} and }}"
        );
    }
}
