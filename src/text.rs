//! Small text helpers shared by the rules, the HTTP layer and the command line: messages must stay
//! short and on one line, misspelt names get a "did you mean", and durations are read the way Go
//! writes them.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// Longest admission warning: the API server's advice.
pub const MAX_WARNING_CHARS: usize = 120;

/// `text` cut to at most `max_chars` characters, ending in `…` when it was cut.
pub fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Levenshtein distance over chars, for short names.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Collapses whitespace (newlines included) so a text fits on one line.
pub fn one_line(text: &str) -> String {
    // Nearly every message is one line already: a few byte scans, then one copy (splitting
    // each deny message into words and joining them was 4% of a denied review).
    if is_one_line(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// True when [`one_line`] would leave `text` as it is: ASCII, single spaces between words, no
/// other whitespace (Unicode whitespace is left to the slow path).
fn is_one_line(text: &str) -> bool {
    text.is_ascii()
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.contains("  ")
        && !text
            .bytes()
            .any(|b| matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r'))
}

/// The candidate closest to `word` within `max_distance` edits (an exact match first).
pub fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
    max_distance: usize,
) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= max_distance)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` (did you mean X?)` for the closest candidate, allowing more edits for longer names; empty
/// when nothing is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(" (did you mean {c}?)"))
        .unwrap_or_default()
}

/// Reads a Go duration as the API server writes it (`10s`, `1m0s`, `500ms`, `1h30m`): one or more
/// whole numbers each followed by `h`, `m`, `s` or `ms`. `None` for anything else, or on overflow.
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

/// `time` as RFC 3339 in UTC, seconds precision (`2026-12-01T17:09:06Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let mut text = String::with_capacity(20);
    write_rfc3339(&mut text, time, false);
    text
}

/// Appends `time` as RFC 3339 in UTC, with microseconds when `micros` (`...T17:09:06.840909Z`,
/// as tracing-subscriber stamps its JSON lines). Times before 1970 count as 1970.
pub fn write_rfc3339(out: &mut String, time: SystemTime, micros: bool) {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or_default();
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
    if micros {
        let _ = write!(out, ".{:06}", since.subsec_micros());
    }
    out.push('Z');
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A Kubernetes object name of the DNS-1123 subdomain form (Secrets, Services, Ingresses): at
/// most 253 characters of lowercase letters, digits, `-` and `.`, each dot-separated part
/// starting and ending with a letter or digit. Nothing else can name an object, so nothing else
/// is ever put into an API path.
pub fn is_object_name(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(|label| is_dns_label_chars(label, 253))
}

/// A namespace name: a DNS-1123 label (at most 63 characters, no dots).
pub fn is_namespace_name(name: &str) -> bool {
    is_dns_label_chars(name, 63)
}

fn is_dns_label_chars(label: &str, max: usize) -> bool {
    let bytes = label.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    label.len() <= max
        && edge(bytes.first())
        && edge(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::{is_namespace_name, is_object_name};

    #[test]
    fn object_and_namespace_names_are_what_the_api_server_accepts() {
        for good in ["web-cert", "a", "tls.example.com", "0abc", &"a".repeat(253)] {
            assert!(is_object_name(good), "{good}");
        }
        for bad in [
            "",
            "../../kube-system/secrets/victim",
            "victim?x=1",
            "Web-Cert",
            "-x",
            "x-",
            "a..b",
            "a/b",
            "a b",
            &"a".repeat(254),
        ] {
            assert!(!is_object_name(bad), "{bad}");
        }
        assert!(is_namespace_name("kube-system"));
        assert!(!is_namespace_name("a.b") && !is_namespace_name(&"a".repeat(64)));
    }

    use super::*;

    #[test]
    fn shorten_keeps_short_text_and_marks_a_cut() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("äöüß", 2).chars().count(), 2);
    }

    #[test]
    fn edit_distance_counts_single_char_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("qcloud", "qclod"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn one_line_and_suggestions() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
        for (text, line) in [
            ("a b: c", "a b: c"),
            ("", ""),
            ("  ", ""),
            (" a", "a"),
            ("a\u{0B}b\u{0C}c\rd", "a b c d"),
            ("é  x", "é x"),
            ("a\u{a0}b", "a b"),
        ] {
            assert_eq!(one_line(text), line, "{text:?}");
            assert_eq!(
                one_line(text),
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
        assert_eq!(
            closest("qclod", ["nginx", "qcloud"].into_iter(), 2),
            Some("qcloud")
        );
        assert_eq!(closest("zzz", ["qcloud"].into_iter(), 2), None);
        assert_eq!(
            did_you_mean("host-gramar", ["host-grammar", "path-grammar"].into_iter()),
            " (did you mean host-grammar?)"
        );
        assert_eq!(did_you_mean("x", ["host-grammar"].into_iter()), "");
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_972_146);
        assert_eq!(rfc3339(t), "2026-11-29T17:09:06Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
        let mut stamped = String::new();
        write_rfc3339(&mut stamped, t + Duration::from_nanos(840_909_999), true);
        assert_eq!(stamped, "2026-11-29T17:09:06.840909Z");
    }

    #[test]
    fn go_durations_as_the_api_server_writes_them() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        for bad in [
            "",
            "10",
            "s",
            "soon",
            "1.5s",
            "-1s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }
}
