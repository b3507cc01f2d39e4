//! JSON-valued annotations: parsed with serde_json, then checked against JSON Schemas compiled
//! once when the [`Engine`](super::Engine) is built.

use std::fmt;

use jsonschema::Validator;
use serde_json::Value;

use super::annotations::{self as keys, ValueKind};
use super::catalogue::Rule;
use super::{EngineError, Finding};
use crate::text::shorten;

/// At most this many schema errors are reported per annotation, so a long broken list does not
/// flood the message.
const MAX_SCHEMA_ERRORS: usize = 5;

/// One JSON annotation: its key, the rule that reports it, and its compiled schema.
struct JsonAnnotation {
    key: &'static str,
    rule: &'static Rule,
    validator: Validator,
}

/// The compiled schemas of every JSON annotation.
pub struct Schemas {
    annotations: Vec<JsonAnnotation>,
}

impl fmt::Debug for Schemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<_> = self.annotations.iter().map(|a| a.key).collect();
        f.debug_struct("Schemas")
            .field("annotations", &keys)
            .finish()
    }
}

impl Schemas {
    /// Compiles the schema of every [`ValueKind::Json`] annotation in the catalogue.
    pub fn compile() -> Result<Self, EngineError> {
        let annotations = keys::KNOWN
            .iter()
            .filter_map(|a| match a.kind {
                ValueKind::Json(schema) => Some((a.key, schema)),
                _ => None,
            })
            .map(|(key, schema)| {
                let parsed: Value = serde_json::from_str(schema.text)
                    .map_err(|e| EngineError(format!("schema for {key} is not JSON: {e}")))?;
                let validator = jsonschema::validator_for(&parsed)
                    .map_err(|e| EngineError(format!("schema for {key} does not compile: {e}")))?;
                Ok(JsonAnnotation {
                    key,
                    rule: schema.rule,
                    validator,
                })
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Self { annotations })
    }

    /// Parses and validates every JSON annotation present. Returns the findings and the parsed
    /// values that passed (by key), so later rules can read them.
    pub fn check(
        &self,
        annotations: &crate::ingress::Annotations<'_>,
    ) -> (Vec<Finding>, Vec<(&'static str, Value)>) {
        let mut findings = Vec::new();
        let mut parsed = Vec::new();
        for spec in &self.annotations {
            let Some(text) = annotations.get(spec.key) else {
                continue;
            };
            let finding = |field: String, problem: String, fix: &str| {
                Finding::new(spec.rule, field, problem, fix)
            };
            let value: Value = match serde_json::from_str(text.trim()) {
                Ok(value) => value,
                Err(e) => {
                    findings.push(finding(
                        annotation_field(spec.key),
                        format!("is not valid JSON ({e})"),
                        "write valid JSON (check quotes and brackets), e.g. with `jq .` first",
                    ));
                    continue;
                }
            };
            // The errors (and their field paths) are collected only for a value that fails.
            if spec.validator.is_valid(&value) {
                parsed.push((spec.key, value));
                continue;
            }
            let field = annotation_field(spec.key);
            for error in spec.validator.iter_errors(&value).take(MAX_SCHEMA_ERRORS) {
                let mut path = field.clone();
                for segment in error.instance_path() {
                    push_segment(&mut path, &segment.to_string());
                }
                if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind()
                    && let Some(name) = property.as_str()
                {
                    push_segment(&mut path, name);
                }
                findings.push(finding(
                    path,
                    crate::ingress::one_line(&shorten(&error.to_string(), MAX_SCHEMA_ERROR_CHARS)),
                    "see the documented format in docs/rules.md",
                ));
            }
        }
        (findings, parsed)
    }
}

/// `metadata.annotations[key]`: the Kubernetes spelling of an annotation's field path.
pub fn annotation_field(key: &str) -> String {
    format!("metadata.annotations[{key}]")
}

/// Appends `[3]` for an array index, `.name` for a property.
fn push_segment(path: &mut String, segment: &str) {
    if segment.parse::<usize>().is_ok() {
        path.push('[');
        path.push_str(segment);
        path.push(']');
    } else {
        path.push('.');
        path.push_str(segment);
    }
}

/// Schema errors quote the offending value, which can be long.
const MAX_SCHEMA_ERROR_CHARS: usize = 160;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::testing::*;

    rule_cases! {
        http_rules_json: HTTP_RULES_JSON {
            fires not_json: tls().annotate(keys::HTTP_RULES, r#"[{"host":"#)
                => "metadata.annotations[kubernetes.io/ingress.http-rules]";
            fires wrong_shape: tls().annotate(keys::HTTP_RULES, r#"{"host":"a.example.com"}"#);
            clean null: tls().annotate(keys::HTTP_RULES, "null");
            clean entries: tls().annotate(keys::HTTP_RULES,
                r#"[{"host":"www.example.com","path":"/","backend":{"serviceName":"web","servicePort":"80"}}]"#);
        }
        https_rules_json: HTTPS_RULES_JSON {
            fires not_json: tls().annotate(keys::HTTPS_RULES, "[");
            clean null: tls().annotate(keys::HTTPS_RULES, "null");
        }
        extensive_parameters_json: EXTENSIVE_PARAMETERS_JSON {
            fires a_string: http().annotate(keys::EXTENSIVE_PARAMETERS, "\"IPV4\"");
            clean an_object: http().annotate(keys::EXTENSIVE_PARAMETERS, r#"{"AddressIPVersion":"IPV4"}"#);
        }
        annotation_json: ANNOTATION_JSON {
            fires port_as_string: http().annotate(keys::LISTEN_PORTS, r#"[{"HTTP":"80"}]"#)
                => "metadata.annotations[ingress.cloud.tencent.com/listen-ports][0].HTTP";
            clean listen_ports: http().annotate(keys::LISTEN_PORTS, r#"[{"HTTP":80}]"#);
        }
    }

    fn check(key: &str, value: &str) -> (Vec<Finding>, Vec<(&'static str, Value)>) {
        let schemas = Schemas::compile().unwrap();
        let mut annotations = crate::ingress::Annotations::new();
        annotations.insert(key.into(), value.into());
        schemas.check(&annotations)
    }

    #[test]
    fn valid_rules_and_null_pass() {
        for value in [
            "null",
            "[]",
            r#"[{"host":"a.example.com","path":"/","backend":{"serviceName":"s","servicePort":"80"}}]"#,
            r#"[{"backend":{"serviceName":"s","servicePort":80}}]"#,
            r#"[{"path":"/old","rewrite":{"port":443,"path":"/new"}}]"#,
        ] {
            let (findings, parsed) = check(keys::HTTP_RULES, value);
            assert!(findings.is_empty(), "{value}: {findings:?}");
            assert_eq!(parsed.len(), 1);
        }
    }

    #[test]
    fn broken_json_names_the_annotation_and_code() {
        let (findings, parsed) = check(keys::HTTPS_RULES, r#"[{"host":"#);
        assert!(parsed.is_empty());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule.id, "https-rules-json");
        assert_eq!(findings[0].tke_code, Some("E4023"));
        assert_eq!(
            findings[0].field,
            "metadata.annotations[kubernetes.io/ingress.https-rules]"
        );
        assert!(findings[0].problem.contains("not valid JSON"));
    }

    #[test]
    fn schema_errors_point_at_the_bad_element() {
        let (findings, _) = check(
            keys::HTTP_RULES,
            r#"[{"backend":{"serviceName":"s","servicePort":"80"}},{"backend":{"serviceName":"s","servicePort":{"port":80}}}]"#,
        );
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(
            findings[0].field,
            "metadata.annotations[kubernetes.io/ingress.http-rules][1].backend.servicePort"
        );
        assert_eq!(findings[0].tke_code, Some("E4022"));

        let (missing, _) = check(keys::HTTP_RULES, r#"[{"backend":{"serviceName":"s"}}]"#);
        assert_eq!(
            missing[0].field,
            "metadata.annotations[kubernetes.io/ingress.http-rules][0].backend.servicePort"
        );

        let (neither, _) = check(keys::HTTP_RULES, r#"[{"host":"a.example.com"}]"#);
        assert_eq!(neither.len(), 1, "{neither:?}");
        assert_eq!(
            neither[0].field,
            "metadata.annotations[kubernetes.io/ingress.http-rules][0]"
        );
    }

    #[test]
    fn other_json_annotations() {
        let (f, _) = check(keys::EXTENSIVE_PARAMETERS, "[1]");
        assert_eq!(f[0].tke_code, Some("E4026"));
        assert!(
            check(keys::EXTENSIVE_PARAMETERS, r#"{"AddressIPVersion":"IPV4"}"#)
                .0
                .is_empty()
        );
        assert!(
            check(keys::LISTEN_PORTS, r#"[{"HTTP":80},{"HTTPS":443}]"#)
                .0
                .is_empty()
        );
        let (f, _) = check(keys::LISTEN_PORTS, r#"[{"HTTP":80,"HTTPS":443}]"#);
        assert_eq!(f[0].rule.id, "annotation-json");
        assert_eq!(
            f[0].field,
            "metadata.annotations[ingress.cloud.tencent.com/listen-ports][0]"
        );
        let (f, _) = check(keys::AUTO_REWRITE_CODE, r#"{"defaultRewriteCode":308}"#);
        assert_eq!(
            f[0].field,
            "metadata.annotations[ingress.cloud.tencent.com/auto-rewrite-code].defaultRewriteCode"
        );
        assert!(
            check(
                keys::CERTIFICATE,
                r#"[{"hosts":["a.example.com"],"qcloud_cert_id":["CERTID01"]}]"#
            )
            .0
            .is_empty()
        );
    }
}
