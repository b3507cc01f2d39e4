//! Test support for the rule modules: Ingress fixtures that are clean unless a case breaks them,
//! a small cluster, and [`rule_cases!`], which turns a table of named cases into one test each.
//!
//! ```ignore
//! rule_cases! {
//!     host_grammar: HOST_GRAMMAR {
//!         fires no_dot: http().host("localhost") => "spec.rules[0].host";
//!         clean dotted: http();
//!     }
//! }
//! ```
//!
//! A `fires` case passes when the rule reports at least one finding (at the field, if given); a
//! `clean` case when it reports none. Every case goes through the admission function, as a
//! review would. Each module lists its cases in `CASES`, and [`every_rule_has_cases`] checks that
//! each rule of the catalogue has at least one case of each kind.

use serde_json::{Value, json};

use super::catalogue::{self, Rule};
use super::{
    AdmissionInput, Decision, Endpoint, Engine, Finding, Kind, ObjectInput, Operation, Requester,
    Settings,
};
use crate::cluster::{
    CloudFacts, ClusterState, IngressSummary, SecretCertIds, ServicePortSummary, ServiceSummary,
};

pub const NS: &str = "default";

/// The cases of one rule, for the coverage test.
pub struct Cases {
    pub rule: &'static Rule,
    pub fires: &'static [&'static str],
    pub clean: &'static [&'static str],
}

/// A Service with one port, 80, named `http`.
pub fn service(kind: &str) -> ServiceSummary {
    ServiceSummary {
        service_type: kind.into(),
        ports: vec![ServicePortSummary {
            name: Some("http".into()),
            port: 80,
            node_port: None,
        }]
        .into(),
        ..ServiceSummary::default()
    }
}

/// Services `web` (NodePort), `lb` (LoadBalancer), `internal` (ClusterIP), `ext` (ExternalName);
/// Secrets `cert` and `cert2` (good ids), `dual` (an ECC and an RSA id), `newline` (an id
/// ending in a newline), `three-ids`, `padded` (a space after the comma), `empty`, `no-id`.
pub fn cluster() -> ClusterState {
    let mut state = ClusterState::default();
    for (name, kind) in [
        ("web", "NodePort"),
        ("lb", "LoadBalancer"),
        ("internal", "ClusterIP"),
        ("ext", "ExternalName"),
    ] {
        state.insert_service(NS, name, service(kind));
    }
    let secret = |id: &[u8]| SecretCertIds {
        cert_id: Some(id.to_vec()),
        ca_cert_id: None,
    };
    state.insert_secret(NS, "cert", secret(b"TKPmsWb3"));
    state.insert_secret(NS, "cert2", secret(b"Abcd1234"));
    state.insert_secret(NS, "newline", secret(b"TKPmsWb3\n"));
    state.insert_secret(NS, "dual", secret(b"XczRzegn,YCOLTUdr"));
    state.insert_secret(NS, "three-ids", secret(b"XczRzegn,YCOLTUdr,Abcd1234"));
    state.insert_secret(NS, "padded", secret(b"XczRzegn, YCOLTUdr"));
    state.insert_secret(NS, "empty", secret(b""));
    state.insert_secret(NS, "no-id", SecretCertIds::default());
    state
}

/// An Ingress under review, with its cluster, settings and (for an UPDATE) its old object.
#[derive(Clone)]
pub struct Fixture {
    pub object: Value,
    pub old: Option<Value>,
    pub cluster: ClusterState,
    pub settings: Settings,
    pub secrets_unavailable: bool,
    /// Tencent Cloud's answers (none: cloud checks off).
    pub cloud: CloudFacts,
}

/// A clean HTTP-only Ingress: one host, one path, a NodePort backend.
pub fn http() -> Fixture {
    Fixture {
        object: json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "app", "namespace": NS,
                         "annotations": {"kubernetes.io/ingress.class": "qcloud"}},
            "spec": {"rules": [{"host": "www.example.com", "http": {"paths": [
                {"path": "/", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}
            ]}}]}
        }),
        old: None,
        cluster: cluster(),
        settings: Settings::default(),
        secrets_unavailable: false,
        cloud: CloudFacts::default(),
    }
}

/// The same with TLS (Secret `cert` for its host) and rule-mix, so HTTPS rules are in play.
pub fn tls() -> Fixture {
    http()
        .set(
            "/spec/tls",
            json!([{"hosts": ["www.example.com"], "secretName": "cert"}]),
        )
        .annotate("kubernetes.io/ingress.rule-mix", "true")
}

/// A spec path to `service:80` at `path`.
pub fn path(path: &str, service: &str) -> Value {
    json!({"path": path, "pathType": "ImplementationSpecific",
           "backend": {"service": {"name": service, "port": {"number": 80}}}})
}

impl Fixture {
    /// Sets the value at a JSON pointer, creating objects on the way.
    #[must_use]
    pub fn set(mut self, pointer: &str, value: Value) -> Self {
        set_pointer(&mut self.object, pointer, value);
        self
    }

    #[must_use]
    pub fn remove(mut self, pointer: &str) -> Self {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer with a parent");
        let key = key.replace("~1", "/").replace("~0", "~");
        if let Some(Value::Object(map)) = self.object.pointer_mut(parent) {
            map.remove(&key);
        }
        self
    }

    #[must_use]
    pub fn annotate(mut self, key: &str, value: &str) -> Self {
        self.object["metadata"]["annotations"][key] = json!(value);
        self
    }

    #[must_use]
    pub fn host(self, host: &str) -> Self {
        self.set("/spec/rules/0/host", json!(host))
    }

    #[must_use]
    pub fn url(self, url: &str) -> Self {
        self.set("/spec/rules/0/http/paths/0/path", json!(url))
    }

    #[must_use]
    pub fn backend(self, service: &str) -> Self {
        self.set(
            "/spec/rules/0/http/paths/0/backend/service/name",
            json!(service),
        )
    }

    /// Adds spec paths to the first rule.
    #[must_use]
    pub fn paths(mut self, paths: impl IntoIterator<Item = Value>) -> Self {
        let list = self.object["spec"]["rules"][0]["http"]["paths"]
            .as_array_mut()
            .expect("the fixture has paths");
        list.extend(paths);
        self
    }

    /// Reviews this object as an UPDATE of `old`.
    #[must_use]
    pub fn updating(mut self, old: Fixture) -> Self {
        self.old = Some(old.object);
        self
    }

    #[must_use]
    pub fn with_cluster(mut self, edit: impl FnOnce(&mut ClusterState)) -> Self {
        edit(&mut self.cluster);
        self
    }

    /// Another Ingress in the cluster.
    #[must_use]
    pub fn with_ingress(self, summary: IngressSummary) -> Self {
        self.with_cluster(|c| c.insert_ingress(summary))
    }

    #[must_use]
    pub fn with_settings(mut self, edit: impl FnOnce(&mut Settings)) -> Self {
        edit(&mut self.settings);
        self
    }

    /// What Tencent Cloud answers for this review.
    #[must_use]
    pub fn with_cloud(mut self, edit: impl FnOnce(&mut CloudFacts)) -> Self {
        edit(&mut self.cloud);
        self
    }

    /// Every Secret read fails, as when the API server cannot be reached in time.
    #[must_use]
    pub fn secrets_unavailable(mut self) -> Self {
        self.secrets_unavailable = true;
        self
    }

    /// The decision a `/validate` review of this fixture gets.
    pub fn decide(&self) -> Decision {
        self.decide_at(Endpoint::Validate)
    }

    pub fn decide_at(&self, endpoint: Endpoint) -> Decision {
        let engine = Engine::new(self.settings.clone()).expect("engine builds");
        let raw = |v: &Value| serde_json::value::to_raw_value(v).expect("JSON");
        let object = raw(&self.object);
        let old = self.old.as_ref().map(raw);
        let input = AdmissionInput {
            endpoint,
            operation: if old.is_some() {
                Operation::Update
            } else {
                Operation::Create
            },
            kind: Kind::INGRESS_V1,
            namespace: Some(NS),
            object: Some(ObjectInput::Text(&object)),
            old_object: old.as_deref().map(ObjectInput::Text),
            requester: Requester::default(),
        };
        let unread;
        let cluster = if self.secrets_unavailable {
            unread = self.cluster.clone().with_secrets_unread("deadline passed");
            &unread
        } else {
            &self.cluster
        };
        match engine.admit(input) {
            super::Admission::Decided(decision) => decision,
            super::Admission::Pending(pending) => pending.decide_with(cluster, &self.cloud),
        }
    }

    /// The findings of one rule.
    pub fn findings_of(&self, rule: &Rule) -> Vec<Finding> {
        self.decide()
            .findings
            .into_iter()
            .filter(|f| f.rule.id == rule.id)
            .collect()
    }
}

fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let mut at = root;
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, token) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        at = match at {
            Value::Array(items) => {
                let index: usize = token.parse().expect("an array index");
                if last {
                    if index == items.len() {
                        items.push(value);
                    } else {
                        items[index] = value;
                    }
                    return;
                }
                &mut items[index]
            }
            other => {
                if !other.is_object() {
                    *other = json!({});
                }
                let map = other.as_object_mut().expect("an object");
                if last {
                    map.insert((*token).to_owned(), value);
                    return;
                }
                map.entry((*token).to_owned()).or_insert_with(|| json!({}))
            }
        };
    }
}

/// Fails unless `rule` reports a finding on `fixture` (at `field`, when given).
pub fn assert_fires(rule: &Rule, fixture: &Fixture, field: Option<&str>) {
    let decision = fixture.decide();
    let mine: Vec<&Finding> = decision
        .findings
        .iter()
        .filter(|f| f.rule.id == rule.id)
        .collect();
    assert!(
        !mine.is_empty(),
        "{} did not fire; findings: {:?}",
        rule.id,
        decision.rule_ids()
    );
    if let Some(field) = field {
        assert!(
            mine.iter().any(|f| f.field == field),
            "{} fired at {:?}, not at {field}",
            rule.id,
            mine.iter().map(|f| &f.field).collect::<Vec<_>>()
        );
    }
}

/// Fails if `rule` reports anything on `fixture`.
pub fn assert_clean(rule: &Rule, fixture: &Fixture) {
    let found = fixture.findings_of(rule);
    assert!(found.is_empty(), "{} fired: {found:?}", rule.id);
}

/// Named cases for the rules of one module: one `#[test]` each, and the module's `CASES`.
macro_rules! rule_cases {
    ($($module:ident: $rule:ident {
        $(fires $fire:ident: $fixture:expr $(=> $field:literal)?;)+
        $(clean $clean:ident: $clean_fixture:expr;)+
    })+) => {
        $(
            mod $module {
                #[allow(unused_imports, reason = "each case uses some of the fixtures")]
                use super::*;
                #[allow(unused_imports, reason = "each case uses some of the fixtures")]
                use $crate::rules::testing::*;

                mod fires {
                    use super::*;
                    $(#[test]
                    fn $fire() {
                        let field: Option<&str> = None $(.or(Some($field)))?;
                        assert_fires(&$crate::rules::catalogue::$rule, &$fixture, field);
                    })+
                }

                mod clean {
                    use super::*;
                    $(#[test]
                    fn $clean() {
                        assert_clean(&$crate::rules::catalogue::$rule, &$clean_fixture);
                    })+
                }
            }
        )+

        /// The cases of this module's rules.
        pub(crate) static CASES: &[$crate::rules::testing::Cases] = &[$(
            $crate::rules::testing::Cases {
                rule: &$crate::rules::catalogue::$rule,
                fires: &[$(stringify!($fire)),+],
                clean: &[$(stringify!($clean)),+],
            }
        ),+];
    };
}
pub(crate) use rule_cases;

/// Every module's cases. A module with rules but not listed here fails the test below.
fn all_cases() -> impl Iterator<Item = &'static Cases> {
    use super::checks::{
        annotation_keys, annotation_values, backends, class, cloud, direct_access, listeners,
        routes, shared_lb, skip, tls, update,
    };
    [
        super::json::tests::CASES,
        class::tests::CASES,
        annotation_values::tests::CASES,
        annotation_keys::tests::CASES,
        direct_access::tests::CASES,
        listeners::tests::CASES,
        tls::tests::CASES,
        backends::tests::CASES,
        cloud::tests::CASES,
        routes::tests::CASES,
        shared_lb::tests::CASES,
        update::tests::CASES,
        skip::tests::CASES,
    ]
    .into_iter()
    .flatten()
}

#[test]
fn every_rule_has_cases() {
    let mut missing = Vec::new();
    for rule in catalogue::RULES {
        let cases: Vec<&Cases> = all_cases().filter(|c| c.rule.id == rule.id).collect();
        if !cases.iter().any(|c| !c.fires.is_empty()) {
            missing.push(format!("{}: no firing case", rule.id));
        }
        if !cases.iter().any(|c| !c.clean.is_empty()) {
            missing.push(format!("{}: no clean case", rule.id));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn the_base_fixtures_are_clean() {
    for fixture in [http(), tls()] {
        let decision = fixture.decide();
        assert!(decision.findings.is_empty(), "{:?}", decision.findings);
        assert!(decision.reviewed);
    }
}
