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
