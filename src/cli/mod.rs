//! Command-line interface: `serve` ([`serve`]), `check`, `plan`, `audit` and `dev-certs`
//! ([`commands`]); [`cluster`] is the live cluster the one-shot commands read.

mod cloud;
mod cluster;
mod commands;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::http::logging::LogFormat;
pub use serve::{AuditArgs, LimitArgs, SelfManagedArgs, ServeArgs};

#[derive(Debug, Parser)]
#[command(name = "qcloud-ingress-webhook", version = version_text(), about)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once at start-up; boxing buys nothing"
)]
pub enum Command {
    /// Run the admission webhook server.
    Serve(ServeArgs),
    /// Check Ingress manifests before they are applied, as the webhook would judge them.
    Check(CheckArgs),
    /// Show the load balancer TKE will build from Ingress manifests (or, with --diff, what an
    /// update changes on it).
    Plan(PlanArgs),
    /// Judge the qcloud Ingresses a cluster already has, as the webhook would judge them now.
    Audit(AuditCommandArgs),
    /// Write a development CA and serving certificate (never for production).
    DevCerts(DevCertsArgs),
}

/// The cluster a command reads, read-only (list/watch Services and Ingresses, get Secrets).
#[derive(Debug, Clone, clap::Args)]
pub struct KubeArgs {
    /// Kubeconfig file of the cluster to read (read-only: list/watch Services and Ingresses, get
    /// Secrets) instead of `KUBECONFIG`. Without it and --context, `check` and `plan` read no
    /// cluster; `audit` always reads one.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (of --kubeconfig, or of `KUBECONFIG`) instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl KubeArgs {
    /// Whether a cluster was named at all (`check` and `plan` read none otherwise).
    pub fn given(&self) -> bool {
        self.kubeconfig.is_some() || self.context.is_some()
    }
}

/// What `check` and `plan` read besides their inputs, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Extra cluster state (Services, Secrets, Ingresses) beside the inputs. Repeatable.
    #[arg(long = "cluster-state", value_name = "PATH")]
    pub cluster_state: Vec<PathBuf>,
    /// Rule settings (YAML), as for `serve`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Namespace for objects that have none (default: the kubeconfig context's namespace with
    /// --kubeconfig or --context, else `default`), as kubectl chooses it.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Judge each Ingress as written, without the fixes the chart's /mutate webhook applies first.
    #[arg(long)]
    pub no_mutate: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Exit 1 when a Service, Secret or shared CLB is not among the inputs (unresolved), or when
    /// the inputs hold no qcloud Ingress at all (nothing was checked).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub cluster: KubeArgs,
    /// Opt-in checks against Tencent Cloud's APIs (credentials from TENCENTCLOUD_SECRET_ID and
    /// TENCENTCLOUD_SECRET_KEY).
    #[command(flatten)]
    pub cloud: cloud::CloudArgs,
    /// Files, directories or `-` for standard input.
    #[arg(value_name = "FILE|DIR|-", required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Github,
}

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format (JSON: docs/plan-schema.json).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    /// What an update changes: give OLD NEW (files or directories), or with --kubeconfig or
    /// --context only NEW, compared with the live Ingresses.
    #[arg(long)]
    pub diff: bool,
    #[command(flatten)]
    pub cluster: KubeArgs,
    /// Files, directories or `-` for standard input (with --diff: OLD NEW, or NEW).
    #[arg(value_name = "FILE|DIR|-", required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuditCommandArgs {
    /// Only the Ingresses of this namespace (default: the kubeconfig context's namespace).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// The Ingresses of every namespace.
    #[arg(long, short = 'A', conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Rule settings (YAML), as for `serve`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format (JSON: the report `/audit` serves).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub cluster: KubeArgs,
    /// Opt-in checks against Tencent Cloud's APIs (credentials from TENCENTCLOUD_SECRET_ID and
    /// TENCENTCLOUD_SECRET_KEY, as tccli and Terraform read them).
    #[command(flatten)]
    pub cloud: cloud::CloudArgs,
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

/// What `--version` prints after the name: the crate's version and the commit it was built from.
/// `scripts/image.sh` sets `QIW_GIT_COMMIT` at build time (`git rev-parse HEAD`, with `-dirty`
/// when the work tree had changes), so the image names its commit; a build without it (plain
/// `cargo build`, a source tarball without git) says `unknown`. Cargo rebuilds when it changes.
fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let commit = option_env!("QIW_GIT_COMMIT").unwrap_or("unknown");
        format!("{} (commit {commit})", env!("CARGO_PKG_VERSION"))
    })
}

/// Runs a parsed command line and returns the process exit code.
#[allow(
    clippy::needless_pass_by_value,
    reason = "each subcommand takes its arguments by value once built"
)]
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        Command::Serve(serve_args) => serve::serve(serve_args),
        Command::DevCerts(dev_args) => commands::dev_certs(dev_args),
        Command::Check(check_args) => return commands::check(check_args),
        Command::Plan(plan_args) => return commands::plan(plan_args),
        Command::Audit(audit_args) => return commands::audit(audit_args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::text::parse_go_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration like 10s, 500ms or 1m30s"))
}

/// The rule settings from `--config`, or the defaults. A bad file stops start-up with one line
/// naming the file and the bad key.
fn load_settings(config: Option<&std::path::Path>) -> anyhow::Result<crate::rules::Settings> {
    let Some(path) = config else {
        return Ok(crate::rules::Settings::default());
    };
    let named = |message: String| anyhow::anyhow!("{}: {message}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| named(e.to_string()))?;
    crate::rules::Settings::from_yaml_str(&text).map_err(|e| named(e.to_string()))
}

/// One line on stderr, exit 2: an input, the settings or the cluster could not be used.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("qcloud-ingress-webhook: {}", error_chain(error));
    ExitCode::from(2)
}

/// The error and its causes, `: `-separated, each said once: kube's and std's errors repeat their
/// source in their own text, so anyhow's `{:#}` printed "No such file or directory (os error
/// 2): No such file or directory (os error 2)".
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_names_the_commit_it_was_built_from() {
        let commit = option_env!("QIW_GIT_COMMIT").unwrap_or("unknown");
        let expected = format!("{} (commit {commit})", env!("CARGO_PKG_VERSION"));
        assert_eq!(version_text(), expected);
        let error = Args::try_parse_from(["qcloud-ingress-webhook", "--version"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::DisplayVersion);
        assert_eq!(
            error.to_string().trim_end(),
            format!("qcloud-ingress-webhook {expected}")
        );
    }

    #[test]
    fn an_error_chain_says_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("failed to read kubeconfig: {0}")]
        struct Repeats(#[source] std::io::Error);
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let error = anyhow::Error::new(Repeats(io)).context("audit reads a cluster");
        assert_eq!(
            error_chain(&error),
            "audit reads a cluster: failed to read kubeconfig: No such file or directory"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_chain(&plain), "outer: inner");
    }

    #[test]
    fn a_settings_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.yaml");
        std::fs::write(&path, "rules:\n  host-gramar: warn\n").unwrap();
        let err = load_settings(Some(&path)).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: rules.host-gramar: no such rule (did you mean host-grammar?)",
                path.display()
            )
        );
        let missing = load_settings(Some(&dir.path().join("missing.yaml"))).unwrap_err();
        assert!(missing.to_string().contains("missing.yaml"), "{missing}");
        std::fs::write(&path, "enforcement: warn\n").unwrap();
        assert_eq!(
            load_settings(Some(&path)).unwrap().enforcement,
            crate::rules::settings::Enforcement::Warn
        );
    }
}
