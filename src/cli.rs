//! Command-line interface: `serve`, `check` and `dev-certs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "qcloud-ingress-webhook", version, about)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the admission webhook server.
    Serve(ServeArgs),
    /// Check Ingress manifests offline, as the webhook would.
    Check(CheckArgs),
    /// Write a development CA and serving certificate (never for production).
    DevCerts(DevCertsArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// HTTPS address for AdmissionReviews.
    #[arg(long, default_value = "0.0.0.0:8443", env = "QIW_LISTEN")]
    pub listen: SocketAddr,
    /// Serving certificate chain (PEM).
    #[arg(long, env = "QIW_TLS_CERT")]
    pub tls_cert: PathBuf,
    /// Serving private key (PEM).
    #[arg(long, env = "QIW_TLS_KEY")]
    pub tls_key: PathBuf,
    /// Plain-HTTP address for /healthz, /readyz and /metrics.
    #[arg(long, default_value = "0.0.0.0:8080", env = "QIW_ADMIN_LISTEN")]
    pub admin_listen: SocketAddr,
    /// Offline cluster state: YAML/JSON files or directories of Services, Secrets and Ingresses.
    /// Repeatable. Without it the webhook reads the live cluster.
    #[arg(long = "cluster-state", value_name = "PATH")]
    pub cluster_state: Vec<PathBuf>,
    /// Rule settings (YAML).
    #[arg(long, env = "QIW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Largest request body accepted; larger ones get 413. The API server caps requests at 3 MiB.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Log format; `auto` is human on a terminal and JSON otherwise.
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, env = "QIW_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Plain,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Extra cluster state (Services, Secrets, Ingresses) beside the inputs. Repeatable.
    #[arg(long = "cluster-state", value_name = "PATH")]
    pub cluster_state: Vec<PathBuf>,
    /// Rule settings (YAML), as for `serve`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Namespace for objects that have none.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Files, directories or `-` for standard input.
    #[arg(value_name = "FILE|DIR|-")]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Github,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DevCertsArgs {
    /// Directory for ca.crt, ca.key, tls.crt and tls.key.
    #[arg(long, default_value = "certs")]
    pub out: PathBuf,
    /// Service name the serving certificate is for.
    #[arg(long, default_value = "qcloud-ingress-webhook")]
    pub service: String,
    /// Namespace of that Service.
    #[arg(long, default_value = "qcloud-ingress-webhook")]
    pub namespace: String,
    /// Keep existing files instead of overwriting them.
    #[arg(long)]
    pub keep_existing: bool,
}

/// Runs a parsed command line and returns the process exit code.
#[allow(
    clippy::needless_pass_by_value,
    reason = "each subcommand takes its arguments by value once built"
)]
pub fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Serve(_) | Command::Check(_) | Command::DevCerts(_) => {
            eprintln!("qcloud-ingress-webhook: this command is not built yet");
            ExitCode::from(2)
        }
    }
}
