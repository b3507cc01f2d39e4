//! What Tencent Cloud says of the certificates and CLBs an Ingress names (issue 26): a plain
//! value the driver fills through `crate::cloud` when cloud checks are on, and the pure rules
//! read. Empty when they are off, and then no rule that reads it says anything.

use std::collections::HashMap;
use std::time::SystemTime;

/// The cloud's answers for one review, by id.
#[derive(Debug, Clone)]
pub struct CloudFacts {
    /// By SSL certificate id (one id each; the two ids of a dual-algorithm Secret separately).
    pub certificates: HashMap<String, CloudLookup<CertificateDetail>>,
    /// By CLB id (`existLbId`).
    pub load_balancers: HashMap<String, CloudLookup<LoadBalancerDetail>>,
    /// The VPC the cluster's CLBs must be in, when the operator said (`--cloud-vpc-id`).
    pub vpc_id: Option<String>,
    /// The region asked (CLB look-ups are regional).
    pub region: String,
    /// When the answers were had: the clock the expiry rules use, so they stay pure.
    pub now: SystemTime,
    /// Warn this many days or fewer before a certificate expires.
    pub expiry_warning_days: u32,
}

impl Default for CloudFacts {
    fn default() -> Self {
        Self {
            certificates: HashMap::new(),
            load_balancers: HashMap::new(),
            vpc_id: None,
            region: String::new(),
            now: SystemTime::UNIX_EPOCH,
            expiry_warning_days: 0,
        }
    }
}

impl CloudFacts {
    /// True when nothing was asked (cloud checks off, or nothing to ask about).
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty() && self.load_balancers.is_empty()
    }
}

/// One id as the cloud answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudLookup<T> {
    Found(T),
    /// The API said there is no such resource (`ResourceNotFound.*`,
    /// `FailedOperation.CertificateNotFound`, or an empty `LoadBalancerSet`).
    NotFound,
    /// Not known: the review says so in a warning and no rule reads it as a mistake.
    Unverified(Unverified),
}

/// Why an id could not be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unverified {
    /// No answer within the cloud budget.
    Timeout,
    /// `AuthFailure.*` or `UnauthorizedOperation*`: wrong or missing key, or a CAM policy that
    /// does not allow the action.
    Auth,
    /// Anything else: a connection error, another error code, an answer we cannot read.
    Error,
}

impl Unverified {
    /// The metrics label and the word in the warning.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Auth => "auth_error",
            Self::Error => "error",
        }
    }
}

/// What `DescribeCertificateDetail` (ssl, 2019-12-05) says of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateDetail {
    /// `CertificateType`: `SVR` (server) or `CA` (client CA).
    pub certificate_type: String,
    /// `Status` (1 = issued, 3 = expired, ...), when given.
    pub status: Option<i64>,
    /// `CertEndTime`, when given and readable.
    pub not_after: Option<SystemTime>,
    /// `Domain` and `SubjectAltName`, each once.
    pub domains: Vec<String>,
}

/// What `DescribeLoadBalancers` (clb, 2018-03-17) says of a CLB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerDetail {
    /// `VpcId` (empty for a classic-network CLB).
    pub vpc_id: String,
    /// `Forward`: 1 = application CLB, 0 = classic CLB.
    pub forward: i64,
}
