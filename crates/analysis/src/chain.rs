//! The relevance chain, stage 4's Path A: the answers of m12, m13, m14, m15 and m16 combined
//! with the pipeline's rule into one R / S / C / N label per keyword, so it can be compared with
//! m12b (Path B, one pass) like the other Path A / Path B pairs.
//!
//! The rule: m12 finds a hard-constraint violation → N; else m13 says the keyword asks for the
//! same product type → m14's R or N; else m15's S; else m16's C or N. Each step's run is joined
//! on (ASIN, normalised keyword). A keyword the rule sends to a step whose run has no scored row
//! for it (no row, the row errored, or the answer left the routing field out) is *undecided*,
//! and reported as such, never guessed. The chain's expected label is the same rule applied to
//! the steps' expected labels.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use annotation::sheet::SafeCsvWriter;
use core_config::{AtomicFile, Catalog, ModuleSpec};
use indexmap::IndexMap;
use serde::Serialize;

use crate::compare::{self, LabelledRow, PathsReport, RunRows, path_key};
use crate::error::{Error, Result};
use crate::output;
use crate::source::RunRef;

/// Path A's name for the chain on the command line and in reports.
pub const CHAIN: &str = "chain";

/// The module the chain is compared with.
pub const CHAIN_PATH_B: &str = "m12b";

/// One step of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Step {
    /// Hard-constraint violation (`true` / `false`).
    #[serde(rename = "m12")]
    M12,
    /// Same product type (`true` / `false`).
    #[serde(rename = "m13")]
    M13,
    /// Same type: same primary use (`R` / `N`).
    #[serde(rename = "m14")]
    M14,
    /// Different type: substitute (`S` / `Null`).
    #[serde(rename = "m15")]
    M15,
    /// Not a substitute: complementary (`C` / `N`).
    #[serde(rename = "m16")]
    M16,
}

impl Step {
    /// The steps in pipeline order.
    pub const ALL: [Step; 5] = [Step::M12, Step::M13, Step::M14, Step::M15, Step::M16];

    /// The module id.
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::M12 => "m12",
            Self::M13 => "m13",
            Self::M14 => "m14",
            Self::M15 => "m15",
            Self::M16 => "m16",
        }
    }

    /// The step of a module id.
    #[must_use]
    pub fn of(module: &str) -> Option<Step> {
        Self::ALL.into_iter().find(|s| s.id() == module)
    }
}

/// Why the rule could not give a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gap {
    /// The step's run has no row for the keyword.
    NoRow(Step),
    /// The step's row errored (not scored).
    Errored(Step),
    /// A routing step (m12, m13, m15) answered without the field the rule routes on.
    NoAnswer(Step),
}

impl Gap {
    /// The step the rule stopped at.
    #[must_use]
    pub fn step(self) -> Step {
        match self {
            Self::NoRow(s) | Self::Errored(s) | Self::NoAnswer(s) => s,
        }
    }

    /// Why, in a few words.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::NoRow(_) => "no row for the keyword",
            Self::Errored(_) => "its row errored",
            Self::NoAnswer(_) => "its answer left the field out",
        }
    }
}

/// What one step's run says about one keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepLabel<'a> {
    /// A scored row's label (`(missing)` when the answer left the field out).
    Label(&'a str),
    /// The row errored.
    Errored,
    /// The run has no row for the keyword.
    Absent,
}

/// The pipeline's rule over one side (answers or expected labels) of the steps: `label(step)`
/// says what that step's run holds for the keyword. Only the steps the rule visits are asked.
///
/// # Errors
/// The [`Gap`] where the rule stopped.
pub fn combine<'a>(label: impl Fn(Step) -> StepLabel<'a>) -> Result<String, Gap> {
    let read = |step: Step| match label(step) {
        StepLabel::Label(l) => Ok(l),
        StepLabel::Errored => Err(Gap::Errored(step)),
        StepLabel::Absent => Err(Gap::NoRow(step)),
    };
    match read(Step::M12)? {
        "true" => return Ok("N".to_owned()),
        "false" => {}
        _ => return Err(Gap::NoAnswer(Step::M12)),
    }
    match read(Step::M13)? {
        "true" => Ok(read(Step::M14)?.to_owned()),
        "false" => match read(Step::M15)? {
            "S" => Ok("S".to_owned()),
            "Null" => Ok(read(Step::M16)?.to_owned()),
            _ => Err(Gap::NoAnswer(Step::M15)),
        },
        _ => Err(Gap::NoAnswer(Step::M13)),
    }
}

/// One keyword the chain could not decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecided {
    /// ASIN.
    pub asin: String,
    /// Keyword (as m12's run has it).
    pub keyword: String,
    /// m12's record id.
    pub record_id: String,
    /// Whether the gap is on the answers' route (else on the expected labels' route).
    pub answer_side: bool,
    /// Where and why the rule stopped.
    pub gap: Gap,
}

/// The chain's part of a `paths chain m12b` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainInfo {
    /// The run used for each step (module id → run name).
    pub runs: IndexMap<String, String>,
    /// Distinct keywords in m12's run (every keyword enters the chain there).
    pub keywords: u64,
    /// Keywords the rule gave an answer and an expected label.
    pub decided: u64,
    /// Keywords it could not decide.
    pub undecided: u64,
    /// Undecided keywords by where the rule stopped, e.g. `m14: no row for the keyword`
    /// (`(expected)` added when the gap is on the expected labels' route).
    pub undecided_by_step: BTreeMap<String, u64>,
    /// The CSV of the undecided keywords (set once written).
    pub undecided_file: Option<String>,
}

/// Header of the undecided-keywords file.
pub const UNDECIDED_HEADERS: [&str; 6] =
    ["asin", "keyword", "step", "reason", "route", "record_id"];

/// One step's run as the rule reads it: scored rows and errored rows by join key.
#[derive(Debug, Default)]
pub struct StepRows {
    rows: HashMap<String, LabelledRow>,
    errored: HashSet<String>,
}

impl StepRows {
    /// Indexes a run's rows by (ASIN, normalised keyword); the first row of a key wins.
    #[must_use]
    pub fn new(read: RunRows) -> Self {
        let mut rows = HashMap::with_capacity(read.rows.len());
        for row in read.rows {
            rows.entry(path_key(&row.asin, &row.keyword)).or_insert(row);
        }
        let errored = read
            .errored
            .iter()
            .map(|(asin, keyword)| path_key(asin, keyword))
            .filter(|k| !rows.contains_key(k))
            .collect();
        Self { rows, errored }
    }

    fn label(&self, key: &str, answer: bool) -> StepLabel<'_> {
        match self.rows.get(key) {
            Some(row) if answer => StepLabel::Label(&row.answer),
            Some(row) => StepLabel::Label(&row.expected),
            None if self.errored.contains(key) => StepLabel::Errored,
            None => StepLabel::Absent,
        }
    }
}

/// The chain's rows: one per distinct keyword of m12's run that the rule decides on both
/// sides, and the keywords it could not decide, in m12's order.
#[must_use]
pub fn chain_rows(steps: &[StepRows; 5]) -> (Vec<LabelledRow>, Vec<Undecided>, u64) {
    let [m12, ..] = steps;
    let mut order: Vec<(&String, Option<&LabelledRow>)> = m12
        .rows
        .iter()
        .map(|(k, r)| (k, Some(r)))
        .chain(m12.errored.iter().map(|k| (k, None)))
        .collect();
    // Stable, readable order: by ASIN and keyword.
    order.sort_by(|a, b| a.0.cmp(b.0));
    let keywords = order.len() as u64;
    let mut rows = Vec::new();
    let mut undecided = Vec::new();
    for (key, first) in order {
        let at = |step: Step| &steps[step as usize];
        let answer = combine(|s| at(s).label(key, true));
        let expected = combine(|s| at(s).label(key, false));
        let (asin, keyword, record_id) = match first {
            Some(r) => (r.asin.clone(), r.keyword.clone(), r.record_id.clone()),
            None => {
                let (asin, keyword) = key.split_once('\u{1f}').unwrap_or((key, ""));
                (asin.to_owned(), keyword.to_owned(), String::new())
            }
        };
        let (answer_side, gap) = match (answer, expected) {
            (Ok(answer), Ok(expected)) => {
                rows.push(LabelledRow {
                    record_id,
                    asin,
                    keyword,
                    right: answer == expected,
                    expected,
                    answer,
                });
                continue;
            }
            (Err(gap), _) => (true, gap),
            (Ok(_), Err(gap)) => (false, gap),
        };
        undecided.push(Undecided {
            asin,
            keyword,
            record_id,
            answer_side,
            gap,
        });
    }
    (rows, undecided, keywords)
}

/// The runs of the chain's steps: each step's run in `given` (runs of m12–m16), else its
/// module's newest run.
///
/// # Errors
/// [`Error::ChainStep`] for a step without a run (none given, none registered); a run given
/// twice for one step or of another module is [`Error::NotAChainStep`].
pub fn chain_runs(
    catalog: &Catalog,
    file: &registry::RegistryFile,
    given: &[RunRef],
) -> Result<Vec<RunRef>> {
    let mut chosen: BTreeMap<Step, RunRef> = BTreeMap::new();
    for run in given {
        let step = Step::of(&run.module).ok_or_else(|| Error::NotAChainStep {
            run: run.name.clone(),
            module: run.module.clone(),
        })?;
        if chosen.insert(step, run.clone()).is_some() {
            return Err(Error::NotAChainStep {
                run: run.name.clone(),
                module: format!("{} given twice", run.module),
            });
        }
    }
    let mut runs = Vec::with_capacity(5);
    for step in Step::ALL {
        let run = match chosen.remove(&step) {
            Some(run) => run,
            None => {
                let module = catalog.resolve(step.id())?;
                crate::source::newest_run(file, module).map_err(|e| match e {
                    Error::NoRuns { module } => Error::ChainStep { module },
                    other => other,
                })?
            }
        };
        runs.push(run);
    }
    Ok(runs)
}

/// The relevance chain (the runs of m12–m16, in order) against a run of m12b, joined on (ASIN,
/// normalised keyword). Writes the disagreements and the undecided keywords under
/// `analysis/M12B_…/`.
///
/// # Errors
/// [`Error::NotAPair`] when `b` is not a run of m12b or `steps` are not m12–m16 in order; when a
/// CSV cannot be read or a file written.
pub fn chain_paths(
    root: &Path,
    catalog: &Catalog,
    steps: &[RunRef],
    b: &RunRef,
) -> Result<PathsReport> {
    let module_b = catalog.resolve(&b.module)?;
    let in_order = steps.len() == 5
        && steps
            .iter()
            .zip(Step::ALL)
            .all(|(run, step)| run.module == step.id());
    if module_b.id.as_str() != CHAIN_PATH_B || !in_order {
        return Err(Error::NotAPair {
            a: CHAIN.to_owned(),
            b: module_b.id.to_string(),
        });
    }
    let mut read = Vec::with_capacity(5);
    let mut errored_a = 0;
    for run in steps {
        let module: &ModuleSpec = catalog.resolve(&run.module)?;
        let rows = compare::read_labelled(run, module)?;
        errored_a += rows.errored.len() as u64;
        read.push(StepRows::new(rows));
    }
    let read: [StepRows; 5] = read
        .try_into()
        .unwrap_or_else(|_| unreachable!("five steps were read"));
    let (rows_a, undecided, keywords) = chain_rows(&read);
    let compare::RunRows {
        rows: rows_b,
        errored,
    } = compare::read_labelled(b, module_b)?;
    let dir = output::module_dir(root, module_b);
    let stem = output::free_stem(
        &dir,
        &format!("{CHAIN}_vs_{}", b.name),
        &["_paths_disagreements.csv", "_chain_undecided.csv"],
    );
    let labels = module_b
        .primary_score()
        .labels
        .as_ref()
        .map(|l| l.labels().to_vec())
        .unwrap_or_default();
    let undecided_path = dir.join(format!("{stem}_chain_undecided.csv"));
    let undecided_file = write_undecided(&undecided_path, &undecided, root)?;
    let comparison = compare::compare_rows(
        &labels,
        false,
        &rows_a,
        &rows_b,
        |r| path_key(&r.asin, &r.keyword),
        &dir.join(format!("{stem}_paths_disagreements.csv")),
        root,
    )?;
    let mut by_step = BTreeMap::new();
    for u in &undecided {
        let route = if u.answer_side { "" } else { " (expected)" };
        *by_step
            .entry(format!("{}: {}{route}", u.gap.step().id(), u.gap.reason()))
            .or_insert(0) += 1;
    }
    Ok(PathsReport {
        path_a: CHAIN.to_owned(),
        path_b: b.name.clone(),
        module_a: CHAIN.to_owned(),
        module_b: module_b.id.to_string(),
        errored_a,
        errored_b: errored.len() as u64,
        comparison,
        chain: Some(ChainInfo {
            runs: steps
                .iter()
                .map(|r| (r.module.clone(), r.name.clone()))
                .collect(),
            keywords,
            decided: rows_a.len() as u64,
            undecided: undecided.len() as u64,
            undecided_by_step: by_step,
            undecided_file: Some(undecided_file),
        }),
    })
}

fn write_undecided(path: &Path, undecided: &[Undecided], root: &Path) -> Result<String> {
    let file = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
    let mut sheet = SafeCsvWriter::new(path, file, &UNDECIDED_HEADERS)?;
    for u in undecided {
        sheet.write_row(&[
            u.asin.clone(),
            u.keyword.clone(),
            u.gap.step().id().to_owned(),
            u.gap.reason().to_owned(),
            if u.answer_side { "answer" } else { "expected" }.to_owned(),
            u.record_id.clone(),
        ])?;
    }
    let written = sheet
        .finish()?
        .commit_new()
        .map_err(|e| Error::io(path, e))?;
    Ok(written
        .strip_prefix(root)
        .unwrap_or(&written)
        .to_string_lossy()
        .into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule over fixed step labels (`None`: the step's run has no row).
    fn rule(labels: [Option<&str>; 5]) -> Result<String, Gap> {
        combine(|s| match labels[s as usize] {
            Some("errored") => StepLabel::Errored,
            Some(l) => StepLabel::Label(l),
            None => StepLabel::Absent,
        })
    }

    #[test]
    fn a_violation_is_n_whatever_the_later_steps_say() {
        assert_eq!(rule([Some("true"), None, None, None, None]), Ok("N".into()));
        assert_eq!(
            rule([Some("true"), Some("true"), Some("R"), Some("S"), Some("C")]),
            Ok("N".into())
        );
    }

    #[test]
    fn same_type_takes_m14s_label() {
        assert_eq!(
            rule([Some("false"), Some("true"), Some("R"), Some("S"), Some("C")]),
            Ok("R".into())
        );
        assert_eq!(
            rule([Some("false"), Some("true"), Some("N"), None, None]),
            Ok("N".into())
        );
        // m14 left its label out: the chain answers `(missing)`, like any answer would.
        assert_eq!(
            rule([Some("false"), Some("true"), Some("(missing)"), None, None]),
            Ok("(missing)".into())
        );
    }

    #[test]
    fn another_type_is_s_when_m15_says_substitute() {
        assert_eq!(
            rule([
                Some("false"),
                Some("false"),
                Some("R"),
                Some("S"),
                Some("C")
            ]),
            Ok("S".into())
        );
    }

    #[test]
    fn not_a_substitute_takes_m16s_label() {
        assert_eq!(
            rule([Some("false"), Some("false"), None, Some("Null"), Some("C")]),
            Ok("C".into())
        );
        assert_eq!(
            rule([
                Some("false"),
                Some("false"),
                Some("R"),
                Some("Null"),
                Some("N")
            ]),
            Ok("N".into())
        );
    }

    #[test]
    fn a_step_the_rule_needs_and_lacks_leaves_the_keyword_undecided() {
        assert_eq!(rule([None; 5]), Err(Gap::NoRow(Step::M12)));
        assert_eq!(
            rule([Some("false"), None, Some("R"), None, None]),
            Err(Gap::NoRow(Step::M13))
        );
        assert_eq!(
            rule([Some("false"), Some("true"), None, Some("S"), Some("C")]),
            Err(Gap::NoRow(Step::M14))
        );
        assert_eq!(
            rule([Some("false"), Some("false"), Some("R"), None, Some("C")]),
            Err(Gap::NoRow(Step::M15))
        );
        assert_eq!(
            rule([Some("false"), Some("false"), None, Some("Null"), None]),
            Err(Gap::NoRow(Step::M16))
        );
        assert_eq!(
            rule([Some("false"), Some("errored"), None, None, None]),
            Err(Gap::Errored(Step::M13))
        );
        // A routing step that left its field out cannot route.
        assert_eq!(
            rule([Some("(missing)"), None, None, None, None]),
            Err(Gap::NoAnswer(Step::M12))
        );
        assert_eq!(
            rule([Some("false"), Some("(missing)"), None, None, None]),
            Err(Gap::NoAnswer(Step::M13))
        );
        assert_eq!(
            rule([Some("false"), Some("false"), None, Some("(missing)"), None]),
            Err(Gap::NoAnswer(Step::M15))
        );
    }

    #[test]
    fn the_rule_reads_the_labels_modules_toml_declares() {
        let catalog = Catalog::load(&test_support::repo_root().join("modules.toml")).unwrap();
        let labels = |id: &str| {
            let module = catalog.resolve(id).unwrap();
            let set = module.primary_score().labels.clone().unwrap();
            (set.labels().to_vec(), set.positive().map(str::to_owned))
        };
        assert_eq!(labels("m12").0, ["true", "false"]);
        assert_eq!(labels("m13").0, ["true", "false"]);
        assert_eq!(labels("m14").0, ["R", "N"]);
        assert_eq!(
            labels("m15"),
            (
                vec!["S".to_owned(), "Null".to_owned()],
                Some("S".to_owned())
            )
        );
        assert_eq!(labels("m16").0, ["C", "N"]);
        assert_eq!(labels("m12b").0, ["R", "S", "C", "N"]);
    }

    fn row(asin: &str, keyword: &str, expected: &str, answer: &str) -> LabelledRow {
        LabelledRow {
            record_id: format!("{asin}__{keyword}"),
            asin: asin.to_owned(),
            keyword: keyword.to_owned(),
            expected: expected.to_owned(),
            answer: answer.to_owned(),
            right: expected == answer,
        }
    }

    #[test]
    fn chain_rows_join_steps_on_asin_and_normalised_keyword() {
        let steps = [
            StepRows::new(RunRows {
                rows: vec![
                    row("B1", "Red Mug", "false", "false"),
                    row("B1", "blue cup", "false", "false"),
                    row("B1", "oven", "true", "false"),
                    row("B1", "pan", "false", "true"),
                ],
                errored: vec![("B2".into(), "lid".into())],
            }),
            StepRows::new(RunRows {
                rows: vec![
                    row("b1", "red  mug", "true", "true"),
                    row("B1", "blue cup", "false", "true"),
                ],
                errored: Vec::new(),
            }),
            StepRows::new(RunRows {
                rows: vec![row("B1", "RED MUG", "R", "N")],
                errored: Vec::new(),
            }),
            StepRows::new(RunRows {
                rows: vec![row("B1", "blue cup", "Null", "Null")],
                errored: Vec::new(),
            }),
            StepRows::new(RunRows {
                rows: vec![row("B1", "blue cup", "C", "C")],
                errored: Vec::new(),
            }),
        ];
        let (rows, undecided, keywords) = chain_rows(&steps);
        assert_eq!(keywords, 5);
        // red mug: same type, m14 answers N against R.
        let mug = rows.iter().find(|r| r.keyword == "Red Mug").unwrap();
        assert_eq!(
            (mug.answer.as_str(), mug.expected.as_str(), mug.right),
            ("N", "R", false)
        );
        // oven: m12 missed the violation; m13 lacks the keyword, so the answer's route stops.
        let oven = undecided.iter().find(|u| u.keyword == "oven").unwrap();
        assert_eq!((oven.gap, oven.answer_side), (Gap::NoRow(Step::M13), true));
        // blue cup: m13 wrongly says same type, and m14 has no row for it.
        let cup = undecided.iter().find(|u| u.keyword == "blue cup").unwrap();
        assert_eq!(cup.gap, Gap::NoRow(Step::M14));
        // lid: m12's row errored.
        let lid = undecided.iter().find(|u| u.keyword == "lid").unwrap();
        assert_eq!(lid.gap, Gap::Errored(Step::M12));
        // pan: m12 answers a violation (N), but the expected route needs m13, which lacks it.
        let pan = undecided.iter().find(|u| u.keyword == "pan").unwrap();
        assert_eq!((pan.gap, pan.answer_side), (Gap::NoRow(Step::M13), false));
        assert_eq!(rows.len() + undecided.len(), 5);
    }
}
