use crate::assert_run_snapshot;
use crate::support::TestProject;

#[test]
fn list_shows_every_module() {
    let project = TestProject::new();
    let run = project.run("orchestrator", &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_run_snapshot!("orchestrator_list", &project, run);
}

#[test]
fn list_json_has_all_22_modules_and_m03_disabled() {
    let project = TestProject::new();
    let run = project.run("orchestrator", &["list", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let modules: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(modules.len(), 22);
    let m03 = modules.iter().find(|m| m["id"] == "m03").unwrap();
    assert_eq!(m03["enabled"], false);
    assert_eq!(m03["status"], "disabled");
    assert!(
        modules
            .iter()
            .filter(|m| m["id"] != "m03")
            .all(|m| m["status"] == "ready")
    );
}

#[test]
fn shipped_data_validates() {
    let project = TestProject::new();
    let run = project.run("orchestrator", &["validate"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("22 modules"), "{}", run.stdout);
    assert!(run.stdout.contains(", 0 problems"), "{}", run.stdout);
}

#[test]
fn broken_catalogue_names_file_line_and_key() {
    let project = TestProject::new();
    let text = std::fs::read_to_string(project.path("modules.toml")).unwrap();
    let broken = text.replacen(
        "slug = \"check_hard_constraint\"",
        "slug = \"check_hard_constraint\"\nthreshold_typo = 3",
        1,
    );
    project.write("modules.toml", broken);
    let run = project.run("orchestrator", &["list"]);
    assert_eq!(run.code, 2);
    assert_run_snapshot!("orchestrator_broken_catalogue", &project, run);
}

#[test]
fn validate_reports_each_kind_of_problem() {
    let project = TestProject::new();
    // A dataset line with bad JSON.
    let dataset = project.path("datasets/single/m14_v1_check_primary_use_same_type.jsonl");
    let mut text = std::fs::read_to_string(&dataset).unwrap();
    text.push_str("{\"id\": \"broken\", \"input\": {\"keyword\": \n");
    std::fs::write(&dataset, text).unwrap();
    // A prompt with an unfed placeholder.
    let prompt = project.path("prompts/modules/single/m15_v1_check_substitute.md");
    let mut text = std::fs::read_to_string(&prompt).unwrap();
    text.push_str("\nAlso consider {{season}}.\n");
    std::fs::write(&prompt, text).unwrap();
    // A schema that is not strict.
    let schema = project.path("prompts/json_schemas/single/m16_check_complementary_schema.json");
    let text = std::fs::read_to_string(&schema).unwrap();
    std::fs::write(
        &schema,
        text.replacen(
            "\"additionalProperties\": false",
            "\"additionalProperties\": true",
            1,
        ),
    )
    .unwrap();

    let run = project.run("orchestrator", &["validate", "m14", "m15", "m16"]);
    assert_eq!(run.code, 1);
    assert_run_snapshot!("orchestrator_validate_problems", &project, run);
}

#[test]
fn validate_reports_a_prompt_that_quotes_an_evaluation_keyword() {
    let project = TestProject::new();
    // A worked example quoting a keyword of the module's synthetic dataset (in another case).
    let prompt = project.path("prompts/modules/single/m12_v1_check_hard_constraint.md");
    let mut text = std::fs::read_to_string(&prompt).unwrap();
    let lines = text.lines().count();
    text.push_str("\n### Example 6\nKeyword \"Silicone Pot Holder Set\"; same product.\n");
    std::fs::write(&prompt, text).unwrap();

    let run = project.run("orchestrator", &["validate", "m12"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let expected = format!(
        "prompts/modules/single/m12_v1_check_hard_constraint.md:{}: quotes the evaluation keyword `silicone pot holder set` (datasets/synthetic/m12_sd01_check_hard_constraint.jsonl:1)",
        lines + 3
    );
    assert!(run.stdout.contains(&expected), "{}", run.stdout);
    assert!(run.stdout.contains("1 problem"), "{}", run.stdout);
}

#[test]
fn a_schema_with_an_invalid_type_fails_validate_and_the_run_before_any_request() {
    let project = TestProject::new();
    let schema = "prompts/json_schemas/single/m14_check_primary_use_same_type_schema.json";
    let text = std::fs::read_to_string(project.path(schema)).unwrap();
    project.write(
        schema,
        text.replacen("\"type\": \"boolean\"", "\"type\": \"yesno\"", 1),
    );
    let run = project.run("orchestrator", &["validate", "m14"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let problem = format!(
        "{schema}: not a valid JSON Schema: #/properties/same_primary_use/type: \"yesno\" is not a JSON Schema type"
    );
    assert!(run.stdout.contains(&problem), "{}", run.stdout);

    // Nothing listens on the discard port: a request would fail with a connection error, so
    // an error naming the schema shows the run stopped before sending one.
    let run = crate::support::run(
        project
            .command("orchestrator")
            .args(["run", "m14", "--no-progress"])
            .env("OPENAI_API_KEY", "sk-test-not-a-key")
            .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&problem.replace(schema, "")),
        "{}",
        run.stderr
    );
    assert!(!project.path("experiment_results").exists());
}

#[test]
fn a_record_over_the_context_window_fails_validate_and_the_run_before_any_request() {
    let project = TestProject::new();
    let dataset = "datasets/single/m14_v1_check_primary_use_same_type.jsonl";
    let text = std::fs::read_to_string(project.path(dataset)).unwrap();
    let lines = text.lines().count();
    // A generated record of about 500,000 tokens: gpt-4o-mini's window is 128,000.
    let mut record: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    record["id"] = "huge".into();
    record["input"]["keyword"] = "word ".repeat(400_000).into();
    project.write(dataset, format!("{text}{record}\n"));
    let problem = format!(
        "{dataset}:{}: record `huge`: the request needs about ",
        lines + 1
    );

    let run = project.run("orchestrator", &["validate", "m14"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&problem), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "over the model's context window of 128,000 tokens (gpt-4o-mini, prices.toml)"
        ),
        "{}",
        run.stdout
    );

    // Nothing listens on the discard port: an error naming the record shows that the run
    // stopped before sending a request.
    let run = crate::support::run(
        project
            .command("orchestrator")
            .args(["run", "m14", "--no-progress"])
            .env("OPENAI_API_KEY", "sk-test-not-a-key")
            .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("record `huge`: the request needs about"),
        "{}",
        run.stderr
    );
    assert!(!project.path("experiment_results").exists());
}

#[test]
fn unknown_module_suggests_the_closest() {
    let project = TestProject::new();
    let run = project.run("orchestrator", &["validate", "m17"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("error: unknown module `m17` (did you mean `m16`?); valid ids: m01, m01a"),
        "{}",
        run.stderr
    );
}
