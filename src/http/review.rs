//! Answering one AdmissionReview: the envelope in, the driver ([`crate::drive`]: the rules, the
//! cluster look-ups they need and the confirmation of a cache-based deny, under the deadline),
//! the envelope out, metrics and one log line. No HTTP types here: bytes and a time budget in, the JSON answer (or the one-line reason
//! it cannot be answered) out.

use std::time::{Duration, Instant};

use super::AppState;
use super::envelope::{
    self, AdmissionRequest, MutatingResponse, ReviewResponse, Unreadable, ValidatingResponse,
};
use super::metrics::ReviewLabels;
use crate::drive::{Bounded, Budget, Confirmation, WithCloud, drive};
pub use crate::rules::Endpoint;
use crate::rules::admission::Kind;
use crate::rules::{AdmissionInput, Decision, Operation, Outcome, Requester, Ruling};

/// Time kept back from the API server's budget for encoding and the trip back.
pub fn deadline_margin(budget: Duration) -> Duration {
    (budget / 4).min(Duration::from_secs(1))
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
    let mut parsed = envelope::parse_review(body, endpoint).inspect_err(|unreadable| {
        state
            .metrics
            .observe_rejection(endpoint.as_str(), "bad_request");
        tracing::warn!(endpoint = endpoint.as_str(), reason = %unreadable, "unreadable AdmissionReview");
    })?;
    let deadline = started + budget.saturating_sub(deadline_margin(budget));
    let decision = match &mut parsed.request {
        Ok(request) => decide(state, endpoint, request, deadline).await,
        // A uid but no readable request: a deny with that uid (a v1 answer must echo it).
        Err(malformed) => Decision::refused(&malformed.reason),
    };
    let (uid, operation) = match &parsed.request {
        Ok(request) => (
            request.uid.as_str(),
            Operation::from(request.operation).as_str(),
        ),
        Err(malformed) => (malformed.uid.as_str(), "unknown"),
    };
    let bytes = match endpoint {
        Endpoint::Validate => serde_json::to_vec(&ReviewResponse::new(
            parsed.version,
            &validating_answer(uid, &decision),
        )),
        Endpoint::Mutate => serde_json::to_vec(&ReviewResponse::new(
            parsed.version,
            &mutating_answer(uid, &decision),
        )),
    }
    .map_err(|e| Unreadable(format!("could not encode the answer: {e}")))?;
    record(
        state,
        endpoint,
        operation,
        uid,
        parsed.request.as_ref().ok(),
        &decision,
        started,
    );
    Ok(bytes)
}

/// The validating webhook's answer: the verdict, its warnings, the rules and what the Ingress
/// skipped in the audit log.
fn validating_answer(uid: &str, decision: &Decision) -> ValidatingResponse {
    match &decision.deny_message {
        Some(message) => ValidatingResponse::deny(uid, message.clone()),
        None => ValidatingResponse::allow(uid),
    }
    .with_warnings(decision.warnings.clone())
    .with_rules(&decision.rule_ids())
    .with_skipped(decision.skipped_findings().summary())
}

/// A deny no rule made: the request or its object could not be read.
fn refused(decision: &Decision) -> bool {
    decision.ruling() == Ruling::Refused
}

/// The mutating webhook's answer: allowed, with the canonicalising patch and one warning per
/// change. It never denies on a rule (the validating webhook judges the patched object, and a
/// mutating webhook should fail open), only a request it cannot read.
fn mutating_answer(uid: &str, decision: &Decision) -> MutatingResponse {
    if refused(decision) && decision.patch.is_none() {
        return MutatingResponse::without_patch(validating_answer(uid, decision));
    }
    let answer = ValidatingResponse::allow(uid).with_warnings(decision.patch_warnings.clone());
    match &decision.patch {
        Some(patch) => MutatingResponse::with_patch(answer, patch),
        None => MutatingResponse::without_patch(answer),
    }
}

/// What the endpoint answered: `/mutate` allows (warned when it patches) unless the request
/// could not be read.
fn answered(endpoint: Endpoint, decision: &Decision) -> &'static str {
    match (endpoint, decision.outcome) {
        (Endpoint::Validate, outcome) | (Endpoint::Mutate, outcome @ Outcome::Skipped(_)) => {
            outcome.as_str()
        }
        (Endpoint::Mutate, _) if decision.patch.is_some() => "warned",
        (Endpoint::Mutate, _) if refused(decision) => "denied",
        (Endpoint::Mutate, _) => "allowed",
    }
}

/// The driver, over the cluster view, within the deadline and the confirmation budget.
async fn decide(
    state: &AppState,
    endpoint: Endpoint,
    request: &mut AdmissionRequest<'_>,
    deadline: Instant,
) -> Decision {
    let input = AdmissionInput {
        endpoint,
        operation: request.operation.into(),
        kind: Kind {
            group: &request.kind.group,
            version: &request.kind.version,
            kind: &request.kind.kind,
        },
        namespace: request.namespace.as_deref(),
        // Moved out: the admission function owns the object it read.
        object: request.object.take(),
        old_object: request.old_object.take(),
        requester: Requester {
            username: &request.user_info.username,
            groups: &request.user_info.groups,
        },
    };
    let budget = Budget {
        deadline,
        confirm: state.limits.confirm_budget,
        // /mutate only patches: the rules, and the look-ups they need, are /validate's.
        mutate_only_patches: true,
    };
    let driven = drive(
        &state.engine,
        input,
        &WithCloud {
            inner: Bounded(state.cluster.as_ref()),
            cloud: state.cloud.as_deref(),
        },
        budget,
    )
    .await;
    if let Some(confirmation) = driven.confirmation {
        let overturned = match confirmation {
            Confirmation::Overturned(findings) => findings,
            Confirmation::Upheld | Confirmation::Failed => 0,
        };
        state
            .metrics
            .observe_confirmation(confirmation.as_str(), overturned);
    }
    driven.decision
}

/// Metrics and the one log line of a review: never objects, never Secret data.
fn record(
    state: &AppState,
    endpoint: Endpoint,
    operation: &'static str,
    uid: &str,
    request: Option<&AdmissionRequest<'_>>,
    decision: &Decision,
    started: Instant,
) {
    for finding in &decision.findings {
        state
            .metrics
            .observe_finding(finding.rule.id, finding.severity.as_str());
    }
    for finding in &decision.skipped_findings().findings {
        state.metrics.observe_skipped(finding.rule.id);
    }
    let elapsed = started.elapsed();
    state.metrics.observe_review(
        ReviewLabels {
            endpoint: endpoint.as_str(),
            operation,
            decision: answered(endpoint, decision),
        },
        elapsed,
    );
    let namespace = request
        .and_then(|r| r.namespace.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or(&decision.namespace);
    let name = request
        .and_then(|r| r.name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or(&decision.name);
    tracing::info!(
        endpoint = endpoint.as_str(),
        uid = %uid,
        operation,
        namespace = %namespace,
        name = %name,
        verdict = answered(endpoint, decision),
        rules = %decision.rule_ids().join(","),
        skipped = %decision.skipped_findings().rule_ids().join(","),
        patch_ops = decision.patch.as_ref().map_or(0, |p| p.0.len()),
        latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "review"
    );
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
}
