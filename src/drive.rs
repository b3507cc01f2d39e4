//! The driver: the one way a front end (`serve`, `check`, `plan`, the audit) gets a decision.
//!
//! It runs the rules' first pass, fetches what they asked for (Secrets by namespace and names)
//! from the cluster it is given, decides, and confirms a deny that rests on a cache with the API
//! server within a bounded budget. A behaviour added here reaches every front end at once.
//!
//! It sits between the front ends and the two layers it drives: the rules stay pure and
//! synchronous (they read a [`ClusterLookup`] and do no I/O), the cluster view knows nothing of
//! rules. The driver is the only code that does both, so it cannot live in either. It is async
//! because the live cluster is; it sets no timers itself, so a synchronous front end (`check`)
//! can run it with a plain executor over a cluster that answers at once. A [`Cluster`] keeps
//! the deadlines it is handed ([`Bounded`] does, with tokio's timers, for a [`ClusterView`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cloud::CloudClient;
use crate::cluster::{
    CloudFacts, ClusterLookup, ClusterView, Confirmed, LookupRequest, Reads, Recording,
};
use crate::rules::{Admission, AdmissionInput, Decision, Endpoint, Engine, Pending, Severity};

/// A cluster as the driver asks it. Each call must be answered by the deadline it is given.
pub trait Cluster {
    /// What the rules read for one object.
    type Lookup: ClusterLookup;

    /// The look-up for one object, with the Secrets it reads on demand (`secret_names`, in
    /// `namespace`) fetched; `None` when it could not be had by `deadline`.
    fn lookup(
        &self,
        namespace: &str,
        secret_names: Vec<String>,
        deadline: Instant,
    ) -> impl Future<Output = Option<Self::Lookup>> + Send;

    /// The API server's word on the cached objects `reads` names, by `deadline`: `None` when
    /// nothing is cached to doubt, `Err` when it could not answer in time.
    fn confirm(
        &self,
        reads: Reads,
        deadline: Instant,
    ) -> impl Future<Output = Option<Result<Confirmed, String>>> + Send;

    /// Whether [`Cluster::confirm`] can doubt the cache at all (files and a manifest's inputs are
    /// the whole truth): when not, the driver does not gather what a deny read.
    fn confirms(&self) -> bool {
        true
    }

    /// Whether [`Cluster::cloud`] asks Tencent Cloud at all; when not, the driver does not even
    /// gather the ids (the review's hot path with the cloud checks off, the default).
    fn asks_cloud(&self) -> bool {
        false
    }

    /// Tencent Cloud's answers for these certificate and CLB ids, by `deadline`. The default
    /// asks nothing and knows nothing: cloud checks off, no call, no credentials ([`WithCloud`]
    /// turns them on).
    fn cloud(
        &self,
        certificates: Vec<String>,
        load_balancers: Vec<String>,
        deadline: Instant,
    ) -> impl Future<Output = CloudFacts> + Send {
        let _ = (certificates, load_balancers, deadline);
        std::future::ready(CloudFacts::default())
    }
}

/// How a drive may spend its time, and what it judges.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Look-ups and the confirmation are done by then.
    pub deadline: Instant,
    /// Longest the confirmation of a deny may take; it never runs past `deadline`.
    pub confirm: Duration,
    /// `/mutate` only patches: no rules and no look-ups (the validating webhook judges the
    /// patched object). Off where the front end wants the verdict on the patched object at once
    /// (`check`, `plan`).
    pub mutate_only_patches: bool,
}

impl Budget {
    /// A budget of `total` from now, with the default confirmation budget.
    pub fn within(total: Duration) -> Self {
        Self {
            deadline: Instant::now() + total,
            confirm: DEFAULT_CONFIRM_BUDGET,
            mutate_only_patches: false,
        }
    }

    /// When a confirmation started at `now` must be in.
    pub fn confirm_deadline(&self, now: Instant) -> Instant {
        (now + self.confirm).min(self.deadline)
    }
}

/// The confirmation budget of `serve` (`--confirm-budget`) and the audit unless told otherwise.
pub const DEFAULT_CONFIRM_BUDGET: Duration = Duration::from_secs(1);

/// What the API server made of a deny that rested on the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// It agreed: the deny stands.
    Upheld,
    /// It disagreed: this many deny findings fell away.
    Overturned(usize),
    /// It did not answer within the budget: the cache answered, the deny stands.
    Failed,
}

impl Confirmation {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upheld => "upheld",
            Self::Overturned(_) => "overturned",
            Self::Failed => "failed",
        }
    }
}

/// A drive's result: the decision (its [`Decision::ruling`] says allowed, denied with findings or
/// refused), how a confirmation went, and the look-up the rules read.
pub struct Driven<L> {
    pub decision: Decision,
    pub confirmation: Option<Confirmation>,
    /// `None` when decided without the cluster, or when it could not be asked in time.
    pub lookup: Option<L>,
}

impl<L> Driven<L> {
    fn without_cluster(decision: Decision) -> Self {
        Self {
            decision,
            confirmation: None,
            lookup: None,
        }
    }
}

/// One object through the rules, against `cluster`, within `budget`.
pub async fn drive<C: Cluster>(
    engine: &Engine,
    input: AdmissionInput<'_>,
    cluster: &C,
    budget: Budget,
) -> Driven<C::Lookup> {
    let patch_only = budget.mutate_only_patches && input.endpoint == Endpoint::Mutate;
    let pending = match engine.admit(input) {
        Admission::Decided(decision) => return Driven::without_cluster(decision),
        Admission::Pending(pending) if patch_only => {
            return Driven::without_cluster(pending.patch_only());
        }
        Admission::Pending(pending) => pending,
    };
    let lookup = cluster.lookup(pending.namespace(), pending.secret_names(), budget.deadline);
    let Some(lookup) = lookup.await else {
        let decision = pending.unchecked();
        tracing::warn!(
            namespace = %decision.namespace,
            name = %decision.name,
            "cluster view did not answer before the deadline"
        );
        return Driven::without_cluster(decision);
    };
    let facts = cloud_facts(cluster, &pending, &lookup, budget.deadline).await;
    let cached = pending.decide_with(&lookup, &facts);
    if !rests_on_cache(&cached) || !cluster.confirms() {
        return Driven {
            decision: cached,
            confirmation: None,
            lookup: Some(lookup),
        };
    }
    // What that deny read of the cache, from the same rules over the same view (recording every
    // look-up of every review cost two Strings and a lock per Service, for the few denies that
    // need them).
    let recording = Recording::new(&lookup);
    pending.decide_with(&recording, &facts);
    let reads = recording.into_reads();
    let deadline = budget.confirm_deadline(Instant::now());
    let (decision, confirmation) = match cluster.confirm(reads, deadline).await {
        // Nothing cached (offline files): the cache is the whole truth.
        None => (cached, None),
        Some(Err(_)) => (cached, Some(Confirmation::Failed)),
        Some(Ok(confirmed)) => {
            let decision =
                pending.decide_with(&Recording::confirmed_by(&lookup, &confirmed), &facts);
            let overturned = denies(&cached).saturating_sub(denies(&decision));
            let confirmation = if overturned > 0 {
                Confirmation::Overturned(overturned)
            } else {
                Confirmation::Upheld
            };
            (decision, Some(confirmation))
        }
    };
    Driven {
        decision,
        confirmation,
        lookup: Some(lookup),
    }
}

/// What Tencent Cloud says of the ids the cloud rules read, when the cluster asks it at all.
async fn cloud_facts<C: Cluster>(
    cluster: &C,
    pending: &Pending<'_, '_>,
    lookup: &C::Lookup,
    deadline: Instant,
) -> CloudFacts {
    if !cluster.asks_cloud() {
        return CloudFacts::default();
    }
    let (certificates, load_balancers) = pending.cloud_ids(lookup);
    if certificates.is_empty() && load_balancers.is_empty() {
        return CloudFacts::default();
    }
    cluster.cloud(certificates, load_balancers, deadline).await
}

/// A deny with a finding of a rule that read the watch cache, which trails the API server.
fn rests_on_cache(decision: &Decision) -> bool {
    !decision.allowed()
        && decision
            .findings
            .iter()
            .any(|f| f.severity == Severity::Deny && f.rule.reads_cache)
}

fn denies(decision: &Decision) -> usize {
    decision
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Deny)
        .count()
}

/// A [`ClusterView`] (offline files, the live cluster) as the driver asks it, each call cut off
/// at its deadline.
pub struct Bounded<'a>(pub &'a dyn ClusterView);

impl Cluster for Bounded<'_> {
    type Lookup = Arc<dyn ClusterLookup>;

    fn lookup(
        &self,
        namespace: &str,
        secret_names: Vec<String>,
        deadline: Instant,
    ) -> impl Future<Output = Option<Self::Lookup>> + Send {
        let lookup = self.0.lookup(LookupRequest {
            namespace: namespace.to_owned(),
            secret_names,
            deadline,
        });
        async move { tokio::time::timeout_at(deadline.into(), lookup).await.ok() }
    }

    fn confirms(&self) -> bool {
        self.0.confirms()
    }

    fn confirm(
        &self,
        reads: Reads,
        deadline: Instant,
    ) -> impl Future<Output = Option<Result<Confirmed, String>>> + Send {
        let answer = self.0.confirm(reads, deadline);
        async move {
            tokio::time::timeout_at(deadline.into(), answer)
                .await
                .unwrap_or_else(|_| Some(Err("the API server did not answer in time".to_owned())))
        }
    }
}

/// A borrowed cluster is asked as the cluster itself.
impl<C: Cluster> Cluster for &C {
    type Lookup = C::Lookup;

    fn lookup(
        &self,
        namespace: &str,
        secret_names: Vec<String>,
        deadline: Instant,
    ) -> impl Future<Output = Option<Self::Lookup>> + Send {
        (**self).lookup(namespace, secret_names, deadline)
    }

    fn confirm(
        &self,
        reads: Reads,
        deadline: Instant,
    ) -> impl Future<Output = Option<Result<Confirmed, String>>> + Send {
        (**self).confirm(reads, deadline)
    }

    fn confirms(&self) -> bool {
        (**self).confirms()
    }

    fn asks_cloud(&self) -> bool {
        (**self).asks_cloud()
    }

    fn cloud(
        &self,
        certificates: Vec<String>,
        load_balancers: Vec<String>,
        deadline: Instant,
    ) -> impl Future<Output = CloudFacts> + Send {
        (**self).cloud(certificates, load_balancers, deadline)
    }
}

/// A cluster with the cloud checks on when `cloud` is `Some`: the cloud look-ups go to that
/// client (within its own budget and the review's deadline); everything else to `inner`.
pub struct WithCloud<'a, C> {
    pub inner: C,
    pub cloud: Option<&'a CloudClient>,
}

impl<C: Cluster> Cluster for WithCloud<'_, C> {
    type Lookup = C::Lookup;

    fn lookup(
        &self,
        namespace: &str,
        secret_names: Vec<String>,
        deadline: Instant,
    ) -> impl Future<Output = Option<Self::Lookup>> + Send {
        self.inner.lookup(namespace, secret_names, deadline)
    }

    fn confirm(
        &self,
        reads: Reads,
        deadline: Instant,
    ) -> impl Future<Output = Option<Result<Confirmed, String>>> + Send {
        self.inner.confirm(reads, deadline)
    }

    fn confirms(&self) -> bool {
        self.inner.confirms()
    }

    fn asks_cloud(&self) -> bool {
        self.cloud.is_some()
    }

    fn cloud(
        &self,
        certificates: Vec<String>,
        load_balancers: Vec<String>,
        deadline: Instant,
    ) -> impl Future<Output = CloudFacts> + Send {
        let client = self.cloud;
        async move {
            match client {
                Some(client) => client.facts(&certificates, &load_balancers, deadline).await,
                None => CloudFacts::default(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{ClusterState, ServicePortSummary, ServiceSummary};
    use crate::rules::{Kind, ObjectInput, Operation, Requester, Ruling, Settings};

    /// A watch cache (`cache`) and what the API server would say when asked to confirm.
    struct Fake {
        cache: ClusterState,
        answer: Option<Result<Confirmed, String>>,
    }

    impl Cluster for Fake {
        type Lookup = ClusterState;

        fn lookup(
            &self,
            _: &str,
            _: Vec<String>,
            _: Instant,
        ) -> impl Future<Output = Option<ClusterState>> + Send {
            std::future::ready(Some(self.cache.clone()))
        }

        fn confirm(
            &self,
            _: Reads,
            _: Instant,
        ) -> impl Future<Output = Option<Result<Confirmed, String>>> + Send {
            std::future::ready(self.answer.clone())
        }
    }

    fn node_port() -> ServiceSummary {
        ServiceSummary {
            service_type: "NodePort".into(),
            ports: vec![ServicePortSummary {
                name: None,
                port: 80,
                node_port: None,
            }]
            .into(),
            ..ServiceSummary::default()
        }
    }

    /// A qcloud Ingress whose one backend is Service `shop/web`, driven against `cluster`.
    fn drive_web(cluster: &Fake, endpoint: Endpoint) -> Driven<ClusterState> {
        let object = serde_json::value::to_raw_value(&serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "front", "namespace": "shop",
                         "annotations": {"kubernetes.io/ingress.class": "qcloud"}},
            "spec": {"rules": [{"host": "a.example.com", "http": {"paths": [
                {"path": "/", "pathType": "ImplementationSpecific",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}
            ]}}]}
        }))
        .unwrap();
        let input = AdmissionInput {
            endpoint,
            operation: Operation::Create,
            kind: Kind::INGRESS_V1,
            namespace: Some("shop"),
            object: Some(ObjectInput::Text(&object)),
            old_object: None,
            requester: Requester::default(),
        };
        let engine = Engine::new(Settings::default()).unwrap();
        let budget = Budget {
            mutate_only_patches: true,
            ..Budget::within(Duration::from_secs(5))
        };
        futures::executor::block_on(drive(&engine, input, cluster, budget))
    }

    /// The API server's answer for `shop/web`.
    fn answer(web: Option<ServiceSummary>) -> Confirmed {
        let mut confirmed = Confirmed::default();
        confirmed
            .services
            .insert(("shop".into(), "web".into()), web);
        confirmed
    }

    #[test]
    fn a_deny_on_the_cache_stands_when_the_api_server_agrees_or_cannot_say() {
        for (answer, confirmation) in [
            (Some(Ok(answer(None))), Some(Confirmation::Upheld)),
            (Some(Err("late".into())), Some(Confirmation::Failed)),
            (None, None),
        ] {
            let cluster = Fake {
                cache: ClusterState::default(),
                answer,
            };
            let driven = drive_web(&cluster, Endpoint::Validate);
            assert_eq!(driven.decision.ruling(), Ruling::Denied);
            assert_eq!(driven.confirmation, confirmation);
        }
    }

    #[test]
    fn a_deny_the_api_server_contradicts_is_overturned() {
        let cluster = Fake {
            cache: ClusterState::default(),
            answer: Some(Ok(answer(Some(node_port())))),
        };
        let driven = drive_web(&cluster, Endpoint::Validate);
        assert_eq!(driven.decision.ruling(), Ruling::Allowed);
        assert_eq!(driven.confirmation, Some(Confirmation::Overturned(1)));
    }

    #[test]
    fn an_allowing_answer_and_mutate_ask_for_no_confirmation() {
        let mut cache = ClusterState::default();
        cache.insert_service("shop", "web", node_port());
        let cluster = Fake {
            cache,
            answer: Some(Err("never asked".into())),
        };
        let allowed = drive_web(&cluster, Endpoint::Validate);
        assert_eq!(allowed.decision.ruling(), Ruling::Allowed);
        assert_eq!(allowed.confirmation, None);
        let patched = drive_web(&cluster, Endpoint::Mutate);
        assert!(patched.lookup.is_none(), "/mutate looks nothing up");
    }

    #[test]
    fn a_confirmation_gets_its_budget_but_never_passes_the_deadline() {
        let now = Instant::now();
        let mut budget = Budget {
            deadline: now + Duration::from_secs(9),
            confirm: Duration::from_secs(1),
            mutate_only_patches: true,
        };
        assert_eq!(budget.confirm_deadline(now), now + budget.confirm);
        budget.deadline = now + Duration::from_millis(300);
        assert_eq!(budget.confirm_deadline(now), budget.deadline);
    }
}
