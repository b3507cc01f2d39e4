//! TLS: the Secrets TKE reads certificate ids from, and which HTTPS hosts they cover
//! (behaviour spec §4).

use std::collections::{HashMap, HashSet};

use crate::cluster::SecretLookup;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;
use crate::rules::{Finding, Severity};

const CERT_ID_LEN: usize = 8;

pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.tls.is_empty() && ctx.annotations.contains_key(keys::CERTIFICATE) {
        out.push(Finding::new(
            &c::TLS_AND_CERTIFICATE_ANNOTATION,
            annotation_field(keys::CERTIFICATE),
            "is set together with spec.tls; TKE takes certificates from one or the other",
            "keep spec.tls with its Secrets, or the certificate annotation, not both",
        ));
    }
    let secrets = secrets(ctx, out);
    conflicts(ctx, out);
    coverage(ctx, out);
    legacy_annotation(ctx, &secrets, out);
}

/// Reads each named Secret once; returns the certificate ids found, by Secret name.
fn secrets(ctx: &Ctx<'_>, out: &mut Vec<Finding>) -> HashMap<String, Option<Vec<u8>>> {
    let mut seen: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    for (i, tls) in ctx.tls.iter().enumerate() {
        let field = format!("spec.tls[{i}].secretName");
        let Some(name) = tls.secret_name.as_deref().filter(|n| !n.is_empty()) else {
            out.push(Finding::new(
                &c::TLS_SECRET_NAME,
                field,
                "is empty; TKE needs a Secret holding qcloud_cert_id",
                "name an Opaque Secret with the key qcloud_cert_id in this namespace",
            ));
            continue;
        };
        if seen.contains_key(name) {
            continue;
        }
        let cert_id = match ctx.cluster.secret(ctx.namespace, name) {
            SecretLookup::Found(ids) => {
                if ids.cert_id.is_none() {
                    out.push(Finding::new(
                        &c::TLS_CERT_ID_MISSING,
                        field.clone(),
                        format!("Secret {name:?} has no qcloud_cert_id key"),
                        "add qcloud_cert_id (the Tencent Cloud SSL certificate id) to the Secret",
                    ));
                }
                for (key, id) in [
                    ("qcloud_cert_id", &ids.cert_id),
                    ("qcloud_ca_cert_id", &ids.ca_cert_id),
                ] {
                    if let Some(problem) = id.as_deref().and_then(cert_id_problem) {
                        out.push(Finding::new(
                            &c::TLS_CERT_ID_FORMAT,
                            field.clone(),
                            format!("{key} in Secret {name:?} {problem}"),
                            "store the 8-character id without a newline (echo -n, or stringData)",
                        ));
                    }
                }
                ids.cert_id
            }
            SecretLookup::NotFound => {
                out.push(Finding::new(
                    &c::TLS_SECRET_MISSING,
                    field.clone(),
                    format!("Secret {name:?} does not exist in namespace {}", ctx.namespace),
                    "create the Secret first (kubectl create secret generic ... --from-literal=qcloud_cert_id=...)",
                ));
                None
            }
            SecretLookup::Unavailable(reason) => {
                // Not a prediction of E4010: the Secret may well exist.
                out.push(Finding {
                    tke_code: None,
                    ..Finding::new(
                        &c::TLS_SECRET_MISSING,
                        field.clone(),
                        format!("Secret {name:?} could not be read ({reason}); not checked"),
                        "",
                    )
                    .with_severity(Severity::Warn)
                });
                None
            }
        };
        seen.insert(name.to_owned(), cert_id);
    }
    seen
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

/// At most one default certificate, and each host in at most one entry.
fn conflicts(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let mut default_entry: Option<usize> = None;
    let mut host_entry: HashMap<&str, usize> = HashMap::new();
    for (i, tls) in ctx.tls.iter().enumerate() {
        let hosts = tls.hosts.as_deref().unwrap_or_default();
        if hosts.is_empty() {
            if let Some(first) = default_entry {
                out.push(Finding::new(
                    &c::TLS_DEFAULT_CONFLICT,
                    format!("spec.tls[{i}]"),
                    format!("is a second entry without hosts (spec.tls[{first}] is the default certificate)"),
                    "keep one host-less entry; list hosts on the others",
                ));
            } else {
                default_entry = Some(i);
            }
        }
        for (j, host) in hosts.iter().enumerate() {
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

/// The hosts certificates cover, and whether there is a default one.
struct Certificates {
    hosts: Vec<String>,
    default: bool,
}

impl Certificates {
    fn of(ctx: &Ctx<'_>) -> Self {
        if !ctx.tls.is_empty() {
            let mut hosts = Vec::new();
            let mut default = false;
            for tls in ctx.tls {
                match tls.hosts.as_deref() {
                    Some(h) if !h.is_empty() => hosts.extend(h.iter().cloned()),
                    _ => default = true,
                }
            }
            return Self { hosts, default };
        }
        // The certificate annotation: entries with hosts, or without (the default).
        let mut hosts = Vec::new();
        let mut default = false;
        for entry in ctx
            .json(keys::CERTIFICATE)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            match entry.get("hosts").and_then(|h| h.as_array()) {
                Some(h) if !h.is_empty() => {
                    hosts.extend(h.iter().filter_map(|v| v.as_str()).map(str::to_owned));
                }
                _ => default = true,
            }
        }
        Self { hosts, default }
    }

    fn covers(&self, host: &str) -> bool {
        if self.default {
            return true;
        }
        !host.is_empty() && self.hosts.iter().any(|cert| host_matches(cert, host))
    }
}

/// Exact match, or a one-level wildcard: `*.abc.com` covers `www.abc.com`, not `a.b.abc.com`.
fn host_matches(cert: &str, host: &str) -> bool {
    if cert == host {
        return true;
    }
    cert.strip_prefix("*.").is_some_and(|suffix| {
        host.split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
    })
}

/// Every host served on HTTPS needs a certificate (E4040).
fn coverage(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if !ctx.has_certificates() {
        return;
    }
    let certificates = Certificates::of(ctx);
    let mut reported: HashSet<usize> = HashSet::new();
    for path in ctx.spec_paths() {
        if reported.contains(&path.rule_index) || certificates.covers(path.host) {
            continue;
        }
        let placement = ctx.placement(&path);
        if !placement.https {
            continue;
        }
        reported.insert(path.rule_index);
        let host = if path.host.is_empty() {
            "(no host)".to_owned()
        } else {
            format!("{:?}", path.host)
        };
        let why = if placement.https_by_default {
            format!(
                "; {} went to HTTPS because neither http-rules nor https-rules lists it",
                path.field()
            )
        } else {
            String::new()
        };
        out.push(Finding::new(
            &c::TLS_HOST_UNCOVERED,
            format!("spec.rules[{}].host", path.rule_index),
            format!("{host} is served on HTTPS but no TLS entry covers it{why}"),
            "add the host to a spec.tls entry (or a *. wildcard), add a host-less default entry, or list the path in http-rules",
        ));
    }
}

/// The legacy `qcloud_cert_id` annotation is informational; a different id from the Secret's
/// suggests a stale manifest.
fn legacy_annotation(
    ctx: &Ctx<'_>,
    secrets: &HashMap<String, Option<Vec<u8>>>,
    out: &mut Vec<Finding>,
) {
    let Some(annotated) = ctx.annotation(keys::QCLOUD_CERT_ID) else {
        return;
    };
    let ids: Vec<&[u8]> = secrets.values().flatten().map(Vec::as_slice).collect();
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
mod tests {
    use super::*;

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

    #[test]
    fn wildcards_cover_one_level() {
        assert!(host_matches("*.abc.com", "www.abc.com"));
        assert!(!host_matches("*.abc.com", "a.b.abc.com"));
        assert!(!host_matches("*.abc.com", "abc.com"));
        assert!(host_matches("www.abc.com", "www.abc.com"));
    }
}
