//! `dev-certs`: a development CA and a serving certificate signed by it (never for production).
//!
//! The serving certificate carries the SANs the API server dials (`<service>.<namespace>.svc`,
//! also `.svc.cluster.local`) plus `localhost` and `127.0.0.1` for local runs. Files: `ca.crt`,
//! `ca.key`, `tls.crt`, `tls.key` (keys readable by the owner only).

use std::io::Write;
use std::path::{Path, PathBuf};

pub mod authority;
pub mod rotation;
pub mod self_managed;

pub use authority::Authority;

/// The four file names, in the order they are written.
pub const FILES: [&str; 4] = ["ca.crt", "ca.key", "tls.crt", "tls.key"];

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{dir}: only some of ca.crt, ca.key, tls.crt, tls.key exist; remove them or run without --keep-existing"
    )]
    Partial { dir: PathBuf },
}

/// A CA and a serving pair, all PEM.
#[derive(Clone)]
pub struct DevCerts {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for DevCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCerts").finish_non_exhaustive()
    }
}

/// The DNS names the serving certificate is for.
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        format!("{service}.{namespace}"),
        service.to_owned(),
        "localhost".to_owned(),
    ]
}

/// A development CA that can issue serving certificates (rotation keeps the CA, as
/// cert-manager does, so clients trusting it keep working). The same [`Authority`] the
/// self-managed mode keeps in its CA Secret.
pub type DevCa = Authority;

/// A fresh CA, and a serving certificate it signed for `names` plus `127.0.0.1`.
pub fn generate_for(names: &[String]) -> Result<DevCerts, CertsError> {
    let ca = Authority::new()?;
    let (cert_pem, key_pem) = ca.issue(names)?;
    Ok(DevCerts {
        ca_cert_pem: ca.cert_pem.clone(),
        ca_key_pem: ca.key_pem(),
        cert_pem,
        key_pem,
    })
}

/// [`generate_for`] the Service's names.
pub fn generate(service: &str, namespace: &str) -> Result<DevCerts, CertsError> {
    generate_for(&dns_names(service, namespace))
}

/// What [`write()`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    KeptExisting,
}

/// Writes a new set into `dir`, or with `keep_existing` keeps a complete existing set.
pub fn write(
    dir: &Path,
    service: &str,
    namespace: &str,
    keep_existing: bool,
) -> Result<Written, CertsError> {
    let present = FILES.iter().filter(|f| dir.join(f).exists()).count();
    if keep_existing {
        if present == FILES.len() {
            return Ok(Written::KeptExisting);
        }
        if present > 0 {
            return Err(CertsError::Partial {
                dir: dir.to_owned(),
            });
        }
    }
    let certs = generate(service, namespace)?;
    std::fs::create_dir_all(dir).map_err(|e| CertsError::Io {
        path: dir.to_owned(),
        message: e.to_string(),
    })?;
    let contents = [
        (&certs.ca_cert_pem, false),
        (&certs.ca_key_pem, true),
        (&certs.cert_pem, false),
        (&certs.key_pem, true),
    ];
    for (name, (text, secret)) in FILES.iter().zip(contents) {
        write_file(&dir.join(name), text.as_bytes(), secret)?;
    }
    Ok(Written::Created)
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), CertsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| CertsError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    };
    // Replace atomically, so a running server never reads half a file.
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_four_files_and_keeps_them_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("certs");
        assert_eq!(write(&out, "svc", "ns", true).unwrap(), Written::Created);
        let first = std::fs::read(out.join("tls.crt")).unwrap();
        for f in FILES {
            assert!(out.join(f).exists(), "{f}");
        }
        let mode = std::fs::metadata(out.join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");

        assert_eq!(
            write(&out, "svc", "ns", true).unwrap(),
            Written::KeptExisting
        );
        assert_eq!(std::fs::read(out.join("tls.crt")).unwrap(), first);

        assert_eq!(write(&out, "svc", "ns", false).unwrap(), Written::Created);
        assert_ne!(std::fs::read(out.join("tls.crt")).unwrap(), first);

        std::fs::remove_file(out.join("ca.key")).unwrap();
        assert!(matches!(
            write(&out, "svc", "ns", true),
            Err(CertsError::Partial { .. })
        ));
    }

    #[test]
    fn serving_pair_loads_and_names_the_service() {
        let certs = generate("webhook", "infra").unwrap();
        let loaded = crate::http::tls::certified_key_from_pem(
            certs.cert_pem.as_bytes(),
            certs.key_pem.as_bytes(),
            Path::new("tls.crt"),
            Path::new("tls.key"),
        );
        assert!(loaded.is_ok(), "{loaded:?}");
        assert!(dns_names("webhook", "infra").contains(&"webhook.infra.svc".to_owned()));
        assert!(!format!("{certs:?}").contains("PRIVATE"));
    }
}
