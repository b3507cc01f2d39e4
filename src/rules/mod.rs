//! The rules: pure functions from an Ingress under review and a read-only cluster view to
//! [`Finding`]s (validating side) and JSON patch operations (mutating side).
//!
//! No async, no I/O, no HTTP here. Front ends (the webhook server, `check`, an audit pass) call
//! the one [admission function](Engine::admit), so none of them can drift from what
//! `kubectl apply` gets. Every rule has a stable id in [`catalogue`], a default severity and,
//! where TKE has one, the controller's error code.

pub mod admission;
pub mod annotations;
pub mod catalogue;
mod checks;
mod context;
mod json;
pub mod mutate;
mod report;
pub mod settings;
#[cfg(test)]
mod testing;

use std::fmt::Write as _;

use crate::ingress::view::Ingress;

use crate::cluster::ClusterLookup;
use crate::ingress::IngressVersion;
pub use admission::{
    Admission, AdmissionInput, Decision, Endpoint, Kind, ObjectInput, Outcome, Pending, Ruling,
    Skip,
};
pub use catalogue::Rule;
use catalogue::{Check, RULES};
pub use checks::skip::SKIP_KEY;
pub use checks::tls::{SecretReference, secret_references};
use context::{Ctx, Subject};
pub use report::sanitize_warnings;
pub use settings::Settings;

/// What a finding does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Allowed, with an admission warning.
    Warn,
    /// Denied.
    Deny,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Deny => "deny",
        }
    }
}

/// The admission operation under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

/// One problem found in an Ingress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static Rule,
    /// Effective severity: the rule's default unless settings or ratcheting changed it.
    pub severity: Severity,
    /// The TKE error code this finding predicts: the rule's, or the exact one of a rule that
    /// covers several annotations.
    pub tke_code: Option<&'static str>,
    /// Kubernetes-style field path in v1 spelling, e.g. `spec.rules[0].http.paths[1].path` or
    /// `metadata.annotations[kubernetes.io/ingress.http-rules][0].backend.servicePort`.
    pub field: String,
    /// What is wrong, short enough for a warning line, e.g. `"/api/*" has characters CLB rejects`.
    pub problem: String,
    /// How to fix it, e.g. `use only A-Z a-z 0-9 . - _ / = ? :`. May be empty.
    pub fix: String,
    /// Set when a deny was turned into a warning by `enforcement: warn`.
    pub enforcement_warn: bool,
    /// Set when UPDATE ratcheting turned a deny into a warning: the old object had it too.
    pub ratcheted: bool,
}

impl Finding {
    /// What an Ingress author reads: `<problem>; <fix> (TKE Ingress error E4052)`.
    pub fn message(&self) -> String {
        let mut text = self.problem.clone();
        if !self.fix.is_empty() {
            let _ = write!(text, "; {}", self.fix);
        }
        if let Some(code) = self.tke_code {
            let _ = write!(text, " (TKE Ingress error {code})");
        }
        text
    }

    pub fn new(
        rule: &'static Rule,
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            rule,
            severity: rule.default_severity,
            tke_code: rule.tke_code,
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
            enforcement_warn: false,
            ratcheted: false,
        }
    }

    /// The exact TKE code, for rules that cover several.
    #[must_use]
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.tke_code = Some(code);
        self
    }

    /// A severity other than the rule's default (e.g. a path over 120 but within 200 characters).
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

/// Everything the rules look at for one decoded Ingress.
pub struct Review<'a> {
    pub operation: Operation,
    /// The Ingress's namespace (from the request when the object has none).
    pub namespace: &'a str,
    pub ingress: &'a Ingress<'a>,
    /// The version the user wrote, for messages that quote field names.
    pub version: IngressVersion,
    /// The object before an UPDATE.
    pub old: Option<&'a Ingress<'a>>,
    pub cluster: &'a dyn ClusterLookup,
    /// Tencent Cloud's answers (empty with cloud checks off).
    pub cloud: &'a crate::cluster::CloudFacts,
}

/// Who sent the request, for exemptions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Requester<'a> {
    pub username: &'a str,
    pub groups: &'a [String],
}

/// The findings the Ingress's skip annotation ([`SKIP_KEY`]) accepted, with the reason it gives:
/// they neither deny nor warn, and every front end shows them as skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SkippedFindings {
    /// With the severity they would have had.
    pub findings: Vec<Finding>,
    /// One line, as written after the colon.
    pub reason: String,
}

impl SkippedFindings {
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }

    /// The rule ids, once each, in order.
    pub fn rule_ids(&self) -> Vec<&'static str> {
        rule_ids(&self.findings)
    }

    /// `host-grammar,https-only: legacy hosts, see OPS-12`, at most 512 characters (the
    /// response's audit annotation); empty when nothing was skipped.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let line = format!("{}: {}", self.rule_ids().join(","), self.reason);
        crate::text::shorten(&line, 512)
    }
}

/// The rule ids of `findings`, once each, in order.
pub(crate) fn rule_ids(findings: &[Finding]) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = Vec::new();
    for finding in findings {
        if !ids.contains(&finding.rule.id) {
            ids.push(finding.rule.id);
        }
    }
    ids
}

/// What every front end says of a finding the Ingress's skip annotation skipped, in place of
/// its severity's consequence.
pub fn skipped_note(reason: &str) -> String {
    format!("skipped on this Ingress: {reason}")
}

/// The outcome of validating one decoded Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Every finding, with its effective severity.
    pub findings: Vec<Finding>,
    /// For the person running `kubectl apply`: every deny finding on one line, `; `-separated, or
    /// `None` when the request is allowed.
    pub deny_message: Option<String>,
    /// One line each, at most 120 characters.
    pub warnings: Vec<String>,
    /// What the skip annotation took out of `findings`.
    pub skipped: SkippedFindings,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.deny_message.is_none()
    }
}

/// Why the engine could not be built (a schema that does not compile, bad settings).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

/// The rules with their settings and compiled JSON schemas: built once at start-up, shared by
/// every review (`Arc<Engine>`).
#[derive(Debug)]
pub struct Engine {
    settings: Settings,
    schemas: json::Schemas,
}

impl Engine {
    pub fn new(settings: Settings) -> Result<Self, EngineError> {
        Ok(Self {
            settings,
            schemas: json::Schemas::compile()?,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// True when the request is not reviewed at all (exempt user, group or namespace).
    pub fn is_exempt(&self, requester: &Requester<'_>, namespace: &str) -> bool {
        let exempt = &self.settings.exempt;
        exempt.usernames.iter().any(|u| u == requester.username)
            || requester.groups.iter().any(|g| exempt.groups.contains(g))
            || exempt.namespaces.iter().any(|n| n == namespace)
    }

    /// Runs every rule on a decoded Ingress and applies settings, ratcheting, the Ingress's skip
    /// annotation and enforcement, in that order.
    /// Front ends call [`Engine::admit`], which decodes, scopes and canonicalises first; this is
    /// the step after, for benchmarks and tests of the rules alone.
    pub fn validate(&self, review: &Review<'_>) -> Verdict {
        let subject = Subject {
            operation: review.operation,
            namespace: review.namespace,
            ingress: review.ingress,
            old: review.old,
        };
        let mut findings = self.findings(subject, review.cluster, review.cloud);
        if let (Operation::Update, Some(old)) = (review.operation, review.old) {
            let before = Subject {
                ingress: old,
                old: None,
                ..subject
            };
            report::ratchet(
                &mut findings,
                &self.findings(before, review.cluster, review.cloud),
            );
        }
        let skipped = self.except(review.ingress, &mut findings);
        if self.settings.enforcement == settings::Enforcement::Warn {
            for finding in findings.iter_mut().filter(|f| f.severity == Severity::Deny) {
                finding.severity = Severity::Warn;
                finding.enforcement_warn = true;
            }
        }
        Verdict {
            skipped,
            ..report::verdict(findings, review.version)
        }
    }

    /// Applies the skip annotation of a qcloud Ingress: the findings of the rules it names move
    /// out when the `exceptions` setting allows, else they stay and `skip-annotation` says why.
    fn except(&self, ingress: &Ingress<'_>, findings: &mut Vec<Finding>) -> SkippedFindings {
        let value = ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(SKIP_KEY));
        let Some(value) = value.filter(|_| crate::ingress::is_qcloud(ingress)) else {
            return SkippedFindings::default();
        };
        let request = checks::skip::parse(value);
        let Some(reason) = request.reason else {
            return SkippedFindings::default();
        };
        let mut skipped = Vec::new();
        let mut refused: Vec<&'static Rule> = Vec::new();
        for finding in std::mem::take(findings) {
            if !request.rules.contains(&finding.rule) {
                findings.push(finding);
            } else if self.may_skip(&finding) {
                skipped.push(finding);
            } else {
                if !refused.contains(&finding.rule) {
                    refused.push(finding.rule);
                }
                findings.push(finding);
            }
        }
        for rule in refused {
            let mut finding = checks::skip::refused(rule, self.settings.exceptions);
            if self.apply_setting(&mut finding) {
                findings.push(finding);
            }
        }
        SkippedFindings {
            findings: skipped,
            reason: crate::text::one_line(reason),
        }
    }

    /// Whether the `exceptions` setting lets the annotation skip this finding. `warnOnly` goes
    /// by the rule's severity in this cluster (its default or `rules:`), before ratcheting made
    /// an old deny a warning and before `enforcement: warn`: the same annotation means the same
    /// in warn mode, on CREATE and on UPDATE.
    fn may_skip(&self, finding: &Finding) -> bool {
        let configured = if finding.ratcheted {
            Severity::Deny
        } else {
            finding.severity
        };
        match self.settings.exceptions {
            settings::Exceptions::Allow => true,
            settings::Exceptions::WarnOnly => configured == Severity::Warn,
            settings::Exceptions::Forbid => false,
        }
    }

    /// What TKE builds from an Ingress, as the rules see it (the model `plan` prints): its
    /// layout and the JSON annotations that fit their schemas.
    pub fn model(&self, ingress: &Ingress<'_>) -> crate::ingress::clb::Clb {
        static NONE: crate::ingress::Annotations<'static> = crate::ingress::Annotations::new();
        let annotations = ingress.metadata.annotations.as_ref().unwrap_or(&NONE);
        let (_, parsed) = self.schemas.check(annotations);
        let nothing = crate::cluster::ClusterState::default();
        let subject = Subject {
            operation: Operation::Create,
            namespace: "",
            ingress,
            old: None,
        };
        Ctx::new(subject, parsed, &nothing).clb().clone()
    }

    /// Every rule's findings with the settings applied, in catalogue order (JSON schema findings
    /// first, since later rules read the parsed values). An Ingress that is not TKE's gets only
    /// the class rules, and only as warnings.
    fn findings(
        &self,
        subject: Subject<'_>,
        cluster: &dyn ClusterLookup,
        cloud: &crate::cluster::CloudFacts,
    ) -> Vec<Finding> {
        static NONE: crate::ingress::Annotations<'static> = crate::ingress::Annotations::new();
        let in_scope = crate::ingress::is_qcloud(subject.ingress);
        let (mut findings, parsed) = if in_scope {
            let annotations = subject.ingress.metadata.annotations.as_ref();
            self.schemas.check(annotations.unwrap_or(&NONE))
        } else {
            (Vec::new(), Vec::new())
        };
        let mut ctx = Ctx::new(subject, parsed, cluster);
        ctx.direct_access_by_default = self.settings.direct_access_by_default;
        ctx.cloud = cloud;
        for rule in RULES.iter().filter(|r| !self.is_off(r)) {
            match rule.run {
                Check::Qcloud(check) if in_scope => check(&ctx, &mut findings),
                Check::AnyClass(check) => check(&ctx, &mut findings),
                _ => {}
            }
        }
        findings.retain_mut(|f| self.apply_setting(f));
        if !in_scope {
            for finding in &mut findings {
                finding.severity = Severity::Warn;
            }
        }
        findings
    }

    fn is_off(&self, rule: &Rule) -> bool {
        match self.settings.rules.get(rule.id) {
            Some(setting) => *setting == settings::RuleSetting::Off,
            None => rule.off_by_default,
        }
    }

    /// Applies a per-rule override; false when the rule is off.
    fn apply_setting(&self, finding: &mut Finding) -> bool {
        match self.settings.rules.get(finding.rule.id) {
            Some(settings::RuleSetting::Off) => false,
            Some(settings::RuleSetting::Warn) => {
                finding.severity = Severity::Warn;
                true
            }
            Some(settings::RuleSetting::Deny) => {
                finding.severity = Severity::Deny;
                true
            }
            None => true,
        }
    }
}
