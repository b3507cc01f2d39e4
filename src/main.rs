//! Binary entry point: parse arguments, install the one TLS crypto provider, run the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = qcloud_ingress_webhook::cli::Args::parse();
    qcloud_ingress_webhook::cli::run(args)
}
