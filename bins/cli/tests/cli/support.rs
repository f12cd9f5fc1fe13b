//! Test fixtures: a temporary copy of the project, a way to run the real binaries in it, and
//! insta filters that hide paths, timestamps and durations.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use test_support::{copy_dir, repo_root};

/// Path of one of this package's binaries (Cargo builds them all before integration tests).
pub fn exe(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_orchestrator")).with_file_name(name)
}

/// A temporary project: `modules.toml`, `datasets/`, `prompts/` and `prices.toml` copied from the
/// repository, nothing else.
pub struct TestProject {
    dir: tempfile::TempDir,
}

/// What a binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit code, stdout and stderr in one text, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl TestProject {
    /// A copy of the repository's project files.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo_root();
        std::fs::copy(repo.join("modules.toml"), dir.path().join("modules.toml")).unwrap();
        for folder in ["datasets", "prompts"] {
            copy_dir(&repo.join(folder), &dir.path().join(folder));
        }
        let prices = repo.join("prices.toml");
        if prices.is_file() {
            std::fs::copy(prices, dir.path().join("prices.toml")).unwrap();
        }
        Self { dir }
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path under the root.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    /// Writes a file under the root (creating folders).
    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// A command for one of the binaries, run in the project root with a clean environment.
    pub fn command(&self, bin: &str) -> Command {
        let mut command = Command::new(exe(bin));
        command
            .current_dir(self.root())
            .env_clear()
            .env("RUST_BACKTRACE", "0");
        command
    }

    /// Runs a binary with arguments.
    pub fn run(&self, bin: &str, args: &[&str]) -> Run {
        let mut command = self.command(bin);
        command.args(args);
        run(&mut command)
    }
}

/// Runs a prepared command and captures its output.
pub fn run(command: &mut Command) -> Run {
    let output = command.output().expect("binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Filters for snapshots: the project root, timestamps, ISO dates and durations.
pub fn filters(project: &TestProject) -> Vec<(String, String)> {
    let root = regex_escape(&project.root().display().to_string());
    vec![
        (root, "[ROOT]".to_owned()),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?".to_owned(),
            "[DATETIME]".to_owned(),
        ),
        (r"\d{8}_\d{6}".to_owned(), "[TIMESTAMP]".to_owned()),
        (r"\b\d+(\.\d+)?(ms|s)\b".to_owned(), "[DURATION]".to_owned()),
        (r"\d+(\.\d+)? rows/s".to_owned(), "[RATE] rows/s".to_owned()),
    ]
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Snapshots a run's transcript with the project's filters applied.
#[macro_export]
macro_rules! assert_run_snapshot {
    ($name:expr, $project:expr, $run:expr) => {{
        let filters = $crate::support::filters($project);
        let filters: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $run.transcript());
        });
    }};
}

/// A running `api-sim` process for a test project; killed when dropped.
pub struct Sim {
    child: std::process::Child,
    pub port: u16,
}

impl Sim {
    /// Starts the simulator in the project's root with extra flags (e.g. `--answer-key`).
    pub fn start(project: &TestProject, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(exe("api-sim"))
            .args(["--port", "0", "--exit-after", "10m"])
            .args(args)
            .current_dir(project.root())
            .env_clear()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("api-sim starts");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let port = first
            .trim()
            .strip_prefix("api-sim listening on http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        // Keep draining stdout so the simulator never blocks on a full pipe.
        std::thread::spawn(move || for _ in stdout.lines() {});
        Self { child, port }
    }

    /// `OPENAI_BASE_URL` for this simulator.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The simulator's counters (`GET /_sim/stats`).
    pub fn stats(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET /_sim/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("stats body {body:?}: {e}"))
    }

    /// A command for one of the binaries, pointed at this simulator with a fake key.
    pub fn command(&self, project: &TestProject, bin: &str) -> Command {
        let mut command = project.command(bin);
        command
            .env("OPENAI_BASE_URL", self.base_url())
            .env("OPENAI_API_KEY", "sk-test-not-a-real-key");
        command
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
