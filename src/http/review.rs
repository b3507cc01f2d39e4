//! Answering one AdmissionReview. No HTTP types here: bytes and a time budget in, the JSON answer
//! (or the one-line reason it cannot be answered) out.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::AppState;
use super::envelope::{
    self, AdmissionRequest, MutatingResponse, OperationName, ReviewResponse, Unreadable,
    ValidatingResponse,
};
use super::metrics::ReviewLabels;
use crate::cluster::LookupRequest;
use crate::ingress::{self, DecodedIngress, IngressVersion, one_line};
use crate::rules::mutate::{self, Mutation};
use crate::rules::{Operation, Requester, Review, Severity, Verdict};
use crate::text::{MAX_WARNING_CHARS, shorten};

/// Which webhook path was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Validate,
    Mutate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validate => "validate",
            Self::Mutate => "mutate",
        }
    }
}

/// Time kept back from the API server's budget for encoding and the trip back.
pub fn deadline_margin(budget: Duration) -> Duration {
    (budget / 4).min(Duration::from_secs(1))
}

/// The outcome of one review, before it becomes JSON.
#[derive(Debug)]
struct Decided {
    answer: ValidatingResponse,
    /// `allowed`, `warned`, `denied` or `skipped`.
    decision: &'static str,
    rules: Vec<&'static str>,
    /// The canonicalising patch (`/mutate` only), sent with allowed answers.
    patch: Option<json_patch::Patch>,
}

/// Answers one request body. `budget` is what is left of the API server's timeout when the body
/// has been read. `Err` is an unreadable body: HTTP 400 with that reason.
pub async fn answer(
    state: &AppState,
    endpoint: Endpoint,
    body: &[u8],
    started: Instant,
    budget: Duration,
) -> Result<Vec<u8>, Unreadable> {
    let parsed = match envelope::parse_review(body) {
        Ok(parsed) => parsed,
        Err(unreadable) => {
            state
                .metrics
                .observe_rejection(endpoint.as_str(), "bad_request");
            tracing::warn!(
                endpoint = endpoint.as_str(),
                reason = %unreadable,
                "unreadable AdmissionReview"
            );
            return Err(unreadable);
        }
    };
    let deadline = started + budget.saturating_sub(deadline_margin(budget));
    let (decided, operation, namespace, name) = match &parsed.request {
        Ok(request) => {
            let decided = decide(state, endpoint, request, deadline).await;
            (
                decided,
                Operation::from(request.operation).as_str(),
                namespace_of(request),
                name_of(request),
            )
        }
        Err(malformed) => (
            Decided {
                answer: ValidatingResponse::deny(&malformed.uid, malformed.reason.clone()),
                decision: "denied",
                rules: Vec::new(),
                patch: None,
            },
            "unknown",
            String::new(),
            String::new(),
        ),
    };
    let uid = decided.answer.uid.clone();
    let bytes = match endpoint {
        Endpoint::Validate => {
            serde_json::to_vec(&ReviewResponse::new(parsed.version, &decided.answer))
        }
        Endpoint::Mutate => {
            // `decide` computes a patch only for CREATE/UPDATE of our Ingresses and keeps it only
            // when the answer allows (the API server never applies the patch of a deny).
            let response = match &decided.patch {
                Some(patch) => MutatingResponse::with_patch(decided.answer, patch),
                None => MutatingResponse::without_patch(decided.answer),
            };
            serde_json::to_vec(&ReviewResponse::new(parsed.version, &response))
        }
    }
    .map_err(|e| Unreadable(format!("could not encode the answer: {e}")))?;
    let elapsed = started.elapsed();
    state.metrics.observe_review(
        ReviewLabels {
            endpoint: endpoint.as_str(),
            operation,
            decision: decided.decision,
        },
        elapsed,
    );
    tracing::info!(
        endpoint = endpoint.as_str(),
        uid = %uid,
        operation,
        namespace = %namespace,
        name = %name,
        verdict = decided.decision,
        rules = %decided.rules.join(","),
        patch_ops = decided.patch.as_ref().map_or(0, |p| p.0.len()),
        latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "review"
    );
    Ok(bytes)
}

fn object_meta<'a>(request: &'a AdmissionRequest, field: &str) -> Option<&'a str> {
    request
        .object
        .as_ref()
        .or(request.old_object.as_ref())
        .and_then(|o| o.get("metadata"))
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn namespace_of(request: &AdmissionRequest) -> String {
    request
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .or_else(|| object_meta(request, "namespace"))
        .unwrap_or("default")
        .to_owned()
}

fn name_of(request: &AdmissionRequest) -> String {
    request
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .or_else(|| object_meta(request, "name"))
        .or_else(|| object_meta(request, "generateName"))
        .unwrap_or_default()
        .to_owned()
}

fn is_ingress_kind(request: &AdmissionRequest) -> bool {
    request.kind.kind == "Ingress"
        && matches!(
            request.kind.group.as_str(),
            "networking.k8s.io" | "extensions"
        )
}

/// An object's apiVersion: its own when it has one, else the request's kind.
fn api_version_of(request: &AdmissionRequest, object: &Value) -> String {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map_or_else(|| request.kind.api_version(), str::to_owned)
}

/// Decodes an object as an Ingress in its [`api_version_of`].
fn decode_object(request: &AdmissionRequest, object: &Value) -> Result<DecodedIngress, String> {
    ingress::decode_value(&api_version_of(request, object), object)
        .map_err(|e| one_line(&e.to_string()))
}

/// The object after the canonicalising patch, with that patch and its warnings.
struct Patched {
    object: Value,
    mutation: Mutation,
}

/// Canonicalises the raw object as sent (the API server applies the patch to exactly that).
/// `None` when nothing needs a change, or the patch does not apply (then no patch is better than
/// a broken one).
fn canonicalised(request: &AdmissionRequest, object: &Value) -> Option<Patched> {
    let version = IngressVersion::from_api_version(&api_version_of(request, object))?;
    let mutation = mutate::canonicalise(request.operation.into(), version, object);
    if mutation.is_empty() {
        return None;
    }
    let mut patched = object.clone();
    if let Err(e) = json_patch::patch(&mut patched, &mutation.patch.0) {
        tracing::warn!(uid = %request.uid, error = %e, "canonicalising patch does not apply");
        return None;
    }
    Some(Patched {
        object: patched,
        mutation,
    })
}

fn skipped(uid: &str) -> Decided {
    Decided {
        answer: ValidatingResponse::allow(uid),
        decision: "skipped",
        rules: Vec::new(),
        patch: None,
    }
}

async fn decide(
    state: &AppState,
    endpoint: Endpoint,
    request: &AdmissionRequest,
    deadline: Instant,
) -> Decided {
    let uid = request.uid.as_str();
    if !is_ingress_kind(request)
        || matches!(
            request.operation,
            OperationName::Delete | OperationName::Connect
        )
    {
        return skipped(uid);
    }
    let Some(object) = request.object.as_ref().filter(|o| !o.is_null()) else {
        return Decided {
            answer: ValidatingResponse::deny(uid, "request.object is missing".to_owned()),
            decision: "denied",
            rules: Vec::new(),
            patch: None,
        };
    };
    // The validating webhooks (ours included) see the patched object, so /mutate judges that
    // too: a value the patch fixes is not also a deny.
    let patched = match endpoint {
        Endpoint::Mutate => canonicalised(request, object),
        Endpoint::Validate => None,
    };
    let object = patched.as_ref().map_or(object, |p| &p.object);
    let decoded = match decode_object(request, object) {
        Ok(decoded) => decoded,
        Err(reason) => {
            return Decided {
                answer: ValidatingResponse::deny(uid, truncate_message(&reason)),
                decision: "denied",
                rules: Vec::new(),
                patch: None,
            };
        }
    };
    let old = request
        .old_object
        .as_ref()
        .filter(|o| !o.is_null())
        .and_then(|o| decode_object(request, o).ok());
    if !ingress::is_qcloud(&decoded.ingress) {
        // Not TKE's, but a misspelt class or a move away from TKE is worth a word.
        let warnings = state
            .engine
            .out_of_scope_warnings(&decoded.ingress, old.as_ref().map(|o| &o.ingress));
        if warnings.is_empty() {
            return skipped(uid);
        }
        return Decided {
            answer: ValidatingResponse::allow(uid).with_warnings(sanitize_warnings(warnings)),
            decision: "warned",
            rules: Vec::new(),
            patch: None,
        };
    }
    let namespace = namespace_of(request);
    let requester = Requester {
        username: &request.user_info.username,
        groups: &request.user_info.groups,
    };
    if state.engine.is_exempt(&requester, &namespace) {
        return skipped(uid);
    }
    let lookup = state.cluster.lookup(LookupRequest {
        namespace: namespace.clone(),
        secret_names: state.engine.secret_names(&decoded.ingress),
        deadline,
    });
    let Ok(lookup) = tokio::time::timeout_at(deadline.into(), lookup).await else {
        tracing::warn!(uid, "cluster view did not answer before the deadline");
        let timed_out = Verdict {
            warnings: vec![
                "qcloud-ingress-webhook: cluster look-ups timed out; this Ingress was not checked"
                    .to_owned(),
            ],
            ..Verdict::default()
        };
        return from_verdict(state, uid, timed_out, patched);
    };
    let verdict = state.engine.validate(&Review {
        operation: request.operation.into(),
        namespace: &namespace,
        ingress: &decoded.ingress,
        version: decoded.version,
        old: old.as_ref().map(|o| &o.ingress),
        cluster: lookup.as_ref(),
    });
    drop(lookup);
    from_verdict(state, uid, verdict, patched)
}

/// Turns the engine's verdict into the answer, counting findings by rule. An allowed answer
/// carries the patch, its change warnings first; a deny carries neither, since nothing is changed.
fn from_verdict(
    state: &AppState,
    uid: &str,
    verdict: Verdict,
    patched: Option<Patched>,
) -> Decided {
    let mut rules: Vec<&'static str> = Vec::new();
    for finding in &verdict.findings {
        state.metrics.observe_finding(
            finding.rule.id,
            match finding.severity {
                Severity::Deny => "deny",
                Severity::Warn => "warn",
            },
        );
        if !rules.contains(&finding.rule.id) {
            rules.push(finding.rule.id);
        }
    }
    let (patch, warnings) = match patched {
        Some(p) if verdict.allowed() => (
            Some(p.mutation.patch),
            p.mutation
                .warnings
                .into_iter()
                .chain(verdict.warnings)
                .collect(),
        ),
        _ => (None, verdict.warnings),
    };
    let warnings = sanitize_warnings(warnings);
    let (answer, decision) = match verdict.deny_message {
        Some(message) => (
            ValidatingResponse::deny(uid, message).with_warnings(warnings),
            "denied",
        ),
        None if warnings.is_empty() => (ValidatingResponse::allow(uid), "allowed"),
        None => (
            ValidatingResponse::allow(uid).with_warnings(warnings),
            "warned",
        ),
    };
    Decided {
        answer,
        decision,
        rules,
        patch,
    }
}

/// The API server starts truncating warnings past 4096 runes in total; stay below.
const MAX_WARNINGS_TOTAL: usize = 3800;

/// A safety net for what the rules produce: the API server silently drops a warning with a
/// control character, so every warning is one line, at most 120 characters, deduplicated, and
/// the total stays under the API server's budget.
pub fn sanitize_warnings(warnings: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut total = 0;
    for warning in warnings {
        let line: String = one_line(&warning)
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        let line = shorten(&line, MAX_WARNING_CHARS);
        if line.is_empty() || out.contains(&line) {
            continue;
        }
        total += line.chars().count();
        if total > MAX_WARNINGS_TOTAL {
            break;
        }
        out.push(line);
    }
    out
}

/// Keeps a decode error readable in `kubectl` output.
fn truncate_message(message: &str) -> String {
    shorten(message, 512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_keeps_time_back_but_not_too_much() {
        assert_eq!(
            deadline_margin(Duration::from_secs(10)),
            Duration::from_secs(1)
        );
        assert_eq!(
            deadline_margin(Duration::from_secs(1)),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn warnings_are_single_short_unique_lines_within_budget() {
        let long = "w".repeat(300);
        let out = sanitize_warnings(vec![
            "spec.rules[0]: two\nlines".to_owned(),
            "bell\u{7} inside".to_owned(),
            long.clone(),
            "spec.rules[0]: two\nlines".to_owned(),
            "   ".to_owned(),
        ]);
        assert_eq!(out[0], "spec.rules[0]: two lines");
        assert_eq!(out[1], "bell inside");
        assert_eq!(out[2].chars().count(), MAX_WARNING_CHARS);
        assert!(out[2].ends_with('…'));
        assert_eq!(out.len(), 3);

        let many: Vec<String> = (0..200)
            .map(|i| format!("{i}: {}", "x".repeat(100)))
            .collect();
        let out = sanitize_warnings(many);
        let total: usize = out.iter().map(|w| w.chars().count()).sum();
        assert!(
            total <= MAX_WARNINGS_TOTAL && out.len() > 30,
            "{total} {}",
            out.len()
        );
    }

    #[test]
    fn long_decode_errors_are_cut() {
        let long = "x".repeat(2000);
        let cut = truncate_message(&long);
        assert!(cut.chars().count() <= 513);
        assert_eq!(truncate_message("short"), "short");
    }
}
