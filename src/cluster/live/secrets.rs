//! Secrets read by name when a review needs them: `GET` only (no list or watch, so the webhook
//! never holds every Secret of the cluster), a short positive cache and no negative cache.
//!
//! Only the two certificate ids are kept ([`SecretCertIds`]); the rest of the Secret is dropped
//! as soon as it is read and is never logged.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;

use super::LiveConfig;
use crate::cluster::summary::cert_ids;
use crate::cluster::{SecretCertIds, SecretLookup};

/// Above this many cached Secrets, expired entries are dropped on the next insert.
const CACHE_SWEEP_AT: usize = 4096;

/// Time kept back from the review's deadline for the rules and the answer.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// The most distinct Secrets one review reads. A caller of the webhook port can name thousands
/// (3,000 `spec.tls` entries fit in 118 KB), and each would be a GET to the API server made with
/// the webhook's own `get secrets`: the rest are not read, so their rules only warn.
pub const MAX_SECRETS_PER_REVIEW: usize = 64;

/// The most Secret GETs in flight across all reviews; a read that cannot start before its
/// deadline is not made.
const MAX_READS_IN_FLIGHT: usize = 32;

pub(super) struct SecretReader {
    client: kube::Client,
    config: LiveConfig,
    found: Mutex<HashMap<(String, String), (Instant, SecretCertIds)>>,
    in_flight: tokio::sync::Semaphore,
}

impl SecretReader {
    pub(super) fn new(client: kube::Client, config: LiveConfig) -> Self {
        Self {
            client,
            config,
            found: Mutex::default(),
            in_flight: tokio::sync::Semaphore::new(MAX_READS_IN_FLIGHT),
        }
    }

    /// Reads `names` in `namespace` in parallel; what is not read by the deadline is
    /// [`SecretLookup::Unavailable`].
    pub(super) async fn read_all(
        &self,
        namespace: &str,
        names: &[String],
        review_deadline: Instant,
    ) -> HashMap<String, SecretLookup> {
        let deadline = (Instant::now() + self.config.secret_timeout).min(
            review_deadline
                .checked_sub(DEADLINE_MARGIN)
                .unwrap_or(review_deadline),
        );
        let mut unique: Vec<&String> = Vec::new();
        for name in names {
            if !unique.contains(&name) {
                unique.push(name);
            }
        }
        let skipped = unique.split_off(unique.len().min(MAX_SECRETS_PER_REVIEW));
        let reads = unique
            .into_iter()
            .map(|name| async move { (name.clone(), self.read(namespace, name, deadline).await) });
        let mut read: HashMap<String, SecretLookup> =
            futures::future::join_all(reads).await.into_iter().collect();
        let not_read =
            format!("not read: one review reads at most {MAX_SECRETS_PER_REVIEW} Secrets");
        read.extend(
            skipped
                .into_iter()
                .map(|name| (name.clone(), SecretLookup::Unavailable(not_read.clone()))),
        );
        read
    }

    async fn read(&self, namespace: &str, name: &str, deadline: Instant) -> SecretLookup {
        // A name no object can have never reaches the API path (`../`, `?x=1`): it names nothing.
        if !crate::text::is_namespace_name(namespace) || !crate::text::is_object_name(name) {
            return SecretLookup::NotFound;
        }
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(ids) = self.cached(&key) {
            return SecretLookup::Found(ids);
        }
        let Ok(Ok(_permit)) =
            tokio::time::timeout_at(deadline.into(), self.in_flight.acquire()).await
        else {
            return SecretLookup::Unavailable("too many Secret reads in flight".to_owned());
        };
        let api = kube::Api::<Secret>::namespaced(self.client.clone(), namespace);
        match tokio::time::timeout_at(deadline.into(), api.get_opt(name)).await {
            Ok(Ok(Some(secret))) => {
                let ids = cert_ids(&secret);
                self.remember(key, ids.clone());
                SecretLookup::Found(ids)
            }
            Ok(Ok(None)) => SecretLookup::NotFound,
            Ok(Err(error)) => SecretLookup::Unavailable(describe(&error)),
            Err(_) => SecretLookup::Unavailable("the API server did not answer in time".to_owned()),
        }
    }

    fn cached(&self, key: &(String, String)) -> Option<SecretCertIds> {
        let found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        found
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.config.secret_ttl)
            .map(|(_, ids)| ids.clone())
    }

    fn remember(&self, key: (String, String), ids: SecretCertIds) {
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        if found.len() >= CACHE_SWEEP_AT {
            let ttl = self.config.secret_ttl;
            found.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        found.insert(key, (Instant::now(), ids));
    }
}

/// Why a read failed, without the error's text: a decoding error can quote the Secret's data.
fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!(
            "the API server answered {} {}",
            status.code,
            crate::ingress::one_line(&status.reason)
        ),
        kube::Error::SerdeError(_) => "the API server's answer could not be decoded".to_owned(),
        kube::Error::BuildRequest(_) => "the Secret name is not valid".to_owned(),
        _ => "the API server could not be reached".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_described_without_quoting_the_answer() {
        let forbidden = kube::Error::Api(Box::new(
            kube::core::Status::failure("secrets \"ssl\" is forbidden", "Forbidden").with_code(403),
        ));
        assert_eq!(
            describe(&forbidden),
            "the API server answered 403 Forbidden"
        );
        let undecodable =
            serde_json::from_str::<Secret>(r#"{"data": {"qcloud_cert_id": 7}, "x": "TKPmsWb3"}"#)
                .unwrap_err();
        let shown = describe(&kube::Error::SerdeError(undecodable));
        assert!(
            !shown.contains("TKPmsWb3") && !shown.contains('7'),
            "{shown}"
        );
    }
}
