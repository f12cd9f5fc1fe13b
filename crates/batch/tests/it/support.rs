//! A temporary copy of `fixtures/batch/tiny` with a dataset written to order, and the OpenAI
//! line schemas from `fixtures/specs/`.

use std::io::{BufWriter, Write};
use std::path::Path;

use batch::{GenerateOptions, Limits};
use core_config::{Catalog, TokenParam};
use serde_json::{Value, json};

pub struct Tiny {
    pub dir: tempfile::TempDir,
}

use test_support::copy_dir;
pub use test_support::repo_root as repo;

impl Tiny {
    /// The tiny project with `records` records whose title is `title_len` characters long.
    /// Every seventh record is own-brand.
    pub fn new(records: usize, title_len: usize) -> Self {
        Self::with_ids(records, title_len, |i| format!("kw-{i:06}"))
    }

    pub fn with_ids(records: usize, title_len: usize, id: impl Fn(usize) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo().join("fixtures/batch/tiny"), dir.path());
        let path = dir.path().join("datasets/m02.jsonl");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
        let title = "t".repeat(title_len);
        for i in 0..records {
            let own = i % 7 == 0;
            let record = json!({
                "id": id(i),
                "input": {
                    "keyword": if own { format!("owala bottle {i}") } else { format!("steel bottle {i}") },
                    "brand_entities": ["Owala"],
                    "title": title,
                },
                "expected": {"branding_scope_1": if own { json!("OB") } else { Value::Null }},
                "metadata": {"asin": "B0BZYCJK89", "brand_name": "Owala"},
            });
            writeln!(out, "{record}").unwrap();
        }
        out.flush().unwrap();
        Self { dir }
    }

    /// The tiny project with `records` minimal `m05` records (and no `m02` records).
    pub fn small(records: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo().join("fixtures/batch/tiny"), dir.path());
        let path = dir.path().join("datasets/m05.jsonl");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..records {
            let label = if i % 3 == 0 { "\"NB\"" } else { "null" };
            writeln!(
                out,
                r#"{{"id":"kw-{i:06}","input":{{"keyword":"bottle {i}"}},"expected":{{"branding_scope_3":{label}}}}}"#
            )
            .unwrap();
        }
        out.flush().unwrap();
        Self { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn catalog(&self) -> Catalog {
        Catalog::load(&self.root().join("modules.toml")).unwrap()
    }

    pub fn options(&self, limits: Limits) -> GenerateOptions {
        self.options_for("m02", limits)
    }

    pub fn options_for(&self, module: &str, limits: Limits) -> GenerateOptions {
        GenerateOptions {
            modules: vec![module.to_owned()],
            synthetic: false,
            model: None,
            default_model: "gpt-4o-mini".to_owned(),
            prompt_version: None,
            samples: None,
            seed: 42,
            dataset: None,
            limits,
            token_param: TokenParam::MaxCompletionTokens,
            out: None,
            started: chrono::Local::now(),
        }
    }
}

/// A validator for one component schema of the saved OpenAI spec subset.
pub fn validator(component: &str) -> jsonschema::Validator {
    let path = repo().join("fixtures/specs/openai-chat-files-batches.json");
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let root = json!({
        "$ref": format!("#/components/schemas/{component}"),
        "components": spec["components"],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("{component}: {e}"))
}

/// Every line of a file, parsed.
pub fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
