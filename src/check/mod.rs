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
pub(crate) mod read;
pub(crate) mod view;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::cluster::{ClusterLookup, ClusterState};
use crate::ingress;
use crate::rules::{
    AdmissionInput, Decision, Endpoint, Engine, Kind, ObjectInput, Operation, Outcome, Requester,
    Ruling, Settings, Skip,
};
pub use output::{FileError, Format, Located, Note, Summary};
use read::{Candidate, Inputs};
pub use view::Unresolved;
use view::{CheckView, InputsCluster};

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
    /// Exit 1 when a reference could not be resolved.
    pub strict: bool,
    /// `--cloud`: Tencent Cloud's answers for certificates and CLBs; `None`: no cloud call.
    pub cloud: Option<CheckCloud>,
}

/// The cloud client of `check --cloud`, and the runtime its I/O runs on.
#[derive(Debug, Clone)]
pub struct CheckCloud {
    pub client: Arc<crate::cloud::CloudClient>,
    pub runtime: tokio::runtime::Handle,
}

/// A live cluster to resolve references against (`--kubeconfig`): the view `serve` uses, with
/// the Secrets one review reads fetched first.
pub trait LiveCluster {
    fn lookup(&self, namespace: &str, secret_names: Vec<String>) -> Arc<dyn ClusterLookup>;

    /// The Ingress as the API server returns it (`plan --diff`'s old side), `None` when there
    /// is none by that name.
    fn ingress(&self, namespace: &str, name: &str) -> anyhow::Result<Option<serde_json::Value>>;
}

/// The result of a run: inputs that could not be used, findings, notes and unresolved
/// references in input order, and the counts.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub errors: Vec<FileError>,
    pub findings: Vec<Located>,
    pub notes: Vec<Note>,
    pub unresolved: Vec<UnresolvedAt>,
    pub summary: Summary,
    /// Unresolved references, or inputs without a qcloud Ingress, fail the run (`--strict`).
    pub strict: bool,
}

/// An unresolved reference and the Ingress that makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedAt {
    pub file: String,
    pub line: usize,
    pub namespace: String,
    pub name: String,
    pub reference: Unresolved,
}

impl UnresolvedAt {
    /// `reference`, made by the Ingress `subject` of `candidate`.
    pub(crate) fn new(candidate: &Candidate, subject: &Subject<'_>, reference: Unresolved) -> Self {
        Self {
            file: candidate.file.clone(),
            line: candidate.first_line,
            namespace: subject.namespace.to_owned(),
            name: subject.name.to_owned(),
            reference,
        }
    }

    /// Its JSON shape in `check` and `plan` output.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"file": self.file, "line": self.line, "namespace": self.namespace,
                           "name": self.name, "reference": self.reference.to_string()})
    }
}

impl Report {
    /// True when the webhook would deny at least one Ingress (exit status 1).
    pub fn any_denied(&self) -> bool {
        self.summary.denied > 0
    }

    /// The exit status: 2 when an input could not be used, 1 when something would be denied (or,
    /// strict, a reference could not be resolved).
    pub fn exit_status(&self) -> u8 {
        if self.errors.is_empty() {
            let nothing_checked = self.summary.ingresses == 0 && self.summary.exempt == 0;
            u8::from(
                self.any_denied()
                    || (self.strict && (!self.unresolved.is_empty() || nothing_checked)),
            )
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
pub fn run(
    options: &Options,
    live: Option<&dyn LiveCluster>,
    stdin: &mut dyn std::io::Read,
) -> Result<Report, CheckError> {
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
        strict: options.strict,
        ..Report::default()
    };
    report.summary.files = inputs.files;
    let judge = Judge {
        engine: &engine,
        state: &inputs.state,
        live,
        options,
    };
    for candidate in &inputs.candidates {
        judge.check_one(candidate, &mut report);
    }
    Ok(report)
}

/// Everything one Ingress is judged with.
struct Judge<'a> {
    engine: &'a Engine,
    state: &'a ClusterState,
    live: Option<&'a dyn LiveCluster>,
    options: &'a Options,
}

/// One Ingress of the inputs, as an admission request.
pub(crate) struct Subject<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub kind: Kind<'a>,
    pub raw: Box<RawValue>,
}

impl<'a> Subject<'a> {
    pub(crate) fn of(candidate: &'a Candidate, default_namespace: &'a str) -> Option<Self> {
        let object = &candidate.object;
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let api_version = text("/apiVersion").unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Some(Self {
            namespace: text("/metadata/namespace")
                .filter(|n| !n.is_empty())
                .unwrap_or(default_namespace),
            name: text("/metadata/name").unwrap_or_default(),
            kind: Kind {
                group,
                version,
                kind: "Ingress",
            },
            raw: serde_json::value::to_raw_value(object).ok()?,
        })
    }

    /// A CREATE of the object by nobody in particular: offline there is no requester, so only
    /// namespace exemptions can apply.
    pub(crate) fn input(&self, endpoint: Endpoint) -> AdmissionInput<'_> {
        AdmissionInput {
            endpoint,
            operation: Operation::Create,
            kind: self.kind,
            namespace: Some(self.namespace),
            object: Some(ObjectInput::Text(&self.raw)),
            old_object: None,
            requester: Requester::default(),
        }
    }
}

impl Judge<'_> {
    /// Decides on one Ingress as the webhook would on its CREATE, and records what it says.
    fn check_one(&self, candidate: &Candidate, report: &mut Report) {
        let Some(subject) = Subject::of(candidate, &self.options.namespace) else {
            return;
        };
        let endpoint = if self.options.mutate {
            Endpoint::Mutate
        } else {
            Endpoint::Validate
        };
        let (decision, unresolved) = self.decide(&subject, endpoint);
        if !count(candidate, &decision, report) {
            return;
        }
        if decision.patch.is_some() {
            let (as_written, _) = self.decide(&subject, Endpoint::Validate);
            note_patch(candidate, &decision, &as_written, report);
        }
        report.unresolved.extend(
            unresolved
                .into_iter()
                .map(|reference| UnresolvedAt::new(candidate, &subject, reference)),
        );
        locate_findings(candidate, subject.namespace, subject.name, decision, report);
    }

    /// The driver, with the live cluster's look-ups when there is one, and the references the
    /// view could not follow.
    fn decide(
        &self,
        subject: &Subject<'_>,
        endpoint: Endpoint,
    ) -> (Decision, BTreeSet<Unresolved>) {
        let cluster = InputsCluster {
            inputs: self.state,
            live: self.live,
            namespace: subject.namespace,
            name: subject.name,
        };
        let cloud = self
            .options
            .cloud
            .as_ref()
            .map(|c| (&*c.client, &c.runtime));
        let (decision, view) = cluster.judge_with(self.engine, subject.input(endpoint), cloud);
        (
            decision,
            view.map(CheckView::unresolved).unwrap_or_default(),
        )
    }
}

/// The input error for an object the admission function could not decode (a deny without
/// findings), at its document.
pub(crate) fn undecodable(candidate: &Candidate, decision: &Decision) -> FileError {
    FileError {
        file: candidate.file.clone(),
        line: candidate.first_line,
        message: format!(
            "document {}: {}",
            candidate.document,
            decision.deny_message.as_deref().unwrap_or_default()
        ),
    }
}

/// Adds a decision to the counts; false when it is not a judgement to report (an object that
/// does not decode becomes an input error).
fn count(candidate: &Candidate, decision: &Decision, report: &mut Report) -> bool {
    if decision.ruling() == Ruling::Refused {
        report.errors.push(undecodable(candidate, decision));
        return false;
    }
    if decision.outcome == Outcome::Skipped(Skip::Exempt) {
        report.summary.exempt += 1;
    }
    if decision.reviewed {
        report.summary.ingresses += 1;
        report.summary.denied += usize::from(!decision.allowed());
    }
    true
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
        .patch_warnings
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

/// Adds the findings at their lines, top to bottom, as a compiler reports; those the Ingress's
/// skip annotation skipped among them, with its reason.
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
    let skipped = decision.skipped.map(|s| *s).unwrap_or_default();
    let reason = skipped.reason;
    let skipped = skipped.findings.into_iter();
    let all = (decision.findings.into_iter().map(|f| (f, None)))
        .chain(skipped.map(|f| (f, Some(reason.clone()))));
    for (finding, skipped) in all {
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
            skipped,
        });
    }
    report.findings[first_new..].sort_by_key(|f| f.line);
}
