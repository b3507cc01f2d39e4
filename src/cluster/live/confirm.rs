//! `GET`s of the Services and Ingresses a would-be deny rests on, within the review's deadline;
//! the answers also correct the watch cache, which will catch up with them anyway.

use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;

use super::Shared;
use crate::cluster::confirm::{Confirmed, Key, Reads};
use crate::cluster::summary::{summarise_qcloud, summarise_service};

/// Asks the API server for every object of `reads`; `Err` when one could not be read by the
/// deadline (then the cache answers, stale but available).
pub(super) async fn confirm(
    client: kube::Client,
    shared: Arc<Shared>,
    reads: Reads,
    deadline: Instant,
) -> Result<Confirmed, String> {
    let services: Vec<Key> = reads
        .services
        .into_iter()
        .chain(reads.services_on_lbs)
        .collect();
    let service_reads = services.iter().map(|(namespace, name)| {
        let api = kube::Api::<Service>::namespaced(client.clone(), namespace);
        async move { within(deadline, api.get_opt(name)).await }
    });
    let ingress_reads = reads.ingresses.iter().map(|(namespace, name)| {
        let api = kube::Api::<Ingress>::namespaced(client.clone(), namespace);
        async move { within(deadline, api.get_opt(name)).await }
    });
    let (service_answers, ingress_answers) =
        futures::join!(join_all(service_reads), join_all(ingress_reads));
    let mut confirmed = Confirmed::default();
    for (key, answer) in services.into_iter().zip(service_answers) {
        let service = answer?.map(|s| summarise_service(&s));
        confirmed.services.insert(key, service);
    }
    for (key, answer) in reads.ingresses.into_iter().zip(ingress_answers) {
        let ingress = answer?
            .and_then(|i| summarise_qcloud(&i, &key.0))
            .map(Arc::new);
        confirmed.ingresses.insert(key, ingress);
    }
    correct_the_cache(&shared, &confirmed);
    Ok(confirmed)
}

async fn within<T>(
    deadline: Instant,
    read: impl Future<Output = kube::Result<Option<T>>>,
) -> Result<Option<T>, String> {
    match tokio::time::timeout_at(deadline.into(), read).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(_)) => Err("the API server could not be read".to_owned()),
        Err(_) => Err("the API server did not answer in time".to_owned()),
    }
}

fn correct_the_cache(shared: &Shared, confirmed: &Confirmed) {
    let mut state = shared.write();
    for ((namespace, name), service) in &confirmed.services {
        match service {
            Some(service) => state.insert_service(namespace, name, service.clone()),
            None => state.remove_service(namespace, name),
        }
    }
    for ((namespace, name), ingress) in &confirmed.ingresses {
        match ingress {
            Some(ingress) => state.insert_ingress(ingress.as_ref().clone()),
            None => state.remove_ingress(namespace, name),
        }
    }
}
