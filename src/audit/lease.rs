//! One audit at a time: a `coordination.k8s.io/v1` Lease decides which replica runs the
//! background audit, as client-go's `leaderelection` (`LeaseLock`) does for controllers.
//!
//! Every `retry` the replica reads the Lease: it creates it when there is none (a 409 means
//! another replica did first), renews it while it holds it, and takes it over when the holder
//! has not renewed it for `duration` as this replica observed it (client-go compares its own
//! observation time, not the holder's clock, so clock skew between nodes does not matter).
//! Writes carry the `resourceVersion` read, so two replicas that race get one 409 and one
//! success. On shutdown the holder gives the Lease up (`holderIdentity` cleared), so another
//! replica takes over at its next try instead of after `duration`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;

/// Which Lease, and who this replica is.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// A holder that has not renewed for this long has lost the Lease.
    pub duration: Duration,
    /// How often the Lease is read and renewed.
    pub retry: Duration,
}

/// What to do with the Lease as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// There is none: create it, held by us.
    Create,
    /// We hold it: renew it.
    Renew,
    /// Nobody holds it, or its holder stopped renewing: take it.
    TakeOver,
    /// Someone else holds it and renews it.
    Follow,
}

/// The decision of one try. `unchanged_for` is how long this replica has seen the same holder
/// and renew time (`None` when the record just changed or was never seen).
pub fn step(
    lease: Option<&LeaseSpec>,
    me: &str,
    unchanged_for: Option<Duration>,
    duration: Duration,
) -> Step {
    let Some(spec) = lease else {
        return Step::Create;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == me => Step::Renew,
        None | Some("") => Step::TakeOver,
        Some(_) if unchanged_for.is_some_and(|d| d >= duration) => Step::TakeOver,
        Some(_) => Step::Follow,
    }
}

/// (holderIdentity, renewTime) of a Lease as read: a change of either is the holder alive.
type Record = (Option<String>, Option<String>);

/// Runs the election for one replica; [`Elector::leading`] says whether it holds the Lease.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    leading: watch::Sender<bool>,
    /// The record last read, and when it was first read so.
    observed: Mutex<Option<(Record, Instant)>>,
}

impl Elector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            leading: watch::Sender::new(false),
            observed: Mutex::new(None),
        }
    }

    /// True while this replica holds the Lease.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Tries every `retry` until the task is dropped.
    pub async fn run(self: std::sync::Arc<Self>) {
        loop {
            let held = match self.try_once().await {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(lease = %self.config.name, error = %e, "audit Lease: cannot read or write it");
                    false
                }
            };
            self.leading.send_if_modified(|was| {
                let changed = *was != held;
                if changed {
                    tracing::info!(lease = %self.config.name, leading = held, "audit Lease holder changed");
                }
                *was = held;
                changed
            });
            tokio::time::sleep(self.config.retry).await;
        }
    }

    /// How long the record as read has stayed the same, by this replica's clock.
    fn unchanged_for(&self, lease: Option<&Lease>) -> Option<Duration> {
        let spec = lease.and_then(|l| l.spec.as_ref());
        let record = (
            spec.and_then(|s| s.holder_identity.clone()),
            spec.and_then(|s| s.renew_time.as_ref())
                .map(|t| format!("{:?}", t.0)),
        );
        let mut observed = self.observed.lock().ok()?;
        match observed.as_ref() {
            Some((seen, since)) if *seen == record => Some(since.elapsed()),
            _ => {
                *observed = Some((record, Instant::now()));
                None
            }
        }
    }

    /// One try: whether this replica holds the Lease afterwards.
    async fn try_once(&self) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(&self.config.name).await?;
        let unchanged_for = self.unchanged_for(current.as_ref());
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let decided = step(
            spec,
            &self.config.identity,
            unchanged_for,
            self.config.duration,
        );
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let written = match (decided, current) {
            (Step::Follow, _) | (Step::Renew | Step::TakeOver, None) => return Ok(false),
            (Step::Create, _) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(now.clone(), Some(now), 0)),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            (Step::Renew | Step::TakeOver, Some(mut lease)) => {
                let old = lease.spec.take().unwrap_or_default();
                let transitions = old.lease_transitions.unwrap_or(0);
                lease.spec = Some(if decided == Step::Renew {
                    self.spec(now, old.acquire_time, transitions)
                } else {
                    self.spec(now.clone(), Some(now), transitions.saturating_add(1))
                });
                self.api
                    .replace(&self.config.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(_) => Ok(true),
            // Another replica wrote first (create or update): it holds the Lease.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn spec(&self, renew: MicroTime, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.config.duration.as_secs()).unwrap_or(i32::MAX),
            ),
            renew_time: Some(renew),
            acquire_time: acquired,
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Gives the Lease up if this replica holds it (on shutdown), so another one takes over at
    /// its next try.
    pub async fn release(&self) {
        if !*self.leading.borrow() {
            return;
        }
        self.leading.send_replace(false);
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.config.name, "audit Lease given up"),
            Err(e) => {
                tracing::warn!(lease = %self.config.name, error = %e, "cannot give the audit Lease up; another replica takes over once it expires");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: Option<&str>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_lease_is_created_renewed_followed_or_taken_over() {
        let d = Duration::from_secs(15);
        assert_eq!(step(None, "a", None, d), Step::Create);
        assert_eq!(step(Some(&held_by(Some("a"))), "a", None, d), Step::Renew);
        assert_eq!(step(Some(&held_by(Some("b"))), "a", None, d), Step::Follow);
        let fresh = Some(Duration::from_secs(14));
        assert_eq!(step(Some(&held_by(Some("b"))), "a", fresh, d), Step::Follow);
        let stale = Some(Duration::from_secs(15));
        assert_eq!(
            step(Some(&held_by(Some("b"))), "a", stale, d),
            Step::TakeOver
        );
        assert_eq!(step(Some(&held_by(None)), "a", None, d), Step::TakeOver);
        assert_eq!(step(Some(&held_by(Some(""))), "a", None, d), Step::TakeOver);
    }
}
