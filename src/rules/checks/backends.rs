//! Backend Services: they exist, have the port, and are of a type the CLB can reach
//! (docs/tke-behaviour.md §5).

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::ingress::view::IngressBackend;

use crate::cluster::ServiceSummary;
use crate::rules::catalogue as c;
use crate::rules::context::{Ctx, Services};
use crate::rules::{Finding, Severity};

/// A backend Service reference, wherever it was written: a spec path, the default backend, or an
/// http-rules/https-rules entry.
pub struct Reference<'a> {
    pub service: &'a str,
    pub port: Port<'a>,
    /// Where it is written; its field paths are spelled out only for a finding.
    at: At,
}

pub enum Port<'a> {
    Number(i32),
    Name(&'a str),
    Missing,
}

/// Where a reference is written.
#[derive(Clone, Copy)]
enum At {
    SpecPath { rule: usize, path: usize },
    DefaultBackend,
    Entry { key: &'static str, index: usize },
}

impl Reference<'_> {
    /// The backend's own field path (`spec.rules[0].http.paths[1].backend`).
    fn backend_field(&self) -> String {
        match self.at {
            At::SpecPath { rule, path } => format!("spec.rules[{rule}].http.paths[{path}].backend"),
            At::DefaultBackend => "spec.defaultBackend".to_owned(),
            At::Entry { key, index } => format!("metadata.annotations[{key}][{index}].backend"),
        }
    }

    /// The field path of the Service's name.
    pub fn name_field(&self) -> String {
        let backend = self.backend_field();
        match self.at {
            At::Entry { .. } => format!("{backend}.serviceName"),
            _ => format!("{backend}.service.name"),
        }
    }

    /// The field path of the port (of the number or name as written).
    pub fn port_field(&self) -> String {
        let backend = self.backend_field();
        match (self.at, &self.port) {
            (At::Entry { .. }, _) => format!("{backend}.servicePort"),
            (_, Port::Number(_)) => format!("{backend}.service.port.number"),
            (_, Port::Name(_)) => format!("{backend}.service.port.name"),
            (_, Port::Missing) => format!("{backend}.service.port"),
        }
    }
}

/// Every Service reference of the Ingress, in field order.
pub fn references<'a>(ctx: &'a Ctx<'_>) -> Vec<Reference<'a>> {
    let mut out = Vec::new();
    for path in ctx.spec_paths() {
        let at = At::SpecPath {
            rule: path.rule_index,
            path: path.path_index,
        };
        spec_reference(&path.path.backend, at, &mut out);
    }
    if let Some(backend) = ctx.default_backend {
        spec_reference(backend, At::DefaultBackend, &mut out);
    }
    for entry in ctx.entries() {
        let Some((service, port)) = &entry.read.backend else {
            continue;
        };
        let port = match port.parse::<i32>() {
            Ok(n) => Port::Number(n),
            Err(_) => Port::Name(port),
        };
        out.push(Reference {
            service,
            port,
            at: At::Entry {
                key: entry.key,
                index: entry.index,
            },
        });
    }
    out
}

fn spec_reference<'a>(backend: &'a IngressBackend<'a>, at: At, out: &mut Vec<Reference<'a>>) {
    let Some(service) = &backend.service else {
        return;
    };
    let port = match &service.port {
        Some(p) => match (p.number, p.name.as_deref()) {
            (Some(n), _) => Port::Number(n),
            (None, Some(name)) => Port::Name(name),
            (None, None) => Port::Missing,
        },
        None => Port::Missing,
    };
    out.push(Reference {
        service: &service.name,
        port,
        at,
    });
}

/// Every reference with its Service (`None`: not in the cluster view). Each Service is looked up
/// once per review, however many references and rules read it.
fn resolved<'a>(
    ctx: &'a Ctx<'_>,
) -> impl Iterator<Item = (Reference<'a>, Option<&'a ServiceSummary>)> {
    let services = ctx.services.get_or_init(|| {
        // One look-up per distinct name; then each reference holds its Service's index (a
        // 500-rule Ingress names 500 Services, and four rules read them).
        let mut found: Vec<Option<ServiceSummary>> = Vec::new();
        let references = references(ctx);
        let mut by_name: HashMap<&str, usize, RandomState> =
            HashMap::with_capacity_and_hasher(references.len(), RandomState::default());
        let by_reference = references
            .iter()
            .map(|r| {
                *by_name.entry(r.service).or_insert_with(|| {
                    found.push(ctx.cluster.service(ctx.namespace, r.service));
                    found.len() - 1
                })
            })
            .collect();
        Services {
            found,
            by_reference,
        }
    });
    references(ctx)
        .into_iter()
        .zip(&services.by_reference)
        .map(move |(r, &at)| (r, services.found[at].as_ref()))
}

/// The references whose Service exists, with it.
fn found<'a>(ctx: &'a Ctx<'_>) -> impl Iterator<Item = (Reference<'a>, &'a ServiceSummary)> {
    resolved(ctx).filter_map(|(r, service)| Some((r, service?)))
}

pub fn backend_service_missing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // A view that holds only part of the cluster cannot tell a missing Service from one it was
    // not given; `check` reports those as unresolved (the look-ups are still recorded).
    let complete = ctx.cluster.is_complete();
    for (reference, service) in resolved(ctx) {
        if complete && service.is_none() {
            let name = reference.service;
            out.push(Finding::new(
                &c::BACKEND_SERVICE_MISSING,
                reference.name_field(),
                format!(
                    "Service {name:?} does not exist in namespace {}",
                    ctx.namespace
                ),
                "create the Service first, in the Ingress's namespace (TKE never looks elsewhere)",
            ));
        }
    }
}

pub fn backend_port_missing(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (reference, service) in found(ctx) {
        if let Some(problem) = port_problem(service, &reference.port) {
            out.push(Finding::new(
                &c::BACKEND_PORT_MISSING,
                reference.port_field(),
                format!("Service {:?} {problem}", reference.service),
                format!("use one of the Service's ports: {}", port_list(service)),
            ));
        }
    }
}

fn port_problem(service: &ServiceSummary, port: &Port<'_>) -> Option<String> {
    match port {
        Port::Number(n) if !service.ports.iter().any(|p| p.port == *n) => {
            Some(format!("has no port {n}"))
        }
        Port::Name(name)
            if !service
                .ports
                .iter()
                .any(|p| p.name.as_deref() == Some(*name)) =>
        {
            Some(format!("has no port named {name:?}"))
        }
        Port::Missing => Some("is referenced without a port".to_owned()),
        _ => None,
    }
}

fn port_list(service: &ServiceSummary) -> String {
    if service.ports.is_empty() {
        return "(it has none)".to_owned();
    }
    service
        .ports
        .iter()
        .map(|p| match &p.name {
            Some(name) => format!("{} ({name})", p.port),
            None => p.port.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn backend_service_type(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let direct = ctx.direct_access();
    for (reference, service) in found(ctx) {
        let kind = &*service.service_type;
        if matches!(kind, "NodePort" | "LoadBalancer") {
            continue;
        }
        let finding = Finding::new(
            &c::BACKEND_SERVICE_TYPE,
            reference.name_field(),
            format!(
                "Service {:?} is {kind}; the CLB forwards to NodePorts",
                reference.service
            ),
            "make the Service NodePort (or LoadBalancer), or set ingress.cloud.tencent.com/direct-access: \"true\" (VPC-CNI, or GlobalRouter with direct access)",
        );
        match (kind, direct) {
            // With direct access the CLB binds Pod IPs, so ClusterIP works.
            (_, true) if kind != "ExternalName" => {}
            // An ExternalName Service has no Pods to bind; support is undocumented, so only warn.
            ("ExternalName", true) => out.push(finding.with_severity(Severity::Warn)),
            _ => out.push(finding),
        }
    }
}

pub fn resource_backend(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let spec_paths = ctx.spec_paths().map(|p| (&p.path.backend, Some(p)));
    let default = ctx.default_backend.map(|b| (b, None));
    for (backend, path) in spec_paths.chain(default) {
        if backend.service.is_none() && backend.resource.is_some() {
            let field = match path {
                Some(p) => format!("{}.backend.resource", p.field()),
                None => "spec.defaultBackend.resource".to_owned(),
            };
            out.push(Finding::new(
                &c::RESOURCE_BACKEND,
                field,
                "is a resource backend; a CLB can only forward to Services",
                "point the backend at a NodePort or LoadBalancer Service",
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::testing::*;
    use serde_json::json;

    const HTTPS_RULES: &str = "kubernetes.io/ingress.https-rules";

    rule_cases! {
        backend_service_missing: BACKEND_SERVICE_MISSING {
            fires no_such_service: http().backend("nope") => "spec.rules[0].http.paths[0].backend.service.name";
            fires in_an_annotation: tls().annotate(HTTPS_RULES,
                r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"nope","servicePort":"80"}}]"#)
                => "metadata.annotations[kubernetes.io/ingress.https-rules][0].backend.serviceName";
            clean exists: http();
        }
        backend_port_missing: BACKEND_PORT_MISSING {
            fires no_such_port_name: http().set("/spec/rules/0/http/paths/0/backend/service/port", json!({"name": "grpc"}))
                => "spec.rules[0].http.paths[0].backend.service.port.name";
            fires in_an_annotation: tls().annotate(HTTPS_RULES,
                r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"8080"}}]"#)
                => "metadata.annotations[kubernetes.io/ingress.https-rules][0].backend.servicePort";
            clean port_by_name: http().set("/spec/rules/0/http/paths/0/backend/service/port", json!({"name": "http"}));
            clean port_by_number: http();
        }
        backend_service_type: BACKEND_SERVICE_TYPE {
            fires cluster_ip: http().backend("internal") => "spec.rules[0].http.paths[0].backend.service.name";
            fires in_an_annotation: tls().annotate(HTTPS_RULES,
                r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"internal","servicePort":"80"}}]"#);
            fires external_name_with_direct_access: http().backend("ext").annotate("ingress.cloud.tencent.com/direct-access", "true");
            clean node_port: http();
            clean load_balancer: http().backend("lb");
            clean cluster_ip_with_direct_access: http().backend("internal").annotate("ingress.cloud.tencent.com/direct-access", "true");
            clean cluster_ip_where_direct_access_is_the_default: http().backend("internal").with_settings(|s| s.direct_access_by_default = true);
        }
        resource_backend: RESOURCE_BACKEND {
            fires resource: http().set("/spec/rules/0/http/paths/0/backend", json!({"resource": {"kind": "Bucket", "name": "b"}}))
                => "spec.rules[0].http.paths[0].backend.resource";
            clean service: http();
        }
    }

    #[test]
    fn an_external_name_service_only_warns_with_direct_access() {
        let fixture = http()
            .backend("ext")
            .annotate("ingress.cloud.tencent.com/direct-access", "true");
        assert!(fixture.decide().allowed());
        let finding = &fixture.findings_of(&c::BACKEND_SERVICE_TYPE)[0];
        assert_eq!(finding.severity, Severity::Warn);
    }

    #[test]
    fn annotation_backends_are_checked_like_spec_backends() {
        let decision = tls()
            .annotate(
                HTTPS_RULES,
                r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"internal","servicePort":"8080"}}]"#,
            )
            .decide();
        let fields: Vec<_> = decision
            .findings
            .iter()
            .map(|f| (f.rule.id, f.field.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                (
                    "backend-port-missing",
                    "metadata.annotations[kubernetes.io/ingress.https-rules][0].backend.servicePort"
                ),
                (
                    "backend-service-type",
                    "metadata.annotations[kubernetes.io/ingress.https-rules][0].backend.serviceName"
                ),
            ]
        );
    }
}
