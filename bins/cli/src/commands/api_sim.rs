//! `api-sim`: the local OpenAI and Braintrust API simulator, for tests, demos and benchmarks.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use api_sim::{SimConfig, Simulator};
use clap::Parser;
use llm_client::{format_duration, parse_duration};

use crate::common::{ExitStatus, GlobalArgs, percent_setting as percent, run_cli, runtime};

/// A local stand-in for the OpenAI API (chat completions, files, batches) and the Braintrust
/// REST API (projects, experiments, datasets, prompts, event insert and fetch) on 127.0.0.1.
///
/// Answers are synthetic and deterministic (the same request always gets the same answer), fit
/// the request's JSON schema, and come from a model whose name starts with `sim-`. Streaming is
/// not simulated (`"stream": true` gets a 400). With
/// `--answer-key` the simulator recognises which dataset record a prompt was rendered from and
/// answers with that record's expected labels, wrong at `--wrong-rate`.
///
/// The first line on stdout is `api-sim listening on http://127.0.0.1:PORT`; point clients at
/// `OPENAI_BASE_URL=http://127.0.0.1:PORT/v1`. `GET /_sim/stats` counts requests by endpoint and
/// status, and chat requests per recognised record. Braintrust clients use
/// `BRAINTRUST_API_URL=http://127.0.0.1:PORT` with any bearer key; `GET /_sim/braintrust` shows
/// what they stored.
#[derive(Debug, Parser)]
#[command(name = "api-sim", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,

    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,

    /// Stop on its own after this long, so a forgotten simulator never lingers.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = duration)]
    exit_after: Duration,

    /// Delay before each chat answer, e.g. 50ms.
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = duration)]
    latency: Duration,

    /// Requests per minute before answering 429 (with x-ratelimit-* and retry-after headers).
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,

    /// Tokens per minute before answering 429 (a request counts its message characters ÷ 4
    /// plus its completion cap, as OpenAI's limiter estimates).
    #[arg(long, value_name = "N")]
    tpm: Option<u64>,

    /// How much of the per-minute budget may be spent at once, as time.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    burst: Duration,

    /// Share of chat requests answered 500 (0..1 or a percentage such as 5%).
    #[arg(long, value_name = "SHARE", default_value = "0", value_parser = share)]
    error_rate: f64,

    /// Share answered 503 "engine overloaded".
    #[arg(long, value_name = "SHARE", default_value = "0", value_parser = share)]
    overload_rate: f64,

    /// Share answered 503 "Slow Down" (clients should lower their rate).
    #[arg(long, value_name = "SHARE", default_value = "0", value_parser = share)]
    slow_down_rate: f64,

    /// Share of JSON answers cut in half (invalid JSON).
    #[arg(long, value_name = "SHARE", default_value = "0", value_parser = share)]
    invalid_json_rate: f64,

    /// Answer this many chat requests, then 429 insufficient_quota for every one after (0: out
    /// of quota from the start).
    #[arg(long, value_name = "N")]
    quota_after: Option<u64>,

    /// Answer with the expected labels of the project's datasets (the project is found from
    /// --root or the current directory).
    #[arg(long)]
    answer_key: bool,

    /// In answer-key mode, the share of records answered wrongly (chosen per record from the
    /// seed, so reruns agree).
    #[arg(long, value_name = "SHARE", default_value = "0", value_parser = share)]
    wrong_rate: f64,

    /// With --answer-key, a test double for prompt optimization: each record of a module with
    /// rules (m12, m02) is answered wrongly with a seeded probability that falls when the prompt
    /// states the rule of its label or holds a demo of its label, and proposer requests get
    /// deterministic candidate instructions (see `docs/optimize.md`).
    #[arg(long, requires = "answer_key")]
    prompt_sensitive: bool,
    /// Share of judge verdicts flipped. Judge requests (`analyze-results judge`) are answered
    /// by whether the judged answer matches the record's expected answer; this adds noise.
    #[arg(long, value_name = "SHARE", default_value = "0", value_parser = share)]
    judge_noise: f64,

    /// Seed of every random choice (faults, wrong answers, output shuffling).
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Time a batch takes from creation to completed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    batch_duration: Duration,

    /// Batches still unfinished this long after creation expire with partial results.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    batch_expire_after: Option<Duration>,

    /// Share of Braintrust event inserts answered 500; half of them store the rows first (an
    /// answer lost after the write).
    #[arg(long, value_name = "SHARE", default_value = "0", value_parser = share)]
    bt_insert_error_rate: f64,

    /// Answer this many Braintrust inserts, then 500 every one after without storing it
    /// (`POST /_sim/braintrust/faults` changes this while running).
    #[arg(long, value_name = "N")]
    bt_insert_fail_after: Option<u64>,

    /// Accept only this Braintrust API key (any non-empty key otherwise).
    #[arg(long, value_name = "KEY")]
    bt_api_key: Option<String>,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration (write e.g. 50ms, 2s, 30m, 1h)"))
}

fn share(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let value = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    }
    .map_err(|_| format!("`{text}` is not a share (write e.g. 0.05 or 5%)"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("`{text}` is outside 0..1 (0%..100%)"))
    }
}

/// Entry point of the `api-sim` binary.
#[must_use]
pub fn main() -> ExitCode {
    run_cli(run)
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let answer_key = if cli.answer_key {
        Some(cli.global.project()?.paths.root)
    } else {
        None
    };
    let config = SimConfig {
        latency: cli.latency,
        rpm: cli.rpm,
        tpm: cli.tpm,
        burst: cli.burst,
        error_rate: cli.error_rate,
        overload_rate: cli.overload_rate,
        slow_down_rate: cli.slow_down_rate,
        invalid_json_rate: cli.invalid_json_rate,
        quota_after: cli.quota_after,
        answer_key,
        wrong_rate: cli.wrong_rate,
        prompt_sensitive: cli.prompt_sensitive,
        judge_noise: cli.judge_noise,
        seed: cli.seed,
        batch_duration: cli.batch_duration,
        batch_expire_after: cli.batch_expire_after,
        braintrust_insert_error_rate: cli.bt_insert_error_rate,
        braintrust_insert_fail_after: cli.bt_insert_fail_after,
        braintrust_api_key: cli.bt_api_key.clone(),
        ..SimConfig::default()
    };
    let simulator = Simulator::new(config.clone())?;
    let runtime = runtime()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cli.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", cli.port))?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "api-sim listening on http://{addr}")?;
            out.flush()?;
        }
        if !cli.global.quiet {
            banner(&simulator, &config, addr, cli.exit_after)?;
        }
        let exit_after = cli.exit_after;
        let quiet = cli.global.quiet;
        let stop = async move {
            tokio::select! {
                () = tokio::time::sleep(exit_after) => {
                    if !quiet {
                        let _ = writeln!(
                            std::io::stderr(),
                            "api-sim: stopping after {} (--exit-after)",
                            format_duration(exit_after)
                        );
                    }
                }
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        api_sim::serve(simulator, listener, stop)
            .await
            .context("the server failed")?;
        Ok(ExitStatus::Success)
    })
}

fn banner(
    simulator: &Simulator,
    config: &SimConfig,
    addr: std::net::SocketAddr,
    exit_after: Duration,
) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "api-sim: a simulator, not OpenAI: answers are synthetic and every model name starts with `{}`",
        api_sim::MODEL_PREFIX
    )?;
    writeln!(err, "api-sim: clients use OPENAI_BASE_URL=http://{addr}/v1")?;
    writeln!(
        err,
        "api-sim: Braintrust clients use BRAINTRUST_API_URL=http://{addr}"
    )?;
    if let Some((modules, records)) = simulator.answer_key_size() {
        writeln!(
            err,
            "api-sim: answer key: {modules} modules, {records} records, {} answered wrongly (seed {})",
            percent(config.wrong_rate),
            config.seed
        )?;
        for warning in simulator.warnings() {
            writeln!(err, "api-sim: warning: {warning}")?;
        }
    }
    let mut faults = Vec::new();
    if !config.latency.is_zero() {
        faults.push(format!("latency {}", format_duration(config.latency)));
    }
    if let Some(rpm) = config.rpm {
        faults.push(format!("{rpm} requests/min"));
    }
    if let Some(tpm) = config.tpm {
        faults.push(format!("{tpm} tokens/min"));
    }
    for (name, share) in [
        ("500s", config.error_rate),
        ("503 overloaded", config.overload_rate),
        ("503 slow down", config.slow_down_rate),
        ("invalid JSON", config.invalid_json_rate),
        (
            "Braintrust insert 500s",
            config.braintrust_insert_error_rate,
        ),
    ] {
        if share > 0.0 {
            faults.push(format!("{name} {}", percent(share)));
        }
    }
    if let Some(n) = config.quota_after {
        faults.push(format!("quota runs out after {n} answers"));
    }
    if let Some(n) = config.braintrust_insert_fail_after {
        faults.push(format!("Braintrust inserts fail after {n}"));
    }
    if faults.is_empty() {
        faults.push("none".to_owned());
    }
    writeln!(err, "api-sim: faults: {}", faults.join(", "))?;
    writeln!(
        err,
        "api-sim: batches take {}; stats at http://{addr}/_sim/stats; stops after {} (Ctrl-C sooner)",
        format_duration(config.batch_duration),
        format_duration(exit_after)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_accept_fractions_and_percentages() {
        assert_eq!(share("0.05"), Ok(0.05));
        assert_eq!(share("5%"), Ok(0.05));
        assert!(share("150%").unwrap_err().contains("outside 0..1"));
        assert!(share("lots").unwrap_err().contains("not a share"));
    }

    #[test]
    fn durations_name_the_format() {
        assert_eq!(duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(duration("30m"), Ok(Duration::from_secs(1800)));
        assert!(duration("soon").unwrap_err().contains("50ms, 2s"));
    }
}
