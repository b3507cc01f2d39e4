//! What Tencent Cloud says of the certificates and the `existLbId` an Ingress names (issue 26;
//! docs/tke-behaviour.md §4.1, §2.6): read from [`CloudFacts`], which the driver fills only when
//! cloud checks are on. With no facts these rules say nothing; an id the cloud could not be
//! asked about is `cloud-not-verified`, a warning, never a deny.

use std::time::Duration;

use crate::ingress::view::{Ingress, Str};

use super::tls::{SecretReference, secret_references};
use crate::cluster::{CertificateDetail, CloudLookup, ClusterLookup, SecretLookup};
use crate::rules::Finding;
use crate::rules::annotations as keys;
use crate::rules::catalogue as c;
use crate::rules::context::Ctx;
use crate::rules::json::annotation_field;

const DAY: Duration = Duration::from_secs(86_400);

/// One certificate id read from a Secret's `qcloud_cert_id` (each of the two ids of the
/// dual-algorithm form on its own).
pub struct CertUse<'a> {
    pub reference: SecretReference<'a>,
    pub id: String,
}

/// The certificate ids the Secrets of `ingress` hold, ids of the documented shape only (the
/// format rule reports the others, and they are never sent to the cloud).
pub fn certificate_uses<'a>(
    ingress: &'a Ingress<'a>,
    namespace: &str,
    cluster: &dyn ClusterLookup,
) -> Vec<CertUse<'a>> {
    let mut uses = Vec::new();
    for reference in secret_references(ingress) {
        let SecretLookup::Found(ids) = cluster.secret(namespace, reference.name) else {
            continue;
        };
        let Some(value) = ids
            .cert_id
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
        else {
            continue;
        };
        for id in value.split(',').filter(|id| is_cert_id(id)) {
            uses.push(CertUse {
                reference,
                id: id.to_owned(),
            });
        }
    }
    uses
}

/// The `existLbId`, when it has the CLB id shape.
pub fn exist_lb_id<'a>(
    annotations: Option<&'a crate::ingress::Annotations<'_>>,
) -> Option<&'a str> {
    let id = annotations?.get(keys::EXIST_LB_ID)?.as_str();
    let rest = id.strip_prefix("lb-")?;
    let shape = rest.len() == 8
        && rest
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    shape.then_some(id)
}

/// [`certificate_uses`] for the rules: none without the cloud's answers (cloud checks off, the
/// default), where looking up the Secrets again would be for nothing.
fn uses<'a>(ctx: &Ctx<'a>) -> Vec<CertUse<'a>> {
    if ctx.cloud.certificates.is_empty() {
        return Vec::new();
    }
    certificate_uses(ctx.ingress, ctx.namespace, ctx.cluster)
}

fn is_cert_id(id: &str) -> bool {
    id.len() == 8 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The certificates of this Ingress the cloud found, with their use.
fn found<'a>(ctx: &'a Ctx<'_>) -> impl Iterator<Item = (CertUse<'a>, &'a CertificateDetail)> + 'a {
    uses(ctx)
        .into_iter()
        .filter_map(|u| match ctx.cloud.certificates.get(&u.id) {
            Some(CloudLookup::Found(detail)) => Some((u, detail)),
            _ => None,
        })
}

fn field(reference: &SecretReference<'_>) -> String {
    format!("spec.tls[{}].secretName", reference.index)
}

pub fn cloud_certificate_not_found(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for u in uses(ctx) {
        if ctx.cloud.certificates.get(&u.id) == Some(&CloudLookup::NotFound) {
            out.push(Finding::new(
                &c::CLOUD_CERTIFICATE_NOT_FOUND,
                field(&u.reference),
                format!("certificate {} (Secret {:?}) is not in the SSL Certificates service", u.id, u.reference.name),
                "upload the certificate in the SSL Certificates console and put its id in qcloud_cert_id",
            ));
        }
    }
}

pub fn cloud_certificate_not_server(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (u, detail) in found(ctx) {
        if detail.certificate_type != "SVR" {
            out.push(Finding::new(
                &c::CLOUD_CERTIFICATE_NOT_SERVER,
                field(&u.reference),
                format!("certificate {} is of type {:?}, not a server certificate (SVR)", u.id, detail.certificate_type),
                "put a server certificate's id in qcloud_cert_id; a client CA goes in qcloud_ca_cert_id",
            ));
        }
    }
}

/// Documented `Status` 3: expired.
const STATUS_EXPIRED: i64 = 3;

fn expired(ctx: &Ctx<'_>, detail: &CertificateDetail) -> bool {
    detail.status == Some(STATUS_EXPIRED)
        || detail.not_after.is_some_and(|end| end <= ctx.cloud.now)
}

pub fn cloud_certificate_expired(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (u, detail) in found(ctx) {
        if expired(ctx, detail) {
            out.push(Finding::new(
                &c::CLOUD_CERTIFICATE_EXPIRED,
                field(&u.reference),
                format!(
                    "certificate {} (Secret {:?}) has expired",
                    u.id, u.reference.name
                ),
                "renew or replace the certificate and put the new id in qcloud_cert_id",
            ));
        }
    }
}

pub fn cloud_certificate_expiring(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let window = DAY * ctx.cloud.expiry_warning_days;
    for (u, detail) in found(ctx) {
        let Some(end) = detail.not_after else {
            continue;
        };
        let Ok(left) = end.duration_since(ctx.cloud.now) else {
            continue;
        };
        if !expired(ctx, detail) && left <= window {
            let days = left.as_secs() / DAY.as_secs();
            out.push(Finding::new(
                &c::CLOUD_CERTIFICATE_EXPIRING,
                field(&u.reference),
                format!("certificate {} expires in {days} days", u.id),
                "renew the certificate and put the new id in qcloud_cert_id before it ends",
            ));
        }
    }
}

/// The hosts a `spec.tls` entry's certificate serves: its own hosts, or for the entry without
/// hosts (the default certificate) the rules' hosts no other entry names.
fn served_hosts<'a>(ctx: &Ctx<'a>, index: usize) -> Vec<&'a str> {
    let Some(entry) = ctx.tls.get(index) else {
        return Vec::new();
    };
    match entry.hosts.as_deref() {
        Some(hosts) if !hosts.is_empty() => hosts.iter().map(Str::as_str).collect(),
        _ => {
            let named = |host: &str| {
                ctx.tls
                    .iter()
                    .filter_map(|t| t.hosts.as_deref())
                    .flatten()
                    .any(|h| h == host)
            };
            let mut hosts: Vec<&str> = ctx
                .rules
                .iter()
                .filter_map(|r| r.host.as_deref())
                .filter(|h| !named(h))
                .collect();
            hosts.dedup();
            hosts
        }
    }
}

/// `host` is covered by a certificate name as TLS matches it (RFC 6125 §6.4.3): exactly, or by
/// a wildcard standing for exactly one leftmost label.
pub fn covers(name: &str, host: &str) -> bool {
    let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
    if name == host {
        return true;
    }
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(suffix), Some((label, rest))) => !label.is_empty() && label != "*" && rest == suffix,
        _ => false,
    }
}

pub fn cloud_certificate_hosts(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for (u, detail) in found(ctx) {
        if detail.domains.is_empty() || detail.certificate_type != "SVR" {
            continue;
        }
        for host in served_hosts(ctx, u.reference.index) {
            if !detail.domains.iter().any(|name| covers(name, host)) {
                out.push(Finding::new(
                    &c::CLOUD_CERTIFICATE_HOSTS,
                    field(&u.reference),
                    format!("certificate {} does not cover host {host}; browsers will refuse it", u.id),
                    "use a certificate whose domains include this host, or a wildcard of its parent",
                ));
            }
        }
    }
}

fn load_balancer<'a>(
    ctx: &'a Ctx<'_>,
) -> Option<(&'a str, &'a CloudLookup<crate::cluster::LoadBalancerDetail>)> {
    let id = exist_lb_id(Some(ctx.annotations))?;
    Some((id, ctx.cloud.load_balancers.get(id)?))
}

pub fn cloud_exist_lb_not_found(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if let Some((id, CloudLookup::NotFound)) = load_balancer(ctx) {
        out.push(Finding::new(
            &c::CLOUD_EXIST_LB_NOT_FOUND,
            annotation_field(keys::EXIST_LB_ID),
            format!("CLB {id} does not exist in region {}", ctx.cloud.region),
            "use the id of a CLB in the cluster's region, copied from the CLB console",
        ));
    }
}

pub fn cloud_exist_lb_other_vpc(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some((id, CloudLookup::Found(lb))) = load_balancer(ctx) else {
        return;
    };
    let Some(vpc) = ctx.cloud.vpc_id.as_deref() else {
        return;
    };
    if lb.forward != 0 && lb.vpc_id != vpc {
        out.push(Finding::new(
            &c::CLOUD_EXIST_LB_OTHER_VPC,
            annotation_field(keys::EXIST_LB_ID),
            format!(
                "CLB {id} is in VPC {}, not the cluster's VPC {vpc}",
                lb.vpc_id
            ),
            "use a CLB in the cluster's VPC",
        ));
    }
}

pub fn cloud_exist_lb_classic(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    if let Some((id, CloudLookup::Found(lb))) = load_balancer(ctx)
        && lb.forward == 0
    {
        out.push(Finding::new(
            &c::CLOUD_EXIST_LB_CLASSIC,
            annotation_field(keys::EXIST_LB_ID),
            format!("CLB {id} is a classic CLB; TKE Ingresses need an application CLB"),
            "create an application CLB (Forward 1) and use its id",
        ));
    }
}

pub fn cloud_not_verified(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for u in uses(ctx) {
        if let Some(CloudLookup::Unverified(why)) = ctx.cloud.certificates.get(&u.id) {
            out.push(Finding::new(
                &c::CLOUD_NOT_VERIFIED,
                field(&u.reference),
                format!(
                    "certificate {} was not verified with Tencent Cloud ({})",
                    u.id,
                    why.as_str()
                ),
                "",
            ));
        }
    }
    if let Some((id, CloudLookup::Unverified(why))) = load_balancer(ctx) {
        out.push(Finding::new(
            &c::CLOUD_NOT_VERIFIED,
            annotation_field(keys::EXIST_LB_ID),
            format!(
                "CLB {id} was not verified with Tencent Cloud ({})",
                why.as_str()
            ),
            "",
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::{Duration, SystemTime};

    use super::covers;
    use crate::cluster::{
        CertificateDetail, CloudFacts, CloudLookup, LoadBalancerDetail, Unverified,
    };
    use crate::rules::testing::{Fixture, http, rule_cases, tls};

    const EXIST_LB: &str = "kubernetes.io/ingress.existLbId";
    const LB: &str = "lb-6swt1234";
    /// The clock of every case.
    const NOW: u64 = 1_800_000_000;

    fn days(n: i64) -> SystemTime {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        let step = Duration::from_secs(n.unsigned_abs() * 86_400);
        if n < 0 { now - step } else { now + step }
    }

    fn server(domains: &[&str], end: SystemTime) -> CloudLookup<CertificateDetail> {
        CloudLookup::Found(CertificateDetail {
            certificate_type: "SVR".into(),
            status: Some(1),
            not_after: Some(end),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        })
    }

    fn good() -> CloudLookup<CertificateDetail> {
        server(&["www.example.com"], days(365))
    }

    fn base(facts: &mut CloudFacts) {
        facts.now = days(0);
        facts.expiry_warning_days = 30;
        facts.region = "ap-guangzhou".into();
        facts.vpc_id = Some("vpc-home1234".into());
    }

    /// `tls()` (Secret `cert`, id TKPmsWb3, host www.example.com) with the cloud's answer.
    fn cert(answer: CloudLookup<CertificateDetail>) -> Fixture {
        tls().with_cloud(|f| {
            base(f);
            f.certificates.insert("TKPmsWb3".into(), answer);
        })
    }

    /// `tls()` with the dual-algorithm Secret; the first id good, the second as given.
    fn dual(second: CloudLookup<CertificateDetail>) -> Fixture {
        tls()
            .set("/spec/tls/0/secretName", serde_json::json!("dual"))
            .with_cloud(|f| {
                base(f);
                f.certificates.insert("XczRzegn".into(), good());
                f.certificates.insert("YCOLTUdr".into(), second);
            })
    }

    fn lb(answer: CloudLookup<LoadBalancerDetail>) -> Fixture {
        http().annotate(EXIST_LB, LB).with_cloud(|f| {
            base(f);
            f.load_balancers.insert(LB.into(), answer);
        })
    }

    fn clb(vpc: &str, forward: i64) -> CloudLookup<LoadBalancerDetail> {
        CloudLookup::Found(LoadBalancerDetail {
            vpc_id: vpc.into(),
            forward,
        })
    }

    fn with_type(kind: &str) -> CloudLookup<CertificateDetail> {
        let CloudLookup::Found(mut detail) = good() else {
            unreachable!()
        };
        detail.certificate_type = kind.into();
        CloudLookup::Found(detail)
    }

    fn with_status(status: i64) -> CloudLookup<CertificateDetail> {
        let CloudLookup::Found(mut detail) = good() else {
            unreachable!()
        };
        detail.status = Some(status);
        CloudLookup::Found(detail)
    }

    rule_cases! {
        not_found: CLOUD_CERTIFICATE_NOT_FOUND {
            fires missing: cert(CloudLookup::NotFound) => "spec.tls[0].secretName";
            fires second_of_two_missing: dual(CloudLookup::NotFound) => "spec.tls[0].secretName";
            clean found: cert(good());
            clean cloud_checks_off: tls();
            clean unverified_is_not_missing: cert(CloudLookup::Unverified(Unverified::Auth));
        }
        not_server: CLOUD_CERTIFICATE_NOT_SERVER {
            fires client_ca: cert(with_type("CA")) => "spec.tls[0].secretName";
            fires second_of_two_a_ca: dual(with_type("CA"));
            clean server: cert(good());
        }
        expired: CLOUD_CERTIFICATE_EXPIRED {
            fires ended_yesterday: cert(server(&["www.example.com"], days(-1))) => "spec.tls[0].secretName";
            fires status_expired: cert(with_status(3));
            fires second_of_two_expired: dual(server(&["www.example.com"], days(-1)));
            clean valid: cert(good());
        }
        expiring: CLOUD_CERTIFICATE_EXPIRING {
            fires ten_days_left: cert(server(&["www.example.com"], days(10))) => "spec.tls[0].secretName";
            clean sixty_days_left: cert(server(&["www.example.com"], days(60)));
            clean already_expired: cert(server(&["www.example.com"], days(-1)));
            clean window_off: cert(server(&["www.example.com"], days(10)))
                .with_cloud(|f| f.expiry_warning_days = 0);
        }
        hosts: CLOUD_CERTIFICATE_HOSTS {
            fires other_host: cert(server(&["shop.example.com"], days(365))) => "spec.tls[0].secretName";
            fires wildcard_is_one_label: cert(server(&["*.example.com"], days(365)))
                .host("a.www.example.com")
                .set("/spec/tls/0/hosts", serde_json::json!(["a.www.example.com"]));
            fires default_certificate_misses_a_rule_host: cert(server(&["shop.example.com"], days(365)))
                .remove("/spec/tls/0/hosts");
            clean exact: cert(good());
            clean wildcard: cert(server(&["*.example.com"], days(365)));
            clean listed_in_upper_case: cert(server(&["shop.example.com", "WWW.example.com"], days(365)));
        }
        lb_not_found: CLOUD_EXIST_LB_NOT_FOUND {
            fires missing: lb(CloudLookup::NotFound) => "metadata.annotations[kubernetes.io/ingress.existLbId]";
            clean found: lb(clb("vpc-home1234", 1));
            clean unverified: lb(CloudLookup::Unverified(Unverified::Timeout));
        }
        lb_other_vpc: CLOUD_EXIST_LB_OTHER_VPC {
            fires other_vpc: lb(clb("vpc-else1234", 1)) => "metadata.annotations[kubernetes.io/ingress.existLbId]";
            clean same_vpc: lb(clb("vpc-home1234", 1));
            clean vpc_not_configured: lb(clb("vpc-else1234", 1)).with_cloud(|f| f.vpc_id = None);
        }
        lb_classic: CLOUD_EXIST_LB_CLASSIC {
            fires classic: lb(clb("", 0)) => "metadata.annotations[kubernetes.io/ingress.existLbId]";
            clean application: lb(clb("vpc-home1234", 1));
        }
        not_verified: CLOUD_NOT_VERIFIED {
            fires certificate_timed_out: cert(CloudLookup::Unverified(Unverified::Timeout)) => "spec.tls[0].secretName";
            fires clb_auth_error: lb(CloudLookup::Unverified(Unverified::Auth));
            clean answered: cert(good());
            clean cloud_checks_off: tls();
        }
    }

    #[test]
    fn tls_wildcards_match_exactly_one_label() {
        assert!(covers("www.example.com", "WWW.example.com"));
        assert!(covers("*.example.com", "www.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "*.example.com.cn"));
        assert!(covers("*.example.com", "*.example.com"));
    }

    #[test]
    fn an_unverified_cloud_never_denies() {
        let decision = cert(CloudLookup::Unverified(Unverified::Auth))
            .annotate(EXIST_LB, LB)
            .with_cloud(|f| {
                f.load_balancers
                    .insert(LB.into(), CloudLookup::Unverified(Unverified::Timeout));
            })
            .decide();
        assert!(decision.allowed(), "{:?}", decision.findings);
        assert_eq!(decision.findings.len(), 2, "{:?}", decision.findings);
    }

    #[test]
    fn a_missing_certificate_denies_with_its_tke_code() {
        let decision = cert(CloudLookup::NotFound).decide();
        assert!(!decision.allowed());
        assert_eq!(decision.findings[0].tke_code, Some("E4036/E4012"));
    }
}
