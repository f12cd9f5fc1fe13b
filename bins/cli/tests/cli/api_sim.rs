//! `api-sim`: start-up line, banner, requests over real HTTP, exit-after, and flag errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestProject, exe};

struct Running {
    child: Child,
    port: u16,
    first_line: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(project: &TestProject, args: &[&str]) -> Running {
    let mut child = Command::new(exe("api-sim"))
        .args(args)
        .current_dir(project.root())
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("api-sim starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let port = first_line
        .trim()
        .strip_prefix("api-sim listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .parse()
        .unwrap();
    Running {
        child,
        port,
        first_line,
    }
}

/// A minimal HTTP/1.1 exchange (the tests need no client library for two requests).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

fn wait_for_exit(running: &mut Running) -> (i32, String) {
    // A guard against hanging the suite, not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            let mut stderr = String::new();
            running
                .child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        assert!(Instant::now() < deadline, "api-sim did not stop by itself");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn prints_its_address_first_answers_and_stops_by_itself() {
    let project = TestProject::new();
    let mut running = start(
        &project,
        &["--port", "0", "--exit-after", "2s", "--error-rate", "0"],
    );
    assert!(running.first_line.ends_with('\n'));
    let (status, body) = http(
        running.port,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Reply in JSON: ok?"}],"response_format":{"type":"json_object"}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["model"], "sim-gpt-4o-mini");
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(content).is_ok(),
        "{content}"
    );
    let (status, stats) = http(running.port, "GET", "/_sim/stats", "");
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["requests"]["POST /v1/chat/completions"]["200"], 1);

    let (code, stderr) = wait_for_exit(&mut running);
    assert_eq!(code, 0, "{stderr}");
    let port = running.port.to_string();
    snapshot("api_sim_banner", &stderr.replace(&port, "[PORT]"));
}

#[test]
fn answer_key_mode_says_what_it_loaded() {
    let project = TestProject::new();
    let mut running = start(
        &project,
        &[
            "--answer-key",
            "--wrong-rate",
            "10%",
            "--latency",
            "5ms",
            "--rpm",
            "600",
            "--exit-after",
            "1s",
        ],
    );
    let (code, stderr) = wait_for_exit(&mut running);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("api-sim: answer key: 22 modules, "),
        "{stderr}"
    );
    assert!(
        stderr.contains("records, 10% answered wrongly (seed 42)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("api-sim: faults: latency 5ms, 600 requests/min"),
        "{stderr}"
    );
}

#[test]
fn quiet_keeps_only_the_address() {
    let project = TestProject::new();
    let mut running = start(&project, &["--quiet", "--exit-after", "300ms"]);
    let (code, stderr) = wait_for_exit(&mut running);
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn bad_flags_are_explained() {
    let project = TestProject::new();
    let run = project.run("api-sim", &["--error-rate", "150%"]);
    assert_eq!(run.code, 2);
    snapshot("api_sim_bad_share", &run.transcript());
    let run = project.run("api-sim", &["--latency", "soon"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("`soon` is not a duration (write e.g. 50ms, 2s, 30m, 1h)"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_explains_the_simulator() {
    let project = TestProject::new();
    let run = project.run("api-sim", &["--help"]);
    assert_eq!(run.code, 0);
    snapshot("api_sim_help", &run.stdout);
}
