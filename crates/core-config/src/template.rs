//! Prompt templates: Markdown with `{{field}}` placeholders filled from `record.input`.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

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
        Ok(Self {
            text,
            pieces,
            placeholders,
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
