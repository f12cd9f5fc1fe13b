//! The plain-text summaries of merges and gold files that `merge-annotations` prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use core_config::{Catalog, ProjectPaths};
use present::{Table, percent_of, thousands};
use serde::Serialize;

use crate::error::Result;
use crate::files::{files_in, sheet_files, task_file};

use crate::{
    GoldFormat, GoldReport, MergeReport, Resolution, SimulateOptions, SimulateReport, Strategy,
};

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
                "Next: decide the {} (write the label into final_label), then\n  merge-annotations gold {name}",
                present::plural(review, "NEEDS_REVIEW row", "NEEDS_REVIEW rows")
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

/// What `simulate-annotators` prints: the file filled, where the labels came from, and how many
/// each simulated annotator changed.
#[must_use]
pub fn render_simulated(
    paths: &ProjectPaths,
    report: &SimulateReport,
    options: &SimulateOptions,
    next_steps: bool,
) -> String {
    let show = |p: &Path| paths.display(p).into_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Filled {} with simulated annotators (a development aid, not people)",
        show(&report.file)
    );
    let mut table = Table::headless();
    table.row(["labels from".to_owned(), show(&report.dataset)]);
    let missing = if report.missing.is_empty() {
        String::new()
    } else {
        format!(
            "; {} left empty, no dataset label (row_id {})",
            report.missing.len(),
            report.missing.join(", ")
        )
    };
    table.row([
        "rows".to_owned(),
        format!("{} of {} filled{missing}", report.filled, report.rows),
    ]);
    table.row([
        "annotator A".to_owned(),
        format!(
            "{} changed from the dataset label (--flip-a {})",
            report.flipped_a, options.flip_a
        ),
    ]);
    table.row([
        "annotator B".to_owned(),
        format!(
            "{} changed from the dataset label (--flip-b {}, seed {})",
            report.flipped_b, options.flip_b, options.seed
        ),
    ]);
    out.push_str(&table.render(2));
    if next_steps {
        let name = report
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Next:\n  calculate-agreement analyze {name}\n  merge-annotations merge {name}"
        );
    }
    out
}

/// A file of `merge-annotations list`.
#[derive(Debug, Serialize)]
pub struct ListedFile {
    /// The file.
    pub file: PathBuf,
    /// Its module, told from its name.
    pub module: Option<String>,
    /// Data rows (records for a JSONL gold file), when the file can be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    /// Rows both annotators filled (annotation files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete: Option<usize>,
    /// Why an annotation file cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What `merge-annotations list` reports (its JSON is the `--json` output).
#[derive(Debug, Serialize)]
pub struct MergeListing {
    /// The files in `annotation_tasks/`.
    pub annotation_files: Vec<ListedFile>,
    /// The validated files in `validated_data/`.
    pub validated_files: Vec<ListedFile>,
    /// The gold files in `validated_data/`.
    pub gold_files: Vec<ListedFile>,
}

/// The annotation, validated and gold files of a project.
///
/// # Errors
/// When `annotation_tasks/` or `validated_data/` exists but cannot be listed.
pub fn merge_listing(catalog: &Catalog, paths: &ProjectPaths) -> Result<MergeListing> {
    let module_of = |path: &Path| {
        path.file_name()
            .and_then(|n| catalog.module_for_file_name(&n.to_string_lossy()))
            .map(|m| m.id.to_string())
    };
    let annotation_files: Vec<ListedFile> = sheet_files(&paths.annotation_tasks())?
        .into_iter()
        .map(|path| {
            let found = task_file(catalog, &path);
            let (rows, complete, problem) = match found.status {
                Ok(s) => (Some(s.rows), Some(s.complete), None),
                Err(e) => (None, None, Some(e)),
            };
            ListedFile {
                file: path,
                module: found.module,
                rows,
                complete,
                problem,
            }
        })
        .collect();
    let validated = files_in(&paths.validated_data(), ".csv")?;
    let (gold_csv, validated): (Vec<PathBuf>, Vec<PathBuf>) =
        validated.into_iter().partition(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("_gold_"))
        });
    let listed = |path: PathBuf, count: bool| ListedFile {
        module: module_of(&path),
        rows: if count {
            crate::AnnotationReader::open(&path)
                .ok()
                .map(|r| r.filter(std::result::Result::is_ok).count())
        } else {
            std::fs::read(&path).ok().map(|b| {
                b.split(|c| *c == b'\n')
                    .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                    .count()
            })
        },
        file: path,
        complete: None,
        problem: None,
    };
    let validated_files: Vec<ListedFile> = validated.into_iter().map(|p| listed(p, true)).collect();
    let mut gold_files: Vec<ListedFile> = files_in(&paths.validated_data(), ".jsonl")?
        .into_iter()
        .map(|p| listed(p, false))
        .collect();
    gold_files.extend(gold_csv.into_iter().map(|p| listed(p, true)));
    Ok(MergeListing {
        annotation_files,
        validated_files,
        gold_files,
    })
}

impl MergeListing {
    /// The text of `merge-annotations list`.
    #[must_use]
    pub fn render(&self) -> String {
        let (annotation_files, validated_files, gold_files) = (
            &self.annotation_files,
            &self.validated_files,
            &self.gold_files,
        );
        let mut out = String::new();
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let n = |v: Option<usize>| v.map_or_else(|| "-".to_owned(), |n| thousands(n as u64));
        let _ = writeln!(out, "Annotation files (annotation_tasks/):");
        if annotation_files.is_empty() {
            let _ = writeln!(out, "  none (generate-annotation-csv generate MODULE)");
        } else {
            let mut table =
                Table::new(["", "file", "module", "rows", "both annotated"]).right(&[3, 4]);
            for f in annotation_files {
                let mark = match (f.rows, f.complete) {
                    (Some(rows), Some(done)) if rows > 0 && rows == done => "✓",
                    (Some(_), Some(_)) => "○",
                    _ => "✗",
                };
                let mut cells = vec![
                    mark.to_owned(),
                    name(&f.file),
                    f.module.clone().unwrap_or_else(|| "?".to_owned()),
                    n(f.rows),
                    n(f.complete),
                ];
                if let Some(problem) = &f.problem {
                    cells.push(format!("({problem})"));
                }
                table.row(cells);
            }
            out.push_str(&table.render(2));
            let _ = writeln!(
                out,
                "  ✓ ready to merge   ○ annotations missing   ✗ unreadable"
            );
        }
        for (title, files) in [
            ("Validated files (validated_data/):", validated_files),
            ("Gold files (validated_data/):", gold_files),
        ] {
            let _ = writeln!(out, "\n{title}");
            if files.is_empty() {
                let _ = writeln!(out, "  none");
                continue;
            }
            let mut table = Table::new(["file", "module", "rows"]).right(&[2]);
            for f in files {
                table.row([
                    name(&f.file),
                    f.module.clone().unwrap_or_else(|| "?".to_owned()),
                    n(f.rows),
                ]);
            }
            out.push_str(&table.render(2));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::merge::IncompleteRow;

    #[test]
    fn the_merge_listing_marks_files_ready_to_merge() {
        let annotation = |rows, complete| ListedFile {
            file: PathBuf::from("/p/annotation_tasks/M12_a.csv"),
            module: Some("M12".to_owned()),
            rows: Some(rows),
            complete: Some(complete),
            problem: None,
        };
        let listing = MergeListing {
            annotation_files: vec![annotation(3, 3), annotation(3, 1)],
            validated_files: Vec::new(),
            gold_files: Vec::new(),
        };
        let text = listing.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Annotation files (annotation_tasks/):");
        assert!(lines[2].starts_with("  ✓  M12_a.csv") && lines[3].starts_with("  ○  M12_a.csv"));
        assert!(text.ends_with("\nValidated files (validated_data/):\n  none\n\nGold files (validated_data/):\n  none\n"));
    }

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

    #[test]
    fn a_simulation_summary_names_its_settings_and_the_rows_left_empty() {
        let report = SimulateReport {
            module: "M12".to_owned(),
            file: PathBuf::from("/p/annotation_tasks/M12_a.csv"),
            dataset: PathBuf::from("/p/datasets/single/m12.jsonl"),
            rows: 10,
            filled: 9,
            flipped_a: 1,
            flipped_b: 2,
            missing: vec!["4".to_owned()],
        };
        let options = SimulateOptions {
            gold_from: crate::GoldFrom::Auto,
            flip_a: 0.1,
            flip_b: 0.2,
            seed: 7,
            overwrite: false,
        };
        let text = render_simulated(&paths(), &report, &options, false);
        assert_eq!(
            text,
            "Filled annotation_tasks/M12_a.csv with simulated annotators (a development aid, not people)\n\
             \x20 labels from  datasets/single/m12.jsonl\n\
             \x20 rows         9 of 10 filled; 1 left empty, no dataset label (row_id 4)\n\
             \x20 annotator A  1 changed from the dataset label (--flip-a 0.1)\n\
             \x20 annotator B  2 changed from the dataset label (--flip-b 0.2, seed 7)\n"
        );
        assert!(
            render_simulated(&paths(), &report, &options, true)
                .ends_with("  merge-annotations merge M12_a.csv\n")
        );
    }
}
