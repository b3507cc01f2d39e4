//! The audit pass against the stand-in API server (a test double): every qcloud Ingress the
//! cluster already has is judged as it stands, and judged again when it, a Service it uses or an
//! Ingress on its CLB changes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod stand_in_apiserver;
mod stand_in_tencent_cloud;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qcloud_ingress_webhook::audit::Report;
use qcloud_ingress_webhook::audit::live::{AuditConfig, Auditor};
use qcloud_ingress_webhook::cluster::ClusterView as _;
use qcloud_ingress_webhook::cluster::live::LiveConfig;
use qcloud_ingress_webhook::rules::{Engine, Settings};
use serde_json::json;
use stand_in_apiserver::{StandIn, ingress, service};

struct Audit {
    auditor: Arc<Auditor>,
    task: tokio::task::JoinHandle<()>,
    notified: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn audit(stand_in: &StandIn) -> Audit {
    common::install_provider();
    let config = LiveConfig {
        keep_ingresses: true,
        ..LiveConfig::default()
    };
    let (view, dir) = stand_in.live_view(config).await;
    let view = Arc::new(view);
    eventually("the view syncs", || view.is_ready()).await;
    let engine = Arc::new(Engine::new(Settings::default()).unwrap());
    let pace = AuditConfig {
        interval: Duration::from_secs(3600),
        rate: 100,
        debounce: Duration::from_millis(50),
        ..AuditConfig::default()
    };
    let notified = Arc::new(Mutex::new(Vec::new()));
    let seen = notified.clone();
    let auditor = Arc::new(Auditor::new(engine, view, pace).unwrap().on_deny_change(
        move |(namespace, name), _| {
            seen.lock().unwrap().push(format!("{namespace}/{name}"));
        },
    ));
    let task = tokio::spawn(auditor.clone().run());
    Audit {
        auditor,
        task,
        notified,
        _dir: dir,
    }
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(15);
    while !condition() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn rules_of(report: &Report, name: &str) -> Vec<&'static str> {
    report
        .findings
        .iter()
        .filter(|e| e.name == name)
        .map(|e| e.rule)
        .collect()
}

fn cluster_ip(name: &str) -> serde_json::Value {
    let mut svc = service("shop", name, 80);
    svc["spec"]["type"] = json!("ClusterIP");
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_ingresses_are_judged_and_judged_again_when_they_change() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(cluster_ip("internal"));
    stand_in.apply(ingress("shop", "good", "a.example.com", "web", None));
    stand_in.apply(ingress(
        "shop",
        "clusterip",
        "b.example.com",
        "internal",
        None,
    ));
    stand_in.apply(ingress("shop", "localhost", "localhost", "web", None));
    let mut nginx = ingress("shop", "other", "localhost", "web", None);
    nginx["metadata"]["annotations"]["kubernetes.io/ingress.class"] = json!("nginx");
    stand_in.apply(nginx);
    let audit = audit(&stand_in).await;
    let auditor = &audit.auditor;
    eventually("the first pass ends", || {
        auditor.report().last_pass.is_some()
    })
    .await;
    let report = auditor.report();
    assert_eq!(report.ingresses, 3, "three qcloud Ingresses: {report:?}");
    assert_eq!(rules_of(&report, "good"), Vec::<&str>::new());
    assert_eq!(rules_of(&report, "clusterip"), ["backend-service-type"]);
    assert_eq!(rules_of(&report, "localhost"), ["host-grammar"]);
    assert_eq!(report.denied(), 2);
    let counts = auditor.counts();
    assert_eq!(counts.get(&("host-grammar", "deny")), Some(&1));

    // The Service becomes NodePort: the Ingress using it is judged again.
    stand_in.apply(service("shop", "internal", 80));
    eventually("the fixed Service clears its Ingress", || {
        rules_of(&auditor.report(), "clusterip").is_empty()
    })
    .await;
    // A deleted Ingress leaves the report.
    stand_in.delete("Ingress", "shop", "localhost");
    eventually("the deleted Ingress leaves", || {
        auditor.report().ingresses == 2
    })
    .await;
    assert_eq!(auditor.report().denied(), 0);

    let mut notified = audit.notified.lock().unwrap().clone();
    notified.sort();
    assert_eq!(notified, ["shop/clusterip", "shop/localhost"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ingress_on_a_taken_clb_makes_both_conflict() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(ingress(
        "shop",
        "first",
        "a.example.com",
        "web",
        Some("lb-6swt1234"),
    ));
    let audit = audit(&stand_in).await;
    let auditor = &audit.auditor;
    eventually("the first pass ends", || {
        auditor.report().last_pass.is_some()
    })
    .await;
    assert_eq!(auditor.report().findings, vec![]);
    stand_in.apply(ingress(
        "shop",
        "second",
        "b.example.com",
        "web",
        Some("lb-6swt1234"),
    ));
    eventually("both are reported", || {
        let report = auditor.report();
        rules_of(&report, "first") == ["exist-lb-in-use"]
            && rules_of(&report, "second") == ["exist-lb-in-use"]
    })
    .await;
}

const BIN: &str = env!("CARGO_BIN_EXE_qcloud-ingress-webhook");

/// Every new token costs the API server a TokenReview and a SubjectAccessReview, so a caller
/// sending many tokens at once gets at most four reviews in flight; the rest are answered 503 at
/// once, without asking the API server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_reviews_in_flight_are_bounded() {
    let stand_in = cluster_with_one_bad_ingress().await;
    let dir = tempfile::tempdir().unwrap();
    let (_child, admin) = serve(&stand_in, dir.path(), &[]).await;
    stand_in.set_token_review_delay(Duration::from_secs(3));

    let callers: Vec<_> = (0..12)
        .map(|i| {
            tokio::spawn(async move {
                let started = Instant::now();
                let answer = admin_get_as(admin, "/audit", Some(&format!("t{i}"))).await;
                (answer, started.elapsed())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for caller in callers {
        let ((status, body), took) = caller.await.unwrap();
        if status == 503 {
            assert!(took < Duration::from_secs(2), "a refusal waited {took:?}");
            assert!(body.contains("too many access reviews"), "{body}");
        }
        statuses.push(status);
    }
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(refused, 8, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        stand_in.token_reviews_received(),
        4,
        "only four reached the API server"
    );
}

/// The real binary's `serve` on the stand-in, with `audit_args`; returns the admin port once
/// ready.
async fn serve(
    stand_in: &StandIn,
    dir: &std::path::Path,
    audit_args: &[&str],
) -> (common::KillOnDrop, u16) {
    let binary = common::LiveBinary::start(&stand_in.kubeconfig(dir), dir, audit_args).await;
    (binary.child, binary.admin_port)
}

/// The bearer token [`cluster_with_one_bad_ingress`] lets read `/audit`.
const READER_TOKEN: &str = "audit-reader-token";

/// GET on the admin port, with the audit reader's token.
async fn admin_get(port: u16, path: &str) -> (u16, String) {
    admin_get_as(port, path, Some(READER_TOKEN)).await
}

async fn admin_get_as(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(response) => (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// A cluster with one good Ingress and one whose host TKE refuses.
async fn cluster_with_one_bad_ingress() -> StandIn {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(ingress("shop", "good", "a.example.com", "web", None));
    stand_in.apply(ingress("shop", "localhost", "localhost", "web", None));
    stand_in.apply(service("team-b", "web", 80));
    stand_in.apply(ingress("team-b", "fine", "b.example.com", "web", None));
    stand_in.add_token(READER_TOKEN, "dashboard");
    stand_in.grant("dashboard", "get", "/audit");
    stand_in
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_shows_the_audit_on_the_admin_port_and_posts_one_event() {
    let stand_in = cluster_with_one_bad_ingress().await;
    let dir = tempfile::tempdir().unwrap();
    let (_child, admin) = serve(&stand_in, dir.path(), &["--audit-events"]).await;

    let give_up = Instant::now() + Duration::from_secs(15);
    let report = loop {
        let (status, body) = admin_get(admin, "/audit").await;
        assert_eq!(status, 200, "{body}");
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        if !report["lastPass"].is_null() {
            break report;
        }
        assert!(Instant::now() < give_up, "no audit pass ended: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(report["ingresses"], 3, "{report}");
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["name"], "localhost");
    assert_eq!(findings[0]["rule"], "host-grammar");
    assert_eq!(findings[0]["severity"], "deny");

    let (_, metrics) = admin_get(admin, "/metrics").await;
    for line in [
        "qcloud_ingress_webhook_audit_ingresses 3",
        r#"qcloud_ingress_webhook_audit_findings{rule="host-grammar",severity="deny"} 1"#,
        "qcloud_ingress_webhook_audit_last_pass_timestamp_seconds ",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }

    eventually("the Event is posted", || !stand_in.events().is_empty()).await;
    let events = stand_in.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["involvedObject"]["name"], "localhost");
    assert_eq!(event["metadata"]["namespace"], "shop");
    assert_eq!(event["reason"], "WouldBeDenied");
    assert_eq!(event["type"], "Warning");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("[host-grammar]"),
        "{event}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_audit_events_nothing_is_posted_and_interval_0s_turns_the_audit_off() {
    let stand_in = cluster_with_one_bad_ingress().await;
    let dir = tempfile::tempdir().unwrap();
    let (child, admin) = serve(&stand_in, dir.path(), &[]).await;
    let give_up = Instant::now() + Duration::from_secs(15);
    while !admin_get(admin, "/audit").await.1.contains("lastPass\":\"") {
        assert!(Instant::now() < give_up, "no audit pass ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stand_in.events(), Vec::<serde_json::Value>::new());
    drop(child);

    let (_child, admin) = serve(&stand_in, dir.path(), &["--audit-interval", "0s"]).await;
    let (status, body) = admin_get(admin, "/audit").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        "the audit is off: it runs in live mode with --audit-interval above 0s\n"
    );
    let (_, metrics) = admin_get(admin, "/metrics").await;
    assert!(!metrics.contains("audit_"), "{metrics}");
}

/// The report names Services and Secrets of every namespace, so `/audit` answers only a bearer
/// token the API server authenticates (TokenReview) and RBAC allows `get` on `/audit`
/// (SubjectAccessReview); answers are kept a minute per token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_report_is_served_only_to_a_token_rbac_allows() {
    let stand_in = cluster_with_one_bad_ingress().await;
    stand_in.add_token("someone-else", "intruder");
    let dir = tempfile::tempdir().unwrap();
    let (_child, admin) = serve(&stand_in, dir.path(), &[]).await;

    let (status, body) = admin_get_as(admin, "/audit", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.starts_with("send a bearer token"), "{body}");
    let (status, _) = admin_get_as(admin, "/audit", Some("not-a-token")).await;
    assert_eq!(status, 401);
    let (status, body) = admin_get_as(admin, "/audit", Some("someone-else")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        !body.contains("shop") && !body.contains("localhost"),
        "{body}"
    );

    let (status, body) = admin_get_as(admin, "/audit", Some(READER_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ingresses\""), "{body}");
    let asked = stand_in.access_reviews();
    let (status, _) = admin_get_as(admin, "/audit", Some(READER_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        stand_in.access_reviews(),
        asked,
        "the answer is kept for the token"
    );
    // Health and metrics stay open for the kubelet and Prometheus.
    assert_eq!(admin_get_as(admin, "/readyz", None).await.0, 200);
}

/// Runs `audit ARGS` against `stand_in`, off the test's runtime: (exit code, stdout, stderr).
async fn audit_command(stand_in: &StandIn, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(BIN)
            .arg("audit")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(&args)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_command_lists_findings_and_exits_1_when_something_would_be_denied() {
    let stand_in = cluster_with_one_bad_ingress().await;

    let (code, stdout, stderr) = audit_command(&stand_in, &["-A"]).await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    let readme = std::fs::read_to_string(common::repo_path("README.md")).unwrap();
    assert!(
        readme.contains(&format!(
            "```\n$ qcloud-ingress-webhook audit -A\n{stdout}```"
        )),
        "README.md must quote this output of `audit`:\n{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("shop/localhost: deny host-grammar spec.rules[0].host: "),
        "{stdout}"
    );
    assert!(lines[0].ends_with("(TKE Ingress error E4052)"), "{stdout}");
    assert_eq!(
        lines[1],
        "audited 3 qcloud Ingresses: 1 would be denied as they stand (1 deny, 0 warn findings)"
    );

    // One namespace, and JSON: the report `/audit` serves.
    let (code, stdout, _) = audit_command(&stand_in, &["-n", "team-b", "--output", "json"]).await;
    assert_eq!(code, 0, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ingresses"], 1);
    assert_eq!(report["findings"], json!([]));
    // Without -n or -A, the context's namespace, as kubectl does ("default" when it names none).
    let (code, stdout, _) = audit_command(&stand_in, &["--context", "team-b"]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.ends_with("audited 1 qcloud Ingress: no problems found\n"),
        "{stdout}"
    );
    let (code, stdout, _) = audit_command(&stand_in, &[]).await;
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout, "audited 0 qcloud Ingresses: no problems found\n");
    let (code, stdout, _) = audit_command(&stand_in, &["-n", "shop"]).await;
    assert_eq!(code, 1, "{stdout}");

    let (code, stdout, _) = audit_command(&stand_in, &["-A", "--output", "github"]).await;
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with("::error title=host-grammar::shop/localhost spec.rules[0].host: "),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_command_lists_a_skipped_finding_with_its_reason_and_exits_0() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    let mut skipping = ingress("shop", "localhost", "localhost", "web", None);
    skipping["metadata"]["annotations"]["qcloud-ingress-webhook.io/skip"] =
        json!("host-grammar: legacy host, see OPS-12");
    stand_in.apply(skipping);

    let (code, stdout, stderr) = audit_command(&stand_in, &["-n", "shop"]).await;
    assert_eq!(code, 0, "nothing would be denied: {stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("shop/localhost: skipped host-grammar spec.rules[0].host: "),
        "{stdout}"
    );
    assert!(
        lines[0].ends_with("; skipped on this Ingress: legacy host, see OPS-12"),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        "audited 1 qcloud Ingress: no problems found (1 skipped on their Ingress)"
    );
    let (code, stdout, _) = audit_command(&stand_in, &["-n", "shop", "--output", "json"]).await;
    assert_eq!(code, 0, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let finding = &report["findings"][0];
    assert_eq!(finding["severity"], "skipped", "{report}");
    assert_eq!(finding["rule"], "host-grammar");
    assert_eq!(finding["reason"], "legacy host, see OPS-12");
}

#[tokio::test]
async fn the_audit_command_names_a_cluster_it_cannot_reach() {
    let mut stand_in = StandIn::start().await;
    stand_in.stop().await;
    let (code, stdout, stderr) = audit_command(&stand_in, &[]).await;
    assert_eq!(code, 2, "{stdout}");
    assert_eq!(stdout, "");
    assert!(stderr.starts_with("qcloud-ingress-webhook: "), "{stderr}");
    // The server it tried, so a wrong context is plain at once.
    let server = format!("cannot list Services at http://{}/", stand_in.addr);
    assert!(stderr.contains(&server), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// `audit --cloud` with the key in the environment, as tccli and Terraform read it: a
/// certificate that ends in 10 days is listed, from the same cloud client `serve` uses, and the
/// same run without `--cloud` asks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_command_with_cloud_lists_certificates_that_expire_soon() {
    use stand_in_tencent_cloud::{SECRET_ID, SECRET_KEY, certificate};
    common::install_provider();
    let cloud = stand_in_tencent_cloud::StandIn::start().await;
    let end = std::time::SystemTime::now() + Duration::from_secs(10 * 86_400);
    let end = qcloud_ingress_webhook::text::rfc3339(end + Duration::from_secs(8 * 3600));
    let end = end.replace('T', " ").replace('Z', "");
    cloud.set_certificate("Soon0001", certificate("SVR", 1, &end, &["a.example.com"]));
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "cert", "namespace": "shop"},
        "data": {"qcloud_cert_id": "U29vbjAwMDE="}}),
    );
    let mut tls = ingress("shop", "front", "a.example.com", "web", None);
    tls["metadata"]["annotations"]["kubernetes.io/ingress.rule-mix"] = json!("true");
    tls["spec"]["tls"] = json!([{"hosts": ["a.example.com"], "secretName": "cert"}]);
    stand_in.apply(tls);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("cloud-ca.pem");
    std::fs::write(&ca, &cloud.ca_pem).unwrap();

    let (code, stdout, stderr) = audit_command(&stand_in, &["-A"]).await;
    assert_eq!((code, cloud.requests()), (0, 0), "{stdout}{stderr}");

    let url = cloud.url();
    let ca = ca.to_str().unwrap().to_owned();
    let args = ["-A", "--cloud", "--cloud-endpoint", &url, "--cloud-ca", &ca];
    let (code, stdout, stderr) = audit_command_with_env(
        &stand_in,
        &args,
        &[
            ("TENCENTCLOUD_SECRET_ID", SECRET_ID),
            ("TENCENTCLOUD_SECRET_KEY", SECRET_KEY),
            ("TENCENTCLOUD_REGION", "ap-guangzhou"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("shop/front: warn cloud-certificate-expiring spec.tls[0].secretName: certificate Soon0001 expires in 9 days"),
        "{stdout}"
    );
    assert_eq!(cloud.verified(), 1);
}

/// [`audit_command`] with these environment variables set.
async fn audit_command_with_env(
    stand_in: &StandIn,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(BIN)
            .arg("audit")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(&args)
            .env_remove("KUBECONFIG")
            .envs(env)
            .output()
            .unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    })
    .await
    .unwrap()
}
