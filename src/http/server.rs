//! The HTTPS webhook server: its configuration, binding the listeners and loading the certificate,
//! and running the parts together: the accept loop ([`super::accept`]) serving the
//! [`super::router`], the admin listener, the certificate reloader, and shutdown
//! ([`super::shutdown`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::TlsAcceptor;

use super::tls::{self, CertReloader};
use super::{AppState, accept, admin, router, shutdown};

/// How the server listens and behaves; `serve`'s flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// A certificate kept in memory by its owner (the self-managed authority), served instead
    /// of `tls_cert`/`tls_key`, which are then not read.
    pub resolver: Option<Arc<tls::CertResolver>>,
    /// Time allowed for a client to send the request headers, once it has started a request.
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection is kept; above the API server's 90 s, so the client
    /// closes first and never sends on a connection we are closing.
    pub idle_timeout: Duration,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed between the handshake and the start of the first request.
    pub first_request_timeout: Duration,
    /// Connections served at once; when all slots are taken, the connection idle longest is
    /// closed for a new one, and with none idle the new one is refused.
    pub max_connections: usize,
    /// Connections one source address may hold (0: no cap); the same eviction applies within it.
    pub max_connections_per_source: usize,
    /// How often the certificate files are re-read.
    pub tls_reload_interval: Duration,
    /// After SIGTERM: keep accepting this long (with `/readyz` 503) while endpoints update.
    pub shutdown_delay: Duration,
    /// Require a client certificate signed by the CAs in this PEM file (`--client-ca`).
    pub client_ca: Option<PathBuf>,
    /// Then: how long in-flight requests may take to finish.
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// Defaults for everything but the addresses and certificate paths.
    pub fn new(
        listen: SocketAddr,
        admin_listen: SocketAddr,
        tls_cert: PathBuf,
        tls_key: PathBuf,
    ) -> Self {
        Self {
            listen,
            admin_listen,
            tls_cert,
            tls_key,
            resolver: None,
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(3),
            first_request_timeout: Duration::from_secs(5),
            max_connections: 1024,
            max_connections_per_source: 128,
            tls_reload_interval: Duration::from_secs(30),
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(20),
            client_ca: None,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("serving certificate: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: SocketAddr, message: String },
}

/// Connections the kernel may hold for the accept loop: a burst of a few thousand (a flood the
/// loop is still refusing) must not overflow it, or the kernel drops the API server's SYN. The
/// kernel caps it at `net.core.somaxconn` (4096 by default since Linux 5.4).
const BACKLOG: u32 = 4096;

/// The webhook listener: like `TcpListener::bind` (`SO_REUSEADDR`), with [`BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// A server with its listeners bound and its certificate loaded, not yet serving.
pub struct Server {
    config: ServerConfig,
    state: AppState,
    listener: TcpListener,
    admin_listener: TcpListener,
    /// Re-reads the certificate files; `None` when the certificate is kept in memory.
    reloader: Option<Arc<CertReloader>>,
    acceptor: TlsAcceptor,
}

impl Server {
    /// Loads the certificate (failing start-up if it cannot) and binds both listeners.
    pub async fn bind(config: ServerConfig, state: AppState) -> Result<Self, ServeError> {
        let (resolver, reloader) = if let Some(resolver) = &config.resolver {
            (resolver.clone(), None)
        } else {
            let reloader = Arc::new(CertReloader::load(
                config.tls_cert.clone(),
                config.tls_key.clone(),
                state.metrics.clone(),
            )?);
            (reloader.resolver(), Some(reloader))
        };
        let client_cas = config
            .client_ca
            .as_deref()
            .map(tls::load_client_cas)
            .transpose()?;
        let tls_config = tls::server_config(resolver, client_cas.as_deref())?;
        let failed = |addr: SocketAddr| {
            move |e: std::io::Error| ServeError::Bind {
                addr,
                message: e.to_string(),
            }
        };
        let listener = listen(config.listen).map_err(failed(config.listen))?;
        let admin_listener = TcpListener::bind(config.admin_listen)
            .await
            .map_err(failed(config.admin_listen))?;
        state.readiness.set_tls_bound();
        Ok(Self {
            config,
            state,
            listener,
            admin_listener,
            reloader,
            acceptor: TlsAcceptor::from(Arc::new(tls_config)),
        })
    }

    /// The HTTPS address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin_listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn reloader(&self) -> Option<Arc<CertReloader>> {
        self.reloader.clone()
    }

    /// Serves until `shutdown` resolves, then: `/readyz` 503 at once, keep accepting for
    /// `shutdown_delay`, stop accepting, let in-flight requests finish within `shutdown_grace`.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Self {
            config,
            state,
            listener,
            admin_listener,
            reloader,
            acceptor,
        } = self;
        let reload_task = reloader.map(|r| tokio::spawn(r.run(config.tls_reload_interval)));
        let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin = tokio::spawn(
            axum::serve(admin_listener, admin::router(state.clone()))
                .with_graceful_shutdown(async move {
                    let _ = admin_stopped.await;
                })
                .into_future(),
        );
        tracing::info!(listen = %config.listen, admin = %config.admin_listen, "serving");

        let stop =
            shutdown::stop_accepting(shutdown, state.readiness.clone(), config.shutdown_delay);
        let app = router(state.clone());
        let metrics = state.metrics.clone();
        let open = accept::accept_until(listener, acceptor, app, &config, metrics, stop).await;
        shutdown::drain(&open.slots, open.connections, config.shutdown_grace).await;
        if let Some(task) = reload_task {
            task.abort();
        }
        let _ = admin_stop.send(());
        let _ = admin.await;
        tracing::info!("stopped");
    }
}
