//! Feeds generated (annotator A, annotator B, LLM) labels through the full agreement analysis
//! and reports wall time and peak memory.
//!
//! `cargo run --release -p agreement --example bench_agreement [-- ROWS [REPLICATES]]`
//! (default 1,000,000 rows and 1000 bootstrap replicates; `make bench-agreement-core`).

use std::fmt::Write as _;
use std::time::Instant;

use agreement::{AgreementAccumulator, AnalysisOptions, Categories};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

const LABELS: [&str; 4] = ["R", "S", "C", "N"];

/// Picks a label with the field's skewed prevalence (N dominates, as in relevance data).
fn prevalent(draw: u64) -> usize {
    match draw % 100 {
        0..15 => 0,
        15..25 => 1,
        25..35 => 2,
        _ => 3,
    }
}

/// Copies `label` with probability `keep`%, otherwise picks uniformly.
fn noisy(rng: &mut ChaCha8Rng, label: usize, keep: u64) -> usize {
    let draw = rng.next_u64();
    if draw % 100 < keep {
        label
    } else {
        usize::try_from((draw >> 32) % 4).unwrap_or(0)
    }
}

/// Generated rows: (annotator A, annotator B, LLM), about 2% of annotator cells empty.
struct Rows {
    rng: ChaCha8Rng,
    left: u64,
}

impl Rows {
    fn new(rows: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(2026),
            left: rows,
        }
    }
}

impl Iterator for Rows {
    type Item = (Option<&'static str>, Option<&'static str>, &'static str);

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let rng = &mut self.rng;
        let truth = prevalent(rng.next_u64());
        let a = noisy(rng, truth, 90);
        let b = noisy(rng, truth, 85);
        let llm = noisy(rng, truth, 80);
        let a = (rng.next_u64() % 100 >= 2).then_some(LABELS[a]);
        let b = (rng.next_u64() % 100 >= 2).then_some(LABELS[b]);
        Some((a, b, LABELS[llm]))
    }
}

fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let replicates: u32 = args.next().map_or(Ok(1000), |a| a.parse())?;

    // The same rows twice: once only generated, once generated and streamed, so the cost of
    // streaming can be told apart from the cost of making up the data.
    let generate_start = Instant::now();
    let mut checksum = 0_usize;
    for row in Rows::new(rows) {
        checksum += row.0.map_or(0, str::len) + row.1.map_or(0, str::len) + row.2.len();
    }
    std::hint::black_box(checksum);
    let generated = generate_start.elapsed();

    let start = Instant::now();
    let mut field = AgreementAccumulator::new(Categories::new(LABELS)?);
    for (a, b, llm) in Rows::new(rows) {
        field.push_with_llm(a, b, Some(llm))?;
    }
    let streamed = start.elapsed();

    let analysis_start = Instant::now();
    let options = AnalysisOptions {
        ordered: true,
        bootstrap_replicates: replicates,
        ..AnalysisOptions::default()
    };
    let report = field.report(&options);
    let analysis = analysis_start.elapsed();
    let total = start.elapsed();

    let fmt = |v: &agreement::Value| {
        v.as_ref()
            .map_or_else(|e| format!("undefined ({e})"), |x| format!("{x:.4}"))
    };
    let interval = |v: &Result<[f64; 2], agreement::Undefined>| {
        v.as_ref().map_or_else(
            |e| format!("undefined ({e})"),
            |[lo, hi]| format!("[{lo:.4}, {hi:.4}]"),
        )
    };
    let mut out = String::new();
    writeln!(out, "agreement core benchmark")?;
    writeln!(
        out,
        "  rows:                 {} ({} annotated by both), labels R/S/C/N, LLM labels on every row",
        report.total_rows, report.annotated_rows
    )?;
    writeln!(
        out,
        "  generate only:        {:.3} s (made-up labels, not part of the analysis)",
        generated.as_secs_f64()
    )?;
    writeln!(
        out,
        "  generate + stream:    {:.3} s (streaming alone about {:.3} s)",
        streamed.as_secs_f64(),
        (streamed.as_secs_f64() - generated.as_secs_f64()).max(0.0)
    )?;
    writeln!(
        out,
        "  analysis:             {:.3} s (all coefficients, {replicates} bootstrap replicates)",
        analysis.as_secs_f64()
    )?;
    writeln!(
        out,
        "  total wall time:      {:.3} s (generate + stream + analysis)",
        total.as_secs_f64()
    )?;
    match peak_memory_kib() {
        Some(kib) => writeln!(
            out,
            "  peak memory (VmHWM):  {:.1} MiB",
            kib as f64 / 1024.0
        )?,
        None => writeln!(
            out,
            "  peak memory (VmHWM):  unavailable (no /proc/self/status)"
        )?,
    }
    writeln!(out, "  cohen_kappa:          {}", fmt(&report.cohen_kappa))?;
    writeln!(
        out,
        "  kappa_ci95:           {}",
        interval(&report.kappa_ci95)
    )?;
    writeln!(
        out,
        "  kappa_bootstrap_ci95: {} (seed {}, {} undefined replicates)",
        interval(&report.kappa_bootstrap_ci95),
        report.bootstrap.seed,
        report.bootstrap.undefined_replicates
    )?;
    writeln!(out, "  gwet_ac1:             {}", fmt(&report.gwet_ac1))?;
    writeln!(
        out,
        "  krippendorff_alpha:   {}",
        fmt(&report.krippendorff_alpha)
    )?;
    writeln!(
        out,
        "  weighted (lin/quad):  {} / {}",
        fmt(&report.weighted_kappa_linear),
        fmt(&report.weighted_kappa_quadratic)
    )?;
    if let Some(llm) = &report.llm_agreement {
        writeln!(
            out,
            "  LLM kappa vs A / B / consensus: {} / {} / {}",
            fmt(&llm.vs_a.cohen_kappa),
            fmt(&llm.vs_b.cohen_kappa),
            fmt(&llm.vs_consensus.cohen_kappa)
        )?;
    }
    // One write, so piping into `head` does not hit a closed pipe half-way.
    print!("{out}");
    Ok(())
}
