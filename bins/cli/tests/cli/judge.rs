//! Judges: rubric checks in `orchestrator validate`, `analyze-results judge` against the
//! simulator's judge mode (CSV, registry entry, resume without repeated calls).

use crate::support::TestProject;

#[test]
fn validate_reports_a_broken_rubric_with_file_line_and_field() {
    let project = TestProject::new();
    let path = "prompts/judges/m09_v1.yaml";
    let text = std::fs::read_to_string(project.path(path)).unwrap();
    project.write(path, text.replace("    pass_at: 3\n", ""));
    let out = project.run("orchestrator", &["validate", "m09"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "prompts/judges/m09_v1.yaml:17: rubric: criteria[1].pass_at: a 0-5 criterion needs the score it passes at (1-5)"
        ),
        "{}",
        out.stdout
    );
}
