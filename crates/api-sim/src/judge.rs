//! Judge mode: requests whose response schema is named `judge_…` (the toolkit's judge runs) are
//! answered like a judge that knows the record's expected answer. Every criterion of the schema
//! (`verdicts.{criterion}.score`) passes when the judged answer matches the expected one — each
//! expected field equal, lists as sets, text case-insensitively — and fails otherwise; at
//! `judge_noise` a verdict is flipped, chosen from the seed, the request (so a sample's `seed`
//! draws again) and the criterion, so reruns agree. A pass scores the top of the criterion's
//! scale and a fail its bottom.
//!
//! The judged answer and the expected one are read from the lines after the prompt's `<answer>`
//! and `<expected>` markers (one line of JSON each, `null` when there is no expected answer).

use serde_json::{Map, Value, json};

use crate::answer::Question;
use crate::util::hash64;

/// Prefix of the schema names answered in judge mode.
pub(crate) const SCHEMA_PREFIX: &str = "judge_";

/// The line after a marker line, parsed as JSON.
fn block(text: &str, marker: &str) -> Option<Value> {
    let mut lines = text.lines();
    lines.find(|l| l.trim() == marker)?;
    serde_json::from_str(lines.next()?).ok()
}

/// A share in 0..1 drawn from the parts.
fn draw(parts: &[&[u8]]) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "53 bits")]
    let unit = (hash64(parts) >> 11) as f64 / (1u64 << 53) as f64;
    unit
}

/// The judge answer to a question, when it is a judge request.
pub(crate) fn answer(question: &Question<'_>, noise: f64, seed: u64) -> Option<String> {
    if !question.schema_name?.starts_with(SCHEMA_PREFIX) {
        return None;
    }
    let schema = question.schema?;
    let criteria = schema
        .pointer("/properties/verdicts/properties")?
        .as_object()?;
    // The message holding the blocks (a system message may name the markers too).
    let (text, answer) = question
        .messages
        .iter()
        .find_map(|m| block(m, "<answer>").map(|a| (*m, a)))?;
    let right = match block(text, "<expected>") {
        Some(Value::Object(expected)) => answer
            .as_object()
            .is_some_and(|a| core_config::json::answer_matches(&expected, a)),
        _ => true,
    };
    let request = question.seed.to_le_bytes();
    let seed = seed.to_le_bytes();
    let mut verdicts = Map::new();
    for (id, spec) in criteria {
        let flip = noise > 0.0 && draw(&[&seed, &request, id.as_bytes()]) < noise;
        let pass = right != flip;
        let scale: Vec<u64> = spec
            .pointer("/properties/score/enum")
            .and_then(Value::as_array)
            .map(|e| e.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_else(|| vec![0, 1]);
        let score = if pass {
            scale.iter().max()
        } else {
            scale.iter().min()
        }
        .copied()
        .unwrap_or(u64::from(pass));
        let reasoning = if right {
            "api-sim judge: the answer matches the expected items."
        } else {
            "api-sim judge: the answer does not match the expected items."
        };
        verdicts.insert(id.clone(), json!({"reasoning": reasoning, "score": score}));
    }
    let mut out = json!({ "verdicts": verdicts });
    if let Some(causes) = schema
        .pointer("/properties/error_cause/enum")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    {
        #[expect(clippy::cast_possible_truncation, reason = "an index below the length")]
        let at = (hash64(&[&seed, &request, b"cause"]) % causes.len() as u64) as usize;
        out["error_cause"] = causes[at].clone();
    }
    Some(out.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(prompt: &str, noise: f64, request_seed: u64) -> Value {
        let schema = json!({"properties": {"verdicts": {"properties": {
            "complete": {"properties": {"score": {"enum": [0, 1]}}},
            "grounded": {"properties": {"score": {"enum": [0, 1, 2, 3, 4, 5]}}},
        }}}});
        let question = Question {
            messages: vec!["the <answer> marker", prompt],
            schema_name: Some("judge_m01"),
            schema: Some(&schema),
            json: true,
            seed: request_seed,
        };
        serde_json::from_str(&answer(&question, noise, 42).unwrap()).unwrap()
    }

    #[test]
    fn a_matching_answer_passes_every_criterion_and_a_wrong_one_fails() {
        let right = "x\n<expected>\n{\"items\": [\"A\", \"b\"]}\n</expected>\n<answer>\n{\"items\": [\"b \", \"a\"], \"reasoning\": \"r\"}\n</answer>\n";
        let v = ask(right, 0.0, 1);
        assert_eq!(v["verdicts"]["complete"]["score"], 1);
        assert_eq!(v["verdicts"]["grounded"]["score"], 5);
        let wrong = right.replace("[\"b \", \"a\"]", "[\"b\"]");
        let v = ask(&wrong, 0.0, 1);
        assert_eq!(v["verdicts"]["complete"]["score"], 0);
        assert_eq!(v["verdicts"]["grounded"]["score"], 0);
    }

    #[test]
    fn noise_flips_about_its_share_deterministically() {
        let right = "<expected>\n{\"k\": 1}\n</expected>\n<answer>\n{\"k\": 1}\n</answer>";
        let flipped = (0..2000u64)
            .filter(|s| ask(right, 0.2, *s)["verdicts"]["complete"]["score"] == 0)
            .count();
        assert!((300..500).contains(&flipped), "{flipped}");
        assert_eq!(ask(right, 0.2, 7), ask(right, 0.2, 7));
    }

    #[test]
    fn other_schemas_are_not_judge_requests() {
        let question = Question {
            messages: vec!["<answer>\n{}"],
            schema_name: Some("m01"),
            schema: None,
            json: true,
            seed: 0,
        };
        assert!(answer(&question, 0.0, 1).is_none());
    }
}
