//! Serving certificate: a [`ResolvesServerCert`] that hands out the current pair from an
//! [`ArcSwap`], and a reloader that re-reads the PEM files and swaps in a new pair only when it
//! parses completely and the key matches.
//!
//! The reloader polls the file *contents* through their paths (never watches the files), so it
//! follows the kubelet's atomic `..data` symlink swap: new connections get the new certificate,
//! connections already established keep the one they negotiated.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::metrics::Metrics;

/// Why a certificate/key pair could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("certificate and key do not form a usable pair: {0}")]
    Pair(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The one crypto provider of this program: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-wide rustls provider. Errors if another one is installed.
pub fn install_crypto_provider() -> Result<(), TlsError> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| TlsError::Config("a rustls crypto provider was already installed".into()))
}

/// Parses a PEM chain (leaf first, any intermediates after) and exactly one private key.
pub fn certified_key_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let chain = pem_certificates(cert_pem, cert_path)?;
    let mut keys = PrivateKeyDer::pem_slice_iter(key_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: key_path.to_owned(),
            message: format!("bad PEM private key: {e}"),
        })?;
    let key = match (keys.pop(), keys.is_empty()) {
        (Some(key), true) => key,
        (None, _) => {
            return Err(TlsError::Pem {
                path: key_path.to_owned(),
                message: "no PRIVATE KEY block".into(),
            });
        }
        (Some(_), false) => {
            return Err(TlsError::Pem {
                path: key_path.to_owned(),
                message: "more than one private key".into(),
            });
        }
    };
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Pair(e.to_string()))
}

/// The leaf certificate's notAfter, in seconds since the Unix epoch.
pub fn leaf_not_after(key: &CertifiedKey) -> Result<i64, TlsError> {
    let leaf = key
        .cert
        .first()
        .ok_or_else(|| TlsError::Pair("no certificate in the chain".into()))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| TlsError::Pair(format!("cannot read the certificate's validity: {e}")))?;
    Ok(parsed.validity().not_after.timestamp())
}

/// A pair to serve and its notAfter: a certificate whose expiry cannot be read is not served,
/// so the expiry gauge always describes what clients get.
fn servable_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<(CertifiedKey, i64), TlsError> {
    let certified = certified_key_from_pem(cert_pem, key_pem, cert_path, key_path)?;
    let not_after = leaf_not_after(&certified)?;
    Ok((certified, not_after))
}

/// Reads and parses the pair from disk.
pub fn load_certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, TlsError> {
    let (cert, key) = read_pair(cert_path, key_path)?;
    certified_key_from_pem(&cert, &key, cert_path, key_path)
}

fn read_pair(cert_path: &Path, key_path: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| TlsError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })
    };
    Ok((read(cert_path)?, read(key_path)?))
}

/// Hands every TLS handshake the current certificate.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    pub fn new(key: CertifiedKey) -> Self {
        Self {
            current: ArcSwap::from_pointee(key),
        }
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    pub fn replace(&self, key: CertifiedKey) {
        self.current.store(Arc::new(key));
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// TLS 1.2 and 1.3, ring only, ALPN `http/1.1`, certificate from the resolver. With
/// `client_cas`, a client must present a certificate signed by one of them (the API server's, as
/// its admission configuration presents it); without, anyone may connect.
pub fn server_config(
    resolver: Arc<CertResolver>,
    client_cas: Option<&[CertificateDer<'static>]>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_cas {
        None => builder.with_no_client_auth(),
        Some(cas) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in cas {
                roots
                    .add(ca.clone())
                    .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The CERTIFICATE blocks of PEM text read from `path`: at least one.
fn pem_certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            message: format!("bad PEM certificate: {e}"),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            message: "no CERTIFICATE block".into(),
        });
    }
    Ok(certificates)
}

/// The CA certificates in a PEM file (`--client-ca`): at least one.
pub fn load_client_cas(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    pem_certificates(&pem, path)
}

/// What one reload check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The files hold what is already served (or what was already refused).
    Unchanged,
    /// A new pair is served from now on.
    Reloaded,
    /// The files changed but the new pair is unusable; the old one is kept.
    Refused(String),
}

/// Re-reads the certificate files and swaps a new, valid pair into the resolver.
#[derive(Debug)]
pub struct CertReloader {
    resolver: Arc<CertResolver>,
    cert_path: PathBuf,
    key_path: PathBuf,
    /// Bytes of the last pair looked at (served or refused), so a change is handled once.
    last_seen: Mutex<(Vec<u8>, Vec<u8>)>,
    metrics: Arc<Metrics>,
}

impl CertReloader {
    /// Loads the first pair; failing here fails start-up.
    pub fn load(
        cert_path: PathBuf,
        key_path: PathBuf,
        metrics: Arc<Metrics>,
    ) -> Result<Self, TlsError> {
        let (cert, key) = read_pair(&cert_path, &key_path)?;
        let (certified, not_after) = servable_pair(&cert, &key, &cert_path, &key_path)?;
        metrics.cert_served_until(not_after);
        Ok(Self {
            resolver: Arc::new(CertResolver::new(certified)),
            cert_path,
            key_path,
            last_seen: Mutex::new((cert, key)),
            metrics,
        })
    }

    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// Checks the files once.
    pub fn check(&self) -> ReloadOutcome {
        let (cert, key) = match read_pair(&self.cert_path, &self.key_path) {
            Ok(pair) => pair,
            // Mid-swap reads can fail for a moment; the next check sees the settled files.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the serving certificate; keeping the old one");
                return ReloadOutcome::Refused(e.to_string());
            }
        };
        let Ok(mut last) = self.last_seen.lock() else {
            return ReloadOutcome::Unchanged;
        };
        if last.0 == cert && last.1 == key {
            return ReloadOutcome::Unchanged;
        }
        let outcome = match servable_pair(&cert, &key, &self.cert_path, &self.key_path) {
            Ok((certified, not_after)) => {
                self.resolver.replace(certified);
                self.metrics.cert_served_until(not_after);
                self.metrics.cert_reloaded();
                tracing::info!(cert = %self.cert_path.display(), "serving certificate reloaded");
                ReloadOutcome::Reloaded
            }
            Err(e) => {
                self.metrics.cert_reload_failed();
                tracing::error!(error = %e, "new serving certificate refused; keeping the old one");
                ReloadOutcome::Refused(e.to_string())
            }
        };
        *last = (cert, key);
        outcome
    }

    /// Checks every `interval` until the task is dropped.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let this = self.clone();
            // File reads and parsing are blocking work.
            let _ = tokio::task::spawn_blocking(move || this.check()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair valid until midnight UTC of the given day (PEM cert, PEM key).
    fn pair_expiring(year: i32, month: u8, day: u8) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, month, day);
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    fn expiry_line(metrics: &Metrics) -> String {
        let text = metrics.encode();
        text.lines()
            .find(|l| l.starts_with("qcloud_ingress_webhook_tls_cert_expiry_timestamp_seconds "))
            .unwrap_or_else(|| panic!("no expiry gauge in\n{text}"))
            .to_owned()
    }

    #[test]
    fn expiry_gauge_follows_the_served_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let write = |(cert, key): (String, String)| {
            std::fs::write(&cert_path, cert).unwrap();
            std::fs::write(&key_path, key).unwrap();
        };
        let metrics = Arc::new(Metrics::new());

        write(pair_expiring(2031, 1, 2));
        let reloader = CertReloader::load(cert_path.clone(), key_path.clone(), metrics.clone())
            .expect("first pair loads");
        // 2031-01-02T00:00:00Z
        assert!(expiry_line(&metrics).ends_with(" 1925078400"));

        write(pair_expiring(2032, 6, 30));
        assert_eq!(reloader.check(), ReloadOutcome::Reloaded);
        // 2032-06-30T00:00:00Z
        assert!(expiry_line(&metrics).ends_with(" 1972166400"));

        // A refused pair leaves the gauge on the certificate still served.
        std::fs::write(&cert_path, "not a certificate").unwrap();
        assert!(matches!(reloader.check(), ReloadOutcome::Refused(_)));
        assert!(expiry_line(&metrics).ends_with(" 1972166400"));
    }
}
