//! What the optimizer may edit in a prompt file, and how a candidate is written back.
//!
//! Every shipped prompt has the sections `## Role`, `## Task`, `## Input`, `## Decision rules`,
//! `## Examples` and `## Output format`. The body of `## Decision rules` is the *instruction*
//! and the body of `## Examples` the *worked examples*; everything else (the role and task, the
//! input placeholders and the output format the schema goes with) is kept byte for byte. A
//! candidate replaces the instruction and appends demos after the hand-written examples.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// Heading of the editable instruction.
pub const INSTRUCTION_HEADING: &str = "## Decision rules";
/// Heading of the worked examples.
pub const EXAMPLES_HEADING: &str = "## Examples";

/// A prompt file split into its fixed and editable parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptParts {
    /// Everything before the instruction's heading.
    pub head: String,
    /// The instruction (the body of `## Decision rules`), trimmed.
    pub instruction: String,
    /// The hand-written examples (the body of `## Examples`), trimmed.
    pub examples: String,
    /// Everything from the heading after the examples on (output format).
    pub tail: String,
}

/// A worked example taken from the training split: the record's short input fields and an
/// answer that scored correct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    /// Record id (always a training record).
    pub record: String,
    /// The record's keyword.
    pub keyword: String,
    /// The record's expected label (primary scored field).
    pub label: String,
    /// Short input fields shown besides the keyword, in input order.
    pub fields: Vec<(String, String)>,
    /// The answer shown (the model's own correct answer).
    pub answer: Value,
}

/// Input fields longer than this are left out of a demo (product descriptions and tables).
const DEMO_FIELD_CHARS: usize = 160;

impl Demo {
    /// A demo of `record` answered with `answer`.
    #[must_use]
    pub fn new(record: &core_config::Record, label: String, answer: Value) -> Self {
        let fields = record
            .input
            .iter()
            .filter(|(k, _)| k.as_str() != "keyword")
            .map(|(k, v)| {
                (
                    k.clone(),
                    core_config::template::render_value(v).into_owned(),
                )
            })
            .filter(|(_, v)| !v.is_empty() && v.chars().count() <= DEMO_FIELD_CHARS)
            .collect();
        Self {
            record: record.id.clone(),
            keyword: record.input_text("keyword"),
            label,
            fields,
            answer,
        }
    }

    /// The demo as the prompt shows it (numbered `n`).
    #[must_use]
    pub fn render(&self, n: usize) -> String {
        let mut out = format!(
            "### Example {n} (from the training set)\n**Keyword:** {}\n",
            self.keyword
        );
        for (k, v) in &self.fields {
            out.push_str(&format!("**{k}:** {v}\n"));
        }
        let answer = serde_json::to_string_pretty(&self.answer).unwrap_or_default();
        out.push_str(&format!("\n```json\n{answer}\n```\n"));
        out
    }
}

/// Byte offset of a `## ` heading at the start of a line.
fn heading_at(text: &str, heading: &str) -> Option<usize> {
    text.match_indices(heading)
        .find(|(i, _)| {
            (*i == 0 || text.as_bytes()[i - 1] == b'\n')
                && text[i + heading.len()..].starts_with(['\n', '\r', ' '])
        })
        .map(|(i, _)| i)
}

impl PromptParts {
    /// Splits a prompt file's text.
    ///
    /// # Errors
    /// [`Error::Markers`] when the file lacks `## Decision rules` followed by `## Examples`
    /// and a later `## ` heading.
    pub fn parse(path: &std::path::Path, text: &str) -> Result<Self, Error> {
        let missing = |what: &str| Error::Markers {
            path: path.to_owned(),
            message: what.to_owned(),
        };
        let rules = heading_at(text, INSTRUCTION_HEADING)
            .ok_or_else(|| missing("no `## Decision rules` heading (the editable instruction)"))?;
        let examples = heading_at(text, EXAMPLES_HEADING)
            .filter(|e| *e > rules)
            .ok_or_else(|| missing("no `## Examples` heading after `## Decision rules`"))?;
        let after = examples + EXAMPLES_HEADING.len();
        let tail = text[after..]
            .find("\n## ")
            .map(|i| after + i + 1)
            .ok_or_else(|| missing("no `## ` heading after `## Examples` (the output format)"))?;
        Ok(Self {
            head: text[..rules].to_owned(),
            instruction: text[rules + INSTRUCTION_HEADING.len()..examples]
                .trim()
                .to_owned(),
            examples: text[after..tail].trim().to_owned(),
            tail: text[tail..].to_owned(),
        })
    }

    /// The prompt text with `instruction` and `demos` in place.
    #[must_use]
    pub fn compose(&self, instruction: &str, demos: &[Demo]) -> String {
        let mut out = String::with_capacity(self.head.len() + self.tail.len() + 4096);
        out.push_str(&self.head);
        out.push_str(INSTRUCTION_HEADING);
        out.push('\n');
        out.push_str(instruction.trim());
        out.push_str("\n\n");
        out.push_str(EXAMPLES_HEADING);
        out.push_str("\n\n");
        out.push_str(&self.examples);
        out.push_str("\n\n");
        let first = self.examples.matches("### Example").count() + 1;
        for (i, demo) in demos.iter().enumerate() {
            out.push_str(&demo.render(first + i));
            out.push('\n');
        }
        out.push_str(&self.tail);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_prompt_has_the_markers_and_composes_back_to_itself() {
        let dir = test_support::repo_root().join("prompts/modules/single");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let parts = PromptParts::parse(&path, &text).unwrap();
            assert!(!parts.instruction.is_empty(), "{}", path.display());
            let again = parts.compose(&parts.instruction, &[]);
            // Same sections and placeholders; only blank lines may differ.
            let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(squash(&again), squash(&text), "{}", path.display());
            n += 1;
        }
        assert!(n >= 20);
    }

    #[test]
    fn a_candidate_changes_only_the_instruction_and_the_examples() {
        let text = "# M\n## Input\n**Keyword:** {{keyword}}\n\n## Decision rules\n1. Old.\n\n## Examples\n### Example 1\nx\n\n## Output format\n{\"a\": 1}\n";
        let parts = PromptParts::parse(std::path::Path::new("p.md"), text).unwrap();
        let record = core_config::Record::from_json(
            serde_json::json!({"id": "r", "input": {"keyword": "acme", "brand": "Acme"}, "expected": {}}),
            1,
        )
        .unwrap();
        let demo = Demo::new(&record, "OB".into(), serde_json::json!({"label": "OB"}));
        let out = parts.compose("1. New.", &[demo]);
        assert!(out.starts_with(
            "# M\n## Input\n**Keyword:** {{keyword}}\n\n## Decision rules\n1. New.\n"
        ));
        assert!(out.contains(
            "### Example 2 (from the training set)\n**Keyword:** acme\n**brand:** Acme\n"
        ));
        assert!(out.ends_with("## Output format\n{\"a\": 1}\n"));
        assert!(!out.contains("Old."));
    }

    #[test]
    fn a_prompt_without_markers_is_refused_with_its_path() {
        let err = PromptParts::parse(std::path::Path::new("p.md"), "## Task\nx\n").unwrap_err();
        assert!(err.to_string().starts_with("p.md: "), "{err}");
    }
}
