//! Our own small AdmissionReview envelope types (`admission.k8s.io/v1` and `v1beta1`).
//!
//! Why not kube-core's: we must echo the request's apiVersion, and the validating answer must be
//! unable to carry a patch (a patch from a validating webhook is an invalid v1 response). So there
//! are two answer types: [`ValidatingResponse`] has no patch fields at all, and
//! [`MutatingResponse`] adds them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::ingress::{DecodedIngress, Ingress, IngressVersion, Str, one_line};
use crate::rules::{Endpoint, ObjectInput, Operation};

/// The AdmissionReview versions the API server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewVersion {
    V1,
    V1beta1,
}

impl ReviewVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            Self::V1 => "admission.k8s.io/v1",
            Self::V1beta1 => "admission.k8s.io/v1beta1",
        }
    }

    fn from_api_version(api_version: &str) -> Option<Self> {
        match api_version {
            "admission.k8s.io/v1" => Some(Self::V1),
            "admission.k8s.io/v1beta1" => Some(Self::V1beta1),
            _ => None,
        }
    }
}

/// Why a body is not an AdmissionReview we can answer at all (HTTP 400). One line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// The outer shape, read when [`WellFormedReview`] could not be, so that a readable uid still
/// gets a proper answer when the rest of the request is malformed. `request` stays raw text: it
/// is read once more, straight into a [`TextRequest`], to say what is wrong with it.
#[derive(Deserialize)]
struct RawReview<'a> {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(borrow)]
    request: Option<&'a RawValue>,
}

/// The whole review in one pass, for the common case of a well-formed body; anything it cannot
/// read goes through [`RawReview`] again, which tells exactly what is wrong. `R` is the request
/// with its objects as text ([`TextRequest`]) or read as v1 Ingresses ([`V1Request`]).
#[derive(Deserialize)]
struct WellFormedReview<R> {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<ObjectRequest<R>>,
}

/// A request read only from a JSON object: serde would also read one from an array, field by
/// field, and take a uid from whatever comes first.
struct ObjectRequest<R>(R);

impl<'de, R: Deserialize<'de>> Deserialize<'de> for ObjectRequest<R> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<R>(std::marker::PhantomData<R>);
        impl<'de, R: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<R> {
            type Value = ObjectRequest<R>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an AdmissionReview request object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ObjectRequest<R>, A::Error> {
                R::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ObjectRequest)
            }
        }
        deserializer.deserialize_map(ObjectOnly(std::marker::PhantomData))
    }
}

/// `request.kind` / `request.resource`: group, version and kind (or resource).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GroupVersionKind<'a> {
    #[serde(borrow)]
    pub group: Str<'a>,
    #[serde(borrow)]
    pub version: Str<'a>,
    #[serde(borrow)]
    pub kind: Str<'a>,
}

impl GroupVersionKind<'_> {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.as_str().to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserInfo<'a> {
    #[serde(borrow)]
    pub username: Str<'a>,
    pub groups: Vec<String>,
}

/// The parts of `request` we read. Secret-free by construction: only the Ingress objects are
/// carried, and they are never logged.
#[derive(Debug, Clone)]
pub struct AdmissionRequest<'a> {
    pub uid: Str<'a>,
    pub kind: GroupVersionKind<'a>,
    pub namespace: Option<Str<'a>>,
    pub name: Option<Str<'a>>,
    pub operation: OperationName,
    pub user_info: UserInfo<'a>,
    /// Borrowed from the body as text, or already read as a v1 Ingress (`/validate`): the
    /// admission function decodes only what the rules read.
    pub object: Option<ObjectInput<'a>>,
    pub old_object: Option<ObjectInput<'a>>,
    pub dry_run: Option<bool>,
}

/// `request` as it is read, its objects of type `O`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestFields<'a, O> {
    #[serde(borrow)]
    uid: Str<'a>,
    #[serde(default, borrow)]
    kind: GroupVersionKind<'a>,
    #[serde(default, borrow)]
    namespace: Option<Str<'a>>,
    #[serde(default, borrow)]
    name: Option<Str<'a>>,
    operation: OperationName,
    #[serde(default, borrow)]
    user_info: UserInfo<'a>,
    object: Option<O>,
    old_object: Option<O>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// The objects as raw JSON text borrowed from the body (not copied).
type TextRequest<'a> = RequestFields<'a, &'a RawValue>;

/// The objects read as `networking.k8s.io/v1` Ingresses while the envelope is read.
type V1Request<'a> = RequestFields<'a, Ingress<'a>>;

impl<'a, O> RequestFields<'a, O> {
    /// The request with its objects turned into what the admission function takes; the first
    /// object `object` refuses is the error.
    fn with_objects<E>(
        self,
        mut object: impl FnMut(O) -> Result<ObjectInput<'a>, E>,
    ) -> Result<AdmissionRequest<'a>, E> {
        Ok(AdmissionRequest {
            object: self.object.map(&mut object).transpose()?,
            old_object: self.old_object.map(&mut object).transpose()?,
            uid: self.uid,
            kind: self.kind,
            namespace: self.namespace,
            name: self.name,
            operation: self.operation,
            user_info: self.user_info,
            dry_run: self.dry_run,
        })
    }
}

impl<'a> From<TextRequest<'a>> for AdmissionRequest<'a> {
    fn from(request: TextRequest<'a>) -> Self {
        let Ok(request) =
            request.with_objects(|text| Ok::<_, std::convert::Infallible>(ObjectInput::Text(text)));
        request
    }
}

/// `request.operation` as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OperationName {
    #[serde(rename = "CREATE")]
    Create,
    #[serde(rename = "UPDATE")]
    Update,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "CONNECT")]
    Connect,
}

impl From<OperationName> for Operation {
    fn from(op: OperationName) -> Self {
        match op {
            OperationName::Create => Self::Create,
            OperationName::Update => Self::Update,
            OperationName::Delete => Self::Delete,
            OperationName::Connect => Self::Connect,
        }
    }
}

/// A parsed review: its version, and either a readable request or the uid of an unreadable one.
#[derive(Debug, Clone)]
pub struct ParsedReview<'a> {
    pub version: ReviewVersion,
    pub request: Result<AdmissionRequest<'a>, MalformedRequest>,
}

/// A `request` whose uid we could read but whose other fields are malformed: answered with a deny
/// carrying that uid (an answer without the uid would be an invalid v1 response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRequest {
    pub uid: String,
    pub reason: String,
}

/// Parses a request body. `Err` means HTTP 400 with the one-line reason.
///
/// On `/validate` a `networking.k8s.io/v1` Ingress (what current API servers send) is read with
/// the envelope, in one pass over the body; another version, or an object that does not read,
/// is taken as text and decoded (or explained) by the admission function.
pub fn parse_review(body: &[u8], endpoint: Endpoint) -> Result<ParsedReview<'_>, Unreadable> {
    if endpoint == Endpoint::Validate
        && let Some(parsed) = read_v1_objects(body)
    {
        return Ok(parsed);
    }
    // One pass over the body when it is well formed (nearly always); a second only to explain.
    if let Ok(review) = serde_json::from_slice::<WellFormedReview<TextRequest>>(body) {
        let version = review_version(review.api_version, review.kind.as_deref())?;
        let request = match review.request {
            Some(ObjectRequest(request)) if !request.uid.is_empty() => request,
            Some(_) => return Err(Unreadable("AdmissionReview request has no uid".into())),
            None => return Err(Unreadable("AdmissionReview has no request".into())),
        };
        return Ok(ParsedReview {
            version,
            request: Ok(request.into()),
        });
    }
    let raw: RawReview = serde_json::from_slice(body).map_err(|e| {
        Unreadable(format!(
            "body is not an AdmissionReview JSON object: {}",
            one_line(&e.to_string())
        ))
    })?;
    let version = review_version(raw.api_version, raw.kind.as_deref())?;
    let request = raw
        .request
        .ok_or_else(|| Unreadable("AdmissionReview has no request".into()))?;
    let request = match serde_json::from_str::<ObjectRequest<TextRequest>>(request.get()) {
        Ok(ObjectRequest(request)) if !request.uid.is_empty() => Ok(request.into()),
        Ok(_) => return Err(Unreadable("AdmissionReview request has no uid".into())),
        Err(e) => Err(malformed(request, &e)?),
    };
    Ok(ParsedReview { version, request })
}

/// An object in another version than `networking.k8s.io/v1`.
struct NotV1;

/// A well-formed review whose objects are all v1 Ingresses, read in the same pass as the
/// envelope; `None` sends the body down the text path (which says what is wrong, if anything).
fn read_v1_objects(body: &[u8]) -> Option<ParsedReview<'_>> {
    let review = serde_json::from_slice::<WellFormedReview<V1Request>>(body).ok()?;
    let version = review_version(review.api_version, review.kind.as_deref()).ok()?;
    let ObjectRequest(request) = review.request?;
    if request.uid.is_empty() {
        return None;
    }
    // Without an apiVersion the object is taken to be in the version the request names.
    let assume_v1 = request.kind.group == "networking.k8s.io" && request.kind.version == "v1";
    let request = request
        .with_objects(|ingress| {
            if !ingress.is_v1(assume_v1) {
                return Err(NotV1);
            }
            Ok::<_, NotV1>(ObjectInput::Read(Box::new(DecodedIngress {
                ingress,
                version: IngressVersion::NetworkingV1,
            })))
        })
        .ok()?;
    Some(ParsedReview {
        version,
        request: Ok(request),
    })
}

/// The review's version from its `apiVersion`, once `kind` says it is an AdmissionReview.
fn review_version(
    api_version: Option<String>,
    kind: Option<&str>,
) -> Result<ReviewVersion, Unreadable> {
    let api_version =
        api_version.ok_or_else(|| Unreadable("AdmissionReview has no apiVersion".into()))?;
    let version = ReviewVersion::from_api_version(&api_version).ok_or_else(|| {
        Unreadable(format!(
            "unsupported AdmissionReview apiVersion {:?}; expected admission.k8s.io/v1 or v1beta1",
            truncate(&api_version)
        ))
    })?;
    match kind {
        Some("AdmissionReview") => Ok(version),
        Some(other) => Err(Unreadable(format!(
            "kind {:?} is not AdmissionReview",
            truncate(other)
        ))),
        None => Err(Unreadable("AdmissionReview has no kind".into())),
    }
}

/// The deny for a request that is not a valid [`AdmissionRequest`], or `Unreadable` when even
/// its uid cannot be read (an answer must echo the uid).
fn malformed(
    request: &RawValue,
    error: &serde_json::Error,
) -> Result<MalformedRequest, Unreadable> {
    let request: Value = serde_json::from_str(request.get()).unwrap_or_default();
    match request.get("uid") {
        Some(Value::String(uid)) if !uid.is_empty() => Ok(MalformedRequest {
            uid: uid.clone(),
            reason: format!(
                "the AdmissionReview request is malformed: {}",
                one_line(&error.to_string())
            ),
        }),
        _ => Err(Unreadable("AdmissionReview request has no uid".into())),
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// `response.status` on a deny.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Always `Failure` on a deny.
    pub status: &'static str,
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl Status {
    /// The default deny: problems in the Ingress are `400 BadRequest`.
    pub fn bad_request(message: String) -> Self {
        Self {
            status: "Failure",
            code: 400,
            reason: "BadRequest",
            message,
        }
    }
}

/// The answer of the validating endpoint. It has no patch field, so it cannot carry one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidatingResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Written to the API server's audit log as `<webhook name>/<key>`.
    #[serde(
        rename = "auditAnnotations",
        skip_serializing_if = "AuditAnnotations::is_empty"
    )]
    pub audit_annotations: AuditAnnotations,
}

/// `response.auditAnnotations`: the ids of the rules that found something, so an audit log
/// shows which rule denied or warned (`rules: host-grammar,https-only`), and what the Ingress's
/// skip annotation skipped (`skipped: host-grammar: legacy host`). The API server writes each as
/// `<webhook name>/<key>` and drops a key that is not a qualified name then, so keys have no `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditAnnotations {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rules: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub skipped: String,
}

impl AuditAnnotations {
    fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.skipped.is_empty()
    }
}

impl ValidatingResponse {
    pub fn allow(uid: &str) -> Self {
        Self {
            uid: uid.to_owned(),
            allowed: true,
            status: None,
            warnings: Vec::new(),
            audit_annotations: AuditAnnotations::default(),
        }
    }

    pub fn deny(uid: &str, message: String) -> Self {
        Self {
            status: Some(Status::bad_request(message)),
            allowed: false,
            ..Self::allow(uid)
        }
    }

    #[must_use]
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    /// Names the rules that found something in the audit log.
    #[must_use]
    pub fn with_rules(mut self, rule_ids: &[&str]) -> Self {
        self.audit_annotations.rules = rule_ids.join(",");
        self
    }

    /// Records in the audit log what the Ingress's skip annotation skipped (rule ids and
    /// reason, one line); nothing when empty.
    #[must_use]
    pub fn with_skipped(mut self, summary: String) -> Self {
        self.audit_annotations.skipped = summary;
        self
    }
}

/// The answer of the mutating endpoint: a validating answer plus an optional JSONPatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MutatingResponse {
    #[serde(flatten)]
    pub answer: ValidatingResponse,
    /// Base64 of an RFC 6902 JSON array; always together with `patch_type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(rename = "patchType", skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
}

impl MutatingResponse {
    pub fn without_patch(answer: ValidatingResponse) -> Self {
        Self {
            answer,
            patch: None,
            patch_type: None,
        }
    }

    /// Attaches a JSON patch; an empty patch is left out (a patch on an unchanged object is noise).
    pub fn with_patch(answer: ValidatingResponse, patch: &json_patch::Patch) -> Self {
        use base64::Engine as _;
        if patch.0.is_empty() {
            return Self::without_patch(answer);
        }
        match serde_json::to_vec(patch) {
            Ok(bytes) => Self {
                answer,
                patch: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                patch_type: Some("JSONPatch"),
            },
            Err(_) => Self::without_patch(answer),
        }
    }
}

/// The AdmissionReview we send back: same apiVersion as the request, kind `AdmissionReview`.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewResponse<R> {
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    pub kind: &'static str,
    pub response: R,
}

impl<R> ReviewResponse<R> {
    pub fn new(version: ReviewVersion, response: R) -> Self {
        Self {
            api_version: version.api_version(),
            kind: "AdmissionReview",
            response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: &Value) -> Vec<u8> {
        serde_json::to_vec(value).unwrap()
    }

    #[test]
    fn reads_v1_and_v1beta1() {
        for (api, version) in [
            ("admission.k8s.io/v1", ReviewVersion::V1),
            ("admission.k8s.io/v1beta1", ReviewVersion::V1beta1),
        ] {
            let input = body(&json!({
                "apiVersion": api, "kind": "AdmissionReview",
                "request": {"uid": "u1", "operation": "CREATE",
                            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}}
            }));
            for endpoint in ENDPOINTS {
                let parsed = parse_review(&input, endpoint).unwrap();
                assert_eq!(parsed.version, version);
                let request = parsed.request.unwrap();
                assert_eq!(request.uid, "u1");
                assert_eq!(request.kind.api_version(), "networking.k8s.io/v1");
            }
        }
    }

    const ENDPOINTS: [Endpoint; 2] = [Endpoint::Validate, Endpoint::Mutate];

    fn review_of(object: &Value, old_object: &Value) -> Vec<u8> {
        body(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u1", "operation": "UPDATE", "object": object, "oldObject": old_object,
                        "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}}
        }))
    }

    #[test]
    fn on_mutate_the_object_is_its_text_in_the_body() {
        let object = json!({"metadata": {"annotations": {"a": "say \"hi\"\n\u{e9}"}}});
        let input = review_of(&object, &Value::Null);
        let request = parse_review(&input, Endpoint::Mutate)
            .unwrap()
            .request
            .unwrap();
        let Some(ObjectInput::Text(text)) = request.object else {
            panic!("/mutate patches the text, so it must get it");
        };
        assert_eq!(serde_json::from_str::<Value>(text.get()).unwrap(), object);
        assert!(request.old_object.is_none());
    }

    #[test]
    fn on_validate_v1_objects_are_read_with_the_envelope() {
        fn read(input: Option<ObjectInput<'_>>) -> Ingress<'_> {
            match input {
                Some(ObjectInput::Read(decoded)) => decoded.ingress,
                other => panic!("not read in the envelope's pass: {other:?}"),
            }
        }
        let object = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                            "metadata": {"name": "web", "annotations": {"a": "say \"hi\""}},
                            "spec": {"rules": [{"host": "a.example.com"}]}});
        // Without an apiVersion an object is in the request's version (v1 here).
        let old = json!({"metadata": {"name": "web"}});
        let input = review_of(&object, &old);
        let request = parse_review(&input, Endpoint::Validate)
            .unwrap()
            .request
            .unwrap();
        let ingress = read(request.object);
        let annotations = ingress.metadata.annotations.unwrap();
        assert_eq!(annotations.get("a").unwrap(), "say \"hi\"");
        let host = ingress.spec.unwrap().rules.unwrap()[0].host.clone();
        assert_eq!(host.as_deref(), Some("a.example.com"));
        assert_eq!(
            read(request.old_object).metadata.name.as_deref(),
            Some("web")
        );
    }

    #[test]
    fn on_validate_other_versions_and_unreadable_objects_stay_text() {
        let v1 = json!({"apiVersion": "networking.k8s.io/v1", "metadata": {"name": "web"}});
        let beta = json!({"apiVersion": "extensions/v1beta1", "metadata": {"name": "web"}});
        let broken = json!({"apiVersion": "networking.k8s.io/v1", "spec": {"rules": "nope"}});
        // One object that cannot be read as v1 sends both objects down the text path, where the
        // admission function decodes the other versions and says what is wrong with the rest.
        for (object, old) in [(&beta, &Value::Null), (&broken, &Value::Null), (&v1, &beta)] {
            let input = review_of(object, old);
            let request = parse_review(&input, Endpoint::Validate)
                .unwrap()
                .request
                .unwrap();
            let Some(ObjectInput::Text(text)) = request.object else {
                panic!("{object} was read as v1");
            };
            assert_eq!(&serde_json::from_str::<Value>(text.get()).unwrap(), object);
        }
    }

    #[test]
    fn unreadable_bodies_have_one_line_reasons() {
        let cases = [
            (b"not json".to_vec(), "not an AdmissionReview JSON"),
            (
                body(&json!({"kind": "AdmissionReview", "request": {"uid": "u"}})),
                "no apiVersion",
            ),
            (
                body(&json!({"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview"})),
                "unsupported AdmissionReview apiVersion",
            ),
            (
                body(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "Pod"})),
                "is not AdmissionReview",
            ),
            (
                body(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})),
                "no request",
            ),
            (
                body(
                    &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                             "request": {"operation": "CREATE"}}),
                ),
                "no uid",
            ),
        ];
        for ((input, expected), endpoint) in cases.iter().flat_map(|c| ENDPOINTS.map(|e| (c, e))) {
            let err = parse_review(input, endpoint).unwrap_err();
            assert!(err.0.contains(expected), "{err} lacks {expected}");
            assert!(!err.0.contains('\n'));
        }
    }

    #[test]
    fn a_request_that_is_not_an_object_has_no_uid() {
        // serde reads a struct from an array too; the uid must come from a `uid` key.
        for request in [json!(["u1", {}, null, null, "CREATE"]), json!(["u1"])] {
            let input = body(&json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request
            }));
            for endpoint in ENDPOINTS {
                let err = parse_review(&input, endpoint).unwrap_err();
                assert!(err.0.contains("no uid"), "{err}");
            }
        }
    }

    #[test]
    fn malformed_request_with_uid_keeps_the_uid() {
        let input = body(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u9", "operation": "EXPLODE"}
        }));
        for endpoint in ENDPOINTS {
            let parsed = parse_review(&input, endpoint).unwrap();
            let err = parsed.request.unwrap_err();
            assert_eq!(err.uid, "u9");
            assert!(err.reason.contains("malformed"), "{}", err.reason);
        }
    }

    #[test]
    fn validating_response_has_no_patch_and_mutating_response_encodes_one() {
        use base64::Engine as _;
        let deny = ValidatingResponse::deny("u", "spec: bad".into());
        let v = serde_json::to_value(ReviewResponse::new(ReviewVersion::V1, &deny)).unwrap();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["response"]["status"]["code"], 400);
        assert_eq!(v["response"]["status"]["reason"], "BadRequest");
        assert!(v["response"].get("patch").is_none());
        assert!(v["response"].get("warnings").is_none());
        assert!(v["response"].get("auditAnnotations").is_none());
        let named = deny.with_rules(&["host-grammar", "https-only"]);
        let v = serde_json::to_value(ReviewResponse::new(ReviewVersion::V1, &named)).unwrap();
        assert_eq!(
            v["response"]["auditAnnotations"],
            json!({"rules": "host-grammar,https-only"})
        );
        let skipped = ValidatingResponse::allow("u").with_skipped("host-grammar: legacy".into());
        let v = serde_json::to_value(ReviewResponse::new(ReviewVersion::V1, &skipped)).unwrap();
        assert_eq!(
            v["response"]["auditAnnotations"],
            json!({"skipped": "host-grammar: legacy"})
        );

        let patch: json_patch::Patch =
            serde_json::from_value(json!([{"op": "add", "path": "/a", "value": 1}])).unwrap();
        let m = MutatingResponse::with_patch(ValidatingResponse::allow("u"), &patch);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["patchType"], "JSONPatch");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(v["patch"].as_str().unwrap())
            .unwrap();
        let back: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(back[0]["path"], "/a");

        let empty = MutatingResponse::with_patch(
            ValidatingResponse::allow("u"),
            &json_patch::Patch(vec![]),
        );
        assert!(serde_json::to_value(&empty).unwrap().get("patch").is_none());
    }
}
