//! TLS: the Secrets TKE reads certificate ids from, and which HTTPS hosts they cover
//! (docs/tke-behaviour.md §4).

use std::collections::{HashMap, HashSet};

use crate::ingress::view::Ingress;

use crate::cluster::{SecretCertIds, SecretLookup};
use crate::ingress::clb::{CertSource, Certificates, ListenerRules, UrlRule};
use crate::ingress::listeners::Protocol;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Severity};

const CERT_ID_LEN: usize = 8;

/// A Secret named by `spec.tls[index].secretName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretReference<'a> {
    pub index: usize,
    pub name: &'a str,
}

impl SecretReference<'_> {
    fn field(&self) -> String {
        format!("spec.tls[{}].secretName", self.index)
    }
}

/// Every Secret the TLS rules read, once each (the first entry naming it), in `spec.tls` order.
/// The live view fetches exactly these before the rules run, so a rule can never read a Secret
/// that was not fetched.
pub fn secret_references<'a>(ingress: &'a Ingress<'a>) -> Vec<SecretReference<'a>> {
    let tls = ingress.spec.as_ref().and_then(|s| s.tls.as_deref());
    let mut references: Vec<SecretReference<'_>> = Vec::new();
    for (index, entry) in tls.into_iter().flatten().enumerate() {
        // A name no Secret can have is reported by tls-secret-name and never looked up.
        let Some(name) = entry
            .secret_name
            .as_deref()
            .filter(|n| crate::text::is_object_name(n))
        else {
            continue;
        };
        if !references.iter().any(|r| r.name == name) {
            references.push(SecretReference { index, name });
        }
    }
    references
}

/// The referenced Secrets that exist, with their certificate ids.
fn found_secrets<'a>(
    ctx: &'a Ctx<'_>,
) -> impl Iterator<Item = (SecretReference<'a>, SecretCertIds)> + 'a {
    secret_references(ctx.ingress)
        .into_iter()
        .filter_map(move |r| match ctx.cluster.secret(ctx.namespace, r.name) {
            SecretLookup::Found(ids) => Some((r, ids)),
            _ => None,
        })
}

pub fn tls_and_certificate_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.tls.is_empty() && ctx.annotations.contains_key(keys::CERTIFICATE) {
        out.push(Finding::new(
            &c::TLS_AND_CERTIFICATE_ANNOTATION,
            annotation_field(keys::CERTIFICATE),
            "is set together with spec.tls; TKE takes certificates from one or the other",
            "keep spec.tls with its Secrets, or the certificate annotation, not both",
        ));
    }
}

pub fn tls_secret_name(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (i, tls) in ctx.tls.iter().enumerate() {
        let name = tls.secret_name.as_deref().unwrap_or_default();
        if name.is_empty() {
            out.push(Finding::new(
                &c::TLS_SECRET_NAME,
                format!("spec.tls[{i}].secretName"),
                "is empty; TKE needs a Secret holding qcloud_cert_id",
                "name an Opaque Secret with the key qcloud_cert_id in this namespace",
            ));
        } else if !crate::text::is_object_name(name) {
            // No Secret can have this name, so TKE cannot find it (E4010); it is never looked up.
            out.push(
                Finding::new(
                    &c::TLS_SECRET_NAME,
                    format!("spec.tls[{i}].secretName"),
                    "is not a Secret name (lowercase letters, digits, '-' and '.'); no Secret has it",
                    "name an Opaque Secret with the key qcloud_cert_id in this namespace",
                )
                .with_code("E4010"),
            );
        }
    }
}

pub fn tls_secret_missing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for reference in secret_references(ctx.ingress) {
        let name = reference.name;
        match ctx.cluster.secret(ctx.namespace, name) {
            // Only a view of the whole cluster can say a Secret is missing.
            SecretLookup::Found(_) => {}
            SecretLookup::NotFound if !ctx.cluster.is_complete() => {}
            SecretLookup::NotFound => out.push(Finding::new(
                &c::TLS_SECRET_MISSING,
                reference.field(),
                format!("Secret {name:?} does not exist in namespace {}", ctx.namespace),
                "create the Secret first (kubectl create secret generic ... --from-literal=qcloud_cert_id=...)",
            )),
            // Not a prediction of E4010: the Secret may well exist.
            SecretLookup::Unavailable(reason) => out.push(Finding {
                tke_code: None,
                ..Finding::new(
                    &c::TLS_SECRET_MISSING,
                    reference.field(),
                    format!("Secret {name:?} could not be read ({reason}); not checked"),
                    "",
                )
                .with_severity(Severity::Warn)
            }),
        }
    }
}

pub fn tls_cert_id_missing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (reference, ids) in found_secrets(ctx) {
        if ids.cert_id.is_none() {
            out.push(Finding::new(
                &c::TLS_CERT_ID_MISSING,
                reference.field(),
                format!("Secret {:?} has no qcloud_cert_id key", reference.name),
                "add qcloud_cert_id (the Tencent Cloud SSL certificate id) to the Secret",
            ));
        }
    }
}

pub fn tls_cert_id_format(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (reference, ids) in found_secrets(ctx) {
        let name = reference.name;
        // qcloud_cert_id may list an ECC and an RSA certificate (dual-algorithm certificates,
        // docs/tke-behaviour.md §4.1); the CA certificate is one id.
        let checks = [
            ("qcloud_cert_id", &ids.cert_id, MAX_CERT_IDS),
            ("qcloud_ca_cert_id", &ids.ca_cert_id, 1),
        ];
        for (key, id, max_ids) in checks {
            let Some(problem) = id.as_deref().and_then(|id| cert_id_problem(id, max_ids)) else {
                continue;
            };
            let text = format!("{key} in Secret {name:?} {}", problem.text);
            out.push(cert_id_finding(reference.field(), text, &problem));
        }
    }
    annotation_cert_id_format(ctx, out);
}

/// A certificate id finding, as sure as the sources are.
fn cert_id_finding(field: String, text: String, problem: &CertIdProblem) -> Finding {
    let finding = Finding::new(&c::TLS_CERT_ID_FORMAT, field, text, problem.fix);
    match problem.kind {
        CertIdProblemKind::Deny => finding,
        // Which event TKE reports for an empty id is not documented.
        CertIdProblemKind::Empty => Finding {
            tke_code: None,
            ..finding
        },
        CertIdProblemKind::Unsure => Finding {
            tke_code: None,
            ..finding.with_severity(Severity::Warn)
        },
    }
}

/// The ids of the certificate annotation take the Secrets' 8-character form (E4035); the
/// annotation is read only without `spec.tls` (docs/tke-behaviour.md §4.2).
fn annotation_cert_id_format(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    use serde_json::Value;
    if !ctx.tls.is_empty() {
        return;
    }
    let entries = ctx.json(keys::CERTIFICATE).and_then(Value::as_array);
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        let base = format!(
            "{}[{i}].qcloud_cert_id",
            annotation_field(keys::CERTIFICATE)
        );
        let ids: Vec<(String, &str)> = match entry.get("qcloud_cert_id") {
            Some(Value::String(text)) => text.split(',').map(|id| (base.clone(), id)).collect(),
            Some(Value::Array(items)) => (items.iter().enumerate())
                .filter_map(|(j, id)| Some((format!("{base}[{j}]"), id.as_str()?)))
                .collect(),
            _ => Vec::new(),
        };
        for (field, id) in ids {
            // Each item is one id: the annotation lists several as a JSON array.
            if let Some(problem) = cert_id_problem(id.as_bytes(), 1) {
                let text = format!("{id:?} {}", problem.text);
                out.push(cert_id_finding(field, text, &problem));
            }
        }
    }
}

/// At most one default certificate (a `spec.tls` entry without hosts).
pub fn tls_default_conflict(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut default_entry: Option<usize> = None;
    for (i, tls) in ctx.tls.iter().enumerate() {
        if !tls.hosts.as_deref().unwrap_or_default().is_empty() {
            continue;
        }
        match default_entry {
            Some(first) => out.push(Finding::new(
                &c::TLS_DEFAULT_CONFLICT,
                format!("spec.tls[{i}]"),
                format!(
                    "is a second entry without hosts (spec.tls[{first}] is the default certificate)"
                ),
                "keep one host-less entry; list hosts on the others",
            )),
            None => default_entry = Some(i),
        }
    }
}

/// Each host in at most one `spec.tls` entry.
pub fn tls_sni_conflict(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut host_entry: HashMap<&str, usize> = HashMap::new();
    for (i, tls) in ctx.tls.iter().enumerate() {
        for (j, host) in tls.hosts.iter().flatten().enumerate() {
            if let Some(first) = host_entry.get(host.as_str()).filter(|first| **first != i) {
                out.push(Finding::new(
                    &c::TLS_SNI_CONFLICT,
                    format!("spec.tls[{i}].hosts[{j}]"),
                    format!("{host:?} is already in spec.tls[{first}]"),
                    "list each host in one TLS entry only",
                ));
            } else {
                host_entry.entry(host).or_insert(i);
            }
        }
    }
}

/// At most this many ids in `qcloud_cert_id`: an ECC and an RSA certificate (TKE's page
/// "Ingress 配置双算法证书", controller v2.5.0 and later).
const MAX_CERT_IDS: usize = 2;

/// How sure we are that TKE refuses a certificate id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CertIdProblemKind {
    /// Documented to fail (E4035), or more ids than TKE serves.
    Deny,
    /// An empty value: fails, with an event code nobody documents.
    Empty,
    /// Not documented either way (an empty item, spaces around the comma): warn.
    Unsure,
}

/// What is wrong with a certificate id value, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CertIdProblem {
    text: String,
    fix: &'static str,
    kind: CertIdProblemKind,
}

impl CertIdProblem {
    fn new(kind: CertIdProblemKind, text: impl Into<String>, fix: &'static str) -> Self {
        Self {
            text: text.into(),
            fix,
            kind,
        }
    }
}

const FIX_NEWLINE: &str = "store the id without a newline (echo -n, or stringData)";
const FIX_FORM: &str =
    "store the 8-character certificate id from the SSL console (two, comma-separated, for ECC+RSA)";
const FIX_LIST: &str =
    "write the ids as ID1,ID2 (an ECC and an RSA certificate), nothing around the comma";

/// What is wrong with a certificate id value of at most `max_ids` comma-separated ids, without
/// ever quoting it.
fn cert_id_problem(value: &[u8], max_ids: usize) -> Option<CertIdProblem> {
    use CertIdProblemKind::{Deny, Empty};
    if value.trim_ascii().is_empty() {
        return Some(CertIdProblem::new(Empty, "is empty", FIX_FORM));
    }
    let trimmed = value.trim_ascii_end();
    if trimmed.len() < value.len() {
        let what = if value.ends_with(b"\n") {
            "a newline (made with echo without -n?)"
        } else {
            "whitespace"
        };
        return Some(CertIdProblem::new(
            Deny,
            format!("ends with {what}"),
            FIX_NEWLINE,
        ));
    }
    let items: Vec<&[u8]> = value.split(|b| *b == b',').collect();
    if items.len() > max_ids {
        let text = if max_ids == 1 {
            format!("lists {} ids; it holds one", items.len())
        } else {
            format!(
                "lists {} ids; TKE serves at most {max_ids} (an ECC and an RSA certificate)",
                items.len()
            )
        };
        return Some(CertIdProblem::new(Deny, text, FIX_LIST));
    }
    items
        .iter()
        .enumerate()
        .find_map(|(i, item)| cert_id_item_problem(item, i, items.len()))
}

/// What is wrong with item `index` of `count` comma-separated certificate ids.
fn cert_id_item_problem(item: &[u8], index: usize, count: usize) -> Option<CertIdProblem> {
    use CertIdProblemKind::{Deny, Unsure};
    let what = if count > 1 {
        format!("id {} of {count}", index + 1)
    } else {
        "it".to_owned()
    };
    let core = item.trim_ascii();
    if core.is_empty() {
        return Some(CertIdProblem::new(
            Unsure,
            format!("has an empty {what}"),
            FIX_LIST,
        ));
    }
    if core.len() < item.len() {
        return Some(CertIdProblem::new(
            Unsure,
            "has spaces around a comma; TKE's sample writes ID1,ID2",
            FIX_LIST,
        ));
    }
    if core.len() != CERT_ID_LEN || !core.iter().all(u8::is_ascii_alphanumeric) {
        let text = if count > 1 {
            format!(
                "{what} is {} bytes, not {CERT_ID_LEN} letters or digits",
                core.len()
            )
        } else {
            format!(
                "is {} bytes, not {CERT_ID_LEN} letters or digits",
                core.len()
            )
        };
        return Some(CertIdProblem::new(Deny, text, FIX_FORM));
    }
    None
}

/// Every host served on HTTPS needs a certificate (E4040): exactly the HTTPS domains the model
/// of what TKE builds ([`crate::ingress::clb`]) leaves without one, which `plan` prints as
/// "no certificate".
pub fn tls_host_uncovered(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.has_certificates() {
        return;
    }
    let clb = ctx.clb();
    let mut reported: HashSet<usize> = HashSet::new();
    let mut found = Vec::new();
    for domain in clb.listeners.iter().flat_map(ListenerRules::uncovered) {
        for rule in &domain.rules {
            if reported.insert(rule.rule_index) {
                found.push((rule.rule_index, uncovered(&domain.host, rule)));
            }
        }
    }
    found.sort_by_key(|(index, _)| *index);
    out.extend(found.into_iter().map(|(_, finding)| finding));
}

fn uncovered(host: &str, rule: &UrlRule) -> Finding {
    let host = if host.is_empty() {
        "(no host)".to_owned()
    } else {
        format!("{host:?}")
    };
    let why = if rule.https_by_default {
        format!(
            "; {} went to HTTPS because neither http-rules nor https-rules lists it",
            rule.field()
        )
    } else {
        String::new()
    };
    Finding::new(
        &c::TLS_HOST_UNCOVERED,
        format!("spec.rules[{}].host", rule.rule_index),
        format!("{host} is served on HTTPS but no TLS entry covers it{why}"),
        "add the host to a spec.tls entry (or a *. wildcard), add a host-less default entry, or list the path in http-rules",
    )
}

/// A certificate that no HTTPS rule uses while rules of its hosts went to HTTP only: rule-mix
/// with the rules listed in http-rules alone, as in the seed blog's third example
/// (docs/tke-behaviour.md §3.2). Almost never what the author wants, so a warning that names
/// those rules and how to keep HTTPS; never a deny.
pub fn tls_certificate_unused(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.has_certificates() {
        return;
    }
    let clb = ctx.clb();
    let certificates = Certificates::of(ctx.ingress, ctx.json(keys::CERTIFICATE));
    let used: Vec<&CertSource> = clb
        .domains()
        .filter_map(|(_, d)| d.certificate.as_ref().map(|c| &c.source))
        .collect();
    for source in certificates.sources().filter(|s| !used.contains(s)) {
        let http_only: Vec<String> = clb
            .listeners
            .iter()
            .filter(|l| l.listener.protocol == Protocol::Http)
            .flat_map(|l| &l.domains)
            .filter(|d| {
                certificates
                    .assign(&d.host)
                    .is_some_and(|a| a.source == *source)
            })
            .flat_map(|d| d.rules.iter().map(move |r| format!("{}{}", d.host, r.path)))
            .collect();
        let Some(first) = http_only.first() else {
            continue;
        };
        let more = match http_only.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        out.push(Finding::new(
            &c::TLS_CERTIFICATE_UNUSED,
            source.field(),
            format!("serves no HTTPS rule: rule-mix put {first}{more} on HTTP only"),
            "to keep HTTPS, list those rules in https-rules as well, or use rule-mix-both: \"true\" \
             (controller v2.8.0+) instead of rule-mix",
        ));
    }
}

/// The legacy `qcloud_cert_id` annotation is informational; a different id from the Secret's
/// suggests a stale manifest.
pub fn legacy_cert_id_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(annotated) = ctx.annotation(keys::QCLOUD_CERT_ID) else {
        return;
    };
    let ids: Vec<Vec<u8>> = found_secrets(ctx)
        .filter_map(|(_, ids)| ids.cert_id)
        .collect();
    // With an ECC and an RSA certificate (`ID1,ID2`) the annotation may name either.
    let annotated = annotated.trim().as_bytes();
    let names_it = |id: &Vec<u8>| {
        id.trim_ascii() == annotated
            || id
                .split(|b| *b == b',')
                .any(|item| item.trim_ascii() == annotated)
    };
    if ids.is_empty() || ids.iter().any(names_it) {
        return;
    }
    out.push(Finding::new(
        &c::LEGACY_CERT_ID_ANNOTATION,
        annotation_field(keys::QCLOUD_CERT_ID),
        "differs from the qcloud_cert_id in the TLS Secret; TKE uses the Secret's",
        "remove the annotation, or update it to the Secret's id",
    ));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::testing::*;
    use serde_json::json;

    fn secret(fixture: Fixture, name: &str) -> Fixture {
        fixture.set("/spec/tls/0/secretName", json!(name))
    }

    const CERTIFICATE: &str = "ingress.cloud.tencent.com/certificate";
    const API_RULE: &str = r#"{"host": "api.example.com", "http": {"paths": [{"path": "/", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}"#;

    const WWW_ENTRY: &str = r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#;

    fn with_api_rule(fixture: Fixture) -> Fixture {
        fixture.set("/spec/rules/1", serde_json::from_str(API_RULE).unwrap())
    }

    rule_cases! {
        tls_and_certificate_annotation: TLS_AND_CERTIFICATE_ANNOTATION {
            fires both: tls().annotate(CERTIFICATE, r#"[{"hosts":["www.example.com"],"qcloud_cert_id":["Abcd1234"]}]"#);
            clean spec_tls_only: tls();
        }
        tls_secret_name: TLS_SECRET_NAME {
            fires empty: secret(tls(), "") => "spec.tls[0].secretName";
            fires absent: tls().remove("/spec/tls/0/secretName");
            fires path_traversal: secret(tls(), "../../kube-system/secrets/victim") => "spec.tls[0].secretName";
            fires query: secret(tls(), "victim?x=1");
            clean named: tls();
        }
        tls_secret_missing: TLS_SECRET_MISSING {
            fires no_such_secret: secret(tls(), "nope") => "spec.tls[0].secretName";
            fires unreadable: tls().secrets_unavailable();
            clean exists: tls();
        }
        tls_cert_id_missing: TLS_CERT_ID_MISSING {
            fires no_cert_id_key: secret(tls(), "no-id") => "spec.tls[0].secretName";
            clean has_cert_id: tls();
        }
        tls_cert_id_format: TLS_CERT_ID_FORMAT {
            fires trailing_newline: secret(tls(), "newline");
            fires empty: secret(tls(), "empty");
            fires three_ids: secret(tls(), "three-ids");
            fires annotation_placeholder: http().annotate(CERTIFICATE, r#"[{"hosts":["www.example.com"],"qcloud_cert_id":["certA"]}]"#)
                => "metadata.annotations[ingress.cloud.tencent.com/certificate][0].qcloud_cert_id[0]";
            clean eight_characters: tls();
            clean ecc_and_rsa_pair: secret(tls(), "dual");
            clean annotation_ids: http().annotate(CERTIFICATE,
                r#"[{"hosts":["www.example.com"],"qcloud_cert_id":["Abcd1234","Efgh5678"]},{"qcloud_cert_id":"TKPmsWb3"}]"#);
        }
        tls_default_conflict: TLS_DEFAULT_CONFLICT {
            fires two_defaults: tls().set("/spec/tls", json!([{"secretName": "cert"}, {"secretName": "cert2"}])) => "spec.tls[1]";
            clean one_default: tls().set("/spec/tls", json!([{"secretName": "cert"}, {"hosts": ["www.example.com"], "secretName": "cert2"}]));
        }
        tls_sni_conflict: TLS_SNI_CONFLICT {
            fires host_twice: tls().set("/spec/tls", json!([
                {"hosts": ["www.example.com"], "secretName": "cert"},
                {"hosts": ["www.example.com"], "secretName": "cert2"}])) => "spec.tls[1].hosts[0]";
            clean distinct_hosts: tls().set("/spec/tls", json!([
                {"hosts": ["www.example.com"], "secretName": "cert"},
                {"hosts": ["api.example.com"], "secretName": "cert2"}]));
        }
        tls_host_uncovered: TLS_HOST_UNCOVERED {
            fires other_domain: tls().set("/spec/tls/0/hosts", json!(["*.other.com"])) => "spec.rules[0].host";
            fires rule_mix_sends_unlisted_rules_to_https: with_api_rule(tls()) => "spec.rules[1].host";
            clean wildcard: tls().set("/spec/tls/0/hosts", json!(["*.example.com"]));
            clean default_certificate: with_api_rule(tls()).set("/spec/tls/0/hosts", json!([]));
            clean listed_in_http_rules: with_api_rule(tls()).annotate("kubernetes.io/ingress.http-rules",
                r#"[{"host":"api.example.com","path":"/","backend":{"serviceName":"web","servicePort":80}}]"#);
        }
        tls_certificate_unused: TLS_CERTIFICATE_UNUSED {
            fires seed_blog_third_example: tls().annotate("kubernetes.io/ingress.http-rules", WWW_ENTRY)
                => "spec.tls[0]";
            clean listed_in_both: tls().annotate("kubernetes.io/ingress.http-rules", WWW_ENTRY)
                .annotate("kubernetes.io/ingress.https-rules", WWW_ENTRY);
            clean rule_mix_alone_keeps_https: tls();
        }
        legacy_cert_id_annotation: LEGACY_CERT_ID_ANNOTATION {
            fires differs_from_the_secret: tls().annotate("qcloud_cert_id", "Zzzz9999");
            clean same_as_the_secret: tls().annotate("qcloud_cert_id", "TKPmsWb3");
        }
    }

    #[test]
    fn an_unreadable_secret_warns_and_never_denies() {
        let decision = tls().secrets_unavailable().decide();
        assert!(decision.allowed());
        assert_eq!(decision.findings[0].severity, Severity::Warn);
        assert!(
            decision.warnings[0].contains("could not be read"),
            "{:?}",
            decision.warnings
        );
        assert!(
            !decision.warnings[0].contains("E4010"),
            "{:?}",
            decision.warnings
        );
    }

    #[test]
    fn a_rule_mix_path_listed_nowhere_says_why_it_went_to_https() {
        let finding = &with_api_rule(tls()).findings_of(&c::TLS_HOST_UNCOVERED)[0];
        assert!(
            finding
                .problem
                .contains("neither http-rules nor https-rules lists it"),
            "{}",
            finding.problem
        );
    }

    #[test]
    fn secret_references_are_the_tls_secrets_once_each() {
        let fixture = tls().set(
            "/spec/tls",
            json!([{"secretName": "a"}, {"hosts": ["x.example.com"], "secretName": "a"},
                   {"secretName": ""}, {"secretName": "b"}]),
        );
        let ingress = Ingress::from_value(fixture.object).unwrap();
        let names: Vec<_> = secret_references(&ingress)
            .into_iter()
            .map(|r| (r.index, r.name))
            .collect();
        assert_eq!(names, [(0, "a"), (3, "b")]);
    }

    #[test]
    fn cert_id_format() {
        let problem = |id: &[u8]| cert_id_problem(id, MAX_CERT_IDS).map(|p| (p.kind, p.text));
        assert_eq!(problem(b"TKPmsWb3"), None);
        assert_eq!(problem(b"XczRzegn,YCOLTUdr"), None, "ECC+RSA pair");
        assert!(problem(b"TKPmsWb3\n").unwrap().1.contains("newline"));
        assert!(problem(b"TKPmsWb3 ").unwrap().1.contains("whitespace"));
        assert!(problem(b"short").unwrap().1.contains("5 bytes"));
        assert!(problem(b"TKPms-b3").is_some());
        assert!(!problem(b"TKPmsWb3\r\n").unwrap().1.contains("TKP"));
        assert_eq!(
            problem(b""),
            Some((CertIdProblemKind::Empty, "is empty".into()))
        );
        assert_eq!(problem(b"  ").unwrap().1, "is empty");
        let (kind, text) = problem(b"XczRzegn,YCOLTUdr,Abcd1234").unwrap();
        assert_eq!(kind, CertIdProblemKind::Deny);
        assert!(text.contains("lists 3 ids"), "{text}");
        let (kind, text) = problem(b"XczRzegn, YCOLTUdr").unwrap();
        assert_eq!(kind, CertIdProblemKind::Unsure);
        assert!(text.contains("spaces around a comma"), "{text}");
        assert_eq!(problem(b"XczRzegn,").unwrap().0, CertIdProblemKind::Unsure);
        assert!(
            problem(b"XczRzegn,YCOL")
                .unwrap()
                .1
                .starts_with("id 2 of 2 is 4 bytes")
        );
        assert!(
            cert_id_problem(b"XczRzegn,YCOLTUdr", 1)
                .unwrap()
                .text
                .contains("lists 2 ids"),
            "a CA certificate is one id"
        );
    }

    #[test]
    fn cert_id_messages_say_what_is_wrong() {
        let message = |secret_name: &str| {
            let fixture = secret(tls(), secret_name);
            let findings = fixture.findings_of(&c::TLS_CERT_ID_FORMAT);
            assert_eq!(findings.len(), 1, "{secret_name}: {findings:?}");
            (
                findings[0].severity,
                findings[0].problem.clone(),
                findings[0].tke_code,
            )
        };
        assert_eq!(
            message("empty"),
            (
                Severity::Deny,
                "qcloud_cert_id in Secret \"empty\" is empty".into(),
                None
            )
        );
        let (severity, problem, code) = message("three-ids");
        assert_eq!((severity, code), (Severity::Deny, Some("E4035")));
        assert!(problem.contains("at most 2"), "{problem}");
        let (severity, problem, _) = message("padded");
        assert_eq!(severity, Severity::Warn);
        assert!(problem.contains("spaces around a comma"), "{problem}");
    }
}
