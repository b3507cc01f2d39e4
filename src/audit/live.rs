//! The audit pass in `serve` (live mode): every qcloud Ingress in the watch cache is judged once,
//! then again whenever it, an Ingress on its CLB or a Service it uses changes (debounced), and
//! all of them again every `interval` (Secrets are read on demand, not watched). At most `rate`
//! Ingresses are judged per second, so a cluster of 10,000 costs a bounded, steady trickle.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::value::RawValue;

use super::{Entry, Report, entries, input};
use crate::cloud::CloudClient;
use crate::cluster::ClusterView;
use crate::cluster::by_name::Interner;
use crate::cluster::confirm::Key;
use crate::cluster::live::{AuditFeed, LiveCluster, SharedKey};
use crate::drive::{Bounded, Budget, WithCloud, drive};
use crate::rules::Engine;
use crate::text::rfc3339;

/// Told of an Ingress whose deny findings changed.
type DenyNotifier = Box<dyn Fn(&Key, &[Entry]) + Send + Sync>;

/// How the pass runs.
#[derive(Debug, Clone, Copy)]
pub struct AuditConfig {
    /// Every Ingress is judged again this often.
    pub interval: Duration,
    /// At most this many Ingresses judged per second.
    pub rate: u32,
    /// Changes are gathered this long before they are judged.
    pub debounce: Duration,
    /// Longest the confirmation of a deny that rests on the cache may take (`--confirm-budget`).
    pub confirm_budget: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(600),
            rate: 200,
            debounce: Duration::from_secs(1),
            confirm_budget: crate::drive::DEFAULT_CONFIRM_BUDGET,
        }
    }
}

#[derive(Debug, Default)]
struct Results {
    /// Every qcloud Ingress judged, with its findings (often none).
    by_ingress: BTreeMap<SharedKey, Arc<[Held]>>,
    last_pass: Option<SystemTime>,
    /// Fields and messages repeat from Ingress to Ingress (a finding that every Ingress of a
    /// cluster has): held once.
    strings: Interner,
    /// Most Ingresses of a cluster have the same findings (none, or the same few warnings):
    /// one list is held for all of them.
    lists: SharedLists,
}

/// Above this many distinct findings lists no more are shared (they are never forgotten).
const SHARE_AT_MOST: usize = 4096;

/// Shares equal findings lists. Bounded: see [`SHARE_AT_MOST`].
#[derive(Debug, Default)]
struct SharedLists(HashSet<Arc<[Held]>>);

impl SharedLists {
    fn share(&mut self, held: Vec<Held>) -> Arc<[Held]> {
        if let Some(shared) = self.0.get(held.as_slice()) {
            return shared.clone();
        }
        let shared: Arc<[Held]> = held.into();
        if self.0.len() < SHARE_AT_MOST {
            self.0.insert(shared.clone());
        }
        shared
    }
}

/// A finding as the audit holds it between passes: an [`Entry`] without the namespace and name
/// (its key), with its field and message shared with the same finding on other Ingresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Held {
    rule: &'static str,
    severity: &'static str,
    field: Arc<str>,
    tke_code: Option<&'static str>,
    message: Arc<str>,
    reason: Option<Arc<str>>,
}

impl Held {
    fn new(entry: &Entry, strings: &mut Interner) -> Self {
        Self {
            rule: entry.rule,
            severity: entry.severity,
            field: strings.intern(&entry.field),
            tke_code: entry.tke_code,
            message: strings.intern(&entry.message),
            reason: entry.reason.as_deref().map(|r| strings.intern(r)),
        }
    }

    fn entry(&self, (namespace, name): &SharedKey) -> Entry {
        Entry {
            namespace: namespace.to_string(),
            name: name.to_string(),
            rule: self.rule,
            severity: self.severity,
            field: self.field.to_string(),
            tke_code: self.tke_code,
            message: self.message.to_string(),
            reason: self.reason.as_deref().map(str::to_owned),
        }
    }
}

impl Results {
    fn entries(&self, key: &SharedKey) -> Vec<Entry> {
        let held = self
            .by_ingress
            .get(key)
            .map(AsRef::as_ref)
            .unwrap_or_default();
        held.iter().map(|h| h.entry(key)).collect()
    }
}

/// The audit pass and what it last found.
pub struct Auditor {
    engine: Arc<Engine>,
    view: Arc<LiveCluster>,
    feed: Arc<AuditFeed>,
    config: AuditConfig,
    results: Mutex<Results>,
    /// Told each Ingress whose deny findings changed (Kubernetes Events, when on).
    on_change: Option<DenyNotifier>,
    /// Tencent Cloud look-ups (`--cloud`): certificates expiring or expired across the cluster.
    cloud: Option<Arc<CloudClient>>,
    /// With a Lease: true while this replica is the one that audits.
    leading: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Auditor {
    /// `None` when the live view keeps no Ingresses (started without the audit).
    pub fn new(engine: Arc<Engine>, view: Arc<LiveCluster>, config: AuditConfig) -> Option<Self> {
        Some(Self {
            feed: view.audit_feed()?,
            engine,
            view,
            config,
            results: Mutex::default(),
            on_change: None,
            cloud: None,
            leading: None,
        })
    }

    /// Judges with the cloud checks on (`serve --cloud`).
    #[must_use]
    pub fn with_cloud(mut self, cloud: Option<Arc<CloudClient>>) -> Self {
        self.cloud = cloud;
        self
    }

    /// Calls `notify` for each Ingress whose deny findings change to a set that is not empty
    /// (also when first judged).
    #[must_use]
    pub fn on_deny_change(
        mut self,
        notify: impl Fn(&Key, &[Entry]) + Send + Sync + 'static,
    ) -> Self {
        self.on_change = Some(Box::new(notify));
        self
    }

    fn results(&self) -> MutexGuard<'_, Results> {
        self.results.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the pass last found.
    pub fn report(&self) -> Report {
        let results = self.results();
        Report {
            last_pass: results.last_pass.map(rfc3339),
            ingresses: results.by_ingress.len(),
            findings: results
                .by_ingress
                .iter()
                .flat_map(|(key, held)| held.iter().map(move |h| h.entry(key)))
                .collect(),
        }
    }

    /// How many qcloud Ingresses have been judged.
    pub fn ingresses(&self) -> usize {
        self.results().by_ingress.len()
    }

    /// Findings by (rule id, severity), for gauges.
    pub fn counts(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        let mut counts = BTreeMap::new();
        for entry in self.results().by_ingress.values().flat_map(AsRef::as_ref) {
            *counts.entry((entry.rule, entry.severity)).or_default() += 1;
        }
        counts
    }

    /// Seconds since the Unix epoch of the last completed pass, if any.
    pub fn last_pass_seconds(&self) -> Option<u64> {
        let last = self.results().last_pass?;
        last.duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }

    /// Runs until aborted.
    pub async fn run(self: Arc<Self>) {
        let mut next_full = Instant::now() + self.config.interval;
        loop {
            if let Some(leading) = &self.leading
                && !*leading.borrow()
            {
                // Another replica audits: what this one found earlier is stale, and dashboards
                // take the largest value over the pods. Once it leads, it judges everything again.
                self.forget();
                if !wait_until_leading(leading.clone()).await {
                    return;
                }
                self.feed.mark_all();
                next_full = Instant::now() + self.config.interval;
            }
            if self.feed.is_settled() {
                tokio::select! {
                    () = self.feed.changed() => {}
                    () = tokio::time::sleep_until(next_full.into()) => {}
                    () = lost_lead(self.leading.clone()) => continue,
                }
            }
            tokio::time::sleep(self.config.debounce).await;
            if Instant::now() >= next_full {
                self.feed.mark_all();
                next_full = Instant::now() + self.config.interval;
            }
            self.step().await;
        }
    }

    /// Drops every result (a replica that stopped auditing).
    fn forget(&self) {
        let mut results = self.results();
        results.by_ingress.clear();
        results.last_pass = None;
    }

    /// Audits only while `leading` is true (the audit Lease, [`super::lease`]).
    #[must_use]
    pub fn with_leader(mut self, leading: tokio::sync::watch::Receiver<bool>) -> Self {
        self.leading = Some(leading);
        self
    }

    /// With a Lease, whether this replica is the one auditing now; `None` without one.
    pub fn leads(&self) -> Option<bool> {
        self.leading.as_ref().map(|l| *l.borrow())
    }

    /// Judges one batch of what changed: at most `rate` per second of debounce.
    async fn step(&self) {
        for (namespace, name) in self.feed.take_changed_services() {
            self.feed.mark(self.view.ingresses_using(&namespace, &name));
        }
        let seconds = self.config.debounce.as_secs_f64().max(1.0);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a batch size of a few thousand at most"
        )]
        let batch = (f64::from(self.config.rate.max(1)) * seconds) as usize;
        for (key, object) in self.feed.take(batch) {
            self.judge(key, object).await;
        }
        if self.feed.is_settled() {
            self.results().last_pass = Some(SystemTime::now());
        }
    }

    async fn judge(&self, key: SharedKey, object: Option<Arc<RawValue>>) {
        let found = match object {
            Some(object) => {
                let (engine, view) = (&self.engine, &*self.view);
                let budget = self.config.confirm_budget;
                let cloud = self.cloud.as_deref();
                judge_live(engine, (view, cloud), &object, &key.0, &key.1, budget).await
            }
            None => None,
        };
        let mut results = self.results();
        let before = results.by_ingress.get(&key).map(|e| denies(e));
        match found {
            Some(entries) => {
                let held: Vec<Held> = entries
                    .into_iter()
                    .map(|e| Held::new(&e, &mut results.strings))
                    .collect();
                let held = results.lists.share(held);
                let after = denies(&held);
                // A clone of the key is two reference counts, no string.
                results.by_ingress.insert(key.clone(), held);
                drop(results);
                if before.as_ref() != Some(&after) && !after.is_empty() {
                    self.notify(&key);
                }
            }
            None => {
                results.by_ingress.remove(&key);
            }
        }
    }

    fn notify(&self, key: &SharedKey) {
        if let Some(notify) = &self.on_change {
            let entries = self.results().entries(key);
            notify(&(key.0.to_string(), key.1.to_string()), &entries);
        }
    }
}

/// The deny findings of an Ingress, as a comparable set.
fn denies(held: &[Held]) -> BTreeSet<(&'static str, Arc<str>)> {
    held.iter()
        .filter(|e| e.severity == "deny")
        .map(|e| (e.rule, e.field.clone()))
        .collect()
}

/// One Ingress judged against the live view as a review would judge it, through the driver: its
/// Secrets fetched first, and a deny that rests on the watch cache confirmed with the API server
/// (within `confirm_budget`), so the audit does not list a deny a review of the same object
/// would overturn.
pub async fn judge_live(
    engine: &Engine,
    (view, cloud): (&dyn ClusterView, Option<&CloudClient>),
    object: &RawValue,
    namespace: &str,
    name: &str,
    confirm_budget: Duration,
) -> Option<Vec<Entry>> {
    let budget = Budget {
        confirm: confirm_budget,
        ..Budget::within(Duration::from_secs(5))
    };
    let cluster = WithCloud {
        inner: Bounded(view),
        cloud,
    };
    let driven = drive(engine, input(object, namespace), &cluster, budget).await;
    entries(namespace, name, &driven.decision)
}

/// One pass over every qcloud Ingress of a synced live view (the `audit` command): those in
/// `namespace`, or all when `None`.
pub async fn once(
    engine: &Engine,
    view: &LiveCluster,
    namespace: Option<&str>,
    cloud: Option<&CloudClient>,
) -> Report {
    let Some(feed) = view.audit_feed() else {
        return Report::default();
    };
    let mut report = Report::default();
    for (key, object) in feed.all() {
        if namespace.is_some_and(|ns| ns != key.0) {
            continue;
        }
        let budget = crate::drive::DEFAULT_CONFIRM_BUDGET;
        let judged = judge_live(engine, (view, cloud), &object, &key.0, &key.1, budget).await;
        if let Some(found) = judged {
            report.ingresses += 1;
            report.findings.extend(found);
        }
    }
    report.last_pass = Some(rfc3339(SystemTime::now()));
    report
}

/// Resolves when `leading` turns false; never without an election (or once it stopped).
async fn lost_lead(leading: Option<tokio::sync::watch::Receiver<bool>>) {
    if let Some(mut leading) = leading
        && leading.wait_for(|l| !*l).await.is_ok()
    {
        return;
    }
    std::future::pending::<()>().await;
}

/// Waits until `leading` is true; false when the election stopped.
async fn wait_until_leading(mut leading: tokio::sync::watch::Receiver<bool>) -> bool {
    leading.wait_for(|l| *l).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(message: &str) -> Held {
        Held {
            rule: "read-only-annotation",
            severity: "warn",
            field: Arc::from("metadata.annotations"),
            tke_code: None,
            message: Arc::from(message),
            reason: None,
        }
    }

    #[test]
    fn equal_findings_lists_are_held_once_up_to_a_bound() {
        let mut lists = SharedLists::default();
        let (a, b) = (lists.share(vec![held("m")]), lists.share(vec![held("m")]));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &lists.share(vec![held("other")])));
        for i in 0..SHARE_AT_MOST + 10 {
            lists.share(vec![held(&i.to_string())]);
        }
        assert_eq!(lists.0.len(), SHARE_AT_MOST);
        assert_eq!(&*lists.share(vec![held("new")])[0].message, "new");
    }
}
