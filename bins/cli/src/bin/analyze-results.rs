fn main() -> std::process::ExitCode {
    kw_cli::commands::analyze_results::main()
}
