//! Agreement on list-valued and free-text fields, where labels are not drawn from a fixed set.
//!
//! Lists are compared as sets of trimmed, lower-cased items (Jaccard overlap and exact-set
//! agreement); texts are compared after normalisation (exact agreement) and as sets of word
//! tokens (Jaccard overlap). Two empty lists, or two texts without a word, count as agreeing:
//! both raters said "nothing".

use std::collections::BTreeSet;

use crate::ser::{self, Reasons};
use crate::{Undefined, Value};

fn item_set<I>(items: I) -> BTreeSet<String>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    items
        .into_iter()
        .map(|item| item.as_ref().trim().to_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

fn set_jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    let shared = a.intersection(b).count();
    #[expect(clippy::cast_precision_loss, reason = "set sizes")]
    let overlap = shared as f64 / union as f64;
    overlap
}

/// Jaccard overlap |A ∩ B| / |A ∪ B| of two lists taken as sets of trimmed, lower-cased,
/// non-empty items; 1 when both are empty.
///
/// ```
/// let a = ["Kitchen", "outdoor ", "gift"];
/// let b = ["kitchen", "Gift", "camping"];
/// assert_eq!(agreement::jaccard(&a, &b), 0.5);
/// assert_eq!(agreement::jaccard::<&str, &str>(&[], &[]), 1.0);
/// ```
#[must_use]
pub fn jaccard<A: AsRef<str>, B: AsRef<str>>(a: &[A], b: &[B]) -> f64 {
    set_jaccard(&item_set(a), &item_set(b))
}

/// Whether two lists hold the same items, ignoring order, case, surrounding spaces and
/// repeats.
#[must_use]
pub fn same_set<A: AsRef<str>, B: AsRef<str>>(a: &[A], b: &[B]) -> bool {
    item_set(a) == item_set(b)
}

/// Lower-cases `text` and keeps only its words (runs of letters and digits), one space apart:
/// `"  Kitchen-use, mostly. "` becomes `"kitchen use mostly"`.
#[must_use]
pub fn normalize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in words(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    out
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Jaccard overlap of the two texts' sets of lower-cased words; 1 when neither has a word.
///
/// ```
/// let overlap = agreement::token_overlap("Keeps drinks cold", "keeps drinks cold for hours");
/// assert!((overlap - 0.6).abs() < 1e-12);
/// ```
#[must_use]
pub fn token_overlap(a: &str, b: &str) -> f64 {
    let a: BTreeSet<String> = words(a).collect();
    let b: BTreeSet<String> = words(b).collect();
    set_jaccard(&a, &b)
}

/// Whether two texts are equal after [`normalize_text`].
#[must_use]
pub fn same_text(a: &str, b: &str) -> bool {
    words(a).eq(words(b))
}

/// Running totals of one comparison: pairs, exact matches, and the summed overlap (with
/// Neumaier compensation, so a million small terms lose nothing measurable).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    rows: u64,
    exact: u64,
    sum: f64,
    compensation: f64,
}

impl Tally {
    fn add(&mut self, exact: bool, overlap: f64) {
        self.rows += 1;
        self.exact += u64::from(exact);
        let t = self.sum + overlap;
        if self.sum.abs() >= overlap.abs() {
            self.compensation += (self.sum - t) + overlap;
        } else {
            self.compensation += (overlap - t) + self.sum;
        }
        self.sum = t;
    }

    #[expect(clippy::cast_precision_loss, reason = "row counts")]
    fn exact_share(&self) -> Value {
        if self.rows == 0 {
            return Err(Undefined::NoItems);
        }
        Ok(self.exact as f64 / self.rows as f64)
    }

    #[expect(clippy::cast_precision_loss, reason = "row counts")]
    fn mean_overlap(&self) -> Value {
        if self.rows == 0 {
            return Err(Undefined::NoItems);
        }
        Ok((self.sum + self.compensation) / self.rows as f64)
    }
}

/// Three comparisons against a third rater (the LLM): with A, with B, and with A and B's
/// consensus (items where they agree exactly).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ThirdRater {
    vs_a: Tally,
    vs_b: Tally,
    vs_consensus: Tally,
}

/// A list field's agreement summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ListReport {
    /// Always `"list"`.
    pub kind: &'static str,
    /// Rows seen.
    pub total_rows: u64,
    /// Rows where both annotators gave a list.
    pub annotated_rows: u64,
    /// Mean Jaccard overlap of A's and B's item sets.
    #[serde(serialize_with = "ser::value")]
    pub mean_jaccard: Value,
    /// Share of rows where A's and B's sets are equal.
    #[serde(serialize_with = "ser::value")]
    pub exact_set_agreement: Value,
    /// The LLM against each annotator and their consensus; `None` without LLM lists.
    pub llm_agreement: Option<ListLlmAgreement>,
    /// Why each `null` above is `null`.
    pub undefined: Reasons,
}

/// The LLM's list agreement with each annotator and with their consensus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ListLlmAgreement {
    /// Against annotator A.
    pub vs_a: ListComparison,
    /// Against annotator B.
    pub vs_b: ListComparison,
    /// Against the rows where A and B gave the same set.
    pub vs_consensus: ListComparison,
}

/// One list comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ListComparison {
    /// Rows compared.
    pub rows: u64,
    /// Mean Jaccard overlap.
    #[serde(serialize_with = "ser::value")]
    pub mean_jaccard: Value,
    /// Share of rows with equal sets.
    #[serde(serialize_with = "ser::value")]
    pub exact_set_agreement: Value,
}

impl ListComparison {
    fn from_tally(tally: &Tally) -> Self {
        Self {
            rows: tally.rows,
            mean_jaccard: tally.mean_overlap(),
            exact_set_agreement: tally.exact_share(),
        }
    }
}

/// Streams a list field's annotations into a [`ListReport`] without keeping the rows.
///
/// `None` is a cell the annotator left empty (not annotated); `Some` of an empty list is an
/// explicit "no items", which the caller decides how to spell.
///
/// ```
/// use agreement::ListAgreement;
///
/// let mut field = ListAgreement::new();
/// field.push_with_llm(Some(["gift", "kitchen"]), Some(["kitchen", "gift"]), Some(["gift"]));
/// field.push_with_llm(Some(vec!["camping"]), Some(vec!["camping", "hiking"]), None::<Vec<&str>>);
/// field.push(None::<&[&str]>, Some(["outdoor"]));
/// let report = field.report();
/// assert_eq!((report.total_rows, report.annotated_rows), (3, 2));
/// assert_eq!(report.exact_set_agreement, Ok(0.5));
/// assert_eq!(report.mean_jaccard, Ok(0.75));
/// assert_eq!(report.llm_agreement.unwrap().vs_consensus.mean_jaccard, Ok(0.5));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListAgreement {
    rows: u64,
    ab: Tally,
    llm: Option<ThirdRater>,
}

impl ListAgreement {
    /// An empty tally.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row from the two annotators (any iterables of strings: slices, `Vec`s,
    /// arrays).
    pub fn push<A, B>(&mut self, a: Option<A>, b: Option<B>)
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        B: IntoIterator,
        B::Item: AsRef<str>,
    {
        self.rows += 1;
        if let (Some(a), Some(b)) = (a, b) {
            let (a, b) = (item_set(a), item_set(b));
            self.ab.add(a == b, set_jaccard(&a, &b));
        }
    }

    /// Adds one row from the two annotators and the LLM.
    pub fn push_with_llm<A, B, L>(&mut self, a: Option<A>, b: Option<B>, llm: Option<L>)
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        B: IntoIterator,
        B::Item: AsRef<str>,
        L: IntoIterator,
        L::Item: AsRef<str>,
    {
        self.rows += 1;
        let a = a.map(item_set);
        let b = b.map(item_set);
        let llm_sets = self.llm.get_or_insert_with(ThirdRater::default);
        if let (Some(a), Some(b)) = (&a, &b) {
            self.ab.add(a == b, set_jaccard(a, b));
        }
        let Some(llm) = llm.map(item_set) else {
            return;
        };
        if let Some(a) = &a {
            llm_sets.vs_a.add(*a == llm, set_jaccard(a, &llm));
        }
        if let Some(b) = &b {
            llm_sets.vs_b.add(*b == llm, set_jaccard(b, &llm));
        }
        if let (Some(a), Some(b)) = (&a, &b)
            && a == b
        {
            llm_sets.vs_consensus.add(*a == llm, set_jaccard(a, &llm));
        }
    }

    /// The summary so far.
    #[must_use]
    pub fn report(&self) -> ListReport {
        let mut undefined = Reasons::default();
        let mean_jaccard = self.ab.mean_overlap();
        let exact_set_agreement = self.ab.exact_share();
        undefined.note("mean_jaccard", &mean_jaccard);
        undefined.note("exact_set_agreement", &exact_set_agreement);
        let llm_agreement = self.llm.as_ref().map(|llm| ListLlmAgreement {
            vs_a: ListComparison::from_tally(&llm.vs_a),
            vs_b: ListComparison::from_tally(&llm.vs_b),
            vs_consensus: ListComparison::from_tally(&llm.vs_consensus),
        });
        if llm_agreement.is_none() {
            undefined.push("llm_agreement", Undefined::NoLlmLabels);
        }
        ListReport {
            kind: "list",
            total_rows: self.rows,
            annotated_rows: self.ab.rows,
            mean_jaccard,
            exact_set_agreement,
            llm_agreement,
            undefined,
        }
    }
}

/// A free-text field's agreement summary.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct TextReport {
    /// Always `"text"`.
    pub kind: &'static str,
    /// Rows seen.
    pub total_rows: u64,
    /// Rows where both annotators wrote something.
    pub annotated_rows: u64,
    /// Share of rows whose texts are equal after [`normalize_text`].
    #[serde(serialize_with = "ser::value")]
    pub exact_agreement: Value,
    /// Mean word-set Jaccard overlap.
    #[serde(serialize_with = "ser::value")]
    pub mean_token_overlap: Value,
    /// The LLM against each annotator and their consensus; `None` without LLM texts.
    pub llm_agreement: Option<TextLlmAgreement>,
    /// Why each `null` above is `null`.
    pub undefined: Reasons,
}

/// The LLM's text agreement with each annotator and with their consensus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct TextLlmAgreement {
    /// Against annotator A.
    pub vs_a: TextComparison,
    /// Against annotator B.
    pub vs_b: TextComparison,
    /// Against the rows where A and B wrote the same normalised text.
    pub vs_consensus: TextComparison,
}

/// One text comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct TextComparison {
    /// Rows compared.
    pub rows: u64,
    /// Share of rows with equal normalised text.
    #[serde(serialize_with = "ser::value")]
    pub exact_agreement: Value,
    /// Mean word-set Jaccard overlap.
    #[serde(serialize_with = "ser::value")]
    pub mean_token_overlap: Value,
}

impl TextComparison {
    fn from_tally(tally: &Tally) -> Self {
        Self {
            rows: tally.rows,
            exact_agreement: tally.exact_share(),
            mean_token_overlap: tally.mean_overlap(),
        }
    }
}

/// Streams a free-text field's annotations into a [`TextReport`] without keeping the rows.
///
/// `None` is a cell left empty (not annotated); a text with only spaces or punctuation is
/// treated the same way, since it carries no answer.
///
/// ```
/// use agreement::TextAgreement;
///
/// let mut field = TextAgreement::new();
/// field.push(Some("Keeps drinks cold."), Some("keeps drinks  COLD"));
/// field.push(Some("keeps drinks cold"), Some("keeps drinks cold for hours"));
/// field.push(Some("  "), Some("anything"));
/// let report = field.report();
/// assert_eq!(report.annotated_rows, 2);
/// assert_eq!(report.exact_agreement, Ok(0.5));
/// assert!((report.mean_token_overlap.unwrap() - 0.8).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextAgreement {
    rows: u64,
    ab: Tally,
    llm: Option<ThirdRater>,
}

fn text_tokens(text: Option<&str>) -> Option<(String, BTreeSet<String>)> {
    let normalised = normalize_text(text?);
    if normalised.is_empty() {
        return None;
    }
    let tokens = normalised.split(' ').map(str::to_owned).collect();
    Some((normalised, tokens))
}

impl TextAgreement {
    /// An empty tally.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row from the two annotators.
    pub fn push(&mut self, a: Option<&str>, b: Option<&str>) {
        self.rows += 1;
        if let (Some(a), Some(b)) = (text_tokens(a), text_tokens(b)) {
            self.ab.add(a.0 == b.0, set_jaccard(&a.1, &b.1));
        }
    }

    /// Adds one row from the two annotators and the LLM.
    pub fn push_with_llm(&mut self, a: Option<&str>, b: Option<&str>, llm: Option<&str>) {
        self.rows += 1;
        let (a, b) = (text_tokens(a), text_tokens(b));
        let third = self.llm.get_or_insert_with(ThirdRater::default);
        if let (Some(a), Some(b)) = (&a, &b) {
            self.ab.add(a.0 == b.0, set_jaccard(&a.1, &b.1));
        }
        let Some(llm) = text_tokens(llm) else {
            return;
        };
        if let Some(a) = &a {
            third.vs_a.add(a.0 == llm.0, set_jaccard(&a.1, &llm.1));
        }
        if let Some(b) = &b {
            third.vs_b.add(b.0 == llm.0, set_jaccard(&b.1, &llm.1));
        }
        if let (Some(a), Some(b)) = (&a, &b)
            && a.0 == b.0
        {
            third
                .vs_consensus
                .add(a.0 == llm.0, set_jaccard(&a.1, &llm.1));
        }
    }

    /// The summary so far.
    #[must_use]
    pub fn report(&self) -> TextReport {
        let mut undefined = Reasons::default();
        let exact_agreement = self.ab.exact_share();
        let mean_token_overlap = self.ab.mean_overlap();
        undefined.note("exact_agreement", &exact_agreement);
        undefined.note("mean_token_overlap", &mean_token_overlap);
        let llm_agreement = self.llm.as_ref().map(|llm| TextLlmAgreement {
            vs_a: TextComparison::from_tally(&llm.vs_a),
            vs_b: TextComparison::from_tally(&llm.vs_b),
            vs_consensus: TextComparison::from_tally(&llm.vs_consensus),
        });
        if llm_agreement.is_none() {
            undefined.push("llm_agreement", Undefined::NoLlmLabels);
        }
        TextReport {
            kind: "text",
            total_rows: self.rows,
            annotated_rows: self.ab.rows,
            exact_agreement,
            mean_token_overlap,
            llm_agreement,
            undefined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sets_ignore_case_order_spaces_and_repeats() {
        assert!(same_set(&["A", "b ", "a"], &["B", "a"]));
        assert!(!same_set(&["a"], &["a", "b"]));
        assert_eq!(jaccard(&["a", "b"], &["c"]), 0.0);
        assert_eq!(jaccard(&["a", " "], &[] as &[&str]), 0.0);
        assert_eq!(jaccard(&[" "], &[""]), 1.0);
    }

    #[test]
    fn text_normalisation_and_overlap() {
        assert_eq!(
            normalize_text("  Kitchen-use, mostly. "),
            "kitchen use mostly"
        );
        assert_eq!(normalize_text("Über Café"), "über café");
        assert!(same_text("Keeps drinks COLD!", "keeps drinks cold"));
        assert!(!same_text("cold drinks", "drinks cold"));
        assert_eq!(token_overlap("cold drinks", "drinks cold"), 1.0);
        assert_eq!(token_overlap("", "..."), 1.0);
        assert_eq!(token_overlap("a", ""), 0.0);
    }

    #[test]
    fn empty_accumulators_explain_their_nulls() {
        let report = ListAgreement::new().report();
        assert_eq!(report.mean_jaccard, Err(Undefined::NoItems));
        assert_eq!(
            report.undefined.get("exact_set_agreement"),
            Some(&Undefined::NoItems)
        );
        assert_eq!(
            report.undefined.get("llm_agreement"),
            Some(&Undefined::NoLlmLabels)
        );
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["mean_jaccard"].is_null());
        assert_eq!(json["undefined"]["mean_jaccard"]["code"], "no_items");

        let report = TextAgreement::new().report();
        assert_eq!(report.exact_agreement, Err(Undefined::NoItems));
        assert_eq!(report.total_rows, 0);
    }

    #[test]
    fn llm_text_comparisons() {
        let mut t = TextAgreement::new();
        t.push_with_llm(Some("hiking"), Some("Hiking"), Some("hiking trips"));
        t.push_with_llm(Some("gift"), Some("present"), Some("gift"));
        t.push_with_llm(None, Some("present"), Some("present"));
        let r = t.report();
        assert_eq!((r.total_rows, r.annotated_rows), (3, 2));
        let llm = r.llm_agreement.unwrap();
        assert_eq!(llm.vs_a.rows, 2);
        assert_eq!(llm.vs_a.exact_agreement, Ok(0.5));
        assert_eq!(llm.vs_b.rows, 3);
        assert_eq!(llm.vs_consensus.rows, 1);
        assert_eq!(llm.vs_consensus.exact_agreement, Ok(0.0));
        assert_eq!(llm.vs_consensus.mean_token_overlap, Ok(0.5));
        assert!(r.undefined.is_empty());
    }

    #[test]
    fn compensated_mean_of_many_small_terms() {
        let mut tally = Tally::default();
        for _ in 0..1_000_000 {
            tally.add(false, 0.1);
        }
        assert!((tally.mean_overlap().unwrap() - 0.1).abs() < 1e-15);
    }
}
