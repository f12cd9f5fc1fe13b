//! The JSON contract of an analysis (`calculate-agreement analyze --json`).
//!
//! The contract metrics come first under their fixed names (null, with a reason under
//! `undefined`, where one does not apply: kappa for a list field), then what the field's kind
//! measures, then where the figures came from, then whatever else the statistics report.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{FieldAnalysis, FieldStats, FileAnalysis};

/// The `--json` object of one file: the primary field's contract metrics at the top, every
/// field under `fields`, then the primary field's details.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisReport {
    /// The file as shown to the user.
    pub file: String,
    /// The module id.
    pub module: String,
    /// The primary field's contract metrics ([`agreement::CONTRACT_METRICS`], in order).
    #[serde(flatten)]
    pub metrics: Map<String, Value>,
    /// Every field, the primary first.
    pub fields: Vec<FieldReport>,
    /// The module's name.
    pub module_name: String,
    /// The primary field's name.
    pub primary_field: String,
    /// The primary field's details.
    #[serde(flatten)]
    pub detail: FieldDetail,
}

/// One field: its name, the contract metrics, then its details.
#[derive(Debug, Clone, Serialize)]
pub struct FieldReport {
    /// The field's name.
    pub field: String,
    /// [`agreement::CONTRACT_METRICS`], in order; null where a metric does not apply.
    #[serde(flatten)]
    pub metrics: Map<String, Value>,
    /// Everything else.
    #[serde(flatten)]
    pub detail: FieldDetail,
}

/// What a field reports beyond the contract metrics.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDetail {
    /// The kind's own metrics (mean Jaccard and exact sets for lists; exact agreement and token
    /// overlap for text).
    #[serde(flatten)]
    pub own: Map<String, Value>,
    /// The statistics' kind.
    pub kind: Value,
    /// The field's score kind in `modules.toml`.
    pub field_kind: String,
    /// For taxonomy and ranking tables: how they were compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared_as: Option<&'static str>,
    /// The columns read.
    pub columns: Columns,
    /// Rows annotator A filled.
    pub filled_a: u64,
    /// Rows annotator B filled.
    pub filled_b: u64,
    /// Model cells that are not a value of the field.
    pub llm_unreadable_cells: u64,
    /// Whatever the statistics report beyond the contract (categories, ordered, kappa_z,
    /// bootstrap, ...), in their order.
    #[serde(flatten)]
    pub extras: Map<String, Value>,
    /// Why each null metric is null.
    pub undefined: Map<String, Value>,
}

/// The columns a field was read from.
#[derive(Debug, Clone, Serialize)]
pub struct Columns {
    /// Annotator A's column.
    pub annotator_a: String,
    /// Annotator B's column.
    pub annotator_b: String,
    /// The model's column, when the file has one.
    pub llm: Option<String>,
}

impl FileAnalysis<'_> {
    /// The report, with the file shown as `shown_file`.
    #[must_use]
    pub fn report(&self, shown_file: &str) -> AnalysisReport {
        let fields: Vec<FieldReport> = self.fields.iter().map(FieldAnalysis::report).collect();
        let primary = fields[0].clone();
        AnalysisReport {
            file: shown_file.to_owned(),
            module: self.module.id.to_string(),
            metrics: primary.metrics,
            fields,
            module_name: self.module.name.clone(),
            primary_field: primary.field,
            detail: primary.detail,
        }
    }
}

impl FieldAnalysis {
    /// The metrics a field reports beyond the categorical ones.
    fn own_metrics(&self) -> &'static [&'static str] {
        match self.stats {
            FieldStats::Categorical(_) => &[],
            FieldStats::List(_) => &["mean_jaccard", "exact_set_agreement"],
            FieldStats::Text(_) => &["exact_agreement", "mean_token_overlap"],
        }
    }

    fn stats_map(&self) -> Map<String, Value> {
        let report = match &self.stats {
            FieldStats::Categorical(r) => serde_json::to_value(r),
            FieldStats::List(r) => serde_json::to_value(r),
            FieldStats::Text(r) => serde_json::to_value(r),
        };
        match report {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// This field's report.
    #[must_use]
    pub fn report(&self) -> FieldReport {
        let mut report = self.stats_map();
        let mut undefined = match report.shift_remove("undefined") {
            Some(Value::Object(reasons)) => reasons,
            _ => Map::new(),
        };
        let mut metrics = Map::new();
        for key in agreement::CONTRACT_METRICS {
            let value = report.shift_remove(key).unwrap_or_else(|| {
                undefined.insert(key.to_owned(), self.not_categorical());
                Value::Null
            });
            metrics.insert(key.to_owned(), value);
        }
        // The band is null exactly when kappa is; say why in the same words.
        if metrics["interpretation"].is_null()
            && let Some(reason) = undefined.get("cohen_kappa").cloned()
        {
            undefined.entry("interpretation").or_insert(reason);
        }
        let own = self
            .own_metrics()
            .iter()
            .filter_map(|&key| Some((key.to_owned(), report.shift_remove(key)?)))
            .collect();
        let kind = report.shift_remove("kind").unwrap_or(Value::Null);
        FieldReport {
            field: self.name.clone(),
            metrics,
            detail: FieldDetail {
                own,
                kind,
                field_kind: self.score_kind.to_string(),
                compared_as: self.is_structured().then_some("sets of table rows"),
                columns: Columns {
                    annotator_a: self.column_a.clone(),
                    annotator_b: self.column_b.clone(),
                    llm: self.llm_column.clone(),
                },
                filled_a: self.filled_a,
                filled_b: self.filled_b,
                llm_unreadable_cells: self.llm_unreadable,
                extras: report,
                undefined,
            },
        }
    }

    fn not_categorical(&self) -> Value {
        json!({
            "code": "not_categorical",
            "message": format!(
                "`{}` is a {} field, not a set of labels; see {}",
                self.name,
                self.score_kind,
                self.own_metrics().join(" and ")
            ),
        })
    }
}
