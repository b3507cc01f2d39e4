//! The HTTPS webhook server: a tokio-rustls accept loop serving the axum [`router`] through
//! hyper-util, HTTP/1.1 with keep-alive, plus the admin listener and the certificate reloader.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::TimeoutLayer;

use super::conn::{Activity, TimedIo};
use super::review::{self, Endpoint};
use super::tls::{self, CertReloader};
use super::{AppState, admin};

/// How the server listens and behaves; `serve`'s flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Time allowed for a client to send the request headers, once it has started a request.
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection is kept; above the API server's 90 s, so the client
    /// closes first and never sends on a connection we are closing.
    pub idle_timeout: Duration,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// How often the certificate files are re-read.
    pub tls_reload_interval: Duration,
    /// After SIGTERM: keep accepting this long (with `/readyz` 503) while endpoints update.
    pub shutdown_delay: Duration,
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
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            tls_reload_interval: Duration::from_secs(30),
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// The webhook routes: `POST /validate`, `POST /mutate`. Other methods get 405, other paths 404.
pub fn router(state: AppState) -> Router {
    let timeout = state.limits.request_timeout;
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            // The safety net sits just above the inner deadline, which still answers properly.
            timeout + Duration::from_millis(500),
        ))
        .with_state(state)
}

async fn validate(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    handle(&state, Endpoint::Validate, query.as_deref(), body).await
}

async fn mutate(State(state): State<AppState>, RawQuery(query): RawQuery, body: Body) -> Response {
    handle(&state, Endpoint::Mutate, query.as_deref(), body).await
}

/// Reads `timeout=<N>s` (a Go duration: `10s`, `1m0s`, `500ms`) from the query string.
pub fn timeout_param(query: Option<&str>) -> Option<Duration> {
    let value = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("timeout="))?;
    parse_go_duration(value)
}

pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(n), 2)
        } else if rest.starts_with('s') {
            (Duration::from_secs(n), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(n.checked_mul(60)?), 1)
        } else if rest.starts_with('h') {
            (Duration::from_secs(n.checked_mul(3600)?), 1)
        } else {
            return None;
        };
        total = total.checked_add(unit)?;
        rest = &rest[len..];
    }
    Some(total)
}

fn plain(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        reason.to_owned(),
    )
        .into_response()
}

async fn handle(state: &AppState, endpoint: Endpoint, query: Option<&str>, body: Body) -> Response {
    let started = Instant::now();
    let limit = state.limits.max_body_bytes;
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            state
                .metrics
                .observe_rejection(endpoint.as_str(), "too_large");
            tracing::warn!(
                endpoint = endpoint.as_str(),
                limit,
                "request body over the limit"
            );
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body is larger than {limit} bytes"),
            );
        }
        Err(e) => {
            state
                .metrics
                .observe_rejection(endpoint.as_str(), "bad_request");
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("could not read the request body: {e}"),
            );
        }
    };
    let budget = timeout_param(query)
        .map_or(state.limits.request_timeout, |t| {
            t.min(state.limits.request_timeout)
        })
        .saturating_sub(started.elapsed());
    match review::answer(state, endpoint, &bytes, started, budget).await {
        Ok(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(unreadable) => plain(StatusCode::BAD_REQUEST, &unreadable.0),
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

/// A server with its listeners bound and its certificate loaded, not yet serving.
pub struct Server {
    config: ServerConfig,
    state: AppState,
    listener: TcpListener,
    admin_listener: TcpListener,
    reloader: Arc<CertReloader>,
    acceptor: TlsAcceptor,
}

impl Server {
    /// Loads the certificate (failing start-up if it cannot) and binds both listeners.
    pub async fn bind(config: ServerConfig, state: AppState) -> Result<Self, ServeError> {
        let reloader = Arc::new(CertReloader::load(
            config.tls_cert.clone(),
            config.tls_key.clone(),
            state.metrics.clone(),
        )?);
        let tls_config = tls::server_config(reloader.resolver())?;
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr).await.map_err(|e| ServeError::Bind {
                addr,
                message: e.to_string(),
            })
        };
        let listener = bind(config.listen).await?;
        let admin_listener = bind(config.admin_listen).await?;
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

    pub fn reloader(&self) -> Arc<CertReloader> {
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
        let reload_task = tokio::spawn(reloader.run(config.tls_reload_interval));
        let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin = tokio::spawn(
            axum::serve(admin_listener, admin::router(state.clone()))
                .with_graceful_shutdown(async move {
                    let _ = admin_stopped.await;
                })
                .into_future(),
        );
        tracing::info!(listen = %config.listen, admin = %config.admin_listen, "serving");

        let app = router(state.clone());
        let graceful = GracefulShutdown::new();
        let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let mut shutdown = std::pin::pin!(shutdown);
        let mut draining_until: Option<tokio::time::Instant> = None;
        let mut connections = tokio::task::JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            let accept = async {
                let permit = permits.clone().acquire_owned().await;
                (permit, listener.accept().await)
            };
            let (permit, accepted) = tokio::select! {
                () = &mut shutdown, if draining_until.is_none() => {
                    tracing::info!("shutdown requested; /readyz now reports 503");
                    state.readiness.set_shutting_down();
                    draining_until = Some(tokio::time::Instant::now() + config.shutdown_delay);
                    continue;
                }
                () = sleep_until(draining_until) => break,
                accepted = accept => accepted,
            };
            let Ok(permit) = permit else { break };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            connections.spawn(serve_connection(
                tcp,
                peer,
                acceptor.clone(),
                app.clone(),
                graceful.watcher(),
                ConnTimeouts::from(&config),
                permit,
            ));
        }
        drop(listener);
        tracing::info!("stopped accepting; draining in-flight requests");
        if tokio::time::timeout(config.shutdown_grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing the remaining connections");
        }
        connections.abort_all();
        reload_task.abort();
        let _ = admin_stop.send(());
        let _ = admin.await;
        tracing::info!("stopped");
    }
}

/// The per-connection timeouts of [`ServerConfig`].
#[derive(Debug, Clone, Copy)]
struct ConnTimeouts {
    handshake: Duration,
    header_read: Duration,
    idle: Duration,
}

impl From<&ServerConfig> for ConnTimeouts {
    fn from(config: &ServerConfig) -> Self {
        Self {
            handshake: config.handshake_timeout,
            header_read: config.header_read_timeout,
            idle: config.idle_timeout,
        }
    }
}

/// One connection: TLS handshake, then HTTP/1.1 with keep-alive until the client closes, a
/// deadline passes, or shutdown asks it to finish its request and close.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    watcher: hyper_util::server::graceful::Watcher,
    timeouts: ConnTimeouts,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let tls = match tokio::time::timeout(timeouts.handshake, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let activity = Arc::new(Activity::default());
    let io = TimedIo::new(tls, activity.clone(), timeouts.header_read, timeouts.idle);
    let service = hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
        let started = activity.start();
        let app = app.clone();
        async move {
            let response = tower::ServiceExt::oneshot(app, request).await;
            drop(started);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Our TimedIo tells slow headers from idle keep-alive; hyper's timer cannot.
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves on the first SIGTERM or SIGINT; a second signal exits at once.
pub async fn shutdown_signal() {
    wait_for_signal().await;
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second signal; exiting without draining");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Sleeps until `when`, or forever when there is no `when`.
async fn sleep_until(when: Option<tokio::time::Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_api_servers_timeout_query() {
        assert_eq!(
            timeout_param(Some("timeout=10s")),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            timeout_param(Some("a=b&timeout=1m0s")),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            timeout_param(Some("timeout=500ms")),
            Some(Duration::from_millis(500))
        );
        assert_eq!(timeout_param(Some("timeout=soon")), None);
        assert_eq!(timeout_param(Some("timeout=")), None);
        assert_eq!(timeout_param(Some("timeout=10")), None);
        assert_eq!(timeout_param(None), None);
    }
}
