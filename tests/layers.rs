//! The floors of the code import downwards only (docs/architecture.md draws them): `text` and the
//! object model (`ingress`) sit below everything; the cluster view (`cluster`) uses only them; the
//! rules (`rules`) use the cluster view's read-only trait and its summaries, never its live or
//! file-reading parts, and do no I/O and nothing async; the audit judges with the rules against the
//! cluster view; the HTTP layer (`http`) may use the rules, the cluster view and the audit; the
//! manifest reader (`manifest`) sits below `check` and `plan`, which do not use each other;
//! `certs` and `cli` are on top. [`LAYERS`] is that table.
//!
//! Read from the parsed source (`syn`), not from text: every `use` tree (grouped, nested, renamed,
//! glob), every path in an expression, a type, a pattern or a trait bound, and the `a::b::c` chains
//! inside macro invocations and `macro_rules!` bodies, with `crate::`, `$crate::`, `self::` and
//! `super::` resolved against the module the file (and any inline `mod`) is. So a stray import
//! fails here rather than in review, however it is spelt.

#![allow(
    clippy::expect_used,
    reason = "test helpers: a failed set-up is a failed test"
)]

use std::path::{Path, PathBuf};

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// Each top-level module (floor) and the other top-level modules its files may name.
const LAYERS: &[(&str, &[&str])] = &[
    ("text", &[]),
    ("ingress", &["text"]),
    ("cluster", &["ingress", "text"]),
    ("rules", &["cluster", "ingress", "text"]),
    // Tencent Cloud's SSL and CLB APIs, read into the cloud facts the rules read.
    ("cloud", &["cluster", "text"]),
    // The one path from an object to a decision, which every front end calls.
    ("drive", &["cloud", "rules", "cluster", "ingress", "text"]),
    (
        "audit",
        &["drive", "cloud", "rules", "cluster", "ingress", "text"],
    ),
    (
        "http",
        &[
            "drive", "audit", "cloud", "rules", "cluster", "ingress", "text",
        ],
    ),
    // Reading manifests, below check and plan, which do not use each other.
    (
        "manifest",
        &["drive", "cloud", "rules", "cluster", "ingress", "text"],
    ),
    (
        "check",
        &[
            "manifest", "drive", "cloud", "rules", "cluster", "ingress", "text",
        ],
    ),
    (
        "plan",
        &["manifest", "drive", "rules", "cluster", "ingress", "text"],
    ),
    // dev-certs and the self-managed authority (issue 24): it hands serving certificates to the
    // HTTP layer's resolver and reports readiness and metrics through `http::authority`.
    ("certs", &["http", "text"]),
    (
        "cli",
        &[
            "http", "drive", "audit", "manifest", "check", "plan", "certs", "cloud", "rules",
            "cluster", "ingress", "text",
        ],
    ),
];

/// Paths (from the crate root, or of another crate) a floor may not name, though it may use
/// the module they are in, and why.
const NARROWER: &[(&str, &str, &str)] = &[
    ("rules", "cluster::live", "the live view does I/O"),
    ("rules", "cluster::offline", "the offline view reads files"),
    ("rules", "cluster::state_file", "it reads files"),
    ("rules", "cluster::confirm", "confirmation is the caller's"),
    (
        "rules",
        "cluster::ClusterView",
        "rules read a ClusterLookup, not its async source",
    ),
    (
        "rules",
        "cluster::LookupRequest",
        "fetching is the caller's",
    ),
    ("rules", "std::fs", "no I/O in the rules"),
    ("rules", "std::net", "no I/O in the rules"),
    ("rules", "std::env", "no I/O in the rules"),
    ("rules", "std::io::Read", "no I/O in the rules"),
    ("rules", "std::process", "no I/O in the rules"),
    ("rules", "tokio", "no I/O in the rules"),
    ("rules", "kube", "no I/O in the rules"),
    ("rules", "hyper", "no HTTP in the rules"),
    ("rules", "axum", "no HTTP in the rules"),
];

/// Floors where nothing is `async` and nothing awaits.
const SYNCHRONOUS: &[&str] = &["rules"];

/// One thing a file names that its floor may not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    /// The path as resolved from the crate root (or as written, for another crate's).
    path: String,
    why: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {}",
            self.file, self.line, self.path, self.why
        )
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The module a file under `src/` is (`src/rules/checks/tls.rs` is `rules::checks::tls`,
/// `src/http/mod.rs` is `http`); empty for the crate roots.
fn module_of(relative: &str) -> Vec<String> {
    let inside = relative.strip_prefix("src/").unwrap_or(relative);
    let inside = inside.strip_suffix(".rs").unwrap_or(inside);
    let mut path: Vec<String> = inside.split('/').map(str::to_owned).collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    if matches!(path.as_slice(), [root] if root == "lib" || root == "main") {
        path.clear();
    }
    path
}

/// A path as written, with where it starts.
struct Named {
    segments: Vec<String>,
    line: usize,
}

/// Collects every path a file names, each with the module it is named in.
struct Collector {
    module: Vec<String>,
    named: Vec<(Vec<String>, Named)>,
    /// Lines of `async` items and blocks and of `.await`.
    asynchronous: Vec<usize>,
}

impl Collector {
    fn add(&mut self, segments: Vec<String>, line: usize) {
        self.named
            .push((self.module.clone(), Named { segments, line }));
    }

    /// Every leaf of a `use` tree, as a full path (`*` for a glob, the original name for a rename).
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.leaf(prefix, n.ident.to_string(), &n.ident),
            syn::UseTree::Rename(r) => self.leaf(prefix, r.ident.to_string(), &r.ident),
            syn::UseTree::Glob(g) => {
                let line = g.star_token.spans[0].start().line;
                let mut path = prefix.clone();
                path.push("*".to_owned());
                self.add(path, line);
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    fn leaf(&mut self, prefix: &[String], last: String, at: &syn::Ident) {
        let mut path = prefix.to_vec();
        // `use a::b::{self}` names `a::b`.
        if last != "self" {
            path.push(last);
        }
        self.add(path, at.span().start().line);
    }

    /// The `a::b::c` chains in a macro's tokens (`$crate::x` reads as `crate::x`).
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            match &trees[i] {
                TokenTree::Group(group) => self.tokens(group.stream()),
                TokenTree::Ident(first) if !follows_path_separator(&trees, i) => {
                    let mut chain = vec![first.to_string()];
                    while let Some(TokenTree::Ident(next)) = trees.get(i + 3)
                        && is_path_separator(&trees, i + 1)
                    {
                        chain.push(next.to_string());
                        i += 3;
                    }
                    if chain.len() > 1 {
                        self.add(chain, first.span().start().line);
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// `::` at `trees[at]` and `trees[at + 1]`.
fn is_path_separator(trees: &[TokenTree], at: usize) -> bool {
    matches!(
        (trees.get(at), trees.get(at + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

/// The ident at `trees[at]` continues a chain already read (it follows `::`).
fn follows_path_separator(trees: &[TokenTree], at: usize) -> bool {
    at >= 2 && is_path_separator(trees, at - 2)
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.module.push(item.ident.to_string());
        visit::visit_item_mod(self, item);
        self.module.pop();
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut prefix = Vec::new();
        if item.leading_colon.is_some() {
            prefix.push(String::new());
        }
        self.use_tree(&mut prefix, &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(first) = path.segments.first() {
            let mut segments: Vec<String> = Vec::new();
            if path.leading_colon.is_some() {
                segments.push(String::new());
            }
            segments.extend(path.segments.iter().map(|s| s.ident.to_string()));
            self.add(segments, first.ident.span().start().line);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }

    fn visit_signature(&mut self, sig: &'ast syn::Signature) {
        if let Some(token) = &sig.asyncness {
            self.asynchronous.push(token.span.start().line);
        }
        visit::visit_signature(self, sig);
    }

    fn visit_expr_async(&mut self, expr: &'ast syn::ExprAsync) {
        self.asynchronous.push(expr.async_token.span.start().line);
        visit::visit_expr_async(self, expr);
    }

    fn visit_expr_await(&mut self, expr: &'ast syn::ExprAwait) {
        self.asynchronous.push(expr.await_token.span.start().line);
        visit::visit_expr_await(self, expr);
    }
}

/// `segments` named in `module`, from the crate root: `None` for another crate's path or a local
/// name (`Some(["std", …])` for a path of another crate that starts with `::`).
fn resolve(module: &[String], segments: &[String]) -> Option<Vec<String>> {
    let (first, rest) = segments.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some([module, rest].concat()),
        "super" => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            let base = module.get(..module.len().checked_sub(ups)?)?;
            Some([base, &segments[ups..]].concat())
        }
        _ => None,
    }
}

/// The floors a layer may name, or `None` when the layer has no row in [`LAYERS`].
fn allowed(layer: &str) -> Option<&'static [&'static str]> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == layer)
        .map(|(_, may)| *may)
}

/// `path` starts with the segments of `prefix` (`a::b`), or is a glob over a module that holds it.
fn names(path: &[String], prefix: &str) -> bool {
    let prefix: Vec<&str> = prefix.split("::").collect();
    let path: Vec<&str> = path
        .iter()
        .map(String::as_str)
        .skip_while(|s| s.is_empty())
        .collect();
    match path.split_last() {
        Some((&"*", module)) => prefix.starts_with(module) || module.starts_with(&prefix),
        _ => path.starts_with(&prefix),
    }
}

/// What `layer` may not name about one path, if anything.
fn judge(layer: &str, module: &[String], named: &Named) -> Option<(String, String)> {
    let resolved = resolve(module, &named.segments);
    let absolute = resolved.clone().unwrap_or_else(|| named.segments.clone());
    let shown = absolute.join("::");
    // `pub(crate)`, `pub(super)` name the crate (or an ancestor), not what is in it.
    if let Some(top) = resolved.as_ref().and_then(|r| r.first()) {
        let top = top.as_str();
        let may = allowed(layer).unwrap_or_default();
        if top != layer && !may.contains(&top) {
            let floors = if may.is_empty() {
                format!("{layer} may use no other floor")
            } else {
                format!("{layer} may use only {}", may.join(", "))
            };
            let why = if top == "*" {
                format!("a glob of the crate root; {floors}")
            } else if allowed(top).is_none() {
                format!("`{top}` has no floor in tests/layers.rs LAYERS: add its row")
            } else {
                format!("{floors} (a floor up or across)")
            };
            return Some((shown, why));
        }
    }
    NARROWER
        .iter()
        .find(|(floor, prefix, _)| *floor == layer && names(&absolute, prefix))
        .map(|(_, prefix, why)| (shown, format!("{layer} may not name {prefix}: {why}")))
}

/// Every violation in one source file, `relative` to the crate (`src/rules/checks/tls.rs`).
fn check_source(relative: &str, text: &str) -> Vec<Violation> {
    let module = module_of(relative);
    let Some(layer) = module.first().cloned() else {
        return Vec::new();
    };
    let violation = |line, path: String, why: String| Violation {
        file: relative.to_owned(),
        line,
        path,
        why,
    };
    let file = match syn::parse_file(text) {
        Ok(file) => file,
        Err(e) => {
            let line = e.span().start().line;
            return vec![violation(
                line,
                String::new(),
                format!("does not parse: {e}"),
            )];
        }
    };
    if allowed(&layer).is_none() {
        let why = format!("`{layer}` has no floor in tests/layers.rs LAYERS: add its row");
        return vec![violation(1, layer.clone(), why)];
    }
    let mut collector = Collector {
        module,
        named: Vec::new(),
        asynchronous: Vec::new(),
    };
    collector.visit_file(&file);
    let mut found: Vec<Violation> = collector
        .named
        .iter()
        .filter_map(|(module, named)| {
            let (path, why) = judge(&layer, module, named)?;
            Some(violation(named.line, path, why))
        })
        .collect();
    if SYNCHRONOUS.contains(&layer.as_str()) {
        found.extend(collector.asynchronous.iter().map(|&line| {
            let why = format!("{layer} is synchronous: no async, no .await");
            violation(line, "async".to_owned(), why)
        }));
    }
    found.sort_by(|a, b| (a.line, &a.path).cmp(&(b.line, &b.path)));
    found.dedup();
    found
}

/// Real violations the floors tolerate for now, as `(file, path)`, each with why. Empty: keep it so.
const KNOWN: &[(&str, &str)] = &[];

#[test]
fn floors_import_downwards_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for file in sources(&root.join("src")) {
        let relative = file
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).expect("readable source");
        found.extend(check_source(&relative, &text));
    }
    found.retain(|v| !KNOWN.contains(&(v.file.as_str(), v.path.as_str())));
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        lines.is_empty(),
        "paths that reach a floor up or across (see tests/layers.rs LAYERS):\n{}",
        lines.join("\n")
    );
}

#[test]
fn every_module_of_lib_rs_has_a_floor() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("src/lib.rs");
    let file = syn::parse_file(&lib).expect("lib.rs parses");
    for item in &file.items {
        if let syn::Item::Mod(module) = item {
            let name = module.ident.to_string();
            assert!(allowed(&name).is_some(), "`{name}` has no row in LAYERS");
        }
    }
}

/// The paths of the violations the checker reports in `text`, as file `relative`, `line:path`.
fn reported(relative: &str, text: &str) -> Vec<String> {
    check_source(relative, text)
        .iter()
        .map(|v| format!("{}:{}", v.line, v.path))
        .collect()
}

#[test]
fn the_checker_sees_grouped_nested_renamed_and_glob_imports() {
    let text = "use crate::{http::X, rules::Y};\n\
                use crate::{cluster::{ClusterLookup, live::LiveCluster as Live}, check::*};\n\
                use super::super::super::plan;\n\
                use super::super::Finding;\n";
    assert_eq!(
        reported("src/rules/checks/example.rs", text),
        [
            "1:http::X",
            "2:check::*",
            "2:cluster::live::LiveCluster",
            "3:plan"
        ]
    );
}

#[test]
fn the_checker_sees_paths_in_code_types_and_macros() {
    let text = "fn f(a: crate::audit::Report) -> usize {\n\
                    let n = crate::plan::count(&a);\n\
                    format!(\"{}\", $crate::http::NAME).len() + n\n\
                }\n\
                mod tests {\n\
                    use super::super::super::check::run;\n\
                }\n";
    assert_eq!(
        reported("src/rules/example/mod.rs", text),
        [
            "1:audit::Report",
            "2:plan::count",
            "3:http::NAME",
            "6:check::run"
        ]
    );
}

#[test]
fn the_checker_sees_io_and_async_in_the_rules() {
    let text = "use std::{fs, io::{self, Read}};\n\
                async fn f() { g().await }\n";
    assert_eq!(
        reported("src/rules/example.rs", text),
        ["1:std::fs", "1:std::io::Read", "2:async"]
    );
    assert!(reported("src/cluster/example.rs", text).is_empty());
}

#[test]
fn the_checker_passes_what_a_floor_may_use() {
    let rules = "use crate::cluster::{ClusterLookup, ServiceSummary};\n\
                 use crate::{ingress::keys, text::one_line};\n\
                 use super::{Finding, Severity};\n\
                 use std::io::Write as _;\n\
                 fn f(c: &dyn crate::cluster::ClusterLookup) -> Option<crate::ingress::Kind> { None }\n";
    assert_eq!(
        reported("src/rules/checks/example.rs", rules),
        [] as [&str; 0]
    );
    let http = "use crate::{audit::live::Auditor, cluster::ClusterView, rules::Engine};\n";
    assert_eq!(reported("src/http/example.rs", http), [] as [&str; 0]);
}

#[test]
fn the_checker_names_a_module_without_a_floor() {
    assert_eq!(
        reported("src/driver.rs", "use crate::rules::Engine;\n"),
        ["1:driver"]
    );
    assert_eq!(
        reported("src/check/example.rs", "use crate::driver::drive;\n"),
        ["1:driver::drive"]
    );
}
