//! The load benchmark's second baseline (`scripts/bench.sh`): a bare tokio-rustls + hyper server
//! that reads each request body whole and answers a fixed AdmissionReview. It is what TLS, HTTP/1.1
//! and the async runtime cost on this stack, with nothing of the webhook's own; nginx is the other
//! baseline. Not part of the shipped binary. The stack is in `bench_stack/`, shared with
//! `bench_kube_rs`.
//!
//! ```sh
//! cargo run --release --example bench_bare -- 127.0.0.1:19444 tls.crt tls.key response.json
//! BARE_WORK_US=30 cargo run ...   # spin 30 µs per request: a handler that costs that much
//! ```

mod bench_stack;

use anyhow::{Context as _, Result};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, cert, key, response] = args.as_slice() else {
        anyhow::bail!("usage: bench_bare LISTEN CERT KEY RESPONSE_FILE");
    };
    let answer = Bytes::from(std::fs::read(response).context("reading the response file")?);
    // What the kernel's share of a review does as user space grows, with nothing else changed.
    let work = std::time::Duration::from_micros(
        std::env::var("BARE_WORK_US").map_or(Ok(0), |us| us.parse())?,
    );
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let answer = answer.clone();
        async move {
            // Read the body as the webhook must, then answer without looking at it.
            let body = request.into_body().collect().await?.to_bytes();
            std::hint::black_box(body);
            if !work.is_zero() {
                let start = std::time::Instant::now();
                while start.elapsed() < work {
                    std::hint::spin_loop();
                }
            }
            let mut response = Response::new(Full::new(answer));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            Ok::<_, hyper::Error>(response)
        }
    });
    bench_stack::run(listen, cert, key, service)
}
