//! Benchmark of `orchestrator run` against the simulator (`make bench-run`).
//!
//! Builds a temporary project whose m12 dataset has N records (the shipped records repeated
//! with fresh ids), starts `api-sim` with a fixed latency, runs `orchestrator run m12
//! --no-cache --concurrency C`, and reports rows/s against the ideal (C / latency) and the target
//! share of it, where the wall time goes (start-up until the first answer, the calls, the end
//! after the last answer: the simulator stamps its first and last answers, read from
//! `/_sim/stats` once the run has ended), and the orchestrator's peak memory (VmHWM, read from
//! /proc while it runs). It measures; it asserts nothing about speed.
//!
//! Usage: bench_run [--rows N] [--concurrency C] [--latency-ms L] [--target-percent P]
//! [--bin-dir DIR] [--repeat R]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// One HTTP/1.0 exchange with the simulator; the response body.
fn sim_request(port: &str, request_line: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).ok()?;
    stream
        .write_all(
            format!("{request_line} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        )
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.split_once("\r\n\r\n")?.1.to_owned())
}

/// The simulator's counters (`GET /_sim/stats`).
fn sim_stats(port: &str) -> Option<api_sim::StatsSnapshot> {
    serde_json::from_str(&sim_request(port, "GET /_sim/stats")?).ok()
}

/// Microseconds since the Unix epoch, the clock the simulator stamps its answers with.
fn unix_micros() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_micros()).unwrap()
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
    /// Share of the machine's CPU time the hypervisor gave to others during the run (steal).
    steal: Option<f64>,
    detail: String,
}

/// The machine's CPU time so far, in ticks: (steal, total), from the first line of /proc/stat.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    Some((*ticks.get(7)?, ticks.iter().take(8).sum()))
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
    // The simulator's counters start from zero for this run; it stamps its first and last
    // answers itself, so nothing polls it while the run goes (on two cores, a poller would take
    // CPU from the run it measures).
    sim_request(port, "POST /_sim/reset").expect("the simulator resets its counters");
    let ticks_before = cpu_ticks();
    let started_us = unix_micros();
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
    // Peak memory: VmHWM only grows, so a reading every few milliseconds misses at most the
    // last few milliseconds' growth. Reading /proc costs microseconds.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                if let Some(hwm) = vm_hwm_kib(pid) {
                    peak = peak.max(hwm);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let err_reader = std::thread::spawn(move || {
        err.read_to_end(&mut stderr).unwrap();
        stderr
    });
    out.read_to_end(&mut stdout).unwrap();
    let status = child.wait().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peak = watcher.join().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(
        status.success() || status.code() == Some(1),
        "orchestrator failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    let stats = sim_stats(port).expect("the simulator answers /_sim/stats");
    assert_eq!(stats.chat_answered, rows as u64, "one answer per row");
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let since_start = |us: u64| us.saturating_sub(started_us) as f64 / 1e6;
    let first_answer = stats.chat_first_answered_at_us.map(since_start);
    let last_answer = stats.chat_last_answered_at_us.map(since_start);
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
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
        #[expect(clippy::cast_precision_loss, reason = "a share")]
        steal: ticks_before
            .zip(cpu_ticks())
            .and_then(|((s0, t0), (s1, t1))| {
                (t1 > t0).then(|| (s1 - s0) as f64 / (t1 - t0) as f64)
            }),
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
    let repeat: usize = arg(&args, "--repeat", "5").parse().unwrap();
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
    // One run of a few seconds on a shared two-core machine varies by a few percent from one
    // try to the next; the figures below are those of the median of `repeat` runs.
    let mut runs: Vec<Measured> = (0..repeat.max(1))
        .map(|_| measure(&bin_dir, root, (&base_url, &port), rows, concurrency))
        .collect();
    runs.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let ratios: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{:.1}%",
                rows as f64 / r.wall / (concurrency as f64 * 1000.0 / latency_ms as f64) * 100.0
            )
        })
        .collect();
    let big = runs.swap_remove(runs.len() / 2);
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
    println!(
        "  runs:          {} (figures below: the median run; every run, fastest first: {})",
        ratios.len(),
        ratios.join(", ")
    );
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
    if let Some(steal) = big.steal {
        println!(
            "  cpu steal:     {:.1}% of the machine's CPU time went to other guests during the median run (figures are only comparable at a low steal)",
            steal * 100.0
        );
    }
    println!("  {}", big.detail);
}
