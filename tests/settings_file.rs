//! `serve --config` and the settings file the Helm chart renders (ConfigMap `<release>-config`, key `config.yaml`)
//! parses with the same loader `serve --config` uses, for every values file in the chart's ci/.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod helm;

use qcloud_ingress_webhook::rules::settings::{
    Enforcement, Exceptions, RuleSetting, Settings, TKE_CONTROLLER_USERNAMES,
};
use serde_json::Value;

/// The rendered `config.yaml` of the chart's ConfigMap.
fn rendered_config(rendered: &str) -> String {
    let documents: Vec<Value> = serde_saphyr::from_multiple(rendered).unwrap();
    let config_map = documents
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-config"))
        })
        .expect("the chart renders a config ConfigMap");
    config_map["data"]["config.yaml"]
        .as_str()
        .expect("config.yaml is a string")
        .to_owned()
}

#[test]
fn every_ci_values_file_renders_a_config_the_loader_accepts() {
    let Some(helm) = helm::helm() else { return };
    let ci = std::path::Path::new(helm::CHART).join("ci");
    let mut files: Vec<_> = std::fs::read_dir(&ci)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "ci values files: {files:?}");
    for values in &files {
        let rendered = helm::template(&helm, &["-f", values.to_str().unwrap()]);
        let config = rendered_config(&rendered);
        let settings = Settings::from_yaml_str(&config)
            .unwrap_or_else(|e| panic!("{}: {e}\n{config}", values.display()));
        for controller in TKE_CONTROLLER_USERNAMES {
            assert!(
                settings.exempt.usernames.iter().any(|u| u == controller),
                "{}: {controller} not exempt",
                values.display()
            );
        }
    }
}

#[test]
fn warn_values_reach_the_settings() {
    let Some(helm) = helm::helm() else { return };
    let values = format!("{}/ci/warn-values.yaml", helm::CHART);
    let config = rendered_config(&helm::template(&helm, &["-f", &values]));
    let settings = Settings::from_yaml_str(&config).unwrap();
    assert_eq!(settings.enforcement, Enforcement::Warn);
    assert_eq!(settings.rules["host-grammar"], RuleSetting::Warn);
    assert_eq!(settings.exempt.namespaces, ["legacy-apps"]);
    assert_eq!(settings.exceptions, Exceptions::WarnOnly);
}

#[test]
fn a_misspelt_rule_in_values_fails_helm_before_it_reaches_the_loader() {
    let Some(helm) = helm::helm() else { return };
    // The values schema lists every rule id: helm refuses the value itself.
    let output = std::process::Command::new(&helm)
        .args([
            "template",
            "test",
            helm::CHART,
            "--set",
            "rules.host-gramar=warn",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("additional properties 'host-gramar' not allowed"),
        "{stderr}"
    );
    // A settings file written by hand still gets the loader's own message.
    let err = Settings::from_yaml_str("rules:\n  host-gramar: warn\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "rules.host-gramar: no such rule (did you mean host-grammar?)"
    );
}

#[test]
fn serve_with_an_invalid_config_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "enforcement: warn\nrules:\n  host-gramar: warn\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_qcloud-ingress-webhook"))
        .args(["serve", "--tls-cert", "none.crt", "--tls-key", "none.key"])
        .args([
            "--cluster-state",
            "none.yaml",
            "--log-format",
            "plain",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: rules.host-gramar: no such rule (did you mean host-grammar?)",
            config.display()
        )),
        "{stderr}"
    );
}
