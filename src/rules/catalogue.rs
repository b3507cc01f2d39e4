//! The fixed list of rules: stable ids, default severities and TKE error codes.
//!
//! Ids are part of the interface (settings, metrics labels, `docs/rules.md`): never rename one.

use super::Severity;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Stable kebab-case id, e.g. `host-grammar`.
    pub id: &'static str,
    /// Row of the checks table in the TKE behaviour spec, e.g. `C17`.
    pub check: &'static str,
    /// TKE controller error code this rule predicts, e.g. `E4052`.
    pub tke_code: Option<&'static str>,
    pub default_severity: Severity,
    /// One line: what the rule checks.
    pub summary: &'static str,
}

/// Every rule, in documentation order.
pub static RULES: &[&Rule] = &[];

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}
