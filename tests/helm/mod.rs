//! Finding helm for tests that render the chart: `$HELM`, else `.tools/bin/helm` (installed by
//! scripts/install-helm.sh), else `helm` on PATH. Tests skip with a message when none exists.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/qcloud-ingress-webhook");

/// The helm binary, or `None` (after saying why on stderr) when there is none.
pub fn helm() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HELM").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/helm")),
        Some(PathBuf::from("helm")),
    ];
    let found = candidates.into_iter().flatten().find(|helm| {
        Command::new(helm)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        eprintln!(
            "SKIPPED: helm not found ($HELM, .tools/bin/helm, PATH); run scripts/install-helm.sh"
        );
    }
    found
}

/// `helm template test <chart> -n webhook <args>`: the rendered multi-document YAML.
pub fn template(helm: &Path, args: &[&str]) -> String {
    template_release(helm, "test", "webhook", args)
}

/// `helm template <release> <chart> -n <namespace> <args>`.
pub fn template_release(helm: &Path, release: &str, namespace: &str, args: &[&str]) -> String {
    let output = Command::new(helm)
        .args(["template", release, CHART, "--namespace", namespace])
        .args(args)
        .output()
        .expect("run helm");
    assert!(
        output.status.success(),
        "helm template {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("helm prints UTF-8")
}
