//! Per-connection read deadlines that tell an idle keep-alive connection from a slow client.
//!
//! hyper's own `header_read_timeout` starts as soon as it waits for the next request, so it also
//! closes idle keep-alive connections after that short time. The API server's Go client keeps
//! idle connections for 90 s and may send on one just as we close it; a POST lost that way is
//! not retried and becomes a webhook failure. So here: once the first byte of a request has
//! arrived, its headers must be complete within `header_timeout`; a connection with nothing in
//! progress may stay idle for `idle_timeout` (longer than the client's idle timeout, so the
//! client closes first). While a request is being handled no read deadline applies (the
//! per-request timeout covers it).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the request handler tells the connection.
#[derive(Debug, Default)]
pub struct Activity {
    requests: AtomicU64,
    in_flight: AtomicBool,
}

impl Activity {
    /// Marks a request as started (its headers are parsed); dropping the guard marks it done.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.in_flight.store(true, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// Held while a request is handled.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.store(false, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Headers,
    Busy,
}

/// An IO stream with the read deadlines described in the module docs.
pub struct TimedIo<S> {
    inner: S,
    activity: Arc<Activity>,
    header_timeout: Duration,
    idle_timeout: Duration,
    seen_requests: u64,
    /// Bytes of a request whose headers are not parsed yet have arrived.
    partial: bool,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
}

impl<S> TimedIo<S> {
    pub fn new(
        inner: S,
        activity: Arc<Activity>,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            activity,
            header_timeout,
            idle_timeout,
            seen_requests: 0,
            partial: false,
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    fn enter(&mut self, phase: Phase) {
        if self.phase == phase {
            return;
        }
        self.phase = phase;
        let after = match phase {
            Phase::Idle => self.idle_timeout,
            Phase::Headers => self.header_timeout,
            Phase::Busy => return,
        };
        self.deadline.as_mut().reset(Instant::now() + after);
    }

    fn current_phase(&mut self) -> Phase {
        let requests = self.activity.requests.load(Ordering::SeqCst);
        if requests != self.seen_requests {
            // The request whose bytes we saw has been parsed.
            self.seen_requests = requests;
            self.partial = false;
        }
        if self.activity.in_flight.load(Ordering::SeqCst) {
            Phase::Busy
        } else if self.partial {
            Phase::Headers
        } else {
            Phase::Idle
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let phase = this.current_phase();
        this.enter(phase);
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && phase == Phase::Idle {
                    this.partial = true;
                    this.enter(Phase::Headers);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.phase != Phase::Busy && this.deadline.as_mut().poll(cx).is_ready() {
                    let what = if this.phase == Phase::Headers {
                        "request headers not complete in time"
                    } else {
                        "idle keep-alive connection timed out"
                    };
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
