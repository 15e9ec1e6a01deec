//! The `sealgate` binary: argument parsing and front ends. anyhow lives only here and in
//! `cli/`.
#![forbid(unsafe_code)]

mod cli;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::run(args)
}
