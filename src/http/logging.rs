//! Log set-up: `tracing` with an `EnvFilter` (`RUST_LOG`, default `info`), JSON or plain lines.
//!
//! Reviews log one line each (see [`super::review`]); objects and Secret data are never logged.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

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

/// Installs the global subscriber (once, from `serve`). A second call is ignored.
pub fn init(format: LogFormat) {
    let _ =
        tracing::subscriber::set_global_default(subscriber(wants_json(format), std::io::stdout));
}
