//! Scenario 3: eight `orchestrator run` processes of different modules, in one project against
//! one simulator, all registering at the same moment. The registry ends with every run.

use std::collections::BTreeSet;
use std::process::Stdio;

use super::{RegistryLock, files_ending, registry, wait_for};
use crate::support::{Sim, TestProject};

const MODULES: [&str; 8] = ["m02", "m05", "m12", "m12b", "m13", "m14", "m15", "m16"];

fn written_csvs(project: &TestProject) -> Vec<std::path::PathBuf> {
    let Ok(folders) = std::fs::read_dir(project.path("experiment_results")) else {
        return Vec::new();
    };
    folders
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .flat_map(|e| files_ending(&e.path(), ".csv"))
        .collect()
}

#[test]
fn eight_runs_registering_at_once_are_all_in_the_registry() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    // While the test holds the lock, each run writes its results and then queues for the
    // registry; releasing it lets all eight write at once.
    let lock = RegistryLock::hold(&project);
    let mut children: Vec<_> = MODULES
        .iter()
        .map(|module| {
            let child = sim
                .command(&project, "orchestrator")
                .args(["run", module, "--samples", "5"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (*module, child)
        })
        .collect();
    wait_for("eight results CSVs", || {
        for (module, child) in &mut children {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{module} ended before the registry was free: {status}");
            }
        }
        (written_csvs(&project).len() == MODULES.len()).then_some(())
    });
    drop(lock);
    for (module, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{module}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Eight entries, one per module, each pointing at a CSV that exists.
    let registry = registry(&project);
    let entries = registry["experiments"].as_object().unwrap();
    assert_eq!(entries.len(), MODULES.len(), "{entries:#?}");
    let modules: BTreeSet<&str> = entries
        .values()
        .map(|e| e["module_id"].as_str().unwrap())
        .collect();
    assert_eq!(modules, MODULES.into_iter().collect());
    for (id, entry) in entries {
        let csv = project.path(entry["csv_path"].as_str().unwrap());
        assert!(csv.is_file(), "{id}: {} is missing", csv.display());
        assert_eq!(entry["samples"], 5, "{id}");
    }
    assert!(
        files_ending(&project.path("experiment_results"), ".tmp").is_empty(),
        "no temporary registry file is left behind"
    );

    // The registry command (and its index) sees all eight too.
    let list = project.run("experiment-registry", &["list", "--limit", "0", "--json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(listed["total"], MODULES.len(), "{listed}");
    assert_eq!(
        listed["experiments"].as_array().unwrap().len(),
        MODULES.len()
    );

    println!(
        "concurrent runs: {} runs of {} modules released onto the registry lock at once; {} entries registered, each CSV present",
        MODULES.len(),
        modules.len(),
        entries.len()
    );
}
