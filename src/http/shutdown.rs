//! Shutdown: the signals that start it, the delay while endpoints update, and the bounded drain of
//! in-flight requests.
//!
//! On the first SIGTERM or SIGINT `/readyz` turns 503 at once; the server keeps accepting for
//! `shutdown_delay` (kube-proxy and the API server's endpoint list take a moment to drop the pod),
//! then stops accepting and lets in-flight requests finish within `shutdown_grace`. A second signal
//! exits at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::Readiness;
use super::slots::Slots;

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

/// Resolves when the server must stop accepting: `delay` after `requested`, with `/readyz`
/// reporting 503 from the moment `requested` resolves.
pub async fn stop_accepting(
    requested: impl Future<Output = ()>,
    readiness: Arc<Readiness>,
    delay: Duration,
) {
    requested.await;
    tracing::info!("shutdown requested; /readyz now reports 503");
    readiness.set_shutting_down();
    tokio::time::sleep(delay).await;
}

/// Asks every connection to finish its request and close, waits at most `grace`, then closes
/// whatever is left.
pub async fn drain(slots: &Slots, mut connections: JoinSet<()>, grace: Duration) {
    tracing::info!("stopped accepting; draining in-flight requests");
    slots.close_all();
    let finished = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!("grace period over; closing the remaining connections");
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}
