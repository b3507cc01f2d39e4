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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::cluster::offline::{add_object, files_under, parse_documents};
use crate::cluster::{ClusterLookup, ClusterState, IngressSummary, SecretLookup, ServiceSummary};
use crate::ingress;
use crate::rules::{
    AdmissionInput, Decision, Endpoint, Engine, Kind, Operation, Outcome, Requester, Settings, Skip,
};
use locate::Node;
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
}

/// The result of a run: findings and notes in input order, and the counts.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Located>,
    pub notes: Vec<Note>,
    pub summary: Summary,
}

impl Report {
    /// True when the webhook would deny at least one Ingress (exit status 1).
    pub fn any_denied(&self) -> bool {
        self.summary.denied > 0
    }
}

/// Why `check` could not run (exit status 2): one line naming the file and document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CheckError(pub String);

/// An input file's text and the name it is reported under.
struct Source {
    name: String,
    text: String,
}

/// An Ingress from the inputs, waiting for the whole cluster state to be read.
struct Candidate {
    file: String,
    document: usize,
    object: Value,
    node: Option<Node>,
    first_line: usize,
}

/// Runs `check`: reads everything, decides on every Ingress of the inputs.
pub fn run(options: &Options, stdin: &mut dyn std::io::Read) -> Result<Report, CheckError> {
    if options.inputs.is_empty() {
        return Err(CheckError(
            "no inputs: give files, directories, or - for standard input".into(),
        ));
    }
    let engine = Engine::new(options.settings.clone()).map_err(|e| CheckError(e.to_string()))?;
    let mut state = ClusterState::default();
    let mut candidates = Vec::new();
    let inputs = read_sources(&options.inputs, stdin)?;
    for source in &inputs {
        read_objects(
            source,
            &options.namespace,
            &mut state,
            Some(&mut candidates),
        )?;
    }
    for source in read_sources(&options.cluster_state, stdin)? {
        read_objects(&source, &options.namespace, &mut state, None)?;
    }
    let mut report = Report::default();
    report.summary.files = inputs.len();
    for candidate in candidates {
        check_one(&engine, &state, options, &candidate, &mut report)?;
    }
    Ok(report)
}

/// Reads every path (directories recursively; `-` from `stdin`).
fn read_sources(
    paths: &[PathBuf],
    stdin: &mut dyn std::io::Read,
) -> Result<Vec<Source>, CheckError> {
    let mut sources = Vec::new();
    for path in paths {
        if path == Path::new("-") {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| CheckError(format!("{}: {e}", output::STDIN_NAME)))?;
            sources.push(Source {
                name: output::STDIN_NAME.into(),
                text,
            });
            continue;
        }
        for file in files_under(path).map_err(|e| CheckError(e.to_string()))? {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CheckError(format!("{}: {e}", file.display())))?;
            sources.push(Source {
                name: file.display().to_string(),
                text,
            });
        }
    }
    Ok(sources)
}

/// Adds a file's Services, Secrets and Ingresses to `state`; collects its Ingresses when
/// `candidates` is given.
fn read_objects(
    source: &Source,
    namespace: &str,
    state: &mut ClusterState,
    mut candidates: Option<&mut Vec<Candidate>>,
) -> Result<(), CheckError> {
    for chunk in locate::split_documents(&source.text) {
        let fail = |message: &str| {
            CheckError(format!(
                "{}: document {} (line {}): {}",
                source.name, chunk.number, chunk.first_line, message
            ))
        };
        let objects = parse_documents(chunk.text)
            .map_err(|(_, message)| syntax_error(&source.name, &chunk, message))?;
        let trees = locate::line_trees(chunk.text, chunk.start_line - 1).unwrap_or_default();
        let nodes: Vec<&Node> = trees.iter().flat_map(locate::object_nodes).collect();
        // Lines only when the two readings agree on the objects.
        let nodes_match = nodes.len() == objects.len();
        for (index, object) in objects.into_iter().enumerate() {
            if let Some(candidates) = candidates.as_deref_mut()
                && object.get("kind").and_then(Value::as_str) == Some("Ingress")
            {
                candidates.push(Candidate {
                    file: source.name.clone(),
                    document: chunk.number,
                    object: object.clone(),
                    node: nodes_match.then(|| nodes[index].clone()),
                    first_line: chunk.first_line,
                });
            }
            add_object(state, object, namespace).map_err(|message| fail(&message))?;
        }
    }
    Ok(())
}

/// A document that does not parse: the YAML parser's own message, without its source snippet
/// and with the line counted in the whole file, not the document.
fn syntax_error(file: &str, chunk: &locate::Chunk<'_>, fallback: String) -> CheckError {
    let is_json = chunk.text.trim_start().starts_with(['{', '[']);
    let yaml_error = (!is_json)
        .then(|| serde_saphyr::from_multiple::<Value>(chunk.text).err())
        .flatten();
    let (line, message) = match yaml_error {
        Some(error) => {
            let offset = chunk.start_line - 1;
            let line = error
                .location()
                .and_then(|at| usize::try_from(at.line()).ok())
                .filter(|line| *line > 0)
                .map_or(chunk.first_line, |line| line + offset);
            let rendered = error.render_with_options(serde_saphyr::render_options! {
                snippets: serde_saphyr::SnippetMode::Off,
                line_offset: offset as u64,
            });
            (line, ingress::one_line(&rendered))
        }
        None => (chunk.first_line, fallback),
    };
    CheckError(format!(
        "{file}: document {} (line {line}): {message}",
        chunk.number
    ))
}

/// Decides on one Ingress as the webhook would on its CREATE, and records what it says.
fn check_one(
    engine: &Engine,
    state: &ClusterState,
    options: &Options,
    candidate: &Candidate,
    report: &mut Report,
) -> Result<(), CheckError> {
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
    let raw = serde_json::value::to_raw_value(object).map_err(|e| CheckError(e.to_string()))?;
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
            return Err(CheckError(format!(
                "{}: document {} (line {}): {}",
                candidate.file,
                candidate.document,
                candidate.first_line,
                decision.deny_message.unwrap_or_default()
            )));
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
    Ok(())
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
    for warning in patched
        .warnings
        .iter()
        .filter(|w| w.starts_with("patched "))
    {
        report
            .notes
            .push(at(format!("the /mutate webhook {warning}")));
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
