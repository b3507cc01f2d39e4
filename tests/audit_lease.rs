//! One audit at a time (issue 24): two real binaries on the stand-in API server (a test double)
//! elect an audit holder through a `coordination.k8s.io` Lease. Only the holder judges the
//! cluster's Ingresses and posts Events; when it stops, the other takes the Lease and audits.
//!
//! The audit's Event names are derived from the findings, so a second replica auditing the same
//! Ingress posts the same name and gets 409: `event_conflicts` counts audits that ran twice.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod stand_in_apiserver;

use std::time::{Duration, Instant};

use stand_in_apiserver::{StandIn, ingress, service};

const LEASE: &str = "qiw-audit";
const NAMESPACE: &str = "webhook";

fn args<'a>(identity: &'a str, duration: &'a str) -> Vec<&'a str> {
    vec![
        "--audit-events",
        "--audit-lease",
        LEASE,
        "--audit-lease-namespace",
        NAMESPACE,
        "--audit-lease-identity",
        identity,
        "--audit-lease-duration",
        duration,
        "--shutdown-delay",
        "0s",
    ]
}

/// A cluster with one Ingress the audit would deny (a host TKE refuses).
async fn cluster() -> StandIn {
    let stand_in = StandIn::start().await;
    stand_in.apply(service("shop", "web", 80));
    stand_in.apply(ingress("shop", "good", "a.example.com", "web", None));
    stand_in.apply(ingress("shop", "localhost", "localhost", "web", None));
    stand_in
}

async fn gauge(admin_port: u16, name: &str) -> Option<i64> {
    let text = reqwest::get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let prefix = format!("qcloud_ingress_webhook_{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
}

async fn lease_held(admin_port: u16) -> Option<i64> {
    gauge(admin_port, "audit_lease_held").await
}

async fn eventually(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let give_up = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < give_up, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn holder(stand_in: &StandIn) -> String {
    stand_in
        .lease(NAMESPACE, LEASE)
        .map_or_else(String::new, |l| {
            l["spec"]["holderIdentity"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_audits_and_the_other_takes_over_when_it_is_killed() {
    common::install_provider();
    let stand_in = cluster().await;
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let kubeconfig = stand_in.kubeconfig(one.path());
    let (a, b) = (args("replica-a", "2s"), args("replica-b", "2s"));
    let (first, second) = tokio::join!(
        common::LiveBinary::start(&kubeconfig, one.path(), &a),
        common::LiveBinary::start(&kubeconfig, two.path(), &b),
    );
    eventually("one Event posted", Duration::from_secs(15), async || {
        stand_in.events().len() == 1
    })
    .await;
    // Several renewals and audit steps later, still one audit ran: nobody posted it twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stand_in.events().len(), 1);
    assert_eq!(stand_in.event_conflicts(), 0, "both replicas audited");
    let held = (
        lease_held(first.admin_port).await,
        lease_held(second.admin_port).await,
    );
    let (leader, follower, follower_name) = match held {
        (Some(1), Some(0)) => (first, second, "replica-b"),
        (Some(0), Some(1)) => (second, first, "replica-a"),
        other => panic!("not exactly one holder: {other:?}"),
    };
    assert_ne!(holder(&stand_in), follower_name);
    assert!(
        stand_in.lease_writes_by(&holder(&stand_in)) >= 2,
        "the holder renews"
    );
    assert_eq!(stand_in.lease_writes_by(follower_name), 0);

    // The holder dies without giving the Lease up: the other takes it once it expires and
    // audits everything again (posting the same Event, refused as a duplicate).
    let killed = Instant::now();
    drop(leader);
    eventually(
        "the follower holds the Lease",
        Duration::from_secs(10),
        async || lease_held(follower.admin_port).await == Some(1),
    )
    .await;
    assert_eq!(holder(&stand_in), follower_name);
    eventually(
        "the new holder audited",
        Duration::from_secs(10),
        async || stand_in.event_conflicts() == 1,
    )
    .await;
    assert!(
        killed.elapsed() >= Duration::from_secs(2),
        "taken over before the Lease expired"
    );
}

/// A holder that loses the Lease while running (another replica renewed it meanwhile, as after
/// a partition) stops auditing and forgets what it found, so it never reports stale findings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_loses_the_lease_stops_reporting() {
    common::install_provider();
    let stand_in = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stand_in.kubeconfig(dir.path());
    let replica =
        common::LiveBinary::start(&kubeconfig, dir.path(), &args("replica-a", "3s")).await;
    eventually("replica-a audited", Duration::from_secs(15), async || {
        gauge(replica.admin_port, "audit_ingresses").await == Some(2)
    })
    .await;
    // Another holder writes the Lease, as a replica that took it over would.
    let mut lease = stand_in.lease(NAMESPACE, LEASE).unwrap();
    lease["spec"]["holderIdentity"] = serde_json::json!("replica-z");
    stand_in.apply(lease);
    eventually(
        "replica-a forgot its findings",
        Duration::from_secs(3),
        async || {
            lease_held(replica.admin_port).await == Some(0)
                && gauge(replica.admin_port, "audit_ingresses").await == Some(0)
        },
    )
    .await;
    // replica-z never renews: replica-a takes the Lease back and audits again.
    eventually(
        "replica-a audits again",
        Duration::from_secs(15),
        async || gauge(replica.admin_port, "audit_ingresses").await == Some(2),
    )
    .await;
    assert_eq!(holder(&stand_in), "replica-a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_stops_hands_the_lease_over_without_waiting_for_expiry() {
    common::install_provider();
    let stand_in = cluster().await;
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let kubeconfig = stand_in.kubeconfig(one.path());
    // A long Lease: expiry alone would take 30s.
    let first = common::LiveBinary::start(&kubeconfig, one.path(), &args("replica-a", "30s")).await;
    eventually(
        "replica-a holds the Lease",
        Duration::from_secs(10),
        async || holder(&stand_in) == "replica-a",
    )
    .await;
    let second =
        common::LiveBinary::start(&kubeconfig, two.path(), &args("replica-b", "30s")).await;
    assert_eq!(lease_held(second.admin_port).await, Some(0));

    let stopped = Instant::now();
    let pid = first.child.0.id().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    eventually(
        "replica-b holds the Lease",
        Duration::from_secs(15),
        async || holder(&stand_in) == "replica-b",
    )
    .await;
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "handed over only by expiry"
    );
    eventually("replica-b audits", Duration::from_secs(10), async || {
        lease_held(second.admin_port).await == Some(1)
    })
    .await;
}
