//! `plan`: what TKE will build from each qcloud Ingress of some manifests (the CLB, its
//! listeners, per domain the certificate, per URL rule the backend and what the CLB binds, the
//! redirects, what TKE ignores), before anything is applied; `plan --diff OLD NEW` says what an
//! update adds, removes and changes on each listener.
//!
//! Inputs are read as `check` reads them (the same reader, line locator and partial cluster
//! view, `--kubeconfig` through the same live view), the findings come from the one admission
//! function, and the listeners, certificates and redirects from the one model of what TKE
//! builds ([`crate::ingress::clb`]), which the rules read too.

mod build;
pub mod diff;
pub mod output;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::cluster::ClusterState;
use crate::ingress::{self, DecodedIngress};
use crate::manifest::read::{Candidate, Inputs};
use crate::manifest::view::{CheckView, InputsCluster};
use crate::manifest::{FileError, LiveCluster, Subject, Unresolved, UnresolvedAt};
use crate::rules::{
    Decision, Endpoint, Engine, ObjectInput, Operation, Outcome, Ruling, Settings, Skip,
};
pub use build::{
    Binds, CertificatePlan, ClbPlan, DomainPlan, FindingPlan, IgnoredPlan, IngressPlan,
    ListenerPlan, PointPlan, RedirectPlan, RulePlan, WeightPlan,
};
use build::{Facts, Lines};
pub use diff::IngressDiff;

/// What `plan` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files, directories or `-`: the Ingresses to plan (with `--diff`, the new side).
    pub inputs: Vec<PathBuf>,
    /// With `--diff`: the old side.
    pub old: Option<OldSide>,
    /// More cluster state; its Ingresses are context, not planned.
    pub cluster_state: Vec<PathBuf>,
    pub settings: Settings,
    pub namespace: String,
    /// Plan the object the `/mutate` webhook stores, as `check` judges it.
    pub mutate: bool,
}

/// The old side of `--diff`.
#[derive(Debug, Clone)]
pub enum OldSide {
    /// Files or directories.
    Paths(Vec<PathBuf>),
    /// The live objects of the new side's Ingresses (`--kubeconfig`), read one by one.
    Live,
}

/// How the live objects of `--diff --kubeconfig` are named in the output.
pub const CLUSTER_NAME: &str = "<cluster>";

/// Counts for the closing line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub ingresses: usize,
    pub denied: usize,
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub errors: Vec<FileError>,
    /// One plan per qcloud Ingress of the inputs (without `--diff`).
    pub plans: Vec<IngressPlan>,
    /// With `--diff`: one per Ingress on either side.
    pub diffs: Option<Vec<IngressDiff>>,
    pub unresolved: Vec<UnresolvedAt>,
    pub summary: Summary,
}

impl Report {
    /// 2 when an input could not be used, 1 when the webhook would deny an Ingress, else 0.
    pub fn exit_status(&self) -> u8 {
        if self.errors.is_empty() {
            u8::from(self.summary.denied > 0)
        } else {
            2
        }
    }
}

/// Why `plan` could not run at all (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Runs `plan` (or, with [`Options::old`], `plan --diff`).
pub fn run(
    options: &Options,
    live: Option<&dyn LiveCluster>,
    stdin: &mut dyn std::io::Read,
) -> Result<Report, PlanError> {
    if options.inputs.is_empty() {
        return Err(PlanError(
            "no inputs: give files, directories, or - for standard input".into(),
        ));
    }
    let engine = Engine::new(options.settings.clone()).map_err(|e| PlanError(e.to_string()))?;
    let mut report = Report::default();
    let new = read_side(options, &options.inputs, stdin, &mut report);
    let planner = Planner {
        engine: &engine,
        live,
        options,
    };
    match &options.old {
        None => {
            for candidate in &new.candidates {
                if let Some(plan) = planner.plan(&new.state, candidate, None, &mut report) {
                    report.plans.push(plan);
                }
            }
        }
        Some(old) => {
            let old = match old {
                OldSide::Paths(paths) => read_side(options, paths, stdin, &mut report),
                OldSide::Live => {
                    let live = live.ok_or_else(|| {
                        PlanError(
                            "--diff against the cluster needs --kubeconfig or --context".into(),
                        )
                    })?;
                    live_side(options, live, &new, stdin, &mut report)
                }
            };
            report.diffs = Some(diff::run(&planner, &old, &new, &mut report));
        }
    }
    Ok(report)
}

/// One side's objects: its inputs plus `--cluster-state`.
fn read_side(
    options: &Options,
    paths: &[PathBuf],
    stdin: &mut dyn std::io::Read,
    report: &mut Report,
) -> Inputs {
    let mut inputs = Inputs::default();
    inputs.read(paths, &options.namespace, true, stdin);
    inputs.read(&options.cluster_state, &options.namespace, false, stdin);
    report.errors.append(&mut inputs.errors);
    report.summary.files += inputs.files;
    inputs
}

/// The live objects of the new side's Ingresses as the old side (the cluster's other Ingresses
/// are not part of the update): candidates without lines, and `--cluster-state`. Each is one
/// GET, so a diff costs the same in a cluster of ten Ingresses or of 100,000.
fn live_side(
    options: &Options,
    live: &dyn LiveCluster,
    new: &Inputs,
    stdin: &mut dyn std::io::Read,
    report: &mut Report,
) -> Inputs {
    let mut inputs = read_side(options, &[], stdin, report);
    let mut wanted: Vec<(String, String)> = Vec::new();
    for candidate in &new.candidates {
        let key = (
            candidate
                .namespace
                .clone()
                .unwrap_or_else(|| options.namespace.clone()),
            candidate.name.clone(),
        );
        if !key.1.is_empty() && !wanted.contains(&key) {
            wanted.push(key);
        }
    }
    for (namespace, name) in wanted {
        match live.ingress(&namespace, &name) {
            Ok(Some(object)) => {
                let document = inputs.candidates.len() + 1;
                inputs
                    .candidates
                    .extend(Candidate::without_lines(CLUSTER_NAME, document, object));
            }
            Ok(None) => {}
            Err(e) => report.errors.push(FileError::whole(
                CLUSTER_NAME,
                format!("cannot read Ingress {namespace}/{name}: {e:#}"),
            )),
        }
    }
    inputs
}

/// Everything one Ingress is planned with.
pub struct Planner<'a> {
    engine: &'a Engine,
    live: Option<&'a dyn LiveCluster>,
    options: &'a Options,
}

impl Planner<'_> {
    /// The plan of one Ingress of the inputs (`None` for one that is not TKE's, or one that
    /// does not decode, which becomes an input error). With `old`, judged as an UPDATE of it.
    pub fn plan(
        &self,
        state: &ClusterState,
        candidate: &Candidate,
        old: Option<&Value>,
        report: &mut Report,
    ) -> Option<IngressPlan> {
        let subject = Subject::of(candidate, &self.options.namespace)?;
        let old_raw = old.and_then(|o| serde_json::value::to_raw_value(o).ok());
        let endpoint = if self.options.mutate {
            Endpoint::Mutate
        } else {
            Endpoint::Validate
        };
        let mut input = subject.input(endpoint);
        if let Some(raw) = &old_raw {
            input.operation = Operation::Update;
            input.old_object = Some(ObjectInput::Text(raw));
        }
        let cluster = InputsCluster {
            inputs: state,
            live: self.live,
            namespace: subject.namespace,
            name: subject.name,
        };
        let (decision, view) = cluster.judge(self.engine, input);
        let Some(view) = view else {
            // Decided without the cluster.
            return self.decided(state, candidate, &subject, &decision, report);
        };
        let plan = self.build(candidate, &subject, &decision, old, &view);
        let unresolved = view.unresolved();
        record(report, candidate, &subject, unresolved, &decision);
        plan
    }

    /// An Ingress the admission function decided on without the cluster: exempt ones are
    /// still planned (TKE builds them all the same), others are not TKE's or do not decode.
    fn decided(
        &self,
        state: &ClusterState,
        candidate: &Candidate,
        subject: &Subject<'_>,
        decision: &Decision,
        report: &mut Report,
    ) -> Option<IngressPlan> {
        match decision.outcome {
            Outcome::Skipped(Skip::Exempt) => {
                let view = CheckView::new(state, None, subject.namespace, subject.name);
                let plan = self.build(candidate, subject, decision, None, &view);
                report.summary.ingresses += usize::from(plan.is_some());
                plan
            }
            _ if decision.ruling() == Ruling::Refused => {
                report
                    .errors
                    .push(crate::manifest::undecodable(candidate, decision));
                None
            }
            _ => None,
        }
    }

    /// The plan of the object the API server would store (after `/mutate`'s patch), built from
    /// the model of what TKE builds. On an UPDATE the keys TKE reads only at creation keep
    /// their old values.
    fn build(
        &self,
        candidate: &Candidate,
        subject: &Subject<'_>,
        decision: &Decision,
        old: Option<&Value>,
        view: &CheckView<'_>,
    ) -> Option<IngressPlan> {
        let mut object = candidate.object();
        if let Some(patch) = &decision.patch {
            // A patch that does not apply leaves the object as written, as admission does.
            let _ = json_patch::patch(&mut object, &patch.0);
        }
        if let Some(old) = old {
            keep_create_only(&mut object, old);
        }
        let api_version = ingress::api_version_of(&object, "networking.k8s.io/v1");
        let decoded = ingress::decode_value(&api_version, &object).ok()?;
        let version = written_version(candidate).unwrap_or(decoded.version);
        let node = candidate.node();
        let facts = Facts {
            decoded: &decoded,
            namespace: subject.namespace,
            cluster: view,
            lines: Lines {
                node: node.as_ref(),
                first_line: candidate.first_line,
                version,
            },
            direct_access_by_default: self.options.settings.direct_access_by_default,
        };
        Some(self.assemble(candidate, subject, decision, &decoded, &facts))
    }

    fn assemble(
        &self,
        candidate: &Candidate,
        subject: &Subject<'_>,
        decision: &Decision,
        decoded: &DecodedIngress,
        facts: &Facts<'_>,
    ) -> IngressPlan {
        let model = self.engine.model(&decoded.ingress);
        let (listeners, redirects, ignored) = facts.resolve(&model);
        let verdict = match decision.outcome {
            Outcome::Skipped(_) => "exempt",
            outcome => outcome.as_str(),
        };
        IngressPlan {
            namespace: subject.namespace.to_owned(),
            name: subject.name.to_owned(),
            file: candidate.file.clone(),
            line: candidate.first_line,
            verdict,
            clb: facts.clb(&model),
            listeners,
            redirects,
            ignored,
            findings: findings(decision, &facts.lines),
        }
    }
}

/// The findings of a decision at their lines, top to bottom, as `check` reports them; those the
/// Ingress's skip annotation skipped among them, as `skipped` with its reason.
fn findings(decision: &Decision, lines: &Lines<'_>) -> Vec<FindingPlan> {
    let reason = &decision.skipped_findings().reason;
    let skipped = (decision.skipped_findings().findings.iter()).map(|f| (f, Some(reason)));
    let mut out: Vec<FindingPlan> = (decision.findings.iter().map(|f| (f, None)))
        .chain(skipped)
        .map(|(f, reason)| {
            let mut message = f.message();
            if let Some(reason) = reason {
                message = format!("{message}; {}", crate::rules::skipped_note(reason));
            }
            FindingPlan {
                line: lines.of(&f.field),
                rule: f.rule.id,
                check: f.rule.check,
                severity: if reason.is_some() {
                    "skipped"
                } else {
                    f.severity.as_str()
                },
                tke_code: f.tke_code,
                field: ingress::field_path(lines.version, &f.field),
                problem: f.problem.clone(),
                fix: f.fix.clone(),
                message,
                reason: reason.cloned(),
            }
        })
        .collect();
    out.sort_by_key(|f| f.line);
    out
}

/// The apiVersion the manifest was written in, for field names and lines.
fn written_version(candidate: &Candidate) -> Option<ingress::IngressVersion> {
    ingress::IngressVersion::from_api_version(&candidate.api_version)
}

/// Counts a planned Ingress and records the references the view could not follow.
fn record(
    report: &mut Report,
    candidate: &Candidate,
    subject: &Subject<'_>,
    unresolved: BTreeSet<Unresolved>,
    decision: &Decision,
) {
    report.summary.ingresses += 1;
    report.summary.denied += usize::from(!decision.allowed());
    report.unresolved.extend(
        unresolved
            .into_iter()
            .map(|reference| UnresolvedAt::new(candidate, subject, reference)),
    );
}

/// On an UPDATE, TKE ignores changes to the keys it reads only when it creates the CLB
/// (docs/tke-behaviour.md §2.7, C24): the plan keeps the old values (`create-only-change` warns).
fn keep_create_only(object: &mut Value, old: &Value) {
    let old_annotations = old
        .pointer("/metadata/annotations")
        .and_then(Value::as_object);
    let Some(annotations) = object
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
        .map(|m| {
            m.entry("annotations")
                .or_insert_with(|| Value::Object(serde_json::Map::default()))
        })
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for known in crate::rules::annotations::KNOWN
        .iter()
        .filter(|a| a.create_only)
    {
        match old_annotations.and_then(|a| a.get(known.key)) {
            Some(value) => annotations.insert(known.key.to_owned(), value.clone()),
            None => annotations.remove(known.key),
        };
    }
}
