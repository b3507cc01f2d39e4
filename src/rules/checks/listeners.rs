//! Which listener each rule lands on: rule-mix, rule-mix-both, redirects and the entries of
//! http-rules / https-rules (docs/tke-behaviour.md §3).

use serde_json::Value;

use crate::ingress::Str;
use crate::ingress::clb::{Point, Redirect, RedirectOrigin};
use crate::ingress::listeners::{Listener, Protocol};
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::{Ctx, Entry};
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Severity};

/// True when a rules annotation lists at least one entry.
fn has_entries(ctx: &Ctx<'_>, key: &str) -> bool {
    ctx.annotation(key)
        .is_some_and(|v| !matches!(v.trim(), "" | "null" | "[]"))
}

/// The console and Terraform write both rules annotations with `rule-mix: "false"`, restating
/// `spec.rules` on the protocol each rule is on anyway (docs/tke-behaviour.md §3.2): nothing is
/// lost when TKE ignores them, so only entries that ask for something else are worth a warning.
pub fn rule_mix_missing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.rule_mix_key().is_some() {
        return;
    }
    let restated = |entry: &Entry<'_>, protocol: Protocol| {
        !entry.is_redirect
            && ctx
                .spec_paths()
                .any(|path| entry.matches(&path) && ctx.placement(&path).serves(protocol))
    };
    for (key, protocol) in [
        (keys::HTTP_RULES, Protocol::Http),
        (keys::HTTPS_RULES, Protocol::Https),
    ] {
        let only_restated = match protocol {
            Protocol::Http => ctx.http_entries().all(|e| restated(&e, protocol)),
            Protocol::Https => ctx.https_entries().all(|e| restated(&e, protocol)),
        };
        if has_entries(ctx, key) && !only_restated {
            out.push(Finding::new(
                &c::RULE_MIX_MISSING,
                annotation_field(key),
                "is ignored: kubernetes.io/ingress.rule-mix is not \"true\"",
                "set kubernetes.io/ingress.rule-mix: \"true\", or remove the annotation",
            ));
        }
    }
}

/// Without certificates everything is HTTP; but redirect entries in http-rules are read only
/// under rule-mix, which is the official manual-redirect sample (docs/tke-behaviour.md §3.2).
pub fn rule_mix_without_tls(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let redirects = ctx.http_entries().any(|e| e.is_redirect);
    let Some(rule_mix) = ctx.rule_mix_key() else {
        return;
    };
    if !ctx.has_certificates() && !redirects {
        out.push(Finding::new(
            &c::RULE_MIX_WITHOUT_TLS,
            annotation_field(rule_mix),
            "has no effect without spec.tls: every rule is HTTP",
            "add spec.tls with a certificate Secret, or remove rule-mix",
        ));
    }
}

pub fn rule_mix_both_conflict(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.is_true(keys::RULE_MIX_BOTH) {
        return;
    }
    let rule_mix = ctx.rule_mix_key();
    for key in [
        rule_mix,
        Some(keys::REWRITE_SUPPORT),
        Some(keys::AUTO_REWRITE),
    ]
    .into_iter()
    .flatten()
    {
        if ctx.is_true(key) {
            out.push(Finding::new(
                &c::RULE_MIX_BOTH_CONFLICT,
                annotation_field(key),
                format!("cannot be combined with {}: \"true\"", keys::RULE_MIX_BOTH),
                "use rule-mix-both alone, or drop it and list rules in http-rules/https-rules",
            ));
        }
    }
}

/// An annotation of another controller (or an invented one) asking for HTTP to redirect or stay
/// open: `nginx.ingress.kubernetes.io/ssl-redirect`, `ingress.cloud.tencent.com/redirect-to-https`,
/// `kubernetes.io/ingress.allow-http`. None of them does anything on TKE.
fn asks_for_http<'a>(ctx: &Ctx<'a>) -> Option<&'a str> {
    ctx.annotations
        .keys()
        .filter(|key| keys::known(key).is_none())
        .find(|key| {
            let key = key.to_ascii_lowercase();
            key.contains("redirect") || key.ends_with("allow-http")
        })
        .map(Str::as_str)
}

/// On TKE a TLS Ingress gets no HTTP listener at all. Most TLS Ingresses in public manifests
/// mean exactly that, so this speaks only when the Ingress shows its author expected HTTP to
/// redirect or keep working: an annotation asking for it that TKE does not read.
pub fn https_only(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(asks) = asks_for_http(ctx) else {
        return;
    };
    let serves_http = ctx.rule_mix_key().is_some()
        || [keys::RULE_MIX_BOTH, keys::AUTO_REWRITE]
            .iter()
            .any(|key| ctx.is_true(key));
    let declared_https_only = ctx.annotations.contains_key(keys::LISTEN_PORTS)
        && ctx
            .layout
            .listeners
            .iter()
            .all(|l| l.protocol == Protocol::Https);
    if !ctx.tls.is_empty() && !serves_http && !declared_https_only {
        out.push(Finding::new(
            &c::HTTPS_ONLY,
            "spec.tls",
            format!("is HTTPS only (no HTTP listener); TKE ignores {asks}"),
            "add ingress.cloud.tencent.com/auto-rewrite: \"true\" to redirect HTTP to HTTPS, \
             or rule-mix-both: \"true\" (controller v2.8.0+) to serve both",
        ));
    }
}

/// auto-rewrite turns each HTTPS rule into a redirect on HTTP:80; it needs TLS, and with
/// listen-ports both an HTTP:80 and an HTTPS:443 listener (docs/tke-behaviour.md §3.3).
pub fn auto_rewrite_listeners(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.is_true(keys::AUTO_REWRITE) {
        return;
    }
    let field = annotation_field(keys::AUTO_REWRITE);
    if !ctx.has_certificates() {
        out.push(Finding::new(
            &c::AUTO_REWRITE_LISTENERS,
            field,
            "has nothing to redirect: without spec.tls no rule is on HTTPS",
            "add spec.tls, or remove auto-rewrite",
        ));
        return;
    }
    let listeners = &ctx.layout.listeners;
    let missing: Vec<String> = [Listener::HTTP_80, Listener::HTTPS_443]
        .iter()
        .filter(|l| !listeners.contains(l))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        out.push(Finding::new(
            &c::AUTO_REWRITE_LISTENERS,
            field,
            format!("needs an HTTP:80 and an HTTPS:443 listener; listen-ports has no {}", missing.join(" or ")),
            "list {\"HTTP\":80} and {\"HTTPS\":443} in listen-ports, or redirect with rewrite entries",
        ));
    }
}

/// The `(index, protocol, port)` of each `listen-ports` entry that passed its schema.
fn listen_ports<'a>(ctx: &'a Ctx<'_>) -> impl Iterator<Item = (usize, &'a str, u64)> + 'a {
    let items = ctx.json(keys::LISTEN_PORTS).and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, item)| {
            let (protocol, port) = item.as_object()?.iter().next()?;
            Some((i, protocol.as_str(), port.as_u64()?))
        })
}

fn listen_port_field(index: usize, protocol: &str) -> String {
    format!(
        "{}[{index}].{protocol}",
        annotation_field(keys::LISTEN_PORTS)
    )
}

/// A CLB listens on a port once ("a listening port must be unique in the same CLB instance",
/// Tencent document 214/32516): the same port for HTTP and HTTPS cannot be built; the same
/// listener twice is only redundant.
pub fn listen_port_conflict(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut seen: Vec<(u64, &str, usize)> = Vec::new();
    for (index, protocol, port) in listen_ports(ctx) {
        let Some(&(_, first_protocol, first)) = seen.iter().find(|(p, ..)| *p == port) else {
            seen.push((port, protocol, index));
            continue;
        };
        let field = listen_port_field(index, protocol);
        out.push(if first_protocol == protocol {
            Finding::new(
                &c::LISTEN_PORT_CONFLICT,
                field,
                format!("repeats {protocol}:{port} from entry [{first}]"),
                "list each listener once",
            )
            .with_severity(Severity::Warn)
        } else {
            Finding::new(
                &c::LISTEN_PORT_CONFLICT,
                field,
                format!(
                    "port {port} is already {first_protocol} in entry [{first}]; a CLB listener port is unique, \
                     so TKE cannot create both listeners"
                ),
                "give HTTP and HTTPS different ports, e.g. [{\"HTTP\":80},{\"HTTPS\":443}]",
            )
        });
    }
}

/// An HTTPS listener needs a certificate: without `spec.tls` or the certificate annotation
/// every rule is HTTP (docs/tke-behaviour.md §3.2), so a listed HTTPS port serves nothing.
pub fn https_listener_without_certificate(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.has_certificates() {
        return;
    }
    for (index, protocol, port) in listen_ports(ctx).filter(|(_, p, _)| *p == "HTTPS") {
        out.push(Finding::new(
            &c::HTTPS_LISTENER_WITHOUT_CERTIFICATE,
            listen_port_field(index, protocol),
            format!("HTTPS:{port} has no certificate: no spec.tls"),
            "add spec.tls (or the certificate annotation), or list only HTTP ports",
        ));
    }
}

/// With `listen-ports` TKE makes only the listeners listed; a spec path placed on a protocol
/// with no listed port gets no rule there (the model's `listeners_of` finds none).
pub fn rule_without_listener(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.annotations.contains_key(keys::LISTEN_PORTS) {
        return;
    }
    for protocol in [Protocol::Http, Protocol::Https] {
        if ctx.layout.listeners.iter().any(|l| l.protocol == protocol) {
            continue;
        }
        let placed = ctx
            .spec_paths()
            .filter(|path| ctx.placement(path).serves(protocol))
            .count();
        if placed > 0 {
            let name = protocol.as_str();
            out.push(Finding::new(
                &c::RULE_WITHOUT_LISTENER,
                annotation_field(keys::LISTEN_PORTS),
                format!("has no {name} port for the {placed} spec path(s) placed on {name}"),
                format!("list a {name} port, or place those paths on the other protocol"),
            ));
        }
    }
}

pub fn auto_rewrite_code_alone(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if ctx.annotations.contains_key(keys::AUTO_REWRITE_CODE) && !ctx.is_true(keys::AUTO_REWRITE) {
        out.push(Finding::new(
            &c::AUTO_REWRITE_CODE_ALONE,
            annotation_field(keys::AUTO_REWRITE_CODE),
            "does nothing: ingress.cloud.tencent.com/auto-rewrite is not \"true\"",
            "add auto-rewrite: \"true\", or remove the code",
        ));
    }
}

pub fn rules_entry_keys(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for entry in ctx.entries() {
        for key in entry.unknown_keys {
            out.push(Finding::new(
                &c::RULES_ENTRY_KEYS,
                format!("{}.{key}", entry.field()),
                "is not a key TKE reads in a rule entry",
                "use only host, path, backend{serviceName,servicePort}, rewrite and pathType",
            ));
        }
    }
}

pub fn redirect_without_rewrite_support(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // Without rule-mix TKE ignores the entries (rule-mix-missing says so): nothing to deny. Under
    // enable-group rewrite-support is deprecated and not needed (docs/tke-behaviour.md §2.6).
    let not_needed = ctx.is_true(keys::REWRITE_SUPPORT) || ctx.is_true(keys::ENABLE_GROUP);
    if not_needed || ctx.rule_mix_key().is_none() {
        return;
    }
    for entry in ctx.entries() {
        if entry.is_redirect {
            out.push(Finding::new(
                &c::REDIRECT_WITHOUT_REWRITE_SUPPORT,
                format!("{}.rewrite", entry.field()),
                "is a redirect, but ingress.cloud.tencent.com/rewrite-support is not \"true\"",
                "set ingress.cloud.tencent.com/rewrite-support: \"true\"",
            ));
        }
    }
}

/// `HTTP:80 www.example.com/old`; the default domain is the bare path.
fn point(p: &Point) -> String {
    format!("{} {}{}", p.listener, p.host, p.path)
}

/// The field that declares a redirect: an entry's `rewrite`, or the auto-rewrite annotation.
fn redirect_field(redirect: &Redirect) -> String {
    match redirect.origin {
        RedirectOrigin::AutoRewrite => redirect.origin.field(),
        RedirectOrigin::Entry { .. } => format!("{}.rewrite", redirect.origin.field()),
    }
}

/// A short name for a redirect's origin in a message: `http-rules[1]`, `auto-rewrite`.
fn redirect_name(redirect: &Redirect) -> String {
    match redirect.origin {
        RedirectOrigin::AutoRewrite => "auto-rewrite".to_owned(),
        RedirectOrigin::Entry { key, index } => {
            let short = key.rsplit_once('.').map_or(key, |(_, name)| name);
            format!("{short}[{index}]")
        }
    }
}

/// What breaks TKE's redirect limits in one redirect of the model (docs/tke-behaviour.md §3.3, Tencent
/// document 457/42592): nothing redirects to itself, a source has one target, and a target does
/// not redirect onward. With the problem, the other redirect it involves, if any.
fn redirect_problem<'a>(
    redirect: &Redirect,
    all: &'a [Redirect],
    index: usize,
) -> Option<(String, Option<&'a Redirect>)> {
    if redirect.from == redirect.to {
        return Some((
            format!("redirects {} to itself", point(&redirect.from)),
            None,
        ));
    }
    if let Some(earlier) = all[..index]
        .iter()
        .find(|o| o.from == redirect.from && o.to != redirect.to)
    {
        let problem = format!(
            "redirects {} again, already sent to {} by {}",
            point(&redirect.from),
            point(&earlier.to),
            redirect_name(earlier)
        );
        return Some((problem, Some(earlier)));
    }
    let onward = all
        .iter()
        .find(|o| o.from == redirect.to && o.from != o.to)?;
    let problem = format!(
        "redirects to {}, which {} redirects onward",
        point(&redirect.to),
        redirect_name(onward)
    );
    Some((problem, Some(onward)))
}

/// The model puts a `rewrite` entry on every listener of its annotation's protocol; that it does
/// so with several listeners of one protocol (listen-ports) is inferred, not documented. A
/// redirect is certain when auto-rewrite makes it or its protocol has one listener.
fn certain(ctx: &Ctx<'_>, redirect: &Redirect) -> bool {
    let protocol = redirect.from.listener.protocol;
    matches!(redirect.origin, RedirectOrigin::AutoRewrite)
        || ctx
            .layout
            .listeners
            .iter()
            .filter(|l| l.protocol == protocol)
            .count()
            == 1
}

/// The redirect graph TKE builds (auto-rewrite and rewrite entries, from the model `plan`
/// prints) keeps the CLB's limits: no redirect to itself, one target per source, no chains.
/// Denied where the model is certain of every redirect involved; warned otherwise.
pub fn redirect_graph(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // Most Ingresses have no redirect: the model is not built for them.
    let may_redirect = ctx.is_true(keys::AUTO_REWRITE)
        || (ctx.layout.http_entries.iter())
            .chain(&ctx.layout.https_entries)
            .any(|e| e.is_redirect);
    if !may_redirect {
        return;
    }
    let clb = ctx.clb();
    let mut said: Vec<(String, String)> = Vec::new();
    for (index, redirect) in clb.redirects.iter().enumerate() {
        let Some((problem, other)) = redirect_problem(redirect, &clb.redirects, index) else {
            continue;
        };
        let key = (redirect_field(redirect), problem);
        if said.contains(&key) {
            continue;
        }
        let sure = certain(ctx, redirect) && other.is_none_or(|o| certain(ctx, o));
        out.push(
            Finding::new(
                &c::REDIRECT_GRAPH,
                key.0.clone(),
                format!("{}; the CLB refuses it", key.1),
                "redirect each source once, straight to a final target that is not a redirect",
            )
            .with_severity(if sure { Severity::Deny } else { Severity::Warn }),
        );
        said.push(key);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::rules::testing::*;
    use serde_json::json;

    const HTTP_RULES: &str = "kubernetes.io/ingress.http-rules";
    const HTTPS_RULES: &str = "kubernetes.io/ingress.https-rules";
    const LISTEN_PORTS: &str = "ingress.cloud.tencent.com/listen-ports";
    const AUTO_REWRITE: &str = "ingress.cloud.tencent.com/auto-rewrite";
    const CODE: &str = "ingress.cloud.tencent.com/auto-rewrite-code";
    const REDIRECT_TO_HTTPS: &str = "ingress.cloud.tencent.com/redirect-to-https";
    const OTHER_ENTRY: &str = r#"[{"host":"www.example.com","path":"/other","backend":{"serviceName":"web","servicePort":"80"}}]"#;
    const ENTRY: &str = r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#;
    const REDIRECT: &str = r#"[{"path":"/old","rewrite":{"port":443,"path":"/new"}}]"#;

    fn with_tls_only(fixture: Fixture) -> Fixture {
        fixture.set(
            "/spec/tls",
            json!([{"hosts": ["www.example.com"], "secretName": "cert"}]),
        )
    }

    /// rule-mix and rewrite-support with these http-rules, and https-rules null.
    fn redirecting(fixture: Fixture, http_rules: &str) -> Fixture {
        fixture
            .annotate("kubernetes.io/ingress.rule-mix", "true")
            .annotate("ingress.cloud.tencent.com/rewrite-support", "true")
            .annotate(HTTP_RULES, http_rules)
            .annotate(HTTPS_RULES, "null")
    }

    rule_cases! {
        rule_mix_missing: RULE_MIX_MISSING {
            fires asks_for_http_on_a_tls_ingress: with_tls_only(http()).annotate(HTTP_RULES, ENTRY)
                => "metadata.annotations[kubernetes.io/ingress.http-rules]";
            fires redirects_without_rule_mix: http().annotate(HTTP_RULES, REDIRECT);
            fires an_entry_for_no_spec_rule: http().annotate(HTTP_RULES, OTHER_ENTRY);
            clean null: http().annotate(HTTP_RULES, "null");
            clean regex_page_spelling_is_rule_mix: with_tls_only(http()).annotate(HTTP_RULES, ENTRY)
                .annotate("ingress.cloud.tencent.com/rule-mix", "true");
            clean with_rule_mix: tls().annotate(HTTP_RULES, ENTRY);
            clean console_restating_spec_rules: http().annotate(HTTP_RULES, ENTRY)
                .annotate(HTTPS_RULES, "null").annotate("kubernetes.io/ingress.rule-mix", "false");
        }
        rule_mix_without_tls: RULE_MIX_WITHOUT_TLS {
            fires no_certificates: http().annotate("kubernetes.io/ingress.rule-mix", "true");
            clean with_tls: tls();
            clean manual_redirect_sample: http().annotate("kubernetes.io/ingress.rule-mix", "true")
                .annotate("ingress.cloud.tencent.com/rewrite-support", "true")
                .annotate(HTTP_RULES, REDIRECT).annotate(HTTPS_RULES, "null");
        }
        rule_mix_both_conflict: RULE_MIX_BOTH_CONFLICT {
            fires with_rule_mix: tls().annotate("kubernetes.io/ingress.rule-mix-both", "true")
                => "metadata.annotations[kubernetes.io/ingress.rule-mix]";
            clean alone: with_tls_only(http()).annotate("kubernetes.io/ingress.rule-mix-both", "true");
        }
        https_only: HTTPS_ONLY {
            fires invented_redirect_key: with_tls_only(http()).annotate(REDIRECT_TO_HTTPS, "true") => "spec.tls";
            fires nginx_ssl_redirect: with_tls_only(http()).annotate("nginx.ingress.kubernetes.io/ssl-redirect", "true");
            clean https_only_on_purpose: with_tls_only(http());
            clean rule_mix: tls().annotate(REDIRECT_TO_HTTPS, "true");
            clean auto_rewrite: with_tls_only(http()).annotate(REDIRECT_TO_HTTPS, "true")
                .annotate("ingress.cloud.tencent.com/auto-rewrite", "true");
            clean listen_ports_say_https_only: with_tls_only(http()).annotate(REDIRECT_TO_HTTPS, "true")
                .annotate(LISTEN_PORTS, r#"[{"HTTPS":443}]"#);
        }
        auto_rewrite_listeners: AUTO_REWRITE_LISTENERS {
            fires without_tls: http().annotate(AUTO_REWRITE, "true") => "metadata.annotations[ingress.cloud.tencent.com/auto-rewrite]";
            fires no_http_80: with_tls_only(http()).annotate(AUTO_REWRITE, "true")
                .annotate(LISTEN_PORTS, r#"[{"HTTP":8080},{"HTTPS":443}]"#);
            clean default_listeners: with_tls_only(http()).annotate(AUTO_REWRITE, "true");
            clean both_listed: with_tls_only(http()).annotate(AUTO_REWRITE, "true")
                .annotate(LISTEN_PORTS, r#"[{"HTTP":80},{"HTTPS":443}]"#);
        }
        auto_rewrite_code_alone: AUTO_REWRITE_CODE_ALONE {
            fires without_auto_rewrite: with_tls_only(http()).annotate(CODE, r#"{"defaultRewriteCode":301}"#)
                => "metadata.annotations[ingress.cloud.tencent.com/auto-rewrite-code]";
            clean with_auto_rewrite: with_tls_only(http()).annotate(AUTO_REWRITE, "true")
                .annotate(CODE, r#"{"defaultRewriteCode":301}"#);
        }
        redirect_graph: REDIRECT_GRAPH {
            fires to_itself: redirecting(http(), r#"[{"path":"/old","rewrite":{"port":80}}]"#)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][0].rewrite";
            fires two_targets: redirecting(http(),
                r#"[{"path":"/old","rewrite":{"port":80,"path":"/a"}},{"path":"/old","rewrite":{"port":80,"path":"/b"}}]"#)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][1].rewrite";
            fires chain: redirecting(http(),
                r#"[{"path":"/a","rewrite":{"port":80,"path":"/b"}},{"path":"/b","rewrite":{"port":80,"path":"/c"}}]"#)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][0].rewrite";
            fires onward_from_auto_rewrite: redirecting(with_tls_only(http()), "null")
                .annotate(AUTO_REWRITE, "true")
                .annotate(HTTPS_RULES, r#"[{"host":"www.example.com","path":"/","rewrite":{"port":443,"path":"/new"}}]"#)
                => "metadata.annotations[ingress.cloud.tencent.com/auto-rewrite]";
            clean official_manual_redirect_sample: redirecting(http(),
                r#"[{"path":"/v1/path1","rewrite":{"port":80,"path":"/path1"}},{"path":"/v2/path2","rewrite":{"port":80,"path":"/path2"}}]"#);
            clean auto_rewrite: with_tls_only(http()).annotate(AUTO_REWRITE, "true");
        }
        listen_port_conflict: LISTEN_PORT_CONFLICT {
            fires one_port_for_both: with_tls_only(http()).annotate(LISTEN_PORTS, r#"[{"HTTP":8080},{"HTTPS":8080}]"#)
                => "metadata.annotations[ingress.cloud.tencent.com/listen-ports][1].HTTPS";
            fires repeated: http().annotate(LISTEN_PORTS, r#"[{"HTTP":80},{"HTTP":80}]"#)
                => "metadata.annotations[ingress.cloud.tencent.com/listen-ports][1].HTTP";
            clean documented_sample: with_tls_only(http()).annotate(LISTEN_PORTS,
                r#"[{"HTTP": 80}, {"HTTPS": 443}, {"HTTP": 8080}, {"HTTPS": 8443}]"#);
        }
        https_listener_without_certificate: HTTPS_LISTENER_WITHOUT_CERTIFICATE {
            fires no_tls: http().annotate(LISTEN_PORTS, r#"[{"HTTP":80},{"HTTPS":443}]"#)
                => "metadata.annotations[ingress.cloud.tencent.com/listen-ports][1].HTTPS";
            clean with_tls: with_tls_only(http()).annotate(LISTEN_PORTS, r#"[{"HTTP":80},{"HTTPS":443}]"#);
            clean certificate_annotation: http().annotate(LISTEN_PORTS, r#"[{"HTTPS":443}]"#)
                .annotate("ingress.cloud.tencent.com/certificate", r#"[{"hosts":["www.example.com"],"qcloud_cert_id":["Abcd1234"]}]"#);
            clean http_only: http().annotate(LISTEN_PORTS, r#"[{"HTTP":81}]"#);
        }
        rule_without_listener: RULE_WITHOUT_LISTENER {
            fires tls_with_http_port_only: with_tls_only(http()).annotate(LISTEN_PORTS, r#"[{"HTTP":80}]"#)
                => "metadata.annotations[ingress.cloud.tencent.com/listen-ports]";
            fires http_rules_with_https_port_only: http().annotate(LISTEN_PORTS, r#"[{"HTTPS":443}]"#);
            clean reuse_sample_http_81: http().annotate(LISTEN_PORTS, r#"[{"HTTP": 81}]"#);
            clean both: with_tls_only(http()).annotate(LISTEN_PORTS, r#"[{"HTTP":80},{"HTTPS":443}]"#);
            clean default_listeners: with_tls_only(http());
        }
        rules_entry_keys: RULES_ENTRY_KEYS {
            fires host_inside_backend: tls().annotate(HTTP_RULES,
                r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80","host":"x"}}]"#)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][0].backend.host";
            clean documented_keys: tls().annotate(HTTP_RULES, ENTRY);
            clean path_type_of_regex_rules: tls().annotate(HTTP_RULES,
                r#"[{"pathType":["Exact"],"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#);
        }
        redirect_without_rewrite_support: REDIRECT_WITHOUT_REWRITE_SUPPORT {
            fires redirect_entry: tls().annotate(HTTP_RULES, REDIRECT)
                => "metadata.annotations[kubernetes.io/ingress.http-rules][0].rewrite";
            clean with_rewrite_support: tls().annotate(HTTP_RULES, REDIRECT)
                .annotate("ingress.cloud.tencent.com/rewrite-support", "true");
            clean ignored_without_rule_mix: http().annotate(HTTP_RULES, REDIRECT);
            clean not_needed_in_a_group: tls().annotate(HTTP_RULES, REDIRECT)
                .annotate("ingress.cloud.tencent.com/enable-group", "true")
                .annotate("kubernetes.io/ingress.existLbId", "lb-shared12");
        }
    }

    #[test]
    fn redirects_the_model_infers_over_several_listeners_only_warn() {
        let to_itself = r#"[{"path":"/old","rewrite":{"port":80}}]"#;
        let one = redirecting(http(), to_itself).decide();
        assert!(!one.allowed());
        let several = redirecting(http(), to_itself)
            .annotate(LISTEN_PORTS, r#"[{"HTTP":80},{"HTTP":8080}]"#)
            .decide();
        assert!(several.allowed(), "{:?}", several.findings);
        assert_eq!(several.rule_ids(), ["redirect-graph"]);
    }

    #[test]
    fn redirect_messages_name_the_other_entry() {
        let chain = redirecting(
            http(),
            r#"[{"path":"/a","rewrite":{"port":80,"path":"/b"}},{"path":"/b","rewrite":{"port":80,"path":"/c"}}]"#,
        );
        let message = chain.decide().deny_message.unwrap();
        assert!(
            message.contains(
                "http-rules][0].rewrite: redirects to HTTP:80 /b, which http-rules[1] redirects onward"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_repeated_listener_only_warns() {
        let decision = http()
            .annotate(LISTEN_PORTS, r#"[{"HTTP":80},{"HTTP":80}]"#)
            .decide();
        assert!(decision.allowed());
        let both = with_tls_only(http())
            .annotate(LISTEN_PORTS, r#"[{"HTTP":8080},{"HTTPS":8080}]"#)
            .decide();
        assert!(!both.allowed());
    }

    #[test]
    fn ignored_redirect_entries_only_warn() {
        let decision = http().annotate(HTTP_RULES, REDIRECT).decide();
        assert!(decision.allowed());
        assert_eq!(decision.rule_ids(), ["rule-mix-missing"]);
    }
}
