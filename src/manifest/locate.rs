//! Where things are in the YAML source: documents and their first lines, and the line of a
//! Kubernetes field path (`spec.rules[0].http.paths[1].path`) inside an object.
//!
//! Values come from [`crate::cluster::offline::parse_documents`]; this module only keeps a light
//! tree of line numbers built from the YAML parser's events, so findings can point at a line.

use serde_saphyr::granit_parser::{Event, Parser};

/// One YAML document of a file: the text between `---` markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// 1-based, counting only documents that hold something (not blank or comment-only ones).
    pub number: usize,
    /// 1-based line in the file where the document's text starts (its `---` marker, if any).
    pub start_line: usize,
    /// 1-based line of the document's first content line.
    pub first_line: usize,
    pub text: &'a str,
}

/// Splits a file into YAML documents at `---` (and after `...`) lines. A marker at column 0
/// always ends a document in YAML, even inside block scalars, so line splitting is exact.
pub fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    let mut line_number = 1;
    let mut pieces: Vec<(usize, usize, usize)> = Vec::new();
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_marker(bare, "---") && offset > start {
            pieces.push((start, offset, start_line));
            start = offset;
            start_line = line_number;
        }
        offset += line.len();
        line_number += 1;
        if is_marker(bare, "...") {
            pieces.push((start, offset, start_line));
            start = offset;
            start_line = line_number;
        }
    }
    if offset > start {
        pieces.push((start, offset, start_line));
    }
    for (from, to, line) in pieces {
        let piece = &text[from..to];
        if let Some(first) = first_content_line(piece) {
            chunks.push(Chunk {
                number: chunks.len() + 1,
                start_line: line,
                first_line: line + first,
                text: piece,
            });
        }
    }
    chunks
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// 0-based index of the first line with YAML content (a `--- {a: 1}` line counts).
fn first_content_line(piece: &str) -> Option<usize> {
    piece.lines().position(|line| {
        let content = if is_marker(line, "---") || is_marker(line, "...") {
            &line[3..]
        } else {
            line
        };
        let content = content.trim();
        !content.is_empty() && !content.starts_with('#')
    })
}

/// A YAML node with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub line: usize,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Entries as (key, line of the key, value).
    Map(Vec<(String, usize, Node)>),
    Seq(Vec<Node>),
    /// The scalar's text (an alias has none).
    Scalar(String),
}

/// The line tree of each YAML document in `text` (normally one), with lines shifted by
/// `line_offset`. `None` when the text does not parse as YAML.
pub fn line_trees(text: &str, line_offset: usize) -> Option<Vec<Node>> {
    let mut builder = TreeBuilder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        builder.push(event, span.start.line() + line_offset)?;
    }
    Some(builder.documents)
}

#[derive(Default)]
struct TreeBuilder {
    documents: Vec<Node>,
    /// Open collections; for maps, the key waiting for its value.
    stack: Vec<(Node, Option<(String, usize)>)>,
}

impl TreeBuilder {
    fn push(&mut self, event: Event<'_>, line: usize) -> Option<()> {
        match event {
            Event::MappingStart(..) => self.stack.push((
                Node {
                    line,
                    kind: NodeKind::Map(Vec::new()),
                },
                None,
            )),
            Event::SequenceStart(..) => self.stack.push((
                Node {
                    line,
                    kind: NodeKind::Seq(Vec::new()),
                },
                None,
            )),
            Event::MappingEnd | Event::SequenceEnd => {
                let (node, _) = self.stack.pop()?;
                self.add(node);
            }
            Event::Scalar(value, ..) => self.add(Node {
                line,
                kind: NodeKind::Scalar(value.into_owned()),
            }),
            Event::Alias(_) => self.add(Node {
                line,
                kind: NodeKind::Scalar(String::new()),
            }),
            _ => {}
        }
        Some(())
    }

    /// Adds a finished node to the open collection, or as a document.
    fn add(&mut self, node: Node) {
        let Some((parent, pending_key)) = self.stack.last_mut() else {
            self.documents.push(node);
            return;
        };
        match &mut parent.kind {
            NodeKind::Map(entries) => {
                if let Some((key, key_line)) = pending_key.take() {
                    entries.push((key, key_line, node));
                } else {
                    let text = match node.kind {
                        NodeKind::Scalar(text) => text,
                        // A collection as a key: keep it, unmatchable.
                        _ => String::new(),
                    };
                    *pending_key = Some((text, node.line));
                }
            }
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Scalar(_) => {}
        }
    }
}

/// The nodes of the objects in a document, in the order
/// [`crate::cluster::offline::parse_documents`] returns them (`kind: *List` expanded).
pub fn object_nodes(document: &Node) -> Vec<&Node> {
    let mut out = Vec::new();
    expand(document, &mut out);
    out
}

fn expand<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().for_each(|item| expand(item, out)),
        NodeKind::Map(_) if is_list(node) => {
            if let Some(NodeKind::Seq(items)) = child(node, "items").map(|n| &n.kind) {
                for item in items {
                    expand(item, out);
                }
            }
        }
        NodeKind::Map(_) => out.push(node),
        // `null` (an empty document) is skipped by parse_documents too.
        NodeKind::Scalar(_) => {}
    }
}

/// Same test as parse_documents: `kind: List` or any `*List` kind.
fn is_list(node: &Node) -> bool {
    matches!(child(node, "kind").map(|k| &k.kind), Some(NodeKind::Scalar(kind)) if kind.ends_with("List"))
}

fn child<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
        _ => None,
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `metadata.annotations[kubernetes.io/ingress.http-rules][0].backend` into steps. Keys in
/// brackets may contain dots and slashes and may be quoted (`["a/b"]`).
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else { break };
            let key = &inner[..end];
            let unquoted = key.trim_matches('"');
            steps.push(match unquoted.parse::<usize>() {
                Ok(index) if unquoted == key => Step::Index(index),
                _ => Step::Key(unquoted),
            });
            rest = &inner[end + 1..];
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            if end > 0 {
                steps.push(Step::Key(&rest_trimmed[..end]));
            }
            rest = &rest_trimmed[end..];
        }
    }
    steps
}

/// The line of `path` inside `object`: the key's line for a mapping entry, the item's line for a
/// sequence item. When the path goes further than the YAML (into the JSON text of an annotation,
/// or to a field that is missing) the deepest line found is used, else the object's first line.
pub fn line_of(object: &Node, path: &str) -> usize {
    let mut node = object;
    let mut line = object.line;
    for step in steps(path) {
        let next = match (step, &node.kind) {
            (Step::Key(key), NodeKind::Map(entries)) => entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, key_line, value)| (*key_line, value)),
            (Step::Index(index), NodeKind::Seq(items)) => {
                items.get(index).map(|item| (item.line, item))
            }
            _ => None,
        };
        let Some((found_line, child)) = next else {
            break;
        };
        line = found_line;
        node = child;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &str = r#"# leading comment
---
# Source: chart/templates/svc.yaml
apiVersion: v1
kind: Service
metadata: {name: a}
---
# an empty document
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata:
    name: s
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata:
    name: web
    annotations:
      kubernetes.io/ingress.http-rules: '[{"host": "a.example.com"}]'
      kubernetes.io/ingress.class: qcloud
  spec:
    rules:
    - host: localhost
      http:
        paths:
        - path: /
          backend: {service: {name: x, port: {number: 80}}}
        - path: /api/*
          backend:
            service:
              name: y
              port:
                number: 8080
...
--- {apiVersion: v1, kind: Service, metadata: {name: b}}
"#;

    #[test]
    fn documents_are_numbered_by_content_with_their_lines() {
        let chunks = split_documents(MULTI);
        let summary: Vec<_> = chunks
            .iter()
            .map(|c| (c.number, c.start_line, c.first_line))
            .collect();
        assert_eq!(summary, [(1, 2, 4), (2, 9, 10), (3, 38, 38)]);
        assert!(
            chunks[1]
                .text
                .starts_with("---\napiVersion: v1\nkind: List")
        );
        assert!(chunks[1].text.ends_with("...\n"));
        assert_eq!(split_documents("").len(), 0);
        assert_eq!(split_documents("a: 1").len(), 1);
        // `----` or `---x` are not markers.
        assert_eq!(split_documents("a: |\n  ----\nb: 1\n").len(), 1);
    }

    #[test]
    fn field_paths_map_to_lines() {
        let chunks = split_documents(MULTI);
        let list = &chunks[1];
        let trees = line_trees(list.text, list.start_line - 1).unwrap();
        assert_eq!(trees.len(), 1);
        let objects = object_nodes(&trees[0]);
        assert_eq!(objects.len(), 2, "the List's two items");
        let ingress = objects[1];
        assert_eq!(ingress.line, 17);
        assert_eq!(line_of(ingress, "spec.rules[0].host"), 26);
        assert_eq!(line_of(ingress, "spec.rules[0].http.paths[1].path"), 31);
        assert_eq!(
            line_of(
                ingress,
                "spec.rules[0].http.paths[1].backend.service.port.number"
            ),
            36
        );
        // Flow mappings have lines too.
        assert_eq!(
            line_of(ingress, "spec.rules[0].http.paths[0].backend.service.name"),
            30
        );
        // Into an annotation's JSON: the annotation key's line, quoted or not.
        assert_eq!(
            line_of(
                ingress,
                "metadata.annotations[kubernetes.io/ingress.http-rules][0].host"
            ),
            22
        );
        assert_eq!(
            line_of(
                ingress,
                "metadata.annotations[\"kubernetes.io/ingress.class\"]"
            ),
            23
        );
        // Missing fields: the deepest line found, else the object's first line.
        assert_eq!(line_of(ingress, "spec.rules[0].http.paths[7].path"), 28);
        assert_eq!(line_of(ingress, "spec.tls[0].secretName"), 24);
        assert_eq!(line_of(ingress, "status"), 17);
        assert_eq!(line_of(ingress, ""), 17);
    }

    #[test]
    fn json_documents_have_lines() {
        let text = "{\n  \"kind\": \"Ingress\",\n  \"spec\": {\n    \"rules\": [\n      {\"host\": \"x\"}\n    ]\n  }\n}\n";
        let trees = line_trees(text, 0).unwrap();
        let objects = object_nodes(&trees[0]);
        assert_eq!(line_of(objects[0], "spec.rules[0].host"), 5);
        assert_eq!(line_of(objects[0], "spec"), 3);
    }

    #[test]
    fn unparsable_yaml_has_no_tree() {
        assert_eq!(line_trees("a: [1, 2\n", 0), None);
    }

    #[test]
    fn steps_split_bracketed_keys() {
        assert_eq!(
            steps("metadata.annotations[a.b/c][2].x"),
            [
                Step::Key("metadata"),
                Step::Key("annotations"),
                Step::Key("a.b/c"),
                Step::Index(2),
                Step::Key("x")
            ]
        );
        assert_eq!(steps("a[\"0\"]"), [Step::Key("a"), Step::Key("0")]);
    }
}
