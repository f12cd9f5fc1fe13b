//! Where the errors concentrate: scored rows sliced by keyword shape, brand mentions, product,
//! product type, expected label, confidence and words; each slice's error rate against the rest
//! of the run with Fisher's exact test and Benjamini–Hochberg q-values across every slice
//! tested; and the confidence calibration.

use std::collections::{BTreeSet, HashMap};

use core_config::{ModuleSpec, ResultRow};
use serde::Serialize;
use serde_json::Value;

use crate::errors::confidence_of;
use crate::source::{Judged, RunRef, Verdict};
use crate::stats::{Calibration, CalibrationTally, benjamini_hochberg, fisher_exact};

/// Word and word-pair slices need at least this many rows to be tested.
pub const MIN_WORD_SUPPORT: u64 = 5;

/// Words that mark a quantity or a size in a keyword.
const UNITS: [&str; 34] = [
    "oz", "ounce", "ounces", "ml", "l", "liter", "litre", "liters", "gallon", "gal", "lb", "lbs",
    "pound", "pounds", "kg", "g", "gram", "grams", "mm", "cm", "m", "inch", "inches", "in", "ft",
    "feet", "foot", "pack", "pk", "count", "ct", "pcs", "piece", "pieces",
];

/// One slice of the scored rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slice {
    /// What the slice is cut on (`word_count`, `asin`, `word`, …).
    pub feature: String,
    /// The value of the feature.
    pub value: String,
    /// Scored rows in the slice.
    pub rows: u64,
    /// Of those, wrong.
    pub errors: u64,
    /// `errors / rows`.
    pub error_rate: f64,
    /// `error_rate / the run's error rate` (null when the run has no errors).
    pub lift: Option<f64>,
    /// Two-sided Fisher's exact test of (in slice / rest) × (wrong / right).
    pub p_value: f64,
    /// Benjamini–Hochberg q-value over every slice listed.
    pub q_value: f64,
}

/// The `analyze-results patterns --json` contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatternsReport {
    /// The run's name.
    pub run: String,
    /// Module id.
    pub module: String,
    /// Rows in the run.
    pub rows: u64,
    /// Scored rows.
    pub scored: u64,
    /// Wrong rows.
    pub errors: u64,
    /// Errored rows (left out of every slice).
    pub errored: u64,
    /// `errors / scored`.
    pub error_rate: Option<f64>,
    /// Every slice tested, by q-value then lift.
    pub slices: Vec<Slice>,
    /// Accuracy per confidence decile and the ECE.
    pub calibration: Calibration,
    /// The patterns file (set by the caller once written).
    pub patterns_file: Option<String>,
}

/// Streams judged rows into a [`PatternsReport`].
#[derive(Debug, Clone)]
pub struct PatternsTally {
    module: String,
    rows: u64,
    scored: u64,
    errors: u64,
    errored: u64,
    counts: HashMap<(&'static str, String), (u64, u64)>,
    calibration: CalibrationTally,
}

/// Lower-case alphanumeric words of a text.
#[must_use]
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn contains_phrase(haystack: &[String], phrase: &str) -> bool {
    let needle = words(phrase);
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_slice())
}

fn strings_at(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn word_count_bucket(n: usize) -> &'static str {
    match n {
        0 | 1 => "1",
        2 => "2",
        3 => "3",
        4 => "4",
        5 | 6 => "5-6",
        _ => "7+",
    }
}

fn length_bucket(n: usize) -> &'static str {
    match n {
        0..=10 => "1-10",
        11..=20 => "11-20",
        21..=30 => "21-30",
        31..=40 => "31-40",
        _ => "41+",
    }
}

fn confidence_bucket(bin: usize) -> String {
    format!("{:.1}-{:.1}", bin as f64 / 10.0, (bin + 1) as f64 / 10.0)
}

/// The row's own brand names: its brand and the brand fields of its metadata and input.
fn own_brands(row: &ResultRow) -> Vec<String> {
    let input = &row.input;
    let metadata = &row.metadata;
    let mut own: Vec<String> = Vec::new();
    for brand in [row.brand.as_str()]
        .into_iter()
        .chain(metadata.get("brand_name").and_then(Value::as_str))
        .chain(input.get("brand_name").and_then(Value::as_str))
        .chain(input.get("own_brand").and_then(Value::as_str))
    {
        if !brand.trim().is_empty() {
            own.push(brand.to_owned());
        }
    }
    for key in ["brand_entities", "variations_own", "related_terms_own"] {
        own.extend(strings_at(input.get(key)));
    }
    own
}

/// The competitor brand names of a row's input.
fn competitor_brands(input: &Value) -> Vec<String> {
    let mut competitors = Vec::new();
    for key in [
        "competitor_entities",
        "known_competitor_brands",
        "variations_competitor",
        "competitor_brands",
    ] {
        competitors.extend(strings_at(input.get(key)));
    }
    competitors
}

impl PatternsTally {
    /// An empty tally.
    #[must_use]
    pub fn new(module: &ModuleSpec) -> Self {
        Self {
            module: module.id.to_string(),
            rows: 0,
            scored: 0,
            errors: 0,
            errored: 0,
            counts: HashMap::new(),
            calibration: CalibrationTally::default(),
        }
    }

    fn count(&mut self, feature: &'static str, value: String, wrong: bool) {
        let entry = self.counts.entry((feature, value)).or_default();
        entry.0 += 1;
        entry.1 += u64::from(wrong);
    }

    /// Adds a row.
    pub fn add(&mut self, judged: &Judged) {
        self.rows += 1;
        let wrong = match judged.verdict {
            Verdict::Errored { .. } => {
                self.errored += 1;
                return;
            }
            Verdict::Right => false,
            Verdict::Wrong => true,
        };
        self.scored += 1;
        self.errors += u64::from(wrong);
        let row = &judged.row;
        let input = &row.input;
        let metadata = &row.metadata;
        let keyword = if row.keyword.is_empty() {
            input
                .get("keyword")
                .and_then(Value::as_str)
                .unwrap_or_default()
        } else {
            row.keyword.as_str()
        };
        if !keyword.trim().is_empty() {
            self.count_keyword(keyword, row, wrong);
        }
        let asin = if row.asin.is_empty() {
            metadata
                .get("asin")
                .and_then(Value::as_str)
                .unwrap_or_default()
        } else {
            row.asin.as_str()
        };
        if !asin.is_empty() {
            self.count("asin", asin.to_owned(), wrong);
        }
        if let Some(kind) = metadata
            .get("product_type")
            .or_else(|| input.get("product_type"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            self.count("product_type", kind.to_owned(), wrong);
        }
        if let Some((expected, _)) = judged.score.as_ref().and_then(|s| s.primary_labels()) {
            self.count("expected_label", expected.to_owned(), wrong);
        }
        if let Some(confidence) = confidence_of(&row.output) {
            if let Some(bin) = CalibrationTally::bin_of(confidence) {
                self.count("confidence", confidence_bucket(bin), wrong);
            }
            self.calibration.add(confidence, !wrong);
        }
    }

    /// Counts the features of a row's (non-blank) keyword.
    fn count_keyword(&mut self, keyword: &str, row: &ResultRow, wrong: bool) {
        let tokens = words(keyword);
        self.count(
            "word_count",
            word_count_bucket(tokens.len()).to_owned(),
            wrong,
        );
        self.count(
            "char_length",
            length_bucket(keyword.trim().chars().count()).to_owned(),
            wrong,
        );
        let quantity = keyword.chars().any(|c| c.is_ascii_digit())
            || tokens.iter().any(|t| UNITS.contains(&t.as_str()));
        self.count(
            "has_digits_or_units",
            if quantity { "yes" } else { "no" }.to_owned(),
            wrong,
        );
        let own = own_brands(row);
        if !own.is_empty() {
            let hit = own.iter().any(|b| contains_phrase(&tokens, b));
            self.count(
                "contains_own_brand",
                if hit { "yes" } else { "no" }.to_owned(),
                wrong,
            );
        }
        let competitors = competitor_brands(&row.input);
        if !competitors.is_empty() {
            let hit = competitors.iter().any(|b| contains_phrase(&tokens, b));
            self.count(
                "contains_competitor_brand",
                if hit { "yes" } else { "no" }.to_owned(),
                wrong,
            );
        }
        let distinct: BTreeSet<&String> = tokens.iter().collect();
        for word in distinct {
            self.count("word", word.clone(), wrong);
        }
        let pairs: BTreeSet<String> = tokens
            .windows(2)
            .map(|w| format!("{} {}", w[0], w[1]))
            .collect();
        for pair in pairs {
            self.count("word_pair", pair, wrong);
        }
    }

    /// The report.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    pub fn finish(&self, run: &RunRef) -> PatternsReport {
        let run_rate = (self.scored > 0).then(|| self.errors as f64 / self.scored as f64);
        let mut slices: Vec<Slice> = self
            .counts
            .iter()
            .filter(|((feature, _), (rows, _))| {
                !matches!(*feature, "word" | "word_pair") || *rows >= MIN_WORD_SUPPORT
            })
            .map(|((feature, value), &(rows, errors))| {
                let rest_rows = self.scored - rows;
                let rest_errors = self.errors - errors;
                let error_rate = errors as f64 / rows as f64;
                Slice {
                    feature: (*feature).to_owned(),
                    value: value.clone(),
                    rows,
                    errors,
                    error_rate,
                    lift: run_rate.filter(|r| *r > 0.0).map(|r| error_rate / r),
                    p_value: fisher_exact(
                        errors,
                        rows - errors,
                        rest_errors,
                        rest_rows - rest_errors,
                    ),
                    q_value: 1.0,
                }
            })
            .collect();
        let p: Vec<f64> = slices.iter().map(|s| s.p_value).collect();
        for (slice, q) in slices.iter_mut().zip(benjamini_hochberg(&p)) {
            slice.q_value = q;
        }
        slices.sort_by(|a, b| {
            a.q_value
                .total_cmp(&b.q_value)
                .then_with(|| b.lift.unwrap_or(0.0).total_cmp(&a.lift.unwrap_or(0.0)))
                .then_with(|| a.feature.cmp(&b.feature))
                .then_with(|| a.value.cmp(&b.value))
        });
        PatternsReport {
            run: run.name.clone(),
            module: self.module.clone(),
            rows: self.rows,
            scored: self.scored,
            errors: self.errors,
            errored: self.errored,
            error_rate: run_rate,
            slices,
            calibration: self.calibration.finish(),
            patterns_file: None,
        }
    }
}
