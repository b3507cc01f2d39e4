//! The stand-in's admission chain: how the Kubernetes API server calls admission webhooks around
//! a write, done again for a test double. It reads the registrations from the chart's rendered
//! Mutating/ValidatingWebhookConfiguration and follows k8s.io/apiserver (`kubernetes/apiserver`,
//! the published copy of `staging/src/k8s.io/apiserver`; contract in
//! shared/docs/apiserver-webhook-contract.md):
//!
//! - which webhooks a request reaches: `pkg/admission/plugin/webhook/generic/webhook.go`
//!   (`ShouldCallHook`: namespaceSelector, objectSelector, rules, matchConditions);
//! - the AdmissionReview: `pkg/admission/plugin/webhook/request/admissionreview.go`
//!   (`CreateAdmissionObjects` takes the first known `admissionReviewVersions` entry,
//!   `CreateV1AdmissionReview`), and the answer's checks (`VerifyAdmissionResponse`);
//! - mutating webhooks one after another, each JSONPatch applied before the next, then validating
//!   webhooks in parallel, the first error winning: `pkg/admission/plugin/webhook/mutating/
//!   dispatcher.go` and `validating/dispatcher.go` (`Dispatch`, `callHook`), including the
//!   `?timeout=Ns` budget rounded up to whole seconds and the dry-run `sideEffects` check;
//! - a deny as a Status: `pkg/admission/plugin/webhook/errors/statuserror.go` (`ToStatusErr`);
//! - a failed call: `pkg/util/webhook/error.go` (`ErrCallingWebhook`), turned into an internal
//!   error (k8s.io/apimachinery `pkg/api/errors`, `NewInternalError`) under `failurePolicy: Fail`
//!   and skipped under `Ignore`;
//! - warnings as `Warning: 299 - "<text>"` headers, deduplicated: `pkg/endpoints/filters/
//!   warning.go` and k8s.io/apimachinery `pkg/util/net/http.go` (`NewWarningHeader`).
//!
//! What it does not do: CEL (`matchConditions` of the one form the chart renders are evaluated,
//! anything else is refused at registration), conversion between API versions (only
//! `networking.k8s.io/v1` is served, so `matchPolicy: Equivalent` and `Exact` reach the same
//! webhooks), reinvocation, audit annotations, and the object validation and defaulting the real
//! API server runs between the mutating and the validating webhooks.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hasher as _};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use serde_json::{Map, Value, json};

/// The user every request is made as (a kubeadm cluster's admin certificate).
pub const USERNAME: &str = "kubernetes-admin";
pub const GROUPS: [&str; 2] = ["kubeadm:cluster-admins", "system:authenticated"];

/// One webhook of a rendered Mutating/ValidatingWebhookConfiguration.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    pub mutating: bool,
    /// `clientConfig.service`: name, namespace, port (default 443), path (default `/`).
    pub service: (String, String),
    pub port: u16,
    pub path: String,
    pub ca_bundle: Vec<u8>,
    pub ignore_failures: bool,
    pub timeout: Duration,
    pub match_policy: String,
    pub side_effects: String,
    pub review_versions: Vec<String>,
    pub rules: Vec<Value>,
    pub namespace_selector: Value,
    pub object_selector: Value,
    /// `matchConditions` expressions, each of the form `[!](request.userInfo.username in [...])`.
    pub match_conditions: Vec<String>,
}

impl Webhook {
    fn from_config(hook: &Value, mutating: bool) -> Self {
        let service = &hook["clientConfig"]["service"];
        assert!(
            service.is_object(),
            "the stand-in calls Service webhooks only: {hook}"
        );
        let text = |v: &Value, default: &str| v.as_str().unwrap_or(default).to_owned();
        let match_conditions: Vec<String> = hook["matchConditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| text(&c["expression"], ""))
            .collect();
        for expression in &match_conditions {
            // Refuses, at registration, an expression the stand-in cannot evaluate.
            condition_holds(expression, USERNAME);
        }
        Self {
            name: text(&hook["name"], ""),
            mutating,
            service: (text(&service["name"], ""), text(&service["namespace"], "")),
            port: service["port"]
                .as_u64()
                .map_or(443, |p| u16::try_from(p).expect("a port")),
            path: text(&service["path"], "/"),
            ca_bundle: base64::engine::general_purpose::STANDARD
                .decode(text(&hook["clientConfig"]["caBundle"], ""))
                .expect("caBundle is base64"),
            // admissionregistration.k8s.io/v1 defaults: Fail, 10s, Equivalent.
            ignore_failures: hook["failurePolicy"] == "Ignore",
            timeout: Duration::from_secs(hook["timeoutSeconds"].as_u64().unwrap_or(10)),
            match_policy: text(&hook["matchPolicy"], "Equivalent"),
            side_effects: text(&hook["sideEffects"], ""),
            review_versions: serde_json::from_value(hook["admissionReviewVersions"].clone())
                .expect("admissionReviewVersions is a list of strings"),
            rules: hook["rules"].as_array().cloned().unwrap_or_default(),
            namespace_selector: hook["namespaceSelector"].clone(),
            object_selector: hook["objectSelector"].clone(),
            match_conditions,
        }
    }

    /// The Service DNS name the API server dials (and checks the certificate against).
    pub fn host(&self) -> String {
        format!("{}.{}.svc", self.service.0, self.service.1)
    }
}

/// The registered webhooks, and where each Service's endpoints are (loopback listeners).
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    pub hooks: Vec<Webhook>,
    pub endpoints: HashMap<(String, String), SocketAddr>,
}

impl Webhooks {
    /// Every webhook of every Mutating/ValidatingWebhookConfiguration in `helm template` output.
    pub fn from_rendered(rendered: &str) -> Self {
        let documents: Vec<Value> = serde_saphyr::from_multiple(rendered).expect("rendered YAML");
        let mut hooks = Vec::new();
        for document in &documents {
            let mutating = match document["kind"].as_str() {
                Some("MutatingWebhookConfiguration") => true,
                Some("ValidatingWebhookConfiguration") => false,
                _ => continue,
            };
            for hook in document["webhooks"].as_array().into_iter().flatten() {
                hooks.push(Webhook::from_config(hook, mutating));
            }
        }
        assert!(!hooks.is_empty(), "no webhook configuration rendered");
        Self {
            hooks,
            endpoints: HashMap::new(),
        }
    }

    /// Sends calls for Service `namespace/name` to `addr`, as the API server's service resolver
    /// would send them to the Service's endpoints.
    #[must_use]
    pub fn route(mut self, namespace: &str, name: &str, addr: SocketAddr) -> Self {
        self.endpoints
            .insert((name.to_owned(), namespace.to_owned()), addr);
        self
    }

    /// Routes every registered Service to `addr`.
    #[must_use]
    pub fn route_all(mut self, addr: SocketAddr) -> Self {
        for hook in &self.hooks {
            self.endpoints.insert(hook.service.clone(), addr);
        }
        self
    }
}

/// What a write asks admission about (the API server's `admission.Attributes`).
#[derive(Debug, Clone)]
pub struct Attributes {
    pub operation: &'static str,
    pub namespace: String,
    pub name: String,
    pub object: Value,
    pub old_object: Option<Value>,
    pub dry_run: bool,
    /// CreateOptions or UpdateOptions, as the API server derives them from the request.
    pub options: Value,
}

/// One webhook call as the stand-in made it, for tests to inspect.
#[derive(Debug, Clone)]
pub struct Call {
    pub webhook: String,
    pub url: String,
    pub review: Value,
    /// The answer's `response`, or the call error.
    pub outcome: Result<Value, String>,
}

/// Warnings for one request, as `pkg/endpoints/filters/warning.go` records them: empty ones
/// dropped, duplicates dropped, and past 4096 runes in total every warning cut to 256 runes and
/// later ones dropped once the limit is reached again. Those with control characters are
/// dropped (`NewWarningHeader` refuses them).
#[derive(Debug, Default)]
pub struct Warnings {
    recorded: Vec<String>,
    written: usize,
    truncating: bool,
}

const TRUNCATE_AT_TOTAL_RUNES: usize = 4 * 1024;
const TRUNCATE_ITEM_RUNES: usize = 256;

impl Warnings {
    pub fn add(&mut self, text: &str) {
        if text.is_empty()
            || (self.truncating && self.written >= TRUNCATE_AT_TOTAL_RUNES)
            || self.recorded.iter().any(|r| r == text)
            || text.chars().any(char::is_control)
        {
            return;
        }
        self.recorded.push(text.to_owned());
        let runes = text.chars().count();
        if self.truncating {
            self.written += runes.min(TRUNCATE_ITEM_RUNES);
        } else if self.written + runes <= TRUNCATE_AT_TOTAL_RUNES {
            self.written += runes;
        } else {
            self.truncating = true;
            self.written = self
                .recorded
                .iter()
                .map(|r| r.chars().count().min(TRUNCATE_ITEM_RUNES))
                .sum();
        }
    }

    /// The `Warning` header values, in order: `299 - "<text>"` with `"` and `\` escaped.
    pub fn headers(&self) -> Vec<String> {
        self.recorded
            .iter()
            .map(|text| {
                let text: String = if self.truncating {
                    text.chars().take(TRUNCATE_ITEM_RUNES).collect()
                } else {
                    text.clone()
                };
                let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
                format!("299 - \"{quoted}\"")
            })
            .collect()
    }
}

/// A failed admission: the Status the API server answers with (its `code` is the HTTP status).
pub type Rejection = Value;

/// Runs the mutating webhooks that match, one after another, applying each patch; returns the
/// object the validating webhooks and the store get.
pub async fn mutate(
    webhooks: &Webhooks,
    attributes: &Attributes,
    warnings: &Mutex<Warnings>,
    calls: &Mutex<Vec<Call>>,
) -> Result<Value, Rejection> {
    let mut attributes = attributes.clone();
    for hook in webhooks.hooks.iter().filter(|h| h.mutating) {
        if !should_call(hook, &attributes) {
            continue;
        }
        match call(webhooks, hook, &attributes, warnings, calls).await {
            Ok(Some(patched)) => attributes.object = patched,
            Ok(None) => {}
            Err(Failure::Call(_)) if hook.ignore_failures => {}
            Err(Failure::Call(message)) => return Err(internal_error(&message)),
            Err(Failure::Status(status)) => return Err(status),
        }
    }
    Ok(attributes.object)
}

/// Runs the validating webhooks that match, in parallel; the first error to arrive wins.
pub async fn validate(
    webhooks: &Webhooks,
    attributes: &Attributes,
    warnings: &Mutex<Warnings>,
    calls: &Mutex<Vec<Call>>,
) -> Result<(), Rejection> {
    let mut pending: FuturesUnordered<_> = webhooks
        .hooks
        .iter()
        .filter(|h| !h.mutating && should_call(h, attributes))
        .map(|hook| async move {
            (
                hook,
                call(webhooks, hook, attributes, warnings, calls).await,
            )
        })
        .collect();
    let mut first_error = None;
    while let Some((hook, result)) = pending.next().await {
        let error = match result {
            Ok(_) => continue,
            Err(Failure::Call(_)) if hook.ignore_failures => continue,
            Err(Failure::Call(message)) => internal_error(&message),
            Err(Failure::Status(status)) => status,
        };
        first_error.get_or_insert(error);
    }
    first_error.map_or(Ok(()), Err)
}

/// Why a call did not end in an allowed answer.
enum Failure {
    /// `ErrCallingWebhook`: the webhook could not be called or answered wrongly; its message.
    Call(String),
    /// The webhook denied (or the dry-run check refused): the Status for the client.
    Status(Value),
}

/// `NewInternalError(err)`: 500, reason InternalError, the error as the one cause.
fn internal_error(message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {message}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

/// `ToStatusErr`: a deny's status with the code forced to at least 400, the status to Failure,
/// and the message prefixed with the webhook's name.
pub fn to_status_err(webhook: &str, result: Option<&Value>) -> Value {
    let mut status = result
        .filter(|r| r.is_object())
        .cloned()
        .unwrap_or_else(|| json!({"status": "Failure"}));
    let code = status["code"].as_u64().unwrap_or(0);
    if code < 400 {
        status["code"] = json!(400);
    }
    if matches!(status["status"].as_str(), None | Some("" | "Success")) {
        status["status"] = json!("Failure");
    }
    let denied_by = format!("admission webhook \"{webhook}\" denied the request");
    let text = |key: &str| status[key].as_str().unwrap_or_default().to_owned();
    let (message, reason) = (text("message"), text("reason"));
    status["message"] = json!(if !message.is_empty() {
        format!("{denied_by}: {message}")
    } else if !reason.is_empty() {
        format!("{denied_by}: {reason}")
    } else {
        format!("{denied_by} without explanation")
    });
    status["kind"] = json!("Status");
    status["apiVersion"] = json!("v1");
    status["metadata"] = json!({});
    status
}

/// `ShouldCallHook`: namespaceSelector, objectSelector, rules, then matchConditions.
fn should_call(hook: &Webhook, attributes: &Attributes) -> bool {
    // Every namespace carries kubernetes.io/metadata.name (set by the API server since 1.21).
    let namespace_labels = Map::from_iter([(
        "kubernetes.io/metadata.name".to_owned(),
        json!(attributes.namespace),
    )]);
    let labels_of = |object: Option<&Value>| {
        object
            .and_then(|o| o["metadata"]["labels"].as_object())
            .cloned()
            .unwrap_or_default()
    };
    let object_matches =
        selector_matches(&hook.object_selector, &labels_of(Some(&attributes.object)))
            || attributes
                .old_object
                .as_ref()
                .is_some_and(|old| selector_matches(&hook.object_selector, &labels_of(Some(old))));
    selector_matches(&hook.namespace_selector, &namespace_labels)
        && object_matches
        && hook.rules.iter().any(|rule| rule_matches(rule, attributes))
        && hook
            .match_conditions
            .iter()
            .all(|c| condition_holds(c, USERNAME))
}

/// `pkg/admission/plugin/webhook/predicates/rules`: operation, group, version, resource, scope;
/// `*` matches anything. Requests here are always `networking.k8s.io/v1` `ingresses`.
fn rule_matches(rule: &Value, attributes: &Attributes) -> bool {
    let has = |key: &str, wanted: &str| {
        rule[key]
            .as_array()
            .is_some_and(|l| l.iter().any(|v| v == wanted || v == "*"))
    };
    has("operations", attributes.operation)
        && has("apiGroups", "networking.k8s.io")
        && has("apiVersions", "v1")
        && has("resources", "ingresses")
        && matches!(rule["scope"].as_str(), None | Some("*" | "Namespaced"))
}

/// A metav1.LabelSelector; absent or empty selects everything.
pub fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    let match_labels = selector["matchLabels"].as_object();
    let labels_ok = match_labels.is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let expressions = selector["matchExpressions"].as_array();
    labels_ok
        && expressions.is_none_or(|list| {
            list.iter().all(|e| {
                let value = labels.get(e["key"].as_str().unwrap_or_default());
                let listed = e["values"]
                    .as_array()
                    .is_some_and(|vs| value.is_some_and(|v| vs.contains(v)));
                match e["operator"].as_str() {
                    Some("In") => listed,
                    Some("NotIn") => !listed,
                    Some("Exists") => value.is_some(),
                    Some("DoesNotExist") => value.is_none(),
                    other => panic!("unknown label selector operator {other:?}"),
                }
            })
        })
}

/// The one matchCondition shape the chart renders, `!(request.userInfo.username in ['a', 'b'])`
/// (with or without the negation). There is no CEL here: any other expression panics, so a new
/// condition in the chart cannot be silently treated as true.
pub fn condition_holds(expression: &str, username: &str) -> bool {
    let trimmed = expression.trim();
    let (negated, inner) = trimmed
        .strip_prefix("!(")
        .and_then(|e| e.strip_suffix(')'))
        .map_or((false, trimmed), |inner| (true, inner));
    let list = inner
        .trim()
        .strip_prefix("request.userInfo.username in [")
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("the stand-in cannot evaluate matchCondition {expression:?}"));
    let listed = list
        .split(',')
        .map(|u| u.trim().trim_matches('\''))
        .any(|u| u == username);
    listed != negated
}

/// `CreateAdmissionObjects`: a random uid and the review in the first version the webhook lists
/// that the API server knows.
fn review(hook: &Webhook, attributes: &Attributes) -> Result<(String, Value), String> {
    let version = hook
        .review_versions
        .iter()
        .find(|v| *v == "v1" || *v == "v1beta1")
        .ok_or("webhook does not accept known AdmissionReview versions (v1, v1beta1)")?;
    let uid = random_uid();
    let gvk = json!({"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"});
    let gvr = json!({"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"});
    let review = json!({
        "apiVersion": format!("admission.k8s.io/{version}"),
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": attributes.name,
            "namespace": attributes.namespace,
            "operation": attributes.operation,
            "userInfo": {"username": USERNAME, "groups": GROUPS},
            "object": attributes.object,
            "oldObject": attributes.old_object,
            "dryRun": attributes.dry_run,
            "options": attributes.options,
        },
    });
    Ok((uid, review))
}

/// A version-4-shaped UUID from the standard library's random hasher keys.
pub fn random_uid() -> String {
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(0);
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = format!("{:032x}", u128::from_be_bytes(bytes));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `callHook` / `callAttrMutatingHook`: the dry-run check, the POST with `?timeout=`, the answer's
/// checks, warnings, then allowed (with the patched object for a mutating webhook) or denied.
async fn call(
    webhooks: &Webhooks,
    hook: &Webhook,
    attributes: &Attributes,
    warnings: &Mutex<Warnings>,
    calls: &Mutex<Vec<Call>>,
) -> Result<Option<Value>, Failure> {
    let calling = |reason: String| {
        Failure::Call(format!(
            "failed calling webhook \"{}\": {reason}",
            hook.name
        ))
    };
    if attributes.dry_run && !matches!(hook.side_effects.as_str(), "None" | "NoneOnDryRun") {
        let message = format!(
            "admission webhook \"{}\" does not support dry run",
            hook.name
        );
        return Err(Failure::Status(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": "BadRequest", "code": 400,
        })));
    }
    let (uid, review) = review(hook, attributes).map_err(calling)?;
    // The API server sends the time left of the webhook's deadline, rounded up to whole seconds:
    // `timeoutSeconds` itself, since the stand-in has no shorter request deadline.
    let url = format!(
        "https://{}:{}{}?timeout={}s",
        hook.host(),
        hook.port,
        hook.path,
        hook.timeout.as_secs()
    );
    let answer = post(webhooks, hook, &url, &review).await;
    let response = answer.and_then(|body| verify(&uid, hook.mutating, &body));
    calls.lock().unwrap().push(Call {
        webhook: hook.name.clone(),
        url,
        review,
        outcome: response.clone(),
    });
    let response = response.map_err(calling)?;
    for warning in response["warnings"].as_array().into_iter().flatten() {
        warnings
            .lock()
            .unwrap()
            .add(warning.as_str().unwrap_or_default());
    }
    if response["allowed"] != true {
        return Err(Failure::Status(to_status_err(
            &hook.name,
            response.get("status"),
        )));
    }
    apply_patch(hook, &attributes.object, &response)
}

/// The POST: TLS to the Service name (trusting only `caBundle`), HTTP/1.1, bounded by
/// `timeoutSeconds`. Errors read as client-go's: `failed to call webhook: Post "<url>": <cause>`.
async fn post(
    webhooks: &Webhooks,
    hook: &Webhook,
    url: &str,
    review: &Value,
) -> Result<Value, String> {
    let failed = |cause: String| format!("failed to call webhook: Post \"{url}\": {cause}");
    let Some(addr) = webhooks.endpoints.get(&hook.service).copied() else {
        return Err(failed(format!(
            "dial tcp: lookup {}: no such host",
            hook.host()
        )));
    };
    let mut client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .http1_only()
        .no_proxy()
        .timeout(hook.timeout)
        .resolve(&hook.host(), addr);
    for cert in reqwest::Certificate::from_pem_bundle(&hook.ca_bundle).expect("caBundle is PEM") {
        client = client.add_root_certificate(cert);
    }
    let client = client.build().expect("webhook client");
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, */*")
        .body(review.to_string())
        .send()
        .await;
    let response = sent.map_err(|e| failed(cause(&e, addr)))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| failed(cause(&e, addr)))?;
    if status != 200 {
        // client-go turns a non-2xx answer into a StatusError; this wording is the stand-in's.
        let first_line = body.lines().next().unwrap_or_default();
        return Err(format!(
            "failed to call webhook: the server responded with status {status}: {first_line}"
        ));
    }
    serde_json::from_str(&body).map_err(|e| format!("failed to call webhook: {e}"))
}

/// The Go wording of a transport error: `context deadline exceeded` for the timeout (the
/// request's context ran out), `dial tcp <addr>: connect: connection refused` for a closed port.
fn cause(error: &reqwest::Error, addr: SocketAddr) -> String {
    if error.is_timeout() {
        return "context deadline exceeded".to_owned();
    }
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return format!("dial tcp {addr}: connect: connection refused");
        }
        source = e.source();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text = format!("{text}: {e}");
        source = e.source();
    }
    text
}

/// `VerifyAdmissionResponse`: v1 answers need the same uid, `admission.k8s.io/v1`
/// `AdmissionReview`, and patch and patchType together (none at all from a validating webhook);
/// v1beta1 answers are checked for a response only. Returns `response`.
pub fn verify(uid: &str, mutating: bool, body: &Value) -> Result<Value, String> {
    let invalid = |e: String| format!("received invalid webhook response: {e}");
    let response = body
        .get("response")
        .filter(|r| r.is_object())
        .ok_or_else(|| invalid("webhook response was absent".to_owned()))?;
    if body["apiVersion"] == "admission.k8s.io/v1beta1" {
        return Ok(response.clone());
    }
    let got_uid = response["uid"].as_str().unwrap_or_default();
    if got_uid != uid {
        return Err(invalid(format!(
            "expected response.uid=\"{uid}\", got \"{got_uid}\""
        )));
    }
    if body["apiVersion"] != "admission.k8s.io/v1" || body["kind"] != "AdmissionReview" {
        return Err(invalid(format!(
            "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {}, Kind={}",
            body["apiVersion"].as_str().unwrap_or_default(),
            body["kind"].as_str().unwrap_or_default()
        )));
    }
    let has_patch = response["patch"].as_str().is_some_and(|p| !p.is_empty());
    let patch_type = response.get("patchType").filter(|t| !t.is_null());
    let problem = match (mutating, has_patch, patch_type) {
        (true, true, None) => {
            Some("webhook returned response.patch but not response.patchType".to_owned())
        }
        (true, false, Some(_)) => {
            Some("webhook returned response.patchType but not response.patch".to_owned())
        }
        (true, _, Some(t)) if t == "" => {
            Some("webhook returned invalid response.patchType of \"\"".to_owned())
        }
        (false, true, _) => Some("validating webhook may not return response.patch".to_owned()),
        (false, _, Some(_)) => {
            Some("validating webhook may not return response.patchType".to_owned())
        }
        _ => None,
    };
    problem.map_or_else(|| Ok(response.clone()), |p| Err(invalid(p)))
}

/// A mutating webhook's JSONPatch applied to `object` (`None`: no patch, or an empty one).
fn apply_patch(hook: &Webhook, object: &Value, response: &Value) -> Result<Option<Value>, Failure> {
    let Some(encoded) = response["patch"]
        .as_str()
        .filter(|p| !p.is_empty() && hook.mutating)
    else {
        return Ok(None);
    };
    let calling = |reason: String| {
        Failure::Call(format!(
            "failed calling webhook \"{}\": {reason}",
            hook.name
        ))
    };
    let undecodable = |e: String| {
        calling(format!(
            "received undecodable patch in webhook response: {e}"
        ))
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| undecodable(e.to_string()))?;
    let patch: json_patch::Patch =
        serde_json::from_slice(&bytes).map_err(|e| undecodable(e.to_string()))?;
    if patch.0.is_empty() {
        return Ok(None);
    }
    // v1beta1 answers are pinned to JSONPatch; v1 answers must say so.
    let patch_type = response["patchType"].as_str().unwrap_or("JSONPatch");
    if patch_type != "JSONPatch" {
        return Err(calling(format!("unsupported patch type \"{patch_type}\"")));
    }
    let mut patched = object.clone();
    match json_patch::patch(&mut patched, &patch) {
        Ok(()) => Ok(Some(patched)),
        // Not a call error: an internal error whatever the failurePolicy.
        Err(e) => Err(Failure::Status(internal_error(&e.to_string()))),
    }
}
