//! Per-connection read deadlines that tell an idle keep-alive connection from a slow client.
//!
//! hyper's own `header_read_timeout` starts as soon as it waits for the next request, so it also
//! closes idle keep-alive connections after that short time. The API server's Go client keeps
//! idle connections for 90 s and may send on one just as we close it; a POST lost that way is
//! not retried and becomes a webhook failure. So here, four deadlines:
//!
//! - after the TLS handshake, the first request must start within `first_request_timeout` (the
//!   API server dials a connection to send a request on it, so a connection that sends nothing
//!   is not the API server's, or is a spare it may never use);
//! - once the first byte of a request has arrived, its headers must be complete within
//!   `header_timeout`;
//! - a connection with nothing in progress may stay idle for `idle_timeout` (longer than the
//!   client's idle timeout, so the client closes first);
//! - while a request is being handled no read deadline applies (the body's rate floor and the
//!   per-request timeout cover it).
//!
//! The phase is shared with the slot table through [`Conn`], so only idle connections are ever
//! evicted.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::refusals::Stage;
use super::slots::{Conn, Phase};

/// The read deadlines of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub first_request: Duration,
    pub headers: Duration,
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    FirstRequest,
    Headers,
    Idle,
    Busy,
}

/// An IO stream with the read deadlines described in the module docs.
pub struct TimedIo<S> {
    inner: S,
    conn: Arc<Conn>,
    deadlines: Deadlines,
    seen_requests: u64,
    /// Bytes of a request whose headers are not parsed yet have arrived.
    partial: bool,
    wait: Wait,
    deadline: Pin<Box<Sleep>>,
}

impl<S> TimedIo<S> {
    /// Wraps a stream whose TLS handshake has just completed.
    pub fn new(inner: S, conn: Arc<Conn>, deadlines: Deadlines) -> Self {
        Self {
            inner,
            conn,
            deadlines,
            seen_requests: 0,
            partial: false,
            wait: Wait::FirstRequest,
            deadline: Box::pin(tokio::time::sleep(deadlines.first_request)),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    fn enter(&mut self, wait: Wait) {
        if self.wait == wait {
            return;
        }
        self.wait = wait;
        let after = match wait {
            Wait::FirstRequest => self.deadlines.first_request,
            Wait::Idle => self.deadlines.idle,
            Wait::Headers => self.deadlines.headers,
            Wait::Busy => return,
        };
        self.deadline.as_mut().reset(Instant::now() + after);
    }

    fn current_wait(&mut self) -> Wait {
        let requests = self.conn.requests();
        if requests != self.seen_requests {
            // The request whose bytes we saw has been parsed.
            self.seen_requests = requests;
            self.partial = false;
        }
        if self.conn.phase() == Phase::Busy {
            Wait::Busy
        } else if self.partial {
            Wait::Headers
        } else if requests == 0 {
            Wait::FirstRequest
        } else {
            Wait::Idle
        }
    }

    fn timed_out(&self) -> io::Error {
        let (stage, what) = match self.wait {
            Wait::FirstRequest => (
                Stage::FirstRequest,
                "no request in time after the handshake",
            ),
            Wait::Headers => (Stage::Headers, "request headers not complete in time"),
            Wait::Idle | Wait::Busy => (Stage::KeepAlive, "idle keep-alive connection timed out"),
        };
        self.conn.set_timed_out(stage);
        io::Error::new(io::ErrorKind::TimedOut, what)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let wait = this.current_wait();
        this.enter(wait);
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let idle = matches!(wait, Wait::FirstRequest | Wait::Idle);
                if buf.filled().len() > before && idle {
                    this.partial = true;
                    this.conn.request_bytes_arrived();
                    this.enter(Wait::Headers);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.wait != Wait::Busy && this.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(this.timed_out()));
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
