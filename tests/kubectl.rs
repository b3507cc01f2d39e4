//! What a user sees from `kubectl` (issue #14, part 2): the real kubectl (pinned,
//! scripts/install-kubectl.sh) against the stand-in API server (a test double, see
//! `stand_in_apiserver`), which calls the real webhook server over TLS with the registrations of
//! the chart's rendered WebhookConfigurations, the way the Kubernetes API server does.
//!
//! The chart is rendered as release `qcloud-ingress-webhook` in namespace `qcloud-ingress-webhook`
//! with `certs.mode=external` and the test CA as `caBundle`, so the Service name the stand-in dials
//! is the one the test certificate is for. The webhook server reads the example cluster state.
//! Transcripts in tests/fixtures/kubectl/*.txt hold what kubectl printed; README.md quotes one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;
mod helm;
mod stand_in_apiserver;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use common::TestServer;
use qcloud_ingress_webhook::certs::DevCerts;
use serde_json::Value;
use stand_in_apiserver::StandIn;
use stand_in_apiserver::admission::Webhooks;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubectl");
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
/// Release and namespace of the rendered chart: its Service is `<this>.<this>.svc`, the name in
/// the test certificate (`common::SERVICE_HOST`).
const RELEASE: &str = "qcloud-ingress-webhook";
const VALIDATE: &str = "validate.qcloud-ingress-webhook.tke.cloud";
const MUTATE: &str = "mutate.qcloud-ingress-webhook.tke.cloud";

/// kubectl from `$KUBECTL`, `.tools/bin/kubectl` or PATH. Missing: the test is skipped with a
/// message, except in CI (`CI` set), where scripts/test.sh installs it and missing is a failure.
fn kubectl_binary() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("KUBECTL").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/kubectl")),
        Some(PathBuf::from("kubectl")),
    ];
    let found = candidates.into_iter().flatten().find(|kubectl| {
        Command::new(kubectl)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let in_ci = std::env::var_os("CI").is_some();
    if found.is_none() {
        assert!(
            !in_ci,
            "kubectl not found in CI: run scripts/install-kubectl.sh"
        );
        eprintln!(
            "SKIPPED: kubectl not found ($KUBECTL, .tools/bin/kubectl, PATH); run scripts/install-kubectl.sh"
        );
    }
    found
}

/// Where the registered webhook Service's calls go.
enum Endpoint {
    /// The real webhook server (tests/common), with the example cluster state.
    Webhook,
    /// A port where nothing listens: the webhook is down.
    Closed,
    /// A TLS server with the webhook's certificate that reads the request and never answers.
    Slow,
}

/// The stand-in API server with the chart's webhooks registered, and kubectl pointed at it.
struct Cluster {
    stand_in: StandIn,
    webhooks: Webhooks,
    /// The loopback address the webhook Service resolves to.
    endpoint: std::net::SocketAddr,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    _webhook: Option<TestServer>,
    _closed: Option<tokio::net::TcpSocket>,
}

/// What one kubectl run printed.
#[derive(Debug)]
struct Shown {
    command: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Shown {
    /// `$ command`, then standard error, then standard output.
    fn transcript(&self) -> String {
        format!("$ {}\n{}{}", self.command, self.stderr, self.stdout)
    }
}

impl Cluster {
    /// Renders the chart with `values`, registers its webhooks with the stand-in, and routes their
    /// Service to `endpoint`. `None` when kubectl or helm is missing (outside CI).
    async fn start(endpoint: Endpoint, values: &[&str]) -> Option<Self> {
        let kubectl = kubectl_binary()?;
        let helm = helm::helm();
        assert!(
            helm.is_some() || std::env::var_os("CI").is_none(),
            "helm not found in CI"
        );
        let helm = helm?;
        common::install_provider();
        let (webhook, certs) = match endpoint {
            Endpoint::Webhook => {
                let server = TestServer::start().await;
                let certs = server.certs.clone();
                (Some(server), certs)
            }
            Endpoint::Closed | Endpoint::Slow => (None, common::test_certs()),
        };
        let (addr, closed) = match (&endpoint, &webhook) {
            (Endpoint::Webhook, Some(server)) => (server.addr, None),
            (Endpoint::Slow, _) => (slow_server(&certs).await, None),
            _ => {
                // Bound, never listening: connections are refused, and the port stays ours.
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                (socket.local_addr().unwrap(), Some(socket))
            }
        };
        let webhooks = rendered_webhooks(&helm, &certs, values).route_all(addr);
        let stand_in = StandIn::start().await;
        stand_in.register_webhooks(webhooks.clone());
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = stand_in.kubeconfig(dir.path());
        Some(Self {
            stand_in,
            webhooks,
            endpoint: addr,
            dir,
            kubeconfig,
            kubectl,
            _webhook: webhook,
            _closed: closed,
        })
    }

    /// Registers the chart's webhooks again (after a test unregistered them).
    fn register(&self) {
        self.stand_in.register_webhooks(self.webhooks.clone());
    }

    /// Copies a manifest from tests/fixtures/kubectl into the working directory.
    fn manifest(&self, name: &str) {
        std::fs::copy(Path::new(FIXTURES).join(name), self.dir.path().join(name)).unwrap();
    }

    /// `kubectl apply -f name` of a manifest from tests/fixtures/kubectl.
    async fn apply_fixture(&self, name: &str) -> Shown {
        self.manifest(name);
        self.kubectl(&["apply", "-f", name]).await
    }

    /// Writes a manifest into the working directory.
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    /// Runs `kubectl ARGS` in the working directory with a private HOME and discovery cache.
    async fn kubectl(&self, args: &[&str]) -> Shown {
        let mut command = Command::new(&self.kubectl);
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG");
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("kubectl runs");
        let shown_args: Vec<String> = args.iter().map(|a| shell_quoted(a)).collect();
        Shown {
            command: format!("kubectl {}", shown_args.join(" ")),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// The stand-in served everything kubectl asked for. The one exception is `/openapi/v2`,
    /// which client-side apply asks for patch metadata only after `/openapi/v3` declared no patch
    /// media types; without it kubectl uses its compiled-in Ingress type.
    fn assert_all_served(&self) {
        let gaps: Vec<String> = self
            .stand_in
            .unserved()
            .into_iter()
            .filter(|line| !line.starts_with("GET /openapi/v2"))
            .collect();
        assert!(gaps.is_empty(), "the stand-in did not serve: {gaps:?}");
    }

    fn stored(&self, name: &str) -> Option<Value> {
        self.stand_in.get("Ingress", "default", name)
    }
}

/// `arg` as a shell would need it, for transcripts: single-quoted unless plain.
fn shell_quoted(arg: &str) -> String {
    let plain = arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The chart's webhooks, rendered with the test CA as caBundle.
fn rendered_webhooks(helm: &Path, certs: &DevCerts, values: &[&str]) -> Webhooks {
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(&certs.ca_cert_pem);
    let mut args = vec![
        "--set".to_owned(),
        "certs.mode=external".to_owned(),
        "--set".to_owned(),
        "certs.external.secretName=qcloud-ingress-webhook-tls".to_owned(),
        "--set".to_owned(),
        format!("certs.external.caBundle={ca_bundle}"),
        "--show-only".to_owned(),
        "templates/webhook.yaml".to_owned(),
    ];
    args.extend(values.iter().map(|v| (*v).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Webhooks::from_rendered(&helm::template_release(helm, RELEASE, RELEASE, &args))
}

/// A webhook that takes the TLS connection and the request, then never answers.
async fn slow_server(certs: &DevCerts) -> std::net::SocketAddr {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::AsyncReadExt as _;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(certs.cert_pem.as_bytes())
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_slice(certs.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buffer = [0u8; 4096];
                while tls.read(&mut buffer).await.is_ok_and(|n| n > 0) {}
            });
        }
    });
    addr
}

/// Compares what kubectl printed in `runs` with tests/fixtures/kubectl/`name`.txt
/// (`KUBECTL_TRANSCRIPTS=write` rewrites the file instead).
fn check_transcript(name: &str, runs: &[&Shown]) {
    let path = Path::new(FIXTURES).join(format!("{name}.txt"));
    let transcript: Vec<String> = runs.iter().map(|shown| shown.transcript()).collect();
    let transcript = transcript.join("\n");
    if std::env::var("KUBECTL_TRANSCRIPTS").as_deref() == Ok("write") {
        std::fs::write(&path, &transcript).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        transcript,
        expected,
        "kubectl's output differs from {}; if the change is intended, run with KUBECTL_TRANSCRIPTS=write and update README.md",
        path.display()
    );
}

/// The names of the webhooks called so far, in order.
fn called(cluster: &Cluster) -> Vec<String> {
    let calls = cluster.stand_in.webhook_calls();
    calls.into_iter().map(|c| c.webhook).collect()
}

/// The message of the Status kubectl printed, after `denied the request: `.
fn deny_message(shown: &Shown) -> &str {
    let last = shown.stderr.lines().last().unwrap_or_default();
    last.split_once("denied the request: ")
        .unwrap_or_else(|| panic!("not a deny: {}", shown.stderr))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_ingress_is_created_and_its_warning_shown() {
    let Some(cluster) = Cluster::start(Endpoint::Webhook, &[]).await else {
        return;
    };
    let shown = cluster.apply_fixture("tke-ingress-ssl.yaml").await;
    check_transcript("allow-tke-ingress-ssl", &[&shown]);
    assert_eq!(shown.code, 0);
    let stored = cluster.stored("tke-ingress-ssl").expect("created");
    let annotations = &stored["metadata"]["annotations"];
    assert!(annotations["kubectl.kubernetes.io/last-applied-configuration"].is_string());

    // What the webhooks were sent, as the API server sends it: /mutate, then /validate, each with
    // the chart's timeoutSeconds as ?timeout=, a v1 review of the CREATE.
    let calls = cluster.stand_in.webhook_calls();
    assert_eq!(called(&cluster), [MUTATE, VALIDATE]);
    let service = format!("https://{RELEASE}.{RELEASE}.svc:443");
    assert_eq!(calls[0].url, format!("{service}/mutate?timeout=5s"));
    assert_eq!(calls[1].url, format!("{service}/validate?timeout=5s"));
    let review = &calls[1].review;
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    let request = &review["request"];
    assert_eq!(request["operation"], "CREATE");
    assert_eq!(request["dryRun"], false);
    assert_eq!(request["options"]["kind"], "CreateOptions");
    assert_eq!(
        request["options"]["fieldManager"],
        "kubectl-client-side-apply"
    );
    assert!(request["oldObject"].is_null());
    // The registry sets uid and creationTimestamp between the mutating and validating webhooks.
    assert!(calls[0].review["request"]["object"]["metadata"]["uid"].is_null());
    assert!(request["object"]["metadata"]["uid"].is_string());
    assert_eq!(calls[1].outcome.as_ref().unwrap()["uid"], request["uid"]);
    cluster.assert_all_served();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_ingress_shows_the_webhooks_message() {
    let Some(cluster) = Cluster::start(Endpoint::Webhook, &[]).await else {
        return;
    };
    let shown = cluster.apply_fixture("clusterip-backend.yaml").await;
    check_transcript("deny-clusterip-backend", &[&shown]);
    assert_eq!((shown.code, shown.stdout.as_str()), (1, ""));
    assert!(
        deny_message(&shown).starts_with(
            "spec.rules[0].http.paths[0].backend.service.name: Service \"internal-only\" is ClusterIP"
        ),
        "{}",
        shown.stderr
    );
    assert_eq!(cluster.stored("clusterip-backend"), None);
    // /mutate patches and allows; the validating webhook judges the patched object and denies.
    assert_eq!(called(&cluster), [MUTATE, VALIDATE]);

    // The chart's namespaceSelector leaves kube-system alone: no call, created as written.
    let shown = cluster
        .kubectl(&["apply", "-n", "kube-system", "-f", "clusterip-backend.yaml"])
        .await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(shown.stderr, "");
    assert_eq!(called(&cluster), [MUTATE, VALIDATE]);
    cluster.assert_all_served();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_mutating_webhook_the_validating_one_denies() {
    let values = ["--set", "mutating.enabled=false"];
    let Some(cluster) = Cluster::start(Endpoint::Webhook, &values).await else {
        return;
    };
    let shown = cluster.apply_fixture("clusterip-backend.yaml").await;
    assert_eq!(called(&cluster), [VALIDATE]);
    let with_mutate =
        std::fs::read_to_string(Path::new(FIXTURES).join("deny-clusterip-backend.txt")).unwrap();
    assert_eq!(shown.transcript(), with_mutate.replace(MUTATE, VALIDATE));
    assert_eq!(cluster.stored("clusterip-backend"), None);
}

#[test]
fn readme_quotes_the_captured_deny() {
    let transcript =
        std::fs::read_to_string(Path::new(FIXTURES).join("deny-clusterip-backend.txt")).unwrap();
    let readme = std::fs::read_to_string(README).unwrap();
    assert!(
        readme.contains(&format!("```\n{transcript}```\n")),
        "README.md must quote tests/fixtures/kubectl/deny-clusterip-backend.txt as a code block"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_spells_out_ten_findings_and_counts_the_rest() {
    let Some(cluster) = Cluster::start(Endpoint::Webhook, &[]).await else {
        return;
    };
    let shown = cluster.apply_fixture("shop-before-services.yaml").await;
    check_transcript("deny-shop-before-services", &[&shown]);
    let message = deny_message(&shown);
    assert_eq!(message.matches("[backend-service-missing]").count(), 10);
    assert!(
        message.contains("spec.rules[0].http.paths[9].backend.service.name: Service \"inventory\"")
    );
    assert!(!message.contains("paths[10]"), "{message}");
    assert!(message.ends_with("; …and 2 more"), "{message}");
    assert_eq!(cluster.stored("shop"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixable_spelling_is_patched_and_each_change_shown() {
    let Some(cluster) = Cluster::start(Endpoint::Webhook, &[]).await else {
        return;
    };
    let applied = cluster.apply_fixture("rule-mix-spelling.yaml").await;
    let jsonpath = r#"jsonpath={.metadata.annotations.kubernetes\.io/ingress\.rule-mix} {.spec.rules[0].http.paths[0].pathType}{"\n"}"#;
    let got = cluster
        .kubectl(&["get", "ingress", "rule-mix-spelling", "-o", jsonpath])
        .await;
    check_transcript("mutate-rule-mix-spelling", &[&applied, &got]);
    assert_eq!(applied.code, 0);
    assert_eq!(got.stdout, "true ImplementationSpecific\n");
    // The validating webhook judged the patched object.
    let calls = cluster.stand_in.webhook_calls();
    assert_eq!(called(&cluster), [MUTATE, VALIDATE]);
    let object = &calls[1].review["request"]["object"];
    assert_eq!(
        object["metadata"]["annotations"]["kubernetes.io/ingress.rule-mix"],
        "true"
    );
    cluster.assert_all_served();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_keeps_old_problems_as_warnings_and_denies_new_ones() {
    let Some(cluster) = Cluster::start(Endpoint::Webhook, &[]).await else {
        return;
    };
    // Applied before the webhook was installed: nothing reviews it.
    cluster.stand_in.register_webhooks(Webhooks::default());
    let original =
        std::fs::read_to_string(Path::new(FIXTURES).join("clusterip-backend.yaml")).unwrap();
    cluster.write("clusterip-backend.yaml", &original);
    let before = cluster
        .kubectl(&["apply", "-f", "clusterip-backend.yaml"])
        .await;
    assert_eq!((before.code, before.stderr.as_str()), (0, ""));

    // Installed; an unrelated edit (a label) is allowed, the old problem only warned about.
    cluster.register();
    let labelled = original.replace(
        "  name: clusterip-backend\n",
        "  name: clusterip-backend\n  labels:\n    team: web\n",
    );
    cluster.write("clusterip-backend.yaml", &labelled);
    let edited = cluster
        .kubectl(&["apply", "-f", "clusterip-backend.yaml"])
        .await;
    assert_eq!(edited.code, 0, "{}", edited.stderr);
    let stored = cluster.stored("clusterip-backend").unwrap();
    assert_eq!(stored["metadata"]["labels"]["team"], "web");
    let calls = cluster.stand_in.webhook_calls();
    let request = &calls[0].review["request"];
    assert_eq!(request["operation"], "UPDATE");
    assert_eq!(request["options"]["kind"], "UpdateOptions");
    assert!(request["oldObject"]["metadata"]["labels"].is_null());

    // A new problem in the next edit is denied; the old one is still not.
    let second_path = "          - path: /cart\n            pathType: Prefix\n            backend:\n              service:\n                name: cart\n                port: {number: 80}\n";
    cluster.write(
        "clusterip-backend.yaml",
        &format!("{labelled}{second_path}"),
    );
    let denied = cluster
        .kubectl(&["apply", "-f", "clusterip-backend.yaml"])
        .await;
    check_transcript("ratchet-clusterip-backend", &[&before, &edited, &denied]);
    assert_eq!(denied.code, 1);
    let message = deny_message(&denied);
    assert!(
        message.starts_with("spec.rules[0].http.paths[1].backend.service.name: Service \"cart\""),
        "{message}"
    );
    assert!(!message.contains("internal-only"), "{message}");
    assert!(
        cluster.stored("clusterip-backend").unwrap()["spec"]["rules"][0]["http"]["paths"][1]
            .is_null()
    );
    cluster.assert_all_served();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_server_side_apply_and_server_dry_run_are_reviewed_too() {
    let Some(cluster) = Cluster::start(Endpoint::Webhook, &[]).await else {
        return;
    };
    cluster.manifest("clusterip-backend.yaml");
    cluster.manifest("tke-ingress-ssl.yaml");
    let mut runs = Vec::new();
    for args in [
        &["create", "-f", "clusterip-backend.yaml"][..],
        &["apply", "--server-side", "-f", "clusterip-backend.yaml"],
        &["apply", "--dry-run=server", "-f", "clusterip-backend.yaml"],
        &["apply", "--dry-run=server", "-f", "tke-ingress-ssl.yaml"],
    ] {
        runs.push(cluster.kubectl(args).await);
    }
    assert_eq!(
        cluster.stored("tke-ingress-ssl"),
        None,
        "a dry run stores nothing"
    );
    let dry_run = cluster.stand_in.webhook_calls().pop().unwrap().review;
    assert_eq!(dry_run["request"]["dryRun"], true);
    assert_eq!(
        dry_run["request"]["options"]["dryRun"],
        serde_json::json!(["All"])
    );
    for args in [
        &["apply", "--server-side", "-f", "tke-ingress-ssl.yaml"][..],
        // Already there: admission runs first, then the store refuses.
        &["create", "-f", "tke-ingress-ssl.yaml"],
    ] {
        runs.push(cluster.kubectl(args).await);
    }
    let runs: Vec<&Shown> = runs.iter().collect();
    check_transcript("verbs", &runs);
    let codes: Vec<i32> = runs.iter().map(|r| r.code).collect();
    assert_eq!(codes, [1, 1, 1, 0, 0, 1]);
    assert!(cluster.stored("tke-ingress-ssl").is_some());
    assert_eq!(cluster.stored("clusterip-backend"), None);
    cluster.assert_all_served();
}

/// The Status kubectl prints when the validating webhook cannot be called under `Fail`.
fn failed_call(url_path: &str, cause: &str) -> String {
    format!(
        "Error from server (InternalError): error when creating \"tke-ingress-ssl.yaml\": Internal error occurred: failed calling webhook \"{VALIDATE}\": failed to call webhook: Post \"https://{RELEASE}.{RELEASE}.svc:443{url_path}\": {cause}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_is_down_is_skipped_under_ignore() {
    let Some(cluster) = Cluster::start(Endpoint::Closed, &[]).await else {
        return;
    };
    let shown = cluster.apply_fixture("tke-ingress-ssl.yaml").await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(
        shown.stdout,
        "ingress.networking.k8s.io/tke-ingress-ssl created\n"
    );
    assert_eq!(shown.stderr, "", "fails open without a word to the user");
    let refused = format!("dial tcp {}: connect: connection refused", cluster.endpoint);
    let calls = cluster.stand_in.webhook_calls();
    assert_eq!(called(&cluster), [MUTATE, VALIDATE]);
    assert!(
        calls
            .iter()
            .all(|c| c.outcome.as_ref().is_err_and(|e| e.ends_with(&refused)))
    );
    assert!(cluster.stored("tke-ingress-ssl").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_is_down_fails_the_request_under_fail() {
    let values = ["--set", "webhook.failurePolicy=Fail"];
    let Some(cluster) = Cluster::start(Endpoint::Closed, &values).await else {
        return;
    };
    let shown = cluster.apply_fixture("tke-ingress-ssl.yaml").await;
    assert_eq!((shown.code, shown.stdout.as_str()), (1, ""));
    let refused = format!("dial tcp {}: connect: connection refused", cluster.endpoint);
    // The mutating webhook always fails open (chart); the validating one fails the request.
    assert_eq!(shown.stderr, failed_call("/validate?timeout=5s", &refused));
    assert_eq!(cluster.stored("tke-ingress-ssl"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_slower_than_timeout_seconds_fails_the_request_under_fail() {
    let values = [
        "--set",
        "webhook.failurePolicy=Fail",
        "--set",
        "webhook.timeoutSeconds=1",
        "--set",
        "mutating.timeoutSeconds=1",
    ];
    let Some(cluster) = Cluster::start(Endpoint::Slow, &values).await else {
        return;
    };
    let shown = cluster.apply_fixture("tke-ingress-ssl.yaml").await;
    assert_eq!((shown.code, shown.stdout.as_str()), (1, ""));
    assert_eq!(
        shown.stderr,
        failed_call("/validate?timeout=1s", "context deadline exceeded")
    );
    // Both webhooks waited out their timeoutSeconds; the mutating one was then skipped.
    let calls = cluster.stand_in.webhook_calls();
    assert_eq!(called(&cluster), [MUTATE, VALIDATE]);
    assert!(calls.iter().all(|c| {
        c.outcome
            .as_ref()
            .is_err_and(|e| e.ends_with("context deadline exceeded"))
    }));
}

/// The stand-in's admission chain against what k8s.io/apiserver does, without kubectl.
mod stand_in_follows_the_apiserver {
    use serde_json::json;

    use super::stand_in_apiserver::admission::{
        Warnings, condition_holds, selector_matches, to_status_err, verify,
    };

    #[test]
    fn a_deny_status_gets_a_code_of_at_least_400_and_the_webhooks_name() {
        let status = to_status_err(
            "w",
            Some(&json!({"code": 0, "status": "Success", "message": "no"})),
        );
        assert_eq!(status["code"], 400);
        assert_eq!(status["status"], "Failure");
        assert_eq!(
            status["message"],
            "admission webhook \"w\" denied the request: no"
        );
        let forbidden = to_status_err("w", Some(&json!({"code": 403, "reason": "Forbidden"})));
        assert_eq!(forbidden["code"], 403);
        assert_eq!(
            forbidden["message"],
            "admission webhook \"w\" denied the request: Forbidden"
        );
        let bare = to_status_err("w", None);
        assert_eq!(
            bare["message"],
            "admission webhook \"w\" denied the request without explanation"
        );
    }

    #[test]
    fn warnings_are_deduplicated_quoted_and_truncated_past_4096_runes() {
        let mut warnings = Warnings::default();
        for text in [
            "a \"quoted\" \\ one",
            "a \"quoted\" \\ one",
            "",
            "two\nlines",
        ] {
            warnings.add(text);
        }
        assert_eq!(warnings.headers(), [r#"299 - "a \"quoted\" \\ one""#]);
        let mut many = Warnings::default();
        for i in 0..20 {
            many.add(&format!("{i:02}{}", "x".repeat(298)));
        }
        let headers = many.headers();
        assert!(
            headers
                .iter()
                .all(|h| h.chars().count() == 256 + "299 - \"\"".len())
        );
        assert!(
            headers.len() < 20,
            "dropped once the limit is reached again"
        );
    }

    #[test]
    fn a_v1_answer_must_echo_the_uid_and_a_validating_one_carry_no_patch() {
        let answer = |uid: &str, extra: serde_json::Value| {
            let mut response = json!({"uid": uid, "allowed": true});
            response
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
        };
        assert!(verify("u", false, &answer("u", json!({}))).is_ok());
        assert_eq!(
            verify("u", false, &answer("", json!({}))).unwrap_err(),
            "received invalid webhook response: expected response.uid=\"u\", got \"\""
        );
        let patched = answer("u", json!({"patch": "W10=", "patchType": "JSONPatch"}));
        assert!(verify("u", true, &patched).is_ok());
        assert!(
            verify("u", false, &patched)
                .unwrap_err()
                .ends_with("validating webhook may not return response.patch")
        );
        let mut beta = answer("", json!({}));
        beta["apiVersion"] = json!("admission.k8s.io/v1beta1");
        assert!(
            verify("u", false, &beta).is_ok(),
            "v1beta1 answers are not checked"
        );
    }

    #[test]
    fn the_charts_match_condition_and_namespace_selector_are_evaluated() {
        let not_tke = "!(request.userInfo.username in ['system:serviceaccount:kube-system:l7-lb-controller', 'system:serviceaccount:kube-system:service-controller'])";
        assert!(condition_holds(not_tke, "kubernetes-admin"));
        assert!(!condition_holds(
            not_tke,
            "system:serviceaccount:kube-system:l7-lb-controller"
        ));
        let selector = json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]});
        let labels = |ns: &str| {
            serde_json::Map::from_iter([("kubernetes.io/metadata.name".to_owned(), json!(ns))])
        };
        assert!(selector_matches(&selector, &labels("default")));
        assert!(!selector_matches(&selector, &labels("kube-system")));
        assert!(selector_matches(
            &serde_json::Value::Null,
            &labels("kube-system")
        ));
    }
}
