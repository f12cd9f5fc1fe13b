//! What `import-data` prints, as text.

use crate::write::Written;

/// The report of a dataset written: where, how many records, what was left out, and the command
/// that runs it. `shown` is the path as the user should see it.
#[must_use]
pub fn written(
    module: &str,
    kind: &str,
    written: &Written,
    shown: &str,
    skipped: Option<(usize, &str)>,
) -> String {
    let mut out = format!(
        "Wrote {} {kind} record{} for {module} to {shown}\n",
        written.records,
        if written.records == 1 { "" } else { "s" }
    );
    if let Some((n, why)) = skipped.filter(|(n, _)| *n > 0) {
        out += &format!("Left out {n} ({why}).\n");
    }
    out += &format!("Run it: orchestrator run {module} --dataset {shown}\n");
    out
}

/// The report of `import-data keepa`: the groups, the modules skipped and why, the files.
#[must_use]
pub fn keepa(synthetic: &crate::keepa::Synthetic, per_type: usize, files: usize) -> String {
    let mut out = format!(
        "Read {} products from {}: {} group{} by product type, at most {per_type} products each{}.\n\n",
        synthetic.products,
        synthetic.source,
        synthetic.groups.len(),
        if synthetic.groups.len() == 1 { "" } else { "s" },
        if synthetic.over_limit > 0 {
            format!(" ({} over the limit left out)", synthetic.over_limit)
        } else {
            String::new()
        }
    );
    out += "  group  products  product type\n";
    for g in &synthetic.groups {
        out += &format!("  {:<5}  {:>8}  {}\n", g.sd, g.products, g.product_type);
    }
    for (module, why) in &synthetic.skipped_modules {
        out += &format!("\nSkipped {module}: {why}.\n");
    }
    out += &format!(
        "\nWrote {files} dataset files under datasets/synthetic/ and {}.\n",
        crate::keepa::SUMMARY
    );
    if let Some((module, path)) = synthetic.groups.first().and_then(|g| g.files.iter().next()) {
        out += &format!("Run one: orchestrator run {module} --dataset {path}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_how_to_run_the_dataset() {
        let w = Written {
            path: "x".into(),
            records: 1,
        };
        assert_eq!(
            written("m12", "imported", &w, "d.jsonl", Some((2, "errored rows"))),
            "Wrote 1 imported record for m12 to d.jsonl\nLeft out 2 (errored rows).\nRun it: orchestrator run m12 --dataset d.jsonl\n"
        );
    }
}
