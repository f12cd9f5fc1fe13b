//! Resuming runs against the in-process simulator, counting requests on the simulator's side.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use api_sim::{SimConfig, SimServer};
use chrono::Local;
use core_config::{Catalog, OpenAiSettings, Provider, Secret, TokenParam, read_results};
use llm_client::{CacheMode, Client, PacingConfig, RetryPolicy};
use runner::journal::Journal;
use runner::{ExecOptions, Plan, RunSettings};

const ROWS: usize = 60;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temporary project with the repository's catalogue, prompts, schemas and datasets.
fn project() -> tempfile::TempDir {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo.join("modules.toml"), dir.path().join("modules.toml")).unwrap();
    copy_dir(&repo.join("prompts"), &dir.path().join("prompts"));
    copy_dir(&repo.join("datasets"), &dir.path().join("datasets"));
    dir
}

fn sim(root: &Path, invalid_json_rate: f64) -> SimServer {
    api_sim::spawn(SimConfig {
        answer_key: Some(root.to_owned()),
        invalid_json_rate,
        latency: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .unwrap()
}

fn client(base_url: &str) -> Client {
    let settings = OpenAiSettings {
        provider: Provider::OpenAi,
        base_url: base_url.to_owned(),
        api_key: Some(Secret::new("sk-test-not-a-real-key")),
        organization: None,
        project: None,
        api_version: None,
        token_param: TokenParam::MaxCompletionTokens,
    };
    Client::builder(settings)
        .pacing(PacingConfig {
            max_concurrency: 4,
            ..PacingConfig::default()
        })
        // Give up quickly on a server that went away.
        .retry(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            timeout: Duration::from_secs(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

fn plan(root: &Path, resume: bool) -> runner::Result<Plan> {
    let catalog = Catalog::load(&root.join("modules.toml")).unwrap();
    let module = catalog.resolve("m12").unwrap().clone();
    let settings = RunSettings {
        prompt_version: "v1".into(),
        model: "gpt-4o-mini".into(),
        samples: Some(ROWS),
        seed: runner::DEFAULT_SEED,
        dataset: None,
        token_param: TokenParam::MaxCompletionTokens,
        started: Local::now(),
    };
    runner::plan(&catalog, &module, settings, resume, None)
}

fn options() -> ExecOptions {
    ExecOptions {
        max_in_flight: 4,
        cache: CacheMode::Off,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Records the simulator answered, by id (`m12:` stripped).
fn asked(server: &SimServer) -> BTreeMap<String, u64> {
    server
        .stats()
        .chat_by_record
        .into_iter()
        .map(|(k, n)| (k.trim_start_matches("m12:").to_owned(), n))
        .collect()
}

fn registry_entries(root: &Path) -> usize {
    registry::RegistryFile::in_project(root)
        .load()
        .unwrap()
        .len()
}

fn results_csvs(root: &Path) -> Vec<PathBuf> {
    let folder = root.join("experiment_results");
    let mut found = Vec::new();
    for dir in std::fs::read_dir(folder).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "csv") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_run_whose_server_went_away_resumes_exactly_the_rows_that_failed_for_it() {
    let dir = project();
    let root = dir.path();
    let runtime = runtime();

    // First attempt: a fifth of the answers are cut-off JSON (a permanent failure), and the
    // server goes away after answering 25 requests.
    let mut first_server = Some(sim(root, 0.2));
    let plan1 = plan(root, false).unwrap();
    let client1 = client(&first_server.as_ref().unwrap().base_url());
    let report1 = runtime.block_on(async {
        let stop_server = async {
            while first_server.as_ref().unwrap().stats().chat_answered < 25 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let run = runner::run_quietly(&plan1, &client1, options());
        tokio::pin!(run);
        tokio::select! {
            report = &mut run => return report,
            () = stop_server => {}
        }
        drop(first_server.take());
        run.await
    });
    let report1 = report1.unwrap();
    assert_eq!(report1.rows, ROWS);
    assert!(!report1.all_scored());
    assert!(report1.retryable_rows > 0, "{:?}", report1.metrics.errors);
    assert!(report1.retryable_rows < ROWS);

    // The results CSV and the registry entry exist, and the journal is kept.
    let csvs = results_csvs(root);
    assert_eq!(csvs.len(), 1);
    assert_eq!(registry_entries(root), 1);
    assert!(plan1.journal.exists(), "the journal is kept for --resume");
    let journal = Journal::read(&plan1.journal).unwrap();
    let transient: BTreeSet<String> = journal
        .rows
        .values()
        .filter(|r| r.is_transient())
        .map(|r| r.row.record_id.clone())
        .collect();
    assert_eq!(transient.len(), report1.retryable_rows);
    let done: BTreeSet<String> = journal
        .done_rows()
        .map(|r| r.row.record_id.clone())
        .collect();
    assert_eq!(done.len() + transient.len(), ROWS);
    let permanent = journal
        .done_rows()
        .filter(|r| r.error_kind.as_deref() == Some("invalid_json"))
        .count();
    assert!(permanent > 0, "some rows failed for good");

    // The server is back: --resume asks for exactly the rows that failed for a transient
    // reason, each once.
    let second_server = sim(root, 0.0);
    let plan2 = plan(root, true).unwrap();
    assert_eq!(plan2.csv, plan1.csv);
    let report2 = runtime
        .block_on(runner::run_quietly(
            &plan2,
            &client(&second_server.base_url()),
            options(),
        ))
        .unwrap();
    let asked_again = asked(&second_server);
    assert_eq!(
        asked_again.keys().cloned().collect::<BTreeSet<_>>(),
        transient
    );
    assert!(asked_again.values().all(|n| *n == 1), "{asked_again:?}");
    assert_eq!(second_server.stats().chat_unrecognised, 0);
    assert_eq!(
        second_server.stats().total("POST /v1/chat/completions"),
        transient.len() as u64
    );
    assert_eq!(report2.resumed_rows, done.len());
    assert_eq!(report2.retryable_rows, 0);
    // Only the permanent failures are left.
    assert_eq!(report2.metrics.errors.values().sum::<usize>(), permanent);

    // One CSV with every row once, one registry entry, no journal.
    assert_eq!(results_csvs(root), csvs);
    let rows = read_results(&plan1.csv).unwrap();
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.record_id.as_str()).collect();
    assert_eq!(rows.len(), ROWS);
    assert_eq!(ids.len(), ROWS);
    assert!(
        rows.iter()
            .all(|r| !runner::journal::is_transient(r.error.split(':').next())),
        "no transient failure is left in the results"
    );
    assert_eq!(registry_entries(root), 1);
    assert!(!plan1.journal.exists(), "the journal is removed once done");
    // Nothing is left to resume.
    assert!(matches!(
        plan(root, true),
        Err(runner::Error::NothingToResume { .. })
    ));
}

#[test]
fn a_journal_killed_before_its_header_does_not_block_resume() {
    let dir = project();
    let root = dir.path();
    let runtime = runtime();
    // A run killed between creating its journal and writing the header.
    let first = plan(root, false).unwrap();
    std::fs::create_dir_all(first.journal.parent().unwrap()).unwrap();
    std::fs::write(&first.journal, "").unwrap();

    let server = sim(root, 0.0);
    let resumed = plan(root, true).unwrap();
    assert_eq!(resumed.journal, first.journal);
    assert_eq!(resumed.csv, first.csv);
    assert_eq!(resumed.records, first.records);
    let report = runtime
        .block_on(runner::run_quietly(
            &resumed,
            &client(&server.base_url()),
            options(),
        ))
        .unwrap();
    assert_eq!(report.rows, ROWS);
    assert_eq!(report.resumed_rows, 0);
    assert!(report.all_scored());
    assert_eq!(asked(&server).len(), ROWS);
    assert_eq!(read_results(&first.csv).unwrap().len(), ROWS);
    assert_eq!(registry_entries(root), 1);
    assert!(!first.journal.exists());
}
