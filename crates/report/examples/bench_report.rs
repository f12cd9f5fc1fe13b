//! `make bench-analysis` (report part): `analyze-results report` on a generated, registered
//! m02 run of `--rows` rows (default 1,000,000): the time to gather (the analysis' one pass over
//! the CSV) and to render and write the pages, and the size of `index.html` plus the module
//! page (the goal is under 5 MB). Not a test: it measures and prints, it asserts nothing.
//!
//! Rows are generated as in `analysis`' `bench_analysis` (2–6 word keywords, 500 products over
//! 40 product types, about 12% wrong and 1% errored), so the two benchmarks read the same shape
//! of run.

use std::path::Path;
use std::time::Instant;

use core_config::results::ResultsWriter;
use core_config::{Catalog, ResultRow};
use registry::{NewRun, RegistryFile};
use serde_json::json;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[expect(clippy::cast_precision_loss, reason = "measurements")]
fn row(rng: &mut Lcg, vocabulary: &[String], i: u64) -> ResultRow {
    let words = 2 + rng.below(5);
    let mut keyword: Vec<&str> = (0..words)
        .map(|_| vocabulary[rng.below(300) as usize].as_str())
        .collect();
    let branded = rng.below(5) == 0;
    if branded {
        keyword.insert(0, "owala");
    }
    let keyword = keyword.join(" ");
    let product = rng.below(500);
    let expected = if branded { json!("OB") } else { json!(null) };
    let wrong = rng.below(100) < 12;
    let errored = rng.below(100) == 0;
    let answer = match (wrong, branded) {
        (false, _) => expected.clone(),
        (true, true) => json!(null),
        (true, false) => json!("OB"),
    };
    let confidence = if wrong { 0.6 } else { 0.9 } + rng.below(10) as f64 / 100.0;
    let reasoning =
        "The keyword names the brand or does not; this is the model's one-sentence reason.";
    ResultRow {
        record_id: format!("M02_B{product:09}__{keyword}_{i}"),
        input: json!({"keyword": keyword, "brand_entities": ["Owala", "owala", "Owla", "FreeSip"]}),
        output: if errored {
            json!({"error": "timed out", "error_type": "timeout"})
        } else {
            json!({"branding_scope_1": answer, "confidence": confidence, "reasoning": reasoning})
        },
        expected: json!({ "branding_scope_1": expected }),
        asin: format!("B{product:09}"),
        brand: "Owala".to_owned(),
        keyword,
        reasoning: reasoning.to_owned(),
        metrics: json!({"prompt_tokens": 420, "completion_tokens": 40, "estimated_cost": 0.000_087}),
        metadata: json!({"asin": format!("B{product:09}"), "brand_name": "Owala", "product_type": format!("TYPE_{}", product % 40)}),
        correct: (!errored).then_some(!wrong),
        error: if errored {
            "timeout: timed out".to_owned()
        } else {
            String::new()
        },
        extra: std::collections::BTreeMap::new(),
    }
}

#[expect(clippy::cast_precision_loss, reason = "measurements")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--rows" {
            rows = args.next().ok_or("--rows needs a number")?.parse()?;
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::copy(repo.join("modules.toml"), root.join("modules.toml"))?;
    let catalog = Catalog::load(&root.join("modules.toml"))?;
    let module = catalog.resolve("m02")?;
    let csv = root.join("experiment_results/M02_ClassifyOwnBrandKeywords/M02_bench.csv");
    let vocabulary: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
    let mut rng = Lcg(42);
    let mut writer = ResultsWriter::create(&csv, module)?;
    for i in 0..rows {
        writer.write(&row(&mut rng, &vocabulary, i))?;
    }
    writer.finish()?;
    let file = RegistryFile::in_project(root.to_owned());
    let mut run = NewRun::new(module.id.clone(), &csv);
    run.model = "gpt-4o-mini".to_owned();
    run.prompt_version = "v1".to_owned();
    run.samples = rows;
    file.register(run)?;
    println!(
        "report of a {rows}-row run ({:.1} MB results CSV)",
        std::fs::metadata(&csv)?.len() as f64 / 1e6
    );

    let options = report::Options::default();
    let start = Instant::now();
    let gathered = report::gather(root, &catalog, &file, &options, &mut ())?;
    let gather = start.elapsed().as_secs_f64();
    let written = report::write_site(
        &root.join("reports"),
        &gathered,
        &options,
        "bench",
        "bench",
        &mut (),
    )?;
    let total = start.elapsed().as_secs_f64();
    println!("gather:         {gather:.2} s (the analysis' one pass: errors + patterns)");
    println!(
        "render + write: {:.2} s (pages, full errors CSV copied beside them)",
        total - gather
    );
    println!("total:          {total:.2} s");
    let size = |name: &str| {
        written
            .files
            .iter()
            .find(|(f, _)| f == name)
            .map_or(0, |(_, b)| *b)
    };
    let (index, page) = (size("index.html"), size("m02.html"));
    println!(
        "pages:          index.html {:.1} KB + m02.html {:.1} KB = {:.2} MB (goal < 5 MB: {})",
        index as f64 / 1024.0,
        page as f64 / 1024.0,
        (index + page) as f64 / 1e6,
        if index + page < 5_000_000 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "errors CSV:     {:.1} MB beside the pages",
        size("m02_errors.csv") as f64 / 1e6
    );
    Ok(())
}
