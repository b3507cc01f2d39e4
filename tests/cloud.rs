//! The cloud checks' client (src/cloud) against the Tencent Cloud stand-in on loopback: signed
//! requests, answers read as the API reference documents them, the budget, auth errors and the
//! cache. Never any traffic but loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests: a failed set-up is a failed test"
)]

mod common;
mod stand_in_tencent_cloud;

use std::time::{Duration, Instant};

use qcloud_ingress_webhook::cloud::sign::{Credentials, SecretKey};
use qcloud_ingress_webhook::cloud::{Action, CloudClient, CloudConfig, Outcome};
use qcloud_ingress_webhook::cluster::{CloudLookup, LoadBalancerDetail, Unverified};
use stand_in_tencent_cloud::{SECRET_ID, SECRET_KEY, StandIn, certificate, load_balancer};

fn config(stand_in: &StandIn, key: &str) -> CloudConfig {
    CloudConfig {
        credentials: Credentials {
            secret_id: SECRET_ID.into(),
            secret_key: SecretKey::new(key),
        },
        region: "ap-guangzhou".into(),
        vpc_id: Some("vpc-home0001".into()),
        endpoint: Some(stand_in.url()),
        budget: Duration::from_millis(400),
        expiry_warning_days: 30,
        ttl: Duration::from_secs(300),
        negative_ttl: Duration::from_secs(30),
    }
}

fn client(stand_in: &StandIn, key: &str) -> CloudClient {
    common::install_provider();
    CloudClient::new(config(stand_in, key), Some(stand_in.client_tls())).unwrap()
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

async fn stand_in() -> StandIn {
    common::install_provider();
    let stand_in = StandIn::start().await;
    stand_in.set_certificate(
        "Svr00001",
        certificate(
            "SVR",
            1,
            "2099-01-01 08:00:00",
            &["shop.example.com", "*.example.com"],
        ),
    );
    stand_in.set_certificate("CaCert01", certificate("CA", 1, "2099-01-01 08:00:00", &[]));
    stand_in.set_load_balancer("lb-app00001", load_balancer("vpc-home0001", 1));
    stand_in.set_load_balancer("lb-cls00001", load_balancer("", 0));
    stand_in
}

#[tokio::test]
async fn signed_requests_get_the_documented_answers() {
    let stand_in = stand_in().await;
    let client = client(&stand_in, SECRET_KEY);
    let facts = client
        .facts(
            &["Svr00001".into(), "Missing1".into(), "CaCert01".into()],
            &[
                "lb-app00001".into(),
                "lb-cls00001".into(),
                "lb-gone0001".into(),
            ],
            later(),
        )
        .await;
    let CloudLookup::Found(svr) = &facts.certificates["Svr00001"] else {
        panic!("{:?}", facts.certificates);
    };
    assert_eq!(svr.certificate_type, "SVR");
    assert_eq!(svr.domains, ["shop.example.com", "*.example.com"]);
    assert_eq!(facts.certificates["Missing1"], CloudLookup::NotFound);
    assert!(
        matches!(&facts.certificates["CaCert01"], CloudLookup::Found(c) if c.certificate_type == "CA")
    );
    assert_eq!(
        facts.load_balancers["lb-cls00001"],
        CloudLookup::Found(LoadBalancerDetail {
            vpc_id: String::new(),
            forward: 0
        })
    );
    assert_eq!(facts.load_balancers["lb-gone0001"], CloudLookup::NotFound);
    assert_eq!(stand_in.requests(), 6);
    assert_eq!(
        stand_in.verified(),
        6,
        "every request carried a valid signature"
    );
    let stats = client.stats();
    assert_eq!(
        stats.calls(Action::DescribeCertificateDetail, Outcome::Found),
        2
    );
    assert_eq!(
        stats.calls(Action::DescribeLoadBalancers, Outcome::NotFound),
        1
    );
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_never_a_not_found() {
    let stand_in = stand_in().await;
    let client = client(&stand_in, "not-the-key");
    let facts = client
        .facts(&["Missing1".into()], &["lb-gone0001".into()], later())
        .await;
    assert_eq!(
        facts.certificates["Missing1"],
        CloudLookup::Unverified(Unverified::Auth)
    );
    assert_eq!(
        facts.load_balancers["lb-gone0001"],
        CloudLookup::Unverified(Unverified::Auth)
    );
    assert_eq!(stand_in.verified(), 0);
    let stats = client.stats();
    assert_eq!(
        stats.calls(Action::DescribeCertificateDetail, Outcome::AuthError),
        1
    );
    assert_eq!(
        stats.calls(Action::DescribeLoadBalancers, Outcome::AuthError),
        1
    );
    // Not kept: the next review asks again (and still cannot say).
    client.facts(&["Missing1".into()], &[], later()).await;
    assert_eq!(stand_in.requests(), 3);
}

#[tokio::test]
async fn a_slow_cloud_costs_at_most_the_budget_and_is_unverified() {
    let stand_in = stand_in().await;
    stand_in.set_delay(Duration::from_secs(5));
    let client = client(&stand_in, SECRET_KEY);
    let started = Instant::now();
    let facts = client
        .facts(&["Svr00001".into()], &["lb-app00001".into()], later())
        .await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(380), "{took:?}");
    assert!(
        took < Duration::from_millis(1500),
        "budget is 400 ms, took {took:?}"
    );
    assert_eq!(
        facts.certificates["Svr00001"],
        CloudLookup::Unverified(Unverified::Timeout)
    );
    assert_eq!(
        client
            .stats()
            .calls(Action::DescribeLoadBalancers, Outcome::Timeout),
        1
    );
    // The review's own deadline wins when it is sooner than the budget.
    let started = Instant::now();
    client
        .facts(
            &["Svr00001".into()],
            &[],
            Instant::now() + Duration::from_millis(50),
        )
        .await;
    assert!(started.elapsed() < Duration::from_millis(350));
}

#[tokio::test]
async fn cached_answers_make_repeated_reviews_free_of_calls() {
    let stand_in = stand_in().await;
    let client = client(&stand_in, SECRET_KEY);
    let certs = ["Svr00001".to_owned(), "Missing1".to_owned()];
    let lbs = ["lb-app00001".to_owned(), "lb-gone0001".to_owned()];
    let first = client.facts(&certs, &lbs, later()).await;
    assert_eq!(stand_in.requests(), 4);
    let second = client.facts(&certs, &lbs, later()).await;
    assert_eq!(
        stand_in.requests(),
        4,
        "found and not-found answers are both kept"
    );
    assert_eq!(client.stats().cache_hits(), 4);
    assert_eq!(first.certificates, second.certificates);
    assert_eq!(first.load_balancers, second.load_balancers);
}
