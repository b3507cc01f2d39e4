//! `check`: the webhook's admission decision, offline, over manifests (files, directories,
//! stdin) for CI pipelines and pre-commit hooks.
//!
//! Every input and `--cluster-state` path is read into one [`ClusterState`] (Services, Secrets,
//! Ingresses; objects without a namespace take `--namespace`), then every Ingress of the inputs
//! goes through the same admission function as a review the API server sends (a CREATE), with the
//! same settings as `serve`. By default the `/mutate` fixes are applied first, as a cluster with
//! the chart's default values does; a note says so when a fix changed the verdict.

pub mod output;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cluster::ClusterState;
use crate::ingress;
use crate::manifest::locate;
use crate::manifest::read::{Candidate, Inputs};
use crate::manifest::view::{CheckView, InputsCluster};
pub use crate::manifest::{FileError, LiveCluster, Unresolved, UnresolvedAt};
use crate::manifest::{Subject, undecodable};
use crate::rules::{Decision, Endpoint, Engine, Outcome, Ruling, Settings, Skip};
pub use output::{Format, Located, Note, Summary};

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
    let version = ingress::IngressVersion::from_api_version(&candidate.api_version)
        .unwrap_or(ingress::IngressVersion::NetworkingV1);
    let first_new = report.findings.len();
    let skipped = decision.skipped.map(|s| *s).unwrap_or_default();
    let reason = skipped.reason;
    let skipped = skipped.findings.into_iter();
    let all = (decision.findings.into_iter().map(|f| (f, None)))
        .chain(skipped.map(|f| (f, Some(reason.clone()))));
    let mut node = None;
    for (finding, skipped) in all {
        let field = ingress::field_path(version, &finding.field);
        let node = node.get_or_insert_with(|| candidate.node());
        let line = node
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
