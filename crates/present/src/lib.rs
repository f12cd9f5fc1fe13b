//! Plain-text presentation shared by every crate that renders a report for people: aligned
//! tables, thousands separators, plurals, percentages, short timestamps, and escaping of
//! untrusted text for terminals. It formats strings and never prints.
//!
//! It must not depend on any other workspace crate, on I/O, HTTP or async code.
//!
//! ```
//! let mut table = present::Table::new(["module", "rows"]).right(&[1]);
//! table.row(["m12", &present::thousands(1234)]);
//! assert_eq!(table.render(0), "module   rows\nm12     1,234\n");
//! assert_eq!(present::plural(1, "row", "rows"), "1 row");
//! assert_eq!(present::percent(Some(0.875)), "87.5%");
//! ```

/// A plain text table: columns padded to their widest cell, two spaces apart.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
    right_aligned: Vec<usize>,
}

impl Table {
    /// A table with a header row.
    #[must_use]
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            rows: vec![headers.into_iter().map(Into::into).collect()],
            right_aligned: Vec::new(),
        }
    }

    /// A table without a header row.
    #[must_use]
    pub fn headless() -> Self {
        Self::default()
    }

    /// Right-aligns the given columns (numbers).
    #[must_use]
    pub fn right(mut self, columns: &[usize]) -> Self {
        self.right_aligned.extend_from_slice(columns);
        self
    }

    /// Adds a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Renders the table, one line per row, each line indented by `indent` spaces.
    #[must_use]
    pub fn render(&self, indent: usize) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = " ".repeat(indent);
            for (c, cell) in row.iter().enumerate() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                let last = c + 1 == row.len();
                if self.right_aligned.contains(&c) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if !last {
                        line.push_str(&" ".repeat(pad));
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `n` and the noun that fits it, with thousands separators: `1 row`, `1,234 rows`.
#[must_use]
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(n as u64),
        if n == 1 { one } else { many }
    )
}

/// A share in `0..=1` as a percentage with one decimal (`87.5%`), or `-` when unknown.
#[must_use]
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".to_owned(), |s| format!("{:.1}%", s * 100.0))
}

/// A share someone set (a rate, a limit) as the shortest percentage that shows it to one
/// decimal: `5%`, `12.5%`, `0.1%`.
#[must_use]
pub fn percent_setting(share: f64) -> String {
    format!("{}%", (share * 1000.0).round() / 10.0)
}

/// `part` as a percentage of `whole` with one decimal, or `-` when `whole` is 0.
#[must_use]
pub fn percent_of(part: usize, whole: usize) -> String {
    percent((whole > 0).then(|| part as f64 / whole as f64))
}

/// Formats an integer with thousands separators (`12,345`).
#[must_use]
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Reads the timestamps the toolkit writes: `2026-01-16T12:34:56` (local, with or without
/// fractional seconds), or RFC 3339 with an offset.
#[must_use]
pub fn parse_timestamp(text: &str) -> Option<chrono::NaiveDateTime> {
    let text = text.trim();
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|d| d.naive_local())
        })
}

/// A registry timestamp for tables: `2026-01-16T12:34:56…` → `2026-01-16 12:34`; any other text
/// as it is, and `-` for an empty one.
#[must_use]
pub fn short_time(text: &str) -> String {
    match parse_timestamp(text) {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None if text.trim().is_empty() => "-".to_owned(),
        None => text.to_owned(),
    }
}

/// Untrusted text (keywords, reasoning, labels) made safe for a terminal: control characters,
/// including the escape that starts colour and cursor sequences, are shown as `\u{..}` escapes.
#[must_use]
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Runs a renderer that writes into a `String` with `write!`/`writeln!` and returns the text
/// (writing into a `String` cannot fail).
pub fn render(write: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
    let mut out = String::new();
    let _ = write(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(["id", "n"]).right(&[1]);
        t.row(["m12", "120"]);
        t.row(["m12b", "7"]);
        assert_eq!(t.render(2), "  id      n\n  m12   120\n  m12b    7\n");
    }

    #[test]
    fn numbers_and_words() {
        assert_eq!(plural(1, "row", "rows"), "1 row");
        assert_eq!(plural(1234, "row", "rows"), "1,234 rows");
        assert_eq!(plural(0, "row", "rows"), "0 rows");
        assert_eq!(percent(Some(0.875)), "87.5%");
        assert_eq!(percent(None), "-");
        assert_eq!(percent_of(1, 3), "33.3%");
        assert_eq!(percent_of(1, 0), "-");
        assert_eq!(percent_setting(0.05), "5%");
        assert_eq!(percent_setting(0.125), "12.5%");
        assert_eq!(percent_setting(1.0), "100%");
        assert_eq!(short_time("2026-01-16T12:34:56"), "2026-01-16 12:34");
        assert_eq!(short_time(""), "-");
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn control_characters_are_escaped_for_terminals() {
        assert_eq!(terminal_safe("plain keyword"), "plain keyword");
        assert_eq!(terminal_safe("red\u{1b}[31m"), "red\\u{1b}[31m");
        assert_eq!(terminal_safe("a\nb"), "a\\u{a}b");
    }
}
