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
