//! A STAND-IN Kubernetes API server for tests: a test double, not a Kubernetes implementation.
//!
//! No kube-apiserver can run on the build machines, so live-mode tests point the real kube-rs
//! client at this loopback HTTP server through a generated kubeconfig. It serves just what the
//! webhook uses, in the API server's wire format:
//!
//! - cluster-wide list of Services and Ingresses, with the list's `resourceVersion`, in pages
//!   (`limit` and `continue`);
//! - watch streams from a `resourceVersion`: `ADDED`/`MODIFIED`/`DELETED` events, `BOOKMARK`s
//!   when `allowWatchBookmarks=true`, and an `ERROR` event with code 410 (Gone) when the version
//!   is older than the last [`StandIn::expire`] — which forces the client to re-list, as after
//!   etcd compaction;
//! - `GET` of one Secret by name (404 Status when missing), optionally slowed down;
//! - `GET` of one Service or Ingress by name, which always sees the latest write, while watch
//!   events can be held back ([`StandIn::set_watch_delay`]): a watch trails the API server, as
//!   the real one's does, by milliseconds or (behind a busy apiserver) seconds. These GETs can
//!   be held back too ([`StandIn::set_object_get_delay`]): an API server that takes the request
//!   and does not answer.
//!
//! - for `serve --self-managed-certs` ([`self_managed`]): `POST` of a Secret (409
//!   `AlreadyExists` when the name is taken), and list, watch, `GET` and server-side apply of
//!   Validating- and MutatingWebhookConfigurations; lists and watches of every resource honour
//!   `fieldSelector=metadata.name=NAME`;
//! - Lease `GET`, create and update with resourceVersion preconditions ([`leases`]), for the
//!   audit's `--audit-lease`;
//! - `POST` of an Event (the audit's `--audit-events`): stored by name, 409 `AlreadyExists` for a
//!   name already taken, as the API server answers a create.
//! - `POST` of a TokenReview (`authentication.k8s.io/v1`) and a SubjectAccessReview
//!   (`authorization.k8s.io/v1`, non-resource attributes only), answered from the tokens and
//!   grants a test registers ([`StandIn::add_token`], [`StandIn::grant`]): what
//!   controller-runtime's `filters.WithAuthenticationAndAuthorization` asks of the API server to
//!   protect a metrics endpoint, and what the admin port's `/audit` asks here.
//!
//! Tests change objects while it runs ([`StandIn::apply`], [`StandIn::delete`]), stop it to play
//! an unreachable API server ([`StandIn::stop`]) and start it again on the same port.
//!
//! For kubectl it also serves discovery, OpenAPI v3 and Ingress create, update, patch and
//! server-side apply, calling registered admission webhooks the way the API server does
//! ([`api`], [`admission`]; [`StandIn::register_webhooks`]).

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed set-up is a failed test"
)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};

pub mod admission;
pub mod api;
pub mod leases;
pub mod self_managed;

/// The resources the stand-in serves, by URL collection name.
pub const SERVICES: &str = "services";
pub const INGRESSES: &str = "ingresses";
pub const SECRETS: &str = "secrets";
pub const VALIDATING: &str = "validatingwebhookconfigurations";
pub const MUTATING: &str = "mutatingwebhookconfigurations";
pub const LEASES: &str = "leases";

fn resource_of(kind: &str) -> &'static str {
    match kind {
        "Service" => SERVICES,
        "Ingress" => INGRESSES,
        "Secret" => SECRETS,
        "ValidatingWebhookConfiguration" => VALIDATING,
        "MutatingWebhookConfiguration" => MUTATING,
        "Lease" => LEASES,
        other => panic!("the stand-in does not serve kind {other}"),
    }
}

fn list_kind(resource: &str) -> (&'static str, &'static str) {
    match resource {
        SERVICES => ("v1", "ServiceList"),
        INGRESSES => ("networking.k8s.io/v1", "IngressList"),
        VALIDATING => (
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfigurationList",
        ),
        MUTATING => (
            "admissionregistration.k8s.io/v1",
            "MutatingWebhookConfigurationList",
        ),
        _ => ("v1", "SecretList"),
    }
}

/// What open watch streams are told.
#[derive(Debug, Clone)]
enum Signal {
    /// One watch event line for `resource`, at `version`.
    Event {
        resource: &'static str,
        version: u64,
        line: String,
    },
    /// Send a 410 ERROR event and close (the watched version was compacted away).
    Expire { resource: &'static str },
    /// Send a BOOKMARK at the current version.
    Bookmark,
    /// Close every stream (the server is stopping).
    Stop,
}

#[derive(Default)]
struct Collection {
    objects: BTreeMap<(String, String), Value>,
    /// Every announced event, for watches that resume from an older version.
    log: Vec<(u64, String)>,
    /// Watches from a version older than this get 410 Gone.
    compacted_at: u64,
}

#[derive(Default)]
struct Store {
    version: u64,
    collections: HashMap<&'static str, Collection>,
    secret_delay: Duration,
    lists: HashMap<String, u64>,
    pages: HashMap<String, u64>,
    watches: HashMap<String, u64>,
    secret_gets: u64,
    /// (namespace, name) of every Secret GET, in order.
    secret_get_names: Vec<(String, String)>,
    /// Live watch events reach clients this long after their write.
    watch_delay: Duration,
    /// Single-object GETs of Services and Ingresses served.
    object_gets: u64,
    /// Single-object GETs of Services and Ingresses are answered this long after they arrive
    /// (a long one plays an API server that accepts a request and never answers).
    object_get_delay: Duration,
    /// Events created, by (namespace, name).
    events: BTreeMap<(String, String), Value>,
    /// Event creates refused because the name was taken.
    event_conflicts: u64,
    /// Bearer token → user name, for TokenReviews.
    tokens: HashMap<String, String>,
    /// (user, verb, non-resource path) allowed, for SubjectAccessReviews.
    grants: Vec<(String, String, String)>,
    /// TokenReviews and SubjectAccessReviews answered.
    access_reviews: u64,
    /// TokenReviews arriving, counted before any delay.
    token_reviews_received: u64,
    /// TokenReviews are answered this long after they arrive.
    token_review_delay: Duration,
    /// Secret creates answered, and those refused with 409.
    secret_creates: u64,
    secret_create_conflicts: u64,
    secret_create_delay: Duration,
    secret_updates: u64,
    /// The field manager of every server-side apply, in order.
    applies: Vec<String>,
    /// The holder named by every successful Lease write, in order.
    lease_writes: Vec<String>,
}

impl Store {
    fn collection(&mut self, resource: &'static str) -> &mut Collection {
        self.collections.entry(resource).or_default()
    }
}

struct Inner {
    store: Mutex<Store>,
    signals: broadcast::Sender<Signal>,
    api: api::ApiState,
}

/// A running stand-in API server. Dropping it stops it.
pub struct StandIn {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Where it serves: the caller's runtime, or one on a thread of its own.
    runtime: Option<tokio::runtime::Handle>,
}

impl StandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener.into_std().unwrap(), None)
    }

    /// Serves from a thread of its own (a current-thread runtime), for the scale harness: a real
    /// API server runs elsewhere, so the pages it builds during a re-list must not hold up the
    /// runtime of the client that times the webhook's reviews, as they do when both share the
    /// test's runtime.
    pub fn start_on_own_thread() -> Self {
        let (handle, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("stand-in-apiserver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                handle.send(runtime.handle().clone()).unwrap();
                // Serves until the process ends.
                runtime.block_on(std::future::pending::<()>());
            })
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Self::start_on(listener, Some(receiver.recv().unwrap()))
    }

    /// Serves on `listener`, from `runtime` or else the caller's.
    fn start_on(listener: std::net::TcpListener, runtime: Option<tokio::runtime::Handle>) -> Self {
        let (signals, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            store: Mutex::default(),
            signals,
            api: api::ApiState::default(),
        });
        let mut stand_in = Self {
            addr: listener.local_addr().unwrap(),
            inner,
            stop: None,
            task: None,
            runtime,
        };
        stand_in.serve(listener);
        stand_in
    }

    fn serve(&mut self, listener: std::net::TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let app = routes().with_state(self.inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop = Some(stop);
        let runtime = self
            .runtime
            .clone()
            .unwrap_or_else(tokio::runtime::Handle::current);
        self.task = Some(runtime.spawn(async move {
            // Registered with the runtime that serves it.
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        }));
    }

    /// Stops serving: open watches end and new connections are refused, like an API server
    /// that went away.
    pub async fn stop(&mut self) {
        let _ = self.inner.signals.send(Signal::Stop);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Serves again on the same port, with the same objects.
    pub async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener.into_std().unwrap());
    }

    /// The webhook's live view of the stand-in, through the real kube client and a kubeconfig
    /// file in the returned directory (keep it as long as the view).
    pub async fn live_view(
        &self,
        config: qcloud_ingress_webhook::cluster::live::LiveConfig,
    ) -> (
        qcloud_ingress_webhook::cluster::live::LiveCluster,
        tempfile::TempDir,
    ) {
        use qcloud_ingress_webhook::cluster::live;
        let dir = tempfile::tempdir().unwrap();
        let client = live::client(Some(&self.kubeconfig(dir.path())), None)
            .await
            .unwrap();
        (live::LiveCluster::start(client, config).unwrap(), dir)
    }

    /// A kubeconfig file for the stand-in, written into `dir`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("stand-in.kubeconfig");
        let text = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: stand-in
  cluster:
    server: http://{addr}
users:
- name: tester
  user: {{}}
contexts:
- name: stand-in
  context:
    cluster: stand-in
    user: tester
- name: elsewhere
  context:
    cluster: nowhere
    user: tester
- name: team-b
  context:
    cluster: stand-in
    user: tester
    namespace: team-b
current-context: stand-in
",
            addr = self.addr
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Creates or replaces an object (Service, Ingress or Secret); watchers get ADDED or MODIFIED.
    pub fn apply(&self, mut object: Value) {
        let resource = resource_of(object["kind"].as_str().unwrap());
        let key = key_of(&object);
        let mut store = self.inner.store.lock().unwrap();
        store.version += 1;
        let version = store.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let collection = store.collection(resource);
        let kind = if collection.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        collection.objects.insert(key, object.clone());
        self.announce(&mut store, resource, version, kind, &object);
    }

    /// Adds objects as if they had been there before anyone watched: each gets a version, no
    /// watch event is sent or logged (so a cluster of 100,000 objects costs no event history).
    /// Clients see them in lists, and in GETs.
    pub fn load(&self, objects: impl IntoIterator<Item = Value>) {
        let mut store = self.inner.store.lock().unwrap();
        for mut object in objects {
            let resource = resource_of(object["kind"].as_str().unwrap());
            let key = key_of(&object);
            store.version += 1;
            object["metadata"]["resourceVersion"] = json!(store.version.to_string());
            store.collection(resource).objects.insert(key, object);
        }
    }

    /// Deletes an object; watchers get DELETED. Panics if it does not exist.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) {
        let resource = resource_of(kind);
        let mut store = self.inner.store.lock().unwrap();
        store.version += 1;
        let version = store.version;
        let mut object = store
            .collection(resource)
            .objects
            .remove(&(namespace.to_owned(), name.to_owned()))
            .expect("deleting an object that exists");
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        self.announce(&mut store, resource, version, "DELETED", &object);
    }

    /// Deletes an object without telling any watcher, as when events are lost to compaction.
    /// Only a re-list shows it (see [`Self::expire`]).
    pub fn delete_unannounced(&self, kind: &str, namespace: &str, name: &str) {
        let resource = resource_of(kind);
        let mut store = self.inner.store.lock().unwrap();
        store.version += 1;
        store
            .collection(resource)
            .objects
            .remove(&(namespace.to_owned(), name.to_owned()))
            .expect("deleting an object that exists");
    }

    /// Compacts `kind`'s history: open watches get an ERROR event with code 410 and close, and
    /// resuming from any earlier version gets 410 too, so clients must re-list.
    pub fn expire(&self, kind: &str) {
        let resource = resource_of(kind);
        let mut store = self.inner.store.lock().unwrap();
        let version = store.version;
        let collection = store.collection(resource);
        collection.compacted_at = version;
        collection.log.clear();
        let _ = self.inner.signals.send(Signal::Expire { resource });
    }

    /// Sends a BOOKMARK to every open watch that asked for bookmarks.
    pub fn bookmark(&self) {
        let _ = self.inner.signals.send(Signal::Bookmark);
    }

    /// Every Secret GET waits this long first (to play a slow API server).
    pub fn set_secret_delay(&self, delay: Duration) {
        self.inner.store.lock().unwrap().secret_delay = delay;
    }

    pub fn secret_gets(&self) -> u64 {
        self.inner.store.lock().unwrap().secret_gets
    }

    /// Holds every live watch event back this long after its write, while GET and LIST see the
    /// write at once.
    pub fn set_watch_delay(&self, delay: Duration) {
        self.inner.store.lock().unwrap().watch_delay = delay;
    }

    /// Single-object GETs of Services and Ingresses served so far.
    /// Answers single-object GETs of Services and Ingresses only after `delay`; watches, lists
    /// and Secret reads are not slowed.
    pub fn set_object_get_delay(&self, delay: Duration) {
        self.inner.store.lock().unwrap().object_get_delay = delay;
    }

    pub fn object_gets(&self) -> u64 {
        self.inner.store.lock().unwrap().object_gets
    }

    /// The Events created so far.
    /// (namespace, name) of every Secret GET served, in order.
    pub fn secret_get_names(&self) -> Vec<(String, String)> {
        self.inner.store.lock().unwrap().secret_get_names.clone()
    }

    /// A bearer token the stand-in authenticates as `user`.
    pub fn add_token(&self, token: &str, user: &str) {
        let mut store = self.inner.store.lock().unwrap();
        store.tokens.insert(token.to_owned(), user.to_owned());
    }

    /// Lets `user` do `verb` on the non-resource URL `path` (RBAC's `nonResourceURLs`).
    pub fn grant(&self, user: &str, verb: &str, path: &str) {
        let mut store = self.inner.store.lock().unwrap();
        store
            .grants
            .push((user.to_owned(), verb.to_owned(), path.to_owned()));
    }

    /// Answers TokenReviews only after `delay` (an API server slow to authenticate).
    pub fn set_token_review_delay(&self, delay: Duration) {
        self.inner.store.lock().unwrap().token_review_delay = delay;
    }

    /// TokenReviews that have arrived, answered or still held back.
    pub fn token_reviews_received(&self) -> u64 {
        self.inner.store.lock().unwrap().token_reviews_received
    }

    /// TokenReviews and SubjectAccessReviews answered so far.
    pub fn access_reviews(&self) -> u64 {
        self.inner.store.lock().unwrap().access_reviews
    }

    pub fn events(&self) -> Vec<Value> {
        self.inner
            .store
            .lock()
            .unwrap()
            .events
            .values()
            .cloned()
            .collect()
    }

    /// Event creates refused with 409 because one of that name existed.
    pub fn event_conflicts(&self) -> u64 {
        self.inner.store.lock().unwrap().event_conflicts
    }

    pub fn lists(&self, resource: &str) -> u64 {
        let store = self.inner.store.lock().unwrap();
        store.lists.get(resource).copied().unwrap_or_default()
    }

    /// List pages served for `resource` (clients ask for pages of 500).
    pub fn pages(&self, resource: &str) -> u64 {
        let store = self.inner.store.lock().unwrap();
        store.pages.get(resource).copied().unwrap_or_default()
    }

    /// Watches opened for `resource`.
    pub fn watches(&self, resource: &str) -> u64 {
        let store = self.inner.store.lock().unwrap();
        store.watches.get(resource).copied().unwrap_or_default()
    }

    fn announce(
        &self,
        store: &mut Store,
        resource: &'static str,
        version: u64,
        kind: &str,
        object: &Value,
    ) {
        let line = event_line(kind, object);
        store.collection(resource).log.push((version, line.clone()));
        let _ = self.inner.signals.send(Signal::Event {
            resource,
            version,
            line,
        });
    }
}

/// The API the stand-in serves.
fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route("/api/v1/services", get(list_or_watch_services))
        .route(
            "/apis/networking.k8s.io/v1/ingresses",
            get(list_or_watch_ingresses),
        )
        .route(
            "/api/v1/namespaces/{namespace}/secrets/{name}",
            get(get_secret).put(self_managed::update_secret),
        )
        .route(
            "/api/v1/namespaces/{namespace}/services/{name}",
            get(get_service),
        )
        .route(
            "/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}",
            get(get_ingress),
        )
        .route("/api/v1/namespaces/{namespace}/events", post(create_event))
        .route(
            "/api/v1/namespaces/{namespace}/secrets",
            post(self_managed::create_secret),
        )
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases",
            post(leases::create_lease),
        )
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}",
            get(leases::get_lease).put(leases::update_lease),
        )
        .route(
            "/apis/admissionregistration.k8s.io/v1/{resource}",
            get(self_managed::list_or_watch_configurations),
        )
        .route(
            "/apis/admissionregistration.k8s.io/v1/{resource}/{name}",
            get(self_managed::get_configuration).patch(self_managed::apply_configuration),
        )
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(create_token_review),
        )
        .route(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            post(create_subject_access_review),
        )
        // Discovery, OpenAPI and the Ingress write API (the GET above serves reads of one
        // Ingress); anything else is logged as unserved.
        .fallback(api::serve)
        .method_not_allowed_fallback(api::serve)
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.inner.signals.send(Signal::Stop);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Stores `object` at a new version and tells watchers (ADDED or MODIFIED); returns it stored.
/// Names of a kind in the API server's messages: `Secret` and `secrets`,
/// `Lease.coordination.k8s.io` and `leases.coordination.k8s.io`.
struct Spelling {
    kind: &'static str,
    resource: &'static str,
}

/// The first half of an update with the `resourceVersion` precondition, as the API server's
/// optimistic concurrency answers it (k8s.io/apiserver registry/generic/registry/store.go,
/// `Update`): 400 for a body that is not JSON, 422 without a resourceVersion, 404 for a missing
/// object, 409 Conflict when it is stale. `Ok` is the locked store and the object to store, its
/// namespace set.
#[allow(
    clippy::result_large_err,
    reason = "a test double's refusal, answered at once"
)]
fn precondition_update<'a>(
    inner: &'a Inner,
    resource: &'static str,
    spelling: &Spelling,
    (namespace, name): (String, String),
    body: &[u8],
) -> Result<(std::sync::MutexGuard<'a, Store>, Value), Response> {
    let Spelling {
        kind,
        resource: plural,
    } = spelling;
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return Err(status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "not a JSON object",
        ));
    };
    let Some(version) = object["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_owned)
    else {
        let message = format!(
            "{kind} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
        );
        return Err(status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            &message,
        ));
    };
    object["metadata"]["namespace"] = json!(namespace);
    let mut store = inner.store.lock().unwrap();
    let Some(stored) = store
        .collection(resource)
        .objects
        .get(&(namespace, name.clone()))
    else {
        let message = format!("{plural} \"{name}\" not found");
        return Err(status(StatusCode::NOT_FOUND, "NotFound", &message));
    };
    if stored["metadata"]["resourceVersion"].as_str() != Some(version.as_str()) {
        let message = format!(
            "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let body = api_status_body(StatusCode::CONFLICT, "Conflict", &message);
        return Err((StatusCode::CONFLICT, axum::Json(body)).into_response());
    }
    Ok((store, object))
}

fn put(inner: &Inner, store: &mut Store, resource: &'static str, mut object: Value) -> Value {
    store.version += 1;
    let version = store.version;
    object["metadata"]["resourceVersion"] = json!(version.to_string());
    let key = key_of(&object);
    let collection = store.collection(resource);
    let kind = if collection.objects.contains_key(&key) {
        "MODIFIED"
    } else {
        "ADDED"
    };
    collection.objects.insert(key, object.clone());
    let line = event_line(kind, &object);
    collection.log.push((version, line.clone()));
    let _ = inner.signals.send(Signal::Event {
        resource,
        version,
        line,
    });
    object
}

/// The body of a failure Status.
fn api_status_body(code: StatusCode, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    })
}

fn key_of(object: &Value) -> (String, String) {
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    let name = object["metadata"]["name"].as_str().unwrap().to_owned();
    (namespace, name)
}

fn event_line(kind: &str, object: &Value) -> String {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    line
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

type Params = Query<HashMap<String, String>>;

async fn list_or_watch_services(
    State(inner): State<Arc<Inner>>,
    Query(params): Params,
) -> Response {
    list_or_watch(&inner, SERVICES, &params)
}

async fn list_or_watch_ingresses(
    State(inner): State<Arc<Inner>>,
    Query(params): Params,
) -> Response {
    list_or_watch(&inner, INGRESSES, &params)
}

fn list_or_watch(
    inner: &Arc<Inner>,
    resource: &'static str,
    params: &HashMap<String, String>,
) -> Response {
    let watching = matches!(params.get("watch").map(String::as_str), Some("true" | "1"));
    if watching {
        watch(inner, resource, params)
    } else {
        list(inner, resource, params)
    }
}

/// A list, in pages of `limit` when asked, with the offset as the `continue` token.
fn list(inner: &Inner, resource: &'static str, params: &HashMap<String, String>) -> Response {
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let offset: usize = params
        .get("continue")
        .and_then(|c| c.parse().ok())
        .unwrap_or_default();
    let mut store = inner.store.lock().unwrap();
    if offset == 0 {
        *store.lists.entry(resource.to_owned()).or_default() += 1;
    }
    *store.pages.entry(resource.to_owned()).or_default() += 1;
    let version = store.version;
    let named = name_selector(params);
    let objects: Vec<&Value> = store
        .collection(resource)
        .objects
        .values()
        .filter(|o| named.is_none_or(|n| o["metadata"]["name"] == n))
        .collect();
    let total = objects.len();
    let items: Vec<Value> = objects
        .into_iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    let next = offset.saturating_add(limit);
    let mut metadata = json!({"resourceVersion": version.to_string()});
    if next < total {
        metadata["continue"] = json!(next.to_string());
    }
    let (api_version, kind) = list_kind(resource);
    let body = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": metadata,
        "items": items,
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// The name a `fieldSelector=metadata.name=NAME` asks for (the one field selector every
/// resource supports, k8s.io/apiserver `DefaultClusterScopedAttr`/`DefaultNamespaceScopedAttrs`).
fn name_selector(params: &HashMap<String, String>) -> Option<&str> {
    params
        .get("fieldSelector")
        .and_then(|s| s.strip_prefix("metadata.name="))
}

/// Whether a watch event line is about the object named `name` (always, without a selector).
fn line_names(line: &str, name: Option<&str>) -> bool {
    let Some(name) = name else { return true };
    serde_json::from_str::<Value>(line)
        .is_ok_and(|event| event["object"]["metadata"]["name"] == name)
}

fn gone_line() -> String {
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "too old resource version",
        "reason": "Expired",
        "code": 410,
    });
    event_line("ERROR", &status)
}

fn bookmark_line(resource: &str, version: u64) -> String {
    let (api_version, list) = list_kind(resource);
    let kind = list.trim_end_matches("List");
    event_line(
        "BOOKMARK",
        &json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"resourceVersion": version.to_string()},
        }),
    )
}

/// The logged event lines after `from`, the current version and the watch delay; `None` when
/// `from` was compacted away.
fn watch_backlog(
    inner: &Inner,
    resource: &'static str,
    from: u64,
) -> Option<(Vec<String>, u64, Duration)> {
    let mut store = inner.store.lock().unwrap();
    *store.watches.entry(resource.to_owned()).or_default() += 1;
    let (version, delay) = (store.version, store.watch_delay);
    let collection = store.collection(resource);
    if from < collection.compacted_at {
        return None;
    }
    let backlog = collection
        .log
        .iter()
        .filter(|(v, _)| *v > from)
        .map(|(_, line)| line.clone())
        .collect();
    Some((backlog, version, delay))
}

/// A watch stream: the logged events after `resourceVersion`, then live ones, until expired,
/// stopped or the client goes away.
fn watch(inner: &Arc<Inner>, resource: &'static str, params: &HashMap<String, String>) -> Response {
    let from: u64 = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    let bookmarks = params.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let named = name_selector(params).map(str::to_owned);
    let (sender, receiver) = mpsc::channel::<String>(256);
    let mut signals = inner.signals.subscribe();
    let Some((backlog, mut version, delay)) = watch_backlog(inner, resource, from) else {
        // As the API server does: 200, then one ERROR event with code 410.
        sender.try_send(gone_line()).unwrap();
        return stream_response(receiver);
    };
    tokio::spawn(async move {
        for line in backlog {
            if !line_names(&line, named.as_deref()) {
                continue;
            }
            if sender.send(line).await.is_err() {
                return;
            }
        }
        if bookmarks && sender.send(bookmark_line(resource, version)).await.is_err() {
            return;
        }
        loop {
            let line = match signals.recv().await {
                Ok(Signal::Event {
                    resource: r,
                    version: v,
                    line,
                }) if r == resource => {
                    version = v;
                    if !line_names(&line, named.as_deref()) {
                        continue;
                    }
                    // A watch that trails the writes (the delay in force when it opened).
                    tokio::time::sleep(delay).await;
                    line
                }
                Ok(Signal::Expire { resource: r }) if r == resource => {
                    let _ = sender.send(gone_line()).await;
                    return;
                }
                Ok(Signal::Bookmark) if bookmarks => bookmark_line(resource, version),
                Ok(Signal::Stop) | Err(broadcast::error::RecvError::Closed) => return,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => panic!("stand-in watch lagged"),
            };
            if sender.send(line).await.is_err() {
                return;
            }
        }
    });
    stream_response(receiver)
}

fn stream_response(receiver: mpsc::Receiver<String>) -> Response {
    let lines = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|line| (Ok::<_, Infallible>(Bytes::from(line)), receiver))
    });
    (
        [("content-type", "application/json")],
        Body::from_stream(lines),
    )
        .into_response()
}

async fn get_service(
    State(inner): State<Arc<Inner>>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
) -> Response {
    get_object(&inner, SERVICES, &(namespace, name)).await
}

async fn get_ingress(
    State(inner): State<Arc<Inner>>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
) -> Response {
    get_object(&inner, INGRESSES, &(namespace, name)).await
}

/// The object as last written, or a 404 Status, as the API server answers a GET.
async fn get_object(inner: &Inner, resource: &'static str, key: &(String, String)) -> Response {
    let delay = {
        let mut store = inner.store.lock().unwrap();
        store.object_gets += 1;
        store.object_get_delay
    };
    tokio::time::sleep(delay).await;
    let mut store = inner.store.lock().unwrap();
    match store.collection(resource).objects.get(key) {
        Some(object) => {
            ([("content-type", "application/json")], object.to_string()).into_response()
        }
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{resource} \"{}\" not found", key.1),
        ),
    }
}

/// Creates an Event: 201 with the stored object, or 409 `AlreadyExists` when its name is taken.
async fn create_event(
    State(inner): State<Arc<Inner>>,
    UrlPath(namespace): UrlPath<String>,
    body: Bytes,
) -> Response {
    let Ok(mut event) = serde_json::from_slice::<Value>(&body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "not a JSON object");
    };
    let Some(name) = event["metadata"]["name"].as_str().map(str::to_owned) else {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name: Required value",
        );
    };
    let mut store = inner.store.lock().unwrap();
    let key = (namespace.clone(), name.clone());
    if store.events.contains_key(&key) {
        store.event_conflicts += 1;
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("events \"{name}\" already exists"),
        );
    }
    event["metadata"]["namespace"] = Value::String(namespace);
    store.events.insert(key, event.clone());
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        event.to_string(),
    )
        .into_response()
}

async fn get_secret(
    State(inner): State<Arc<Inner>>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
) -> Response {
    let delay = {
        let mut store = inner.store.lock().unwrap();
        store.secret_gets += 1;
        store
            .secret_get_names
            .push((namespace.clone(), name.clone()));
        store.secret_delay
    };
    tokio::time::sleep(delay).await;
    let found = inner
        .store
        .lock()
        .unwrap()
        .collection(SECRETS)
        .objects
        .get(&(namespace, name.clone()))
        .cloned();
    match found {
        Some(secret) => {
            ([("content-type", "application/json")], secret.to_string()).into_response()
        }
        None => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("secrets \"{name}\" not found"),
        ),
    }
}

// Object builders for tests.

pub fn service(namespace: &str, name: &str, port: i32) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "NodePort", "ports": [{"name": "http", "port": port}]},
    })
}

/// A qcloud Ingress routing `host` `/` to `backend`:80, on CLB `exist_lb_id` when given.
pub fn ingress(
    namespace: &str,
    name: &str,
    host: &str,
    backend: &str,
    exist_lb_id: Option<&str>,
) -> Value {
    let mut annotations = json!({"kubernetes.io/ingress.class": "qcloud"});
    if let Some(lb) = exist_lb_id {
        annotations["kubernetes.io/ingress.existLbId"] = json!(lb);
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"rules": [{"host": host, "http": {"paths": [{
            "path": "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": backend, "port": {"number": 80}}},
        }]}}]},
    })
}

/// A TLS Secret with a `qcloud_cert_id` (base64 in `data`, as the API server returns it).
pub fn cert_secret(namespace: &str, name: &str, cert_id: &str) -> Value {
    use base64::Engine as _;
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {
            "qcloud_cert_id": base64::engine::general_purpose::STANDARD.encode(cert_id),
            "tls.key": base64::engine::general_purpose::STANDARD.encode("private key, never read"),
        },
    })
}

/// `POST tokenreviews`: `status.authenticated` and `status.user.username` for a token a test
/// registered, `authenticated: false` otherwise (k8s.io/api authentication/v1 TokenReview).
async fn create_token_review(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let Ok(mut review) = serde_json::from_slice::<Value>(&body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "not a JSON object");
    };
    let token = review["spec"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let delay = {
        let mut store = inner.store.lock().unwrap();
        store.token_reviews_received += 1;
        store.token_review_delay
    };
    tokio::time::sleep(delay).await;
    let mut store = inner.store.lock().unwrap();
    store.access_reviews += 1;
    review["status"] = match store.tokens.get(&token) {
        Some(user) => {
            json!({"authenticated": true, "user": {"username": user, "groups": ["system:authenticated"]}})
        }
        None => json!({"authenticated": false, "error": "invalid bearer token"}),
    };
    (StatusCode::CREATED, axum::Json(review)).into_response()
}

/// `POST subjectaccessreviews`: `status.allowed` when a test granted the user the verb on the
/// non-resource path (k8s.io/api authorization/v1 SubjectAccessReview).
async fn create_subject_access_review(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let Ok(mut review) = serde_json::from_slice::<Value>(&body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "not a JSON object");
    };
    let spec = &review["spec"];
    let asked = (
        spec["user"].as_str().unwrap_or_default().to_owned(),
        spec["nonResourceAttributes"]["verb"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        spec["nonResourceAttributes"]["path"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    );
    let mut store = inner.store.lock().unwrap();
    store.access_reviews += 1;
    let allowed = store.grants.contains(&asked);
    review["status"] = json!({"allowed": allowed});
    (StatusCode::CREATED, axum::Json(review)).into_response()
}
