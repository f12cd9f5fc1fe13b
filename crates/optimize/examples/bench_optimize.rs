//! `make bench-optimize`: every method on m12 and m02 at the `light` preset against the
//! in-process simulator's prompt-sensitive mode (10 ms latency per call), each in a fresh
//! project copy with an empty cache. Prints calls, cost, wall time, dev and test accuracy, and
//! the simulator's known optimum on the test split (every rule stated, a demo of every label),
//! and what the chosen prompt holds: how many of the simulator's rules it states and the labels
//! of its demos (the bench may know the rules; the optimizer never does).

use std::path::Path;
use std::time::{Duration, Instant};

use api_sim::SimConfig;
use core_config::{Catalog, Env};
use llm_client::{Cache, Client, PacingConfig, PriceTable};
use optimize::{Method, Options, Preset, Quiet};

fn project() -> tempfile::TempDir {
    let repo = test_support::repo_root();
    let dir = tempfile::tempdir().expect("temp dir");
    for file in ["modules.toml", "prices.toml"] {
        std::fs::copy(repo.join(file), dir.path().join(file)).expect("copy");
    }
    test_support::copy_dir(&repo.join("prompts"), &dir.path().join("prompts"));
    test_support::copy_dir(&repo.join("datasets"), &dir.path().join("datasets"));
    dir
}

/// Mean accuracy on the test split of the simulator's best prompt: 1 - E[p · 0.25 · 0.5].
fn optimum(root: &Path, module: &str, folder: &Path) -> f64 {
    let _ = root;
    let test = core_config::read_records(&folder.join("test.jsonl")).expect("test split");
    let rules = api_sim::sensitive::rules();
    let catalog = Catalog::load(&root.join("modules.toml")).expect("catalogue");
    let spec = catalog.resolve(module).expect("module");
    let mut prompt = String::from("## Decision rules\n");
    for r in &rules[module] {
        prompt.push_str(&r.text);
        prompt.push('\n');
    }
    prompt.push_str("## Examples\n");
    let all = core_config::read_records(&catalog.dataset_path(spec)).expect("dataset");
    let records: Vec<(String, String)> = all
        .iter()
        .map(|r| (r.input_text("keyword"), optimize::split::label_of(spec, r)))
        .collect();
    for label in rules[module].iter().map(|r| r.label.clone()) {
        if let Some((k, _)) = records.iter().find(|(_, l)| *l == label) {
            prompt.push_str(&format!("**Keyword:** {k}\n"));
        }
    }
    prompt.push_str("## Output format\n");
    let sim = api_sim::sensitive::Sensitive::new(
        SimConfig::default().seed,
        vec![(module.to_owned(), records)],
    );
    let right = test
        .iter()
        .filter(|r| !sim.is_wrong(module, &r.id, &optimize::split::label_of(spec, r), &prompt))
        .count();
    #[expect(clippy::cast_precision_loss, reason = "counts")]
    let share = right as f64 / test.len() as f64;
    share
}

fn main() {
    // Optional arguments pick modules and methods (`-- m12 gepa`; none runs them all) and the
    // seed of the split and the search (a number; 42 by default).
    let only: Vec<String> = std::env::args().skip(1).collect();
    let seed: u64 = only.iter().find_map(|a| a.parse().ok()).unwrap_or(42);
    let wanted = |name: &str, all: &[&str]| {
        let named: Vec<&String> = only.iter().filter(|a| all.contains(&a.as_str())).collect();
        named.is_empty() || named.iter().any(|a| *a == name)
    };
    let modules = ["m12", "m02"];
    let methods = ["bootstrap", "instructions", "mipro", "gepa"];
    println!(
        "{:<6} {:<13} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}  {:<9} {:<6} demos",
        "module",
        "method",
        "calls",
        "cost",
        "wall",
        "dev0",
        "dev",
        "test0",
        "test",
        "optimum",
        "p",
        "rules"
    );
    for module in modules.into_iter().filter(|m| wanted(m, &modules)) {
        for method in [
            Method::Bootstrap,
            Method::Instructions,
            Method::Mipro,
            Method::Gepa,
        ]
        .into_iter()
        .filter(|m| wanted(m.name(), &methods))
        {
            let dir = project();
            let root = dir.path();
            let sim = api_sim::spawn(SimConfig {
                answer_key: Some(root.to_owned()),
                prompt_sensitive: true,
                latency: Duration::from_millis(10),
                ..SimConfig::default()
            })
            .expect("simulator");
            let env = Env::from_pairs([
                ("OPENAI_API_KEY", "sk-bench-not-a-real-key".to_owned()),
                ("OPENAI_BASE_URL", sim.base_url()),
            ]);
            let catalog = Catalog::load(&root.join("modules.toml")).expect("catalogue");
            let client = Client::builder(env.openai().expect("settings"))
                .pacing(PacingConfig {
                    max_concurrency: 16,
                    ..PacingConfig::default()
                })
                .cache(Cache::open(root.join(".cache/llm")).expect("cache"))
                .prices(PriceTable::load(&root.join("prices.toml")).expect("prices"))
                .build()
                .expect("client");
            let options = Options {
                module: module.to_owned(),
                method,
                preset: Preset::Light,
                train: None,
                dev: None,
                test: None,
                dataset: None,
                model: None,
                proposer_model: None,
                max_calls: 2_000,
                max_cost: 1.0,
                seed,
                resume: false,
                concurrency: 16,
            };
            let started = Instant::now();
            let setup = optimize::prepare(&catalog, &env, &options).expect("setup");
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let out = runtime
                .block_on(optimize::optimize(&catalog, &env, setup, &client, &Quiet))
                .expect("optimization");
            let wall = started.elapsed().as_secs_f64();
            let best = optimum(root, module, &root.join(&out.folder));
            let rules = api_sim::sensitive::rules();
            let stated = rules[module]
                .iter()
                .filter(|r| out.instruction.contains(&r.text))
                .count();
            let labels: Vec<&str> = out.demos.iter().map(|d| d.label.as_str()).collect();
            println!(
                "{:<6} {:<13} {:>6} {:>9} {:>7.1}s {:>7.1}% {:>7.1}% {:>7.1}% {:>8.1}% {:>7.1}%  {:<9.1e} {:<6} [{}]",
                module,
                method.name(),
                out.calls,
                format!("${:.4}", out.cost),
                wall,
                out.initial_dev_score * 100.0,
                out.final_dev_score * 100.0,
                out.baseline_test_accuracy.unwrap_or(0.0) * 100.0,
                out.optimized_test_accuracy.unwrap_or(0.0) * 100.0,
                best * 100.0,
                out.mcnemar_p,
                format!("{stated}/{}", rules[module].len()),
                labels.join(", ")
            );
        }
    }
}
