fn main() -> std::process::ExitCode {
    kw_cli::commands::merge_annotations::main()
}
