//! The cluster as `check` sees it: the objects of its inputs (and `--cluster-state`), and behind
//! them, with `--kubeconfig`, the live cluster through the same view as `serve`. Without a live
//! cluster the view is partial: an object that is not among the inputs may well exist, so it is
//! not missing but unresolved, and recorded for the report instead of denied.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::cluster::{
    ClusterLookup, ClusterState, Confirmed, IngressSummary, Reads, SecretLookup, ServiceSummary,
};
use crate::rules::{AdmissionInput, Decision, Engine};

/// A reference `check` could not follow: the object is not among its inputs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unresolved {
    Service {
        namespace: String,
        name: String,
    },
    Secret {
        namespace: String,
        name: String,
    },
    /// Other users of a console CLB (Ingresses, Services) may exist outside the inputs.
    Clb {
        id: String,
    },
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Service { namespace, name } => write!(f, "Service {namespace}/{name}"),
            Self::Secret { namespace, name } => write!(f, "Secret {namespace}/{name}"),
            Self::Clb { id } => write!(f, "the other users of CLB {id}"),
        }
    }
}

/// The cluster `check` and `plan` hand the driver for one Ingress: its inputs, and the live
/// cluster's look-up when there is one. It answers at once (the live look-up keeps its own
/// timeout), and has nothing to confirm: without `--kubeconfig` the inputs are the whole truth,
/// and with it `check` judges from the cache as it always has.
pub struct InputsCluster<'a> {
    pub inputs: &'a ClusterState,
    pub live: Option<&'a dyn super::LiveCluster>,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<'a> crate::drive::Cluster for InputsCluster<'a> {
    type Lookup = CheckView<'a>;

    fn lookup(
        &self,
        namespace: &str,
        secret_names: Vec<String>,
        _deadline: Instant,
    ) -> impl Future<Output = Option<Self::Lookup>> + Send {
        let live = self.live.map(|live| live.lookup(namespace, secret_names));
        let view = CheckView::new(self.inputs, live, self.namespace, self.name);
        std::future::ready(Some(view))
    }

    fn confirm(
        &self,
        _reads: Reads,
        _deadline: Instant,
    ) -> impl Future<Output = Option<Result<Confirmed, String>>> + Send {
        std::future::ready(None)
    }

    fn confirms(&self) -> bool {
        false
    }
}

impl InputsCluster<'_> {
    /// The driver over this cluster: the decision, and the references the rules asked about
    /// that it could not follow.
    pub fn judge(
        &self,
        engine: &Engine,
        input: AdmissionInput<'_>,
    ) -> (Decision, Option<CheckView<'_>>) {
        self.judge_with(engine, input, None)
    }

    /// The same, with the cloud checks on when `cloud` is given (`check --cloud`): the cloud
    /// client's I/O and timers run on its runtime while this thread waits.
    pub fn judge_with(
        &self,
        engine: &Engine,
        input: AdmissionInput<'_>,
        cloud: Option<(&crate::cloud::CloudClient, &tokio::runtime::Handle)>,
    ) -> (Decision, Option<CheckView<'_>>) {
        let budget = crate::drive::Budget::within(std::time::Duration::from_secs(10));
        let _runtime = cloud.map(|(_, runtime)| runtime.enter());
        let cluster = crate::drive::WithCloud {
            inner: self,
            cloud: cloud.map(|(client, _)| client),
        };
        let driven =
            futures::executor::block_on(crate::drive::drive(engine, input, &cluster, budget));
        (driven.decision, driven.lookup)
    }
}

/// The view one Ingress is judged against: without the Ingress itself (a CREATE of it must not
/// conflict with its own copy among the inputs).
pub struct CheckView<'a> {
    pub inputs: &'a ClusterState,
    /// The live cluster's view for this review, with `--kubeconfig`.
    pub live: Option<Arc<dyn ClusterLookup>>,
    pub namespace: &'a str,
    pub name: &'a str,
    unresolved: Mutex<BTreeSet<Unresolved>>,
}

impl<'a> CheckView<'a> {
    pub fn new(
        inputs: &'a ClusterState,
        live: Option<Arc<dyn ClusterLookup>>,
        namespace: &'a str,
        name: &'a str,
    ) -> Self {
        Self {
            inputs,
            live,
            namespace,
            name,
            unresolved: Mutex::default(),
        }
    }

    /// The references the rules asked about and the view could not follow.
    pub fn unresolved(self) -> BTreeSet<Unresolved> {
        self.unresolved
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, reference: Unresolved) {
        self.unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(reference);
    }

    fn is_self(&self, other: &IngressSummary) -> bool {
        other.namespace == self.namespace && other.name == self.name
    }
}

impl ClusterLookup for CheckView<'_> {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceSummary> {
        let found = self.inputs.service(namespace, name);
        match (&found, &self.live) {
            (Some(_), _) => found,
            (None, Some(live)) => live.service(namespace, name),
            (None, None) => {
                self.record(Unresolved::Service {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                });
                None
            }
        }
    }

    fn secret(&self, namespace: &str, name: &str) -> SecretLookup {
        match (self.inputs.secret(namespace, name), &self.live) {
            (found @ SecretLookup::Found(_), _) => found,
            (_, Some(live)) => live.secret(namespace, name),
            (not_found, None) => {
                self.record(Unresolved::Secret {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                });
                not_found
            }
        }
    }

    fn ingresses_on_lb(&self, lb_id: &str) -> Vec<Arc<IngressSummary>> {
        let mut found = self.inputs.ingresses_on_lb(lb_id);
        match &self.live {
            Some(live) => {
                for other in live.ingresses_on_lb(lb_id) {
                    if !found
                        .iter()
                        .any(|f| f.namespace == other.namespace && f.name == other.name)
                    {
                        found.push(other);
                    }
                }
            }
            None => self.record(Unresolved::Clb {
                id: lb_id.to_owned(),
            }),
        }
        found.retain(|other| !self.is_self(other));
        found
    }

    fn services_on_lb(&self, lb_id: &str) -> Vec<(String, String)> {
        let mut found = self.inputs.services_on_lb(lb_id);
        if let Some(live) = &self.live {
            for other in live.services_on_lb(lb_id) {
                if !found.contains(&other) {
                    found.push(other);
                }
            }
        }
        found
    }

    fn is_complete(&self) -> bool {
        self.live.is_some()
    }
}
