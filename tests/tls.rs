//! TLS and connection behaviour: protocol versions, ALPN, keep-alive, the certificate's names,
//! slow clients, and certificate hot reload across a kubelet-style `..data` symlink swap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    KubeletDir, Options, RawConn, SERVICE_HOST, TestServer, fixture, raw_connect, test_certs,
};
use qcloud_ingress_webhook::certs::DevCerts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn review_bytes() -> Vec<u8> {
    serde_json::to_vec(&fixture("examples/reviews/tke-ingress-demo.json")).unwrap()
}

#[tokio::test]
async fn tls12_and_tls13_negotiate_http11_and_keep_the_connection_alive() {
    let server = TestServer::start().await;
    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let mut conn = raw_connect(
            server.addr,
            &server.certs.ca_cert_pem,
            SERVICE_HOST,
            &[version],
        )
        .await
        .unwrap();
        assert_eq!(conn.version(), Some(expected));
        // The client offered h2 first; the server only speaks HTTP/1.1.
        assert_eq!(conn.alpn().as_deref(), Some(&b"http/1.1"[..]));
        for _ in 0..3 {
            let (status, body) = conn.post("/validate", &review_bytes()).await.unwrap();
            assert_eq!(status, "HTTP/1.1 200 OK");
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["response"]["allowed"], true);
        }
    }
}

#[tokio::test]
async fn certificate_is_valid_for_the_service_name_and_localhost_only() {
    let server = TestServer::start().await;
    let ca = &server.certs.ca_cert_pem;
    for name in [
        SERVICE_HOST,
        "localhost",
        "qcloud-ingress-webhook.qcloud-ingress-webhook.svc.cluster.local",
    ] {
        assert!(
            raw_connect(server.addr, ca, name, rustls::ALL_VERSIONS)
                .await
                .is_ok(),
            "{name}"
        );
    }
    assert!(
        raw_connect(server.addr, ca, "other.example.com", rustls::ALL_VERSIONS)
            .await
            .is_err()
    );
    // A client trusting another CA refuses the server.
    let other = test_certs();
    assert!(
        raw_connect(
            server.addr,
            &other.ca_cert_pem,
            SERVICE_HOST,
            rustls::ALL_VERSIONS
        )
        .await
        .is_err()
    );
}

/// Reads until the server closes the connection; returns how long that took.
async fn time_until_closed<S: AsyncReadExt + Unpin>(stream: &mut S) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(elapsed) => panic!("server kept a stalled connection open: {elapsed}"),
        }
    }
}

#[tokio::test]
async fn stalled_clients_are_cut_off() {
    let server = TestServer::start_with(Options {
        tweak: |c| {
            c.header_read_timeout = Duration::from_millis(500);
            c.handshake_timeout = Duration::from_millis(500);
        },
        ..Options::default()
    })
    .await;
    // No TLS handshake at all.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    assert!(time_until_closed(&mut tcp).await < Duration::from_secs(5));

    // Half the request headers, then nothing.
    let mut conn = raw_connect(
        server.addr,
        &server.certs.ca_cert_pem,
        SERVICE_HOST,
        rustls::ALL_VERSIONS,
    )
    .await
    .unwrap();
    conn.stream
        .write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    conn.stream.flush().await.unwrap();
    assert!(time_until_closed(&mut conn.stream).await < Duration::from_secs(5));

    // The server still answers others.
    let review = fixture("examples/reviews/tke-ingress-demo.json");
    common::assert_allowed(&server.review("/validate", &review).await, &review);
}

fn leaf_der(certs: &DevCerts) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(certs.cert_pem.as_bytes())
        .unwrap()
        .to_vec()
}

async fn wait_for_leaf(server: &TestServer, certs: &DevCerts) -> RawConn {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(conn) = raw_connect(
            server.addr,
            &certs.ca_cert_pem,
            SERVICE_HOST,
            rustls::ALL_VERSIONS,
        )
        .await
            && conn.peer_leaf() == leaf_der(certs)
        {
            return conn;
        }
        assert!(Instant::now() < deadline, "new certificate never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(server: &TestServer, line_start: &str) -> Option<String> {
    let (_, text) = server.admin_get("/metrics").await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .map(str::to_owned)
}

#[tokio::test]
async fn certificate_reload_follows_the_kubelet_symlink_swap_and_refuses_broken_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    let first = test_certs();
    let mut dir = KubeletDir::new(tmp.path(), &first);
    let server = TestServer::start_with(Options {
        tls_files: Some((dir.cert(), dir.key(), first.clone())),
        tweak: |c| c.tls_reload_interval = Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    let mut old_conn = wait_for_leaf(&server, &first).await;

    // Rotation: a new CA and pair, published the kubelet's way.
    let second = test_certs();
    dir.publish(second.cert_pem.as_bytes(), second.key_pem.as_bytes());
    let mut new_conn = wait_for_leaf(&server, &second).await;
    assert_eq!(new_conn.peer_leaf(), leaf_der(&second));
    // A client still trusting only the old CA can no longer connect...
    assert!(
        raw_connect(
            server.addr,
            &first.ca_cert_pem,
            SERVICE_HOST,
            rustls::ALL_VERSIONS
        )
        .await
        .is_err()
    );
    // ...but the connection it made before the swap keeps working.
    let (status, _) = old_conn.post("/validate", &review_bytes()).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (status, _) = new_conn.post("/validate", &review_bytes()).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        metric(&server, "qcloud_ingress_webhook_tls_reloads_total")
            .await
            .as_deref(),
        Some("qcloud_ingress_webhook_tls_reloads_total 1")
    );

    // A broken pair (certificate of a third set, key of the second) is refused; the second
    // pair stays in service and the refusal is counted.
    let third = test_certs();
    dir.publish(third.cert_pem.as_bytes(), second.key_pem.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server, "qcloud_ingress_webhook_tls_reload_errors_total")
        .await
        .as_deref()
        != Some("qcloud_ingress_webhook_tls_reload_errors_total 1")
    {
        assert!(Instant::now() < deadline, "broken pair was not refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let conn = raw_connect(
        server.addr,
        &second.ca_cert_pem,
        SERVICE_HOST,
        rustls::ALL_VERSIONS,
    )
    .await
    .unwrap();
    assert_eq!(conn.peer_leaf(), leaf_der(&second));

    // Garbage is refused too, and a later good pair is picked up again.
    dir.publish(b"not a certificate", b"not a key");
    let fourth = test_certs();
    tokio::time::sleep(Duration::from_millis(300)).await;
    dir.publish(fourth.cert_pem.as_bytes(), fourth.key_pem.as_bytes());
    wait_for_leaf(&server, &fourth).await;
}

#[tokio::test]
async fn start_up_fails_without_a_usable_certificate() {
    common::install_provider();
    let tmp = tempfile::tempdir().unwrap();
    let a = test_certs();
    let b = test_certs();
    let cert = tmp.path().join("tls.crt");
    let key = tmp.path().join("tls.key");
    std::fs::write(&cert, &a.cert_pem).unwrap();
    std::fs::write(&key, &b.key_pem).unwrap();
    let config = |cert: &Path, key: &Path| {
        qcloud_ingress_webhook::http::ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            cert.to_owned(),
            key.to_owned(),
        )
    };
    let state = || {
        qcloud_ingress_webhook::http::AppState::new(
            std::sync::Arc::new(
                qcloud_ingress_webhook::rules::Engine::new(
                    qcloud_ingress_webhook::rules::Settings::default(),
                )
                .unwrap(),
            ),
            common::seed_cluster(),
            qcloud_ingress_webhook::http::Limits::default(),
        )
    };
    let mismatched = qcloud_ingress_webhook::http::Server::bind(config(&cert, &key), state()).await;
    let err = mismatched
        .err()
        .expect("mismatched pair refused")
        .to_string();
    assert!(err.contains("do not form a usable pair"), "{err}");
    let missing = qcloud_ingress_webhook::http::Server::bind(
        config(&tmp.path().join("nope.crt"), &key),
        state(),
    )
    .await;
    let err = missing.err().expect("missing file refused").to_string();
    assert!(err.contains("nope.crt"), "{err}");
}

#[tokio::test]
async fn a_new_connection_beyond_the_cap_takes_the_slot_of_an_idle_one() {
    let server = TestServer::start_with(Options {
        tweak: |c| c.max_connections = 1,
        ..Options::default()
    })
    .await;
    let ca = &server.certs.ca_cert_pem;
    let mut first = raw_connect(server.addr, ca, SERVICE_HOST, rustls::ALL_VERSIONS)
        .await
        .unwrap();
    let (status, _) = first.post("/validate", &review_bytes()).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    // The first connection is idle now: a second one is served at once, in its place.
    let mut second = tokio::time::timeout(
        Duration::from_secs(5),
        raw_connect(server.addr, ca, SERVICE_HOST, rustls::ALL_VERSIONS),
    )
    .await
    .expect("served while the only slot was held by an idle connection")
    .unwrap();
    let (status, _) = second.post("/validate", &review_bytes()).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(time_until_closed(&mut first.stream).await < Duration::from_secs(5));
    assert_eq!(
        metric(&server, "qcloud_ingress_webhook_connections_evicted_total")
            .await
            .as_deref(),
        Some(
            r#"qcloud_ingress_webhook_connections_evicted_total{cause="connection_limit",stage="keep_alive"} 1"#
        )
    );
}

#[tokio::test]
async fn idle_keep_alive_outlives_the_header_timeout_but_not_the_idle_timeout() {
    let server = TestServer::start_with(Options {
        tweak: |c| {
            c.header_read_timeout = Duration::from_millis(300);
            c.idle_timeout = Duration::from_millis(1500);
        },
        ..Options::default()
    })
    .await;
    let mut conn = raw_connect(
        server.addr,
        &server.certs.ca_cert_pem,
        SERVICE_HOST,
        rustls::ALL_VERSIONS,
    )
    .await
    .unwrap();
    let (status, _) = conn.post("/validate", &review_bytes()).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    // Idle for longer than the header timeout: the connection is still there for the next
    // review, as the API server expects of a kept-alive connection.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, _) = conn.post("/validate", &review_bytes()).await.unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    // Then idle past the idle timeout: closed by the server.
    let closed_after = time_until_closed(&mut conn.stream).await;
    assert!(
        closed_after >= Duration::from_millis(1200) && closed_after < Duration::from_secs(5),
        "{closed_after:?}"
    );
}

/// A client CA and a client certificate it signed, as the API server presents one when its
/// admission configuration gives it a kubeconfig for the webhook: (CA PEM, cert PEM + key PEM).
fn api_server_client_identity() -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "kube-apiserver client CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert_pem = client.signed_by(&key, &issuer).unwrap().pem();
    (ca_pem, format!("{cert_pem}{}", key.serialize_pem()))
}

/// With --client-ca the webhook port answers only a client whose certificate that CA signed: a
/// pod without it cannot even finish the handshake.
#[tokio::test]
async fn with_a_client_ca_only_the_api_servers_certificate_gets_in() {
    use qcloud_ingress_webhook::http::{AppState, Limits, Server, ServerConfig};
    use qcloud_ingress_webhook::rules::{Engine, Settings};
    use std::sync::Arc;
    common::install_provider();
    let dir = tempfile::tempdir().unwrap();
    let certs = test_certs();
    let (ca_pem, identity_pem) = api_server_client_identity();
    for (name, text) in [
        ("tls.crt", &certs.cert_pem),
        ("tls.key", &certs.key_pem),
        ("client-ca.crt", &ca_pem),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let mut config = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
    );
    config.client_ca = Some(dir.path().join("client-ca.crt"));
    let engine = Arc::new(Engine::new(Settings::default()).unwrap());
    let state = AppState::new(engine, common::seed_cluster(), Limits::default());
    let server = Server::bind(config, state).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let url = format!("https://{SERVICE_HOST}:{}/validate", addr.port());

    let anonymous = common::client_for(&certs, addr);
    let refused = anonymous.post(&url).body(review_bytes()).send().await;
    assert!(refused.is_err(), "{refused:?}");

    let api_server = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(certs.ca_cert_pem.as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(identity_pem.as_bytes()).unwrap())
        .resolve(SERVICE_HOST, addr)
        .http1_only()
        .build()
        .unwrap();
    let answered = api_server
        .post(&url)
        .body(review_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
}
