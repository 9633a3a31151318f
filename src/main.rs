//! The `bedrock-gate` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    bedrock_gate::cli::main()
}
