//! Verdicts per row and criterion, aggregated over samples, and what a judge run reports: pass
//! rate per criterion with a Wilson interval, criteria failing together, and the spread of
//! verdicts over repeated samples.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::prompt::Given;
use crate::rubric::Criterion;

/// How the samples of one row and criterion become one verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// The median score, held against the criterion's threshold.
    Median,
    /// The verdict of most samples (a tie fails).
    Majority,
}

impl Aggregate {
    /// As written on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Median => "median",
            Self::Majority => "majority",
        }
    }
}

/// One row's final verdict on one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Record id.
    pub record_id: String,
    /// Criterion id.
    pub criterion: String,
    /// Pass or fail.
    pub pass: bool,
    /// The aggregated score (median of the samples).
    pub score: f64,
    /// The first sample's reasoning.
    pub reasoning: String,
    /// Each sample's verdict, in sample order.
    pub samples: Vec<bool>,
    /// The judge's error cause (errors-only runs), from the first sample.
    pub error_cause: Option<String>,
}

/// The median of scores (the mean of the middle two for an even count).
#[must_use]
pub fn median(scores: &[u8]) -> f64 {
    let mut sorted: Vec<u8> = scores.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        f64::from(sorted[n / 2])
    } else {
        f64::from(u16::from(sorted[n / 2 - 1]) + u16::from(sorted[n / 2])) / 2.0
    }
}

/// One row's verdict on `criterion` from its samples (at least one).
#[must_use]
pub fn aggregate(
    record_id: &str,
    criterion: &Criterion,
    samples: &[(&Given, Option<&str>)],
    how: Aggregate,
) -> Verdict {
    let scores: Vec<u8> = samples.iter().map(|(g, _)| g.score).collect();
    let verdicts: Vec<bool> = scores
        .iter()
        .map(|s| criterion.passes(f64::from(*s)))
        .collect();
    let score = median(&scores);
    let pass = match how {
        Aggregate::Median => criterion.passes(score),
        Aggregate::Majority => verdicts.iter().filter(|v| **v).count() * 2 > verdicts.len(),
    };
    Verdict {
        record_id: record_id.to_owned(),
        criterion: criterion.id.clone(),
        pass,
        score,
        reasoning: samples
            .first()
            .map(|(g, _)| g.reasoning.clone())
            .unwrap_or_default(),
        samples: verdicts,
        error_cause: samples.first().and_then(|(_, c)| c.map(str::to_owned)),
    }
}

/// One criterion's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionSummary {
    /// Criterion id.
    pub id: String,
    /// Rows judged on it.
    pub rows: u64,
    /// Rows that passed.
    pub passed: u64,
    /// `passed / rows`.
    pub pass_rate: Option<f64>,
    /// Wilson 95% interval of the pass rate.
    pub pass_rate_ci95: Option<[f64; 2]>,
    /// With several samples: rows whose samples did not all agree.
    pub unstable_rows: u64,
    /// With several samples: mean share of a row's samples agreeing with its majority.
    pub sample_agreement: Option<f64>,
}

/// Two criteria failing on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailingTogether {
    /// First criterion.
    pub a: String,
    /// Second criterion.
    pub b: String,
    /// Rows failing both.
    pub both: u64,
    /// Rows failing either.
    pub either: u64,
    /// `both / either` (Jaccard).
    pub jaccard: f64,
}

/// The summary of a judge run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Per criterion, in rubric order.
    pub criteria: Vec<CriterionSummary>,
    /// Pairs of criteria that failed together on at least one row, most overlapping first.
    pub failing_together: Vec<FailingTogether>,
    /// Errors-only runs: how many errors the judge gave each cause.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub error_causes: BTreeMap<String, u64>,
}

/// 1.959963984540054, the normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Summarises final verdicts (in row order, criteria in rubric order).
#[must_use]
pub fn summarise(criteria: &[Criterion], verdicts: &[Verdict]) -> Summary {
    let ids: Vec<&str> = criteria.iter().map(|c| c.id.as_str()).collect();
    summarise_ids(&ids, verdicts)
}

/// [`summarise`] with the criteria given by id, in the order to report them: for verdicts read
/// back from a judge CSV, whose criteria are the rubric's in the rubric's order.
#[must_use]
pub fn summarise_ids(criteria: &[&str], verdicts: &[Verdict]) -> Summary {
    let mut out = Vec::new();
    for &id in criteria {
        let mine: Vec<&Verdict> = verdicts.iter().filter(|v| v.criterion == id).collect();
        let rows = mine.len() as u64;
        let passed = mine.iter().filter(|v| v.pass).count() as u64;
        let multi: Vec<&&Verdict> = mine.iter().filter(|v| v.samples.len() > 1).collect();
        let unstable = multi
            .iter()
            .filter(|v| v.samples.iter().any(|s| *s != v.samples[0]))
            .count() as u64;
        #[expect(clippy::cast_precision_loss, reason = "counts are small")]
        let agreement = (!multi.is_empty()).then(|| {
            multi
                .iter()
                .map(|v| {
                    let yes = v.samples.iter().filter(|s| **s).count();
                    yes.max(v.samples.len() - yes) as f64 / v.samples.len() as f64
                })
                .sum::<f64>()
                / multi.len() as f64
        });
        #[expect(clippy::cast_precision_loss, reason = "counts are small")]
        out.push(CriterionSummary {
            id: id.to_owned(),
            rows,
            passed,
            pass_rate: (rows > 0).then(|| passed as f64 / rows as f64),
            pass_rate_ci95: analysis::stats::wilson(passed, rows, Z95),
            unstable_rows: unstable,
            sample_agreement: agreement,
        });
    }
    let mut failed: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for v in verdicts.iter().filter(|v| !v.pass) {
        failed
            .entry(v.criterion.as_str())
            .or_default()
            .insert(v.record_id.as_str());
    }
    let mut together = Vec::new();
    for (i, &a) in criteria.iter().enumerate() {
        for &b in &criteria[i + 1..] {
            let (Some(fa), Some(fb)) = (failed.get(a), failed.get(b)) else {
                continue;
            };
            let both = fa.intersection(fb).count() as u64;
            if both == 0 {
                continue;
            }
            let either = fa.union(fb).count() as u64;
            #[expect(clippy::cast_precision_loss, reason = "counts are small")]
            together.push(FailingTogether {
                a: a.to_owned(),
                b: b.to_owned(),
                both,
                either,
                jaccard: both as f64 / either as f64,
            });
        }
    }
    together.sort_by(|x, y| {
        y.jaccard
            .total_cmp(&x.jaccard)
            .then_with(|| y.both.cmp(&x.both))
    });
    let mut error_causes = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for v in verdicts {
        if let Some(cause) = &v.error_cause
            && seen.insert(v.record_id.as_str())
        {
            *error_causes.entry(cause.clone()).or_insert(0) += 1;
        }
    }
    Summary {
        criteria: out,
        failing_together: together,
        error_causes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rubric::Scale;

    fn criterion(id: &str, scale: Scale, pass_at: Option<u8>) -> Criterion {
        Criterion {
            id: id.to_owned(),
            question: "q".to_owned(),
            scale,
            pass_at,
            examples: Vec::new(),
        }
    }

    fn given(score: u8) -> Given {
        Given {
            score,
            reasoning: format!("r{score}"),
        }
    }

    #[test]
    fn median_and_majority_aggregate_samples() {
        let c = criterion("c", Scale::ZeroToFive, Some(3));
        let g = [given(5), given(1), given(3), given(2)];
        let samples: Vec<(&Given, Option<&str>)> = g.iter().map(|g| (g, None)).collect();
        let median = aggregate("r", &c, &samples, Aggregate::Median);
        assert!((median.score - 2.5).abs() < 1e-12);
        assert!(!median.pass, "2.5 is under 3");
        assert_eq!(median.samples, vec![true, false, true, false]);
        let majority = aggregate("r", &c, &samples, Aggregate::Majority);
        assert!(!majority.pass, "a 2-2 tie fails");
        let three: Vec<(&Given, Option<&str>)> = samples[..3].to_vec();
        assert!(aggregate("r", &c, &three, Aggregate::Majority).pass);
        assert_eq!(median.reasoning, "r5");
    }

    #[test]
    fn the_summary_gives_pass_rates_wilson_intervals_and_co_failures() {
        let a = criterion("a", Scale::PassFail, None);
        let b = criterion("b", Scale::PassFail, None);
        let v = |r: &str, c: &str, pass: bool, samples: Vec<bool>| Verdict {
            record_id: r.to_owned(),
            criterion: c.to_owned(),
            pass,
            score: if pass { 1.0 } else { 0.0 },
            reasoning: String::new(),
            samples,
            error_cause: None,
        };
        let verdicts = vec![
            v("1", "a", false, vec![false, false, true]),
            v("1", "b", false, vec![false, false, false]),
            v("2", "a", true, vec![true, true, true]),
            v("2", "b", false, vec![false, true, false]),
            v("3", "a", false, vec![false, false, false]),
            v("3", "b", true, vec![true, true, true]),
        ];
        let s = summarise(&[a, b], &verdicts);
        assert_eq!(s.criteria[0].passed, 1);
        assert_eq!(s.criteria[0].rows, 3);
        // proportion_confint(1, 3, method="wilson") (statsmodels formula; analysis checks wilson against it)
        let [lo, hi] = s.criteria[0].pass_rate_ci95.unwrap();
        assert!((lo - 0.061_491_944_720_396_21).abs() < 1e-9, "{lo}");
        assert!((hi - 0.792_340_399_197_952_2).abs() < 1e-9, "{hi}");
        assert_eq!(s.criteria[0].unstable_rows, 1);
        assert_eq!(s.criteria[1].unstable_rows, 1);
        let agree = s.criteria[0].sample_agreement.unwrap();
        assert!((agree - (2.0 / 3.0 + 1.0 + 1.0) / 3.0).abs() < 1e-12);
        assert_eq!(
            s.failing_together,
            vec![FailingTogether {
                a: "a".into(),
                b: "b".into(),
                both: 1,
                either: 3,
                jaccard: 1.0 / 3.0
            }]
        );
    }
}
