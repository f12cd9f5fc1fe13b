//! A Keepa product export becomes synthetic dataset groups, as the earlier tool's
//! `generate_sd_datasets.py` did: one group per Amazon product type (`sd01`, `sd02`, … in
//! product-type order), at most `per_type` products each, one file per product module whose
//! prompt the export can feed (`datasets/synthetic/{id}_sd{NN}_{slug}.jsonl`), and
//! `sd_datasets_summary.json`.
//!
//! A Keepa export has no labels. So that the groups run and score, each record's `expected`
//! holds the reference answer the export itself states (`metadata.label_source =
//! "keepa-catalogue"`): the brand (and manufacturer) for M01, the brand for M01a, no sub-brands
//! for M01b, the category path for M06, colour/size/material/style, specific uses and target
//! audience for M07. They are catalogue facts, not reviewed labels; `import-data silver` over a
//! run, or an annotation round, gives better ones. Modules whose inputs the export cannot feed
//! (M08 takes M06/M07 answers) are skipped and listed in the summary.

use std::collections::{BTreeMap, HashMap};

use core_config::{Catalog, ModuleId};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::import::Shape;
use crate::table::Table;

/// The product modules the earlier tool generated synthetic groups for.
pub const MODULES: [&str; 6] = ["m01", "m01a", "m01b", "m06", "m07", "m08"];

/// Product fields and the Keepa columns they come from (features are gathered separately).
const FIELDS: [(&str, &str); 18] = [
    ("asin", "ASIN"),
    ("title", "Title"),
    ("description", "Description & Features: Description"),
    ("brand_name", "Brand"),
    ("manufacturer", "Manufacturer"),
    ("product_type", "Type"),
    ("category_root", "Categories: Root"),
    ("category_sub", "Categories: Sub"),
    ("color", "Color"),
    ("size", "Size"),
    ("material", "Material"),
    ("style", "Style"),
    ("model", "Model"),
    ("item_form", "Item Form"),
    ("target_audience", "Target Audience"),
    ("specific_uses", "Specific Uses"),
    ("number_of_items", "Number of Items"),
    ("included_components", "Included Components"),
];

/// One product of the export.
type Product = BTreeMap<&'static str, String>;

/// One synthetic group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// `sd01`, `sd02`, …
    pub sd: String,
    /// The Amazon product type (Keepa's `Type`).
    pub product_type: String,
    /// Products in the group.
    pub products: usize,
    /// Their ASINs, in export order.
    pub asins: Vec<String>,
    /// Module id → the file written for it (relative to the root).
    pub files: BTreeMap<String, String>,
}

/// What [`build`] made: the files to write and the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Synthetic {
    /// The export it was built from.
    pub source: String,
    /// Products read from the export.
    pub products: usize,
    /// Products left out because their type already had `per_type`.
    pub over_limit: usize,
    /// The groups.
    pub groups: Vec<Group>,
    /// Modules skipped, with the reason.
    pub skipped_modules: BTreeMap<String, String>,
    /// Relative path → records, for writing.
    #[serde(skip)]
    pub files: Vec<(String, Vec<Value>)>,
}

/// Reads the products of a Keepa export table.
///
/// # Errors
/// A missing `ASIN`, `Title` or `Type` column, an empty one of those cells, or a repeated ASIN
/// ([`Error::Cell`] naming the row and column).
fn products(table: &Table) -> Result<Vec<Product>> {
    let column = |name: &str| table.column(name);
    for required in ["ASIN", "Title", "Type"] {
        if column(required).is_none() {
            return Err(Error::MissingColumn {
                path: table.path.clone(),
                key: format!("the Keepa field {required}"),
                column: required.to_owned(),
                available: table.headers.clone(),
            });
        }
    }
    let features: Vec<usize> = (1..=10)
        .filter_map(|n| column(&format!("Description & Features: Feature {n}")))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for row in &table.rows {
        let mut product = Product::new();
        for (field, name) in FIELDS {
            if let Some(c) = column(name) {
                product.insert(field, row.cells[c].trim().to_owned());
            }
        }
        let bullets: Vec<&str> = features
            .iter()
            .map(|c| row.cells[*c].trim())
            .filter(|t| !t.is_empty())
            .collect();
        product.insert("bullet_points", bullets.join("\n"));
        for (field, name) in [
            ("asin", "ASIN"),
            ("title", "Title"),
            ("product_type", "Type"),
        ] {
            if product.get(field).is_none_or(String::is_empty) {
                return Err(Error::Cell {
                    path: table.path.clone(),
                    unit: table.unit,
                    number: row.number,
                    column: table.headers[column(name).unwrap_or(0)].clone(),
                    message: format!("empty, but every product needs its {name}"),
                });
            }
        }
        let asin = product["asin"].clone();
        if let Some(first) = seen.insert(asin.clone(), row.number) {
            return Err(Error::Cell {
                path: table.path.clone(),
                unit: table.unit,
                number: row.number,
                column: table.headers[column("ASIN").unwrap_or(0)].clone(),
                message: format!("ASIN `{asin}` repeated (first on {} {first})", table.unit),
            });
        }
        out.push(product);
    }
    Ok(out)
}

fn list(items: impl IntoIterator<Item = String>) -> Value {
    let mut seen = Vec::<String>::new();
    for item in items {
        let item = item.trim().to_owned();
        if !item.is_empty() && !seen.iter().any(|s| s.eq_ignore_ascii_case(&item)) {
            seen.push(item);
        }
    }
    json!(seen)
}

fn split(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split([',', ';']).map(str::to_owned)
}

/// The reference answer the export states for `module`, when it states one.
fn expected(module: &str, p: &Product) -> Option<Map<String, Value>> {
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let value = match module {
        "m01" => json!({"brand_entities": list([get("brand_name"), get("manufacturer")])}),
        "m01a" => json!({"variations": list([get("brand_name")])}),
        "m01b" => {
            json!({"sub_brands": [], "searchable_standards": [], "manufacturer": get("manufacturer")})
        }
        "m06" => {
            let path: Vec<String> = [get("category_sub"), get("category_root")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
            let path = if path.is_empty() {
                vec![get("product_type")]
            } else {
                path
            };
            json!({"taxonomy": path.iter().enumerate().map(|(i, t)| json!({"level": i + 1, "product_type": t, "rank": i + 1})).collect::<Vec<_>>()})
        }
        "m07" => json!({
            "variants": list(["color", "size", "material", "style"].map(get)),
            "use_cases": list(split(&get("specific_uses"))),
            "audiences": list(split(&get("target_audience"))),
        }),
        _ => return None,
    };
    value.as_object().cloned()
}

/// Builds the synthetic groups of `table` (a Keepa export), at most `per_type` products per
/// product type, for the product modules whose prompts the export feeds.
///
/// # Errors
/// A missing `ASIN`, `Title` or `Type` column, an empty one of those cells, a repeated ASIN, or
/// a module prompt that cannot be read.
pub fn build(catalog: &Catalog, table: &Table, per_type: usize) -> Result<Synthetic> {
    let products = products(table)?;
    let mut by_type: BTreeMap<String, Vec<&Product>> = BTreeMap::new();
    let mut over_limit = 0;
    for p in &products {
        let group = by_type.entry(p["product_type"].clone()).or_default();
        if group.len() < per_type {
            group.push(p);
        } else {
            over_limit += 1;
        }
    }
    let version = catalog.defaults().prompt_version.clone();
    let mut modules = Vec::new();
    let mut skipped_modules = BTreeMap::new();
    for id in MODULES {
        let Some(spec) = ModuleId::parse(id).and_then(|m| catalog.get(&m)) else {
            continue;
        };
        let shape = Shape::of(catalog, spec, &version)?;
        let unfed: Vec<&String> = shape
            .placeholders
            .iter()
            .filter(|k| k.as_str() != "bullet_points" && !FIELDS.iter().any(|(f, _)| f == k))
            .collect();
        if !unfed.is_empty() {
            let keys: Vec<&str> = unfed.iter().map(|s| s.as_str()).collect();
            skipped_modules.insert(
                id.to_owned(),
                format!("its prompt takes {} (not in a Keepa export: chain them from earlier runs with `import-data chain`)", keys.join(", ")),
            );
            continue;
        }
        modules.push((spec, shape.placeholders));
    }
    let source = table
        .path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut groups = Vec::new();
    let mut files = Vec::new();
    for (n, (product_type, members)) in by_type.iter().enumerate() {
        let sd = format!("sd{:02}", n + 1);
        let mut group = Group {
            sd: sd.clone(),
            product_type: product_type.clone(),
            products: members.len(),
            asins: members.iter().map(|p| p["asin"].clone()).collect(),
            files: BTreeMap::new(),
        };
        for (spec, placeholders) in &modules {
            let records: Vec<Value> = members
                .iter()
                .map(|p| {
                    let input: Map<String, Value> = placeholders
                        .iter()
                        .map(|k| {
                            (
                                k.clone(),
                                Value::from(p.get(k.as_str()).cloned().unwrap_or_default()),
                            )
                        })
                        .collect();
                    json!({
                        "id": format!("{}_{sd}_{}", spec.id.upper(), p["asin"]),
                        "input": input,
                        "expected": expected(spec.id.as_str(), p).unwrap_or_default(),
                        "metadata": {
                            "module_id": spec.id.as_str(),
                            "asin": p["asin"],
                            "brand_name": p.get("brand_name").cloned().unwrap_or_default(),
                            "product_type": product_type,
                            "source": "keepa",
                            "sd_dataset": sd,
                            "keepa_file": source,
                            "label_source": "keepa-catalogue",
                            "dataset_kind": "synthetic",
                        },
                    })
                })
                .collect();
            let path = format!("datasets/synthetic/{}_{sd}_{}.jsonl", spec.id, spec.slug);
            group.files.insert(spec.id.to_string(), path.clone());
            files.push((path, records));
        }
        groups.push(group);
    }
    Ok(Synthetic {
        source,
        products: products.len(),
        over_limit,
        groups,
        skipped_modules,
        files,
    })
}

/// Where the summary goes.
pub const SUMMARY: &str = "datasets/synthetic/sd_datasets_summary.json";

/// Writes the groups and the summary. Every file is validated as `orchestrator validate` does
/// before any is written; when one exists and `force` is not set, nothing is written.
///
/// # Errors
/// [`Error::Exists`], [`Error::Invalid`], or an I/O error.
pub fn write(catalog: &Catalog, synthetic: &Synthetic, force: bool) -> Result<Vec<crate::Written>> {
    let root = catalog.root();
    let targets: Vec<std::path::PathBuf> = synthetic
        .files
        .iter()
        .map(|(p, _)| root.join(p))
        .chain(std::iter::once(root.join(SUMMARY)))
        .collect();
    if !force && let Some(existing) = targets.iter().find(|p| p.exists()) {
        return Err(Error::Exists {
            path: existing.clone(),
        });
    }
    let version = catalog.defaults().prompt_version.clone();
    for (path, records) in &synthetic.files {
        let module = records
            .first()
            .and_then(|r| r["metadata"]["module_id"].as_str())
            .and_then(ModuleId::parse)
            .and_then(|m| catalog.get(&m));
        if let Some(module) = module {
            let problems = crate::validate(catalog, module, records, &version)?;
            if !problems.is_empty() {
                return Err(Error::Invalid {
                    module: format!("{} ({path})", module.id),
                    problems,
                });
            }
        }
    }
    let mut written = Vec::new();
    for (path, records) in &synthetic.files {
        let target = root.join(path);
        core_config::write_atomic(&target, &crate::to_jsonl(records))
            .map_err(|e| Error::io(&target, e))?;
        written.push(crate::Written {
            path: target,
            records: records.len(),
        });
    }
    let summary = root.join(SUMMARY);
    let mut text = serde_json::to_vec_pretty(synthetic).unwrap_or_default();
    text.push(b'\n');
    core_config::write_atomic(&summary, &text).map_err(|e| Error::io(&summary, e))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keepa_export_becomes_groups_per_product_type_with_a_limit() {
        let catalog = Catalog::load(&test_support::repo_root().join("modules.toml")).unwrap();
        let path = test_support::fixture("dataset/keepa_export.csv");
        let table = crate::read_table(&path, None, None).unwrap();
        let built = build(&catalog, &table, 2).unwrap();
        assert_eq!(built.products, 7);
        assert_eq!(built.over_limit, 1, "three headphones, two per type");
        let groups: Vec<(&str, &str, usize)> = built
            .groups
            .iter()
            .map(|g| (g.sd.as_str(), g.product_type.as_str(), g.products))
            .collect();
        assert_eq!(
            groups,
            [
                ("sd01", "BOTTLE", 1),
                ("sd02", "COAT", 1),
                ("sd03", "HEADPHONES", 2),
                ("sd04", "ICE_MAKER", 1),
                ("sd05", "SPONGE_HOLDER", 1)
            ]
        );
        assert!(
            built.skipped_modules.contains_key("m08"),
            "{:?}",
            built.skipped_modules
        );
        let (name, records) = built
            .files
            .iter()
            .find(|(p, _)| p.ends_with("m01_sd03_extract_own_brand_entities.jsonl"))
            .unwrap();
        assert_eq!(
            name,
            "datasets/synthetic/m01_sd03_extract_own_brand_entities.jsonl"
        );
        assert_eq!(records[0]["id"], "M01_sd03_B0BQPGJ9LQ");
        assert_eq!(records[0]["input"]["brand_name"], "JBL");
        assert!(
            records[0]["input"]["bullet_points"]
                .as_str()
                .unwrap()
                .contains('\n')
        );
        assert_eq!(
            records[0]["expected"]["brand_entities"],
            json!(["JBL", "Harman International Industries"])
        );
        for (path, records) in &built.files {
            let id = records[0]["metadata"]["module_id"].as_str().unwrap();
            let module = catalog.get(&ModuleId::parse(id).unwrap()).unwrap();
            assert_eq!(
                crate::validate(&catalog, module, records, "v1").unwrap(),
                Vec::<String>::new(),
                "{path}"
            );
        }
    }

    #[test]
    fn an_export_without_a_type_column_is_refused() {
        let catalog = Catalog::load(&test_support::repo_root().join("modules.toml")).unwrap();
        let table = crate::table::read_delimited(
            std::path::Path::new("k.csv"),
            b"ASIN,Title\nB01,x\n",
            None,
        )
        .unwrap();
        let err = build(&catalog, &table, 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "k.csv: no column for the Keepa field Type (looked for `Type`; the columns are: ASIN, Title)"
        );
    }
}
