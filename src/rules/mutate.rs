//! The mutating side: JSON patch operations that canonicalise what is safe to fix in a qcloud
//! Ingress, with one warning per change.
//!
//! Works on the raw object JSON exactly as the API server sent it (in whatever Ingress apiVersion),
//! because the API server applies the patch to that object. Callers decide whether the Ingress is
//! ours; this module decides what to change:
//!
//! - boolean annotations written as `True`, `TRUE`, ` false ` and the like become `"true"` /
//!   `"false"` (other spellings such as `"yes"` or `"1"` stay validation findings: guessing their
//!   meaning is not safe);
//! - surrounding whitespace in annotation values under the TKE prefixes and in `qcloud_cert_id`
//!   is trimmed, except in JSON values (whitespace around JSON is harmless), the class annotation (a patch never changes which controller owns an
//!   Ingress) and values that are only whitespace (trimming `security-groups: " "` to `""` would
//!   unbind every security group);
//! - `servicePort` numbers inside `http-rules` / `https-rules` become strings, as TKE documents
//!   them; the rest of the annotation text is kept byte for byte;
//! - a `networking.k8s.io/v1` path without `pathType` gets `ImplementationSpecific`, the type every
//!   TKE example uses. v1beta1 objects are left alone: the API server defaults their `pathType` to
//!   `ImplementationSpecific` itself, so a patch there would be redundant.
//!
//! On UPDATE the create-only annotations (`existLbId`, `subnetId`, charge type, ...) are left as
//! they are: TKE reads them only when it creates the CLB, so a trimmed value would change nothing
//! but would look like an edit TKE ignores.
//!
//! Every change is idempotent (a patched object needs no further patch), only `replace`s an
//! existing annotation value or `add`s a missing `pathType`, and is never made on DELETE or CONNECT.

use std::collections::BTreeMap;

use crate::ingress::view::Ingress;
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use super::Operation;
use super::annotations::{self, CLASS, HTTP_RULES, HTTPS_RULES, QCLOUD_CERT_ID, TKE_PREFIXES};
use crate::ingress::IngressVersion;
use crate::text::{MAX_WARNING_CHARS, shorten};

/// What `pathType` a v1 path without one gets.
pub const DEFAULT_PATH_TYPE: &str = "ImplementationSpecific";

/// The patch for one object and one warning per change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mutation {
    pub patch: Patch,
    /// One line each, at most 120 characters, e.g.
    /// `patched metadata.annotations[kubernetes.io/ingress.rule-mix]: "True" -> "true"`.
    pub warnings: Vec<String>,
    /// The patch's changes, to make on a decoded Ingress ([`Mutation::apply`]).
    edits: Vec<Edit>,
}

/// One change of the patch.
#[derive(Debug, Clone, PartialEq)]
enum Edit {
    Annotation { key: String, value: String },
    PathType { rule: usize, path: usize },
}

impl Mutation {
    pub fn is_empty(&self) -> bool {
        self.patch.0.is_empty()
    }

    /// Makes the patch's changes on `ingress`, the object decoded from the text the patch is for
    /// (its v1 shape: rules and paths keep their indices, annotations their keys).
    pub fn apply(&self, ingress: &mut Ingress<'_>) {
        for edit in &self.edits {
            match edit {
                Edit::Annotation { key, value } => {
                    ingress
                        .metadata
                        .annotations
                        .get_or_insert_default()
                        .insert(key.clone().into(), value.clone().into());
                }
                Edit::PathType { rule, path } => {
                    let path = ingress
                        .spec
                        .as_mut()
                        .and_then(|spec| spec.rules.as_mut()?.get_mut(*rule))
                        .and_then(|rule| rule.http.as_mut()?.paths.get_mut(*path));
                    if let Some(path) = path {
                        path.path_type = DEFAULT_PATH_TYPE.into();
                    }
                }
            }
        }
    }
}

/// The parts of an Ingress the patches read, decoded from its text with everything else skipped
/// unread: a review's `managedFields`, backends and TLS cost nothing here, so `/mutate` needs
/// little more memory than `/validate` (tests/review_memory.rs). Type mismatches the API server
/// would have refused make it `None`: no patch.
#[derive(Debug, Default, Deserialize)]
pub struct Patchable {
    #[serde(default)]
    metadata: PatchableMetadata,
    #[serde(default)]
    spec: Option<PatchableSpec>,
}

#[derive(Debug, Default, Deserialize)]
struct PatchableMetadata {
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
struct PatchableSpec {
    #[serde(default)]
    rules: Option<Vec<PatchableRule>>,
}

#[derive(Debug, Default, Deserialize)]
struct PatchableRule {
    #[serde(default)]
    http: Option<PatchableHttp>,
}

#[derive(Debug, Default, Deserialize)]
struct PatchableHttp {
    #[serde(default)]
    paths: Option<Vec<PatchablePath>>,
}

#[derive(Debug, Default, Deserialize)]
struct PatchablePath {
    /// Present and not null.
    #[serde(default, rename = "pathType")]
    path_type: Option<IgnoredAny>,
}

impl Patchable {
    /// The patchable parts of the object text `text`.
    pub fn read(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    fn annotations(&self) -> impl Iterator<Item = (&String, &String)> {
        self.metadata.annotations.iter().flatten()
    }

    /// `(rule, path, has pathType)` of each path.
    fn paths(&self) -> impl Iterator<Item = (usize, usize, bool)> {
        let rules = self.spec.iter().flat_map(|s| s.rules.iter().flatten());
        rules.enumerate().flat_map(|(r, rule)| {
            let paths = rule.http.iter().flat_map(|h| h.paths.iter().flatten());
            paths
                .enumerate()
                .map(move |(p, path)| (r, p, path.path_type.is_some()))
        })
    }
}

/// The canonicalising patch for a raw Ingress object of `version` under review by `operation`.
pub fn canonicalise(operation: Operation, version: IngressVersion, object: &Patchable) -> Mutation {
    let mut mutation = Mutation::default();
    if !matches!(operation, Operation::Create | Operation::Update) {
        return mutation;
    }
    canonicalise_annotations(operation, object, &mut mutation);
    if version == IngressVersion::NetworkingV1 {
        add_missing_path_types(object, &mut mutation);
    }
    mutation
}

/// True for the annotations whose values this operation may change.
fn is_patched(operation: Operation, key: &str) -> bool {
    let ours = key == QCLOUD_CERT_ID || TKE_PREFIXES.iter().any(|p| key.starts_with(p));
    let create_only = annotations::known(key).is_some_and(|a| a.create_only);
    ours && key != CLASS && !(operation == Operation::Update && create_only)
}

fn canonicalise_annotations(operation: Operation, object: &Patchable, mutation: &mut Mutation) {
    for (key, value) in object.annotations() {
        let value = value.as_str();
        if !is_patched(operation, key) {
            continue;
        }
        let field = format!("metadata.annotations[{key}]");
        let trimmed = match value.trim() {
            // Whitespace only: trimming would change its meaning, validation reports it instead.
            "" => value,
            // JSON parsers skip surrounding whitespace (a YAML block scalar ends in a newline):
            // trimming it would be a change, and a warning, for nothing.
            _ if annotations::is_json(key) => value,
            trimmed => trimmed,
        };
        // `whole` is the value with every change the warning for the whole value describes;
        // servicePort edits get a warning each.
        let mut whole = trimmed.to_owned();
        let mut canonical = None;
        let mut port_warnings = Vec::new();
        if annotations::is_bool(key) {
            if let Some(boolean) = canonical_bool(trimmed) {
                boolean.clone_into(&mut whole);
            }
        } else if key == HTTP_RULES || key == HTTPS_RULES {
            let (text, ports) = stringify_service_ports(trimmed);
            for (entry, port) in ports {
                port_warnings.push(change_warning_text(
                    &format!("{field}[{entry}].backend.servicePort"),
                    &format!("{port} -> \"{port}\""),
                ));
            }
            canonical = Some(text);
        }
        let canonical = canonical.unwrap_or_else(|| whole.clone());
        if canonical == value {
            continue;
        }
        if whole != value {
            mutation
                .warnings
                .push(annotation_warning(&field, value, &whole));
        }
        mutation.warnings.extend(port_warnings);
        mutation
            .patch
            .0
            .push(PatchOperation::Replace(ReplaceOperation {
                path: PointerBuf::from_tokens(["metadata", "annotations", key.as_str()]),
                value: Value::String(canonical.clone()),
            }));
        mutation.edits.push(Edit::Annotation {
            key: key.clone(),
            value: canonical,
        });
    }
}

/// `"true"` / `"false"` for a case-insensitive spelling of either, after trimming.
fn canonical_bool(value: &str) -> Option<&'static str> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Some("true")
    } else if value.eq_ignore_ascii_case("false") {
        Some("false")
    } else {
        None
    }
}

/// The warning for an annotation whose whole value changed: the old and new value when both are
/// short, else a description of the change.
fn annotation_warning(field: &str, old: &str, new: &str) -> String {
    let quoted = format!("{old:?} -> {new:?}");
    if quoted.chars().count() <= 40 {
        return change_warning_text(field, &quoted);
    }
    if old.trim() == new {
        change_warning_text(field, "trimmed surrounding whitespace")
    } else {
        change_warning_text(field, &format!("trimmed, now {new:?}"))
    }
}

/// `patched <field>: <change>`, cut to one warning line.
fn change_warning_text(field: &str, change: &str) -> String {
    shorten(&format!("patched {field}: {change}"), MAX_WARNING_CHARS)
}

/// Rewrites integer `backend.servicePort` values in an http/https-rules annotation as strings.
/// Only the numbers change: the rest of the text (order, spacing, other entries) stays as written.
/// Text that is not a JSON array of objects is returned unchanged (a validation finding).
/// Returns the new text and, per change, the entry index and the port's digits.
fn stringify_service_ports(text: &str) -> (String, Vec<(usize, String)>) {
    let Ok(Some(entries)) = serde_json::from_str::<Option<Vec<&RawValue>>>(text) else {
        return (text.to_owned(), Vec::new());
    };
    let mut spans: Vec<(usize, &str)> = Vec::new();
    let mut changes = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(port) = integer_service_port(entry) else {
            continue;
        };
        let Some(start) = offset_in(text, port) else {
            continue;
        };
        spans.push((start, port));
        changes.push((index, port.to_owned()));
    }
    let mut out = String::with_capacity(text.len() + 2 * spans.len());
    let mut at = 0;
    for (start, port) in spans {
        out.push_str(&text[at..start]);
        out.push('"');
        out.push_str(port);
        out.push('"');
        at = start + port.len();
    }
    out.push_str(&text[at..]);
    (out, changes)
}

/// The raw text of an entry's `backend.servicePort` when it is a non-negative JSON integer.
fn integer_service_port<'a>(entry: &'a RawValue) -> Option<&'a str> {
    type Object<'a> = std::collections::BTreeMap<String, &'a RawValue>;
    let entry: Object<'a> = serde_json::from_str(entry.get()).ok()?;
    let backend: Object<'a> = serde_json::from_str(entry.get("backend")?.get()).ok()?;
    let port = backend.get("servicePort")?.get();
    port.parse::<u64>().is_ok().then_some(port)
}

/// Where `part`, a slice borrowed from `text`, starts in it.
fn offset_in(text: &str, part: &str) -> Option<usize> {
    let start = part.as_ptr().addr().checked_sub(text.as_ptr().addr())?;
    let end = start.checked_add(part.len())?;
    (text.get(start..end) == Some(part)).then_some(start)
}

fn add_missing_path_types(object: &Patchable, mutation: &mut Mutation) {
    for (r, p, has_path_type) in object.paths() {
        if has_path_type {
            continue;
        }
        let mut pointer = PointerBuf::from_tokens(["spec", "rules"]);
        pointer.push_back(r);
        pointer.push_back("http");
        pointer.push_back("paths");
        pointer.push_back(p);
        pointer.push_back("pathType");
        mutation.patch.0.push(PatchOperation::Add(AddOperation {
            path: pointer,
            value: Value::String(DEFAULT_PATH_TYPE.to_owned()),
        }));
        mutation.edits.push(Edit::PathType { rule: r, path: p });
        mutation.warnings.push(change_warning_text(
            &format!("spec.rules[{r}].http.paths[{p}].pathType"),
            &format!("added \"{DEFAULT_PATH_TYPE}\""),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;
    use serde_json::json;

    /// The patch for an object written as a JSON value.
    fn canonicalise(operation: Operation, version: IngressVersion, object: &Value) -> Mutation {
        let text = object.to_string();
        let view = Patchable::read(&text).unwrap_or_default();
        super::canonicalise(operation, version, &view)
    }

    const V1: IngressVersion = IngressVersion::NetworkingV1;
    const BETA: IngressVersion = IngressVersion::Beta1;

    fn ingress(annotations: &Value) -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "demo", "namespace": "default", "annotations": annotations},
            "spec": {"rules": [{"host": "www.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}
            ]}}]}
        })
    }

    /// The object after the patch; also checks that the patched object needs no further patch.
    fn patched(version: IngressVersion, object: &Value) -> (Value, Mutation) {
        let mutation = canonicalise(Operation::Create, version, object);
        let mut out = object.clone();
        json_patch::patch(&mut out, &mutation.patch.0).unwrap();
        for operation in [Operation::Create, Operation::Update] {
            let again = canonicalise(operation, version, &out);
            assert!(again.is_empty(), "not idempotent: {:?}", again.patch);
        }
        assert_eq!(mutation.warnings.is_empty(), mutation.is_empty());
        for warning in &mutation.warnings {
            assert!(warning.chars().count() <= 120, "{warning}");
            assert!(!warning.chars().any(char::is_control), "{warning}");
            assert!(warning.starts_with("patched "), "{warning}");
        }
        (out, mutation)
    }

    /// Patches `key: value` and returns the new value (and the warnings).
    fn annotation_after(key: &str, value: &str) -> (String, Vec<String>) {
        let object = ingress(&json!({ key: value, "kubernetes.io/ingress.class": "qcloud" }));
        let (out, mutation) = patched(V1, &object);
        // Nothing but this one annotation changed.
        let mut expected = object.clone();
        expected["metadata"]["annotations"][key] = out["metadata"]["annotations"][key].clone();
        assert_eq!(out, expected);
        let new = out["metadata"]["annotations"][key]
            .as_str()
            .unwrap()
            .to_owned();
        (new, mutation.warnings)
    }

    #[rstest]
    #[case::title_case("kubernetes.io/ingress.rule-mix", "True", "true")]
    #[case::upper_case("ingress.cloud.tencent.com/direct-access", "TRUE", "true")]
    #[case::spaces("ingress.cloud.tencent.com/rewrite-support", " true ", "true")]
    #[case::newline_false("ingress.cloud.tencent.com/auto-rewrite", "False\n", "false")]
    #[case::mixed_case("ingress.cloud.tencent.com/tke-service-config-auto", "fAlSe", "false")]
    #[case::already_canonical("kubernetes.io/ingress.rule-mix", "true", "true")]
    #[case::yes_is_a_finding("kubernetes.io/ingress.rule-mix", "yes", "yes")]
    #[case::one_is_a_finding("ingress.cloud.tencent.com/direct-access", "1", "1")]
    #[case::yes_is_only_trimmed("ingress.cloud.tencent.com/direct-access", " yes ", "yes")]
    #[case::empty_bool("ingress.cloud.tencent.com/direct-access", "", "")]
    #[case::trimmed_text(
        "ingress.cloud.tencent.com/security-groups",
        " sg-1,sg-2\n",
        "sg-1,sg-2"
    )]
    #[case::trimmed_cert_id("qcloud_cert_id", "Abcd1234\r\n", "Abcd1234")]
    #[case::trimmed_unknown_key("ingress.cloud.tencent.com/internet-charge-type", " X ", "X")]
    #[case::trimmed_ingress_prefix("kubernetes.io/ingress.existLbId", "\tlb-123 ", "lb-123")]
    #[case::whitespace_only_kept("ingress.cloud.tencent.com/security-groups", "  ", "  ")]
    #[case::inner_whitespace_kept("ingress.cloud.tencent.com/mode", "a b", "a b")]
    #[case::other_prefix_untouched("example.com/owner", " me ", " me ")]
    #[case::nginx_untouched("nginx.ingress.kubernetes.io/rewrite-target", "True ", "True ")]
    #[case::kubernetes_io_untouched("kubernetes.io/tls-acme", "True", "True")]
    fn annotation_values(#[case] key: &str, #[case] value: &str, #[case] expected: &str) {
        let (new, warnings) = annotation_after(key, value);
        assert_eq!(new, expected);
        assert_eq!(
            warnings.len(),
            usize::from(value != expected),
            "{warnings:?}"
        );
        if let Some(warning) = warnings.first() {
            assert!(warning.contains(key), "{warning}");
        }
    }

    #[test]
    fn warnings_name_the_field_and_both_values() {
        let (_, warnings) = annotation_after("kubernetes.io/ingress.rule-mix", "True");
        assert_eq!(
            warnings,
            [r#"patched metadata.annotations[kubernetes.io/ingress.rule-mix]: "True" -> "true""#]
        );
        let long = format!("  {}  ", "sg-1,".repeat(30));
        let (_, warnings) = annotation_after("ingress.cloud.tencent.com/security-groups", &long);
        assert_eq!(
            warnings,
            [
                "patched metadata.annotations[ingress.cloud.tencent.com/security-groups]: trimmed surrounding whitespace"
            ]
        );
    }

    #[test]
    fn create_only_annotations_are_patched_on_create_only() {
        let object = ingress(&json!({
            "kubernetes.io/ingress.existLbId": "lb-123 ",
            "ingress.cloud.tencent.com/enable-group": "True",
            "kubernetes.io/ingress.rule-mix": "True",
        }));
        assert_eq!(
            canonicalise(Operation::Create, V1, &object).patch.0.len(),
            3
        );
        let update = canonicalise(Operation::Update, V1, &object);
        let wire = serde_json::to_value(&update.patch).unwrap();
        assert_eq!(
            wire,
            json!([{"op": "replace", "value": "true",
                    "path": "/metadata/annotations/kubernetes.io~1ingress.rule-mix"}])
        );
    }

    #[test]
    fn the_class_annotation_is_never_changed() {
        let object = ingress(&json!({"kubernetes.io/ingress.class": " qcloud "}));
        assert!(canonicalise(Operation::Create, V1, &object).is_empty());
    }

    #[rstest]
    #[case::number(r#"[{"host":"a.example.com","path":"/","backend":{"serviceName":"web","servicePort":80}}]"#,
        r#"[{"host":"a.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#, 1)]
    #[case::layout_and_other_entries_kept(
        "[\n  {\"backend\": {\"servicePort\": \"443\", \"serviceName\": \"a\"}},\n  {\"path\": \"/b\", \"backend\": {\"serviceName\": \"b\", \"servicePort\" :  8080 }},\n  {\"rewrite\": {\"port\": 443}}\n]\n",
        "[\n  {\"backend\": {\"servicePort\": \"443\", \"serviceName\": \"a\"}},\n  {\"path\": \"/b\", \"backend\": {\"serviceName\": \"b\", \"servicePort\" :  \"8080\" }},\n  {\"rewrite\": {\"port\": 443}}\n]\n",
        1
    )]
    #[case::two_numbers(
        r#"[{"backend":{"servicePort":80}},{"backend":{"servicePort":81}}]"#,
        r#"[{"backend":{"servicePort":"80"}},{"backend":{"servicePort":"81"}}]"#,
        2
    )]
    #[case::strings_kept(
        r#"[{"backend":{"servicePort":"80"}}]"#,
        r#"[{"backend":{"servicePort":"80"}}]"#,
        0
    )]
    #[case::null_kept("null", "null", 0)]
    #[case::whitespace_around_json_kept(" null\n", " null\n", 0)]
    #[case::broken_json_kept(
        r#"[{"backend":{"servicePort":80}"#,
        r#"[{"backend":{"servicePort":80}"#,
        0
    )]
    #[case::object_not_array_kept(
        r#"{"backend":{"servicePort":80}}"#,
        r#"{"backend":{"servicePort":80}}"#,
        0
    )]
    #[case::negative_and_float_kept(
        r#"[{"backend":{"servicePort":-1}},{"backend":{"servicePort":8.5}}]"#,
        r#"[{"backend":{"servicePort":-1}},{"backend":{"servicePort":8.5}}]"#,
        0
    )]
    #[case::non_object_entries_kept(
        r#"[1, "x", {"backend": 7}, {"backend":{"servicePort":80}}]"#,
        r#"[1, "x", {"backend": 7}, {"backend":{"servicePort":"80"}}]"#,
        1
    )]
    fn service_ports_become_strings(
        #[case] value: &str,
        #[case] expected: &str,
        #[case] warning_count: usize,
    ) {
        for key in [HTTP_RULES, HTTPS_RULES] {
            let (new, warnings) = annotation_after(key, value);
            assert_eq!(new, expected);
            assert_eq!(warnings.len(), warning_count, "{warnings:?}");
        }
    }

    #[test]
    fn service_port_warnings_point_into_the_annotation() {
        let value = r#"[{"backend":{"servicePort":"80"}},{"backend":{"servicePort":8080}}]"#;
        let (_, warnings) = annotation_after(HTTPS_RULES, &format!("{value}\n"));
        assert_eq!(
            warnings,
            [
                r#"patched metadata.annotations[kubernetes.io/ingress.https-rules][1].backend.servicePort: 8080 -> "8080""#,
            ]
        );
    }

    fn with_paths(api_version: &str, paths: &Value) -> Value {
        json!({
            "apiVersion": api_version,
            "kind": "Ingress",
            "metadata": {"name": "demo"},
            "spec": {"rules": [
                {"host": "a.example.com"},
                {"host": "b.example.com", "http": {"paths": paths}}
            ]}
        })
    }

    #[test]
    fn v1_paths_without_path_type_get_implementation_specific() {
        let backend = json!({"service": {"name": "web", "port": {"number": 80}}});
        let object = with_paths(
            "networking.k8s.io/v1",
            &json!([
                {"path": "/a", "backend": backend},
                {"path": "/b", "pathType": "Exact", "backend": backend},
                {"path": "/c", "pathType": null, "backend": backend}
            ]),
        );
        let (out, mutation) = patched(V1, &object);
        let paths = &out["spec"]["rules"][1]["http"]["paths"];
        assert_eq!(paths[0]["pathType"], "ImplementationSpecific");
        assert_eq!(paths[1]["pathType"], "Exact");
        assert_eq!(paths[2]["pathType"], "ImplementationSpecific");
        assert_eq!(
            mutation.warnings[0],
            r#"patched spec.rules[1].http.paths[0].pathType: added "ImplementationSpecific""#
        );
        let pointers: Vec<String> = mutation
            .patch
            .0
            .iter()
            .map(|op| match op {
                PatchOperation::Add(add) => add.path.to_string(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            pointers,
            [
                "/spec/rules/1/http/paths/0/pathType",
                "/spec/rules/1/http/paths/2/pathType"
            ]
        );
        // Nothing else changed.
        let mut expected = object.clone();
        expected["spec"]["rules"][1]["http"]["paths"][0]["pathType"] =
            json!("ImplementationSpecific");
        expected["spec"]["rules"][1]["http"]["paths"][2]["pathType"] =
            json!("ImplementationSpecific");
        assert_eq!(out, expected);
    }

    #[test]
    fn v1beta1_paths_are_left_to_the_api_server_defaults() {
        let object = with_paths(
            "networking.k8s.io/v1beta1",
            &json!([{"path": "/a", "backend": {"serviceName": "web", "servicePort": 80}}]),
        );
        assert!(canonicalise(Operation::Create, BETA, &object).is_empty());
    }

    #[test]
    fn v1beta1_annotations_are_patched_at_the_same_paths() {
        let mut object = with_paths(
            "extensions/v1beta1",
            &json!([{"path": "/", "backend": {"serviceName": "web", "servicePort": 80}}]),
        );
        object["metadata"]["annotations"] = json!({"kubernetes.io/ingress.rule-mix": "TRUE"});
        let (out, mutation) = patched(BETA, &object);
        assert_eq!(
            out["metadata"]["annotations"]["kubernetes.io/ingress.rule-mix"],
            "true"
        );
        assert_eq!(mutation.patch.0.len(), 1);
    }

    #[test]
    fn no_patch_for_delete_or_connect() {
        let mut object = with_paths("networking.k8s.io/v1", &json!([{"path": "/"}]));
        object["metadata"]["annotations"] = json!({"kubernetes.io/ingress.rule-mix": "True"});
        assert_eq!(
            canonicalise(Operation::Create, V1, &object).patch.0.len(),
            2
        );
        assert_eq!(
            canonicalise(Operation::Update, V1, &object).patch.0.len(),
            2
        );
        for operation in [Operation::Delete, Operation::Connect] {
            let mutation = canonicalise(operation, V1, &object);
            assert!(mutation.is_empty() && mutation.warnings.is_empty());
        }
    }

    #[test]
    fn odd_objects_give_no_patch() {
        for object in [
            json!(null),
            json!({}),
            json!({"metadata": {"annotations": null}, "spec": {"rules": "x"}}),
            json!({"metadata": {"annotations": {"kubernetes.io/ingress.rule-mix": 1}}}),
            json!({"spec": {"rules": [null, {"http": {"paths": [null, 3]}}]}}),
        ] {
            assert!(
                canonicalise(Operation::Create, V1, &object).is_empty(),
                "{object}"
            );
        }
    }

    #[rstest]
    #[case::rule_mix(
        "kubernetes.io/ingress.rule-mix",
        "/metadata/annotations/kubernetes.io~1ingress.rule-mix"
    )]
    #[case::tilde(
        "ingress.cloud.tencent.com/a~b",
        "/metadata/annotations/ingress.cloud.tencent.com~1a~0b"
    )]
    #[case::both(
        "ingress.cloud.tencent.com/~1/~0",
        "/metadata/annotations/ingress.cloud.tencent.com~1~01~1~00"
    )]
    #[case::cert_id("qcloud_cert_id", "/metadata/annotations/qcloud_cert_id")]
    fn annotation_pointers_are_escaped(#[case] key: &str, #[case] pointer: &str) {
        let object = ingress(&json!({ key: " x " }));
        let mutation = canonicalise(Operation::Create, V1, &object);
        match mutation.patch.0.as_slice() {
            [PatchOperation::Replace(op)] => assert_eq!(op.path.to_string(), pointer),
            other => panic!("{other:?}"),
        }
        let wire = serde_json::to_value(&mutation.patch).unwrap();
        assert_eq!(wire[0]["op"], "replace");
        assert_eq!(wire[0]["path"], pointer);
    }

    proptest! {
        /// Any key under a TKE prefix, however many `/` and `~` it holds, is patched in place and
        /// nowhere else.
        #[test]
        fn any_key_is_patched_in_place(
            prefix in prop::sample::select(vec![
                "ingress.cloud.tencent.com/", "kubernetes.io/ingress.",
            ]),
            suffix in "[a-z~/01.-]{0,12}",
            neighbour in "[a-z~/01]{1,6}",
        ) {
            let key = format!("{prefix}{suffix}");
            prop_assume!(key != CLASS);
            let other = format!("example.com/{neighbour}");
            let object = ingress(&json!({ key.as_str(): "\tvalue ", other.as_str(): " keep " }));
            let (out, mutation) = patched(V1, &object);
            prop_assert_eq!(mutation.patch.0.len(), 1);
            let annotations = &out["metadata"]["annotations"];
            prop_assert_eq!(annotations.as_object().unwrap().len(), 2);
            prop_assert_eq!(&annotations[key.as_str()], "value");
            prop_assert_eq!(&annotations[other.as_str()], " keep ");
        }
    }
}
