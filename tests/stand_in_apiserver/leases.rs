//! `coordination.k8s.io/v1` Leases, for the audit's election (`serve --audit-lease`) — a test
//! double answering as kube-apiserver does:
//!
//! - `GET .../namespaces/{namespace}/leases/{name}`: the Lease or a 404 `NotFound` Status;
//! - `POST .../namespaces/{namespace}/leases`: 201, or 409 `AlreadyExists` when the name is taken;
//! - `PUT .../namespaces/{namespace}/leases/{name}`: optimistic concurrency as
//!   k8s.io/apiserver `registry/generic/registry` `Store.Update` does it: the body's
//!   `metadata.resourceVersion` must be the stored one, else 409 `Conflict` ("the object has been
//!   modified"); an update without one is 422 `Invalid`; a Lease that does not exist is 404 (Leases
//!   do not allow create on update).
//!
//! Every successful write is counted per holder ([`StandIn::lease_writes_by`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Inner, LEASES, StandIn, api_status_body, put, status};

impl StandIn {
    /// The stored Lease, if any.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get("Lease", namespace, name)
    }

    /// Successful Lease writes (create or update) whose `holderIdentity` was `holder`.
    pub fn lease_writes_by(&self, holder: &str) -> u64 {
        let store = self.inner.store.lock().unwrap();
        store
            .lease_writes
            .iter()
            .filter(|h| h.as_str() == holder)
            .count() as u64
    }
}

fn conflict(reason: &str, message: &str) -> Response {
    let body = api_status_body(StatusCode::CONFLICT, reason, message);
    (StatusCode::CONFLICT, axum::Json(body)).into_response()
}

fn holder(lease: &Value) -> String {
    lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub(super) async fn get_lease(
    State(inner): State<Arc<Inner>>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
) -> Response {
    let found = inner
        .store
        .lock()
        .unwrap()
        .collection(LEASES)
        .objects
        .get(&(namespace, name.clone()))
        .cloned();
    match found {
        Some(lease) => axum::Json(lease).into_response(),
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("leases.coordination.k8s.io \"{name}\" not found"),
        ),
    }
}

pub(super) async fn create_lease(
    State(inner): State<Arc<Inner>>,
    UrlPath(namespace): UrlPath<String>,
    body: Bytes,
) -> Response {
    let Ok(mut lease) = serde_json::from_slice::<Value>(&body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "not a JSON object");
    };
    let Some(name) = lease["metadata"]["name"].as_str().map(str::to_owned) else {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name: Required value",
        );
    };
    lease["metadata"]["namespace"] = json!(namespace);
    let mut store = inner.store.lock().unwrap();
    if store
        .collection(LEASES)
        .objects
        .contains_key(&(namespace, name.clone()))
    {
        return conflict(
            "AlreadyExists",
            &format!("leases.coordination.k8s.io \"{name}\" already exists"),
        );
    }
    store.lease_writes.push(holder(&lease));
    let stored = put(&inner, &mut store, LEASES, lease);
    (StatusCode::CREATED, axum::Json(stored)).into_response()
}

pub(super) async fn update_lease(
    State(inner): State<Arc<Inner>>,
    UrlPath(key): UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    let spelling = super::Spelling {
        kind: "Lease.coordination.k8s.io",
        resource: "leases.coordination.k8s.io",
    };
    let (mut store, object) =
        match super::precondition_update(&inner, LEASES, &spelling, key, &body) {
            Ok(update) => update,
            Err(refused) => return refused,
        };
    store.lease_writes.push(holder(&object));
    let stored = super::put(&inner, &mut store, LEASES, object);
    axum::Json(stored).into_response()
}
