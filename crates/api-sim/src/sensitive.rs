//! The prompt-sensitive answer mode (`--answer-key --prompt-sensitive`): a test double for
//! prompt optimization, not a model of any real LLM.
//!
//! - Each record of a module with rules (see `prompt_sensitive.toml`) has a seeded difficulty
//!   `d` in [0, 1) and a seeded draw `u`; its answer is wrong when `u < p`, where
//!   `p = 0.15 + 0.6·d`, times 0.25 when the prompt states the rule of the record's expected
//!   label, times 0.5 when the prompt's `## Examples` section holds a demo (a `**Keyword:**`
//!   line) of a dataset record with that label. The draw is fixed per record, so a better prompt
//!   never makes a record wrong that a worse one got right.
//! - A request whose first line is [`PROPOSAL_MARKER`] is a proposer request: it is answered
//!   with `{"instructions": [...]}`, deterministic candidates made of the `## Current
//!   instruction` section plus one sentence each: a rule of the module not stated yet (the
//!   rule of the label most often expected among the `**Expected:**` lines of the request, when
//!   it has any, for reflective proposers) or, for every third candidate, a noise sentence.
//!
//! The known optimum of a module is every rule stated plus a demo of every label.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::json;

use crate::util::hash64;

/// The first line of a proposer request (the optimizer's meta-prompt starts with it).
pub const PROPOSAL_MARKER: &str = "# Instruction proposal";

const RULES: &str = include_str!("prompt_sensitive.toml");

#[derive(Debug, Deserialize)]
struct RulesFile {
    modules: BTreeMap<String, ModuleRulesFile>,
    proposer: ProposerFile,
}

#[derive(Debug, Deserialize)]
struct ModuleRulesFile {
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
struct ProposerFile {
    noise: Vec<String>,
}

/// One rule: the sentence a prompt must state to help records of this label.
#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    /// The label (as the catalogue reads the scored field).
    pub label: String,
    /// The sentence.
    pub text: String,
}

/// What the mode knows about one module's records.
#[derive(Debug, Default)]
struct ModuleIndex {
    rules: Vec<Rule>,
    /// Labels of the records with each keyword.
    labels_by_keyword: HashMap<String, HashSet<String>>,
}

/// The prompt-sensitive state of the answer key.
#[derive(Debug)]
pub struct Sensitive {
    seed: u64,
    modules: HashMap<String, ModuleIndex>,
    noise: Vec<String>,
}

/// The rules of every module the mode knows, by module id.
///
/// # Panics
/// Never in a build whose embedded rules file parses (a unit test checks it).
#[must_use]
pub fn rules() -> BTreeMap<String, Vec<Rule>> {
    parse()
        .modules
        .into_iter()
        .map(|(m, r)| (m, r.rules))
        .collect()
}

fn parse() -> RulesFile {
    toml::from_str(RULES).expect("prompt_sensitive.toml parses")
}

fn unit(parts: &[&[u8]]) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "53 bits")]
    let u = (hash64(parts) >> 11) as f64 / (1u64 << 53) as f64;
    u
}

/// The text of the `## {name}` section of a prompt (up to the next `## ` heading).
fn section<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let heading = format!("## {name}");
    let start = text
        .match_indices(&heading)
        .find(|(i, _)| *i == 0 || text.as_bytes()[i - 1] == b'\n')
        .map(|(i, _)| i + heading.len())?;
    let rest = &text[start..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The prompt without its `## Examples` section, so recognition sees only the record's own
/// input and never a demo's.
#[must_use]
pub fn without_examples(text: &str) -> String {
    match section(text, "Examples") {
        Some(examples) => {
            let start = examples.as_ptr() as usize - text.as_ptr() as usize;
            format!("{}{}", &text[..start], &text[start + examples.len()..])
        }
        None => text.to_owned(),
    }
}

/// The values of `**{label}:** value` lines.
fn tagged<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    let tag = format!("**{label}:**");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(tag.as_str()))
        .map(str::trim)
        .collect()
}

impl Sensitive {
    /// Builds the mode from each module's records: `(module id, [(keyword, label)])`.
    #[must_use]
    pub fn new(seed: u64, records: Vec<(String, Vec<(String, String)>)>) -> Self {
        let file = parse();
        let mut modules = HashMap::new();
        for (module, list) in records {
            let Some(rules) = file.modules.get(&module) else {
                continue;
            };
            let mut index = ModuleIndex {
                rules: rules.rules.clone(),
                ..ModuleIndex::default()
            };
            for (keyword, label) in list {
                index
                    .labels_by_keyword
                    .entry(keyword)
                    .or_default()
                    .insert(label);
            }
            modules.insert(module, index);
        }
        Self {
            seed,
            modules,
            noise: file.proposer.noise,
        }
    }

    /// Whether the module has rules (else the plain answer-key mode answers it).
    #[must_use]
    pub fn knows(&self, module: &str) -> bool {
        self.modules.contains_key(module)
    }

    /// The probability that `record` (expected `label`) is answered wrongly under `prompt`.
    #[must_use]
    pub fn wrong_probability(&self, module: &str, record: &str, label: &str, prompt: &str) -> f64 {
        let Some(index) = self.modules.get(module) else {
            return 0.0;
        };
        let seed = self.seed.to_le_bytes();
        let d = unit(&[&seed, module.as_bytes(), record.as_bytes(), b"difficulty"]);
        let mut p = 0.15 + 0.6 * d;
        if index
            .rules
            .iter()
            .any(|r| r.label == label && prompt.contains(&r.text))
        {
            p *= 0.25;
        }
        let demo = section(prompt, "Examples").is_some_and(|examples| {
            tagged(examples, "Keyword").into_iter().any(|k| {
                index
                    .labels_by_keyword
                    .get(k)
                    .is_some_and(|labels| labels.contains(label))
            })
        });
        if demo {
            p *= 0.5;
        }
        p
    }

    /// Whether the answer is to be wrong: the record's fixed draw against
    /// [`Sensitive::wrong_probability`].
    #[must_use]
    pub fn is_wrong(&self, module: &str, record: &str, label: &str, prompt: &str) -> bool {
        let seed = self.seed.to_le_bytes();
        let u = unit(&[&seed, module.as_bytes(), record.as_bytes(), b"draw"]);
        u < self.wrong_probability(module, record, label, prompt)
    }

    /// The answer to a proposer request (`None` when `prompt` is not one).
    #[must_use]
    pub fn propose(&self, prompt: &str) -> Option<String> {
        if !prompt.trim_start().starts_with(PROPOSAL_MARKER) {
            return None;
        }
        let module = tagged(prompt, "Module")
            .first()
            .copied()
            .unwrap_or_default();
        let wanted: usize = tagged(prompt, "Candidates")
            .first()
            .and_then(|n| n.parse().ok())
            .unwrap_or(4)
            .clamp(1, 16);
        let current = section(prompt, "Current instruction")
            .map(str::trim)
            .unwrap_or_default();
        let rules: Vec<&Rule> = self
            .modules
            .get(module)
            .map(|m| m.rules.iter().collect())
            .unwrap_or_default();
        let missing: Vec<&Rule> = rules
            .iter()
            .copied()
            .filter(|r| !current.contains(&r.text))
            .collect();
        // Reflective requests list failures with their expected labels: aim at the commonest.
        let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
        for label in tagged(prompt, "Expected") {
            *expected.entry(label).or_default() += 1;
        }
        let target = expected
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(l, _)| *l)
            .and_then(|l| missing.iter().find(|r| r.label == l).copied());
        let seed = self.seed.to_le_bytes();
        let mut out = Vec::with_capacity(wanted);
        for i in 0..wanted {
            let h = hash64(&[&seed, current.as_bytes(), &i.to_le_bytes()]);
            #[expect(clippy::cast_possible_truncation, reason = "small modulus")]
            let pick = h as usize;
            let sentence = match target {
                Some(rule) if i == 0 => rule.text.clone(),
                _ if i % 3 == 2 || missing.is_empty() => {
                    self.noise[pick % self.noise.len().max(1)].clone()
                }
                _ => missing[pick % missing.len()].text.clone(),
            };
            let candidate = if current.is_empty() {
                sentence
            } else {
                format!("{current}\n{sentence}")
            };
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
        Some(json!({ "instructions": out }).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_parse_and_name_m12_and_m02() {
        let rules = rules();
        assert_eq!(rules["m12"].len(), 2);
        assert_eq!(rules["m02"].len(), 2);
    }

    fn sim() -> Sensitive {
        Sensitive::new(
            7,
            vec![(
                "m02".into(),
                vec![
                    ("acme shoes".into(), "OB".into()),
                    ("shoes".into(), "Null".into()),
                ],
            )],
        )
    }

    #[test]
    fn a_stated_rule_and_a_same_label_demo_lower_the_wrong_rate() {
        let sim = sim();
        let rule = &rules()["m02"][0].text;
        let bare = "## Task\nx\n## Input\n**Keyword:** acme runner\n";
        let p0 = sim.wrong_probability("m02", "r1", "OB", bare);
        let with_rule = format!("## Decision rules\n{rule}\n{bare}");
        let p1 = sim.wrong_probability("m02", "r1", "OB", &with_rule);
        assert!((p1 - p0 * 0.25).abs() < 1e-12);
        let other_demo = format!("{with_rule}## Examples\n**Keyword:** shoes\n## Output\n");
        assert!((sim.wrong_probability("m02", "r1", "OB", &other_demo) - p1).abs() < 1e-12);
        let same_demo = format!("{with_rule}## Examples\n**Keyword:** acme shoes\n## Output\n");
        let p2 = sim.wrong_probability("m02", "r1", "OB", &same_demo);
        assert!((p2 - p1 * 0.5).abs() < 1e-12);
        // The rule of the other label does not help.
        let other_rule = format!("{}\n{bare}", rules()["m02"][1].text);
        assert!((sim.wrong_probability("m02", "r1", "OB", &other_rule) - p0).abs() < 1e-12);
        assert_eq!(sim.wrong_probability("m99", "r1", "OB", bare), 0.0);
    }

    #[test]
    fn proposals_are_deterministic_and_some_state_rules() {
        let sim = sim();
        let request = format!(
            "{PROPOSAL_MARKER}\n**Module:** m02\n**Candidates:** 4\n## Current instruction\nBe right.\n## Errors\n**Expected:** Null\n"
        );
        let a = sim.propose(&request).unwrap();
        assert_eq!(a, sim.propose(&request).unwrap());
        let value: serde_json::Value = serde_json::from_str(&a).unwrap();
        let list = value["instructions"].as_array().unwrap();
        assert!(
            list.iter()
                .all(|c| c.as_str().unwrap().starts_with("Be right.\n"))
        );
        // The reflective request's commonest failing label gets its rule first.
        assert!(list[0].as_str().unwrap().contains(&rules()["m02"][1].text));
        assert!(sim.propose("## Task\nclassify").is_none());
    }

    #[test]
    fn examples_are_left_out_of_recognition() {
        let text = "## Input\n**Keyword:** a\n## Examples\n**Keyword:** b\n## Output format\nx";
        assert_eq!(
            without_examples(text),
            "## Input\n**Keyword:** a\n## Examples\n## Output format\nx"
        );
    }
}
