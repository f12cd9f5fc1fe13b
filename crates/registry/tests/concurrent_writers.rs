//! Eight processes register fifty runs each, all at once, into one registry: every entry must
//! survive and the file must stay valid JSON.
//!
//! The writers are this test binary itself, started again with an environment variable that
//! gives it the writer's role, so the test exercises real processes with separate file handles
//! and no shared memory.
#![allow(unreachable_pub, reason = "integration test crate")]

use std::path::Path;
use std::process::{Command, Stdio};

use core_config::{Env, ModuleId};
use registry::{NewRun, RegistryFile};

const WRITERS: usize = 8;
const RUNS_EACH: usize = 50;
const ROLE_VAR: &str = "REGISTRY_TEST_WRITER";
const ROOT_VAR: &str = "REGISTRY_TEST_ROOT";
const TEST_NAME: &str = "eight_processes_adding_fifty_runs_each_lose_nothing";

fn write_as_child(root: &Path, writer: &str) {
    let file = RegistryFile::in_project(root);
    // Modules alternate so ids collide within the same second across writers: the suffix
    // allocator has to do its job under the lock.
    let modules = ["m12", "m13"];
    for i in 0..RUNS_EACH {
        let module = ModuleId::parse(modules[i % 2]).unwrap();
        let csv = root.join(format!("experiment_results/w{writer}/run_{i}.csv"));
        let entry = file
            .register(NewRun {
                samples: 10,
                accuracy: Some(0.5),
                notes: format!("writer {writer} run {i}"),
                ..NewRun::new(module, csv)
            })
            .unwrap();
        assert!(entry.local_id.starts_with("exp_"));
    }
}

#[test]
fn eight_processes_adding_fifty_runs_each_lose_nothing() {
    let env = Env::load(None).unwrap();
    if let (Some(writer), Some(root)) = (env.get(ROLE_VAR), env.get(ROOT_VAR)) {
        write_as_child(Path::new(root), writer);
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            Command::new(&me)
                .args([TEST_NAME, "--exact", "--test-threads=1", "--quiet"])
                .env(ROLE_VAR, w.to_string())
                .env(ROOT_VAR, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (w, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer {w} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Guard against the child silently running no test (a renamed test would match none).
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "writer {w} ran no test:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let file = RegistryFile::in_project(dir.path());
    let text = std::fs::read_to_string(file.path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).expect("the registry is valid JSON");
    let experiments = json["experiments"].as_object().unwrap();
    assert_eq!(experiments.len(), WRITERS * RUNS_EACH);

    let registry = file.load().unwrap();
    for w in 0..WRITERS {
        for i in 0..RUNS_EACH {
            let note = format!("writer {w} run {i}");
            assert_eq!(
                registry.entries().filter(|e| e.notes == note).count(),
                1,
                "{note}"
            );
        }
    }
    // The summary index written by the last writer describes the final file.
    let overview = file.overview().unwrap();
    assert!(
        format!("{overview:?}").contains("from_index: true"),
        "{overview:?}"
    );
    assert_eq!(overview.len(), WRITERS * RUNS_EACH);

    // No temporary files were left behind.
    let leftovers: Vec<String> = std::fs::read_dir(dir.path().join("experiment_results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
