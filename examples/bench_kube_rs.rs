//! The load benchmark's third baseline (`scripts/bench.sh`, issue #30): kube-rs's own admission
//! controller example, its handler reproduced here, served on the same tokio-rustls + hyper stack
//! as `bench_bare` (`bench_stack/`). Not part of the shipped binary.
//!
//! Upstream: <https://github.com/kube-rs/kube/blob/ac95b1999a549bb41aa9e467410f6d97c09341c2/examples/admission_controller.rs>
//! (read at commit `ac95b19`, 2026-07-24; the file last changed in `db1c4aa`, 2025-12-27).
//!
//! What is the same as upstream: the axum `Router` with one `POST /mutate` route; the handler
//! (`mutate_handler` and `mutate`, below, line for line): `Json<AdmissionReview<DynamicObject>>`
//! in, `try_into()` an `AdmissionRequest`, `AdmissionResponse::from(&req)`, deny on an `illegal`
//! label, otherwise a JSON patch adding the `admission` label (and `/metadata/labels` first when
//! absent) through `with_patch`, and `Json(res.into_review())` out; `tracing_subscriber::fmt::init()`
//! (with `RUST_LOG` unset it keeps errors only, so the per-request `info!` costs its level check).
//!
//! What differs, plainly: upstream serves the router with `axum_server::bind_rustls` (hyper-util
//! and tokio-rustls underneath) and wraps it in tower-http's `TraceLayer` (spans at INFO, filtered
//! out by the default subscriber); here the router is served through the accept loop of
//! `bench_stack/` (tokio-rustls, hyper's HTTP/1.1 server, one tokio worker on the pinned CPU, the
//! same rustls ring config as the bare server and the webhook) and has no `TraceLayer`. Both
//! changes can only make this baseline faster, never slower, than upstream as shipped. The
//! certificate and listen address come from the command line instead of fixed file names and
//! `ADMISSION_PRIVATE_IP`; `unwrap()`s are gone (clippy here denies them), and two log lines
//! format `err` directly instead of `err.to_string()` (clippy's `to_string_in_format_args`).
//!
//! For the benchmark's bodies (Ingresses with labels, none `illegal`, none `admission`) it answers
//! 200 with an allowed AdmissionReview carrying a one-operation JSON patch; it denies nothing, so
//! only the allowed body is measured against it.
//!
//! ```sh
//! cargo run --release --example bench_kube_rs -- 127.0.0.1:19445 tls.crt tls.key
//! # then POST an AdmissionReview to https://127.0.0.1:19445/mutate
//! ```

mod bench_stack;

use std::error::Error;

use anyhow::Result;
use axum::{Json, Router, routing::post};
use json_patch::jsonptr::PointerBuf;
use kube::core::{
    DynamicObject, Resource, ResourceExt,
    admission::{AdmissionRequest, AdmissionResponse, AdmissionReview},
};
use tracing::{error, info, warn};

fn main() -> Result<()> {
    tracing_subscriber::fmt::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, cert, key] = args.as_slice() else {
        anyhow::bail!("usage: bench_kube_rs LISTEN CERT KEY");
    };
    let app = Router::new().route("/mutate", post(mutate_handler));
    let service = hyper_util::service::TowerToHyperService::new(app);
    bench_stack::run(listen, cert, key, service)
}

// Upstream's handler from here on, unchanged but for the two log lines noted above and two
// `#[expect]`s for pedantic lints its code trips.

// A general /mutate handler, handling errors from the underlying business logic
#[expect(clippy::unnecessary_semicolon, reason = "upstream's code as written")]
async fn mutate_handler(
    Json(body): Json<AdmissionReview<DynamicObject>>,
) -> Json<AdmissionReview<DynamicObject>> {
    // Parse incoming webhook AdmissionRequest first
    let req: AdmissionRequest<_> = match body.try_into() {
        Ok(req) => req,
        Err(err) => {
            error!("invalid request: {err}");
            return Json(AdmissionResponse::invalid(err.to_string()).into_review());
        }
    };

    // Then construct a AdmissionResponse
    let mut res = AdmissionResponse::from(&req);
    // req.Object always exists for us, but could be None if extending to DELETE events
    if let Some(obj) = req.object {
        let name = obj.name_any(); // apiserver may not have generated a name yet
        let kind = obj.types.clone().unwrap_or_default().kind;
        res = match mutate(res.clone(), &obj) {
            Ok(res) => {
                info!("accepted: {:?} on {kind}/{name}", req.operation);
                res
            }
            Err(err) => {
                warn!("denied: {:?} on {kind}/{name} ({err})", req.operation);
                res.deny(err.to_string())
            }
        };
    };
    // Wrap the AdmissionResponse wrapped in an AdmissionReview
    Json(res.into_review())
}

// The main handler and core business logic, failures here implies rejected applies
#[expect(clippy::if_not_else, reason = "upstream's code as written")]
fn mutate(
    res: AdmissionResponse,
    obj: &DynamicObject,
) -> Result<AdmissionResponse, Box<dyn Error>> {
    // If the resource contains an "illegal" label, we reject it
    if obj.labels().contains_key("illegal") {
        return Err("Resource contained 'illegal' label".into());
    }

    // If the resource doesn't contain "admission", we add it to the resource.
    if !obj.labels().contains_key("admission") {
        let mut patches = Vec::new();

        // Ensure labels exist before adding a key to it
        if obj.meta().labels.is_none() {
            patches.push(json_patch::PatchOperation::Add(json_patch::AddOperation {
                path: PointerBuf::from_tokens(["metadata", "labels"]),
                value: serde_json::json!({}),
            }));
        }
        // Add our label
        patches.push(json_patch::PatchOperation::Add(json_patch::AddOperation {
            path: PointerBuf::from_tokens(["metadata", "labels", "admission"]),
            value: serde_json::Value::String("modified-by-admission-controller".into()),
        }));
        Ok(res.with_patch(json_patch::Patch(patches))?)
    } else {
        Ok(res)
    }
}
