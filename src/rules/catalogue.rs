//! The fixed list of rules: stable ids, default severities, TKE error codes, and the function
//! that checks each one.
//!
//! Ids are part of the interface (settings, metrics labels, `docs/rules.md`): never rename one.
//! Adding a rule means a row here, its function and named test cases in one module under
//! `checks/`, and its section in `docs/rules.md` (see CONTRIBUTING.md).

use std::fmt;
use std::hash::{Hash, Hasher};

use super::Finding;
use super::Severity::{self, Deny, Warn};
use super::checks::{
    annotation_keys, annotation_values, backends, class, cloud, direct_access, listeners, routes,
    shared_lb, skip, tls, update,
};
use super::context::Ctx;

/// A rule's check: reads the Ingress under review (and the cluster view), appends findings.
pub(crate) type CheckFn = fn(&Ctx<'_>, &mut Vec<Finding>);

/// When and how a rule is checked.
#[derive(Clone, Copy)]
pub(crate) enum Check {
    /// Reported while a JSON annotation is parsed against the schema declared with it in
    /// [`super::annotations::KNOWN`].
    Schema,
    /// Runs on every Ingress of class qcloud under review.
    Qcloud(CheckFn),
    /// Runs on every Ingress, TKE's or not: class mistakes decide whether TKE sees it at all.
    /// Outside TKE's class its findings are only ever warnings.
    AnyClass(CheckFn),
}

pub struct Rule {
    /// Stable kebab-case id, e.g. `host-grammar`.
    pub id: &'static str,
    /// Row of the checks table (docs/tke-behaviour.md §8), e.g. `C17`; `none` for a rule about
    /// the webhook's own annotation.
    pub check: &'static str,
    /// TKE controller error code(s) this rule predicts, e.g. `E4052`. A rule covering several
    /// annotations lists each code (`E4037/E4044/E4050`); its findings carry the exact one.
    pub tke_code: Option<&'static str>,
    pub default_severity: Severity,
    /// One line: what the rule checks.
    pub summary: &'static str,
    /// Runs only when the settings turn it on (it needs knowledge of the cluster the webhook
    /// cannot see).
    pub off_by_default: bool,
    /// Reads the live view's watch cache (Services, other Ingresses), which trails the API
    /// server: a deny of this rule is confirmed with the API server first.
    pub reads_cache: bool,
    pub(crate) run: Check,
}

// A rule is its id: the function pointer plays no part in equality, hashing or debug output.
impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Rule {}

impl Hash for Rule {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("check", &self.check)
            .field("tke_code", &self.tke_code)
            .field("default_severity", &self.default_severity)
            .finish_non_exhaustive()
    }
}

/// True when `flags` holds `flag` (the flags after a row's check: `off_by_default`,
/// `reads_cache`).
const fn has_flag(flags: &[&str], flag: &str) -> bool {
    let mut i = 0;
    while i < flags.len() {
        if flags[i].eq_ignore_ascii_case(flag) {
            return true;
        }
        i += 1;
    }
    false
}

macro_rules! rules {
    ($($name:ident: $id:literal, $check:literal, $code:expr, $severity:expr,
        $summary:literal, $run:expr $(, $flag:ident)*;)*) => {
        $(pub static $name: Rule = Rule {
            id: $id,
            check: $check,
            tke_code: $code,
            default_severity: $severity,
            summary: $summary,
            off_by_default: has_flag(&[$(stringify!($flag)),*], "off_by_default"),
            reads_cache: has_flag(&[$(stringify!($flag)),*], "reads_cache"),
            run: $run,
        };)*
        /// Every rule, in documentation order.
        pub static RULES: &[&Rule] = &[$(&$name),*];
    };
}

use Check::{AnyClass, Qcloud, Schema};

rules! {
    // Which controller and which class.
    CLASS_AND_CLASS_NAME: "class-and-class-name", "C1", None, Deny,
        "kubernetes.io/ingress.class and spec.ingressClassName, when both are set, are the same",
        AnyClass(class::class_and_class_name);
    CLASS_TYPO: "class-typo", "C2", None, Warn,
        "a class value that looks like a misspelt qcloud, or an empty class annotation",
        AnyClass(class::class_typo);
    CLASS_CHANGE: "class-change", "C24", None, Warn,
        "an UPDATE moves the Ingress into or out of TKE's hands (the CLB is created or released)",
        AnyClass(class::class_change);

    // Annotation values.
    HTTP_RULES_JSON: "http-rules-json", "C7", Some("E4022"), Deny,
        "kubernetes.io/ingress.http-rules is a JSON array (or null) of valid rule entries",
        Schema;
    HTTPS_RULES_JSON: "https-rules-json", "C7", Some("E4023"), Deny,
        "kubernetes.io/ingress.https-rules is a JSON array (or null) of valid rule entries",
        Schema;
    RULES_ENTRY_KEYS: "rules-entry-keys", "C8", None, Warn,
        "http/https-rules entries use only host, path, backend, rewrite and pathType",
        Qcloud(listeners::rules_entry_keys);
    REDIRECT_WITHOUT_REWRITE_SUPPORT: "redirect-without-rewrite-support", "C8", None, Deny,
        "a redirect (rewrite) entry needs ingress.cloud.tencent.com/rewrite-support: \"true\"",
        Qcloud(listeners::redirect_without_rewrite_support);
    REDIRECT_GRAPH: "redirect-graph", "C8", None, Deny,
        "redirects keep the CLB's limits: none to itself, one target per source, no chains",
        Qcloud(listeners::redirect_graph);
    EXTENSIVE_PARAMETERS_JSON: "extensive-parameters-json", "C7", Some("E4026"), Deny,
        "kubernetes.io/ingress.extensiveParameters is a JSON object",
        Schema;
    EXTENSIVE_PARAMETERS_VALUES: "extensive-parameters-values", "C7", Some("E4024"), Warn,
        "extensiveParameters uses CreateLoadBalancer parameters with their documented values",
        Qcloud(annotation_values::extensive_parameters_values);
    ANNOTATION_JSON: "annotation-json", "C7", None, Deny,
        "listen-ports, certificate, auto-rewrite-code and lb-rs-weight are JSON of the documented shape",
        Schema;
    BOOLEAN_ANNOTATION: "boolean-annotation", "C6", Some("E4037/E4044/E4050"), Deny,
        "boolean annotations are exactly \"true\" or \"false\"",
        Qcloud(annotation_values::boolean_annotation);
    CHARGE_TYPE: "charge-type", "C23", Some("E4045"), Deny,
        "internetChargeType is TRAFFIC_POSTPAID_BY_HOUR or BANDWIDTH_POSTPAID_BY_HOUR",
        Qcloud(annotation_values::charge_type);
    BANDWIDTH: "bandwidth", "C23", Some("E4046"), Deny,
        "internetMaxBandwidthOut is a whole number of Mbps from 1 to 2048 (0, and more with an SlaType, warn)",
        Qcloud(annotation_values::bandwidth);
    CHARGE_PAIR: "charge-pair", "C23", None, Warn,
        "internetChargeType and internetMaxBandwidthOut are set together",
        Qcloud(annotation_values::charge_pair);
    SECURITY_GROUPS: "security-groups", "C28", None, Deny,
        "security-groups lists at most 5 ids, each sg-...",
        Qcloud(annotation_values::security_groups);
    TKE_SERVICE_CONFIG: "tke-service-config", "C27", Some("E4051"), Deny,
        "tke-service-config is not combined with tke-service-config-auto and avoids reserved suffixes",
        Qcloud(annotation_values::tke_service_config);
    ENABLE_GROUP_NEEDS_EXIST_LB: "enable-group-needs-exist-lb", "C25", None, Deny,
        "enable-group is set together with existLbId, when the Ingress is created",
        Qcloud(annotation_values::enable_group_needs_exist_lb);
    ENABLE_GROUP_CONFLICT: "enable-group-conflict", "C25", None, Deny,
        "enable-group is not combined with tke-service-config-auto or mode: skip",
        Qcloud(annotation_values::enable_group_conflict);
    CROSS_REGION: "cross-region", "C29", None, Warn,
        "cross-vpc-id is ignored with existLbId; cross-region-id needs existLbId or cross-vpc-id",
        Qcloud(annotation_values::cross_region);
    CROSS_REGION_FORMAT: "cross-region-format", "C29", None, Warn,
        "cross-vpc-id is a VPC id (vpc-xxxxxxxx) and cross-region-id a region (ap-guangzhou)",
        Qcloud(annotation_values::cross_region_format);
    SUBNET_ID: "subnet-id", "C26", Some("E4091"), Deny,
        "subnetId is a subnet id (subnet- and 8 lowercase letters or digits), and not set beside existLbId",
        Qcloud(annotation_values::subnet_id);
    ENUM_ANNOTATION: "enum-annotation", "C31", None, Warn,
        "mode is skip and mix-target-prefer is ipv4 or ipv6, the only documented values",
        Qcloud(annotation_values::enum_annotation);
    SKIP_MODE_EXIST_LB: "skip-mode-exist-lb", "C25", None, Warn,
        "mode: skip is not used on an existing CLB named by existLbId",
        Qcloud(annotation_values::skip_mode_exist_lb);
    READ_ONLY_ANNOTATION: "read-only-annotation", "C30", None, Warn,
        "annotations TKE writes (qcloud-loadbalance-id, loadbalance-ipv6, ...) are not set by users",
        Qcloud(annotation_keys::read_only_annotation);
    UNKNOWN_ANNOTATION: "unknown-annotation", "C31", None, Warn,
        "keys under ingress.cloud.tencent.com/ and kubernetes.io/ingress. are ones TKE knows",
        Qcloud(annotation_keys::unknown_annotation);
    ANNOTATION_KEY_SPELLING: "annotation-key-spelling", "C31", None, Warn,
        "a known key in the wrong case (keys are case-sensitive), or rule-mix under the prefix one page uses",
        Qcloud(annotation_keys::annotation_key_spelling);
    NGINX_ANNOTATION: "nginx-annotation", "C34", None, Warn,
        "nginx.ingress.kubernetes.io/* annotations have no effect on a qcloud Ingress",
        Qcloud(annotation_keys::nginx_annotation);
    SERVICE_ANNOTATION: "service-annotation", "C31", None, Warn,
        "Service annotations (service.cloud.tencent.com/*, service.kubernetes.io/*) have no effect on an Ingress",
        Qcloud(annotation_keys::service_annotation);
    DIRECT_ACCESS_NETWORK: "direct-access-network", "C5", None, Warn,
        "direct-access needs a VPC-CNI or GlobalRouter cluster with direct access, which the webhook cannot see",
        Qcloud(direct_access::direct_access_network), off_by_default;
    GRACE_SHUTDOWN_WITHOUT_DIRECT_ACCESS: "grace-shutdown-without-direct-access", "C5", None, Warn,
        "enable-grace-shutdown(-tkex) works only with direct access",
        Qcloud(direct_access::grace_shutdown_without_direct_access);

    // HTTP / HTTPS placement.
    RULE_MIX_MISSING: "rule-mix-missing", "C9", None, Warn,
        "http-rules/https-rules are ignored unless rule-mix is \"true\"",
        Qcloud(listeners::rule_mix_missing);
    RULE_MIX_WITHOUT_TLS: "rule-mix-without-tls", "C10", None, Warn,
        "rule-mix has no effect without spec.tls or a certificate annotation",
        Qcloud(listeners::rule_mix_without_tls);
    RULE_MIX_BOTH_CONFLICT: "rule-mix-both-conflict", "C11", None, Deny,
        "rule-mix-both is not combined with rule-mix, rewrite-support or auto-rewrite",
        Qcloud(listeners::rule_mix_both_conflict);
    HTTPS_ONLY: "https-only", "C12", None, Warn,
        "a TLS Ingress asks for an HTTP redirect TKE does not read, and gets no HTTP listener",
        Qcloud(listeners::https_only);
    AUTO_REWRITE_LISTENERS: "auto-rewrite-listeners", "C8", None, Warn,
        "auto-rewrite needs TLS and both an HTTP:80 and an HTTPS:443 listener",
        Qcloud(listeners::auto_rewrite_listeners);
    AUTO_REWRITE_CODE_ALONE: "auto-rewrite-code-alone", "C8", None, Warn,
        "auto-rewrite-code does nothing without auto-rewrite: \"true\"",
        Qcloud(listeners::auto_rewrite_code_alone);
    LISTEN_PORT_CONFLICT: "listen-port-conflict", "C7", None, Deny,
        "listen-ports uses each port once: not for both HTTP and HTTPS (a repeated listener only warns)",
        Qcloud(listeners::listen_port_conflict);
    HTTPS_LISTENER_WITHOUT_CERTIFICATE: "https-listener-without-certificate", "C10", None, Warn,
        "an HTTPS port in listen-ports has a certificate source (spec.tls or the certificate annotation)",
        Qcloud(listeners::https_listener_without_certificate);
    RULE_WITHOUT_LISTENER: "rule-without-listener", "C12", None, Warn,
        "with listen-ports, each protocol a spec path is placed on has a listed port",
        Qcloud(listeners::rule_without_listener);

    // TLS.
    TLS_AND_CERTIFICATE_ANNOTATION: "tls-and-certificate-annotation", "C16", None, Deny,
        "spec.tls is not combined with ingress.cloud.tencent.com/certificate",
        Qcloud(tls::tls_and_certificate_annotation);
    TLS_SECRET_NAME: "tls-secret-name", "C13", Some("E4009"), Deny,
        "every spec.tls entry names a Secret",
        Qcloud(tls::tls_secret_name);
    TLS_SECRET_MISSING: "tls-secret-missing", "C13", Some("E4010"), Deny,
        "the TLS Secret exists in the Ingress's namespace",
        Qcloud(tls::tls_secret_missing);
    TLS_CERT_ID_MISSING: "tls-cert-id-missing", "C13", Some("E4011"), Deny,
        "the TLS Secret has a qcloud_cert_id key",
        Qcloud(tls::tls_cert_id_missing);
    TLS_CERT_ID_FORMAT: "tls-cert-id-format", "C13", Some("E4035"), Deny,
        "certificate ids are 8 letters or digits: one or two (ECC,RSA) in a Secret's qcloud_cert_id, one elsewhere",
        Qcloud(tls::tls_cert_id_format);
    TLS_DEFAULT_CONFLICT: "tls-default-conflict", "C14", Some("E4048"), Deny,
        "at most one spec.tls entry without hosts",
        Qcloud(tls::tls_default_conflict);
    TLS_SNI_CONFLICT: "tls-sni-conflict", "C14", Some("E4049"), Deny,
        "a host appears in at most one spec.tls entry",
        Qcloud(tls::tls_sni_conflict);
    TLS_HOST_UNCOVERED: "tls-host-uncovered", "C15", Some("E4040"), Deny,
        "every HTTPS host is covered by a certificate",
        Qcloud(tls::tls_host_uncovered);
    TLS_CERTIFICATE_UNUSED: "tls-certificate-unused", "C15", None, Warn,
        "a certificate serves an HTTPS rule, rather than every rule of its hosts going to HTTP only",
        Qcloud(tls::tls_certificate_unused);
    LEGACY_CERT_ID_ANNOTATION: "legacy-cert-id-annotation", "C30", None, Warn,
        "the read-only qcloud_cert_id annotation matches the certificate in the TLS Secret",
        Qcloud(tls::legacy_cert_id_annotation);

    // Backends.
    BACKEND_SERVICE_MISSING: "backend-service-missing", "C3", Some("E4041"), Deny,
        "every backend Service exists in the Ingress's namespace",
        Qcloud(backends::backend_service_missing), reads_cache;
    BACKEND_PORT_MISSING: "backend-port-missing", "C3", Some("E4042"), Deny,
        "every backend port exists on its Service",
        Qcloud(backends::backend_port_missing), reads_cache;
    BACKEND_SERVICE_TYPE: "backend-service-type", "C4", Some("E4047"), Deny,
        "backend Services are NodePort or LoadBalancer unless direct-access is \"true\"",
        Qcloud(backends::backend_service_type), reads_cache;
    RESOURCE_BACKEND: "resource-backend", "C4", None, Deny,
        "backends are Services; backend.resource cannot be bound to a CLB",
        Qcloud(backends::resource_backend);

    // Hosts, paths, quotas.
    HOST_GRAMMAR: "host-grammar", "C17", Some("E4052"), Deny,
        "hosts have at least one dot and at most 80 characters of the CLB domain grammar",
        Qcloud(routes::host_grammar);
    PATH_GRAMMAR: "path-grammar", "C18", Some("E4031"), Deny,
        "paths start with /, use only the CLB URL characters and fit its length",
        Qcloud(routes::path_grammar);
    RULE_WITHOUT_HTTP: "rule-without-http", "C19", Some("E4013"), Deny,
        "every spec.rules entry has http paths; a default backend alone is not supported",
        Qcloud(routes::rule_without_http);
    DUPLICATE_ROUTE: "duplicate-route", "C20", None, Deny,
        "the same host and path do not lead to two different backends on one listener",
        Qcloud(routes::duplicate_route);
    LISTENER_RULE_QUOTA: "listener-rule-quota", "C21", Some("E4005"), Warn,
        "at most 50 host+path rules per listener",
        Qcloud(routes::listener_rule_quota);
    IPV6_HOST_REQUIRED: "ipv6-host-required", "C22", Some("E4034"), Deny,
        "on an IPv6FullChain CLB every rule has a host",
        Qcloud(routes::ipv6_host_required);

    // Shared CLBs.
    EXIST_LB_ID_FORMAT: "exist-lb-id-format", "C26", Some("E4018"), Deny,
        "existLbId is a CLB id: lb- and 8 lowercase letters or digits",
        Qcloud(shared_lb::exist_lb_id_format);
    EXIST_LB_IN_USE: "exist-lb-in-use", "C26", Some("E4019/E4020"), Deny,
        "an existLbId is not used by another Ingress unless both are in an enable-group, nor by a Service",
        Qcloud(shared_lb::exist_lb_in_use), reads_cache;
    GROUP_ROUTE_CONFLICT: "group-route-conflict", "C20", None, Deny,
        "host+path pairs are unique per listener across the Ingresses sharing a CLB with enable-group",
        Qcloud(shared_lb::group_route_conflict), reads_cache;

    // Tencent Cloud's own answers (opt-in cloud checks; silent when they are off).
    CLOUD_CERTIFICATE_NOT_FOUND: "cloud-certificate-not-found", "C35", Some("E4036/E4012"), Deny,
        "each certificate id in qcloud_cert_id exists in the SSL Certificates service",
        Qcloud(cloud::cloud_certificate_not_found);
    CLOUD_CERTIFICATE_NOT_SERVER: "cloud-certificate-not-server", "C35", Some("E4038"), Deny,
        "each certificate in qcloud_cert_id is a server certificate (SVR), not a CA",
        Qcloud(cloud::cloud_certificate_not_server);
    CLOUD_CERTIFICATE_EXPIRED: "cloud-certificate-expired", "C35", Some("E4039"), Deny,
        "each certificate in qcloud_cert_id has not expired",
        Qcloud(cloud::cloud_certificate_expired);
    CLOUD_CERTIFICATE_EXPIRING: "cloud-certificate-expiring", "C35", None, Warn,
        "each certificate in qcloud_cert_id has more than the configured days left",
        Qcloud(cloud::cloud_certificate_expiring);
    CLOUD_CERTIFICATE_HOSTS: "cloud-certificate-hosts", "C35", None, Warn,
        "the hosts a certificate serves are among its domains, wildcards matching one label",
        Qcloud(cloud::cloud_certificate_hosts);
    CLOUD_EXIST_LB_NOT_FOUND: "cloud-exist-lb-not-found", "C36", Some("E4018"), Deny,
        "the existLbId CLB exists in the cluster's region",
        Qcloud(cloud::cloud_exist_lb_not_found);
    CLOUD_EXIST_LB_OTHER_VPC: "cloud-exist-lb-other-vpc", "C36", None, Warn,
        "the existLbId CLB is in the cluster's VPC",
        Qcloud(cloud::cloud_exist_lb_other_vpc);
    CLOUD_EXIST_LB_CLASSIC: "cloud-exist-lb-classic", "C36", Some("E4030"), Deny,
        "the existLbId CLB is an application CLB, not a classic one",
        Qcloud(cloud::cloud_exist_lb_classic);
    CLOUD_NOT_VERIFIED: "cloud-not-verified", "C35", None, Warn,
        "a certificate or CLB the cloud could not be asked about in time is said to be unverified",
        Qcloud(cloud::cloud_not_verified);

    // UPDATE only.
    CREATE_ONLY_CHANGE: "create-only-change", "C24", None, Warn,
        "an UPDATE changes an annotation TKE reads only when it creates the CLB",
        Qcloud(update::create_only_change);
    REDIRECT_DELETED: "redirect-deleted", "C33", None, Warn,
        "redirects are turned off by setting \"false\", not by deleting the annotation",
        Qcloud(update::redirect_deleted);

    // Exceptions for one Ingress (the webhook's own annotation, no TKE behaviour).
    SKIP_ANNOTATION: "skip-annotation", "none", None, Warn,
        "qcloud-ingress-webhook.io/skip names known rules and a reason, and skips only what the cluster allows",
        Qcloud(skip::skip_annotation);
}

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut seen = HashSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "duplicate id {}", rule.id);
            assert!(
                rule.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                rule.id
            );
            assert!(
                rule.check.starts_with('C') || rule.check == "none",
                "{}",
                rule.id
            );
        }
        assert_eq!(by_id("host-grammar"), Some(&HOST_GRAMMAR));
        assert_eq!(by_id("no-such-rule"), None);
    }

    #[test]
    fn flags_mark_exactly_their_rules() {
        let ids = |flag: fn(&Rule) -> bool| -> Vec<&str> {
            RULES.iter().filter(|r| flag(r)).map(|r| r.id).collect()
        };
        assert_eq!(ids(|r| r.off_by_default), ["direct-access-network"]);
        assert_eq!(
            ids(|r| r.reads_cache),
            [
                "backend-service-missing",
                "backend-port-missing",
                "backend-service-type",
                "exist-lb-in-use",
                "group-route-conflict"
            ]
        );
    }
}
