//! The cloud checks' flags (issue 26), shared by `serve`, `check` and `audit`, and building the
//! client from them. Off unless `--cloud`: then nothing reads credentials and no client exists.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::parse_duration;
use crate::cloud::sign::{Credentials, SecretKey};
use crate::cloud::{CloudClient, CloudConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct CloudArgs {
    /// Check certificates and existLbId CLBs with Tencent Cloud's read-only APIs
    /// (docs/cloud-checks.md). Off by default: no cloud call, no credentials.
    #[arg(long)]
    pub cloud: bool,
    /// A directory holding files `SecretId` and `SecretKey` (a mounted Secret); without it the
    /// key comes from TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY.
    #[arg(long, value_name = "DIR", requires = "cloud")]
    pub cloud_credentials_dir: Option<PathBuf>,
    /// The cluster's region (CLB look-ups are regional), e.g. ap-guangzhou.
    #[arg(long, env = "TENCENTCLOUD_REGION", value_name = "REGION")]
    pub cloud_region: Option<String>,
    /// The cluster's VPC: an existLbId CLB in another VPC is reported.
    #[arg(long, value_name = "VPC_ID", requires = "cloud")]
    pub cloud_vpc_id: Option<String>,
    /// Send every call to this base URL instead of https://<service>.tencentcloudapi.com/.
    #[arg(long, value_name = "URL", requires = "cloud")]
    pub cloud_endpoint: Option<String>,
    /// Trust only the CAs in this PEM file for the cloud endpoint (default: the system's).
    #[arg(long, value_name = "PATH", requires = "cloud")]
    pub cloud_ca: Option<PathBuf>,
    /// Longest a review waits for the cloud (its own deadline also applies); ids not answered
    /// by then are reported as not verified, never denied.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub cloud_budget: Duration,
    /// Warn when a certificate ends within this many days (0: never).
    #[arg(long, default_value_t = 30)]
    pub cloud_expiry_warning_days: u32,
}

impl CloudArgs {
    /// The client, or `None` without `--cloud`.
    pub fn client(self) -> anyhow::Result<Option<Arc<CloudClient>>> {
        let Self {
            cloud,
            cloud_credentials_dir,
            cloud_region,
            cloud_vpc_id,
            cloud_endpoint,
            cloud_ca,
            cloud_budget,
            cloud_expiry_warning_days,
        } = self;
        if !cloud {
            return Ok(None);
        }
        let region = cloud_region
            .filter(|r| !r.trim().is_empty())
            .context("--cloud needs --cloud-region or TENCENTCLOUD_REGION")?;
        let config = CloudConfig {
            credentials: credentials(cloud_credentials_dir.as_deref())?,
            region,
            vpc_id: cloud_vpc_id,
            endpoint: cloud_endpoint,
            budget: cloud_budget,
            expiry_warning_days: cloud_expiry_warning_days,
            ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
        };
        let tls = cloud_ca.as_deref().map(tls_trusting).transpose()?;
        Ok(Some(Arc::new(CloudClient::new(config, tls)?)))
    }
}

/// The key from `dir`'s `SecretId` and `SecretKey` files, else from the environment. Errors
/// name the file or variable, never its content.
fn credentials(dir: Option<&Path>) -> anyhow::Result<Credentials> {
    let (secret_id, secret_key) = if let Some(dir) = dir {
        let read = |name: &str| -> anyhow::Result<String> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(text.trim().to_owned())
        };
        (read("SecretId")?, read("SecretKey")?)
    } else {
        let var = |name: &str| -> anyhow::Result<String> {
            std::env::var(name)
                .map(|v| v.trim().to_owned())
                .with_context(|| format!("--cloud needs {name} or --cloud-credentials-dir"))
        };
        (
            var("TENCENTCLOUD_SECRET_ID")?,
            var("TENCENTCLOUD_SECRET_KEY")?,
        )
    };
    anyhow::ensure!(
        !secret_id.is_empty() && !secret_key.is_empty(),
        "the cloud SecretId or SecretKey is empty"
    );
    Ok(Credentials {
        secret_id,
        secret_key: SecretKey::new(secret_key),
    })
}

/// A TLS 1.2+ client configuration trusting only the CAs in `path`.
fn tls_trusting(path: &Path) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
    {
        roots.add(cert.with_context(|| format!("bad PEM in {}", path.display()))?)?;
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}
