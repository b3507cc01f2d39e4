//! The accept loop: TCP accept under the connection cap, the TLS handshake, then HTTP/1.1 with
//! keep-alive through hyper, each connection in its own task.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::conn::{Activity, TimedIo};
use super::server::ServerConfig;

/// The per-connection timeouts of [`ServerConfig`].
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnTimeouts {
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

/// What the accept loop leaves behind for the drain.
pub(super) struct Open {
    pub graceful: GracefulShutdown,
    pub connections: JoinSet<()>,
}

/// Accepts and serves connections until `stop` resolves; at most `max_connections` at once,
/// further ones wait in the kernel's backlog.
pub(super) async fn accept_until(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    config: &ServerConfig,
    stop: impl Future<Output = ()>,
) -> Open {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let timeouts = ConnTimeouts::from(config);
    let mut stop = std::pin::pin!(stop);
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let accept = async {
            let permit = permits.clone().acquire_owned().await;
            (permit, listener.accept().await)
        };
        let (permit, accepted) = tokio::select! {
            () = &mut stop => break,
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
            timeouts,
            permit,
        ));
    }
    Open {
        graceful,
        connections,
    }
}

/// One connection: TLS handshake, then HTTP/1.1 with keep-alive until the client closes, a
/// deadline passes, or shutdown asks it to finish its request and close.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    watcher: Watcher,
    timeouts: ConnTimeouts,
    _permit: OwnedSemaphorePermit,
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
