//! Hosts, paths and rule counts as CLB accepts them (behaviour spec §6), and routes shared with
//! other Ingresses on the same CLB.

use std::collections::{HashMap, HashSet};

use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::{Finding, Severity};

const MAX_HOST_LEN: usize = 80;
/// CLB's URL limit; TKE's own E4031 text says 120, so 121..=200 only warns.
const MAX_PATH_LEN: usize = 200;
const TKE_PATH_LEN: usize = 120;
const RULES_PER_LISTENER: usize = 50;

pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    grammar(ctx, out);
    rules_without_http(ctx, out);
    duplicates(ctx, out);
    quota(ctx, out);
    ipv6_hosts(ctx, out);
}

fn grammar(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (i, rule) in ctx.rules.iter().enumerate() {
        if let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) {
            host_grammar(host, format!("spec.rules[{i}].host"), out);
        }
    }
    for path in ctx.spec_paths() {
        if let Some(url) = path.path.path.as_deref().filter(|p| !p.is_empty()) {
            path_grammar(url, format!("{}.path", path.field()), out);
        }
    }
    for entry in ctx.http_entries.iter().chain(&ctx.https_entries) {
        if !entry.host.is_empty() {
            host_grammar(&entry.host, format!("{}.host", entry.field()), out);
        }
        path_grammar(&entry.path, format!("{}.path", entry.field()), out);
    }
}

fn host_grammar(host: &str, field: String, out: &mut Vec<Finding>) {
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
        field,
        problem,
        "use a lowercase domain with at least one dot (a leading *. is allowed), or omit host for the CLB's default domain",
    ));
}

/// TKE's E4052 pattern: `(\*|label)(\.label)+` with DNS labels of `[a-z0-9-]`.
fn is_tke_host(host: &str) -> bool {
    let mut labels = host.split('.');
    let first_ok = labels.next().is_some_and(|l| l == "*" || is_label(l));
    let rest: Vec<&str> = labels.collect();
    first_ok && !rest.is_empty() && rest.iter().all(|l| is_label(l))
}

fn is_label(label: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !label.is_empty()
        && label.starts_with(ok)
        && label.ends_with(ok)
        && label.chars().all(|c| ok(c) || c == '-')
}

fn path_grammar(path: &str, field: String, out: &mut Vec<Finding>) {
    let clb_char = |c: char| c.is_ascii_alphanumeric() || "._-/=?:".contains(c);
    let (problem, severity) = if !path.starts_with('/') {
        (format!("{path:?} does not start with /"), Severity::Deny)
    } else if let Some(bad) = path.chars().find(|c| !clb_char(*c)) {
        let hint = if "*()[]^$+|~".contains(bad) {
            "; CLB paths are plain prefixes, not regexes or globs"
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
            field,
            problem,
            "start with / and use only A-Z a-z 0-9 . - _ / = ? : (a prefix such as /api matches /api/...)",
        )
        .with_severity(severity),
    );
}

fn rules_without_http(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
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
    if ctx.rules.is_empty() && ctx.default_backend.is_some() {
        out.push(Finding::new(
            &c::RULE_WITHOUT_HTTP,
            "spec.defaultBackend",
            "is the only backend; TKE makes CLB rules only from spec.rules",
            "add a rule with http.paths (omit host for the CLB's default domain)",
        ));
    }
}

/// `(service, port)` of a spec path.
type BackendKey<'a> = Option<(&'a str, String)>;

/// The same host and path sent to two different backends in one Ingress.
fn duplicates(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut first: HashMap<(&str, &str), (String, BackendKey<'_>)> = HashMap::new();
    for path in ctx.spec_paths() {
        let backend = path.backend_key();
        match first.get(&(path.host, path.url)) {
            Some((field, seen)) if *seen != backend => out.push(Finding::new(
                &c::DUPLICATE_ROUTE,
                format!("{}.path", path.field()),
                format!(
                    "host {:?} path {:?} is already routed elsewhere by {field}",
                    path.host, path.url
                ),
                "give each host+path one backend",
            )),
            Some(_) => {}
            None => {
                first.insert((path.host, path.url), (path.field(), backend));
            }
        }
    }
}

fn quota(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // Sets, not lists: cost stays linear in the request's rules.
    let mut http: HashSet<(&str, &str)> = HashSet::new();
    let mut https: HashSet<(&str, &str)> = HashSet::new();
    for path in ctx.spec_paths() {
        let placement = ctx.placement(&path);
        let route = (path.host, path.url);
        for (on, set) in [(placement.http, &mut http), (placement.https, &mut https)] {
            if on {
                set.insert(route);
            }
        }
    }
    for (listener, count) in [("HTTP", http.len()), ("HTTPS", https.len())] {
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
fn ipv6_hosts(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
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

/// Other Ingresses on the same CLB: E4020 outside a group, host+path clashes inside one.
pub fn shared_lb(ctx: &Ctx<'_>, name: &str, out: &mut Vec<Finding>) {
    let Some(lb) = ctx
        .annotation(keys::EXIST_LB_ID)
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return;
    };
    let in_group = ctx.is_true(keys::ENABLE_GROUP);
    let others: Vec<_> = ctx
        .cluster
        .ingresses_on_lb(lb)
        .into_iter()
        .filter(|o| !(o.namespace == ctx.namespace && o.name == name))
        .collect();
    for other in &others {
        let who = format!("{}/{}", other.namespace, other.name);
        if !(in_group && other.enable_group) {
            out.push(Finding::new(
                &c::EXIST_LB_IN_USE,
                crate::rules::json::annotation_field(keys::EXIST_LB_ID),
                format!("CLB {lb} is already used by Ingress {who}"),
                "use another CLB, or set ingress.cloud.tencent.com/enable-group: \"true\" on every Ingress sharing it",
            ));
            continue;
        }
        for path in ctx.spec_paths() {
            if other
                .routes
                .iter()
                .any(|r| r.host == path.host && r.path == path.url)
            {
                out.push(Finding::new(
                    &c::GROUP_ROUTE_CONFLICT,
                    format!("{}.path", path.field()),
                    format!(
                        "host {:?} path {:?} is already served on CLB {lb} by Ingress {who}",
                        path.host, path.url
                    ),
                    "use a different host or path; every host+path must be unique across the group",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            path_grammar(p, "f".into(), &mut out);
            out
        };
        assert!(run("/api/v1?x=1:2").is_empty());
        assert!(run("/api/*")[0].problem.contains("not regexes or globs"));
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
