//! TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0 ("Signature v3",
//! <https://www.tencentcloud.com/document/product/267/37447>, the same page under every product).
//!
//! Only the form this client sends is built: `POST /` with an empty query, a JSON body and the
//! two signed headers `content-type;host`. HMAC-SHA256 and SHA-256 come from `ring`, already the
//! crypto provider of rustls here. The secret key is held in [`SecretKey`], whose `Debug` prints
//! nothing of it, so no log line or error can carry it.

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use ring::{digest, hmac};

/// The algorithm name in `Authorization` and the string to sign.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The one content type this client sends (and the one the signed example uses).
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// The headers signed, in the canonical order.
pub const SIGNED_HEADERS: &str = "content-type;host";

/// A SecretKey: only ever turned into an HMAC key, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A SecretId with its SecretKey (a CAM API key; a temporary key's token is not supported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub secret_id: String,
    pub secret_key: SecretKey,
}

/// What is signed for one request.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// The service, the first label of the endpoint's host name (`ssl`, `clb`, `cvm`).
    pub service: &'a str,
    /// The `Host` header as sent.
    pub host: &'a str,
    /// Seconds since 1970 (`X-TC-Timestamp`); the credential scope's date is its UTC day.
    pub timestamp: u64,
    /// The request body, exactly as sent.
    pub payload: &'a [u8],
}

/// The `Authorization` header of a request.
pub fn authorization(credentials: &Credentials, signing: &Signing<'_>) -> String {
    let date = utc_date(signing.timestamp);
    let scope = format!("{date}/{}/tc3_request", signing.service);
    let signature = signature(&credentials.secret_key, signing, &date, &scope);
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        credentials.secret_id
    )
}

/// The hex signature of `signing` (step 3 of the documented algorithm), also what a verifier
/// recomputes.
pub fn signature(key: &SecretKey, signing: &Signing<'_>, date: &str, scope: &str) -> String {
    let to_sign = string_to_sign(signing, scope);
    let secret_date = hmac_sha256(format!("TC3{}", key.0).as_bytes(), date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, signing.service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    hex(&hmac_sha256(&secret_signing, to_sign.as_bytes()))
}

/// The canonical request (step 1): method, URI, query, headers, signed headers, payload hash.
pub fn canonical_request(signing: &Signing<'_>) -> String {
    format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{}\n\n{SIGNED_HEADERS}\n{}",
        signing.host,
        sha256_hex(signing.payload)
    )
}

/// The string to sign (step 2).
pub fn string_to_sign(signing: &Signing<'_>, scope: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        signing.timestamp,
        sha256_hex(canonical_request(signing).as_bytes())
    )
}

/// `YYYY-MM-DD` of a Unix time, in UTC.
pub fn utc_date(timestamp: u64) -> String {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(timestamp);
    let mut text = crate::text::rfc3339(time);
    text.truncate(10);
    text
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, message).as_ref().to_vec()
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of "Signature v3" (<https://www.tencentcloud.com/document/product/267/37447>,
    /// section "Signature Demo"): `DescribeInstances` on cvm.tencentcloudapi.com at 1551113065.
    /// The page prints the SecretId and SecretKey with their last seven characters as `*`; its
    /// signature was computed over exactly those strings (the official SDKs' tests and other
    /// clients' tests reproduce it with them), so they are used verbatim here.
    const EXAMPLE_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******";
    const EXAMPLE_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3*******";
    const EXAMPLE_PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    fn example() -> Signing<'static> {
        Signing {
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            timestamp: 1_551_113_065,
            payload: EXAMPLE_PAYLOAD.as_bytes(),
        }
    }

    #[test]
    fn the_documented_example_gives_the_documented_authorization() {
        let credentials = Credentials {
            secret_id: EXAMPLE_ID.into(),
            secret_key: SecretKey::new(EXAMPLE_KEY),
        };
        assert_eq!(
            authorization(&credentials, &example()),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
    }

    #[test]
    fn the_documented_intermediate_strings_match() {
        let signing = example();
        assert_eq!(
            sha256_hex(signing.payload),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            string_to_sign(&signing, "2019-02-25/cvm/tc3_request"),
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
    }

    #[test]
    fn the_date_is_the_utc_day_of_the_timestamp() {
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        assert_eq!(utc_date(1_551_139_199), "2019-02-25");
        assert_eq!(utc_date(1_551_139_200), "2019-02-26");
    }

    #[test]
    fn a_different_key_or_body_changes_the_signature() {
        let date = "2019-02-25";
        let scope = "2019-02-25/cvm/tc3_request";
        let right = signature(&SecretKey::new(EXAMPLE_KEY), &example(), date, scope);
        let wrong_key = signature(&SecretKey::new("another"), &example(), date, scope);
        let body = Signing {
            payload: b"{}",
            ..example()
        };
        assert_ne!(right, wrong_key);
        assert_ne!(
            right,
            signature(&SecretKey::new(EXAMPLE_KEY), &body, date, scope)
        );
    }

    #[test]
    fn the_key_is_never_printed() {
        let credentials = Credentials {
            secret_id: "AKIDexample".into(),
            secret_key: SecretKey::new("do-not-print-me"),
        };
        assert!(!format!("{credentials:?}").contains("do-not-print-me"));
    }
}
