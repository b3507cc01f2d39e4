//! Rule settings (`serve --config`, `check --config`): per-rule severity, enforcement mode and
//! exemptions. The file is YAML:
//!
//! ```yaml
//! enforcement: enforce        # or warn: every deny becomes warnings and the request is allowed
//! rules:                      # rule id -> deny | warn | off
//!   host-grammar: warn
//! exempt:
//!   usernames: [system:serviceaccount:kube-system:l7-lb-controller]
//!   groups: []
//!   namespaces: [kube-system]
//! ```

use std::collections::HashMap;

/// `enforce` denies on deny findings; `warn` turns every deny into warnings (rollout, audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    #[default]
    Enforce,
    Warn,
}

/// A per-rule override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSetting {
    Deny,
    Warn,
    Off,
}

/// Who and what is never reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exemptions {
    pub usernames: Vec<String>,
    pub groups: Vec<String>,
    pub namespaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub enforcement: Enforcement,
    /// Rule id → override.
    pub rules: HashMap<String, RuleSetting>,
    pub exempt: Exemptions,
}
