//! A table becomes a module's dataset: which column feeds which key (a map file, or columns
//! named like the keys), ids by the module's scheme, expected labels read with the module's
//! label rules, structured inputs kept as JSON. Every problem names the row and column.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use core_config::{Catalog, LabelSet, ModuleSpec, Reading, Side, Template};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::table::{Table, fold};

/// Which column feeds which key (`import-data table --map MAP.toml`):
///
/// ```toml
/// id = "Record ID"              # optional: ids are built from the ASIN and keyword otherwise
/// [input]
/// keyword = "Search Term"
/// [expected]
/// relevancy = "Label"
/// [metadata]
/// asin = "ASIN"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    /// The column holding record ids.
    pub id: Option<String>,
    /// Input key → column.
    pub input: Vec<(String, String)>,
    /// Expected key → column.
    pub expected: Vec<(String, String)>,
    /// Metadata key → column.
    pub metadata: Vec<(String, String)>,
}

impl ColumnMap {
    /// Reads a map file.
    ///
    /// # Errors
    /// [`Error::Map`] when it is not TOML of the shape above.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses map-file text; `path` names it in errors.
    ///
    /// # Errors
    /// [`Error::Map`] when it is not TOML of the expected shape.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |message: String| Error::Map {
            path: path.to_owned(),
            message,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string().trim_end().replace('\n', " ")))?;
        let mut map = Self::default();
        for (key, value) in table {
            match (key.as_str(), value) {
                ("id", toml::Value::String(column)) => map.id = Some(column),
                (section @ ("input" | "expected" | "metadata"), toml::Value::Table(pairs)) => {
                    let mut out = Vec::new();
                    for (k, v) in pairs {
                        let toml::Value::String(column) = v else {
                            return Err(bad(format!(
                                "[{section}] {k}: expected a column name in quotes"
                            )));
                        };
                        out.push((k, column));
                    }
                    match section {
                        "input" => map.input = out,
                        "expected" => map.expected = out,
                        _ => map.metadata = out,
                    }
                }
                (other, _) => {
                    return Err(bad(format!(
                        "unexpected `{other}`: a map has `id = \"COLUMN\"` and the tables [input], [expected], [metadata]"
                    )));
                }
            }
        }
        Ok(map)
    }
}

/// What a module's dataset records need, read from the catalogue: the prompt's placeholders,
/// which input keys take structured data, and the scoring fields.
#[derive(Debug, Clone)]
pub struct Shape<'a> {
    /// The module.
    pub module: &'a ModuleSpec,
    /// Input keys the prompt uses (every one must be fed).
    pub placeholders: Vec<String>,
    /// Input and expected keys whose values are arrays or objects in the module's own dataset.
    pub structured: HashMap<String, StructuredKind>,
}

/// How a structured key's values look in the module's own dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuredKind {
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
}

impl<'a> Shape<'a> {
    /// The shape of `module`'s records with prompt `version`.
    ///
    /// # Errors
    /// When the prompt cannot be read or parsed.
    pub fn of(catalog: &Catalog, module: &'a ModuleSpec, version: &str) -> Result<Self> {
        let prompt = catalog.prompt_path(module, version);
        let text = std::fs::read_to_string(&prompt).map_err(|e| Error::io(&prompt, e))?;
        let template = Template::parse(text).map_err(|e| Error::Table {
            path: prompt.clone(),
            message: e.to_string(),
        })?;
        let placeholders: Vec<String> = template.names().into_iter().map(str::to_owned).collect();
        let mut structured = HashMap::new();
        // The first record of the module's own dataset tells which keys hold arrays/objects.
        if let Ok(mut reader) = core_config::RecordReader::open(&catalog.dataset_path(module))
            && let Some(Ok((_, value))) = reader.next_value()
        {
            for section in ["input", "expected"] {
                if let Some(object) = value.get(section).and_then(Value::as_object) {
                    for (key, v) in object {
                        let kind = match v {
                            Value::Array(_) => StructuredKind::Array,
                            Value::Object(_) => StructuredKind::Object,
                            _ => continue,
                        };
                        structured.insert(format!("{section}.{key}"), kind);
                    }
                }
            }
        }
        Ok(Self {
            module,
            placeholders,
            structured,
        })
    }

    /// Whether the module's records are about a keyword (ids `M12_{ASIN}__{keyword}`).
    #[must_use]
    pub fn keyword_level(&self) -> bool {
        self.placeholders.iter().any(|p| p == "keyword")
    }

    /// The id scheme, as users read it.
    #[must_use]
    pub fn id_scheme(&self) -> String {
        if self.keyword_level() {
            format!("{}_{{ASIN}}__{{keyword}}", self.module.id.upper())
        } else {
            format!("{}_{{ASIN}}", self.module.id.upper())
        }
    }
}

/// Where each key's value comes from: a column index and its header.
struct Plan {
    id: Option<usize>,
    input: Vec<(String, usize)>,
    expected: Vec<(String, usize)>,
    metadata: Vec<(String, usize)>,
}

fn missing(table: &Table, key: String, column: &str) -> Error {
    Error::MissingColumn {
        path: table.path.clone(),
        key,
        column: column.to_owned(),
        available: table.headers.clone(),
    }
}

/// Decides which column feeds which key, from the map or from the headers.
fn plan(table: &Table, shape: &Shape<'_>, map: Option<&ColumnMap>) -> Result<Plan> {
    let find = |key: String, column: &str| {
        table
            .column(column)
            .ok_or_else(|| missing(table, key, column))
    };
    let mut used: BTreeSet<usize> = BTreeSet::new();
    let mut plan = Plan {
        id: None,
        input: Vec::new(),
        expected: Vec::new(),
        metadata: Vec::new(),
    };
    if let Some(map) = map {
        if let Some(column) = &map.id {
            plan.id = Some(find("the id".to_owned(), column)?);
        }
        for (section, pairs, out) in [
            ("input", &map.input, &mut plan.input),
            ("expected", &map.expected, &mut plan.expected),
            ("metadata", &map.metadata, &mut plan.metadata),
        ] {
            for (key, column) in pairs {
                out.push((key.clone(), find(format!("{section}.{key}"), column)?));
            }
        }
    } else {
        plan.id = table.column("id");
        for key in &shape.placeholders {
            if let Some(c) = table.column(key) {
                plan.input.push((key.clone(), c));
            }
        }
        for field in &shape.module.score {
            if let Some(c) = table.column(&field.expected) {
                plan.expected.push((field.expected.clone(), c));
            }
        }
    }
    used.extend(plan.id);
    used.extend(plan.input.iter().chain(&plan.expected).map(|(_, c)| *c));
    // Every placeholder must be fed; every scored field must have its expected column.
    for key in &shape.placeholders {
        if !plan.input.iter().any(|(k, _)| k == key) {
            let column = map.map_or(key.as_str(), |_| "(not in the map's [input])");
            return Err(missing(table, format!("input.{key}"), column));
        }
    }
    for field in &shape.module.score {
        if !plan.expected.iter().any(|(k, _)| k == &field.expected) {
            let column = map.map_or(field.expected.as_str(), |_| "(not in the map's [expected])");
            return Err(missing(
                table,
                format!("expected.{}", field.expected),
                column,
            ));
        }
    }
    if map.is_none() {
        // Without a map, the other columns are kept as metadata under their folded names.
        for (i, header) in table.headers.iter().enumerate() {
            if !used.contains(&i) && !header.is_empty() {
                plan.metadata.push((snake(header), i));
            }
        }
    }
    Ok(plan)
}

fn snake(header: &str) -> String {
    let mut out = String::new();
    for c in header.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// Builds the records of `module` from `table`. `source` is recorded in each record's metadata
/// (`source`), with `dataset_kind = "imported"`.
///
/// # Errors
/// A missing column ([`Error::MissingColumn`]), or a cell that is empty where a value is
/// required, an unknown label, an id breaking the module's scheme, a duplicate id or bad JSON
/// ([`Error::Cell`], naming row, column and value).
pub fn import_table(
    table: &Table,
    shape: &Shape<'_>,
    map: Option<&ColumnMap>,
) -> Result<Vec<Value>> {
    let plan = plan(table, shape, map)?;
    let source = table
        .path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut records = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let cell_error = |column: usize, message: String| Error::Cell {
            path: table.path.clone(),
            unit: table.unit,
            number: row.number,
            column: table.headers[column].clone(),
            message,
        };
        let mut input = Map::new();
        for (key, c) in &plan.input {
            let text = row.cells[*c].trim();
            let kind = shape.structured.get(&format!("input.{key}")).copied();
            // Free text may be empty (many products have no description); the keyword and
            // structured inputs may not.
            if text.is_empty() && (kind.is_some() || key == "keyword") {
                return Err(cell_error(
                    *c,
                    format!("empty, but input.{key} is required"),
                ));
            }
            input.insert(
                key.clone(),
                structured(text, kind).map_err(|m| cell_error(*c, m))?,
            );
        }
        let mut expected = Map::new();
        for (key, c) in &plan.expected {
            let text = row.cells[*c].trim();
            let value = expected_value(shape, key, text).map_err(|m| cell_error(*c, m))?;
            expected.insert(key.clone(), value);
        }
        let mut metadata = Map::new();
        metadata.insert(
            "module_id".to_owned(),
            Value::from(shape.module.id.as_str()),
        );
        for (key, c) in &plan.metadata {
            let text = row.cells[*c].trim();
            if !text.is_empty() {
                metadata.insert(key.clone(), Value::from(text));
            }
        }
        let keyword = input
            .get("keyword")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(keyword) = &keyword {
            metadata
                .entry("keyword")
                .or_insert_with(|| Value::from(keyword.as_str()));
        }
        let asin = metadata
            .get("asin")
            .or_else(|| input.get("asin"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let id = match plan.id {
            Some(c) => {
                let id = row.cells[c].trim().to_owned();
                check_id(shape, &id).map_err(|m| cell_error(c, m))?;
                id
            }
            None => built_id(shape, asin.as_deref(), keyword.as_deref()).ok_or_else(|| {
                Error::MissingColumn {
                    path: table.path.clone(),
                    key: format!(
                        "the id (built as {} without an id column)",
                        shape.id_scheme()
                    ),
                    column: "ASIN".to_owned(),
                    available: table.headers.clone(),
                }
            })?,
        };
        if let Some(first) = seen.insert(id.clone(), row.number) {
            let c = plan.id.unwrap_or(0);
            return Err(cell_error(
                c,
                format!("duplicate id `{id}` (first on {} {first})", table.unit),
            ));
        }
        metadata.insert("source".to_owned(), Value::from(format!("import:{source}")));
        metadata.insert(table.unit.to_owned(), Value::from(row.number));
        metadata.insert("dataset_kind".to_owned(), Value::from("imported"));
        let mut record = Map::new();
        record.insert("id".to_owned(), Value::from(id));
        record.insert("input".to_owned(), Value::Object(input));
        record.insert("expected".to_owned(), Value::Object(expected));
        record.insert("metadata".to_owned(), Value::Object(metadata));
        records.push(Value::Object(record));
    }
    Ok(records)
}

/// A cell for a key: JSON where the key takes structured data (a list may also be written
/// `a; b; c`), the text otherwise.
fn structured(text: &str, kind: Option<StructuredKind>) -> Result<Value, String> {
    let Some(kind) = kind else {
        return Ok(Value::from(text));
    };
    if text.starts_with('[') || text.starts_with('{') {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("not valid JSON ({e}): `{}`", clip(text)))?;
        let fits = match kind {
            StructuredKind::Array => value.is_array(),
            StructuredKind::Object => value.is_object(),
        };
        if !fits {
            return Err(format!(
                "expected a JSON {}, found `{}`",
                if kind == StructuredKind::Array {
                    "array"
                } else {
                    "object"
                },
                clip(text)
            ));
        }
        return Ok(value);
    }
    match kind {
        StructuredKind::Array => Ok(Value::Array(
            text.split([';', '|', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Value::from)
                .collect(),
        )),
        StructuredKind::Object => Err(format!("expected a JSON object, found `{}`", clip(text))),
    }
}

fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(60).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.replace(['\n', '\r'], " ")
}

/// The expected value of `key` from a cell, read with the module's label rules: a label of the
/// field (its canonical spelling, or the dataset spelling the module maps to it), JSON for
/// structured fields.
fn expected_value(shape: &Shape<'_>, key: &str, text: &str) -> Result<Value, String> {
    let field = shape.module.score.iter().find(|f| f.expected == key);
    let Some(labels) = field.and_then(|f| f.labels.as_ref()) else {
        if text.is_empty() {
            return Err(format!("empty, but expected.{key} is required"));
        }
        let kind = shape.structured.get(&format!("expected.{key}")).copied();
        return structured(text, kind);
    };
    if text.is_empty() {
        return Err(format!(
            "empty, but expected.{key} is required (labels: {})",
            labels.labels().join(", ")
        ));
    }
    let raw = Value::from(text);
    let reading = labels
        .read_json(Side::Expected, Some(&raw))
        .map_err(|e| format!("unknown label: {e}"))?;
    Ok(canonical(labels, &reading, raw))
}

/// The expected-side value of a label read on another side (a run's answer, for silver sets).
pub(crate) fn canonical_expected(labels: &LabelSet, reading: &Reading) -> Value {
    let raw = match reading {
        Reading::Label(label) => Value::from(label.as_str()),
        Reading::Missing => Value::Null,
    };
    canonical(labels, reading, raw)
}

/// The tidiest value that reads as `reading` on the expected side: null for a null word or the
/// null label; the text as written when it is a spelling only the dataset side knows (m12's
/// `N`); else the canonical label (`own brand` is written `OB`).
fn canonical(labels: &LabelSet, reading: &Reading, raw: Value) -> Value {
    let read = |side: Side, v: &Value| labels.read_json(side, Some(v)).ok();
    let same = |v: &Value| read(Side::Expected, v).as_ref() == Some(reading);
    let null_word = raw
        .as_str()
        .is_some_and(|t| matches!(t.trim().to_ascii_lowercase().as_str(), "null" | "none"));
    if (null_word
        || matches!(reading, Reading::Label(l) if labels.null_label() == Some(l.as_str())))
        && same(&Value::Null)
    {
        return Value::Null;
    }
    if read(Side::Output, &raw) != read(Side::Expected, &raw) {
        return raw;
    }
    if let Reading::Label(label) = reading {
        let label = Value::from(label.as_str());
        if same(&label) {
            return label;
        }
    }
    raw
}

fn check_id(shape: &Shape<'_>, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty, but every record needs an id".to_owned());
    }
    let prefix = format!("{}_", shape.module.id.upper());
    let ok = id.starts_with(&prefix)
        && id.len() > prefix.len()
        && (!shape.keyword_level() || id.contains("__"));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` does not follow the module's id scheme {}",
            clip(id),
            shape.id_scheme()
        ))
    }
}

fn built_id(shape: &Shape<'_>, asin: Option<&str>, keyword: Option<&str>) -> Option<String> {
    let asin = asin.filter(|a| !a.is_empty())?;
    let upper = shape.module.id.upper();
    Some(match keyword {
        Some(k) if shape.keyword_level() => format!("{upper}_{asin}__{k}"),
        _ => format!("{upper}_{asin}"),
    })
}

/// Whether two headers name the same key (for callers matching columns themselves).
#[must_use]
pub fn same_key(a: &str, b: &str) -> bool {
    fold(a) == fold(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{read_delimited, read_table};

    fn catalog() -> Catalog {
        Catalog::load(&test_support::repo_root().join("modules.toml")).unwrap()
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        test_support::fixture(format!("dataset/{name}"))
    }

    fn import(
        catalog: &Catalog,
        module: &str,
        table: &Table,
        map: Option<&ColumnMap>,
    ) -> Result<Vec<Value>> {
        let module = catalog.resolve(module).unwrap();
        let shape = Shape::of(catalog, module, "v1").unwrap();
        import_table(table, &shape, map)
    }

    #[test]
    fn a_mapped_m12_sheet_keeps_json_cells_as_json_and_reads_labels() {
        let catalog = catalog();
        let map = ColumnMap::load(&fixture("m12.map.toml")).unwrap();
        let table = read_table(&fixture("m12_semicolon_bom_crlf.csv"), None, None).unwrap();
        let records = import(&catalog, "m12", &table, Some(&map)).unwrap();
        assert_eq!(records.len(), 4);
        let first = &records[0];
        assert_eq!(
            first["id"],
            "M12_B0DSHWLXG6__non magnetic phone holder for car"
        );
        assert!(first["input"]["taxonomy"].is_array());
        assert!(first["input"]["product_attributes"].is_object());
        assert!(first["input"]["title"].is_string());
        assert_eq!(first["expected"]["relevancy"], "N");
        assert_eq!(records[1]["expected"]["relevancy"], Value::Null);
        assert_eq!(first["metadata"]["asin"], "B0DSHWLXG6");
        assert_eq!(first["metadata"]["dataset_kind"], "imported");
        let module = catalog.resolve("m12").unwrap();
        assert_eq!(
            crate::validate(&catalog, module, &records, "v1").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn without_a_map_columns_named_like_the_keys_feed_them_and_lists_split() {
        let catalog = catalog();
        for file in ["m02_keywords.csv", "m02_tabs.tsv"] {
            let table = read_table(&fixture(file), None, None).unwrap();
            let records = import(&catalog, "m02", &table, None).unwrap();
            let first = &records[0];
            assert_eq!(
                first["id"], "M02_B077YYP739__action figures for boys 8-12",
                "{file}"
            );
            assert_eq!(first["input"]["brand_entities"][6], "Hasbro", "{file}");
            assert_eq!(
                records[1]["input"]["brand_entities"],
                serde_json::json!(["Cisily", "Cisly", "Cicily", "Cisilly"])
            );
            // `Null` and its alias `no` are the null label, written as the golden set writes it.
            assert_eq!(first["expected"]["branding_scope_1"], Value::Null, "{file}");
            let module = catalog.resolve("m02").unwrap();
            assert_eq!(
                crate::validate(&catalog, module, &records, "v1").unwrap(),
                Vec::<String>::new()
            );
        }
    }

    fn error(module: &str, csv: &str, map: Option<&str>) -> String {
        let catalog = catalog();
        let table = read_delimited(Path::new("t.csv"), csv.as_bytes(), None).unwrap();
        let map = map.map(|m| ColumnMap::parse(m, Path::new("m.toml")).unwrap());
        import(&catalog, module, &table, map.as_ref())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_cells_name_the_line_the_column_and_the_value() {
        let head = "keyword,brand_entities,branding_scope_1,asin\n";
        assert_eq!(
            error("m02", &format!("{head}usb c,[\"Anker\"],maybe,B01\n"), None),
            "t.csv: line 2, column `branding_scope_1`: unknown label: `maybe` is not a label of this field (expected one of: OB, Null (or null / none))"
        );
        assert_eq!(
            error(
                "m02",
                &format!("{head}usb c,[\"Anker\"],OB,B01\nusb c,[\"Anker\"],OB,B01\n"),
                None
            ),
            "t.csv: line 3, column `keyword`: duplicate id `M02_B01__usb c` (first on line 2)"
        );
        assert_eq!(
            error("m02", &format!("{head}usb c,,OB,B01\n"), None),
            "t.csv: line 2, column `brand_entities`: empty, but input.brand_entities is required"
        );
        assert_eq!(
            error("m02", &format!("{head}usb c,[\"Anker\",OB,B01\n"), None)
                .split(" (")
                .next()
                .unwrap(),
            "t.csv: line 2, column `brand_entities`: not valid JSON"
        );
        assert_eq!(
            error("m02", "keyword,branding_scope_1,asin\nusb c,OB,B01\n", None),
            "t.csv: no column for input.brand_entities (looked for `brand_entities`; the columns are: keyword, branding_scope_1, asin)"
        );
        let map = "id = \"ID\"\n[input]\nkeyword = \"kw\"\nbrand_entities = \"b\"\n[expected]\nbranding_scope_1 = \"l\"\n";
        assert_eq!(
            error("m02", "ID,kw,b,l\nB01-usb,usb,[],OB\n", Some(map)),
            "t.csv: line 2, column `ID`: `B01-usb` does not follow the module's id scheme M02_{ASIN}__{keyword}"
        );
        assert_eq!(
            error("m02", "ID,kw,b\nM02_B01__usb,usb,[]\n", Some(map)),
            "t.csv: no column for expected.branding_scope_1 (looked for `l`; the columns are: ID, kw, b)"
        );
    }

    #[test]
    fn a_map_file_must_have_the_expected_shape() {
        let err = ColumnMap::parse("[inputs]\nkeyword = \"k\"\n", Path::new("m.toml")).unwrap_err();
        assert!(
            err.to_string().starts_with("m.toml: unexpected `inputs`"),
            "{err}"
        );
        let err = ColumnMap::parse("[input]\nkeyword = 3\n", Path::new("m.toml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.toml: [input] keyword: expected a column name in quotes"
        );
    }
}
