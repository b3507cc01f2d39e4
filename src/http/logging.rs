//! Log set-up: `tracing` with an `EnvFilter` (`RUST_LOG`, default `info`), JSON or plain lines.
//!
//! Reviews log one line each (see [`super::review`]); objects and Secret data are never logged.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

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
        Box::new(builder.event_format(super::log_line::JsonLine).finish())
    } else {
        Box::new(builder.with_ansi(false).finish())
    }
}

/// Bytes of log lines held before the review that adds more writes them out itself: far more
/// than a burst produces between two flushes, small enough to bound memory if standard output
/// stalls.
const BUFFERED_BYTES: usize = 4 * 1024 * 1024;

/// How often the writer thread writes what the reviews logged.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// How long exit waits for the last lines: a stalled standard output must not keep the process
/// alive until the kubelet kills it (tracing-appender's guard waited one second too).
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// Installs the global subscriber (once, from `serve`). A second call is ignored.
///
/// A review appends its line to a shared buffer; a writer thread writes the buffer to standard
/// output every [`FLUSH_EVERY`]. A review never waits for a `write` (a pipe to the container
/// runtime can stall; in the load benchmark the per-line write cost a fifth of the throughput)
/// nor wakes a thread per line (on one core the wake-up per line cost another tenth). Keep the
/// guard until exit: it writes what is left. Lines are never dropped: when the buffer is full,
/// the review that finds it so writes it out itself, in order.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat) -> LogGuard {
    let batched = Batched::new(std::io::stdout());
    let guard = batched.start();
    let _ = tracing::subscriber::set_global_default(subscriber(wants_json(format), batched));
    guard
}

/// Log lines batched in memory for a writer thread.
#[derive(Clone)]
pub struct Batched {
    shared: Arc<Shared>,
}

struct Shared {
    /// Lines not yet written.
    pending: Mutex<Vec<u8>>,
    /// Held while a batch is taken and written, so batches reach the output in order.
    output: Mutex<Box<dyn Write + Send>>,
    stop: Mutex<bool>,
    stopped: Condvar,
}

impl Batched {
    pub fn new(output: impl Write + Send + 'static) -> Self {
        Self {
            shared: Arc::new(Shared {
                pending: Mutex::new(Vec::new()),
                output: Mutex::new(Box::new(output)),
                stop: Mutex::new(false),
                stopped: Condvar::new(),
            }),
        }
    }

    /// Starts the writer thread; the guard stops it and writes what is left.
    pub fn start(&self) -> LogGuard {
        let shared = self.shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                loop {
                    // The stop flag is not held while writing: a stalled write must not keep
                    // the guard from setting it.
                    let stopping = {
                        let stop = lock(&shared.stop);
                        *shared
                            .stopped
                            .wait_timeout_while(stop, FLUSH_EVERY, |stop| !*stop)
                            .map_or_else(|e| e.into_inner().0, |(guard, _)| guard)
                    };
                    shared.write_out();
                    if stopping {
                        break;
                    }
                }
            })
            .ok();
        LogGuard {
            shared: self.shared.clone(),
            thread,
        }
    }
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Writes the pending lines. Errors are dropped: there is nowhere left to report them.
    fn write_out(&self) {
        let mut output = lock(&self.output);
        let batch = std::mem::take(&mut *lock(&self.pending));
        if !batch.is_empty() {
            let _ = output.write_all(&batch);
            let _ = output.flush();
        }
    }
}

/// One line being logged: appended to the pending lines as a whole.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut pending = lock(&self.shared.pending);
            pending.extend_from_slice(bytes);
            pending.len() >= BUFFERED_BYTES
        };
        if full {
            self.shared.write_out();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

/// Stops the log writer on drop, after writing every pending line.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.stopped.notify_all();
        let Some(thread) = self.thread.take() else {
            self.shared.write_out();
            return;
        };
        let deadline = std::time::Instant::now() + EXIT_WAIT;
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // A writer still blocked in a write holds the output: the rest of the lines are lost.
        if thread.is_finished() {
            let _ = thread.join();
            self.shared.write_out();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer tests can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_reaches_the_output_in_order_by_the_time_the_guard_is_dropped() {
        let sink = Sink::default();
        let batched = Batched::new(sink.clone());
        let guard = batched.start();
        let lines: Vec<String> = (0..2000).map(|i| format!("line {i}\n")).collect();
        for line in &lines {
            batched.make_writer().write_all(line.as_bytes()).unwrap();
        }
        drop(guard);
        assert_eq!(
            String::from_utf8(lock(&sink.0).clone()).unwrap(),
            lines.concat()
        );
    }

    /// An output whose writes never return, as a standard output nobody reads.
    struct Stalled(std::sync::mpsc::Receiver<()>);

    impl Write for Stalled {
        fn write(&mut self, _bytes: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Err(std::io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn exit_does_not_wait_for_a_stalled_output() {
        let (_never, receiver) = std::sync::mpsc::channel();
        let batched = Batched::new(Stalled(receiver));
        let guard = batched.start();
        batched.make_writer().write_all(b"line\n").unwrap();
        // Let the writer thread take the line and block in the write.
        std::thread::sleep(FLUSH_EVERY * 3);
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(guard);
            let _ = done.send(());
        });
        assert!(
            dropped.recv_timeout(Duration::from_secs(30)).is_ok(),
            "dropping the guard waited for the stalled output"
        );
    }

    #[test]
    fn a_full_buffer_is_written_out_by_the_line_that_fills_it() {
        let sink = Sink::default();
        // No writer thread: only a full buffer reaches the output.
        let batched = Batched::new(sink.clone());
        let line = vec![b'x'; BUFFERED_BYTES / 2];
        batched.make_writer().write_all(&line).unwrap();
        assert!(lock(&sink.0).is_empty());
        batched.make_writer().write_all(&line).unwrap();
        assert_eq!(lock(&sink.0).len(), BUFFERED_BYTES);
    }
}
