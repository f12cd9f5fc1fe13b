//! The running counts of one field while the file streams past.

use std::collections::HashMap;

use agreement::{AgreementAccumulator, AnalysisOptions, Categories, ListAgreement, TextAgreement};
use core_config::ScoreKind;
use serde_json::Value;

use super::{FieldAnalysis, FieldStats, SHOWN_BAD_CELLS, invalid_cell};
use crate::error::{Error, InvalidCell, Result};
use crate::merge::FieldColumns;
use crate::sheet::AnnotationRow;
use crate::values::FieldValue;

/// Remembers what the field's reader made of each distinct cell text. A categorical column
/// holds a handful of spellings (`R`, `relevant`, ` n `, ...) over millions of rows, so each is
/// read once. The first [`Memo::FEW`] are compared directly (cheaper than hashing a short
/// cell); then a map takes over, up to [`Memo::MAX`] distinct texts, past which cells are read
/// directly.
pub(super) struct Memo<V> {
    few: Vec<(Box<str>, V)>,
    seen: HashMap<String, V>,
}

impl<V: Clone> Memo<V> {
    const FEW: usize = 16;
    const MAX: usize = 512;

    fn new() -> Self {
        Self {
            few: Vec::new(),
            seen: HashMap::new(),
        }
    }

    fn get(&mut self, cell: &str, read: impl FnOnce(&str) -> V) -> V {
        if let Some((_, value)) = self.few.iter().find(|(text, _)| **text == *cell) {
            return value.clone();
        }
        if let Some(value) = self.seen.get(cell) {
            return value.clone();
        }
        let value = read(cell);
        if self.few.len() < Self::FEW {
            self.few.push((cell.into(), value.clone()));
        } else if self.seen.len() < Self::MAX - Self::FEW {
            self.seen.insert(cell.to_owned(), value.clone());
        }
        value
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.few.len() + self.seen.len()
    }
}

/// The running counts of one field.
enum Tally {
    Categorical {
        acc: Box<AgreementAccumulator>,
        ordered: bool,
        /// Annotator cell → category position (`None`: empty), or why it is not a label.
        cells: Memo<std::result::Result<Option<usize>, String>>,
        /// Model cell → category position (`None`: empty or not a label).
        llm_cells: Memo<Option<usize>>,
    },
    List(ListAgreement),
    Text(TextAgreement),
}

/// One annotated field being counted.
pub(super) struct FieldTally<'a> {
    loc: FieldColumns<'a>,
    tally: Tally,
    filled_a: u64,
    filled_b: u64,
    llm_unreadable: u64,
}

/// Annotator cells that are not values of their field: the first [`SHOWN_BAD_CELLS`], and how
/// many there are in all.
#[derive(Default)]
pub(super) struct BadCells {
    pub(super) shown: Vec<InvalidCell>,
    pub(super) total: u64,
}

impl BadCells {
    /// The value of a read cell, or `None` after noting why it is not a value of its field.
    fn check<T>(
        &mut self,
        row: &AnnotationRow,
        row_id: Option<usize>,
        column: &str,
        cell: &str,
        read: std::result::Result<T, String>,
    ) -> Option<T> {
        let reason = match read {
            Ok(value) => return Some(value),
            Err(reason) => reason,
        };
        self.total += 1;
        if self.shown.len() < SHOWN_BAD_CELLS {
            self.shown
                .push(invalid_cell(row, row_id, column, cell, reason));
        }
        None
    }
}

impl<'a> FieldTally<'a> {
    pub(super) fn new(loc: FieldColumns<'a>) -> Result<Self> {
        let tally = if let Some(labels) = loc.reader.labels() {
            let categories =
                Categories::new(labels.labels().iter().cloned()).map_err(|source| {
                    Error::FieldLabels {
                        field: loc.field.score.clone(),
                        source,
                    }
                })?;
            Tally::Categorical {
                acc: Box::new(AgreementAccumulator::new(categories)),
                ordered: labels.ordered(),
                cells: Memo::new(),
                llm_cells: Memo::new(),
            }
        } else {
            match loc.reader.field().kind {
                ScoreKind::List | ScoreKind::Taxonomy | ScoreKind::Ranking => {
                    Tally::List(ListAgreement::new())
                }
                _ => Tally::Text(TextAgreement::new()),
            }
        };
        Ok(Self {
            loc,
            tally,
            filled_a: 0,
            filled_b: 0,
            llm_unreadable: 0,
        })
    }

    /// Reads this field's cells of one row. Bad annotator cells go to `bad`; once there is
    /// any, rows are only checked, not counted (the file will be refused).
    pub(super) fn add_row(
        &mut self,
        row: &AnnotationRow,
        headers: &[String],
        row_id: Option<usize>,
        bad: &mut BadCells,
    ) -> Result<()> {
        if matches!(self.tally, Tally::Categorical { .. }) {
            return self.add_categorical(row, headers, row_id, bad);
        }
        let loc = self.loc;
        let a = loc.reader.annotator(row.get(loc.a));
        let b = loc.reader.annotator(row.get(loc.b));
        let a = bad.check(row, row_id, &headers[loc.a], row.get(loc.a), a);
        let b = bad.check(row, row_id, &headers[loc.b], row.get(loc.b), b);
        let (Some(a), Some(b)) = (a, b) else {
            return Ok(());
        };
        if bad.total > 0 {
            return Ok(());
        }
        self.filled_a += u64::from(a.is_some());
        self.filled_b += u64::from(b.is_some());
        let llm = loc.llm.map(|col| {
            let cell = row.get(col);
            let value = loc.reader.llm(cell);
            if value.is_none() && !cell.trim().is_empty() {
                self.llm_unreadable += 1;
            }
            value
        });
        let (a, b) = (a.as_ref(), b.as_ref());
        let llm = llm.as_ref().map(Option::as_ref);
        match &mut self.tally {
            Tally::List(acc) => {
                let (a, b) = (a.map(items), b.map(items));
                match llm {
                    Some(llm) => acc.push_with_llm(a, b, llm.map(items)),
                    None => acc.push(a, b),
                }
            }
            Tally::Text(acc) => {
                let (a, b) = (a.map(text), b.map(text));
                match llm {
                    Some(llm) => acc.push_with_llm(a, b, llm.map(text)),
                    None => acc.push(a, b),
                }
            }
            Tally::Categorical { .. } => {}
        }
        Ok(())
    }

    fn add_categorical(
        &mut self,
        row: &AnnotationRow,
        headers: &[String],
        row_id: Option<usize>,
        bad: &mut BadCells,
    ) -> Result<()> {
        let loc = self.loc;
        let Tally::Categorical {
            acc,
            cells,
            llm_cells,
            ..
        } = &mut self.tally
        else {
            return Ok(());
        };
        let labels = loc.reader.labels();
        let position = |value: Option<FieldValue>| {
            value
                .as_ref()
                .and_then(label)
                .and_then(|l| labels.and_then(|set| set.index_of(l)))
        };
        let a = cells.get(row.get(loc.a), |cell| {
            loc.reader.annotator(cell).map(position)
        });
        let b = cells.get(row.get(loc.b), |cell| {
            loc.reader.annotator(cell).map(position)
        });
        let a = bad.check(row, row_id, &headers[loc.a], row.get(loc.a), a);
        let b = bad.check(row, row_id, &headers[loc.b], row.get(loc.b), b);
        let (Some(a), Some(b)) = (a, b) else {
            return Ok(());
        };
        if bad.total > 0 {
            return Ok(());
        }
        self.filled_a += u64::from(a.is_some());
        self.filled_b += u64::from(b.is_some());
        match loc.llm {
            Some(col) => {
                let cell = row.get(col);
                let llm = llm_cells.get(cell, |cell| position(loc.reader.llm(cell)));
                if llm.is_none() && !cell.trim().is_empty() {
                    self.llm_unreadable += 1;
                }
                acc.push_indices_with_llm(a, b, llm)?;
            }
            None => acc.push_indices(a, b)?,
        }
        Ok(())
    }

    /// Adds the counts of `later`, the same field's tally over the rows that follow.
    ///
    /// # Errors
    /// When the sum passes what the statistics can count.
    pub(super) fn merge(&mut self, later: &Self) -> Result<()> {
        self.filled_a += later.filled_a;
        self.filled_b += later.filled_b;
        self.llm_unreadable += later.llm_unreadable;
        match (&mut self.tally, &later.tally) {
            (Tally::Categorical { acc, .. }, Tally::Categorical { acc: theirs, .. }) => {
                acc.merge(theirs).map_err(Error::from)
            }
            _ => Err(Error::Invalid(format!(
                "field {}: only label tallies can be merged",
                self.loc.field.score
            ))),
        }
    }

    pub(super) fn finish(self, headers: &[String], options: &AnalysisOptions) -> FieldAnalysis {
        let stats = match &self.tally {
            Tally::Categorical { acc, ordered, .. } => {
                let options = AnalysisOptions {
                    ordered: *ordered,
                    ..*options
                };
                FieldStats::Categorical(Box::new(acc.report(&options)))
            }
            Tally::List(acc) => FieldStats::List(acc.report()),
            Tally::Text(acc) => FieldStats::Text(acc.report()),
        };
        FieldAnalysis {
            name: self.loc.field.score.clone(),
            score_kind: self.loc.reader.field().kind,
            column_a: headers[self.loc.a].clone(),
            column_b: headers[self.loc.b].clone(),
            llm_column: self.loc.llm.map(|c| headers[c].clone()),
            filled_a: self.filled_a,
            filled_b: self.filled_b,
            llm_unreadable: self.llm_unreadable,
            stats,
        }
    }
}

fn label(value: &FieldValue) -> Option<&str> {
    match value {
        FieldValue::Label(label) => Some(label),
        _ => None,
    }
}

/// The items a list-like value is compared by: a list's items, or a taxonomy / ranking table's
/// rows, each as canonical JSON (keys sorted) so that key order does not matter.
fn items(value: &FieldValue) -> Vec<String> {
    match value {
        FieldValue::List(items) => items.clone(),
        FieldValue::Json(Value::Array(rows)) => rows.iter().map(canonical_json).collect(),
        FieldValue::Json(other) => vec![canonical_json(other)],
        FieldValue::Label(s) | FieldValue::Text(s) => vec![s.clone()],
    }
}

fn text(value: &FieldValue) -> &str {
    match value {
        FieldValue::Text(s) | FieldValue::Label(s) => s,
        // Lists and tables never reach a text field; an empty answer keeps the row honest.
        FieldValue::List(_) | FieldValue::Json(_) => "",
    }
}

fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn table_rows_compare_whatever_the_key_order() {
        let one = FieldValue::Json(
            json!([{"level": 1, "product_type": "Oven Mitt"}, {"level": 2, "product_type": "Kitchen"}]),
        );
        let other = FieldValue::Json(json!([{"product_type": "Oven Mitt", "level": 1}]));
        let (one, other) = (items(&one), items(&other));
        assert_eq!(one.len(), 2);
        assert_eq!(one[0], other[0]);
        assert_eq!(
            canonical_json(&json!({"b": {"y": 1, "x": 2}, "a": [{"d": 0, "c": 1}]})),
            r#"{"a":[{"c":1,"d":0}],"b":{"x":2,"y":1}}"#
        );
    }

    #[test]
    fn memo_reads_each_text_once_and_stays_bounded() {
        let mut memo: Memo<usize> = Memo::new();
        let mut reads = 0;
        for _ in 0..3 {
            assert_eq!(
                memo.get("relevant", |c| {
                    reads += 1;
                    c.len()
                }),
                8
            );
        }
        assert_eq!(reads, 1);
        for i in 0..2 * Memo::<usize>::MAX {
            assert_eq!(memo.get(&i.to_string(), str::len), i.to_string().len());
        }
        assert_eq!(memo.len(), Memo::<usize>::MAX);
    }

    #[test]
    fn bad_cells_are_capped_but_counted() {
        let row = AnnotationRow {
            line: 7,
            cells: vec![String::new(), "maybe".to_owned()],
        };
        let mut bad = BadCells::default();
        for _ in 0..SHOWN_BAD_CELLS + 3 {
            let read: std::result::Result<(), String> = Err("not a label".to_owned());
            assert!(
                bad.check(&row, Some(0), "annotator_a_violates", "maybe", read)
                    .is_none()
            );
        }
        assert_eq!(bad.check(&row, Some(0), "x", "yes", Ok(1)), Some(1));
        assert_eq!(bad.total, SHOWN_BAD_CELLS as u64 + 3);
        assert_eq!(bad.shown.len(), SHOWN_BAD_CELLS);
        assert_eq!(
            bad.shown[0].to_string(),
            "row_id (empty) (line 7), annotator_a_violates: `maybe`: not a label"
        );
    }
}
