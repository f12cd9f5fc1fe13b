//! Inter-annotator agreement statistics for two (or more) raters: Cohen's kappa with its
//! asymptotic standard error and intervals, weighted kappa, Fleiss' kappa, Krippendorff's alpha,
//! Gwet's AC1, PABAK with prevalence and bias indices, confusion matrices.
//!
//! Pure computation over labels already read: this crate must not depend on CSV, files, the
//! command line or any other crate of the workspace.
//!
//! # Where to start
//!
//! - One-call functions over two label slices: [`cohen_kappa`], [`weighted_kappa`], [`pabak`],
//!   [`gwet_ac1`]; over many raters: [`fleiss_kappa`], [`krippendorff_alpha`]; over lists and
//!   texts: [`jaccard`], [`token_overlap`].
//! - [`ConfusionMatrix`]: the two-rater table every statistic is computed from, with
//!   [`CohenKappa`] (standard errors, z, kappa_max) and a seeded bootstrap.
//! - [`AgreementAccumulator`]: streams rows of (annotator A, annotator B, LLM) labels into an
//!   [`AgreementReport`] that serialises to the `calculate-agreement --json` contract;
//!   [`ListAgreement`] and [`TextAgreement`] do the same for list and free-text fields.
//!
//! # Categories
//!
//! Every function takes the field's declared categories ([`Categories`]) in their meaningful
//! order. Weighted kappa measures distance by that order (never by sorting strings), and PABAK
//! and AC1 count all declared categories, including ones nobody used.
//!
//! # Undefined values
//!
//! One rule covers every degenerate input: a coefficient that would be 0/0 is an
//! [`Undefined`] with a reason, never `NaN`, never a silent 1.0, never a panic. In particular,
//! when both raters gave every item one and the same label, expected agreement is 1 and kappa is
//! [`Undefined::SingleLabel`], while observed agreement, PABAK and AC1 are still reported.
//!
//! ```
//! let a = ["0", "0", "1", "1", "2", "2", "2", "1", "0", "2"];
//! let b = ["0", "1", "1", "1", "2", "1", "2", "2", "0", "2"];
//! let levels = ["0", "1", "2"];
//! assert!((agreement::cohen_kappa(&levels, &a, &b)? - 6.0 / 11.0).abs() < 1e-12);
//! let quadratic = agreement::weighted_kappa(&levels, &a, &b, agreement::Weights::Quadratic)?;
//! assert!((quadratic - 16.0 / 21.0).abs() < 1e-12);
//!
//! let same = ["N", "N", "N"];
//! let err = agreement::cohen_kappa(&["R", "N"], &same, &same).unwrap_err();
//! assert!(matches!(err, agreement::Error::Undefined { reason: agreement::Undefined::SingleLabel { .. }, .. }));
//! assert_eq!(agreement::pabak(&["R", "N"], &same, &same)?, 1.0);
//! # Ok::<(), agreement::Error>(())
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod bootstrap;
mod categories;
mod error;
mod interpret;
mod matrix;
mod multi;
mod normal;
mod overlap;
mod portable;
mod report;
mod ser;

pub use bootstrap::{BootstrapInterval, BootstrapOptions, DEFAULT_REPLICATES, DEFAULT_SEED};
pub use categories::{Categories, MAX_CATEGORIES};
pub use error::{Error, Undefined, Value};
pub use interpret::Interpretation;
pub use matrix::{CohenKappa, ConfusionMatrix, Level, MAX_ITEMS, Weights};
pub use multi::{fleiss_kappa, krippendorff_alpha};
pub use normal::z_for_confidence;
pub use overlap::{
    ListAgreement, ListComparison, ListLlmAgreement, ListReport, TextAgreement, TextComparison,
    TextLlmAgreement, TextReport, jaccard, normalize_text, same_set, same_text, token_overlap,
};
pub use report::{
    AgreementAccumulator, AgreementReport, AnalysisOptions, BootstrapSummary, CONTRACT_METRICS,
    LlmAgreement, LlmComparison,
};
pub use ser::{Distribution, Reasons};

fn table<C, A, B>(categories: &[C], a: &[A], b: &[B]) -> Result<ConfusionMatrix, Error>
where
    C: AsRef<str>,
    A: AsRef<str>,
    B: AsRef<str>,
{
    let categories = Categories::new(categories.iter().map(|c| c.as_ref().to_owned()))?;
    ConfusionMatrix::from_labels(categories, a, b)
}

/// Cohen's kappa of two raters' labels for the same items.
///
/// ```
/// // scikit-learn's cohen_kappa_score([0,1,1,0,1], [0,1,0,0,1]) = 0.6154 (exactly 8/13).
/// let kappa = agreement::cohen_kappa(&["0", "1"], &["0", "1", "1", "0", "1"], &["0", "1", "0", "0", "1"])?;
/// assert!((kappa - 8.0 / 13.0).abs() < 1e-12);
/// # Ok::<(), agreement::Error>(())
/// ```
///
/// # Errors
/// A category list error, [`Error::LengthMismatch`], [`Error::UnknownLabel`], or
/// [`Error::Undefined`] for no items or a single shared label.
pub fn cohen_kappa<C, A, B>(categories: &[C], a: &[A], b: &[B]) -> Result<f64, Error>
where
    C: AsRef<str>,
    A: AsRef<str>,
    B: AsRef<str>,
{
    table(categories, a, b)?
        .kappa_value()
        .map_err(|reason| reason.for_coefficient("Cohen's kappa"))
}

/// Weighted kappa with distances from the position of each label in `categories`.
///
/// # Errors
/// As [`cohen_kappa`].
pub fn weighted_kappa<C, A, B>(
    categories: &[C],
    a: &[A],
    b: &[B],
    weights: Weights,
) -> Result<f64, Error>
where
    C: AsRef<str>,
    A: AsRef<str>,
    B: AsRef<str>,
{
    table(categories, a, b)?
        .weighted_kappa(weights)
        .map_err(|reason| reason.for_coefficient("weighted kappa"))
}

/// PABAK (= Bennett's S = Brennan–Prediger) over all declared `categories`.
///
/// ```
/// // 20 items, 18 joint "0", two split: kappa is slightly negative, PABAK is 0.8.
/// let mut a = vec!["0"; 18];
/// let mut b = vec!["0"; 18];
/// a.extend(["0", "1"]);
/// b.extend(["1", "0"]);
/// assert!((agreement::pabak(&["0", "1"], &a, &b)? - 0.8).abs() < 1e-12);
/// assert!((agreement::cohen_kappa(&["0", "1"], &a, &b)? + 1.0 / 19.0).abs() < 1e-12);
/// # Ok::<(), agreement::Error>(())
/// ```
///
/// # Errors
/// A category list error, [`Error::LengthMismatch`], [`Error::UnknownLabel`], or
/// [`Error::Undefined`] for no items or a single declared category.
pub fn pabak<C, A, B>(categories: &[C], a: &[A], b: &[B]) -> Result<f64, Error>
where
    C: AsRef<str>,
    A: AsRef<str>,
    B: AsRef<str>,
{
    table(categories, a, b)?
        .pabak()
        .map_err(|reason| reason.for_coefficient("PABAK"))
}

/// Gwet's AC1 over all declared `categories`.
///
/// ```
/// let mut a = vec!["0"; 18];
/// let mut b = vec!["0"; 18];
/// a.extend(["0", "1"]);
/// b.extend(["1", "0"]);
/// let ac1 = agreement::gwet_ac1(&["0", "1"], &a, &b)?;
/// assert!((ac1 - 161.0 / 181.0).abs() < 1e-12); // 0.890
/// # Ok::<(), agreement::Error>(())
/// ```
///
/// # Errors
/// As [`pabak`].
pub fn gwet_ac1<C, A, B>(categories: &[C], a: &[A], b: &[B]) -> Result<f64, Error>
where
    C: AsRef<str>,
    A: AsRef<str>,
    B: AsRef<str>,
{
    table(categories, a, b)?
        .gwet_ac1()
        .map_err(|reason| reason.for_coefficient("Gwet's AC1"))
}
