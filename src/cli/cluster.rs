//! The live cluster `check --kubeconfig`, `plan --kubeconfig` and `audit` read: the view live
//! `serve` uses, on a runtime of its own.

use std::sync::Arc;
use std::time::Duration;

use super::KubeArgs;
use super::serve::{live_config, live_kube_config};

/// The live view `serve` uses, on a runtime of its own, synced before the first Ingress is
/// judged.
pub(super) struct ConnectedCluster {
    // Before `runtime`, so dropped first: its watches (on their own thread) stop before the
    // client's tasks on `runtime` go, rather than fail and log it.
    pub(super) view: crate::cluster::live::LiveCluster,
    pub(super) runtime: tokio::runtime::Runtime,
    client: kube::Client,
}

impl ConnectedCluster {
    /// How long the first lists of Services and Ingresses may take.
    const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
    /// How long one Ingress's Secret reads may take.
    const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

    /// Connects and waits for the first lists; `keep_ingresses` keeps every Ingress's object too,
    /// for `audit`.
    pub(super) fn connect(args: KubeArgs, keep_ingresses: bool) -> anyhow::Result<Self> {
        use crate::cluster::ClusterView as _;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (client, view) = runtime.block_on(async {
            let hint = if keep_ingresses {
                "audit reads a cluster: it needs a kubeconfig (--kubeconfig, --context, \
                 KUBECONFIG, ~/.kube/config) or an in-cluster service account"
            } else {
                "the cluster named by --kubeconfig or --context cannot be used (leave both out \
                 to work from the inputs and --cluster-state alone)"
            };
            let config = live_kube_config(args.kubeconfig, args.context, hint).await?;
            let server = config.cluster_url.to_string();
            let client = kube::Client::try_from(config)?;
            Self::probe(&client, &server).await?;
            let config = live_config(Duration::from_secs(30), keep_ingresses);
            let view = crate::cluster::live::LiveCluster::start(client.clone(), config)?;
            let synced = tokio::time::timeout(Self::SYNC_TIMEOUT, async {
                while !view.is_ready() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
            synced.await.map_err(|_| {
                anyhow::anyhow!(
                    "the cluster's Services and Ingresses could not be listed within {}s",
                    Self::SYNC_TIMEOUT.as_secs()
                )
            })?;
            anyhow::Ok((client, view))
        })?;
        Ok(Self {
            view,
            runtime,
            client,
        })
    }

    /// The kubeconfig context's namespace (`default` when it names none).
    pub(super) fn default_namespace(&self) -> &str {
        self.client.default_namespace()
    }

    /// One small list of each watched resource, so an unreachable API server or a missing
    /// permission is one line at once rather than a silent wait for the watches (which retry).
    async fn probe(client: &kube::Client, server: &str) -> anyhow::Result<()> {
        use k8s_openapi::api::core::v1::Service;
        use k8s_openapi::api::networking::v1::Ingress;
        let one = kube::api::ListParams::default().limit(1);
        // The root cause alone: kube's wrappers repeat themselves ("client error (Connect)").
        let failed = |what: &str, error: kube::Error| {
            let error = anyhow::Error::new(error);
            anyhow::anyhow!("cannot list {what} at {server}: {}", error.root_cause())
        };
        let lists = async {
            kube::Api::<Service>::all(client.clone())
                .list_metadata(&one)
                .await
                .map_err(|e| failed("Services", e))?;
            kube::Api::<Ingress>::all(client.clone())
                .list_metadata(&one)
                .await
                .map_err(|e| failed("Ingresses", e))?;
            anyhow::Ok(())
        };
        tokio::time::timeout(Self::LOOKUP_TIMEOUT, lists)
            .await
            .map_err(|_| anyhow::anyhow!("the API server at {server} did not answer within 10s"))?
    }
}

impl crate::manifest::LiveCluster for ConnectedCluster {
    fn lookup(
        &self,
        namespace: &str,
        secret_names: Vec<String>,
    ) -> Arc<dyn crate::cluster::ClusterLookup> {
        use crate::cluster::ClusterView as _;
        let request = crate::cluster::LookupRequest {
            namespace: namespace.to_owned(),
            secret_names,
            deadline: std::time::Instant::now() + Self::LOOKUP_TIMEOUT,
        };
        self.runtime.block_on(self.view.lookup(request))
    }

    fn ingress(&self, namespace: &str, name: &str) -> anyhow::Result<Option<serde_json::Value>> {
        use k8s_openapi::api::networking::v1::Ingress;
        let api: kube::Api<Ingress> = kube::Api::namespaced(self.client.clone(), namespace);
        let read = async { tokio::time::timeout(Self::LOOKUP_TIMEOUT, api.get_opt(name)).await };
        let object = self
            .runtime
            .block_on(read)
            .map_err(|_| anyhow::anyhow!("the API server did not answer within 10s"))??;
        Ok(object.map(serde_json::to_value).transpose()?)
    }
}
