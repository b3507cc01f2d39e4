//! A small client for the two read-only Tencent Cloud API 3.0 actions the cloud rules need, with
//! a cache per id and a deadline per review.
//!
//! - SSL Certificates `DescribeCertificateDetail`, version 2019-12-05, host
//!   `ssl.tencentcloudapi.com` (<https://www.tencentcloud.com/document/api/1007/36587>):
//!   `CertificateId` in; `CertificateType` (`SVR`/`CA`), `Status`, `CertEndTime`, `Domain`,
//!   `SubjectAltName` out.
//! - CLB `DescribeLoadBalancers`, version 2018-03-17, host `clb.tencentcloudapi.com`
//!   (<https://www.tencentcloud.com/document/api/214/33830>): `LoadBalancerIds` in;
//!   `LoadBalancerSet[]` with `LoadBalancerId`, `Forward` (1 application, 0 classic) and `VpcId`
//!   out. The action is regional (`X-TC-Region`): a CLB of another region is not in the set.
//!
//! Every request is `POST /` with a JSON body, the common headers `X-TC-Action`,
//! `X-TC-Version`, `X-TC-Timestamp`, `X-TC-Region` and a TC3-HMAC-SHA256 `Authorization`
//! ("Common Params", <https://www.tencentcloud.com/document/api/1007/36573>). Errors come back
//! with HTTP 200 as `Response.Error.Code` ("Responses"): `AuthFailure.*` and
//! `UnauthorizedOperation*` are auth errors, `ResourceNotFound.*` and
//! `FailedOperation.CertificateNotFound` mean the id does not exist.
//!
//! Nothing here writes: these are the only two actions it can send (`Action`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::sign::{self, Credentials, Signing};
use crate::cluster::{CertificateDetail, CloudFacts, CloudLookup, LoadBalancerDetail, Unverified};

/// The two actions this client can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    DescribeCertificateDetail,
    DescribeLoadBalancers,
}

impl Action {
    pub const ALL: [Self; 2] = [Self::DescribeCertificateDetail, Self::DescribeLoadBalancers];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DescribeCertificateDetail => "DescribeCertificateDetail",
            Self::DescribeLoadBalancers => "DescribeLoadBalancers",
        }
    }

    /// The service (first label of the host, and of the signature's scope).
    pub fn service(self) -> &'static str {
        match self {
            Self::DescribeCertificateDetail => "ssl",
            Self::DescribeLoadBalancers => "clb",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Self::DescribeCertificateDetail => "2019-12-05",
            Self::DescribeLoadBalancers => "2018-03-17",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a call ended, for the metrics (`action`, `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Found,
    NotFound,
    AuthError,
    Error,
    Timeout,
}

impl Outcome {
    pub const ALL: [Self; 5] = [
        Self::Found,
        Self::NotFound,
        Self::AuthError,
        Self::Error,
        Self::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Found => "found",
            Self::NotFound => "not_found",
            Self::AuthError => "auth_error",
            Self::Error => "error",
            Self::Timeout => "timeout",
        }
    }

    fn of<T>(lookup: &CloudLookup<T>) -> Self {
        match lookup {
            CloudLookup::Found(_) => Self::Found,
            CloudLookup::NotFound => Self::NotFound,
            CloudLookup::Unverified(Unverified::Auth) => Self::AuthError,
            CloudLookup::Unverified(Unverified::Timeout) => Self::Timeout,
            CloudLookup::Unverified(Unverified::Error) => Self::Error,
        }
    }
}

/// Where and as whom the client asks.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    pub credentials: Credentials,
    /// `X-TC-Region`, e.g. `ap-guangzhou`: the cluster's region.
    pub region: String,
    /// The VPC an `existLbId` must be in, when known.
    pub vpc_id: Option<String>,
    /// `None`: `https://<service>.tencentcloudapi.com`. Set, every action goes to this base URL
    /// (a private endpoint, or a test's stand-in), with its host as `Host`.
    pub endpoint: Option<String>,
    /// Longest a review waits for the cloud, within its own deadline.
    pub budget: Duration,
    /// Warn this many days or fewer before a certificate's end.
    pub expiry_warning_days: u32,
    /// How long an answer is kept, and a not-found answer.
    pub ttl: Duration,
    pub negative_ttl: Duration,
}

/// Answers kept at most (ids across all reviews).
const CACHE_ENTRIES: usize = 4096;
/// At most this many calls to Tencent Cloud at once, across all reviews: `existLbId` comes from
/// the request, so a caller posting reviews with made-up ids must not spend the account's API
/// rate limit (which TKE's own controller shares). A call that finds no room by its deadline is
/// "not verified", like a slow answer.
const MAX_CALLS_IN_FLIGHT: usize = 8;
/// At most one "not verified" log line per this long.
const LOG_EVERY: Duration = Duration::from_secs(60);

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Counts of calls by action and outcome, and cache hits.
#[derive(Debug, Default)]
pub struct CloudStats {
    calls: [[AtomicU64; 5]; 2],
    cache_hits: AtomicU64,
}

impl CloudStats {
    /// API calls of `action` that ended with `outcome`.
    pub fn calls(&self, action: Action, outcome: Outcome) -> u64 {
        self.calls[action.index()][outcome as usize].load(Ordering::Relaxed)
    }

    /// Look-ups answered from the cache.
    pub fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Ordering::Relaxed)
    }

    fn count(&self, action: Action, outcome: Outcome) {
        self.calls[action.index()][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
enum Cached {
    Certificate(CloudLookup<CertificateDetail>),
    LoadBalancer(CloudLookup<LoadBalancerDetail>),
}

/// The client: one per process, shared by every review.
pub struct CloudClient {
    http: Client<Https, Full<Bytes>>,
    config: CloudConfig,
    cache: Mutex<HashMap<(Action, String), (Instant, Cached)>>,
    stats: Arc<CloudStats>,
    last_log: Mutex<Option<Instant>>,
    in_flight: tokio::sync::Semaphore,
}

impl std::fmt::Debug for CloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudClient")
            .field("region", &self.config.region)
            .field("endpoint", &self.config.endpoint)
            .finish_non_exhaustive()
    }
}

impl CloudClient {
    /// A client trusting `tls`'s roots, or the system's when `None`. TLS 1.2 and 1.3 only.
    pub fn new(config: CloudConfig, tls: Option<rustls::ClientConfig>) -> std::io::Result<Self> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let https = match tls {
            Some(tls) => builder.with_tls_config(tls),
            None => builder.with_native_roots()?,
        }
        .https_only()
        .enable_http1()
        .build();
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(https),
            config,
            cache: Mutex::new(HashMap::new()),
            stats: Arc::new(CloudStats::default()),
            last_log: Mutex::new(None),
            in_flight: tokio::sync::Semaphore::new(MAX_CALLS_IN_FLIGHT),
        })
    }

    /// The counters the metrics read.
    pub fn stats(&self) -> Arc<CloudStats> {
        Arc::clone(&self.stats)
    }

    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    /// What the cloud says of `certificates` and `load_balancers`, each asked at once (or read
    /// from the cache), by the sooner of `deadline` and the cloud budget from now. An id with
    /// no answer by then is [`Unverified::Timeout`].
    pub async fn facts(
        &self,
        certificates: &[String],
        load_balancers: &[String],
        deadline: Instant,
    ) -> CloudFacts {
        let deadline = deadline.min(Instant::now() + self.config.budget);
        let certs = certificates
            .iter()
            .map(|id| async move { (id.clone(), self.certificate(id, deadline).await) });
        let lbs = load_balancers
            .iter()
            .map(|id| async move { (id.clone(), self.load_balancer(id, deadline).await) });
        let (certs, lbs) = futures::future::join(
            futures::future::join_all(certs),
            futures::future::join_all(lbs),
        )
        .await;
        let facts = CloudFacts {
            certificates: certs.into_iter().collect(),
            load_balancers: lbs.into_iter().collect(),
            vpc_id: self.config.vpc_id.clone(),
            region: self.config.region.clone(),
            now: SystemTime::now(),
            expiry_warning_days: self.config.expiry_warning_days,
        };
        self.log_unverified(&facts);
        facts
    }

    /// One certificate, from the cache or the API.
    pub async fn certificate(&self, id: &str, deadline: Instant) -> CloudLookup<CertificateDetail> {
        let action = Action::DescribeCertificateDetail;
        if let Some(Cached::Certificate(hit)) = self.cached(action, id) {
            return hit;
        }
        let body = serde_json::json!({ "CertificateId": id });
        let lookup = match self.call(action, &body, deadline).await {
            Ok(response) => parse_certificate(&response),
            Err(why) => CloudLookup::Unverified(why),
        };
        self.stats.count(action, Outcome::of(&lookup));
        self.keep(action, id, Cached::Certificate(lookup.clone()), &lookup);
        lookup
    }

    /// One CLB, from the cache or the API.
    pub async fn load_balancer(
        &self,
        id: &str,
        deadline: Instant,
    ) -> CloudLookup<LoadBalancerDetail> {
        let action = Action::DescribeLoadBalancers;
        if let Some(Cached::LoadBalancer(hit)) = self.cached(action, id) {
            return hit;
        }
        let body = serde_json::json!({ "LoadBalancerIds": [id] });
        let lookup = match self.call(action, &body, deadline).await {
            Ok(response) => parse_load_balancer(&response, id),
            Err(why) => CloudLookup::Unverified(why),
        };
        self.stats.count(action, Outcome::of(&lookup));
        self.keep(action, id, Cached::LoadBalancer(lookup.clone()), &lookup);
        lookup
    }

    fn cached(&self, action: Action, id: &str) -> Option<Cached> {
        let cache = self.cache.lock().ok()?;
        let (expires, value) = cache.get(&(action, id.to_owned()))?;
        if *expires <= Instant::now() {
            return None;
        }
        self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(value.clone())
    }

    /// Keeps an answer (found: `ttl`, not found: `negative_ttl`); "not verified" is never kept,
    /// so the next review asks again.
    fn keep<T>(&self, action: Action, id: &str, value: Cached, lookup: &CloudLookup<T>) {
        let ttl = match lookup {
            CloudLookup::Found(_) => self.config.ttl,
            CloudLookup::NotFound => self.config.negative_ttl,
            CloudLookup::Unverified(_) => return,
        };
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        let now = Instant::now();
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (expires, _)| *expires > now);
        }
        if cache.len() < CACHE_ENTRIES {
            cache.insert((action, id.to_owned()), (now + ttl, value));
        }
    }
}

impl CloudClient {
    /// The base URL and `Host` of `action`.
    fn target(&self, action: Action) -> Option<(hyper::Uri, String)> {
        let url = match &self.config.endpoint {
            Some(base) => base.clone(),
            None => format!("https://{}.tencentcloudapi.com/", action.service()),
        };
        let uri: hyper::Uri = url.parse().ok()?;
        let host = uri.authority()?.as_str().to_owned();
        Some((uri, host))
    }

    /// Sends `action` with `body`, signed, and returns `Response` when it carries no `Error`.
    async fn call(
        &self,
        action: Action,
        body: &Value,
        deadline: Instant,
    ) -> Result<Value, Unverified> {
        let (uri, host) = self.target(action).ok_or(Unverified::Error)?;
        let payload = serde_json::to_vec(body).map_err(|_| Unverified::Error)?;
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let authorization = sign::authorization(
            &self.config.credentials,
            &Signing {
                service: action.service(),
                host: &host,
                timestamp,
                payload: &payload,
            },
        );
        let request = hyper::Request::post(uri)
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, sign::CONTENT_TYPE)
            .header(hyper::header::AUTHORIZATION, authorization)
            .header("X-TC-Action", action.as_str())
            .header("X-TC-Version", action.version())
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.config.region)
            .body(Full::new(Bytes::from(payload)))
            .map_err(|_| Unverified::Error)?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|_| Unverified::Error)?;
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|_| Unverified::Error)?;
            Ok::<_, Unverified>(body.to_bytes())
        };
        let bytes = tokio::time::timeout_at(deadline.into(), async {
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| Unverified::Error)?;
            exchange.await
        })
        .await
        .map_err(|_| Unverified::Timeout)??;
        read_response(&bytes)
    }

    /// One warning line for unverified ids, at most once a minute, with counts only.
    fn log_unverified(&self, facts: &CloudFacts) {
        let reasons: Vec<&str> = facts
            .certificates
            .values()
            .filter_map(unverified)
            .chain(facts.load_balancers.values().filter_map(unverified))
            .map(Unverified::as_str)
            .collect();
        let Some(first) = reasons.first() else {
            return;
        };
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
            return;
        }
        *last = Some(now);
        tracing::warn!(
            unverified = reasons.len(),
            reason = first,
            "Tencent Cloud did not verify some certificates or CLBs; reviews allowed them with a warning"
        );
    }
}

fn unverified<T>(lookup: &CloudLookup<T>) -> Option<Unverified> {
    match lookup {
        CloudLookup::Unverified(why) => Some(*why),
        _ => None,
    }
}

/// `Response` of an API answer, or why it is not an answer: an auth error code, another error
/// code, or not the documented shape.
fn read_response(bytes: &[u8]) -> Result<Value, Unverified> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|_| Unverified::Error)?;
    let response = value
        .get_mut("Response")
        .map(Value::take)
        .ok_or(Unverified::Error)?;
    Ok(response)
}

/// The error code of a `Response`, when it has one.
fn error_code(response: &Value) -> Option<&str> {
    response.pointer("/Error/Code").and_then(Value::as_str)
}

fn is_auth_error(code: &str) -> bool {
    code.starts_with("AuthFailure") || code.starts_with("UnauthorizedOperation")
}

fn failed<T>(code: &str) -> CloudLookup<T> {
    if is_auth_error(code) {
        CloudLookup::Unverified(Unverified::Auth)
    } else if code.starts_with("ResourceNotFound") || code == "FailedOperation.CertificateNotFound"
    {
        CloudLookup::NotFound
    } else {
        CloudLookup::Unverified(Unverified::Error)
    }
}

fn parse_certificate(response: &Value) -> CloudLookup<CertificateDetail> {
    if let Some(code) = error_code(response) {
        return failed(code);
    }
    let Some(certificate_type) = response.get("CertificateType").and_then(Value::as_str) else {
        return CloudLookup::Unverified(Unverified::Error);
    };
    let mut domains: Vec<String> = Vec::new();
    let named = response.get("Domain").and_then(Value::as_str).into_iter();
    let alt = response
        .get("SubjectAltName")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for domain in named.chain(alt) {
        let domain = domain.trim().to_ascii_lowercase();
        if !domain.is_empty() && !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    CloudLookup::Found(CertificateDetail {
        certificate_type: certificate_type.to_owned(),
        status: response.get("Status").and_then(Value::as_i64),
        not_after: response
            .get("CertEndTime")
            .and_then(Value::as_str)
            .and_then(beijing_time),
        domains,
    })
}

fn parse_load_balancer(response: &Value, id: &str) -> CloudLookup<LoadBalancerDetail> {
    if let Some(code) = error_code(response) {
        return failed(code);
    }
    let Some(set) = response.get("LoadBalancerSet").and_then(Value::as_array) else {
        return CloudLookup::Unverified(Unverified::Error);
    };
    let Some(found) = set
        .iter()
        .find(|lb| lb.get("LoadBalancerId").and_then(Value::as_str) == Some(id))
    else {
        return CloudLookup::NotFound;
    };
    CloudLookup::Found(LoadBalancerDetail {
        vpc_id: found
            .get("VpcId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        forward: found.get("Forward").and_then(Value::as_i64).unwrap_or(1),
    })
}

/// `CertEndTime` ("2026-12-31 23:59:59"): the API's times carry no zone; they are Beijing time
/// (UTC+8), as the console shows them [inferred]. An hour either way does not change a verdict
/// counted in days.
pub fn beijing_time(text: &str) -> Option<SystemTime> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut date = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let mut time = time.split(':').map(str::parse::<i64>);
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - 8 * 3600;
    let seconds = u64::try_from(seconds).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cert_end_time_is_read_as_beijing_time() {
        let end = beijing_time("2019-02-26 08:44:25").unwrap();
        assert_eq!(
            end,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_551_141_865)
        );
        assert_eq!(
            beijing_time("1970-01-01 08:00:00"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(beijing_time("2019-13-01 00:00:00"), None);
        assert_eq!(beijing_time("soon"), None);
    }

    #[test]
    fn error_codes_sort_into_not_found_auth_and_other() {
        let code = |c: &str| json!({"Error": {"Code": c, "Message": "m"}, "RequestId": "r"});
        assert_eq!(
            parse_certificate(&code("FailedOperation.CertificateNotFound")),
            CloudLookup::NotFound
        );
        assert_eq!(
            parse_certificate(&code("ResourceNotFound")),
            CloudLookup::NotFound
        );
        assert_eq!(
            parse_certificate(&code("AuthFailure.SignatureFailure")),
            CloudLookup::Unverified(Unverified::Auth)
        );
        assert_eq!(
            parse_load_balancer(&code("UnauthorizedOperation"), "lb-1"),
            CloudLookup::Unverified(Unverified::Auth)
        );
        assert_eq!(
            parse_load_balancer(&code("InternalError"), "lb-1"),
            CloudLookup::Unverified(Unverified::Error)
        );
    }

    #[test]
    fn a_clb_missing_from_the_set_is_not_found() {
        let empty = json!({"TotalCount": 0, "LoadBalancerSet": [], "RequestId": "r"});
        assert_eq!(parse_load_balancer(&empty, "lb-1"), CloudLookup::NotFound);
        let one = json!({"TotalCount": 1, "RequestId": "r", "LoadBalancerSet": [
            {"LoadBalancerId": "lb-1", "Forward": 0, "VpcId": "vpc-a"}]});
        assert_eq!(
            parse_load_balancer(&one, "lb-1"),
            CloudLookup::Found(LoadBalancerDetail {
                vpc_id: "vpc-a".into(),
                forward: 0
            })
        );
    }

    #[test]
    fn a_certificate_lists_its_domains_once_in_lowercase() {
        let detail = json!({"CertificateType": "SVR", "Status": 1, "Domain": "Shop.example.com",
            "SubjectAltName": ["shop.example.com", "*.example.com"],
            "CertEndTime": "2027-01-01 08:00:00", "RequestId": "r"});
        let CloudLookup::Found(found) = parse_certificate(&detail) else {
            panic!("not found");
        };
        assert_eq!(found.domains, ["shop.example.com", "*.example.com"]);
        assert_eq!(found.status, Some(1));
        assert!(found.not_after.is_some());
    }
}
