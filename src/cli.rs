//! Command-line interface: `serve`, `check`, `plan`, `audit` and `dev-certs`.

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
    /// Show the load balancer TKE will build from Ingress manifests (or, with --diff, what an
    /// update changes on it).
    Plan(PlanArgs),
    /// Judge the qcloud Ingresses a cluster already has, as the webhook would judge them now.
    Audit(AuditCommandArgs),
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
    #[command(flatten)]
    pub audit: AuditArgs,
}

/// The background audit of `serve` (live mode only).
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Live mode: judge every qcloud Ingress of the cluster again this often (changed ones are
    /// judged within seconds); `0s` turns the audit, `/audit` and its metrics off.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub audit_interval: Duration,
    /// Live mode: the audit judges at most this many Ingresses per second.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub audit_rate: u32,
    /// Live mode: post a Warning Event (reason WouldBeDenied) on each Ingress whose deny findings
    /// change; needs RBAC to create Events.
    #[arg(long)]
    pub audit_events: bool,
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

pub use crate::http::logging::LogFormat;

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
    /// Check each Ingress as written, without the fixes the chart's /mutate webhook applies first.
    #[arg(long)]
    pub no_mutate: bool,
    /// Exit 1 when a Service, Secret or shared CLB is not among the inputs (unresolved).
    #[arg(long)]
    pub strict: bool,
    /// Resolve references against this cluster (read-only: list/watch Services and Ingresses,
    /// get Secrets), as live `serve` does.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Resolve references against this kubeconfig context (of --kubeconfig, or of KUBECONFIG).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
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
    /// Extra cluster state (Services, Secrets, Ingresses) beside the inputs. Repeatable.
    #[arg(long = "cluster-state", value_name = "PATH")]
    pub cluster_state: Vec<PathBuf>,
    /// Rule settings (YAML), as for `serve`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format (JSON: docs/plan-schema.json).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
    /// Namespace for objects that have none.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Plan each Ingress as written, without the fixes the chart's /mutate webhook applies first.
    #[arg(long)]
    pub no_mutate: bool,
    /// What an update changes: give OLD NEW (files or directories), or with --kubeconfig only
    /// NEW, compared with the live objects.
    #[arg(long)]
    pub diff: bool,
    /// Resolve references against this cluster (read-only), as `check --kubeconfig` does; with
    /// --diff, the live Ingresses are the old side.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (of --kubeconfig, or of KUBECONFIG).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Files, directories or `-` for standard input (with --diff: OLD NEW, or NEW).
    #[arg(value_name = "FILE|DIR|-", required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuditCommandArgs {
    /// Only the Ingresses of this namespace (default: every namespace).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Rule settings (YAML), as for `serve`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format (JSON: the report `/audit` serves).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Kubeconfig file to use instead of `KUBECONFIG` (read-only: list/watch Services and
    /// Ingresses, get Secrets).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
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
        Command::Plan(plan_args) => return plan(plan_args),
        Command::Audit(audit_args) => return audit(audit_args),
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
        audit,
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
        let state = if let Some(view) = offline {
            AppState::new(engine, Arc::new(view), limits)
        } else {
            let client = live_client(kubeconfig, context).await?;
            let config = live_config(secret_cache_ttl, !audit.audit_interval.is_zero());
            let view = Arc::new(crate::cluster::live::LiveCluster::start(
                client.clone(),
                config,
            ));
            let auditor = start_audit(&audit, &engine, &view, client);
            AppState::new(engine, view, limits).with_audit(auditor)
        };
        let server = Server::bind(server_config, state).await?;
        server.run(crate::http::shutdown::shutdown_signal()).await;
        Ok(())
    })
}

/// The background audit of live `serve`, started (`None` when `--audit-interval 0s`).
fn start_audit(
    args: &AuditArgs,
    engine: &Arc<crate::rules::Engine>,
    view: &Arc<crate::cluster::live::LiveCluster>,
    client: kube::Client,
) -> Option<Arc<crate::audit::live::Auditor>> {
    use crate::audit::live::{AuditConfig, Auditor};
    let config = AuditConfig {
        interval: args.audit_interval,
        rate: args.audit_rate,
        ..AuditConfig::default()
    };
    let mut auditor = Auditor::new(engine.clone(), view.clone(), config)?;
    if args.audit_events {
        auditor = auditor.on_deny_change(move |key, entries| {
            let post = crate::audit::events::post(client.clone(), key.clone(), entries.to_vec());
            tokio::spawn(post);
        });
    }
    let auditor = Arc::new(auditor);
    tokio::spawn(auditor.clone().run());
    Some(auditor)
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

/// `check`: exit 0 when nothing would be denied, 1 when something would (or, strict, a reference
/// is unresolved), 2 when an input cannot be used (one line naming the file and document).
fn check(args: CheckArgs) -> ExitCode {
    let CheckArgs {
        cluster_state,
        config,
        output,
        namespace,
        no_mutate,
        strict,
        kubeconfig,
        context,
        inputs,
    } = args;
    let settings = match load_settings(config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => return fail(&e),
    };
    let cluster = if kubeconfig.is_some() || context.is_some() {
        match CheckCluster::connect(kubeconfig, context) {
            Ok(cluster) => Some(cluster),
            Err(e) => return fail(&e),
        }
    } else {
        None
    };
    let options = crate::check::Options {
        inputs,
        cluster_state,
        strict: strict || settings.fail_on_unresolved,
        settings,
        namespace,
        mutate: !no_mutate,
    };
    let format = match output {
        OutputFormat::Text => crate::check::Format::Text,
        OutputFormat::Json => crate::check::Format::Json,
        OutputFormat::Github => crate::check::Format::Github,
    };
    let live = cluster
        .as_ref()
        .map(|c| c as &dyn crate::check::LiveCluster);
    match crate::check::run(&options, live, &mut std::io::stdin().lock()) {
        Ok(report) => {
            let text = crate::check::output::render(format, &report);
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            ExitCode::from(report.exit_status())
        }
        Err(e) => fail(&anyhow::anyhow!(e)),
    }
}

/// `plan`: exit 0, 1 when the webhook would deny an Ingress, 2 when an input cannot be used.
fn plan(args: PlanArgs) -> ExitCode {
    let PlanArgs {
        cluster_state,
        config,
        output,
        namespace,
        no_mutate,
        diff,
        kubeconfig,
        context,
        mut inputs,
    } = args;
    let settings = match load_settings(config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => return fail(&e),
    };
    let live = kubeconfig.is_some() || context.is_some();
    let cluster = if live {
        match CheckCluster::connect(kubeconfig.clone(), context.clone()) {
            Ok(cluster) => Some(cluster),
            Err(e) => return fail(&e),
        }
    } else {
        None
    };
    let old = match (diff, inputs.len(), &cluster) {
        (false, _, _) => None,
        (true, 2, _) => Some(crate::plan::OldSide::Paths(vec![inputs.remove(0)])),
        (true, 1, Some(cluster)) => match cluster.ingresses(kubeconfig.as_deref(), context) {
            Ok(objects) => Some(crate::plan::OldSide::Live(objects)),
            Err(e) => return fail(&e),
        },
        (true, _, _) => {
            return fail(&anyhow::anyhow!(
                "--diff takes OLD NEW, or NEW with --kubeconfig (the live objects are OLD)"
            ));
        }
    };
    let options = crate::plan::Options {
        inputs,
        old,
        cluster_state,
        settings,
        namespace,
        mutate: !no_mutate,
    };
    let format = match output {
        PlanFormat::Text => crate::plan::output::Format::Text,
        PlanFormat::Json => crate::plan::output::Format::Json,
    };
    let live = cluster
        .as_ref()
        .map(|c| c as &dyn crate::check::LiveCluster);
    match crate::plan::run(&options, live, &mut std::io::stdin().lock()) {
        Ok(report) => {
            let text = crate::plan::output::render(format, &report);
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            ExitCode::from(report.exit_status())
        }
        Err(e) => fail(&anyhow::anyhow!(e)),
    }
}

/// `audit`: one pass over the cluster's qcloud Ingresses; exit 0 when none would be denied as it
/// stands, 1 when one would, 2 when the cluster cannot be read.
fn audit(args: AuditCommandArgs) -> ExitCode {
    let AuditCommandArgs {
        namespace,
        config,
        output,
        kubeconfig,
        context,
    } = args;
    let report = load_settings(config.as_deref())
        .and_then(|settings| audit_once(settings, kubeconfig, context, namespace.as_deref()));
    let report = match report {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    let format = match output {
        OutputFormat::Text => crate::audit::output::Format::Text,
        OutputFormat::Json => crate::audit::output::Format::Json,
        OutputFormat::Github => crate::audit::output::Format::Github,
    };
    let text = crate::audit::output::render(format, &report);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    ExitCode::from(u8::from(report.denied() > 0))
}

/// The engine, a synced live view keeping every Ingress, and one audit pass over it.
fn audit_once(
    settings: crate::rules::Settings,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    namespace: Option<&str>,
) -> anyhow::Result<crate::audit::Report> {
    let engine = crate::rules::Engine::new(settings)?;
    let cluster = CheckCluster::connect_with(kubeconfig, context, true)?;
    let pass = crate::audit::live::once(&engine, &cluster.view, namespace);
    Ok(cluster.runtime.block_on(pass))
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("qcloud-ingress-webhook: {error:#}");
    ExitCode::from(2)
}

/// `check --kubeconfig`: the live view `serve` uses, on a runtime of its own, synced before the
/// first Ingress is judged.
struct CheckCluster {
    runtime: tokio::runtime::Runtime,
    view: crate::cluster::live::LiveCluster,
}

impl CheckCluster {
    /// How long the first lists of Services and Ingresses may take.
    const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
    /// How long one Ingress's Secret reads may take.
    const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

    fn connect(kubeconfig: Option<PathBuf>, context: Option<String>) -> anyhow::Result<Self> {
        Self::connect_with(kubeconfig, context, false)
    }

    /// `keep_ingresses`: keep every Ingress's object too, for `audit`.
    fn connect_with(
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        keep_ingresses: bool,
    ) -> anyhow::Result<Self> {
        use crate::cluster::ClusterView as _;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let view = runtime.block_on(async {
            let client = live_client(kubeconfig, context).await?;
            Self::probe(&client).await?;
            let config = live_config(Duration::from_secs(30), keep_ingresses);
            let view = crate::cluster::live::LiveCluster::start(client, config);
            let synced = tokio::time::timeout(Self::SYNC_TIMEOUT, async {
                while !view.is_ready() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
            synced.await.map_err(|_| {
                anyhow::anyhow!(
                    "the cluster's Services and Ingresses could not be listed within {}s",
                    Self::SYNC_TIMEOUT.as_secs()
                )
            })?;
            anyhow::Ok(view)
        })?;
        Ok(Self { runtime, view })
    }

    /// One small list of each watched resource, so an unreachable API server or a missing
    /// permission is one line at once rather than a silent wait for the watches (which retry).
    async fn probe(client: &kube::Client) -> anyhow::Result<()> {
        use k8s_openapi::api::core::v1::Service;
        use k8s_openapi::api::networking::v1::Ingress;
        let one = kube::api::ListParams::default().limit(1);
        // The root cause alone: kube's wrappers repeat themselves ("client error (Connect)").
        let failed = |what: &str, error: kube::Error| {
            let error = anyhow::Error::new(error);
            anyhow::anyhow!("cannot list {what}: {}", error.root_cause())
        };
        let lists = async {
            kube::Api::<Service>::all(client.clone())
                .list_metadata(&one)
                .await
                .map_err(|e| failed("Services", e))?;
            kube::Api::<Ingress>::all(client.clone())
                .list_metadata(&one)
                .await
                .map_err(|e| failed("Ingresses", e))?;
            anyhow::Ok(())
        };
        tokio::time::timeout(Self::LOOKUP_TIMEOUT, lists)
            .await
            .map_err(|_| anyhow::anyhow!("the API server did not answer within 10s"))?
    }
}

impl CheckCluster {
    /// Every Ingress of the cluster as the API server returns it (`plan --diff` against the
    /// live objects): listed in pages, the RBAC `check --kubeconfig` already needs.
    fn ingresses(
        &self,
        kubeconfig: Option<&std::path::Path>,
        context: Option<String>,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        use k8s_openapi::api::networking::v1::Ingress;
        let list_all = async {
            let client = crate::cluster::live::client(kubeconfig, context).await?;
            let api: kube::Api<Ingress> = kube::Api::all(client);
            let mut params = kube::api::ListParams::default().limit(500);
            let mut objects = Vec::new();
            loop {
                let page = api.list(&params).await?;
                for item in page.items {
                    objects.push(serde_json::to_value(item)?);
                }
                match page.metadata.continue_ {
                    Some(token) if !token.is_empty() => params = params.continue_token(&token),
                    _ => break,
                }
            }
            anyhow::Ok(objects)
        };
        self.runtime.block_on(async {
            tokio::time::timeout(Self::SYNC_TIMEOUT, list_all)
                .await
                .map_err(|_| {
                    anyhow::anyhow!("the cluster's Ingresses could not be listed in time")
                })?
        })
    }
}

impl crate::check::LiveCluster for CheckCluster {
    fn lookup(
        &self,
        namespace: &str,
        secret_names: Vec<String>,
    ) -> Arc<dyn crate::cluster::ClusterLookup> {
        use crate::cluster::ClusterView as _;
        let request = crate::cluster::LookupRequest {
            namespace: namespace.to_owned(),
            secret_names,
            deadline: std::time::Instant::now() + Self::LOOKUP_TIMEOUT,
        };
        self.runtime.block_on(self.view.lookup(request))
    }
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

/// Live mode: the kube client from a kubeconfig or the in-cluster account.
async fn live_client(
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
) -> anyhow::Result<kube::Client> {
    use anyhow::Context as _;
    crate::cluster::live::client(kubeconfig.as_deref(), context)
        .await
        .context(
            "live mode needs a kubeconfig or an in-cluster service account \
             (or pass --cluster-state PATH to serve on an offline cluster state)",
        )
}

/// Live mode: how the watches run (readiness waits for their first lists).
fn live_config(secret_ttl: Duration, keep_ingresses: bool) -> crate::cluster::live::LiveConfig {
    crate::cluster::live::LiveConfig {
        secret_ttl,
        keep_ingresses,
        ..crate::cluster::live::LiveConfig::default()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
