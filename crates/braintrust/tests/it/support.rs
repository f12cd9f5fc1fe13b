//! Test fixtures: a simulator, a client with quick retries, and a temporary project holding
//! registered runs made from the fixture result CSVs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_sim::{SimConfig, SimServer};
use braintrust::{Client, Config, Progress, RetryNotice, RetryPolicy};
use chrono::NaiveDateTime;
use core_config::{Catalog, ModuleId, ResultRow, Secret};
use registry::{Entry, NewRun, RegistryFile};
use serde_json::Value;

pub const KEY: &str = "bt-test-key-DO-NOT-LOG-4f2a";

pub use test_support::repo_root;

pub fn catalog() -> Catalog {
    Catalog::load(&repo_root().join("modules.toml")).unwrap()
}

pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/braintrust").join(name)
}

pub fn sim(config: SimConfig) -> SimServer {
    api_sim::spawn(config).unwrap()
}

/// Retries that take milliseconds, not seconds.
pub fn quick_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn config(url: &str, retries: u32) -> Config {
    Config {
        api_url: url.to_owned(),
        app_url: "https://www.braintrust.dev".to_owned(),
        api_key: Secret::new(KEY),
        org_name: None,
        project: "Keyword-Classification-Pipeline".to_owned(),
        retry: quick_retries(retries),
        timeout: Duration::from_secs(10),
    }
}

pub fn client(server: &SimServer, retries: u32) -> Client {
    Client::new(config(&server.url(), retries)).unwrap()
}

/// Records retries (to check waits without measuring time).
#[derive(Default)]
pub struct Recorder {
    pub retries: Mutex<Vec<(String, Duration)>>,
    pub finished: Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn retrying(&self, notice: &RetryNotice<'_>) {
        self.retries
            .lock()
            .unwrap()
            .push((notice.reason.to_owned(), notice.wait));
    }

    fn run_finished(&self, outcome: &braintrust::RunOutcome) {
        self.finished
            .lock()
            .unwrap()
            .push(outcome.local_id().to_owned());
    }
}

pub fn recorder() -> Arc<Recorder> {
    Arc::new(Recorder::default())
}

/// A temporary project root with a registry.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn registry(&self) -> RegistryFile {
        RegistryFile::in_project(self.root())
    }

    /// Registers a run of `module` whose results are `rows`, created at `at`.
    pub fn register(&self, module: &str, at: &str, rows: &[ResultRow]) -> Entry {
        let catalog = catalog();
        let spec = catalog.resolve(module).unwrap();
        let at = NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S").unwrap();
        let csv = self.root().join(format!(
            "experiment_results/{}/{}_v1_{}.csv",
            spec.folder_name(),
            spec.id.upper(),
            at.format("%Y%m%d_%H%M%S")
        ));
        core_config::results::write_results(&csv, spec, rows).unwrap();
        let scored: Vec<&ResultRow> = rows.iter().filter(|r| r.correct.is_some()).collect();
        self.registry()
            .register(NewRun {
                created_at: Some(at),
                model: "gpt-4o-mini".into(),
                prompt_hash: Some("a1b2c3d4".into()),
                samples: rows.len() as u64,
                accuracy: (!rows.is_empty()).then(|| {
                    scored.iter().filter(|r| r.correct == Some(true)).count() as f64
                        / rows.len() as f64
                }),
                ..NewRun::new(ModuleId::parse(module).unwrap(), &csv)
            })
            .unwrap()
    }
}

/// The rows of a fixture results CSV.
pub fn fixture_rows(name: &str) -> Vec<ResultRow> {
    core_config::read_results(&fixture(name)).unwrap()
}

/// `n` rows made from a fixture's rows with distinct record ids.
pub fn many_rows(name: &str, n: usize) -> Vec<ResultRow> {
    let base = fixture_rows(name);
    (0..n)
        .map(|i| {
            let mut row = base[i % base.len()].clone();
            row.record_id = format!("{}__copy{i}", row.record_id);
            row
        })
        .collect()
}

/// A raw request to the simulator.
pub async fn raw(
    server: &SimServer,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let http = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http.request(method, format!("{}{path}", server.url()));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// A raw JSON request that must succeed.
pub async fn json_ok(server: &SimServer, method: &str, path: &str, body: Option<&Value>) -> Value {
    let (status, text) = raw(server, method, path, Some(KEY), body).await;
    assert_eq!(status, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// What the simulator stores (`GET /_sim/braintrust`).
pub async fn stored(server: &SimServer) -> Value {
    json_ok(server, "GET", "/_sim/braintrust", None).await
}

/// Live rows of each experiment, by name.
pub async fn rows_by_experiment(server: &SimServer) -> Vec<(String, u64)> {
    let stored = stored(server).await;
    stored["projects"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["experiments"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}
