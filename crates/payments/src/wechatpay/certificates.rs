//! WeChat Pay platform certificates (平台证书): downloaded from `GET /v3/certificates`,
//! decrypted (AEAD_AES_256_GCM with the APIv3 key), parsed as X.509, verified and rotated.
//! Rule source: 微信支付 APIv3 《获取平台证书列表》 and 《平台证书更新指引》.
//!
//! The answer is `{"data":[{"serial_no","effective_time","expire_time","encrypt_certificate":
//! {"algorithm","nonce","associated_data","ciphertext"}}]}`. The answer itself is signed by one
//! of the platform certificates: on the first download (bootstrap) it is verified with a
//! certificate of the downloaded set; afterwards an already trusted key also serves.
//!
//! [`CertificateManager`] keeps the current set (serial → public key) behind an `RwLock`, drops
//! expired certificates, and rate-limits the immediate refresh allowed when a message names an
//! unknown serial. The refresh itself is [`WechatPayClient::refresh_certificates`](super::WechatPayClient::refresh_certificates),
//! which needs the signed request; the periodic task is
//! [`WechatPayClient::spawn_certificate_refresh`](super::WechatPayClient::spawn_certificate_refresh).

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{PlatformKeys, SignatureHeaders, decrypt_resource, public_key_from_pem};
use crate::PayError;

/// One platform certificate, decrypted and parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformCertificate {
    /// Serial (hex, as `Wechatpay-Serial` names it).
    pub serial_no: String,
    /// Valid from, Unix seconds.
    pub effective_unix: i64,
    /// Valid until, Unix seconds.
    pub expire_unix: i64,
    /// The certificate's public key, SPKI DER.
    pub public_key_der: Vec<u8>,
}

#[derive(Deserialize)]
struct CertList {
    data: Vec<CertEntry>,
}

#[derive(Deserialize)]
struct CertEntry {
    serial_no: String,
    effective_time: String,
    expire_time: String,
    encrypt_certificate: EncryptedCert,
}

#[derive(Deserialize)]
struct EncryptedCert {
    algorithm: String,
    nonce: String,
    #[serde(default)]
    associated_data: String,
    ciphertext: String,
}

fn unix_of(rfc3339: &str, field: &str) -> Result<i64, PayError> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp())
        .map_err(|_| PayError::Malformed(format!("{field} is not RFC 3339: {rfc3339}")))
}

/// The serial of a PEM certificate as upper-case hex without leading zero bytes.
fn pem_serial_hex(pem: &str) -> Result<String, PayError> {
    use x509_cert::der::Decode;
    let (_, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
        .map_err(|e| PayError::Malformed(format!("certificate is not PEM: {e}")))?;
    let cert = x509_cert::Certificate::from_der(&der)
        .map_err(|e| PayError::Malformed(format!("bad certificate: {e}")))?;
    let bytes = cert.tbs_certificate.serial_number.as_bytes();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    Ok(bytes[start..].iter().map(|b| format!("{b:02X}")).collect())
}

fn same_serial(a: &str, b: &str) -> bool {
    a.trim_start_matches('0')
        .eq_ignore_ascii_case(b.trim_start_matches('0'))
}

/// Decrypts and parses the body of `GET /v3/certificates`. Each certificate must decrypt with
/// the APIv3 key, parse as an X.509 RSA certificate and carry the serial the list names.
/// Expired certificates (`expire_time` ≤ `now_unix`) are dropped.
pub fn parse_certificate_list(
    body: &[u8],
    apiv3_key: &[u8],
    now_unix: i64,
) -> Result<Vec<PlatformCertificate>, PayError> {
    let list: CertList =
        serde_json::from_slice(body).map_err(|e| PayError::Malformed(e.to_string()))?;
    let mut out = Vec::new();
    for e in list.data {
        let c = &e.encrypt_certificate;
        if c.algorithm != "AEAD_AES_256_GCM" {
            return Err(PayError::Malformed(format!(
                "unsupported algorithm {}",
                c.algorithm
            )));
        }
        let plain = decrypt_resource(apiv3_key, &c.nonce, &c.associated_data, &c.ciphertext)?;
        let pem = String::from_utf8(plain)
            .map_err(|_| PayError::Malformed("certificate is not UTF-8".into()))?;
        if !same_serial(&pem_serial_hex(&pem)?, &e.serial_no) {
            return Err(PayError::Malformed(format!(
                "certificate serial differs from serial_no {}",
                e.serial_no
            )));
        }
        let public_key_der = public_key_from_pem(&pem)?;
        let cert = PlatformCertificate {
            serial_no: e.serial_no,
            effective_unix: unix_of(&e.effective_time, "effective_time")?,
            expire_unix: unix_of(&e.expire_time, "expire_time")?,
            public_key_der,
        };
        if cert.expire_unix > now_unix {
            out.push(cert);
        }
    }
    Ok(out)
}

/// The current platform certificates, shared by a client and its refresh task.
#[derive(Debug)]
pub struct CertificateManager {
    certs: RwLock<HashMap<String, PlatformCertificate>>,
    last_forced: Mutex<Option<Instant>>,
    min_forced_interval: Duration,
}

impl CertificateManager {
    /// An empty manager; an immediate (unknown-serial) refresh is allowed at most once per
    /// `min_forced_interval`.
    pub fn new(min_forced_interval: Duration) -> Self {
        CertificateManager {
            certs: RwLock::new(HashMap::new()),
            last_forced: Mutex::new(None),
            min_forced_interval,
        }
    }

    /// The certificates held now, sorted by serial.
    pub fn certificates(&self) -> Vec<PlatformCertificate> {
        let mut v: Vec<_> = match self.certs.read() {
            Ok(m) => m.values().cloned().collect(),
            Err(p) => p.into_inner().values().cloned().collect(),
        };
        v.sort_by(|a, b| a.serial_no.cmp(&b.serial_no));
        v
    }

    /// The keys of the certificates valid at `now_unix` (expired ones are left out).
    pub fn keys(&self, now_unix: i64) -> PlatformKeys {
        let mut k = PlatformKeys::default();
        for c in self.certificates() {
            if c.expire_unix > now_unix {
                k.insert(c.serial_no, c.public_key_der);
            }
        }
        k
    }

    /// Verifies a downloaded list's signature and installs it. The signing serial must be one
    /// of `trusted` or, on bootstrap, of the downloaded set. The new set replaces the old one
    /// (WeChat Pay lists every valid certificate). Returns how many certificates are held.
    pub fn install(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        apiv3_key: &[u8],
        trusted: &PlatformKeys,
        now_unix: i64,
        max_skew_secs: i64,
    ) -> Result<usize, PayError> {
        let downloaded = parse_certificate_list(body, apiv3_key, now_unix)?;
        let mut keys = trusted.clone();
        for c in &downloaded {
            keys.insert(c.serial_no.clone(), c.public_key_der.clone());
        }
        SignatureHeaders::from_headers(headers)?.verify(&keys, body, now_unix, max_skew_secs)?;
        let n = downloaded.len();
        let map = downloaded
            .into_iter()
            .map(|c| (c.serial_no.clone(), c))
            .collect();
        match self.certs.write() {
            Ok(mut m) => *m = map,
            Err(p) => *p.into_inner() = map,
        }
        Ok(n)
    }

    /// Whether an immediate refresh may run now (at most one per the configured interval);
    /// claims the slot when it may.
    pub fn try_begin_forced_refresh(&self) -> bool {
        let Ok(mut last) = self.last_forced.lock() else {
            return false;
        };
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < self.min_forced_interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}
