//! The load benchmark's second baseline (`scripts/bench.sh`): a bare tokio-rustls + hyper server
//! that reads each request body whole and answers a fixed AdmissionReview. It is what TLS, HTTP/1.1
//! and the async runtime cost on this stack, with nothing of the webhook's own; nginx is the other
//! baseline. Not part of the shipped binary.
//!
//! ```sh
//! cargo run --release --example bench_bare -- 127.0.0.1:19444 tls.crt tls.key response.json
//! ```

use std::sync::Arc;

use anyhow::{Context as _, Result};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, cert, key, response] = args.as_slice() else {
        anyhow::bail!("usage: bench_bare LISTEN CERT KEY RESPONSE_FILE");
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .context("reading the certificate")?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key).context("reading the key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let answer = Bytes::from(std::fs::read(response).context("reading the response file")?);
    // The webhook's runtime: one worker per CPU it may use (one, pinned by the script).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(TcpListener::bind(listen), acceptor, answer))
}

async fn serve(
    listener: impl Future<Output = std::io::Result<TcpListener>>,
    acceptor: TlsAcceptor,
    answer: Bytes,
) -> Result<()> {
    let listener = listener.await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let (acceptor, answer) = (acceptor.clone(), answer.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let answer = answer.clone();
                async move {
                    // Read the body as the webhook must, then answer without looking at it.
                    let body = request.into_body().collect().await?.to_bytes();
                    std::hint::black_box(body);
                    let mut response = Response::new(Full::new(answer));
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, hyper::Error>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
