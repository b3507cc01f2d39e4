//! The one admission function: from an admission request as it arrives (raw object JSON, the
//! operation, who sent it) to the decision the webhook sends back. `serve` calls it per
//! AdmissionReview; `check` and the audit pass call it per manifest; so a CI run, an audit and
//! `kubectl apply` cannot disagree.
//!
//! It decodes every served Ingress version, decides whether the Ingress is TKE's (warning about a
//! misspelt class or a move away from TKE when it is not), applies exemptions, canonicalises on
//! `/mutate` (and then judges the patched object, as the validating webhook will), validates,
//! ratchets and enforces. It runs in two steps because the live cluster view fetches on demand:
//! [`Engine::admit`] says what the rules will read ([`Pending::secret_names`]); the caller
//! fetches it within its deadline and calls [`Pending::decide`] (or [`Pending::unchecked`] when
//! the deadline passed). Callers with the whole cluster at hand use [`Engine::admit_with`].

use serde_json::value::RawValue;

use super::mutate::{self, Mutation, Patchable};
use super::report::{sanitize_warnings, shorten_message};
use super::{Engine, Finding, Operation, Requester, Review, Severity, SkippedFindings, Verdict};
use crate::cluster::{CloudFacts, ClusterLookup, ClusterState};
use crate::ingress::{self, DecodedIngress};

/// Which webhook was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Judge the object as sent.
    Validate,
    /// Canonicalise what is safe to fix, then judge the patched object.
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

/// `request.kind`: the group, version and kind the request is about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kind<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
}

impl Kind<'_> {
    /// The Ingress kind in `networking.k8s.io/v1`, as our webhooks register it.
    pub const INGRESS_V1: Kind<'static> = Kind {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
    };

    fn is_ingress(&self) -> bool {
        self.kind == "Ingress" && matches!(self.group, "networking.k8s.io" | "extensions")
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// One admission request, as the API server (or a front end standing in for it) sends it.
#[derive(Debug, Clone)]
pub struct AdmissionInput<'a> {
    pub endpoint: Endpoint,
    pub operation: Operation,
    pub kind: Kind<'a>,
    /// `request.namespace`; when empty, the object's own namespace, else `default`.
    pub namespace: Option<&'a str>,
    pub object: Option<ObjectInput<'a>>,
    pub old_object: Option<ObjectInput<'a>>,
    pub requester: Requester<'a>,
}

/// `request.object` or `request.oldObject` as the front end has it.
#[derive(Debug, Clone)]
pub enum ObjectInput<'a> {
    /// The JSON text as sent (JSON `null` counts as no object): decoded here, in any served
    /// version, and patched first on `/mutate`.
    Text(&'a RawValue),
    /// A `networking.k8s.io/v1` Ingress the front end has already read from that text, on
    /// `/validate` only (the HTTP layer reads it with the envelope, in one pass over the body).
    /// `/mutate` needs the text, to patch it.
    Read(Box<DecodedIngress<'a>>),
}

impl ObjectInput<'_> {
    /// `None` for the JSON `null` the API server sends for an absent object.
    fn present(self) -> Option<Self> {
        match self {
            Self::Text(text) if text.get() == "null" => None,
            present => Some(present),
        }
    }
}

/// What the decision is, in the words of the metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Allowed, with warnings.
    Warned,
    Denied,
    /// Allowed without a look.
    Skipped(Skip),
}

/// Why a request was allowed without a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Another kind, or an operation other than CREATE and UPDATE.
    NotReviewed,
    /// An Ingress of another class, with nothing to say about its class.
    OtherClass,
    /// The requester or the namespace is exempt in the settings.
    Exempt,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Warned => "warned",
            Self::Denied => "denied",
            Self::Skipped(_) => "skipped",
        }
    }
}

/// What became of the object, plainly: every front end reads this rather than working it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruling {
    /// Let through: judged (with or without warnings), skipped, or exempt.
    Allowed,
    /// Denied by the rules; the findings say why.
    Denied,
    /// Denied without a rule's finding: the request or its object could not be read.
    Refused,
}

/// The answer to one admission request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    /// Every finding with its effective severity (also the warned ones).
    pub findings: Vec<Finding>,
    /// For the person running `kubectl apply`, when denied.
    pub deny_message: Option<String>,
    /// The rules' warnings: one line each, at most 120 characters, within the API server's
    /// budget.
    pub warnings: Vec<String>,
    /// The canonicalising patch (`/mutate` only), whatever the verdict: the API server applies it
    /// before the validating webhook judges the patched object.
    pub patch: Option<json_patch::Patch>,
    /// One line per change the patch makes (`patched <field>: <old> -> <new>`).
    pub patch_warnings: Vec<String>,
    /// The Ingress's namespace and name, where known (for logs and reports).
    pub namespace: String,
    pub name: String,
    /// The rules judged a qcloud Ingress (not skipped, not refused, not of another class).
    pub reviewed: bool,
    /// Findings the Ingress's skip annotation accepted: not in `findings`, no deny, no warning
    /// (`None` when there are none; boxed so a decision stays small). Read it with
    /// [`Decision::skipped_findings`].
    pub skipped: Option<Box<SkippedFindings>>,
}

impl Decision {
    fn skipped(why: Skip) -> Self {
        Self {
            outcome: Outcome::Skipped(why),
            findings: Vec::new(),
            deny_message: None,
            warnings: Vec::new(),
            patch: None,
            patch_warnings: Vec::new(),
            namespace: String::new(),
            name: String::new(),
            reviewed: false,
            skipped: None,
        }
    }

    /// A deny that is not a rule's finding: no object, one that does not decode, a malformed
    /// request.
    pub fn refused(reason: &str) -> Self {
        Self {
            outcome: Outcome::Denied,
            deny_message: Some(shorten_message(reason)),
            ..Self::skipped(Skip::NotReviewed)
        }
    }

    pub fn allowed(&self) -> bool {
        self.outcome != Outcome::Denied
    }

    /// Allowed, denied with findings, or refused.
    pub fn ruling(&self) -> Ruling {
        match self.outcome {
            Outcome::Denied if self.findings.is_empty() => Ruling::Refused,
            Outcome::Denied => Ruling::Denied,
            _ => Ruling::Allowed,
        }
    }

    /// What the Ingress's skip annotation skipped (empty when nothing).
    pub fn skipped_findings(&self) -> &SkippedFindings {
        static NONE: SkippedFindings = SkippedFindings {
            findings: Vec::new(),
            reason: String::new(),
        };
        self.skipped.as_deref().unwrap_or(&NONE)
    }

    /// The rule ids of the findings, once each, in order.
    pub fn rule_ids(&self) -> Vec<&'static str> {
        super::rule_ids(&self.findings)
    }
}

/// The first step's result; `'a` is the request's text, which the Ingress borrows from.
pub enum Admission<'e, 'a> {
    /// Decided without the cluster: skipped, refused, or warned about an Ingress of another class.
    Decided(Decision),
    /// A qcloud Ingress the rules will judge against the cluster.
    Pending(Box<Pending<'e, 'a>>),
}

/// A qcloud Ingress ready for the rules, once the cluster facts they read are at hand.
pub struct Pending<'e, 'a> {
    engine: &'e Engine,
    operation: Operation,
    namespace: String,
    ingress: DecodedIngress<'a>,
    old: Option<DecodedIngress<'a>>,
    /// `/mutate`'s canonicalising patch, when it changes anything.
    mutation: Option<Mutation>,
}

impl Pending<'_, '_> {
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Secrets (in [`Pending::namespace`]) the rules will read: fetch them before
    /// [`Pending::decide`].
    pub fn secret_names(&self) -> Vec<String> {
        super::secret_references(&self.ingress.ingress)
            .into_iter()
            .map(|r| r.name.to_owned())
            .collect()
    }

    /// Runs the rules against `cluster`, without cloud facts.
    pub fn decide(&self, cluster: &dyn ClusterLookup) -> Decision {
        self.decide_with(cluster, &super::context::NO_CLOUD)
    }

    /// Runs the rules against `cluster` and Tencent Cloud's answers `cloud`.
    pub fn decide_with(&self, cluster: &dyn ClusterLookup, cloud: &CloudFacts) -> Decision {
        let verdict = self.engine.validate(&Review {
            operation: self.operation,
            namespace: &self.namespace,
            ingress: &self.ingress.ingress,
            version: self.ingress.version,
            old: self.old.as_ref().map(|o| &o.ingress),
            cluster,
            cloud,
        });
        self.decision(verdict)
    }

    /// The certificate ids (from the Secrets in `cluster`) and the `existLbId` the cloud rules
    /// read, each once, ids of the documented shapes only: what to ask Tencent Cloud about.
    pub fn cloud_ids(&self, cluster: &dyn ClusterLookup) -> (Vec<String>, Vec<String>) {
        let ingress = &self.ingress.ingress;
        let mut certificates: Vec<String> = Vec::new();
        for u in super::checks::cloud::certificate_uses(ingress, &self.namespace, cluster) {
            if !certificates.contains(&u.id) {
                certificates.push(u.id);
            }
        }
        let annotations = ingress.metadata.annotations.as_ref();
        let load_balancers = super::checks::cloud::exist_lb_id(annotations)
            .map(str::to_owned)
            .into_iter()
            .collect();
        (certificates, load_balancers)
    }

    /// The mutating webhook's answer: the canonicalising patch and its change warnings, no rules
    /// (the validating webhook judges the patched object), so nothing to look up.
    pub fn patch_only(&self) -> Decision {
        let (patch, patch_warnings) = match &self.mutation {
            Some(m) => (Some(m.patch.clone()), sanitize_warnings(m.warnings.clone())),
            None => (None, Vec::new()),
        };
        Decision {
            outcome: Outcome::Allowed,
            findings: Vec::new(),
            deny_message: None,
            warnings: Vec::new(),
            patch,
            patch_warnings,
            namespace: self.namespace.clone(),
            name: self.ingress.name().to_owned(),
            reviewed: true,
            skipped: None,
        }
    }

    /// The answer when the cluster could not be asked in time: allowed, unchecked, and saying so.
    pub fn unchecked(&self) -> Decision {
        self.decision(Verdict {
            warnings: vec![
                "qcloud-ingress-webhook: cluster look-ups timed out; this Ingress was not checked"
                    .to_owned(),
            ],
            ..Verdict::default()
        })
    }

    /// The verdict on the (patched) object, with the patch and its change warnings beside it.
    fn decision(&self, verdict: Verdict) -> Decision {
        let (patch, patch_warnings) = match &self.mutation {
            Some(m) => (Some(m.patch.clone()), sanitize_warnings(m.warnings.clone())),
            None => (None, Vec::new()),
        };
        let warnings = sanitize_warnings(verdict.warnings);
        let outcome = match (&verdict.deny_message, warnings.is_empty()) {
            (Some(_), _) => Outcome::Denied,
            (None, true) => Outcome::Allowed,
            (None, false) => Outcome::Warned,
        };
        Decision {
            outcome,
            findings: verdict.findings,
            deny_message: verdict.deny_message,
            warnings,
            patch,
            patch_warnings,
            namespace: self.namespace.clone(),
            name: self.ingress.name().to_owned(),
            reviewed: true,
            skipped: (!verdict.skipped.is_empty()).then(|| Box::new(verdict.skipped)),
        }
    }
}

impl Engine {
    /// The first step of an admission: everything that needs no cluster facts.
    pub fn admit<'a>(&self, mut input: AdmissionInput<'a>) -> Admission<'_, 'a> {
        if !input.kind.is_ingress()
            || !matches!(input.operation, Operation::Create | Operation::Update)
        {
            return Admission::Decided(Decision::skipped(Skip::NotReviewed));
        }
        // Taken, not cloned: an object already read is moved into the review.
        let Some(object) = input.object.take().and_then(ObjectInput::present) else {
            return Admission::Decided(Decision::refused("request.object is missing"));
        };
        let (ingress, mutation) = match decode(&input, object) {
            Ok(decoded) => decoded,
            Err(reason) => return Admission::Decided(Decision::refused(&reason)),
        };
        let old = match input.old_object.take().and_then(ObjectInput::present) {
            Some(ObjectInput::Text(text)) => {
                ingress::decode_raw(text.get(), &input.kind.api_version()).ok()
            }
            Some(ObjectInput::Read(decoded)) => Some(*decoded),
            None => None,
        };
        let namespace = input
            .namespace
            .filter(|n| !n.is_empty())
            .or(ingress.ingress.metadata.namespace.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_owned();
        let pending = Pending {
            engine: self,
            operation: input.operation,
            namespace,
            ingress,
            old,
            mutation,
        };
        if !ingress::is_qcloud(&pending.ingress.ingress) {
            return Admission::Decided(pending.out_of_scope());
        }
        if self.is_exempt(&input.requester, &pending.namespace) {
            return Admission::Decided(Decision {
                namespace: pending.namespace,
                name: pending.ingress.name().to_owned(),
                ..Decision::skipped(Skip::Exempt)
            });
        }
        Admission::Pending(Box::new(pending))
    }

    /// Both steps at once, for front ends that hold the whole cluster view (`check`, audits).
    pub fn admit_with(&self, input: AdmissionInput<'_>, cluster: &dyn ClusterLookup) -> Decision {
        match self.admit(input) {
            Admission::Decided(decision) => decision,
            Admission::Pending(pending) => pending.decide(cluster),
        }
    }
}

impl Pending<'_, '_> {
    /// Not TKE's: only the class rules speak (a misspelt class, a move away from TKE), and only
    /// as warnings; no patch.
    fn out_of_scope(mut self) -> Decision {
        self.mutation = None;
        let decision = self.decide(no_cluster());
        if decision.findings.is_empty() {
            return Decision {
                namespace: decision.namespace,
                name: decision.name,
                ..Decision::skipped(Skip::OtherClass)
            };
        }
        debug_assert!(
            decision
                .findings
                .iter()
                .all(|f| f.severity == Severity::Warn)
        );
        Decision {
            reviewed: false,
            ..decision
        }
    }
}

/// The cluster as the class rules see it: they read none of it.
fn no_cluster() -> &'static ClusterState {
    static NONE: std::sync::LazyLock<ClusterState> = std::sync::LazyLock::new(|| {
        ClusterState::default().with_secrets_unread("not read for an Ingress of another class")
    });
    &NONE
}

/// Decodes the object under review; on `/mutate`, after the canonicalising patch (the API server
/// applies it to the object exactly as sent, and the validating webhooks see the result).
fn decode<'a>(
    input: &AdmissionInput<'_>,
    object: ObjectInput<'a>,
) -> Result<(DecodedIngress<'a>, Option<Mutation>), String> {
    let object = match object {
        ObjectInput::Text(text) => text,
        ObjectInput::Read(decoded) => {
            debug_assert!(
                input.endpoint == Endpoint::Validate,
                "/mutate patches the text"
            );
            return Ok((*decoded, None));
        }
    };
    let fallback_api_version = &input.kind.api_version();
    let invalid = |e: ingress::DecodeError| crate::text::one_line(&e.to_string());
    if input.endpoint == Endpoint::Validate {
        let decoded = ingress::decode_raw(object.get(), fallback_api_version).map_err(invalid)?;
        return Ok((decoded, None));
    }
    // The patch is computed from the parts it reads and made on the decoded object: no value
    // tree of the whole object (tests/review_memory.rs holds /mutate to that).
    let mut decoded = ingress::decode_raw(object.get(), fallback_api_version).map_err(invalid)?;
    let mutation = Patchable::read(object.get())
        .map(|view| mutate::canonicalise(input.operation, decoded.version, &view))
        .filter(|m| !m.is_empty());
    if let Some(mutation) = &mutation {
        mutation.apply(&mut decoded.ingress);
    }
    Ok((decoded, mutation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Settings;
    use crate::rules::settings::{Enforcement, RuleSetting};
    use crate::rules::testing::*;
    use serde_json::json;

    fn bad_host() -> Fixture {
        http().host("localhost")
    }

    #[test]
    fn other_kinds_and_operations_are_skipped() {
        let engine = Engine::new(Settings::default()).unwrap();
        let object = serde_json::value::to_raw_value(&bad_host().object).unwrap();
        let mut input = AdmissionInput {
            endpoint: Endpoint::Validate,
            operation: Operation::Delete,
            kind: Kind::INGRESS_V1,
            namespace: Some(NS),
            object: Some(ObjectInput::Text(&object)),
            old_object: None,
            requester: Requester::default(),
        };
        let skipped = Outcome::Skipped(Skip::NotReviewed);
        assert_eq!(
            engine.admit_with(input.clone(), no_cluster()).outcome,
            skipped
        );
        input.operation = Operation::Create;
        input.kind = Kind {
            group: "",
            version: "v1",
            kind: "Service",
        };
        assert_eq!(
            engine.admit_with(input.clone(), no_cluster()).outcome,
            skipped
        );
        input.kind = Kind::INGRESS_V1;
        input.object = None;
        let missing = engine.admit_with(input.clone(), no_cluster());
        assert_eq!(missing.outcome, Outcome::Denied);
        assert_eq!(
            missing.deny_message.as_deref(),
            Some("request.object is missing")
        );
    }

    #[test]
    fn the_ruling_says_allowed_denied_with_findings_or_refused() {
        assert_eq!(http().decide().ruling(), Ruling::Allowed);
        assert_eq!(bad_host().decide().ruling(), Ruling::Denied);
        let unreadable = http().set("/spec/rules", json!("nope")).decide();
        assert_eq!(unreadable.ruling(), Ruling::Refused);
        assert_eq!(Decision::skipped(Skip::Exempt).ruling(), Ruling::Allowed);
    }

    #[test]
    fn an_object_that_is_not_an_ingress_is_denied_with_the_reason() {
        let decision = http().set("/spec/rules", json!("nope")).decide();
        assert_eq!(decision.outcome, Outcome::Denied);
        assert!(decision.findings.is_empty());
        assert!(
            decision
                .deny_message
                .unwrap()
                .contains("not a valid Ingress"),
            "the decode error is the message"
        );
    }

    #[test]
    fn ratcheting_lets_old_mistakes_through_but_denies_new_ones() {
        // An unrelated edit of an Ingress that already had the bad host: allowed, with a warning.
        let edited = bad_host()
            .annotate("ingress.cloud.tencent.com/pass-to-target", "true")
            .updating(bad_host());
        let decision = edited.decide();
        assert!(decision.allowed(), "{:?}", decision.deny_message);
        assert!(
            decision.warnings[0].starts_with("already present, not denied: spec.rules[0].host"),
            "{:?}",
            decision.warnings
        );
        // A new mistake in the same edit is still denied.
        let message = edited.url("/api/*").decide().deny_message.expect("denied");
        assert!(
            message.contains("path-grammar") && !message.contains("host-grammar"),
            "{message}"
        );
    }

    #[test]
    fn settings_change_severity_turn_rules_off_and_warn_mode_allows() {
        let set = |id: &'static str, setting: RuleSetting| {
            move |s: &mut Settings| {
                s.rules.insert(id.into(), setting);
            }
        };
        let warned = bad_host().with_settings(set("host-grammar", RuleSetting::Warn));
        assert!(warned.decide().allowed());
        assert_eq!(
            warned.findings_of(&crate::rules::catalogue::HOST_GRAMMAR)[0].severity,
            Severity::Warn
        );
        let off = bad_host().with_settings(set("host-grammar", RuleSetting::Off));
        assert!(off.decide().findings.is_empty());
        let pair = http()
            .annotate("kubernetes.io/ingress.internetMaxBandwidthOut", "10")
            .with_settings(set("charge-pair", RuleSetting::Deny));
        assert!(!pair.decide().allowed());
        let warn_mode = bad_host().with_settings(|s| s.enforcement = Enforcement::Warn);
        let decision = warn_mode.decide();
        assert!(decision.allowed());
        assert_eq!(
            decision.warnings,
            [
                "would deny: spec.rules[0].host: \"localhost\" has no dot; TKE needs a domain such as localhost.example.com (E4052)"
            ]
        );
    }

    mod exceptions {
        use super::*;
        use crate::rules::SKIP_KEY;
        use crate::rules::settings::Exceptions;

        fn skipping(fixture: Fixture, value: &str) -> Fixture {
            fixture.annotate(SKIP_KEY, value)
        }

        /// A warn finding: a TLS Ingress asking for an HTTP redirect TKE does not read (https-only).
        /// A TLS Ingress asking for an HTTP redirect TKE does not read: an https-only warning.
        fn https_only() -> Fixture {
            tls()
                .remove("/metadata/annotations/kubernetes.io~1ingress.rule-mix")
                .annotate("example.com/force-ssl-redirect", "true")
        }

        fn ids(findings: &[Finding]) -> Vec<&'static str> {
            findings.iter().map(|f| f.rule.id).collect()
        }

        #[test]
        fn a_skipped_deny_neither_denies_nor_warns_and_is_kept_with_its_reason() {
            let decision = skipping(bad_host(), "host-grammar: legacy host, see OPS-12").decide();
            assert_eq!(
                decision.outcome,
                Outcome::Allowed,
                "{:?}",
                decision.deny_message
            );
            assert!(decision.findings.is_empty() && decision.warnings.is_empty());
            assert_eq!(ids(&decision.skipped_findings().findings), ["host-grammar"]);
            assert_eq!(
                decision.skipped_findings().findings[0].severity,
                Severity::Deny
            );
            assert_eq!(
                decision.skipped_findings().reason,
                "legacy host, see OPS-12"
            );
            assert_eq!(
                decision.skipped_findings().summary(),
                "host-grammar: legacy host, see OPS-12"
            );
            // Only the rules it names: a new mistake still denies.
            let other = skipping(bad_host().url("/api/*"), "host-grammar: legacy").decide();
            assert_eq!(other.rule_ids(), ["path-grammar"]);
        }

        #[test]
        fn a_skipped_warn_is_not_a_warning() {
            assert_eq!(https_only().decide().rule_ids(), ["https-only"]);
            let decision = skipping(https_only(), "https-only: HTTPS only on purpose").decide();
            assert_eq!(decision.outcome, Outcome::Allowed);
            assert!(decision.warnings.is_empty(), "{:?}", decision.warnings);
            assert_eq!(ids(&decision.skipped_findings().findings), ["https-only"]);
        }

        #[test]
        fn an_unknown_id_or_no_reason_skips_nothing_and_says_so() {
            for value in ["hots-grammar: legacy", "host-grammar", "host-grammar:  "] {
                let decision = skipping(bad_host(), value).decide();
                assert!(!decision.allowed(), "{value}");
                assert!(decision.skipped_findings().is_empty(), "{value}");
                let skip = decision
                    .findings
                    .iter()
                    .find(|f| f.rule.id == "skip-annotation");
                let skip = skip.unwrap_or_else(|| panic!("{value}: no skip-annotation finding"));
                assert_eq!(skip.severity, Severity::Warn);
                assert_eq!(
                    skip.field,
                    "metadata.annotations[qcloud-ingress-webhook.io/skip]"
                );
                assert!(!skip.fix.is_empty());
            }
        }

        #[test]
        fn forbid_keeps_every_finding_and_reports_the_attempt() {
            let forbid = |f: Fixture| f.with_settings(|s| s.exceptions = Exceptions::Forbid);
            let decision = forbid(skipping(bad_host(), "host-grammar: legacy")).decide();
            assert!(!decision.allowed());
            assert!(decision.skipped_findings().is_empty());
            assert_eq!(decision.rule_ids(), ["host-grammar", "skip-annotation"]);
            let warned = forbid(skipping(https_only(), "https-only: on purpose")).decide();
            assert_eq!(warned.rule_ids(), ["https-only", "skip-annotation"]);
            assert!(
                warned.warnings[1]
                    .ends_with("https-only not skipped: the cluster sets exceptions: forbid"),
                "{:?}",
                warned.warnings
            );
        }

        #[test]
        fn warn_only_skips_warn_rules_and_keeps_denies() {
            let warn_only = |f: Fixture| f.with_settings(|s| s.exceptions = Exceptions::WarnOnly);
            let both = skipping(bad_host(), "host-grammar, https-only: legacy");
            let both = both
                .set(
                    "/spec/tls",
                    json!([{"hosts": ["localhost"], "secretName": "cert"}]),
                )
                .annotate("example.com/force-ssl-redirect", "true");
            let decision = warn_only(both.clone()).decide();
            assert!(!decision.allowed());
            assert_eq!(ids(&decision.skipped_findings().findings), ["https-only"]);
            assert_eq!(decision.rule_ids(), ["host-grammar", "skip-annotation"]);
            assert!(
                decision.findings[1].problem.contains("warnOnly"),
                "{:?}",
                decision.findings
            );
            // A deny the settings turned into a warn rule may be skipped.
            let demoted = warn_only(both).with_settings(|s| {
                s.rules.insert(
                    "host-grammar".into(),
                    crate::rules::settings::RuleSetting::Warn,
                );
            });
            assert!(demoted.decide().findings.is_empty());
        }

        #[test]
        fn ratcheting_and_warn_mode_do_not_change_what_may_be_skipped() {
            let annotated = skipping(bad_host(), "host-grammar: legacy");
            // An old deny, ratcheted to a warning, is skipped like any other finding.
            let edited = annotated.clone().updating(bad_host()).decide();
            assert!(edited.findings.is_empty() && edited.warnings.is_empty());
            assert!(edited.skipped_findings().findings[0].ratcheted);
            // Deleting the annotation on UPDATE ratchets: the old mistake is only a warning.
            let removed = bad_host().updating(annotated.clone()).decide();
            assert!(removed.allowed());
            assert!(
                removed.warnings[0].starts_with("already present"),
                "{:?}",
                removed.warnings
            );
            // warnOnly judges the deny the rule is in this cluster, ratcheted or not.
            let warn_only = |f: Fixture| f.with_settings(|s| s.exceptions = Exceptions::WarnOnly);
            let refused = warn_only(annotated.clone().updating(bad_host())).decide();
            assert_eq!(refused.rule_ids(), ["host-grammar", "skip-annotation"]);
            // enforcement: warn applies after: a skipped deny is no "would deny" warning, and a
            // refused one still is.
            let warn_mode = |f: Fixture| f.with_settings(|s| s.enforcement = Enforcement::Warn);
            let skipped = warn_mode(annotated.clone()).decide();
            assert!(skipped.warnings.is_empty() && skipped.skipped_findings().findings.len() == 1);
            let kept = warn_mode(warn_only(annotated)).decide();
            assert!(kept.allowed());
            assert!(
                kept.warnings[0].starts_with("would deny: "),
                "{:?}",
                kept.warnings
            );
        }

        #[test]
        fn another_class_ignores_the_annotation() {
            let nginx =
                skipping(bad_host(), "class-typo").annotate("kubernetes.io/ingress.class", "nginx");
            let decision = nginx.decide();
            assert_eq!(decision.outcome, Outcome::Skipped(Skip::OtherClass));
            assert!(decision.skipped_findings().is_empty());
        }
    }

    #[test]
    fn exemptions_match_user_group_or_namespace() {
        let mut settings = Settings::default();
        settings.exempt.groups = vec!["ops".into()];
        settings.exempt.namespaces = vec!["legacy".into()];
        let engine = Engine::new(settings).unwrap();
        let groups = ["ops".to_owned()];
        let who = |username, groups| Requester { username, groups };
        let controller = "system:serviceaccount:kube-system:l7-lb-controller";
        assert!(engine.is_exempt(&who(controller, &[]), NS));
        assert!(engine.is_exempt(&who("alice", &groups), NS));
        assert!(engine.is_exempt(&who("alice", &[]), "legacy"));
        assert!(!engine.is_exempt(&who("alice", &[]), NS));

        let object = serde_json::value::to_raw_value(&bad_host().object).unwrap();
        let input = AdmissionInput {
            endpoint: Endpoint::Validate,
            operation: Operation::Create,
            kind: Kind::INGRESS_V1,
            namespace: Some("legacy"),
            object: Some(ObjectInput::Text(&object)),
            old_object: None,
            requester: Requester::default(),
        };
        let decision = engine.admit_with(input.clone(), no_cluster());
        assert_eq!(decision.outcome, Outcome::Skipped(Skip::Exempt));
        assert_eq!(
            (decision.namespace.as_str(), decision.name.as_str()),
            ("legacy", "app")
        );
    }

    #[test]
    fn mutate_judges_the_patched_object_and_always_carries_the_patch() {
        let fixable = http().annotate("kubernetes.io/ingress.rule-mix", "True");
        assert!(!fixable.decide_at(Endpoint::Validate).allowed());
        let mutated = fixable.decide_at(Endpoint::Mutate);
        assert!(mutated.allowed(), "{:?}", mutated.deny_message);
        assert!(mutated.patch.is_some());
        assert!(
            mutated.patch_warnings[0].starts_with("patched "),
            "{:?}",
            mutated.patch_warnings
        );
        let still_bad = fixable.host("localhost").decide_at(Endpoint::Mutate);
        assert!(!still_bad.allowed());
        assert!(
            still_bad.patch.is_some(),
            "the validating webhook denies, /mutate patches"
        );
    }

    #[test]
    fn the_pending_step_names_the_secrets_to_fetch_and_can_answer_unchecked() {
        let engine = Engine::new(Settings::default()).unwrap();
        let object = serde_json::value::to_raw_value(&tls().object).unwrap();
        let input = AdmissionInput {
            endpoint: Endpoint::Mutate,
            operation: Operation::Create,
            kind: Kind::INGRESS_V1,
            namespace: None,
            object: Some(ObjectInput::Text(&object)),
            old_object: None,
            requester: Requester::default(),
        };
        let Admission::Pending(pending) = engine.admit(input) else {
            panic!("a qcloud Ingress waits for the cluster");
        };
        assert_eq!(pending.namespace(), NS);
        assert_eq!(pending.secret_names(), ["cert"]);
        let unchecked = pending.unchecked();
        assert!(unchecked.allowed());
        assert!(
            unchecked.warnings[0].contains("not checked"),
            "{:?}",
            unchecked.warnings
        );
    }
}
