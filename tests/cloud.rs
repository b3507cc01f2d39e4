//! The cloud checks' client (src/cloud) against the Tencent Cloud stand-in on loopback: signed
//! requests, answers read as the API reference documents them, the budget, auth errors and the
//! cache. Never any traffic but loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod stand_in_tencent_cloud;

use std::time::{Duration, Instant};

use qcloud_ingress_webhook::cloud::sign::{Credentials, SecretKey};
use qcloud_ingress_webhook::cloud::{Action, CloudClient, CloudConfig, Outcome};
use qcloud_ingress_webhook::cluster::{CloudLookup, LoadBalancerDetail, Unverified};
use stand_in_tencent_cloud::{SECRET_ID, SECRET_KEY, StandIn, certificate, load_balancer};

fn config(stand_in: &StandIn, key: &str) -> CloudConfig {
    CloudConfig {
        credentials: Credentials {
            secret_id: SECRET_ID.into(),
            secret_key: SecretKey::new(key),
        },
        region: "ap-guangzhou".into(),
        vpc_id: Some("vpc-home0001".into()),
        endpoint: Some(stand_in.url()),
        budget: Duration::from_millis(400),
        expiry_warning_days: 30,
        ttl: Duration::from_secs(300),
        negative_ttl: Duration::from_secs(30),
    }
}

fn client(stand_in: &StandIn, key: &str) -> CloudClient {
    common::install_provider();
    CloudClient::new(config(stand_in, key), Some(stand_in.client_tls())).unwrap()
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

async fn stand_in() -> StandIn {
    common::install_provider();
    let stand_in = StandIn::start().await;
    stand_in.set_certificate(
        "Svr00001",
        certificate(
            "SVR",
            1,
            "2099-01-01 08:00:00",
            &["shop.example.com", "*.example.com"],
        ),
    );
    stand_in.set_certificate("CaCert01", certificate("CA", 1, "2099-01-01 08:00:00", &[]));
    stand_in.set_load_balancer("lb-app00001", load_balancer("vpc-home0001", 1));
    stand_in.set_load_balancer("lb-cls00001", load_balancer("", 0));
    stand_in
}

#[tokio::test]
async fn signed_requests_get_the_documented_answers() {
    let stand_in = stand_in().await;
    let client = client(&stand_in, SECRET_KEY);
    let facts = client
        .facts(
            &["Svr00001".into(), "Missing1".into(), "CaCert01".into()],
            &[
                "lb-app00001".into(),
                "lb-cls00001".into(),
                "lb-gone0001".into(),
            ],
            later(),
        )
        .await;
    let CloudLookup::Found(svr) = &facts.certificates["Svr00001"] else {
        panic!("{:?}", facts.certificates);
    };
    assert_eq!(svr.certificate_type, "SVR");
    assert_eq!(svr.domains, ["shop.example.com", "*.example.com"]);
    assert_eq!(facts.certificates["Missing1"], CloudLookup::NotFound);
    assert!(
        matches!(&facts.certificates["CaCert01"], CloudLookup::Found(c) if c.certificate_type == "CA")
    );
    assert_eq!(
        facts.load_balancers["lb-cls00001"],
        CloudLookup::Found(LoadBalancerDetail {
            vpc_id: String::new(),
            forward: 0
        })
    );
    assert_eq!(facts.load_balancers["lb-gone0001"], CloudLookup::NotFound);
    assert_eq!(stand_in.requests(), 6);
    assert_eq!(
        stand_in.verified(),
        6,
        "every request carried a valid signature"
    );
    let stats = client.stats();
    assert_eq!(
        stats.calls(Action::DescribeCertificateDetail, Outcome::Found),
        2
    );
    assert_eq!(
        stats.calls(Action::DescribeLoadBalancers, Outcome::NotFound),
        1
    );
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_never_a_not_found() {
    let stand_in = stand_in().await;
    let client = client(&stand_in, "not-the-key");
    let facts = client
        .facts(&["Missing1".into()], &["lb-gone0001".into()], later())
        .await;
    assert_eq!(
        facts.certificates["Missing1"],
        CloudLookup::Unverified(Unverified::Auth)
    );
    assert_eq!(
        facts.load_balancers["lb-gone0001"],
        CloudLookup::Unverified(Unverified::Auth)
    );
    assert_eq!(stand_in.verified(), 0);
    let stats = client.stats();
    assert_eq!(
        stats.calls(Action::DescribeCertificateDetail, Outcome::AuthError),
        1
    );
    assert_eq!(
        stats.calls(Action::DescribeLoadBalancers, Outcome::AuthError),
        1
    );
    // Not kept: the next review asks again (and still cannot say).
    client.facts(&["Missing1".into()], &[], later()).await;
    assert_eq!(stand_in.requests(), 3);
}

#[tokio::test]
async fn a_slow_cloud_costs_at_most_the_budget_and_is_unverified() {
    let stand_in = stand_in().await;
    stand_in.set_delay(Duration::from_secs(5));
    let client = client(&stand_in, SECRET_KEY);
    let started = Instant::now();
    let facts = client
        .facts(&["Svr00001".into()], &["lb-app00001".into()], later())
        .await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(380), "{took:?}");
    assert!(
        took < Duration::from_millis(1500),
        "budget is 400 ms, took {took:?}"
    );
    assert_eq!(
        facts.certificates["Svr00001"],
        CloudLookup::Unverified(Unverified::Timeout)
    );
    assert_eq!(
        client
            .stats()
            .calls(Action::DescribeLoadBalancers, Outcome::Timeout),
        1
    );
    // The review's own deadline wins when it is sooner than the budget.
    let started = Instant::now();
    client
        .facts(
            &["Svr00001".into()],
            &[],
            Instant::now() + Duration::from_millis(50),
        )
        .await;
    assert!(started.elapsed() < Duration::from_millis(350));
}

/// `existLbId` comes from the request: reviews naming many made-up CLB ids while the cloud is
/// slow reach it at most eight at a time; the rest are "not verified" when the budget ends.
#[tokio::test]
async fn calls_in_flight_are_bounded_across_reviews() {
    let stand_in = stand_in().await;
    stand_in.set_delay(Duration::from_secs(5));
    let client = client(&stand_in, SECRET_KEY);
    let ids: Vec<String> = (0..40).map(|i| format!("lb-{i:08}")).collect();
    let facts = client.facts(&[], &ids, later()).await;
    assert_eq!(
        stand_in.requests(),
        8,
        "calls beyond the cap reached the cloud"
    );
    assert!(
        facts
            .load_balancers
            .values()
            .all(|l| *l == CloudLookup::Unverified(Unverified::Timeout))
    );
}

#[tokio::test]
async fn cached_answers_make_repeated_reviews_free_of_calls() {
    let stand_in = stand_in().await;
    let client = client(&stand_in, SECRET_KEY);
    let certs = ["Svr00001".to_owned(), "Missing1".to_owned()];
    let lbs = ["lb-app00001".to_owned(), "lb-gone0001".to_owned()];
    let first = client.facts(&certs, &lbs, later()).await;
    assert_eq!(stand_in.requests(), 4);
    let second = client.facts(&certs, &lbs, later()).await;
    assert_eq!(
        stand_in.requests(),
        4,
        "found and not-found answers are both kept"
    );
    assert_eq!(client.stats().cache_hits(), 4);
    assert_eq!(first.certificates, second.certificates);
    assert_eq!(first.load_balancers, second.load_balancers);
}

/// Reviews through the driver, as every front end makes them, with the cloud checks on
/// (`WithCloud` with a client) or off.
mod through_the_driver {
    use std::future::Future;
    use std::time::{Duration, Instant};

    use qcloud_ingress_webhook::cluster::{ClusterState, Confirmed, Reads, SecretCertIds};
    use qcloud_ingress_webhook::drive::{Budget, Cluster, WithCloud, drive};
    use qcloud_ingress_webhook::rules::{
        AdmissionInput, Decision, Endpoint, Engine, Kind, ObjectInput, Operation, Requester,
        Ruling, Settings,
    };
    use serde_json::json;

    use super::*;

    /// Service `web` (NodePort) and Secrets `good` (Svr00001), `gone` (Missing1) in `shop`.
    struct Files(ClusterState);

    impl Cluster for Files {
        type Lookup = ClusterState;

        fn lookup(
            &self,
            _: &str,
            _: Vec<String>,
            _: Instant,
        ) -> impl Future<Output = Option<ClusterState>> + Send {
            std::future::ready(Some(self.0.clone()))
        }

        fn confirm(
            &self,
            _: Reads,
            _: Instant,
        ) -> impl Future<Output = Option<Result<Confirmed, String>>> + Send {
            std::future::ready(None)
        }
    }

    fn files() -> Files {
        let mut state = ClusterState::default();
        let yaml = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80}]}});
        qcloud_ingress_webhook::cluster::offline::add_object(&mut state, yaml, "shop").unwrap();
        for (name, id) in [("good", "Svr00001"), ("gone", "Missing1")] {
            state.insert_secret(
                "shop",
                name,
                SecretCertIds {
                    cert_id: Some(id.as_bytes().to_vec()),
                    ca_cert_id: None,
                },
            );
        }
        Files(state)
    }

    /// An HTTPS Ingress for shop.example.com with the certificate of Secret `secret`.
    async fn review<C: Cluster + Sync>(cluster: &C, secret: &str) -> Decision {
        let object = serde_json::value::to_raw_value(&json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "front", "namespace": "shop", "annotations": {
                "kubernetes.io/ingress.class": "qcloud",
                "kubernetes.io/ingress.rule-mix": "true"}},
            "spec": {"tls": [{"hosts": ["shop.example.com"], "secretName": secret}],
                     "rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
        }))
        .unwrap();
        let input = AdmissionInput {
            endpoint: Endpoint::Validate,
            operation: Operation::Create,
            kind: Kind::INGRESS_V1,
            namespace: Some("shop"),
            object: Some(ObjectInput::Text(&object)),
            old_object: None,
            requester: Requester::default(),
        };
        let engine = Engine::new(Settings::default()).unwrap();
        drive(
            &engine,
            input,
            cluster,
            Budget::within(Duration::from_secs(10)),
        )
        .await
        .decision
    }

    #[tokio::test]
    async fn with_cloud_checks_off_no_call_is_made_and_no_credentials_are_needed() {
        let stand_in = stand_in().await;
        for decision in [
            review(&files(), "gone").await,
            review(
                &WithCloud {
                    inner: files(),
                    cloud: None,
                },
                "gone",
            )
            .await,
        ] {
            assert_eq!(
                decision.ruling(),
                Ruling::Allowed,
                "{:?}",
                decision.findings
            );
            assert!(decision.findings.is_empty(), "{:?}", decision.findings);
        }
        assert_eq!(stand_in.requests(), 0);
    }

    #[tokio::test]
    async fn a_missing_certificate_is_denied_and_a_good_one_allowed() {
        let stand_in = stand_in().await;
        let client = client(&stand_in, SECRET_KEY);
        let cluster = WithCloud {
            inner: files(),
            cloud: Some(&client),
        };
        let denied = review(&cluster, "gone").await;
        assert_eq!(denied.ruling(), Ruling::Denied);
        assert_eq!(denied.rule_ids(), ["cloud-certificate-not-found"]);
        let allowed = review(&cluster, "good").await;
        assert_eq!(allowed.ruling(), Ruling::Allowed, "{:?}", allowed.findings);
        assert!(allowed.findings.is_empty(), "{:?}", allowed.findings);
        // The same reviews again: answered from the cache, no further call.
        let asked = stand_in.requests();
        assert_eq!(review(&cluster, "gone").await.ruling(), Ruling::Denied);
        review(&cluster, "good").await;
        assert_eq!(stand_in.requests(), asked);
    }

    #[tokio::test]
    async fn a_slow_cloud_or_a_wrong_key_never_denies() {
        let stand_in = stand_in().await;
        let wrong = client(&stand_in, "not-the-key");
        let decision = review(
            &WithCloud {
                inner: files(),
                cloud: Some(&wrong),
            },
            "gone",
        )
        .await;
        assert_eq!(decision.ruling(), Ruling::Allowed);
        assert_eq!(decision.rule_ids(), ["cloud-not-verified"]);
        assert!(
            decision.warnings.iter().any(|w| w.contains("auth_error")),
            "{:?}",
            decision.warnings
        );
        assert_eq!(
            wrong
                .stats()
                .calls(Action::DescribeCertificateDetail, Outcome::AuthError),
            1
        );

        stand_in.set_delay(Duration::from_secs(5));
        let slow = client(&stand_in, SECRET_KEY);
        let started = Instant::now();
        let decision = review(
            &WithCloud {
                inner: files(),
                cloud: Some(&slow),
            },
            "gone",
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(decision.ruling(), Ruling::Allowed);
        assert!(
            decision.warnings.iter().any(|w| w.contains("timeout")),
            "{:?}",
            decision.warnings
        );
    }
}

/// The real binary's `serve --cloud`, against the stand-in.
mod serve {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    const BIN: &str = env!("CARGO_BIN_EXE_qcloud-ingress-webhook");

    fn serve(
        dir: &std::path::Path,
        port: u16,
        admin_port: u16,
    ) -> (Command, qcloud_ingress_webhook::certs::DevCerts) {
        let (mut command, certs) = common::serve_command(Command::new(BIN), dir, port, admin_port);
        command
            .arg("--cluster-state")
            .arg(common::repo_path("examples/cluster-state"))
            .args(["--shutdown-delay", "0s", "--log-format", "json"])
            .env_remove("TENCENTCLOUD_SECRET_ID")
            .env_remove("TENCENTCLOUD_SECRET_KEY")
            .env_remove("TENCENTCLOUD_REGION")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        (command, certs)
    }

    #[test]
    fn cloud_checks_without_credentials_stop_start_up_naming_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let out = serve(dir.path(), common::free_port(), common::free_port())
            .0
            .args(["--cloud", "--cloud-region", "ap-guangzhou"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("TENCENTCLOUD_SECRET_ID"), "{stderr}");
    }

    #[tokio::test]
    async fn serve_with_cloud_checks_denies_a_missing_certificate_and_counts_the_call() {
        let stand_in = stand_in().await;
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::create_dir(&credentials).unwrap();
        std::fs::write(credentials.join("SecretId"), SECRET_ID).unwrap();
        std::fs::write(credentials.join("SecretKey"), format!("{SECRET_KEY}\n")).unwrap();
        std::fs::write(dir.path().join("cloud-ca.pem"), &stand_in.ca_pem).unwrap();
        let (port, admin_port) = (common::free_port(), common::free_port());
        let (mut command, certs) = serve(dir.path(), port, admin_port);
        command
            .args(["--cloud", "--cloud-region", "ap-guangzhou"])
            .args(["--cloud-endpoint", &stand_in.url()])
            .arg("--cloud-ca")
            .arg(dir.path().join("cloud-ca.pem"))
            .arg("--cloud-credentials-dir")
            .arg(&credentials)
            .stderr(Stdio::null());
        let _child = common::KillOnDrop(command.spawn().unwrap());
        let admin = reqwest::Client::new();
        let give_up = Instant::now() + Duration::from_secs(20);
        while !admin
            .get(format!("http://127.0.0.1:{admin_port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(Instant::now() < give_up, "never ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let review = common::fixture("examples/reviews/tke-ingress-ssl.json");
        let client = common::client_for(&certs, ([127, 0, 0, 1], port).into());
        let response = client
            .post(format!(
                "https://{}:{port}/validate?timeout=10s",
                common::SERVICE_HOST
            ))
            .json(&review)
            .send()
            .await
            .unwrap();
        let reply = common::Reply::read(response).await;
        let message = common::assert_denied(&reply, &review);
        assert!(message.contains("cloud-certificate-not-found"), "{message}");
        assert_eq!(stand_in.verified(), 1);
        let metrics = admin
            .get(format!("http://127.0.0.1:{admin_port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = "qcloud_ingress_webhook_cloud_calls_total{action=\"DescribeCertificateDetail\",outcome=\"not_found\"} 1";
        assert!(metrics.contains(line), "{metrics}");
        assert!(!metrics.contains(SECRET_KEY));
    }
}

/// The real binary's `check --cloud` on manifests, with the key in the environment.
mod check {
    use super::*;

    const MANIFEST: &str = r"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: shop}
type: Opaque
stringData: {qcloud_cert_id: Missing1}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: front
  namespace: shop
  annotations:
    kubernetes.io/ingress.class: qcloud
    kubernetes.io/ingress.rule-mix: 'true'
spec:
  tls: [{hosts: [shop.example.com], secretName: cert}]
  rules:
    - host: shop.example.com
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend: {service: {name: web, port: {number: 80}}}
";

    async fn check(args: Vec<String>) -> (i32, String) {
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_qcloud-ingress-webhook"))
                .arg("check")
                .args(args)
                .env("TENCENTCLOUD_SECRET_ID", SECRET_ID)
                .env("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
                .env("TENCENTCLOUD_REGION", "ap-guangzhou")
                .env_remove("KUBECONFIG")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.code().unwrap(), text)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn check_with_cloud_finds_a_missing_certificate_and_without_asks_nothing() {
        let stand_in = stand_in().await;
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("front.yaml");
        std::fs::write(&manifest, MANIFEST).unwrap();
        let ca = dir.path().join("cloud-ca.pem");
        std::fs::write(&ca, &stand_in.ca_pem).unwrap();
        let file = manifest.to_str().unwrap().to_owned();

        let (code, text) = check(vec![file.clone()]).await;
        assert_eq!((code, stand_in.requests()), (0, 0), "{text}");

        let args = vec![
            "--cloud".to_owned(),
            "--cloud-endpoint".to_owned(),
            stand_in.url(),
            "--cloud-ca".to_owned(),
            ca.to_str().unwrap().to_owned(),
            file,
        ];
        let (code, text) = check(args).await;
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("cloud-certificate-not-found"), "{text}");
        assert!(text.contains("Missing1"), "{text}");
        assert_eq!(stand_in.verified(), 1);
        assert!(!text.contains(SECRET_KEY));
    }
}

/// "Not verified" is logged as one line at most a minute, with counts and the reason only.
#[tokio::test]
async fn not_verified_is_logged_once_a_minute_and_never_with_the_key() {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let stand_in = stand_in().await;
    let key = "a-wrong-key-that-must-not-be-logged";
    let client = client(&stand_in, key);
    for _ in 0..3 {
        client.facts(&["Svr00001".into()], &[], later()).await;
    }
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let logged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("did not verify"))
        .collect();
    assert_eq!(logged.len(), 1, "{text}");
    assert!(logged[0].contains("auth_error"), "{text}");
    assert!(!text.contains(key) && !text.contains(SECRET_ID), "{text}");
}
