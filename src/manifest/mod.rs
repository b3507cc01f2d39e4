//! Reading manifests, the one reader below `check` and `plan`: files, directories and standard
//! input (`read.rs`), the line of each field (`locate.rs`), the inputs as the cluster the driver
//! reads (`view.rs`), and what both front ends say of an input they could not use.

pub mod locate;
pub mod read;
pub mod view;

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::cluster::ClusterLookup;
use crate::rules::{AdmissionInput, Decision, Endpoint, Kind, ObjectInput, Operation, Requester};
use read::Candidate;
pub use view::Unresolved;

/// How standard input is named in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// An input that could not be used: unreadable, not YAML kubectl accepts, or an object kubectl
/// refuses. The other inputs are still checked; the exit status is 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    /// 1-based line, or 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

impl FileError {
    pub fn whole(file: &str, message: String) -> Self {
        Self {
            file: file.to_owned(),
            line: 0,
            message,
        }
    }

    /// `file:line` (or just `file`).
    pub fn at(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}", self.file, self.line)
        }
    }
}

/// A live cluster to resolve references against (`--kubeconfig`): the view `serve` uses, with
/// the Secrets one review reads fetched first.
pub trait LiveCluster {
    fn lookup(&self, namespace: &str, secret_names: Vec<String>) -> Arc<dyn ClusterLookup>;

    /// The Ingress as the API server returns it (`plan --diff`'s old side), `None` when there
    /// is none by that name.
    fn ingress(&self, namespace: &str, name: &str) -> anyhow::Result<Option<serde_json::Value>>;
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
    pub fn new(candidate: &Candidate, subject: &Subject<'_>, reference: Unresolved) -> Self {
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

/// One Ingress of the inputs, as an admission request.
pub struct Subject<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub kind: Kind<'a>,
    pub raw: &'a RawValue,
}

impl<'a> Subject<'a> {
    pub fn of(candidate: &'a Candidate, default_namespace: &'a str) -> Option<Self> {
        let api_version = candidate.api_version.as_str();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Some(Self {
            namespace: candidate.namespace.as_deref().unwrap_or(default_namespace),
            name: &candidate.name,
            kind: Kind {
                group,
                version,
                kind: "Ingress",
            },
            raw: &candidate.raw,
        })
    }

    /// A CREATE of the object by nobody in particular: offline there is no requester, so only
    /// namespace exemptions can apply.
    pub fn input(&self, endpoint: Endpoint) -> AdmissionInput<'_> {
        AdmissionInput {
            endpoint,
            operation: Operation::Create,
            kind: self.kind,
            namespace: Some(self.namespace),
            object: Some(ObjectInput::Text(self.raw)),
            old_object: None,
            requester: Requester::default(),
        }
    }
}

/// The input error for an object the admission function could not decode (a deny without
/// findings), at its document.
pub fn undecodable(candidate: &Candidate, decision: &Decision) -> FileError {
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

/// How many references were not among the inputs, which, and how to resolve them; `None` when
/// every reference was resolved.
pub fn unresolved_line(unresolved: &[UnresolvedAt], strict: bool) -> Option<String> {
    const SHOWN: usize = 5;
    let mut names: Vec<String> = unresolved.iter().map(|u| u.reference.to_string()).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return None;
    }
    let more = names.len().saturating_sub(SHOWN);
    let mut listed = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        let _ = write!(listed, ", …and {more} more");
    }
    let verdict = if strict {
        "failing (--strict)"
    } else {
        "not checked"
    };
    Some(format!(
        "unresolved: {} not among the inputs, {verdict}: {listed}; add them with --cluster-state, \
         or resolve them against a cluster with --kubeconfig",
        if names.len() == 1 {
            "1 reference".to_owned()
        } else {
            format!("{} references", names.len())
        }
    ))
}
