//! Live mode against the stand-in API server (a test double, see `stand_in_apiserver`): the real
//! kube-rs client, watches and Secret reads over loopback HTTP, driven through `ClusterView`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod stand_in_apiserver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use qcloud_ingress_webhook::cluster::live::{LiveCluster, LiveConfig};
use qcloud_ingress_webhook::cluster::{ClusterLookup, ClusterView, LookupRequest, SecretLookup};
use stand_in_apiserver::{INGRESSES, SERVICES, StandIn, cert_secret, ingress, service};

/// A live view on `stand_in` once both caches have listed.
async fn synced_view(stand_in: &StandIn) -> (LiveCluster, tempfile::TempDir) {
    let (view, dir) = stand_in.live_view(LiveConfig::default()).await;
    eventually("the caches sync", || view.is_ready()).await;
    (view, dir)
}

/// Polls `condition` for up to 15 s.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(15);
    while !condition() {
        assert!(Instant::now() < give_up, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn lookup(view: &LiveCluster, namespace: &str, secrets: &[&str]) -> Arc<dyn ClusterLookup> {
    view.lookup(LookupRequest {
        namespace: namespace.to_owned(),
        secret_names: secrets.iter().map(|s| (*s).to_owned()).collect(),
        deadline: Instant::now() + Duration::from_secs(5),
    })
    .await
}

/// Names of the Ingresses on `lb`, sorted.
async fn on_lb(view: &LiveCluster, lb: &str) -> Vec<String> {
    let mut names: Vec<_> = lookup(view, "demo", &[])
        .await
        .ingresses_on_lb(lb)
        .iter()
        .map(|i| format!("{}/{}", i.namespace, i.name))
        .collect();
    names.sort();
    names
}

fn status_of(view: &LiveCluster, resource: &str) -> qcloud_ingress_webhook::cluster::CacheStatus {
    view.cache_status()
        .into_iter()
        .find(|s| s.resource == resource)
        .unwrap()
}

#[tokio::test]
async fn readiness_waits_for_both_initial_lists() {
    let mut stand_in = StandIn::start().await;
    stand_in.apply(service("demo", "web", 80));
    stand_in.stop().await;
    let (view, _dir) = stand_in.live_view(LiveConfig::default()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!view.is_ready(), "no list has been served yet");
    assert!(!status_of(&view, SERVICES).synced);

    stand_in.restart().await;
    eventually("the caches sync", || view.is_ready()).await;
    assert!(status_of(&view, SERVICES).synced && status_of(&view, INGRESSES).synced);
    assert!(
        status_of(&view, SERVICES).watch_restarts >= 1,
        "the failed first list counts as a restart"
    );
    assert!(
        lookup(&view, "demo", &[])
            .await
            .service("demo", "web")
            .is_some()
    );
}

#[tokio::test]
async fn services_follow_adds_and_deletes() {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("demo", "listed", 80));
    let (view, _dir) = synced_view(&stand_in).await;
    let answer = lookup(&view, "demo", &[]).await;
    assert_eq!(
        &*answer.service("demo", "listed").unwrap().service_type,
        "NodePort"
    );
    assert!(answer.service("demo", "later").is_none());

    stand_in.bookmark();
    stand_in.apply(service("demo", "later", 8080));
    eventually("the added Service shows", || {
        answer.service("demo", "later").is_some()
    })
    .await;
    assert_eq!(answer.service("demo", "later").unwrap().ports[0].port, 8080);

    stand_in.apply(service("demo", "later", 9090));
    eventually("the modified Service shows", || {
        answer
            .service("demo", "later")
            .is_some_and(|s| s.ports[0].port == 9090)
    })
    .await;

    stand_in.delete("Service", "demo", "listed");
    eventually("the deleted Service goes", || {
        answer.service("demo", "listed").is_none()
    })
    .await;
    assert!(
        answer.service("other", "later").is_none(),
        "namespaces are kept apart"
    );
    assert_eq!(
        (
            status_of(&view, SERVICES).watch_restarts,
            stand_in.watches(SERVICES)
        ),
        (0, 1),
        "events and bookmarks flowed on one watch without errors"
    );
    let age = status_of(&view, SERVICES).age_seconds;
    assert!(
        age < 5.0,
        "an event just arrived, yet the cache age is {age}"
    );
}

#[tokio::test]
async fn the_lb_index_follows_ingress_adds_updates_and_deletes() {
    let stand_in = StandIn::start().await;
    stand_in.apply(ingress("demo", "a", "a.example.com", "web", Some("lb-1")));
    let (view, _dir) = synced_view(&stand_in).await;
    assert_eq!(on_lb(&view, "lb-1").await, ["demo/a"]);

    stand_in.apply(ingress("other", "b", "b.example.com", "web", Some("lb-1")));
    let answer = lookup(&view, "demo", &[]).await;
    eventually("b joins lb-1", || answer.ingresses_on_lb("lb-1").len() == 2).await;

    // An UPDATE moving `a` to another CLB replaces its index entry instead of adding one.
    stand_in.apply(ingress("demo", "a", "a.example.com", "web", Some("lb-2")));
    eventually("a moves to lb-2", || {
        answer.ingresses_on_lb("lb-2").len() == 1
    })
    .await;
    assert_eq!(on_lb(&view, "lb-1").await, ["other/b"]);
    let moved = &answer.ingresses_on_lb("lb-2")[0];
    assert_eq!(
        (moved.name.as_str(), moved.routes[0].host.as_str()),
        ("a", "a.example.com")
    );

    // Changing class away from qcloud takes it out of the index.
    let mut nginx = ingress("other", "b", "b.example.com", "web", Some("lb-1"));
    nginx["metadata"]["annotations"]["kubernetes.io/ingress.class"] = "nginx".into();
    stand_in.apply(nginx);
    eventually("b leaves lb-1", || {
        answer.ingresses_on_lb("lb-1").is_empty()
    })
    .await;

    stand_in.delete("Ingress", "demo", "a");
    eventually("a is gone", || answer.ingresses_on_lb("lb-2").is_empty()).await;
}

#[tokio::test]
async fn a_410_on_the_watch_forces_a_relist_that_replaces_the_state() {
    let stand_in = StandIn::start().await;
    stand_in.apply(ingress(
        "demo",
        "kept",
        "k.example.com",
        "web",
        Some("lb-1"),
    ));
    stand_in.apply(ingress(
        "demo",
        "missed",
        "m.example.com",
        "web",
        Some("lb-1"),
    ));
    let (view, _dir) = synced_view(&stand_in).await;
    assert_eq!(on_lb(&view, "lb-1").await, ["demo/kept", "demo/missed"]);
    let lists_before = stand_in.lists(INGRESSES);

    // The delete event is lost; only a re-list can show it.
    stand_in.delete_unannounced("Ingress", "demo", "missed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(on_lb(&view, "lb-1").await.len(), 2, "no event was sent");

    stand_in.expire("Ingress");
    let answer = lookup(&view, "demo", &[]).await;
    eventually("the re-list drops the missed Ingress", || {
        answer.ingresses_on_lb("lb-1").len() == 1
    })
    .await;
    assert_eq!(on_lb(&view, "lb-1").await, ["demo/kept"]);
    assert!(stand_in.lists(INGRESSES) > lists_before, "re-listed");
    assert!(status_of(&view, INGRESSES).watch_restarts >= 1);
    assert!(view.is_ready());

    // Watching goes on after the re-list.
    stand_in.apply(ingress("demo", "new", "n.example.com", "web", Some("lb-1")));
    eventually("a later add shows", || {
        answer.ingresses_on_lb("lb-1").len() == 2
    })
    .await;
}

#[tokio::test]
async fn a_secret_created_just_before_the_lookup_is_found() {
    let stand_in = StandIn::start().await;
    let (view, _dir) = synced_view(&stand_in).await;
    let answer = lookup(&view, "demo", &["ssl"]).await;
    assert_eq!(answer.secret("demo", "ssl"), SecretLookup::NotFound);

    stand_in.apply(cert_secret("demo", "ssl", "TKPmsWb3"));
    let answer = lookup(&view, "demo", &["ssl", "ssl"]).await;
    let SecretLookup::Found(ids) = answer.secret("demo", "ssl") else {
        panic!(
            "a missing Secret must not be cached: {:?}",
            answer.secret("demo", "ssl")
        );
    };
    assert_eq!(ids.cert_id.as_deref(), Some(&b"TKPmsWb3"[..]));
    assert_eq!(
        stand_in.secret_gets(),
        2,
        "one GET per lookup, names deduplicated"
    );

    // A found Secret is reused for a while without asking again.
    let again = lookup(&view, "demo", &["ssl"]).await;
    assert!(matches!(
        again.secret("demo", "ssl"),
        SecretLookup::Found(_)
    ));
    assert_eq!(stand_in.secret_gets(), 2);

    // What the review did not ask for, or another namespace, was not read.
    assert!(matches!(
        again.secret("demo", "other"),
        SecretLookup::Unavailable(_)
    ));
    assert!(matches!(
        again.secret("prod", "ssl"),
        SecretLookup::Unavailable(_)
    ));
}

#[tokio::test]
async fn the_positive_cache_expires() {
    let stand_in = StandIn::start().await;
    stand_in.apply(cert_secret("demo", "ssl", "old-id"));
    let config = LiveConfig {
        secret_ttl: Duration::from_millis(200),
        ..LiveConfig::default()
    };
    let (view, _dir) = stand_in.live_view(config).await;
    assert!(matches!(
        lookup(&view, "demo", &["ssl"]).await.secret("demo", "ssl"),
        SecretLookup::Found(_)
    ));
    stand_in.delete("Secret", "demo", "ssl");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        lookup(&view, "demo", &["ssl"]).await.secret("demo", "ssl"),
        SecretLookup::NotFound
    );
}

#[tokio::test]
async fn a_secret_read_that_times_out_is_unavailable() {
    let stand_in = StandIn::start().await;
    stand_in.apply(cert_secret("demo", "slow", "TKPmsWb3"));
    stand_in.set_secret_delay(Duration::from_secs(5));
    let config = LiveConfig {
        secret_timeout: Duration::from_millis(300),
        ..LiveConfig::default()
    };
    let (view, _dir) = stand_in.live_view(config).await;
    let started = Instant::now();
    let answer = lookup(&view, "demo", &["slow", "also-slow"]).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "reads run in parallel and stop in time: {took:?}"
    );
    for name in ["slow", "also-slow"] {
        let SecretLookup::Unavailable(reason) = answer.secret("demo", name) else {
            panic!("{name}: {:?}", answer.secret("demo", name));
        };
        assert!(reason.contains("in time"), "{reason}");
    }

    // The review's own deadline also bounds the reads, whatever the configured timeout.
    let patient = LiveConfig {
        secret_timeout: Duration::from_secs(30),
        ..LiveConfig::default()
    };
    let (view, _dir) = stand_in.live_view(patient).await;
    let started = Instant::now();
    let answer = view
        .lookup(LookupRequest {
            namespace: "demo".into(),
            secret_names: vec!["slow".into()],
            deadline: Instant::now() + Duration::from_millis(500),
        })
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the 5 s read was cut at the deadline: {took:?}"
    );
    assert!(matches!(
        answer.secret("demo", "slow"),
        SecretLookup::Unavailable(_)
    ));
}

#[tokio::test]
async fn while_the_api_server_is_down_the_last_state_answers() {
    let mut stand_in = StandIn::start().await;
    stand_in.apply(service("demo", "web", 80));
    stand_in.apply(ingress("demo", "a", "a.example.com", "web", Some("lb-1")));
    stand_in.apply(ingress(
        "demo",
        "gone",
        "g.example.com",
        "web",
        Some("lb-1"),
    ));
    stand_in.apply(cert_secret("demo", "cached", "TKPmsWb3"));
    let (view, _dir) = synced_view(&stand_in).await;
    let _ = lookup(&view, "demo", &["cached"]).await;
    let restarts_before = status_of(&view, INGRESSES).watch_restarts;

    stand_in.stop().await;
    eventually("the watch notices", || {
        status_of(&view, INGRESSES).watch_restarts > restarts_before
    })
    .await;
    assert!(view.is_ready(), "the last good state still serves");
    let answer = lookup(&view, "demo", &["cached", "uncached"]).await;
    assert!(answer.service("demo", "web").is_some());
    assert_eq!(answer.ingresses_on_lb("lb-1").len(), 2);
    assert!(matches!(
        answer.secret("demo", "cached"),
        SecretLookup::Found(_)
    ));
    assert!(
        matches!(
            answer.secret("demo", "uncached"),
            SecretLookup::Unavailable(_)
        ),
        "an unreachable API server is never NotFound"
    );

    // History compacted while it was away: the resumed watch gets 410 and the client re-lists.
    stand_in.delete_unannounced("Ingress", "demo", "gone");
    stand_in.expire("Ingress");
    stand_in.restart().await;
    eventually("the re-list after 410 drops the Ingress", || {
        answer.ingresses_on_lb("lb-1").len() == 1
    })
    .await;
}

#[tokio::test]
async fn a_large_cluster_lists_in_pages_and_lookups_stay_cheap() {
    let stand_in = StandIn::start().await;
    for i in 0..1200 {
        let namespace = format!("ns-{}", i % 40);
        stand_in.apply(service(&namespace, &format!("svc-{i}"), 80));
        let lb = format!("lb-{}", i % 300);
        stand_in.apply(ingress(
            &namespace,
            &format!("ing-{i}"),
            "a.example.com",
            "web",
            Some(&lb),
        ));
    }
    let (view, _dir) = synced_view(&stand_in).await;
    assert!(
        stand_in.pages(SERVICES) >= 3,
        "1200 objects come in pages of 500"
    );
    assert_eq!(stand_in.lists(INGRESSES), 1);

    let answer = lookup(&view, "ns-0", &[]).await;
    assert!(
        answer.service("ns-39", "svc-1199").is_some(),
        "the last page arrived"
    );
    let started = Instant::now();
    for i in 0..10_000 {
        let lb = format!("lb-{}", i % 300);
        assert_eq!(answer.ingresses_on_lb(&lb).len(), 4);
        assert!(answer.service("ns-0", "svc-0").is_some());
    }
    let each = started.elapsed() / 10_000;
    // Bound generous enough for a debug build on a loaded machine.
    eprintln!("one service + ingresses_on_lb look-up: {each:?}");
    assert!(each < Duration::from_micros(200), "a look-up took {each:?}");
}

/// A name no object can have (`../`, a query, upper case) or a namespace that is not a DNS label
/// never reaches the API server's path: it names nothing, so it is not found, without a request.
#[tokio::test]
async fn a_name_no_secret_can_have_never_reaches_the_api_server() {
    let stand_in = StandIn::start().await;
    let (view, _dir) = synced_view(&stand_in).await;
    let hostile = [
        "../../kube-system/secrets/victim",
        "victim?x=1",
        "Victim",
        "a/b",
    ];
    let answer = lookup(&view, "demo", &hostile).await;
    for name in hostile {
        assert_eq!(
            answer.secret("demo", name),
            SecretLookup::NotFound,
            "{name}"
        );
    }
    let answer = lookup(&view, "../kube-system", &["victim"]).await;
    assert_eq!(
        answer.secret("../kube-system", "victim"),
        SecretLookup::NotFound
    );
    assert_eq!(stand_in.secret_gets(), 0);
}

/// One review naming thousands of Secrets is not thousands of GETs: at most
/// MAX_SECRETS_PER_REVIEW are read, the rest are not read (their rules only warn).
#[tokio::test]
async fn one_review_reads_a_bounded_number_of_secrets() {
    use qcloud_ingress_webhook::cluster::live::MAX_SECRETS_PER_REVIEW;
    let stand_in = StandIn::start().await;
    stand_in.apply(cert_secret("demo", "s-0", "TKPmsWb3"));
    let (view, _dir) = synced_view(&stand_in).await;
    let names: Vec<String> = (0..3000).map(|i| format!("s-{i}")).collect();
    let borrowed: Vec<&str> = names.iter().map(String::as_str).collect();
    let answer = lookup(&view, "demo", &borrowed).await;
    assert_eq!(
        stand_in.secret_gets(),
        u64::try_from(MAX_SECRETS_PER_REVIEW).unwrap()
    );
    assert!(matches!(
        answer.secret("demo", "s-0"),
        SecretLookup::Found(_)
    ));
    assert_eq!(answer.secret("demo", "s-1"), SecretLookup::NotFound);
    let SecretLookup::Unavailable(why) = answer.secret("demo", "s-2999") else {
        panic!("{:?}", answer.secret("demo", "s-2999"));
    };
    assert_eq!(why, "not read: one review reads at most 64 Secrets");
}

/// The real binary, live on the stand-in: one review naming 3,000 Secrets (and a few names no
/// Secret can have) makes at most MAX_SECRETS_PER_REVIEW GETs, none for the bad names, and is
/// answered without a deny for the Secrets it did not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_naming_thousands_of_secrets_is_a_bounded_number_of_gets() {
    use qcloud_ingress_webhook::cluster::live::MAX_SECRETS_PER_REVIEW;
    let stand_in = StandIn::start().await;
    stand_in.apply(service("demo", "web", 80));
    let dir = tempfile::tempdir().unwrap();
    let binary = common::LiveBinary::start(&stand_in.kubeconfig(dir.path()), dir.path(), &[]).await;

    let mut object = ingress("demo", "many-certs", "www.example.com", "web", None);
    let mut tls: Vec<serde_json::Value> = (0..3000)
        .map(|i| serde_json::json!({"secretName": format!("s-{i}")}))
        .collect();
    for bad in ["../../kube-system/secrets/victim", "victim?x=1"] {
        tls.insert(
            0,
            serde_json::json!({"hosts": ["www.example.com"], "secretName": bad}),
        );
    }
    object["spec"]["tls"] = serde_json::Value::Array(tls);
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "7f0b2c1e-3000-4a3c-9d5e-000000000001",
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "ingresses"},
            "namespace": "demo", "operation": "CREATE",
            "userInfo": {"username": "dev"}, "object": object}
    });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], binary.port));
    let client = common::client_for(&binary.certs, addr);
    let url = format!(
        "https://{}:{}/validate?timeout=10s",
        common::SERVICE_HOST,
        binary.port
    );
    let answer: serde_json::Value = client
        .post(&url)
        .json(&review)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert!(
        stand_in.secret_gets() <= u64::try_from(MAX_SECRETS_PER_REVIEW).unwrap(),
        "{} GETs",
        stand_in.secret_gets()
    );
    let read = stand_in.secret_get_names();
    assert!(
        read.iter()
            .all(|(ns, name)| ns == "demo" && name.starts_with("s-")),
        "{read:?}"
    );
    // Denied only for what was read and missing, and for the names no Secret can have.
    let message = answer["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("[tls-secret-name]"), "{answer}");
    assert!(!message.contains("not read"), "{answer}");
}
