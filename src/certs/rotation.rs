//! Rotation of the self-managed CA with overlap (issue 24), as pure decisions over what the CA
//! Secret holds; `self_managed` reads and writes the Secret and the webhook configurations.
//!
//! The Secret (`Opaque`) holds `ca.crt`/`ca.key`, the CA that signs serving certificates, and
//! during a rotation `next.crt`/`next.key` (the CA that will) or afterwards `previous.crt` with
//! the annotation `qcloud-ingress-webhook/previous-until` (Unix seconds). The bundle every
//! webhook configuration carries is all of them. The phases:
//!
//! 1. **Add.** When the signing CA is within `rotate_before` of its notAfter, or the Secret carries
//!    the annotation `qcloud-ingress-webhook/rotate`, a replica adds a new CA as `next`. Serving
//!    certificates stay on the old CA; the bundle grows to both.
//! 2. **Promote.** Once this replica has seen both configurations carry `next` for
//!    `propagation` (the API server re-reads `caBundle` from its informer), `next` becomes the
//!    signing CA and the old one `previous`; every replica re-signs its serving certificate with
//!    the new CA within one re-check. A client holding either bundle verifies them all.
//! 3. **Retire.** `previous` stays in the bundle until `previous-until` (promotion plus
//!    `retire_after`, longer than any replica takes to move to the new CA), then leaves it.
//!
//! Writes carry the Secret's `resourceVersion`, so replicas that decide at once make one change.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Authority, CertsError};

/// Annotation that asks for a rotation now (`kubectl annotate secret <ca> qcloud-ingress-webhook/rotate=now`).
pub const ROTATE: &str = "qcloud-ingress-webhook/rotate";
/// Annotation: until when (Unix seconds) `previous.crt` stays in the bundle.
pub const PREVIOUS_UNTIL: &str = "qcloud-ingress-webhook/previous-until";

/// The CA Secret's contents, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub data: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// How rotation is paced.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Validity of a new CA.
    pub validity: Duration,
    /// Rotate when the signing CA expires within this.
    pub rotate_before: Duration,
    /// Promote once both configurations have carried the next CA this long.
    pub propagation: Duration,
    /// Keep the previous CA in the bundle this long after promotion.
    pub retire_after: Duration,
}

impl Pace {
    /// `rotate_before` is held to at most a third of `validity`: a new CA that is already due
    /// would rotate again at once, forever.
    pub fn new(
        validity: Duration,
        rotate_before: Duration,
        propagation: Duration,
        retire_after: Duration,
    ) -> Self {
        Self {
            validity,
            rotate_before: rotate_before.min(validity / 3),
            propagation,
            retire_after,
        }
    }
}

/// A change to make to the Secret.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Store a new CA as `next` (and drop the rotate annotation).
    AddNext,
    /// `next` becomes the signing CA, the signing one `previous` until the given time.
    Promote { previous_until: i64 },
    /// Drop `previous`, whose time is up.
    Retire,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Stored {
    fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }

    /// The CA that signs serving certificates.
    pub fn signing(&self) -> Result<Authority, CertsError> {
        let cert = self.get("ca.crt").ok_or_else(|| missing("ca.crt"))?;
        let key = self.get("ca.key").ok_or_else(|| missing("ca.key"))?;
        Authority::from_pem(cert, key)
    }

    /// The next CA's certificate, during a rotation.
    pub fn next_cert(&self) -> Option<&str> {
        self.get("next.crt")
    }

    fn previous_until(&self) -> Option<i64> {
        self.annotations.get(PREVIOUS_UNTIL)?.parse().ok()
    }

    /// The PEM bundle every configuration should carry at `now`: signing, next, and previous
    /// until its time is up.
    pub fn bundle(&self, now: i64) -> String {
        let mut bundle = String::new();
        for key in ["ca.crt", "next.crt"] {
            if let Some(pem) = self.get(key) {
                push_pem(&mut bundle, pem);
            }
        }
        if let (Some(pem), Some(until)) = (self.get("previous.crt"), self.previous_until())
            && now < until
        {
            push_pem(&mut bundle, pem);
        }
        bundle
    }

    /// What to change, if anything. `next_everywhere_for`: how long this replica has seen both
    /// configurations carry `next.crt`.
    pub fn plan(
        &self,
        now: i64,
        pace: &Pace,
        signing_not_after: i64,
        next_everywhere_for: Option<Duration>,
    ) -> Option<Change> {
        if self.next_cert().is_some() {
            return next_everywhere_for
                .is_some_and(|d| d >= pace.propagation)
                .then(|| Change::Promote {
                    previous_until: now.saturating_add(secs(pace.retire_after)),
                });
        }
        let due = signing_not_after.saturating_sub(secs(pace.rotate_before)) <= now;
        if due || self.annotations.contains_key(ROTATE) {
            return Some(Change::AddNext);
        }
        if self.get("previous.crt").is_some() && self.previous_until().is_none_or(|u| now >= u) {
            return Some(Change::Retire);
        }
        None
    }

    /// The Secret's contents after `change` (`now`: the clock for a new CA).
    pub fn apply(&self, change: &Change, now: i64, pace: &Pace) -> Result<Self, CertsError> {
        let mut out = self.clone();
        match change {
            Change::AddNext => {
                let next = Authority::generate(now, pace.validity)?;
                out.data.insert("next.crt".into(), next.cert_pem.clone());
                out.data.insert("next.key".into(), next.key_pem());
                out.annotations.remove(ROTATE);
            }
            Change::Promote { previous_until } => {
                let next_cert = self.get("next.crt").ok_or_else(|| missing("next.crt"))?;
                let next_key = self.get("next.key").ok_or_else(|| missing("next.key"))?;
                // Refuse to promote what cannot sign.
                Authority::from_pem(next_cert, next_key)?;
                let old = self.get("ca.crt").ok_or_else(|| missing("ca.crt"))?;
                out.data.insert("previous.crt".into(), old.to_owned());
                out.data.insert("ca.crt".into(), next_cert.to_owned());
                out.data.insert("ca.key".into(), next_key.to_owned());
                out.data.remove("next.crt");
                out.data.remove("next.key");
                out.annotations
                    .insert(PREVIOUS_UNTIL.into(), previous_until.to_string());
            }
            Change::Retire => {
                out.data.remove("previous.crt");
                out.annotations.remove(PREVIOUS_UNTIL);
            }
        }
        Ok(out)
    }
}

fn missing(key: &str) -> CertsError {
    CertsError::Invalid(format!("{key} is missing or not text"))
}

fn push_pem(bundle: &mut String, pem: &str) {
    bundle.push_str(pem.trim_end());
    bundle.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::authority::{bundle_certificates, bundle_holds};

    const NOW: i64 = 1_796_000_000;
    const DAY: u64 = 86_400;

    fn pace() -> Pace {
        Pace {
            validity: Duration::from_secs(365 * DAY),
            rotate_before: Duration::from_secs(30 * DAY),
            propagation: Duration::from_secs(10),
            retire_after: Duration::from_secs(300),
        }
    }

    fn stored(ca: &Authority) -> Stored {
        let mut data = BTreeMap::new();
        data.insert("ca.crt".to_owned(), ca.cert_pem.clone());
        data.insert("ca.key".to_owned(), ca.key_pem());
        Stored {
            data,
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn a_rotation_adds_then_promotes_then_retires_with_both_cas_trusted_between() {
        let old = Authority::generate(NOW, Duration::from_secs(365 * DAY)).unwrap();
        let mut secret = stored(&old);
        let p = pace();
        // Far from expiry, nothing; close to it, a next CA joins the bundle first.
        assert_eq!(secret.plan(NOW, &p, old.not_after(), None), None);
        let late = old.not_after() - 10 * 86_400;
        assert_eq!(
            secret.plan(late, &p, old.not_after(), None),
            Some(Change::AddNext)
        );
        secret = secret.apply(&Change::AddNext, late, &p).unwrap();
        let next = secret.next_cert().unwrap().to_owned();
        assert_eq!(
            secret.signing().unwrap().cert_pem,
            old.cert_pem,
            "still signing with the old"
        );
        let bundle = secret.bundle(late);
        assert!(bundle_holds(&bundle, &old.cert_pem) && bundle_holds(&bundle, &next));

        // Not promoted until both configurations carried it for the propagation time.
        assert_eq!(secret.plan(late, &p, old.not_after(), None), None);
        let seen = Some(Duration::from_secs(9));
        assert_eq!(secret.plan(late, &p, old.not_after(), seen), None);
        let seen = Some(Duration::from_secs(10));
        let promote = secret.plan(late, &p, old.not_after(), seen).unwrap();
        assert_eq!(
            promote,
            Change::Promote {
                previous_until: late + 300
            }
        );
        secret = secret.apply(&promote, late, &p).unwrap();
        assert_eq!(secret.signing().unwrap().cert_pem, next);
        let bundle = secret.bundle(late + 299);
        assert!(bundle_holds(&bundle, &old.cert_pem) && bundle_holds(&bundle, &next));

        // The old CA leaves the bundle after retire_after, and the Secret after that.
        assert_eq!(bundle_certificates(&secret.bundle(late + 300)).len(), 1);
        let new_until = secret.signing().unwrap().not_after();
        assert_eq!(secret.plan(late + 299, &p, new_until, None), None);
        assert_eq!(
            secret.plan(late + 300, &p, new_until, None),
            Some(Change::Retire)
        );
        secret = secret.apply(&Change::Retire, late + 300, &p).unwrap();
        assert_eq!(secret.data.keys().collect::<Vec<_>>(), ["ca.crt", "ca.key"]);
    }

    #[test]
    fn a_new_ca_is_never_due_at_once() {
        let short = Pace::new(
            Duration::from_secs(10 * DAY),
            Duration::from_secs(30 * DAY),
            Duration::from_secs(10),
            Duration::from_secs(300),
        );
        let ca = Authority::generate(NOW, short.validity).unwrap();
        assert_eq!(stored(&ca).plan(NOW, &short, ca.not_after(), None), None);
        let later = ca.not_after() - 3 * 86_400;
        assert_eq!(
            stored(&ca).plan(later, &short, ca.not_after(), None),
            Some(Change::AddNext)
        );
    }

    #[test]
    fn the_rotate_annotation_forces_a_rotation_once() {
        let ca = Authority::generate(NOW, Duration::from_secs(365 * DAY)).unwrap();
        let mut secret = stored(&ca);
        secret.annotations.insert(ROTATE.into(), "now".into());
        assert_eq!(
            secret.plan(NOW, &pace(), ca.not_after(), None),
            Some(Change::AddNext)
        );
        let added = secret.apply(&Change::AddNext, NOW, &pace()).unwrap();
        assert!(!added.annotations.contains_key(ROTATE));
        assert_eq!(added.plan(NOW, &pace(), ca.not_after(), None), None);
    }

    #[test]
    fn a_next_ca_that_cannot_sign_is_never_promoted() {
        let ca = Authority::generate(NOW, Duration::from_secs(365 * DAY)).unwrap();
        let other = Authority::generate(NOW, Duration::from_secs(365 * DAY)).unwrap();
        let mut secret = stored(&ca);
        secret
            .data
            .insert("next.crt".into(), other.cert_pem.clone());
        secret.data.insert("next.key".into(), ca.key_pem());
        let promote = Change::Promote {
            previous_until: NOW,
        };
        assert!(secret.apply(&promote, NOW, &pace()).is_err());
    }
}
