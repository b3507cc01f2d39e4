//! Hosts, paths and rule counts as CLB accepts them (docs/tke-behaviour.md §6).

use std::collections::{BTreeMap, HashMap, HashSet};

use foldhash::fast::RandomState;

use crate::ingress::listeners::{Listener, PortRef, SpecPath};
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::{Finding, Severity};

const MAX_HOST_LEN: usize = 80;
/// CLB's URL limit; TKE's own E4031 text says 120, so 121..=200 only warns.
const MAX_PATH_LEN: usize = 200;
const TKE_PATH_LEN: usize = 120;
const RULES_PER_LISTENER: usize = 50;

pub fn host_grammar(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (i, rule) in ctx.rules.iter().enumerate() {
        if let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) {
            check_host(host, || format!("spec.rules[{i}].host"), out);
        }
    }
    for entry in ctx.entries() {
        if !entry.host.is_empty() {
            check_host(&entry.host, || format!("{}.host", entry.field()), out);
        }
    }
}

/// Plain paths are held to CLB's prefix grammar. A spec path that an entry with `pathType`
/// selects is a regex, exact or prefix rule: it still starts with / and fits the length, but may
/// hold regex characters; the entry's own path may carry a `~`, `~*` or `=` marker and only warns
/// when it fits no form (docs/tke-behaviour.md §3.4, §6.2).
pub fn path_grammar(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for path in ctx.spec_paths() {
        if let Some(url) = path.path.path.as_deref().filter(|p| !p.is_empty()) {
            let typed = ctx.entries().any(|e| e.path_type && e.matches(&path));
            let field = || format!("{}.path", path.field());
            if typed {
                check_typed_path(url, field, Severity::Deny, out);
            } else {
                check_path(url, field, out);
            }
        }
    }
    for entry in ctx.entries() {
        let field = || format!("{}.path", entry.field());
        if entry.path_type {
            let unmarked = ["~*", "~", "="]
                .iter()
                .find_map(|marker| entry.path.strip_prefix(marker))
                .unwrap_or(&entry.path);
            check_typed_path(unmarked, field, Severity::Warn, out);
        } else {
            check_path(&entry.path, field, out);
        }
    }
}

/// A regex, exact or prefix rule's path: it starts with / and fits CLB's length; which
/// characters a regex may hold is CLB's to say.
fn check_typed_path(
    path: &str,
    field: impl FnOnce() -> String,
    severity: Severity,
    out: &mut Vec<Finding>,
) {
    let problem = if !path.starts_with('/') {
        format!("{path:?} does not start with / (after any ~, ~* or = marker)")
    } else if path.len() > MAX_PATH_LEN {
        format!(
            "is {} characters; CLB paths are at most {MAX_PATH_LEN}",
            path.len()
        )
    } else {
        return;
    };
    let finding = Finding::new(
        &c::PATH_GRAMMAR,
        field(),
        problem,
        "start the path with / (~/, ~*/ or =/ in the entry for regex and exact rules)",
    );
    out.push(if severity == Severity::Warn {
        Finding {
            tke_code: None,
            ..finding.with_severity(severity)
        }
    } else {
        finding
    });
}

/// `field` is called only for a finding: a clean host costs no allocation.
fn check_host(host: &str, field: impl FnOnce() -> String, out: &mut Vec<Finding>) {
    let problem = if host.len() > MAX_HOST_LEN {
        format!(
            "is {} characters; CLB domains are at most {MAX_HOST_LEN}",
            host.len()
        )
    } else if !is_tke_host(host) {
        if host.contains('.') {
            format!("{host:?} is not a domain name TKE accepts")
        } else {
            format!("{host:?} has no dot; TKE needs a domain such as {host}.example.com")
        }
    } else {
        return;
    };
    out.push(Finding::new(
        &c::HOST_GRAMMAR,
        field(),
        problem,
        "use a lowercase domain with at least one dot (a leading *. is allowed), or omit host for the CLB's default domain",
    ));
}

/// TKE's E4052 pattern: `(\*|label)(\.label)+` with DNS labels of `[a-z0-9-]`.
fn is_tke_host(host: &str) -> bool {
    let mut labels = host.split('.');
    let first_ok = labels.next().is_some_and(|l| l == "*" || is_label(l));
    let mut rest = labels.peekable();
    first_ok && rest.peek().is_some() && rest.all(is_label)
}

fn is_label(label: &str) -> bool {
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = label.as_bytes();
    bytes.first().copied().is_some_and(ok)
        && bytes.last().copied().is_some_and(ok)
        && bytes.iter().all(|&c| ok(c) || c == b'-')
}

/// `field` is called only for a finding.
fn check_path(path: &str, field: impl FnOnce() -> String, out: &mut Vec<Finding>) {
    let clb_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '=' | '?' | ':');
    let (problem, severity) = if !path.starts_with('/') {
        (format!("{path:?} does not start with /"), Severity::Deny)
    } else if let Some(bad) = path.chars().find(|c| !clb_char(*c)) {
        let hint = if "*()[]^$+|~".contains(bad) {
            "; a prefix needs no * (a regex needs a rule-mix entry with pathType)"
        } else {
            ""
        };
        (
            format!("{path:?} has {bad:?}, which CLB does not accept in a path{hint}"),
            Severity::Deny,
        )
    } else if path.len() > MAX_PATH_LEN {
        (
            format!(
                "is {} characters; CLB paths are at most {MAX_PATH_LEN}",
                path.len()
            ),
            Severity::Deny,
        )
    } else if path.len() > TKE_PATH_LEN {
        (
            format!(
                "is {} characters; TKE documents at most {TKE_PATH_LEN}",
                path.len()
            ),
            Severity::Warn,
        )
    } else {
        return;
    };
    out.push(
        Finding::new(
            &c::PATH_GRAMMAR,
            field(),
            problem,
            "start with / and use only A-Z a-z 0-9 . - _ / = ? : (a prefix such as /api matches /api/...)",
        )
        .with_severity(severity),
    );
}

pub fn rule_without_http(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (i, rule) in ctx.rules.iter().enumerate() {
        if rule.http.as_ref().is_none_or(|h| h.paths.is_empty()) {
            out.push(Finding::new(
                &c::RULE_WITHOUT_HTTP,
                format!("spec.rules[{i}]"),
                "has no http paths; TKE cannot make a CLB rule from it",
                "add http.paths with a backend, or remove the rule",
            ));
        }
    }
    // E4013 is documented for an empty rules[].http; a default backend alone has no code
    // (docs/tke-behaviour.md §5.3, §7).
    if ctx.rules.is_empty() && ctx.default_backend.is_some() {
        out.push(Finding {
            tke_code: None,
            ..Finding::new(
                &c::RULE_WITHOUT_HTTP,
                "spec.defaultBackend",
                "is the only backend; TKE makes CLB rules only from spec.rules",
                "add a rule with http.paths (omit host for the CLB's default domain)",
            )
        });
    }
}

/// `(service, port)` of a spec path.
type BackendKey<'a> = Option<(&'a str, PortRef<'a>)>;

/// The same host and path sent to two different backends on one listener.
pub fn duplicate_route(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // Keys from the request, hashed with a random seed (foldhash: SipHash was most of the cost
    // of this rule on a 500-rule Ingress).
    // Sized for a path per rule: growing it was a tenth of this rule on 500 rules.
    let mut first: HashMap<(Listener, &str, &str), (SpecPath<'_>, BackendKey<'_>), RandomState> =
        HashMap::with_capacity_and_hasher(ctx.rules.len(), RandomState::default());
    for path in ctx.spec_paths() {
        let backend = path.backend_ref();
        for listener in ctx.layout.listeners_of(&path) {
            match first.get(&(listener, path.host, path.url)) {
                Some((earlier, seen)) if *seen != backend => {
                    out.push(Finding::new(
                        &c::DUPLICATE_ROUTE,
                        format!("{}.path", path.field()),
                        format!(
                            "host {:?} path {:?} on {listener} is already routed elsewhere by {}",
                            path.host,
                            path.url,
                            earlier.field()
                        ),
                        "give each host+path one backend",
                    ));
                    break;
                }
                Some(_) => {}
                None => {
                    first.insert((listener, path.host, path.url), (path, backend));
                }
            }
        }
    }
}

pub fn listener_rule_quota(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // Sets, not lists: cost stays linear in the request's rules.
    let mut rules: BTreeMap<Listener, HashSet<(&str, &str), RandomState>> = BTreeMap::new();
    for path in ctx.spec_paths() {
        for listener in ctx.layout.listeners_of(&path) {
            rules
                .entry(listener)
                .or_insert_with(|| {
                    HashSet::with_capacity_and_hasher(ctx.rules.len(), RandomState::default())
                })
                .insert((path.host, path.url));
        }
    }
    for (listener, routes) in rules {
        let count = routes.len();
        if count > RULES_PER_LISTENER {
            out.push(Finding::new(
                &c::LISTENER_RULE_QUOTA,
                "spec.rules",
                format!("puts {count} rules on the {listener} listener; CLB allows {RULES_PER_LISTENER} by default"),
                "split the Ingress, or raise the CLB quota by ticket first",
            ));
        }
    }
}

/// An IPv6 FullChain CLB has no default domain, so every rule needs a host (E4034).
pub fn ipv6_host_required(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let full_chain = ctx
        .json(keys::EXTENSIVE_PARAMETERS)
        .and_then(|v| v.get("AddressIPVersion"))
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.eq_ignore_ascii_case("IPv6FullChain"));
    if !full_chain {
        return;
    }
    for (i, rule) in ctx.rules.iter().enumerate() {
        if rule.host.as_deref().unwrap_or_default().is_empty() {
            out.push(Finding::new(
                &c::IPV6_HOST_REQUIRED,
                format!("spec.rules[{i}].host"),
                "is missing; an IPv6FullChain CLB has no default domain",
                "set a host on every rule",
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::testing::*;
    use serde_json::json;

    const PARAMETERS: &str = "kubernetes.io/ingress.extensiveParameters";

    fn numbered_paths(count: usize) -> Fixture {
        http().set(
            "/spec/rules/0/http/paths",
            (0..count).map(|i| path(&format!("/p{i}"), "web")).collect(),
        )
    }

    /// rule-mix with the spec path `url` selected by an http-rules entry of path `entry_path`
    /// (JSON text) that carries `pathType`.
    fn regex_rule(url: &str, entry_path: &str) -> Fixture {
        http().url(url).annotate("kubernetes.io/ingress.rule-mix", "true").annotate(
            "kubernetes.io/ingress.http-rules",
            &format!(
                r#"[{{"pathType":["RegexCaseSensitive"],"host":"www.example.com","path":{entry_path},
                    "backend":{{"serviceName":"web","servicePort":"80"}}}}]"#
            ),
        )
    }

    rule_cases! {
        host_grammar: HOST_GRAMMAR {
            fires no_dot: http().host("localhost") => "spec.rules[0].host";
            fires longer_than_80: http().host(&format!("{}.example.com", "a".repeat(70)));
            fires in_an_annotation: tls().annotate("kubernetes.io/ingress.http-rules",
                r#"[{"host":"localhost","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][0].host";
            clean dotted: http();
            clean wildcard: http().host("*.example.com");
            clean no_host: http().remove("/spec/rules/0/host");
        }
        path_grammar: PATH_GRAMMAR {
            fires glob: http().url("/api/*") => "spec.rules[0].http.paths[0].path";
            fires over_tke_length: http().url(&format!("/{}", "a".repeat(130)));
            fires regex_entry_without_slash: regex_rule("/api", r#""~api""#)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][0].path";
            fires regex_characters_without_path_type: http().url(r"/api/\d+");
            clean plain: http().url("/api/v1");
            clean query_characters: http().url("/api/v1?x=1:2");
            clean regex_rule_with_doubled_backslashes: regex_rule(r"/api/\d+", r#""/api/\\\\d+""#);
            clean regex_rule_with_marker: regex_rule("/CaseSensitive/API", r#""~/CaseSensitive/API""#);
        }
        rule_without_http: RULE_WITHOUT_HTTP {
            fires no_http: http().set("/spec/rules/0", json!({"host": "www.example.com"})) => "spec.rules[0]";
            fires default_backend_only: http().set("/spec", json!({"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}))
                => "spec.defaultBackend";
            clean with_paths: http();
        }
        duplicate_route: DUPLICATE_ROUTE {
            fires two_backends: http().paths([path("/", "lb")]) => "spec.rules[0].http.paths[1].path";
            clean same_backend_twice: http().paths([path("/", "web")]);
            clean other_path: http().paths([path("/api", "lb")]);
        }
        listener_rule_quota: LISTENER_RULE_QUOTA {
            fires fifty_one_rules: numbered_paths(51) => "spec.rules";
            clean fifty_rules: numbered_paths(50);
        }
        ipv6_host_required: IPV6_HOST_REQUIRED {
            fires no_host: http().remove("/spec/rules/0/host").annotate(PARAMETERS, r#"{"AddressIPVersion":"IPv6FullChain"}"#)
                => "spec.rules[0].host";
            clean with_host: http().annotate(PARAMETERS, r#"{"AddressIPVersion":"IPv6FullChain"}"#);
            clean ipv4: http().remove("/spec/rules/0/host").annotate(PARAMETERS, r#"{"AddressIPVersion":"IPV4"}"#);
        }
    }

    #[test]
    fn fifty_one_rules_warn_and_say_where() {
        let decision = numbered_paths(51).decide();
        assert!(decision.allowed());
        assert!(
            decision.warnings[0].contains("51 rules on the HTTP:80 listener"),
            "{:?}",
            decision.warnings
        );
    }

    #[test]
    fn a_long_deny_message_is_capped() {
        let fixture = http().set(
            "/spec/rules/0/http/paths",
            (0..14).map(|i| path(&format!("/p{i}*"), "web")).collect(),
        );
        let message = fixture.decide().deny_message.unwrap();
        assert!(
            message.starts_with("spec.rules[0].http.paths[0].path: "),
            "{message}"
        );
        assert_eq!(message.matches("[path-grammar]").count(), 10, "{message}");
        assert!(message.ends_with("; …and 4 more"), "{message}");
    }

    #[test]
    fn host_grammar_follows_e4052() {
        for ok in [
            "www.example.com",
            "*.example.com",
            "a-b.c1.io",
            "1.example.com",
        ] {
            assert!(is_tke_host(ok), "{ok}");
        }
        for bad in [
            "localhost",
            "example.",
            ".example.com",
            "a..b",
            "-a.b",
            "a_b.com",
            "*.*.a.com",
            "a.*.com",
        ] {
            assert!(!is_tke_host(bad), "{bad}");
        }
    }

    #[test]
    fn path_grammar_denies_globs_and_warns_past_tke_length() {
        let run = |p: &str| {
            let mut out = Vec::new();
            check_path(p, || "f".into(), &mut out);
            out
        };
        assert!(run("/api/v1?x=1:2").is_empty());
        assert!(
            run("/api/*")[0]
                .problem
                .contains("a regex needs a rule-mix entry with pathType")
        );
        assert_eq!(run("api")[0].severity, Severity::Deny);
        assert_eq!(
            run(&format!("/{}", "a".repeat(150)))[0].severity,
            Severity::Warn
        );
        assert_eq!(
            run(&format!("/{}", "a".repeat(250)))[0].severity,
            Severity::Deny
        );
    }
}
