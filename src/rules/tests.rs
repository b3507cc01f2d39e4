//! Every rule of the catalogue against small Ingresses: each test breaks one thing in an Ingress
//! that is otherwise clean and expects exactly that rule, so a rule that stops firing (or fires
//! on the clean one) fails here.

use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

use super::settings::{Enforcement, RuleSetting};
use super::*;
use crate::cluster::{
    ClusterState, IngressSummary, Route, SecretCertIds, ServicePortSummary, ServiceSummary,
};

const NS: &str = "default";

fn cluster() -> ClusterState {
    let mut state = ClusterState::default();
    for (name, kind) in [
        ("web", "NodePort"),
        ("lb", "LoadBalancer"),
        ("internal", "ClusterIP"),
        ("ext", "ExternalName"),
    ] {
        state.insert_service(
            NS,
            name,
            ServiceSummary {
                service_type: kind.into(),
                ports: vec![ServicePortSummary {
                    name: Some("http".into()),
                    port: 80,
                }],
            },
        );
    }
    let secret = |id: &[u8]| SecretCertIds {
        cert_id: Some(id.to_vec()),
        ca_cert_id: None,
    };
    state.insert_secret(NS, "cert", secret(b"TKPmsWb3"));
    state.insert_secret(NS, "cert2", secret(b"Abcd1234"));
    state.insert_secret(NS, "newline", secret(b"TKPmsWb3\n"));
    state.insert_secret(NS, "no-id", SecretCertIds::default());
    state
}

/// A clean HTTP-only Ingress: one host, one path, a NodePort backend.
fn http_ingress() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "app", "namespace": NS, "annotations": {"kubernetes.io/ingress.class": "qcloud"}},
        "spec": {"rules": [{"host": "www.example.com", "http": {"paths": [
            {"path": "/", "pathType": "ImplementationSpecific",
             "backend": {"service": {"name": "web", "port": {"number": 80}}}}
        ]}}]}
    })
}

/// The same with TLS and rule-mix, so HTTPS rules and certificates are in play.
fn tls_ingress() -> Value {
    let mut v = http_ingress();
    v["spec"]["tls"] = json!([{"hosts": ["www.example.com"], "secretName": "cert"}]);
    v["metadata"]["annotations"]["kubernetes.io/ingress.rule-mix"] = json!("true");
    v
}

fn decode(v: &Value) -> Ingress {
    serde_json::from_value(v.clone()).expect("test Ingress decodes")
}

fn validate_with(engine: &Engine, v: &Value, old: Option<&Value>, state: &ClusterState) -> Verdict {
    let ingress = decode(v);
    let old = old.map(decode);
    engine.validate(&Review {
        operation: if old.is_some() {
            Operation::Update
        } else {
            Operation::Create
        },
        namespace: NS,
        ingress: &ingress,
        version: crate::ingress::IngressVersion::NetworkingV1,
        old: old.as_ref(),
        cluster: state,
    })
}

fn validate(v: &Value) -> Verdict {
    validate_with(
        &Engine::new(Settings::default()).unwrap(),
        v,
        None,
        &cluster(),
    )
}

/// The (rule id, severity) pairs of a verdict.
fn found(verdict: &Verdict) -> Vec<(&'static str, Severity)> {
    verdict
        .findings
        .iter()
        .map(|f| (f.rule.id, f.severity))
        .collect()
}

fn annotate(mut v: Value, key: &str, value: &str) -> Value {
    v["metadata"]["annotations"][key] = json!(value);
    v
}

#[test]
fn clean_ingresses_have_no_findings() {
    assert_eq!(found(&validate(&http_ingress())), []);
    assert_eq!(found(&validate(&tls_ingress())), []);
}

/// One mistake each → exactly one finding of the expected rule and severity.
#[test]
#[allow(clippy::too_many_lines, reason = "one table row per rule")]
fn each_rule_fires_on_its_mistake() {
    use Severity::{Deny, Warn};
    type Edit = fn(Value) -> Value;
    let cases: Vec<(&str, Edit, &str, Severity)> = vec![
        (
            "class and className",
            |mut v| {
                v["spec"]["ingressClassName"] = json!("qcloud");
                v
            },
            "class-and-class-name",
            Deny,
        ),
        (
            "empty class",
            |v| annotate(v, "kubernetes.io/ingress.class", ""),
            "class-typo",
            Warn,
        ),
        (
            "extensiveParameters",
            |v| annotate(v, "kubernetes.io/ingress.extensiveParameters", "\"IPV4\""),
            "extensive-parameters-json",
            Deny,
        ),
        (
            "listen-ports",
            |v| {
                annotate(
                    v,
                    "ingress.cloud.tencent.com/listen-ports",
                    "[{\"HTTP\":\"80\"}]",
                )
            },
            "annotation-json",
            Deny,
        ),
        (
            "boolean",
            |v| annotate(v, "ingress.cloud.tencent.com/pass-to-target", "yes"),
            "boolean-annotation",
            Deny,
        ),
        (
            "charge type",
            |v| {
                annotate(
                    annotate(v, "kubernetes.io/ingress.internetChargeType", "PREPAID"),
                    "kubernetes.io/ingress.internetMaxBandwidthOut",
                    "10",
                )
            },
            "charge-type",
            Deny,
        ),
        (
            "bandwidth",
            |v| {
                annotate(
                    annotate(
                        v,
                        "kubernetes.io/ingress.internetChargeType",
                        "TRAFFIC_POSTPAID_BY_HOUR",
                    ),
                    "kubernetes.io/ingress.internetMaxBandwidthOut",
                    "5000",
                )
            },
            "bandwidth",
            Deny,
        ),
        (
            "charge pair",
            |v| annotate(v, "kubernetes.io/ingress.internetMaxBandwidthOut", "10"),
            "charge-pair",
            Warn,
        ),
        (
            "security groups",
            |v| {
                annotate(
                    v,
                    "ingress.cloud.tencent.com/security-groups",
                    "sg-1,sg-2,sg-3,sg-4,sg-5,sg-6",
                )
            },
            "security-groups",
            Deny,
        ),
        (
            "tke-service-config suffix",
            |v| {
                annotate(
                    v,
                    "ingress.cloud.tencent.com/tke-service-config",
                    "app-auto-ingress-config",
                )
            },
            "tke-service-config",
            Deny,
        ),
        (
            "enable-group alone",
            |v| annotate(v, "ingress.cloud.tencent.com/enable-group", "true"),
            "enable-group-needs-exist-lb",
            Deny,
        ),
        (
            "cross-region alone",
            |v| {
                annotate(
                    v,
                    "ingress.cloud.tencent.com/cross-region-id",
                    "ap-guangzhou",
                )
            },
            "cross-region",
            Warn,
        ),
        (
            "read-only",
            |v| annotate(v, "kubernetes.io/ingress.qcloud-loadbalance-id", "lb-123"),
            "read-only-annotation",
            Warn,
        ),
        (
            "unknown key",
            |v| annotate(v, "ingress.cloud.tencent.com/internet-charge-type", "x"),
            "unknown-annotation",
            Warn,
        ),
        (
            "nginx key",
            |v| annotate(v, "nginx.ingress.kubernetes.io/rewrite-target", "/"),
            "nginx-annotation",
            Warn,
        ),
        (
            "direct access",
            |mut v| {
                v["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] =
                    json!("internal");
                annotate(v, "ingress.cloud.tencent.com/direct-access", "true")
            },
            "direct-access-network",
            Warn,
        ),
        (
            "rules without rule-mix",
            |v| {
                annotate(
                    v,
                    "kubernetes.io/ingress.http-rules",
                    "[{\"host\":\"www.example.com\",\"backend\":{\"serviceName\":\"web\",\"servicePort\":\"80\"}}]",
                )
            },
            "rule-mix-missing",
            Warn,
        ),
        (
            "rule-mix without TLS",
            |v| annotate(v, "kubernetes.io/ingress.rule-mix", "true"),
            "rule-mix-without-tls",
            Warn,
        ),
        (
            "rule-mix-both with rule-mix",
            |v| {
                annotate(
                    tls_ingress_from(&v),
                    "kubernetes.io/ingress.rule-mix-both",
                    "true",
                )
            },
            "rule-mix-both-conflict",
            Deny,
        ),
        (
            "https only",
            |mut v| {
                v["spec"]["tls"] = json!([{"hosts": ["www.example.com"], "secretName": "cert"}]);
                v
            },
            "https-only",
            Warn,
        ),
        (
            "entry keys",
            |v| {
                annotate(
                    tls_ingress_from(&v),
                    "kubernetes.io/ingress.http-rules",
                    "[{\"host\":\"www.example.com\",\"path\":\"/\",\"backend\":{\"serviceName\":\"web\",\"servicePort\":\"80\",\"host\":\"x\"}}]",
                )
            },
            "rules-entry-keys",
            Warn,
        ),
        (
            "redirect",
            |v| {
                annotate(
                    tls_ingress_from(&v),
                    "kubernetes.io/ingress.http-rules",
                    "[{\"path\":\"/old\",\"rewrite\":{\"port\":443,\"path\":\"/new\"}}]",
                )
            },
            "redirect-without-rewrite-support",
            Deny,
        ),
        (
            "tls and certificate annotation",
            |v| {
                annotate(
                    tls_ingress_from(&v),
                    "ingress.cloud.tencent.com/certificate",
                    "[{\"hosts\":[\"www.example.com\"],\"qcloud_cert_id\":[\"Abcd1234\"]}]",
                )
            },
            "tls-and-certificate-annotation",
            Deny,
        ),
        (
            "empty secretName",
            |mut v| {
                v = tls_ingress_from(&v);
                v["spec"]["tls"][0]["secretName"] = json!("");
                v
            },
            "tls-secret-name",
            Deny,
        ),
        (
            "missing Secret",
            |mut v| {
                v = tls_ingress_from(&v);
                v["spec"]["tls"][0]["secretName"] = json!("nope");
                v
            },
            "tls-secret-missing",
            Deny,
        ),
        (
            "no cert id",
            |mut v| {
                v = tls_ingress_from(&v);
                v["spec"]["tls"][0]["secretName"] = json!("no-id");
                v
            },
            "tls-cert-id-missing",
            Deny,
        ),
        (
            "newline",
            |mut v| {
                v = tls_ingress_from(&v);
                v["spec"]["tls"][0]["secretName"] = json!("newline");
                v
            },
            "tls-cert-id-format",
            Deny,
        ),
        (
            "two defaults",
            |mut v| {
                v = tls_ingress_from(&v);
                v["spec"]["tls"] = json!([{"secretName": "cert"}, {"secretName": "cert2"}]);
                v
            },
            "tls-default-conflict",
            Deny,
        ),
        (
            "host twice",
            |mut v| {
                v = tls_ingress_from(&v);
                v["spec"]["tls"] = json!([{"hosts": ["www.example.com"], "secretName": "cert"}, {"hosts": ["www.example.com"], "secretName": "cert2"}]);
                v
            },
            "tls-sni-conflict",
            Deny,
        ),
        (
            "uncovered",
            |mut v| {
                v = tls_ingress_from(&v);
                v["spec"]["tls"][0]["hosts"] = json!(["*.other.com"]);
                v
            },
            "tls-host-uncovered",
            Deny,
        ),
        (
            "legacy cert id",
            |v| annotate(tls_ingress_from(&v), "qcloud_cert_id", "Zzzz9999"),
            "legacy-cert-id-annotation",
            Warn,
        ),
        (
            "missing Service",
            |mut v| {
                v["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] =
                    json!("nope");
                v
            },
            "backend-service-missing",
            Deny,
        ),
        (
            "missing port name",
            |mut v| {
                v["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] =
                    json!({"name": "grpc"});
                v
            },
            "backend-port-missing",
            Deny,
        ),
        (
            "ClusterIP",
            |mut v| {
                v["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] =
                    json!("internal");
                v
            },
            "backend-service-type",
            Deny,
        ),
        (
            "resource backend",
            |mut v| {
                v["spec"]["rules"][0]["http"]["paths"][0]["backend"] =
                    json!({"resource": {"kind": "Bucket", "name": "b"}});
                v
            },
            "resource-backend",
            Deny,
        ),
        (
            "host",
            |mut v| {
                v["spec"]["rules"][0]["host"] = json!("localhost");
                v
            },
            "host-grammar",
            Deny,
        ),
        (
            "long path",
            |mut v| {
                v["spec"]["rules"][0]["http"]["paths"][0]["path"] =
                    json!(format!("/{}", "a".repeat(130)));
                v
            },
            "path-grammar",
            Warn,
        ),
        (
            "no http",
            |mut v| {
                v["spec"]["rules"][0] = json!({"host": "www.example.com"});
                v
            },
            "rule-without-http",
            Deny,
        ),
        (
            "duplicate route",
            |mut v| {
                let p = json!({"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "lb", "port": {"number": 80}}}});
                v["spec"]["rules"][0]["http"]["paths"]
                    .as_array_mut()
                    .unwrap()
                    .push(p);
                v
            },
            "duplicate-route",
            Deny,
        ),
        (
            "ipv6 without host",
            |mut v| {
                v["spec"]["rules"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("host");
                annotate(
                    v,
                    "kubernetes.io/ingress.extensiveParameters",
                    "{\"AddressIPVersion\":\"IPv6FullChain\"}",
                )
            },
            "ipv6-host-required",
            Deny,
        ),
    ];
    for (name, edit, rule, severity) in cases {
        let verdict = validate(&edit(http_ingress()));
        assert_eq!(
            found(&verdict),
            [(rule, severity)],
            "{name}: {:?}",
            verdict.findings
        );
        assert_eq!(verdict.allowed(), severity == Warn, "{name}");
    }
}

/// The TLS cases start from the HTTP Ingress so the table above can share one shape.
fn tls_ingress_from(v: &Value) -> Value {
    let mut t = tls_ingress();
    t["metadata"]["name"] = v["metadata"]["name"].clone();
    t
}

#[test]
fn per_annotation_codes_and_deny_message_shape() {
    let verdict = validate(&annotate(
        http_ingress(),
        "ingress.cloud.tencent.com/direct-access",
        "yes",
    ));
    assert_eq!(verdict.findings[0].tke_code, Some("E4037"));
    let message = verdict.deny_message.unwrap();
    assert!(message.starts_with("metadata.annotations[ingress.cloud.tencent.com/direct-access]: \"yes\" is not a boolean"), "{message}");
    assert!(
        message.contains("(TKE would fail with E4037; fix: set it to"),
        "{message}"
    );
    assert!(message.ends_with("[boolean-annotation]"), "{message}");
}

#[test]
fn rule_mix_paths_listed_nowhere_go_to_https_and_need_a_certificate() {
    let mut v = tls_ingress();
    v["spec"]["rules"].as_array_mut().unwrap().push(json!({"host": "api.example.com", "http": {"paths": [
        {"path": "/", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}));
    let verdict = validate(&v);
    let finding = verdict
        .findings
        .iter()
        .find(|f| f.rule.id == "tls-host-uncovered")
        .expect("E4040");
    assert_eq!(finding.field, "spec.rules[1].host");
    assert!(
        finding
            .problem
            .contains("neither http-rules nor https-rules lists it"),
        "{}",
        finding.problem
    );

    // Listed only in http-rules, the same rule needs no certificate.
    let v = annotate(
        v,
        "kubernetes.io/ingress.http-rules",
        "[{\"host\":\"api.example.com\",\"path\":\"/\",\"backend\":{\"serviceName\":\"web\",\"servicePort\":80}}]",
    );
    assert_eq!(found(&validate(&v)), []);
}

#[test]
fn annotation_backends_are_checked_like_spec_backends() {
    let v = annotate(
        tls_ingress(),
        "kubernetes.io/ingress.https-rules",
        "[{\"host\":\"www.example.com\",\"path\":\"/\",\"backend\":{\"serviceName\":\"internal\",\"servicePort\":\"8080\"}}]",
    );
    let verdict = validate(&v);
    let fields: Vec<_> = verdict
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

#[test]
fn direct_access_allows_cluster_ip_backends() {
    let mut v = annotate(
        http_ingress(),
        "ingress.cloud.tencent.com/direct-access",
        "true",
    );
    v["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = json!("internal");
    assert!(validate(&v).allowed());
    v["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = json!("ext");
    let verdict = validate(&v);
    assert!(verdict.allowed());
    assert!(found(&verdict).contains(&("backend-service-type", Severity::Warn)));
}

#[test]
fn an_unreadable_secret_warns_and_never_denies() {
    struct Down(ClusterState);
    impl crate::cluster::ClusterLookup for Down {
        fn service(&self, ns: &str, name: &str) -> Option<ServiceSummary> {
            self.0.service(ns, name)
        }
        fn secret(&self, _: &str, _: &str) -> crate::cluster::SecretLookup {
            crate::cluster::SecretLookup::Unavailable("deadline passed".into())
        }
        fn ingresses_on_lb(&self, lb: &str) -> Vec<std::sync::Arc<IngressSummary>> {
            self.0.ingresses_on_lb(lb)
        }
    }
    let ingress = decode(&tls_ingress());
    let verdict = Engine::new(Settings::default()).unwrap().validate(&Review {
        operation: Operation::Create,
        namespace: NS,
        ingress: &ingress,
        version: crate::ingress::IngressVersion::NetworkingV1,
        old: None,
        cluster: &Down(cluster()),
    });
    assert!(verdict.allowed());
    assert_eq!(found(&verdict), [("tls-secret-missing", Severity::Warn)]);
    assert!(
        verdict.warnings[0].contains("could not be read"),
        "{:?}",
        verdict.warnings
    );
    assert!(
        !verdict.warnings[0].contains("E4010"),
        "{:?}",
        verdict.warnings
    );
}

fn shared(name: &str, group: bool, path: &str) -> IngressSummary {
    IngressSummary {
        namespace: "other".into(),
        name: name.into(),
        exist_lb_id: Some("lb-shared".into()),
        lb_id: Some("lb-shared".into()),
        enable_group: group,
        routes: vec![Route {
            host: "www.example.com".into(),
            path: path.into(),
        }],
    }
}

#[test]
fn an_exist_lb_id_used_by_another_ingress_is_denied_outside_a_group() {
    let engine = Engine::new(Settings::default()).unwrap();
    let mut state = cluster();
    state.insert_ingress(shared("taken", false, "/x"));
    let v = annotate(
        http_ingress(),
        "kubernetes.io/ingress.existLbId",
        "lb-shared",
    );
    let verdict = validate_with(&engine, &v, None, &state);
    assert_eq!(found(&verdict), [("exist-lb-in-use", Severity::Deny)]);
    assert!(verdict.deny_message.unwrap().contains("other/taken"));
    // Its own earlier version on the same CLB is no conflict.
    let mut own = shared("app", false, "/");
    own.namespace = NS.into();
    let mut state = cluster();
    state.insert_ingress(own);
    assert_eq!(found(&validate_with(&engine, &v, Some(&v), &state)), []);
}

#[test]
fn group_members_may_share_a_clb_but_not_a_host_and_path() {
    let engine = Engine::new(Settings::default()).unwrap();
    let v = annotate(
        annotate(
            http_ingress(),
            "kubernetes.io/ingress.existLbId",
            "lb-shared",
        ),
        "ingress.cloud.tencent.com/enable-group",
        "true",
    );
    let mut state = cluster();
    state.insert_ingress(shared("neighbour", true, "/api"));
    assert_eq!(found(&validate_with(&engine, &v, None, &state)), []);
    state.insert_ingress(shared("neighbour", true, "/"));
    let verdict = validate_with(&engine, &v, None, &state);
    assert_eq!(found(&verdict), [("group-route-conflict", Severity::Deny)]);
    assert!(verdict.deny_message.unwrap().contains("other/neighbour"));
}

#[test]
fn update_checks_compare_with_the_old_object() {
    let engine = Engine::new(Settings::default()).unwrap();
    let old = annotate(http_ingress(), "kubernetes.io/ingress.subnetId", "subnet-1");
    let new = annotate(http_ingress(), "kubernetes.io/ingress.subnetId", "subnet-2");
    assert_eq!(
        found(&validate_with(&engine, &new, Some(&old), &cluster())),
        [("create-only-change", Severity::Warn)]
    );

    let old = annotate(
        http_ingress(),
        "ingress.cloud.tencent.com/auto-rewrite",
        "true",
    );
    assert_eq!(
        found(&validate_with(
            &engine,
            &http_ingress(),
            Some(&old),
            &cluster()
        )),
        [("redirect-deleted", Severity::Warn)]
    );

    let old = annotate(http_ingress(), "kubernetes.io/ingress.class", "nginx");
    assert_eq!(
        found(&validate_with(
            &engine,
            &http_ingress(),
            Some(&old),
            &cluster()
        )),
        [("class-change", Severity::Warn)]
    );
}

#[test]
fn ratcheting_lets_old_mistakes_through_but_denies_new_ones() {
    let engine = Engine::new(Settings::default()).unwrap();
    let mut old = http_ingress();
    old["spec"]["rules"][0]["host"] = json!("localhost");
    // An unrelated edit of an Ingress that already had the bad host: allowed, with a warning.
    let edited = annotate(
        old.clone(),
        "ingress.cloud.tencent.com/pass-to-target",
        "true",
    );
    let verdict = validate_with(&engine, &edited, Some(&old), &cluster());
    assert!(verdict.allowed(), "{:?}", verdict.deny_message);
    assert!(
        verdict.warnings[0].starts_with("already present, not denied: spec.rules[0].host"),
        "{:?}",
        verdict.warnings
    );
    // A new mistake in the same edit is still denied.
    let mut worse = edited;
    worse["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/api/*");
    let verdict = validate_with(&engine, &worse, Some(&old), &cluster());
    let message = verdict.deny_message.expect("new mistake denied");
    assert!(
        message.contains("path-grammar") && !message.contains("host-grammar"),
        "{message}"
    );
}

#[test]
fn settings_override_severity_turn_rules_off_and_warn_mode_allows() {
    let bad_host = {
        let mut v = http_ingress();
        v["spec"]["rules"][0]["host"] = json!("localhost");
        v
    };
    let mut settings = Settings::default();
    settings
        .rules
        .insert("host-grammar".into(), RuleSetting::Warn);
    let verdict = validate_with(
        &Engine::new(settings.clone()).unwrap(),
        &bad_host,
        None,
        &cluster(),
    );
    assert!(verdict.allowed());
    assert_eq!(found(&verdict), [("host-grammar", Severity::Warn)]);

    settings
        .rules
        .insert("host-grammar".into(), RuleSetting::Off);
    assert_eq!(
        found(&validate_with(
            &Engine::new(settings.clone()).unwrap(),
            &bad_host,
            None,
            &cluster()
        )),
        []
    );

    settings
        .rules
        .insert("charge-pair".into(), RuleSetting::Deny);
    let pair = annotate(
        http_ingress(),
        "kubernetes.io/ingress.internetMaxBandwidthOut",
        "10",
    );
    assert!(!validate_with(&Engine::new(settings).unwrap(), &pair, None, &cluster()).allowed());

    let warn_mode = Settings {
        enforcement: Enforcement::Warn,
        ..Settings::default()
    };
    let verdict = validate_with(
        &Engine::new(warn_mode).unwrap(),
        &bad_host,
        None,
        &cluster(),
    );
    assert!(verdict.allowed());
    assert_eq!(
        verdict.warnings,
        [
            "would deny: spec.rules[0].host: \"localhost\" has no dot; TKE needs a domain such as localhost.example.com (E4052)"
        ]
    );
}

#[test]
fn exemptions_match_user_group_or_namespace() {
    let mut settings = Settings::default();
    settings.exempt.groups = vec!["ops".into()];
    settings.exempt.namespaces = vec!["legacy".into()];
    let engine = Engine::new(settings).unwrap();
    let groups = ["ops".to_owned()];
    assert!(engine.is_exempt(
        &Requester {
            username: "system:serviceaccount:kube-system:l7-lb-controller",
            groups: &[]
        },
        NS
    ));
    assert!(engine.is_exempt(
        &Requester {
            username: "alice",
            groups: &groups
        },
        NS
    ));
    assert!(engine.is_exempt(
        &Requester {
            username: "alice",
            groups: &[]
        },
        "legacy"
    ));
    assert!(!engine.is_exempt(
        &Requester {
            username: "alice",
            groups: &[]
        },
        NS
    ));
}

#[test]
fn warnings_are_one_short_line() {
    let v = annotate(
        http_ingress(),
        &format!("ingress.cloud.tencent.com/{}", "x".repeat(200)),
        "v",
    );
    let verdict = validate(&v);
    assert_eq!(verdict.warnings.len(), 1);
    assert!(
        verdict.warnings[0].chars().count() <= 120,
        "{}",
        verdict.warnings[0]
    );
    assert!(!verdict.warnings[0].contains('\n'));
}

#[test]
fn secret_names_are_the_tls_secrets_once_each() {
    let mut v = tls_ingress();
    v["spec"]["tls"] = json!([{"secretName": "a"}, {"hosts": ["x.example.com"], "secretName": "a"}, {"secretName": ""}, {"secretName": "b"}]);
    let names = Engine::new(Settings::default())
        .unwrap()
        .secret_names(&decode(&v));
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn misspelt_classes_warn_out_of_scope() {
    let engine = Engine::new(Settings::default()).unwrap();
    for class in ["Qcloud", "qclod", "clb"] {
        let v = decode(&annotate(
            http_ingress(),
            "kubernetes.io/ingress.class",
            class,
        ));
        assert!(!crate::ingress::is_qcloud(&v));
        let warnings = engine.out_of_scope_warnings(&v, None);
        assert_eq!(warnings.len(), 1, "{class}: {warnings:?}");
        assert!(
            warnings[0].contains("TKE ignores this Ingress"),
            "{warnings:?}"
        );
    }
    let nginx = decode(&annotate(
        http_ingress(),
        "kubernetes.io/ingress.class",
        "nginx",
    ));
    assert!(engine.out_of_scope_warnings(&nginx, None).is_empty());
    let was_ours = decode(&http_ingress());
    let warnings = engine.out_of_scope_warnings(&nginx, Some(&was_ours));
    assert!(warnings[0].contains("CLB will be released"), "{warnings:?}");
    assert!(
        warnings[0].starts_with("metadata.annotations[kubernetes.io/ingress.class]"),
        "{warnings:?}"
    );
    let mut renamed = http_ingress();
    renamed["metadata"]["annotations"] = json!({});
    renamed["spec"]["ingressClassName"] = json!("nginx");
    let warnings = engine.out_of_scope_warnings(&decode(&renamed), Some(&was_ours));
    assert!(
        warnings[0].starts_with("spec.ingressClassName"),
        "{warnings:?}"
    );
}

#[test]
fn redirects_are_not_denied_where_tke_ignores_the_entries() {
    let redirect = "[{\"path\":\"/old\",\"rewrite\":{\"port\":443,\"path\":\"/new\"}}]";
    let ignored = annotate(http_ingress(), "kubernetes.io/ingress.http-rules", redirect);
    assert_eq!(
        found(&validate(&ignored)),
        [("rule-mix-missing", Severity::Warn)]
    );
}

#[test]
fn more_than_fifty_rules_on_a_listener_warn() {
    let path = |i: usize| {
        json!({"path": format!("/p{i}"), "pathType": "ImplementationSpecific",
        "backend": {"service": {"name": "web", "port": {"number": 80}}}})
    };
    let mut v = http_ingress();
    v["spec"]["rules"][0]["http"]["paths"] = (0..50).map(path).collect();
    assert_eq!(found(&validate(&v)), []);
    v["spec"]["rules"][0]["http"]["paths"] = (0..51).map(path).collect();
    let verdict = validate(&v);
    assert_eq!(found(&verdict), [("listener-rule-quota", Severity::Warn)]);
    assert!(
        verdict.warnings[0].contains("51 rules on the HTTP listener"),
        "{:?}",
        verdict.warnings
    );
}

#[test]
fn a_long_deny_message_is_capped() {
    let mut v = http_ingress();
    v["spec"]["rules"][0]["http"]["paths"] = (0..14)
        .map(|i| {
            json!({"path": format!("/p{i}*"), "pathType": "ImplementationSpecific",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}})
        })
        .collect();
    let message = validate(&v).deny_message.unwrap();
    assert!(
        message.starts_with("spec.rules[0].http.paths[0].path: "),
        "{message}"
    );
    assert_eq!(message.matches("[path-grammar]").count(), 10, "{message}");
    assert!(message.ends_with("; …and 4 more"), "{message}");
}
