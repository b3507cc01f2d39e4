//! The rules: pure functions from an Ingress under review and a read-only cluster view to
//! [`Finding`]s (validating side) and JSON patch operations (mutating side).
//!
//! No async, no I/O, no HTTP here. Every rule has a stable id in [`catalogue`], a default severity
//! and, where TKE has one, the controller's error code.

pub mod annotations;
pub mod catalogue;
pub mod settings;

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
}

impl Engine {
    pub fn new(settings: Settings) -> Result<Self, EngineError> {
        Ok(Self { settings })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// True when the request is not reviewed at all (exempt user, group or namespace).
    pub fn is_exempt(&self, _requester: &Requester<'_>, _namespace: &str) -> bool {
        false
    }

    /// The Secrets (in the Ingress's namespace) the rules will read, so a live view can fetch them
    /// before [`Engine::validate`] runs.
    pub fn secret_names(&self, _ingress: &Ingress) -> Vec<String> {
        Vec::new()
    }

    /// Runs every rule on a qcloud Ingress and applies settings, ratcheting and enforcement.
    pub fn validate(&self, _review: &Review<'_>) -> Verdict {
        Verdict::default()
    }
}
