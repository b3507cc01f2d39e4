//! What `check` holds in memory for a large input: Services and qcloud Ingresses as `kubectl get
//! -A -o yaml` prints them (labels, managedFields, the last-applied annotation: about 2.2 KB an
//! object, the shape of issue 27's 50 MB file), one object per document, in one file. The binary's peak resident memory (VmHWM, polled) must stay within three times the input
//! over what it needs for a file of one object; a YAML alias bomb is refused before it grows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed set-up is a failed test"
)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_qcloud-ingress-webhook")
}

/// A Service and the qcloud Ingress that routes to it, as `kubectl get -o yaml` writes them.
#[allow(clippy::too_many_lines, reason = "one YAML template, read as YAML")]
fn pair(out: &mut String, i: usize) {
    let ns = format!("team-{}", i % 50);
    let _ = write!(
        out,
        r#"---
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  namespace: {ns}
  uid: 6b1f8c0e-2d4a-4f63-9a01-{i:012x}
  resourceVersion: "{i}"
  creationTimestamp: "2026-11-01T10:00:00Z"
  labels:
    app: app-{i}
    team: {ns}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {{"apiVersion":"v1","kind":"Service","metadata":{{"annotations":{{}},"labels":{{"app":"app-{i}"}},"name":"app-{i}","namespace":"{ns}"}},"spec":{{"ports":[{{"name":"http","port":80,"targetPort":8080}}],"selector":{{"app":"app-{i}"}},"type":"NodePort"}}}}
  managedFields:
  - apiVersion: v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:labels:
          .: {{}}
          f:app: {{}}
      f:spec:
        f:ports:
          .: {{}}
          k:{{"port":80,"protocol":"TCP"}}:
            .: {{}}
            f:port: {{}}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2026-11-01T10:00:00Z"
spec:
  type: NodePort
  selector:
    app: app-{i}
  ports:
  - name: http
    port: 80
    nodePort: {node_port}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing-{i}
  namespace: {ns}
  uid: 6b1f8c0e-2d4a-4f63-9a02-{i:012x}
  annotations:
    kubernetes.io/ingress.class: qcloud
    kubectl.kubernetes.io/last-applied-configuration: |
      {{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{{"annotations":{{"kubernetes.io/ingress.class":"qcloud"}},"name":"ing-{i}","namespace":"{ns}"}},"spec":{{"rules":[{{"host":"app-{i}.{ns}.example.com","http":{{"paths":[{{"backend":{{"service":{{"name":"app-{i}","port":{{"number":80}}}}}},"path":"/","pathType":"Prefix"}}]}}}}]}}}}
  managedFields:
  - apiVersion: networking.k8s.io/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata:
        f:annotations:
          .: {{}}
          f:kubernetes.io/ingress.class: {{}}
      f:spec:
        f:rules: {{}}
    manager: kubectl-client-side-apply
    operation: Update
    time: "2026-11-01T10:00:00Z"
spec:
  rules:
  - host: app-{i}.{ns}.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: app-{i}
            port:
              number: 80
"#,
        node_port = 30_000 + i % 2_000
    );
}

/// `check` on `path`: its exit code and peak resident memory in KiB.
fn check_peak_kib(path: &Path) -> (i32, u64) {
    let mut child = Command::new(bin())
        .arg("check")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or(-1), peak);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn check_holds_at_most_three_times_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.yaml");
    let mut text = String::new();
    pair(&mut text, 0);
    std::fs::write(&small, &text).unwrap();
    let (code, base_kib) = check_peak_kib(&small);
    assert!(code == 0 || code == 1, "check failed on one object: {code}");

    let large = dir.path().join("large.yaml");
    let mut text = String::with_capacity(17 << 20);
    let mut i = 0;
    while text.len() < 16 << 20 {
        pair(&mut text, i);
        i += 1;
    }
    std::fs::write(&large, &text).unwrap();
    let input_kib = (text.len() / 1024) as u64;
    let (code, peak_kib) = check_peak_kib(&large);
    assert!(code == 0 || code == 1, "check failed: {code}");
    println!("{i} pairs, {input_kib} KiB: peak {peak_kib} KiB, one object {base_kib} KiB");
    assert!(
        peak_kib <= base_kib + 3 * input_kib,
        "check peaked at {peak_kib} KiB for {input_kib} KiB of input (one object: {base_kib} KiB)"
    );
}

/// Nine levels of ten aliases: a few hundred bytes that expand to a billion nodes. The budget
/// follows the text's length, so it is refused while small, as a file error (exit 2).
#[test]
fn an_alias_bomb_is_refused_before_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut previous = 'a';
    for level in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
        let _ = writeln!(
            text,
            "  {level}: &{level} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]"
        );
        previous = level;
    }
    let bomb = dir.path().join("bomb.yaml");
    std::fs::write(&bomb, &text).unwrap();
    let (code, peak_kib) = check_peak_kib(&bomb);
    assert_eq!(code, 2, "an unreadable input is exit 2");
    assert!(peak_kib < 64 * 1024, "peaked at {peak_kib} KiB");
}
