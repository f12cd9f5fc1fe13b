fn main() -> std::process::ExitCode {
    kw_cli::commands::optimize_prompt::main()
}
