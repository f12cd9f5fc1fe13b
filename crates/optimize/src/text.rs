//! The optimizer's reports as text, for the binary to print.

use std::fmt::Write as _;

use crate::{DryRun, Outcome};

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// The dry run: split sizes, the most calls and the cost estimate against the caps.
#[must_use]
pub fn dry_run(d: &DryRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "optimize-prompt {} --method {} --preset {} (dry run: nothing sent)",
        d.module,
        d.method.name(),
        d.preset.name()
    );
    let _ = writeln!(
        out,
        "  splits     train {}, dev {}, test {}",
        d.train, d.dev, d.test
    );
    let _ = writeln!(
        out,
        "  calls      at most {} for the search + {} for the two test runs (cache hits are free); cap {}",
        d.search_calls, d.test_calls, d.max_calls
    );
    let _ = writeln!(
        out,
        "  cost       {} estimated; cap ${:.2}",
        d.cost.map_or_else(
            || "unknown (model not in prices.toml)".to_owned(),
            |c| format!("${c:.4}")
        ),
        d.max_cost
    );
    out
}

/// The finished optimization: dev scores, the new version, the test comparison and the spend.
#[must_use]
pub fn summary(o: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "optimize-prompt {} --method {} --preset {}: {} trials",
        o.module,
        o.method.name(),
        o.preset.name(),
        o.trials
    );
    let _ = writeln!(
        out,
        "  dev        {} -> {}{}",
        pct(Some(o.initial_dev_score)),
        pct(Some(o.final_dev_score)),
        if o.budget_exhausted {
            " (a cap ended the search)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  prompt     {} ({}; {} demos)",
        o.prompt_file,
        o.prompt_version,
        o.demos.len()
    );
    let _ = writeln!(
        out,
        "  test       {} -> {} ({} records: {} vs {})",
        pct(o.baseline_test_accuracy),
        pct(o.optimized_test_accuracy),
        o.splits.test,
        o.baseline_run,
        o.optimized_run
    );
    let ci = o.difference_ci.map_or_else(String::new, |(l, h)| {
        format!(", 95% CI [{:+.1}, {:+.1}] points", l * 100.0, h * 100.0)
    });
    let _ = writeln!(
        out,
        "  difference {}{ci}, McNemar exact p = {:.2e}",
        o.accuracy_difference
            .map_or_else(|| "-".to_owned(), |d| format!("{:+.1} points", d * 100.0)),
        o.mcnemar_p
    );
    let _ = writeln!(
        out,
        "  spent      {} calls ({} from cache), ${:.4} of caps {} calls / ${:.2}, {:.1}s",
        o.calls, o.cache_hits, o.cost, o.max_calls, o.max_cost, o.seconds
    );
    let _ = writeln!(
        out,
        "  artifacts  {}/optimized.json, trials.jsonl, train/dev/test.jsonl",
        o.folder
    );
    let _ = writeln!(
        out,
        "  rerun      orchestrator run {} --prompt-version {} --dataset {}",
        o.module, o.prompt_version, o.test_file
    );
    out
}
