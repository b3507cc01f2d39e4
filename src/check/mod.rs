//! `check`: the webhook's rules, offline, over manifests (files, directories, stdin) for CI
//! pipelines and pre-commit hooks.
//!
//! Every input and `--cluster-state` path is read into one [`ClusterState`] (Services, Secrets,
//! Ingresses; objects without a namespace take `--namespace`), then every qcloud Ingress of the
//! inputs is validated as a CREATE in that state, with the same [`Engine`] and settings as `serve`.

pub mod locate;
pub mod output;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::cluster::offline::{add_object, files_under, parse_documents};
use crate::cluster::{ClusterLookup, ClusterState, IngressSummary, SecretLookup, ServiceSummary};
use crate::ingress;
use crate::rules::{Engine, Operation, Requester, Review, Settings};
use locate::Node;
pub use output::{Format, Located, Summary};

/// What `check` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files, directories, or `-` for standard input.
    pub inputs: Vec<PathBuf>,
    /// More cluster state; its Ingresses are context, not checked.
    pub cluster_state: Vec<PathBuf>,
    pub config: Option<PathBuf>,
    pub namespace: String,
}

/// The result of a run: findings in input order, and the counts.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub findings: Vec<Located>,
    pub summary: Summary,
}

impl Outcome {
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

/// Runs `check`: reads everything, validates every qcloud Ingress of the inputs.
pub fn run(options: &Options, stdin: &mut dyn std::io::Read) -> Result<Outcome, CheckError> {
    if options.inputs.is_empty() {
        return Err(CheckError(
            "no inputs: give files, directories, or - for standard input".into(),
        ));
    }
    let settings = match &options.config {
        Some(path) => Settings::load(path).map_err(|e| CheckError(e.to_string()))?,
        None => Settings::default(),
    };
    let engine = Engine::new(settings).map_err(|e| CheckError(e.to_string()))?;

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

    let mut outcome = Outcome::default();
    outcome.summary.files = inputs.len();
    for candidate in candidates {
        check_one(&engine, &state, &options.namespace, candidate, &mut outcome)?;
    }
    Ok(outcome)
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

/// Validates one Ingress if it is ours and not exempt.
fn check_one(
    engine: &Engine,
    state: &ClusterState,
    default_namespace: &str,
    candidate: Candidate,
    outcome: &mut Outcome,
) -> Result<(), CheckError> {
    let api_version = candidate
        .object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if ingress::IngressVersion::from_api_version(&api_version).is_none() {
        return Ok(());
    }
    let decoded = ingress::decode(&api_version, candidate.object).map_err(|e| {
        CheckError(format!(
            "{}: document {} (line {}): {e}",
            candidate.file, candidate.document, candidate.first_line
        ))
    })?;
    if !ingress::is_qcloud(&decoded.ingress) {
        return Ok(());
    }
    let metadata = &decoded.ingress.metadata;
    let namespace = metadata
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(default_namespace)
        .to_owned();
    let name = metadata.name.clone().unwrap_or_default();
    // No requester offline: only namespace exemptions can apply.
    if engine.is_exempt(&Requester::default(), &namespace) {
        outcome.summary.exempt += 1;
        return Ok(());
    }
    let cluster = WithoutSelf {
        state,
        namespace: &namespace,
        name: &name,
    };
    let verdict = engine.validate(&Review {
        operation: Operation::Create,
        namespace: &namespace,
        ingress: &decoded.ingress,
        version: decoded.version,
        old: None,
        cluster: &cluster,
    });
    outcome.summary.ingresses += 1;
    if !verdict.allowed() {
        outcome.summary.denied += 1;
    }
    let first_new = outcome.findings.len();
    for finding in verdict.findings {
        let field = decoded.field_path(&finding.field);
        let line = candidate
            .node
            .as_ref()
            .map_or(candidate.first_line, |node| locate::line_of(node, &field));
        outcome.findings.push(Located {
            file: candidate.file.clone(),
            line,
            document: candidate.document,
            namespace: namespace.clone(),
            name: name.clone(),
            finding,
            field,
        });
    }
    // Top to bottom, as a compiler reports.
    outcome.findings[first_new..].sort_by_key(|f| f.line);
    Ok(())
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
