//! The rule functions, grouped by what they look at. Each function checks one rule of the
//! [catalogue](super::catalogue), which runs them in documentation order; each module keeps the
//! named test cases of its rules beside them.

pub mod annotation_keys;
pub mod annotation_values;
pub mod backends;
pub mod class;
pub mod cloud;
pub mod direct_access;
pub mod listeners;
pub mod routes;
pub mod shared_lb;
pub mod skip;
pub mod tls;
pub mod update;

use crate::rules::Severity;

/// The form every documented Tencent Cloud resource id is shown in: a prefix and 8 lowercase
/// letters or digits (`lb-6swtxxxx`, `vpc-646vhcjj`, `subnet-3swgntkk`).
pub(crate) struct IdForm {
    pub prefix: &'static str,
    /// How a message names one id, e.g. `CLB id`.
    pub id: &'static str,
    /// How a message names them all, e.g. `CLB ids`.
    pub ids: &'static str,
}

impl IdForm {
    const LEN: usize = 8;

    /// What is wrong with `value`: a deny when it cannot be such an id (a placeholder, a typo),
    /// a warning when only its length differs, since the form is shown by example, not
    /// specified.
    pub(crate) fn problem(&self, value: &str) -> Option<(String, Severity)> {
        let rest = value.strip_prefix(self.prefix).unwrap_or_default();
        let charset = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        if rest.is_empty() || !rest.chars().all(charset) {
            Some((format!("{value:?} is not a {}", self.id), Severity::Deny))
        } else if rest.len() == Self::LEN {
            None
        } else {
            let problem = format!(
                "{value:?} has {} characters after {}; {} have {}",
                rest.len(),
                self.prefix,
                self.ids,
                Self::LEN
            );
            Some((problem, Severity::Warn))
        }
    }
}
