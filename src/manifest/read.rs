//! Reading `check`'s inputs: every file (directories recursively, `-` for stdin), each YAML
//! document through the one state-file reader, into a cluster state and the Ingresses to judge.
//! A file that cannot be read or parsed is reported and left out; the others are still checked.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use super::locate::{self, Chunk, Node};
use super::{FileError, STDIN_NAME};
use crate::cluster::ClusterState;
use crate::cluster::state_file::{self, Object, files_under};
use crate::ingress::IngressVersion;
use crate::text::one_line;

/// An input file's text and the name it is reported under.
pub struct Source {
    pub name: String,
    /// Shared with the candidates, whose lines are read from it again when a finding needs one.
    pub text: Arc<String>,
}

/// An Ingress from the inputs, waiting for the whole cluster state to be read.
pub struct Candidate {
    pub file: String,
    pub document: usize,
    /// The object as compact JSON text, without `managedFields` and the last-applied annotation
    /// (no rule reads them): a value tree per Ingress would hold several times the input.
    pub raw: Box<RawValue>,
    /// `apiVersion`, `metadata.namespace` (`None` when absent or empty) and `metadata.name`.
    pub api_version: String,
    pub namespace: Option<String>,
    pub name: String,
    lines: Option<Lines>,
    pub first_line: usize,
}

/// Where to find the lines of an object's fields: its document's text, read into a line tree
/// only when a finding needs a line (a tree per object would cost several times the input, and
/// reading every document twice would double the time).
struct Lines {
    /// The file's text, and the document's place in it.
    text: Arc<String>,
    document: std::ops::Range<usize>,
    line_offset: usize,
    /// The object's place among the document's objects (a `List` holds several), and how many
    /// objects the document holds.
    index: usize,
    count: usize,
}

impl Lines {
    /// The object's line tree; `None` unless the line reader sees the objects the object reader
    /// saw.
    fn node(&self) -> Option<Node> {
        let trees = locate::line_trees(self.text.get(self.document.clone())?, self.line_offset)?;
        let nodes: Vec<&Node> = trees.iter().flat_map(locate::object_nodes).collect();
        (nodes.len() == self.count).then(|| nodes[self.index].clone())
    }
}

impl Candidate {
    fn new(
        (file, document, first_line): (&str, usize, usize),
        object: &Value,
        lines: Option<Lines>,
    ) -> Option<Self> {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        Some(Self {
            file: file.to_owned(),
            document,
            api_version: text("/apiVersion").unwrap_or_default().to_owned(),
            namespace: text("/metadata/namespace")
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            name: text("/metadata/name").unwrap_or_default().to_owned(),
            raw: serde_json::value::to_raw_value(object).ok()?,
            lines,
            first_line,
        })
    }

    /// An object read from elsewhere than a file (the live cluster): no lines.
    pub fn without_lines(file: &str, document: usize, mut object: Value) -> Option<Self> {
        crate::ingress::drop_unread(&mut object);
        Self::new((file, document, 0), &object, None)
    }

    /// The object as a value tree, for the few who edit it (`plan` applies the patch).
    pub fn object(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or_default()
    }

    /// The object's line tree, for the line of each field.
    pub fn node(&self) -> Option<Node> {
        self.lines.as_ref()?.node()
    }
}

/// What the inputs hold.
#[derive(Default)]
pub struct Inputs {
    pub state: ClusterState,
    pub candidates: Vec<Candidate>,
    pub errors: Vec<FileError>,
    /// Input files read (with or without an error).
    pub files: usize,
}

impl Inputs {
    /// Reads `paths`; their Ingresses are candidates when `judged`, cluster state otherwise.
    ///
    /// One file at a time: a file without an Ingress to judge is dropped once its objects are
    /// summarised; one with Ingresses is kept (once, shared) for the lines of their findings.
    pub fn read(
        &mut self,
        paths: &[PathBuf],
        namespace: &str,
        judged: bool,
        stdin: &mut dyn std::io::Read,
    ) {
        for path in paths {
            if path == Path::new("-") {
                let mut text = String::new();
                match stdin.read_to_string(&mut text) {
                    Ok(_) => self.read_source(
                        &Source {
                            name: STDIN_NAME.into(),
                            text: Arc::new(text),
                        },
                        namespace,
                        judged,
                    ),
                    Err(e) => self.unreadable(STDIN_NAME, &e, judged),
                }
                continue;
            }
            let files = match files_under(path) {
                Ok(files) => files,
                Err(e) => {
                    self.errors
                        .push(FileError::whole(&path.display().to_string(), e.to_string()));
                    continue;
                }
            };
            for file in files {
                let name = file.display().to_string();
                match std::fs::read_to_string(&file) {
                    Ok(text) => {
                        let text = Arc::new(text);
                        self.read_source(&Source { name, text }, namespace, judged);
                    }
                    Err(e) => self.unreadable(&name, &e, judged),
                }
            }
        }
    }

    fn read_source(&mut self, source: &Source, namespace: &str, judged: bool) {
        if judged {
            self.files += 1;
        }
        match objects(source, judged) {
            Ok(objects) => self.add(objects, namespace),
            Err(error) => self.errors.push(error),
        }
    }

    fn unreadable(&mut self, name: &str, error: &std::io::Error, judged: bool) {
        if judged {
            self.files += 1;
        }
        self.errors.push(FileError::whole(name, error.to_string()));
    }

    fn add(&mut self, objects: Vec<Parsed>, namespace: &str) {
        for parsed in objects {
            self.candidates.extend(parsed.candidate);
            state_file::insert(&mut self.state, parsed.object, namespace);
        }
    }
}

/// One object of a file: what the cluster state keeps of it, and the Ingress to judge, compact
/// at once (a file's objects are all read before any is used).
pub struct Parsed {
    candidate: Option<Candidate>,
    object: Object,
}

/// Every object of a file, or the first reason it cannot be used as kubectl would; its Ingresses
/// are candidates to judge when `judged`.
fn objects(source: &Source, judged: bool) -> Result<Vec<Parsed>, FileError> {
    if let Some(line) = tab_indented_line(&source.text) {
        return Err(FileError {
            file: source.name.clone(),
            line,
            message: "a TAB in indentation; kubectl's YAML parser refuses it (indent with spaces)"
                .into(),
        });
    }
    let mut out = Vec::new();
    for chunk in locate::split_documents(&source.text) {
        let objects = state_file::read(chunk.text, judged)
            .map_err(|(_, message)| syntax_error(&source.name, &chunk, message))?;
        let count = objects.len();
        let start = chunk.text.as_ptr().addr() - source.text.as_ptr().addr();
        let lines = |index| Lines {
            text: source.text.clone(),
            document: start..start + chunk.text.len(),
            line_offset: chunk.start_line - 1,
            index,
            count,
        };
        for (index, object) in objects.into_iter().enumerate() {
            if let Some(message) = unserved_ingress(&object) {
                let line = lines(index)
                    .node()
                    .map_or(chunk.first_line, |node| node.line);
                return Err(FileError {
                    file: source.name.clone(),
                    line,
                    message,
                });
            }
            // Only an Ingress is judged and needs its lines again; its document is kept once.
            let mut object = object;
            let kept = match &mut object {
                Object::Ingress { object, .. } => object.take(),
                _ => None,
            };
            let candidate = kept.and_then(|value| {
                let at = (source.name.as_str(), chunk.number, chunk.first_line);
                Candidate::new(at, &value, Some(lines(index)))
            });
            out.push(Parsed { candidate, object });
        }
    }
    Ok(out)
}

/// An Ingress in an apiVersion no API server serves is refused by kubectl, not skipped.
fn unserved_ingress(object: &Object) -> Option<String> {
    match object {
        Object::Other { kind, api_version }
            if kind == "Ingress" && IngressVersion::from_api_version(api_version).is_none() =>
        {
            Some(format!(
                "kind Ingress in apiVersion {api_version:?}: no API server serves it (use networking.k8s.io/v1)"
            ))
        }
        _ => None,
    }
}

/// The 1-based line of the first TAB in indentation, outside block scalars: YAML 1.2 allows
/// some (before a comment, say), but kubectl's parser refuses every one.
fn tab_indented_line(text: &str) -> Option<usize> {
    let mut block_scalar_of: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let content = line.trim_start_matches([' ', '\t']);
        if content.is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_scalar_of {
            if indent > parent {
                continue;
            }
            block_scalar_of = None;
        }
        if line[..line.len() - content.len()].contains('\t') {
            return Some(number + 1);
        }
        if opens_block_scalar(content) {
            block_scalar_of = Some(indent);
        }
    }
    None
}

/// `key: |`, `- >-`, `key: |2+` and the like: the lines below are a scalar's text.
fn opens_block_scalar(content: &str) -> bool {
    let content = content.split(" #").next().unwrap_or(content).trim_end();
    content.split_whitespace().last().is_some_and(|last| {
        last.starts_with(['|', '>'])
            && last[1..]
                .chars()
                .all(|c| c.is_ascii_digit() || c == '+' || c == '-')
    }) && (content.len() == 1 || content.contains(": ") || content.starts_with("- "))
}

/// A document that does not parse: the YAML parser's own message, without its source snippet
/// and with the line counted in the whole file, not the document.
fn syntax_error(file: &str, chunk: &Chunk<'_>, fallback: String) -> FileError {
    let is_json = chunk.text.trim_start().starts_with(['{', '[']);
    let yaml_error = (!is_json)
        .then(|| {
            let options = state_file::yaml_options(chunk.text.len());
            serde_saphyr::from_multiple_with_options::<serde::de::IgnoredAny>(chunk.text, options)
                .err()
        })
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
            (line, one_line(&rendered))
        }
        None => (chunk.first_line, fallback),
    };
    FileError {
        file: file.to_owned(),
        line,
        message: format!("document {}: {message}", chunk.number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_in_indentation_are_found_outside_block_scalars() {
        assert_eq!(tab_indented_line("a: 1\n\t# comment\n"), Some(2));
        assert_eq!(tab_indented_line("a:\n  \tb: 1\n"), Some(2));
        assert_eq!(tab_indented_line("a: 1 # x\tz\nb: \"\t\"\n"), None);
        assert_eq!(
            tab_indented_line("data:\n  script: |\n    \tindented with a tab\n  next: 1\n"),
            None
        );
        assert_eq!(tab_indented_line("- |-\n  \tx\n"), None);
        assert_eq!(tab_indented_line("key: |\n  text\n\tbad: 1\n"), Some(3));
    }
}
