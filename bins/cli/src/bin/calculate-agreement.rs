fn main() -> std::process::ExitCode {
    kw_cli::commands::calculate_agreement::main()
}
