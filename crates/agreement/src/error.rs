//! The crate's two failure types: [`Error`] for input the statistics cannot be computed from,
//! and [`Undefined`] for well-formed input on which a coefficient has no value.

/// Input that cannot be analysed: a label outside the declared categories, tables of the wrong
/// shape, rater lists of different lengths, or an option out of range.
///
/// Positions are 0-based indices into what the caller passed; a binary that reads a file adds
/// its own file and line context around them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The category list is empty.
    #[error("no categories were declared; at least one is needed")]
    NoCategories,

    /// A category appears twice in the declared list.
    #[error("category `{label}` is declared twice")]
    DuplicateCategory {
        /// The repeated label.
        label: String,
    },

    /// More categories than the dense tables of this crate are built for.
    #[error("{count} categories declared; at most {max} are supported")]
    TooManyCategories {
        /// How many were declared.
        count: usize,
        /// The limit ([`crate::MAX_CATEGORIES`]).
        max: usize,
    },

    /// More items than the exact integer arithmetic is built for.
    #[error("more than {max} items; counts beyond that are not supported")]
    TooManyItems {
        /// The limit ([`crate::MAX_ITEMS`]).
        max: u64,
    },

    /// A label that is not one of the declared categories.
    #[error(
        "{rater} at index {index}: `{label}` is not a declared category (expected one of: {})",
        .allowed.join(", ")
    )]
    UnknownLabel {
        /// The offending label.
        label: String,
        /// Who gave it (`rater A`, `rater B`, `LLM`, `coder 3`, ...).
        rater: String,
        /// The item (or unit) index.
        index: u64,
        /// The declared categories.
        allowed: Vec<String>,
    },

    /// A category index at or beyond the number of declared categories.
    #[error(
        "{rater} at index {index}: category index {category} is out of range (there are {count} categories)"
    )]
    IndexOutOfRange {
        /// The offending index.
        category: usize,
        /// Who gave it.
        rater: String,
        /// The item index.
        index: u64,
        /// How many categories there are.
        count: usize,
    },

    /// Two accumulators over different category lists cannot be merged.
    #[error("the two tallies were built over different categories and cannot be merged")]
    CategoryMismatch,

    /// Two label sequences that should pair up item by item have different lengths.
    #[error("rater A gave {a} labels but rater B gave {b}; they must label the same items")]
    LengthMismatch {
        /// Labels from the first rater.
        a: usize,
        /// Labels from the second rater.
        b: usize,
    },

    /// A count table whose row does not have one column per category.
    #[error(
        "row {row} of the count table has {found} columns; expected {expected} (one per category)"
    )]
    TableShape {
        /// The row index.
        row: usize,
        /// Its number of columns.
        found: usize,
        /// The number of categories.
        expected: usize,
    },

    /// A square table was expected (rows = columns = categories).
    #[error("the confusion matrix has {rows} rows; expected {expected} (one per category)")]
    NotSquare {
        /// Rows given.
        rows: usize,
        /// The number of categories.
        expected: usize,
    },

    /// Fleiss' kappa needs the same number of ratings for every subject.
    #[error(
        "subject {subject} has {found} ratings but subject 0 has {expected}; Fleiss' kappa needs the same number of raters for every subject"
    )]
    UnequalRaters {
        /// The subject index.
        subject: usize,
        /// Its ratings.
        found: u64,
        /// The ratings of subject 0.
        expected: u64,
    },

    /// Fewer than two ratings per subject: there is no pair to agree.
    #[error("Fleiss' kappa needs at least 2 ratings per subject; subject 0 has {found}")]
    TooFewRatings {
        /// Ratings per subject.
        found: u64,
    },

    /// Reliability data whose coders rated different numbers of units.
    #[error(
        "coder {coder} has {found} entries but coder 0 has {expected}; use `None` for units a coder did not rate"
    )]
    RaggedCoders {
        /// The coder index.
        coder: usize,
        /// Its number of entries.
        found: usize,
        /// Entries of coder 0.
        expected: usize,
    },

    /// A confidence level outside the open interval (0, 1).
    #[error("confidence level {value} must lie strictly between 0 and 1 (for example 0.95)")]
    InvalidConfidence {
        /// The level given.
        value: f64,
    },

    /// The inputs are valid but the coefficient has no value on them.
    #[error("{coefficient} is undefined: {reason}")]
    Undefined {
        /// Which coefficient (`Cohen's kappa`, `Krippendorff's alpha`, ...).
        coefficient: &'static str,
        /// Why.
        reason: Undefined,
    },
}

/// Why a coefficient has no value on otherwise valid data.
///
/// This is the crate's one rule for degenerate input: rather than `NaN`, a silent `1.0` or a
/// panic, every coefficient that would divide by zero is reported as undefined with one of
/// these reasons. Serialised as `{"code": "...", "message": "..."}` so a report can put `null`
/// in the value's place and say why beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Undefined {
    /// There is nothing to compare (no item with labels from two raters).
    #[error("no item has labels from two raters to compare")]
    NoItems,

    /// Expected (chance) agreement is 1: every rating is this one label.
    #[error(
        "every rating is `{label}`: chance agreement is 100%, so the coefficient is 0/0 (undefined, not 1)"
    )]
    SingleLabel {
        /// The only label used.
        label: String,
    },

    /// The coefficient needs more declared categories.
    #[error("needs at least {needed} declared categories; {declared} declared")]
    TooFewCategories {
        /// Categories declared.
        declared: usize,
        /// Categories needed.
        needed: usize,
    },

    /// The prevalence and bias indices are defined for 2×2 tables only.
    #[error("defined for exactly two categories; {declared} declared")]
    NotTwoCategories {
        /// Categories declared.
        declared: usize,
    },

    /// Weighted kappa needs an order on the categories.
    #[error("the categories are not declared ordered, so distance weights have no meaning")]
    Unordered,

    /// The test statistic under H0 divides by a zero standard error.
    #[error("the standard error under the null hypothesis is zero")]
    ZeroNullVariance,

    /// No third-rater (LLM) labels were given.
    #[error("no LLM labels were given")]
    NoLlmLabels,

    /// Every bootstrap replicate had an undefined coefficient.
    #[error("the coefficient was undefined in all {replicates} bootstrap replicates")]
    AllReplicatesUndefined {
        /// Replicates drawn.
        replicates: u32,
    },

    /// The bootstrap was asked for zero replicates.
    #[error("the bootstrap was turned off (0 replicates)")]
    NoReplicates,
}

impl Undefined {
    /// A stable machine-readable name for the reason (`no_items`, `single_label`, ...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoItems => "no_items",
            Self::SingleLabel { .. } => "single_label",
            Self::TooFewCategories { .. } => "too_few_categories",
            Self::NotTwoCategories { .. } => "not_two_categories",
            Self::Unordered => "unordered",
            Self::ZeroNullVariance => "zero_null_variance",
            Self::NoLlmLabels => "no_llm_labels",
            Self::AllReplicatesUndefined { .. } => "all_replicates_undefined",
            Self::NoReplicates => "no_replicates",
        }
    }

    /// Wraps the reason into an [`Error`] naming the coefficient.
    #[must_use]
    pub fn for_coefficient(self, coefficient: &'static str) -> Error {
        Error::Undefined {
            coefficient,
            reason: self,
        }
    }
}

impl serde::Serialize for Undefined {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Undefined", 2)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

/// A coefficient's value, or why it has none.
pub type Value = Result<f64, Undefined>;
