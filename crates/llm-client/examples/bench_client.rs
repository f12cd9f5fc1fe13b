//! Throughput and CPU cost of the client against the simulator (run by `make bench-client`).
//!
//! Starts `api-sim` as a separate process (so its CPU time is not counted as the client's),
//! keeps `--concurrency` requests in flight against a fixed `--latency`, and reports requests
//! per second as a share of the ideal (concurrency ÷ latency) and the client's CPU time per
//! request (user + system time of this process, from /proc/self/stat).
//!
//! With `--rpm` or `--tpm` the simulator enforces that limit instead, the run starts cold (no
//! warm-up: the start is what is measured) and the report gives the share of requests answered
//! 429 (target <= 1%) and the rate achieved as a share of the limit (target >= 95%).
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
    rpm: Option<u32>,
    tpm: Option<u64>,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        sim: "target/release/api-sim".to_owned(),
        threads: 0,
        url: None,
        requests: 5000,
        concurrency: 64,
        latency: Duration::from_millis(50),
        rpm: None,
        tpm: None,
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
            "--rpm" => out.rpm = Some(value.parse().map_err(|_| "--rpm: a number")?),
            "--tpm" => out.tpm = Some(value.parse().map_err(|_| "--tpm: a number")?),
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

/// What the simulator's token limit charges for a request: message characters ÷ 4 plus the
/// completion cap (the rule api-sim documents for `--tpm`).
fn charged_tokens(request: &ChatRequest) -> u64 {
    let chars: usize = request
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum();
    (chars as u64).div_ceil(4) + u64::from(request.max_tokens.unwrap_or(0))
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
            let mut sim_args = vec![
                "--port".to_owned(),
                "0".to_owned(),
                "--quiet".to_owned(),
                "--exit-after".to_owned(),
                "10m".to_owned(),
                "--latency".to_owned(),
                format!("{}ms", args.latency.as_millis()),
            ];
            if let Some(rpm) = args.rpm {
                sim_args.extend(["--rpm".to_owned(), rpm.to_string()]);
            }
            if let Some(tpm) = args.tpm {
                sim_args.extend(["--tpm".to_owned(), tpm.to_string()]);
            }
            let mut child = Command::new(&args.sim)
                .args(&sim_args)
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

    let limited = args.rpm.is_some() || args.tpm.is_some();
    // Under a rate limit the cold start is the point: no warm-up.
    let warmup = if limited { 0 } else { args.concurrency * 4 };
    let charged: u64 = (warmup..warmup + args.requests)
        .map(|i| charged_tokens(&request(i, &schema)))
        .sum();
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
    let stats_url = format!("{url}/_sim/stats");
    let stats: serde_json::Value = runtime
        .block_on(async { reqwest::get(&stats_url).await?.json().await })
        .map_err(|e| format!("{stats_url}: {e}"))?;
    let cpu = user + system;
    if let Some(mut sim) = sim {
        let _ = sim.kill();
        let _ = sim.wait();
    }

    let rate = args.requests as f64 / wall.as_secs_f64();
    let totals = client.totals();
    if limited {
        let chat = &stats["requests"]["POST /v1/chat/completions"];
        let count = |status: &str| chat[status].as_u64().unwrap_or(0);
        let sent: u64 = chat.as_object().map_or(0, |m| {
            m.values().filter_map(serde_json::Value::as_u64).sum()
        });
        let limit_text = match (args.rpm, args.tpm) {
            (Some(rpm), Some(tpm)) => format!("--rpm {rpm} --tpm {tpm}"),
            (Some(rpm), None) => format!("--rpm {rpm}"),
            (None, Some(tpm)) => format!("--tpm {tpm}"),
            (None, None) => String::new(),
        };
        println!(
            "bench-client: {} requests, concurrency {}, simulator {limit_text} (1 s burst), latency {} ms, cold start",
            args.requests,
            args.concurrency,
            args.latency.as_millis()
        );
        println!(
            "  answered        {ok} usable of {} ({} retries), wall time {:.2} s",
            args.requests,
            totals.retries,
            wall.as_secs_f64()
        );
        println!(
            "  429 answers     {} of {sent} requests sent = {:.2}% (target <= 1%)",
            count("429"),
            100.0 * count("429") as f64 / sent.max(1) as f64
        );
        let minutes = wall.as_secs_f64() / 60.0;
        if let Some(rpm) = args.rpm {
            println!(
                "  request rate    {:.0}/min = {:.1}% of the {rpm} RPM limit (target >= 95%)",
                args.requests as f64 / minutes,
                100.0 * args.requests as f64 / minutes / f64::from(rpm)
            );
        }
        if let Some(tpm) = args.tpm {
            println!(
                "  token rate      {:.0}/min = {:.1}% of the {tpm} TPM limit (target >= 95%)",
                charged as f64 / minutes,
                100.0 * charged as f64 / minutes / tpm as f64
            );
        }
    } else {
        let ideal = args.concurrency as f64 / args.latency.as_secs_f64();
        let cpu_us = cpu.as_secs_f64() * 1e6 / args.requests as f64;
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
    }
    if ok != args.requests {
        return Err(format!(
            "{} requests did not get a usable answer",
            args.requests - ok
        ));
    }
    Ok(())
}
