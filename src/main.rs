//! The `bedrock-gate` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    bedrock_gate::cli::main()
}

/// jemalloc: about 3 % more throughput than glibc's allocator in the load benchmark
/// (calls allocate on worker threads and records are freed on another), at the same
/// memory with 100,000 keys (`BENCHMARKS.md`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
