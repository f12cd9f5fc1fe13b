//! Benchmark: a registry of 100,000 runs, and how long `experiment-registry list --module` and
//! `experiment-registry stats` take on it (target: under 300 ms each).
//!
//! ```text
//! make bench-registry
//! # or by hand:
//! cargo build --release -p kw-cli --bin experiment-registry
//! cargo run --release -p registry --example bench_registry -- --bin target/release/experiment-registry
//! ```
//!
//! Options: `--entries N` (default 100000), `--repeat N` timed runs per command (default 10),
//! `--bin PATH` the binary to time (without it only the library calls are timed), `--dir PATH`
//! build the project there and keep it (default: a temporary directory, removed afterwards).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeDelta};
use core_config::ModuleId;
use registry::{Filter, NewRun, Overview, Registry, RegistryFile};
use serde_json::json;

const MODULES: [&str; 22] = [
    "m01", "m01a", "m01b", "m02", "m02b", "m03", "m04", "m04b", "m05", "m05b", "m06", "m07", "m08",
    "m09", "m10", "m11", "m12", "m12b", "m13", "m14", "m15", "m16",
];
const TARGET: Duration = Duration::from_millis(300);

struct Args {
    entries: usize,
    repeat: usize,
    bin: Option<PathBuf>,
    dir: Option<PathBuf>,
}

fn args() -> Args {
    let mut out = Args {
        entries: 100_000,
        repeat: 10,
        bin: None,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--entries" => out.entries = value.parse().expect("--entries N"),
            "--repeat" => out.repeat = value.parse().expect("--repeat N"),
            "--bin" => out.bin = Some(PathBuf::from(value)),
            "--dir" => out.dir = Some(PathBuf::from(value)),
            other => panic!("unknown option {other}"),
        }
    }
    out
}

/// A registry shaped like a busy team's: every module, a metrics object per run, most runs
/// local, some uploaded (with Braintrust ids and URLs), a few failed.
fn build(root: &Path, entries: usize) -> Registry {
    let mut registry = Registry::new();
    let start = NaiveDate::from_ymd_opt(2025, 6, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap();
    for i in 0..entries {
        let module = ModuleId::parse(MODULES[i % MODULES.len()]).unwrap();
        let at = start + TimeDelta::seconds(i64::try_from(i).unwrap() * 37);
        let samples = 100 + (i % 900) as u64;
        let correct = samples * (60 + (i % 37) as u64) / 100;
        let accuracy = correct as f64 / samples as f64;
        let folder = format!("{}_Module", module.upper());
        let run = NewRun {
            created_at: Some(at),
            model: if i % 5 == 0 { "gpt-4o" } else { "gpt-4o-mini" }.into(),
            prompt_version: format!("v{}", 1 + i % 3),
            prompt_hash: Some(format!("{:08x}", i * 2_654_435_761 % 0xffff_ffff)),
            samples,
            accuracy: Some(accuracy),
            metrics: json!({
                "total": samples,
                "correct": correct,
                "errors": i % 3,
                "accuracy": accuracy,
                "error_rate": (i % 3) as f64 / samples as f64,
                "prompt_tokens": samples * 1500,
                "completion_tokens": samples * 45,
                "estimated_cost": samples as f64 * 0.000_25,
            }),
            ..NewRun::new(
                module,
                root.join(format!(
                    "experiment_results/{folder}/{folder}_v1_{:06}_1.csv",
                    i % 1_000_000
                )),
            )
        };
        let id = registry.add_run(run, root).local_id.clone();
        match i % 20 {
            0..=4 => {
                let bt = format!("root_{id}");
                registry
                    .mark_uploaded(
                        &id,
                        &bt,
                        &format!("https://www.braintrust.dev/app/Keyword-Classification-Pipeline-V1.1/experiments/{bt}"),
                        at + TimeDelta::minutes(5),
                    )
                    .unwrap();
            }
            5 => {
                registry
                    .mark_failed(&id, "Braintrust answered HTTP 503 (service unavailable)")
                    .unwrap();
            }
            _ => {}
        }
    }
    registry
}

fn time<T>(repeat: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..repeat)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn report(what: &str, times: &[Duration], target: Option<Duration>) {
    let median = times[times.len() / 2];
    let verdict = target.map_or(String::new(), |t| {
        if median < t {
            format!("  (target < {} ms: met)", t.as_millis())
        } else {
            format!("  (target < {} ms: MISSED)", t.as_millis())
        }
    });
    println!(
        "  {what:<40} min {:>7.1} ms  median {:>7.1} ms  max {:>7.1} ms{verdict}",
        ms(times[0]),
        ms(median),
        ms(times[times.len() - 1]),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args = args();
    let temp = tempfile::tempdir().unwrap();
    let root = args.dir.as_deref().unwrap_or(temp.path());
    std::fs::create_dir_all(root).unwrap();
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml");
    std::fs::copy(&catalog, root.join("modules.toml")).expect("copy modules.toml");

    let registry = build(root, args.entries);
    let file = RegistryFile::in_project(root);
    // Written the way every toolkit writer writes it: under the lock, with its summary index.
    let started = Instant::now();
    file.update(|r| {
        *r = registry;
        Ok::<_, registry::Error>(())
    })
    .unwrap();
    let write_time = started.elapsed();
    let size = std::fs::metadata(file.path()).unwrap().len();
    println!(
        "registry: {} runs, {:.1} MB ({})",
        args.entries,
        size as f64 / 1e6,
        file.path().display()
    );
    println!("  written under the lock in {:.0} ms", ms(write_time));
    let index = file.path().with_file_name(".registry.json.summary");
    let index_copy = index.with_extension("summary.kept");

    println!("library ({} runs each):", args.repeat);
    let m12 = ModuleId::parse("m12").unwrap();
    report(
        "read the file",
        &time(args.repeat, || std::fs::read(file.path()).unwrap().len()),
        None,
    );
    report(
        "overview from the summary index",
        &time(args.repeat, || {
            let overview = file.overview().unwrap();
            let n = overview.len();
            // A command that exits right after printing need not free it.
            std::mem::forget(overview);
            n
        }),
        None,
    );
    report(
        "overview without it (read + fast parse)",
        &time(args.repeat, || {
            let bytes = std::fs::read(file.path()).unwrap();
            let overview = Overview::parse(bytes, file.path()).unwrap();
            let n = overview.len();
            std::mem::forget(overview);
            n
        }),
        None,
    );
    report(
        "load (read + full parse)",
        &time(args.repeat, || file.load().unwrap().len()),
        None,
    );
    let loaded = file.load().unwrap();
    report(
        "list --module m12 (in memory)",
        &time(args.repeat, || {
            loaded.list(&Filter::module(m12.clone())).len()
        }),
        None,
    );
    report(
        "stats (in memory)",
        &time(args.repeat, || loaded.stats().total),
        None,
    );

    let Some(bin) = args.bin else {
        println!("(pass --bin target/release/experiment-registry to time the binary)");
        return;
    };
    println!("binary {} ({} runs each):", bin.display(), args.repeat);
    for (with_index, label) in [
        (
            true,
            "with the summary index (registry written by the toolkit)",
        ),
        (
            false,
            "without it (registry last written by another program)",
        ),
    ] {
        if with_index {
            std::fs::copy(&index, &index_copy).unwrap();
        } else {
            std::fs::remove_file(&index).unwrap();
        }
        println!("  {label}:");
        time_binary(&bin, root, args.repeat);
    }
    std::fs::rename(&index_copy, &index).unwrap();
}

fn time_binary(bin: &Path, root: &Path, repeat: usize) {
    for command in [&["list", "--module", "m12"][..], &["stats"]] {
        let run = || {
            let status = Command::new(bin)
                .arg("--root")
                .arg(root)
                .args(command)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .status()
                .expect("the binary runs");
            assert!(status.success(), "{command:?} failed");
        };
        run();
        report(
            &format!("experiment-registry {}", command.join(" ")),
            &time(repeat, run),
            Some(TARGET),
        );
    }
}
