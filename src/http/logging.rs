//! Log set-up: `tracing` with an `EnvFilter` (`RUST_LOG`, default `info`), JSON or plain lines.
//!
//! Reviews log one line each (see [`super::review`]); objects and Secret data are never logged.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Log line format; `auto` is human on a terminal and JSON otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Plain,
}

/// True when `format` means JSON here: `auto` is JSON unless standard output is a terminal.
pub fn wants_json(format: LogFormat) -> bool {
    match format {
        LogFormat::Json => true,
        LogFormat::Plain => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// A subscriber writing to `writer`; tests pass a buffer.
pub fn subscriber<W>(json: bool, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(writer);
    if json {
        Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .finish(),
        )
    } else {
        Box::new(builder.with_ansi(false).finish())
    }
}

/// Lines the log writer holds before a review waits for it: far more than a burst produces,
/// small enough to bound memory if standard output stalls.
const BUFFERED_LINES: usize = 8 * 1024;

/// Installs the global subscriber (once, from `serve`). A second call is ignored.
///
/// Lines go to standard output from a writer thread, batched through a buffer: a review no
/// longer waits for a `write` per line (a pipe to the container runtime can stall; in the load
/// benchmark the per-line write cost a fifth of the throughput). Keep the guard until exit: it
/// flushes what is left. Lines are never dropped: when the buffer is full, a review waits.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("log-writer")
        .finish(BufWriter::new(std::io::stdout()));
    let _ = tracing::subscriber::set_global_default(subscriber(wants_json(format), writer));
    guard
}
