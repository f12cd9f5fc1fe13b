//! `make bench-analysis`: `errors` + `patterns` in one pass over a generated m02 results CSV of
//! `--rows` rows (default 1,000,000): wall time, rows/s and peak memory (not a test: it
//! measures, it asserts nothing).
//!
//! Rows look like a real run: a 2–6 word keyword from a 300-word vocabulary, 8 brand entities,
//! 500 products over 40 product types, a confidence, a one-sentence reasoning; about 12% wrong
//! and 1% errored. Peak memory is the process's high-water mark (`VmHWM`), reset after the CSV
//! is written, so it is the analysis alone; run with 100,000 and 1,000,000 rows to see that it
//! does not grow with rows.

use std::path::Path;
use std::time::Instant;

use analysis::{RunRef, Wanted};
use core_config::results::ResultsWriter;
use core_config::{Catalog, ResultRow};
use serde_json::json;

fn status_kib(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds (user + system) this process has used: on a shared machine the wall time
/// depends on the other processes, this does not.
#[expect(clippy::cast_precision_loss, reason = "report")]
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[expect(clippy::cast_precision_loss, reason = "report")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows: u64 = 1_000_000;
    let mut threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rows" {
            rows = args.next().ok_or("--rows needs a number")?.parse()?;
        } else if arg == "--threads" {
            threads = args.next().ok_or("--threads needs a number")?.parse()?;
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let catalog = Catalog::load(&repo.join("modules.toml"))?;
    let module = catalog.resolve("m02")?;
    let dir = tempfile::tempdir()?;
    let csv = dir
        .path()
        .join("experiment_results/M02_ClassifyOwnBrandKeywords/M02_bench.csv");
    let vocabulary: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
    let mut rng = Lcg(42);
    let start = Instant::now();
    let mut writer = ResultsWriter::create(&csv, module)?;
    for i in 0..rows {
        let words = 2 + rng.below(5);
        let mut keyword: Vec<&str> = (0..words)
            .map(|_| vocabulary[rng.below(300) as usize].as_str())
            .collect();
        let branded = rng.below(5) == 0;
        if branded {
            keyword.insert(0, "owala");
        }
        let keyword = keyword.join(" ");
        let product = rng.below(500);
        let expected = if branded { json!("OB") } else { json!(null) };
        let wrong = rng.below(100) < 12;
        let errored = rng.below(100) == 0;
        let answer = match (wrong, branded) {
            (false, _) => expected.clone(),
            (true, true) => json!(null),
            (true, false) => json!("OB"),
        };
        let confidence = if wrong { 0.6 } else { 0.9 } + rng.below(10) as f64 / 100.0;
        let row = ResultRow {
            record_id: format!("M02_B{product:09}__{keyword}_{i}"),
            input: json!({"keyword": keyword, "brand_entities": ["Owala", "owala", "Owla", "Owalla", "FreeSip", "Free Sip", "Owala FreeSip", "Owala Co"]}),
            output: if errored {
                json!({"error": "timed out", "error_type": "timeout"})
            } else {
                json!({"branding_scope_1": answer, "confidence": confidence, "reasoning": "The keyword names the brand or does not; this is the model's one-sentence reason."})
            },
            expected: json!({ "branding_scope_1": expected }),
            asin: format!("B{product:09}"),
            brand: "Owala".to_owned(),
            keyword,
            reasoning:
                "The keyword names the brand or does not; this is the model's one-sentence reason."
                    .to_owned(),
            metrics: json!({"prompt_tokens": 420, "completion_tokens": 40, "estimated_cost": 0.000_087}),
            metadata: json!({"asin": format!("B{product:09}"), "brand_name": "Owala", "product_type": format!("TYPE_{}", product % 40)}),
            correct: (!errored).then_some(!wrong),
            error: if errored {
                "timeout: timed out".to_owned()
            } else {
                String::new()
            },
            extra: std::collections::BTreeMap::new(),
        };
        writer.write(&row)?;
    }
    writer.finish()?;
    let bytes = std::fs::metadata(&csv)?.len();
    println!(
        "rows:           {rows} ({:.1} MB CSV, written in {:.1} s)",
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    let run = RunRef {
        name: "bench".to_owned(),
        id: None,
        csv,
        module: "m02".to_owned(),
        model: None,
        prompt_version: None,
        created_at: None,
        cost_usd: None,
    };
    // Forget the generation's memory: only the analysis is measured.
    // The quote-aware cutting alone (the analysis does it again, first).
    let cut = Instant::now();
    let parts = core_config::results::split_records(&run.csv, b',', threads)?;
    println!(
        "cutting:        {:.3} s alone ({} parts of whole records; in the analysis a thread of its own does it while the first part is read)",
        cut.elapsed().as_secs_f64(),
        parts.len()
    );
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmHWM:");
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let made = analysis::analyze_run_on(
        dir.path(),
        &run,
        module,
        Wanted {
            errors: true,
            patterns: true,
        },
        &mut (),
        threads,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let peak = status_kib("VmHWM:");
    let errors = made.errors.ok_or("no errors report")?;
    let patterns = made.patterns.ok_or("no patterns report")?;
    println!(
        "analysis time:  {seconds:.2} s (errors + patterns, one pass on {threads} thread{})",
        if threads == 1 { "" } else { "s" }
    );
    if let Some(cpu) = cpu {
        println!("cpu time:       {cpu:.2} s (user + system, this process)");
    }
    println!("rows/s:         {:.0}", rows as f64 / seconds);
    println!(
        "found:          {} wrong, {} errored, {} slices tested",
        errors.error_count,
        errors.errored,
        patterns.slices.len()
    );
    match (before, peak) {
        (Some(b), Some(p)) => println!(
            "peak memory:    {:.1} MiB (VmHWM during the analysis; {:.1} MiB before it)",
            p as f64 / 1024.0,
            b as f64 / 1024.0
        ),
        _ => println!("peak memory:    unavailable (no /proc/self/status)"),
    }
    Ok(())
}
