//! Throughput and CPU cost of the client against the simulator (run by `make bench-client`).
//!
//! Starts `api-sim` as a separate process (so its CPU time is not counted as the client's),
//! keeps `--concurrency` requests in flight against a fixed `--latency`, and reports requests
//! per second as a share of the ideal (concurrency ÷ latency) and the client's CPU time per
//! request (user + system time of this process, from /proc/self/stat).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use core_config::{OpenAiSettings, Provider, ResponseSchema, Secret, TokenParam};
use futures::StreamExt;
use llm_client::{
    CacheMode, CallOptions, ChatRequest, Client, Message, PacingConfig, ResponseFormat,
    parse_duration,
};
use serde_json::json;

struct Args {
    sim: String,
    url: Option<String>,
    threads: usize,
    requests: usize,
    concurrency: usize,
    latency: Duration,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        sim: "target/release/api-sim".to_owned(),
        threads: 0,
        url: None,
        requests: 5000,
        concurrency: 64,
        latency: Duration::from_millis(50),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sim" => out.sim = value,
            "--url" => out.url = Some(value),
            "--threads" => out.threads = value.parse().map_err(|_| "--threads: a number")?,
            "--requests" => out.requests = value.parse().map_err(|_| "--requests: a number")?,
            "--concurrency" => {
                out.concurrency = value.parse().map_err(|_| "--concurrency: a number")?;
            }
            "--latency" => out.latency = parse_duration(&value).ok_or("--latency: a duration")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(out)
}

/// User and system CPU time of this process so far.
fn cpu_time() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) in clock ticks; Linux reports them at
    // USER_HZ = 100 whatever the kernel's tick rate.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        Duration::from_millis(ticks(11) * 10),
        Duration::from_millis(ticks(12) * 10),
    )
}

fn request(i: usize, schema: &ResponseSchema) -> ChatRequest {
    ChatRequest::new(
        "gpt-4o-mini",
        vec![
            Message::system("You classify Amazon search keywords for a PPC campaign."),
            Message::user(format!(
                "Keyword: stainless steel water bottle {i}\nProduct: Insulated bottle, 32 oz, leak-proof lid.\nIs the keyword relevant?"
            )),
        ],
    )
    .temperature(0.0)
    .max_tokens(200)
    .response_format(ResponseFormat::JsonSchema(schema.clone().into()))
}

async fn run(
    client: &Client,
    range: std::ops::Range<usize>,
    concurrency: usize,
    schema: &ResponseSchema,
) -> usize {
    let options = CallOptions {
        cache: CacheMode::Off,
        ..CallOptions::default()
    };
    futures::stream::iter(range)
        .map(|i| {
            let request = request(i, schema);
            let options = &options;
            async move { client.chat(&request, options).await }
        })
        .buffer_unordered(concurrency)
        .filter(|r| std::future::ready(r.as_ref().is_ok_and(|r| r.outcome.value().is_some())))
        .count()
        .await
}

fn main() -> Result<(), String> {
    let args = args()?;
    // A simulator started elsewhere (`--url`) lets a profiler watch this process alone.
    let mut sim = None;
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let mut child = Command::new(&args.sim)
                .args([
                    "--port",
                    "0",
                    "--quiet",
                    "--exit-after",
                    "10m",
                    "--latency",
                    &format!("{}ms", args.latency.as_millis()),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e} (build it with `cargo build --release -p kw-cli --bin api-sim`)", args.sim))?;
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?)
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            sim = Some(child);
            line.trim()
                .strip_prefix("api-sim listening on ")
                .ok_or(format!("unexpected first line {line:?}"))?
                .to_owned()
        }
    };

    let schema = ResponseSchema::from_value(
        json!({"name": "keyword_relevance", "strict": true, "schema": {
            "type": "object", "additionalProperties": false,
            "required": ["relevancy", "confidence", "reasoning"],
            "properties": {
                "relevancy": {"type": "string", "enum": ["R", "S", "C", "N"]},
                "confidence": {"type": "number"},
                "reasoning": {"type": "string"}}}}),
        "x",
    )?;
    let settings = OpenAiSettings {
        provider: Provider::OpenAi,
        base_url: format!("{url}/v1"),
        api_key: Some(Secret::new("sk-bench")),
        organization: None,
        project: None,
        api_version: None,
        token_param: TokenParam::MaxCompletionTokens,
    };
    let client = Client::builder(settings)
        .pacing(PacingConfig {
            max_concurrency: args.concurrency,
            ..PacingConfig::default()
        })
        .build()
        .map_err(|e| e.to_string())?;
    // 0 threads: tokio's default multi-threaded runtime (one worker per core); 1: a
    // single-threaded runtime, which is plenty for I/O-bound calls and skips cross-thread
    // wake-ups.
    let runtime = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        0 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .map_err(|e| e.to_string())?;

    let warmup = args.concurrency * 4;
    let (concurrency, requests) = (args.concurrency, args.requests);
    let driver = client.clone();
    // The whole load runs on the runtime's workers, as a runner's tasks would.
    let measured = runtime.spawn(async move {
        run(&driver, 0..warmup, concurrency, &schema).await;
        let cpu_before = cpu_time();
        let started = Instant::now();
        let ok = run(&driver, warmup..warmup + requests, concurrency, &schema).await;
        let cpu_after = cpu_time();
        (
            ok,
            started.elapsed(),
            (
                cpu_after.0.saturating_sub(cpu_before.0),
                cpu_after.1.saturating_sub(cpu_before.1),
            ),
        )
    });
    let (ok, wall, (user, system)) = runtime.block_on(measured).map_err(|e| e.to_string())?;
    let cpu = user + system;
    if let Some(mut sim) = sim {
        let _ = sim.kill();
        let _ = sim.wait();
    }

    let rate = args.requests as f64 / wall.as_secs_f64();
    let ideal = args.concurrency as f64 / args.latency.as_secs_f64();
    let cpu_us = cpu.as_secs_f64() * 1e6 / args.requests as f64;
    let totals = client.totals();
    let runtime_name = match args.threads {
        0 => "multi-threaded runtime".to_owned(),
        1 => "single-threaded runtime".to_owned(),
        n => format!("{n}-thread runtime"),
    };
    println!(
        "bench-client: {} requests, concurrency {}, simulator latency {} ms, {runtime_name}",
        args.requests,
        args.concurrency,
        args.latency.as_millis()
    );
    println!(
        "  answered        {ok} usable of {} ({} retries)",
        args.requests, totals.retries
    );
    println!("  wall time       {:.2} s", wall.as_secs_f64());
    println!(
        "  throughput      {rate:.0} requests/s = {:.1}% of ideal {ideal:.0}/s (target >= 90%)",
        100.0 * rate / ideal
    );
    println!(
        "  client CPU      {cpu_us:.0} us per request ({:.2} s user + {:.2} s system; target < 100 us)",
        user.as_secs_f64(),
        system.as_secs_f64()
    );
    if ok != args.requests {
        return Err(format!(
            "{} requests did not get a usable answer",
            args.requests - ok
        ));
    }
    Ok(())
}
