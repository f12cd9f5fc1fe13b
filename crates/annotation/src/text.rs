//! The plain-text summaries of merges and gold files that `merge-annotations` prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use core_config::ProjectPaths;
use present::{Table, percent_of, thousands};

use crate::{GoldFormat, GoldReport, MergeReport, Resolution, Strategy};

/// Resolution counts as `CODE n, CODE n`, or `-` when there are none.
fn resolutions_text(resolutions: &BTreeMap<Resolution, usize>) -> String {
    if resolutions.is_empty() {
        return "-".to_owned();
    }
    resolutions
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `merge-annotations merge` prints about a merge: the counts, per field when there are
/// several, the rows left out, the file written and, with `next_steps`, what to do next.
#[must_use]
pub fn render_merge(paths: &ProjectPaths, r: &MergeReport, next_steps: bool) -> String {
    let show = |p: &Path| paths.display(p).into_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Merged {} (module {}, strategy {})",
        show(&r.file),
        r.module,
        r.strategy
    );
    let mut table = Table::headless().right(&[1]);
    table.row(["rows".to_owned(), thousands(r.rows as u64), String::new()]);
    let left_out = if r.incomplete.is_empty() {
        String::new()
    } else {
        format!(
            "({} left out: an annotation is missing)",
            r.incomplete.len()
        )
    };
    table.row([
        "annotated".to_owned(),
        thousands(r.annotated as u64),
        left_out,
    ]);
    table.row([
        "agreements".to_owned(),
        thousands(r.agreements as u64),
        format!("({})", percent_of(r.agreements, r.annotated)),
    ]);
    table.row([
        "disagreements".to_owned(),
        thousands(r.disagreements as u64),
        String::new(),
    ]);
    out.push_str(&table.render(2));
    if r.fields.len() > 1 {
        let _ = writeln!(out, "  per field:");
        let mut fields =
            Table::new(["field", "column", "agree", "disagree", "resolutions"]).right(&[2, 3]);
        for f in &r.fields {
            fields.row([
                f.field.clone(),
                f.final_column.clone(),
                thousands(f.agreements as u64),
                thousands(f.disagreements as u64),
                resolutions_text(&f.resolutions),
            ]);
        }
        out.push_str(&fields.render(4));
    }
    let _ = writeln!(out, "  resolutions    {}", resolutions_text(&r.resolutions));
    if !r.llm_columns_present && r.strategy == Strategy::Majority {
        let _ = writeln!(
            out,
            "  note: the file has no llm_* column to break ties, so majority keeps annotator A"
        );
    }
    if !r.incomplete.is_empty() {
        let _ = writeln!(out, "\nLeft out (an annotation is missing):");
        for row in &r.incomplete {
            let _ = writeln!(
                out,
                "  row_id {} (line {}): {} empty",
                row.row_id,
                row.line,
                row.missing.join(", ")
            );
        }
    }
    let what = if r.disagreements_only {
        "disagreeing rows"
    } else {
        "rows"
    };
    let _ = writeln!(
        out,
        "\nWrote {} ({} {what})",
        show(&r.output),
        thousands(r.written as u64)
    );
    if next_steps {
        let name = r
            .output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let review = r
            .resolutions
            .get(&Resolution::Disagreement)
            .copied()
            .unwrap_or_default();
        if review > 0 {
            let _ = writeln!(
                out,
                "Next: decide the {review} NEEDS_REVIEW row{} (write the label into final_label), then\n  merge-annotations gold {name}",
                if review == 1 { "" } else { "s" }
            );
        } else if r.disagreements_only {
            let _ = writeln!(
                out,
                "Next: review these rows; merge the full file to write validated data."
            );
        } else {
            let _ = writeln!(out, "Next: merge-annotations gold {name}");
        }
    }
    out
}

/// What `merge-annotations gold` prints: the file written, where its rows and inputs came from,
/// the rows skipped and, with `next_steps`, how a run uses it.
#[must_use]
pub fn render_gold(paths: &ProjectPaths, r: &GoldReport, next_steps: bool) -> String {
    let show = |p: &Path| paths.display(p).into_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Wrote {} ({} records)",
        show(&r.output),
        thousands(r.written as u64)
    );
    let mut table = Table::headless();
    table.row(["from".to_owned(), show(&r.file)]);
    table.row(["inputs".to_owned(), show(&r.inputs_from)]);
    let ids = |list: &[String]| {
        if list.is_empty() {
            String::new()
        } else {
            let shown: Vec<&str> = list.iter().take(10).map(String::as_str).collect();
            let more = list.len().saturating_sub(10);
            format!(
                " (row_id {}{})",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        }
    };
    table.row([
        "skipped".to_owned(),
        format!(
            "{} NEEDS_REVIEW{}, {} without a final label{}",
            r.needs_review.len(),
            ids(&r.needs_review),
            r.empty.len(),
            ids(&r.empty)
        ),
    ]);
    out.push_str(&table.render(2));
    if next_steps && r.format == GoldFormat::Jsonl {
        let _ = writeln!(
            out,
            "The file is in the dataset format: a run can use it as module {}'s dataset as it is.",
            r.module
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::merge::IncompleteRow;

    fn paths() -> ProjectPaths {
        ProjectPaths::new(PathBuf::from("/p"))
    }

    #[test]
    fn a_merge_summary_counts_rows_and_says_what_to_review() {
        let report = MergeReport {
            module: "M12".to_owned(),
            file: PathBuf::from("/p/annotation_tasks/M12_a.csv"),
            output: PathBuf::from("/p/validated_data/M12_validated.csv"),
            sidecar: PathBuf::from("/p/validated_data/M12_validated.csv.meta.json"),
            strategy: Strategy::Majority,
            disagreements_only: false,
            rows: 1500,
            annotated: 1499,
            agreements: 1497,
            disagreements: 2,
            written: 1499,
            incomplete: vec![IncompleteRow {
                row_id: "7".to_owned(),
                line: 9,
                missing: vec!["annotator_b_label".to_owned()],
            }],
            resolutions: BTreeMap::from([
                (Resolution::Agreement, 1497),
                (Resolution::Disagreement, 2),
            ]),
            fields: Vec::new(),
            llm_columns_present: false,
        };
        let text = render_merge(&paths(), &report, true);
        assert!(text.starts_with("Merged annotation_tasks/M12_a.csv (module M12, strategy "));
        assert!(text.contains("  rows           1,500\n"), "{text}");
        assert!(text.contains("so majority keeps annotator A\n"));
        assert!(text.contains("\n  row_id 7 (line 9): annotator_b_label empty\n"));
        assert!(text.contains("\nWrote validated_data/M12_validated.csv (1,499 rows)\n"));
        assert!(text.ends_with("decide the 2 NEEDS_REVIEW rows (write the label into final_label), then\n  merge-annotations gold M12_validated.csv\n"));
        assert!(!render_merge(&paths(), &report, false).contains("Next:"));
    }

    #[test]
    fn a_gold_summary_lists_at_most_ten_skipped_ids() {
        let report = GoldReport {
            module: "M12".to_owned(),
            file: PathBuf::from("/p/validated_data/M12_validated.csv"),
            output: PathBuf::from("/p/validated_data/M12_gold.jsonl"),
            sidecar: PathBuf::from("/p/validated_data/M12_gold.jsonl.meta.json"),
            format: GoldFormat::Jsonl,
            inputs_from: PathBuf::from("/p/datasets/single/m12.jsonl"),
            rows: 20,
            written: 8,
            needs_review: (1..=12).map(|i| i.to_string()).collect(),
            empty: Vec::new(),
        };
        let text = render_gold(&paths(), &report, true);
        assert!(text.starts_with("Wrote validated_data/M12_gold.jsonl (8 records)\n"));
        assert!(text.contains("12 NEEDS_REVIEW (row_id 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more), 0 without a final label\n"), "{text}");
        assert!(text.ends_with("a run can use it as module M12's dataset as it is.\n"));
    }
}
