//! Backend Services: they exist, have the port, and are of a type the CLB can reach
//! (behaviour spec §5).

use k8s_openapi::api::networking::v1::IngressBackend;

use crate::cluster::ServiceSummary;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::{Finding, Severity};

/// A backend reference, wherever it was written.
struct Reference<'a> {
    service: &'a str,
    port: Port<'a>,
    /// Field paths of the service name and the port.
    name_field: String,
    port_field: String,
}

enum Port<'a> {
    Number(i32),
    Name(&'a str),
    Missing,
}

pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let direct = ctx.is_true(keys::DIRECT_ACCESS);
    for path in ctx.spec_paths() {
        let field = format!("{}.backend", path.field());
        spec_backend(ctx, &path.path.backend, &field, direct, out);
    }
    if let Some(backend) = ctx.default_backend {
        spec_backend(ctx, backend, "spec.defaultBackend", direct, out);
    }
    for entry in ctx.http_entries.iter().chain(&ctx.https_entries) {
        let Some(backend) = &entry.backend else {
            continue;
        };
        let port = match backend.port.parse::<i32>() {
            Ok(n) => Port::Number(n),
            Err(_) => Port::Name(&backend.port),
        };
        let field = format!("{}.backend", entry.field());
        check_reference(
            ctx,
            &Reference {
                service: &backend.service,
                port,
                name_field: format!("{field}.serviceName"),
                port_field: format!("{field}.servicePort"),
            },
            direct,
            out,
        );
    }
}

fn spec_backend(
    ctx: &Ctx<'_>,
    backend: &IngressBackend,
    field: &str,
    direct: bool,
    out: &mut Vec<Finding>,
) {
    let Some(service) = &backend.service else {
        if backend.resource.is_some() {
            out.push(Finding::new(
                &c::RESOURCE_BACKEND,
                format!("{field}.resource"),
                "is a resource backend; a CLB can only forward to Services",
                "point the backend at a NodePort or LoadBalancer Service",
            ));
        }
        return;
    };
    let (port, port_field) = match &service.port {
        Some(p) => match (p.number, p.name.as_deref()) {
            (Some(n), _) => (Port::Number(n), format!("{field}.service.port.number")),
            (None, Some(name)) => (Port::Name(name), format!("{field}.service.port.name")),
            (None, None) => (Port::Missing, format!("{field}.service.port")),
        },
        None => (Port::Missing, format!("{field}.service.port")),
    };
    check_reference(
        ctx,
        &Reference {
            service: &service.name,
            port,
            name_field: format!("{field}.service.name"),
            port_field,
        },
        direct,
        out,
    );
}

fn check_reference(ctx: &Ctx<'_>, reference: &Reference<'_>, direct: bool, out: &mut Vec<Finding>) {
    let name = reference.service;
    let Some(service) = ctx.cluster.service(ctx.namespace, name) else {
        out.push(Finding::new(
            &c::BACKEND_SERVICE_MISSING,
            reference.name_field.clone(),
            format!(
                "Service {name:?} does not exist in namespace {}",
                ctx.namespace
            ),
            "create the Service first, in the Ingress's namespace (TKE never looks elsewhere)",
        ));
        return;
    };
    if let Some(problem) = port_problem(&service, &reference.port) {
        out.push(Finding::new(
            &c::BACKEND_PORT_MISSING,
            reference.port_field.clone(),
            format!("Service {name:?} {problem}"),
            format!("use one of the Service's ports: {}", port_list(&service)),
        ));
    }
    type_check(name, &service, &reference.name_field, direct, out);
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

fn type_check(
    name: &str,
    service: &ServiceSummary,
    field: &str,
    direct: bool,
    out: &mut Vec<Finding>,
) {
    let kind = service.service_type.as_str();
    if matches!(kind, "NodePort" | "LoadBalancer") {
        return;
    }
    let finding = Finding::new(
        &c::BACKEND_SERVICE_TYPE,
        field.to_owned(),
        format!("Service {name:?} is {kind}; the CLB forwards to NodePorts"),
        "make the Service type NodePort (or LoadBalancer), or set ingress.cloud.tencent.com/direct-access: \"true\" on VPC-CNI clusters",
    );
    match (kind, direct) {
        // With direct access the CLB binds Pod IPs, so ClusterIP works.
        (_, true) if kind != "ExternalName" => {}
        // An ExternalName Service has no Pods to bind; support is undocumented, so only warn.
        ("ExternalName", true) => out.push(finding.with_severity(Severity::Warn)),
        _ => out.push(finding),
    }
}
