fn main() -> std::process::ExitCode {
    kw_cli::commands::generate_annotation_csv::main()
}
