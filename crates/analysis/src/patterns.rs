//! Where the errors concentrate: scored rows sliced by keyword shape, brand mentions, product,
//! product type, expected label, confidence and words; each slice's error rate against the rest
//! of the run with Fisher's exact test and Benjamini–Hochberg q-values across every slice
//! tested; and the confidence calibration.

use std::collections::HashMap;

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

/// The features slices are cut on, in a fixed order (the tally keeps one table per feature).
const FEATURES: [&str; 11] = [
    "word_count",
    "char_length",
    "has_digits_or_units",
    "contains_own_brand",
    "contains_competitor_brand",
    "word",
    "word_pair",
    "asin",
    "product_type",
    "expected_label",
    "confidence",
];

const WORD_COUNT: usize = 0;
const CHAR_LENGTH: usize = 1;
const DIGITS_OR_UNITS: usize = 2;
const OWN_BRAND: usize = 3;
const COMPETITOR_BRAND: usize = 4;
const WORD: usize = 5;
const WORD_PAIR: usize = 6;
const ASIN: usize = 7;
const PRODUCT_TYPE: usize = 8;
const EXPECTED_LABEL: usize = 9;
const CONFIDENCE: usize = 10;

/// Streams judged rows into a [`PatternsReport`].
///
/// Counting allocates only for a value seen for the first time: a million rows cost a million
/// lookups, not a million strings.
#[derive(Debug, Clone)]
pub struct PatternsTally {
    module: String,
    rows: u64,
    scored: u64,
    errors: u64,
    errored: u64,
    /// Per feature (in [`FEATURES`] order, words and pairs apart): value → (rows, wrong rows).
    counts: Vec<HashMap<String, (u64, u64), Fast>>,
    /// Keyword words seen, each with an id (its index in `word_counts`).
    vocabulary: HashMap<String, u32, Fast>,
    /// Per word id: (rows, wrong rows).
    word_counts: Vec<(u64, u64)>,
    /// Per pair of word ids (first << 32 | second): (rows, wrong rows).
    pair_counts: HashMap<u64, (u64, u64), Fast>,
    calibration: CalibrationTally,
    /// Reused between rows: the keyword's lower-case words, end to end.
    words: String,
    /// The last rows' own and competitor brand names, cut into words.
    brands: [BrandPhrases; 2],
}

/// A fast hash for the word and word-pair tables (FxHash's multiply-rotate): the tables are
/// looked up several times per row, and their keys come from the run being analysed.
#[derive(Debug, Clone, Copy, Default)]
struct Fast;

impl std::hash::BuildHasher for Fast {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for FastHasher {
    // The multiply moves entropy up, never down: a word pair's key (`first << 32 | second`)
    // would otherwise fill the table's low (index) bits from `second` alone, so every pair
    // ending in the same word would probe the same group. Rotating brings the mixed high bits
    // down (as FxHash 2 does).
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
}

/// Lower-case alphanumeric words of a text.
#[must_use]
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Appends the lower-case words of `text` to `buffer` (as [`words`] cuts and lowers them: word
/// by word), returning each word's byte range.
fn lower_words_into(text: &str, buffer: &mut String, spans: &mut Vec<(usize, usize)>) {
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let start = buffer.len();
        if word.is_ascii() {
            buffer.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            buffer.push_str(&word.to_lowercase());
        }
        spans.push((start, buffer.len()));
    }
}

/// Whether the words of `phrase` appear, in order and adjacent, among `tokens` (lower-case
/// words); an empty phrase never does.
#[cfg(test)]
fn contains_phrase(tokens: &[&str], phrase: &str) -> bool {
    contains_words(tokens, &words(phrase))
}

/// Whether `phrase` (lower-case words, as [`words`] cuts them) appears, in order and adjacent,
/// among `tokens`; an empty phrase never does.
fn contains_words(tokens: &[&str], phrase: &[String]) -> bool {
    !phrase.is_empty()
        && tokens
            .windows(phrase.len())
            .any(|w| w.iter().zip(phrase).all(|(t, p)| *t == p.as_str()))
}

/// Brand names cut into lower-case words once for the rows that share them (the rows of one
/// product, usually a whole run), instead of once per row.
#[derive(Debug, Clone, Default)]
struct BrandPhrases {
    names: Vec<String>,
    phrases: Vec<Vec<String>>,
}

impl BrandPhrases {
    /// Whether any of `names` appears among `tokens`.
    fn any_in(&mut self, names: &[&str], tokens: &[&str]) -> bool {
        let same =
            self.names.len() == names.len() && self.names.iter().zip(names).all(|(a, b)| a == b);
        if !same {
            self.names = names.iter().map(|n| (*n).to_owned()).collect();
            self.phrases = names.iter().map(|n| words(n)).collect();
        }
        self.phrases.iter().any(|p| contains_words(tokens, p))
    }
}

/// The names a value holds: a comma-separated string, or a list of strings / `{name}` objects.
fn strings_at<'v>(value: Option<&'v Value>, out: &mut Vec<&'v str>) {
    match value {
        Some(Value::String(s)) => out.extend(s.split(',').map(str::trim).filter(|s| !s.is_empty())),
        Some(Value::Array(items)) => out.extend(items.iter().filter_map(|v| match v {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("name").and_then(Value::as_str),
            _ => None,
        })),
        _ => {}
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

/// The confidence decile's name (`0.9-1.0`).
const CONFIDENCE_BUCKETS: [&str; 10] = [
    "0.0-0.1", "0.1-0.2", "0.2-0.3", "0.3-0.4", "0.4-0.5", "0.5-0.6", "0.6-0.7", "0.7-0.8",
    "0.8-0.9", "0.9-1.0",
];

/// The row's own brand names: its brand and the brand fields of its metadata and input.
fn own_brands<'r>(row: &'r ResultRow, own: &mut Vec<&'r str>) {
    let input = &row.input;
    let metadata = &row.metadata;
    for brand in [row.brand.as_str()]
        .into_iter()
        .chain(metadata.get("brand_name").and_then(Value::as_str))
        .chain(input.get("brand_name").and_then(Value::as_str))
        .chain(input.get("own_brand").and_then(Value::as_str))
    {
        if !brand.trim().is_empty() {
            own.push(brand);
        }
    }
    for key in ["brand_entities", "variations_own", "related_terms_own"] {
        strings_at(input.get(key), own);
    }
}

/// The competitor brand names of a row's input.
fn competitor_brands<'v>(input: &'v Value, competitors: &mut Vec<&'v str>) {
    for key in [
        "competitor_entities",
        "known_competitor_brands",
        "variations_competitor",
        "competitor_brands",
    ] {
        strings_at(input.get(key), competitors);
    }
}

fn yes_no(yes: bool) -> &'static str {
    if yes { "yes" } else { "no" }
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
            counts: vec![HashMap::default(); FEATURES.len()],
            calibration: CalibrationTally::default(),
            vocabulary: HashMap::default(),
            word_counts: Vec::new(),
            pair_counts: HashMap::default(),
            words: String::new(),
            brands: Default::default(),
        }
    }

    /// The id of a (lower-case) word, given one when first seen.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "fewer than 2^32 distinct words"
    )]
    fn word_id(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.vocabulary.get(word) {
            return id;
        }
        let id = self.word_counts.len() as u32;
        self.vocabulary.insert(word.to_owned(), id);
        self.word_counts.push((0, 0));
        id
    }

    fn count(&mut self, feature: usize, value: &str, wrong: bool) {
        let table = &mut self.counts[feature];
        let entry = match table.get_mut(value) {
            Some(entry) => entry,
            None => table.entry(value.to_owned()).or_default(),
        };
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
            self.count(ASIN, asin, wrong);
        }
        if let Some(kind) = metadata
            .get("product_type")
            .or_else(|| input.get("product_type"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            self.count(PRODUCT_TYPE, kind, wrong);
        }
        if let Some((expected, _)) = judged.score.as_ref().and_then(|s| s.primary_labels()) {
            self.count(EXPECTED_LABEL, expected, wrong);
        }
        if let Some(confidence) = confidence_of(&row.output) {
            if let Some(bin) = CalibrationTally::bin_of(confidence) {
                self.count(CONFIDENCE, CONFIDENCE_BUCKETS[bin], wrong);
            }
            self.calibration.add(confidence, !wrong);
        }
    }

    /// Counts the features of a row's (non-blank) keyword.
    fn count_keyword(&mut self, keyword: &str, row: &ResultRow, wrong: bool) {
        let mut buffer = std::mem::take(&mut self.words);
        buffer.clear();
        let mut spans = Vec::new();
        lower_words_into(keyword, &mut buffer, &mut spans);
        let mut tokens: Vec<&str> = spans.iter().map(|&(a, b)| &buffer[a..b]).collect();
        self.count(WORD_COUNT, word_count_bucket(tokens.len()), wrong);
        self.count(
            CHAR_LENGTH,
            length_bucket(keyword.trim().chars().count()),
            wrong,
        );
        let quantity =
            keyword.chars().any(|c| c.is_ascii_digit()) || tokens.iter().any(|t| UNITS.contains(t));
        self.count(DIGITS_OR_UNITS, yes_no(quantity), wrong);
        let mut names = Vec::new();
        own_brands(row, &mut names);
        if !names.is_empty() {
            let hit = self.brands[0].any_in(&names, &tokens);
            self.count(OWN_BRAND, yes_no(hit), wrong);
        }
        names.clear();
        competitor_brands(&row.input, &mut names);
        if !names.is_empty() {
            let hit = self.brands[1].any_in(&names, &tokens);
            self.count(COMPETITOR_BRAND, yes_no(hit), wrong);
        }
        let ids: Vec<u32> = tokens.iter().map(|t| self.word_id(t)).collect();
        let mut pairs: Vec<u64> = ids
            .windows(2)
            .map(|w| (u64::from(w[0]) << 32) | u64::from(w[1]))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        for pair in pairs {
            let entry = self.pair_counts.entry(pair).or_default();
            entry.0 += 1;
            entry.1 += u64::from(wrong);
        }
        let mut distinct = ids;
        distinct.sort_unstable();
        distinct.dedup();
        for id in distinct {
            let entry = &mut self.word_counts[id as usize];
            entry.0 += 1;
            entry.1 += u64::from(wrong);
        }
        tokens.clear();
        self.words = buffer;
    }

    /// Adds the rows of another tally of the same module (a later part of the same run): the
    /// report is then the one a single pass over both would give. Words new to this tally get
    /// ids in the other's order, as a single pass would have given them.
    pub fn merge(&mut self, other: &Self) {
        self.rows += other.rows;
        self.scored += other.scored;
        self.errors += other.errors;
        self.errored += other.errored;
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (value, (rows, wrong)) in theirs {
                let entry = mine.entry(value.clone()).or_default();
                entry.0 += rows;
                entry.1 += wrong;
            }
        }
        let mut names = vec![""; other.word_counts.len()];
        for (word, &id) in &other.vocabulary {
            names[id as usize] = word;
        }
        let ids: Vec<u32> = names.iter().map(|w| self.word_id(w)).collect();
        for (id, (rows, wrong)) in other.word_counts.iter().enumerate() {
            let entry = &mut self.word_counts[ids[id] as usize];
            entry.0 += rows;
            entry.1 += wrong;
        }
        for (&pair, (rows, wrong)) in &other.pair_counts {
            let (a, b) = ((pair >> 32) as usize, (pair & 0xffff_ffff) as usize);
            let pair = (u64::from(ids[a]) << 32) | u64::from(ids[b]);
            let entry = self.pair_counts.entry(pair).or_default();
            entry.0 += rows;
            entry.1 += wrong;
        }
        self.calibration.merge(&other.calibration);
    }

    /// The report.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    pub fn finish(&self, run: &RunRef) -> PatternsReport {
        let run_rate = (self.scored > 0).then(|| self.errors as f64 / self.scored as f64);
        let names: Vec<&str> = {
            let mut names = vec![""; self.word_counts.len()];
            for (word, &id) in &self.vocabulary {
                names[id as usize] = word;
            }
            names
        };
        let words = self
            .word_counts
            .iter()
            .enumerate()
            .filter(|(_, (rows, _))| *rows >= MIN_WORD_SUPPORT)
            .map(|(id, counts)| (&FEATURES[WORD], names[id].to_owned(), counts));
        let pairs = self
            .pair_counts
            .iter()
            .filter(|(_, (rows, _))| *rows >= MIN_WORD_SUPPORT)
            .map(|(&pair, counts)| {
                let (a, b) = ((pair >> 32) as usize, (pair & 0xffff_ffff) as usize);
                (
                    &FEATURES[WORD_PAIR],
                    format!("{} {}", names[a], names[b]),
                    counts,
                )
            });
        let mut slices: Vec<Slice> = FEATURES
            .iter()
            .zip(&self.counts)
            .flat_map(|(feature, table)| table.iter().map(move |(v, c)| (feature, v.clone(), c)))
            .chain(words)
            .chain(pairs)
            .map(|(feature, value, &(rows, errors))| {
                let rest_rows = self.scored - rows;
                let rest_errors = self.errors - errors;
                let error_rate = errors as f64 / rows as f64;
                Slice {
                    feature: (*feature).to_owned(),
                    value,
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use core_config::Catalog;

    use super::*;

    /// The plain way to cut and count, kept to prove the fast tally counts the same.
    fn reference(keywords: &[(&str, bool)]) -> BTreeMap<(String, String), (u64, u64)> {
        let mut out: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for (keyword, wrong) in keywords {
            let tokens = words(keyword);
            let distinct: BTreeSet<String> = tokens.iter().cloned().collect();
            let pairs: BTreeSet<String> = tokens
                .windows(2)
                .map(|w| format!("{} {}", w[0], w[1]))
                .collect();
            for (feature, values) in [("word", distinct), ("word_pair", pairs)] {
                for value in values {
                    let e = out.entry((feature.to_owned(), value)).or_default();
                    e.0 += 1;
                    e.1 += u64::from(*wrong);
                }
            }
        }
        out
    }

    #[test]
    fn the_fast_word_tally_counts_what_the_plain_one_does() {
        let module = Catalog::load(&test_support::repo_root().join("modules.toml"))
            .unwrap()
            .resolve("m02")
            .unwrap()
            .clone();
        let keywords = [
            ("Red Mug red mug", true),
            ("ΟΔΟΣ'Α straße İstanbul", false),
            ("ΟΔΟΣ'Α straße İstanbul", true),
            ("mug-red, MUG RED!", false),
            ("a a a", true),
            ("ÅNGSTRÖM 12oz", false),
        ];
        let mut tally = PatternsTally::new(&module);
        for (keyword, wrong) in keywords {
            let row = ResultRow {
                keyword: keyword.to_owned(),
                ..ResultRow::default()
            };
            let judged = Judged {
                row,
                line: 0,
                verdict: if wrong {
                    Verdict::Wrong
                } else {
                    Verdict::Right
                },
                score: None,
            };
            tally.add(&judged);
        }
        let mut names = vec![String::new(); tally.word_counts.len()];
        for (word, &id) in &tally.vocabulary {
            names[id as usize].clone_from(word);
        }
        let mut fast: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for (id, &counts) in tally.word_counts.iter().enumerate() {
            fast.insert(("word".to_owned(), names[id].clone()), counts);
        }
        for (&pair, &counts) in &tally.pair_counts {
            let value = format!(
                "{} {}",
                names[(pair >> 32) as usize],
                names[(pair & 0xffff_ffff) as usize]
            );
            fast.insert(("word_pair".to_owned(), value), counts);
        }
        assert_eq!(fast, reference(&keywords));
    }

    #[test]
    fn brand_phrases_match_as_the_plain_word_windows_do() {
        let plain = |keyword: &str, phrase: &str| {
            let haystack = words(keyword);
            let needle = words(phrase);
            !needle.is_empty()
                && haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice())
        };
        for (keyword, phrase) in [
            ("owala freesip bottle", "Owala FreeSip"),
            ("owala bottle", "FreeSip"),
            ("free sip", "Free-Sip"),
            ("straße flasche", "STRASSE"),
            ("İstanbul mug", "İSTANBUL"),
            ("mug", ""),
            ("", "mug"),
            ("a b", "a b c"),
        ] {
            let mut buffer = String::new();
            let mut spans = Vec::new();
            lower_words_into(keyword, &mut buffer, &mut spans);
            let tokens: Vec<&str> = spans.iter().map(|&(a, b)| &buffer[a..b]).collect();
            assert_eq!(
                contains_phrase(&tokens, phrase),
                plain(keyword, phrase),
                "{keyword:?} / {phrase:?}"
            );
        }
    }
}
