//! Scenario 5: the whole workflow run with recognisable fake API keys, one step failing with an
//! HTTP error on purpose. Neither key may appear in any file under the project (results,
//! journal, registry, response cache, annotation and gold files), on stdout or on stderr.

use std::path::Path;

use super::{files_ending, tree};
use crate::support::{Run, Sim, TestProject, exe, run};

const OPENAI_CANARY: &str = "sk-test-CANARY-openai-5f19c2e7d4";
const BRAINTRUST_CANARY: &str = "bt-CANARY-braintrust-83a0b6";

/// Where in `bytes` a canary occurs, if anywhere.
fn leaks(bytes: &[u8]) -> Vec<&'static str> {
    [OPENAI_CANARY, BRAINTRUST_CANARY]
        .into_iter()
        .filter(|c| bytes.windows(c.len()).any(|w| w == c.as_bytes()))
        .collect()
}

struct Workflow<'a> {
    project: &'a TestProject,
    transcripts: Vec<(String, Run)>,
}

impl Workflow<'_> {
    fn step(&mut self, sim: &Sim, bin: &str, args: &[&str], expect: i32) -> &Run {
        let mut command = sim.command(self.project, bin);
        // The OpenAI key comes from the process environment, the Braintrust key from `.env`.
        command.env("OPENAI_API_KEY", OPENAI_CANARY).args(args);
        let out = run(&mut command);
        assert_eq!(
            out.code, expect,
            "{bin} {args:?}\n{}\n{}",
            out.stdout, out.stderr
        );
        self.transcripts
            .push((format!("{bin} {}", args.join(" ")), out));
        &self.transcripts.last().unwrap().1
    }
}

fn newest(dir: &Path, suffix: &str) -> String {
    let path = files_ending(dir, suffix).pop().unwrap();
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn api_keys_reach_no_file_no_output_and_no_error_message() {
    let project = TestProject::new();
    let env_file = format!("BRAINTRUST_API_KEY={BRAINTRUST_CANARY}\nBRAINTRUST_PROJECT=canary\n");
    project.write(".env", &env_file);
    let sim = Sim::start(
        &project,
        &["--answer-key", "--wrong-rate", "10%", "--seed", "3"],
    );
    let mut flow = Workflow {
        project: &project,
        transcripts: Vec::new(),
    };

    flow.step(&sim, "orchestrator", &["run", "m12", "--samples", "30"], 0);
    flow.step(
        &sim,
        "orchestrator",
        &["run", "m12", "--samples", "30", "--json"],
        0,
    );
    flow.step(
        &sim,
        "generate-annotation-csv",
        &["generate", "m12", "--sample", "20"],
        0,
    );
    let sheet = newest(&project.path("annotation_tasks"), ".csv");
    flow.step(&sim, "simulate-annotators", &[&sheet], 0);
    flow.step(
        &sim,
        "calculate-agreement",
        &["analyze", &sheet, "--json"],
        0,
    );
    flow.step(&sim, "calculate-agreement", &["analyze", &sheet, "-v"], 0);
    flow.step(&sim, "merge-annotations", &["merge", &sheet], 0);
    let validated = newest(&project.path("validated_data"), ".csv");
    assert!(validated.contains("_validated_"), "{validated}");
    flow.step(&sim, "merge-annotations", &["gold", &validated], 0);
    flow.step(&sim, "experiment-registry", &["list"], 0);
    flow.step(&sim, "experiment-registry", &["list", "--json"], 0);
    let braintrust = exe("sync-braintrust").is_file();
    if braintrust {
        flow.step(&sim, "sync-braintrust", &["status"], 0);
    }

    // A step that fails with an HTTP error: the account is "out of quota" from the first call.
    let broke = Sim::start(&project, &["--answer-key", "--quota-after", "0"]);
    let failed = flow.step(&broke, "orchestrator", &["run", "m14", "--samples", "4"], 2);
    assert!(
        failed.stderr.contains("insufficient_quota"),
        "the HTTP error is printed: {}",
        failed.stderr
    );
    assert!(
        !files_ending(
            &project.path("experiment_results/M14_PrimaryUseCheckSameType"),
            ".journal.jsonl"
        )
        .is_empty(),
        "the failed run left its journal"
    );

    // Nothing printed holds a key.
    for (step, out) in &flow.transcripts {
        for stream in [&out.stdout, &out.stderr] {
            let found = leaks(stream.as_bytes());
            assert!(found.is_empty(), "`{step}` printed {found:?}:\n{stream}");
        }
    }

    // No file holds a key, except the `.env` the user wrote (unchanged), which proves the search
    // finds a key where there is one.
    let files = tree(project.root());
    let mut searched = 0;
    for (path, bytes) in &files {
        let found = leaks(bytes);
        if path == ".env" {
            assert_eq!(bytes, env_file.as_bytes(), ".env was rewritten");
            assert_eq!(found, [BRAINTRUST_CANARY]);
            continue;
        }
        assert!(found.is_empty(), "{path} holds {found:?}");
        searched += 1;
    }
    let count = |prefix: &str| files.keys().filter(|p| p.starts_with(prefix)).count();
    let cache = count(".cache/llm/");
    assert!(cache >= 30, "the answers were cached ({cache} files)");
    for folder in [
        "experiment_results/",
        "annotation_tasks/",
        "validated_data/",
    ] {
        assert!(count(folder) > 0, "{folder} was written");
    }

    println!(
        "secrets: {} steps ({} sync-braintrust status), one failing with HTTP 429 insufficient_quota; {searched} files searched ({cache} in the response cache), no key in any file, stdout or stderr",
        flow.transcripts.len(),
        if braintrust { "with" } else { "without" },
    );
}
