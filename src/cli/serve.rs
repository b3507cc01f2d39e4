//! `serve`: its flags, and building the engine, the cluster view and the background audit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{LogFormat, load_settings, parse_duration};

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// HTTPS address for AdmissionReviews.
    #[arg(long, default_value = "0.0.0.0:8443", env = "QIW_LISTEN")]
    pub listen: SocketAddr,
    /// Serving certificate chain (PEM); not read with --self-managed-certs.
    #[arg(
        long,
        env = "QIW_TLS_CERT",
        required_unless_present = "self_managed_certs"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Serving private key (PEM); not read with --self-managed-certs.
    #[arg(
        long,
        env = "QIW_TLS_KEY",
        required_unless_present = "self_managed_certs"
    )]
    pub tls_key: Option<PathBuf>,
    /// Require a client certificate signed by a CA in this PEM file on the webhook port: the
    /// certificate the API server presents when its admission configuration gives it one for
    /// this webhook. Without it any pod that reaches the port may ask for reviews.
    #[arg(long, value_name = "PATH", env = "QIW_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
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
    /// Opt-in checks against Tencent Cloud's APIs.
    #[command(flatten)]
    pub cloud: super::cloud::CloudArgs,
    #[command(flatten)]
    pub self_managed: SelfManagedArgs,
}

/// Self-managed certificates (the chart's `certs.mode: selfManaged`, live mode only): the CA
/// lives in a Secret this binary gets or creates, serving certificates are signed in memory,
/// and `caBundle` of the webhook configurations is written and kept by this binary.
#[derive(Debug, Clone, clap::Args)]
pub struct SelfManagedArgs {
    /// Manage the serving certificate and `caBundle` (instead of --tls-cert/--tls-key).
    #[arg(
        long,
        conflicts_with = "cluster_state",
        requires_all = ["ca_secret", "namespace", "service", "validating_webhook"]
    )]
    pub self_managed_certs: bool,
    /// The CA Secret (created if absent) in --namespace.
    #[arg(long, value_name = "NAME", requires = "self_managed_certs")]
    pub ca_secret: Option<String>,
    /// Namespace of the CA Secret and of the webhook's Service.
    #[arg(
        long,
        value_name = "NAME",
        env = "POD_NAMESPACE",
        requires = "self_managed_certs"
    )]
    pub namespace: Option<String>,
    /// The webhook's Service: the serving certificate is for `<service>.<namespace>.svc`.
    #[arg(long, value_name = "NAME", requires = "self_managed_certs")]
    pub service: Option<String>,
    /// The ValidatingWebhookConfiguration whose `caBundle` is kept.
    #[arg(long, value_name = "NAME", requires = "self_managed_certs")]
    pub validating_webhook: Option<String>,
    /// The MutatingWebhookConfiguration whose `caBundle` is kept, if any.
    #[arg(long, value_name = "NAME", requires = "self_managed_certs")]
    pub mutating_webhook: Option<String>,
    /// Validity of a CA this binary creates.
    #[arg(long, default_value = "87600h", value_parser = parse_duration)]
    pub ca_validity: Duration,
    /// Validity of each serving certificate (renewed in memory after two thirds of it).
    #[arg(long, default_value = "168h", value_parser = parse_duration)]
    pub serving_cert_validity: Duration,
    /// Rotate the CA this long before it expires (a new CA joins `caBundle` first); at most a
    /// third of --ca-validity. The annotation `qcloud-ingress-webhook/rotate` on the CA Secret
    /// rotates it now.
    #[arg(long, default_value = "720h", value_parser = parse_duration)]
    pub ca_rotate_before: Duration,
    /// Sign with the new CA only once both configurations have carried it this long (the API
    /// server re-reads `caBundle` from its watch).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub ca_bundle_propagation: Duration,
    /// Keep the old CA in `caBundle` this long after the new one signs.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub ca_retire_after: Duration,
    /// How often the CA Secret is read again.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub ca_recheck: Duration,
}

impl SelfManagedArgs {
    /// The authority's settings, or `None` without --self-managed-certs.
    fn settings(self) -> Option<crate::certs::self_managed::Settings> {
        use crate::certs::self_managed::{ConfigKind, Settings};
        let Self {
            self_managed_certs,
            ca_secret,
            namespace,
            service,
            validating_webhook,
            mutating_webhook,
            ca_validity,
            serving_cert_validity,
            ca_rotate_before,
            ca_bundle_propagation,
            ca_retire_after,
            ca_recheck,
        } = self;
        if !self_managed_certs {
            return None;
        }
        // clap's `requires_all` makes these present.
        let namespace = namespace.unwrap_or_default();
        let mut configurations = vec![(
            ConfigKind::Validating,
            validating_webhook.unwrap_or_default(),
        )];
        configurations.extend(mutating_webhook.map(|name| (ConfigKind::Mutating, name)));
        Some(Settings {
            dns_names: crate::certs::dns_names(&service.unwrap_or_default(), &namespace),
            namespace,
            ca_secret: ca_secret.unwrap_or_default(),
            configurations,
            ca_validity,
            serving_validity: serving_cert_validity,
            pace: crate::certs::rotation::Pace::new(
                ca_validity,
                ca_rotate_before,
                ca_bundle_propagation,
                ca_retire_after,
            ),
            recheck: ca_recheck.max(Duration::from_millis(100)),
        })
    }
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
    /// Live mode: run the audit on one replica at a time, the holder of this
    /// `coordination.k8s.io` Lease (created if absent); without it every replica audits.
    #[arg(long, value_name = "NAME")]
    pub audit_lease: Option<String>,
    /// Namespace of the audit Lease.
    #[arg(
        long,
        value_name = "NAME",
        env = "POD_NAMESPACE",
        default_value = "default"
    )]
    pub audit_lease_namespace: String,
    /// This replica's name in the audit Lease (the pod name).
    #[arg(long, value_name = "NAME", env = "POD_NAME")]
    pub audit_lease_identity: Option<String>,
    /// A holder that has not renewed the audit Lease for this long loses it (renewed every third
    /// of it).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub audit_lease_duration: Duration,
}

impl AuditArgs {
    /// The Lease settings, or `None` without `--audit-lease`.
    fn lease(&self) -> Option<crate::audit::lease::LeaseConfig> {
        let name = self.audit_lease.clone()?;
        // Without a pod name, a random one: identities only need to differ between replicas.
        let identity = self.audit_lease_identity.clone().unwrap_or_else(|| {
            std::env::var("HOSTNAME").unwrap_or_else(|_| format!("qiw-{:x}", std::process::id()))
        });
        Some(crate::audit::lease::LeaseConfig {
            namespace: self.audit_lease_namespace.clone(),
            name,
            identity,
            duration: self.audit_lease_duration,
            retry: (self.audit_lease_duration / 3).max(Duration::from_millis(200)),
        })
    }
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
    /// Live mode: longest a review waits for the API server to confirm the cached facts a deny
    /// rests on (the review's deadline also applies); then the cache answers and the deny stands.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub confirm_budget: Duration,
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
            confirm_budget,
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
            confirm_budget,
            ..crate::http::Limits::default()
        }
    }
}

/// `serve`: build the engine and the cluster view, bind, serve until SIGTERM/SIGINT, drain.
pub(super) fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use crate::http::ServerConfig;
    let ServeArgs {
        listen,
        tls_cert,
        tls_key,
        client_ca,
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
        cloud,
        self_managed,
    } = args;
    let cloud = cloud.client()?;
    let _log_writer = crate::http::logging::init(log_format);
    let engine = Arc::new(crate::rules::Engine::new(load_settings(
        config.as_deref(),
    )?)?);
    let source = if cluster_state.is_empty() {
        Source::Live {
            kubeconfig,
            context,
            secret_cache_ttl,
            audit,
        }
    } else {
        Source::Offline(crate::cluster::offline::OfflineCluster::from_paths(
            &cluster_state,
        )?)
    };
    // Without --self-managed-certs clap requires both paths.
    let mut server_config = ServerConfig::new(
        listen,
        admin_listen,
        tls_cert.unwrap_or_default(),
        tls_key.unwrap_or_default(),
    );
    let limits = limits.apply(&mut server_config);
    log_memory_budget(&limits);
    server_config.tls_reload_interval = tls_reload_interval;
    server_config.shutdown_delay = shutdown_delay;
    server_config.shutdown_grace = shutdown_grace;
    server_config.client_ca = client_ca;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(
        server_config,
        engine,
        limits,
        source,
        (self_managed.settings(), cloud),
    ))
}

/// Where `serve` reads the cluster from.
enum Source {
    Offline(crate::cluster::offline::OfflineCluster),
    Live {
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        secret_cache_ttl: Duration,
        audit: AuditArgs,
    },
}

/// Builds the state (and the self-managed authority), binds and serves.
async fn run(
    mut server_config: crate::http::ServerConfig,
    engine: Arc<crate::rules::Engine>,
    limits: crate::http::Limits,
    source: Source,
    (self_managed, cloud): (
        Option<crate::certs::self_managed::Settings>,
        Option<Arc<crate::cloud::CloudClient>>,
    ),
) -> anyhow::Result<()> {
    use crate::http::{AppState, Server};
    let mut elector = None;
    let (mut state, client) = match source {
        Source::Offline(view) => (AppState::new(engine, Arc::new(view), limits), None),
        Source::Live {
            kubeconfig,
            context,
            secret_cache_ttl,
            audit,
        } => {
            let client = live_client(kubeconfig, context).await?;
            let (state, lease) = live_state(
                client.clone(),
                engine,
                limits,
                secret_cache_ttl,
                (&audit, cloud.clone()),
            )?;
            elector = lease;
            (state, Some(client))
        }
    };
    // Before the authority's, which shares the metrics.
    state = state.with_cloud(cloud);
    if let (Some(settings), Some(client)) = (self_managed, client) {
        let status = Arc::new(crate::http::authority::AuthorityStatus::default());
        state = state.with_authority(status.clone());
        let metrics = state.metrics.clone();
        let resolver = crate::certs::self_managed::start(client, settings, status, metrics).await?;
        server_config.resolver = Some(resolver);
    }
    let server = Server::bind(server_config, state).await?;
    server.run(crate::http::shutdown::shutdown_signal()).await;
    if let Some(elector) = elector {
        elector.release().await;
    }
    Ok(())
}

/// Live mode: the watches, the background audit (and its Lease), and who may read its report.
fn live_state(
    client: kube::Client,
    engine: Arc<crate::rules::Engine>,
    limits: crate::http::Limits,
    secret_cache_ttl: Duration,
    (audit, cloud): (&AuditArgs, Option<Arc<crate::cloud::CloudClient>>),
) -> anyhow::Result<(
    crate::http::AppState,
    Option<Arc<crate::audit::lease::Elector>>,
)> {
    let audit_on = !audit.audit_interval.is_zero();
    let config = live_config(secret_cache_ttl, audit_on);
    let view = Arc::new(crate::cluster::live::LiveCluster::start(
        client.clone(),
        config,
    )?);
    // The report is served to callers RBAC allows: a TokenReview and a SubjectAccessReview per
    // token and minute.
    let access = audit_on.then(|| {
        Arc::new(crate::cluster::live::access::AccessReviewer::new(
            client.clone(),
        ))
    });
    let elector = audit_on
        .then(|| audit.lease())
        .flatten()
        .map(|lease| Arc::new(crate::audit::lease::Elector::new(client.clone(), lease)));
    if let Some(elector) = &elector {
        tokio::spawn(elector.clone().run());
    }
    let leading = elector.as_ref().map(|e| e.leading());
    let auditor = start_audit(
        audit,
        &engine,
        &view,
        client,
        limits.confirm_budget,
        (leading, cloud),
    );
    let state = crate::http::AppState::new(engine, view, limits)
        .with_audit(auditor)
        .with_audit_access(access);
    Ok((state, elector))
}

/// The background audit of live `serve`, started (`None` when `--audit-interval 0s`); with
/// `leading`, it audits only while that is true.
fn start_audit(
    args: &AuditArgs,
    engine: &Arc<crate::rules::Engine>,
    view: &Arc<crate::cluster::live::LiveCluster>,
    client: kube::Client,
    confirm_budget: Duration,
    (leading, cloud): (
        Option<tokio::sync::watch::Receiver<bool>>,
        Option<Arc<crate::cloud::CloudClient>>,
    ),
) -> Option<Arc<crate::audit::live::Auditor>> {
    use crate::audit::live::{AuditConfig, Auditor};
    let config = AuditConfig {
        interval: args.audit_interval,
        rate: args.audit_rate,
        confirm_budget,
        ..AuditConfig::default()
    };
    let mut auditor = Auditor::new(engine.clone(), view.clone(), config)?.with_cloud(cloud);
    if let Some(leading) = leading {
        auditor = auditor.with_leader(leading);
    }
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
    let largest = limits.largest_body_within(limits.request_memory_budget / 4 * 3);
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

/// Live mode: the kube client from a kubeconfig or the in-cluster account.
pub(super) async fn live_client(
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
) -> anyhow::Result<kube::Client> {
    Ok(kube::Client::try_from(
        live_kube_config(
            kubeconfig,
            context,
            "live mode needs a kubeconfig or an in-cluster service account \
             (or pass --cluster-state PATH to serve on an offline cluster state)",
        )
        .await?,
    )?)
}

/// The client configuration of [`live_client`] (its server's URL names it in errors); `hint`
/// says what the command needs, for the error when there is no usable configuration.
pub(super) async fn live_kube_config(
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    hint: &'static str,
) -> anyhow::Result<kube::Config> {
    use anyhow::Context as _;
    crate::cluster::live::config(kubeconfig.as_deref(), context)
        .await
        .context(hint)
}

/// Live mode: how the watches run (readiness waits for their first lists).
pub(super) fn live_config(
    secret_ttl: Duration,
    keep_ingresses: bool,
) -> crate::cluster::live::LiveConfig {
    crate::cluster::live::LiveConfig {
        secret_ttl,
        keep_ingresses,
        ..crate::cluster::live::LiveConfig::default()
    }
}
