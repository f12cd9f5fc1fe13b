//! Optimizations against the in-process simulator's prompt-sensitive mode: every method
//! improves m02 and m12 on the held-out test split; budgets hold; test records never leak; a
//! killed run resumes without repeating calls.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use api_sim::{SimConfig, SimServer};
use core_config::{Catalog, Env};
use llm_client::{Cache, Client, PacingConfig};
use optimize::{Method, Options, Preset, Quiet};

/// A temporary project with the repository's catalogue, prompts, schemas, datasets and prices.
fn project() -> tempfile::TempDir {
    let repo = test_support::repo_root();
    let dir = tempfile::tempdir().unwrap();
    for file in ["modules.toml", "prices.toml"] {
        std::fs::copy(repo.join(file), dir.path().join(file)).unwrap();
    }
    test_support::copy_dir(&repo.join("prompts"), &dir.path().join("prompts"));
    test_support::copy_dir(&repo.join("datasets"), &dir.path().join("datasets"));
    dir
}

fn sim(root: &Path, latency: Duration) -> SimServer {
    api_sim::spawn(SimConfig {
        answer_key: Some(root.to_owned()),
        prompt_sensitive: true,
        latency,
        ..SimConfig::default()
    })
    .unwrap()
}

fn env(sim: &SimServer) -> Env {
    Env::from_pairs([
        ("OPENAI_API_KEY", "sk-test-not-a-real-key".to_owned()),
        ("OPENAI_BASE_URL", sim.base_url()),
    ])
}

fn client(root: &Path, env: &Env) -> Client {
    Client::builder(env.openai().unwrap())
        .pacing(PacingConfig {
            max_concurrency: 8,
            ..PacingConfig::default()
        })
        .cache(Cache::open(root.join(".cache/llm")).unwrap())
        .prices(llm_client::PriceTable::load(&root.join("prices.toml")).unwrap())
        .build()
        .unwrap()
}

fn options(module: &str, method: Method) -> Options {
    Options {
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
        seed: 42,
        resume: false,
        concurrency: 8,
    }
}

fn ids(path: &Path) -> HashSet<String> {
    core_config::read_records(path)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn every_method_improves(module: &str) {
    let dir = project();
    let root = dir.path();
    let sim = sim(root, Duration::ZERO);
    let env = env(&sim);
    let catalog = Catalog::load(&root.join("modules.toml")).unwrap();
    let client = client(root, &env);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for method in [
        Method::Bootstrap,
        Method::Instructions,
        Method::Mipro,
        Method::Gepa,
    ] {
        let options = options(module, method);
        let setup = optimize::prepare(&catalog, &env, &options).unwrap();
        let before = sim.stats().chat_answered;
        let out = runtime
            .block_on(optimize::optimize(&catalog, &env, setup, &client, &Quiet))
            .unwrap();
        let sent = sim.stats().chat_answered - before;
        let base = out.baseline_test_accuracy.unwrap();
        let best = out.optimized_test_accuracy.unwrap();
        eprintln!(
            "{module} {}: test {base:.3} -> {best:.3}, p {:.2e}, dev {:.3} -> {:.3}, calls {}, cost {:.4}",
            method.name(),
            out.mcnemar_p,
            out.initial_dev_score,
            out.final_dev_score,
            out.calls,
            out.cost
        );
        assert!(best > base, "{module} {}: {base} -> {best}", method.name());
        assert!(
            out.mcnemar_p < 0.05,
            "{module} {}: p {}",
            method.name(),
            out.mcnemar_p
        );
        // Within the caps and the dry run's bound, and the calls counted are the calls the
        // server answered.
        assert!(out.calls <= options.max_calls && out.cost <= options.max_cost);
        assert_eq!(out.calls, sent);
        let (search, test_runs) = optimize::call_bound(
            method,
            options.preset.sizes(),
            out.splits.train,
            out.splits.dev,
            out.splits.test,
        );
        assert!(
            out.calls <= search + test_runs,
            "{module} {}: {} calls, bound {search} + {test_runs}",
            method.name(),
            out.calls
        );

        // The results: the new version runs through the catalogue, the split files and
        // optimized.json sit together.
        let folder = root.join(&out.folder);
        for file in [
            "train.jsonl",
            "dev.jsonl",
            "test.jsonl",
            "optimized.json",
            "trials.jsonl",
        ] {
            assert!(folder.join(file).is_file(), "{file}");
        }
        let module_spec = catalog.resolve(module).unwrap();
        assert_eq!(
            catalog.prompt_path(module_spec, &out.prompt_version),
            root.join(&out.prompt_file)
        );

        // Leakage: no demo and no scored trial (the only source of the failures shown to the
        // proposer) holds a test record, and the prompt quotes no test keyword.
        let test = ids(&folder.join("test.jsonl"));
        let train = ids(&folder.join("train.jsonl"));
        assert!(out.demos.iter().all(|d| train.contains(&d.record)));
        // Every candidate scored lists its demos: all from train, whichever method added them
        // (gepa's demo mutations included).
        let trials = std::fs::read_to_string(folder.join("trials.jsonl")).unwrap();
        let mut with_demos = 0;
        for line in trials.lines() {
            let trial: serde_json::Value = serde_json::from_str(line).unwrap();
            for r in trial["results"].as_array().unwrap() {
                assert!(!test.contains(r["record"].as_str().unwrap()));
            }
            if let Some(demos) = trial["demos"].as_array() {
                with_demos += 1;
                for d in demos {
                    assert!(train.contains(d.as_str().unwrap()), "{module} {d}");
                }
            }
        }
        if method != Method::Instructions {
            assert!(
                with_demos > 0,
                "{module} {}: no candidate with demos",
                method.name()
            );
        }
        let test_keywords: Vec<String> = core_config::read_records(&folder.join("test.jsonl"))
            .unwrap()
            .iter()
            .map(|r| r.input_text("keyword"))
            .collect();
        let prompt = std::fs::read_to_string(root.join(&out.prompt_file)).unwrap();
        assert!(core_config::contamination::find(&prompt, &test_keywords).is_empty());
    }
}

#[test]
fn every_method_improves_m02_on_test_at_light() {
    every_method_improves("m02");
}

#[test]
fn every_method_improves_m12_on_test_at_light() {
    every_method_improves("m12");
}

#[test]
fn a_candidate_quoting_a_test_keyword_is_refused_before_any_call() {
    let dir = project();
    let root = dir.path();
    let sim = sim(root, Duration::ZERO);
    let env = env(&sim);
    let catalog = Catalog::load(&root.join("modules.toml")).unwrap();
    let client = client(root, &env);
    let setup = optimize::prepare(&catalog, &env, &options("m02", Method::Bootstrap)).unwrap();
    let leaked = setup.splits.test[0].input_text("keyword");
    let text = setup.parts.compose(
        &format!("{}\nFor example \"{leaked}\".", setup.parts.instruction),
        &[],
    );
    let ev = optimize::Evaluator::new(
        setup.plan.clone(),
        &client,
        None,
        optimize::Budget::new(100, 1.0),
        core_config::contamination::Keywords::new(
            setup.splits.test.iter().map(|r| r.input_text("keyword")),
        ),
        "gpt-4o-mini".into(),
        4,
        setup.dir.join("trials.jsonl"),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime
        .block_on(ev.score("leak", &text, &setup.splits.dev))
        .unwrap_err();
    assert!(matches!(err, optimize::Error::Leak { .. }), "{err}");
    let meta = optimize::meta_prompt(
        &setup.module,
        &setup.parts.instruction,
        &[optimize::Failure {
            keyword: leaked,
            expected: "OB".into(),
            answered: "Null".into(),
        }],
        4,
        false,
    );
    let err = runtime.block_on(ev.propose(&meta)).unwrap_err();
    assert!(matches!(err, optimize::Error::Leak { .. }), "{err}");
    assert_eq!(sim.stats().chat_answered, 0);
}

#[test]
fn a_budget_too_small_stops_the_search_without_passing_the_cap() {
    let dir = project();
    let root = dir.path();
    let sim = sim(root, Duration::ZERO);
    let env = env(&sim);
    let catalog = Catalog::load(&root.join("modules.toml")).unwrap();
    let client = client(root, &env);
    let mut options = options("m02", Method::Bootstrap);
    options.max_calls = 260;
    let setup = optimize::prepare(&catalog, &env, &options).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let out = runtime
        .block_on(optimize::optimize(&catalog, &env, setup, &client, &Quiet))
        .unwrap();
    assert!(out.budget_exhausted);
    assert!(out.calls <= 260, "{}", out.calls);
    assert_eq!(out.calls, sim.stats().chat_answered);
}

#[test]
fn a_killed_run_resumes_without_repeating_calls() {
    // The uninterrupted run's calls.
    let whole = {
        let dir = project();
        let sim = sim(dir.path(), Duration::ZERO);
        let env = env(&sim);
        let catalog = Catalog::load(&dir.path().join("modules.toml")).unwrap();
        let client = client(dir.path(), &env);
        let setup =
            optimize::prepare(&catalog, &env, &options("m02", Method::Instructions)).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime
            .block_on(optimize::optimize(&catalog, &env, setup, &client, &Quiet))
            .unwrap();
        sim.stats().chat_answered
    };
    let dir = project();
    let root = dir.path();
    let sim = sim(root, Duration::from_millis(10));
    let env = env(&sim);
    let catalog = Catalog::load(&root.join("modules.toml")).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    {
        let client = client(root, &env);
        let setup =
            optimize::prepare(&catalog, &env, &options("m02", Method::Instructions)).unwrap();
        // Killed once the simulator has answered 100 calls, however fast the machine is.
        let finished = runtime.block_on(async {
            let watch = async {
                while sim.stats().chat_answered < 100 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            tokio::select! {
                out = optimize::optimize(&catalog, &env, setup, &client, &Quiet) => Some(out),
                () = watch => None,
            }
        });
        assert!(finished.is_none(), "the run was stopped part way");
    }
    let first = sim.stats().chat_answered;
    assert!(first > 0 && first < whole, "{first} of {whole}");
    let mut resume = options("m02", Method::Instructions);
    resume.resume = true;
    let setup = optimize::prepare(&catalog, &env, &resume).unwrap();
    assert!(setup.resumed);
    let client = client(root, &env);
    let out = runtime
        .block_on(optimize::optimize(&catalog, &env, setup, &client, &Quiet))
        .unwrap();
    // Calls in flight at the kill may have been answered without reaching the cache; none
    // more than those is asked again.
    let total = sim.stats().chat_answered;
    assert!(total <= whole + 8, "{total} calls for a run of {whole}");
    assert!(out.optimized_test_accuracy.is_some());
}
