fn main() -> std::process::ExitCode {
    kw_cli::commands::simulate_annotators::main()
}
