//! `serve --self-managed-certs`: the certificate authority each replica keeps itself, so the
//! chart renders no certificate material and GitOps tools see no drift (issue 24).
//!
//! - **One CA for all replicas.** Each replica gets the CA Secret, or creates it; a create that
//!   fails with 409 `AlreadyExists` means another replica won the race, and its CA is read back
//!   (cert-manager's `DynamicAuthority` does the same: the create conflict is the lock). The
//!   Secret is `Opaque` with `ca.crt` and `ca.key`: `kubernetes.io/tls` would require
//!   `tls.crt`/`tls.key`, and naming the keys `ca.*` keeps anything that mounts TLS Secrets from
//!   mistaking the CA for a serving pair.
//! - **Serving certificates in memory.** Signed by the CA at start and again when two thirds
//!   of their validity has passed, handed to the TLS resolver at once (no kubelet volume).
//! - **`caBundle` kept right.** Only `caBundle` of each webhook of the chart's two
//!   configurations is written, with server-side apply under the field manager [`FIELD_MANAGER`]
//!   (forced: a GitOps sync or a hand edit that drops it is undone); the configurations are
//!   watched by name, and a `caBundle` without the CA is put back within seconds.
//!
//! Keys never leave memory except into the CA Secret; nothing here logs them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use futures::StreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::{Authority, CertsError};
use crate::http::authority::AuthorityStatus;
use crate::http::metrics::Metrics;
use crate::http::tls::{CertResolver, certified_key_from_pem, leaf_not_after};

/// The field manager of every `caBundle` write.
pub const FIELD_MANAGER: &str = "qcloud-ingress-webhook";

/// How often the configurations are checked besides their watch events (a failed apply is
/// retried this often).
const RECHECK: Duration = Duration::from_secs(2);

/// Which kind of webhook configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    Validating,
    Mutating,
}

impl ConfigKind {
    fn kind(self) -> &'static str {
        match self {
            Self::Validating => "ValidatingWebhookConfiguration",
            Self::Mutating => "MutatingWebhookConfiguration",
        }
    }

    fn api(self, client: Client) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", self.kind());
        Api::all_with(client, &ApiResource::from_gvk(&gvk))
    }
}

/// What the self-managed authority manages.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Namespace of the CA Secret (the release namespace).
    pub namespace: String,
    /// Name of the CA Secret.
    pub ca_secret: String,
    /// DNS names of the serving certificate.
    pub dns_names: Vec<String>,
    /// The webhook configurations whose `caBundle` is kept.
    pub configurations: Vec<(ConfigKind, String)>,
    /// Validity of a CA this replica creates.
    pub ca_validity: Duration,
    /// Validity of each serving certificate.
    pub serving_validity: Duration,
}

/// Why the self-managed authority could not start.
#[derive(Debug, thiserror::Error)]
pub enum SelfManagedError {
    #[error("certificate authority: {0}")]
    Certs(#[from] CertsError),
    #[error("CA Secret {namespace}/{name}: {message}")]
    Secret {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("serving certificate: {0}")]
    Tls(#[from] crate::http::tls::TlsError),
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Gets or creates the CA, signs the first serving certificate, and starts keeping `caBundle`
/// and renewing the serving certificate in the background. The resolver serves it.
pub async fn start(
    client: Client,
    settings: Settings,
    status: Arc<AuthorityStatus>,
    metrics: Arc<Metrics>,
) -> Result<Arc<CertResolver>, SelfManagedError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let ca = get_or_create_ca(&secrets, &settings).await?;
    let (key, leaf_until) = sign_serving(&ca, &settings)?;
    let resolver = Arc::new(CertResolver::new(key));
    metrics.cert_served_until(leaf_until);
    status.set_serving(ca.not_after());
    let ca = Arc::new(ca);
    tokio::spawn(keep_ca_bundle(
        client,
        settings.configurations.clone(),
        ca.cert_pem.clone(),
        status.clone(),
    ));
    tokio::spawn(renew_serving(ca, settings, resolver.clone(), metrics));
    Ok(resolver)
}

/// A serving certificate signed by `ca`, parsed for rustls, and its notAfter.
fn sign_serving(
    ca: &Authority,
    settings: &Settings,
) -> Result<(rustls::sign::CertifiedKey, i64), SelfManagedError> {
    let (cert, key) =
        ca.issue_valid_for(&settings.dns_names, unix_now(), settings.serving_validity)?;
    let certified = certified_key_from_pem(
        cert.as_bytes(),
        key.as_bytes(),
        std::path::Path::new("(self-managed serving certificate)"),
        std::path::Path::new("(self-managed serving key)"),
    )?;
    let not_after = leaf_not_after(&certified)?;
    Ok((certified, not_after))
}

/// Re-signs the serving certificate when two thirds of its validity has passed.
async fn renew_serving(
    ca: Arc<Authority>,
    settings: Settings,
    resolver: Arc<CertResolver>,
    metrics: Arc<Metrics>,
) {
    let mut wait = settings.serving_validity * 2 / 3;
    loop {
        tokio::time::sleep(wait).await;
        match sign_serving(&ca, &settings) {
            Ok((key, not_after)) => {
                resolver.replace(key);
                metrics.cert_served_until(not_after);
                metrics.cert_reloaded();
                tracing::info!(not_after, "self-managed serving certificate renewed");
                wait = settings.serving_validity * 2 / 3;
            }
            Err(e) => {
                metrics.cert_reload_failed();
                tracing::error!(error = %e, "cannot renew the serving certificate; retrying in 1m");
                wait = Duration::from_secs(60);
            }
        }
    }
}

/// Attempts at get-or-create: each lost race reads the winner's CA next, so two suffice unless
/// the Secret is deleted in between.
const CA_ATTEMPTS: usize = 5;

/// The CA from its Secret, or a new one stored there. A 409 on create means another replica
/// created it first: read theirs, so all replicas sign with one CA.
async fn get_or_create_ca(
    secrets: &Api<Secret>,
    settings: &Settings,
) -> Result<Authority, SelfManagedError> {
    let failed = |message: String| SelfManagedError::Secret {
        namespace: settings.namespace.clone(),
        name: settings.ca_secret.clone(),
        message,
    };
    for _ in 0..CA_ATTEMPTS {
        let found = secrets
            .get_opt(&settings.ca_secret)
            .await
            .map_err(|e| failed(format!("cannot read it: {e}")))?;
        if let Some(secret) = found {
            return read_ca(&secret).map_err(|e| failed(e.to_string()));
        }
        let ca = Authority::generate(unix_now(), settings.ca_validity)?;
        let secret = ca_secret(&settings.ca_secret, &ca);
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => {
                tracing::info!(secret = %settings.ca_secret, not_after = ca.not_after(), "created the CA Secret");
                return Ok(ca);
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::info!(secret = %settings.ca_secret, "another replica created the CA Secret first; using its CA");
            }
            Err(e) => return Err(failed(format!("cannot create it: {e}"))),
        }
    }
    Err(failed(
        "created and deleted again while starting; giving up".into(),
    ))
}

/// The CA Secret for `ca`: `Opaque`, `ca.crt` and `ca.key`.
fn ca_secret(name: &str, ca: &Authority) -> Secret {
    let mut data = BTreeMap::new();
    data.insert(
        "ca.crt".to_owned(),
        ByteString(ca.cert_pem.clone().into_bytes()),
    );
    data.insert("ca.key".to_owned(), ByteString(ca.key_pem().into_bytes()));
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                FIELD_MANAGER.to_owned(),
            )])),
            ..Default::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Default::default()
    }
}

/// The CA a Secret holds (says which key is missing or unreadable, never its contents).
fn read_ca(secret: &Secret) -> Result<Authority, CertsError> {
    let field = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .ok_or_else(|| CertsError::Invalid(format!("{key} is missing or not text")))
    };
    Authority::from_pem(&field("ca.crt")?, &field("ca.key")?)
}

/// Whether every webhook of a configuration has a `caBundle` holding `ca_pem` (a configuration
/// without webhooks holds nothing).
pub fn configuration_holds(object: &Value, ca_pem: &str) -> bool {
    let Some(webhooks) = object["webhooks"].as_array().filter(|w| !w.is_empty()) else {
        return false;
    };
    webhooks.iter().all(|hook| {
        hook["clientConfig"]["caBundle"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|pem| String::from_utf8(pem).ok())
            .is_some_and(|pem| super::authority::bundle_holds(&pem, ca_pem))
    })
}

/// The server-side apply configuration that sets `caBundle` of every webhook the object has to
/// `ca_pem`, and nothing else (webhooks are a list keyed by `name`).
pub fn ca_bundle_apply(kind: ConfigKind, object: &Value, ca_pem: &str) -> Value {
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let webhooks: Vec<Value> = object["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hook| hook["name"].as_str())
        .map(|name| json!({"name": name, "clientConfig": {"caBundle": bundle}}))
        .collect();
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind.kind(),
        "metadata": {"name": object["metadata"]["name"]},
        "webhooks": webhooks,
    })
}

/// One watched configuration: its latest state and whether it was seen holding the CA.
struct Watched {
    kind: ConfigKind,
    name: String,
    api: Api<DynamicObject>,
    latest: Option<Value>,
    held: bool,
}

/// Watches the configurations by name and puts `caBundle` back whenever it lacks the CA.
async fn keep_ca_bundle(
    client: Client,
    configurations: Vec<(ConfigKind, String)>,
    ca_pem: String,
    status: Arc<AuthorityStatus>,
) {
    let mut watched: Vec<Watched> = Vec::new();
    let mut streams = Vec::new();
    for (index, (kind, name)) in configurations.into_iter().enumerate() {
        let api = kind.api(client.clone());
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let stream = watcher::watcher(api.clone(), config)
            .default_backoff()
            .map(move |event| (index, event));
        streams.push(stream.boxed());
        watched.push(Watched {
            kind,
            name,
            api,
            latest: None,
            held: false,
        });
    }
    let mut events = futures::stream::select_all(streams);
    let mut recheck = tokio::time::interval(RECHECK);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some((index, Ok(event))) => observe(&mut watched[index], event),
                Some((_, Err(e))) => tracing::warn!(error = %e, "webhook configuration watch failed; retrying"),
                None => return,
            },
            _ = recheck.tick() => {}
        }
        reconcile(&mut watched, &ca_pem, &status).await;
    }
}

fn observe(watched: &mut Watched, event: Event<DynamicObject>) {
    match event {
        Event::Apply(object) | Event::InitApply(object) => {
            watched.latest = serde_json::to_value(object).ok();
        }
        Event::Delete(_) => watched.latest = None,
        Event::Init | Event::InitDone => {}
    }
}

/// Applies `caBundle` where it lacks the CA, then tells readiness whether all hold it.
async fn reconcile(watched: &mut [Watched], ca_pem: &str, status: &AuthorityStatus) {
    for config in watched.iter_mut() {
        reconcile_one(config, ca_pem, status).await;
    }
    status.set_bundle_holds_ca(watched.iter().all(|c| c.held));
}

/// One configuration: nothing to do when it holds the CA; else apply it (a re-injection when
/// it had held it before).
async fn reconcile_one(config: &mut Watched, ca_pem: &str, status: &AuthorityStatus) {
    let Some(object) = &config.latest else {
        // Not created yet (or deleted): nothing to write into; the watch says when it exists.
        config.held = false;
        return;
    };
    if configuration_holds(object, ca_pem) {
        config.held = true;
        return;
    }
    if config.held {
        status.reinjected();
        tracing::warn!(
            configuration = %config.name,
            kind = config.kind.kind(),
            "caBundle no longer holds the CA (another field manager wrote it); putting it back"
        );
    }
    config.held = false;
    let patch = ca_bundle_apply(config.kind, object, ca_pem);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match config
        .api
        .patch(&config.name, &params, &Patch::Apply(&patch))
        .await
    {
        Ok(applied) => {
            config.latest = serde_json::to_value(applied).ok();
            config.held = config
                .latest
                .as_ref()
                .is_some_and(|o| configuration_holds(o, ca_pem));
            tracing::info!(configuration = %config.name, kind = config.kind.kind(), "caBundle written");
        }
        Err(e) => {
            tracing::warn!(configuration = %config.name, error = %e, "cannot write caBundle; retrying");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration(bundles: &[Option<&str>]) -> Value {
        let webhooks: Vec<Value> = bundles
            .iter()
            .enumerate()
            .map(|(i, bundle)| {
                let mut hook = json!({"name": format!("hook-{i}"), "clientConfig": {"service": {"name": "svc"}}});
                if let Some(pem) = bundle {
                    hook["clientConfig"]["caBundle"] =
                        json!(base64::engine::general_purpose::STANDARD.encode(pem));
                }
                hook
            })
            .collect();
        json!({"metadata": {"name": "qiw"}, "webhooks": webhooks})
    }

    #[test]
    fn a_configuration_holds_the_ca_only_when_every_webhook_does() {
        let ca = Authority::generate(1_796_000_000, Duration::from_secs(600)).unwrap();
        let other = Authority::generate(1_796_000_000, Duration::from_secs(600)).unwrap();
        let both = format!("{}{}", other.cert_pem, ca.cert_pem);
        assert!(configuration_holds(
            &configuration(&[Some(&ca.cert_pem), Some(&both)]),
            &ca.cert_pem
        ));
        assert!(!configuration_holds(
            &configuration(&[Some(&ca.cert_pem), None]),
            &ca.cert_pem
        ));
        assert!(!configuration_holds(
            &configuration(&[Some(&other.cert_pem)]),
            &ca.cert_pem
        ));
        assert!(!configuration_holds(&configuration(&[]), &ca.cert_pem));
        let mut garbage = configuration(&[None]);
        garbage["webhooks"][0]["clientConfig"]["caBundle"] = json!("%%% not base64");
        assert!(!configuration_holds(&garbage, &ca.cert_pem));
    }

    #[test]
    fn the_apply_configuration_names_only_the_webhooks_and_their_ca_bundle() {
        let ca = Authority::generate(1_796_000_000, Duration::from_secs(600)).unwrap();
        let object = configuration(&[None, None]);
        let applied = ca_bundle_apply(ConfigKind::Mutating, &object, &ca.cert_pem);
        assert_eq!(applied["kind"], "MutatingWebhookConfiguration");
        assert_eq!(applied["metadata"], json!({"name": "qiw"}));
        let hooks = applied["webhooks"].as_array().unwrap();
        assert_eq!(hooks.len(), 2);
        for (i, hook) in hooks.iter().enumerate() {
            assert_eq!(hook["name"], format!("hook-{i}"));
            assert_eq!(hook.as_object().unwrap().len(), 2, "{hook}");
            assert_eq!(hook["clientConfig"].as_object().unwrap().len(), 1, "{hook}");
        }
        // What it writes is what the check accepts.
        let mut written = object.clone();
        for (i, hook) in hooks.iter().enumerate() {
            written["webhooks"][i]["clientConfig"]["caBundle"] =
                hook["clientConfig"]["caBundle"].clone();
        }
        assert!(configuration_holds(&written, &ca.cert_pem));
    }

    #[test]
    fn a_ca_secret_round_trips_and_says_what_is_missing() {
        let ca = Authority::generate(1_796_000_000, Duration::from_secs(600)).unwrap();
        let secret = ca_secret("qiw-ca", &ca);
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        assert_eq!(read_ca(&secret).unwrap().cert_pem, ca.cert_pem);
        let mut broken = secret.clone();
        broken.data.as_mut().unwrap().remove("ca.key");
        let err = read_ca(&broken).unwrap_err().to_string();
        assert!(err.contains("ca.key is missing"), "{err}");
        assert!(!err.contains("PRIVATE"));
    }
}
