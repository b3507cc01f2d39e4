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
//! - **Rotation with overlap.** Every `recheck` each replica reads the CA Secret again, follows
//!   its signing CA and makes the rotation's next step when due ([`super::rotation`]): a new CA
//!   joins the bundle, signs only once this replica has seen both configurations carry it for
//!   `propagation`, and the old one leaves the bundle `retire_after` later.
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

use super::rotation::{Pace, Stored};
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
    /// When and how fast the CA rotates ([`super::rotation`]).
    pub pace: Pace,
    /// How often the CA Secret is read again (rotation, another replica's change).
    pub recheck: Duration,
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

/// What every webhook configuration should carry, from the CA Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Desired {
    /// The whole bundle (signing, next, previous).
    bundle: String,
    /// The signing CA: readiness needs it in every configuration.
    signing: String,
    /// The next CA during a rotation: promotion waits until every configuration carries it.
    next: Option<String>,
}

impl Desired {
    fn of(stored: &Stored, signing: &Authority, now: i64) -> Self {
        Self {
            bundle: stored.bundle(now),
            signing: signing.cert_pem.clone(),
            next: stored.next_cert().map(str::to_owned),
        }
    }
}

/// Since when every configuration carries the next CA (by this replica's clock).
type NextSeen = Arc<std::sync::Mutex<Option<(String, std::time::Instant)>>>;

/// Gets or creates the CA, signs the first serving certificate, and starts keeping `caBundle`,
/// renewing the serving certificate and rotating the CA in the background. The resolver serves
/// the serving certificate.
pub async fn start(
    client: Client,
    settings: Settings,
    status: Arc<AuthorityStatus>,
    metrics: Arc<Metrics>,
) -> Result<Arc<CertResolver>, SelfManagedError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let (stored, signing) = get_or_create_ca(&secrets, &settings).await?;
    let (key, leaf_until) = sign_serving(&signing, &settings)?;
    let resolver = Arc::new(CertResolver::new(key));
    metrics.cert_served_until(leaf_until);
    status.set_serving(signing.not_after());
    let (desired, watched) =
        tokio::sync::watch::channel(Desired::of(&stored, &signing, unix_now()));
    let next_seen = NextSeen::default();
    tokio::spawn(keep_ca_bundle(
        client,
        settings.configurations.clone(),
        watched,
        status.clone(),
        next_seen.clone(),
    ));
    let keeper = Keeper {
        secrets,
        settings,
        resolver: resolver.clone(),
        metrics,
        status,
        desired,
        next_seen,
        signing,
        renew_at: renew_time(leaf_until, unix_now()),
    };
    tokio::spawn(keeper.run());
    Ok(resolver)
}

/// When a serving certificate valid until `not_after`, signed at `now`, is renewed: after two
/// thirds of its life.
fn renew_time(not_after: i64, now: i64) -> i64 {
    now + (not_after - now) * 2 / 3
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

/// Reads the CA Secret every `recheck`: follows the signing CA (re-signing the serving
/// certificate when it changes or ages), tells the bundle keeper what to carry, and makes the
/// rotation's next change when it is due.
struct Keeper {
    secrets: Api<Secret>,
    settings: Settings,
    resolver: Arc<CertResolver>,
    metrics: Arc<Metrics>,
    status: Arc<AuthorityStatus>,
    desired: tokio::sync::watch::Sender<Desired>,
    next_seen: NextSeen,
    signing: Authority,
    renew_at: i64,
}

impl Keeper {
    async fn run(mut self) {
        loop {
            tokio::time::sleep(self.settings.recheck).await;
            match self.secrets.get_opt(&self.settings.ca_secret).await {
                Ok(Some(secret)) => self.step(secret).await,
                Ok(None) => {
                    tracing::warn!(secret = %self.settings.ca_secret, "the CA Secret is gone; serving with the CA in memory");
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the CA Secret; retrying"),
            }
        }
    }

    async fn step(&mut self, secret: Secret) {
        let stored = stored_of(&secret);
        let now = unix_now();
        self.follow(&stored, now);
        let desired = Desired::of(&stored, &self.signing, now);
        self.desired.send_if_modified(|current| {
            let changed = *current != desired;
            *current = desired;
            changed
        });
        let seen_for = self.next_seen.lock().ok().and_then(|seen| {
            let (pem, since) = seen.as_ref()?;
            (Some(pem.as_str()) == stored.next_cert()).then(|| since.elapsed())
        });
        let pace = &self.settings.pace;
        let Some(change) = stored.plan(now, pace, self.signing.not_after(), seen_for) else {
            return;
        };
        let updated = match stored.apply(&change, now, pace) {
            Ok(updated) => updated,
            Err(e) => {
                tracing::error!(error = %e, "cannot rotate the CA");
                return;
            }
        };
        let written = secret_with(secret, &updated);
        match self
            .secrets
            .replace(&self.settings.ca_secret, &PostParams::default(), &written)
            .await
        {
            Ok(_) => tracing::info!(change = ?change_name(&change), "CA rotation: Secret updated"),
            // Another replica changed it first; the next read shows what it did.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => tracing::warn!(error = %e, "CA rotation: cannot update the Secret"),
        }
    }

    /// Moves to the Secret's signing CA when it changed, and renews an ageing serving certificate.
    fn follow(&mut self, stored: &Stored, now: i64) {
        let changed = stored.data.get("ca.crt") != Some(&self.signing.cert_pem);
        if changed {
            match stored.signing() {
                Ok(signing) => self.signing = signing,
                Err(e) => {
                    tracing::error!(error = %e, "the CA Secret's signing CA is unusable; keeping the one in memory");
                    return;
                }
            }
        }
        if !changed && now < self.renew_at {
            return;
        }
        match sign_serving(&self.signing, &self.settings) {
            Ok((key, not_after)) => {
                self.resolver.replace(key);
                self.metrics.cert_served_until(not_after);
                self.metrics.cert_reloaded();
                self.status.set_serving(self.signing.not_after());
                self.renew_at = renew_time(not_after, now);
                tracing::info!(
                    not_after,
                    new_ca = changed,
                    "self-managed serving certificate signed"
                );
            }
            Err(e) => {
                self.metrics.cert_reload_failed();
                tracing::error!(error = %e, "cannot sign a serving certificate; retrying");
            }
        }
    }
}

fn change_name(change: &super::rotation::Change) -> &'static str {
    match change {
        super::rotation::Change::AddNext => "next CA added to the bundle",
        super::rotation::Change::Promote { .. } => "next CA now signs",
        super::rotation::Change::Retire => "previous CA retired",
    }
}

/// The Secret's data and annotations as text (keys that are not UTF-8 are left out).
fn stored_of(secret: &Secret) -> Stored {
    let data = secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?)))
        .collect();
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    Stored { data, annotations }
}

/// `secret` (its name and resourceVersion kept, for the update's precondition) holding `stored`.
fn secret_with(mut secret: Secret, stored: &Stored) -> Secret {
    secret.data = Some(
        stored
            .data
            .iter()
            .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
            .collect(),
    );
    secret.metadata.annotations = Some(stored.annotations.clone());
    secret.metadata.managed_fields = None;
    secret
}

/// Attempts at get-or-create: each lost race reads the winner's CA next, so two suffice unless
/// the Secret is deleted in between.
const CA_ATTEMPTS: usize = 5;

/// The CA from its Secret, or a new one stored there. A 409 on create means another replica
/// created it first: read theirs, so all replicas sign with one CA.
async fn get_or_create_ca(
    secrets: &Api<Secret>,
    settings: &Settings,
) -> Result<(Stored, Authority), SelfManagedError> {
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
            let stored = stored_of(&secret);
            let signing = stored.signing().map_err(|e| failed(e.to_string()))?;
            return Ok((stored, signing));
        }
        let ca = Authority::generate(unix_now(), settings.ca_validity)?;
        let secret = ca_secret(&settings.ca_secret, &ca);
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(created) => {
                tracing::info!(secret = %settings.ca_secret, not_after = ca.not_after(), "created the CA Secret");
                return Ok((stored_of(&created), ca));
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

/// Whether every webhook's `caBundle` holds exactly the certificates of `bundle` (any order).
pub fn configuration_carries(object: &Value, bundle: &str) -> bool {
    let mut want = super::authority::bundle_certificates(bundle);
    want.sort();
    let Some(webhooks) = object["webhooks"].as_array().filter(|w| !w.is_empty()) else {
        return false;
    };
    webhooks.iter().all(|hook| {
        let mut have = hook["clientConfig"]["caBundle"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|pem| String::from_utf8(pem).ok())
            .map(|pem| super::authority::bundle_certificates(&pem))
            .unwrap_or_default();
        have.sort();
        have == want
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

/// One watched configuration: its latest state, and the bundle it was last seen carrying as
/// desired (a change away from it by someone else is a re-injection).
struct Watched {
    kind: ConfigKind,
    name: String,
    api: Api<DynamicObject>,
    latest: Option<Value>,
    carried: Option<String>,
}

/// Watches the configurations by name and puts `caBundle` back whenever it is not the desired
/// bundle; says whether every one holds the signing CA (readiness) and since when every one
/// holds the next CA (promotion).
async fn keep_ca_bundle(
    client: Client,
    configurations: Vec<(ConfigKind, String)>,
    mut desired: tokio::sync::watch::Receiver<Desired>,
    status: Arc<AuthorityStatus>,
    next_seen: NextSeen,
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
            carried: None,
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
            changed = desired.changed() => if changed.is_err() { return },
            _ = recheck.tick() => {}
        }
        let want = desired.borrow().clone();
        reconcile(&mut watched, &want, &status).await;
        note_next(&watched, &want, &next_seen);
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

/// Applies the desired bundle where it is not carried, then tells readiness whether every
/// configuration holds the signing CA.
async fn reconcile(watched: &mut [Watched], want: &Desired, status: &AuthorityStatus) {
    for config in watched.iter_mut() {
        reconcile_one(config, want, status).await;
    }
    let ready = watched.iter().all(|c| {
        c.latest
            .as_ref()
            .is_some_and(|o| configuration_holds(o, &want.signing))
    });
    status.set_bundle_holds_ca(ready);
}

/// Records since when every configuration carries the next CA (cleared when one does not).
fn note_next(watched: &[Watched], want: &Desired, next_seen: &NextSeen) {
    let Ok(mut seen) = next_seen.lock() else {
        return;
    };
    let everywhere = want.next.as_ref().filter(|next| {
        watched.iter().all(|c| {
            c.latest
                .as_ref()
                .is_some_and(|o| configuration_holds(o, next))
        })
    });
    match (everywhere, seen.as_ref()) {
        (Some(next), Some((pem, _))) if pem == next => {}
        (Some(next), _) => *seen = Some((next.clone(), std::time::Instant::now())),
        (None, _) => *seen = None,
    }
}

/// One configuration: nothing to do when it carries the desired bundle; else apply it (a
/// re-injection when it had carried this same bundle before).
async fn reconcile_one(config: &mut Watched, want: &Desired, status: &AuthorityStatus) {
    let Some(object) = &config.latest else {
        // Not created yet (or deleted): nothing to write into; the watch says when it exists.
        config.carried = None;
        return;
    };
    if configuration_carries(object, &want.bundle) {
        config.carried = Some(want.bundle.clone());
        return;
    }
    if config.carried.as_ref() == Some(&want.bundle) {
        status.reinjected();
        tracing::warn!(
            configuration = %config.name,
            kind = config.kind.kind(),
            "caBundle changed by another field manager; putting it back"
        );
    }
    config.carried = None;
    let patch = ca_bundle_apply(config.kind, object, &want.bundle);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match config
        .api
        .patch(&config.name, &params, &Patch::Apply(&patch))
        .await
    {
        Ok(applied) => {
            config.latest = serde_json::to_value(applied).ok();
            if config
                .latest
                .as_ref()
                .is_some_and(|o| configuration_carries(o, &want.bundle))
            {
                config.carried = Some(want.bundle.clone());
            }
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
        assert_eq!(stored_of(&secret).signing().unwrap().cert_pem, ca.cert_pem);
        let mut broken = secret.clone();
        broken.data.as_mut().unwrap().remove("ca.key");
        let err = stored_of(&broken).signing().unwrap_err().to_string();
        assert!(err.contains("ca.key is missing"), "{err}");
        assert!(!err.contains("PRIVATE"));
    }
}
