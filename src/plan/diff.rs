//! `plan --diff OLD NEW`: what an update changes on the CLB, listener by listener. The new side
//! is judged as an UPDATE of the old one, so its findings are the ones `kubectl apply` gets
//! (create-only changes, ratcheting), and its plan keeps the create-only keys TKE keeps.

use std::collections::BTreeMap;

use serde::Serialize;

use super::output::{cert_text, clb_text, redirect_target, rule_text};
use super::{ClbPlan, FindingPlan, IgnoredPlan, IngressPlan, Planner, Report};
use crate::manifest::read::Inputs;

/// What an update does to one Ingress's share of the CLB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressDiff {
    pub namespace: String,
    pub name: String,
    /// `added`, `removed`, `changed` or `unchanged`.
    pub change: &'static str,
    /// Where the new side is (the old side for a removed Ingress).
    pub file: String,
    pub line: usize,
    /// The webhook's answer to the update (`None` for a removed Ingress).
    pub verdict: Option<&'static str>,
    /// The CLB after the update (before it, for a removed Ingress).
    pub clb: ClbPlan,
    pub changes: Vec<Change>,
    pub ignored: Vec<IgnoredPlan>,
    pub findings: Vec<FindingPlan>,
}

/// One change on the CLB.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The listener it is on (after the update, for a move).
    pub listener: Option<String>,
    /// `rule`, `certificate`, `redirect` or `clb`.
    pub kind: &'static str,
    pub host: Option<String>,
    pub path: Option<String>,
    /// `add`, `remove`, `change` or `move`.
    pub op: &'static str,
    /// For a move: the listener the rule leaves.
    pub from_listener: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Change {
    fn new(op: &'static str, kind: &'static str) -> Self {
        Self {
            listener: None,
            kind,
            host: None,
            path: None,
            op,
            from_listener: None,
            before: None,
            after: None,
        }
    }
}

/// Diffs every Ingress of either side, new side first, in input order.
pub fn run(
    planner: &Planner<'_>,
    old: &Inputs,
    new: &Inputs,
    report: &mut Report,
) -> Vec<IngressDiff> {
    let mut scratch = Report::default();
    let mut old_plans: Vec<(IngressPlan, serde_json::Value)> = Vec::new();
    for candidate in &old.candidates {
        if let Some(plan) = planner.plan(&old.state, candidate, None, &mut scratch) {
            old_plans.push((plan, candidate.object()));
        }
    }
    report.errors.append(&mut scratch.errors);
    let mut diffs = Vec::new();
    let mut matched = vec![false; old_plans.len()];
    for candidate in &new.candidates {
        let key = super::Subject::of(candidate, &planner.options.namespace)
            .map(|s| (s.namespace.to_owned(), s.name.to_owned()));
        let found = old_plans
            .iter()
            .position(|(p, _)| key.as_ref() == Some(&(p.namespace.clone(), p.name.clone())));
        let old_object = found.map(|i| &old_plans[i].1);
        let Some(plan) = planner.plan(&new.state, candidate, old_object, report) else {
            continue;
        };
        if let Some(i) = found {
            matched[i] = true;
        }
        diffs.push(diff(found.map(|i| &old_plans[i].0), plan));
    }
    for (i, (plan, _)) in old_plans.into_iter().enumerate() {
        if !matched[i] {
            diffs.push(removed(plan));
        }
    }
    diffs
}

/// An Ingress on both sides (or only the new one).
fn diff(old: Option<&IngressPlan>, mut new: IngressPlan) -> IngressDiff {
    if let Some(old) = old {
        keep_tkes_clb(&old.clb, &mut new.clb);
    }
    let empty = IngressPlan {
        listeners: Vec::new(),
        redirects: Vec::new(),
        ..new.clone()
    };
    let before = old.unwrap_or(&empty);
    let mut changes = Vec::new();
    if old.is_some() && before.clb != new.clb {
        let mut change = Change::new("change", "clb");
        change.before = Some(clb_text(&before.clb));
        change.after = Some(clb_text(&new.clb));
        changes.push(change);
    }
    rule_changes(before, &new, &mut changes);
    certificate_changes(before, &new, &mut changes);
    redirect_changes(before, &new, &mut changes);
    changes.sort();
    let change = match (old, changes.is_empty()) {
        (None, _) => "added",
        (Some(_), true) => "unchanged",
        (Some(_), false) => "changed",
    };
    IngressDiff {
        namespace: new.namespace,
        name: new.name,
        change,
        file: new.file,
        line: new.line,
        verdict: Some(new.verdict),
        clb: new.clb,
        changes,
        ignored: new.ignored,
        findings: new.findings,
    }
}

/// The CLB id TKE wrote on the old object (`qcloud-loadbalance-id`) stays on the new one: nobody
/// writes it into a manifest, and `kubectl apply` keeps annotations it did not set (TKE's), so the
/// update keeps its CLB. Without this every manifest would read as "CLB replaced".
fn keep_tkes_clb(old: &ClbPlan, new: &mut ClbPlan) {
    if old.lifecycle == "in-use" && new.lifecycle == "new" && new.id.is_none() {
        new.lifecycle = old.lifecycle;
        new.id.clone_from(&old.id);
    }
}

/// An Ingress only on the old side: TKE removes its rules.
fn removed(old: IngressPlan) -> IngressDiff {
    let empty = IngressPlan {
        listeners: Vec::new(),
        redirects: Vec::new(),
        ..old.clone()
    };
    let mut changes = Vec::new();
    rule_changes(&old, &empty, &mut changes);
    certificate_changes(&old, &empty, &mut changes);
    redirect_changes(&old, &empty, &mut changes);
    changes.sort();
    IngressDiff {
        namespace: old.namespace,
        name: old.name,
        change: "removed",
        file: old.file,
        line: old.line,
        verdict: None,
        clb: old.clb,
        changes,
        ignored: Vec::new(),
        findings: Vec::new(),
    }
}

type RuleKey = (String, String);

/// `(host, path) → listener → what the rule does`.
fn rules_of(plan: &IngressPlan) -> BTreeMap<RuleKey, BTreeMap<String, String>> {
    let mut out: BTreeMap<RuleKey, BTreeMap<String, String>> = BTreeMap::new();
    for listener in &plan.listeners {
        for domain in &listener.domains {
            for rule in &domain.rules {
                out.entry((domain.host.clone(), rule.path.clone()))
                    .or_default()
                    .insert(listener.name(), rule_text(rule));
            }
        }
    }
    out
}

/// Added, removed and changed rules; a host+path that leaves one listener for another is a
/// move.
fn rule_changes(old: &IngressPlan, new: &IngressPlan, out: &mut Vec<Change>) {
    let (before, after) = (rules_of(old), rules_of(new));
    let none = BTreeMap::new();
    let keys: std::collections::BTreeSet<&RuleKey> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let was = before.get(key).unwrap_or(&none);
        let is = after.get(key).unwrap_or(&none);
        let at = |op, listener: &String| {
            let mut change = Change::new(op, "rule");
            change.listener = Some(listener.clone());
            change.host = Some(key.0.clone());
            change.path = Some(key.1.clone());
            change
        };
        let mut gone: Vec<&String> = was.keys().filter(|l| !is.contains_key(*l)).collect();
        let mut came: Vec<&String> = is.keys().filter(|l| !was.contains_key(*l)).collect();
        while let (Some(from), Some(to)) = (gone.first().copied(), came.first().copied()) {
            let mut change = at("move", to);
            change.from_listener = Some(from.clone());
            change.before = Some(was[from].clone());
            change.after = Some(is[to].clone());
            out.push(change);
            gone.remove(0);
            came.remove(0);
        }
        for listener in gone {
            out.push(Change {
                before: Some(was[listener].clone()),
                ..at("remove", listener)
            });
        }
        for listener in came {
            out.push(Change {
                after: Some(is[listener].clone()),
                ..at("add", listener)
            });
        }
        for (listener, text) in was
            .iter()
            .filter(|(l, t)| is.get(*l).is_some_and(|n| n != *t))
        {
            out.push(Change {
                before: Some(text.clone()),
                after: Some(is[listener].clone()),
                ..at("change", listener)
            });
        }
    }
}

/// `(listener, host, path)`: where a certificate (no path) or a redirect is.
type Key = (String, String, Option<String>);

/// Certificates of HTTPS domains that come, go or change.
fn certificate_changes(old: &IngressPlan, new: &IngressPlan, out: &mut Vec<Change>) {
    let certificates = |plan: &IngressPlan| -> BTreeMap<Key, String> {
        let mut map = BTreeMap::new();
        for listener in &plan.listeners {
            for domain in &listener.domains {
                if let Some(cert) = &domain.certificate {
                    let key = (listener.name(), domain.host.clone(), None);
                    map.insert(key, cert_text(cert));
                }
            }
        }
        map
    };
    keyed_changes("certificate", &certificates(old), &certificates(new), out);
}

fn redirect_changes(old: &IngressPlan, new: &IngressPlan, out: &mut Vec<Change>) {
    let redirects = |plan: &IngressPlan| -> BTreeMap<Key, String> {
        let from = |r: &super::RedirectPlan| {
            let path = Some(r.from.path.clone());
            (r.from.listener.clone(), r.from.host.clone(), path)
        };
        plan.redirects
            .iter()
            .map(|r| (from(r), redirect_target(r)))
            .collect()
    };
    keyed_changes("redirect", &redirects(old), &redirects(new), out);
}

/// What comes, goes or changes between two keyed descriptions.
fn keyed_changes(
    kind: &'static str,
    before: &BTreeMap<Key, String>,
    after: &BTreeMap<Key, String>,
    out: &mut Vec<Change>,
) {
    let keys: std::collections::BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let (was, is) = (before.get(key), after.get(key));
        let op = match (was, is) {
            (None, Some(_)) => "add",
            (Some(_), None) => "remove",
            (Some(a), Some(b)) if a != b => "change",
            _ => continue,
        };
        let mut change = Change::new(op, kind);
        change.listener = Some(key.0.clone());
        change.host = Some(key.1.clone());
        change.path.clone_from(&key.2);
        change.before = was.cloned();
        change.after = is.cloned();
        out.push(change);
    }
}
