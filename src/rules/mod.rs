//! The rules: pure functions from an Ingress under review and a read-only cluster view to
//! [`Finding`]s (validating side) and JSON patch operations (mutating side).
//!
//! No async, no I/O, no HTTP here. Every rule has a stable id in [`catalogue`], a default severity
//! and, where TKE has one, the controller's error code.

pub mod annotations;
pub mod catalogue;
mod checks;
mod context;
mod json;
pub mod mutate;
mod report;
pub mod settings;
#[cfg(test)]
mod tests;

use k8s_openapi::api::networking::v1::Ingress;

use crate::cluster::ClusterLookup;
use crate::ingress::IngressVersion;
pub use catalogue::Rule;
pub use settings::Settings;

/// What a finding does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Allowed, with an admission warning.
    Warn,
    /// Denied.
    Deny,
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

/// Everything a validating rule may look at.
pub struct Review<'a> {
    pub operation: Operation,
    /// The Ingress's namespace (from the request when the object has none).
    pub namespace: &'a str,
    pub ingress: &'a Ingress,
    /// The version the user wrote, for messages that quote field names.
    pub version: IngressVersion,
    /// The object before an UPDATE.
    pub old: Option<&'a Ingress>,
    pub cluster: &'a dyn ClusterLookup,
}

/// Who sent the request, for exemptions.
#[derive(Debug, Clone, Default)]
pub struct Requester<'a> {
    pub username: &'a str,
    pub groups: &'a [String],
}

/// The outcome of validating one Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Every finding, with its effective severity.
    pub findings: Vec<Finding>,
    /// For the person running `kubectl apply`: every deny finding on one line, `; `-separated, or
    /// `None` when the request is allowed.
    pub deny_message: Option<String>,
    /// One line each, at most 120 characters.
    pub warnings: Vec<String>,
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

    /// The Secrets (in the Ingress's namespace) the rules will read, so a live view can fetch them
    /// before [`Engine::validate`] runs.
    pub fn secret_names(&self, ingress: &Ingress) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let tls = ingress.spec.as_ref().and_then(|s| s.tls.as_deref());
        for name in tls
            .into_iter()
            .flatten()
            .filter_map(|t| t.secret_name.as_deref())
        {
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        names
    }

    /// Runs every rule on a qcloud Ingress and applies settings, ratcheting and enforcement.
    pub fn validate(&self, review: &Review<'_>) -> Verdict {
        let mut findings = self.findings(
            review.namespace,
            review.ingress,
            review.operation,
            review.old,
            review.cluster,
        );
        findings.retain_mut(|f| self.apply_setting(f));
        if let (Operation::Update, Some(old)) = (review.operation, review.old) {
            let mut before = self.findings(
                review.namespace,
                old,
                Operation::Update,
                None,
                review.cluster,
            );
            before.retain_mut(|f| self.apply_setting(f));
            report::ratchet(&mut findings, &before);
        }
        if self.settings.enforcement == settings::Enforcement::Warn {
            for finding in &mut findings {
                if finding.severity == Severity::Deny {
                    finding.severity = Severity::Warn;
                    finding.enforcement_warn = true;
                }
            }
        }
        report::verdict(findings, review.version)
    }

    /// Warnings for an Ingress that is not TKE's: a class that looks like a misspelt `qcloud`, or an
    /// UPDATE that takes the Ingress away from TKE. Never denies.
    pub fn out_of_scope_warnings(&self, ingress: &Ingress, old: Option<&Ingress>) -> Vec<String> {
        let mut findings = Vec::new();
        if let Some(typo) = class_typo(ingress) {
            findings.push(typo);
        }
        if let Some(old) = old.filter(|o| crate::ingress::is_qcloud(o)) {
            findings.push(Finding::new(
                &catalogue::CLASS_CHANGE,
                changed_class_field(old, ingress),
                "moves this Ingress away from TKE: its CLB will be released",
                "keep class qcloud unless the CLB should go",
            ));
        }
        findings.retain_mut(|f| self.apply_setting(f));
        findings
            .iter()
            .map(|f| report::warning(f, IngressVersion::NetworkingV1))
            .collect()
    }

    /// Every rule's raw findings, before settings.
    fn findings(
        &self,
        namespace: &str,
        ingress: &Ingress,
        operation: Operation,
        old: Option<&Ingress>,
        cluster: &dyn ClusterLookup,
    ) -> Vec<Finding> {
        static NONE: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        let annotations = ingress.metadata.annotations.as_ref().unwrap_or(&NONE);
        let (mut findings, parsed) = self.schemas.check(annotations);
        let ctx = context::Ctx::new(namespace, ingress, parsed, cluster);
        checks::run(&ctx, operation, old, &mut findings);
        findings
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

/// The class field an UPDATE changed: `spec.ingressClassName` if it differs, else the annotation.
pub(crate) fn changed_class_field(old: &Ingress, new: &Ingress) -> String {
    let class_name = |i: &Ingress| i.spec.as_ref().and_then(|s| s.ingress_class_name.clone());
    if class_name(old) == class_name(new) {
        json::annotation_field(annotations::CLASS)
    } else {
        "spec.ingressClassName".to_owned()
    }
}

/// A class value that looks like a misspelt `qcloud` (the Ingress is then not TKE's at all).
fn class_typo(ingress: &Ingress) -> Option<Finding> {
    const LOOKALIKES: [&str; 5] = ["clb", "tke", "tencent", "qcloud-clb", "tencent-clb"];
    let annotation = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotations::CLASS));
    let class_name = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_ref());
    let (field, value) = match (annotation, class_name) {
        (Some(a), _) if !a.is_empty() => (json::annotation_field(annotations::CLASS), a),
        (_, Some(c)) => ("spec.ingressClassName".to_owned(), c),
        _ => return None,
    };
    let lower = value.trim().to_ascii_lowercase();
    let typo = (lower == crate::ingress::QCLOUD_CLASS && value != crate::ingress::QCLOUD_CLASS)
        || LOOKALIKES.contains(&lower.as_str())
        || (lower != crate::ingress::QCLOUD_CLASS
            && lower.len() >= 4
            && crate::text::edit_distance(&lower, crate::ingress::QCLOUD_CLASS) <= 2);
    typo.then(|| {
        Finding::new(
            &catalogue::CLASS_TYPO,
            field,
            format!("{value:?} is not qcloud, so TKE ignores this Ingress"),
            "write qcloud exactly, if TKE should make a CLB",
        )
    })
}
