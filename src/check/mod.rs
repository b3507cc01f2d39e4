//! `check`: the webhook's admission decision, offline, over manifests (files, directories,
//! stdin) for CI pipelines and pre-commit hooks.
//!
//! Every input and `--cluster-state` path is read into one [`ClusterState`] (Services, Secrets,
//! Ingresses; objects without a namespace take `--namespace`), then every Ingress of the inputs
//! goes through the same admission function as a review the API server sends (a CREATE), with the
//! same settings as `serve`. By default the `/mutate` fixes are applied first, as a cluster with
//! the chart's default values does; a note says so when a fix changed the verdict.

pub mod locate;
pub mod output;
mod read;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::cluster::{ClusterLookup, ClusterState, IngressSummary, SecretLookup, ServiceSummary};
use crate::ingress;
use crate::rules::{
    AdmissionInput, Decision, Endpoint, Engine, Kind, Operation, Outcome, Requester, Settings, Skip,
};
pub use output::{FileError, Format, Located, Note, Summary};
use read::{Candidate, Inputs};

/// What `check` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files, directories, or `-` for standard input.
    pub inputs: Vec<PathBuf>,
    /// More cluster state; its Ingresses are context, not checked.
    pub cluster_state: Vec<PathBuf>,
    pub settings: Settings,
    pub namespace: String,
    /// Apply the `/mutate` fixes before judging, as the chart's mutating webhook does.
    pub mutate: bool,
}

/// The result of a run: inputs that could not be used, findings and notes in input order, and
/// the counts.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub errors: Vec<FileError>,
    pub findings: Vec<Located>,
    pub notes: Vec<Note>,
    pub summary: Summary,
}

impl Report {
    /// True when the webhook would deny at least one Ingress (exit status 1).
    pub fn any_denied(&self) -> bool {
        self.summary.denied > 0
    }

    /// The exit status: 2 when an input could not be used, 1 when something would be denied.
    pub fn exit_status(&self) -> u8 {
        if self.errors.is_empty() {
            u8::from(self.any_denied())
        } else {
            2
        }
    }
}

/// Why `check` could not run at all (exit status 2): one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CheckError(pub String);

/// Runs `check`: reads everything, decides on every Ingress of the inputs. Inputs that cannot be
/// used are in [`Report::errors`]; the rest are still checked.
pub fn run(options: &Options, stdin: &mut dyn std::io::Read) -> Result<Report, CheckError> {
    if options.inputs.is_empty() {
        return Err(CheckError(
            "no inputs: give files, directories, or - for standard input".into(),
        ));
    }
    let engine = Engine::new(options.settings.clone()).map_err(|e| CheckError(e.to_string()))?;
    let mut inputs = Inputs::default();
    inputs.read(&options.inputs, &options.namespace, true, stdin);
    inputs.read(&options.cluster_state, &options.namespace, false, stdin);
    let mut report = Report {
        errors: std::mem::take(&mut inputs.errors),
        ..Report::default()
    };
    report.summary.files = inputs.files;
    for candidate in &inputs.candidates {
        check_one(&engine, &inputs.state, options, candidate, &mut report);
    }
    Ok(report)
}

/// Decides on one Ingress as the webhook would on its CREATE, and records what it says.
fn check_one(
    engine: &Engine,
    state: &ClusterState,
    options: &Options,
    candidate: &Candidate,
    report: &mut Report,
) {
    let object = &candidate.object;
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(&options.namespace);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A parsed value always serialises.
    let Ok(raw) = serde_json::value::to_raw_value(object) else {
        return;
    };
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = Kind {
        group,
        version,
        kind: "Ingress",
    };
    let decide = |endpoint: Endpoint| {
        let input = admission_input(endpoint, kind, namespace, &raw);
        let cluster = WithoutSelf {
            state,
            namespace,
            name,
        };
        engine.admit_with(&input, &cluster)
    };
    let endpoint = if options.mutate {
        Endpoint::Mutate
    } else {
        Endpoint::Validate
    };
    let decision = decide(endpoint);
    match decision.outcome {
        Outcome::Skipped(Skip::Exempt) => report.summary.exempt += 1,
        Outcome::Denied if decision.findings.is_empty() => {
            report.errors.push(FileError {
                file: candidate.file.clone(),
                line: candidate.first_line,
                message: format!(
                    "document {}: {}",
                    candidate.document,
                    decision.deny_message.unwrap_or_default()
                ),
            });
            return;
        }
        _ => {}
    }
    if decision.reviewed {
        report.summary.ingresses += 1;
        if !decision.allowed() {
            report.summary.denied += 1;
        }
    }
    if decision.patch.is_some() {
        note_patch(candidate, &decision, &decide(Endpoint::Validate), report);
    }
    locate_findings(candidate, namespace, name, decision, report);
}

/// A CREATE of `object` by nobody in particular: offline there is no requester, so only
/// namespace exemptions can apply.
fn admission_input<'a>(
    endpoint: Endpoint,
    kind: Kind<'a>,
    namespace: &'a str,
    object: &'a RawValue,
) -> AdmissionInput<'a> {
    AdmissionInput {
        endpoint,
        operation: Operation::Create,
        kind,
        namespace: Some(namespace),
        object: Some(object),
        old_object: None,
        requester: Requester::default(),
    }
}

/// What `/mutate` changes, and whether that changes the verdict: the object as written would be
/// denied by `/validate` alone.
fn note_patch(
    candidate: &Candidate,
    patched: &Decision,
    as_written: &Decision,
    report: &mut Report,
) {
    let at = |message: String| Note {
        file: candidate.file.clone(),
        line: candidate.first_line,
        document: candidate.document,
        message,
    };
    for change in patched
        .warnings
        .iter()
        .filter_map(|w| w.strip_prefix("patched "))
    {
        report
            .notes
            .push(at(format!("/mutate will change {change}")));
    }
    if patched.allowed() && !as_written.allowed() {
        report.notes.push(at(format!(
            "as written this Ingress would be denied ({}); the /mutate webhook fixes that first \
             (--no-mutate checks it as written)",
            as_written.rule_ids().join(", ")
        )));
    }
}

/// Adds the findings at their lines, top to bottom, as a compiler reports.
fn locate_findings(
    candidate: &Candidate,
    namespace: &str,
    name: &str,
    decision: Decision,
    report: &mut Report,
) {
    let version = ingress::IngressVersion::from_api_version(
        candidate
            .object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .unwrap_or(ingress::IngressVersion::NetworkingV1);
    let first_new = report.findings.len();
    for finding in decision.findings {
        let field = ingress::field_path(version, &finding.field);
        let line = candidate
            .node
            .as_ref()
            .map_or(candidate.first_line, |node| locate::line_of(node, &field));
        report.findings.push(Located {
            file: candidate.file.clone(),
            line,
            document: candidate.document,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            finding,
            field,
        });
    }
    report.findings[first_new..].sort_by_key(|f| f.line);
}

/// The cluster state as a CREATE of this Ingress would find it: without the Ingress itself, so it
/// does not conflict with its own copy read from the inputs.
struct WithoutSelf<'a> {
    state: &'a ClusterState,
    namespace: &'a str,
    name: &'a str,
}

impl ClusterLookup for WithoutSelf<'_> {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceSummary> {
        self.state.service(namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> SecretLookup {
        self.state.secret(namespace, name)
    }

    fn ingresses_on_lb(&self, lb_id: &str) -> Vec<Arc<IngressSummary>> {
        let mut found = self.state.ingresses_on_lb(lb_id);
        found.retain(|i| !(i.namespace == self.namespace && i.name == self.name));
        found
    }
}
