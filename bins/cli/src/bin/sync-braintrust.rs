fn main() -> std::process::ExitCode {
    kw_cli::commands::sync_braintrust::main()
}
