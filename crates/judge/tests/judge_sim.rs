//! Judge runs against the in-process simulator's judge mode: verdicts follow whether each
//! answer matches its expected items, noise shows up as unstable samples, the CSV is
//! spreadsheet-safe and the run is registered as a judge run of the judged run.

use std::path::Path;

use api_sim::SimConfig;
use chrono::Local;
use core_config::{Catalog, OpenAiSettings, Provider, ResultRow, Secret, TokenParam};
use judge::{Aggregate, JudgeOptions};
use llm_client::{CacheMode, Client};
use serde_json::json;

/// A project with the repository's catalogue, prompts and datasets, and a results CSV of m09
/// with `rows` rows, every third answer wrong; the first record id is a formula.
fn project(rows: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let repo = test_support::repo_root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo.join("modules.toml"), dir.path().join("modules.toml")).unwrap();
    test_support::copy_dir(&repo.join("prompts"), &dir.path().join("prompts"));
    test_support::copy_dir(&repo.join("datasets"), &dir.path().join("datasets"));
    let catalog = Catalog::load(&dir.path().join("modules.toml")).unwrap();
    let module = catalog.resolve("m09").unwrap();
    let rows: Vec<ResultRow> = (0..rows)
        .map(|i| {
            let expected = json!({"primary_use": format!("Use number {i}")});
            let output = if i % 3 == 0 {
                json!({"primary_use": "Something else entirely", "reasoning": "r"})
            } else {
                json!({"primary_use": format!("use number {i} "), "reasoning": "r"})
            };
            ResultRow {
                record_id: if i == 0 {
                    "=HYPERLINK(\"http://x\")".to_owned()
                } else {
                    format!("R{i}")
                },
                input: json!({"title": format!("Product {i}")}),
                expected,
                output,
                correct: Some(i % 3 != 0),
                ..ResultRow::default()
            }
        })
        .collect();
    let csv = dir
        .path()
        .join("experiment_results")
        .join(module.folder_name())
        .join("M09_v1_20260101_000000.csv");
    std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
    core_config::results::write_results(&csv, module, &rows).unwrap();
    (dir, csv)
}

fn client(base_url: &str) -> Client {
    Client::builder(OpenAiSettings {
        provider: Provider::OpenAi,
        base_url: base_url.to_owned(),
        api_key: Some(Secret::new("sk-test-not-a-real-key")),
        organization: None,
        project: None,
        api_version: None,
        token_param: TokenParam::MaxCompletionTokens,
    })
    .build()
    .unwrap()
}

fn options(csv: &Path, samples: u32) -> JudgeOptions {
    JudgeOptions {
        run: csv.display().to_string(),
        rubric: None,
        model: "gpt-4o-mini".to_owned(),
        samples,
        aggregate: Aggregate::Majority,
        max_rows: None,
        errors_only: false,
        resume: false,
        token_param: TokenParam::MaxCompletionTokens,
        started: Local::now(),
        base: csv.parent().unwrap().to_path_buf(),
    }
}

fn judge(root: &Path, options: &JudgeOptions, noise: f64) -> judge::JudgeReport {
    let sim = api_sim::spawn(SimConfig {
        judge_noise: noise,
        ..SimConfig::default()
    })
    .unwrap();
    let catalog = Catalog::load(&root.join("modules.toml")).unwrap();
    let plan = judge::plan(&catalog, options).unwrap();
    let client = client(&sim.base_url());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(judge::execute(
            &plan,
            &client,
            4,
            CacheMode::Off,
            &judge::Quiet,
            std::future::pending(),
        ))
        .unwrap()
}

#[test]
fn without_noise_the_verdicts_follow_whether_the_answer_matches() {
    let (dir, csv) = project(12);
    let report = judge(dir.path(), &options(&csv, 1), 0.0);
    assert_eq!(report.rows, 12);
    for c in &report.summary.criteria {
        assert_eq!((c.passed, c.rows), (8, 12), "{}", c.id);
        assert_eq!(c.sample_agreement, None, "one sample: no spread");
    }
    assert_eq!(report.summary.failing_together[0].both, 4);
    let text = std::fs::read_to_string(dir.path().join(&report.judge_file)).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "record_id,criterion,verdict,score,reasoning,judge_model,error_cause,sample_verdicts"
    );
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("\"'=HYPERLINK(\"\"http://x\"\")\",is_primary,fail,0,"),
        "formula escaped: {first}"
    );
    assert!(text.contains("\nR1,is_primary,pass,1,"), "{text}");
    assert!(text.contains("\nR1,concise,pass,5,"), "{text}");
    // Registered as a judge run of the judged CSV.
    let registry = registry::RegistryFile::in_project(dir.path())
        .load()
        .unwrap();
    let entry = registry.get(&report.judge_run).unwrap();
    assert_eq!(
        entry
            .extra
            .get(judge::run::JUDGE_OF)
            .and_then(|v| v.as_str()),
        Some("M09_v1_20260101_000000")
    );
    assert_eq!(entry.model, "gpt-4o-mini");
    assert_eq!(entry.prompt_version, "judge-v1");
}

#[test]
fn noise_makes_samples_disagree_and_the_spread_is_reported() {
    let (dir, csv) = project(30);
    let report = judge(dir.path(), &options(&csv, 5), 0.2);
    assert_eq!(report.calls, 150);
    for c in &report.summary.criteria {
        let agreement = c.sample_agreement.unwrap();
        assert!(c.unstable_rows > 0, "{}", c.id);
        assert!((0.6..1.0).contains(&agreement), "{}: {agreement}", c.id);
        // Majority over 5 samples at 20% noise mostly recovers the truth (20 of 30 pass).
        assert!((15..=25).contains(&c.passed), "{}: {}", c.id, c.passed);
    }
}

#[test]
fn errors_only_judges_the_wrong_rows_with_a_cause_each() {
    let (dir, csv) = project(12);
    let mut options = options(&csv, 1);
    options.errors_only = true;
    let report = judge(dir.path(), &options, 0.0);
    assert_eq!(report.rows, 4);
    assert_eq!(report.skipped_rows, 8);
    assert_eq!(report.summary.error_causes.values().sum::<u64>(), 4);
    // Read back, the causes are the same.
    let verdicts = judge::run::read_verdicts(&dir.path().join(&report.judge_file)).unwrap();
    let ids: Vec<&str> = report
        .summary
        .criteria
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        judge::summary::summarise_ids(&ids, &verdicts),
        report.summary
    );
    for c in &report.summary.criteria {
        assert_eq!(c.passed, 0, "{}", c.id);
    }
}

#[test]
fn a_judge_run_read_back_for_reports_gives_the_figures_it_reported() {
    let (dir, csv) = project(30);
    let report = judge(dir.path(), &options(&csv, 3), 0.2);
    // The judge CSV read back holds the verdicts the summary was made from.
    let verdicts = judge::run::read_verdicts(&dir.path().join(&report.judge_file)).unwrap();
    assert_eq!(verdicts.len(), 30 * report.summary.criteria.len());
    assert_eq!(
        verdicts[0].record_id, "=HYPERLINK(\"http://x\")",
        "un-escaped"
    );
    assert!(verdicts.iter().all(|v| v.samples.len() == 3));
    let rubric = judge::rubric::load(&dir.path().join(&report.rubric))
        .unwrap()
        .rubric;
    assert_eq!(
        judge::summary::summarise(&rubric.criteria, &verdicts),
        report.summary
    );
    let registry = registry::RegistryFile::in_project(dir.path())
        .load()
        .unwrap();
    let runs = judge::history::recorded_runs(dir.path(), &registry, "m09");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.judge_run, report.judge_run);
    assert_eq!(run.judged_run, "M09_v1_20260101_000000");
    assert_eq!(run.summary.as_ref(), Some(&report.summary));
    assert_eq!(run.problem, None);
    assert_eq!(run.records, 30);
    assert_eq!((run.samples, run.aggregate.as_str()), (3, "majority"));
    assert_eq!(run.judge_file, report.judge_file);
    assert_eq!(run.rubric, report.rubric);
    assert_eq!(run.rubric_hash, report.rubric_hash);
    assert_eq!(run.model, "gpt-4o-mini");
    assert_eq!(run.validation, None);
    assert!(judge::history::recorded_runs(dir.path(), &registry, "m07").is_empty());
    assert!(judge::history::has_rubric(dir.path(), "m09"));
    assert!(!judge::history::has_rubric(dir.path(), "m12"));
}
