//! Binary entry point: parse arguments, install the one TLS crypto provider, run the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if let Err(e) = qcloud_ingress_webhook::http::tls::install_crypto_provider() {
        eprintln!("qcloud-ingress-webhook: {e}");
        return ExitCode::FAILURE;
    }
    let args = qcloud_ingress_webhook::cli::Args::parse();
    qcloud_ingress_webhook::cli::run(args)
}
