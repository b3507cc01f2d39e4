//! What `serve --self-managed-certs` asks of the API server, answered as kube-apiserver does —
//! still a test double:
//!
//! - `POST /api/v1/namespaces/{namespace}/secrets`: 201 with the stored Secret, or 409 with an
//!   `AlreadyExists` Status when the name is taken (k8s.io/apiserver `registry/generic/registry`
//!   `Store.Create` → `storage.NewKeyExistsError` → `errors.NewAlreadyExists`), the conflict two
//!   replicas creating the CA at once run into. Creates can be counted and refused ones are kept
//!   apart ([`StandIn::secret_creates`], [`StandIn::secret_create_conflicts`]).
//! - `PUT /api/v1/namespaces/{namespace}/secrets/{name}` (the CA rotation): the body's
//!   `metadata.resourceVersion` must be the stored one, else 409 `Conflict`, as
//!   `registry/generic/registry` `Store.Update` checks it; none is 422; a missing Secret is 404.
//! - list, watch and `GET` of `validatingwebhookconfigurations` and
//!   `mutatingwebhookconfigurations` (cluster-scoped; stored under namespace `default` by
//!   [`super::key_of`], which nothing outside sees), with `fieldSelector=metadata.name=NAME`.
//! - `PATCH` with `application/apply-patch+yaml` (server-side apply). A SIMPLIFICATION of
//!   structured-merge-diff: the applied configuration is merged into the stored object, maps key
//!   by key and `webhooks` item by item on its list-map key `name` (admissionregistration/v1
//!   `+listType=map +listMapKey=name`); `metadata.managedFields` gets one entry per field
//!   manager and operation (no `fieldsV1`), and no conflict is ever reported, so `force` changes
//!   nothing — the webhook always sends it. An apply to a configuration that does not exist is
//!   refused with 422, as the real one refuses a partial object (`sideEffects`: Required value).
//!
//! Other managers overwrite a configuration with [`StandIn::replace_as`] (a PUT of the whole
//! object, as Argo CD's `Replace=true` or `kubectl replace` do).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Inner, MUTATING, Params, SECRETS, StandIn, VALIDATING, key_of, status};

impl StandIn {
    /// Every Secret create waits this long before it is stored or refused (a slow etcd write):
    /// replicas that start together all read "not found" before any create lands.
    pub fn set_secret_create_delay(&self, delay: std::time::Duration) {
        self.inner.store.lock().unwrap().secret_create_delay = delay;
    }

    /// Secret creates answered (201 or 409).
    pub fn secret_creates(&self) -> u64 {
        self.inner.store.lock().unwrap().secret_creates
    }

    /// Secret creates refused with 409 `AlreadyExists`.
    pub fn secret_create_conflicts(&self) -> u64 {
        self.inner.store.lock().unwrap().secret_create_conflicts
    }

    /// Replaces a whole webhook configuration as field manager `manager` (operation Update), as
    /// `kubectl replace` or Argo CD's `Replace=true` do; watchers get MODIFIED.
    pub fn replace_as(&self, mut object: Value, manager: &str) {
        object["metadata"]["managedFields"] = json!([{
            "manager": manager,
            "operation": "Update",
            "apiVersion": object["apiVersion"],
        }]);
        self.apply(object);
    }

    /// Server-side applies answered, by field manager.
    pub fn applies_by(&self, manager: &str) -> u64 {
        let store = self.inner.store.lock().unwrap();
        store
            .applies
            .iter()
            .filter(|m| m.as_str() == manager)
            .count() as u64
    }
}

/// `POST .../secrets`: store it, or 409 `AlreadyExists`.
pub(super) async fn create_secret(
    State(inner): State<Arc<Inner>>,
    UrlPath(namespace): UrlPath<String>,
    body: Bytes,
) -> Response {
    let Ok(mut secret) = serde_json::from_slice::<Value>(&body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "not a JSON object");
    };
    let Some(name) = secret["metadata"]["name"].as_str().map(str::to_owned) else {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name: Required value: name or generateName is required",
        );
    };
    secret["metadata"]["namespace"] = json!(namespace);
    let delay = inner.store.lock().unwrap().secret_create_delay;
    tokio::time::sleep(delay).await;
    let mut store = inner.store.lock().unwrap();
    store.secret_creates += 1;
    if store
        .collection(SECRETS)
        .objects
        .contains_key(&(namespace.clone(), name.clone()))
    {
        store.secret_create_conflicts += 1;
        let mut body = super::api_status_body(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("secrets \"{name}\" already exists"),
        );
        body["details"] = json!({"name": name, "kind": "secrets"});
        return (StatusCode::CONFLICT, axum::Json(body)).into_response();
    }
    let stored = super::put(&inner, &mut store, SECRETS, secret);
    (StatusCode::CREATED, axum::Json(stored)).into_response()
}

/// `PUT .../secrets/{name}`: an update with the resourceVersion precondition.
pub(super) async fn update_secret(
    State(inner): State<Arc<Inner>>,
    UrlPath(key): UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    let spelling = super::Spelling {
        kind: "Secret",
        resource: "secrets",
    };
    let (mut store, object) =
        match super::precondition_update(&inner, SECRETS, &spelling, key, &body) {
            Ok(update) => update,
            Err(refused) => return refused,
        };
    store.secret_updates += 1;
    let stored = super::put(&inner, &mut store, SECRETS, object);
    axum::Json(stored).into_response()
}

impl StandIn {
    /// Secret updates stored (the CA rotation's writes).
    pub fn secret_updates(&self) -> u64 {
        self.inner.store.lock().unwrap().secret_updates
    }

    /// Sets an annotation on a stored object (as `kubectl annotate`); watchers get MODIFIED.
    pub fn annotate(&self, kind: &str, namespace: &str, name: &str, key: &str, value: &str) {
        let mut object = self.get(kind, namespace, name).expect("the object exists");
        object["metadata"]["annotations"][key] = json!(value);
        self.apply(object);
    }
}

fn configuration_resource(resource: &str) -> Option<&'static str> {
    match resource {
        VALIDATING => Some(VALIDATING),
        MUTATING => Some(MUTATING),
        _ => None,
    }
}

pub(super) async fn list_or_watch_configurations(
    State(inner): State<Arc<Inner>>,
    UrlPath(resource): UrlPath<String>,
    Query(params): Params,
) -> Response {
    match configuration_resource(&resource) {
        Some(resource) => super::list_or_watch(&inner, resource, &params),
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}

pub(super) async fn get_configuration(
    State(inner): State<Arc<Inner>>,
    UrlPath((resource, name)): UrlPath<(String, String)>,
) -> Response {
    let Some(resource) = configuration_resource(&resource) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let found = inner
        .store
        .lock()
        .unwrap()
        .collection(resource)
        .objects
        .get(&("default".to_owned(), name.clone()))
        .cloned();
    match found {
        Some(object) => axum::Json(object).into_response(),
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{resource}.admissionregistration.k8s.io \"{name}\" not found"),
        ),
    }
}

/// Server-side apply of a webhook configuration (the simplification in the module docs).
pub(super) async fn apply_configuration(
    State(inner): State<Arc<Inner>>,
    UrlPath((resource, name)): UrlPath<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(resource) = configuration_resource(&resource) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/apply-patch+yaml" {
        let message =
            format!("the stand-in serves only server-side apply here, not {content_type}");
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &message,
        );
    }
    let Some(manager) = params
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .cloned()
    else {
        let message = "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch";
        return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message);
    };
    // JSON is YAML; kube-rs sends JSON.
    let Ok(applied) = serde_json::from_slice::<Value>(&body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the stand-in reads only JSON apply bodies",
        );
    };
    let mut store = inner.store.lock().unwrap();
    store.applies.push(manager.clone());
    let key = ("default".to_owned(), name.clone());
    let Some(mut object) = store.collection(resource).objects.get(&key).cloned() else {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            &format!(
                "{resource}.admissionregistration.k8s.io \"{name}\" is invalid: webhooks[0].sideEffects: Required value"
            ),
        );
    };
    merge(&mut object, &applied);
    record_manager(&mut object, &manager);
    debug_assert_eq!(key_of(&object), key);
    let stored = super::put(&inner, &mut store, resource, object);
    axum::Json(stored).into_response()
}

/// Merges `applied` into `object`: maps key by key, `webhooks` by `name`, the rest replaced.
fn merge(object: &mut Value, applied: &Value) {
    match (object, applied) {
        (Value::Object(target), Value::Object(source)) => {
            for (key, value) in source {
                if key == "webhooks" {
                    merge_by_name(target.entry(key.clone()).or_insert(json!([])), value);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, source) => *target = source.clone(),
    }
}

fn merge_by_name(list: &mut Value, applied: &Value) {
    let (Some(items), Some(applied)) = (list.as_array_mut(), applied.as_array()) else {
        *list = applied.clone();
        return;
    };
    for item in applied {
        match items.iter_mut().find(|i| i["name"] == item["name"]) {
            Some(existing) => merge(existing, item),
            None => items.push(item.clone()),
        }
    }
}

/// One `managedFields` entry per (manager, Apply).
fn record_manager(object: &mut Value, manager: &str) {
    let fields = &mut object["metadata"]["managedFields"];
    if !fields.is_array() {
        *fields = json!([]);
    }
    let entries = fields.as_array_mut().unwrap();
    if !entries
        .iter()
        .any(|e| e["manager"] == manager && e["operation"] == "Apply")
    {
        entries.push(json!({
            "manager": manager,
            "operation": "Apply",
            "apiVersion": "admissionregistration.k8s.io/v1",
            "fieldsType": "FieldsV1",
        }));
    }
}

/// The chart's two webhook configurations as `helm template` renders them in self-managed mode
/// (no caBundle), for the service `service` in `namespace`.
pub fn configurations(name: &str, service: &str, namespace: &str) -> [Value; 2] {
    let hook = |kind: &str, hook: &str, path: &str| {
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name},
            "webhooks": [{
                "name": hook,
                "admissionReviewVersions": ["v1", "v1beta1"],
                "sideEffects": "None",
                "clientConfig": {"service": {"name": service, "namespace": namespace, "path": path, "port": 443}},
                "rules": [{"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"], "resources": ["ingresses"], "operations": ["CREATE", "UPDATE"]}],
            }],
        })
    };
    [
        hook(
            "ValidatingWebhookConfiguration",
            "validate.qcloud-ingress-webhook.tke.cloud",
            "/validate",
        ),
        hook(
            "MutatingWebhookConfiguration",
            "mutate.qcloud-ingress-webhook.tke.cloud",
            "/mutate",
        ),
    ]
}
