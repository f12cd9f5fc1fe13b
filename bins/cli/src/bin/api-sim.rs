fn main() -> std::process::ExitCode {
    kw_cli::commands::api_sim::main()
}
