//! The accept loop: every connection is accepted at once and given a slot ([`super::slots`]) or
//! refused on the spot, so the kernel's backlog never holds the API server's connection behind a
//! flood. A slotted connection gets the TLS handshake (bounded in time), then HTTP/1.1 with
//! keep-alive through hyper under the read deadlines of [`super::conn`], in its own task, until
//! the client closes, a deadline passes, it is evicted, or shutdown asks it to finish.
//!
//! The loop runs on a thread of its own with a one-thread runtime: when a flood of handshakes
//! keeps the workers busy, accepting must not wait for them (or for their turn to poll for IO),
//! or the backlog fills and the kernel drops the API server's SYN (a 1 s retransmission, seen
//! on loopback). Accepted connections move to the main runtime, where they are served.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::conn::{Deadlines, TimedIo};
use super::metrics::Metrics;
use super::refusals::Stage;
use super::router::ClientAddr;
use super::server::ServerConfig;
use super::slots::{Conn, Slot, Slots};

/// Most of a request hyper buffers per connection, headers included (larger headers get 431;
/// the API server's are well under 1 KiB). hyper reads ahead into this buffer and one body
/// chunk before the handler asks: with its default (~400 KiB), connections whose handler waits
/// for the memory budget held a whole 182 KiB body each outside the budget (+8 MiB at 16
/// connections in the load benchmark); now at most this, beside rustls' 16 KiB.
const READ_BUFFER: usize = 16 * 1024;

/// What every connection task shares.
#[derive(Clone)]
struct Shared {
    acceptor: TlsAcceptor,
    app: Router,
    metrics: Arc<Metrics>,
    handshake_timeout: Duration,
    deadlines: Deadlines,
}

/// What the accept loop leaves behind for the drain.
pub(super) struct Open {
    pub slots: Arc<Slots>,
    pub connections: JoinSet<()>,
}

/// Accepts and serves connections until `stop` resolves. Must run in the runtime that is to
/// serve the connections.
pub(super) async fn accept_until(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    config: &ServerConfig,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) -> Open {
    let slots = Slots::new(
        config.max_connections,
        config.max_connections_per_source,
        metrics.clone(),
    );
    let shared = Shared {
        acceptor,
        app,
        metrics,
        handshake_timeout: config.handshake_timeout,
        deadlines: Deadlines {
            first_request: config.first_request_timeout,
            headers: config.header_read_timeout,
            idle: config.idle_timeout,
        },
    };
    let (stopped, stop_rx) = oneshot::channel();
    let (done, done_rx) = oneshot::channel();
    let accepting = AcceptThread {
        main: Handle::current(),
        slots: slots.clone(),
        shared,
    };
    let spawned = listener.into_std().and_then(|listener| {
        std::thread::Builder::new()
            .name("accept".into())
            .spawn(move || {
                let _ = done.send(accepting.run(listener, stop_rx));
            })
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the accept thread; not serving");
    }
    stop.await;
    let _ = stopped.send(());
    Open {
        slots,
        connections: done_rx.await.unwrap_or_default(),
    }
}

/// The accept loop's thread.
struct AcceptThread {
    main: Handle,
    slots: Arc<Slots>,
    shared: Shared,
}

impl AcceptThread {
    /// Accepts until `stop`, then closes the listener; returns the connections still open.
    fn run(self, listener: std::net::TcpListener, stop: oneshot::Receiver<()>) -> JoinSet<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let mut connections = JoinSet::new();
        match runtime {
            Ok(runtime) => runtime.block_on(self.accept(listener, stop, &mut connections)),
            Err(e) => tracing::error!(error = %e, "cannot start the accept runtime; not serving"),
        }
        connections
    }

    async fn accept(
        &self,
        listener: std::net::TcpListener,
        stop: oneshot::Receiver<()>,
        connections: &mut JoinSet<()>,
    ) {
        let listener = match TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => return tracing::error!(error = %e, "cannot listen; not serving"),
        };
        let mut stop = pin!(stop);
        loop {
            while connections.try_join_next().is_some() {}
            let (tcp, peer) = tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, most likely: give closing connections a moment.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            match self.slots.admit(peer) {
                Ok(slot) => {
                    let _ = tcp.set_nodelay(true);
                    // Registered again with the main runtime's reactor, inside its task.
                    let Ok(tcp) = tcp.into_std() else { continue };
                    let shared = self.shared.clone();
                    connections.spawn_on(serve_std(tcp, slot, shared), &self.main);
                }
                Err(limit) => {
                    // A reset, not a FIN: the client learns at once, and no TIME_WAIT is left.
                    let _ = tcp.set_zero_linger();
                    drop(tcp);
                    self.shared.metrics.refusals.connection_refused(limit, peer);
                }
            }
        }
    }
}

async fn serve_std(tcp: std::net::TcpStream, slot: Slot, shared: Shared) {
    match TcpStream::from_std(tcp) {
        Ok(tcp) => serve_connection(tcp, slot, shared).await,
        Err(e) => tracing::warn!(error = %e, "cannot register an accepted connection"),
    }
}

/// One connection: TLS handshake, then HTTP/1.1 with keep-alive.
async fn serve_connection(tcp: TcpStream, slot: Slot, shared: Shared) {
    let conn = slot.conn().clone();
    let Some(tls) = handshake(tcp, &conn, &shared).await else {
        return;
    };
    conn.handshake_done();
    tracing::debug!(peer = %conn.peer(), "connection ready");
    let io = TimedIo::new(tls, conn.clone(), shared.deadlines);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Our TimedIo tells slow headers from idle keep-alive; hyper's timer cannot.
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size(READ_BUFFER);
    let http = builder.serve_connection(TokioIo::new(io), service(&conn, &shared.app));
    let mut http = pin!(http);
    let ended = tokio::select! {
        // Polled on every wake-up of the connection: no random order, the cheap check second.
        biased;
        ended = http.as_mut() => ended,
        () = conn.closing() => {
            // Closes at once when idle, else after the response in progress.
            http.as_mut().graceful_shutdown();
            http.await
        }
    };
    if let Some(stage) = conn.timed_out() {
        shared.metrics.refusals.timed_out(stage, conn.peer());
    } else if let Err(e) = ended {
        tracing::debug!(peer = %conn.peer(), error = %e, "connection ended with an error");
    }
    drop(slot);
}

/// The TLS handshake within its timeout; `None` when it failed, timed out, or the connection was
/// evicted or the server drains meanwhile.
async fn handshake(
    tcp: TcpStream,
    conn: &Conn,
    shared: &Shared,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let peer = conn.peer();
    let handshake = tokio::time::timeout(shared.handshake_timeout, shared.acceptor.accept(tcp));
    tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                shared.metrics.refusals.timed_out(Stage::Handshake, peer);
                None
            }
        },
        () = conn.closing() => None,
    }
}

/// The router as a hyper service for one connection: each request carries the client's address
/// and marks the connection busy while it is handled.
fn service(
    conn: &Arc<Conn>,
    app: &Router,
) -> impl hyper::service::Service<
    axum::http::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    let conn = conn.clone();
    let app = app.clone();
    hyper::service::service_fn(move |mut request: axum::http::Request<Incoming>| {
        request.extensions_mut().insert(ClientAddr(conn.peer()));
        let in_flight = conn.start_request();
        let app = app.clone();
        async move {
            let response = tower::ServiceExt::oneshot(app, request).await;
            drop(in_flight);
            response
        }
    })
}
