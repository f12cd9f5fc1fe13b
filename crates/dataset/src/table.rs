//! Reading a table: CSV or TSV in any delimiter, with or without a BOM, LF or CRLF; XLSX, XLSM,
//! XLSB, XLS and ODS through `calamine` (the first sheet, or the one asked for). Cells are read
//! as text, and every row keeps its line (CSV) or row (spreadsheet) number for error messages.

use std::path::{Path, PathBuf};

use calamine::{Data, Reader as _};

use crate::error::{Error, Result};

/// A table read from a file: its header row and its data rows as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The file it was read from.
    pub path: PathBuf,
    /// `line` for CSV files, `row` for spreadsheets (what a user sees in their editor).
    pub unit: &'static str,
    /// Column headers, trimmed.
    pub headers: Vec<String>,
    /// Data rows (blank rows skipped).
    pub rows: Vec<Row>,
}

/// One data row of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based line (CSV) or row (spreadsheet) number.
    pub number: usize,
    /// Cells, one per header (missing trailing cells read as empty).
    pub cells: Vec<String>,
}

impl Table {
    /// The index of the column whose header is `name` (exact first, then ignoring case, spaces,
    /// `-` and `_`).
    #[must_use]
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers
            .iter()
            .position(|h| h == name)
            .or_else(|| self.headers.iter().position(|h| fold(h) == fold(name)))
    }
}

/// A header or key compared loosely: lower case, without spaces, `-` or `_`.
pub(crate) fn fold(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

const SPREADSHEETS: [&str; 5] = ["xlsx", "xlsm", "xlsb", "xls", "ods"];

/// Reads a table. Spreadsheets (by extension) read `sheet`, or the first sheet; anything else
/// is read as delimited text, with `delimiter` or the one its header line uses most (`,` `;`
/// tab `|`).
///
/// # Errors
/// A file that cannot be read, is not UTF-8, is not a table, has no such sheet, or has no header
/// row or data rows.
pub fn read_table(path: &Path, sheet: Option<&str>, delimiter: Option<u8>) -> Result<Table> {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if SPREADSHEETS.contains(&extension.as_str()) {
        read_sheet(path, sheet)
    } else {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        read_delimited(path, &bytes, delimiter)
    }
}

/// Reads delimited text (see [`read_table`]).
///
/// # Errors
/// As [`read_table`].
pub fn read_delimited(path: &Path, bytes: &[u8], delimiter: Option<u8>) -> Result<Table> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Err(e) = std::str::from_utf8(bytes) {
        let offset = e.valid_up_to();
        return Err(Error::NotUtf8 {
            path: path.to_owned(),
            line: 1 + bytes[..offset].iter().filter(|b| **b == b'\n').count(),
            offset,
        });
    }
    let delimiter = delimiter.unwrap_or_else(|| sniff(bytes));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes);
    let broken = |e: &csv::Error| Error::Table {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| broken(&e))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| broken(&e))?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        // From the byte offset, past any line ending the record position still points into
        // (after CRLF the csv crate's own line count is one short).
        let number = record.position().map_or(0, |p| {
            let mut at = usize::try_from(p.byte())
                .unwrap_or(bytes.len())
                .min(bytes.len());
            while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
                at += 1;
            }
            1 + bytes[..at].iter().filter(|b| **b == b'\n').count()
        });
        rows.push(Row {
            number,
            cells: pad(record.iter().map(str::to_owned).collect(), headers.len()),
        });
    }
    finish(path, "line", headers, rows, "the file")
}

fn pad(mut cells: Vec<String>, width: usize) -> Vec<String> {
    if cells.len() < width {
        cells.resize(width, String::new());
    }
    cells
}

fn finish(
    path: &Path,
    unit: &'static str,
    headers: Vec<String>,
    rows: Vec<Row>,
    what: &str,
) -> Result<Table> {
    if headers.iter().all(String::is_empty) || rows.is_empty() {
        return Err(Error::Empty {
            path: path.to_owned(),
            what: what.to_owned(),
        });
    }
    Ok(Table {
        path: path.to_owned(),
        unit,
        headers,
        rows,
    })
}

/// The delimiter the header line uses most, outside quotes; `,` when none is found.
fn sniff(bytes: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &b in bytes {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = candidates.iter().position(|c| *c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..4).max_by_key(|i| (counts[*i], 4 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}

fn read_sheet(path: &Path, sheet: Option<&str>) -> Result<Table> {
    let mut workbook = calamine::open_workbook_auto(path).map_err(|e| Error::Table {
        path: path.to_owned(),
        message: format!("cannot read the workbook: {e}"),
    })?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(wanted)))
            .cloned()
            .ok_or_else(|| Error::NoSheet {
                path: path.to_owned(),
                sheet: wanted.to_owned(),
                available: names.clone(),
            })?,
        None => names.first().cloned().ok_or_else(|| Error::Empty {
            path: path.to_owned(),
            what: "the workbook".to_owned(),
        })?,
    };
    let range = workbook.worksheet_range(&name).map_err(|e| Error::Table {
        path: path.to_owned(),
        message: format!("cannot read the sheet `{name}`: {e}"),
    })?;
    let what = format!("the sheet `{name}`");
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let mut lines = range.rows().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(Error::Empty {
            path: path.to_owned(),
            what,
        });
    };
    let headers: Vec<String> = header
        .iter()
        .map(|c| cell_text(c).trim().to_owned())
        .collect();
    let rows = lines
        .filter(|(_, cells)| cells.iter().any(|c| !cell_text(c).trim().is_empty()))
        .map(|(i, cells)| Row {
            number: first_row + i + 1,
            cells: pad(cells.iter().map(cell_text).collect(), headers.len()),
        })
        .collect();
    finish(path, "row", headers, rows, &what)
}

/// A cell as the text a user sees: whole numbers without `.0`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        #[expect(
            clippy::cast_possible_truncation,
            reason = "only whole numbers well inside i64 are printed as integers"
        )]
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => (*f as i64).to_string(),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        test_support::fixture(format!("dataset/{name}"))
    }

    #[test]
    fn a_spreadsheet_csv_with_bom_crlf_and_semicolons_reads_like_a_plain_one() {
        let plain = read_table(&fixture("m12_plain.csv"), None, None).unwrap();
        let excel = read_table(&fixture("m12_semicolon_bom_crlf.csv"), None, None).unwrap();
        assert_eq!(plain.headers, excel.headers);
        let cells = |t: &Table| t.rows.iter().map(|r| r.cells.clone()).collect::<Vec<_>>();
        assert_eq!(cells(&plain), cells(&excel));
        assert_eq!(
            excel.headers[0], "Record ID",
            "the BOM is not part of the header"
        );
        assert!(
            excel
                .rows
                .iter()
                .all(|r| r.cells.iter().all(|c| !c.contains('\r')))
        );
        // Quoted cells span lines: rows keep the line they start on, CRLF or not.
        let lines = |t: &Table| t.rows.iter().map(|r| r.number).collect::<Vec<_>>();
        assert_eq!(lines(&plain), [2, 7, 12, 17]);
        assert_eq!(lines(&excel), lines(&plain));
    }

    #[test]
    fn tsv_is_sniffed_and_line_numbers_are_kept() {
        let tsv = read_table(&fixture("m02_tabs.tsv"), None, None).unwrap();
        assert_eq!(tsv.headers.len(), 5, "{:?}", tsv.headers);
        assert_eq!(tsv.unit, "line");
        assert_eq!(tsv.rows[1].number, 3);
    }

    #[test]
    fn non_utf8_text_names_its_line() {
        let err = read_delimited(Path::new("x.csv"), b"a,b\n1,caf\xe9\n", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.csv:2: not UTF-8 text (byte 9); save the file as \"CSV UTF-8\" and import it again"
        );
    }

    #[test]
    fn a_header_without_rows_is_empty() {
        let err = read_delimited(Path::new("x.csv"), b"keyword,label\r\n\r\n", None).unwrap_err();
        assert!(matches!(err, Error::Empty { .. }), "{err}");
    }

    #[test]
    fn an_xlsx_sheet_is_read_by_name_with_row_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let notes = book.add_worksheet().set_name("Notes").unwrap();
        notes.write_string(0, 0, "nothing here").unwrap();
        let data = book.add_worksheet().set_name("Data").unwrap();
        for (c, h) in ["keyword", "count"].iter().enumerate() {
            data.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
        }
        data.write_string(1, 0, "usb cable").unwrap();
        data.write_number(1, 1, 3.0).unwrap();
        data.write_string(3, 0, "hdmi").unwrap();
        data.write_number(3, 1, 2.5).unwrap();
        book.save(&path).unwrap();
        let table = read_table(&path, Some("data"), None).unwrap();
        assert_eq!(table.unit, "row");
        assert_eq!(table.headers, ["keyword", "count"]);
        let rows: Vec<(usize, Vec<String>)> = table
            .rows
            .iter()
            .map(|r| (r.number, r.cells.clone()))
            .collect();
        assert_eq!(
            rows,
            [
                (2, vec!["usb cable".to_owned(), "3".to_owned()]),
                (4, vec!["hdmi".to_owned(), "2.5".to_owned()])
            ]
        );
        let err = read_table(&path, Some("Missing"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: no sheet named `Missing` (the sheets are: Notes, Data)",
                path.display()
            )
        );
        let first = read_table(&path, None, None).unwrap_err();
        assert!(
            first.to_string().contains("the sheet `Notes` is empty"),
            "{first}"
        );
    }
}
