//! Reading `check`'s inputs: every file (directories recursively, `-` for stdin), each YAML
//! document through the one state-file reader, into a cluster state and the Ingresses to judge.
//! A file that cannot be read or parsed is reported and left out; the others are still checked.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::locate::{self, Chunk, Node};
use super::{FileError, STDIN_NAME};
use crate::cluster::ClusterState;
use crate::cluster::state_file::{self, Object, files_under};
use crate::ingress::IngressVersion;
use crate::text::one_line;

/// An input file's text and the name it is reported under.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// An Ingress from the inputs, waiting for the whole cluster state to be read.
pub struct Candidate {
    pub file: String,
    pub document: usize,
    pub object: Value,
    pub node: Option<Node>,
    pub first_line: usize,
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
    pub fn read(
        &mut self,
        paths: &[PathBuf],
        namespace: &str,
        judged: bool,
        stdin: &mut dyn std::io::Read,
    ) {
        for source in self.sources(paths, stdin) {
            if judged {
                self.files += 1;
            }
            match objects(&source) {
                Ok(objects) => self.add(objects, namespace, judged),
                Err(error) => self.errors.push(error),
            }
        }
    }

    /// Every file under `paths`; one that cannot be read is an error.
    fn sources(&mut self, paths: &[PathBuf], stdin: &mut dyn std::io::Read) -> Vec<Source> {
        let mut sources = Vec::new();
        for path in paths {
            if path == Path::new("-") {
                let mut text = String::new();
                match stdin.read_to_string(&mut text) {
                    Ok(_) => sources.push(Source {
                        name: STDIN_NAME.into(),
                        text,
                    }),
                    Err(e) => self
                        .errors
                        .push(FileError::whole(STDIN_NAME, e.to_string())),
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
                    Ok(text) => sources.push(Source { name, text }),
                    Err(e) => self.errors.push(FileError::whole(&name, e.to_string())),
                }
            }
        }
        sources
    }

    fn add(&mut self, objects: Vec<Parsed>, namespace: &str, judged: bool) {
        for parsed in objects {
            if judged
                && let Object::Ingress {
                    object: Some(value),
                    ..
                } = &parsed.object
            {
                self.candidates.push(Candidate {
                    file: parsed.file.clone(),
                    document: parsed.document,
                    object: value.clone(),
                    node: parsed.node,
                    first_line: parsed.first_line,
                });
            }
            state_file::insert(&mut self.state, parsed.object, namespace);
        }
    }
}

/// One object of a file, with where it is.
pub struct Parsed {
    file: String,
    document: usize,
    first_line: usize,
    node: Option<Node>,
    object: Object,
}

/// Every object of a file, or the first reason it cannot be used as kubectl would.
fn objects(source: &Source) -> Result<Vec<Parsed>, FileError> {
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
        let objects = state_file::read(chunk.text, true)
            .map_err(|(_, message)| syntax_error(&source.name, &chunk, message))?;
        let trees = locate::line_trees(chunk.text, chunk.start_line - 1).unwrap_or_default();
        let nodes: Vec<&Node> = trees.iter().flat_map(locate::object_nodes).collect();
        // Lines only when the two readings agree on the objects.
        let nodes_match = nodes.len() == objects.len();
        for (index, object) in objects.into_iter().enumerate() {
            if let Some(message) = unserved_ingress(&object) {
                let line = if nodes_match {
                    nodes[index].line
                } else {
                    chunk.first_line
                };
                return Err(FileError {
                    file: source.name.clone(),
                    line,
                    message,
                });
            }
            out.push(Parsed {
                file: source.name.clone(),
                document: chunk.number,
                first_line: chunk.first_line,
                node: nodes_match.then(|| nodes[index].clone()),
                object,
            });
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
