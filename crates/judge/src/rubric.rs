//! Rubrics: `prompts/judges/{module}_{version}.yaml`, the criteria a judge applies to a module's
//! answers. Every criterion ends in a `pass` or `fail` verdict: a pass/fail criterion directly,
//! a 0–5 criterion by its score reaching `pass_at`.
//!
//! ```yaml
//! module: m01
//! version: v1
//! description: What a good answer of this module looks like.
//! criteria:
//!   - id: complete
//!     question: Does the answer name every brand entity the product listing supports?
//!     scale: pass_fail
//!     examples:
//!       - answer: '{"brand_entities": ["Acme", "ACME Tools"]}'
//!         verdict: pass
//!         why: Both spellings of the brand are listed.
//!   - id: grounded
//!     question: Is every entity supported by the listing (0 none, 5 all)?
//!     scale: 0-5
//!     pass_at: 4
//!     examples: […]
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use core_config::check::Problem;
use core_config::contamination::Keywords;
use core_config::{Catalog, ModuleSpec, RecordReader};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The default rubric version.
pub const DEFAULT_VERSION: &str = "v1";

/// How a criterion is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    /// `pass_fail`: score 1 passes, 0 fails.
    #[serde(rename = "pass_fail")]
    PassFail,
    /// `0-5`: a score from 0 to 5 that passes from `pass_at` on.
    #[serde(rename = "0-5")]
    ZeroToFive,
}

impl Scale {
    /// The scores a judge may give.
    #[must_use]
    pub fn scores(self) -> &'static [u8] {
        match self {
            Self::PassFail => &[0, 1],
            Self::ZeroToFive => &[0, 1, 2, 3, 4, 5],
        }
    }

    /// As written in a rubric.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PassFail => "pass_fail",
            Self::ZeroToFive => "0-5",
        }
    }
}

/// A worked example of a criterion. Examples must not quote evaluation keywords.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// The answer judged (JSON or prose).
    pub answer: String,
    /// `pass` or `fail`.
    pub verdict: String,
    /// The score, for a 0–5 criterion.
    #[serde(default)]
    pub score: Option<u8>,
    /// Why.
    pub why: String,
}

/// One criterion of a rubric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// Short id (`[a-z0-9_]`), the CSV's `criterion` column.
    pub id: String,
    /// The question the judge answers.
    pub question: String,
    /// Pass/fail or 0–5.
    pub scale: Scale,
    /// For 0–5: the lowest passing score (1–5).
    #[serde(default)]
    pub pass_at: Option<u8>,
    /// Worked examples (at least one).
    #[serde(default)]
    pub examples: Vec<Example>,
}

impl Criterion {
    /// Whether a score passes.
    #[must_use]
    pub fn passes(&self, score: f64) -> bool {
        match self.scale {
            Scale::PassFail => score >= 0.5,
            Scale::ZeroToFive => score >= f64::from(self.pass_at.unwrap_or(3)),
        }
    }
}

/// A module's rubric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rubric {
    /// Module id (`m01`, `m01a`).
    pub module: String,
    /// Rubric version (`v1`).
    pub version: String,
    /// What a good answer of the module is.
    #[serde(default)]
    pub description: String,
    /// The criteria, in order.
    pub criteria: Vec<Criterion>,
}

/// A rubric read from a file, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedRubric {
    /// The rubric.
    pub rubric: Rubric,
    /// Its file.
    pub path: PathBuf,
    /// First 8 hex digits of the file's SHA-256 (recorded with every judge run).
    pub hash: String,
    /// The file's text.
    pub text: String,
}

/// Where a module's rubric of a version lives: `prompts/judges/{module}_{version}.yaml`.
#[must_use]
pub fn rubric_path(root: &Path, module: &ModuleSpec, version: &str) -> PathBuf {
    root.join("prompts")
        .join("judges")
        .join(format!("{}_{version}.yaml", module.id))
}

/// Reads and checks a rubric file.
///
/// # Errors
/// [`Error::Rubric`] naming file, line and field when the YAML does not read, a field is
/// missing or unknown, or a rule is broken (ids unique and `[a-z0-9_]`, a 0–5 criterion's
/// `pass_at` in 1–5, pass/fail criteria without one, at least one example per criterion,
/// example verdicts `pass`/`fail`).
pub fn load(path: &Path) -> Result<LoadedRubric> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| Error::Rubric {
        path: path.to_owned(),
        line: None,
        message: "not UTF-8 text".to_owned(),
    })?;
    let rubric: Rubric = serde_norway::from_str(&text).map_err(|e| Error::Rubric {
        path: path.to_owned(),
        line: e.location().map(|l| l.line()),
        message: strip_location(&e.to_string()),
    })?;
    if let Some((line, message)) = rule_problems(&rubric, &text).into_iter().next() {
        return Err(Error::Rubric {
            path: path.to_owned(),
            line,
            message,
        });
    }
    Ok(LoadedRubric {
        hash: runner::plan::prompt_hash(&bytes),
        rubric,
        path: path.to_owned(),
        text,
    })
}

/// serde_norway appends " at line L column C"; the line is reported separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// The rule problems of a parsed rubric, each with its line when it can be found.
fn rule_problems(rubric: &Rubric, text: &str) -> Vec<(Option<usize>, String)> {
    let mut problems = Vec::new();
    if rubric.criteria.is_empty() {
        problems.push((line_of(text, "criteria"), "criteria: none given".to_owned()));
    }
    let mut seen = HashSet::new();
    for (i, c) in rubric.criteria.iter().enumerate() {
        let at = line_of(text, &format!("id: {}", c.id)).or_else(|| line_of(text, "criteria"));
        let field = |name: &str| format!("criteria[{i}].{name}");
        if c.id.is_empty()
            || !c
                .id
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        {
            problems.push((
                at,
                format!(
                    "{}: `{}` is not an id (lower-case letters, digits and _)",
                    field("id"),
                    c.id
                ),
            ));
        }
        if !seen.insert(c.id.clone()) {
            problems.push((at, format!("{}: `{}` is used twice", field("id"), c.id)));
        }
        if c.question.trim().is_empty() {
            problems.push((at, format!("{}: empty", field("question"))));
        }
        match (c.scale, c.pass_at) {
            (Scale::ZeroToFive, None) => problems.push((
                at,
                format!(
                    "{}: a 0-5 criterion needs the score it passes at (1-5)",
                    field("pass_at")
                ),
            )),
            (Scale::ZeroToFive, Some(t)) if !(1..=5).contains(&t) => {
                problems.push((at, format!("{}: {t} is not within 1-5", field("pass_at"))));
            }
            (Scale::PassFail, Some(_)) => problems.push((
                at,
                format!(
                    "{}: only a 0-5 criterion has a pass threshold",
                    field("pass_at")
                ),
            )),
            _ => {}
        }
        if c.examples.is_empty() {
            problems.push((at, format!("{}: at least one example", field("examples"))));
        }
        for (j, e) in c.examples.iter().enumerate() {
            if e.verdict != "pass" && e.verdict != "fail" {
                problems.push((
                    at,
                    format!(
                        "{}[{j}].verdict: `{}` is neither pass nor fail",
                        field("examples"),
                        e.verdict
                    ),
                ));
            }
            if let Some(score) = e.score {
                if c.scale == Scale::ZeroToFive && score > 5 {
                    problems.push((
                        at,
                        format!("{}[{j}].score: {score} is above 5", field("examples")),
                    ));
                } else if c.scale == Scale::ZeroToFive
                    && (c.passes(f64::from(score)) != (e.verdict == "pass"))
                {
                    problems.push((
                        at,
                        format!(
                            "{}[{j}]: score {score} and verdict {} disagree with pass_at",
                            field("examples"),
                            e.verdict
                        ),
                    ));
                }
            }
        }
    }
    problems
}

/// The rubric check `orchestrator validate` runs for a module: when the module has rubrics
/// (`prompts/judges/{module}_*.yaml`), each must load, name this module, and quote no keyword of
/// the module's dataset (the contamination rule of `core_config::contamination`).
#[must_use]
pub fn check_module_rubrics(catalog: &Catalog, module: &ModuleSpec) -> Vec<Problem> {
    let root = catalog.root();
    let dir = root.join("prompts").join("judges");
    let prefix = format!("{}_", module.id);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.strip_prefix(&prefix).is_some_and(|rest| {
                    // `m01_v1.yaml` is m01's; `m01a_v1.yaml` is not.
                    rest.ends_with(".yaml") && !rest.contains('_')
                })
            })
        })
        .collect();
    files.sort();
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_path_buf();
    let mut problems = Vec::new();
    let mut keywords: Option<Keywords> = None;
    for file in files {
        let loaded = match load(&file) {
            Ok(loaded) => loaded,
            Err(Error::Rubric { line, message, .. }) => {
                problems.push(Problem {
                    file: shown(&file),
                    line,
                    message: format!("rubric: {message}"),
                });
                continue;
            }
            Err(e) => {
                problems.push(Problem {
                    file: shown(&file),
                    line: None,
                    message: format!("rubric: {e}"),
                });
                continue;
            }
        };
        if loaded.rubric.module != module.id.to_string() {
            problems.push(Problem {
                file: shown(&file),
                line: line_of(&loaded.text, "module:"),
                message: format!(
                    "rubric: module: `{}` but the file is {}'s",
                    loaded.rubric.module, module.id
                ),
            });
        }
        let matcher = keywords.get_or_insert_with(|| dataset_keywords(catalog, module));
        for hit in matcher.find(&loaded.text) {
            problems.push(Problem {
                file: shown(&file),
                line: Some(hit.line),
                message: format!(
                    "rubric quotes the evaluation item `{}` (column {}); examples must be made up",
                    hit.keyword, hit.column
                ),
            });
        }
    }
    problems
}

/// The evaluation items of a module's dataset, for the contamination check: each record's
/// keyword and title and every text of its expected answer but its labels (unreadable lines are the dataset
/// check's to report; short texts are dropped by [`Keywords`]).
#[must_use]
pub fn dataset_items(catalog: &Catalog, module: &ModuleSpec) -> Vec<String> {
    fn leaves(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| leaves(v, out)),
            _ => {}
        }
    }
    let mut words = Vec::new();
    if let Ok(reader) = RecordReader::open(&catalog.dataset_path(module)) {
        for record in reader.flatten() {
            for field in ["keyword", "title"] {
                let text = record.input_text(field);
                if !text.is_empty() {
                    words.push(text);
                }
            }
            // Label fields (`kept` / `corrected`) are the vocabulary of the answer, not items.
            for (key, value) in &record.expected {
                let labelled = module.score.iter().any(|f| {
                    f.labels.is_some() && f.expected.split('.').next() == Some(key.as_str())
                });
                if !labelled {
                    leaves(value, &mut words);
                }
            }
        }
    }
    words
}

fn dataset_keywords(catalog: &Catalog, module: &ModuleSpec) -> Keywords {
    Keywords::new(dataset_items(catalog, module))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "module: m01\nversion: v1\ncriteria:\n  - id: complete\n    question: All of them?\n    scale: pass_fail\n    examples:\n      - answer: '{\"brand_entities\": [\"Zorblax\"]}'\n        verdict: pass\n        why: The one brand is named.\n  - id: grounded\n    question: Supported?\n    scale: 0-5\n    pass_at: 4\n    examples:\n      - answer: x\n        verdict: fail\n        score: 2\n        why: Made up.\n";

    fn error_of(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m01_v1.yaml");
        std::fs::write(&path, text).unwrap();
        load(&path)
            .unwrap_err()
            .to_string()
            .replace(&format!("{}/", dir.path().display()), "")
    }

    #[test]
    fn a_good_rubric_loads_with_its_thresholds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m01_v1.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.rubric.criteria.len(), 2);
        let grounded = &loaded.rubric.criteria[1];
        assert!(grounded.passes(4.0));
        assert!(!grounded.passes(3.0));
        assert!(loaded.rubric.criteria[0].passes(1.0));
        assert!(!loaded.rubric.criteria[0].passes(0.0));
        assert_eq!(loaded.hash.len(), 8);
    }

    #[test]
    fn a_missing_field_names_file_line_and_field() {
        let text = GOOD.replace("    question: All of them?\n", "");
        let message = error_of(&text);
        assert!(message.starts_with("m01_v1.yaml:4: "), "{message}");
        assert!(message.contains("missing field `question`"), "{message}");
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let message =
            error_of(&GOOD.replace("scale: pass_fail", "scale: pass_fail\n    weight: 2"));
        assert!(message.contains("unknown field `weight`"), "{message}");
        assert!(message.starts_with("m01_v1.yaml:7: "), "{message}");
    }

    #[test]
    fn a_zero_to_five_criterion_needs_its_threshold() {
        assert_eq!(
            error_of(&GOOD.replace("    pass_at: 4\n", "")),
            "m01_v1.yaml:11: criteria[1].pass_at: a 0-5 criterion needs the score it passes at (1-5)"
        );
        assert_eq!(
            error_of(&GOOD.replace("pass_at: 4", "pass_at: 9")),
            "m01_v1.yaml:11: criteria[1].pass_at: 9 is not within 1-5"
        );
    }

    #[test]
    fn rule_breaks_are_named() {
        assert_eq!(
            error_of(&GOOD.replace("id: grounded", "id: complete")),
            "m01_v1.yaml:4: criteria[1].id: `complete` is used twice"
        );
        assert_eq!(
            error_of(&GOOD.replace("verdict: pass", "verdict: ok")),
            "m01_v1.yaml:4: criteria[0].examples[0].verdict: `ok` is neither pass nor fail"
        );
        assert_eq!(
            error_of(&GOOD.replace("score: 2", "score: 5")),
            "m01_v1.yaml:11: criteria[1].examples[0]: score 5 and verdict fail disagree with pass_at"
        );
    }

    #[test]
    fn the_repository_rubrics_load_and_pass_validate() {
        let root = test_support::repo_root();
        let catalog = Catalog::load(&root.join("modules.toml")).unwrap();
        for id in [
            "m01", "m01a", "m01b", "m03", "m06", "m07", "m08", "m09", "m10", "m11",
        ] {
            let module = catalog.resolve(id).unwrap();
            let path = rubric_path(&root, module, DEFAULT_VERSION);
            let loaded = load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(loaded.rubric.module, id);
            let problems = check_module_rubrics(&catalog, module);
            assert!(problems.is_empty(), "{id}: {problems:?}");
        }
    }

    #[test]
    fn a_rubric_quoting_a_dataset_keyword_is_a_validate_problem() {
        let root = test_support::repo_root();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(root.join("modules.toml"), dir.path().join("modules.toml")).unwrap();
        test_support::copy_dir(&root.join("datasets"), &dir.path().join("datasets"));
        let catalog = Catalog::load(&dir.path().join("modules.toml")).unwrap();
        let module = catalog.resolve("m09").unwrap();
        let keyword = dataset_items(&catalog, module)
            .into_iter()
            .find(|k| {
                k.chars().count() >= core_config::contamination::MIN_KEYWORD_CHARS
                    && !k.contains('\'')
                    && !k.contains('\n')
            })
            .unwrap();
        let text = GOOD
            .replace("m01", "m09")
            .replace("why: Made up.", &format!("why: Like '{keyword}'."));
        std::fs::create_dir_all(dir.path().join("prompts/judges")).unwrap();
        std::fs::write(dir.path().join("prompts/judges/m09_v1.yaml"), text).unwrap();
        let problems = check_module_rubrics(&catalog, module);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, Some(19));
        assert!(problems[0].message.contains("evaluation item"));
    }
}
