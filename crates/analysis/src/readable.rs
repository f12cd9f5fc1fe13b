//! The earlier tool's `csv_to_readable`: a results CSV turned into one row per input field and per
//! output field of each record, with the product link, for people reading results in a
//! spreadsheet. Written spreadsheet-safe, streamed.

use std::path::Path;

use annotation::sheet::SafeCsvWriter;
use core_config::results::cell_text;
use core_config::{AtomicFile, ModuleSpec};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::output;
use crate::source::{RowReader, RunRef, Verdict};

/// Header of the readable file (the earlier tool's).
pub const READABLE_HEADERS: [&str; 5] = [
    "ASIN / Brand",
    "Input Field",
    "Input Value",
    "Output Type",
    "Output Value",
];

/// `analyze-results readable --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadableReport {
    /// The run's name.
    pub run: String,
    /// Module id.
    pub module: String,
    /// Records converted.
    pub records: u64,
    /// Rows written (separators included).
    pub rows: u64,
    /// The file written.
    pub readable_file: String,
}

fn fields(value: &Value, prefix: &str) -> Vec<(String, String)> {
    match value.as_object() {
        Some(object) => object
            .iter()
            .map(|(k, v)| (format!("{prefix}{k}"), cell_text(v)))
            .collect(),
        None => Vec::new(),
    }
}

/// Writes `{run}_readable.csv` under `analysis/{MODULE_FOLDER}/` of `root`.
///
/// # Errors
/// When the CSV cannot be read or the file written; nothing is left behind then.
pub fn readable(root: &Path, run: &RunRef, module: &ModuleSpec) -> Result<ReadableReport> {
    let mut reader = RowReader::open(&run.csv, module)?;
    let dir = output::module_dir(root, module);
    let stem = output::free_stem(&dir, &run.name, &["_readable.csv"]);
    let path = dir.join(format!("{stem}_readable.csv"));
    let file = AtomicFile::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut sheet = SafeCsvWriter::new(&path, file, &READABLE_HEADERS)?;
    let (mut records, mut rows) = (0u64, 0u64);
    while let Some(judged) = reader.next_row()? {
        records += 1;
        let row = &judged.row;
        let asin = if row.asin.is_empty() {
            row.metadata.get("asin").map(cell_text).unwrap_or_default()
        } else {
            row.asin.clone()
        };
        let left = [
            asin.clone(),
            if asin.is_empty() {
                String::new()
            } else {
                format!("https://www.amazon.com/dp/{asin}")
            },
            row.brand.clone(),
        ];
        let inputs = fields(&row.input, "");
        let mut outputs = fields(&row.output, "");
        outputs.extend(fields(&row.expected, "expected."));
        outputs.push((
            "verdict".to_owned(),
            match &judged.verdict {
                Verdict::Right => "right".to_owned(),
                Verdict::Wrong => "wrong".to_owned(),
                Verdict::Errored { message, .. } => format!("errored: {message}"),
            },
        ));
        let n = left.len().max(inputs.len()).max(outputs.len());
        for i in 0..n {
            let (input_field, input_value) = inputs.get(i).cloned().unwrap_or_default();
            let (output_field, output_value) = outputs.get(i).cloned().unwrap_or_default();
            sheet.write_row(&[
                left.get(i).cloned().unwrap_or_default(),
                input_field,
                input_value,
                output_field,
                output_value,
            ])?;
            rows += 1;
        }
        sheet.write_row(&["---", "", "", "", ""])?;
        rows += 1;
    }
    let written = sheet
        .finish()?
        .commit_new()
        .map_err(|e| Error::io(&path, e))?;
    Ok(ReadableReport {
        run: run.name.clone(),
        module: module.id.to_string(),
        records,
        rows,
        readable_file: written
            .strip_prefix(root)
            .unwrap_or(&written)
            .to_string_lossy()
            .into_owned(),
    })
}
