//! The full two-annotator analysis of a categorical field, built from a stream of rows.

use crate::bootstrap::{BootstrapOptions, DEFAULT_REPLICATES, DEFAULT_SEED};
use crate::ser::{self, Distribution, Reasons};
use crate::{Categories, ConfusionMatrix, Error, Interpretation, Level, Undefined, Value, Weights};

/// Choices for [`AgreementAccumulator::report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Whether the categories' declared order is meaningful (e.g. R > S > C > N); only then
    /// are weighted kappas reported.
    pub ordered: bool,
    /// Bootstrap replicates for the kappa interval (0 turns the bootstrap off).
    pub bootstrap_replicates: u32,
    /// Bootstrap seed; reports echo it so the interval can be reproduced.
    pub seed: u64,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            ordered: false,
            bootstrap_replicates: DEFAULT_REPLICATES,
            seed: DEFAULT_SEED,
        }
    }
}

/// Streams (annotator A, annotator B[, LLM]) labels of one categorical field into the counts
/// every statistic needs: a confusion matrix between the annotators and, when LLM labels are
/// given, three more between the LLM and A, B and their consensus.
///
/// Memory is four `k × k` count tables whatever the number of rows: nothing per row is kept
/// (the bootstrap resamples from the table's cells, see [`ConfusionMatrix::bootstrap`]).
///
/// ```
/// use agreement::{AgreementAccumulator, AnalysisOptions, Categories};
///
/// let mut field = AgreementAccumulator::new(Categories::new(["R", "S", "C", "N"])?);
/// for (a, b, llm) in [("R", "R", "R"), ("S", "R", "R"), ("N", "N", "C"), ("C", "C", "C"), ("", "N", "N")] {
///     let cell = |s: &'static str| (!s.is_empty()).then_some(s);
///     field.push_with_llm(cell(a), cell(b), cell(llm))?;
/// }
/// let report = field.report(&AnalysisOptions { ordered: true, ..AnalysisOptions::default() });
/// assert_eq!((report.total_rows, report.annotated_rows), (5, 4));
/// assert_eq!(report.agreements, 3);
/// assert_eq!(report.labels, ["R", "S", "C", "N"]);
/// assert!(report.weighted_kappa_linear.is_ok());
/// let llm = report.llm_agreement.as_ref().unwrap();
/// assert_eq!(llm.vs_consensus.rows, 3);
/// assert_eq!(llm.vs_consensus.agreement, Ok(2.0 / 3.0));
/// # Ok::<(), agreement::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementAccumulator {
    rows: u64,
    ab: ConfusionMatrix,
    llm: Option<LlmTables>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LlmTables {
    // Rows are the annotator (or consensus) label, columns the LLM's.
    vs_a: ConfusionMatrix,
    vs_b: ConfusionMatrix,
    vs_consensus: ConfusionMatrix,
}

impl AgreementAccumulator {
    /// An empty accumulator over the field's declared categories.
    #[must_use]
    pub fn new(categories: Categories) -> Self {
        Self {
            rows: 0,
            ab: ConfusionMatrix::new(categories),
            llm: None,
        }
    }

    /// Adds one row. `None` is a cell left empty: the row counts towards `total_rows` but
    /// is "not annotated" unless both annotators gave a label.
    ///
    /// # Errors
    /// [`Error::UnknownLabel`] (naming the rater and the 0-based row) for a label outside the
    /// categories, [`Error::TooManyItems`] beyond [`crate::MAX_ITEMS`]; nothing is counted for
    /// that row.
    pub fn push(&mut self, a: Option<&str>, b: Option<&str>) -> Result<(), Error> {
        let (a, b) = (self.lookup(a, "rater A")?, self.lookup(b, "rater B")?);
        self.ab.ensure_room()?;
        self.count(a, b);
        Ok(())
    }

    /// Adds one row with the LLM's label too. Calling this at all marks the field as having
    /// an LLM column, so the report compares the LLM even if every LLM cell is empty.
    ///
    /// # Errors
    /// As [`push`](Self::push), also for the LLM's label.
    pub fn push_with_llm(
        &mut self,
        a: Option<&str>,
        b: Option<&str>,
        llm: Option<&str>,
    ) -> Result<(), Error> {
        let (a, b) = (self.lookup(a, "rater A")?, self.lookup(b, "rater B")?);
        let llm = self.lookup(llm, "LLM")?;
        self.ab.ensure_room()?;
        self.count_with_llm(a, b, llm);
        Ok(())
    }

    /// Adds one row by category positions, for callers that map labels themselves.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] for a position beyond the categories; nothing is counted.
    pub fn push_indices(&mut self, a: Option<usize>, b: Option<usize>) -> Result<(), Error> {
        let (a, b) = (self.check(a, "rater A")?, self.check(b, "rater B")?);
        self.ab.ensure_room()?;
        self.count(a, b);
        Ok(())
    }

    /// Adds one row by category positions, with the LLM's.
    ///
    /// # Errors
    /// As [`push_indices`](Self::push_indices).
    pub fn push_indices_with_llm(
        &mut self,
        a: Option<usize>,
        b: Option<usize>,
        llm: Option<usize>,
    ) -> Result<(), Error> {
        let (a, b) = (self.check(a, "rater A")?, self.check(b, "rater B")?);
        let llm = self.check(llm, "LLM")?;
        self.ab.ensure_room()?;
        self.count_with_llm(a, b, llm);
        Ok(())
    }

    /// Adds the rows of `other`, an accumulator over other rows of the same field (a later
    /// part of the same file, say): the result is the accumulator that would have seen both
    /// sets of rows. Counts are integers, so the merge is exact and its order does not matter.
    ///
    /// # Errors
    /// [`Error::CategoryMismatch`] when the two were built over different categories (nothing
    /// is added), [`Error::TooManyItems`] when the sum would pass [`crate::MAX_ITEMS`].
    pub fn merge(&mut self, other: &Self) -> Result<(), Error> {
        if self.ab.categories() != other.ab.categories() {
            return Err(Error::CategoryMismatch);
        }
        let total = self.ab.total().checked_add(other.ab.total());
        if total.is_none_or(|t| t > crate::MAX_ITEMS) {
            return Err(Error::TooManyItems {
                max: crate::MAX_ITEMS,
            });
        }
        self.rows += other.rows;
        add_table(&mut self.ab, &other.ab);
        if let Some(theirs) = &other.llm {
            let categories = self.ab.categories();
            let mine = self.llm.get_or_insert_with(|| LlmTables {
                vs_a: ConfusionMatrix::new(categories.clone()),
                vs_b: ConfusionMatrix::new(categories.clone()),
                vs_consensus: ConfusionMatrix::new(categories.clone()),
            });
            add_table(&mut mine.vs_a, &theirs.vs_a);
            add_table(&mut mine.vs_b, &theirs.vs_b);
            add_table(&mut mine.vs_consensus, &theirs.vs_consensus);
        }
        Ok(())
    }

    fn check(&self, category: Option<usize>, rater: &str) -> Result<Option<usize>, Error> {
        category
            .map(|c| self.ab.categories().check_index(c, rater, self.rows))
            .transpose()
    }

    fn lookup(&self, label: Option<&str>, rater: &str) -> Result<Option<usize>, Error> {
        label
            .map(|l| self.ab.categories().lookup(l, rater, self.rows))
            .transpose()
    }

    fn count(&mut self, a: Option<usize>, b: Option<usize>) {
        self.rows += 1;
        if let (Some(a), Some(b)) = (a, b) {
            self.ab.add_unchecked(a, b, 1);
        }
    }

    fn count_with_llm(&mut self, a: Option<usize>, b: Option<usize>, llm: Option<usize>) {
        self.count(a, b);
        let categories = self.ab.categories();
        let tables = self.llm.get_or_insert_with(|| LlmTables {
            vs_a: ConfusionMatrix::new(categories.clone()),
            vs_b: ConfusionMatrix::new(categories.clone()),
            vs_consensus: ConfusionMatrix::new(categories.clone()),
        });
        let Some(llm) = llm else { return };
        if let Some(a) = a {
            tables.vs_a.add_unchecked(a, llm, 1);
        }
        if let Some(b) = b {
            tables.vs_b.add_unchecked(b, llm, 1);
        }
        if let (Some(a), Some(b)) = (a, b)
            && a == b
        {
            tables.vs_consensus.add_unchecked(a, llm, 1);
        }
    }

    /// Rows added so far.
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The annotators' confusion matrix so far.
    #[must_use]
    pub fn matrix(&self) -> &ConfusionMatrix {
        &self.ab
    }

    /// Every statistic of the field. Cheap: it works on the count tables only (the bootstrap
    /// costs O(replicates × occupied cells)).
    #[must_use]
    pub fn report(&self, options: &AnalysisOptions) -> AgreementReport {
        AgreementReport::build(self, options)
    }
}

/// The agreement between two annotators (and optionally the LLM) on one categorical field.
///
/// The metric names of the `calculate-agreement --json` contract, in their stable order. An
/// [`AgreementReport`] serialises `kind` and then these, then its extras.
pub const CONTRACT_METRICS: [&str; 24] = [
    "total_rows",
    "annotated_rows",
    "cohen_kappa",
    "interpretation",
    "observed_agreement",
    "expected_agreement",
    "agreements",
    "disagreements",
    "labels",
    "distribution_a",
    "distribution_b",
    "kappa_se",
    "kappa_ci95",
    "kappa_bootstrap_ci95",
    "kappa_max",
    "pabak",
    "prevalence_index",
    "bias_index",
    "gwet_ac1",
    "krippendorff_alpha",
    "weighted_kappa_linear",
    "weighted_kappa_quadratic",
    "confusion_matrix",
    "llm_agreement",
];

/// Serialises to the `calculate-agreement --json` field names, which are stable:
/// `kind, total_rows, annotated_rows, cohen_kappa, interpretation, observed_agreement,
/// expected_agreement, agreements, disagreements, labels, distribution_a, distribution_b,
/// kappa_se, kappa_ci95, kappa_bootstrap_ci95, kappa_max, pabak, prevalence_index, bias_index,
/// gwet_ac1, krippendorff_alpha, weighted_kappa_linear, weighted_kappa_quadratic,
/// confusion_matrix, llm_agreement`, then the extras `categories, ordered, kappa_se_h0, kappa_z,
/// bootstrap, undefined`.
///
/// Fractions are plain numbers in [0, 1] at full precision. A value that is undefined or does
/// not apply is `null`, and `undefined` maps its field name to `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct AgreementReport {
    /// Always `"categorical"`.
    pub kind: &'static str,
    /// Rows seen, annotated or not.
    pub total_rows: u64,
    /// Rows where both annotators gave a label (the N of every statistic).
    pub annotated_rows: u64,
    /// Cohen's kappa.
    #[serde(serialize_with = "ser::value")]
    pub cohen_kappa: Value,
    /// The Landis & Koch band of `cohen_kappa`; `None` when kappa is undefined.
    pub interpretation: Option<Interpretation>,
    /// Share of annotated rows with the same label (po).
    #[serde(serialize_with = "ser::value")]
    pub observed_agreement: Value,
    /// Chance agreement from the annotators' margins (pe).
    #[serde(serialize_with = "ser::value")]
    pub expected_agreement: Value,
    /// Annotated rows with the same label.
    pub agreements: u64,
    /// Annotated rows with different labels.
    pub disagreements: u64,
    /// Labels either annotator used, in declared order.
    pub labels: Vec<String>,
    /// Annotator A's count per used label.
    pub distribution_a: Distribution,
    /// Annotator B's count per used label.
    pub distribution_b: Distribution,
    /// Asymptotic standard error of kappa (Fleiss, Cohen & Everitt 1969).
    #[serde(serialize_with = "ser::value")]
    pub kappa_se: Value,
    /// 95% Wald interval `[low, high]` from `kappa_se` (not clipped, as statsmodels).
    #[serde(serialize_with = "ser::interval")]
    pub kappa_ci95: Result<[f64; 2], Undefined>,
    /// 95% percentile bootstrap interval (details in `bootstrap`).
    #[serde(serialize_with = "ser::interval")]
    pub kappa_bootstrap_ci95: Result<[f64; 2], Undefined>,
    /// The largest kappa the annotators' margins allow.
    #[serde(serialize_with = "ser::value")]
    pub kappa_max: Value,
    /// Prevalence- and bias-adjusted kappa over the declared categories.
    #[serde(serialize_with = "ser::value")]
    pub pabak: Value,
    /// (a − d)/N of the 2×2 table; two categories only.
    #[serde(serialize_with = "ser::value")]
    pub prevalence_index: Value,
    /// (b − c)/N of the 2×2 table; two categories only.
    #[serde(serialize_with = "ser::value")]
    pub bias_index: Value,
    /// Gwet's AC1 over the declared categories.
    #[serde(serialize_with = "ser::value")]
    pub gwet_ac1: Value,
    /// Krippendorff's alpha, nominal.
    #[serde(serialize_with = "ser::value")]
    pub krippendorff_alpha: Value,
    /// Linearly weighted kappa in declared order; ordered categories only.
    #[serde(serialize_with = "ser::value")]
    pub weighted_kappa_linear: Value,
    /// Quadratically weighted kappa in declared order; ordered categories only.
    #[serde(serialize_with = "ser::value")]
    pub weighted_kappa_quadratic: Value,
    /// Rows annotator A, columns annotator B, over the declared categories.
    pub confusion_matrix: ConfusionMatrix,
    /// The LLM against each annotator and their consensus; `None` without LLM labels.
    pub llm_agreement: Option<LlmAgreement>,
    /// The declared categories (what PABAK and AC1 count).
    pub categories: Vec<String>,
    /// Whether the declared order was treated as meaningful.
    pub ordered: bool,
    /// Standard error of kappa under H0: kappa = 0.
    #[serde(serialize_with = "ser::value")]
    pub kappa_se_h0: Value,
    /// kappa / `kappa_se_h0`.
    #[serde(serialize_with = "ser::value")]
    pub kappa_z: Value,
    /// How `kappa_bootstrap_ci95` was drawn.
    pub bootstrap: BootstrapSummary,
    /// Why each `null` above is `null`.
    pub undefined: Reasons,
}

/// The bootstrap's settings and outcome, so an interval can be reproduced and judged.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct BootstrapSummary {
    /// Always `"percentile"`.
    pub method: &'static str,
    /// The seed.
    pub seed: u64,
    /// Replicates requested (none are drawn when kappa itself is undefined).
    pub replicates: u32,
    /// Replicates dropped because kappa was undefined in them.
    pub undefined_replicates: u32,
    /// Standard deviation of the defined replicates.
    #[serde(serialize_with = "ser::value")]
    pub std_error: Value,
}

/// The LLM's agreement with each annotator and with their consensus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct LlmAgreement {
    /// Against annotator A.
    pub vs_a: LlmComparison,
    /// Against annotator B.
    pub vs_b: LlmComparison,
    /// Against the rows where A and B agree, with their shared label.
    pub vs_consensus: LlmComparison,
}

/// One comparison of the LLM with a reference.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct LlmComparison {
    /// Rows where both the reference and the LLM have a label.
    pub rows: u64,
    /// Share of those rows with the same label.
    #[serde(serialize_with = "ser::value")]
    pub agreement: Value,
    /// Cohen's kappa between the reference and the LLM.
    #[serde(serialize_with = "ser::value")]
    pub cohen_kappa: Value,
    /// Why each `null` above is `null`.
    pub undefined: Reasons,
}

impl LlmComparison {
    fn from_table(table: &ConfusionMatrix) -> Self {
        let agreement = table.observed_agreement();
        let cohen_kappa = table.kappa_value();
        let mut undefined = Reasons::default();
        undefined.note("agreement", &agreement);
        undefined.note("cohen_kappa", &cohen_kappa);
        Self {
            rows: table.total(),
            agreement,
            cohen_kappa,
            undefined,
        }
    }
}

impl AgreementReport {
    /// Why `field` (a JSON field name such as `"cohen_kappa"`) is undefined, if it is.
    #[must_use]
    pub fn why(&self, field: &str) -> Option<&Undefined> {
        self.undefined.get(field)
    }

    fn build(acc: &AgreementAccumulator, options: &AnalysisOptions) -> Self {
        let table = &acc.ab;
        let categories = table.categories();
        let rows = table.row_totals();
        let cols = table.column_totals();
        let used: Vec<usize> = (0..categories.len())
            .filter(|&i| rows[i] + cols[i] > 0)
            .collect();
        let labels: Vec<String> = used
            .iter()
            .map(|&i| categories.labels()[i].clone())
            .collect();
        let distribution = |totals: &[u64]| {
            Distribution(
                used.iter()
                    .map(|&i| (categories.labels()[i].clone(), totals[i]))
                    .collect(),
            )
        };

        let kappa = table.cohen_kappa();
        let cohen_kappa = kappa.as_ref().map(|k| k.kappa).map_err(Clone::clone);
        let with_kappa = |f: &dyn Fn(&crate::CohenKappa) -> Value| -> Value {
            kappa.as_ref().map_err(Clone::clone).and_then(f)
        };
        let kappa_se = with_kappa(&|k| Ok(k.std_error));
        let kappa_se_h0 = with_kappa(&|k| Ok(k.std_error_h0));
        let kappa_z = with_kappa(&|k| k.z.clone());
        let kappa_max = with_kappa(&|k| Ok(k.kappa_max));
        let kappa_ci95 = kappa
            .as_ref()
            .map(crate::CohenKappa::ci95)
            .map_err(Clone::clone);

        let (kappa_bootstrap_ci95, bootstrap) = match &kappa {
            Ok(_) => {
                let boot_options = BootstrapOptions {
                    replicates: options.bootstrap_replicates,
                    seed: options.seed,
                    confidence: 0.95,
                };
                // 0.95 is a valid level, so the bootstrap cannot fail on its options.
                match table.bootstrap_kappa(&boot_options) {
                    Ok(boot) => (
                        boot.interval,
                        BootstrapSummary {
                            method: boot.method,
                            seed: boot.seed,
                            replicates: boot.replicates,
                            undefined_replicates: boot.undefined_replicates,
                            std_error: boot.std_error,
                        },
                    ),
                    Err(_) => skipped_bootstrap(options, Undefined::NoReplicates),
                }
            }
            Err(reason) => skipped_bootstrap(options, reason.clone()),
        };

        let (weighted_kappa_linear, weighted_kappa_quadratic) = if options.ordered {
            (
                table.weighted_kappa(Weights::Linear),
                table.weighted_kappa(Weights::Quadratic),
            )
        } else {
            (Err(Undefined::Unordered), Err(Undefined::Unordered))
        };

        let llm_agreement = acc.llm.as_ref().map(|t| LlmAgreement {
            vs_a: LlmComparison::from_table(&t.vs_a),
            vs_b: LlmComparison::from_table(&t.vs_b),
            vs_consensus: LlmComparison::from_table(&t.vs_consensus),
        });

        let mut report = Self {
            kind: "categorical",
            total_rows: acc.rows,
            annotated_rows: table.total(),
            interpretation: kappa.as_ref().ok().map(|k| k.interpretation),
            cohen_kappa,
            observed_agreement: table.observed_agreement(),
            expected_agreement: table.expected_agreement(),
            agreements: table.agreements(),
            disagreements: table.disagreements(),
            distribution_a: distribution(&rows),
            distribution_b: distribution(&cols),
            labels,
            kappa_se,
            kappa_ci95,
            kappa_bootstrap_ci95,
            kappa_max,
            pabak: table.pabak(),
            prevalence_index: table.prevalence_index(),
            bias_index: table.bias_index(),
            gwet_ac1: table.gwet_ac1(),
            krippendorff_alpha: table.krippendorff_alpha(Level::Nominal),
            weighted_kappa_linear,
            weighted_kappa_quadratic,
            confusion_matrix: table.clone(),
            llm_agreement,
            categories: categories.labels().to_vec(),
            ordered: options.ordered,
            kappa_se_h0,
            kappa_z,
            bootstrap,
            undefined: Reasons::default(),
        };
        report.undefined = report.reasons();
        report
    }

    fn reasons(&self) -> Reasons {
        let mut r = Reasons::default();
        r.note("cohen_kappa", &self.cohen_kappa);
        r.note("observed_agreement", &self.observed_agreement);
        r.note("expected_agreement", &self.expected_agreement);
        r.note("kappa_se", &self.kappa_se);
        r.note("kappa_ci95", &self.kappa_ci95);
        r.note("kappa_bootstrap_ci95", &self.kappa_bootstrap_ci95);
        r.note("kappa_max", &self.kappa_max);
        r.note("pabak", &self.pabak);
        r.note("prevalence_index", &self.prevalence_index);
        r.note("bias_index", &self.bias_index);
        r.note("gwet_ac1", &self.gwet_ac1);
        r.note("krippendorff_alpha", &self.krippendorff_alpha);
        r.note("weighted_kappa_linear", &self.weighted_kappa_linear);
        r.note("weighted_kappa_quadratic", &self.weighted_kappa_quadratic);
        if self.llm_agreement.is_none() {
            r.push("llm_agreement", Undefined::NoLlmLabels);
        }
        r.note("kappa_se_h0", &self.kappa_se_h0);
        r.note("kappa_z", &self.kappa_z);
        r
    }
}

fn skipped_bootstrap(
    options: &AnalysisOptions,
    reason: Undefined,
) -> (Result<[f64; 2], Undefined>, BootstrapSummary) {
    (
        Err(reason.clone()),
        BootstrapSummary {
            method: "percentile",
            seed: options.seed,
            replicates: options.bootstrap_replicates,
            undefined_replicates: 0,
            std_error: Err(reason),
        },
    )
}

/// Adds every cell of `other` to `table` (two tables over the same categories).
fn add_table(table: &mut ConfusionMatrix, other: &ConfusionMatrix) {
    let k = other.categories().len();
    for (cell, &count) in other.cells().iter().enumerate() {
        if count > 0 {
            table.add_unchecked(cell / k, cell % k, count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relevance() -> Categories {
        Categories::new(["R", "S", "C", "N"]).unwrap()
    }

    #[test]
    fn merged_accumulators_equal_one_that_saw_every_row() {
        let rows: Vec<(Option<usize>, Option<usize>, Option<usize>)> = (0..500usize)
            .map(|i| {
                let pick = |n: usize| (n % 5 < 4).then_some(n % 4);
                (pick(i * 7), pick(i * 3 + i / 5), pick(i * 11 + 1))
            })
            .collect();
        let mut whole = AgreementAccumulator::new(relevance());
        for &(a, b, l) in &rows {
            whole.push_indices_with_llm(a, b, l).unwrap();
        }
        for cut in [0, 1, 250, 499, 500] {
            let mut first = AgreementAccumulator::new(relevance());
            let mut second = AgreementAccumulator::new(relevance());
            for &(a, b, l) in &rows[..cut] {
                first.push_indices_with_llm(a, b, l).unwrap();
            }
            for &(a, b, l) in &rows[cut..] {
                second.push_indices_with_llm(a, b, l).unwrap();
            }
            first.merge(&second).unwrap();
            assert_eq!(first, whole, "cut at {cut}");
        }
        let other = AgreementAccumulator::new(Categories::new(["R", "N"]).unwrap());
        assert_eq!(whole.clone().merge(&other), Err(Error::CategoryMismatch));
    }

    #[test]
    fn a_bad_label_counts_nothing_for_its_row() {
        let mut acc = AgreementAccumulator::new(relevance());
        acc.push(Some("R"), Some("R")).unwrap();
        let err = acc
            .push_with_llm(Some("R"), Some("S"), Some("maybe"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "LLM at index 1: `maybe` is not a declared category (expected one of: R, S, C, N)"
        );
        assert_eq!(acc.rows(), 1);
        assert_eq!(acc.matrix().total(), 1);
        assert!(acc.push_indices(Some(4), Some(0)).is_err());
        assert!(
            acc.push_indices_with_llm(Some(0), Some(0), Some(9))
                .is_err()
        );
        assert_eq!(acc.rows(), 1);
    }

    #[test]
    fn empty_cells_are_not_annotated_never_a_label() {
        let mut acc = AgreementAccumulator::new(relevance());
        acc.push(None, Some("N")).unwrap();
        acc.push(Some("N"), None).unwrap();
        acc.push(Some("N"), Some("N")).unwrap();
        acc.push_indices(Some(0), Some(0)).unwrap();
        let r = acc.report(&AnalysisOptions::default());
        assert_eq!((r.total_rows, r.annotated_rows), (4, 2));
        assert_eq!(r.labels, ["R", "N"]);
        assert_eq!(r.distribution_a.get("N"), 1);
        assert_eq!(r.distribution_a.get("S"), 0);
    }

    /// Both annotators said N on every row: kappa and everything derived from it is null with
    /// the same reason, while po, PABAK and AC1 are given.
    #[test]
    fn degenerate_field_report() {
        let mut acc = AgreementAccumulator::new(relevance());
        for _ in 0..5 {
            acc.push_with_llm(Some("N"), Some("N"), Some("R")).unwrap();
        }
        let r = acc.report(&AnalysisOptions {
            ordered: true,
            ..AnalysisOptions::default()
        });
        let single = Undefined::SingleLabel { label: "N".into() };
        for field in [
            "cohen_kappa",
            "kappa_se",
            "kappa_ci95",
            "kappa_bootstrap_ci95",
            "kappa_max",
            "krippendorff_alpha",
            "weighted_kappa_linear",
            "weighted_kappa_quadratic",
            "kappa_z",
        ] {
            assert_eq!(r.why(field), Some(&single), "{field}");
        }
        assert_eq!(r.interpretation, None);
        assert_eq!(r.observed_agreement, Ok(1.0));
        assert_eq!(r.pabak, Ok(1.0));
        assert_eq!(r.gwet_ac1, Ok(1.0));
        assert_eq!(
            r.why("prevalence_index"),
            Some(&Undefined::NotTwoCategories { declared: 4 })
        );
        let llm = r.llm_agreement.as_ref().unwrap();
        assert_eq!(llm.vs_consensus.agreement, Ok(0.0));
        // The LLM said R, the annotators N: kappa is 0, not undefined (margins differ).
        assert_eq!(llm.vs_a.cohen_kappa, Ok(0.0));

        let json = serde_json::to_value(&r).unwrap();
        assert!(json["cohen_kappa"].is_null());
        assert!(json["interpretation"].is_null());
        assert_eq!(json["undefined"]["cohen_kappa"]["code"], "single_label");
        assert_eq!(json["pabak"], 1.0);
    }

    #[test]
    fn empty_field_report_has_no_numbers_and_no_panic() {
        let acc = AgreementAccumulator::new(relevance());
        let r = acc.report(&AnalysisOptions::default());
        assert_eq!(r.cohen_kappa, Err(Undefined::NoItems));
        assert_eq!(r.observed_agreement, Err(Undefined::NoItems));
        assert_eq!(r.pabak, Err(Undefined::NoItems));
        assert_eq!(r.why("llm_agreement"), Some(&Undefined::NoLlmLabels));
        assert_eq!(r.why("weighted_kappa_linear"), Some(&Undefined::Unordered));
        assert!(r.labels.is_empty());
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    }

    #[test]
    fn json_field_names_follow_the_contract() {
        let mut acc = AgreementAccumulator::new(Categories::new(["true", "false"]).unwrap());
        for (a, b, l) in [
            ("true", "true", "true"),
            ("false", "false", "true"),
            ("true", "false", "false"),
        ] {
            acc.push_with_llm(Some(a), Some(b), Some(l)).unwrap();
        }
        let json = serde_json::to_value(acc.report(&AnalysisOptions::default())).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "kind",
                "total_rows",
                "annotated_rows",
                "cohen_kappa",
                "interpretation",
                "observed_agreement",
                "expected_agreement",
                "agreements",
                "disagreements",
                "labels",
                "distribution_a",
                "distribution_b",
                "kappa_se",
                "kappa_ci95",
                "kappa_bootstrap_ci95",
                "kappa_max",
                "pabak",
                "prevalence_index",
                "bias_index",
                "gwet_ac1",
                "krippendorff_alpha",
                "weighted_kappa_linear",
                "weighted_kappa_quadratic",
                "confusion_matrix",
                "llm_agreement",
                "categories",
                "ordered",
                "kappa_se_h0",
                "kappa_z",
                "bootstrap",
                "undefined",
            ]
        );
        assert_eq!(keys[1..=CONTRACT_METRICS.len()], CONTRACT_METRICS);
        assert_eq!(
            json["confusion_matrix"]["counts"],
            serde_json::json!([[1, 1], [0, 1]])
        );
        assert_eq!(
            json["distribution_a"],
            serde_json::json!({"true": 2, "false": 1})
        );
        assert_eq!(json["kappa_ci95"].as_array().unwrap().len(), 2);
        assert_eq!(json["bootstrap"]["seed"], DEFAULT_SEED);
        assert_eq!(json["bootstrap"]["method"], "percentile");
        assert_eq!(json["llm_agreement"]["vs_consensus"]["rows"], 2);
        assert!(json["interpretation"].is_string());
        assert_eq!(
            json["undefined"]["weighted_kappa_linear"]["code"],
            "unordered"
        );
    }
}
