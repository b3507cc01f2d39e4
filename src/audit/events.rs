//! Kubernetes Events for the audit (off by default): a `Warning` Event on each Ingress whose deny
//! findings changed, so `kubectl describe ingress` shows the webhook's reasons next to TKE's own
//! E40xx Events. An Event's name is derived from the findings, so the same findings are posted
//! once (a second post is `AlreadyExists`), and new ones get a new Event.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use super::Entry;
use crate::cluster::confirm::Key;
use crate::text::shorten;

/// The `reason` of our Events, as `kubectl describe` and `kubectl get events` show it.
pub const REASON: &str = "WouldBeDenied";
/// Who reports them.
pub const COMPONENT: &str = "qcloud-ingress-webhook";
/// Findings are cut to this, to keep an Event readable in `kubectl describe`.
const MAX_MESSAGE: usize = 1024;

/// The Event for an Ingress's deny findings (`None` when it has none).
pub fn event(key: &Key, entries: &[Entry], now: Timestamp) -> Option<Event> {
    let denies: Vec<&Entry> = entries.iter().filter(|e| e.severity == "deny").collect();
    if denies.is_empty() {
        return None;
    }
    let (namespace, name) = key;
    let message: Vec<String> = denies
        .iter()
        .map(|e| format!("{}: {} [{}]", e.field, e.message, e.rule))
        .collect();
    let message = shorten(&message.join("; "), MAX_MESSAGE);
    let mut hasher = DefaultHasher::new();
    message.hash(&mut hasher);
    Some(Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.qiw-{:016x}", hasher.finish())),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("networking.k8s.io/v1".into()),
            kind: Some("Ingress".into()),
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            ..ObjectReference::default()
        },
        reason: Some(REASON.into()),
        type_: Some("Warning".into()),
        message: Some(format!(
            "qcloud-ingress-webhook would deny this Ingress as it stands: {message}"
        )),
        source: Some(EventSource {
            component: Some(COMPONENT.into()),
            host: None,
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        ..Event::default()
    })
}

/// Posts the Event for an Ingress whose deny findings changed; one already posted for the same
/// findings is left as it is. Failures are logged, never retried: the next change posts anew.
pub async fn post(client: kube::Client, key: Key, entries: Vec<Entry>) {
    let Some(event) = event(&key, &entries, Timestamp::now()) else {
        return;
    };
    let api = kube::Api::<Event>::namespaced(client, &key.0);
    match api.create(&kube::api::PostParams::default(), &event).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => tracing::warn!(
            namespace = %key.0,
            name = %key.1,
            error = %crate::text::one_line(&error.to_string()),
            "could not post the audit Event"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(severity: &'static str, rule: &'static str) -> Entry {
        Entry {
            namespace: "shop".into(),
            name: "front".into(),
            rule,
            severity,
            field: "spec.rules[0].host".into(),
            tke_code: Some("E4052"),
            message: "\"localhost\" has no dot".into(),
            reason: None,
        }
    }

    #[test]
    fn one_warning_event_per_set_of_deny_findings() {
        let key = ("shop".to_owned(), "front".to_owned());
        let now = Timestamp::UNIX_EPOCH;
        assert!(event(&key, &[entry("warn", "https-only")], now).is_none());
        let first = event(&key, &[entry("deny", "host-grammar")], now).unwrap();
        assert_eq!(first.type_.as_deref(), Some("Warning"));
        assert_eq!(first.reason.as_deref(), Some(REASON));
        assert_eq!(first.involved_object.name.as_deref(), Some("front"));
        let message = first.message.clone().unwrap();
        assert!(message.contains("[host-grammar]"), "{message}");
        let again = event(&key, &[entry("deny", "host-grammar")], now).unwrap();
        assert_eq!(
            first.metadata.name, again.metadata.name,
            "same findings, same Event"
        );
        let other = event(&key, &[entry("deny", "path-grammar")], now).unwrap();
        assert_ne!(first.metadata.name, other.metadata.name);
    }
}
