//! Annotation workbooks (`.xlsx`): the same rows and columns as an annotation CSV, laid out so
//! a spreadsheet helps the annotator at the moment of typing, and read back cell by cell.
//!
//! Writing (with `rust_xlsxwriter`): a sheet named [`SHEET`] with a frozen header row and first
//! columns, column widths, wrapped long text, a dropdown (list data validation) on every
//! annotator column of a categorical field with an input message saying what each label means,
//! an input message on list fields saying how to separate items, free-text columns left
//! unrestricted, sheet protection without a password (the product and model columns are locked,
//! the annotator columns are not), and conditional formatting that colours a field's two
//! annotator cells when both are filled and differ. A second sheet, [`GUIDE`], holds the label
//! definitions from `modules.toml`, the instructions and the file's provenance. Every cell is a
//! typed string or number: nothing is written as a formula, so a keyword such as
//! `=HYPERLINK(…)` is stored as text and can never run.
//!
//! Reading (with `calamine`): the sheet named [`SHEET`], or else the first sheet whose first row
//! has a `row_id` cell (so a renamed sheet still reads). Numbers and booleans that a spreadsheet
//! made of typed text (`TRUE`, `1`) are read as their text (`true`, `1`), which the field's
//! label reading then maps to the module's labels, exactly as for a CSV cell. Lines in messages
//! are the sheet's row numbers.

use std::path::{Path, PathBuf};

use calamine::{Data, Reader, SheetType, Xlsx, open_workbook};
use rust_xlsxwriter::{
    Color, ConditionalFormatFormula, DataValidation, DataValidationErrorStyle, Format, FormatAlign,
    FormatBorder, ProtectionOptions, Workbook, Worksheet, XlsxError,
};

use core_config::{Annotator, LabelSet, ModuleSpec, ScoreField, ScoreKind};

use crate::error::{Error, Result};

/// The name of the sheet annotators fill in.
pub const SHEET: &str = "Annotations";
/// The name of the sheet with the label definitions, instructions and provenance.
pub const GUIDE: &str = "Guide";

/// Whether a file is read and written as a workbook: its name ends in `.xlsx`.
#[must_use]
pub fn is_workbook(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

/// A spreadsheet column's letters: 0 → `A`, 25 → `Z`, 26 → `AA`.
#[must_use]
pub fn column_letters(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// The rows of a sheet after its header: each with its 1-based sheet row number.
pub type SheetRows = std::vec::IntoIter<(u64, Vec<String>)>;

/// The annotation sheet of a workbook, read whole.
pub struct Sheet {
    /// The workbook.
    pub path: PathBuf,
    /// The sheet's name.
    pub name: String,
    /// Its first non-empty row, when it has one.
    pub header: Option<Vec<String>>,
    /// The rows after the header.
    pub rows: SheetRows,
}

impl Sheet {
    /// The file and sheet as named in messages: `file.xlsx [sheet Annotations]`.
    #[must_use]
    pub fn shown_path(&self) -> PathBuf {
        PathBuf::from(format!("{} [sheet {}]", self.path.display(), self.name))
    }
}

/// A typed cell as the text a CSV would hold: numbers in their shortest form (`1`, not `1.0`),
/// booleans as `true`/`false`, dates as `YYYY-MM-DD` (a spreadsheet turns `1-2` into a date; a
/// message then shows what the annotator saw), errors as Excel shows them (`#N/A`).
#[must_use]
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::DateTime(d) if d.is_datetime() => {
            let (year, month, day, hour, minute, second, _) = d.to_ymd_hms_milli();
            if (hour, minute, second) == (0, 0, 0) {
                format!("{year:04}-{month:02}-{day:02}")
            } else {
                format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}")
            }
        }
        other => other.to_string(),
    }
}

fn workbook_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Workbook {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Reads the annotation sheet of a workbook: [`SHEET`], or else the first worksheet whose first
/// row has a `row_id` cell, or else the first worksheet that is not the [`GUIDE`].
///
/// # Errors
/// When the file cannot be opened as a workbook or has no worksheet.
pub fn read_sheet(path: &Path) -> Result<Sheet> {
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let mut book: Xlsx<_> = open_workbook(path).map_err(|e| {
        workbook_error(
            path,
            format!("not a readable .xlsx workbook ({e}); save it as an Excel 2007-365 workbook"),
        )
    })?;
    let names: Vec<String> = book
        .sheets_metadata()
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet)
        .map(|s| s.name.clone())
        .collect();
    if names.is_empty() {
        return Err(workbook_error(path, "the workbook has no worksheet"));
    }
    let mut ranges = Vec::with_capacity(names.len());
    for name in &names {
        let range = book
            .worksheet_range(name)
            .map_err(|e| workbook_error(path, format!("sheet {name} cannot be read: {e}")))?;
        ranges.push(range);
    }
    let has_row_id = |range: &calamine::Range<Data>| {
        range
            .rows()
            .find(|r| r.iter().any(|c| c != &Data::Empty))
            .is_some_and(|r| {
                r.iter()
                    .any(|c| cell_text(c).trim().eq_ignore_ascii_case("row_id"))
            })
    };
    let pick = names
        .iter()
        .position(|n| n == SHEET)
        .or_else(|| ranges.iter().position(has_row_id))
        .or_else(|| names.iter().position(|n| n != GUIDE))
        .unwrap_or(0);
    let range = &ranges[pick];
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut header = None;
    let mut rows = Vec::new();
    for (i, cells) in range.rows().enumerate() {
        let line = u64::from(first_row) + i as u64 + 1;
        let mut text: Vec<String> = std::iter::repeat_n(String::new(), first_col as usize)
            .chain(cells.iter().map(cell_text))
            .collect();
        while text.last().is_some_and(String::is_empty) {
            text.pop();
        }
        if header.is_none() {
            if !text.is_empty() {
                header = Some(text);
            }
            continue;
        }
        rows.push((line, text));
    }
    Ok(Sheet {
        path: path.to_owned(),
        name: names[pick].clone(),
        header,
        rows: rows.into_iter(),
    })
}

/// Where a workbook's rows came from, shown on the [`GUIDE`] sheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The run's result CSV (relative to the project root when under it).
    pub results_file: Option<String>,
    /// The shuffle seed, when the rows were shuffled.
    pub seed: Option<u64>,
    /// Rows in the workbook.
    pub sampled_rows: usize,
    /// Rows in the result CSV.
    pub source_rows: Option<usize>,
    /// When the file was written.
    pub created_at: String,
}

/// What an annotation column holds, for layout.
#[derive(Debug, Clone, Copy)]
enum Role<'a> {
    Id,
    Context,
    Llm,
    /// An annotator's cell of a field.
    Field(&'a ScoreField),
    /// An annotator's reasoning, the agreement or the notes: free text.
    FreeText,
}

fn roles<'a>(module: &'a ModuleSpec, headers: &[String]) -> Vec<Role<'a>> {
    let spec = &module.annotation;
    headers
        .iter()
        .map(|h| {
            if h == "row_id" || h == "record_id" {
                return Role::Id;
            }
            if spec.llm.iter().any(|c| &c.name == h) {
                return Role::Llm;
            }
            for field in &spec.fields {
                for annotator in [Annotator::A, Annotator::B] {
                    if field.column_for(annotator).eq_ignore_ascii_case(h)
                        && let Some(score) = module.score.iter().find(|s| s.name == field.score)
                    {
                        return Role::Field(score);
                    }
                }
            }
            if h.starts_with("annotator_") || h == "agreement" || h == "notes" {
                return Role::FreeText;
            }
            Role::Context
        })
        .collect()
}

/// Excel's limit on the characters of one cell.
const MAX_CELL: usize = 32_767;
/// Excel's limits on a validation's input title and message.
const MAX_TITLE: usize = 32;
const MAX_MESSAGE: usize = 255;

/// `text` cut to at most `max` UTF-16 units (Excel counts those), ending in `…` when cut.
fn fit(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 1;
    for c in text.chars() {
        used += c.len_utf16();
        if used > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// One line per label with what it means: `R = relevant`, `N = irrelevant, not relevant, …`
/// (the aliases `modules.toml` gives it); for a yes/no field `true = yes (the question is on
/// the Guide sheet)`; the label alone when nothing more is known.
fn label_lines(labels: &LabelSet, kind: ScoreKind) -> Vec<String> {
    labels
        .labels()
        .iter()
        .map(|label| {
            let null = labels.null_label() == Some(label.as_str());
            let mut line = label.clone();
            if kind == ScoreKind::Boolean {
                let word = if label == "true" { "yes" } else { "no" };
                line.push_str(&format!(" = {word} (the question is on the Guide sheet)"));
                return line;
            }
            let aliases = labels.aliases_of(label);
            if !aliases.is_empty() {
                line.push_str(&format!(" = {}", aliases.join(", ")));
            }
            if null {
                line.push_str(" (also null / none)");
            }
            line
        })
        .collect()
}

/// The input message of an annotator cell of `field`, or `None` for free text.
fn input_message(field: &ScoreField) -> Option<(String, String)> {
    if let Some(labels) = &field.labels {
        let mut message = format!("Pick a label for {}:\n", field.name);
        message.push_str(&label_lines(labels, field.kind).join("\n"));
        message.push_str("\nLeave empty if not annotated.");
        return Some((format!("{}: pick a label", field.name), message));
    }
    match field.kind {
        ScoreKind::List => Some((
            format!("{}: a list", field.name),
            "Separate items with commas (or ; or new lines). Type none (or []) for an empty list; leave the cell empty if not annotated.".to_owned(),
        )),
        ScoreKind::Taxonomy | ScoreKind::Ranking => Some((
            format!("{}: JSON", field.name),
            "A JSON array shaped like the one in the llm column (copy it and edit). Leave empty if not annotated.".to_owned(),
        )),
        _ => None,
    }
}

fn xlsx(path: &Path, e: &XlsxError) -> Error {
    workbook_error(path, format!("cannot be written as a workbook: {e}"))
}

/// Lays out `rows` (cells in `headers` order, as in an annotation CSV) as an annotation
/// workbook for `module` and returns its bytes. `path` is only used in messages.
///
/// # Errors
/// When a cell is longer than a workbook cell can hold (32,767 characters), or the writer
/// refuses the layout.
pub fn write_workbook(
    path: &Path,
    module: &ModuleSpec,
    headers: &[String],
    rows: &[Vec<String>],
    provenance: &Provenance,
) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(SHEET).map_err(|e| xlsx(path, &e))?;
    fill_annotation_sheet(path, sheet, module, headers, rows).map_err(|e| match e {
        Written::Xlsx(e) => xlsx(path, &e),
        Written::Refused(e) => e,
    })?;
    let guide = book.add_worksheet();
    fill_guide(guide, module, headers, provenance).map_err(|e| xlsx(path, &e))?;
    book.save_to_buffer().map_err(|e| xlsx(path, &e))
}

enum Written {
    Xlsx(XlsxError),
    Refused(Error),
}

impl From<XlsxError> for Written {
    fn from(e: XlsxError) -> Self {
        Self::Xlsx(e)
    }
}

fn fill_annotation_sheet(
    path: &Path,
    sheet: &mut Worksheet,
    module: &ModuleSpec,
    headers: &[String],
    rows: &[Vec<String>],
) -> std::result::Result<(), Written> {
    let roles = roles(module, headers);
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_background_color(Color::RGB(0x00D9_E1F2))
        .set_border(FormatBorder::Thin);
    let locked = Format::new().set_align(FormatAlign::Top);
    let wrapped = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    let editable = Format::new()
        .set_unlocked()
        .set_align(FormatAlign::Top)
        .set_background_color(Color::RGB(0x00FF_F2CC));
    let editable_wrapped = editable.clone().set_text_wrap();
    let differ = Format::new()
        .set_background_color(Color::RGB(0x00FF_C7CE))
        .set_font_color(Color::RGB(0x009C_0006));

    let last_row = u32::try_from(rows.len()).unwrap_or(u32::MAX - 1);
    for (col, name) in headers.iter().enumerate() {
        let c = col_num(col);
        sheet.write_string_with_format(0, c, name, &header)?;
        let longest = rows
            .iter()
            .map(|r| r.get(col).map_or(0, |s| s.chars().count()))
            .max()
            .unwrap_or(0);
        let role = roles[col];
        let long = longest > 40;
        let (width, format) = match role {
            Role::Id => (longest.max(name.len()).clamp(6, 14), &locked),
            Role::Context | Role::Llm if long => (50, &wrapped),
            Role::Context | Role::Llm => (longest.max(name.len()).clamp(8, 30), &locked),
            Role::Field(field) if field.labels.is_some() => (name.len().clamp(12, 24), &editable),
            Role::Field(_) | Role::FreeText => (40, &editable_wrapped),
        };
        sheet.set_column_width(c, width as f64)?;
        sheet.set_column_format(c, format)?;
        for (r, cells) in rows.iter().enumerate() {
            let row = u32::try_from(r + 1).unwrap_or(u32::MAX);
            let text = cells.get(col).map_or("", String::as_str);
            if text.is_empty() {
                continue;
            }
            if text.encode_utf16().count() > MAX_CELL {
                return Err(Written::Refused(workbook_error(
                    path,
                    format!(
                        "row {} column `{name}`: a cell of {} characters is longer than a workbook cell can hold ({MAX_CELL}); write a CSV instead (--format csv)",
                        row + 1,
                        text.chars().count()
                    ),
                )));
            }
            match (role, text.parse::<u32>()) {
                (Role::Id, Ok(n)) if name == "row_id" => {
                    sheet.write_number_with_format(row, c, f64::from(n), format)?;
                }
                _ => {
                    sheet.write_string_with_format(row, c, text, format)?;
                }
            }
        }
    }
    if !rows.is_empty() {
        for r in 1..=last_row {
            sheet.set_row_height(r, 45)?;
        }
    }
    let first_data = 1;
    let last_data = last_row.max(1);
    for (col, role) in roles.iter().enumerate() {
        let Role::Field(field) = role else { continue };
        let Some((title, message)) = input_message(field) else {
            continue;
        };
        let mut validation = DataValidation::new();
        if let Some(labels) = &field.labels
            && labels.labels().join(",").encode_utf16().count() <= MAX_MESSAGE
        {
            validation = validation
                .allow_list_strings(labels.labels())?
                .set_error_title("Not a label")?
                .set_error_message(fit(
                    &format!(
                        "{} takes one of: {} (or leave the cell empty).",
                        field.name,
                        labels.labels().join(", ")
                    ),
                    MAX_MESSAGE,
                ))?
                .set_error_style(DataValidationErrorStyle::Stop);
        } else {
            validation = validation.allow_any_value();
        }
        validation = validation
            .set_input_title(fit(&title, MAX_TITLE))?
            .set_input_message(fit(&message, MAX_MESSAGE))?;
        let c = col_num(col);
        sheet.add_data_validation(first_data, c, last_data, c, &validation)?;
    }
    for field in &module.annotation.fields {
        let a = headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(&field.column_for(Annotator::A)));
        let b = headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(&field.column_for(Annotator::B)));
        let (Some(a), Some(b)) = (a, b) else { continue };
        let (la, lb) = (column_letters(a), column_letters(b));
        let rule = format!("=AND(${la}2<>\"\",${lb}2<>\"\",${la}2<>${lb}2)");
        let highlight = ConditionalFormatFormula::new()
            .set_rule(rule.as_str())
            .set_format(&differ);
        for c in [a, b] {
            sheet.add_conditional_format(
                first_data,
                col_num(c),
                last_data,
                col_num(c),
                &highlight,
            )?;
        }
    }
    let frozen = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("keyword"))
        .map_or(2, |k| k + 1)
        .min(headers.len());
    sheet.set_freeze_panes(1, col_num(frozen))?;
    if !headers.is_empty() {
        sheet.autofilter(0, 0, last_data, col_num(headers.len() - 1))?;
    }
    // No password: protection guards against slips, not against a determined user.
    let options = ProtectionOptions {
        format_columns: true,
        format_rows: true,
        use_autofilter: true,
        sort: false,
        ..ProtectionOptions::new()
    };
    sheet.protect_with_options(&options);
    sheet.set_active(true);
    Ok(())
}

fn col_num(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX)
}

fn fill_guide(
    sheet: &mut Worksheet,
    module: &ModuleSpec,
    headers: &[String],
    provenance: &Provenance,
) -> std::result::Result<(), XlsxError> {
    sheet.set_name(GUIDE)?;
    let title = Format::new().set_bold().set_font_size(14);
    let bold = Format::new().set_bold();
    let wrapped = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    sheet.set_column_width(0, 28)?;
    sheet.set_column_width(1, 22)?;
    sheet.set_column_width(2, 70)?;
    let mut row = 0u32;
    let mut line = |sheet: &mut Worksheet, cells: &[&str], format: Option<&Format>| {
        for (c, text) in cells.iter().enumerate() {
            let result = match format {
                Some(f) => sheet.write_string_with_format(row, col_num(c), *text, f),
                None => sheet.write_string_with_format(row, col_num(c), *text, &wrapped),
            };
            result?;
        }
        row += 1;
        Ok::<(), XlsxError>(())
    };
    line(
        sheet,
        &[&format!(
            "{} {}: annotation guide",
            module.id.upper(),
            module.name
        )],
        Some(&title),
    )?;
    line(sheet, &["Question", "", &module.description], None)?;
    line(sheet, &[], None)?;
    line(sheet, &["How to annotate"], Some(&bold))?;
    let a_columns: Vec<String> = module
        .annotation
        .fields
        .iter()
        .map(|f| f.column_for(Annotator::A))
        .collect();
    let b_columns: Vec<String> = module
        .annotation
        .fields
        .iter()
        .map(|f| f.column_for(Annotator::B))
        .collect();
    for text in [
        format!(
            "Annotator A fills {} (and annotator_a_reasoning when there); annotator B fills {} (and annotator_b_reasoning). Do not look at the other annotator's columns.",
            a_columns.join(", "),
            b_columns.join(", ")
        ),
        "Yellow columns are yours to fill; the product and model columns are protected (Review > Unprotect Sheet, no password, if you really must change one).".to_owned(),
        "Label columns have a dropdown: pick a value, or leave the cell empty when you did not annotate the row. Select a cell to see what each label means.".to_owned(),
        "A field's two annotator cells turn red when both are filled and differ; merge-annotations resolves those rows.".to_owned(),
        "Keep the header row and the row_id column as they are; add notes in the notes column. Save as .xlsx (or CSV UTF-8).".to_owned(),
    ] {
        line(sheet, &["", "", &text], None)?;
    }
    line(sheet, &[], None)?;
    line(sheet, &["Labels", "column", "meaning"], Some(&bold))?;
    for field in &module.annotation.fields {
        let Some(score) = module.score.iter().find(|s| s.name == field.score) else {
            continue;
        };
        let columns = format!(
            "{} / {}",
            field.column_for(Annotator::A),
            field.column_for(Annotator::B)
        );
        match &score.labels {
            Some(labels) => {
                for (label, text) in labels.labels().iter().zip(label_lines(labels, score.kind)) {
                    let meaning = if text == *label {
                        format!("{label} ({} field)", score.kind)
                    } else {
                        format!("{text} ({} field)", score.kind)
                    };
                    line(sheet, &[label, &columns, &meaning], None)?;
                }
            }
            None => {
                let meaning = input_message(score)
                    .map_or_else(|| "Free text.".to_owned(), |(_, message)| message);
                line(
                    sheet,
                    &[&format!("({})", score.kind), &columns, &meaning],
                    None,
                )?;
            }
        }
    }
    line(sheet, &[], None)?;
    line(sheet, &["Provenance"], Some(&bold))?;
    let seed = provenance
        .seed
        .map_or_else(|| "none (file order kept)".to_owned(), |s| s.to_string());
    let sample = match provenance.source_rows {
        Some(total) => format!("{} of {total} rows", provenance.sampled_rows),
        None => format!("{} rows", provenance.sampled_rows),
    };
    for (key, value) in [
        ("module", format!("{} ({})", module.id, module.name)),
        (
            "run",
            provenance
                .results_file
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
        ),
        ("seed", seed),
        ("sample", sample),
        ("created", provenance.created_at.clone()),
        ("columns", headers.join(", ")),
    ] {
        line(sheet, &[key, "", &value], None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use core_config::Catalog;
    use quick_xml::events::Event;

    use super::*;
    use crate::sheet::read_annotation_file;

    fn catalog() -> Catalog {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules.toml"))
                .unwrap();
        Catalog::parse(&text, Path::new("/p/modules.toml")).unwrap()
    }

    /// Rows of `module`'s layout: keyword and reasoning set per row, the rest empty or `x`.
    fn rows(module: &ModuleSpec, keywords: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
        let headers = module.annotation.headers();
        let rows = keywords
            .iter()
            .enumerate()
            .map(|(i, keyword)| {
                headers
                    .iter()
                    .map(|h| match h.as_str() {
                        "row_id" => (i + 1).to_string(),
                        "record_id" => format!("rec-{i}"),
                        "keyword" => (*keyword).to_owned(),
                        "product_title" => {
                            "A very long product title that goes on and on, as Amazon titles do"
                                .to_owned()
                        }
                        h if h.starts_with("annotator_") || h == "agreement" || h == "notes" => {
                            String::new()
                        }
                        _ => "x".to_owned(),
                    })
                    .collect()
            })
            .collect();
        (headers, rows)
    }

    fn written(module: &str, keywords: &[&str]) -> (tempfile::TempDir, PathBuf, Vec<Vec<String>>) {
        let catalog = catalog();
        let spec = catalog.resolve(module).unwrap();
        let (headers, rows) = rows(spec, keywords);
        let provenance = Provenance {
            results_file: Some("experiment_results/M12_X/M12_v1_20260116_120000.csv".into()),
            seed: Some(42),
            sampled_rows: rows.len(),
            source_rows: Some(40),
            created_at: "2026-01-16T12:00:00+00:00".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join(format!("{}_annotation_1.xlsx", spec.id.upper()));
        let bytes = write_workbook(&path, spec, &headers, &rows, &provenance).unwrap();
        std::fs::write(&path, bytes).unwrap();
        (dir, path, rows)
    }

    /// One part of the workbook's zip, as text.
    fn part(path: &Path, name: &str) -> String {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut text = String::new();
        zip.by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    /// Every element named `tag` in an XML text: its attributes and its text content.
    fn elements(xml: &str, tag: &str) -> Vec<(BTreeMap<String, String>, String)> {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut found = Vec::new();
        let mut open: Option<(BTreeMap<String, String>, String)> = None;
        let attributes = |e: &quick_xml::events::BytesStart<'_>| {
            e.attributes()
                .map(|a| {
                    let a = a.unwrap();
                    (
                        a.key.as_ref().to_owned(),
                        quick_xml::escape::unescape(&a.value).unwrap().into_owned(),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        };
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) if e.name().as_ref() == tag => {
                    open = Some((attributes(&e), String::new()));
                }
                Event::Empty(e) if e.name().as_ref() == tag => {
                    found.push((attributes(&e), String::new()));
                }
                Event::Text(t) => {
                    if let Some((_, text)) = &mut open {
                        text.push_str(&t);
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some((_, text)) = &mut open {
                        let name = r.to_string();
                        text.push_str(match name.as_str() {
                            "quot" => "\"",
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "apos" => "'",
                            other => panic!("entity {other}"),
                        });
                    }
                }
                Event::End(e) if e.name().as_ref() == tag => {
                    found.extend(open.take());
                }
                Event::Eof => break,
                _ => {}
            }
        }
        found
    }

    fn letter(headers: &[String], name: &str) -> String {
        column_letters(headers.iter().position(|h| h == name).unwrap())
    }

    #[test]
    fn a_workbook_reads_back_exactly_like_the_rows_written() {
        let keywords = [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1",
            "-5 volts",
            "@x",
            "plain",
        ];
        let (_dir, path, rows) = written("m12", &keywords);
        let table = read_annotation_file(&path).unwrap();
        assert_eq!(
            table.headers,
            catalog().resolve("m12").unwrap().annotation.headers()
        );
        let cells: Vec<Vec<String>> = table
            .rows
            .iter()
            .map(|r| {
                let mut cells = r.cells.clone();
                cells.truncate(rows[0].len());
                cells
            })
            .collect();
        assert_eq!(cells, rows);
        let lines: Vec<u64> = table.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6], "lines are the sheet's row numbers");
    }

    #[test]
    fn no_cell_is_a_formula_and_dangerous_text_is_stored_as_a_string() {
        let (_dir, path, _) = written("m12", &["=HYPERLINK(\"http://x\",\"y\")", "+1"]);
        let sheet = part(&path, "xl/worksheets/sheet1.xml");
        assert!(elements(&sheet, "f").is_empty(), "no formula element");
        // Every cell is a shared string (t="s") except row_id, a plain number.
        for (attrs, _) in elements(&sheet, "c") {
            let reference = &attrs["r"];
            if reference.starts_with('A') && reference != "A1" {
                assert!(!attrs.contains_key("t"), "{reference} is a number");
            } else {
                assert_eq!(attrs.get("t").map(String::as_str), Some("s"), "{reference}");
            }
        }
        let strings: Vec<String> = elements(&part(&path, "xl/sharedStrings.xml"), "t")
            .into_iter()
            .map(|(_, text)| text)
            .collect();
        assert!(
            strings.contains(&"=HYPERLINK(\"http://x\",\"y\")".to_owned()),
            "{strings:?}"
        );
        assert!(strings.contains(&"+1".to_owned()));
    }

    #[test]
    fn label_columns_have_dropdowns_of_the_modules_labels_and_free_text_is_unrestricted() {
        for (module, field, allowed, meaning) in [
            (
                "m12",
                "violates",
                "\"true,false\"",
                "true = yes (the question is on the Guide sheet)",
            ),
            (
                "m12b",
                "relevancy",
                "\"R,S,C,N\"",
                "C = complement, complementary",
            ),
        ] {
            let (_dir, path, rows) = written(module, &["a", "b", "c"]);
            let headers = catalog().resolve(module).unwrap().annotation.headers();
            let sheet = part(&path, "xl/worksheets/sheet1.xml");
            let validations = elements(&sheet, "dataValidation");
            assert_eq!(validations.len(), 2, "{module}: one per annotator column");
            let formulas = elements(&sheet, "formula1");
            for (annotator, (attrs, _)) in ["a", "b"].iter().zip(&validations) {
                let l = letter(&headers, &format!("annotator_{annotator}_{field}"));
                assert_eq!(attrs["sqref"], format!("{l}2:{l}{}", rows.len() + 1));
                assert_eq!(attrs["type"], "list");
                assert_eq!(attrs["promptTitle"], format!("{field}: pick a label"));
                assert!(attrs["prompt"].contains(meaning), "{}", attrs["prompt"]);
                assert!(attrs["error"].contains("or leave the cell empty"));
            }
            assert_eq!(formulas.len(), 2);
            assert!(formulas.iter().all(|(_, f)| f == allowed), "{formulas:?}");
            // Reasoning, agreement and notes carry no validation.
            for free in ["annotator_a_reasoning", "notes"] {
                let l = letter(&headers, free);
                assert!(
                    validations.iter().all(|(a, _)| !a["sqref"].starts_with(&l)),
                    "{free}"
                );
            }
        }
    }

    #[test]
    fn list_fields_get_a_separator_message_and_no_dropdown() {
        let catalog = catalog();
        let module = catalog
            .modules()
            .iter()
            .find(|m| {
                m.annotation.fields.iter().any(|f| {
                    m.score
                        .iter()
                        .any(|s| s.name == f.score && s.kind == ScoreKind::List)
                })
            })
            .unwrap();
        let (_dir, path, _) = written(module.id.as_str(), &["a"]);
        let validations = elements(&part(&path, "xl/worksheets/sheet1.xml"), "dataValidation");
        assert!(!validations.is_empty());
        for (attrs, _) in validations {
            assert!(!attrs.contains_key("type"), "any value: {attrs:?}");
            assert!(attrs["prompt"].starts_with("Separate items with commas"));
        }
    }

    #[test]
    fn the_sheet_is_protected_without_password_with_frozen_panes_and_editable_annotator_columns() {
        let (_dir, path, _) = written("m12b", &["a", "b"]);
        let headers = catalog().resolve("m12b").unwrap().annotation.headers();
        let sheet = part(&path, "xl/worksheets/sheet1.xml");
        let protection = elements(&sheet, "sheetProtection");
        assert_eq!(protection.len(), 1);
        let attrs = &protection[0].0;
        assert_eq!(attrs["sheet"], "1");
        assert!(
            !attrs
                .keys()
                .any(|k| k.contains("assword") || k.contains("hash")),
            "no password: {attrs:?}"
        );
        let pane = &elements(&sheet, "pane")[0].0;
        assert_eq!(pane["state"], "frozen");
        assert_eq!(pane["ySplit"], "1");
        let keyword = headers.iter().position(|h| h == "keyword").unwrap();
        assert_eq!(pane["xSplit"], (keyword + 1).to_string());

        // Which column styles are unlocked: the cellXfs entries with locked="0".
        let styles = part(&path, "xl/styles.xml");
        let xfs_start = styles.find("<cellXfs").unwrap();
        let xfs = &styles[xfs_start..styles.find("</cellXfs>").unwrap()];
        let unlocked: Vec<bool> = xfs
            .split("<xf ")
            .skip(1)
            .map(|xf| xf.contains("locked=\"0\""))
            .collect();
        let column_unlocked = |name: &str| {
            let n = headers.iter().position(|h| h == name).unwrap() + 1;
            let col = elements(&sheet, "col")
                .into_iter()
                .find(|(a, _)| {
                    a["min"].parse::<usize>().unwrap() <= n && n <= a["max"].parse().unwrap()
                })
                .unwrap()
                .0;
            unlocked[col["style"].parse::<usize>().unwrap()]
        };
        for editable in ["annotator_a_relevancy", "annotator_b_reasoning", "notes"] {
            assert!(column_unlocked(editable), "{editable}");
        }
        for locked in ["row_id", "keyword", "product_title", "llm_relevancy"] {
            assert!(!column_unlocked(locked), "{locked}");
        }
    }

    #[test]
    fn disagreements_are_highlighted_once_both_are_filled() {
        let (_dir, path, _) = written("m12b", &["a", "b"]);
        let headers = catalog().resolve("m12b").unwrap().annotation.headers();
        let (a, b) = (
            letter(&headers, "annotator_a_relevancy"),
            letter(&headers, "annotator_b_relevancy"),
        );
        let sheet = part(&path, "xl/worksheets/sheet1.xml");
        let ranges: Vec<String> = elements(&sheet, "conditionalFormatting")
            .into_iter()
            .map(|(a, _)| a["sqref"].clone())
            .collect();
        assert_eq!(ranges, [format!("{a}2:{a}3"), format!("{b}2:{b}3")]);
        let rules: Vec<String> = elements(&sheet, "formula")
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        assert!(
            rules
                .iter()
                .all(|r| r == &format!("AND(${a}2<>\"\",${b}2<>\"\",${a}2<>${b}2)")),
            "{rules:?}"
        );
    }

    #[test]
    fn the_guide_sheet_explains_labels_and_provenance() {
        let (_dir, path, _) = written("m12b", &["a", "b"]);
        let mut book: Xlsx<_> = open_workbook(&path).unwrap();
        assert_eq!(book.sheet_names(), [SHEET, GUIDE]);
        let guide = book.worksheet_range(GUIDE).unwrap();
        let text: Vec<String> = guide
            .rows()
            .map(|r| r.iter().map(cell_text).collect::<Vec<_>>().join(" | "))
            .collect();
        let all = text.join("\n");
        assert!(
            all.starts_with("M12B CombinedClassification: annotation guide"),
            "{all}"
        );
        assert!(all.contains("N | annotator_a_relevancy / annotator_b_relevancy | N = irrelevant, not relevant, not_relevant (multiclass field)"), "{all}");
        assert!(all.contains("run |  | experiment_results/M12_X/M12_v1_20260116_120000.csv"));
        assert!(all.contains("Question |  | Path B of stage 4: one pass through the whole relevance decision tree"), "{all}");
        assert!(all.contains("seed |  | 42"));
        assert!(all.contains("sample |  | 2 of 40 rows"));
        assert!(all.contains("module |  | m12b (CombinedClassification)"));
    }

    #[test]
    fn broken_and_empty_workbooks_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("M12_annotation_text.xlsx");
        std::fs::write(&text, "row_id,a\n1,x\n").unwrap();
        let err = crate::AnnotationReader::open(&text)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}: not a readable .xlsx workbook (",
                text.display()
            )),
            "{err}"
        );
        assert!(
            err.ends_with("); save it as an Excel 2007-365 workbook"),
            "{err}"
        );

        let missing = dir.path().join("gone.xlsx");
        let err = crate::AnnotationReader::open(&missing)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(err, format!("{}", missing.display()));

        let empty = dir.path().join("M12_annotation_empty.xlsx");
        let mut book = Workbook::new();
        book.add_worksheet();
        book.save(&empty).unwrap();
        let err = crate::AnnotationReader::open(&empty)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{} [sheet Sheet1]: the file is empty (expected a header line starting with `row_id`)",
                empty.display()
            )
        );

        // A value in a column without a header is not silently dropped.
        let stray = dir.path().join("M12_annotation_stray.xlsx");
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "row_id").unwrap();
        sheet.write_string(0, 1, "annotator_a_violates").unwrap();
        sheet.write_number(1, 0, 1).unwrap();
        sheet.write_boolean(1, 1, true).unwrap();
        sheet.write_number(2, 0, 2).unwrap();
        sheet.write_string(2, 3, "stray note").unwrap();
        book.save(&stray).unwrap();
        let rows: Vec<_> = crate::AnnotationReader::open(&stray).unwrap().collect();
        assert_eq!(rows[0].as_ref().unwrap().cells, ["1", "true"]);
        let err = rows[1].as_ref().unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{} [sheet Sheet1]:3: a value in column D, which has no header; give the column a name in row 1 (or move the value) and run again",
                stray.display()
            )
        );
    }

    #[test]
    fn a_cell_too_long_for_a_workbook_is_refused_with_its_row_and_column() {
        let catalog = catalog();
        let spec = catalog.resolve("m12").unwrap();
        let long = "x".repeat(MAX_CELL + 1);
        let (headers, rows) = rows(spec, &["a", &long]);
        let err = write_workbook(
            Path::new("t.xlsx"),
            spec,
            &headers,
            &rows,
            &Provenance::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("t.xlsx: row 3 column `keyword`: a cell of 32768 characters"),
            "{err}"
        );
    }

    #[test]
    fn column_letters_count_like_a_spreadsheet() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn typed_cells_read_as_the_text_a_csv_would_hold() {
        assert_eq!(cell_text(&Data::Bool(true)), "true");
        assert_eq!(cell_text(&Data::Float(1.0)), "1");
        assert_eq!(cell_text(&Data::Float(0.9)), "0.9");
        assert_eq!(cell_text(&Data::Int(3)), "3");
        assert_eq!(cell_text(&Data::Empty), "");
        assert_eq!(cell_text(&Data::String("=x".into())), "=x");
        let date = |serial| {
            Data::DateTime(calamine::ExcelDateTime::new(
                serial,
                calamine::ExcelDateTimeType::DateTime,
                false,
            ))
        };
        assert_eq!(cell_text(&date(45_659.0)), "2025-01-02");
        assert_eq!(cell_text(&date(45_659.5)), "2025-01-02 12:00:00");
    }

    #[test]
    fn long_messages_are_cut_to_excels_limits() {
        assert_eq!(fit("short", 32), "short");
        let cut = fit(&"é".repeat(300), MAX_MESSAGE);
        assert_eq!(cut.encode_utf16().count(), MAX_MESSAGE);
        assert!(cut.ends_with('…'));
    }
}
