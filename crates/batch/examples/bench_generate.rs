//! `make bench-batch`: writes Batch API request files for a generated dataset and reports the
//! write rate and the peak memory of generation (not a test: it measures, it asserts nothing).
//!
//! ```text
//! cargo run --release -p batch --example bench_generate -- --records 500000
//! ```
//!
//! The project is `fixtures/batch/tiny` copied to a temporary folder; records carry a keyword,
//! a brand list and a product title of realistic length (about 430 bytes a record; each request line is about 980 bytes). Peak memory
//! is the process's high-water mark (`VmHWM`), reset just before generation starts, so the
//! dataset writing does not count.
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::io::{BufWriter, Write};
use std::time::Instant;

use batch::{GenerateOptions, Limits, Quiet};
use core_config::{Catalog, TokenParam};
use test_support::try_copy_dir as copy_dir;

fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut records: u64 = 500_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => records = args.next().ok_or("--records needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other} (use --records N)").into()),
        }
    }
    let fixture = test_support::fixture("batch/tiny");
    let project = tempfile::tempdir()?;
    copy_dir(&fixture, project.path())?;
    let dataset = project.path().join("datasets/m02.jsonl");
    std::fs::create_dir_all(dataset.parent().ok_or("no parent")?)?;
    {
        let mut out = BufWriter::new(std::fs::File::create(&dataset)?);
        for i in 0..records {
            writeln!(
                out,
                r#"{{"id":"kw-{i:08}","input":{{"keyword":"stainless steel water bottle {i} oz leak proof","brand_entities":["Owala","owala","Owla","FreeSip","Free Sip"],"title":"Owala FreeSip Insulated Stainless Steel Water Bottle with Straw for Sports, Travel, and School, BPA-Free Sports Water Bottle, 24 oz, Denim (batch benchmark record {i})"}},"expected":{{"branding_scope_1":null}},"metadata":{{"asin":"B0BZYCJK89","brand_name":"Owala"}}}}"#
            )?;
        }
        out.flush()?;
    }
    let dataset_bytes = std::fs::metadata(&dataset)?.len();
    let catalog = Catalog::load(&project.path().join("modules.toml"))?;
    let options = GenerateOptions {
        modules: vec!["m02".to_owned()],
        synthetic: false,
        model: None,
        default_model: "gpt-4o-mini".to_owned(),
        prompt_version: None,
        samples: None,
        seed: 42,
        dataset: None,
        limits: Limits::default(),
        token_param: TokenParam::MaxCompletionTokens,
        out: Some(project.path().join("batch_requests/bench")),
        started: chrono::Local::now(),
    };
    // Forget the dataset writing's memory: only generation is measured.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmHWM:");
    let start = Instant::now();
    let generated = batch::generate(&catalog, None, &options, &Quiet)?;
    let seconds = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    let manifest = &generated.manifest;
    #[expect(clippy::cast_precision_loss, reason = "report")]
    let mb = manifest.total_bytes as f64 / 1e6;
    #[expect(clippy::cast_precision_loss, reason = "report")]
    let dataset_mb = dataset_bytes as f64 / 1e6;
    println!("records:        {records}");
    println!("dataset read:   {dataset_mb:.1} MB (one pass)");
    println!(
        "request files:  {} ({} requests, {mb:.1} MB)",
        manifest.total_files, manifest.total_records
    );
    println!("time:           {seconds:.2} s");
    println!("write rate:     {:.1} MB/s of request files", mb / seconds);
    #[expect(clippy::cast_precision_loss, reason = "report")]
    let rate = records as f64 / seconds;
    println!("records/s:      {rate:.0}");
    match (before, peak) {
        (Some(b), Some(p)) => println!(
            "peak memory:    {:.1} MiB (VmHWM during generation; {:.1} MiB before it started)",
            p as f64 / 1024.0,
            b as f64 / 1024.0
        ),
        _ => println!("peak memory:    unavailable (no /proc/self/status)"),
    }
    Ok(())
}
