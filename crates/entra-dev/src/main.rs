//! `entra-dev`: a local, Entra-shaped development issuer and token tool. DEVELOPMENT ONLY.
//!
//! Thin entry point: parsing and the commands live in the `cli` module.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
