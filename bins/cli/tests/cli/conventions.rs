//! What every binary shares: its own description in `--help`, `completions SHELL`, and `-v`
//! logging on stderr.

use crate::support::{TestProject, copy_dir, repo_root};

const BINARIES: &[&str] = &[
    "orchestrator",
    "experiment-registry",
    "generate-annotation-csv",
    "merge-annotations",
    "simulate-annotators",
    "calculate-agreement",
    "api-sim",
    "sync-braintrust",
    "batch",
    "optimize-prompt",
];

/// The package's description, which a bare `#[command(about)]` would show for every binary.
const PACKAGE: &str = "The toolkit's command-line programs, one binary per pipeline step.";

#[test]
fn every_binary_help_opens_with_its_own_description() {
    let project = TestProject::new();
    let mut firsts = Vec::new();
    for bin in BINARIES {
        for flag in ["--help", "-h"] {
            let run = project.run(bin, &[flag]);
            assert_eq!(run.code, 0, "{bin} {flag}: {}", run.stderr);
            let first = run.stdout.lines().next().unwrap_or_default().to_owned();
            assert!(!first.trim().is_empty(), "{bin} {flag}: {}", run.stdout);
            assert!(
                !PACKAGE.starts_with(first.trim()),
                "{bin} {flag} opens with the package description"
            );
            if flag == "-h" {
                firsts.push(first);
            }
        }
    }
    firsts.sort();
    firsts.dedup();
    assert_eq!(firsts.len(), BINARIES.len(), "{firsts:#?}");
    let orchestrator = project.run("orchestrator", &["--help"]);
    assert!(
        orchestrator
            .stdout
            .starts_with("Run LLM experiments for the keyword-classification modules"),
        "{}",
        orchestrator.stdout
    );
}

#[test]
fn every_binary_prints_shell_completions() {
    let project = TestProject::new();
    let bash = project.run("orchestrator", &["completions", "bash"]);
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    assert!(bash.stdout.contains("_orchestrator()"), "{}", bash.stdout);
    assert!(bash.stdout.contains("complete -F _orchestrator"));
    for bin in BINARIES {
        let zsh = project.run(bin, &["completions", "zsh"]);
        assert_eq!(zsh.code, 0, "{bin}: {}", zsh.stderr);
        assert!(zsh.stdout.starts_with(&format!("#compdef {bin}")), "{bin}");
        assert!(zsh.stderr.is_empty(), "{bin}: {}", zsh.stderr);
        let help = project.run(bin, &["--help"]);
        assert!(
            help.stdout
                .lines()
                .any(|l| l.trim_start().starts_with("completions ")),
            "{bin} --help does not list completions:\n{}",
            help.stdout
        );
    }
    let bad = project.run("batch", &["completions", "cmd.exe"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stdout.is_empty());
}

fn registry_project() -> TestProject {
    let project = TestProject::new();
    copy_dir(
        &repo_root().join("fixtures/registry/project/experiment_results"),
        &project.path("experiment_results"),
    );
    project
}

#[test]
fn verbose_logs_file_writes_on_stderr_and_leaves_stdout_alone() {
    let quiet = registry_project();
    let plain = quiet.run("experiment-registry", &["cleanup"]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(!plain.stderr.contains("file written"), "{}", plain.stderr);

    let loud = registry_project();
    let verbose = loud.run("experiment-registry", &["-vv", "cleanup"]);
    assert_eq!(verbose.code, 0, "{}", verbose.stderr);
    assert_eq!(
        verbose
            .stdout
            .replace(&loud.root().display().to_string(), "[ROOT]"),
        plain
            .stdout
            .replace(&quiet.root().display().to_string(), "[ROOT]")
    );
    assert!(
        verbose.stderr.contains("file written") && verbose.stderr.contains(".registry.json"),
        "{}",
        verbose.stderr
    );
    assert!(verbose.stderr.contains("DEBUG"), "{}", verbose.stderr);

    // -v after the subcommand too, and -v alone is info: no file-write events.
    let info = registry_project().run("experiment-registry", &["cleanup", "-v"]);
    assert_eq!(info.code, 0, "{}", info.stderr);
    assert!(!info.stderr.contains("file written"), "{}", info.stderr);

    // RUST_LOG overrides -v.
    let project = registry_project();
    let mut command = project.command("experiment-registry");
    command
        .args(["cleanup"])
        .env("RUST_LOG", "core_config=debug");
    let by_env = crate::support::run(&mut command);
    assert_eq!(by_env.code, 0, "{}", by_env.stderr);
    assert!(by_env.stderr.contains("file written"), "{}", by_env.stderr);
}

#[test]
fn a_command_with_its_own_verbose_keeps_it() {
    // `calculate-agreement analyze -v` prints the confusion matrix; logging is
    // `calculate-agreement -v analyze`.
    let project = TestProject::new();
    let help = project.run("calculate-agreement", &["analyze", "--help"]);
    assert!(
        help.stdout.contains("Also print the confusion matrix"),
        "{}",
        help.stdout
    );
    let top = project.run("calculate-agreement", &["--help"]);
    assert!(top.stdout.contains("-v, --verbose"), "{}", top.stdout);
    let logged = project.run("calculate-agreement", &["-vv", "analyze", "--help"]);
    assert_eq!(logged.code, 0, "{}", logged.stderr);
}
