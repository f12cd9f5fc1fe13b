//! Per-row scores beyond `correct`, for reports that show more than right or wrong (the
//! Braintrust upload): precision, recall and F1 of list fields, token overlap of text fields,
//! the share of matched taxonomy levels, NDCG of rankings. Modules with several scored fields
//! also get each field's verdict.

use core_config::{ModuleSpec, ResultRow};

use crate::score::{Detail, score_row};

/// The row's detail scores as `(name, value in 0..=1)`; empty when the row has no expected or
/// output object, or cannot be scored. With one scored field the names are bare (`f1`), with
/// several they are prefixed by the field (`brands_f1`, `brands_correct`).
#[must_use]
pub fn detail_scores(module: &ModuleSpec, row: &ResultRow) -> Vec<(String, f64)> {
    let (Some(expected), Some(output)) = (row.expected.as_object(), row.output.as_object()) else {
        return Vec::new();
    };
    let Ok(score) = score_row(module, expected, output) else {
        return Vec::new();
    };
    let single = score.fields.len() == 1;
    let name = |field: &str, what: &str| {
        if single {
            what.to_owned()
        } else {
            format!("{field}_{what}")
        }
    };
    let mut out = Vec::new();
    for field in &score.fields {
        match &field.detail {
            Detail::List {
                precision,
                recall,
                f1,
            } => {
                out.push((name(&field.name, "precision"), *precision));
                out.push((name(&field.name, "recall"), *recall));
                out.push((name(&field.name, "f1"), *f1));
            }
            Detail::Text { overlap, .. } => out.push((name(&field.name, "overlap"), *overlap)),
            Detail::Taxonomy {
                matched, levels, ..
            } => {
                #[expect(clippy::cast_precision_loss, reason = "level counts are tiny")]
                let share = if *levels == 0 {
                    1.0
                } else {
                    *matched as f64 / *levels as f64
                };
                out.push((name(&field.name, "levels"), share));
            }
            Detail::Ranking { ndcg } => out.push((name(&field.name, "ndcg"), *ndcg)),
            Detail::Label { .. } => {}
        }
        if !single {
            out.push((
                format!("{}_correct", field.name),
                f64::from(u8::from(field.correct)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn catalog() -> core_config::Catalog {
        core_config::Catalog::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"),
        )
        .unwrap()
    }

    #[test]
    fn list_modules_get_precision_recall_and_f1() {
        let catalog = catalog();
        let module = catalog.resolve("m01").unwrap();
        let row = ResultRow {
            expected: serde_json::json!({"brand_entities": ["A", "B", "C", "D"]}),
            output: serde_json::json!({"brand_entities": ["a", "b", "x"]}),
            correct: Some(false),
            ..ResultRow::default()
        };
        let scores = detail_scores(module, &row);
        let names: Vec<&str> = scores.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["precision", "recall", "f1"]);
        assert!((scores[0].1 - 2.0 / 3.0).abs() < 1e-9);
        assert!((scores[1].1 - 0.5).abs() < 1e-9);
        assert!((scores[2].1 - 4.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn label_modules_and_unscorable_rows_get_nothing() {
        let catalog = catalog();
        let m12 = catalog.resolve("m12").unwrap();
        let row = ResultRow {
            expected: serde_json::json!({"relevancy": "N"}),
            output: serde_json::json!({"relevancy": "N", "violates_constraint": true}),
            correct: Some(true),
            ..ResultRow::default()
        };
        assert!(detail_scores(m12, &row).is_empty());
        let errored = ResultRow {
            expected: serde_json::json!({"relevancy": "N"}),
            output: serde_json::Value::Null,
            ..ResultRow::default()
        };
        assert!(detail_scores(m12, &errored).is_empty());
    }
}
