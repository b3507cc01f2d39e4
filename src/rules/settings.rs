//! Rule settings (`serve --config`, `check --config`): per-rule severity, enforcement mode and
//! exemptions. The file is YAML; every key is optional and unknown keys are errors:
//!
//! ```yaml
//! enforcement: enforce        # or warn: every deny becomes warnings and the request is allowed
//! rules:                      # rule id -> deny | warn | off
//!   host-grammar: warn
//! exempt:                     # requests never reviewed
//!   usernames: [system:serviceaccount:kube-system:l7-lb-controller]
//!   groups: []
//!   namespaces: [legacy-apps]
//! directAccessByDefault: false # the cluster binds Pods without the direct-access annotation
//! failOnUnresolved: false      # check: exit 1 when a Service or Secret is not among the inputs
//! exceptions: allow            # or warnOnly, forbid: what qcloud-ingress-webhook.io/skip may skip
//! ```
//!
//! Defaults (no file, an empty file, or a key left out): `enforcement: enforce`,
//! `exceptions: allow`, no overrides, and
//! `exempt.usernames` = TKE's own controller service accounts in kube-system
//! ([`TKE_CONTROLLER_USERNAMES`]), whose writes to Ingress annotations and status must never be
//! blocked. A file that sets `exempt.usernames` **replaces** that list, so list the controllers
//! again if you still want them exempt (the Helm chart always renders them).
//!
//! `exempt.namespaces` is empty by default, `kube-system` included: keeping namespaces away from
//! the webhook is the job of the webhook's `namespaceSelector` (the chart leaves out kube-system
//! and the release namespace before the API server ever calls), and an empty default means
//! `check` reviews every manifest it is given. Add namespaces here to skip them server-side too.
//!
//! Invalid files fail with one line naming the bad key, e.g.
//! `rules.host-gramar: no such rule (did you mean host-grammar?)`.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use super::catalogue;

/// The service accounts of TKE's Ingress and Service controllers (kube-system), exempt by default.
pub const TKE_CONTROLLER_USERNAMES: [&str; 2] = [
    "system:serviceaccount:kube-system:l7-lb-controller",
    "system:serviceaccount:kube-system:service-controller",
];

/// `enforce` denies on deny findings; `warn` turns every deny into warnings (rollout, audit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    #[default]
    Enforce,
    Warn,
}

/// What the `qcloud-ingress-webhook.io/skip` annotation on an Ingress may skip
/// (`docs/rules.md`, "Exceptions for one Ingress").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Exceptions {
    /// Any rule's findings, deny or warn. The default: a deny here predicts a TKE failure of
    /// the Ingress's own author, and a false one must not force a cluster-wide setting change.
    #[default]
    Allow,
    /// Only findings of rules whose severity in this cluster is warn.
    WarnOnly,
    /// None: the annotation is reported and every finding stays.
    Forbid,
}

impl Exceptions {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::WarnOnly => "warnOnly",
            Self::Forbid => "forbid",
        }
    }
}

/// A per-rule override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSetting {
    Deny,
    Warn,
    Off,
}

/// Who and what is never reviewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemptions {
    pub usernames: Vec<String>,
    pub groups: Vec<String>,
    pub namespaces: Vec<String>,
}

impl Default for Exemptions {
    /// TKE's controller service accounts; no groups, no namespaces (see the module docs).
    fn default() -> Self {
        Self {
            usernames: TKE_CONTROLLER_USERNAMES.map(str::to_owned).to_vec(),
            groups: Vec::new(),
            namespaces: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub enforcement: Enforcement,
    /// Rule id → override.
    pub rules: HashMap<String, RuleSetting>,
    pub exempt: Exemptions,
    /// The cluster makes direct access the default (TKE's `EnableDefaultDirectAccess`, or a
    /// serverless cluster): the CLB binds Pods even without the annotation, so a ClusterIP
    /// backend works.
    pub direct_access_by_default: bool,
    /// `check` fails (exit 1) when a reference is not among its inputs.
    pub fail_on_unresolved: bool,
    /// What the skip annotation on an Ingress may skip.
    pub exceptions: Exceptions,
}

/// Why a settings file was rejected: one line, starting with the bad key where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
}

/// The file as written. Values stay strings here so that a bad one is reported with its key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    enforcement: Option<String>,
    rules: Option<BTreeMap<String, String>>,
    exempt: Option<ExemptFile>,
    #[serde(rename = "directAccessByDefault")]
    direct_access_by_default: Option<bool>,
    #[serde(rename = "failOnUnresolved")]
    fail_on_unresolved: Option<bool>,
    exceptions: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemptFile {
    usernames: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    namespaces: Option<Vec<String>>,
}

const TOP_KEYS: [&str; 6] = [
    "enforcement",
    "rules",
    "exempt",
    "directAccessByDefault",
    "failOnUnresolved",
    "exceptions",
];
const EXEMPT_KEYS: [&str; 3] = ["usernames", "groups", "namespaces"];

impl Settings {
    /// Parses settings YAML. An empty document gives the defaults.
    pub fn from_yaml_str(text: &str) -> Result<Self, SettingsError> {
        if text.trim().is_empty()
            || serde_saphyr::from_str::<Value>(text).is_ok_and(|v| v.is_null())
        {
            return Ok(Self::default());
        }
        let file: SettingsFile = serde_saphyr::from_str(text).map_err(|e| explain(text, &e))?;
        file.into_settings()
    }
}

impl SettingsFile {
    fn into_settings(self) -> Result<Settings, SettingsError> {
        let mut settings = Settings {
            direct_access_by_default: self.direct_access_by_default.unwrap_or_default(),
            fail_on_unresolved: self.fail_on_unresolved.unwrap_or_default(),
            ..Settings::default()
        };
        if let Some(value) = self.enforcement {
            settings.enforcement = enforcement(&value)?;
        }
        if let Some(value) = self.exceptions {
            settings.exceptions = exceptions(&value)?;
        }
        for (id, value) in self.rules.unwrap_or_default() {
            if catalogue::by_id(&id).is_none() {
                let ids = catalogue::RULES.iter().map(|r| r.id);
                return Err(SettingsError::Invalid(format!(
                    "rules.{id}: no such rule{}",
                    did_you_mean(&id, ids)
                )));
            }
            let setting = match value.trim() {
                "deny" => RuleSetting::Deny,
                "warn" => RuleSetting::Warn,
                "off" => RuleSetting::Off,
                other => {
                    return Err(bad_value(
                        &format!("rules.{id}"),
                        other,
                        "deny, warn or off",
                    ));
                }
            };
            settings.rules.insert(id, setting);
        }
        if let Some(exempt) = self.exempt {
            // A list that is given replaces the default one (documented in the module header).
            let lists = [
                (
                    "usernames",
                    exempt.usernames,
                    &mut settings.exempt.usernames,
                ),
                ("groups", exempt.groups, &mut settings.exempt.groups),
                (
                    "namespaces",
                    exempt.namespaces,
                    &mut settings.exempt.namespaces,
                ),
            ];
            for (key, given, target) in lists {
                if let Some(given) = given {
                    if let Some(empty) = given.iter().position(|s| s.trim().is_empty()) {
                        return Err(SettingsError::Invalid(format!(
                            "exempt.{key}[{empty}]: empty name"
                        )));
                    }
                    *target = given;
                }
            }
        }
        Ok(settings)
    }
}

fn enforcement(value: &str) -> Result<Enforcement, SettingsError> {
    match value.trim() {
        "enforce" => Ok(Enforcement::Enforce),
        "warn" => Ok(Enforcement::Warn),
        other => Err(bad_value("enforcement", other, "enforce or warn")),
    }
}

fn exceptions(value: &str) -> Result<Exceptions, SettingsError> {
    match value.trim() {
        "allow" => Ok(Exceptions::Allow),
        "warnOnly" => Ok(Exceptions::WarnOnly),
        "forbid" => Ok(Exceptions::Forbid),
        other => Err(bad_value("exceptions", other, "allow, warnOnly or forbid")),
    }
}

fn bad_value(key: &str, value: &str, expected: &str) -> SettingsError {
    SettingsError::Invalid(format!("{key}: {value:?} is not {expected}"))
}

/// Turns a serde-saphyr error into one line that names the key: unknown keys and values of the
/// wrong shape are found by walking the document; anything else (YAML syntax) keeps the parser's
/// message with its line.
fn explain(text: &str, error: &serde_saphyr::Error) -> SettingsError {
    let parsed = serde_saphyr::from_str::<Value>(text).ok();
    if let Some(message) = parsed.as_ref().and_then(find_shape_error) {
        return SettingsError::Invalid(message);
    }
    let message = crate::ingress::one_line(&error.without_snippet().to_string());
    SettingsError::Invalid(match error.location() {
        Some(at) if at.line() > 0 && !message.contains("line") => {
            format!("line {}: {message}", at.line())
        }
        _ => message,
    })
}

/// The first key that is unknown or whose value has the wrong shape.
fn find_shape_error(root: &Value) -> Option<String> {
    let Value::Object(top) = root else {
        return Some("the settings file must be a mapping of enforcement, rules, exempt".into());
    };
    for (key, value) in top {
        match key.as_str() {
            "enforcement" if !value.is_string() => {
                return Some(format!(
                    "enforcement: {} is not enforce or warn",
                    short(value)
                ));
            }
            "exceptions" if !value.is_string() => {
                return Some(format!(
                    "exceptions: {} is not allow, warnOnly or forbid",
                    short(value)
                ));
            }
            "rules" => match value {
                Value::Null => {}
                Value::Object(rules) => {
                    for (id, setting) in rules {
                        if !setting.is_string() {
                            return Some(format!(
                                "rules.{id}: {} is not deny, warn or off",
                                short(setting)
                            ));
                        }
                    }
                }
                other => return Some(format!("rules: {} is not a mapping", short(other))),
            },
            "exempt" => return exempt_shape_error(value),
            "directAccessByDefault" | "failOnUnresolved" if !value.is_boolean() => {
                return Some(format!("{key}: {} is not true or false", short(value)));
            }
            known if TOP_KEYS.contains(&known) => {}
            unknown => {
                return Some(format!(
                    "{unknown}: no such setting{}",
                    did_you_mean(unknown, TOP_KEYS.into_iter())
                ));
            }
        }
    }
    None
}

fn exempt_shape_error(value: &Value) -> Option<String> {
    let exempt = match value {
        Value::Null => return None,
        Value::Object(exempt) => exempt,
        other => return Some(format!("exempt: {} is not a mapping", short(other))),
    };
    for (key, list) in exempt {
        if !EXEMPT_KEYS.contains(&key.as_str()) {
            return Some(format!(
                "exempt.{key}: no such setting{}",
                did_you_mean(key, EXEMPT_KEYS.into_iter())
            ));
        }
        match list {
            Value::Null => {}
            Value::Array(items) => {
                if let Some(i) = items.iter().position(|item| !item.is_string()) {
                    return Some(format!(
                        "exempt.{key}[{i}]: {} is not a name",
                        short(&items[i])
                    ));
                }
            }
            other => return Some(format!("exempt.{key}: {} is not a list", short(other))),
        }
    }
    None
}

/// A value quoted for a message, cut to stay on one short line.
fn short(value: &Value) -> String {
    crate::text::shorten(&value.to_string(), 41)
}

use crate::text::did_you_mean;

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn defaults_exempt_the_tke_controllers_and_no_namespace() {
        let settings = Settings::default();
        assert_eq!(settings.enforcement, Enforcement::Enforce);
        assert!(settings.rules.is_empty());
        assert_eq!(
            settings.exempt.usernames,
            [
                "system:serviceaccount:kube-system:l7-lb-controller",
                "system:serviceaccount:kube-system:service-controller"
            ]
        );
        assert!(settings.exempt.groups.is_empty());
        assert!(settings.exempt.namespaces.is_empty());
        assert_eq!(Settings::from_yaml_str("").unwrap(), settings);
        assert_eq!(
            Settings::from_yaml_str("# only a comment\n").unwrap(),
            settings
        );
        assert_eq!(Settings::from_yaml_str("exempt: {}\n").unwrap(), settings);
    }

    #[test]
    fn a_full_file_parses() {
        let settings = Settings::from_yaml_str(
            "enforcement: warn\nrules:\n  host-grammar: warn\n  path-grammar: off\n  \
             tls-cert-id-missing: deny\nexempt:\n  groups: [system:masters]\n  \
             namespaces: [legacy-apps]\n",
        )
        .unwrap();
        assert_eq!(settings.enforcement, Enforcement::Warn);
        assert_eq!(settings.rules["host-grammar"], RuleSetting::Warn);
        assert_eq!(settings.rules["path-grammar"], RuleSetting::Off);
        assert_eq!(settings.rules["tls-cert-id-missing"], RuleSetting::Deny);
        assert_eq!(settings.rules.len(), 3);
        assert_eq!(settings.exempt.groups, ["system:masters"]);
        assert_eq!(settings.exempt.namespaces, ["legacy-apps"]);
        // usernames not given: the default controllers stay exempt.
        assert_eq!(settings.exempt.usernames, Exemptions::default().usernames);
    }

    #[test]
    fn exceptions_default_to_allow_and_parse() {
        assert_eq!(Settings::default().exceptions, Exceptions::Allow);
        for (text, expected) in [
            ("allow", Exceptions::Allow),
            ("warnOnly", Exceptions::WarnOnly),
            ("forbid", Exceptions::Forbid),
        ] {
            let settings = Settings::from_yaml_str(&format!("exceptions: {text}\n")).unwrap();
            assert_eq!(settings.exceptions, expected);
            assert_eq!(expected.as_str(), text);
        }
    }

    #[test]
    fn usernames_in_the_file_replace_the_default_list() {
        let settings = Settings::from_yaml_str("exempt:\n  usernames: [ci-bot]\n").unwrap();
        assert_eq!(settings.exempt.usernames, ["ci-bot"]);
        let none = Settings::from_yaml_str("exempt:\n  usernames: []\n").unwrap();
        assert!(none.exempt.usernames.is_empty());
    }

    #[rstest]
    #[case::misspelt_rule(
        "rules:\n  host-gramar: warn\n",
        "rules.host-gramar: no such rule (did you mean host-grammar?)"
    )]
    #[case::unknown_rule("rules:\n  no-such-thing: warn\n", "rules.no-such-thing: no such rule")]
    #[case::bad_rule_value(
        "rules:\n  host-grammar: block\n",
        "rules.host-grammar: \"block\" is not deny, warn or off"
    )]
    #[case::rule_value_not_a_string(
        "rules:\n  host-grammar: [warn]\n",
        "rules.host-grammar: [\"warn\"] is not deny, warn or off"
    )]
    #[case::bad_enforcement(
        "enforcement: audit\n",
        "enforcement: \"audit\" is not enforce or warn"
    )]
    #[case::bad_exceptions(
        "exceptions: warn-only\n",
        "exceptions: \"warn-only\" is not allow, warnOnly or forbid"
    )]
    #[case::exceptions_not_a_string(
        "exceptions: [forbid]\n",
        "exceptions: [\"forbid\"] is not allow, warnOnly or forbid"
    )]
    #[case::unknown_top_key(
        "enforcment: warn\n",
        "enforcment: no such setting (did you mean enforcement?)"
    )]
    #[case::unknown_exempt_key("exempt:\n  users: [a]\n", "exempt.users: no such setting")]
    #[case::misspelt_exempt_key(
        "exempt:\n  namespace: [a]\n",
        "exempt.namespace: no such setting (did you mean namespaces?)"
    )]
    #[case::exempt_not_a_list(
        "exempt:\n  namespaces: kube-system\n",
        "exempt.namespaces: \"kube-system\" is not a list"
    )]
    #[case::exempt_item_not_a_name(
        "exempt:\n  groups: [{a: b}]\n",
        "exempt.groups[0]: {\"a\":\"b\"} is not a name"
    )]
    #[case::empty_name("exempt:\n  usernames: [\"\"]\n", "exempt.usernames[0]: empty name")]
    #[case::rules_not_a_mapping(
        "rules: [host-grammar]\n",
        "rules: [\"host-grammar\"] is not a mapping"
    )]
    #[case::not_a_mapping("- enforcement\n", "the settings file must be a mapping")]
    fn invalid_files_name_the_bad_key(#[case] yaml: &str, #[case] expected: &str) {
        let err = Settings::from_yaml_str(yaml).unwrap_err().to_string();
        assert!(
            err.starts_with(expected),
            "{err:?} should start with {expected:?}"
        );
        assert!(!err.contains('\n'), "one line: {err:?}");
    }

    #[test]
    fn yaml_syntax_errors_are_one_line_with_the_line_number() {
        let err = Settings::from_yaml_str("enforcement: warn\nrules: {host-grammar: warn\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err:?}");
        assert!(err.contains("line"), "{err:?}");
    }

    #[test]
    fn cluster_and_check_switches_are_booleans() {
        let settings =
            Settings::from_yaml_str("directAccessByDefault: true\nfailOnUnresolved: true\n")
                .unwrap();
        assert!(settings.direct_access_by_default && settings.fail_on_unresolved);
        assert!(!Settings::default().direct_access_by_default);
        let err = Settings::from_yaml_str("directAccessByDefault: yes please\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "directAccessByDefault: \"yes please\" is not true or false"
        );
        let err = Settings::from_yaml_str("directAccesByDefault: true\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("did you mean directAccessByDefault"),
            "{err}"
        );
    }

    #[test]
    fn did_you_mean_picks_the_nearest_close_candidate() {
        let ids = ["host-grammar", "path-grammar"];
        assert_eq!(
            did_you_mean("hots-grammar", ids.into_iter()),
            " (did you mean host-grammar?)"
        );
        assert_eq!(did_you_mean("zzz", ids.into_iter()), "");
        assert_eq!(crate::text::edit_distance("kitten", "sitting"), 3);
    }
}
