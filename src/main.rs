fn main() -> std::process::ExitCode {
    ferroute::cli::main()
}
