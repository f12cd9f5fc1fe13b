//! Scoring one answer against its expected value, field by field, with the rules the module's
//! scoring spec declares.

use std::collections::{BTreeMap, BTreeSet};

use core_config::fieldpath::lookup_dotted;
use core_config::{LabelError, ModuleSpec, Reading, ScoreField, ScoreKind, Side};
use serde::Serialize;
use serde_json::{Map, Value};

/// How one field compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    /// A categorical field: the labels read on each side.
    Label {
        /// Expected label.
        expected: String,
        /// Answered label (`None` when the answer left it out).
        output: Option<String>,
    },
    /// A list field: set overlap of lower-cased items.
    List {
        /// Share of answered items that were expected.
        precision: f64,
        /// Share of expected items that were answered.
        recall: f64,
        /// Harmonic mean of the two.
        f1: f64,
    },
    /// A free-text field.
    Text {
        /// Normalised texts are equal.
        exact: bool,
        /// Token Jaccard overlap.
        overlap: f64,
    },
    /// A taxonomy field.
    Taxonomy {
        /// Expected levels matched by the answer.
        matched: usize,
        /// Expected levels.
        levels: usize,
        /// Whether the most specific level matched.
        level1: bool,
    },
    /// A ranking field.
    Ranking {
        /// Mean NDCG over attribute types.
        ndcg: f64,
    },
}

/// One field's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldScore {
    /// Score field name.
    pub name: String,
    /// Whether it counts as correct.
    pub correct: bool,
    /// The comparison behind the verdict.
    pub detail: Detail,
}

/// A row's verdict: correct when every field is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowScore {
    /// Whether every field is correct.
    pub correct: bool,
    /// Per-field verdicts, in declared order.
    pub fields: Vec<FieldScore>,
}

impl RowScore {
    /// The primary field's expected and answered labels, for categorical modules.
    #[must_use]
    pub fn primary_labels(&self) -> Option<(&str, Option<&str>)> {
        match &self.fields.first()?.detail {
            Detail::Label { expected, output } => Some((expected, output.as_deref())),
            _ => None,
        }
    }
}

/// Why a row could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// The dataset's expected value is not usable (a data problem `orchestrator validate` reports).
    #[error("expected.{field}: {message}")]
    Expected {
        /// The expected field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The answer carries a value the field cannot read (e.g. a label outside the set).
    #[error("output.{field}: {message}")]
    Output {
        /// The output field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl ScoreError {
    /// Short machine-readable kind, used in the results CSV `error` column.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Expected { .. } => "bad_expected",
            Self::Output { .. } => "invalid_label",
        }
    }
}

/// Scores an answer against a record's expected object.
///
/// # Errors
/// When the expected value cannot be read, or the answer holds a value outside the field's
/// label set.
pub fn score_row(
    module: &ModuleSpec,
    expected: &Map<String, Value>,
    output: &Map<String, Value>,
) -> Result<RowScore, ScoreError> {
    let fields = module
        .score
        .iter()
        .map(|field| score_field(field, expected, output))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RowScore {
        correct: fields.iter().all(|f| f.correct),
        fields,
    })
}

/// Scores one field.
///
/// # Errors
/// As [`score_row`].
pub fn score_field(
    field: &ScoreField,
    expected: &Map<String, Value>,
    output: &Map<String, Value>,
) -> Result<FieldScore, ScoreError> {
    let want = lookup_dotted(expected, &field.expected);
    let got = lookup_dotted(output, &field.output);
    let threshold = field.threshold.unwrap_or(1.0);
    let expected_error = |message: String| ScoreError::Expected {
        field: field.expected.clone(),
        message,
    };
    let (correct, detail) = match (&field.labels, field.kind) {
        (Some(labels), _) => {
            let expected_label = match labels.read_json(Side::Expected, want) {
                Ok(Reading::Label(l)) => l,
                Ok(Reading::Missing) => return Err(expected_error("is missing".to_owned())),
                Err(e) => return Err(expected_error(e.to_string())),
            };
            let output_label = match labels.read_json(Side::Output, got) {
                Ok(Reading::Label(l)) => Some(l),
                Ok(Reading::Missing) => None,
                Err(LabelError { value, allowed }) => {
                    return Err(ScoreError::Output {
                        field: field.output.clone(),
                        message: format!("`{value}` is not one of {}", allowed.join(", ")),
                    });
                }
            };
            (
                output_label.as_deref() == Some(expected_label.as_str()),
                Detail::Label {
                    expected: expected_label,
                    output: output_label,
                },
            )
        }
        (None, ScoreKind::List) => {
            let want = string_set(want)
                .ok_or_else(|| expected_error("must be a list of strings".to_owned()))?;
            let got = string_set(got).unwrap_or_default();
            let (precision, recall, f1) = set_prf(&want, &got);
            (
                f1 >= threshold,
                Detail::List {
                    precision,
                    recall,
                    f1,
                },
            )
        }
        (None, ScoreKind::Text) => {
            let want = want
                .and_then(Value::as_str)
                .ok_or_else(|| expected_error("must be a string".to_owned()))?;
            let got = got.and_then(Value::as_str).unwrap_or_default();
            let exact = normalise_text(want) == normalise_text(got);
            let overlap = token_jaccard(want, got);
            (
                exact || overlap >= threshold,
                Detail::Text { exact, overlap },
            )
        }
        (None, ScoreKind::Taxonomy) => {
            let want = taxonomy_levels(want).ok_or_else(|| {
                expected_error("must be a list of {level, product_type}".to_owned())
            })?;
            let got = taxonomy_levels(got).unwrap_or_default();
            let matched_levels: Vec<u64> = want
                .iter()
                .filter(|(level, name)| got.get(level).is_some_and(|g| similar_names(name, g)))
                .map(|(level, _)| *level)
                .collect();
            let level1 = matched_levels.contains(&1);
            let levels = want.len();
            let matched = matched_levels.len();
            #[expect(clippy::cast_precision_loss, reason = "level counts are tiny")]
            let share = if levels == 0 {
                1.0
            } else {
                matched as f64 / levels as f64
            };
            (
                level1 && share >= threshold,
                Detail::Taxonomy {
                    matched,
                    levels,
                    level1,
                },
            )
        }
        (None, ScoreKind::Ranking) => {
            let want = ranked_by_type(want).ok_or_else(|| {
                expected_error(
                    "must be a list of {attribute_type, attribute_value, rank}".to_owned(),
                )
            })?;
            let got = ranked_by_type(got).unwrap_or_default();
            let ndcg = mean_ndcg(&want, &got);
            (ndcg >= threshold, Detail::Ranking { ndcg })
        }
        (None, kind) => {
            return Err(expected_error(format!(
                "a `{kind}` field has no labels declared"
            )));
        }
    };
    Ok(FieldScore {
        name: field.name.clone(),
        correct,
        detail,
    })
}

/// Lower-cased, trimmed, de-duplicated items of a list of strings (`None` when not a list).
fn string_set(value: Option<&Value>) -> Option<BTreeSet<String>> {
    match value {
        None | Some(Value::Null) => Some(BTreeSet::new()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        Some(_) => None,
    }
}

/// Set precision, recall and F1; two empty sets agree perfectly.
#[must_use]
pub fn set_prf(expected: &BTreeSet<String>, output: &BTreeSet<String>) -> (f64, f64, f64) {
    if expected.is_empty() && output.is_empty() {
        return (1.0, 1.0, 1.0);
    }
    let hits = expected.intersection(output).count();
    #[expect(clippy::cast_precision_loss, reason = "set sizes are small")]
    let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let precision = ratio(hits, output.len());
    let recall = ratio(hits, expected.len());
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    (precision, recall, f1)
}

/// Lower case, punctuation to spaces, whitespace collapsed.
#[must_use]
pub fn normalise_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Jaccard overlap of the normalised token sets (1 when both are empty).
#[must_use]
pub fn token_jaccard(a: &str, b: &str) -> f64 {
    let a: BTreeSet<String> = normalise_text(a)
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let b: BTreeSet<String> = normalise_text(b)
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "token counts are small")]
    let j = a.intersection(&b).count() as f64 / a.union(&b).count() as f64;
    j
}

/// Product-type names match when equal after normalisation and a naive singular form ("oven
/// mitts" is "oven mitt"), or when half their tokens overlap.
fn similar_names(a: &str, b: &str) -> bool {
    let singular = |text: &str| {
        normalise_text(text)
            .split(' ')
            .map(|t| {
                if t.len() > 3 && t.ends_with('s') && !t.ends_with("ss") {
                    &t[..t.len() - 1]
                } else {
                    t
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (a, b) = (singular(a), singular(b));
    a == b || token_jaccard(&a, &b) >= 0.5
}

fn taxonomy_levels(value: Option<&Value>) -> Option<BTreeMap<u64, String>> {
    let items = match value {
        None | Some(Value::Null) => return Some(BTreeMap::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    let mut levels = BTreeMap::new();
    for item in items {
        let object = item.as_object()?;
        let level = object.get("level")?.as_u64()?;
        let name = object.get("product_type")?.as_str()?;
        levels.insert(level, name.to_owned());
    }
    Some(levels)
}

type Ranked = BTreeMap<String, Vec<(String, u64)>>;

/// Attribute values grouped by type, each group sorted by rank.
fn ranked_by_type(value: Option<&Value>) -> Option<Ranked> {
    let items = match value {
        None | Some(Value::Null) => return Some(Ranked::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    let mut groups = Ranked::new();
    for item in items {
        let object = item.as_object()?;
        let kind = normalise_text(object.get("attribute_type")?.as_str()?);
        let value = normalise_text(object.get("attribute_value")?.as_str()?);
        let rank = object.get("rank")?.as_u64()?;
        groups.entry(kind).or_default().push((value, rank));
    }
    for group in groups.values_mut() {
        group.sort_by_key(|(_, rank)| *rank);
    }
    Some(groups)
}

/// Mean NDCG over the expected attribute types: relevance of a value is its distance from the
/// bottom of the expected order, gains are discounted by log2 of the answer's position.
fn mean_ndcg(expected: &Ranked, output: &Ranked) -> f64 {
    if expected.is_empty() {
        return 1.0;
    }
    let mut total = 0.0;
    for (kind, want) in expected {
        #[expect(clippy::cast_precision_loss, reason = "list lengths are small")]
        let relevance: BTreeMap<&str, f64> = want
            .iter()
            .enumerate()
            .map(|(i, (value, _))| (value.as_str(), (want.len() - i) as f64))
            .collect();
        #[expect(clippy::cast_precision_loss, reason = "positions are small")]
        let dcg = |order: &mut dyn Iterator<Item = f64>| -> f64 {
            order
                .enumerate()
                .map(|(i, rel)| rel / ((i + 2) as f64).log2())
                .sum()
        };
        let ideal = dcg(&mut want.iter().map(|(v, _)| relevance[v.as_str()]));
        let got = output.get(kind).map_or(0.0, |answer| {
            dcg(&mut answer
                .iter()
                .take(want.len())
                .map(|(v, _)| relevance.get(v.as_str()).copied().unwrap_or(0.0)))
        });
        total += if ideal > 0.0 { got / ideal } else { 1.0 };
    }
    #[expect(clippy::cast_precision_loss, reason = "type counts are small")]
    let mean = total / expected.len() as f64;
    mean
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use core_config::Catalog;
    use serde_json::json;

    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml")).unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn score(module: &str, expected: Value, output: Value) -> Result<RowScore, ScoreError> {
        let catalog = catalog();
        score_row(
            catalog.resolve(module).unwrap(),
            &obj(expected),
            &obj(output),
        )
    }

    #[test]
    fn m12_compares_expected_n_with_violates_constraint() {
        let hit = score(
            "m12",
            json!({"relevancy": "N"}),
            json!({"violates_constraint": true}),
        )
        .unwrap();
        assert!(hit.correct);
        assert_eq!(hit.primary_labels(), Some(("true", Some("true"))));
        assert!(
            score(
                "m12",
                json!({"relevancy": null}),
                json!({"violates_constraint": false})
            )
            .unwrap()
            .correct
        );
        assert!(
            score(
                "m12",
                json!({"relevancy": "Null"}),
                json!({"violates_constraint": false})
            )
            .unwrap()
            .correct
        );
        assert!(
            !score(
                "m12",
                json!({"relevancy": "N"}),
                json!({"violates_constraint": false})
            )
            .unwrap()
            .correct
        );
        assert!(
            !score(
                "m12",
                json!({"relevancy": null}),
                json!({"violates_constraint": true})
            )
            .unwrap()
            .correct
        );
    }

    #[test]
    fn modules_the_earlier_tool_scored_as_always_correct_can_be_wrong() {
        // M02, M04, M05 and M13 compared two empty values and always matched in the earlier tool.
        assert!(
            !score(
                "m02",
                json!({"branding_scope_1": "OB"}),
                json!({"branding_scope_1": null})
            )
            .unwrap()
            .correct
        );
        assert!(
            score(
                "m02",
                json!({"branding_scope_1": null}),
                json!({"branding_scope_1": null})
            )
            .unwrap()
            .correct
        );
        assert!(
            !score(
                "m04",
                json!({"branding_scope_2": null}),
                json!({"branding_scope_2": "CB"})
            )
            .unwrap()
            .correct
        );
        assert!(
            !score(
                "m05",
                json!({"branding_scope_3": "NB"}),
                json!({"branding_scope_3": null})
            )
            .unwrap()
            .correct
        );
        assert!(
            !score(
                "m13",
                json!({"same_type": true}),
                json!({"same_type": false})
            )
            .unwrap()
            .correct
        );
        assert!(
            score(
                "m13",
                json!({"same_type": "True"}),
                json!({"same_type": true})
            )
            .unwrap()
            .correct
        );
    }

    #[test]
    fn multiclass_is_exact_after_normalisation() {
        assert!(
            score("m12b", json!({"relevancy": "S"}), json!({"relevancy": "S"}))
                .unwrap()
                .correct
        );
        assert!(
            !score("m12b", json!({"relevancy": "R"}), json!({"relevancy": "S"}))
                .unwrap()
                .correct
        );
        let err = score("m12b", json!({"relevancy": "R"}), json!({"relevancy": "X"})).unwrap_err();
        assert_eq!(err.kind(), "invalid_label");
        let err = score("m12b", json!({"relevancy": "Q"}), json!({"relevancy": "R"})).unwrap_err();
        assert_eq!(err.kind(), "bad_expected");
    }

    #[test]
    fn lists_use_set_f1_against_the_threshold() {
        let s = score(
            "m01",
            json!({"brand_entities": ["KitchenAid", "Kitchen Aid", "KitchenAide", "Kitchenaid Pro", "KA"]}),
            json!({"brand_entities": ["kitchenaid", "kitchen aid", "kitchenaide", "kitchenaid pro"]}),
        )
        .unwrap();
        let Detail::List {
            precision,
            recall,
            f1,
        } = s.fields[0].detail
        else {
            panic!()
        };
        assert!((precision - 1.0).abs() < 1e-12);
        assert!((recall - 0.8).abs() < 1e-12);
        assert!((f1 - 8.0 / 9.0).abs() < 1e-12);
        assert!(s.correct, "F1 0.89 is over the 0.8 threshold");
        let s = score(
            "m01",
            json!({"brand_entities": ["A", "B"]}),
            json!({"brand_entities": ["A", "C"]}),
        )
        .unwrap();
        assert!(!s.correct);
        assert!(
            score(
                "m11",
                json!({"hard_constraints": []}),
                json!({"hard_constraints": []})
            )
            .unwrap()
            .correct
        );
    }

    #[test]
    fn m07_needs_all_three_lists() {
        let expected =
            json!({"variants": ["red"], "use_cases": ["hiking"], "audiences": ["adults"]});
        assert!(
            score("m07", expected.clone(), expected.clone())
                .unwrap()
                .correct
        );
        let s = score(
            "m07",
            expected,
            json!({"variants": ["red"], "use_cases": ["cooking"], "audiences": ["adults"]}),
        )
        .unwrap();
        assert!(!s.correct);
        assert_eq!(s.fields.iter().filter(|f| f.correct).count(), 2);
    }

    #[test]
    fn text_uses_normalised_match_or_token_overlap() {
        let s = score(
            "m09",
            json!({"primary_use": "Heat protection when cooking"}),
            json!({"primary_use": "heat protection, when cooking!"}),
        )
        .unwrap();
        assert!(s.correct);
        let s = score(
            "m09",
            json!({"primary_use": "Heat protection when cooking"}),
            json!({"primary_use": "protection from heat while cooking"}),
        )
        .unwrap();
        let Detail::Text { exact, overlap } = s.fields[0].detail else {
            panic!()
        };
        assert!(!exact);
        assert!((overlap - 3.0 / 6.0).abs() < 1e-12);
        assert!(s.correct);
        assert!(
            !score(
                "m09",
                json!({"primary_use": "Listening to music"}),
                json!({"primary_use": "Storing kitchen sponges"})
            )
            .unwrap()
            .correct
        );
    }

    #[test]
    fn taxonomy_needs_level_one() {
        let expected = json!({"taxonomy": [
            {"level": 1, "product_type": "Oven Mitt", "rank": 1},
            {"level": 2, "product_type": "Kitchen Safety Equipment", "rank": 2},
            {"level": 3, "product_type": "Kitchen Accessories", "rank": 3}]});
        let good = json!({"taxonomy": [
            {"level": 1, "product_type": "oven mitts", "rank": 1},
            {"level": 2, "product_type": "Kitchen Safety Equipment", "rank": 2},
            {"level": 3, "product_type": "Cookware", "rank": 3}]});
        let s = score("m06", expected.clone(), good).unwrap();
        assert_eq!(
            s.fields[0].detail,
            Detail::Taxonomy {
                matched: 2,
                levels: 3,
                level1: true
            }
        );
        assert!(
            s.correct,
            "two of three levels with level 1 meets the 0.66 threshold"
        );
        let exact = score("m06", expected.clone(), expected.clone()).unwrap();
        assert!(exact.correct);
        let wrong_first = json!({"taxonomy": [
            {"level": 1, "product_type": "Pot Holder", "rank": 1},
            {"level": 2, "product_type": "Kitchen Safety Equipment", "rank": 2},
            {"level": 3, "product_type": "Kitchen Accessories", "rank": 3}]});
        assert!(!score("m06", expected, wrong_first).unwrap().correct);
    }

    #[test]
    fn ranking_uses_ndcg() {
        let table = |values: &[&str]| json!({"attribute_table": values.iter().enumerate().map(|(i, v)| json!({"attribute_type": "Variant", "attribute_value": v, "rank": i + 1})).collect::<Vec<_>>()});
        let expected = table(&["a", "b", "c"]);
        let s = score("m08", expected.clone(), expected.clone()).unwrap();
        assert_eq!(s.fields[0].detail, Detail::Ranking { ndcg: 1.0 });
        let s = score("m08", expected, table(&["c", "b", "a"])).unwrap();
        let Detail::Ranking { ndcg } = s.fields[0].detail else {
            panic!()
        };
        // DCG(1,2,3 in reverse) / IDCG: (1 + 2/log2 3 + 3/2) / (3 + 2/log2 3 + 1/2)
        let log3 = 3f64.log2();
        let want = (1.0 + 2.0 / log3 + 1.5) / (3.0 + 2.0 / log3 + 0.5);
        assert!((ndcg - want).abs() < 1e-12, "{ndcg} vs {want}");
        assert!(!s.correct);
    }

    #[test]
    fn m10_scores_both_fields() {
        let expected =
            json!({"validated_use": "Heat protection when cooking", "action": "corrected"});
        assert!(
            score(
                "m10",
                expected.clone(),
                json!({"validated_use": "heat protection when cooking", "action": "corrected"})
            )
            .unwrap()
            .correct
        );
        assert!(
            !score(
                "m10",
                expected,
                json!({"validated_use": "heat protection when cooking", "action": "pass_through"})
            )
            .unwrap()
            .correct
        );
    }
}
