//! The JSON log line: the shape tracing-subscriber's JSON format writes with `flatten_event`
//! (`timestamp`, `level`, the event's fields in order, `target`), appended straight to the line.
//! tracing-subscriber's own builds each line through a serde map and formats every `%` field
//! into a `String` first; with one line per review that cost ~10% of the load benchmark's
//! throughput (BENCHMARKS.md). Only events are written: the webhook opens no spans.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The [`FormatEvent`] of `--log-format json`.
pub struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = String::with_capacity(384);
        line.push_str("{\"timestamp\":\"");
        crate::text::write_rfc3339(&mut line, SystemTime::now(), true);
        line.push_str("\",\"level\":\"");
        line.push_str(metadata.level().as_str());
        line.push('"');
        event.record(&mut Fields(&mut line));
        line.push_str(",\"target\":");
        string(&mut line, metadata.target());
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// Appends each field as `,"name":value`.
struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn key(&mut self, field: &Field) {
        self.0.push(',');
        string(self.0, field.name());
        self.0.push(':');
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        string(self.0, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.0, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.0.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        // JSON has no NaN or infinity; serde_json writes them as null too.
        if value.is_finite() {
            let _ = write!(self.0, "{value}");
        } else {
            self.0.push_str("null");
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        self.0.push('"');
        let _ = write!(Escaping(self.0), "{value}");
        self.0.push('"');
    }

    /// `%value`, `?value` and the message: formatted straight into the line, escaped.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.0.push('"');
        let _ = write!(Escaping(self.0), "{value:?}");
        self.0.push('"');
    }
}

/// Escapes what is written through it as the inside of a JSON string.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape(self.0, text);
        Ok(())
    }
}

fn string(out: &mut String, text: &str) {
    out.push('"');
    escape(out, text);
    out.push('"');
}

/// JSON string escaping as serde_json does it: quote, backslash and control characters.
fn escape(out: &mut String, text: &str) {
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `byte` is ASCII, so `i` is a character boundary.
        out.push_str(&text[start..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Map, Value};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// Every kind of field the webhook logs, with text that needs escaping.
    fn log_every_kind_of_field() {
        let error = std::io::Error::other("disk \"full\"");
        let error: &(dyn std::error::Error + 'static) = &error;
        tracing::info!(
            endpoint = "validate",
            uid = %"u-1\n\t\u{1}é",
            rules = %["a", "b"].join(","),
            patch_ops = 3_usize,
            latency_ms = 0_u64,
            delta = -4_i64,
            ratio = 0.25,
            ready = true,
            debug = ?Some("x"),
            error,
            "review of \"{}\"", "web"
        );
        tracing::warn!(reason = "slow \\ client", "refused");
    }

    /// Each line as an object, with its keys in the order the line has them.
    fn lines(
        subscriber: impl Subscriber + Send + Sync,
        buffer: &Buffer,
    ) -> Vec<(Map<String, Value>, Vec<String>)> {
        tracing::subscriber::with_default(subscriber, log_every_kind_of_field);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| {
                let Ok(Value::Object(map)) = serde_json::from_str(line) else {
                    panic!("not a JSON object line: {line}");
                };
                let mut keys: Vec<String> = map.keys().cloned().collect();
                keys.sort_by_key(|key| line.find(&format!("\"{key}\":")));
                (map, keys)
            })
            .collect()
    }

    #[test]
    fn lines_are_what_tracing_subscribers_json_format_writes() {
        let ours = Buffer::default();
        let theirs = Buffer::default();
        let mut our_lines = lines(
            tracing_subscriber::fmt()
                .with_writer(ours.clone())
                .event_format(JsonLine)
                .finish(),
            &ours,
        );
        let mut their_lines = lines(
            tracing_subscriber::fmt()
                .with_writer(theirs.clone())
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .finish(),
            &theirs,
        );
        assert_eq!(our_lines.len(), 2);
        assert_eq!(their_lines.len(), 2);
        for ((ours, our_keys), (theirs, their_keys)) in our_lines.iter_mut().zip(&mut their_lines) {
            // Same keys in the same order, and the same values but for the time.
            assert_eq!(our_keys, their_keys);
            let stamp = ours.remove("timestamp").unwrap();
            let stamp = stamp.as_str().unwrap();
            assert_eq!(stamp.len(), "2026-12-01T23:40:25.840909Z".len(), "{stamp}");
            assert!(
                stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
                "{stamp}"
            );
            theirs.remove("timestamp").unwrap();
            assert_eq!(ours, theirs);
        }
        let (review, _) = &our_lines[0];
        assert_eq!(review["uid"], "u-1\n\t\u{1}é");
        assert_eq!(review["message"], "review of \"web\"");
        assert_eq!(review["ratio"], 0.25);
    }
}
