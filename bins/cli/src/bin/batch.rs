fn main() -> std::process::ExitCode {
    kw_cli::commands::batch::main()
}
