fn main() -> std::process::ExitCode {
    kw_cli::commands::experiment_registry::main()
}
