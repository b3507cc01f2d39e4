//! A plan of one Ingress: the model of what TKE builds ([`crate::ingress::clb`]) with the
//! cluster facts it names (a Secret's `qcloud_cert_id`, a Service's NodePort, the other
//! Ingresses on a shared CLB), and the line of the manifest each part comes from.

use serde::Serialize;

use crate::cluster::{ClusterLookup, SecretLookup, ServiceSummary};
use crate::ingress::clb::{self, CertKind, CertSource, Clb};
use crate::ingress::listeners::Listener;
use crate::ingress::{self, DecodedIngress};
use crate::manifest::locate::{self, Node};

/// What TKE builds from one Ingress, with the cluster facts, in the shape `plan --output json`
/// prints (docs/plan-schema.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressPlan {
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub line: usize,
    /// `allowed`, `warned`, `denied` (what the webhook answers), or `exempt`.
    pub verdict: &'static str,
    pub clb: ClbPlan,
    pub listeners: Vec<ListenerPlan>,
    pub redirects: Vec<RedirectPlan>,
    pub ignored: Vec<IgnoredPlan>,
    pub findings: Vec<FindingPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClbPlan {
    /// `new` (TKE creates it), `existing` (existLbId) or `in-use` (qcloud-loadbalance-id).
    pub lifecycle: &'static str,
    pub id: Option<String>,
    /// `public` or `internal`.
    pub network: &'static str,
    pub subnet: Option<String>,
    /// `IPv4`, `IPv6 (NAT64)`, `IPv6 FullChain`, or `existing` (the CLB's own).
    pub ip_version: String,
    pub enable_group: bool,
    /// `namespace/name` of the other Ingresses on the CLB, from the inputs or the cluster.
    pub shared_with: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerPlan {
    pub protocol: &'static str,
    pub port: u16,
    pub domains: Vec<DomainPlan>,
}

impl ListenerPlan {
    pub fn name(&self) -> String {
        format!("{}:{}", self.protocol, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainPlan {
    /// `""`: the CLB's default domain.
    pub host: String,
    /// On HTTPS listeners only.
    pub certificate: Option<CertificatePlan>,
    pub rules: Vec<RulePlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificatePlan {
    /// `sni`, `default`, or `none` (no certificate: TKE's E4040).
    pub kind: &'static str,
    /// The TLS host that matched (SNI).
    pub matched: Option<String>,
    /// The field that declares it (`spec.tls[0]`).
    pub source: Option<String>,
    pub secret: Option<String>,
    /// The `qcloud_cert_id`(s) it serves: from the Secret, or the certificate annotation.
    pub cert_ids: Vec<String>,
    /// Why no id is shown: the Secret is not among the inputs, is missing, has no id.
    pub problem: Option<String>,
    pub tke_code: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulePlan {
    pub path: String,
    pub field: String,
    pub line: usize,
    pub service: Option<String>,
    pub port: Option<String>,
    pub binds: Binds,
    pub weight: Option<WeightPlan>,
    /// Under rule-mix, listed in neither http-rules nor https-rules, so on HTTPS.
    pub https_by_default: bool,
}

/// What the CLB binds for a rule's backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Binds {
    /// `nodePort`, `pods` (direct access), `none`, `missing` or `unresolved`.
    pub kind: &'static str,
    pub node_port: Option<i32>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightPlan {
    pub default: Option<u64>,
    /// `StatefulSet[pod indexes] weight N` for the groups keyed on the backend's port.
    pub stateful_sets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PointPlan {
    pub listener: String,
    pub host: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectPlan {
    pub from: PointPlan,
    pub to: PointPlan,
    /// `None`: TKE sets no code (the CLB's default).
    pub code: Option<u16>,
    pub origin: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredPlan {
    pub field: String,
    pub line: usize,
    pub why: String,
}

/// A finding of the admission function, at its line (as `check` reports it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingPlan {
    pub line: usize,
    pub rule: &'static str,
    pub check: &'static str,
    pub severity: &'static str,
    pub tke_code: Option<&'static str>,
    pub field: String,
    pub problem: String,
    pub fix: String,
    pub message: String,
    /// Why the Ingress's skip annotation skipped it (severity `skipped`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where the plan's lines come from: the manifest's line tree, in the written version's field
/// spelling.
pub struct Lines<'a> {
    pub node: Option<&'a Node>,
    pub first_line: usize,
    pub version: ingress::IngressVersion,
}

impl Lines<'_> {
    pub fn of(&self, v1_field: &str) -> usize {
        let field = ingress::field_path(self.version, v1_field);
        self.node
            .map_or(self.first_line, |node| locate::line_of(node, &field))
    }
}

/// Everything one plan is built from.
pub struct Facts<'a> {
    pub decoded: &'a DecodedIngress<'a>,
    pub namespace: &'a str,
    pub cluster: &'a dyn ClusterLookup,
    pub lines: Lines<'a>,
    pub direct_access_by_default: bool,
}

impl Facts<'_> {
    /// The listeners, redirects and ignored parts of a model, with cluster facts and lines.
    pub fn resolve(&self, model: &Clb) -> (Vec<ListenerPlan>, Vec<RedirectPlan>, Vec<IgnoredPlan>) {
        let listeners = model
            .listeners
            .iter()
            .map(|l| ListenerPlan {
                protocol: l.listener.protocol.as_str(),
                port: l.listener.port,
                domains: l
                    .domains
                    .iter()
                    .map(|d| self.domain(model, l.listener, d))
                    .collect(),
            })
            .collect();
        let redirects = model.redirects.iter().map(|r| self.redirect(r)).collect();
        let ignored = model
            .ignored
            .iter()
            .map(|i| IgnoredPlan {
                line: self.lines.of(&i.field),
                field: ingress::field_path(self.lines.version, &i.field),
                why: i.why.clone(),
            })
            .collect();
        (listeners, redirects, ignored)
    }

    fn domain(&self, model: &Clb, listener: Listener, domain: &clb::Domain) -> DomainPlan {
        let https = listener.protocol == crate::ingress::listeners::Protocol::Https;
        DomainPlan {
            host: domain.host.clone(),
            certificate: https.then(|| self.certificate(domain.certificate.as_ref())),
            rules: domain.rules.iter().map(|r| self.rule(model, r)).collect(),
        }
    }

    fn certificate(&self, assignment: Option<&clb::CertAssignment>) -> CertificatePlan {
        let Some(assignment) = assignment else {
            return CertificatePlan {
                kind: "none",
                matched: None,
                source: None,
                secret: None,
                cert_ids: Vec::new(),
                problem: Some("no TLS entry covers the host".into()),
                tke_code: Some("E4040"),
            };
        };
        let (secret, cert_ids, problem, tke_code) = match &assignment.source {
            CertSource::Tls { secret, .. } => self.secret_ids(secret),
            CertSource::Annotation { cert_ids, .. } => (None, cert_ids.clone(), None, None),
        };
        CertificatePlan {
            kind: match assignment.kind {
                CertKind::Default => "default",
                CertKind::Sni => "sni",
            },
            matched: assignment.matched.clone(),
            source: Some(assignment.source.field()),
            secret,
            cert_ids,
            problem,
            tke_code,
        }
    }

    /// The Secret's `qcloud_cert_id`, and nothing else of it.
    fn secret_ids(
        &self,
        secret: &str,
    ) -> (
        Option<String>,
        Vec<String>,
        Option<String>,
        Option<&'static str>,
    ) {
        let name = Some(secret.to_owned());
        if secret.is_empty() {
            return (
                None,
                Vec::new(),
                Some("names no Secret".into()),
                Some("E4009"),
            );
        }
        match self.cluster.secret(self.namespace, secret) {
            SecretLookup::Found(ids) => match ids.cert_id {
                // An ECC and an RSA certificate are written `ID1,ID2` (dual-algorithm).
                Some(id) => (
                    name,
                    id.split(|b| *b == b',').map(printable).collect(),
                    None,
                    None,
                ),
                None => (
                    name,
                    Vec::new(),
                    Some("no qcloud_cert_id".into()),
                    Some("E4011"),
                ),
            },
            SecretLookup::NotFound if !self.cluster.is_complete() => (
                name,
                Vec::new(),
                Some("Secret not among the inputs".into()),
                None,
            ),
            SecretLookup::NotFound => (
                name,
                Vec::new(),
                Some("Secret not found".into()),
                Some("E4010"),
            ),
            SecretLookup::Unavailable(reason) => (name, Vec::new(), Some(reason), None),
        }
    }

    fn rule(&self, model: &Clb, rule: &clb::UrlRule) -> RulePlan {
        let field = rule.field();
        let (service, port) = rule.backend.clone().unzip();
        let found = service
            .as_deref()
            .and_then(|s| self.cluster.service(self.namespace, s));
        let port_number = found.as_ref().and_then(|svc| {
            let port = port.as_deref()?;
            svc.ports
                .iter()
                .find(|p| p.port.to_string() == port || p.name.as_deref() == Some(port))
                .map(|p| p.port)
        });
        let weight = model.weights.as_ref().map(|w| WeightPlan {
            default: w.default,
            stateful_sets: port_number
                .map(|p| {
                    w.for_port(i64::from(p))
                        .flat_map(|g| g.pods.clone())
                        .collect()
                })
                .unwrap_or_default(),
        });
        RulePlan {
            path: rule.path.clone(),
            line: self.lines.of(&field),
            field: ingress::field_path(self.lines.version, &field),
            binds: self.binds(model, rule, found.as_ref()),
            service,
            port,
            weight,
            https_by_default: rule.https_by_default,
        }
    }

    /// What the CLB binds for a backend (docs/tke-behaviour.md §5.1).
    fn binds(&self, model: &Clb, rule: &clb::UrlRule, found: Option<&ServiceSummary>) -> Binds {
        let bind = |kind, node_port, detail: String| Binds {
            kind,
            node_port,
            detail,
        };
        let Some((name, port)) = &rule.backend else {
            return bind("none", None, "backend.resource: nothing to bind".into());
        };
        if model.direct_access || self.direct_access_by_default {
            return bind("pods", None, format!("Pods of {name} (direct access)"));
        }
        let Some(service) = found else {
            return if self.cluster.is_complete() {
                bind("missing", None, format!("no Service {name} (E4041)"))
            } else {
                bind(
                    "unresolved",
                    None,
                    format!("Service {name} not among the inputs"),
                )
            };
        };
        let Some(service_port) = service
            .ports
            .iter()
            .find(|p| p.port.to_string() == *port || p.name.as_deref() == Some(port.as_str()))
        else {
            return bind(
                "missing",
                None,
                format!("no port {port} on Service {name} (E4042)"),
            );
        };
        match &*service.service_type {
            "NodePort" | "LoadBalancer" => match service_port.node_port {
                Some(n) => bind("nodePort", Some(n), format!("NodePort {n}")),
                None => bind("nodePort", None, "a NodePort Kubernetes assigns".into()),
            },
            other => bind(
                "none",
                None,
                format!("nothing: {other} without direct access (E4047)"),
            ),
        }
    }

    fn redirect(&self, redirect: &clb::Redirect) -> RedirectPlan {
        let point = |p: &clb::Point| PointPlan {
            listener: p.listener.to_string(),
            host: p.host.clone(),
            path: p.path.clone(),
        };
        let origin = redirect.origin.field();
        RedirectPlan {
            from: point(&redirect.from),
            to: point(&redirect.to),
            code: redirect.code,
            line: self.lines.of(&origin),
            origin,
        }
    }

    /// The CLB: new or existing, network, IP version, and who shares it.
    pub fn clb(&self, model: &Clb) -> ClbPlan {
        let lb = &model.load_balancer;
        let (lifecycle, id) = match (&lb.exist_lb_id, &lb.lb_id) {
            (Some(id), _) => ("existing", Some(id.clone())),
            (None, Some(id)) => ("in-use", Some(id.clone())),
            (None, None) => ("new", None),
        };
        let ip_version = match (lb.exist_lb_id.is_some(), lb.address_ip_version.as_deref()) {
            (true, _) => "existing".to_owned(),
            (false, None) => "IPv4".to_owned(),
            (false, Some(v)) if v.eq_ignore_ascii_case("ipv4") => "IPv4".to_owned(),
            (false, Some("IPV6")) => "IPv6 (NAT64)".to_owned(),
            (false, Some("IPv6FullChain")) => "IPv6 FullChain".to_owned(),
            (false, Some(other)) => other.to_owned(),
        };
        let mut shared_with: Vec<String> = id
            .as_deref()
            .filter(|_| lb.enable_group || lb.exist_lb_id.is_some())
            .map(|id| self.cluster.ingresses_on_lb(id))
            .unwrap_or_default()
            .iter()
            .filter(|o| !(o.namespace == self.namespace && o.name == self.decoded.name()))
            .map(|o| format!("{}/{}", o.namespace, o.name))
            .collect();
        shared_with.sort();
        shared_with.dedup();
        ClbPlan {
            lifecycle,
            id,
            network: if lb.subnet_id.is_some() {
                "internal"
            } else {
                "public"
            },
            subnet: lb.subnet_id.clone(),
            ip_version,
            enable_group: lb.enable_group,
            shared_with,
        }
    }
}

/// A certificate id as text: printable ASCII as it is, anything else escaped (a trailing
/// newline shows as `\n`).
fn printable(id: &[u8]) -> String {
    id.escape_ascii().to_string()
}
