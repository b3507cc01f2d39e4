//! Command-line interface: `serve`, `check` and `dev-certs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "qcloud-ingress-webhook", version, about)]
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
    /// Live mode: kubeconfig file to use instead of `KUBECONFIG` or the in-cluster account.
    #[arg(long, value_name = "PATH", conflicts_with = "cluster_state")]
    pub kubeconfig: Option<PathBuf>,
    /// Live mode: kubeconfig context to use instead of the current one.
    #[arg(long, value_name = "NAME", conflicts_with = "cluster_state")]
    pub context: Option<String>,
    /// Live mode: how long a Secret's certificate ids are reused (missing Secrets never are).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub secret_cache_ttl: Duration,
    /// Rule settings (YAML).
    #[arg(long, env = "QIW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format; `auto` is human on a terminal and JSON otherwise.
    #[arg(long, value_enum, default_value_t = LogFormat::Auto, env = "QIW_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Limits on what one request or client may take.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// How often the certificate files are re-read (hot reload).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,
    /// After SIGTERM, keep serving this long with /readyz 503 while endpoints update.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub shutdown_delay: Duration,
    /// Then wait at most this long for in-flight requests.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

/// `serve` flags that bound what a request or a client may take: time, connections, memory.
/// docs/threat-model.md explains the defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Largest request body accepted; larger ones get 413. The default, 6 MiB, is an UPDATE
    /// review of two 3 MiB objects, the largest JSON the API server accepts for an object.
    #[arg(long, default_value_t = crate::http::Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Memory that requests in progress may hold in all (bodies and the work of reviewing them,
    /// estimated as 100 bytes per body byte); one source address gets at most a quarter, one
    /// request at most three quarters. Keep it well below the container's memory limit (the
    /// chart uses a quarter of it).
    #[arg(long, default_value_t = crate::http::Limits::default().request_memory_budget)]
    pub request_memory_budget: usize,
    /// Slowest a request body may arrive, in bytes per second, with pauses of at most 2s; 0
    /// turns the floor off.
    #[arg(long, default_value_t = crate::http::Limits::default().body_min_rate)]
    pub body_min_rate: u64,
    /// Longest time one review may take (Go duration: 10s, 500ms); also the budget when the API
    /// server sends no `?timeout=`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Time a client has to send request headers once it has started a request.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// How long an idle keep-alive connection is kept (longer than the API server's 90s).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Time a client has to complete the TLS handshake.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// Time a client has to start its first request once the handshake is done.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub first_request_timeout: Duration,
    /// Connections served at once; when all are taken, the one idle longest makes room, and with
    /// none idle a new connection is refused.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Connections one source address may hold (0: no cap). The API server keeps up to 25 idle
    /// connections per server and comes from few addresses.
    #[arg(long, default_value_t = 128)]
    pub max_connections_per_source: usize,
}

impl LimitArgs {
    /// The request limits and the server configuration with these flags applied.
    fn apply(self, config: &mut crate::http::ServerConfig) -> crate::http::Limits {
        let Self {
            max_body_bytes,
            request_memory_budget,
            body_min_rate,
            request_timeout,
            header_read_timeout,
            idle_timeout,
            handshake_timeout,
            first_request_timeout,
            max_connections,
            max_connections_per_source,
        } = self;
        config.header_read_timeout = header_read_timeout;
        config.idle_timeout = idle_timeout;
        config.handshake_timeout = handshake_timeout;
        config.first_request_timeout = first_request_timeout;
        config.max_connections = max_connections;
        config.max_connections_per_source = max_connections_per_source;
        crate::http::Limits {
            max_body_bytes,
            request_timeout,
            request_memory_budget,
            body_min_rate,
            ..crate::http::Limits::default()
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::text::parse_go_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration like 10s, 500ms or 1m30s"))
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
    let result = match args.command {
        Command::Serve(serve_args) => serve(serve_args),
        Command::DevCerts(dev_args) => dev_certs(dev_args),
        Command::Check(check_args) => return check(check_args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qcloud-ingress-webhook: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `serve`: build the engine and the cluster view, bind, serve until SIGTERM/SIGINT, drain.
fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use crate::http::{AppState, Server, ServerConfig};
    let ServeArgs {
        listen,
        tls_cert,
        tls_key,
        admin_listen,
        cluster_state,
        kubeconfig,
        context,
        secret_cache_ttl,
        config,
        log_format,
        limits,
        tls_reload_interval,
        shutdown_delay,
        shutdown_grace,
    } = args;
    let _log_writer = crate::http::logging::init(log_format);
    let engine = Arc::new(crate::rules::Engine::new(load_settings(
        config.as_deref(),
    )?)?);
    let offline = if cluster_state.is_empty() {
        None
    } else {
        Some(crate::cluster::offline::OfflineCluster::from_paths(
            &cluster_state,
        )?)
    };
    let mut server_config = ServerConfig::new(listen, admin_listen, tls_cert, tls_key);
    let limits = limits.apply(&mut server_config);
    log_memory_budget(&limits);
    server_config.tls_reload_interval = tls_reload_interval;
    server_config.shutdown_delay = shutdown_delay;
    server_config.shutdown_grace = shutdown_grace;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let cluster: Arc<dyn crate::cluster::ClusterView> = match offline {
            Some(view) => Arc::new(view),
            None => Arc::new(live_cluster(kubeconfig, context, secret_cache_ttl).await?),
        };
        let state = AppState::new(engine, cluster, limits);
        let server = Server::bind(server_config, state).await?;
        server.run(crate::http::shutdown::shutdown_signal()).await;
        Ok(())
    })
}

/// Says at start-up how large a review the memory budget can take, since larger ones get 413.
fn log_memory_budget(limits: &crate::http::Limits) {
    // One request may hold at most three quarters of the budget (see http::body).
    let largest = limits.request_memory_budget / 4 * 3 / limits.review_memory_factor.max(1);
    if largest < limits.max_body_bytes {
        tracing::info!(
            request_memory_budget = limits.request_memory_budget,
            largest_review_bytes = largest,
            max_body_bytes = limits.max_body_bytes,
            "reviews larger than largest_review_bytes need more memory than the budget and get 413; \
             raise --request-memory-budget (with the memory limit) to take them"
        );
    }
}

/// `check`: exit 0 when nothing would be denied, 1 when something would, 2 when an input cannot be
/// read (one line naming the file and document).
fn check(args: CheckArgs) -> ExitCode {
    let CheckArgs {
        cluster_state,
        config,
        output,
        namespace,
        inputs,
    } = args;
    let options = crate::check::Options {
        inputs,
        cluster_state,
        config,
        namespace,
    };
    let format = match output {
        OutputFormat::Text => crate::check::Format::Text,
        OutputFormat::Json => crate::check::Format::Json,
        OutputFormat::Github => crate::check::Format::Github,
    };
    match crate::check::run(&options, &mut std::io::stdin().lock()) {
        Ok(outcome) => {
            let text = crate::check::output::render(format, &outcome.findings, &outcome.summary);
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            if outcome.any_denied() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("qcloud-ingress-webhook: {e}");
            ExitCode::from(2)
        }
    }
}

/// The rule settings from `--config`, or the defaults. A bad file stops start-up with one line
/// naming the file and the bad key.
fn load_settings(config: Option<&std::path::Path>) -> anyhow::Result<crate::rules::Settings> {
    Ok(match config {
        Some(path) => crate::rules::Settings::load(path)?,
        None => crate::rules::Settings::default(),
    })
}

/// Live mode: the kube client and the watches (readiness waits for their first lists).
async fn live_cluster(
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    secret_ttl: Duration,
) -> anyhow::Result<crate::cluster::live::LiveCluster> {
    use crate::cluster::live::{LiveCluster, LiveConfig, client};
    use anyhow::Context as _;
    let client = client(kubeconfig.as_deref(), context).await.context(
        "live mode needs a kubeconfig or an in-cluster service account \
         (or pass --cluster-state PATH to serve on an offline cluster state)",
    )?;
    let config = LiveConfig {
        secret_ttl,
        ..LiveConfig::default()
    };
    Ok(LiveCluster::start(client, config))
}

/// `dev-certs`: write a development CA and serving certificate.
fn dev_certs(args: DevCertsArgs) -> anyhow::Result<()> {
    let DevCertsArgs {
        out,
        service,
        namespace,
        keep_existing,
    } = args;
    match crate::certs::write(&out, &service, &namespace, keep_existing)? {
        crate::certs::Written::Created => eprintln!(
            "wrote ca.crt, ca.key, tls.crt, tls.key to {} (for {service}.{namespace}.svc, localhost, 127.0.0.1)",
            out.display()
        ),
        crate::certs::Written::KeptExisting => {
            eprintln!("kept the existing certificates in {}", out.display());
        }
    }
    Ok(())
}
