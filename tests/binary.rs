//! The compiled binary: `dev-certs`, then `serve` on them, a review, SIGTERM, exit 0.
//! (Spawns the binary cargo just built for this test run.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_qcloud-ingress-webhook");

/// `dev-certs` into `certs`, twice: the second run keeps the files. Returns the CA (PEM).
fn dev_certs_twice(certs: &std::path::Path) -> String {
    let run = || {
        Command::new(BIN)
            .args(["dev-certs", "--keep-existing", "--out"])
            .arg(certs)
            .status()
            .unwrap()
    };
    assert!(run().success());
    let tls_before = std::fs::read(certs.join("tls.crt")).unwrap();
    assert!(run().success());
    assert_eq!(std::fs::read(certs.join("tls.crt")).unwrap(), tls_before);
    std::fs::read_to_string(certs.join("ca.crt")).unwrap()
}

/// Waits until `/readyz` answers 200, failing if the server exits first.
async fn until_ready(child: &mut std::process::Child, admin_port: u16) {
    let admin = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = admin
            .get(format!("http://127.0.0.1:{admin_port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "server never became ready");
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends SIGTERM and returns the exit status, failing after 10s.
async fn sigterm(child: &mut std::process::Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dev_certs_then_serve_answers_and_exits_0_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    let ca = dev_certs_twice(&certs);

    let (port, admin_port) = (common::free_port(), common::free_port());
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-listen", &format!("127.0.0.1:{admin_port}")])
        .arg("--tls-cert")
        .arg(certs.join("tls.crt"))
        .arg("--tls-key")
        .arg(certs.join("tls.key"))
        .arg("--cluster-state")
        .arg(common::repo_path("examples/cluster-state"))
        .args(["--shutdown-delay", "0s", "--log-format", "json"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    until_ready(&mut child, admin_port).await;

    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let review = common::fixture("examples/reviews/tke-ingress-ssl.json");
    let response = client
        .post(format!("https://localhost:{port}/validate?timeout=10s"))
        .json(&review)
        .send()
        .await
        .unwrap();
    let reply = common::Reply::read(response).await;
    common::assert_allowed(&reply, &review);

    assert_eq!(sigterm(&mut child).await.code(), Some(0));
}

#[test]
fn serve_in_live_mode_without_a_usable_kubeconfig_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--tls-cert"])
        .arg(tmp.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(tmp.path().join("tls.key"))
        .arg("--kubeconfig")
        .arg(tmp.path().join("missing.kubeconfig"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("live mode needs a kubeconfig"), "{stderr}");
    assert!(stderr.contains("missing.kubeconfig"), "{stderr}");
    assert!(stderr.contains("--cluster-state"), "{stderr}");
}
