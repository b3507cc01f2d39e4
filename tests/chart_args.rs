//! The chart's Deployment passes the binary only flags it has: every values file in the chart's
//! ci/ renders container args that the real argument parser accepts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a failed set-up is a failed test"
)]

mod helm;

use clap::Parser;
use qcloud_ingress_webhook::cli::Args;
use serde_json::Value;

#[test]
fn rendered_deployment_args_parse_with_the_binarys_own_parser() {
    let Some(helm) = helm::helm() else { return };
    let ci = std::path::Path::new(helm::CHART).join("ci");
    let mut checked = 0;
    for entry in std::fs::read_dir(&ci).unwrap() {
        let values = entry.unwrap().path();
        let rendered = helm::template(&helm, &["-f", values.to_str().unwrap()]);
        let documents: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
        let deployment = documents
            .iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("a Deployment");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let parsed = Args::try_parse_from(
            std::iter::once("qcloud-ingress-webhook").chain(args.iter().copied()),
        );
        assert!(
            parsed.is_ok(),
            "{}: {args:?}: {}",
            values.display(),
            parsed.err().unwrap()
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} values files");
}

/// The values schema lists exactly the catalogue's rule ids, so `--set rules.https_only=off` fails
/// `helm lint` and `helm install` instead of crash-looping the pods with "no such rule".
#[test]
fn the_values_schema_names_exactly_the_catalogues_rules() {
    let path = std::path::Path::new(helm::CHART).join("values.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rules = &schema["properties"]["rules"];
    assert_eq!(rules["additionalProperties"], Value::Bool(false));
    let in_schema: Vec<&str> = rules["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut catalogue: Vec<&str> = qcloud_ingress_webhook::rules::catalogue::RULES
        .iter()
        .map(|r| r.id)
        .collect();
    let mut sorted = in_schema.clone();
    sorted.sort_unstable();
    catalogue.sort_unstable();
    assert_eq!(
        sorted, catalogue,
        "charts/qcloud-ingress-webhook/values.schema.json properties.rules.properties must list \
         every rule id of src/rules/catalogue.rs, and no other"
    );
}

/// The cloud checks are off unless asked for: no flag, no credentials volume. On, the Secret the
/// user names is mounted where `--cloud-credentials-dir` points, with only its two keys.
#[test]
fn the_chart_turns_cloud_checks_on_only_when_asked_with_the_named_secret() {
    let Some(helm) = helm::helm() else { return };
    let deployment = |args: &[&str]| -> Value {
        let rendered = helm::template(&helm, args);
        let documents: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
        documents
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("a Deployment")
    };
    let off = deployment(&[]);
    let off_text = off.to_string();
    assert!(!off_text.contains("--cloud"), "{off_text}");
    assert!(!off_text.contains("cloud-credentials"), "{off_text}");

    let values = std::path::Path::new(helm::CHART).join("ci/cloud-values.yaml");
    let on = deployment(&["-f", values.to_str().unwrap()]);
    let pod = &on["spec"]["template"]["spec"];
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--cloud"));
    assert!(args.contains(&"--cloud-region=ap-guangzhou"));
    let dir = "/etc/qcloud-ingress-webhook/cloud";
    assert!(args.contains(&format!("--cloud-credentials-dir={dir}").as_str()));
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "cloud-credentials" && m["mountPath"] == dir)
    );
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "cloud-credentials")
        .expect("the credentials volume");
    assert_eq!(volume["secret"]["secretName"], "tencentcloud-readonly");
    let keys: Vec<&str> = volume["secret"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["SecretId", "SecretKey"]);
}
