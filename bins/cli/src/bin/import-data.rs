fn main() -> std::process::ExitCode {
    kw_cli::commands::import_data::main()
}
