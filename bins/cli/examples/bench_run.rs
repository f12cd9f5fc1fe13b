//! Benchmark of `orchestrator run` against the simulator (`make bench-run`).
//!
//! Builds a temporary project whose m12 dataset has N records (the shipped records repeated
//! with fresh ids), starts `api-sim` with a fixed latency, runs `orchestrator run m12
//! --no-cache --concurrency C`, and reports rows/s against the ideal (C / latency) and the target
//! share of it, where the wall time goes (start-up until the first answer, the calls, the end
//! after the last answer: read from the simulator's `/_sim/stats` while the run goes), and the
//! orchestrator's peak memory (VmHWM, read from /proc while it runs). It measures; it asserts
//! nothing.
//!
//! Usage: bench_run [--rows N] [--concurrency C] [--latency-ms L] [--target-percent P]
//! [--bin-dir DIR]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::copy_dir;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Chat completions the simulator has answered so far (`GET /_sim/stats`).
fn answered(port: &str) -> Option<u64> {
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).ok()?;
    stream
        .write_all(b"GET /_sim/stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let body = response.split_once("\r\n\r\n")?.1;
    let stats: api_sim::StatsSnapshot = serde_json::from_str(body).ok()?;
    Some(stats.chat_answered)
}

/// One run's figures.
struct Measured {
    /// Process start to exit, seconds.
    wall: f64,
    /// Process start until the first answer was counted, seconds.
    first_answer: Option<f64>,
    /// Process start until the last answer was counted, seconds.
    last_answer: Option<f64>,
    /// Median and 90th percentile of the calls' durations as the client timed them, ms.
    call_ms: Option<(f64, f64)>,
    /// Peak memory, KiB.
    peak_kib: u64,
    detail: String,
}

/// Median and 90th percentile of the `duration` the client recorded for each call (results
/// CSV, `metrics` column), ms: the configured latency plus what the simulator and the client's
/// own sending and reading add.
fn call_durations_ms(csv: &Path) -> Option<(f64, f64)> {
    let rows = core_config::results::read_results(csv).ok()?;
    let mut durations: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.metrics["duration"].as_f64())
        .map(|s| s * 1000.0)
        .collect();
    durations.sort_by(f64::total_cmp);
    let at = |q: usize| durations.get(durations.len() * q / 100).copied();
    Some((at(50)?, at(90)?))
}

fn measure(
    bin_dir: &Path,
    root: &Path,
    (base_url, port): (&str, &str),
    rows: usize,
    concurrency: usize,
) -> Measured {
    let before = answered(port).unwrap_or(0);
    let mut first_answer = None;
    let mut last_answer = None;
    let start = Instant::now();
    let mut child = Command::new(bin_dir.join("orchestrator"))
        .args([
            "run",
            "m12",
            "--no-cache",
            "--json",
            "--concurrency",
            &concurrency.to_string(),
        ])
        .current_dir(root)
        .env("OPENAI_BASE_URL", base_url)
        .env("OPENAI_API_KEY", "sk-bench-not-a-real-key")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("orchestrator starts");
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some(hwm) = vm_hwm_kib(pid) {
            peak = peak.max(hwm);
        }
        if last_answer.is_none()
            && let Some(n) = answered(port).map(|n| n - before)
        {
            let now = start.elapsed().as_secs_f64();
            if n > 0 && first_answer.is_none() {
                first_answer = Some(now);
            }
            if n >= rows as u64 {
                last_answer = Some(now);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() || output.status.code() == Some(1),
        "orchestrator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let run = &report["runs"][0];
    assert_eq!(run["rows"].as_u64(), Some(rows as u64));
    let accuracy = run["metrics"]["accuracy"].as_f64().unwrap_or(0.0);
    let csv = root.join(run["csv"].as_str().unwrap_or_default());
    Measured {
        wall: elapsed,
        first_answer,
        last_answer,
        call_ms: call_durations_ms(&csv),
        peak_kib: peak,
        detail: format!(
            "accuracy {:.1}%, {} http requests",
            accuracy * 100.0,
            run["http_requests"]
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = arg(&args, "--rows", "2000").parse().unwrap();
    let concurrency: usize = arg(&args, "--concurrency", "64").parse().unwrap();
    let latency_ms: u64 = arg(&args, "--latency-ms", "100").parse().unwrap();
    let target_percent: f64 = arg(&args, "--target-percent", "95").parse().unwrap();
    let bin_dir = PathBuf::from(arg(&args, "--bin-dir", "target/release"))
        .canonicalize()
        .expect("--bin-dir exists (build with `cargo build --release --bins`)");
    let repo = test_support::repo_root();

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy(repo.join("modules.toml"), root.join("modules.toml")).unwrap();
    std::fs::copy(repo.join("prices.toml"), root.join("prices.toml")).unwrap();
    copy_dir(&repo.join("prompts"), &root.join("prompts"));
    copy_dir(&repo.join("datasets"), &root.join("datasets"));

    let dataset = root.join("datasets/single/m12_v1_check_hard_constraint.jsonl");
    let source: Vec<serde_json::Value> = std::fs::read_to_string(&dataset)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&dataset).unwrap());
    for i in 0..rows {
        let mut record = source[i % source.len()].clone();
        record["id"] = serde_json::Value::String(format!("bench_{i:06}"));
        writeln!(out, "{record}").unwrap();
    }
    out.flush().unwrap();
    drop(out);

    let mut sim = Command::new(bin_dir.join("api-sim"))
        .args([
            "--port",
            "0",
            "--exit-after",
            "10m",
            "--answer-key",
            "--latency",
            &format!("{latency_ms}ms"),
        ])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("api-sim starts (build it with `cargo build --release --bins`)");
    let mut first = String::new();
    BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port = first.trim().rsplit(':').next().unwrap().to_owned();
    let base_url = format!("http://127.0.0.1:{port}/v1");

    // The smaller run goes first: it also shows whether memory grows with the number of rows,
    // and, as a user's earlier runs do, it lets the client learn that this server announces no
    // rate limits, so the measured run starts at full concurrency (a first run against a new
    // server sends a probe wave first and loses about one latency).
    let small = rows / 4;
    let full_file = std::fs::read_to_string(&dataset).unwrap();
    let small_text: String = full_file
        .lines()
        .take(small)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&dataset, small_text).unwrap();
    let small_run = measure(&bin_dir, root, (&base_url, &port), small, concurrency);
    std::fs::write(&dataset, full_file).unwrap();
    let big = measure(&bin_dir, root, (&base_url, &port), rows, concurrency);
    let _ = sim.kill();
    let _ = sim.wait();

    let elapsed = big.wall;
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let rate = rows as f64 / elapsed;
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let latency = latency_ms as f64 / 1000.0;
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let ideal = concurrency as f64 / latency;
    // Even a perfect client sends the last, partial wave of calls for a whole latency.
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let waves = rows.div_ceil(concurrency.max(1)) as f64;
    let ratio = rate / ideal * 100.0;
    println!(
        "orchestrator run benchmark (api-sim answer key, {latency_ms} ms latency, --no-cache)"
    );
    println!("  rows:          {rows} (after a {small}-row run against the same server)");
    println!("  concurrency:   {concurrency}");
    println!(
        "  wall time:     {elapsed:.2} s (process start to exit: planning, calls, results CSV, registry)"
    );
    println!("  rows/s:        {rate:.1}");
    println!("  ideal rows/s:  {ideal:.1} (concurrency / latency)");
    println!(
        "  ratio:         {ratio:.1}% of ideal (target >= {target_percent:.0}%: {})",
        if ratio >= target_percent {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "  best possible: {:.1}% of ideal ({waves:.0} waves of {latency_ms} ms, the last one partial)",
        rows as f64 / (waves * concurrency as f64) * 100.0
    );
    match (big.first_answer, big.last_answer) {
        (Some(first), Some(last)) => {
            println!(
                "  start-up:      {:.0} ms (process start to the first answer, less one latency)",
                (first - latency) * 1000.0
            );
            println!(
                "  calls:         {:.0} ms (first call to last answer; {:.0} ms for {waves:.0} back-to-back waves)",
                (last - first + latency) * 1000.0,
                waves * latency * 1000.0
            );
            println!(
                "  end:           {:.0} ms (last answer to exit: results CSV, registry, summary)",
                (elapsed - last) * 1000.0
            );
        }
        _ => println!("  phases:        not measured (the simulator's stats did not answer)"),
    }
    if let Some((median, p90)) = big.call_ms {
        println!(
            "  one call:      {median:.1} ms median, {p90:.1} ms p90 (as the client timed it: {latency_ms} ms of latency, the rest is the simulator, HTTP and the client)"
        );
    }
    println!(
        "  peak memory:   {:.1} MiB for {rows} rows, {:.1} MiB for {small} rows (VmHWM)",
        big.peak_kib as f64 / 1024.0,
        small_run.peak_kib as f64 / 1024.0
    );
    println!("  {}", big.detail);
}
