//! What `kubectl apply`, `kubectl apply --server-side`, `kubectl create` and `kubectl get` send
//! to the stand-in, and the answers a Kubernetes API server gives — still a test double:
//!
//! - discovery (`/api`, `/apis`, `/api/v1`, `/apis/networking.k8s.io/v1`), served in the legacy
//!   (non-aggregated) form, which kubectl falls back to when `/api` answers plain JSON, and `GET`
//!   of a Namespace (every namespace exists, labelled `kubernetes.io/metadata.name`);
//! - `/openapi/v3` and the `networking.k8s.io/v1` document, holding only what kubectl reads
//!   there: the Ingress PATCH operation and its `fieldValidation` parameter
//!   (kubectl `pkg/cmd/util` `Validator` → `QueryParamVerifierV3`). So kubectl leaves schema
//!   validation to the server (`?fieldValidation=Strict`), as against API servers since 1.27, and
//!   computes client-side apply's strategic merge patch from its built-in Ingress type, because the
//!   document declares no patch media types. The stand-in does not check fields: it is not where
//!   an unknown field would be caught;
//! - Ingress `GET`, `POST` (create), `PUT` (update) and `PATCH` under
//!   `/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses[/{name}]`, each write through
//!   the admission chain of [`super::admission`] and stored unless `dryRun=All`. PATCH takes
//!   `application/merge-patch+json`, `application/strategic-merge-patch+json` (applied as a JSON
//!   merge patch, which is the same thing for an Ingress: none of its lists has a merge key, so
//!   strategic merge replaces them whole too; a patch with `$` directives is refused) and
//!   `application/apply-patch+yaml` (server-side apply, approximated by a merge of the applied
//!   configuration into the stored object: no managedFields, no field ownership, no conflicts).
//!
//! Every request that reaches this module is logged ([`StandIn::requests`]); one it does not
//! serve gets 404 and is kept in [`StandIn::unserved`], so a test sees what kubectl asked for
//! that the double lacks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::admission::{self, Attributes, Call, Warnings, Webhooks};
use super::{INGRESSES, Inner, Signal, StandIn, event_line, key_of};

/// The write API's own state: the registered webhooks and what was asked.
#[derive(Default)]
pub(super) struct ApiState {
    webhooks: Mutex<Webhooks>,
    calls: Mutex<Vec<Call>>,
    requests: Mutex<Vec<String>>,
    unserved: Mutex<Vec<String>>,
}

impl StandIn {
    /// Registers webhooks, as `kubectl apply` of the chart's WebhookConfigurations would; an
    /// empty [`Webhooks`] unregisters them.
    pub fn register_webhooks(&self, webhooks: Webhooks) {
        *self.inner.api.webhooks.lock().unwrap() = webhooks;
    }

    /// Every webhook call made so far (review sent, answer or error).
    pub fn webhook_calls(&self) -> Vec<Call> {
        self.inner.api.calls.lock().unwrap().clone()
    }

    /// `METHOD path?query` of every request the write API saw.
    pub fn requests(&self) -> Vec<String> {
        self.inner.api.requests.lock().unwrap().clone()
    }

    /// Requests the stand-in does not implement (answered 404).
    pub fn unserved(&self) -> Vec<String> {
        self.inner.api.unserved.lock().unwrap().clone()
    }

    /// The stored object, if any.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let mut store = self.inner.store.lock().unwrap();
        let collection = store.collection(super::resource_of(kind));
        collection
            .objects
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }
}

/// The router's fallback (and 405 fallback): discovery, OpenAPI and the Ingress API.
pub(super) async fn serve(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let line = format!("{method} {uri}");
    inner.api.requests.lock().unwrap().push(line.clone());
    let query: HashMap<String, String> =
        uri.query().map(serde_urlencoded_pairs).unwrap_or_default();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let request = Request {
        inner: &inner,
        query: &query,
        body: &body,
    };
    if method == Method::GET
        && let Some(document) = discovery(uri.path())
    {
        return json_response(StatusCode::OK, &document, &[]);
    }
    if let Some(namespace) = uri.path().strip_prefix("/api/v1/namespaces/")
        && method == Method::GET
        && !namespace.contains('/')
    {
        // kubectl apply -n NS looks the namespace up before creating in it; every one exists.
        return json_response(StatusCode::OK, &namespace_object(namespace), &[]);
    }
    let Some((namespace, name)) = ingress_path(uri.path()) else {
        return unserved(&inner, line);
    };
    match (&method, name) {
        (&Method::POST, None) => request.create(namespace).await,
        (&Method::GET, Some(name)) => request.get(namespace, name),
        (&Method::PUT, Some(name)) => request.update(namespace, name).await,
        (&Method::PATCH, Some(name)) => request.patch(namespace, name, content_type).await,
        _ => unserved(&inner, line),
    }
}

/// `/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses[/{name}]`.
fn ingress_path(path: &str) -> Option<(&str, Option<&str>)> {
    let rest = path.strip_prefix("/apis/networking.k8s.io/v1/namespaces/")?;
    let (namespace, rest) = rest.split_once('/')?;
    match rest.strip_prefix("ingresses")? {
        "" => Some((namespace, None)),
        name => name
            .strip_prefix('/')
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(|n| (namespace, Some(n))),
    }
}

fn namespace_object(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "status": {"phase": "Active"},
    })
}

fn unserved(inner: &Inner, line: String) -> Response {
    eprintln!("stand-in API server: not served: {line}");
    inner.api.unserved.lock().unwrap().push(line);
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// `a=b&c=d` into a map (values percent-decoded; kubectl's are plain words).
fn serde_urlencoded_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":").replace("%2F", "/")))
        .collect()
}

/// Discovery and OpenAPI documents by path.
fn discovery(path: &str) -> Option<Value> {
    let ingress_gvk = json!({"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"});
    let document = match path {
        "/api" => {
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        }
        "/apis" => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [{
                "name": "networking.k8s.io",
                "versions": [{"groupVersion": "networking.k8s.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "networking.k8s.io/v1", "version": "v1"},
            }],
        }),
        "/api/v1" => resource_list(
            "v1",
            &[
                ("namespaces", "namespace", "Namespace", &["get"][..]),
                (
                    "services",
                    "service",
                    "Service",
                    &["get", "list", "watch"][..],
                ),
                ("secrets", "secret", "Secret", &["get"][..]),
            ],
        ),
        "/apis/networking.k8s.io/v1" => resource_list(
            "networking.k8s.io/v1",
            &[(
                "ingresses",
                "ingress",
                "Ingress",
                &["create", "get", "list", "patch", "update", "watch"][..],
            )],
        ),
        "/openapi/v3" => json!({"paths": {"apis/networking.k8s.io/v1": {
            "serverRelativeURL": "/openapi/v3/apis/networking.k8s.io/v1?hash=STANDIN"
        }}}),
        "/openapi/v3/apis/networking.k8s.io/v1" => json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes (stand-in)", "version": "v1.34.0"},
            "paths": {"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}": {
                "patch": {
                    "x-kubernetes-group-version-kind": ingress_gvk,
                    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                },
            }},
            "components": {"schemas": {}},
        }),
        _ => return None,
    };
    Some(document)
}

fn resource_list(group_version: &str, resources: &[(&str, &str, &str, &[&str])]) -> Value {
    let resources: Vec<Value> = resources
        .iter()
        .map(|(name, singular, kind, verbs)| {
            let namespaced = *kind != "Namespace";
            json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": verbs})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// A JSON answer with `Warning` headers.
fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    let mut response = (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    for warning in warnings {
        response
            .headers_mut()
            .append("warning", warning.parse().expect("a header value"));
    }
    response
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    json_response(code, &status_body(code, reason, message), &[])
}

fn status_body(code: StatusCode, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    })
}

fn not_found(name: &str) -> Response {
    let mut body = status_body(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("ingresses.networking.k8s.io \"{name}\" not found"),
    );
    body["details"] = json!({"name": name, "group": "networking.k8s.io", "kind": "ingresses"});
    json_response(StatusCode::NOT_FOUND, &body, &[])
}

/// One request to the Ingress API.
struct Request<'a> {
    inner: &'a Arc<Inner>,
    query: &'a HashMap<String, String>,
    body: &'a Bytes,
}

/// A write ready for admission: what the API server knows once it has decoded the request and
/// read the stored object.
struct Write {
    operation: &'static str,
    namespace: String,
    name: String,
    object: Value,
    old_object: Option<Value>,
    options_kind: &'static str,
    created: StatusCode,
}

impl Request<'_> {
    fn stored(&self, namespace: &str, name: &str) -> Option<Value> {
        let mut store = self.inner.store.lock().unwrap();
        let key = (namespace.to_owned(), name.to_owned());
        store.collection(INGRESSES).objects.get(&key).cloned()
    }

    fn get(&self, namespace: &str, name: &str) -> Response {
        match self.stored(namespace, name) {
            Some(object) => json_response(StatusCode::OK, &object, &[]),
            None => not_found(name),
        }
    }

    /// The body as JSON (YAML accepted for server-side apply).
    fn decode(&self) -> Result<Value, Box<Response>> {
        serde_json::from_slice(self.body)
            .or_else(|_| serde_saphyr::from_str(&String::from_utf8_lossy(self.body)))
            .map_err(|e| {
                let message = format!("body: {e}");
                Box::new(status(StatusCode::BAD_REQUEST, "BadRequest", &message))
            })
    }

    /// The body as a networking.k8s.io/v1 Ingress in `namespace`.
    fn decode_ingress(&self, namespace: &str) -> Result<Value, Box<Response>> {
        let mut object = self.decode()?;
        if object["apiVersion"] != "networking.k8s.io/v1" || object["kind"] != "Ingress" {
            let message =
                format!("the stand-in takes networking.k8s.io/v1 Ingresses here, not {object}");
            return Err(Box::new(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &message,
            )));
        }
        match object["metadata"]["namespace"].as_str() {
            Some(ns) if ns != namespace => Err(Box::new(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            ))),
            _ => {
                object["metadata"]["namespace"] = json!(namespace);
                Ok(object)
            }
        }
    }

    async fn create(&self, namespace: &str) -> Response {
        let object = match self.decode_ingress(namespace) {
            Ok(object) => object,
            Err(response) => return *response,
        };
        let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
            let message = "metadata.name: Required value: name is required (the stand-in has no generateName)";
            return status(StatusCode::BAD_REQUEST, "BadRequest", message);
        };
        self.write(Write {
            operation: "CREATE",
            namespace: namespace.to_owned(),
            name,
            object,
            old_object: None,
            options_kind: "CreateOptions",
            created: StatusCode::CREATED,
        })
        .await
    }

    async fn update(&self, namespace: &str, name: &str) -> Response {
        let object = match self.decode_ingress(namespace) {
            Ok(object) => object,
            Err(response) => return *response,
        };
        if object["metadata"]["name"] != name {
            let message =
                format!("the name of the object does not match the name on the URL ({name})");
            return status(StatusCode::BAD_REQUEST, "BadRequest", &message);
        }
        self.update_to(namespace, name, object).await
    }

    /// An UPDATE of the stored object to `object`, with the resourceVersion precondition.
    async fn update_to(&self, namespace: &str, name: &str, object: Value) -> Response {
        let Some(old) = self.stored(namespace, name) else {
            return not_found(name);
        };
        let wanted = object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if !wanted.is_empty()
            && object["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]
        {
            let message = format!(
                "Operation cannot be fulfilled on ingresses.networking.k8s.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            );
            return status(StatusCode::CONFLICT, "Conflict", &message);
        }
        self.write(Write {
            operation: "UPDATE",
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            object,
            old_object: Some(old),
            options_kind: "UpdateOptions",
            created: StatusCode::OK,
        })
        .await
    }

    async fn patch(&self, namespace: &str, name: &str, content_type: &str) -> Response {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        let patch = match self.decode() {
            Ok(patch) => patch,
            Err(response) => return *response,
        };
        match media_type {
            "application/apply-patch+yaml" => self.server_side_apply(namespace, name, patch).await,
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                if has_directive(&patch) {
                    let message = "the stand-in applies strategic merge patches as JSON merge patches and has no $ directives";
                    return status(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "UnsupportedMediaType",
                        message,
                    );
                }
                let Some(mut object) = self.stored(namespace, name) else {
                    return not_found(name);
                };
                json_patch::merge(&mut object, &patch);
                self.update_to(namespace, name, object).await
            }
            other => {
                let line = format!("PATCH {namespace}/{name} as {other}");
                self.inner.api.unserved.lock().unwrap().push(line);
                let message = "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";
                status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    message,
                )
            }
        }
    }

    /// Server-side apply: CREATE when the object is new, else an UPDATE to the stored object with
    /// the applied configuration merged in (the approximation of field ownership).
    async fn server_side_apply(&self, namespace: &str, name: &str, applied: Value) -> Response {
        if self.query.get("fieldManager").is_none_or(String::is_empty) {
            let message = "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch";
            return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message);
        }
        let mut applied = applied;
        applied["metadata"]["namespace"] = json!(namespace);
        match self.stored(namespace, name) {
            None => {
                self.write(Write {
                    operation: "CREATE",
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    object: applied,
                    old_object: None,
                    options_kind: "CreateOptions",
                    created: StatusCode::CREATED,
                })
                .await
            }
            Some(mut object) => {
                json_patch::merge(&mut object, &applied);
                self.update_to(namespace, name, object).await
            }
        }
    }
}

/// A strategic merge patch directive (`$patch`, `$retainKeys`, `$setElementOrder/...`, ...).
fn has_directive(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.starts_with('$') || has_directive(v)),
        Value::Array(items) => items.iter().any(has_directive),
        _ => false,
    }
}

impl Request<'_> {
    /// Admission, then the store (unless `dryRun=All`); warnings go out on every answer.
    async fn write(&self, write: Write) -> Response {
        let dry_run = match self.query.get("dryRun").map(String::as_str) {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                let message = format!("Invalid dryRun value: {other}; only All is supported");
                return status(StatusCode::BAD_REQUEST, "BadRequest", &message);
            }
        };
        let mut options = json!({"kind": write.options_kind, "apiVersion": "meta.k8s.io/v1"});
        for key in ["fieldManager", "fieldValidation"] {
            if let Some(value) = self.query.get(key) {
                options[key] = json!(value);
            }
        }
        if dry_run {
            options["dryRun"] = json!(["All"]);
        }
        let attributes = Attributes {
            operation: write.operation,
            namespace: write.namespace,
            name: write.name,
            object: write.object,
            old_object: write.old_object,
            dry_run,
            options,
        };
        let warnings = Mutex::new(Warnings::default());
        let result = self.admit(attributes, &warnings).await;
        let headers = warnings.into_inner().unwrap().headers();
        match result {
            Ok(object) if dry_run => json_response(write.created, &object, &headers),
            Ok(object) => match self.store(object, write.operation) {
                Ok(stored) => json_response(write.created, &stored, &headers),
                Err(status) => json_response(status_code(&status), &status, &headers),
            },
            Err(status) => json_response(status_code(&status), &status, &headers),
        }
    }

    /// Mutating webhooks, the fields the registry sets before validation (`rest.BeforeCreate`,
    /// `BeforeUpdate`), then validating webhooks.
    async fn admit(
        &self,
        mut attributes: Attributes,
        warnings: &Mutex<Warnings>,
    ) -> Result<Value, Value> {
        let webhooks = self.inner.api.webhooks.lock().unwrap().clone();
        let calls = &self.inner.api.calls;
        let mutated = admission::mutate(&webhooks, &attributes, warnings, calls).await?;
        attributes.object = registry_fields(mutated, attributes.old_object.as_ref());
        admission::validate(&webhooks, &attributes, warnings, calls).await?;
        Ok(attributes.object)
    }

    /// Stores an admitted object: a new resourceVersion and a watch event, unless nothing changed.
    fn store(&self, mut object: Value, operation: &str) -> Result<Value, Value> {
        let key = key_of(&object);
        let mut store = self.inner.store.lock().unwrap();
        let existing = store.collection(INGRESSES).objects.get(&key).cloned();
        match (operation, &existing) {
            ("CREATE", Some(_)) => {
                let mut status = status_body(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    &format!("ingresses.networking.k8s.io \"{}\" already exists", key.1),
                );
                status["details"] =
                    json!({"name": key.1, "group": "networking.k8s.io", "kind": "ingresses"});
                return Err(status);
            }
            (_, Some(old)) if *old == object => return Ok(object),
            _ => {}
        }
        store.version += 1;
        let version = store.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let event = if existing.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        let line = event_line(event, &object);
        let collection = store.collection(INGRESSES);
        collection.objects.insert(key, object.clone());
        collection.log.push((version, line.clone()));
        let _ = self.inner.signals.send(Signal::Event {
            resource: INGRESSES,
            version,
            line,
        });
        Ok(object)
    }
}

fn status_code(status: &Value) -> StatusCode {
    status["code"]
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// What the registry sets before validating admission: on create a uid, creationTimestamp,
/// generation 1 and no resourceVersion; on update the old identity, and a generation bumped when
/// the spec changed.
fn registry_fields(mut object: Value, old: Option<&Value>) -> Value {
    let metadata = &mut object["metadata"];
    match old {
        None => {
            metadata["uid"] = json!(admission::random_uid());
            metadata["creationTimestamp"] = json!(now_rfc3339());
            metadata["generation"] = json!(1);
            if let Some(m) = metadata.as_object_mut() {
                m.remove("resourceVersion");
            }
        }
        Some(old) => {
            for key in ["uid", "creationTimestamp", "resourceVersion"] {
                metadata[key] = old["metadata"][key].clone();
            }
            let generation = old["metadata"]["generation"].as_u64().unwrap_or(1);
            let bump = u64::from(object["spec"] != old["spec"]);
            object["metadata"]["generation"] = json!(generation + bump);
        }
    }
    object
}

/// The current time as RFC 3339 UTC seconds, as the API server writes `creationTimestamp`.
fn now_rfc3339() -> String {
    qcloud_ingress_webhook::text::rfc3339(std::time::SystemTime::now())
}
