//! The annotation keys TKE reads on a qcloud Ingress (docs/tke-behaviour.md §2), and what kind of
//! value each takes. Rules and patches both work from this table; a JSON annotation's schema (and
//! the rule that reports a value that does not fit it) is declared here, with the key.

use super::catalogue::{self, Rule};

/// What an annotation's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Exactly `"true"` or `"false"`.
    Bool,
    /// JSON checked against a schema, compiled once when the engine is built.
    Json(&'static JsonSchema),
    /// Free text, or a format checked by its own rule.
    Text,
}

/// The schema of a JSON annotation and the rule that reports a value that is not valid JSON or
/// does not fit the schema.
#[derive(Debug, PartialEq, Eq)]
pub struct JsonSchema {
    /// JSON Schema text, embedded at build time.
    pub text: &'static str,
    pub rule: &'static Rule,
}

static RULES_ENTRIES: &str = include_str!("schemas/rules-annotation.json");
static HTTP_RULES_SCHEMA: JsonSchema = JsonSchema {
    text: RULES_ENTRIES,
    rule: &catalogue::HTTP_RULES_JSON,
};
static HTTPS_RULES_SCHEMA: JsonSchema = JsonSchema {
    text: RULES_ENTRIES,
    rule: &catalogue::HTTPS_RULES_JSON,
};
static EXTENSIVE_PARAMETERS_SCHEMA: JsonSchema = JsonSchema {
    text: include_str!("schemas/extensive-parameters.json"),
    rule: &catalogue::EXTENSIVE_PARAMETERS_JSON,
};
static LISTEN_PORTS_SCHEMA: JsonSchema = JsonSchema {
    text: include_str!("schemas/listen-ports.json"),
    rule: &catalogue::ANNOTATION_JSON,
};
static CERTIFICATE_SCHEMA: JsonSchema = JsonSchema {
    text: include_str!("schemas/certificate.json"),
    rule: &catalogue::ANNOTATION_JSON,
};
static AUTO_REWRITE_CODE_SCHEMA: JsonSchema = JsonSchema {
    text: include_str!("schemas/auto-rewrite-code.json"),
    rule: &catalogue::ANNOTATION_JSON,
};
static LB_RS_WEIGHT_SCHEMA: JsonSchema = JsonSchema {
    text: include_str!("schemas/lb-rs-weight.json"),
    rule: &catalogue::ANNOTATION_JSON,
};

/// One annotation key TKE knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Annotation {
    pub key: &'static str,
    pub kind: ValueKind,
    /// Written by TKE; a user setting it on CREATE has no effect.
    pub read_only: bool,
    /// Read only when TKE creates the CLB; later edits are ignored.
    pub create_only: bool,
}

const fn ann(key: &'static str, kind: ValueKind) -> Annotation {
    Annotation {
        key,
        kind,
        read_only: false,
        create_only: false,
    }
}

const fn read_only(key: &'static str) -> Annotation {
    Annotation {
        key,
        kind: ValueKind::Text,
        read_only: true,
        create_only: false,
    }
}

const fn create_only(key: &'static str, kind: ValueKind) -> Annotation {
    Annotation {
        key,
        kind,
        read_only: false,
        create_only: true,
    }
}

pub const CLASS: &str = crate::ingress::keys::CLASS;
pub const LOADBALANCE_ID: &str = crate::ingress::keys::LOADBALANCE_ID;
pub const EXIST_LB_ID: &str = crate::ingress::keys::EXIST_LB_ID;
pub const SUBNET_ID: &str = crate::ingress::keys::SUBNET_ID;
pub const CHARGE_TYPE: &str = crate::ingress::keys::CHARGE_TYPE;
pub const BANDWIDTH: &str = crate::ingress::keys::BANDWIDTH;
pub const EXTENSIVE_PARAMETERS: &str = crate::ingress::keys::EXTENSIVE_PARAMETERS;
pub const RULE_MIX: &str = crate::ingress::keys::RULE_MIX;
pub const RULE_MIX_ALT: &str = crate::ingress::keys::RULE_MIX_ALT;
pub const HTTP_RULES: &str = crate::ingress::keys::HTTP_RULES;
pub const HTTPS_RULES: &str = crate::ingress::keys::HTTPS_RULES;
pub const RULE_MIX_BOTH: &str = crate::ingress::keys::RULE_MIX_BOTH;
pub const DIRECT_ACCESS: &str = crate::ingress::keys::DIRECT_ACCESS;
pub const TKE_SERVICE_CONFIG: &str = "ingress.cloud.tencent.com/tke-service-config";
pub const TKE_SERVICE_CONFIG_AUTO: &str = "ingress.cloud.tencent.com/tke-service-config-auto";
pub const REWRITE_SUPPORT: &str = crate::ingress::keys::REWRITE_SUPPORT;
pub const AUTO_REWRITE: &str = crate::ingress::keys::AUTO_REWRITE;
pub const AUTO_REWRITE_CODE: &str = crate::ingress::keys::AUTO_REWRITE_CODE;
pub const LISTEN_PORTS: &str = crate::ingress::keys::LISTEN_PORTS;
pub const CERTIFICATE: &str = crate::ingress::keys::CERTIFICATE;
pub const CROSS_REGION_ID: &str = "ingress.cloud.tencent.com/cross-region-id";
pub const CROSS_VPC_ID: &str = crate::ingress::keys::CROSS_VPC_ID;
pub const SECURITY_GROUPS: &str = "ingress.cloud.tencent.com/security-groups";
pub const LB_RS_WEIGHT: &str = crate::ingress::keys::LB_RS_WEIGHT;
pub const ENABLE_GROUP: &str = crate::ingress::keys::ENABLE_GROUP;
pub const MIX_TARGET_PREFER: &str = "ingress.cloud.tencent.com/mix-target-prefer";
pub const MODE: &str = "ingress.cloud.tencent.com/mode";
/// The legacy, read-only certificate id annotation (no prefix).
pub const QCLOUD_CERT_ID: &str = "qcloud_cert_id";

/// Prefixes under which every key should be one of [`KNOWN`].
pub const TKE_PREFIXES: [&str; 2] = ["ingress.cloud.tencent.com/", "kubernetes.io/ingress."];
/// Annotations of the nginx controller, ignored by TKE.
pub const NGINX_PREFIX: &str = "nginx.ingress.kubernetes.io/";

/// Every annotation TKE reads or writes on an Ingress.
pub static KNOWN: &[Annotation] = &[
    ann(CLASS, ValueKind::Text),
    read_only(LOADBALANCE_ID),
    create_only(EXIST_LB_ID, ValueKind::Text),
    create_only(SUBNET_ID, ValueKind::Text),
    create_only(CHARGE_TYPE, ValueKind::Text),
    create_only(BANDWIDTH, ValueKind::Text),
    create_only(
        EXTENSIVE_PARAMETERS,
        ValueKind::Json(&EXTENSIVE_PARAMETERS_SCHEMA),
    ),
    ann(RULE_MIX, ValueKind::Bool),
    // Only the regex-rules page spells it so; `annotation-key-spelling` names the documented key.
    ann(RULE_MIX_ALT, ValueKind::Bool),
    ann(HTTP_RULES, ValueKind::Json(&HTTP_RULES_SCHEMA)),
    ann(HTTPS_RULES, ValueKind::Json(&HTTPS_RULES_SCHEMA)),
    ann(RULE_MIX_BOTH, ValueKind::Bool),
    ann(DIRECT_ACCESS, ValueKind::Bool),
    ann(TKE_SERVICE_CONFIG, ValueKind::Text),
    ann(TKE_SERVICE_CONFIG_AUTO, ValueKind::Bool),
    ann(REWRITE_SUPPORT, ValueKind::Bool),
    ann(AUTO_REWRITE, ValueKind::Bool),
    ann(
        AUTO_REWRITE_CODE,
        ValueKind::Json(&AUTO_REWRITE_CODE_SCHEMA),
    ),
    create_only(LISTEN_PORTS, ValueKind::Json(&LISTEN_PORTS_SCHEMA)),
    ann(CERTIFICATE, ValueKind::Json(&CERTIFICATE_SCHEMA)),
    ann(CROSS_REGION_ID, ValueKind::Text),
    ann(CROSS_VPC_ID, ValueKind::Text),
    ann(SECURITY_GROUPS, ValueKind::Text),
    ann("ingress.cloud.tencent.com/pass-to-target", ValueKind::Bool),
    ann(
        "ingress.cloud.tencent.com/enable-grace-shutdown",
        ValueKind::Bool,
    ),
    ann(
        "ingress.cloud.tencent.com/enable-grace-shutdown-tkex",
        ValueKind::Bool,
    ),
    ann(
        "ingress.cloud.tencent.com/enable-grace-deletion",
        ValueKind::Bool,
    ),
    ann(LB_RS_WEIGHT, ValueKind::Json(&LB_RS_WEIGHT_SCHEMA)),
    ann(MIX_TARGET_PREFER, ValueKind::Text),
    ann(
        "ingress.cloud.tencent.com/modification-protection",
        ValueKind::Bool,
    ),
    ann(
        "ingress.cloud.tencent.com/deletion-protection",
        ValueKind::Bool,
    ),
    ann(
        "ingress.cloud.tencent.com/loadbalance-retain",
        ValueKind::Bool,
    ),
    create_only(ENABLE_GROUP, ValueKind::Bool),
    ann(MODE, ValueKind::Text),
    // CLBs that reach IDC nodes over CCN (docs/tke-behaviour.md §2.2).
    ann("ingress.cloud.tencent.com/hybrid-type", ValueKind::Text),
    ann("ingress.cloud.tencent.com/snat-pro-info", ValueKind::Text),
    read_only("ingress.cloud.tencent.com/loadbalance-nat-ipv6"),
    read_only("ingress.cloud.tencent.com/loadbalance-ipv6"),
    read_only("ingress.cloud.tencent.com/status.conditions"),
    read_only(QCLOUD_CERT_ID),
];

/// The catalogue entry for a key.
pub fn known(key: &str) -> Option<&'static Annotation> {
    KNOWN.iter().find(|a| a.key == key)
}

/// True for the keys whose value must be exactly `"true"` or `"false"`.
pub fn is_bool(key: &str) -> bool {
    known(key).is_some_and(|a| a.kind == ValueKind::Bool)
}

/// True for the keys whose value is JSON checked against a schema.
pub fn is_json(key: &str) -> bool {
    known(key).is_some_and(|a| matches!(a.kind, ValueKind::Json(_)))
}

/// True when the annotation's value is `"true"`: how TKE reads every boolean.
pub fn is_true(annotations: Option<&crate::ingress::Annotations<'_>>, key: &str) -> bool {
    annotations
        .and_then(|a| a.get(key))
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_under_known_prefixes() {
        for (i, a) in KNOWN.iter().enumerate() {
            assert!(
                !KNOWN[..i].iter().any(|b| b.key == a.key),
                "duplicate {}",
                a.key
            );
            assert!(
                a.key == QCLOUD_CERT_ID || TKE_PREFIXES.iter().any(|p| a.key.starts_with(p)),
                "{}",
                a.key
            );
        }
        assert!(is_bool(DIRECT_ACCESS));
        assert!(!is_bool(HTTP_RULES));
    }
}
