//! Measures the streaming reader on a large annotation file (the size `calculate-agreement` must
//! handle): `cargo run --release -p annotation --example bench_reader -- [ROWS]`.
//!
//! Writes ROWS rows (default 1,000,000) in the m12 layout to a temporary file with the
//! spreadsheet-safe writer, then reads them back, counting rows where both annotators answered.
//! Memory use can be checked with `/usr/bin/time -v`.

use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use annotation::AnnotationReader;
use annotation::sheet::SafeCsvWriter;

fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("M12_annotation_bench.csv");
    let headers: Vec<String> = [
        "row_id",
        "record_id",
        "asin",
        "keyword",
        "brand_name",
        "product_title",
        "bullet_points",
        "description",
        "validated_use",
        "taxonomy",
        "attribute_table",
        "hard_constraints",
        "llm_violates",
        "llm_violated_constraint",
        "llm_confidence",
        "llm_reasoning",
        "annotator_a_violates",
        "annotator_a_reasoning",
        "annotator_b_violates",
        "annotator_b_reasoning",
        "agreement",
        "notes",
    ]
    .map(str::to_owned)
    .to_vec();

    let started = Instant::now();
    let file = BufWriter::new(std::fs::File::create(&path).expect("create"));
    let mut writer = SafeCsvWriter::new(Path::new("bench"), file, &headers).expect("header");
    for i in 0..rows {
        let a = if i % 7 == 0 { "no" } else { "yes" };
        let b = if i % 11 == 0 { "" } else { "yes" };
        let cells = [
            (i + 1).to_string(),
            format!("M12_B08J8GZXKZ__keyword {i}"),
            "B08J8GZXKZ".to_owned(),
            format!("-{i} degree oven mitt"),
            "KitchenAid".to_owned(),
            "KitchenAid Asteroid Oven Mitt 2-Pack Set, Heat Resistant up to 500°F".to_owned(),
            "HEAT RESISTANT: Protects hands up to 500°F.".to_owned(),
            String::new(),
            "Protecting hands from heat".to_owned(),
            r#"[{"level":1,"product_type":"Oven Mitt","rank":1}]"#.to_owned(),
            String::new(),
            "Heat Resistant up to 500°F".to_owned(),
            "false".to_owned(),
            String::new(),
            "0.9".to_owned(),
            "No constraint is contradicted.".to_owned(),
            a.to_owned(),
            String::new(),
            b.to_owned(),
            String::new(),
            String::new(),
            String::new(),
        ];
        writer.write_row(&cells).expect("row");
    }
    writer.finish().expect("flush");
    let written = started.elapsed();
    let size = std::fs::metadata(&path).expect("size").len();

    let started = Instant::now();
    let reader = AnnotationReader::open(&path).expect("open");
    let (a, b) = (
        reader.index_of("annotator_a_violates").expect("a"),
        reader.index_of("annotator_b_violates").expect("b"),
    );
    let (mut total, mut both) = (0usize, 0usize);
    for row in reader {
        let row = row.expect("row");
        total += 1;
        both += usize::from(!row.get(a).is_empty() && !row.get(b).is_empty());
    }
    let read = started.elapsed();
    println!(
        "rows {total}, both annotated {both}, file {:.1} MB; write {:.2}s; read {:.2}s ({:.0} rows/s)",
        size as f64 / 1e6,
        written.as_secs_f64(),
        read.as_secs_f64(),
        total as f64 / read.as_secs_f64()
    );
}
