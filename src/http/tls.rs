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
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert_path.to_owned(),
            message: format!("bad PEM certificate: {e}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert_path.to_owned(),
            message: "no CERTIFICATE block".into(),
        });
    }
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

/// TLS 1.2 and 1.3, ring only, ALPN `http/1.1`, certificate from the resolver.
pub fn server_config(resolver: Arc<CertResolver>) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
        let certified = certified_key_from_pem(&cert, &key, &cert_path, &key_path)?;
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
        let outcome = match certified_key_from_pem(&cert, &key, &self.cert_path, &self.key_path) {
            Ok(certified) => {
                self.resolver.replace(certified);
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
