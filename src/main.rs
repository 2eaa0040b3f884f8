/// Large blocks get mappings of their own (see the type for why).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: ferroute::control::heap::MappedLargeBlocks =
    ferroute::control::heap::MappedLargeBlocks;

fn main() -> std::process::ExitCode {
    ferroute::cli::main()
}
