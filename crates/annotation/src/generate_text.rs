//! What `generate-annotation-csv` reports: the summary of a file written, the batch table, and
//! the listing of result CSVs and annotation files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use core_config::{Catalog, ModuleSpec, ProjectPaths};
use present::{Table, plural, thousands};
use serde::Serialize;

use crate::Generated;
use crate::error::Result;
use crate::files::{result_csvs, sheet_files, task_file};

/// What `generate-annotation-csv generate` prints about a file it wrote: module, source, rows
/// sampled and skipped, and the columns each annotator fills.
#[must_use]
pub fn render_generated(paths: &ProjectPaths, module: &ModuleSpec, g: &Generated) -> String {
    let mut out = String::new();
    let show = |p: &Path| paths.display(p).into_owned();
    let _ = writeln!(out, "Wrote {}", show(&g.file));
    let mut table = Table::headless();
    table.row([
        "module".to_owned(),
        format!("{} {}", module.id, module.name),
    ]);
    table.row([
        "source".to_owned(),
        format!(
            "{} ({} rows)",
            show(&g.source),
            thousands(g.source_rows as u64)
        ),
    ]);
    let order = match g.seed {
        Some(seed) => format!("shuffled with seed {seed}"),
        None => "in file order".to_owned(),
    };
    let usable = g.source_rows - g.skipped_errors - g.skipped_duplicates;
    table.row([
        "rows".to_owned(),
        format!(
            "{} of {}, {order}",
            thousands(g.rows as u64),
            thousands(usable as u64)
        ),
    ]);
    if g.skipped_errors > 0 {
        table.row([
            "skipped".to_owned(),
            format!(
                "{} without a model answer (error column set)",
                plural(g.skipped_errors, "row", "rows")
            ),
        ]);
    }
    if g.skipped_duplicates > 0 {
        table.row([
            "skipped".to_owned(),
            format!(
                "{} repeating a record id",
                plural(g.skipped_duplicates, "row", "rows")
            ),
        ]);
    }
    table.row([
        "columns".to_owned(),
        format!(
            "{} (annotator A fills {})",
            g.columns.len(),
            g.annotator_a.join(", ")
        ),
    ]);
    table.row([
        String::new(),
        format!("   (annotator B fills {})", g.annotator_b.join(", ")),
    ]);
    out.push_str(&table.render(2));
    out
}

/// What to do with freshly generated annotation files.
#[must_use]
pub fn next_steps(files: &[&Path]) -> String {
    let mut out = String::new();
    if files.iter().all(|f| crate::workbook::is_workbook(f)) {
        let _ = writeln!(
            out,
            "\nNext: give the workbook to annotators A and B. Each fills only their own (yellow)\n\
             columns, picking labels from the dropdowns, and saves it as .xlsx. Then:"
        );
    } else {
        let _ = writeln!(
            out,
            "\nNext: give the file to annotators A and B. Each fills only their own columns and saves\n\
             it as CSV (UTF-8 if asked). Then:"
        );
    }
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(out, "  calculate-agreement analyze {name}");
        let _ = writeln!(out, "  merge-annotations merge {name}");
    }
    out
}

/// One module of `generate-annotation-csv batch`: the file written, or why not.
#[derive(Debug, Serialize)]
pub struct BatchEntry {
    /// The module id.
    pub module: String,
    /// The file written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
    /// Why no file was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The table of `generate-annotation-csv batch` and its tally (without the next steps).
#[must_use]
pub fn render_batch(paths: &ProjectPaths, entries: &[BatchEntry]) -> String {
    let failed = entries.iter().filter(|e| e.error.is_some()).count();
    let mut table = Table::new(["", "module", "rows", "file"]).right(&[2]);
    for e in entries {
        match (&e.generated, &e.error) {
            (Some(g), _) => table.row([
                "✓".to_owned(),
                e.module.clone(),
                thousands(g.rows as u64),
                paths.display(&g.file).into_owned(),
            ]),
            (None, error) => table.row([
                "✗".to_owned(),
                e.module.clone(),
                "-".to_owned(),
                error.clone().unwrap_or_default(),
            ]),
        }
    }
    let mut out = table.render(0);
    let written = plural(
        entries.len() - failed,
        "annotation file",
        "annotation files",
    );
    let _ = writeln!(out, "\n{written} written, {failed} failed");
    out
}

/// A module's result CSVs in `experiment_results/`.
#[derive(Debug, Serialize)]
pub struct ModuleSources {
    /// The module id.
    pub module: String,
    /// The module's name.
    pub name: String,
    /// How many result CSVs it has.
    pub result_csvs: usize,
    /// The newest of them.
    pub newest: Option<PathBuf>,
    /// Data rows of the newest, when it can be read.
    pub rows: Option<usize>,
}

/// An annotation file in `annotation_tasks/` and how far it is annotated.
#[derive(Debug, Serialize)]
pub struct TaskFile {
    /// The file.
    pub file: PathBuf,
    /// Its module, told from its name.
    pub module: Option<String>,
    /// Data rows.
    pub rows: Option<usize>,
    /// Rows annotator A filled.
    pub annotated_a: Option<usize>,
    /// Rows annotator B filled.
    pub annotated_b: Option<usize>,
    /// Rows both filled.
    pub complete: Option<usize>,
    /// Why the file cannot be read.
    pub problem: Option<String>,
}

/// What `generate-annotation-csv list` reports (its JSON is the `--json` output).
#[derive(Debug, Serialize)]
pub struct Listing {
    /// Every module of the catalogue, with its result CSVs.
    pub modules: Vec<ModuleSources>,
    /// The annotation files.
    pub annotation_files: Vec<TaskFile>,
}

/// Data rows of a CSV (any CSV; used for result files).
fn count_rows(path: &Path) -> Option<usize> {
    crate::AnnotationReader::open(path)
        .ok()
        .map(|r| r.filter(std::result::Result::is_ok).count())
}

/// The result CSVs of every module and the annotation files of the project.
///
/// # Errors
/// When `experiment_results/` or `annotation_tasks/` exists but cannot be listed.
pub fn listing(catalog: &Catalog, paths: &ProjectPaths) -> Result<Listing> {
    let sources = result_csvs(catalog, paths)?;
    let modules: Vec<ModuleSources> = catalog
        .modules()
        .iter()
        .map(|m| {
            let files = sources.get(m.id.as_str());
            let newest = files.and_then(|f| f.first()).map(|f| f.path.clone());
            ModuleSources {
                module: m.id.to_string(),
                name: m.name.clone(),
                result_csvs: files.map_or(0, Vec::len),
                rows: newest.as_deref().and_then(count_rows),
                newest,
            }
        })
        .collect();
    let annotation_files: Vec<TaskFile> = sheet_files(&paths.annotation_tasks())?
        .into_iter()
        .map(|path| {
            let found = task_file(catalog, &path);
            let (status, problem) = match found.status {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            };
            TaskFile {
                file: path,
                module: found.module,
                rows: status.map(|s| s.rows),
                annotated_a: status.map(|s| s.annotated_a),
                annotated_b: status.map(|s| s.annotated_b),
                complete: status.map(|s| s.complete),
                problem,
            }
        })
        .collect();
    Ok(Listing {
        modules,
        annotation_files,
    })
}

impl Listing {
    /// The text of `generate-annotation-csv list`.
    #[must_use]
    pub fn render(&self, paths: &ProjectPaths) -> String {
        let show = |p: &Path| paths.display(p).into_owned();
        let mut out = String::new();
        let modules = &self.modules;
        let with: Vec<&ModuleSources> = modules.iter().filter(|m| m.newest.is_some()).collect();
        let without: Vec<&str> = modules
            .iter()
            .filter(|m| m.newest.is_none())
            .map(|m| m.module.as_str())
            .collect();
        let _ = writeln!(
            out,
            "Result CSVs in experiment_results/ ({} of {} modules have one):",
            with.len(),
            modules.len()
        );
        if with.is_empty() {
            out.push_str("  none yet (orchestrator run MODULE)\n");
        } else {
            let mut table =
                Table::new(["", "module", "rows", "newest result CSV", "files"]).right(&[2, 4]);
            for m in &with {
                table.row([
                    "✓".to_owned(),
                    m.module.clone(),
                    m.rows
                        .map_or_else(|| "?".to_owned(), |n| thousands(n as u64)),
                    m.newest.as_deref().map(show).unwrap_or_default(),
                    m.result_csvs.to_string(),
                ]);
            }
            out.push_str(&table.render(2));
        }
        if !with.is_empty() && !without.is_empty() {
            let _ = writeln!(out, "  ○ no result CSV yet: {}", without.join(", "));
        }
        out.push_str("\nAnnotation files in annotation_tasks/:\n");
        if self.annotation_files.is_empty() {
            out.push_str("  none yet (generate-annotation-csv generate MODULE --sample 100)\n");
            return out;
        }
        let mut table =
            Table::new(["file", "module", "rows", "A done", "B done", "both"]).right(&[2, 3, 4, 5]);
        let n = |v: Option<usize>| v.map_or_else(|| "-".to_owned(), |n| thousands(n as u64));
        for t in &self.annotation_files {
            let mut cells = vec![
                t.file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                t.module.clone().unwrap_or_else(|| "?".to_owned()),
                n(t.rows),
                n(t.annotated_a),
                n(t.annotated_b),
                n(t.complete),
            ];
            if let Some(problem) = &t.problem {
                cells.push(format!("({problem})"));
            }
            table.row(cells);
        }
        out.push_str(&table.render(2));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_steps_name_each_file_for_both_commands() {
        let text = next_steps(&[Path::new("/p/annotation_tasks/M12_annotation_1.csv")]);
        assert!(text.starts_with("\nNext: give the file to annotators A and B."));
        assert!(text.ends_with(
            "  calculate-agreement analyze M12_annotation_1.csv\n  merge-annotations merge M12_annotation_1.csv\n"
        ));
    }

    #[test]
    fn the_batch_table_marks_failures_and_counts_them() {
        let entries = [BatchEntry {
            module: "M12".to_owned(),
            generated: None,
            error: Some("no result CSV".to_owned()),
        }];
        let text = render_batch(&ProjectPaths::new("/p"), &entries);
        assert_eq!(
            text,
            "   module  rows  file\n✗  M12        -  no result CSV\n\n0 annotation files written, 1 failed\n"
        );
    }

    #[test]
    fn an_empty_listing_says_how_to_fill_it() {
        let listing = Listing {
            modules: vec![ModuleSources {
                module: "M12".to_owned(),
                name: "Own brand".to_owned(),
                result_csvs: 0,
                newest: None,
                rows: None,
            }],
            annotation_files: Vec::new(),
        };
        assert_eq!(
            listing.render(&ProjectPaths::new("/p")),
            "Result CSVs in experiment_results/ (0 of 1 modules have one):\n  none yet (orchestrator run MODULE)\n\nAnnotation files in annotation_tasks/:\n  none yet (generate-annotation-csv generate MODULE --sample 100)\n"
        );
    }
}
