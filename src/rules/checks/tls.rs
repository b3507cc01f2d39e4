//! TLS: the Secrets TKE reads certificate ids from, and which HTTPS hosts they cover
//! (behaviour spec §4).

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::networking::v1::Ingress;

use crate::cluster::{SecretCertIds, SecretLookup};
use crate::ingress::clb::{ListenerRules, UrlRule};
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
pub fn secret_references(ingress: &Ingress) -> Vec<SecretReference<'_>> {
    let tls = ingress.spec.as_ref().and_then(|s| s.tls.as_deref());
    let mut references: Vec<SecretReference<'_>> = Vec::new();
    for (index, entry) in tls.into_iter().flatten().enumerate() {
        let Some(name) = entry.secret_name.as_deref().filter(|n| !n.is_empty()) else {
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
) -> impl Iterator<Item = (SecretReference<'a>, String, SecretCertIds)> + 'a {
    secret_references(ctx.ingress)
        .into_iter()
        .filter_map(move |r| match ctx.cluster.secret(ctx.namespace, r.name) {
            SecretLookup::Found(ids) => Some((r, r.field(), ids)),
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
        if tls.secret_name.as_deref().is_none_or(str::is_empty) {
            out.push(Finding::new(
                &c::TLS_SECRET_NAME,
                format!("spec.tls[{i}].secretName"),
                "is empty; TKE needs a Secret holding qcloud_cert_id",
                "name an Opaque Secret with the key qcloud_cert_id in this namespace",
            ));
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
    for (reference, field, ids) in found_secrets(ctx) {
        if ids.cert_id.is_none() {
            out.push(Finding::new(
                &c::TLS_CERT_ID_MISSING,
                field,
                format!("Secret {:?} has no qcloud_cert_id key", reference.name),
                "add qcloud_cert_id (the Tencent Cloud SSL certificate id) to the Secret",
            ));
        }
    }
}

pub fn tls_cert_id_format(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (reference, field, ids) in found_secrets(ctx) {
        for (key, id) in [
            ("qcloud_cert_id", &ids.cert_id),
            ("qcloud_ca_cert_id", &ids.ca_cert_id),
        ] {
            if let Some(problem) = id.as_deref().and_then(cert_id_problem) {
                out.push(Finding::new(
                    &c::TLS_CERT_ID_FORMAT,
                    field.clone(),
                    format!("{key} in Secret {:?} {problem}", reference.name),
                    "store the 8-character id without a newline (echo -n, or stringData)",
                ));
            }
        }
    }
    annotation_cert_id_format(ctx, out);
}

/// The ids of the certificate annotation take the Secrets' 8-character form (E4035); the
/// annotation is read only without `spec.tls` (behaviour spec §4.2).
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
            if let Some(problem) = cert_id_problem(id.as_bytes()) {
                out.push(Finding::new(
                    &c::TLS_CERT_ID_FORMAT,
                    field,
                    format!("{id:?} {problem}"),
                    "use the 8-character id from the SSL certificate console",
                ));
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

/// What is wrong with a certificate id, without ever quoting it.
fn cert_id_problem(id: &[u8]) -> Option<String> {
    let trimmed = id.trim_ascii_end();
    if trimmed.len() < id.len() {
        let what = if id.ends_with(b"\n") {
            "a newline (made with echo without -n?)"
        } else {
            "whitespace"
        };
        return Some(format!("ends with {what}"));
    }
    if id.len() != CERT_ID_LEN || !id.iter().all(u8::is_ascii_alphanumeric) {
        return Some(format!(
            "is {} bytes, not {CERT_ID_LEN} letters or digits",
            id.len()
        ));
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

/// The legacy `qcloud_cert_id` annotation is informational; a different id from the Secret's
/// suggests a stale manifest.
pub fn legacy_cert_id_annotation(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(annotated) = ctx.annotation(keys::QCLOUD_CERT_ID) else {
        return;
    };
    let ids: Vec<Vec<u8>> = found_secrets(ctx)
        .filter_map(|(_, _, ids)| ids.cert_id)
        .collect();
    if ids.is_empty()
        || ids
            .iter()
            .any(|id| id.trim_ascii() == annotated.trim().as_bytes())
    {
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
            fires annotation_placeholder: http().annotate(CERTIFICATE, r#"[{"hosts":["www.example.com"],"qcloud_cert_id":["certA"]}]"#)
                => "metadata.annotations[ingress.cloud.tencent.com/certificate][0].qcloud_cert_id[0]";
            clean eight_characters: tls();
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
        let ingress: Ingress = serde_json::from_value(fixture.object).unwrap();
        let names: Vec<_> = secret_references(&ingress)
            .into_iter()
            .map(|r| (r.index, r.name))
            .collect();
        assert_eq!(names, [(0, "a"), (3, "b")]);
    }

    #[test]
    fn cert_id_format() {
        assert_eq!(cert_id_problem(b"TKPmsWb3"), None);
        assert!(cert_id_problem(b"TKPmsWb3\n").unwrap().contains("newline"));
        assert!(
            cert_id_problem(b"TKPmsWb3 ")
                .unwrap()
                .contains("whitespace")
        );
        assert!(cert_id_problem(b"short").unwrap().contains("5 bytes"));
        assert!(cert_id_problem(b"TKPms-b3").is_some());
        assert!(!cert_id_problem(b"TKPmsWb3\r\n").unwrap().contains("TKP"));
    }
}
