//! A certificate authority held in memory: generated, or read back from PEM (the self-managed
//! CA Secret), and the serving certificates it signs. Pure: no I/O, no clock of its own (callers
//! pass `now`), so every behaviour is one unit test away.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData as _,
};

use super::CertsError;

/// A CA that can issue serving certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// notAfter of the CA certificate, seconds since the Unix epoch.
    not_after: i64,
}

impl std::fmt::Debug for Authority {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// `now + validity` as rcgen's date, or an error when it does not fit.
fn at(now: i64, offset: Duration, ahead: bool) -> Result<time::OffsetDateTime, CertsError> {
    let offset = i64::try_from(offset.as_secs()).unwrap_or(i64::MAX);
    let seconds = if ahead {
        now.saturating_add(offset)
    } else {
        now.saturating_sub(offset)
    };
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|e| CertsError::Invalid(format!("validity out of range: {e}")))
}

/// A certificate may be used from this long before it is made (clocks of the replicas and the
/// API server differ).
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

impl Authority {
    /// A development CA valid until rcgen's default far future (`dev-certs`).
    pub fn new() -> Result<Self, CertsError> {
        let key = KeyPair::generate()?;
        Self::self_signed(ca_params()?, key)
    }

    /// A CA valid from `now` (less an hour of clock skew) for `validity`.
    pub fn generate(now: i64, validity: Duration) -> Result<Self, CertsError> {
        let mut params = ca_params()?;
        params.not_before = at(now, CLOCK_SKEW, false)?;
        params.not_after = at(now, validity, true)?;
        Self::self_signed(params, KeyPair::generate()?)
    }

    fn self_signed(params: CertificateParams, key: KeyPair) -> Result<Self, CertsError> {
        let cert = params.self_signed(&key)?;
        let not_after = not_after_of_der(cert.der())?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            not_after,
        })
    }

    /// The CA stored earlier (its certificate and key, PEM). Refuses a certificate that is not a
    /// CA or a key that is not the certificate's.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertsError> {
        let key = KeyPair::from_pem(key_pem)?;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| CertsError::Invalid(format!("ca.crt is not a PEM certificate: {e}")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| CertsError::Invalid(format!("ca.crt cannot be read: {e}")))?;
        if !parsed.is_ca() {
            return Err(CertsError::Invalid("ca.crt is not a CA certificate".into()));
        }
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(CertsError::Invalid(
                "ca.key is not the key of ca.crt".into(),
            ));
        }
        let not_after = parsed.validity().not_after.timestamp();
        let issuer = Issuer::from_ca_cert_der(&der, key)?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_owned(),
            not_after,
        })
    }

    /// The CA key, PEM: for the CA Secret only, never for a log.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// notAfter of the CA certificate, seconds since the Unix epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// A new serving pair (certificate PEM, key PEM) for `names` plus `127.0.0.1`, with rcgen's
    /// default validity (`dev-certs`).
    pub fn issue(&self, names: &[String]) -> Result<(String, String), CertsError> {
        self.sign(&serving_params(names)?)
    }

    /// A serving pair for `names` plus `127.0.0.1`, valid from `now` (less the clock skew) for
    /// `validity`, never past the CA's own notAfter.
    pub fn issue_valid_for(
        &self,
        names: &[String],
        now: i64,
        validity: Duration,
    ) -> Result<(String, String), CertsError> {
        let mut params = serving_params(names)?;
        params.not_before = at(now, CLOCK_SKEW, false)?;
        let until = at(now, validity, true)?;
        let ca_until = at(self.not_after, Duration::ZERO, true)?;
        params.not_after = until.min(ca_until);
        self.sign(&params)
    }

    fn sign(&self, params: &CertificateParams) -> Result<(String, String), CertsError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn ca_params() -> Result<CertificateParams, CertsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "qcloud-ingress-webhook CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn serving_params(names: &[String]) -> Result<CertificateParams, CertsError> {
    let mut sans = names.to_vec();
    sans.push("127.0.0.1".to_owned());
    let mut params = CertificateParams::new(sans)?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

fn not_after_of_der(der: &[u8]) -> Result<i64, CertsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertsError::Invalid(format!("cannot read a certificate's validity: {e}")))?;
    Ok(parsed.validity().not_after.timestamp())
}

/// notAfter (seconds since the Unix epoch) of the first certificate in PEM text.
pub fn not_after_of_pem(pem: &str) -> Result<i64, CertsError> {
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| CertsError::Invalid(format!("not a PEM certificate: {e}")))?;
    not_after_of_der(der.as_ref())
}

/// The certificates of a PEM bundle, each as its own PEM block text, in order; what cannot be
/// read is skipped.
pub fn bundle_certificates(bundle: &str) -> Vec<Vec<u8>> {
    rustls_pki_types::CertificateDer::pem_slice_iter(bundle.as_bytes())
        .filter_map(Result::ok)
        .map(|der| der.as_ref().to_vec())
        .collect()
}

/// Whether the PEM `bundle` holds the certificate `ca_pem` (compared as DER, so line endings and
/// comments do not matter).
pub fn bundle_holds(bundle: &str, ca_pem: &str) -> bool {
    let Ok(ca) = rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()) else {
        return false;
    };
    bundle_certificates(bundle)
        .iter()
        .any(|der| der.as_slice() == ca.as_ref())
}

use rustls_pki_types::pem::PemObject as _;

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000; // 2026-11-29

    #[test]
    fn a_stored_ca_signs_certificates_its_bundle_verifies() {
        let ca = Authority::generate(NOW, Duration::from_secs(86_400 * 365)).unwrap();
        let reread = Authority::from_pem(&ca.cert_pem, &ca.key_pem()).unwrap();
        assert_eq!(reread.not_after(), ca.not_after());
        assert_eq!(ca.not_after(), NOW + 86_400 * 365);
        let names = vec!["svc.ns.svc".to_owned()];
        let (cert, _key) = reread
            .issue_valid_for(&names, NOW, Duration::from_secs(3600))
            .unwrap();
        assert_eq!(not_after_of_pem(&cert).unwrap(), NOW + 3600);
        // The leaf verifies under the original CA certificate.
        let leaf = rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(leaf.as_ref()).unwrap();
        let root =
            rustls_pki_types::CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap();
        let (_, root) = x509_parser::parse_x509_certificate(root.as_ref()).unwrap();
        assert!(leaf.verify_signature(Some(root.public_key())).is_ok());
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }

    #[test]
    fn serving_certificates_never_outlive_their_ca() {
        let ca = Authority::generate(NOW, Duration::from_secs(600)).unwrap();
        let (cert, _) = ca
            .issue_valid_for(&["a".to_owned()], NOW, Duration::from_secs(86_400))
            .unwrap();
        assert_eq!(not_after_of_pem(&cert).unwrap(), NOW + 600);
    }

    #[test]
    fn a_mismatched_key_or_a_leaf_is_refused() {
        let one = Authority::generate(NOW, Duration::from_secs(600)).unwrap();
        let other = Authority::generate(NOW, Duration::from_secs(600)).unwrap();
        let err = Authority::from_pem(&one.cert_pem, &other.key_pem()).unwrap_err();
        assert!(err.to_string().contains("not the key"), "{err}");
        let (leaf, leaf_key) = one.issue(&["a".to_owned()]).unwrap();
        let err = Authority::from_pem(&leaf, &leaf_key).unwrap_err();
        assert!(err.to_string().contains("not a CA"), "{err}");
        assert!(Authority::from_pem("garbage", &one.key_pem()).is_err());
    }

    #[test]
    fn bundles_are_compared_by_certificate() {
        let one = Authority::generate(NOW, Duration::from_secs(600)).unwrap();
        let two = Authority::generate(NOW, Duration::from_secs(600)).unwrap();
        let both = format!("{}\r\n{}", one.cert_pem, two.cert_pem.replace('\n', "\r\n"));
        assert!(bundle_holds(&both, &one.cert_pem));
        assert!(bundle_holds(&both, &two.cert_pem));
        assert!(!bundle_holds(&one.cert_pem, &two.cert_pem));
        assert!(!bundle_holds("", &one.cert_pem));
        assert_eq!(bundle_certificates(&both).len(), 2);
    }
}
