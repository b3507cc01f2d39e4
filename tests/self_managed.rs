//! `serve --self-managed-certs` (issue 24) against the stand-in API server (a test double): the
//! real binary gets or creates the CA Secret, signs its serving certificate in memory, writes
//! `caBundle` of the two webhook configurations with server-side apply and puts it back when
//! another field manager drops it. Every handshake here is real TLS on loopback, verified with
//! nothing but the `caBundle` the API server would use.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod helm;
mod stand_in_apiserver;

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use stand_in_apiserver::StandIn;
use stand_in_apiserver::self_managed::configurations;

const NAME: &str = "qiw";
const NAMESPACE: &str = "webhook";
const CA_SECRET: &str = "qiw-ca";
const HOST: &str = "qiw.webhook.svc";

fn args() -> Vec<&'static str> {
    vec![
        "--self-managed-certs",
        "--ca-secret",
        CA_SECRET,
        "--namespace",
        NAMESPACE,
        "--service",
        NAME,
        "--validating-webhook",
        NAME,
        "--mutating-webhook",
        NAME,
        "--audit-interval",
        "0s",
    ]
}

/// The CA certificate (PEM) the CA Secret holds.
fn stored_ca(stand_in: &StandIn) -> String {
    let secret = stand_in
        .get("Secret", NAMESPACE, CA_SECRET)
        .expect("the CA Secret exists");
    assert_eq!(secret["type"], "Opaque");
    let data = secret["data"]["ca.crt"].as_str().unwrap();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
}

/// `caBundle` (PEM) of each webhook of a configuration.
fn bundles(stand_in: &StandIn, kind: &str) -> Vec<String> {
    let object = stand_in.get(kind, "default", NAME).expect("configuration");
    object["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hook| {
            let b64 = hook["clientConfig"]["caBundle"]
                .as_str()
                .unwrap_or_default();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            )
            .unwrap()
        })
        .collect()
}

fn all_bundles(stand_in: &StandIn) -> Vec<String> {
    let mut all = bundles(stand_in, "ValidatingWebhookConfiguration");
    all.extend(bundles(stand_in, "MutatingWebhookConfiguration"));
    all
}

/// A TLS handshake with the replica on `port` as the API server makes it: to the Service name,
/// trusting only `bundle`. The answer to a GET of a route that does not exist is still an answer.
async fn handshake(port: u16, bundle: &str) -> Result<u16, String> {
    let mut client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .http1_only()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .resolve(HOST, ([127, 0, 0, 1], port).into());
    for cert in reqwest::Certificate::from_pem_bundle(bundle.as_bytes()).unwrap() {
        client = client.add_root_certificate(cert);
    }
    let response = client
        .build()
        .unwrap()
        .get(format!("https://{HOST}:{port}/healthz"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status().as_u16())
}

async fn metric(admin_port: u16, name: &str) -> Option<i64> {
    let text = reqwest::get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .map(|v| v.trim().parse().unwrap())
}

fn load_configurations(stand_in: &StandIn) {
    for configuration in configurations(NAME, NAME, NAMESPACE) {
        stand_in.apply(configuration);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_started_together_end_with_one_ca_that_both_serve_under() {
    common::install_provider();
    let stand_in = StandIn::start().await;
    load_configurations(&stand_in);
    // Both replicas' GETs of the CA Secret find nothing before either create lands, so both
    // create it: the race.
    stand_in.set_secret_create_delay(Duration::from_secs(2));
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let kubeconfig = stand_in.kubeconfig(one.path());
    let args = args();
    let (first, second) = tokio::join!(
        common::LiveBinary::start(&kubeconfig, one.path(), &args),
        common::LiveBinary::start(&kubeconfig, two.path(), &args),
    );
    assert_eq!(
        stand_in.secret_creates(),
        2,
        "both replicas tried to create the CA"
    );
    assert_eq!(
        stand_in.secret_create_conflicts(),
        1,
        "one lost and read the winner's"
    );

    let ca = stored_ca(&stand_in);
    let bundles = all_bundles(&stand_in);
    assert_eq!(bundles.len(), 2);
    for bundle in &bundles {
        assert_eq!(bundle, &ca, "caBundle is the stored CA");
    }
    for replica in [&first, &second] {
        let answered = handshake(replica.port, &bundles[0]).await;
        assert_eq!(
            answered,
            Ok(404),
            "replica on {} under the caBundle",
            replica.port
        );
        // Not the test certificate the files hold: that CA is not in the bundle.
        let files = handshake(replica.port, &replica.certs.ca_cert_pem).await;
        assert!(files.is_err(), "served the --tls-cert files: {files:?}");
    }
    // A handshake under another CA fails: the check above can fail.
    let other = qcloud_ingress_webhook::certs::Authority::new().unwrap();
    assert!(handshake(first.port, &other.cert_pem).await.is_err());

    let ca_until = qcloud_ingress_webhook::certs::authority::not_after_of_pem(&ca).unwrap();
    for replica in [&first, &second] {
        let gauge = metric(
            replica.admin_port,
            "qcloud_ingress_webhook_ca_expiry_timestamp_seconds",
        );
        assert_eq!(gauge.await, Some(ca_until));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_bundle_dropped_by_another_field_manager_is_back_within_5s() {
    common::install_provider();
    let stand_in = StandIn::start().await;
    load_configurations(&stand_in);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    let replica = common::LiveBinary::start(&kubeconfig, dir.path(), &args()).await;
    let ca = stored_ca(&stand_in);
    assert!(all_bundles(&stand_in).iter().all(|b| *b == ca));
    assert!(stand_in.applies_by("qcloud-ingress-webhook") >= 2);
    let reinjections = "qcloud_ingress_webhook_ca_bundle_reinjections_total";
    assert_eq!(metric(replica.admin_port, reinjections).await, Some(0));

    // A GitOps sync with Replace=true writes both configurations as rendered: no caBundle.
    let replaced = Instant::now();
    for configuration in configurations(NAME, NAME, NAMESPACE) {
        stand_in.replace_as(configuration, "argocd-controller");
    }
    assert!(all_bundles(&stand_in).iter().all(String::is_empty));
    loop {
        if all_bundles(&stand_in).iter().all(|b| *b == ca) {
            break;
        }
        assert!(
            replaced.elapsed() < Duration::from_secs(5),
            "caBundle not restored within 5s: {:?}",
            all_bundles(&stand_in)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bundle = all_bundles(&stand_in).remove(0);
    assert_eq!(handshake(replica.port, &bundle).await, Ok(404));
    let object: Value = stand_in
        .get("ValidatingWebhookConfiguration", "default", NAME)
        .unwrap();
    let managers: Vec<&str> = object["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert!(managers.contains(&"qcloud-ingress-webhook"), "{managers:?}");
    assert_eq!(metric(replica.admin_port, reinjections).await, Some(2));
    let ready = reqwest::get(format!("http://127.0.0.1:{}/readyz", replica.admin_port)).await;
    assert_eq!(ready.unwrap().status().as_u16(), 200);
}

/// kubectl from `$KUBECTL` or `.tools/bin/kubectl` (scripts/install-kubectl.sh); `None` skips.
fn kubectl_binary() -> Option<std::path::PathBuf> {
    let candidates = [
        std::env::var_os("KUBECTL").map(std::path::PathBuf::from),
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/kubectl")),
    ];
    let found = candidates.into_iter().flatten().find(|k| {
        std::process::Command::new(k)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(
        found.is_some() || std::env::var_os("CI").is_none(),
        "kubectl not found in CI"
    );
    if found.is_none() {
        eprintln!("SKIPPED: kubectl not found; run scripts/install-kubectl.sh");
    }
    found
}

/// The chart rendered in selfManaged mode, release and namespace as the test's names: its two
/// webhook configurations and the container args, exactly as Argo CD would apply them.
fn rendered_chart(helm: &std::path::Path) -> (Vec<Value>, Vec<String>) {
    let rendered = helm::template_release(
        helm,
        NAME,
        NAMESPACE,
        &[
            "--set",
            "certs.mode=selfManaged",
            "--set",
            "fullnameOverride=qiw",
        ],
    );
    let documents: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
    let configurations: Vec<Value> = documents
        .iter()
        .filter(|d| {
            d["kind"]
                .as_str()
                .is_some_and(|k| k.ends_with("WebhookConfiguration"))
        })
        .cloned()
        .collect();
    let deployment = documents
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .filter(|a| {
            [
                "--self-managed-certs",
                "--ca-secret=",
                "--namespace=",
                "--service=",
                "--validating-webhook=",
                "--mutating-webhook=",
            ]
            .iter()
            .any(|flag| a.starts_with(flag))
        })
        .collect();
    (configurations, args)
}

/// The real kubectl creates an Ingress through the stand-in, which calls the binary over TLS with
/// the `caBundle` the binary wrote into the chart's own rendered configurations; and again after
/// a CA rotation, with the bundle as it is then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_an_ingress_through_the_self_managed_webhook() {
    let Some(kubectl) = kubectl_binary() else {
        return;
    };
    let Some(helm) = helm::helm() else { return };
    common::install_provider();
    let (configurations, mut args) = rendered_chart(&helm);
    let stand_in = StandIn::start().await;
    for configuration in configurations {
        stand_in.apply(configuration);
    }
    stand_in.apply(stand_in_apiserver::service("shop", "web", 80));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    args.push("--audit-interval=0s".to_owned());
    args.extend(rotation_flags().iter().map(|f| (*f).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let replica = common::LiveBinary::start(&kubeconfig, dir.path(), &args).await;

    let first = kubectl_apply(
        &stand_in,
        &kubectl,
        dir.path(),
        &kubeconfig,
        replica.port,
        "web",
    );
    assert_eq!(first, 2, "both webhooks called");

    let old = stored_ca(&stand_in);
    rotate(&stand_in, &old).await;
    let second = kubectl_apply(
        &stand_in,
        &kubectl,
        dir.path(),
        &kubeconfig,
        replica.port,
        "web-2",
    );
    assert_eq!(
        second, 4,
        "both webhooks called again, under the new CA only"
    );
}

/// Registers the webhooks of the configurations as stored now (the API server calls them with
/// the `caBundle` they carry) and creates Ingress `name` with the real kubectl; the webhook
/// calls made so far, all of which must have succeeded.
fn kubectl_apply(
    stand_in: &StandIn,
    kubectl: &std::path::Path,
    dir: &std::path::Path,
    kubeconfig: &std::path::Path,
    port: u16,
    name: &str,
) -> usize {
    let stored: Vec<String> = [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ]
    .iter()
    .map(|kind| stand_in.get(kind, "default", NAME).unwrap().to_string())
    .collect();
    let webhooks = stand_in_apiserver::admission::Webhooks::from_rendered(&stored.join("\n---\n"))
        .route_all(([127, 0, 0, 1], port).into());
    stand_in.register_webhooks(webhooks);
    let manifest = dir.join(format!("{name}.json"));
    let ingress = stand_in_apiserver::ingress("shop", name, "shop.example.com", "web", None);
    std::fs::write(&manifest, ingress.to_string()).unwrap();
    let output = std::process::Command::new(kubectl)
        .args(["apply", "-f"])
        .arg(&manifest)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl apply: {stderr}");
    assert!(stand_in.get("Ingress", "shop", name).is_some());
    let calls = stand_in.webhook_calls();
    for call in &calls {
        assert!(call.outcome.is_ok(), "{}: {:?}", call.webhook, call.outcome);
    }
    calls.len()
}

/// `/readyz` says 503 while `caBundle` does not hold the CA (here: the configurations do not
/// exist yet, as when the pods start before Argo CD has applied them), and 200 once it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_ca_bundle_holds_the_ca() {
    common::install_provider();
    let stand_in = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    let replica = common::LiveBinary::spawn(&kubeconfig, dir.path(), &args());
    let started = Instant::now();
    let mut seen = None;
    while started.elapsed() < Duration::from_secs(3) {
        if let Some(answer) = replica.readyz().await {
            assert_eq!(answer.0, 503, "ready without caBundle: {answer:?}");
            seen = Some(answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, why) = seen.expect("the admin port answered");
    assert!(why.contains("caBundle"), "{why}");
    load_configurations(&stand_in);
    replica.wait_ready(Duration::from_secs(5)).await;
    let ca = stored_ca(&stand_in);
    assert!(all_bundles(&stand_in).iter().all(|b| *b == ca));
}

/// Fast rotation for tests: promote after 1 s, retire 2 s later, read the Secret every 200 ms.
fn rotation_flags() -> [&'static str; 3] {
    [
        "--ca-bundle-propagation=1s",
        "--ca-retire-after=2s",
        "--ca-recheck=200ms",
    ]
}

/// `next.crt` of the CA Secret, during a rotation.
fn next_ca(stand_in: &StandIn) -> Option<String> {
    let secret = stand_in.get("Secret", NAMESPACE, CA_SECRET).unwrap();
    secret["data"]["next.crt"].as_str().map(|b| {
        let pem = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
        String::from_utf8(pem).unwrap()
    })
}

/// Asks for a rotation and waits until a new CA signs and the old one has left every bundle: the
/// new CA, and whether every bundle was seen holding both CAs on the way.
async fn rotate(stand_in: &StandIn, old: &str) -> (String, bool) {
    stand_in.annotate(
        "Secret",
        NAMESPACE,
        CA_SECRET,
        "qcloud-ingress-webhook/rotate",
        "now",
    );
    let give_up = Instant::now() + Duration::from_secs(30);
    let mut saw_both = false;
    loop {
        let bundles = all_bundles(stand_in);
        if let Some(next) = next_ca(stand_in) {
            saw_both |= bundles.iter().all(|b| b.contains(old) && b.contains(&next));
        }
        let new = stored_ca(stand_in);
        if new != old && bundles.iter().all(|b| *b == new) {
            return (new, saw_both);
        }
        assert!(
            Instant::now() < give_up,
            "rotation did not finish: {bundles:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client as the API server is one: it trusts the `caBundle` it last read and re-reads the
/// configuration every 500 ms; every request is a new connection, so a full TLS handshake.
async fn steady_client(
    stand_in: &StandIn,
    ports: [u16; 2],
    stop: &std::sync::atomic::AtomicBool,
) -> (u64, Vec<String>) {
    let (mut ok, mut failures) = (0, Vec::new());
    let mut read_at: Option<Instant> = None;
    let mut client = None;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        if read_at.is_none_or(|at| at.elapsed() >= Duration::from_millis(500)) {
            let bundle = bundles(stand_in, "ValidatingWebhookConfiguration").remove(0);
            let mut builder = reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .http1_only()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(5));
            for port in ports {
                builder = builder.resolve(HOST, ([127, 0, 0, 1], port).into());
            }
            for cert in reqwest::Certificate::from_pem_bundle(bundle.as_bytes()).unwrap() {
                builder = builder.add_root_certificate(cert);
            }
            client = Some(builder.build().unwrap());
            read_at = Some(Instant::now());
        }
        for port in ports {
            let url = format!("https://{HOST}:{port}/healthz");
            match client.as_ref().unwrap().get(&url).send().await {
                Ok(r) if r.status().as_u16() == 404 => ok += 1,
                Ok(r) => failures.push(format!("{port}: HTTP {}", r.status())),
                Err(e) => failures.push(format!("{port}: {e:?}")),
            }
        }
    }
    (ok, failures)
}

/// A rotation forced with the annotation, under a steady client: the new CA joins both bundles,
/// serving certificates move to it only then, the old CA leaves after; no handshake fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_rotation_under_load_fails_no_handshake() {
    common::install_provider();
    let stand_in = StandIn::start().await;
    load_configurations(&stand_in);
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let kubeconfig = stand_in.kubeconfig(one.path());
    let mut args = args();
    args.extend(rotation_flags());
    let (first, second) = tokio::join!(
        common::LiveBinary::start(&kubeconfig, one.path(), &args),
        common::LiveBinary::start(&kubeconfig, two.path(), &args),
    );
    let old = stored_ca(&stand_in);
    // Wait until the configurations settle on the CA, then load.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let ports = [first.port, second.port];
    let rotation = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (new, saw_both) = rotate(&stand_in, &old).await;
        // Load continues a little after the old CA left the bundle.
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        (new, saw_both)
    };
    let ((ok, failures), (new, saw_both)) =
        tokio::join!(steady_client(&stand_in, ports, &stop), rotation);
    assert!(
        failures.is_empty(),
        "failed requests during the rotation: {failures:?}"
    );
    assert!(ok > 20, "only {ok} requests");
    assert!(saw_both, "the bundle never held both CAs");
    assert_ne!(new, old);
    assert!(stand_in.secret_updates() >= 3, "add, promote, retire");
    for replica in [&first, &second] {
        assert_eq!(handshake(replica.port, &new).await, Ok(404));
        assert!(
            handshake(replica.port, &old).await.is_err(),
            "still serving the old CA"
        );
    }
}
